"""Backward-pass formulas: the cost of the aten ops autograd runs in ``loss.backward()``,
split into *input-gradient* work (dL/d activation) and *weight-gradient* work
(dL/d parameter), as small pure functions of an :class:`OpCall`.

Matmul-family ops (``mm``, ``bmm``, ``addmm`` ...) that backward runs are the forward
formulas themselves; which of them is input- or weight-gradient work is decided by
the autograd node that runs them (see :mod:`inception_cost.counting.training`).
The ops below carry an ``output_mask`` or are backward-only; conventions, one line
each (``n`` = elements of the op's input, ``g`` = elements of ``grad_output``):

=================================  ===============================  =========================
op                                 input gradient                   weight (+ bias) gradient
=================================  ===============================  =========================
convolution_backward               MACs = forward conv MACs         MACs = forward conv MACs
                                   (grad_out (*) W, transposed)     (x (*) grad_out, per group);
                                   FLOPs = 2 x MACs                 FLOPs = 2 x MACs + g (bias)
native_batch_norm_backward,        8 FLOPs / element (training:     weight 4 / element
native_layer_norm_backward,        x-hat 2, two reductions 3,       (x-hat 2, multiply-sum 2),
native_group_norm_backward         combine 3); eval batch norm: 1   bias 1 / element (sum)
threshold/hardtanh/leaky_relu_bw   1 FLOP / element (select)
sigmoid_backward, tanh_backward    3 / element (g * y * (1 - y), g * (1 - y*y))
silu_backward                      5 / element
gelu_backward                      7 / element
hardswish/hardsigmoid/elu_bw       3 / 2 / 2 per element
_softmax_backward_data,            4 / element (y * (g - sum(g * y)), g - exp(y) * sum(g))
_log_softmax_backward_data
max_pool*_with_indices_backward,   1 / grad_output element (scatter-add)
adaptive_max_pool*_backward
avg_pool*_backward                 k*k / grad_output element (as forward)
_adaptive_avg_pool*_backward       the forward's window sum
upsample_*_backward                nearest 1, (bi/tri)linear/bicubic 4 per grad_output element
native_dropout_backward            2 / element (mask multiply, scale)
nll_loss_backward                  0 (writes -1/N at each target: data movement)
embedding_dense_backward                                            1 / grad_output element
fused attention backward           5 batched matmuls: MACs = b*h*(sq*sk*d + 2*sq*sk*dv
(_scaled_dot_product_*: flash,     + 2*sq*sk*d) = PyTorch FlopCounterMode's count / 2; FLOPs = 2 x MACs
efficient, cudnn, CPU flash)       + 7 / score element (softmax recompute 3, its backward 4)
select/slice/index_select bw       0 (data movement)
index_put (accumulate=True): the   1 / value element (an add; without accumulate a copy, 0)
backward of ``x[idx]``
reflection/replication_pad*_bw     (g - n) adds (extra copies summed; formulas_fold)
im2col, col2im (backward of        as forward (formulas_fold): im2col 0, col2im one
fold/unfold)                       add per overlapping value
=================================  ===============================  =========================

Note on grouped convolutions: the weight gradient of a convolution with ``groups=g``
is ``g`` independent convolutions of ``Cin/g`` channels, so its MACs equal the forward
MACs. PyTorch's ``FlopCounterMode`` counts it as one dense convolution (``g`` times
more); ``tests/test_training_counts.py`` checks our count by running the per-group
decomposition under ``FlopCounterMode``.
"""
from __future__ import annotations

import math
from .formulas import Cost, OpCall, adaptive_window_sum, conv_macs
from .formulas_fold import pad_backward_adds
from .registry import GradCost  # noqa: F401 - re-exported (defined beside Cost and OpCost)


def _prod(xs) -> int:
    return int(math.prod(xs))


def _mask(call: OpCall, idx: int) -> tuple[bool, ...]:
    m = call.args[idx] if len(call.args) > idx else call.kwargs.get("output_mask", (True, True, True))
    return tuple(bool(v) for v in m)


# --------------------------------------------------------------------------- #
# convolution
# --------------------------------------------------------------------------- #
def conv_backward_split(call: OpCall) -> GradCost:
    """aten.convolution_backward(grad_out, input, weight, bias_sizes, stride, padding,
    dilation, transposed, output_padding, groups, output_mask)."""
    g_out, x, w = call.args[0], call.args[1], call.args[2]
    transposed = bool(call.args[7])
    mask = _mask(call, 10)
    macs = conv_macs(x, w, g_out, transposed)      # == the forward convolution's MACs
    inp = Cost(macs, 2 * macs) if mask[0] else Cost()
    wmacs = macs if mask[1] else 0
    bias = _prod(g_out) if len(mask) > 2 and mask[2] else 0
    return GradCost(inp, Cost(wmacs, 2 * wmacs + bias))


