"""The one formula registry: every op's cost as a small pure function of shapes.

Units
-----
* ``macs``  multiply-accumulates of convolution, linear, matmul/bmm/einsum; bias
  excluded.  This is the papers' "multiply-adds" and torchvision's published "GFLOPS".
* ``flops`` floating-point operations: ``2 * macs`` plus the per-element counts below.

Each formula takes an :class:`OpCall` (shapes and the op's scalar arguments) and
returns a :class:`Cost`.  Conventions, one line each:

==========================  ====================================================
convolution (any kind)      macs = N * Cout * prod(out_spatial) * Cin/groups * prod(k)
                            (transposed: N * Cin * prod(in_spatial) * Cout/groups * prod(k));
                            flops = 2*macs + bias adds (one per output element)
linear / addmm              macs = prod(x.shape[:-1]) * in_features * out_features;
                            flops = 2*macs + one bias add per output element
mm / bmm / matmul           macs = batch * n * k * m; flops = 2*macs
einsum, attention, ...       see formulas_linalg.py, formulas_attention.py
batch_norm, eval            2 flops / element (folded scale and shift: y = a*x + b)
batch/layer/group norm,     7 flops / element with affine, 5 without
  training                  (mean 1, variance 2, normalise 2, affine 2)
relu, sigmoid, tanh, ...    1 flop / output element (transcendentals count 1)
add, sub, mul, div, ...     1 flop / output element (broadcast included); where,
  comparisons, masked_fill  1 flop / output element (a select or compare each)
add/sub/rsub, alpha != 1   2 flops / output element (multiply by alpha, add)
addcmul / addcdiv          2 flops / output element, 3 when value != 1
max/avg pool k x k          k*k flops / output element (compares or adds + divide)
adaptive avg pool           its window size per output element (sum = input
                            elements when the windows tile the input)
softmax / log_softmax       3 flops / element (exp, sum, divide)
local_response_norm         (size + 5) flops / element (square, window sum,
                            scale, add k, power, divide)
cat, copies, padding,       0 flops (data movement), output elements still count
  index, embedding, arange  as activations
==========================  ====================================================

``activations`` is the number of output elements an op writes to a new tensor;
in-place ops (``relu_``, ``add_``) write no new tensor and count 0.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from .registry import CONVENTIONS, Cost, Formula, OpCall, register, register_op
# einsum, bilinear, vector products and fused attention kernels live in their own modules
from . import formulas_attention, formulas_fold, formulas_math  # noqa: F401,E402 - register their formulas
from .formulas_linalg import einsum_macs  # noqa: F401 - registers its formulas; re-exported

aten = torch.ops.aten


def _ops(*names: str) -> list:
    """torch.ops.aten packets by name (an AttributeError names a missing op)."""
    return [getattr(aten, n) for n in names]


def _prod(xs: Sequence[int]) -> int:
    return int(math.prod(xs))


# --------------------------------------------------------------------------- #
# pure shape formulas (usable without torch)
# --------------------------------------------------------------------------- #
def conv_macs(x_shape, w_shape, out_shape, transposed: bool = False) -> int:
    """MACs of an N-d convolution. ``w_shape`` is PyTorch's weight layout
    (Cout, Cin/groups, *k) or, transposed, (Cin, Cout/groups, *k)."""
    n = x_shape[0]
    if transposed:
        cin = w_shape[0]
        return _prod([n, cin, *x_shape[2:], *w_shape[1:]])
    return _prod([n, *out_shape[2:], *w_shape])


def linear_macs(x_shape, out_features: int) -> int:
    """MACs of y = x W^T over any leading dimensions."""
    return _prod(x_shape) * out_features


def matmul_macs(a_shape, b_shape) -> int:
    """MACs of torch.matmul semantics (1-d, 2-d and broadcast batched)."""
    a, b = list(a_shape), list(b_shape)
    if len(a) == 1:
        a = [1] + a
    if len(b) == 1:
        b = b + [1]
    n, k = a[-2], a[-1]
    m = b[-1]
    batch_a, batch_b = a[:-2], b[:-2]
    width = max(len(batch_a), len(batch_b))
    batch_a = [1] * (width - len(batch_a)) + batch_a
    batch_b = [1] * (width - len(batch_b)) + batch_b
    batch = _prod([max(x, y) for x, y in zip(batch_a, batch_b)])
    return batch * n * k * m


def adaptive_window_sum(in_sizes: Sequence[int], out_sizes: Sequence[int]) -> int:
    """Sum over output positions of the adaptive-pool window size (per channel)."""
    total = 1
    for i, o in zip(in_sizes, out_sizes):
        s = 0
        for k in range(o):
            start = (k * i) // o
            end = -((-(k + 1) * i) // o)
            s += end - start
        total *= s
    return total


# --------------------------------------------------------------------------- #
# the registry
# --------------------------------------------------------------------------- #
FORMULAS: dict = CONVENTIONS["native"]
"""key -> formula of the native convention. Keys are ``torch.ops.aten`` packets
(``torch.ops.aten.convolution``; composites recognised before they decompose are
keyed by their aten op too, ``torch.ops.aten.linear``) or, for a function with no
aten op, a documented string (``"local_response_norm"``)."""


def formula(*names: str, data_movement: bool = False):
    """Register a native formula for the aten ops (or FUNCTION_KEYS names) given by name."""
    keys = [n if n == "local_response_norm" else getattr(aten, n) for n in names]
    return register(*keys, convention="native", data_movement=data_movement)


def _arg(call: OpCall, idx: int, name: str, default=None):
    if len(call.args) > idx:
        return call.args[idx]
    return call.kwargs.get(name, default)


TRANSPOSED_CONVS = frozenset({"conv_transpose1d", "conv_transpose2d", "conv_transpose3d"})
"""Convolutions seen before decomposition (e.g. under torch.inference_mode) that are transposed."""


def conv_is_transposed(call: OpCall) -> bool:
    if call.name in TRANSPOSED_CONVS:
        return True
    if call.name in ("convolution", "_convolution", "convolution_overrideable"):
        return bool(_arg(call, 6, "transposed", False))
    return False


@formula("convolution", "_convolution", "convolution_overrideable", "cudnn_convolution",
         "mkldnn_convolution", "conv1d", "conv2d", "conv3d", "_convolution_mode",
         "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
def _conv(call: OpCall) -> Cost:
    x, w = call.in_shapes[0], call.in_shapes[1]
    has_bias = len(call.in_shapes) > 2 and call.in_shapes[2] is not None and len(call.in_shapes[2]) > 0
    transposed = conv_is_transposed(call)
    if len(x) == len(w) - 1:          # unbatched input (C, *spatial)
        x, out = (1, *x), (1, *call.out_shapes[0])
        macs = conv_macs(x, w, out, transposed)
        return Cost(macs, 2 * macs + (call.out_numel if has_bias else 0))
    macs = conv_macs(x, w, call.out_shapes[0], transposed)
    return Cost(macs, 2 * macs + (call.out_numel if has_bias else 0))


@formula("linear")
def _linear(call: OpCall) -> Cost:
    x, w = call.in_shapes[0], call.in_shapes[1]
    has_bias = len(call.in_shapes) > 2 and call.in_shapes[2] is not None
    macs = linear_macs(x, w[0])
    return Cost(macs, 2 * macs + (call.out_numel if has_bias else 0))


@formula("addmm")
def _addmm(call: OpCall) -> Cost:
    macs = matmul_macs(call.in_shapes[1], call.in_shapes[2])
    return Cost(macs, 2 * macs + call.out_numel)


@formula("mm", "bmm", "matmul")
def _mm(call: OpCall) -> Cost:
    macs = matmul_macs(call.in_shapes[0], call.in_shapes[1])
    return Cost(macs, 2 * macs)


@formula("baddbmm")
def _baddbmm(call: OpCall) -> Cost:
    macs = matmul_macs(call.in_shapes[1], call.in_shapes[2])
    return Cost(macs, 2 * macs + call.out_numel)


@formula("batch_norm")
def _batch_norm(call: OpCall) -> Cost:
    training = bool(_arg(call, 5, "training", False))
    has_affine = call.kwargs.get("_has_affine", True)
    if training:
        return Cost(0, call.in_numel * (7 if has_affine else 5))
    return Cost(0, 2 * call.in_numel)


@formula("layer_norm", "group_norm", "instance_norm")
def _norm(call: OpCall) -> Cost:
    has_affine = call.kwargs.get("_has_affine", True)
    return Cost(0, call.in_numel * (7 if has_affine else 5))


@formula("relu", "relu_", "relu6", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_",
         "sigmoid", "sigmoid_", "tanh", "tanh_", "gelu", "silu", "silu_", "hardswish",
         "hardswish_", "hardsigmoid", "hardsigmoid_", "elu", "elu_", "threshold",
         "threshold_", "exp", "sqrt", "rsqrt", "neg", "abs", "clamp", "clamp_", "clamp_min",
         "clamp_min_", "pow", "reciprocal")
def _elementwise_unary(call: OpCall) -> Cost:
    return Cost(0, call.out_numel)


@formula("mul", "mul_", "div", "div_", "maximum",
         "minimum", "where", "masked_fill", "masked_fill_",
         "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not")
def _elementwise_binary(call: OpCall) -> Cost:
    return Cost(0, call.out_numel)


def _scale_flops(call: OpCall, pos: int, name: str) -> int:
    """Extra FLOPs per element of the op's scale argument (``alpha``/``value``, at ``pos``
    or by ``name``): 0 when it is absent or 1, else 1 (the multiply by it)."""
    scale = _arg(call, pos, name, 1)
    return 0 if isinstance(scale, bool) or scale == 1 else 1


@formula("add", "add_", "sub", "sub_", "rsub")
def _add(call: OpCall) -> Cost:
    """a + alpha * b: 1 FLOP per output element, 2 when ``alpha != 1`` (multiply, add) --
    SGD's ``p.add_(g, alpha=-lr)``.  No MACs: MACs count contractions only."""
    return Cost(0, call.out_numel * (1 + _scale_flops(call, 2, "alpha")))


