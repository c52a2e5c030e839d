"""PyTorch's own FLOP-counter tests (``test/test_flop_counter.py``), forward cases.

Each case runs the same forward under ``torch.utils.flop_counter.FlopCounterMode``
and under ``count``, on the meta device and on CPU, and asserts
FlopCounterMode's total == 2 x our MACs together with the value PyTorch's test
prints (its ``assertExpectedInline`` numbers are FLOPs = 2 x MACs).  Kernels that
only run on CUDA are run on meta, where PyTorch ships their shape functions.
"""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from inception_cost import count
from micro import Fn
from inception_cost.counting.registry import CONVENTIONS, Cost, OpCall

# tiny CPU forwards: one torch thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")

aten = torch.ops.aten
DEVICES = ["meta", "cpu"]


def _on(device, model, xs):
    gen = torch.Generator().manual_seed(0)
    xs = tuple(torch.randn(s, generator=gen) if isinstance(s, tuple) else s for s in xs)
    if device == "meta":
        return copy.deepcopy(model).to("meta"), tuple(x.to("meta") for x in xs)
    return model, xs


def fcm_total(model, xs, device) -> int:
    """FlopCounterMode's forward total (FLOPs) on ``device``."""
    m, ts = _on(device, model, xs)
    with torch.no_grad(), FlopCounterMode(display=False) as mode:
        m(*ts)
    return mode.get_total_flops()


def our_macs(model, xs, device) -> int:
    m, ts = _on(device, model, xs)
    return count(model, inputs=ts, device=device).total_macs


def check(model, xs, printed_flops: int):
    """Ours == FlopCounterMode / 2 == PyTorch's printed value / 2, on meta and CPU."""
    for device in DEVICES:
        assert fcm_total(model, xs, device) == printed_flops, device
        assert 2 * our_macs(model, xs, device) == printed_flops, device