# --------------------------------------------------------------------------- #
# normalisation
# --------------------------------------------------------------------------- #
def _norm_split(n: int, mask, training: bool = True) -> GradCost:
    inp = Cost(0, (8 if training else 1) * n) if mask[0] else Cost()
    weight = (4 * n if len(mask) > 1 and mask[1] else 0) + (n if len(mask) > 2 and mask[2] else 0)
    return GradCost(inp, Cost(0, weight))


def batch_norm_backward_split(call: OpCall) -> GradCost:
    """aten.native_batch_norm_backward(grad_out, input, weight, running_mean, running_var,
    save_mean, save_invstd, train, eps, output_mask)."""
    return _norm_split(_prod(call.args[1]), _mask(call, 9), training=bool(call.args[7]))


def layer_norm_backward_split(call: OpCall) -> GradCost:
    """aten.native_layer_norm_backward(grad_out, input, normalized_shape, mean, rstd,
    weight, bias, output_mask)."""
    return _norm_split(_prod(call.args[1]), _mask(call, 7))


def group_norm_backward_split(call: OpCall) -> GradCost:
    """aten.native_group_norm_backward(grad_out, input, mean, rstd, weight, N, C, HxW,
    group, output_mask)."""
    return _norm_split(_prod(call.args[1]), _mask(call, 9))


def embedding_backward_split(call: OpCall) -> GradCost:
    """aten.embedding_dense_backward(grad_output, indices, num_weights, ...): a scatter-add."""
    return GradCost(Cost(), Cost(0, _prod(call.args[0])))


# --------------------------------------------------------------------------- #
# attention
# --------------------------------------------------------------------------- #
def attention_backward_macs(q, k, v) -> tuple[int, int]:
    """(MACs, score elements) of a fused attention backward with q (b, h, sq, d),
    k (b, hk, sk, d), v (b, hk, sk, dv): recompute q k^T, then dP = dO v^T,
    dV = P^T dO, dQ = dS k, dK = dS^T q (key/value heads broadcast to h)."""
    b, h, sq, d = q[-4:] if len(q) >= 4 else (1, *q)
    sk, dv = k[-2], v[-1]
    scores = b * h * sq * sk
    return scores * d + scores * dv + scores * dv + scores * d + scores * d, scores


def _attention_backward(call: OpCall) -> GradCost:
    macs, scores = attention_backward_macs(call.args[1], call.args[2], call.args[3])
    return GradCost(Cost(macs, 2 * macs + 7 * scores), Cost())


# --------------------------------------------------------------------------- #
# element-wise and pooling backward (all input-gradient work)
# --------------------------------------------------------------------------- #
def _per_element(k: int, arg: int = 0):
    def fn(call: OpCall) -> GradCost:
        return GradCost(Cost(0, k * _prod(call.args[arg])), Cost())
    return fn


def _pool_backward(call: OpCall) -> GradCost:
    """avg_pool{1,2,3}d_backward(grad_output, self, kernel_size, ...)."""
    k = call.args[2]
    nd = len(call.args[1]) - 2
    k = list(k) if isinstance(k, (list, tuple)) else [k]
    if len(k) == 1:
        k = k * nd
    return GradCost(Cost(0, _prod(call.args[0]) * _prod(k)), Cost())


def _adaptive_avg_backward(call: OpCall) -> GradCost:
    """_adaptive_avg_pool{2,3}d_backward(grad_output, self)."""
    g, x = call.args[0], call.args[1]
    spatial = len(x) - 2 if len(x) > 2 else 1
    lead = _prod(g[: len(g) - spatial])
    return GradCost(Cost(0, lead * adaptive_window_sum(x[-spatial:], g[-spatial:])), Cost())


def _pad_backward(call: OpCall) -> GradCost:
    """reflection/replication_pad*_backward(grad_output, self, padding): mirrored or
    repeated copies of an input position add their gradients into it."""
    return GradCost(input=Cost(0, pad_backward_adds(call.args[0], call.args[1])))


def _zero(call: OpCall) -> GradCost:
    return GradCost()


