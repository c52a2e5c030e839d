"""`inception-cost check` (the CI gate) and `inception-cost report` (determinism)."""
import filecmp
import json
import os

import pandas as pd
import pytest

from micro import run

NET = """import torch.nn as nn
WIDTH = {w}
def build():
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, WIDTH, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(WIDTH, 10))
"""


@pytest.fixture
def user_model(tmp_path):
    f = tmp_path / "net.py"
    f.write_text(NET.format(w=32))
    base = tmp_path / "base"
    return f, base


def gate(f, base, *extra):
    return ["check", "--model", f"{f}:build", "--input", "3x8x8", "--name", "net",
            "--baseline", str(base), *extra]


def test_unchanged_passes_then_one_channel_fails(user_model, capsys):
    f, base = user_model
    code, out, err = run(gate(f, base, "--update"), capsys)
    assert code == 0 and "created" in out
    code, out, err = run(gate(f, base), capsys)
    assert code == 0 and "check passed" in out
    # widen one layer by one channel: conv "2" and the Linear "6" change
    f.write_text(NET.format(w=33))
    code, out, err = run(gate(f, base), capsys)
    assert code == 1
    assert "check failed" in err
    assert "2" in out and "changed" in out
    # conv 2: 8*8*32*9*16 -> 8*8*33*9*16 MACs, both shown old -> new
    assert f"{8 * 8 * 32 * 9 * 16} → {8 * 8 * 33 * 9 * 16}" in out
    # total delta: params grow by 16*9+1 (conv) + 10 (linear weights)
    assert f"params {16 * 9 + 1 + 10:+,}" in out


def test_json_format_for_machines(user_model, capsys):
    f, base = user_model
    run(gate(f, base, "--update"), capsys)
    f.write_text(NET.format(w=8))
    code, out, err = run(gate(f, base, "--format", "json"), capsys)
    assert code == 1
    payload = json.loads(out)
    assert payload["status"] == "changed"
    v = payload["variants"][0]
    # the conv itself, the ReLU and pool that read its output, and the Linear after them
    assert {c["module"] for c in v["changes"]} == {"2", "3", "4", "6"}
    assert v["delta"]["macs"] == 8 * 8 * (8 - 32) * 9 * 16 + (8 - 32) * 10


@pytest.mark.parametrize("content,needle", [("", "empty"), ("module,op\n", "missing column"),
                                             ("\x00\x01garbage", "corrupt")])
def test_empty_or_corrupt_baseline_exits_2(user_model, capsys, content, needle):
    f, base = user_model
    run(gate(f, base, "--update"), capsys)
    (base / "layers" / "net.csv").write_text(content)
    code, out, err = run(gate(f, base), capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_non_integer_cell_is_corrupt(user_model, capsys):
    f, base = user_model
    run(gate(f, base, "--update"), capsys)
    p = base / "layers" / "net.csv"
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    df.loc[0, "macs"] = "lots"
    df.to_csv(p, index=False)
    code, out, err = run(gate(f, base), capsys)
    assert code == 2 and "not an integer" in err


def test_missing_baseline_and_missing_folder_exit_2(tmp_path, capsys):
    code, out, err = run(["check", "--baseline", str(tmp_path / "nowhere")], capsys)
    assert code == 2 and "does not exist" in err
    (tmp_path / "b").mkdir()
    code, out, err = run(["check", "--baseline", str(tmp_path / "b"), "--variants", "inception_naive"], capsys)
    assert code == 2 and "no baseline" in err


def test_committed_reports_pass_for_modules(capsys):
    root = os.path.join(os.path.dirname(__file__), "..", "reports")
    code, out, err = run(["check", "--baseline", root, "--variants", "inception_naive,inception_reduced"], capsys)
    assert code == 0, err


def test_report_twice_is_byte_identical(tmp_path, capsys, monkeypatch):
    from inception_cost.regeneration import regenerate as regen
    real = regen.variant_reports
    monkeypatch.setattr(regen, "variant_reports",
                        lambda names=None: real(["inception_naive", "inception_reduced", "googlenet"]))
    a = regen.regenerate(str(tmp_path / "a"), plots=False)
    b = regen.regenerate(str(tmp_path / "b"), plots=False)
    rel = sorted(os.path.relpath(p, tmp_path / "a") for p in a)
    assert rel == sorted(os.path.relpath(p, tmp_path / "b") for p in b)
    match, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", rel, shallow=False)
    assert not mismatch and not errors and len(match) == len(rel)
    summary = pd.read_csv(tmp_path / "a" / "summary.csv")
    # the naive module: 28*28*256*(128 + 192*9 + 96*25) MACs (CS231n's 854M)
    assert summary.set_index("variant").loc["inception_naive", "macs"] == 28 * 28 * 256 * (128 + 192 * 9 + 96 * 25)


def test_unwritable_report_folder_is_one_line(capsys):
    code, out, err = run(["report", "--out", "/proc/no/such", "--no-plots"], capsys)
    assert code == 2 and err.startswith("error: cannot write") and "Traceback" not in err


def test_committed_paper_reports_and_summary_are_current():
    """reports/ is generated: the committed paper tables and summary equal a fresh run."""
    from inception_cost.regeneration.regenerate import paper_artifacts, summary_row, variant_reports
    from inception_cost.report.render import to_csv
    root = os.path.join(os.path.dirname(__file__), "..", "reports")
    def read(rel):
        with open(os.path.join(root, rel), encoding="utf-8") as fh:
            return fh.read()
    stale = [rel for rel, text in paper_artifacts() if read(rel) != text]
    assert not stale, f"regenerate with `inception-cost report`: {stale}"
    rows = [summary_row(n, r, chw, kind) for n, r, chw, kind in variant_reports()]
    assert to_csv(pd.DataFrame(rows)) == read("summary.csv")
