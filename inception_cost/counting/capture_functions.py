"""The torch-function half of the op capture: composite functions seen before they
decompose, reported to the capture's consumers (:class:`FunctionCapture`).

A few composite functions (``F.linear``, ``F.batch_norm``, ``F.layer_norm``,
``F.scaled_dot_product_attention``, ``torch.matmul``, ``torch.einsum`` ... see
:data:`COMPOSITE_FUNCTIONS`) are one unit of work with one documented formula, though
they dispatch a handful of aten ops.  :class:`FunctionCapture`, the one
``TorchFunctionMode`` owned by an :class:`~.capture.OpCapture`, runs each of them and
hands consumers with ``on_function(call)`` one :class:`FunctionCall`: the function, its
registry key, its arguments normalised to the order the formula expects, its output, and
the bytes its aten ops moved.  While it runs, its aten ops still reach every consumer's
``on_call`` (``capture.functions.depth`` is then above 0).

Meta shortcut.  On the meta device with no gradient needed, and when no consumer must see
every storage (:attr:`.capture.OpCapture.shortcuts_allowed`), a composite whose output
shape is known need not run its (slow, Python-decomposed) meta kernel: a stand-in output
takes its place, and its bytes come from :mod:`.composite_bytes` (measured once per call
signature).  ``call.shortcut`` is True when the function did not run.

Regions.  A consumer may also pass ``function_region(func, args, kwargs)``: called for
every torch function call outside a composite, it returns ``None`` or a context manager
the call then runs inside, as its plain aten ops (no composite report) -- the counter's
fvcore convention keeps the work of functions fvcore skips apart this way.

Units: bytes (exact Python integers).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from .composite_bytes import known_bytes, remember
from .bytes_moved import call_bytes
from .registry import key_name

aten = torch.ops.aten

# composite functions reported as one call: torch function -> registry key (its aten op;
# a documented string only for a function with no aten op)
COMPOSITE_FUNCTIONS: dict[Any, Any] = {
    F.linear: aten.linear,
    F.batch_norm: aten.batch_norm,
    torch.batch_norm: aten.batch_norm,
    F.layer_norm: aten.layer_norm,
    F.group_norm: aten.group_norm,
    F.instance_norm: aten.instance_norm,
    F.local_response_norm: "local_response_norm",
    F.adaptive_avg_pool1d: aten.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d: aten.adaptive_avg_pool2d,
    F.adaptive_avg_pool3d: aten.adaptive_avg_pool3d,
    F.softmax: aten.softmax,
    F.log_softmax: aten.log_softmax,
    torch.softmax: aten.softmax,
    torch.Tensor.softmax: aten.softmax,
    torch.matmul: aten.matmul,
    torch.Tensor.matmul: aten.matmul,
    torch.Tensor.__matmul__: aten.matmul,
    torch.einsum: aten.einsum,
    # one call on every device, before it picks a kernel (math path, CPU or CUDA fused kernel)
    F.scaled_dot_product_attention: aten.scaled_dot_product_attention,
}

# composites whose output has the input's shape: on meta (no grad) they need not run at all
_SHAPE_PRESERVING = {"batch_norm", "layer_norm", "group_norm", "instance_norm",
                     "local_response_norm", "softmax", "log_softmax"}


class FunctionCall:
    """One composite function call, as handed to ``on_function`` (valid during the call only).

    ``func``: the torch function; ``key``: its registry key (aten op or documented name);
    ``name``: the key's name; ``args``: its arguments in the formula's order (tensors
    live); ``kwargs``: its scalar keyword arguments, plus ``_has_affine`` for the norms;
    ``raw_args``: the arguments as called; ``out``: its output (the stand-in when
    ``shortcut``); ``shortcut``: True when a stand-in took the place of running it;
    ``bytes``: bytes its aten ops moved (measured, remembered or, for a stand-in that could
    not be measured, its own operands read and result written); ``phase``: the capture's."""

    __slots__ = ("func", "key", "name", "args", "kwargs", "raw_args", "out", "shortcut",
                 "bytes", "phase")

    def __init__(self, func, key, name, args, kwargs, raw_args, out, shortcut, moved, phase):
        self.func, self.key, self.name = func, key, name
        self.args, self.kwargs, self.raw_args, self.out = args, kwargs, raw_args, out
        self.shortcut, self.bytes, self.phase = shortcut, moved, phase


