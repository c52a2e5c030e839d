"""Differential testing against PyTorch: random micro-models, our MACs == FlopCounterMode / 2.

hypothesis draws convolutions (1-3d, transposed, any kernel/stride/padding/dilation/
groups/output_padding), linears on N-d inputs, broadcasting matmuls, einsum
equations with 2-4 operands and ``...``, and scaled-dot-product attention with
masks, causal flags and grouped heads.  Each runs on the meta device under
``torch.utils.flop_counter.FlopCounterMode`` and under ``count``; params must equal
the model's unique parameter elements.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from inception_cost import count
from micro import Fn

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def fcm_flops(model: nn.Module, inputs: tuple) -> int:
    meta = copy.deepcopy(model).to("meta")
    with torch.no_grad(), FlopCounterMode(display=False) as mode:
        meta(*(t.to("meta") for t in inputs))
    return mode.get_total_flops()


def unique_params(model: nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def check(model: nn.Module, inputs: tuple):
    inputs = tuple(torch.empty(s, device="meta") if isinstance(s, tuple) else s for s in inputs)
    r = count(model, inputs=inputs, device="meta")
    assert 2 * r.total_macs == fcm_flops(model, inputs)
    assert r.total_params == unique_params(model)
    return r


# ---- convolutions ------------------------------------------------------------ #
@st.composite
def conv_case(draw):
    nd = draw(st.integers(1, 3))
    transposed = draw(st.booleans())
    groups = draw(st.integers(1, 3))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    out_pad = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    # large enough that every output size is positive
    size = tuple(draw(st.integers(d * (kk - 1) + 1, d * (kk - 1) + 6))
                 for kk, d in zip(k, dilation))
    batch = draw(st.integers(1, 3))
    bias = draw(st.booleans())
    return nd, transposed, groups, cin, cout, k, stride, dilation, padding, out_pad, size, batch, bias


@SETTINGS
@given(conv_case())
def test_conv_random(case):
    nd, transposed, groups, cin, cout, k, stride, dilation, padding, out_pad, size, batch, bias = case
    if transposed:
        assume(all((n - 1) * s - 2 * p + d * (kk - 1) + op >= 0
                   for n, s, p, d, kk, op in zip(size, stride, padding, dilation, k, out_pad)))
        cls = [nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d][nd - 1]
        layer = cls(cin, cout, k, stride, padding, out_pad, groups, bias, dilation)
    else:
        cls = [nn.Conv1d, nn.Conv2d, nn.Conv3d][nd - 1]
        layer = cls(cin, cout, k, stride, padding, dilation, groups, bias)
    check(layer, ((batch, cin, *size),))


@SETTINGS
@given(nd=st.integers(1, 3), cin=st.integers(1, 4), cout=st.integers(1, 4),
       k=st.integers(1, 4), dilation=st.integers(1, 2), size=st.integers(8, 12))
def test_conv_padding_same(nd, cin, cout, k, dilation, size):
    cls = [nn.Conv1d, nn.Conv2d, nn.Conv3d][nd - 1]
    check(cls(cin, cout, k, padding="same", dilation=dilation), ((1, cin, *[size] * nd),))


# ---- linear, matmul ---------------------------------------------------------- #
@SETTINGS
@given(lead=st.lists(st.integers(1, 4), min_size=0, max_size=3), fin=st.integers(1, 8),
       fout=st.integers(1, 8), bias=st.booleans(), shared=st.booleans())
def test_linear_nd(lead, fin, fout, bias, shared):
    if shared:   # one Linear registered under two names and applied twice
        lin = nn.Linear(fin, fin, bias=bias)
        model = nn.Sequential(lin, nn.ReLU(), lin)
        r = check(model, ((*lead, fin),))
        assert r.total_params == fin * fin + (fin if bias else 0)
    else:
        check(nn.Linear(fin, fout, bias=bias), ((*lead, fin),))


@st.composite
def matmul_shapes(draw):
    n, k, m = (draw(st.integers(1, 5)) for _ in range(3))
    batch = draw(st.lists(st.integers(1, 4), min_size=0, max_size=3))
    a_batch = [b if draw(st.booleans()) else 1 for b in batch][draw(st.integers(0, len(batch))):]
    b_batch = [b if draw(st.booleans()) else 1 for b in batch][draw(st.integers(0, len(batch))):]
    return (*a_batch, n, k), (*b_batch, k, m)


@SETTINGS
@given(matmul_shapes())
def test_matmul_broadcast(shapes):
    check(Fn(torch.matmul), shapes)


def test_matmul_vectors_by_hand():
    """1-d operands run as dot / mv, which FlopCounterMode has no formula for: by hand."""
    assert count(Fn(torch.matmul), inputs=(torch.randn(5), torch.randn(5))).total_macs == 5
    assert count(Fn(torch.matmul), inputs=(torch.randn(4, 5), torch.randn(5))).total_macs == 20
    assert count(Fn(torch.matmul), inputs=(torch.randn(5), torch.randn(5, 3))).total_macs == 15


# ---- einsum ------------------------------------------------------------------ #
@st.composite
def einsum_case(draw):
    letters = "abcdef"[: draw(st.integers(2, 6))]
    sizes = {c: draw(st.integers(1, 4)) for c in letters}
    ell = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2)))]
    terms, shapes = [], []
    for _ in range(draw(st.integers(2, 4))):
        labs = draw(st.lists(st.sampled_from(letters), min_size=0, max_size=3, unique=True))
        shape = [1 if draw(st.integers(0, 6)) == 0 else sizes[c] for c in labs]
        if ell and draw(st.booleans()):
            m = draw(st.integers(0, len(ell)))
            e = [1 if draw(st.integers(0, 3)) == 0 else s for s in ell[len(ell) - m:]]
            pos = draw(st.integers(0, len(labs)))
            terms.append("".join(labs[:pos]) + "..." + "".join(labs[pos:]))
            shape = shape[:pos] + e + shape[pos:]
        else:
            terms.append("".join(labs))
        shapes.append(tuple(shape))
    used = sorted({c for t in terms for c in t if c.isalpha()})
    if draw(st.booleans()):
        equation = ",".join(terms)                          # implicit output
    else:
        out = draw(st.lists(st.sampled_from(used), unique=True)) if used else []
        dots = "..." if any("..." in t for t in terms) and draw(st.booleans()) else ""
        equation = ",".join(terms) + "->" + dots + "".join(out)
    return equation, shapes


@SETTINGS
@given(einsum_case())
def test_einsum_random(case):
    equation, shapes = case
    model = Fn(lambda *xs: torch.einsum(equation, *xs))
    check(model, tuple(shapes))


# ---- attention --------------------------------------------------------------- #
@st.composite
def sdpa_case(draw):
    b, hkv = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    hq = hkv * draw(st.integers(1, 2))
    l, s = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    e, ev = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    mask = draw(st.sampled_from(["none", "causal", "bool", "float", "float_full"]))
    return b, hq, hkv, l, s, e, ev, mask


def _sdpa_model(mask: str, gqa: bool, l: int, s: int, b: int, hq: int) -> nn.Module:
    def fn(q, k, v):
        kw = {"enable_gqa": gqa}
        if mask == "causal":
            kw["is_causal"] = True
        elif mask == "bool":
            kw["attn_mask"] = torch.ones(l, s, dtype=torch.bool, device=q.device).tril()
        elif mask == "float":
            kw["attn_mask"] = torch.zeros(l, s, device=q.device)
        elif mask == "float_full":
            kw["attn_mask"] = torch.zeros(b, hq, l, s, device=q.device)
        return F.scaled_dot_product_attention(q, k, v, **kw)
    return Fn(fn)


@SETTINGS
@given(sdpa_case())
def test_sdpa_random(case):
    b, hq, hkv, l, s, e, ev, mask = case
    model = _sdpa_model(mask, hq != hkv, l, s, b, hq)
    shapes = ((b, hq, l, e), (b, hkv, s, e), (b, hkv, s, ev))
    r = check(model, shapes)
    assert r.total_macs == b * hq * l * s * (e + ev)          # by hand


@settings(max_examples=15, deadline=None, derandomize=True)
@given(sdpa_case())
def test_sdpa_meta_equals_cpu(case):
    """The CPU fused kernel's formula equals the meta math path, MACs and FLOPs."""
    b, hq, hkv, l, s, e, ev, mask = case
    model = _sdpa_model(mask, hq != hkv, l, s, b, hq)
    xs = (torch.randn(b, hq, l, e), torch.randn(b, hkv, s, e), torch.randn(b, hkv, s, ev))
    meta = count(model, inputs=xs, device="meta")
    cpu = count(model, inputs=xs, device="cpu")
    assert (meta.total_macs, meta.total_flops) == (cpu.total_macs, cpu.total_flops)
