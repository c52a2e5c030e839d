"""The op registry: one entry per aten op (forward, backward, split, facts), every part
registered once; per-call ``formulas=`` entries reaching forward, backward and the
input/weight split in ``count`` and ``count_training``; ops with no formula decomposed."""
import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from inception_cost import UsageError, count
from inception_cost.counting import registry
from inception_cost.counting.registry import (Cost, GradCost, OpCost, RegistryError, register,
                                              register_op)
from inception_cost.counting.training import count_training

aten = torch.ops.aten


class MatMul(nn.Module):
    """y = x @ W with W (5, 3): ``Tensor.mm`` reaches the dispatcher as aten.mm in forward, and
    autograd's backward of it is two aten.mm calls (dL/dx = g W^T, dL/dW = x^T g)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(5, 3))

    def forward(self, x):
        return x.mm(self.w)


def _net():
    return nn.Sequential(MatMul())


def _x():
    return torch.zeros(4, 5, requires_grad=True)       # batch 4, so dL/dx is computed too


def _mm3(call):
    """A chosen (not the built-in) formula: MACs n*k*m, 3 FLOPs per MAC."""
    (n, k), (_, m) = call.in_shapes[0], call.in_shapes[1]
    return Cost(n * k * m, 3 * n * k * m)


def _all_input_plus_one(call):
    """A chosen split: the whole call (by _mm3) is input-gradient work, plus 1 weight FLOP."""
    return GradCost(input=_mm3(call), weight=Cost(0, 1))


def _train(formulas=None):
    r = count_training(_net(), inputs=_x(), loss=lambda o: o.sum(), optimizer=None,
                       formulas=formulas)
    return r.layers.set_index("module").loc["0"], r.ops


def test_builtin_mm_counts_match_flop_counter_mode():
    """Without formulas=: forward mm (4,5)@(5,3) = 60 MACs; backward g(4,3)@W^T(3,5) = 60 MACs
    (input gradient) and x^T(5,4)@g(4,3) = 60 MACs (weight gradient); FLOPs 2 x MACs, as
    FlopCounterMode counts the same step."""
    row, _ = _train()
    assert (row.fwd_macs, row.fwd_flops) == (60, 120)
    assert (row.bwd_input_macs, row.bwd_input_flops) == (60, 120)
    assert (row.bwd_weight_macs, row.bwd_weight_flops) == (60, 120)
    x, net = _x(), _net()
    with FlopCounterMode(display=False) as fcm:
        net(x).sum().backward()
    assert fcm.get_total_flops() == row.fwd_flops + row.bwd_flops


def test_plain_formula_given_once_reaches_forward_and_backward():
    """formulas={aten.mm: fn}: every mm call, forward and backward, costs fn (60 MACs,
    180 FLOPs each); the backward calls are still divided by the autograd node."""
    row, _ = _train({aten.mm: _mm3})
    assert (row.fwd_macs, row.fwd_flops) == (60, 180)
    assert (row.bwd_input_macs, row.bwd_input_flops) == (60, 180)
    assert (row.bwd_weight_macs, row.bwd_weight_flops) == (60, 180)
    r = count(_net(), inputs=torch.zeros(4, 5), formulas={aten.mm: _mm3})
    assert (r.total_macs, r.total_flops) == (60, 180)


def test_opcost_split_divides_the_backward_calls():
    """OpCost(forward=_mm3, split=_all_input_plus_one): forward 60 MACs / 180 FLOPs; each of
    the two backward mm calls is 60 MACs / 180 FLOPs of input-gradient work plus 1 FLOP of
    weight-gradient work: input 120 / 360, weight 0 / 2."""
    entry = OpCost(forward=_mm3, split=_all_input_plus_one)
    row, ops = _train({aten.mm: entry})
    assert (row.fwd_macs, row.fwd_flops) == (60, 180)
    assert (row.bwd_input_macs, row.bwd_input_flops) == (120, 360)
    assert (row.bwd_weight_macs, row.bwd_weight_flops) == (0, 2)
    mm = ops[(ops["phase"] == "backward") & (ops["op"] == "mm")]
    assert sorted(zip(mm["grad"], mm["flops"])) == [("input", 180), ("input", 180),
                                                      ("weight", 1), ("weight", 1)]
    # the same entry in count(): the forward part only
    r = count(_net(), inputs=torch.zeros(4, 5), formulas={aten.mm: entry})
    assert (r.total_macs, r.total_flops) == (60, 180)


def test_opcost_backward_formula_applies_inside_backward_only():
    """OpCost(forward=_mm3, backward=one MAC per call): forward 60 / 180; the two backward mm
    calls 1 MAC, 2 FLOPs each (input 1 / 2, weight 1 / 2 by the autograd node)."""
    row, _ = _train({aten.mm: OpCost(forward=_mm3, backward=lambda call: Cost(1, 2))})
    assert (row.fwd_macs, row.fwd_flops) == (60, 180)
    assert (row.bwd_input_macs, row.bwd_input_flops) == (1, 2)
    assert (row.bwd_weight_macs, row.bwd_weight_flops) == (1, 2)


def test_per_call_split_replaces_a_builtin_split():
    """Conv2d(2, 3, 1, bias=False) on 1x2x4x4 with a per-call split of convolution_backward
    (input 1 MAC / 2 FLOPs, weight 3 MACs / 4 FLOPs per call): the conv's backward is exactly
    that, where the built-in split gives the weight gradient 1*3*4*4*2 = 96 MACs."""
    net = nn.Sequential(nn.Conv2d(2, 3, 1, bias=False))
    split = lambda call: GradCost(input=Cost(1, 2), weight=Cost(3, 4))  # noqa: E731
    r = count_training(net, (1, 2, 4, 4), loss=lambda o: o.sum(), optimizer=None,
                       formulas={aten.convolution_backward: OpCost(split=split)})
    row = r.layers.set_index("module").loc["0"]
    assert (row.bwd_input_macs, row.bwd_input_flops, row.bwd_weight_macs, row.bwd_weight_flops) \
        == (1, 2, 3, 4)
    base = count_training(net, (1, 2, 4, 4), loss=lambda o: o.sum(), optimizer=None)
    assert base.layers.set_index("module").loc["0"].bwd_weight_macs == 96


def test_bad_per_call_entries_are_usage_errors():
    with pytest.raises(UsageError, match="formulas must be a dict"):
        count_training(_net(), inputs=_x(), optimizer=None, formulas=5)
    both = OpCost(backward=_mm3, split=_all_input_plus_one)
    with pytest.raises(UsageError, match="backward and split"):
        count_training(_net(), inputs=_x(), optimizer=None, formulas={aten.mm: both})
    with pytest.raises(UsageError, match="names no formula"):
        count(_net(), inputs=torch.zeros(4, 5), formulas={aten.mm: OpCost()})
    with pytest.raises(UsageError, match="not callable"):
        count(_net(), inputs=torch.zeros(4, 5), formulas={aten.mm: OpCost(split=3)})


# --------------------------------------------------------------------------- #
# every part registered once
# --------------------------------------------------------------------------- #
@torch.library.custom_op("inception_cost_registry_test::twice", mutates_args=())
def twice(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@torch.library.custom_op("inception_cost_registry_test::twice_split", mutates_args=())
def twice_split(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@pytest.mark.parametrize("part", ["forward", "backward", "fvcore", "weight_layer",
                                  "data_movement", "fvcore_skips"])
def test_each_part_registered_twice_raises(part):
    op = torch.ops.inception_cost_registry_test.twice
    value = True if part in ("weight_layer", "data_movement", "fvcore_skips") else \
        (lambda call: Cost())
    if getattr(registry.OPS.get(op), part, None) in (None, False):
        register_op(op, **{part: value})
    with pytest.raises(RegistryError, match=rf"'twice'.*{part}.*already registered"):
        register_op(op, **{part: value})


def test_split_twice_and_split_with_backward_raise():
    op = torch.ops.inception_cost_registry_test.twice_split
    if registry.OPS.get(op) is None:
        register_op(op, split=lambda call: GradCost())
    with pytest.raises(RegistryError, match=r"'twice_split'.*split.*already registered"):
        register_op(op, split=lambda call: GradCost())
    with pytest.raises(RegistryError, match=r"'twice_split'.*backward and split"):
        register_op(op, backward=lambda call: Cost())


def test_builtin_backward_ops_are_registered_once():
    """The built-in backward formulas no longer skip an op that has one: registering again
    raises, for the split and (through the old decorator) for the op's native formula."""
    with pytest.raises(RegistryError, match=r"'convolution_backward'.*split.*already registered"):
        register_op(aten.convolution_backward, split=lambda call: GradCost())
    with pytest.raises(RegistryError, match="already registered"):
        register(aten.convolution_backward)(lambda call: Cost())
    with pytest.raises(RegistryError, match=r"'convolution'.*forward.*already registered"):
        register_op(aten.convolution, forward=lambda call: Cost())
    info = registry.info(aten.convolution)
    assert info.weight_layer and info.fvcore is not None and not info.data_movement
    assert registry.info(aten.cat).data_movement and registry.info(aten.baddbmm).fvcore_skips


