"""``module --on`` / ``table --on``: predicted time ratio beside the MAC ratio."""
from __future__ import annotations

import pytest

from inception_cost import count
from inception_cost.models.registry import build
from inception_cost.papers.module_example import ModuleConfig
from tests.micro import run


def _rows(out: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()
            if line.startswith("|") and "ms" not in line]


def test_module_on_mac_ratio_matches_count_and_times(capsys):
    cfg = ModuleConfig.lecture()
    naive = count(build("inception_naive", **cfg.naive_options()), (1, *cfg.input_size)).totals()["macs"]
    reduced = count(build("inception_reduced", **cfg.reduced_options()), (1, *cfg.input_size)).totals()["macs"]
    code, out, err = run(["module", "--on", "T4", "--on", "H100", "--format", "csv"], capsys)
    assert code == 0, err
    lines = [line.split(",") for line in out.splitlines() if line.startswith(("T4,", "H100 SXM,"))]
    assert len(lines) == 2
    for dev, batch, t_naive, t_reduced, ratio, mac_ratio, over in lines:
        assert float(mac_ratio) == pytest.approx(reduced / naive, abs=5e-4)
        assert float(ratio) == pytest.approx(float(t_reduced) / float(t_naive), rel=2e-3)
    # at batch 1 the reduced module's extra ops cost more launches than they save on an H100
    h100 = next(line for line in lines if line[0] == "H100 SXM")
    assert float(h100[4]) > float(h100[5])


def test_table_on_fits_and_bad_device(capsys):
    code, out, err = run(["table", "--on", "T4"], capsys)
    assert code == 0 and "inception_v3 / googlenet" in out
    assert max(len(line) for line in out.splitlines()[-12:]) <= 100
    code, out, err = run(["table", "--on", "V100", "--dtype", "bf16"], capsys)
    assert code == 2 and err.startswith("error: V100 SXM2 32GB has no bf16 peak")