class FunctionCapture(TorchFunctionMode):
    """The ``TorchFunctionMode`` of an :class:`~.capture.OpCapture` (see the module
    docstring); entered by the capture when one of its consumers has ``on_function``.

    ``depth``: composites running now (their aten ops are inside one); ``moved``: bytes
    the aten ops run inside composites moved so far (the capture adds them)."""

    def __init__(self, capture):
        super().__init__()
        self.capture = capture
        self.depth = 0
        self.moved = 0
        self.listeners: list = []
        self.regions: list = []

    def start(self, consumers) -> bool:
        """Collect the consumers' hooks; True when any wants function calls."""
        self.listeners = [f for f in (getattr(c, "on_function", None) for c in consumers) if f]
        self.regions = [f for f in (getattr(c, "function_region", None) for c in consumers) if f]
        return bool(self.listeners or self.regions)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        busy = self.depth or self.capture.opaque_depth
        if not busy:
            for hook in self.regions:
                region = hook(func, args, kwargs)
                if region is not None:
                    with region:
                        return func(*args, **kwargs)
        key = COMPOSITE_FUNCTIONS.get(func)
        if key is None or busy:
            return func(*args, **kwargs)
        name = key_name(key)
        self.depth += 1
        before = self.moved
        stood_in = False
        try:
            out = None
            shortcut = (_meta_shortcut(name, args, kwargs) if self.capture.shortcuts_allowed
                        else None)
            if shortcut is not None:
                known = known_bytes(name, args, kwargs, shortcut)
                if known is not None:    # else run it (once per call signature)
                    # (with the bytes of making the stand-in, if any)
                    moved, out, stood_in = self.moved - before + known[0], known[1], True
            if out is None and shortcut is not None:
                try:
                    out = func(*args, **kwargs)
                    moved = self.moved - before
                    if name == "scaled_dot_product_attention":
                        # bytes: meta's own (math) path; the output: the fused CPU/CUDA
                        # kernels' layout, so what follows runs as it does there
                        out = shortcut
                    remember(name, args, kwargs, moved, out)
                except Exception:  # noqa: BLE001 - it never had to run: keep the stand-in
                    # (operands only meta tolerates, e.g. a CPU weight beside meta inputs):
                    # its own operands read and its result written
                    moved, out, stood_in = call_bytes(args, kwargs, shortcut), shortcut, True
            elif out is None:
                out = func(*args, **kwargs)
                moved = self.moved - before
        finally:
            self.depth -= 1
            if not self.depth:
                self.moved = 0
        normal = _normalise(name, func, args, kwargs)
        extra = {}
        if name in ("batch_norm", "layer_norm", "group_norm", "instance_norm"):
            extra["_has_affine"] = _affine(name, normal, kwargs)
            if name == "batch_norm" and func is torch.batch_norm:
                # torch.batch_norm(input, weight, bias, mean, var, training, ...)
                normal = (normal[0], normal[3], normal[4], normal[1], normal[2], *normal[5:])
        if name == "batch_norm" and "training" in kwargs:
            normal = tuple(normal[:5]) + (kwargs["training"],) + tuple(normal[6:])
        scalars = {k: v for k, v in kwargs.items() if not isinstance(v, torch.Tensor)}
        call = FunctionCall(func, key, name, tuple(normal), {**scalars, **extra}, args, out,
                            stood_in, moved, self.capture.current_phase)
        for hook in self.listeners:
            hook(call)
        return out


