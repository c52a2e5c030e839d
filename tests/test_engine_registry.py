"""The formula registry (aten-op keys, one helper, errors), per-call formulas, and the
phase/attribution hooks a training-step counter builds on."""
import ast
import pathlib

import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from inception_cost import UsageError, count
from inception_cost.counting import registry
from inception_cost.counting.engine import counting, run_callable
from inception_cost.counting.registry import Cost, RegistryError, register

aten = torch.ops.aten


def test_registry_is_keyed_by_aten_packets():
    native = registry.CONVENTIONS["native"]
    assert aten.convolution in native and aten.linear in native and aten.matmul in native
    # the only string key is a function with no aten op
    assert {k for k in native if isinstance(k, str)} <= registry.FUNCTION_KEYS
    assert all(isinstance(k, (torch._ops.OpOverloadPacket, str, torch._ops.HigherOrderOperator))
               for k in native)


def test_unknown_key_raises():
    with pytest.raises(RegistryError, match="torch.ops.aten.convolution"):
        register("convolution")
    with pytest.raises(RegistryError):
        register(42)


def test_duplicate_registration_raises():
    with pytest.raises(RegistryError, match="already registered"):
        register(aten.convolution)(lambda call: Cost())
    # the same op in another convention table is a separate key space
    with pytest.raises(RegistryError, match="already registered"):
        register(aten.convolution, convention="fvcore")(lambda call: Cost())


def test_overload_is_reduced_to_its_packet():
    assert registry.op_key(aten.add.Tensor) is aten.add


def test_backward_ops_register_like_forward_ones():
    table = {}
    # a private convention table: registration must not assume forward ops
    registry.CONVENTIONS["_test"] = table
    try:
        register(aten.convolution_backward, convention="_test")(lambda call: Cost(1, 2))
        assert aten.convolution_backward in table
    finally:
        del registry.CONVENTIONS["_test"]


@torch.library.custom_op("inception_cost_test::scaled_outer", mutates_args=())
def scaled_outer(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a[:, None] * b[None, :]


@scaled_outer.register_fake
def _(a, b):
    return a.new_empty(a.shape[0], b.shape[0])


class UsesCustomOp(nn.Module):
    def forward(self, x):
        return scaled_outer(x[0], x[1])


def test_per_call_formula_for_a_custom_op():
    op = torch.ops.inception_cost_test.scaled_outer
    plain = count(UsesCustomOp(), inputs=torch.zeros(2, 6))
    assert plain.uncounted_ops == ["scaled_outer"]
    assert plain.uncounted.set_index("op").loc["scaled_outer", "calls"] == 1

    def outer_cost(call):
        m, n = call.out_shapes[0]          # one multiply per output element
        return Cost(macs=m * n, flops=m * n)
    r = count(UsesCustomOp(), inputs=torch.zeros(2, 6), formulas={op: outer_cost})
    assert r.total_macs == 6 * 6
    assert r.uncounted_ops == []


def test_per_call_formula_overrides_a_builtin():
    # Linear(8, 3) on (2, 8): builtin 2*8*3 = 48 MACs; override counts 1000 per call
    r = count(nn.Linear(8, 3), inputs=torch.zeros(2, 8),
              formulas={aten.linear: lambda call: Cost(1000, 2000)})
    assert r.total_macs == 1000
    assert count(nn.Linear(8, 3), inputs=torch.zeros(2, 8)).total_macs == 2 * 8 * 3


def test_bad_formulas_argument_is_a_usage_error():
    with pytest.raises(UsageError):
        count(nn.Linear(8, 3), inputs=torch.zeros(2, 8), formulas={"linear": lambda c: Cost()})


def test_shapes_stay_integer_tuples():
    r = count(nn.Conv2d(3, 8, 3, stride=2), (1, 3, 9, 9))
    row = r.layers.iloc[0]
    assert row.in_shape == (1, 3, 9, 9) and row.out_shape == (1, 8, 4, 4)
    assert row.kernel == (3, 3) and row.stride == (2, 2) and row.groups == 1


def test_training_step_phases_and_attribution():
    """Forward + backward + optimizer step with grad enabled; backward ops have no module on
    the stack and go to the module the caller names. Linear(10, 5, no bias) on x(4, 10):
    forward 4*10*5 = 200 MACs; backward grad_input g(4,5)@W(5,10) = 200 and grad_weight
    g^T(5,4)@x(4,10) = 200 -> 400 MACs, as FlopCounterMode counts them."""
    torch.manual_seed(0)
    model = nn.Linear(10, 5, bias=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(4, 10, requires_grad=True)

    def step(rec):
        loss = model(x).sum()
        with rec.phase("backward", module="head"):
            loss.backward()
        with rec.phase("optimizer"):
            opt.step()
    assert torch.is_grad_enabled()
    rows = run_callable(step, model)
    by_phase = {}
    for r in rows:
        by_phase.setdefault(r.phase, []).append(r)
    assert sum(r.macs for r in by_phase["forward"]) == 200
    assert sum(r.macs for r in by_phase["backward"]) == 400
    assert {r.module for r in by_phase["backward"]} == {"head"}
    assert by_phase["optimizer"]                     # the SGD update ops were seen

    x2 = x.detach().clone().requires_grad_(True)
    model2 = nn.Linear(10, 5, bias=False)
    with FlopCounterMode(display=False) as fcm:
        model2(x2).sum().backward()
    assert fcm.get_total_flops() == 2 * (200 + 400)


def test_phase_is_validated():
    with counting() as rec:
        with pytest.raises(ValueError):
            rec.set_phase("sideways")


def test_inference_count_keeps_no_grad_and_model_grads_untouched():
    m = nn.Linear(4, 2)
    count(m, inputs=torch.ones(3, 4), device="cpu")
    assert m.weight.grad is None


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            out.add(node.module or "")
    return out


def test_no_import_cycle_between_api_and_fvcore_engine():
    root = pathlib.Path(__file__).resolve().parents[1] / "inception_cost" / "counting"
    assert "api" not in _imports(root / "fvcore_engine.py")
    for name in ("inputs", "frames", "placement", "registry"):
        assert "api" not in _imports(root / f"{name}.py")
        assert "fvcore_engine" not in _imports(root / f"{name}.py")