@formula("addcmul", "addcmul_", "addcdiv", "addcdiv_")
def _addc(call: OpCall) -> Cost:
    """a + value * (b * c) (or b / c): 2 FLOPs per output element, 3 when ``value != 1``
    (Adam's moment and parameter updates)."""
    return Cost(0, call.out_numel * (2 + _scale_flops(call, 3, "value")))


def _pool_kernel(call: OpCall) -> list[int]:
    k = _arg(call, 1, "kernel_size")
    nd = len(call.in_shapes[0]) - 2
    k = list(k) if isinstance(k, (list, tuple)) else [k]
    if len(k) == 1:
        k = k * nd
    return [int(v) for v in k]


@formula("max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices",
         "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d")
def _pool(call: OpCall) -> Cost:
    return Cost(0, call.out_numel * _prod(_pool_kernel(call)))


@formula("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
         "_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_max_pool2d")
def _adaptive_pool(call: OpCall) -> Cost:
    x, out = call.in_shapes[0], call.out_shapes[0]
    spatial = 3 if "3d" in call.name else 1 if "1d" in call.name else 2
    lead = _prod(out[: len(out) - spatial])
    return Cost(0, lead * adaptive_window_sum(x[-spatial:], out[-spatial:]))


@formula("mean", "sum")
def _reduce(call: OpCall) -> Cost:
    return Cost(0, call.in_numel)


