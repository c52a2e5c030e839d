"""einsum, bilinear, vector products and attention: the cases issue 9 lists as wrong,
with the number written out by hand and, where it has a formula, FlopCounterMode."""
from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from inception_cost import count
from micro import Fn
from inception_cost.counting.formulas_attention import sdpa_flops
from inception_cost.counting.formulas_linalg import (einsum_cost, fvcore_einsum_macs,
                                                     torch_einsum_path)

# tiny CPU forwards: one torch thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def fcm_flops(model, xs) -> int:
    meta = copy.deepcopy(model).to("meta")
    with torch.no_grad(), FlopCounterMode(display=False) as mode:
        meta(*(x.to("meta") for x in xs))
    return mode.get_total_flops()


# ---- einsum ------------------------------------------------------------------ #
def test_einsum_ellipsis_broadcast():
    # broadcast batch 3 x 7, then (4x5)(5x6): 21 * 4*5*6 = 2,520 MACs
    model = Fn(lambda a, b: torch.einsum("...ij,...jk->...ik", a, b))
    xs = (torch.randn(3, 1, 4, 5), torch.randn(1, 7, 5, 6))
    assert count(model, inputs=xs).total_macs == 3 * 7 * 4 * 5 * 6 == 2520
    assert fcm_flops(model, xs) == 2 * 2520


def test_einsum_three_operands_pairwise_left_to_right():
    # (8x9)(9x10) = 720 MACs, then (8x10)(10x11) = 880 MACs
    model = Fn(lambda a, b, c: torch.einsum("ij,jk,kl->il", a, b, c))
    xs = (torch.randn(8, 9), torch.randn(9, 10), torch.randn(10, 11))
    assert count(model, inputs=xs).total_macs == 8 * 9 * 10 + 8 * 10 * 11 == 1600
    assert fcm_flops(model, xs) == 2 * 1600


def test_einsum_outer_product_and_in_operand_sum():
    # an outer product multiplies without accumulating: 0 MACs, 12 multiplies
    cost = einsum_cost("i,j->ij", [(3,), (4,)])
    assert (cost.macs, cost.flops) == (0, 3 * 4)
    # "ij,jk->i": k is summed inside the second operand first (3*5 reads), then 2x3 by 3
    cost = einsum_cost("ij,jk->i", [(2, 3), (3, 5)])
    assert (cost.macs, cost.reductions) == (2 * 3, 3 * 5)
    model = Fn(lambda a, b: torch.einsum("ij,jk->i", a, b))
    assert fcm_flops(model, (torch.randn(2, 3), torch.randn(3, 5))) == 2 * 2 * 3


@pytest.mark.parametrize("equation, shapes, path", [
    ("ij,jk,kl->il", [(8, 9), (9, 10), (10, 11)], [1, 2, 0, 1]),
    ("ab,bc,cd,de->ae", [(2, 3), (3, 4), (4, 5), (5, 6)], [2, 3, 0, 1, 0, 1]),
    ("...ij,jk,k->...i", [(2, 3, 4), (4, 5), (5,)], [0, 2, 0, 1]),
])
def test_einsum_along_a_given_path(equation, shapes, path):
    """With the opt_einsum backend PyTorch contracts along its path; the simulation of a
    path is checked against FlopCounterMode on ``torch._VF.einsum(..., path=...)``."""
    xs = [torch.randn(s) for s in shapes]
    with FlopCounterMode(display=False) as mode:
        torch._VF.einsum(equation, xs, path=path)
    assert 2 * einsum_cost(equation, shapes, path).macs == mode.get_total_flops()


def test_einsum_path_follows_the_backend():
    backend = torch.backends.opt_einsum
    if not (backend.is_available() and backend.enabled):
        assert torch_einsum_path("ij,jk,kl->il", [(8, 9), (9, 10), (10, 11)]) is None
    assert torch_einsum_path("ij,jk->ik", [(2, 3), (3, 4)]) is None      # two operands


def test_fvcore_einsum_convention():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fvcore.nn import FlopCountAnalysis

    model = Fn(lambda a, b, c: torch.einsum("ij,jk,kl->il", a, b, c))
    xs = (torch.randn(8, 9), torch.randn(9, 10), torch.randn(10, 11))
    fca = FlopCountAnalysis(model, xs)
    fca.unsupported_ops_warnings(False)
    assert fvcore_einsum_macs("ij,jk,kl->il", [x.shape for x in xs]) == fca.total()
    assert count(model, inputs=xs, convention="fvcore").total_flops == fca.total()


# ---- bilinear, vector products ---------------------------------------------- #
def test_bilinear():
    # one MAC per weight element per sample: 3 * 7 * 10 * 12 = 2,520; bias adds 3 * 7
    model = nn.Bilinear(10, 12, 7)
    xs = (torch.randn(3, 10), torch.randn(3, 12))
    for device in ("meta", "cpu"):
        r = count(model, inputs=xs, device=device)
        assert r.total_macs == 3 * 7 * 10 * 12 == 2520
        assert r.total_flops == 2 * 2520 + 3 * 7
        assert r.uncounted_ops == []