def _needs_grad(args) -> bool:
    if not torch.is_grad_enabled():
        return False
    for a in args:
        if isinstance(a, torch.Tensor) and a.requires_grad:
            return True
    return False


def _meta_shortcut(name: str, args: tuple, kwargs: dict):
    """The output of a composite on meta tensors without running its (slow, Python-decomposed)
    meta kernel, when its shape is known; ``None`` when the composite must run."""
    x = args[0] if args else None
    if not isinstance(x, torch.Tensor) or not x.is_meta or _needs_grad((*args, *kwargs.values())):
        return None
    if name in _SHAPE_PRESERVING:
        return torch.empty_like(x)
    if name == "linear":
        w = args[1] if len(args) > 1 else kwargs.get("weight")
        b = args[2] if len(args) > 2 else kwargs.get("bias")
        if (isinstance(w, torch.Tensor) and w.dim() == 2 and x.dim() >= 1 and w.dtype == x.dtype
                and x.shape[-1] == w.shape[1] and w.is_meta
                and (b is None or (isinstance(b, torch.Tensor) and b.is_meta and b.dtype == x.dtype
                                   and b.dim() <= 1 and (b.dim() == 0 or b.shape[0] in (1, w.shape[0]))))):
            return torch.empty((*x.shape[:-1], w.shape[0]), dtype=x.dtype, device="meta")
    if name == "scaled_dot_product_attention":     # out: (..., L, Ev) of q's batch and heads
        k = args[1] if len(args) > 1 else kwargs.get("key")
        v = args[2] if len(args) > 2 else kwargs.get("value")
        if (isinstance(k, torch.Tensor) and isinstance(v, torch.Tensor) and k.is_meta and v.is_meta
                and k.dtype == v.dtype == x.dtype and x.dim() == k.dim() == v.dim() >= 2
                and x.shape[-1] == k.shape[-1] and k.shape[-2] == v.shape[-2]
                and x.shape[:-2] == k.shape[:-2] == v.shape[:-2]):
            if x.dim() == 4:   # (N, heads, L, Ev) in the fused CPU/CUDA kernels' layout,
                n, h, length = x.shape[:3]   # (N, L, heads, Ev) memory: as the CPU count
                return torch.empty((n, length, h, v.shape[-1]), dtype=x.dtype,
                                   device="meta").transpose(1, 2)
            return torch.empty((*x.shape[:-1], v.shape[-1]), dtype=x.dtype, device="meta")
    return None


def _affine(key, args, kwargs) -> bool:
    weight_pos = {"batch_norm": 3, "layer_norm": 2, "group_norm": 2, "instance_norm": 3}[key]
    w = args[weight_pos] if len(args) > weight_pos else kwargs.get("weight")
    return w is not None


def _normalise(key, func, args, kwargs) -> tuple:
    """Put a composite call's arguments in the order its formula expects."""
    args = tuple(args)
    if key == "einsum":
        eq, *ops = args
        if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
            ops = list(ops[0])
        return (eq, *ops)
    if key == "linear" and len(args) < 3:
        return (*args, kwargs.get("bias"))[:3]
    if key == "scaled_dot_product_attention":    # aten's order; the mask may be a kwarg
        names = ("attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
        defaults = (None, 0.0, False, None, False)
        return args + tuple(kwargs.get(n, d) for n, d in zip(names, defaults))[len(args) - 3:]
    if key == "local_response_norm" and len(args) < 2:
        return (args[0], kwargs["size"])
    if key.startswith("adaptive") and len(args) < 2:
        return (args[0], kwargs["output_size"])
    if key == "batch_norm" and func is F.batch_norm and len(args) < 6:
        names = ["input", "running_mean", "running_var", "weight", "bias", "training"]
        full = list(args) + [kwargs.get(n) for n in names[len(args):]]
        full[5] = bool(full[5])
        return tuple(full)
    return args
