"""One step program (loss, freezing, optimizer) run by ``count_training`` and
``memory(training=True)``; the optimizer step counted from the ops it dispatches, checked
against hand arithmetic and against the closed per-element formulas (the oracle)."""
import pytest
import torch
import torch.nn as nn

from inception_cost.counting.engine import counting
from inception_cost.counting.optimizer_formulas import optimizer_spec
from inception_cost.counting.step_program import StepProgram
from inception_cost.counting.training import count_training
from inception_cost.errors import UsageError
from inception_cost.memory_analysis.api import memory

X = torch.zeros(2, 8)          # batch 2, 8 features


def _mlp() -> nn.Module:
    # "0": Linear(8, 16), 8*16 + 16 = 144 parameters; "2": Linear(16, 4), 16*4 + 4 = 68
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def _row(report, module: str) -> dict:
    return report.layers.set_index("module").loc[module].to_dict()


def _peak(report, category: str) -> int:
    return int(report.timeline[category].max())


# --------------------------------------------------------------------------- #
# names
# --------------------------------------------------------------------------- #
def test_old_spelling_builds_the_same_torch_optimizer():
    opt = StepProgram("momentum").make_optimizer([nn.Parameter(torch.zeros(3))])
    assert isinstance(opt, torch.optim.SGD)
    group = opt.param_groups[0]
    assert (group["momentum"], group["nesterov"], group["foreach"]) == (0.9, False, False)
    assert StepProgram("momentum") == StepProgram("sgd_momentum")
    nesterov = StepProgram("sgd_nesterov", foreach=True).make_optimizer(
        [nn.Parameter(torch.zeros(3))]).param_groups[0]
    assert (nesterov["momentum"], nesterov["nesterov"], nesterov["foreach"]) == (0.9, True, True)
    assert StepProgram("adamw").make_optimizer(
        [nn.Parameter(torch.zeros(3))]).param_groups[0]["weight_decay"] == 1e-2
    assert StepProgram("none").make_optimizer([nn.Parameter(torch.zeros(3))]) is None
    with pytest.raises(UsageError, match="unknown optimizer 'adamx'"):
        StepProgram("adamx")


def test_memory_accepts_both_spellings_and_runs_the_same_step():
    a = memory(_mlp(), inputs=X, training=True, optimizer="momentum", workspace=False)
    b = memory(_mlp(), inputs=X, training=True, optimizer="sgd_momentum", workspace=False)
    assert a.peak_bytes == b.peak_bytes and a.breakdown == b.breakdown


# --------------------------------------------------------------------------- #
# freezing and the optimizer state: the same program in both analyses
# --------------------------------------------------------------------------- #
def test_frozen_module_in_training_and_memory():
    t = count_training(_mlp(), inputs=X, optimizer="sgd_momentum", freeze="0")
    frozen, live = _row(t, "0"), _row(t, "2")
    assert (frozen["trainable"], frozen["bwd_weight_macs"], frozen["bwd_weight_flops"],
            frozen["opt_flops"]) == (0, 0, 0, 0)
    # dL/dW of Linear(16, 4) at batch 2: x^T dy, 2 * 16 * 4 = 128 MACs
    assert live["bwd_weight_macs"] == 128
    # SGD momentum: buf*m (1) + g (1), p + (-lr)*buf (2): 4 FLOPs per element, 68 elements
    assert live["opt_flops"] == 4 * 68
    m = memory(_mlp(), inputs=X, training=True, optimizer="sgd_momentum", freeze="0",
               workspace=False)
    # fp32 gradients and one fp32 momentum buffer of the 68 trainable parameters only
    assert _peak(m, "gradients") == 68 * 4
    assert _peak(m, "optimizer_state") == 68 * 4
    whole = memory(_mlp(), inputs=X, training=True, optimizer="sgd_momentum", workspace=False)
    assert _peak(whole, "gradients") == (144 + 68) * 4
    assert _peak(whole, "optimizer_state") == (144 + 68) * 4


def test_adam_state_bytes_by_hand_with_a_frozen_layer():
    m = memory(_mlp(), inputs=X, training=True, optimizer="adam", freeze=["0"],
               workspace=False)
    # two fp32 moments per trainable element + one fp32 step counter per trainable tensor
    assert _peak(m, "optimizer_state") == 2 * 68 * 4 + 2 * 4


def test_freeze_pattern_that_matches_nothing_is_refused_by_both():
    with pytest.raises(UsageError, match="freeze pattern 'conv9' matches no module"):
        count_training(_mlp(), inputs=X, freeze="conv9")
    with pytest.raises(UsageError, match="freeze pattern 'conv9' matches no module"):
        memory(_mlp(), inputs=X, training=True, optimizer="sgd", freeze="conv9")


class _TwoHeads(nn.Module):
    """A main and a training-only head, as GoogLeNet returns them in train mode."""

    def __init__(self):
        super().__init__()
        self.main = nn.Linear(8, 4)
        self.aux = nn.Linear(8, 4)

    def forward(self, x):
        return self.main(x), self.aux(x)