@pytest.mark.parametrize("fn, shapes, macs, flops", [
    (torch.mv, [(4, 5), (5,)], 4 * 5, 2 * 4 * 5),
    (torch.dot, [(5,), (5,)], 5, 10),
    (torch.vdot, [(5,), (5,)], 5, 10),
    (torch.outer, [(5,), (3,)], 0, 15),
])
def test_vector_products(fn, shapes, macs, flops):
    for device in ("meta", "cpu"):
        r = count(Fn(fn), inputs=tuple(torch.randn(s) for s in shapes), device=device)
        assert (r.total_macs, r.total_flops) == (macs, flops)
        assert r.uncounted_ops == []


# ---- attention --------------------------------------------------------------- #
def test_sdpa_flops_include_scale_and_softmax():
    b, h, l, s, e = 2, 3, 5, 7, 4
    model = Fn(lambda q, k, v: F.scaled_dot_product_attention(q, k, v))
    xs = (torch.randn(b, h, l, e), torch.randn(b, h, s, e), torch.randn(b, h, s, e))
    macs = b * h * l * s * (e + e)
    # 2 per MAC, q and k scaled, 3 per score for the softmax
    flops = 2 * macs + b * h * (l + s) * e + 3 * b * h * l * s
    assert sdpa_flops(xs[0].shape, xs[1].shape, xs[2].shape) == flops
    for device in ("meta", "cpu"):
        r = count(model, inputs=xs, device=device)
        assert (r.total_macs, r.total_flops) == (macs, flops)


def test_vit_tiny_counts_the_same_on_cpu_and_meta():
    timm = pytest.importorskip("timm")
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False).eval()
    x = torch.randn(1, 3, 224, 224)
    meta = count(model, inputs=(x,), device="meta")
    cpu = count(model, inputs=(x,), device="cpu")
    assert meta.total_macs == cpu.total_macs == fcm_flops(model, (x,)) // 2 == 1_253_683_200
    assert meta.total_flops == cpu.total_flops


def _mha_pair(need_weights: bool, masked: bool):
    torch.manual_seed(0)
    m = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    mask = torch.zeros(5, 5) if masked else None

    class Slow(nn.Module):                   # nn.MultiheadAttention's own path
        def __init__(self):
            super().__init__()
            self.m = m

        def forward(self, x):
            mk = None if mask is None else mask.to(x.device)
            return self.m(x, x, x, need_weights=need_weights, attn_mask=mk)[0]

    class Fast(nn.Module):                   # the fused op its fast path calls
        def __init__(self):
            super().__init__()
            self.m = m

        def forward(self, x):
            mk = None if mask is None else mask.to(x.device)
            return torch._native_multi_head_attention(
                x, x, x, 16, 4, m.in_proj_weight, m.in_proj_bias, m.out_proj.weight,
                m.out_proj.bias, mk, need_weights, True, 0 if masked else None)[0]
    return Slow(), Fast()


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_native_multi_head_attention(need_weights, masked):
    slow, fast = _mha_pair(need_weights, masked)
    x = torch.randn(2, 5, 16)
    meta = count(slow, inputs=(x,), device="meta")
    cpu = count(fast, inputs=(x,), device="cpu")
    assert "_native_multi_head_attention" in set(cpu.layers["op"])
    assert (cpu.total_macs, cpu.total_flops) == (meta.total_macs, meta.total_flops)
    # in-projection 3 * 2*5*16*16, attention 2*4*5*5*(4+4), out-projection 2*5*16*16
    assert cpu.total_macs == 3 * 2 * 5 * 16 * 16 + 2 * 4 * 5 * 5 * 8 + 2 * 5 * 16 * 16
    assert 2 * meta.total_macs == fcm_flops(slow, (x,))


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_layer_fast_path(norm_first):
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, batch_first=True,
                                       norm_first=norm_first).eval()
    sa = layer.self_attn

    def fast(x):
        return torch._transformer_encoder_layer_fwd(
            x, 16, 4, sa.in_proj_weight, sa.in_proj_bias, sa.out_proj.weight, sa.out_proj.bias,
            False, norm_first, 1e-5, layer.norm1.weight, layer.norm1.bias, layer.norm2.weight,
            layer.norm2.bias, layer.linear1.weight, layer.linear1.bias, layer.linear2.weight,
            layer.linear2.bias, None, None)

    model = Fn(fast)
    model.layer = layer
    x = torch.randn(2, 5, 16)
    meta = count(layer, inputs=(x,), device="meta")
    cpu = count(model, inputs=(x,), device="cpu")
    assert list(cpu.layers.query("op != 'params'")["op"]) == ["_transformer_encoder_layer_fwd"]
    assert (cpu.total_macs, cpu.total_flops) == (meta.total_macs, meta.total_flops)
    assert 2 * meta.total_macs == fcm_flops(layer, (x,))


def test_higher_order_op_without_formula_is_reported():
    class Branchy(nn.Module):
        def forward(self, x):
            return torch.cond(x.sum() > 0, lambda x: torch.mm(x, x), lambda x: x + 1, (x,))

    r = count(Branchy(), inputs=(torch.ones(4, 4),), device="cpu")
    assert r.uncounted_ops == ["cond"]
