"""The ``check`` gate against baselines edited by hand in the test: a change in one column
only (FLOPs), the largest count a baseline may hold (2^63 - 1), an orphan baseline in the
JSON status.  The expected outcome follows from the edit, not from our own output."""
import json

import pandas as pd
import pytest

from inception_cost.report.baseline import read_baseline
from micro import run

NET = """import torch.nn as nn
def build():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 5))
"""
MAX = 2**63 - 1


@pytest.fixture
def gate(tmp_path, capsys):
    f = tmp_path / "net.py"
    f.write_text(NET)
    base = tmp_path / "base"
    args = ["check", "--model", f"{f}:build", "--input", "3x4x4", "--name", "net",
            "--baseline", str(base)]
    code, _out, err = run(args + ["--update", "--train"], capsys)
    assert code == 0, err
    return args, base


def _edit(path, column, fn, row=0):
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.at[row, column] = str(fn(int(df.at[row, column])))
    df.to_csv(path, index=False)


def test_flops_only_drift_fails_the_layers_gate(gate, capsys):
    args, base = gate
    code, out, err = run(args + ["--no-train"], capsys)
    assert code == 0, err
    # the conv's FLOPs one higher in the baseline; MACs, params, shapes untouched
    path = base / "layers" / "net.csv"
    _edit(path, "flops", lambda v: v + 1)
    code, out, err = run(args + ["--no-train", "--format", "json"], capsys)
    assert code == 1, (out, err)
    payload = json.loads(out)
    assert payload["status"] == "changed"
    assert payload["variants"][0]["delta"]["flops"] == -1


@pytest.mark.parametrize("column", ["fwd_flops", "bwd_input_flops", "opt_flops"])
def test_flops_only_drift_fails_the_training_gate(gate, capsys, column):
    args, base = gate
    path = base / "training" / "net.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    row = int(df.index[df["module"] == "3"][0])           # the Linear layer
    # one FLOP more in one column, and in the totals that sum it (a baseline whose totals
    # disagree with their parts is refused as corrupt, exit 2): a legal FLOPs-only drift
    totals = {"fwd_flops": ["step_flops"], "bwd_input_flops": ["bwd_flops", "step_flops"],
              "opt_flops": ["step_flops"]}[column]
    for col in (column, *totals):
        _edit(path, col, lambda v: v + 1, row=row)
    code, out, err = run(args + ["--train", "--format", "json"], capsys)
    assert code == 1, (out, err)
    assert json.loads(out)["status"] == "changed"


def test_largest_count_a_baseline_holds_is_read_exactly(gate, capsys):
    args, base = gate
    path = base / "layers" / "net.csv"
    _edit(path, "macs", lambda v: MAX)
    assert read_baseline(str(path)).at[0, "macs"] == 9_223_372_036_854_775_807
    # a legal baseline that differs from the count: drift (exit 1), not corrupt (exit 2)
    code, out, err = run(args + ["--no-train", "--format", "json"], capsys)
    assert code == 1, err
    change = json.loads(out)["variants"][0]["changes"][0]
    assert change["old"]["macs"] == MAX
    # one more is out of range: corrupt (exit 2)
    _edit(path, "macs", lambda v: MAX + 1)
    code, out, err = run(args + ["--no-train"], capsys)
    assert code == 2 and "not an integer in 0..2^63-1" in err


def test_json_status_counts_an_orphan_baseline(tmp_path, capsys, monkeypatch):
    import inception_cost.cli.check_cmd as check_cmd
    from inception_cost.models.registry import get_variant
    info = get_variant("inception_reduced")
    monkeypatch.setattr(check_cmd, "variants", lambda: [info])
    base = tmp_path / "b"
    code, _out, err = run(["check", "--baseline", str(base), "--update", "--no-train"], capsys)
    assert code == 0, err
    code, out, err = run(["check", "--baseline", str(base), "--no-train", "--format", "json"],
                         capsys)
    assert code == 0 and json.loads(out)["status"] == "identical"
    orphan = base / "layers" / "renamed_variant.csv"
    orphan.write_bytes((base / "layers" / "inception_reduced.csv").read_bytes())
    code, out, err = run(["check", "--baseline", str(base), "--no-train", "--format", "json"],
                         capsys)
    payload = json.loads(out)
    assert code == 1
    assert payload["status"] == "changed"
    assert payload["orphan_baselines"] == [str(orphan)]
    assert all(v["identical"] for v in payload["variants"])
