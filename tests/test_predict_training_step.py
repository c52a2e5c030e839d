"""``predict --train`` runs the step program ``train`` counts: its optimizer (any name of
the shared vocabulary, recorded from dispatch), its freezing and its training-only heads.

Checked by hand on a tiny net, against the closed-form optimizer oracle, against
``count_training`` on GoogLeNet (two walks: the op events vs the counting engine), and
for one-line errors identical to ``train``'s."""
from __future__ import annotations

import json

import pytest
import torch.nn as nn

import inception_cost
from inception_cost.counting.optimizer_formulas import optimizer_spec
from inception_cost.counting.training import count_training
from inception_cost.models.resolve import resolve_training_model
from tests.micro import run

# --------------------------------------------------------------------------- #
# (a) a tiny net by hand: Linear(4, 3, bias=False) + ReLU, batch 2, fp32
# --------------------------------------------------------------------------- #
W = 3 * 4          # weight elements (the only parameter)
T = 4 * W          # bytes of one full read or write of W (or of its gradient / a state buffer)

# The steady-state step (state buffers exist), torch.optim's per-parameter loop:
BY_HAND = {
    # p.add_(g, alpha=-lr): a multiply and an add per element; reads p, g, writes p
    "sgd": (2 * W, 3 * T),
    # buf.mul_(0.9): 1/elem, reads buf, writes buf
    # buf.add_(g): 1/elem, reads buf, g, writes buf
    # p.add_(buf, alpha=-lr): 2/elem, reads p, buf, writes p
    "sgd_momentum": (W + W + 2 * W, 2 * T + 3 * T + 3 * T),
    # step += 1 on a float32 scalar: 1 FLOP, reads 4 bytes and writes 4
    # m.lerp_(g, 1-b1): 3/elem (a + w*(b-a)), reads m, g, writes m
    # v.mul_(b2): 1/elem, reads v, writes v
    # v.addcmul_(g, g, value=1-b2): 3/elem, reads v, g, g, writes v
    # v.sqrt(): 1/elem, reads v, writes s;  s / sqrt(bc2): 1/elem, reads s, writes d
    # d.add_(eps): 1/elem, reads d, writes d
    # p.addcdiv_(m, d, value=-step_size): 3/elem, reads p, m, d, writes p
    "adam": (1 + 3 * W + W + 3 * W + W + W + W + 3 * W,
             8 + 3 * T + 2 * T + 4 * T + 2 * T + 2 * T + 2 * T + 4 * T),
}


def _tiny():
    return nn.Sequential(nn.Linear(4, 3, bias=False), nn.ReLU())


def _phase(pred, name: str) -> tuple[int, int]:
    row = pred.phases[pred.phases["phase"] == name]
    return int(row["flops"].sum()), int(row["bytes"].sum())


@pytest.mark.parametrize("name", ["sgd", "sgd_momentum", "adam"])
def test_tiny_net_optimizer_phase_by_hand_and_oracle(name):
    pred = inception_cost.predict(_tiny(), (2, 4), device="A100", training=True, optimizer=name)
    flops, byts = _phase(pred, "optimizer")
    assert (flops, byts) == BY_HAND[name]
    spec = optimizer_spec(name)                      # the closed form kept as the oracle
    assert (flops, byts) == (spec.step_flops(W), spec.step_bytes(W, 4))
    assert pred.optimizer == name and pred.totals["optimizer"] == name
    # the update is attributed to the Linear that owns W
    opt = pred.ops[pred.ops["phase"] == "optimizer"]
    assert set(opt["module"]) == {"0"}


def test_tiny_net_without_optimizer_has_no_optimizer_phase():
    pred = inception_cost.predict(_tiny(), (2, 4), device="A100", training=True, optimizer="none")
    assert "optimizer" not in set(pred.phases["phase"]) and pred.optimizer == "none"


def test_default_optimizer_is_trains_default():
    pred = inception_cost.predict(_tiny(), (2, 4), device="A100", training=True)
    assert pred.optimizer == "sgd_momentum"
    assert _phase(pred, "optimizer") == BY_HAND["sgd_momentum"]


# --------------------------------------------------------------------------- #
# (b) GoogLeNet, batch 2: the event stream vs count_training
# --------------------------------------------------------------------------- #
SHAPE = (2, 3, 224, 224)
PHASES = [("forward", "fwd"), ("backward input-grad", "bwd_input"),
          ("backward weight-grad", "bwd_weight"), ("optimizer", "opt")]


@pytest.fixture(scope="module")
def googlenet():
    """The model `train googlenet` counts (auxiliary heads built)."""
    return resolve_training_model("googlenet")[0]


def _agree(pred, report):
    t = report.totals()
    for phase, col in PHASES:
        assert _phase(pred, phase) == (t[f"{col}_flops"], t[f"{col}_bytes"]), phase


