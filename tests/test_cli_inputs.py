"""`--input` from the command line: shapes with or without batch, several inputs,
integer and keyword inputs, --dtype, factories with example inputs; every count
checked by hand arithmetic."""
import json

import pytest
import torch

from micro import run

MODELS = '''
import torch
import torch.nn as nn

def mlp():
    return nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 10))

class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(10, 4)

    def forward(self, x, y):
        return self.conv(x).mean((2, 3)) + self.fc(y)

def two():
    return Two()

class Tok(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, ids, attention_mask=None):
        h = self.emb(ids)
        if attention_mask is not None:
            h = h * attention_mask.unsqueeze(-1)
        return self.fc(h)

def tok():
    return Tok()

class TokReads(Tok):
    def forward(self, ids, attention_mask=None):
        if ids.max() >= 100:          # reads values: only on cpu, where the range keeps ids < 100
            raise ValueError("id out of range")
        return super().forward(ids, attention_mask)

def tok_reads():
    return TokReads()

def tok_with_example():
    return Tok(), (torch.zeros(2, 5, dtype=torch.long),)

def mlp_with_example():
    return mlp(), torch.zeros(2, 784)
'''
MLP_MACS = 784 * 300 + 300 * 10                  # 238,200
TWO_MACS = (4 * 6 * 6) * (3 * 3 * 3) + 10 * 4    # conv 3->4, 3x3 on 8x8 -> 6x6; linear 10->4


@pytest.fixture(scope="module")
def f(tmp_path_factory):
    path = tmp_path_factory.mktemp("inputs") / "models.py"
    path.write_text(MODELS)
    return str(path)


def layers_json(args, capsys):
    code, out, err = run(["layers", *args, "--format", "json"], capsys)
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("args, batch", [
    (["--input", "784"], 1), (["--input", "1x784"], 1), (["--input", "8x784"], 8),
    (["--input", "784", "--batch", "4"], 4), (["--input", "784", "--dtype", "fp16"], 1)])
def test_mlp_with_and_without_batch(f, capsys, args, batch):
    obj = layers_json([f"{f}:mlp", *args], capsys)
    assert obj["totals"]["macs"] == batch * MLP_MACS
    assert obj["totals"]["params"] == 784 * 300 + 300 + 300 * 10 + 10
    assert obj["input"][0]["shape"] == [batch, 784]
    assert obj["input"][0]["dtype"] == ("float16" if "fp16" in args else "float32")


def test_two_inputs(f, capsys):
    obj = layers_json([f"{f}:two", "--input", "3x8x8", "--input", "10"], capsys)
    assert obj["totals"]["macs"] == TWO_MACS
    assert [i["shape"] for i in obj["input"]] == [[1, 3, 8, 8], [1, 10]]
    batched = layers_json([f"{f}:two", "--input", "2x3x8x8", "--input", "2x10"], capsys)
    assert batched["totals"]["macs"] == 2 * TWO_MACS


@pytest.mark.parametrize("model, device", [("tok", "meta"), ("tok_reads", "cpu")])
def test_integer_and_keyword_inputs(f, capsys, model, device):
    obj = layers_json([f"{f}:{model}", "--input", "ids:int64:1x128:0..100", "--input",
                       "attention_mask=1x128:int64", "--device", device], capsys)
    assert obj["totals"]["macs"] == 128 * 8 * 2            # the Linear(8, 2) on 128 tokens
    assert obj["input"] == [{"name": None, "shape": [1, 128], "dtype": "int64"},
                            {"name": "attention_mask", "shape": [1, 128], "dtype": "int64"}]


def test_factory_with_example_inputs(f, capsys):
    obj = layers_json([f"{f}:tok_with_example"], capsys)
    assert obj["totals"]["macs"] == 2 * 5 * 8 * 2
    assert obj["input"][0]["shape"] == [2, 5] and obj["input"][0]["dtype"] == "int64"


def test_train_and_memory_take_the_same_inputs(f, capsys):
    code, out, err = run(["train", f"{f}:mlp", "--input", "784", "--batch", "1",
                          "--optimizer", "none", "--format", "json"], capsys)
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert sum(r["fwd_macs"] for r in rows) == MLP_MACS
    assert sum(r["bwd_weight_macs"] for r in rows) == MLP_MACS     # dW = x^T dy per Linear
    assert sum(r["bwd_input_macs"] for r in rows) == 300 * 10      # the first layer has no dX
    code, out, err = run(["memory", f"{f}:mlp", "--input", "784", "--format", "json"], capsys)
    assert code == 0, err
    mem = json.loads(out)
    params = 4 * (784 * 300 + 300 + 300 * 10 + 10)
    # peak: weights + input + first Linear's output + ReLU's output (fp32), all alive at once
    assert mem["peak_bytes"] == params + 4 * (784 + 300 + 300)


