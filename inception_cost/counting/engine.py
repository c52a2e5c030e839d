"""Dispatch-level counter: runs a model once (on the meta device by default) and
records one row per executed op, attributed to the innermost module that ran it.

Two interception levels cooperate:

* a ``TorchDispatchMode`` sees every aten op after decomposition (``F.conv2d``,
  ``x + y``, ``torch.cat`` all count the same as modules);
* a ``TorchFunctionMode`` recognises a few composite functions *before* they
  decompose (``linear``, ``batch_norm``, ``local_response_norm``, ``matmul`` ...),
  so each is one row with its documented formula instead of a handful of aten ops.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.weak import WeakTensorKeyDictionary

from .formulas import CONVENTIONS, OpCall

# composite functions counted as one row: torch function -> registry key
COMPOSITE_FUNCTIONS: dict[Any, str] = {
    F.linear: "linear",
    F.batch_norm: "batch_norm",
    torch.batch_norm: "batch_norm",
    F.layer_norm: "layer_norm",
    F.group_norm: "group_norm",
    F.instance_norm: "instance_norm",
    F.local_response_norm: "local_response_norm",
    F.adaptive_avg_pool1d: "adaptive_avg_pool1d",
    F.adaptive_avg_pool2d: "adaptive_avg_pool2d",
    F.adaptive_avg_pool3d: "adaptive_avg_pool3d",
    F.softmax: "softmax",
    F.log_softmax: "log_softmax",
    torch.softmax: "softmax",
    torch.Tensor.softmax: "softmax",
    torch.matmul: "matmul",
    torch.Tensor.matmul: "matmul",
    torch.Tensor.__matmul__: "matmul",
    torch.einsum: "einsum",
}

# composites whose output has the input's shape: on meta they need not run at all
_WEIGHT_OPS = {"convolution", "_convolution", "linear", "addmm"}

_SHAPE_PRESERVING = {"batch_norm", "layer_norm", "group_norm", "instance_norm",
                     "local_response_norm", "softmax", "log_softmax"}

# aten ops that only allocate or re-view memory: never recorded
_SILENT = {
    "empty", "empty_strided", "new_empty", "new_empty_strided", "_unsafe_view", "lift_fresh",
    "detach", "alias", "_local_scalar_dense", "sym_size", "sym_stride", "is_same_size",
    "zeros", "ones", "full", "scalar_tensor", "_to_copy", "to", "set_", "resize_",
}


@dataclass
class OpRecord:
    module: str
    module_type: str
    op: str
    counted: bool
    inplace: bool
    in_shape: tuple | None
    weight_shape: tuple | None
    out_shape: tuple | None
    kernel: tuple | None
    stride: tuple | None
    padding: tuple | None
    dilation: tuple | None
    groups: int | None
    macs: int
    flops: int
    activations: int
    depth: int = 0      # weight layers (conv/linear) on the longest path to this output


class ForwardError(RuntimeError):
    """The model's forward raised; ``module`` is the innermost module running."""

    def __init__(self, module: str, message: str):
        self.module = module or "<top>"
        self.original = message
        super().__init__(f"forward failed in module '{self.module}': {message}")


def _shape(x) -> tuple | None:
    return tuple(int(s) for s in x.shape) if isinstance(x, torch.Tensor) else None


def _tuple(v, nd: int) -> tuple | None:
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        if len(v) == 0:
            return None
        v = tuple(int(x) for x in v)
        return v * nd if len(v) == 1 and nd > 1 else v
    return (int(v),) * nd


def _geometry(key: str, args: tuple, in_shape, w_shape) -> dict:
    """kernel/stride/padding/dilation/groups of convolutions and pools."""
    g = dict(kernel=None, stride=None, padding=None, dilation=None, groups=None)
    if key in ("convolution", "_convolution") and w_shape is not None:
        nd = len(w_shape) - 2
        g.update(kernel=tuple(w_shape[2:]), stride=_tuple(args[3], nd), padding=_tuple(args[4], nd),
                 dilation=_tuple(args[5], nd), groups=int(args[8]))
    elif "pool" in key and in_shape is not None and not key.startswith(("adaptive", "_adaptive")):
        nd = 3 if "3d" in key else 1 if "1d" in key else 2
        k = _tuple(args[1] if len(args) > 1 else None, nd)
        s = _tuple(args[2] if len(args) > 2 else None, nd) or k
        p = _tuple(args[3] if len(args) > 3 else 0, nd)
        d = _tuple(args[4], nd) if key.startswith("max") and len(args) > 4 else None
        g.update(kernel=k, stride=s, padding=p, dilation=d)
    return g


def _flat_outputs(out) -> list:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [o for o in out if isinstance(o, torch.Tensor)]
    return []