# --------------------------------------------------------------------------- #
# recurrent (CPU fused LSTM layer)
# --------------------------------------------------------------------------- #
def lstm_layer_backward_split(call: OpCall) -> GradCost:
    """aten.mkldnn_rnn_layer_backward(input (T, B, I), w_ih (4H, I), w_hh (4H, H), b_ih,
    b_hh, hx, cx, output, hy, cy, grad_output, grad_hy, grad_cy, reverse, mode, hidden_size,
    num_layers, has_biases, ...): one LSTM layer and direction, counted as the backward of
    the per-step ops it replaces (what autograd runs for them on meta), with the input
    needing its gradient and the initial (h, c) not (nn.LSTM's zero default).  T steps,
    batch B, G = 4H gate rows:

    - input gradient: dx = dgates W_ih (T*B*G*I MACs), dh_{t-1} = dgates W_hh for
      t >= 1 ((T-1)*B*G*H MACs); FLOPs 2 x MACs + gate derivatives: 3 sigmoid (3 each)
      and 2 tanh (3 each) per hidden element (15*T*B*H), 6 products per step from
      c_t = f c_{t-1} + i g and h_t = o tanh(c_t), less dc_0 ((6T-1)*B*H), and one add
      per element where a gradient has two sources (dh_t from the output and the next
      step, dc_t from h_t and c_{t+1}: 2*(T-1)*B*H);
    - weight gradient: dW_ih = dgates^T x (T*B*G*I MACs), dW_hh = dgates^T h
      (T*B*G*H MACs); FLOPs 2 x MACs + summing the T per-step weight gradients
      ((T-1)*G*(I+H)) + with biases the batch sums of both bias gradients (2*T*B*G) and
      their T-step sums (2*(T-1)*G).
    """
    t, b, i = call.args[0]
    g, h = call.args[2]
    has_biases = bool(call.args[17]) if len(call.args) > 17 else True
    in_macs = t * b * g * i + (t - 1) * b * g * h
    in_flops = 2 * in_macs + 15 * t * b * h + (6 * t - 1) * b * h + 2 * (t - 1) * b * h
    w_macs = t * b * g * (i + h)
    w_flops = 2 * w_macs + (t - 1) * g * (i + h)
    if has_biases:
        w_flops += 2 * t * b * g + 2 * (t - 1) * g
    return GradCost(Cost(in_macs, in_flops), Cost(w_macs, w_flops))


# op name -> split formula. Names are aten overload packets (torch.ops.aten.<name>); each is
# registered as that op's ``split`` in the op registry (backward_registry), where the counters
# and a per-call ``formulas=`` entry reach it.
GRADIENT_SPLITS = {
    "convolution_backward": conv_backward_split,
    "native_batch_norm_backward": batch_norm_backward_split,
    "native_layer_norm_backward": layer_norm_backward_split,
    "native_group_norm_backward": group_norm_backward_split,
    "embedding_dense_backward": embedding_backward_split,
    "threshold_backward": _per_element(1),
    "hardtanh_backward": _per_element(1),
    "leaky_relu_backward": _per_element(1),
    "sigmoid_backward": _per_element(3),
    "tanh_backward": _per_element(3),
    "silu_backward": _per_element(5),
    "gelu_backward": _per_element(7),
    "hardswish_backward": _per_element(3),
    "hardsigmoid_backward": _per_element(2),
    "elu_backward": _per_element(2),
    "_softmax_backward_data": _per_element(4),
    "_log_softmax_backward_data": _per_element(4),
    "max_pool2d_with_indices_backward": _per_element(1),
    "max_pool3d_with_indices_backward": _per_element(1),
    "adaptive_max_pool2d_backward": _per_element(1),
    "adaptive_max_pool3d_backward": _per_element(1),
    "avg_pool2d_backward": _pool_backward,
    "avg_pool3d_backward": _pool_backward,
    "_adaptive_avg_pool2d_backward": _adaptive_avg_backward,
    "_adaptive_avg_pool3d_backward": _adaptive_avg_backward,
    "upsample_nearest1d_backward": _per_element(1),
    "upsample_nearest2d_backward": _per_element(1),
    "upsample_nearest3d_backward": _per_element(1),
    "upsample_linear1d_backward": _per_element(4),
    "upsample_bilinear2d_backward": _per_element(4),
    "upsample_trilinear3d_backward": _per_element(4),
    "upsample_bicubic2d_backward": _per_element(4),
    "native_dropout_backward": _per_element(2),
    "nll_loss_backward": _zero,
    "nll_loss2d_backward": _zero,
    "select_backward": _zero,
    "slice_backward": _zero,
    "index_select_backward": _zero,
    **{f"{kind}_pad{d}d_backward": _pad_backward for kind in ("reflection", "replication")
       for d in (1, 2, 3)},
    "_scaled_dot_product_efficient_attention_backward": _attention_backward,
    "_scaled_dot_product_flash_attention_backward": _attention_backward,
    "_scaled_dot_product_cudnn_attention_backward": _attention_backward,
    "_scaled_dot_product_flash_attention_for_cpu_backward": _attention_backward,
    "mkldnn_rnn_layer_backward": lstm_layer_backward_split,
}
"""aten backward op name -> ``OpCall -> GradCost``."""


def backward_cost(call: OpCall) -> Cost:
    """Both parts of a built-in split together (``OpCall -> Cost``, by ``call.name``)."""
    return GRADIENT_SPLITS[call.name](call).total