def test_googlenet_step_equals_count_training(googlenet):
    pred = inception_cost.predict("googlenet", SHAPE, device="A100", training=True)
    assert pred.optimizer == "sgd_momentum"
    assert any(m.startswith("aux1.") for m in pred.layers["module"])    # training-only heads
    _agree(pred, count_training(googlenet, input_size=SHAPE, optimizer="sgd_momentum"))
    # sgd_momentum: 4 FLOPs per parameter element, over every parameter
    assert _phase(pred, "optimizer")[0] == 4 * sum(p.numel() for p in googlenet.parameters())


FROZEN = ("conv1", "inception3a")


def _is_frozen(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FROZEN)


def test_googlenet_frozen_adam_step(googlenet):
    pred = inception_cost.predict("googlenet", SHAPE, device="A100", training=True,
                                  optimizer="adam", freeze=",".join(FROZEN))
    _agree(pred, count_training(googlenet, input_size=SHAPE, optimizer="adam",
                                freeze=",".join(FROZEN)))
    ops = pred.ops
    bwd = ops[ops["phase"] == "backward"]
    # the frozen layers still pass the input gradient down (inception3a) but compute no
    # weight gradient; conv1 (first layer, input without gradient) runs no backward at all
    assert not any(_is_frozen(m) for m in bwd.loc[bwd["grad"].isin(["weight", "split"]), "module"])
    assert any(m.startswith("inception3a.") for m in bwd["module"])
    assert not any(m.startswith("conv1.") for m in bwd["module"])
    opt = ops[ops["phase"] == "optimizer"]
    assert len(opt) and not any(_is_frozen(m) for m in opt["module"])
    # adam: 13 FLOPs per trainable element + 1 per trainable tensor (its step counter)
    trainable = [p for n, p in googlenet.named_parameters()
                 if not n.startswith(tuple(f + "." for f in FROZEN))]
    assert _phase(pred, "optimizer")[0] == 13 * sum(p.numel() for p in trainable) + len(trainable)


# --------------------------------------------------------------------------- #
# the command line
# --------------------------------------------------------------------------- #
FACTORY = '''
import torch.nn as nn

def tiny():
    return nn.Sequential(nn.Linear(4, 3, bias=False), nn.ReLU())
'''


@pytest.fixture()
def tiny_file(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(FACTORY)
    return f"{path}:tiny"


@pytest.mark.parametrize("given,name", [("adam", "adam"), ("momentum", "sgd_momentum"),
                                        (None, "sgd_momentum")])
def test_cli_optimizer_in_json_and_phases(tiny_file, given, name, capsys):
    args = ["predict", tiny_file, "--train", "--input", "4", "--batch", "2", "--on", "A100",
            "--format", "json"] + (["--optimizer", given] if given else [])
    code, out, err = run(args, capsys)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["optimizer"] == name and obj["totals"][0]["optimizer"] == name
    (opt,) = [p for p in obj["phases"] if p["phase"] == "optimizer"]
    assert (opt["flops"], opt["bytes"]) == BY_HAND[name]
    if given == "momentum":
        assert "now spelled --optimizer sgd_momentum" in err


def test_cli_freeze_and_optimizer_in_rich_output(capsys):
    code, out, err = run(["predict", "googlenet", "--train", "--batch", "2", "--on", "A100",
                          "--optimizer", "adam", "--freeze", "conv1,inception3a"], capsys)
    assert code == 0, err
    assert "googlenet training step (adam) @ 2x3x224x224" in out
    assert "frozen (no gradient, no update): conv1, inception3a" in " ".join(out.split())
    assert max(len(line) for line in out.splitlines()) <= 100


@pytest.mark.parametrize("extra", [["--optimizer", "adamx"], ["--freeze", "nosuch*"],
                                   ["--freeze", "conv1,nosuch"], ["--freeze", "*"]])
def test_bad_optimizer_or_freeze_same_error_as_train(extra, capsys, tmp_path):
    target = tmp_path / "out.txt"
    code, out, err = run(["predict", "googlenet", "--train", *extra, "-o", str(target)], capsys)
    assert code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert not target.exists()
    tcode, _, terr = run(["train", "googlenet", *extra, "-o", str(target)], capsys)
    assert tcode == 2 and terr == err
    assert any(m in err for m in ("unknown optimizer 'adamx'", "matches no module or parameter",
                                  "nothing to train"))


@pytest.mark.parametrize("extra", [["--optimizer", "adam"], ["--freeze", "conv1"]])
def test_training_options_without_train_refused(extra, capsys):
    code, out, err = run(["predict", "googlenet", *extra], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert err == f"error: {extra[0]} describes a training step: add --train\n"


def test_api_refuses_optimizer_without_training():
    with pytest.raises(inception_cost.UsageError, match="pass training=True"):
        inception_cost.predict(_tiny(), (2, 4), optimizer="adam")
