"""fvcore's own tests (``tests/test_flop_count.py``, ``tests/test_jit_model_analysis.py``),
ported to ``count(..., convention="fvcore")``.

Each case asserts the count fvcore's test writes out by hand (its "flops" are one
per multiply-accumulate, plus its norm / pool / upsample terms) and, where it runs
on CPU, that ``FlopCountAnalysis(...).total()`` gives the same number in this run.
"""
from __future__ import annotations

import logging
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from inception_cost import count
from micro import Fn, NonForwardNet, SharedModuleNet
from inception_cost.counting.registry import Cost

aten = torch.ops.aten

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fvcore.nn import FlopCountAnalysis

logging.getLogger("fvcore").setLevel(logging.ERROR)


def fvcore_total(model, *xs) -> int:
    fca = FlopCountAnalysis(model, xs)
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return int(fca.total())


def fvcore_by_module(model, *xs, mode: str = "owner") -> dict:
    fca = FlopCountAnalysis(model, xs).ancestor_mode(mode)
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {k: int(v) for k, v in fca.by_module().items()}


def ours(model, *xs, device: str = "meta", **kw):
    return count(model, inputs=xs, convention="fvcore", device=device, **kw)


def check(model, xs, expected: int):
    """Hand count == fvcore's total == ours on meta == ours on CPU."""
    assert fvcore_total(model, *xs) == expected
    for device in ("meta", "cpu"):
        assert ours(model, *xs, device=device).total_flops == expected, device


