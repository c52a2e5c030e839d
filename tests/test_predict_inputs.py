"""``predict`` takes every ``--input`` form ``layers`` takes (several inputs, shapes with or
without the batch, integer inputs with a range, keyword inputs) and a factory's example
inputs; ``inception_cost.predict(model, inputs=...)`` as ``count(..., inputs=)``.
FLOPs by hand, and against ``layers`` (the counting engine, a second code path)."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

import inception_cost
from inception_cost.errors import UsageError
from tests.micro import run

MODELS = '''
import torch
import torch.nn as nn

class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(10, 5, bias=False)
        self.b = nn.Linear(3, 5, bias=False)

    def forward(self, x, y):
        return self.a(x) + self.b(y)

def two():
    return Two()

class Tok(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, ids, attention_mask):
        return self.fc(self.emb(ids) * attention_mask.unsqueeze(-1))

def tok():
    return Tok()

def tok_with_example():
    return Tok(), {"ids": torch.zeros(1, 16, dtype=torch.long),
                   "attention_mask": torch.ones(1, 16, dtype=torch.long)}
'''
# forward(x, y) at batch 2: each Linear 2 FLOPs per MAC, then the add (1 FLOP per element)
TWO_FLOPS = 2 * 2 * (10 * 5 + 3 * 5) + 2 * 5
# 16 tokens: the lookup costs no FLOPs; the mask multiply 1 per element of 16 x 8; the
# Linear(8, 2) 2 FLOPs per MAC plus its bias add, 1 per output element of 16 x 2
TOK_FLOPS = 16 * 8 + 2 * 16 * 8 * 2 + 16 * 2
TOK_INPUTS = ["--input", "ids:int64:1x16:0..100", "--input", "attention_mask=1x16:int64"]


@pytest.fixture(scope="module")
def f(tmp_path_factory):
    path = tmp_path_factory.mktemp("predict_inputs") / "models.py"
    path.write_text(MODELS)
    return str(path)


def _predict(capsys, *args):
    code, out, err = run(["predict", *args, "--format", "json"], capsys)
    assert code == 0, err
    return json.loads(out)


def test_two_positional_inputs_at_batch_2(f, capsys):
    obj = _predict(capsys, f"{f}:two", "--input", "10", "--input", "3", "--batch", "2")
    [t] = obj["totals"]
    assert (t["batch"], t["flops"]) == (2, TWO_FLOPS)
    assert [(i["name"], i["shape"]) for i in obj["input"]] == [(None, [10]), (None, [3])]
    # images/s counts batch elements: batch / latency
    assert t["images_per_s"] == pytest.approx(2 / (t["latency_ms"] / 1e3))


def test_integer_and_keyword_inputs_by_hand_and_as_layers_counts(f, capsys):
    [t] = _predict(capsys, f"{f}:tok", *TOK_INPUTS)["totals"]
    assert (t["batch"], t["flops"]) == (1, TOK_FLOPS)
    code, out, err = run(["layers", f"{f}:tok", *TOK_INPUTS, "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["totals"]["flops"] == t["flops"]


def test_a_batch_sweep_rebuilds_every_input_and_integers_keep_their_dtype(f, capsys):
    obj = _predict(capsys, f"{f}:tok", "--input", "ids:int64:16:0..100", "--input",
                   "attention_mask=16:int64", "--batch", "1,3", "--dtype", "fp16")
    assert [(t["batch"], t["flops"]) for t in obj["totals"]] == [(1, TOK_FLOPS),
                                                                  (3, 3 * TOK_FLOPS)]
    assert [(i["name"], i["shape"], i["dtype"]) for i in obj["input"]] == [
        (None, [16], "int64"), ("attention_mask", [16], "int64")]   # ids: a label, positional


def test_a_factorys_keyword_integer_example_inputs(f, capsys):
    [t] = _predict(capsys, f"{f}:tok_with_example")["totals"]
    assert (t["batch"], t["flops"]) == (1, TOK_FLOPS)
    [t] = _predict(capsys, f"{f}:tok_with_example", "--batch", "4")["totals"]
    assert (t["batch"], t["flops"]) == (4, 4 * TOK_FLOPS)


class _Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(10, 5, bias=False)
        self.b = nn.Linear(3, 5, bias=False)

    def forward(self, x, y):
        return self.a(x) + self.b(y)


class _Tok(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, ids, attention_mask):
        return self.fc(self.emb(ids) * attention_mask.unsqueeze(-1))


def test_python_predict_takes_inputs_as_count_does():
    pred = inception_cost.predict(_Two(), inputs=(torch.zeros(2, 10), torch.zeros(2, 3)))
    assert (pred.batch, pred.totals["flops"]) == (2, TWO_FLOPS)
    ids, mask = torch.zeros(1, 16, dtype=torch.long), torch.ones(1, 16, dtype=torch.long)
    for dtype in ("fp32", "bf16"):   # the ids stay int64 (an Embedding takes no float ids)
        pred = inception_cost.predict(_Tok(), inputs=((ids,), {"attention_mask": mask}),
                                      dtype=dtype)
        assert pred.totals["flops"] == TOK_FLOPS
    with pytest.raises(UsageError, match="not both"):
        inception_cost.predict(_Two(), (2, 10), inputs=(torch.zeros(2, 10),))


def test_a_training_step_on_two_inputs():
    pred = inception_cost.predict(_Two(), inputs=(torch.zeros(2, 10), torch.zeros(2, 3)),
                                  training=True, optimizer="none")
    ph = {r.phase: int(r.flops) for r in pred.phases.itertuples()}
    # the inputs need no gradient: each Linear's weight gradient, 2 FLOPs per MAC
    assert ph["backward weight-grad"] == 2 * 2 * (10 * 5 + 3 * 5)
    ops = pred.ops
    assert ops[(ops["phase"] == "forward") & (ops["module"] != "(loss)")]["flops"].sum() == \
        TWO_FLOPS
