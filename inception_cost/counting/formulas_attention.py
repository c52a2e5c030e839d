"""Formulas of the fused attention kernels PyTorch dispatches to on CPU and CUDA.

``F.scaled_dot_product_attention`` is counted as one row before it picks a kernel
(the engine treats it as a composite function).  Called directly, the fused kernels
it dispatches to get the same formula: on the meta device it runs its math path
(scale, two bmm, ``_safe_softmax``), on CPU and CUDA one fused kernel, and each
formula below equals the sum of that math path's rows, so a model counts the same
on meta, CPU and CUDA.  Units: ``macs`` multiply-accumulates, ``flops``
floating-point operations.  Shapes: B batch, Hq query heads, L query length,
S key length, E query/key head size, Ev value head size.

==============================  ==================================================
scaled dot-product attention    macs = B*Hq*L*S*(E + Ev) (scores q k^T, then scores v;
(every fused kernel, flex)      grouped-query k/v heads are broadcast to Hq, as
                                ``FlopCounterMode`` counts them);
                                flops = 2*macs + B*Hq*(L + S)*E (q and k scaled by
                                sqrt(scale)) + 3*B*Hq*L*S (softmax)
                                + B*Hq*L*S when a mask or ``is_causal`` is applied
                                + L*S when ``is_causal`` (building the -inf mask)
variable-length (nested) input  the sum over sequences; lengths are not known from
                                shapes, so each sequence is taken at its maximum
                                length (an upper bound, as ``FlopCounterMode`` on meta)
_safe_softmax                   3 flops / element, as softmax
_native_multi_head_attention    in-projection (q, k, v linears with bias) +
                                attention + out-projection (linear with bias):
                                macs = B*L*E^2 + 2*B*S*E^2 + B*Hq*L*S*2d + B*L*E^2
                                (d = E / heads); flops as nn.MultiheadAttention's
                                own (meta) path
_transformer_encoder_layer_fwd  one nn.TransformerEncoderLayer: self-attention as
                                above + two linears of the feed-forward block; flops
                                add its 2 layer norms (7/element), 2 residual adds
                                and the activation (1/element)
==============================  ==================================================

Dropout inside attention (``dropout_p > 0``, training only) is not counted.
"""
from __future__ import annotations

import math
import sys
from typing import Any

import torch

from .registry import Cost, OpCall, register

aten = torch.ops.aten


def _prod(xs) -> int:
    return int(math.prod(int(x) for x in xs))


def _shape(v: Any):
    """A tensor argument as an integer tuple (the engine hands formulas shapes;
    keyword tensors may still arrive as tensors)."""
    if isinstance(v, torch.Tensor):
        return tuple(int(s) for s in v.shape)
    if isinstance(v, (tuple, list)) and all(isinstance(s, int) for s in v):
        return tuple(v)
    return None


def _arg(call: OpCall, idx: int, name: str, default=None):
    if len(call.args) > idx:
        return call.args[idx]
    return call.kwargs.get(name, default)


# --------------------------------------------------------------------------- #
# pure shape formulas
# --------------------------------------------------------------------------- #
def sdpa_macs(q, k, v) -> int:
    """MACs of attention on (B, Hq, L, E) q, (B, Hkv, S, E) k, (B, Hkv, S, Ev) v."""
    b, hq, l, e = q
    s, ev = k[-2], v[-1]
    return b * hq * l * s * (e + ev)


def sdpa_flops(q, k, v, masked: bool = False, causal: bool = False) -> int:
    """FLOPs of attention as its math path runs it (see the module table)."""
    b, hq, l, e = q
    s = k[-2]
    scores = b * hq * l * s
    flops = 2 * sdpa_macs(q, k, v) + b * hq * (l + s) * e + 3 * scores
    if masked or causal:
        flops += scores
    if causal:
        flops += l * s
    return flops


def sdpa_cost(q, k, v, masked: bool = False, causal: bool = False) -> Cost:
    return Cost(sdpa_macs(q, k, v), sdpa_flops(q, k, v, masked, causal))


def _bhle(shape) -> tuple:
    """(B, L, H, E) -> (B, H, L, E)."""
    b, l, h, e = shape
    return (b, h, l, e)


