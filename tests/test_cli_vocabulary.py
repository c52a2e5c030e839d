"""One vocabulary across commands, run from the CLI as a user would: every training
analysis defaults to the same optimizer (sgd_momentum) and batch (32), every inference
analysis to batch 1; old spellings still work, with a one-line note and the same numbers."""
from __future__ import annotations

import json
import re

import pytest

from micro import run

NET = '''
import torch.nn as nn

def tiny():
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    m.default_input_size = (3, 16, 16)
    return m
'''
# parameters (elements): conv 8 x 3 x 3 x 3, linear 8 x 4 + 4
PARAMS = 8 * 3 * 3 * 3 + 8 * 4 + 4
CONV_MACS = 16 * 16 * 8 * 3 * 3 * 3        # per image: output positions x weights
LINEAR_MACS = 8 * 4


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("vocab")
    (d / "nets.py").write_text(NET)
    return f"{d}/nets.py:tiny"


def _train_json(capsys, *args):
    code, out, err = run(["train", *args, "--format", "json"], capsys)
    assert code == 0, err
    return json.loads(out)["rows"], err


def _memory_json(capsys, *args):
    code, out, err = run(["memory", *args, "--train", "--format", "json"], capsys)
    assert code == 0, err
    return json.loads(out), err


def test_train_and_memory_train_default_to_the_same_batch_and_optimizer(tiny, capsys):
    code, out, err = run(["train", tiny], capsys)
    assert code == 0, err
    title = " ".join(out.split("+-", 1)[0].split())     # the title, however it wraps
    assert "@ 32x3x16x16" in title and "optimizer sgd_momentum" in title, title
    code, out, err = run(["memory", tiny, "--train"], capsys)
    assert code == 0, err
    title = " ".join(out.split("+-", 1)[0].split())
    assert re.search(r"@ 32x3x16x16 fp32: training step \(sgd_momentum,", title), title
    mem, _ = _memory_json(capsys, tiny)
    assert (mem["batch"], mem["optimizer"]) == (32, "sgd_momentum")
    # SGD with momentum keeps one fp32 buffer per parameter element
    assert mem["breakdown"]["optimizer_state"] == 4 * PARAMS
    rows, _ = _train_json(capsys, tiny)
    assert sum(r["fwd_macs"] for r in rows) == 32 * (CONV_MACS + LINEAR_MACS)
    # torch.optim.SGD(momentum=0.9): buf = 0.9 buf + g (2 FLOPs), p -= lr buf (2 FLOPs)
    assert sum(r["opt_flops"] for r in rows) == 4 * PARAMS