def test_same_loss_in_training_and_memory():
    # the loss of both heads: two cross-entropies (log_softmax + nll_loss each), the aux
    # one times its weight (mul), added to the main one (add)
    expected = ["_log_softmax", "nll_loss_forward", "_log_softmax", "nll_loss_forward",
                "mul", "add"]
    t = count_training(_TwoHeads(), inputs=X, optimizer="sgd")
    ops = t.ops
    assert ops[(ops["module"] == "(loss)") & (ops["phase"] == "forward")]["op"].tolist() \
        == expected
    m = memory(_TwoHeads(), inputs=X, training=True, optimizer="sgd", workspace=False)
    tl = m.timeline
    loss_ops = tl[(tl["module"] == "(loss)") & (tl["phase"] == "forward")]["op"]
    assert [o.split(".")[1] for o in loss_ops] == expected


def test_loss_value_weights_the_aux_head():
    main, aux = torch.randn(3, 5), torch.randn(3, 5)
    target = torch.tensor([1, 0, 4])
    ce = nn.functional.cross_entropy
    got = StepProgram(aux_weight=0.5).loss_value((main, aux), [main, aux], target)
    assert torch.allclose(got, ce(main, target) + 0.5 * ce(aux, target))
    zeros = torch.zeros(3, dtype=torch.long)
    assert torch.allclose(StepProgram().loss_value((main, aux), [main, aux]),
                          ce(main, zeros) + 0.3 * ce(aux, zeros))


# --------------------------------------------------------------------------- #
# the optimizer step counted from dispatch
# --------------------------------------------------------------------------- #
def test_linear_sgd_momentum_by_hand():
    t = count_training(nn.Linear(3, 2), inputs=torch.zeros(1, 3), optimizer="sgd_momentum")
    opt = t.ops[t.ops["phase"] == "optimizer"]
    # per parameter tensor: buf.mul_(0.9) 1, buf.add_(g) 1, p.add_(buf, alpha=-lr) 2
    assert opt["op"].tolist() == ["mul_", "add_", "add_"] * 2
    assert opt["flops"].tolist() == [6, 6, 12, 2, 2, 4]     # weight 6 elements, bias 2
    assert t.totals()["opt_flops"] == (6 + 2) * (1 + 1 + 2) == 32
    assert int(opt["macs"].sum()) == 0


NAMES = ("sgd", "sgd_momentum", "sgd_nesterov", "adam", "adamw")


@pytest.mark.parametrize("name", NAMES)
def test_count_training_optimizer_equals_closed_form(name):
    """The oracle: the closed per-element formulas of optimizer_formulas.py. They agree
    with the dispatched ops because both weigh ``add_``/``addcdiv_``/``addcmul_`` with a
    non-unit ``alpha``/``value`` as a multiply and an add (2, 3 FLOPs per element: the
    arithmetic done), ``lerp_`` as 3 (a + w*(b - a); the decomposition PyTorch registers
    computes both of its branches, which the kernel does not), and Adam's bias
    corrections as Python scalars (no tensor op, no FLOP)."""
    model = _mlp()
    spec = optimizer_spec(name)
    t = count_training(model, inputs=X, optimizer=name)
    for module, n_weight, n_bias in (("0", 128, 16), ("2", 64, 4)):
        assert _row(t, module)["opt_flops"] == spec.step_flops(n_weight) + spec.step_flops(n_bias)
    assert t.uncounted_ops == []


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
@pytest.mark.parametrize("name", NAMES)
def test_dispatched_step_equals_closed_form_both_implementations(name, foreach):
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(7, 5), nn.Conv2d(3, 4, 3))
    params = list(model.parameters())
    opt = StepProgram(name, foreach=foreach).make_optimizer(params)
    for p in params:
        p.grad = torch.zeros_like(p)
    opt.step()                              # the state of every step after the first
    with counting(None) as rec, rec.phase("optimizer"):
        opt.step()
    spec = optimizer_spec(name)
    assert sum(r.flops for r in rec.rows) == sum(spec.step_flops(p.numel()) for p in params)
    assert all(r.counted for r in rec.rows), [r.op for r in rec.rows if not r.counted]
    assert any(r.op.startswith("_foreach_") for r in rec.rows) == foreach


def test_one_flattening_of_outputs_for_ops_autograd_and_the_step():
    """output_tensors (the op counter's, the autograd map's and step_outputs' one
    flattening): tensors in order, one level, a dict's "out" first only when asked."""
    from inception_cost.counting.output_tensors import output_tensors
    from inception_cost.counting.step_program import step_outputs
    a, b, c = torch.zeros(1), torch.zeros(2), torch.zeros(3)
    same = lambda got, want: len(got) == len(want) and all(g is w for g, w in zip(got, want))
    assert same(output_tensors(a), [a])
    assert same(output_tensors((a, None, b, [c])), [a, b])          # a nested list: not searched
    assert same(output_tensors({"aux": a, "n": 3, "out": b}), [a, b])
    assert same(output_tensors({"aux": a, "n": 3, "out": b}, main_first=True), [b, a])
    assert output_tensors(None) == [] and output_tensors("x") == []
    assert same(step_outputs({"aux": a, "out": b}), [b, a])
    assert same(step_outputs([a, b]), [a, b])
    assert step_outputs((a, None)) is None and step_outputs(()) is None
    assert step_outputs({"n": 3}) is None