def test_memory_api_takes_inputs_like_count():
    from inception_cost.memory_analysis.api import memory
    net = torch.nn.Sequential(torch.nn.Linear(784, 300), torch.nn.ReLU(), torch.nn.Linear(300, 10))
    rep = memory(net, inputs=torch.zeros(2, 784))
    assert rep.peak_bytes == 4 * (784 * 300 + 300 + 300 * 10 + 10) + 4 * 2 * (784 + 300 + 300)


def one_error(code, err, fragment):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("model, inputs, fragment", [
    ("tok", ["ids:int64:1x128:9..0"], "range 9..0 is empty"),
    ("tok", ["x="], "has no shape"),
    ("tok", ["1x0"], "sizes must be positive"),
    ("tok", ["1x5:int64", "foo=1x5:int64"], "has no argument 'foo'"),
    ("two", ["3x8x8"], "missing a required argument: 'y'"),
    ("two", ["3x8x8"], "Two.forward(x, y)"),
    ("mlp", ["10"], "Sequential.forward(input)"),
    ("mlp", ["1x784:fp32:zz"], "cannot read 'zz'"),
    ("tok_reads", ["ids:int64:1x128:0..100"], "run with --device cpu"),
])
def test_bad_input_is_one_error_line(f, capsys, model, inputs, fragment):
    args = ["layers", f"{f}:{model}"] + [a for i in inputs for a in ("--input", i)]
    code, out, err = run(args, capsys)
    one_error(code, err, fragment)


def test_old_optimizer_spelling_works_with_a_note(f, capsys):
    code, out, err = run(["train", f"{f}:mlp", "--input", "784", "--optimizer", "momentum",
                          "--format", "json"], capsys)
    assert code == 0 and "note: --optimizer momentum is now spelled --optimizer sgd_momentum" in err
    rows = json.loads(out)["rows"]
    # SGD with momentum: 2 FLOPs (momentum buffer) + 2 (update) per parameter element
    params = 784 * 300 + 300 + 300 * 10 + 10
    assert sum(r["opt_flops"] for r in rows) >= 2 * params


def test_memory_of_integer_and_keyword_inputs_matches_memtracker():
    """A training step of an embedding model fed ids and a keyword mask: our peak equals
    torch's MemTracker on the same step."""
    from inception_cost.memory_analysis.api import memory
    from inception_cost.memory_analysis.reference import memtracker_peak
    from inception_cost.memory_analysis.step_config import StepConfig, input_templates

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(100, 16)
            self.fc = torch.nn.Linear(16, 4)

        def forward(self, ids, attention_mask=None):
            return self.fc((self.emb(ids) * attention_mask.unsqueeze(-1)).mean(1))

    with torch.device("meta"):
        net = Net()
    inputs = ((torch.zeros(4, 12, dtype=torch.long),),
              {"attention_mask": torch.ones(4, 12, dtype=torch.long)})
    ours = memory(net, inputs=inputs, training=True, optimizer="sgd")
    n, temps = input_templates(inputs)
    ref = memtracker_peak(net, StepConfig(n, temps[0].size, True, "sgd", inputs=temps))
    assert ref["Total"] == ours.peak_bytes
    assert ref["Parameter"] == 4 * (100 * 16 + 16 * 4 + 4)


# every command that takes --input reads it the same way and refuses the same mistakes
# in one line; profile's are found before anything is timed
COMMANDS = {"layers": [], "train": [], "memory": [], "predict": [],
            "profile": ["--device", "cpu", "--iters", "2", "--warmup", "0", "--threads", "1"]}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("model, inputs, fragments", [
    ("tok", ["ids:int64:1x128:9..0"], ["range 9..0 is empty"]),
    ("tok", ["x="], ["has no shape"]),
    ("tok", ["1x0"], ["sizes must be positive"]),
    ("two", ["3x8x8"], ["missing a required argument: 'y'", "Two.forward(x, y)"]),
    # the forward itself rejects the input: the inputs and the signature are shown
    ("mlp", ["3x8x8"], ["inputs: ", "x3x8x8", "Sequential.forward(input)"]),
    ("tok", ["3x8x8"], ["inputs: ", "Tok.forward(ids, attention_mask=None)"]),
])
def test_every_command_refuses_bad_input_in_one_line(f, capsys, command, model, inputs,
                                                     fragments):
    args = [command, f"{f}:{model}", *[a for i in inputs for a in ("--input", i)],
            *COMMANDS[command]]
    code, out, err = run(args, capsys)
    for fragment in fragments:
        one_error(code, err, fragment)
    assert not out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_refuses_an_unknown_keyword(f, capsys, command):
    args = [command, f"{f}:tok", "--input", "1x5:int64", "--input", "foo=1x5:int64",
            *COMMANDS[command]]
    code, out, err = run(args, capsys)
    one_error(code, err, "has no argument 'foo'")


