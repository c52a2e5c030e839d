"""Bytes of a composite the counter does not run on the meta device.

On meta, with no gradient needed, the op capture skips the (slow, Python-decomposed) meta
kernels of a few composites whose output shape is known
(``capture_functions._meta_shortcut``): batch/layer/group/instance norm, local response
norm, softmax, linear, attention.  Their bytes must still be those of the aten ops they dispatch (see :mod:`.bytes_moved`):

* ``linear`` (2-D input, or a contiguous input of 2+ dims): one ``addmm``/``mm`` reading
  x, W^T and the bias and writing y -- the bytes of the call's own operands;
* ``softmax`` / ``log_softmax`` (no ``dtype``): one ``_softmax`` reading x, writing y;
* ``batch_norm`` on meta: one ``native_batch_norm`` reading x and the four per-channel
  vectors present, writing y and the saved mean and inverse std (C each, float32 for
  float32/float16/bfloat16 input, as the meta kernel returns them);
* anything else (or any of these on an input that is not contiguous) is run once for
  real per distinct call signature (shapes, strides, dtypes, scalar arguments); its
  dispatched bytes and its output's strides are remembered (:data:`MEASURED`), and a
  later skipped call returns an output with those strides, so the ops after it
  dispatch as they would after the real kernel.  A call that cannot run (operands on
  another device beside meta ones, which only the skipped call tolerated) keeps its
  stand-in output and is charged its own operands read and its result written.

Units: bytes (exact Python integers).
"""
from __future__ import annotations

import torch

from .bytes_moved import call_bytes, touched_bytes

MEASURED: dict[tuple, tuple[int, tuple]] = {}
"""Signature of a composite call -> (bytes its aten ops moved, its output's strides)."""

_SAVE_FP32 = (torch.float32, torch.float16, torch.bfloat16)


def _sig(x):
    if isinstance(x, torch.Tensor):
        return ("T", tuple(x.shape), tuple(x.stride()), x.dtype, x.device.type)
    if isinstance(x, (list, tuple)):
        return tuple(_sig(v) for v in x)
    if x is None or isinstance(x, (bool, int, float, str, torch.dtype)):
        return x
    raise TypeError


def signature(name: str, args, kwargs) -> tuple | None:
    """A hashable key of everything that decides a composite call's bytes, or None."""
    try:
        return (name, _sig(tuple(args)), tuple(sorted((k, _sig(v)) for k, v in kwargs.items())))
    except TypeError:
        return None


def known_bytes(name: str, args: tuple, kwargs: dict, out) -> tuple[int, torch.Tensor] | None:
    """(bytes, output) of a composite call the counter skips (``out``: the skipped call's
    contiguous stand-in output), or None when they are not known (then the call must
    run, see :func:`remember`)."""
    x = args[0] if args else None
    if not isinstance(x, torch.Tensor) or not isinstance(out, torch.Tensor):
        return None
    if x.is_contiguous() and out.is_contiguous():
        if name == "linear" and x.dim() >= 2:
            return call_bytes(args, kwargs, out), out
        if name in ("softmax", "log_softmax") and \
                not any(isinstance(a, torch.dtype) for a in (*args, *kwargs.values())):
            return touched_bytes(x) + touched_bytes(out), out
        if name == "batch_norm" and x.is_meta and x.dim() >= 2 and x.dtype in _SAVE_FP32:
            tensors = {k: v for k, v in kwargs.items() if isinstance(v, torch.Tensor)}
            return call_bytes(args[:5], tensors, out) + 2 * int(x.shape[1]) * 4, out
    key = signature(name, args, kwargs)
    hit = MEASURED.get(key) if key is not None else None
    if hit is None:
        return None
    moved, strides = hit
    if strides != tuple(out.stride()):
        out = torch.empty_strided(out.shape, strides, dtype=out.dtype, device=out.device)
    return moved, out


def remember(name: str, args: tuple, kwargs: dict, moved: int, out) -> None:
    """Keep the bytes a composite call moved when it ran, and its output's strides."""
    key = signature(name, args, kwargs)
    if key is not None and isinstance(out, torch.Tensor):
        MEASURED[key] = (int(moved), tuple(out.stride()))