class _Recorder:
    def __init__(self, convention: str, names: dict[int, str]):
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown convention '{convention}' (choose from {sorted(CONVENTIONS)})")
        self.formulas = CONVENTIONS[convention]
        self.native = CONVENTIONS["native"]
        self.names = names
        self.stack: list[nn.Module] = []
        self.rows: list[OpRecord] = []
        self.inside_composite = 0
        self.depth = WeakTensorKeyDictionary()
        self.last_depth = 0

    # module attribution --------------------------------------------------
    def current(self) -> tuple[str, str]:
        for mod in reversed(self.stack):
            name = self.names.get(id(mod))
            if name is not None:
                return name, type(mod).__name__
        return "", "(top)"

    def propagate(self, key: str, args, out) -> int:
        """Longest path in weight layers: max over tensor inputs, +1 for conv/linear."""
        d = 0
        for a in args:
            items = a if isinstance(a, (list, tuple)) else (a,)
            for t in items:
                if isinstance(t, torch.Tensor):
                    d = max(d, self.depth.get(t, 0))
        if key in _WEIGHT_OPS:
            d += 1
        for o in _flat_outputs(out):
            self.depth[o] = d
        self.last_depth = d
        return d

    def record(self, key: str, args: tuple, kwargs: dict, out, inplace: bool) -> None:
        in_shapes = [_shape(a) for a in args]
        outs = _flat_outputs(out)
        out_shapes = [_shape(o) for o in outs[:1]]
        shapes_args = tuple(_shape(a) if isinstance(a, torch.Tensor) else a for a in args)
        call = OpCall(key, in_shapes, out_shapes, shapes_args, dict(kwargs))
        fn = self.formulas.get(key)
        counted = key in self.native or key in self.formulas
        cost = fn(call) if fn is not None else None
        module, mtype = self.current()
        in_shape = in_shapes[0] if in_shapes else None
        if key in ("addmm", "baddbmm"):
            in_shape = in_shapes[1]
        w_shape = None
        if key in ("convolution", "_convolution", "linear", "batch_norm"):
            w_shape = in_shapes[1] if key != "batch_norm" else (in_shapes[3] if len(in_shapes) > 3 else None)
        elif key == "addmm":
            w_shape = in_shapes[2]
        act = 0 if inplace else sum(math.prod(o.shape) for o in outs[:1])
        geo = _geometry(key, shapes_args, in_shape, w_shape)
        self.rows.append(OpRecord(
            module=module, module_type=mtype, op=key, counted=counted, inplace=inplace,
            in_shape=in_shape, weight_shape=w_shape, out_shape=out_shapes[0] if out_shapes else None,
            macs=cost.macs if cost else 0, flops=cost.flops if cost else 0, activations=int(act),
            depth=self.last_depth, **geo))


class _FunctionMode(TorchFunctionMode):
    def __init__(self, rec: _Recorder):
        super().__init__()
        self.rec = rec

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        key = COMPOSITE_FUNCTIONS.get(func)
        if key is None or self.rec.inside_composite:
            return func(*args, **kwargs)
        self.rec.inside_composite += 1
        try:
            x = args[0] if args else None
            if key in _SHAPE_PRESERVING and isinstance(x, torch.Tensor) and x.is_meta:
                # values don't exist on meta: skip the (slow, Python-decomposed) meta kernel
                out = torch.empty_like(x)
            else:
                out = func(*args, **kwargs)
        finally:
            self.rec.inside_composite -= 1
        self.rec.propagate(key, args, out)
        args = _normalise(key, func, args, kwargs)
        extra = {}
        if key in ("batch_norm", "layer_norm", "group_norm", "instance_norm"):
            extra["_has_affine"] = _affine(key, args, kwargs)
            if key == "batch_norm" and func is torch.batch_norm:
                # torch.batch_norm(input, weight, bias, mean, var, training, ...)
                args = (args[0], args[3], args[4], args[1], args[2], *args[5:])
        if key == "batch_norm" and "training" in kwargs:
            args = tuple(args[:5]) + (kwargs["training"],) + tuple(args[6:])
        self.rec.record(key, tuple(args), {**{k: v for k, v in kwargs.items() if not isinstance(v, torch.Tensor)}, **extra}, out, False)
        return out


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


class _DispatchMode(TorchDispatchMode):
    def __init__(self, rec: _Recorder):
        super().__init__()
        self.rec = rec

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.rec.inside_composite:
            return out
        name = func.overloadpacket.__name__
        self.rec.propagate(name, args, out)
        if name in _SILENT or getattr(func, "is_view", False):
            return out
        inplace = name.endswith("_") or (
            bool(args) and isinstance(out, torch.Tensor) and isinstance(args[0], torch.Tensor)
            and out is args[0])
        self.rec.record(name, tuple(args), kwargs, out, inplace)
        return out


def run_counted(model: nn.Module, inputs: tuple, convention: str = "native") -> list[OpRecord]:
    """Run ``model(*inputs)`` once under the counters; return one record per op."""
    names = {id(m): n for n, m in model.named_modules()}
    rec = _Recorder(convention, names)

    def pre(mod, _args):
        rec.stack.append(mod)

    def post(mod, _args, _out):
        if rec.stack and rec.stack[-1] is mod:
            rec.stack.pop()

    h1 = nn.modules.module.register_module_forward_pre_hook(pre)
    h2 = nn.modules.module.register_module_forward_hook(post)
    try:
        with torch.no_grad(), _FunctionMode(rec), _DispatchMode(rec):
            try:
                model(*inputs)
            except Exception as exc:  # noqa: BLE001 - re-raised with the module path
                module, _ = rec.current()
                raise ForwardError(module, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    finally:
        h1.remove()
        h2.remove()
    return rec.rows
