"""``profile --input`` takes every form ``layers --input`` takes (batch-less C x H x W, a
shape with the batch, several inputs, integer ranges, keywords), run from the CLI on tiny
models whose MACs are worked out by hand in each test."""
from __future__ import annotations

import json

import pytest
import torch

from micro import run

NETS = '''
import torch
import torch.nn as nn

def conv():
    return nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))

class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 4, bias=False)
        self.b = nn.Linear(10, 4, bias=False)
    def forward(self, x, y):
        return self.a(x) + self.b(y)

def two():
    return Two()

class Tok(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 8)
        self.fc = nn.Linear(8, 2, bias=False)
    def forward(self, ids, attention_mask=None):
        h = self.emb(ids)
        if attention_mask is not None:
            h = h * attention_mask.unsqueeze(-1)
        return self.fc(h)

def tok():
    return Tok()
'''
FAST = ["--device", "cpu", "--warmup", "0", "--iters", "2", "--threads", "1", "--format", "json"]
CONV_MACS = 6 * 6 * 4 * 3 * 3 * 3 + 4 * 6 * 6 * 2     # 3x8x8 input: conv 3x3 (no padding) + linear


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    d = tmp_path_factory.mktemp("profin")
    (d / "nets.py").write_text(NETS)
    return f"{d}/nets.py"


@pytest.fixture(autouse=True)
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def rows(capsys, *args):
    code, out, err = run(["profile", *args, *FAST], capsys)
    assert code == 0, err
    got = json.loads(out)["rows"]
    assert all(r["status"] == "ok" for r in got), got
    return [(r["batch"], r["macs"], r["input"]) for r in got]


def test_batchless_and_batched_image(nets, capsys):
    assert rows(capsys, f"{nets}:conv", "--input", "3x8x8", "--batch", "1,3") == [
        (1, CONV_MACS, "3x8x8"), (3, 3 * CONV_MACS, "3x8x8")]
    # a shape with the batch: as `layers --input 2x3x8x8`
    assert rows(capsys, f"{nets}:conv", "--input", "2x3x8x8") == [(2, 2 * CONV_MACS, "3x8x8")]


def test_several_inputs(nets, capsys):
    # forward(x, y): Linear 6->4 and 10->4 per sample
    assert rows(capsys, f"{nets}:two", "--input", "6", "--input", "10", "--batch", "1,5") == [
        (1, 6 * 4 + 10 * 4, "6, 10"), (5, 5 * (6 * 4 + 10 * 4), "6, 10")]


def test_integer_range_and_keyword(nets, capsys):
    # ids in 40..50 (an embedding of 50 rows), a keyword mask; 5 x 12 tokens through
    # Linear 8 -> 2 (the embedding lookup does no MACs)
    got = rows(capsys, f"{nets}:tok", "--input", "ids:int64:5x12:40..50",
               "--input", "attention_mask=5x12")
    assert got == [(5, 5 * 12 * 8 * 2, "12 int64, attention_mask=12")]


def test_the_range_is_the_values_the_real_forward_gets(nets, capsys):
    # ids 50..59 are past the embedding's 50 rows: the real forward fails (the count on
    # the meta device has no values, so only the timed run can tell)
    code, out, err = run(["profile", f"{nets}:tok", "--input", "ids:int64:5x12:50..60", *FAST],
                         capsys)
    got = json.loads(out)["rows"]
    assert got[0]["status"] == "error" and "index out of range" in got[0]["message"], got


@pytest.mark.parametrize("args, fragment", [
    (["conv", "--input", "2x3x8x8", "--batch", "4"], "disagrees"),
    (["conv", "--input", "3x8"], "takes CxHxW"),
    (["two", "--input", "6"], "missing a required argument: 'y'"),
    (["tok", "--input", "ids:int64:5x12:9..0"], "is empty"),
    (["tok", "--input", "ids:int64:5x12", "--input", "nope=5x12"], "has no argument 'nope'"),
])
def test_bad_input_is_one_error_line(nets, capsys, args, fragment):
    code, out, err = run(["profile", f"{nets}:{args[0]}", *args[1:], *FAST], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert fragment in lines[0], lines[0]