@formula("softmax", "log_softmax", "_softmax", "_log_softmax")
def _softmax(call: OpCall) -> Cost:
    return Cost(0, 3 * call.in_numel)


@formula("local_response_norm")
def _lrn(call: OpCall) -> Cost:
    size = int(_arg(call, 1, "size"))
    return Cost(0, (size + 5) * call.in_numel)


@formula("upsample_nearest2d", "upsample_nearest1d", "upsample_nearest3d")
def _upsample_nearest(call: OpCall) -> Cost:
    return Cost(0, call.out_numel)


@formula("upsample_bilinear2d", "upsample_linear1d", "upsample_trilinear3d",
         "upsample_bicubic2d")
def _upsample_interp(call: OpCall) -> Cost:
    return Cost(0, 4 * call.out_numel)


@formula("mkldnn_rnn_layer")
def _mkldnn_lstm_layer(call: OpCall) -> Cost:
    """One fused LSTM layer and direction (the CPU kernel of nn.LSTM), counted as the ops it
    replaces: per step, x W_ih^T and h W_hh^T (B*4H*(I+H) MACs, plus 2*B*4H bias adds when
    biased), the two gate sums (B*4H), and 9*B*H gate flops (3 sigmoid, 2 tanh, 3 mul, 1 add)."""
    t, b, i = call.in_shapes[0]
    g, h = call.in_shapes[2]
    has_biases = bool(_arg(call, 12, "has_biases", True))
    macs = t * b * g * (i + h)
    flops = 2 * macs + t * b * g * (3 if has_biases else 1) + 9 * t * b * h
    return Cost(macs, flops)