def _varlen_cost(q, k, v, n_seq: int, max_q: int, max_k: int, causal: bool) -> Cost:
    """Packed (total, H, E) inputs with ``n_seq`` sequences, each at its max length."""
    q4 = (1, q[-2], int(max_q), q[-1])
    k4 = (1, k[-2], int(max_k), k[-1])
    v4 = (1, v[-2], int(max_k), v[-1])
    one = sdpa_cost(q4, k4, v4, causal=causal)
    return Cost(n_seq * one.macs, n_seq * one.flops)


# --------------------------------------------------------------------------- #
# scaled_dot_product_attention kernels, (B, H, L, E) layout
# --------------------------------------------------------------------------- #
def _sdpa_kernel(mask_idx: int | None, causal_idx: int):
    def formula(call: OpCall) -> Cost:
        q, k, v = (_shape(a) for a in call.args[:3])
        if mask_idx is None:
            mask = _shape(call.kwargs.get("attn_mask"))
        else:
            mask = _shape(_arg(call, mask_idx, "attn_bias"))
        causal = bool(_arg(call, causal_idx, "is_causal", False))
        return sdpa_cost(q, k, v, masked=mask is not None, causal=causal)
    return formula


@register(aten.scaled_dot_product_attention)
def _sdpa(call: OpCall) -> Cost:
    """``F.scaled_dot_product_attention``, counted as one call before it picks a kernel."""
    q, k, v = (_shape(a) for a in call.args[:3])
    mask = _shape(_arg(call, 3, "attn_mask"))
    causal = bool(_arg(call, 5, "is_causal", False))
    return sdpa_cost(q, k, v, masked=mask is not None, causal=causal)


register(aten._scaled_dot_product_flash_attention)(_sdpa_kernel(None, 4))
register(aten._scaled_dot_product_flash_attention_for_cpu)(_sdpa_kernel(None, 4))
register(aten._scaled_dot_product_efficient_attention)(_sdpa_kernel(3, 6))
register(aten._scaled_dot_product_cudnn_attention)(_sdpa_kernel(3, 6))
register(aten._scaled_dot_product_fused_attention_overrideable)(_sdpa_kernel(3, 5))


# --------------------------------------------------------------------------- #
# lower-level CUDA kernels, (B, L, H, E) layout or packed variable length
# --------------------------------------------------------------------------- #
@register(aten._flash_attention_forward)
def _flash_forward(call: OpCall) -> Cost:
    q, k, v = (_shape(a) for a in call.args[:3])
    cum_q = _shape(_arg(call, 3, "cum_seq_q"))
    causal = bool(_arg(call, 8, "is_causal", False))
    if cum_q is not None and len(q) == 3:
        return _varlen_cost(q, k, v, cum_q[0] - 1, _arg(call, 5, "max_q"), _arg(call, 6, "max_k"),
                            causal)
    return sdpa_cost(_bhle(q), _bhle(k), _bhle(v), causal=causal)


@register(aten._efficient_attention_forward)
def _efficient_forward(call: OpCall) -> Cost:
    q, k, v = (_shape(a) for a in call.args[:3])
    bias = _shape(_arg(call, 3, "bias"))
    cu_q = _shape(_arg(call, 4, "cu_seqlens_q"))
    causal = int(_arg(call, 9, "custom_mask_type", 0) or 0) != 0
    if cu_q is not None:
        q3, k3, v3 = q[1:], k[1:], v[1:]
        return _varlen_cost(q3, k3, v3, cu_q[0] - 1, _arg(call, 6, "max_seqlen_q"),
                            _arg(call, 7, "max_seqlen_k"), causal)
    return sdpa_cost(_bhle(q), _bhle(k), _bhle(v), masked=bias is not None, causal=causal)


def _varlen_attn(call: OpCall) -> Cost:
    """``torch.ops.torch_attn._varlen_attn``: packed (total, H, E) q/k/v."""
    q, k, v = (_shape(a) for a in call.args[:3])
    cu_q = _shape(call.args[3])
    causal = bool(_arg(call, 7, "is_causal", False))
    return _varlen_cost(q, k, v, cu_q[0] - 1, _arg(call, 5, "max_q"), _arg(call, 6, "max_k"),
                        causal)


_VARLEN_MODULE = "torch.nn.attention.varlen"
_varlen_registered = False