# --------------------------------------------------------------------------- #
# an op with no formula and a decomposition
# --------------------------------------------------------------------------- #
class AddMv(nn.Module):
    """torch.addmv(b, W, x) = b + W @ x, W (5, 7): aten.addmv has no formula of its own and
    a torch._decomp decomposition: alpha * mv(W, x) + beta * b (alpha = beta = 1)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(5, 7))
        self.b = nn.Parameter(torch.zeros(5))

    def forward(self, x):
        return torch.addmv(self.b, self.w, x)


def test_op_without_formula_is_counted_through_its_decomposition():
    """aten.addmv is in torch._decomp's table and not in the registry; it runs as its
    decomposition: mv 5*7 = 35 MACs (70 FLOPs), then alpha*, beta* and + on 5 elements
    (5 FLOPs each): 35 MACs, 85 FLOPs, nothing uncounted (strict passes)."""
    from torch._decomp import decomposition_table
    assert aten.addmv.default in decomposition_table and aten.addmv not in registry.OPS
    for device in ("meta", "cpu"):
        r = count(AddMv(), inputs=torch.zeros(7), device=device, strict=True)
        assert (r.total_macs, r.total_flops) == (35, 85)
        assert r.uncounted_ops == []
    # the decomposition's values are the op's (it runs in place of the op)
    m, x = AddMv(), torch.arange(7.0)
    with torch.no_grad():
        m.w.copy_(torch.arange(35.0).reshape(5, 7))
        m.b.fill_(1.0)
    from inception_cost.counting.engine import counting
    with torch.no_grad(), counting(m):
        got = m(x)
    assert torch.equal(got, m.w @ x + 1)


def test_decomposed_op_with_a_per_call_formula_is_not_decomposed():
    """A per-call formula for aten.addmv (1 MAC, 1 FLOP) counts the op as one call."""
    r = count(AddMv(), inputs=torch.zeros(7), formulas={aten.addmv: lambda call: Cost(1, 1)})
    assert (r.total_macs, r.total_flops) == (1, 1)