@formula("cat", "stack", "constant_pad_nd", "clone", "_to_copy", "copy_", "contiguous",
         "dropout", "native_dropout", "zeros_like", "ones_like", "empty_like", "fill_",
         "max_unpool2d", "flip", "roll", "index_select", "gather", "index", "_unsafe_index",
         "new_zeros", "new_ones", "new_full", "arange", "zero_",
         "repeat", "scatter", "slice_scatter", "select_scatter", "embedding", "tril", "triu",
         "unsafe_split", "unsafe_split_with_sizes", "unsafe_chunk", data_movement=True)
def _data_movement(call: OpCall) -> Cost:
    return Cost(0, 0)


# ops that add one weight layer to the longest path (the ``depth`` column)
WEIGHT_LAYERS = ("convolution", "_convolution", "convolution_overrideable", "cudnn_convolution",
                 "mkldnn_convolution", "conv1d", "conv2d", "conv3d", "_convolution_mode",
                 "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "linear", "addmm")
for _op in _ops(*WEIGHT_LAYERS):
    register_op(_op, weight_layer=True)


# --------------------------------------------------------------------------- #
# fvcore's convention (FlopCountAnalysis), for cross-checking
# --------------------------------------------------------------------------- #
FVCORE_FORMULAS: dict = CONVENTIONS["fvcore"]
"""fvcore counts one "flop" per MAC for conv/linear/matmul, eval batch norm as
1 per element (2 with affine), training norms as 4 (5 with affine) per element,
adaptive_avg_pool2d as 1 per input element, upsampling per output element
(bilinear x4), and ignores activations, pooling and elementwise ops."""


def _fv(*names: str):
    """Register an fvcore-convention formula for the aten ops given by name."""
    return register(*_ops(*names), convention="fvcore")


@_fv("convolution", "_convolution")
def _fv_conv(call):
    m = _conv(call).macs
    return Cost(m, m)


@_fv("linear")
def _fv_linear(call):
    m = linear_macs(call.in_shapes[0], call.in_shapes[1][0])
    return Cost(m, m)


@_fv("addmm", "mm", "bmm", "baddbmm")
def _fv_mm(call):
    m = FORMULAS[getattr(aten, call.name)](call).macs
    return Cost(m, m)


@_fv("matmul")
def _fv_matmul(call):
    """fvcore: prod(A.shape) * B.shape[-1] (ignores a batch that only B has)."""
    a, b = call.in_shapes[0], call.in_shapes[1]
    m = _prod(a) * (b[-1] if len(b) > 1 else 1)
    return Cost(m, m)


@_fv("batch_norm")
def _fv_bn(call):
    training = bool(_arg(call, 5, "training", False))
    has_affine = call.kwargs.get("_has_affine", True)
    if training:
        return Cost(0, call.in_numel * (5 if has_affine else 4))
    return Cost(0, call.in_numel * (2 if has_affine else 1))


@_fv("layer_norm", "group_norm", "instance_norm")
def _fv_norm(call):
    has_affine = call.kwargs.get("_has_affine", True)
    return Cost(0, call.in_numel * (5 if has_affine else 4))


@_fv("adaptive_avg_pool2d")
def _fv_adaptive(call):
    return Cost(0, call.in_numel)


@_fv("upsample_nearest2d")
def _fv_up_nearest(call):
    return Cost(0, call.out_numel)


@_fv("upsample_bilinear2d")
def _fv_up_bilinear(call):
    return Cost(0, 4 * call.out_numel)



# aten kernels fvcore's tracer records as one op it has no handle for (so it counts them 0);
# met outside a skipped call each is one skipped op of its own (see engine.Recorder.blind)
FVCORE_SKIPS = ("baddbmm", "_trilinear", "mkldnn_rnn_layer", "_native_multi_head_attention",
                "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
                "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
                "_scaled_dot_product_fused_attention_overrideable", "_flash_attention_forward",
                "_efficient_attention_forward")
for _name in FVCORE_SKIPS:
    if hasattr(aten, _name):          # an op this torch build lacks never runs
        register_op(getattr(aten, _name), fvcore_skips=True)