@pytest.mark.parametrize("command, dtype, shown", [("layers", "fp16", "1x784 float16"),
                                                   ("train", "bf16", "32x784 bfloat16")])
def test_the_title_names_the_dtype_the_input_was_given(f, capsys, command, dtype, shown):
    code, out, err = run([command, f"{f}:mlp", "--input", "784", "--dtype", dtype], capsys)
    assert code == 0, err
    assert shown in out.split("\n+")[0], out[:300]


def _train_rows(capsys, *args):
    code, out, err = run(["train", *args, "--optimizer", "none", "--format", "json"], capsys)
    assert code == 0, err
    return {r["module"]: r for r in json.loads(out)["rows"]}


def test_train_takes_two_batchless_inputs(f, capsys):
    rows = _train_rows(capsys, f"{f}:two", "--input", "3x8x8", "--input", "10")  # batch 32
    conv_macs, fc_macs = 4 * 6 * 6 * (3 * 3 * 3), 10 * 4
    assert (rows["conv"]["fwd_macs"], rows["fc"]["fwd_macs"]) == (32 * conv_macs, 32 * fc_macs)
    # weight gradients repeat each layer's MACs; neither input needs a gradient: no dX
    assert (rows["conv"]["bwd_weight_macs"], rows["fc"]["bwd_weight_macs"]) == (
        32 * conv_macs, 32 * fc_macs)
    assert rows["conv"]["bwd_input_macs"] == rows["fc"]["bwd_input_macs"] == 0


def test_train_takes_integer_and_keyword_inputs(f, capsys):
    rows = _train_rows(capsys, f"{f}:tok", "--input", "ids:int64:1x128:0..100", "--input",
                       "attention_mask=1x128:int64")
    # Linear(8, 2) on 128 tokens: forward, dX (the embedding below trains) and dW alike
    assert rows["fc"]["fwd_macs"] == rows["fc"]["bwd_input_macs"] == \
        rows["fc"]["bwd_weight_macs"] == 128 * 8 * 2
    assert rows["emb"]["fwd_macs"] == 0          # a lookup: no multiply-accumulate


def test_memory_takes_two_batchless_inputs(f, capsys):
    code, out, err = run(["memory", f"{f}:two", "--input", "3x8x8", "--input", "10",
                          "--format", "json"], capsys)
    assert code == 0, err
    mem = json.loads(out)
    params = 4 * (4 * 3 * 3 * 3 + 4 + 10 * 4 + 4)          # fp32 conv + linear, with biases
    # at the peak, after .mean(): x (3x8x8) + y (10) + the conv's output (4x6x6) + the mean (4)
    assert mem["peak_bytes"] == params + 4 * (3 * 8 * 8 + 10 + 4 * 6 * 6 + 4)
    assert mem["batch"] == 1


def test_predict_and_profile_take_a_factorys_example_inputs(f, capsys):
    code, out, err = run(["predict", f"{f}:mlp_with_example", "--format", "json"], capsys)
    assert code == 0, err
    [t] = json.loads(out)["totals"]
    # the example's batch 2: 2 FLOPs per MAC, + one add per bias element, + ReLU's 1 per element
    assert (t["batch"], t["flops"]) == (2, 2 * (2 * MLP_MACS + (300 + 10) + 300))
    # integer ids (batch 2, 5 each): the lookup costs nothing; Linear(8, 2) on 10 tokens,
    # 2 FLOPs per MAC plus one bias add per output element
    code, out, err = run(["predict", f"{f}:tok_with_example", "--format", "json"], capsys)
    assert code == 0, err
    [t] = json.loads(out)["totals"]
    assert (t["batch"], t["flops"]) == (2, 2 * (2 * 5 * 8 * 2) + 2 * 5 * 2)
    # profile sweeps --batch (1) over the example's per-sample shape and dtype
    code, out, err = run(["profile", f"{f}:tok_with_example", "--format", "csv",
                          *COMMANDS["profile"]], capsys)
    assert code == 0, err
    import csv
    import io
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert row["input"] == "5 int64" and int(row["macs"]) == 5 * 8 * 2   # Linear(8, 2), 5 ids
