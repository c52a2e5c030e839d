"""The training gate (`check --train`): a corrupt training baseline (a module listed
twice, a negative or oversized count, totals that are not the sums of their parts) is
exit 2; a drift in ANY column shows that column with its old and new value.

Numbers by hand for NET at batch 32 (the gate's batch), input 3x8x8: layer "2" is
Conv2d(8, 16, 3, padding=1) on 8x8, so forward MACs = 32 x 16 x 8 x 8 x 8 x 3 x 3 =
2,359,296 and forward FLOPs = 2 x MACs + one bias add per output (32 x 16 x 8 x 8 =
32,768) = 4,751,360; its input gradient costs the forward's MACs again (2,359,296)."""
from __future__ import annotations

import csv
import io
import json

import pytest

from inception_cost.report.training_reports import read_training_baseline
from inception_cost.report.baseline import BaselineError

from micro import run

NET = """
import torch.nn as nn
def build():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
"""
CONV2_FWD_MACS = 32 * 16 * 8 * 8 * 8 * 3 * 3
CONV2_FWD_FLOPS = 2 * CONV2_FWD_MACS + 32 * 16 * 8 * 8
INT64_MAX = 2**63 - 1


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """(model file, baseline folder, the good baseline's text), created once."""
    d = tmp_path_factory.mktemp("gate")
    f, base = d / "net.py", d / "base"
    f.write_text(NET)
    return f, base


def _gate(f, base, *extra):
    return ["check", "--model", f"{f}:build", "--input", "3x8x8", "--name", "net",
            "--baseline", str(base), "--train", *extra]


@pytest.fixture
def baseline(gated, capsys):
    """Writes the true baseline; yields (rows, write(rows)) to plant edits."""
    f, base = gated
    code, _, err = run(_gate(f, base, "--update"), capsys)
    assert code == 0, err
    path = base / "training" / "net.csv"
    text = path.read_text()
    header = text.splitlines()[0].split(",")
    rows = list(csv.DictReader(io.StringIO(text)))

    def write(new_rows):
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(new_rows)
        path.write_text(buf.getvalue())
    return rows, write, path


def _row(rows, module):
    return next(r for r in rows if r["module"] == module)


def test_true_baseline_has_the_hand_numbers(baseline, gated, capsys):
    rows, _, _ = baseline
    conv2 = _row(rows, "2")
    assert int(conv2["fwd_macs"]) == CONV2_FWD_MACS == 2_359_296
    assert int(conv2["fwd_flops"]) == CONV2_FWD_FLOPS == 4_751_360
    assert int(conv2["bwd_input_macs"]) == CONV2_FWD_MACS
    code, out, err = run(_gate(*gated), capsys)
    assert code == 0, out + err


def test_bogus_duplicate_before_the_real_row_is_corrupt(baseline, gated, capsys):
    rows, write, path = baseline
    i = next(i for i, r in enumerate(rows) if r["module"] == "2")
    bogus = dict(rows[i], fwd_macs="1", bwd_macs="0", bwd_input_macs="0", bwd_weight_macs="0",
                 step_macs="1")
    write(rows[:i] + [bogus] + rows[i:])
    code, out, err = run(_gate(*gated), capsys)
    assert code == 2
    assert "corrupt" in err and f"repeats module '2' of row {i + 2}" in err
    assert err.count("\n") == 1
    with pytest.raises(BaselineError, match="repeats module"):
        read_training_baseline(str(path))


@pytest.mark.parametrize("value, shown", [("-5", "'-5'"), (str(2**63), f"'{2**63}'"),
                                          ("1e9", "'1e9'"), ("12x", "'12x'")])
