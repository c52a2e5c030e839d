"""Unfold/fold (``im2col``/``col2im``) and reflection/replication padding.

Units: ``flops`` floating-point operations; none of these ops has MACs.

==========================  ====================================================
im2col (F.unfold)           0 (data movement: copies each patch, zeros outside)
reflection_pad{1,2,3}d,     0 (data movement: copies, mirrored or repeated edges)
replication_pad{1,2,3}d
col2im (F.fold)             one add per column value that lands on an output
                            position already written: N x C x (values inside the
                            image - positions they cover); 0 when blocks do not
                            overlap (then it is a permutation)
reflection/replication      (grad_output elements - input elements) adds: every
  pad backward              input position gets its own gradient value plus one
                            add per extra (mirrored/repeated) copy of it
==========================  ====================================================

The col2im count per spatial dimension (size S, kernel k, dilation d, padding p,
stride s, L = (S + 2p - d(k - 1) - 1) // s + 1 blocks): ``inside`` = number of
(kernel offset i, block l) with 0 <= l*s - p + i*d < S, ``covered`` = number of
distinct such positions; dimensions are independent, so the 2-D count is
N x C x (inside_h x inside_w - covered_h x covered_w).
"""
from __future__ import annotations

import math

import torch

from .registry import Cost, OpCall, register

aten = torch.ops.aten


def _packets(*names: str) -> list:
    return [getattr(aten, n) for n in names if hasattr(aten, n)]


def _pair(v) -> tuple[int, int]:
    if isinstance(v, (list, tuple)):
        return (int(v[0]), int(v[-1])) if len(v) else (1, 1)
    return int(v), int(v)


def fold_dim(size: int, kernel: int, dilation: int, padding: int, stride: int) -> tuple[int, int]:
    """(inside, covered) of one spatial dimension of col2im (see the module docstring)."""
    blocks = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    hits = [l * stride - padding + i * dilation for i in range(kernel) for l in range(max(blocks, 0))]
    inside = [x for x in hits if 0 <= x < size]
    return len(inside), len(set(inside))


def col2im_adds(in_shape, output_size, kernel_size, dilation, padding, stride) -> int:
    """Adds of col2im: input (N, C*kh*kw, L) or (C*kh*kw, L) -> output (N, C, H, W)."""
    (h, w), (kh, kw) = _pair(output_size), _pair(kernel_size)
    (dh, dw), (ph, pw), (sh, sw) = _pair(dilation), _pair(padding), _pair(stride)
    n = int(in_shape[0]) if len(in_shape) == 3 else 1
    c = int(in_shape[-2]) // (kh * kw)
    in_h, cov_h = fold_dim(h, kh, dh, ph, sh)
    in_w, cov_w = fold_dim(w, kw, dw, pw, sw)
    return n * c * (in_h * in_w - cov_h * cov_w)


def _arg(call: OpCall, i: int, name: str):
    return call.args[i] if len(call.args) > i else call.kwargs[name]


@register(*_packets("col2im"))
def _col2im(call: OpCall) -> Cost:
    return Cost(0, col2im_adds(call.in_shapes[0], _arg(call, 1, "output_size"),
                               _arg(call, 2, "kernel_size"), _arg(call, 3, "dilation"),
                               _arg(call, 4, "padding"), _arg(call, 5, "stride")))


@register(*_packets("im2col", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d",
                    "replication_pad1d", "replication_pad2d", "replication_pad3d"),
          data_movement=True)
def _copy(call: OpCall) -> Cost:
    return Cost(0, 0)


def pad_backward_adds(grad_shape, input_shape) -> int:
    """Adds of a reflection/replication pad backward: grad_output elements - input elements."""
    return max(int(math.prod(grad_shape)) - int(math.prod(input_shape)), 0)