def test_inference_defaults_to_batch_1_everywhere(tiny, capsys):
    code, out, err = run(["layers", tiny, "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["input"][0]["shape"] == [1, 3, 16, 16]
    code, out, err = run(["memory", tiny, "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["batch"] == 1
    code, out, err = run(["predict", tiny, "--format", "json"], capsys)
    assert code == 0 and {t["batch"] for t in json.loads(out)["totals"]} == {1}
    code, out, err = run(["predict", tiny, "--train", "--format", "json"], capsys)
    assert code == 0 and {t["batch"] for t in json.loads(out)["totals"]} == {32}


def test_a_batched_input_sets_the_batch_of_a_training_step(tiny, capsys):
    rows, _ = _train_json(capsys, tiny, "--input", "2x3x16x16")
    assert sum(r["fwd_macs"] for r in rows) == 2 * (CONV_MACS + LINEAR_MACS)
    mem, _ = _memory_json(capsys, tiny, "--input", "2x3x16x16")
    assert mem["batch"] == 2


def test_old_optimizer_spelling_gives_a_note_and_the_same_numbers(tiny, capsys):
    new_rows, new_err = _train_json(capsys, tiny, "--optimizer", "sgd_momentum")
    old_rows, old_err = _train_json(capsys, tiny, "--optimizer", "momentum")
    assert "note:" not in new_err
    notes = [ln for ln in old_err.splitlines() if ln.startswith("note:")]
    assert notes == ["note: --optimizer momentum is now spelled --optimizer sgd_momentum "
                     "(the old spelling still works)"]
    assert old_rows == new_rows
    new_mem, _ = _memory_json(capsys, tiny, "--optimizer", "sgd_momentum")
    old_mem, old_err = _memory_json(capsys, tiny, "--optimizer", "momentum")
    assert "note: --optimizer momentum is now spelled --optimizer sgd_momentum" in old_err
    assert old_mem == new_mem


def test_old_batch_size_spelling_gives_a_note_and_the_same_sweep(tiny, capsys):
    fast = ["--device", "cpu", "--warmup", "0", "--iters", "2", "--threads", "1",
            "--format", "json"]
    code, out, err = run(["profile", tiny, "--batch-size", "1,2", *fast], capsys)
    assert code == 0, err
    assert "note: --batch-size is now spelled --batch (the old spelling still works)" in err
    old = [(r["batch"], r["macs"]) for r in json.loads(out)["rows"]]
    code, out, err = run(["profile", tiny, "--batch", "1,2", *fast], capsys)
    assert code == 0 and "note:" not in err
    assert old == [(r["batch"], r["macs"]) for r in json.loads(out)["rows"]] == [
        (1, CONV_MACS + LINEAR_MACS), (2, 2 * (CONV_MACS + LINEAR_MACS))]


@pytest.mark.parametrize("command", ["train", "memory", "layers", "profile", "predict"])
def test_every_command_spells_the_shared_options_alike(command, capsys):
    code, out, err = run([command, "--help"], capsys)
    assert code == 0
    for option in ("--batch", "--dtype", "--input", "--format", "--output"):
        assert option in out, f"{command} has no {option}"
    if command in ("train", "memory"):
        assert "[default: sgd_momentum]" in " ".join(out.split())


def test_predict_reads_input_as_layers_does(tiny, capsys):
    code, out, err = run(["predict", tiny, "--input", "2x3x16x16", "--format", "json"], capsys)
    assert code == 0, err
    batched = json.loads(out)["totals"]
    code, out, err = run(["predict", tiny, "--input", "3x16x16", "--batch", "2", "--format",
                          "json"], capsys)
    assert code == 0, err
    assert batched == json.loads(out)["totals"] and {t["batch"] for t in batched} == {2}
    # one forward at batch 2: conv 2 x 2 FLOPs per MAC + ... at least the MACs' 2 FLOPs
    assert all(t["flops"] >= 2 * 2 * (CONV_MACS + LINEAR_MACS) for t in batched)
    # a second input the forward has no argument for: the same one line as layers
    code, out, err = run(["predict", tiny, "--input", "3x16x16", "--input", "4"], capsys)
    code2, out2, err2 = run(["layers", tiny, "--input", "3x16x16", "--input", "4"], capsys)
    assert code == code2 == 2 and err == err2 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: --input does not fit")


def test_train_defaults_reproduce_the_committed_training_report(capsys):
    """The README's reason for the defaults: `train MODEL` (batch 32, sgd_momentum) gives
    the rows of reports/training/MODEL.csv, the training gate's baseline."""
    import io
    import os

    import pandas as pd
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    committed = pd.read_csv(os.path.join(root, "reports", "training", "inception_reduced.csv"))
    code, out, err = run(["train", "inception_reduced", "--format", "csv"], capsys)
    assert code == 0, err
    ours = pd.read_csv(io.StringIO(out))
    shared = [c for c in committed.columns if c in ours.columns and c.endswith(("macs", "flops"))]
    assert {"fwd_macs", "bwd_macs", "opt_flops", "step_flops"} <= set(shared)
    pd.testing.assert_frame_equal(ours[["module", *shared]], committed[["module", *shared]])


MLP = '''
import torch.nn as nn

def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 10))
'''


def test_memory_takes_every_optimizer_train_takes(tmp_path, capsys):
    """sgd_nesterov, which `train` counts, is a memory step too: its peak equals PyTorch's
    MemTracker on the same step (SGD, momentum 0.9, nesterov, foreach as on cuda)."""
    import torch.nn as nn
    from memtracker_step import reference_step
    (tmp_path / "m.py").write_text(MLP)
    code, out, err = run(["memory", f"{tmp_path}/m.py:mlp", "--input", "3x4x4", "--train",
                          "--batch", "5", "--optimizer", "sgd_nesterov", "--format", "json"],
                         capsys)
    assert code == 0, err
    data = json.loads(out)
    with __import__("torch").device("meta"):
        model = nn.Sequential(nn.Flatten(), nn.Linear(48, 32), nn.ReLU(), nn.Linear(32, 10))
    ref = reference_step(model, (3, 4, 4), 5, training=True, optimizer="sgd_nesterov")
    assert data["peak_bytes"] == ref["Total"]
    params = 4 * (48 * 32 + 32 + 32 * 10 + 10)
    assert data["breakdown"]["optimizer_state"] == params      # one momentum buffer
    for name in ("sgd", "sgd_momentum", "sgd_nesterov", "adam", "adamw", "none"):
        code, _, err = run(["train", f"{tmp_path}/m.py:mlp", "--input", "3x4x4", "--optimizer",
                            name, "--format", "csv"], capsys)
        assert code == 0, (name, err)
        code, _, err = run(["memory", f"{tmp_path}/m.py:mlp", "--input", "3x4x4", "--train",
                            "--optimizer", name, "--format", "csv"], capsys)
        assert code == 0, (name, err)


def test_checkpoint_planning_names_the_optimizer_as_every_command_does(tiny, tmp_path, capsys):
    """memory --plan and --fit --checkpoint auto say sgd_momentum (the default), never the
    memory model's internal 'momentum'."""
    for args in (["--train", "--plan", "--budget", "1GiB"], ["--fit", "64MiB", "--checkpoint", "auto"]):
        code, out, err = run(["memory", tiny, *args], capsys)
        assert code == 0, err
        text = " ".join(out.split())
        assert "sgd_momentum" in text, text[:300]
        assert not re.search(r"(?<!sgd_)momentum", text), text[:300]