def test_negative_or_oversized_count_is_corrupt(baseline, gated, capsys, value, shown):
    rows, write, _ = baseline
    conv2 = _row(rows, "2")
    conv2["opt_flops"] = value
    write(rows)
    code, out, err = run(_gate(*gated), capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"column 'opt_flops' is {shown}, not an integer in 0..2^63-1" in err


def test_totals_that_are_not_the_sums_of_their_parts_are_corrupt(baseline, gated, capsys):
    rows, write, _ = baseline
    _row(rows, "2")["bwd_weight_macs"] = str(int(_row(rows, "2")["bwd_weight_macs"]) + 7)
    write(rows)
    code, out, err = run(_gate(*gated), capsys)
    assert code == 2 and "bwd_macs" in err and "is not bwd_input_macs + bwd_weight_macs" in err


def test_int64_max_is_read_exactly(baseline):
    rows, write, path = baseline
    conv2 = _row(rows, "2")
    conv2["params"] = str(INT64_MAX)
    conv2["opt_flops"] = str(INT64_MAX - int(conv2["fwd_flops"]) - int(conv2["bwd_flops"]))
    conv2["step_flops"] = str(INT64_MAX)
    write(rows)
    df = read_training_baseline(str(path)).set_index("module")
    assert df.at["2", "params"] == INT64_MAX and type(df.at["2", "step_flops"]) is int


def test_forward_flops_plus_one_shows_both_columns(baseline, gated, capsys):
    rows, write, _ = baseline
    conv2 = _row(rows, "2")
    conv2["fwd_flops"] = str(CONV2_FWD_FLOPS + 1)
    step = int(conv2["step_flops"])
    conv2["step_flops"] = str(step + 1)       # the baseline stays self-consistent
    write(rows)
    code, out, err = run(_gate(*gated), capsys)
    assert code == 1 and "check failed" in err
    lines = [ln for ln in out.splitlines() if "| 2 " in ln or " 2 " in ln]
    fwd = [ln for ln in lines if "fwd_flops" in ln]
    assert fwd and "4751361" in fwd[0] and "4751360" in fwd[0]
    st = [ln for ln in lines if "step_flops" in ln]
    assert st and str(step + 1) in st[0] and str(step) in st[0]
    assert "fwd_flops -1" in out and "step_flops -1" in out
    assert "FLOPs +0" not in out

    code, out, _ = run(_gate(*gated, "--format", "json"), capsys)
    v = {x["variant"]: x for x in json.loads(out)["variants"]}["net (training)"]
    (change,) = v["changes"]
    assert change["drifted"] == ["fwd_flops", "step_flops"]
    assert change["old"]["fwd_flops"] == CONV2_FWD_FLOPS + 1
    assert change["new"]["fwd_flops"] == CONV2_FWD_FLOPS
    assert v["delta"]["fwd_flops"] == -1 and v["delta"]["flops"] == -1

    code, out, _ = run(_gate(*gated, "--format", "csv"), capsys)
    (row,) = [r for r in csv.DictReader(io.StringIO(out)) if r["variant"] == "net (training)"]
    assert f"fwd_flops: {CONV2_FWD_FLOPS + 1} -> {CONV2_FWD_FLOPS}" in row["drifted"]


def test_macs_moved_between_gradient_columns_show_old_and_new(baseline, gated, capsys):
    """1,000 MACs moved from input- to weight-gradient: no total changes, yet the gate
    fails and shows both columns (it used to print '884736 -> 884736')."""
    rows, write, _ = baseline
    conv2 = _row(rows, "2")
    w = int(conv2["bwd_weight_macs"])
    conv2["bwd_input_macs"] = str(CONV2_FWD_MACS - 1000)
    conv2["bwd_weight_macs"] = str(w + 1000)
    write(rows)
    code, out, err = run(_gate(*gated), capsys)
    assert code == 1
    inp = [ln for ln in out.splitlines() if "bwd_input_macs" in ln]
    wgt = [ln for ln in out.splitlines() if "bwd_weight_macs" in ln]
    assert inp and str(CONV2_FWD_MACS - 1000) in inp[0] and str(CONV2_FWD_MACS) in inp[0]
    assert wgt and str(w + 1000) in wgt[0] and str(w) in wgt[0]
    assert "bwd_input_macs +1,000" in out and "bwd_weight_macs -1,000" in out
    assert all(len(ln) <= 100 for ln in out.splitlines())


HUGE = """
import torch
import torch.nn as nn
def build():
    with torch.device("meta"):
        return nn.Sequential(nn.Flatten(), nn.Linear(2**28, 2**28))
"""


def test_update_refuses_a_count_past_int64_clearly(tmp_path, capsys):
    """Linear(2^28, 2^28) at batch 32, SGD momentum (4 FLOPs per parameter element):
    forward 2 x 32 x 2^56 FLOPs + 32 x 2^28 bias adds, weight gradient the same (the bias
    gradient is a sum over the batch), optimizer 4 x (2^56 + 2^28): 9,511,602,431,260,098,560
    FLOPs, past 2^63 - 1. A baseline could not be read back: --update says so (exit 2)."""
    step_flops = 2 * (2 * 32 * 2**56 + 32 * 2**28) + 4 * (2**56 + 2**28)
    assert step_flops == 9_511_602_431_260_098_560 > INT64_MAX
    f, base = tmp_path / "huge.py", tmp_path / "base"
    f.write_text(HUGE)
    code, out, err = run(["check", "--model", f"{f}:build", "--input", "1x16384x16384", "--name",
                          "huge", "--baseline", str(base), "--train", "--update"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert f"'step_flops' count ({step_flops:,}) exceeds 2^63-1" in err
    assert not (base / "training" / "huge.csv").exists()
