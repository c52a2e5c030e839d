"""Meta-device fast paths of the op capture: outputs of common ops on meta tensors made
without running their (Python, prims-based) meta kernels, where the output is plain
(an empty twin of an input, a new contiguous product, or the input itself in place).

Each returns the tensor the real meta kernel would return (same shape, dtype, strides
and aliasing, so the same storage bytes), or ``None`` when it cannot promise that and
the kernel must run.  Used by :class:`~inception_cost.counting.capture.OpCapture` for
every consumer (counting, memory), and by :class:`MetaFastMode` for uncounted work.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode

# elementwise ops whose meta output is an input's twin: skipping their (Python, prims-based)
# meta kernels is most of the counting time of a CNN or a ViT on meta
_META_UNARY = {"relu", "relu6", "gelu", "silu", "sigmoid", "tanh", "hardswish", "hardsigmoid",
               "hardtanh", "elu", "leaky_relu", "neg", "exp", "sqrt", "rsqrt", "abs", "reciprocal"}
_META_BINARY = {"add", "sub", "mul", "div"}
_META_ELEMENTWISE = (_META_UNARY | _META_BINARY | {n + "_" for n in _META_UNARY | _META_BINARY})
# matrix products and softmaxes whose meta output shape is plain (their meta kernels are
# Python decompositions: most of the time of attention on meta)
_META_PRODUCTS = {"mm", "bmm", "addmm", "_softmax", "_safe_softmax"}
# in-place ops of an optimizer step with two tensor operands besides the one written
_META_INPLACE3 = {"lerp_", "addcmul_", "addcdiv_"}
# allocations whose meta kernel is a Python reference (``empty_like``: ~0.1 ms a call)
_META_ALLOC = {"empty_like"}
# convolutions: the meta kernel (Python) computes the output shape and returns a new
# contiguous tensor of the input's dtype (~0.1 ms a call, most of a CNN's count)
_META_CONV = {"convolution"}
# a training step's batch norm and ReLU gradient: meta kernels that are Python
# decompositions (~0.5-3 ms a call, most of a training count of a BN network)
_META_TRAINING = {"native_batch_norm", "native_batch_norm_backward", "threshold_backward"}
_META_FAST = (_META_ELEMENTWISE | _META_PRODUCTS | _META_INPLACE3 | _META_ALLOC | _META_CONV
              | _META_TRAINING)
_PLAIN = (torch.Tensor, nn.Parameter)   # an in-place op may write a parameter (optimizer)


def _meta_fast(name: str, args: tuple, kwargs: dict):
    """The output of aten op ``name`` on meta tensors without its meta kernel, or None."""
    if name in _META_PRODUCTS:
        return _meta_product(name, args, kwargs)
    if name in _META_INPLACE3:
        return _meta_inplace3(args, kwargs)
    if name == "empty_like":
        return _meta_empty_like(args, kwargs)
    if name == "convolution":
        return _meta_convolution(args, kwargs)
    if name in _META_TRAINING:
        if kwargs:
            return None
        if name == "native_batch_norm":
            return _meta_batch_norm(args)
        if name == "native_batch_norm_backward":
            return _meta_batch_norm_backward(args)
        return _meta_threshold_backward(args)
    return _meta_elementwise(name, args, kwargs)


_FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _row_major_meta(t) -> bool:
    """A plain floating meta tensor with no empty dimension laid out row-major: an
    elementwise result over it (and per-channel operands) is row-major too."""
    return (type(t) in _PLAIN and t.is_meta and t.dtype in _FLOATS and t.dim() >= 1
            and 0 not in t.shape and t.stride() == _contiguous_strides(t.shape))


def _strictly_row_major(t) -> bool:
    """A plain floating meta tensor with no empty dimension whose strides, all positive,
    strictly shrink from one dimension to the next (a slice of a row-major tensor, such as
    one input's share of a ``cat`` gradient): the elementwise kernels' stride order then
    keeps every dimension in place (no tie for their shape rule to break) and their output
    is a new row-major tensor."""
    if type(t) not in _PLAIN or not t.is_meta or t.dtype not in _FLOATS or 0 in t.shape:
        return False
    last = None
    for st in t.stride():
        if st <= 0 or (last is not None and st >= last):
            return False
        last = st
    return True


def _channel_vector(t, c: int, optional: bool = True) -> bool:
    """``t`` is a meta tensor of shape (C,) (or None where ``optional``)."""
    if t is None:
        return optional
    return type(t) in _PLAIN and t.is_meta and tuple(t.shape) == (c,)


def _computation_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _meta_batch_norm(args: tuple):
    """``aten.native_batch_norm`` on meta: (output like the input, save_mean, save_invstd:
    (C,) in the computation dtype, float32 for half inputs), as its meta kernel (a Python
    decomposition) returns them; ``None`` to run the kernel."""
    if len(args) != 8:
        return None
    x, w, b, rm, rv, training, momentum, eps = args
    if not _row_major_meta(x) or x.dim() < 2 or type(training) is not bool:
        return None
    c = x.shape[1]
    if not (_channel_vector(w, c) and _channel_vector(b, c)
            and _channel_vector(rm, c, training) and _channel_vector(rv, c, training)):
        return None
    if training and x.numel() // c < 2:           # the kernel divides by n - 1
        return None
    acc = _computation_dtype(x.dtype)
    return (torch.empty(x.shape, dtype=x.dtype, device="meta"),
            torch.empty((c,), dtype=acc, device="meta"), torch.empty((c,), dtype=acc, device="meta"))


def _meta_batch_norm_backward(args: tuple):
    """``aten.native_batch_norm_backward`` on meta: (grad_input like the input, grad_weight
    and grad_bias (C,) in the weight's dtype or None as ``output_mask`` says), as its meta
    kernel returns them; ``None`` to run the kernel."""
    if len(args) != 10:
        return None
    g, x, w, rm, rv, sm, si, train, _eps, mask = args
    if (not _row_major_meta(x) or x.dim() < 2 or type(train) is not bool
            or not isinstance(mask, (list, tuple)) or len(mask) != 3
            or any(type(m) is not bool for m in mask)):
        return None
    if not _row_major_meta(g) or g.shape != x.shape:
        return None
    c = x.shape[1]
    if not _channel_vector(w, c):
        return None
    stats = (sm, si) if train else (rm, rv)
    if not all(_channel_vector(t, c, False) for t in stats):
        return None
    wdtype = w.dtype if w is not None else x.dtype
    return (torch.empty(x.shape, dtype=x.dtype, device="meta"),
            torch.empty((c,), dtype=wdtype, device="meta") if mask[1] else None,
            torch.empty((c,), dtype=wdtype, device="meta") if mask[2] else None)


def _meta_threshold_backward(args: tuple):
    """``aten.threshold_backward`` of a gradient and an input of one shape and dtype on meta,
    both row-major or both strictly in row-major order (:func:`_strictly_row_major`): a new
    row-major tensor like them; ``None`` to run the kernel."""
    if len(args) != 3:
        return None
    g, x, threshold = args
    if (type(g) not in _PLAIN or type(x) not in _PLAIN or g.shape != x.shape
            or g.dtype != x.dtype):
        return None
    if not ((_row_major_meta(g) and _row_major_meta(x))
            or (_strictly_row_major(g) and _strictly_row_major(x))):
        return None
    if type(threshold) not in (int, float):
        return None
    return torch.empty(x.shape, dtype=x.dtype, device="meta")


def _int_list(v, n: int) -> list | None:
    """A convolution argument (stride, padding, dilation) as ``n`` Python ints, else None."""
    if not isinstance(v, (list, tuple)) or any(type(x) is not int for x in v):
        return None
    if len(v) == 1:
        return [v[0]] * n
    return list(v) if len(v) == n else None


def _meta_convolution(args: tuple, kwargs: dict):
    """``aten.convolution`` (not transposed) on meta tensors: the new contiguous output of
    the input's dtype its meta kernel returns, of the shape its formula gives
    ``(L + 2p - d(k - 1) - 1) // s + 1`` per spatial dimension; ``None`` (the kernel runs,
    and raises its own errors) for anything else: a transposed convolution, mismatched
    channels, a kernel larger than the padded input, an output dimension under 1."""
    if kwargs or len(args) != 9:
        return None
    x, w, b, stride, padding, dilation, transposed, _output_padding, groups = args
    if transposed is not False or type(groups) is not int or groups < 1:
        return None
    if type(x) not in _PLAIN or type(w) not in _PLAIN or not x.is_meta or not w.is_meta:
        return None
    if b is not None and (type(b) not in _PLAIN or not b.is_meta):
        return None
    nd = x.dim() - 2
    if nd < 1 or w.dim() != nd + 2:
        return None
    xs, ws = x.shape, w.shape
    if xs[1] == 0 or ws[1] * groups != xs[1]:
        return None
    s, p, d = _int_list(stride, nd), _int_list(padding, nd), _int_list(dilation, nd)
    if s is None or p is None or d is None:
        return None
    shape = [xs[0], ws[0]]
    for i in range(nd):
        k = d[i] * (ws[i + 2] - 1) + 1
        padded = xs[i + 2] + 2 * p[i]
        if s[i] < 1 or padded < k:
            return None
        n = (padded - k) // s[i] + 1
        if n < 1:
            return None
        shape.append(n)
    return torch.empty(shape, dtype=x.dtype, device="meta")


def _contiguous_strides(shape) -> tuple:
    """Row-major strides (elements) of ``shape``, as ``torch.empty`` lays it out."""
    strides = [1] * len(shape)
    n = 1
    for i in range(len(shape) - 1, -1, -1):
        strides[i] = n
        n *= max(shape[i], 1)
    return tuple(strides)


def empty_twin(a: torch.Tensor) -> torch.Tensor:
    """``torch.empty_like(a)`` of a meta tensor ``a``: the same tensor (shape, strides,
    dtype), made without empty_like's meta kernel (a Python reference) when ``a`` has the
    row-major strides of its shape (the output's strides are then those too)."""
    stride = a.stride()
    if a.is_contiguous() and stride == _contiguous_strides(a.shape):
        return torch.empty_strided(a.shape, stride, dtype=a.dtype, device="meta")
    return torch.empty_like(a)


_EMPTY_LIKE_DEFAULTS = {"dtype": None, "layout": (None, torch.strided), "device": None,
                        "pin_memory": (None, False),
                        "memory_format": (None, torch.preserve_format, torch.contiguous_format)}


def _meta_empty_like(args: tuple, kwargs: dict):
    """``aten.empty_like`` of a plain meta tensor with default options: :func:`empty_twin`
    where it skips the meta kernel; ``None`` otherwise."""
    if len(args) != 1:
        return None
    a = args[0]
    if type(a) not in _PLAIN or not a.is_meta:
        return None
    for k, v in kwargs.items():
        if k == "dtype" or k == "device":
            if v is not None and v != (a.dtype if k == "dtype" else a.device):
                return None
        elif k not in _EMPTY_LIKE_DEFAULTS or v not in _EMPTY_LIKE_DEFAULTS[k]:
            return None
    stride = a.stride()
    if a.is_contiguous() and stride == _contiguous_strides(a.shape):
        return torch.empty_strided(a.shape, stride, dtype=a.dtype, device="meta")
    return None


def _meta_inplace3(args: tuple, kwargs: dict):
    """``lerp_``/``addcmul_``/``addcdiv_`` on floating meta tensors of one shape, dtype and
    stride: the tensor written (no meta kernel run); ``None`` otherwise."""
    if len(args) < 2 or any(k != "value" for k in kwargs):
        return None
    a = args[0]
    ts = [x for x in args[1:] if isinstance(x, torch.Tensor)]
    if type(a) not in _PLAIN or any(type(t) is not torch.Tensor for t in ts):
        return None
    if not a.is_meta or not a.is_floating_point():     # below autograd: a is only written
        return None
    if any(not t.is_meta or t.shape != a.shape or t.dtype != a.dtype
           or t.stride() != a.stride() for t in ts):
        return None
    if any(not isinstance(x, (torch.Tensor, int, float)) or isinstance(x, bool)
           for x in args[1:]):
        return None
    return a


class MetaFastMode(TorchDispatchMode):
    """Runs ops on meta tensors with the engine's fast paths (no meta kernel where the
    output is plain) and records nothing: for work that must run but is not counted,
    such as the optimizer step that creates its state before the counted one."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        out = _meta_fast(name, args, kwargs) if name in _META_FAST else None
        return func(*args, **kwargs) if out is None else out


def _meta_product(name: str, args: tuple, kwargs: dict):
    """Output of mm/bmm/addmm/_softmax/_safe_softmax on floating meta tensors of one dtype
    (a new contiguous tensor, as their meta kernels return); ``None`` to run the kernel."""
    if any(k not in ("beta", "alpha", "dtype") for k in kwargs) or kwargs.get("dtype") is not None:
        return None
    ts = [a for a in args if isinstance(a, torch.Tensor)]
    if not ts or any(type(t) is not torch.Tensor or not t.is_meta or t.requires_grad for t in ts):
        return None
    dtype = ts[0].dtype
    if not ts[0].is_floating_point() or any(t.dtype != dtype for t in ts):
        return None
    if name in ("_softmax", "_safe_softmax"):
        x = args[0]
        if len(args) > 2 and args[2] not in (None, False):       # half_to_float / dtype
            return None
        return torch.empty(x.shape, dtype=dtype, device="meta")
    if name == "mm" and len(args) == 2:
        a, b = args
        if a.dim() == b.dim() == 2 and a.shape[1] == b.shape[0]:
            return torch.empty((a.shape[0], b.shape[1]), dtype=dtype, device="meta")
    if name == "bmm" and len(args) == 2:
        a, b = args
        if a.dim() == b.dim() == 3 and a.shape[0] == b.shape[0] and a.shape[2] == b.shape[1]:
            return torch.empty((a.shape[0], a.shape[1], b.shape[2]), dtype=dtype, device="meta")
    if name == "addmm" and len(args) in (3, 4, 5):
        bias, a, b = args[:3]
        if (isinstance(bias, torch.Tensor) and a.dim() == b.dim() == 2 and a.shape[1] == b.shape[0]
                and bias.dim() <= 2):
            out = (a.shape[0], b.shape[1])
            try:
                if torch.broadcast_shapes(bias.shape, out) != out:
                    return None
            except RuntimeError:
                return None
            return torch.empty(out, dtype=dtype, device="meta")
    return None


def _meta_elementwise(name: str, args: tuple, kwargs: dict):
    """The result of an elementwise op on a floating meta tensor without its meta kernel:
    an empty twin of the first input (or the input itself, in place); ``None`` when the
    shapes, strides or dtypes of the operands could make the real output differ."""
    if not args:
        return None
    a = args[0]
    if type(a) not in _PLAIN or not a.is_meta or not a.is_floating_point():
        return None
    if (a.requires_grad or type(a) is not torch.Tensor) and not name.endswith("_"):   # in place, the result is ``a`` itself
        return None
    base = name[:-1] if name.endswith("_") else name
    if base in _META_BINARY:
        if len(args) < 2 or any(k not in ("alpha", "rounding_mode") for k in kwargs):
            return None
        if kwargs.get("rounding_mode") is not None:
            return None
        b = args[1]
        if type(b) is torch.Tensor:
            if (not b.is_meta or b.shape != a.shape or b.dtype != a.dtype or b.stride() != a.stride()
                    or b.requires_grad):
                return None
        elif not isinstance(b, (int, float)) or isinstance(b, bool):
            return None
        if len(args) > 2:
            return None
    elif len(args) > 1 and any(isinstance(x, torch.Tensor) for x in args[1:]):
        return None
    if name.endswith("_"):
        return a
    return empty_twin(a)


def decomposition(func):
    """The Python decomposition PyTorch registers for ``func`` (an OpOverload), or None."""
    from torch._decomp import decomposition_table
    return decomposition_table.get(func)
