"""``check --input`` takes the shared input option: a two-input model and a token-id model
gated from the command line, counts checked by hand; another input spec, or a wider model,
is drift (exit 1); a malformed --input is one error line, exit 2, and no baseline file."""
from __future__ import annotations

import csv
import io
import json

import pytest

from micro import run

TWO = """import torch.nn as nn
WIDTH = {w}
class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(10, WIDTH)
        self.b = nn.Linear(3, WIDTH)
    def forward(self, x, y):
        return self.a(x) + self.b(y)
def build():
    return Two()
"""

TOK = """import torch.nn as nn
class Tok(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 8)
        self.fc = nn.Linear(8, 2)
    def forward(self, ids, mask=None):
        return self.fc(self.emb(ids) * mask.unsqueeze(-1))
def build():
    return Tok()
"""


def baseline_rows(base, name):
    with open(base / "layers" / f"{name}.csv", encoding="utf-8") as fh:
        return {r["module"]: r for r in csv.DictReader(io.StringIO(fh.read()))}


def gate(f, base, *extra):
    return ["check", "--model", f"{f}:build", "--baseline", str(base), "--no-train", *extra]


def test_two_input_model_gated_by_hand(tmp_path, capsys):
    f = tmp_path / "two.py"
    f.write_text(TWO.format(w=5))
    base = tmp_path / "base"
    code, out, err = run(gate(f, base, "--input", "10", "--input", "3", "--update"), capsys)
    assert code == 0 and "created" in out, err
    rows = baseline_rows(base, "two.build")
    # batch 1: Linear(10, 5) is 10 x 5 MACs, Linear(3, 5) is 3 x 5
    assert int(rows["a"]["macs"]) == 10 * 5 and int(rows["b"]["macs"]) == 3 * 5
    assert sum(int(r["macs"]) for r in rows.values()) == 10 * 5 + 3 * 5
    assert (rows["a"]["in_shape"], rows["b"]["in_shape"]) == ("1x10", "1x3")
    code, out, err = run(gate(f, base, "--input", "10", "--input", "3"), capsys)
    assert code == 0 and "check passed" in out, err
    # the same inputs with the batch written out are the same inputs
    code, out, err = run(gate(f, base, "--input", "1x10", "--input", "1x3"), capsys)
    assert code == 0, err
    # another input spec is drift: batch 2 doubles every layer's MACs
    code, out, err = run(gate(f, base, "--input", "2x10", "--input", "2x3", "--format", "json"),
                         capsys)
    assert code == 1, err
    obj = json.loads(out)
    assert obj["status"] == "changed"
    assert obj["input"] == [{"name": None, "shape": [2, 10], "dtype": "float32"},
                            {"name": None, "shape": [2, 3], "dtype": "float32"}]
    assert obj["variants"][0]["delta"]["macs"] == 2 * (10 * 5 + 3 * 5) - (10 * 5 + 3 * 5)
    # the model grows: WIDTH 5 -> 6 adds 10 + 3 MACs
    f.write_text(TWO.format(w=6))
    code, out, err = run(gate(f, base, "--input", "10", "--input", "3", "--format", "json"),
                         capsys)
    assert code == 1, err
    assert json.loads(out)["variants"][0]["delta"]["macs"] == 10 + 3


def test_token_ids_and_keyword_mask_with_the_training_gate(tmp_path, capsys):
    f = tmp_path / "tok.py"
    f.write_text(TOK)
    base = tmp_path / "base"
    args = ["check", "--model", f"{f}:build", "--baseline", str(base), "--train",
            "--input", "ids:int64:1x16:0..100", "--input", "mask=1x16"]
    code, out, err = run([*args, "--update"], capsys)
    assert code == 0, err
    rows = baseline_rows(base, "tok.build")
    assert int(rows["fc"]["macs"]) == 16 * 8 * 2        # 16 tokens x Linear(8, 2)
    with open(base / "training" / "tok.build.csv", encoding="utf-8") as fh:
        train = {r["module"]: r for r in csv.DictReader(fh)}
    # the training gate's step: the shapes carry batch 1, so it is batch 1 too
    assert int(train["fc"]["fwd_macs"]) == 16 * 8 * 2
    code, out, err = run(args, capsys)
    assert code == 0 and "check passed: 2 variant(s)" in out, err
    # 32 tokens instead of 16: both gates drift
    code, out, err = run(["check", "--model", f"{f}:build", "--baseline", str(base), "--train",
                          "--input", "ids:int64:1x32:0..100", "--input", "mask=1x32"], capsys)
    assert code == 1 and "2 of 2 variant(s) drifted" in err, err


def test_image_input_without_batch_gates_at_32_for_training(tmp_path, capsys):
    f = tmp_path / "two.py"
    f.write_text(TWO.format(w=5))
    base = tmp_path / "base"
    code, out, err = run(["check", "--model", f"{f}:build", "--baseline", str(base), "--train",
                          "--input", "10", "--input", "3", "--update"], capsys)
    assert code == 0, err
    with open(base / "training" / "two.build.csv", encoding="utf-8") as fh:
        train = {r["module"]: r for r in csv.DictReader(fh)}
    # inputs given per sample: the training baseline's batch, 32
    assert int(train["a"]["fwd_macs"]) == 32 * 10 * 5 and int(train["b"]["fwd_macs"]) == 32 * 3 * 5


@pytest.mark.parametrize("bad, fragment", [
    ("x=", "has no shape"),
    ("1x0", "sizes must be positive"),
    ("ids:int64:1x128:9..0", "range 9..0 is empty"),
])
def test_bad_input_is_one_line_and_writes_no_baseline(tmp_path, capsys, bad, fragment):
    f = tmp_path / "two.py"
    f.write_text(TWO.format(w=5))
    base = tmp_path / "base"
    code, out, err = run(gate(f, base, "--input", bad, "--update"), capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and out == "", err
    assert fragment in lines[0], lines[0]
    assert not base.exists()


def test_an_input_the_model_rejects_is_exit_2_and_writes_nothing(tmp_path, capsys):
    f = tmp_path / "two.py"
    f.write_text(TWO.format(w=5))
    base = tmp_path / "base"
    code, out, err = run(gate(f, base, "--input", "10", "--update"), capsys)   # y missing
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "missing a required argument: 'y'" in lines[0], err
    assert not base.exists()