# ---- test_flop_count.py: networks -------------------------------------------- #
class ThreeNet(nn.Module):
    def __init__(self, input_dim, conv_dim, linear_dim):
        super().__init__()
        self.conv = nn.Conv2d(input_dim, conv_dim, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.linear1 = nn.Linear(conv_dim, linear_dim)
        self.linear2 = nn.Linear(linear_dim, 1)

    def forward(self, x):
        x = self.pool(self.conv(x))
        return self.linear2(self.linear1(torch.flatten(x, 1)))


def test_nn_linear():
    check(nn.Linear(8, 4), [torch.randn(5, 8)], 5 * 8 * 4)


def test_linear_nd_input():
    lin = nn.Linear(10, 20)
    check(lin, [torch.randn(5, 10)], 5 * 10 * 20)
    check(lin, [torch.randn(5, 5, 10)], 5 * 10 * 5 * 20)


CONV_CASES = [
    # conv_dim, batch, in, out, spatial, kernel, padding, stride, groups, transpose, out_pad
    (2, 5, 10, 3, 15, 3, 1, 1, 1, False, 0),
    (2, 2, 10, 6, 20, 3, 1, 2, 1, False, 0),      # spatial change
    (2, 5, 16, 8, 15, 5, 2, 1, 4, False, 0),      # groups
    (2, 5, 16, 8, 15, 3, 1, 1, 8, False, 0),      # groups = out channels
    (1, 5, 10, 3, 15, 3, 1, 1, 1, False, 0),
    (3, 5, 10, 3, 15, 3, 1, 1, 1, False, 0),
    (2, 5, 10, 3, 15, 3, 1, 1, 1, True, 0),
    (2, 5, 10, 3, 15, 3, 1, 2, 1, True, 0),
    (2, 5, 10, 3, 15, 3, 1, 3, 1, True, 2),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv(case):
    dim, batch, cin, cout, spatial, k, pad, stride, groups, transpose, out_pad = case
    if transpose:
        layer = [nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d][dim - 1](
            cin, cout, k, stride, pad, groups=groups, output_padding=out_pad)
        out_spatial = spatial          # fvcore counts a transposed conv per input position
    else:
        layer = [nn.Conv1d, nn.Conv2d, nn.Conv3d][dim - 1](cin, cout, k, stride, pad, groups=groups)
        out_spatial = (spatial + 2 * pad - k) // stride + 1
    x = torch.randn(batch, cin, *([spatial] * dim))
    expected = batch * cin * cout * k ** dim * out_spatial ** dim // groups
    check(layer, [x], expected)


@pytest.mark.parametrize("a, b, batch", [
    ((20, 10), (10, 100), 1),
    ((1, 20, 10), (1, 10, 100), 1),
    ((2, 2, 20, 10), (2, 2, 10, 100), 4),
    ((1, 20, 10), (10, 100), 1),
    ((2, 20, 10), (10, 100), 2),
])
def test_matmul(a, b, batch):
    check(Fn(torch.matmul), [torch.randn(a), torch.randn(b)], batch * 20 * 10 * 100)


def test_bmm():
    n, c, t, p = 2, 5, 2, 12
    check(Fn(torch.bmm), [torch.randn(n, c, t), torch.randn(n, t, p)], n * t * p * c)


def test_einsum():
    n, c, t, p, g = 1, 5, 2, 12, 6
    check(Fn(lambda x, y: torch.einsum("nct,ncp->ntp", x, y)),
          [torch.randn(n, c, t), torch.randn(n, c, p)], n * t * p * c)
    check(Fn(lambda x, y: torch.einsum("ntg,ncg->nct", x, y)),
          [torch.randn(n, t, g), torch.randn(n, c, g)], n * t * g * c)


def test_batchnorm():
    # eval, no affine: 1 per element; training, no affine: 4 per element
    check(nn.BatchNorm1d(10, affine=False).eval(), [torch.randn(10, 10)], 10 * 10)
    check(nn.BatchNorm2d(10, affine=False), [torch.randn(10, 10, 5, 5)], 4 * 10 * 10 * 5 * 5)
    check(nn.BatchNorm3d(10, affine=False), [torch.randn(10, 10, 5, 5, 5)],
          4 * 10 * 10 * 5 * 5 * 5)


def _three_net_counts():
    b, cin, cdim, s, ldim = 4, 2, 5, 10, 3
    conv = b * cdim * cin * s * s
    return ThreeNet(cin, cdim, ldim), torch.randn(b, cin, s, s), {
        "conv": conv, "linear1": b * cdim * ldim, "linear2": b * ldim * 1,
        "pool": conv // cin,                      # adaptive pool: 1 per input element
    }


def test_three_net():
    model, x, parts = _three_net_counts()
    assert parts["pool"] == 2000                  # fvcore writes it as 2e-6 GFLOPs
    check(model, [x], sum(parts.values()))


def test_flop_counter_class_by_module():
    model, x, parts = _three_net_counts()
    expected = {**parts, "": sum(parts.values())}
    assert fvcore_by_module(model, x) == expected
    r = ours(model, x)
    assert {k: v for k, v in r.module_totals().items()} == expected


def test_customized_ops():
    """fvcore's ``supported_ops`` / ``set_op_handle``: a handle for a new op and one
    replacing a default handle; here ``formulas=``."""
    model = nn.Sequential(nn.Linear(5, 4), nn.Sigmoid())
    x = torch.randn(10, 5)
    r = ours(model, x, formulas={aten.sigmoid: lambda call: Cost(0, 10000)})
    assert r.total_flops == 10 * 5 * 4 + 10000
    r = ours(model, x, formulas={aten.linear: lambda call: Cost(0, 400000)})
    assert r.total_flops == 400000
    fca = FlopCountAnalysis(model, (x,)).set_op_handle("aten::sigmoid", lambda i, o: 10000)
    fca.unsupported_ops_warnings(False)
    assert fca.total() == 10 * 5 * 4 + 10000


def test_skip_ops_sigmoid_costs_nothing_in_fvcore():
    model = nn.Sequential(nn.Linear(5, 4), nn.Sigmoid())
    x = torch.randn(10, 5)
    fca = FlopCountAnalysis(model, (x,))
    fca.unsupported_ops_warnings(False)
    fca.total()
    assert dict(fca.unsupported_ops()) == {"aten::sigmoid": 1}
    assert ours(model, x).total_flops == fca.total() == 10 * 5 * 4
    # natively the sigmoid is one flop per element
    assert count(model, inputs=(x,)).total_flops == 2 * 200 + 40 + 40


def test_autograd_function_is_seen_through():
    """fvcore cannot see into a custom autograd Function (it needs a handle for
    ``prim::PythonOp``); dispatch-level counting sees the ops it runs."""
    class MM(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return torch.mm(x, x)

        @staticmethod
        def backward(ctx, g):
            return g

    model = Fn(MM.apply)
    x = torch.rand(4, 4)
    fca = FlopCountAnalysis(model, (x,))
    fca.unsupported_ops_warnings(False)
    assert fca.total() == 0 and "prim::PythonOp.MM" in fca.unsupported_ops()
    assert count(model, inputs=(x,)).total_macs == 4 * 4 * 4


# ---- test_flop_count.py: handles --------------------------------------------- #
def test_batch_norm_handle():
    vec = torch.rand(2)
    x = torch.rand(2, 2, 2, 2)
    check(Fn(lambda x: F.batch_norm(x, vec, vec, vec, vec)), [x], 32)          # 2 per element
    check(Fn(lambda x: F.batch_norm(x, vec, vec, None, None)), [x], 16)        # 1 per element
    check(Fn(lambda x: F.batch_norm(x, vec.clone(), vec.clone(), vec, vec, True)), [x], 80)


def test_group_norm_handle():
    vec = torch.rand(2)
    x = torch.rand(2, 2, 2, 2)
    check(Fn(lambda x: F.group_norm(x, 2, vec, vec)), [x], 80)                 # 5 per element
    check(Fn(lambda x: F.group_norm(x, 2, None, None)), [x], 64)               # 4 per element


def test_upsample_bilinear_handle():
    # 2x2x4x4 output elements, 4 flops each
    check(Fn(lambda x: F.interpolate(x, None, 2, "bilinear", False)), [torch.rand(2, 2, 2, 2)],
          2 ** 4 * 4 * 4)


def test_complicated_einsum_handle():
    # "nc,nchw->hw" n=3 c=4 h=2 w=3: one contraction, 3*4*2*3 = 72
    check(Fn(lambda a, b: torch.einsum("nc,nchw->hw", a, b)),
          [torch.rand(3, 4), torch.rand(3, 4, 2, 3)], 72)


@pytest.mark.parametrize("fn", [torch.mm, torch.matmul])
def test_torch_mm_handle(fn):
    check(Fn(fn), [torch.rand(3, 4), torch.rand(4, 5)], 60)


# ---- test_jit_model_analysis.py ---------------------------------------------- #
class NestedInner(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 2, kernel_size=1)
        self.fc = nn.Linear(10, 10)

    def forward(self, x):
        x = self.conv(x.reshape(-1, 2, 5))
        return 3 * self.fc(torch.flatten(x, 1)) + 1


class NestedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.submod = NestedInner()
        self.fc = nn.Linear(20, 10)
        self.conv = nn.Conv1d(4, 4, kernel_size=3, padding=1)

    def forward(self, x):
        x = self.fc(torch.flatten(self.conv(x), 1))
        return self.submod(x) ** 2


# hand counts (batch 1): conv 5 positions x 3 taps x 4 x 4, fc 20 x 10,
# inner conv 5 x 1 x 2 x 2, inner fc 10 x 10
NESTED = {"conv": 5 * 3 * 4 * 4, "fc": 20 * 10, "submod.conv": 5 * 1 * 2 * 2,
          "submod.fc": 10 * 10}
NESTED_BY_MODULE = {**NESTED, "submod": NESTED["submod.conv"] + NESTED["submod.fc"],
                    "": sum(NESTED.values())}


def test_nested_total_and_by_module():
    x = torch.randn(1, 4, 5)
    assert fvcore_by_module(NestedNet(), x) == NESTED_BY_MODULE
    for device in ("meta", "cpu"):
        assert ours(NestedNet(), x, device=device).module_totals() == NESTED_BY_MODULE


def test_nested_by_operator():
    r = ours(NestedNet(), torch.randn(1, 4, 5))
    per_op = r.layers.groupby("op")["flops"].sum()
    per_op = {k: int(v) for k, v in per_op.items() if v}
    assert per_op == {"convolution": NESTED["conv"] + NESTED["submod.conv"],
                      "linear": NESTED["fc"] + NESTED["submod.fc"]}


def test_unused_module():
    class UnusedNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.unused = nn.Linear(10, 10), nn.Linear(10, 1), nn.Linear(20, 20)
            self.act = nn.ReLU()

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    model, x = UnusedNet(), torch.randn(1, 10)
    r = ours(model, x)
    assert r.total_flops == fvcore_total(model, x) == 10 * 10 + 10 * 1
    assert r.module_totals().get("unused", 0) == 0
    assert r.total_params == sum(p.numel() for p in model.parameters())


def test_repeated_module():
    class RepeatedNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(10, 10), nn.Linear(10, 10)

        def forward(self, x):
            for _ in range(3):
                x = self.fc1(x)
            for _ in range(2):
                x = self.fc2(x)
            return x

    model, x = RepeatedNet(), torch.randn(1, 10)
    totals = ours(model, x).module_totals()
    assert (totals["fc1"], totals["fc2"], totals[""]) == (300, 200, 500)
    assert fvcore_by_module(model, x) == totals


def test_recursive_scope():
    class RecursiveScopeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 1)

        def forward(self, x, depth: int = 3):
            return self(x, depth - 1) if depth > 0 else self.fc(x)

    model, x = RecursiveScopeNet(), torch.randn(1, 10)
    totals = ours(model, x).module_totals()
    assert totals[""] == totals["fc"] == fvcore_total(model, x) == 10


def test_data_parallel_scopes():
    """fvcore names the wrapped modules ``module.*``; the count unwraps DataParallel
    and names them as the bare model does, with the same numbers."""
    model = nn.DataParallel(NestedNet()).cpu()
    x = torch.randn(1, 4, 5)
    theirs = fvcore_by_module(model, x)
    assert theirs == {**{("module." + k if k else "module"): v for k, v in NESTED_BY_MODULE.items()},
                      "": NESTED_BY_MODULE[""]}
    for device in ("meta", "cpu"):
        assert ours(model, x, device=device).module_totals() == NESTED_BY_MODULE


def test_data_parallel_root_scope():
    model = nn.DataParallel(nn.Linear(10, 10)).cpu()
    assert fvcore_total(model, torch.randn(10, 10)) == 1000
    for device in ("meta", "cpu"):
        assert ours(model, torch.randn(10, 10), device=device).total_flops == 1000


def test_non_forward_func_call():
    model, x = NonForwardNet(), torch.randn(1, 10)
    owner = ours(model, x).by_module().set_index("module")["flops"].to_dict()
    # owner view (fvcore's default): submod owns its fc
    assert owner["submod"] == owner["submod.fc"] == 10 and owner[""] == 110
    assert fvcore_by_module(model, x, mode="owner")["submod"] == 10
    # caller view: submod's forward never ran, so it is charged nothing
    caller = ours(model, x).by_module(mode="caller").set_index("module")["flops"].to_dict()
    assert caller.get("submod", 0) == fvcore_by_module(model, x, mode="caller").get("submod", 0) == 0
    assert caller["submod.fc"] == 10 and caller[""] == 110


def test_shared_module_caller_view():
    """fvcore's ancestor_mode("caller"): each caller is charged the shared module's
    work it called, the shared module listed under its first name."""
    model, x = SharedModuleNet(), torch.randn(1, 10)
    expected = {"": 2 * 100 + 2 * 10, "submod1": 100, "submod1.submod": 200, "submod2": 100,
                "multiname1": 20}
    assert fvcore_by_module(model, x, mode="caller") == expected
    caller = ours(model, x).by_module(mode="caller").set_index("module")["flops"].to_dict()
    assert {k: v for k, v in caller.items() if v} == expected