# ---- test_flop_counter_variety / test_op ----------------------------------- #
class _Variety(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(9, 10)

    def forward(self, a, b, c, d, e, g, h, i, j, k):
        torch.mm(a, b)
        torch.addmm(c, d, e, beta=0.5, alpha=0.5)
        torch.matmul(g, h)
        torch.einsum("ab,bc->ac", i, j)
        return self.lin(k)


def test_variety():
    model = _Variety()
    xs = [(4, 5), (5, 6), (4, 6), (4, 5), (5, 6), (5, 6), (6, 7), (6, 7), (7, 8), (8, 9)]
    # MACs: 4*5*6 + 4*5*6 + 5*6*7 + 6*7*8 + 8*9*10 = 1506 -> printed 3012
    assert 4 * 5 * 6 * 2 + 5 * 6 * 7 + 6 * 7 * 8 + 8 * 9 * 10 == 1506
    check(model, xs, 3012)


@pytest.mark.parametrize("fn, shapes, printed", [
    (torch.mm, [(4, 5), (5, 6)], 240),                                  # 4*6*2*5
    (torch.bmm, [(3, 4, 5), (3, 5, 6)], 720),                           # 3*4*6*2*5
    (lambda a, b, c, d, e, g, h, i, j: (torch.addmm(a, b, c), torch.addmm(d, e, g),
                                        torch.addmm(h, i, j)),
     [(4, 6), (4, 5), (5, 6), (4, 1), (4, 5), (5, 6), (6,), (4, 5), (5, 6)], 720),
    (torch.baddbmm, [(3, 4, 6), (3, 4, 5), (3, 5, 6)], 720),
    (lambda x, w: torch.conv2d(x, w, padding=1), [(2, 3, 6, 6), (6, 3, 4, 4)], 28800),
    (lambda x, w: torch.conv1d(x, w, padding=1), [(2, 3, 6), (6, 3, 4)], 1440),
])
def test_op(fn, shapes, printed):
    check(Fn(fn), shapes, printed)


def test_conv2d_output_arithmetic():
    # conv2d 2x3x6x6 * 6x3x4x4, padding 1 -> 2x6x5x5 output; MACs = 2*5*5 * 4*4 * 6 * 3
    conv2d = Fn(lambda x, w: torch.conv2d(x, w, padding=1))
    assert our_macs(conv2d, [(2, 3, 6, 6), (6, 3, 4, 4)], "meta") == 2 * 5 * 5 * 4 * 4 * 6 * 3
    # conv1d 2x3x6 * 6x3x4, padding 1 -> 2x6x5 output; MACs = 2*5 * 4 * 6 * 3
    conv1d = Fn(lambda x, w: torch.conv1d(x, w, padding=1))
    assert our_macs(conv1d, [(2, 3, 6), (6, 3, 4)], "meta") == 2 * 5 * 4 * 6 * 3


# ---- test_convs (forward part) --------------------------------------------- #
def test_convs_expected_forward():
    # conv_transpose2d of a 1x1x2x2 input by a 1x1x2x2 kernel: 4 inputs x 4 taps = 16 MACs
    check(Fn(lambda x, w: F.conv_transpose2d(x, w)), [(1, 1, 2, 2), (1, 1, 2, 2)], 32)
    # 1x1 conv on 1x1x2x2: 4 MACs
    check(Fn(lambda x, w: F.conv2d(x, w)), [(1, 1, 2, 2), (1, 1, 1, 1)], 8)


@pytest.mark.parametrize("cin, cout", [(1, 1), (1, 3), (3, 1), (3, 7), (2, 4), (4, 2)])
def test_convs_channels(cin, cout):
    x = (1, cin, 4, 4)
    # 3x3 output positions x 2x2 taps x cin x cout; transposed: 4x4 inputs x taps x cin x cout
    check(Fn(lambda x, w: F.conv2d(x, w)), [x, (cout, cin, 2, 2)], 2 * 9 * 4 * cin * cout)
    check(Fn(lambda x, w: F.conv_transpose2d(x, w)), [x, (cin, cout, 2, 2)],
          2 * 16 * 4 * cin * cout)


def test_conv_transpose_loop_forward():
    # PyTorch prints 1,536,000 for 50 x (forward + weight-gradient backward), the
    # backward costing as much as the forward: one forward is 1536000 / 100 FLOPs.
    model = nn.ConvTranspose2d(4, 8, (2, 2), stride=2)
    assert 1 * 4 * 30 * 2 * 8 * 2 * 2 == 1536000 // 100 // 2
    check(model, [(1, 4, 30, 2)], 1536000 // 100)


def test_addmm_out():
    model = Fn(lambda x: torch.mm(x, x, out=torch.zeros(10, 10, device=x.device)))
    check(model, [(10, 10)], 2000)                                      # 10*10*10*2


# ---- test_module: resnet18 layer1 convolutions ----------------------------- #
def test_module_resnet18_layer1():
    model = torchvision.models.resnet18(weights=None).eval()
    # PyTorch prints 924,844,032 forward convolution FLOPs in ResNet.layer1
    for device in DEVICES:
        m, (x,) = _on(device, model, [(1, 3, 224, 224)])
        with torch.no_grad(), FlopCounterMode(display=False) as mode:
            m(x)
        assert mode.get_flop_counts()["ResNet.layer1"][aten.convolution] == 924844032
        r = count(model, inputs=(x,), device=device)
        layer1 = r.layers[r.layers["module"].str.startswith("layer1")]
        assert 2 * int(layer1["macs"].sum()) == 924844032
        # 4 convs of 3x3x64x64 on 56x56: 4 * 56*56 * 9 * 64 * 64
        assert int(layer1["macs"].sum()) == 4 * 56 * 56 * 9 * 64 * 64
        assert 2 * r.total_macs == mode.get_total_flops()


def test_inference_mode_counts_like_no_grad():
    """Under torch.inference_mode convolutions arrive as aten.conv2d."""
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        r = count(model, inputs=(x,), device="cpu")
        with FlopCounterMode(display=False) as mode:
            model(x)
    assert 2 * r.total_macs == mode.get_total_flops() == 2 * 1_814_073_344


# ---- test_pytrees ---------------------------------------------------------- #
class _Foo(nn.Module):
    def forward(self, x):
        x = x["a"].relu_()
        return {"a": torch.mm(x, x)}


class _Mod(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = _Foo()
        self.b = _Foo()

    def forward(self, x):
        return self.b(self.a(x))


def test_pytrees():
    # PyTorch prints 12,000 for forward + backward (3 x forward): forward is two
    # 10x10x10 mm = 2 x 2000 FLOPs.
    for device in DEVICES:
        x = torch.randn(10, 10, device=device)
        model = _Mod()
        with torch.no_grad(), FlopCounterMode(display=False) as mode:
            model({"a": x.clone()})
        assert mode.get_flop_counts()["_Mod"][aten.mm] == 12000 // 3
        r = count(model, inputs=({"a": x.clone()},), device=device)
        assert 2 * r.total_macs == 12000 // 3
        assert r.layers.groupby("module")["macs"].sum().to_dict() == {"a": 1000, "b": 1000}


def test_pytrees_tuple_output():
    check(Fn(lambda x: (torch.mm(x, x),)), [(10, 10)], 6000 // 3)


# ---- test_custom: a per-call formula replaces the built-in one -------------- #
def test_custom_formula_for_add():
    model = Fn(lambda a: a + a)
    with FlopCounterMode(display=False, custom_mapping={aten.add: lambda *a, out_shape: 5}) as mode:
        model(torch.randn(4, 5))
    assert mode.get_total_flops() == 5
    r = count(model, inputs=(torch.randn(4, 5),), formulas={aten.add: lambda call: Cost(0, 5)})
    assert r.total_flops == 5
    assert count(model, inputs=(torch.randn(4, 5),)).total_flops == 20     # 1 per element


# ---- test_sdpa: values PyTorch prints for causal attention ------------------ #
@pytest.mark.parametrize("s_k, printed", [(128, 134217728), (256, 268435456)])
@pytest.mark.parametrize("device", DEVICES)
def test_sdpa(device, s_k, printed):
    b, h, s_q, d = 4, 8, 128, 64
    assert 2 * b * h * s_q * s_k * d * 2 == printed           # q k^T and scores v
    q = torch.randn(b, h, s_q, d, device=device)
    k = torch.randn(b, h, s_k, d, device=device)
    v = torch.randn(b, h, s_k, d, device=device)
    model = Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    r = count(model, inputs=(q, k, v), device=device)
    assert 2 * r.total_macs == printed
    assert list(r.layers["op"]) == ["scaled_dot_product_attention"]      # one row
    if device == "meta":  # FlopCounterMode has no formula for the CPU fused kernel
        with FlopCounterMode(display=False) as mode:
            model(q, k, v)
        assert mode.get_total_flops() == printed


def test_sdpa_flops_equal_on_meta_and_cpu():
    b, h, l, s, e = 2, 4, 8, 6, 16
    q, k, v = torch.randn(b, h, l, e), torch.randn(b, h, s, e), torch.randn(b, h, s, e)
    mask = torch.randn(l, s)
    for kw in ({}, {"is_causal": True}, {"attn_mask": mask}, {"attn_mask": mask > 0}):
        model = Fn(lambda q, k, v, kw=kw: F.scaled_dot_product_attention(
            q, k, v, **{n: (t.to(q.device) if isinstance(t, torch.Tensor) else t)
                        for n, t in kw.items()}))
        meta = count(model, inputs=(q, k, v), device="meta")
        cpu = count(model, inputs=(q, k, v), device="cpu")
        assert (meta.total_macs, meta.total_flops) == (cpu.total_macs, cpu.total_flops), kw
        assert not meta.uncounted_ops and not cpu.uncounted_ops


def test_cpu_fused_kernel_called_directly():
    """``_scaled_dot_product_flash_attention_for_cpu`` on CPU counts what
    ``F.scaled_dot_product_attention``'s math path counts on meta, MACs and FLOPs."""
    b, h, l, s, e = 2, 4, 8, 6, 16
    xs = (torch.randn(b, h, l, e), torch.randn(b, h, s, e), torch.randn(b, h, s, e))
    mask = torch.randn(l, s)
    for causal, attn_mask in ((False, None), (True, None), (False, mask)):
        kernel = Fn(lambda q, k, v: aten._scaled_dot_product_flash_attention_for_cpu(
            q, k, v, 0.0, causal, attn_mask=attn_mask)[0])
        cpu = count(kernel, inputs=xs, device="cpu")
        assert list(cpu.layers["op"]) == ["_scaled_dot_product_flash_attention_for_cpu"]
        math = Fn(lambda q, k, v: torch.ops.aten._scaled_dot_product_attention_math(
            q, k, v, None if attn_mask is None else attn_mask.to(q.device), 0.0, causal)[0])
        meta = count(math, inputs=xs, device="meta")
        assert "bmm" in set(meta.layers["op"])
        assert (cpu.total_macs, cpu.total_flops) == (meta.total_macs, meta.total_flops)
        assert cpu.total_macs == b * h * l * s * 2 * e


# ---- CUDA kernels, run on meta; formulas compared with FlopCounterMode's ----- #
def _m(*shape, dtype=torch.float16):
    return torch.empty(*shape, device="meta", dtype=dtype)


B, H, L, S, E = 2, 4, 16, 32, 8
# hand arithmetic: scores q k^T and scores v, B*H*L*S*(E + E) MACs
SDPA_MACS = B * H * L * S * (E + E)
CUDA_KERNELS = {
    "flash": lambda: aten._scaled_dot_product_flash_attention(
        _m(B, H, L, E), _m(B, H, S, E), _m(B, H, S, E), 0.0, True),
    "efficient": lambda: aten._scaled_dot_product_efficient_attention(
        _m(B, H, L, E), _m(B, H, S, E), _m(B, H, S, E), None, False, 0.0, True),
    "cudnn": lambda: aten._scaled_dot_product_cudnn_attention(
        _m(B, H, L, E), _m(B, H, S, E), _m(B, H, S, E), None, False, 0.0, True),
    "flash_forward": lambda: aten._flash_attention_forward(
        _m(B, L, H, E), _m(B, S, H, E), _m(B, S, H, E), None, None, L, S, 0.0, False, False),
}


@pytest.mark.parametrize("kernel", sorted(CUDA_KERNELS))
def test_cuda_attention_kernels_on_meta(kernel):
    fn = CUDA_KERNELS[kernel]
    with FlopCounterMode(display=False) as mode:
        fn()
    assert mode.get_total_flops() == 2 * SDPA_MACS
    r = count(Fn(lambda: fn()[0]), inputs=(), device="meta")
    assert r.total_macs == SDPA_MACS
    assert r.layers["counted"].all()


def test_efficient_attention_forward_layout():
    """``_efficient_attention_forward`` takes (B, L, H, E) like flash; FlopCounterMode's
    formula reads a dense input as (B, H, L, E), so the hand count is the reference."""
    fn = lambda: aten._efficient_attention_forward(  # noqa: E731
        _m(B, L, H, E), _m(B, S, H, E), _m(B, S, H, E), None, None, None, L, S, 0.0, 0)
    out = fn()
    assert tuple(out[0].shape) == (B, L, H, E)        # the layout, read off the kernel
    assert count(Fn(lambda: fn()[0]), inputs=(), device="meta").total_macs == SDPA_MACS


def test_varlen_attention_on_meta():
    """Packed variable-length attention: sequences taken at their maximum length on
    meta (their lengths are data), as FlopCounterMode does."""
    import torch.nn.attention.varlen  # noqa: F401

    cu = torch.tensor([0, 10, 40], device="meta", dtype=torch.int32)
    kernels = {
        "_varlen_attn": lambda: torch.ops.torch_attn._varlen_attn(
            _m(40, H, E), _m(40, H, E), _m(40, H, E), cu, cu, 30, 30)[0],
        "_flash_attention_forward": lambda: aten._flash_attention_forward(
            _m(40, H, E), _m(40, H, E), _m(40, H, E), cu, cu, 30, 30, 0.0, False, False)[0],
        "_efficient_attention_forward": lambda: aten._efficient_attention_forward(
            _m(1, 40, H, E), _m(1, 40, H, E), _m(1, 40, H, E), None, cu, cu, 30, 30, 0.0, 0)[0],
    }
    hand = 2 * H * 30 * 30 * (E + E)                  # 2 sequences at max length 30
    for name, fn in kernels.items():
        with FlopCounterMode(display=False) as mode:
            fn()
        assert mode.get_total_flops() == 2 * hand, name
        r = count(Fn(fn), inputs=(), device="meta")
        assert r.total_macs == hand, name
        assert name in set(r.layers["op"])


def test_scaled_mm_on_meta():
    a = _m(16, 32, dtype=torch.float8_e4m3fn)
    b = _m(16, 32, dtype=torch.float8_e4m3fn).t()
    one = _m((), dtype=torch.float32)
    fn = lambda: aten._scaled_mm(a, b, one, one, out_dtype=torch.bfloat16)  # noqa: E731
    with FlopCounterMode(display=False) as mode:
        fn()
    assert mode.get_total_flops() == 2 * 16 * 32 * 16
    assert count(Fn(fn), inputs=(), device="meta").total_macs == 16 * 32 * 16


def test_flex_attention_on_cpu():
    """flex_attention is a higher-order op; FlopCounterMode registers its formula
    (it cannot run it eagerly), so the formula is called on the same tensors."""
    from torch._higher_order_ops.flex_attention import flex_attention as flex_hop
    from torch.nn.attention.flex_attention import flex_attention

    q, k, v = torch.randn(1, 2, 16, 8), torch.randn(1, 2, 24, 8), torch.randn(1, 2, 24, 4)
    reference = flop_registry[flex_hop](q, k, v)
    assert reference == 2 * 1 * 2 * 16 * 24 * (8 + 4)
    r = count(Fn(lambda q, k, v: flex_attention(q, k, v)), inputs=(q, k, v), device="cpu")
    assert 2 * r.total_macs == reference
    assert "flex_attention" in set(r.layers["op"])


def test_registered_formulas_match_flop_counter_registry():
    """Every op both registries know gets the same MACs (FLOPs / 2) from shapes."""
    shapes = {
        aten._scaled_dot_product_flash_attention: [(B, H, L, E), (B, H, S, E), (B, H, S, E)],
        aten._scaled_dot_product_efficient_attention: [(B, H, L, E), (B, H, S, E),
                                                       (B, H, S, E), None, False],
        aten._scaled_dot_product_cudnn_attention: [(B, H, L, E), (B, H, S, E), (B, H, S, E),
                                                   None, False],
        aten._scaled_mm: [(16, 32), (32, 8), (), ()],
        aten.mm: [(4, 5), (5, 6)],
        aten.bmm: [(3, 4, 5), (3, 5, 6)],
    }
    for op, args in shapes.items():
        ref = flop_registry[op](*[torch.Size(a) if isinstance(a, tuple) else a for a in args],
                                out_val=None)
        in_shapes = [a if isinstance(a, tuple) else None for a in args]
        ours = CONVENTIONS["native"][op](OpCall(op.__name__, in_shapes, [], tuple(args), {}, op))
        assert 2 * ours.macs == ref, op