def register_varlen_if_loaded() -> None:
    """Register ``_varlen_attn``'s formula once its op exists.  The op is defined in Python
    by ``torch.nn.attention.varlen``, whose import loads torch._dynamo (about 1.3 s of CPU);
    a model can only call the op after importing that module, so the formula is registered
    when a capture starts and finds the module loaded, not at import."""
    global _varlen_registered
    if _varlen_registered or _VARLEN_MODULE not in sys.modules:
        return
    _varlen_registered = True
    try:
        op = torch.ops.torch_attn._varlen_attn
    except (AttributeError, RuntimeError):   # pragma: no cover - older torch
        return
    register(op)(_varlen_attn)


register_varlen_if_loaded()


@register(aten._safe_softmax)
def _safe_softmax(call: OpCall) -> Cost:
    return Cost(0, 3 * _prod(call.in_shapes[0]))


# --------------------------------------------------------------------------- #
# nn.MultiheadAttention / nn.TransformerEncoderLayer fast paths
# --------------------------------------------------------------------------- #
def mha_cost(q, k, v, embed_dim: int, heads: int, need_weights: bool = False,
             masked: bool = False) -> Cost:
    """One ``nn.MultiheadAttention`` call on batch-first (B, L, E) q and (B, S, E) k, v:
    three in-projections, attention, the out-projection (all with bias)."""
    b, l, e = q
    s = k[1]
    d = embed_dim // heads
    proj = b * l * e * embed_dim + b * s * e * embed_dim + b * s * v[2] * embed_dim
    proj_bias = b * l * embed_dim + 2 * b * s * embed_dim
    out_proj = b * l * embed_dim * embed_dim
    qh, kh, vh = (b, heads, l, d), (b, heads, s, d), (b, heads, s, d)
    att_macs = sdpa_macs(qh, kh, vh)
    scores = b * heads * l * s
    if need_weights:
        # q scaled once, scores (+ mask), softmax, weights averaged over heads
        att_flops = 2 * att_macs + b * heads * l * d + 3 * scores + scores
        att_flops += scores if masked else 0
    else:
        att_flops = sdpa_flops(qh, kh, vh, masked=masked)
    macs = proj + att_macs + out_proj
    flops = 2 * proj + proj_bias + att_flops + 2 * out_proj + b * l * embed_dim
    return Cost(macs, flops)


@register(aten._native_multi_head_attention)
def _native_mha(call: OpCall) -> Cost:
    q, k, v = (_shape(a) for a in call.args[:3])
    embed_dim, heads = int(call.args[3]), int(call.args[4])
    mask = _shape(_arg(call, 9, "mask"))
    need_weights = bool(_arg(call, 10, "need_weights", True))
    return mha_cost(q, k, v, embed_dim, heads, need_weights, masked=mask is not None)


@register(aten._transformer_encoder_layer_fwd)
def _encoder_layer(call: OpCall) -> Cost:
    src = _shape(call.args[0])
    embed_dim, heads = int(call.args[1]), int(call.args[2])
    ffn = _shape(call.args[14])                       # (dim_feedforward, E)
    mask = _shape(_arg(call, 18, "mask"))
    b, l, e = src
    att = mha_cost(src, src, src, embed_dim, heads, need_weights=False, masked=mask is not None)
    tokens = b * l
    ffn_macs = 2 * tokens * e * ffn[0]
    flops = (att.flops + 2 * ffn_macs + tokens * (ffn[0] + e)      # linears + biases
             + 2 * 7 * tokens * e                                 # two layer norms
             + 2 * tokens * e                                     # two residual adds
             + tokens * ffn[0])                                   # activation
    return Cost(att.macs + ffn_macs, flops)


# --------------------------------------------------------------------------- #
# flex_attention (a higher-order op)
# --------------------------------------------------------------------------- #
def _register_flex() -> None:
    try:
        from torch._higher_order_ops.flex_attention import flex_attention
    except ImportError:                                   # pragma: no cover - older torch
        return

    @register(flex_attention)
    def _flex(call: OpCall) -> Cost:
        """As unmasked attention; work inside score_mod / mask_mod is not counted."""
        q, k, v = (_shape(a) for a in call.args[:3])
        return sdpa_cost(q, k, v)


_register_flex()
