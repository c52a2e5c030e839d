"""Optimizer-step FLOPs: the per-element formulas, checked by hand and against the ops
``torch.optim.X(foreach=False)`` dispatches on the meta device."""
import pytest
import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode

from inception_cost.counting.optimizer_formulas import (OptimizerSpec, optimizer_op_flops,
                                                        optimizer_spec)
from inception_cost.errors import UsageError


class _OpFlops(TorchDispatchMode):
    """Counts the real optimizer's dispatched ops with the documented per-op weights."""

    def __init__(self):
        super().__init__()
        self.flops = 0
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        if not getattr(func, "is_view", False) and name not in ("_local_scalar_dense", "empty") \
                and not name.startswith("_record_function"):     # profiler markers
            numel = out.numel() if isinstance(out, torch.Tensor) else 0
            self.flops += optimizer_op_flops(name, args, kwargs, numel)
            self.ops.append(name)
        return out


def _params():
    with torch.device("meta"):
        m = nn.Sequential(nn.Linear(7, 5), nn.Conv2d(3, 4, 3))
    for p in m.parameters():
        p.grad = torch.empty_like(p)
    return list(m.parameters())


SPECS = [OptimizerSpec("sgd"),
         OptimizerSpec("sgd", weight_decay=1e-4),
         OptimizerSpec("sgd", momentum=0.9),
         OptimizerSpec("sgd", momentum=0.9, dampening=0.1),
         OptimizerSpec("sgd", momentum=0.9, nesterov=True, weight_decay=1e-4),
         OptimizerSpec("adam"),
         OptimizerSpec("adam", weight_decay=1e-4),
         OptimizerSpec("adamw", weight_decay=1e-2)]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.name}-m{s.momentum}-d{s.dampening}-n{s.nesterov}-wd{s.weight_decay}")
def test_formula_equals_dispatched_ops_of_torch_optim(spec):
    params = _params()
    opt = spec.torch_class()(params, **spec.torch_kwargs())
    opt.step()                      # first step creates the state buffers
    mode = _OpFlops()
    with mode:
        opt.step()                  # the steady-state step
    expected = sum(spec.step_flops(p.numel()) for p in params)
    assert mode.flops == expected, mode.ops


def test_per_element_formulas_by_hand():
    # sgd: p -= lr*g -> mul + add
    assert OptimizerSpec("sgd").per_element == 2
    # + momentum: buf = m*buf (1) + g (1); + nesterov: g + m*buf (2); + wd: g + wd*p (2)
    assert OptimizerSpec("sgd", momentum=0.9, nesterov=True, weight_decay=1e-4).per_element == 2 + 2 + 2 + 2
    # adam: lerp 3 + mul 1 + addcmul(value) 3 + sqrt 1 + div 1 + add eps 1 + addcdiv(value) 3
    assert OptimizerSpec("adam").per_element == 3 + 1 + 3 + 1 + 1 + 1 + 3 == 13
    assert OptimizerSpec("adamw", weight_decay=0.01).per_element == 14
    # a 1000-element tensor under adam: 13 per element + the step counter
    assert OptimizerSpec("adam").step_flops(1000) == 13001


def test_presets_and_unknown_name():
    assert optimizer_spec("adamw") == OptimizerSpec("adamw", weight_decay=1e-2)
    assert optimizer_spec("none") is None
    with pytest.raises(UsageError, match="unknown optimizer 'adamx'"):
        optimizer_spec("adamx")


def test_sgd_step_in_the_event_stream_equals_the_closed_form():
    """Linear(3, 2) + SGD: the step is p.add_(g, alpha=-lr) on W (6 elements) and b (2);
    alpha != 1, so each element is a multiply and an add: 2 x (6 + 2) = 16 FLOPs, 0 MACs --
    in the op-by-op event stream (what `predict --train` prices) and in the closed form
    `train` uses."""
    from inception_cost.counting.events import EventCapture, EventLog
    from inception_cost.counting.training import count_training
    with torch.device("meta"):
        lin = nn.Linear(3, 2)
    x = torch.empty(4, 3, device="meta")
    opt = torch.optim.SGD(lin.parameters(), lr=0.1, foreach=False)
    with torch.enable_grad(), EventCapture(lin) as cap:
        log = cap.subscribe(EventLog())
        lin(x).sum().backward()
        with cap.phase("optimizer"):
            opt.step()
    steps = [e for e in log.events if e.phase == "optimizer" and not e.free]
    assert [e.op for e in steps] == ["add_", "add_"]
    assert [e.flops for e in steps] == [2 * 6, 2 * 2]
    assert sum(e.macs for e in steps) == 0
    assert count_training(lin, (4, 3), optimizer="sgd").totals()["opt_flops"] == 16


def test_add_alpha_and_addcmul_value_by_hand():
    """The registry's elementwise weights agree with the optimizer table above: add/sub with
    alpha != 1 and addcmul/addcdiv with value != 1 pay the extra multiply."""
    from inception_cost import count
    from tests.micro import Fn
    a, b, c = (torch.empty(5, 7, device="meta") for _ in range(3))
    flops = lambda f, *xs: count(Fn(f), inputs=xs).total_flops
    assert flops(lambda x, y: x + y, a, b) == 35
    assert flops(lambda x, y: torch.add(x, y, alpha=0.5), a, b) == 70
    assert flops(lambda x, y: torch.sub(x, y, alpha=2), a, b) == 70
    assert flops(lambda x, y, z: torch.addcmul(x, y, z), a, b, c) == 70
    assert flops(lambda x, y, z: torch.addcdiv(x, y, z, value=-0.1), a, b, c) == 105


class _TorchBytes(TorchDispatchMode):
    """PyTorch's get_num_bytes of every operand and result of every op the step dispatches
    (views and torch's ignored creation ops left out, as allocations and scalar reads)."""

    def __init__(self):
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        from torch.utils import _pytree as pytree
        from torch.utils._runtime_estimation import _IGNORE_OPS, get_num_bytes
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        if func.overloadpacket in _IGNORE_OPS or func.is_view or name in (
                "_local_scalar_dense", "empty", "detach") or name.startswith("_record_function"):
            return out
        self.bytes += sum(get_num_bytes(t) for t in pytree.tree_leaves((args, kwargs, out))
                          if isinstance(t, torch.Tensor))
        return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.name}-m{s.momentum}-d{s.dampening}-n{s.nesterov}-wd{s.weight_decay}")
def test_step_bytes_equal_get_num_bytes_of_torch_optim(spec, dtype):
    with torch.device("meta"):
        m = nn.Sequential(nn.Linear(7, 5), nn.Conv2d(3, 4, 3)).to(dtype)
    params = list(m.parameters())
    for p in params:
        p.grad = torch.empty_like(p)
    opt = spec.torch_class()(params, **spec.torch_kwargs())
    opt.step()
    mode = _TorchBytes()
    with mode:
        opt.step()
    assert mode.bytes == sum(spec.step_bytes(p.numel(), p.element_size()) for p in params)


def test_step_bytes_by_hand():
    # sgd on 10 fp32 elements: read p, g; write p
    assert OptimizerSpec("sgd").step_bytes(10, 4) == 3 * 10 * 4
    # adam on 10 fp16 elements: 19 accesses each, plus the fp32 step counter read and written
    assert OptimizerSpec("adam").step_bytes(10, 2) == 19 * 10 * 2 + 8
