"""Dispatch-level counter: runs a model once (on the meta device by default) and
records one row per executed op, attributed to the innermost module that ran it.

Two interception levels cooperate:

* the op capture (:class:`~.capture.OpCapture`, the one ``TorchDispatchMode`` every
  analysis reads) hands every aten op after decomposition to the :class:`Recorder`, one
  of its consumers (``F.conv2d``, ``x + y``, ``torch.cat`` all count the same as modules);
* the capture's ``TorchFunctionMode`` (:mod:`.capture_functions`) recognises a few
  composite functions *before* they decompose (``linear``, ``batch_norm``,
  ``local_response_norm``, ``matmul`` ...) and hands each to the recorder's
  :meth:`Recorder.on_function`, so each is one row with its documented formula instead of
  a handful of aten ops.

Entry points: :func:`run_counted` (one inference forward under ``torch.no_grad()``)
and :func:`counting` / :func:`run_callable` (anything, grad mode as the caller set it,
e.g. forward + ``loss.backward()`` + ``optimizer.step()``).  Every :class:`OpRecord`
carries its phase ("forward", "backward", "optimizer", set with ``Recorder.phase``)
and the module it is attributed to: the innermost module whose forward is running,
else the module the caller named for the phase (backward ops run outside any forward).
Formulas come from :mod:`inception_cost.counting.registry`, keyed by ``torch.ops`` ops.
"""
from __future__ import annotations

import math
from weakref import ref as _ref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import formulas as _formulas  # noqa: F401 - registers the built-in formulas
from .bytes_moved import call_bytes
from .capture import CaptureConsumer, OpCapture, module_names  # noqa: F401 - module_names public here
from .capture_functions import COMPOSITE_FUNCTIONS  # noqa: F401 - public here too
from .op_event import OPTIMIZER_OPS  # one table for the events and the counter
from .higher_order import eager_higher_order_ops
from .output_tensors import output_tensors
from .model_errors import ForwardError, model_forward  # noqa: F401 - ForwardError public here
from .meta_fast import MetaFastMode  # noqa: F401 - public here too
from .registry import (BACKWARD, CONVENTIONS, NAMES, Formula, OpCall, key_name, lookup, overrides,
                       split_of)

aten = torch.ops.aten

CONV_OPS = frozenset({"convolution", "_convolution", "convolution_overrideable", "cudnn_convolution",
                      "mkldnn_convolution", "conv1d", "conv2d", "conv3d", "_convolution_mode",
                      "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"})
# ops that add one weight layer to the longest path (the ``depth`` column): the registry's
# ``weight_layer`` entries (a live set of op names)
_WEIGHT_OPS = NAMES["weight_layer"]

# aten ops that only allocate or re-view memory: never recorded
_SILENT = {
    "empty", "empty_strided", "new_empty", "new_empty_strided", "_unsafe_view", "lift_fresh",
    "detach", "alias", "_local_scalar_dense", "sym_size", "sym_stride", "is_same_size",
    "zeros", "ones", "full", "scalar_tensor", "_to_copy", "to", "set_", "resize_",
}

PHASES = ("forward", "backward", "optimizer")


# functions fvcore's tracer records as one op it has no handle for (so it counts them 0);
# in the fvcore convention their work is kept apart, see Recorder.blind
FVCORE_BLIND: dict[Any, str] = {
    F.scaled_dot_product_attention: "scaled_dot_product_attention",
    torch.baddbmm: "baddbmm", torch.Tensor.baddbmm: "baddbmm",
    torch.bilinear: "bilinear",
    torch.lstm: "lstm", torch.gru: "gru", torch.rnn_tanh: "rnn_tanh", torch.rnn_relu: "rnn_relu",
    torch.lstm_cell: "lstm_cell", torch.gru_cell: "gru_cell",
    torch.rnn_tanh_cell: "rnn_tanh_cell", torch.rnn_relu_cell: "rnn_relu_cell",
}
_CONV_FUNCTIONS = {F.conv1d, F.conv2d, F.conv3d}


# aten ops that reach the dispatcher only from an op fvcore skips (so, met outside a skipped
# call -- e.g. inside F.multi_head_attention_forward, whose inner calls the function mode
# cannot see -- each is one skipped op of its own): the registry's ``fvcore_skips`` entries
FVCORE_BLIND_KERNELS = NAMES["fvcore_skips"]
# what SDPA's math path (the meta and fallback path) dispatches, for an SDPA inside
# nn.MultiheadAttention(need_weights=False)
_SDPA_MATH_OPS = frozenset({"bmm", "_safe_softmax", "_softmax", "baddbmm"})


def _mha_needs_weights(args, kwargs) -> bool:
    """need_weights of an F.multi_head_attention_forward call (position 15, default True)."""
    if "need_weights" in kwargs:
        return bool(kwargs["need_weights"])
    return bool(args[15]) if len(args) > 15 else True


def fvcore_blind_name(func, args, kwargs) -> str:
    """The op fvcore would see and skip for this torch function call, or ''."""
    name = FVCORE_BLIND.get(func)
    if name:
        return name
    if func in _CONV_FUNCTIONS:
        padding = args[4] if len(args) > 4 else kwargs.get("padding")
        if isinstance(padding, str):          # padding='same'/'valid' -> aten::_convolution_mode
            return "_convolution_mode"
    return ""


@dataclass
class OpRecord:
    """One executed op. Shapes are integer tuples (``None`` when absent); units: macs
    (multiply-accumulates), flops (floating-point operations), activations (elements)."""

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
    phase: str = "forward"
    blind: int = 0      # fvcore convention: the id (1, 2, ...) of the enclosing op fvcore skips
    blind_op: str = ""  # ... its name (e.g. "scaled_dot_product_attention")
    blind_macs: int = 0  # ... and this row's native MACs, which fvcore does not count
    callers: tuple = ()  # paths of every named module whose forward was running, outer first
    qualified: str = ""  # the op's full name, e.g. "aten::convolution"
    bytes: int = 0       # bytes moved: read + written by the aten ops of this row (bytes_moved)


def _shape(x) -> tuple | None:
    return tuple(x.shape) if isinstance(x, torch.Tensor) else None   # torch.Size holds ints


def _tuple(v, nd: int) -> tuple | None:
    if v is None or isinstance(v, str):
        return None
    if isinstance(v, (list, tuple)):
        if len(v) == 0:
            return None
        v = tuple(int(x) for x in v)
        return v * nd if len(v) == 1 and nd > 1 else v
    return (int(v),) * nd


# positions of (stride, padding, dilation, groups) in each convolution op's arguments
_CONV_ARGS = {
    "convolution": (3, 4, 5, 8), "_convolution": (3, 4, 5, 8), "convolution_overrideable": (3, 4, 5, 8),
    "conv1d": (3, 4, 5, 6), "conv2d": (3, 4, 5, 6), "conv3d": (3, 4, 5, 6), "_convolution_mode": (3, 4, 5, 6),
    "conv_transpose1d": (3, 4, 7, 6), "conv_transpose2d": (3, 4, 7, 6), "conv_transpose3d": (3, 4, 7, 6),
    "cudnn_convolution": (3, 2, 4, 5), "mkldnn_convolution": (4, 3, 5, 6),
}


def _at(args: tuple, i: int, default):
    return args[i] if len(args) > i and args[i] is not None else default


def _geometry(key: str, args: tuple, in_shape, w_shape) -> dict:
    """kernel/stride/padding/dilation/groups of convolutions and pools (integer tuples)."""
    g = dict(kernel=None, stride=None, padding=None, dilation=None, groups=None)
    if key in _CONV_ARGS and w_shape is not None:
        nd = len(w_shape) - 2
        si, pi, di, gi = _CONV_ARGS[key]
        g.update(kernel=tuple(w_shape[2:]), stride=_tuple(_at(args, si, 1), nd),
                 padding=_tuple(_at(args, pi, 0), nd), dilation=_tuple(_at(args, di, 1), nd),
                 groups=int(_at(args, gi, 1)))
    elif "pool" in key and in_shape is not None and not key.startswith(("adaptive", "_adaptive")):
        nd = 3 if "3d" in key else 1 if "1d" in key else 2
        k = _tuple(args[1] if len(args) > 1 else None, nd)
        s = _tuple(args[2] if len(args) > 2 else None, nd) or k
        p = _tuple(args[3] if len(args) > 3 else 0, nd)
        d = _tuple(args[4], nd) if key.startswith("max") and len(args) > 4 else None
        g.update(kernel=k, stride=s, padding=p, dilation=d)
    return g


def _key_facts(key) -> tuple:
    """Facts of a registry key a row needs, fixed per key: (short name, qualified name,
    geometry kind "conv"/"pool"/None, position of the input shape, position of the weight
    shape or None, True when the weight position must exist)."""
    name = key_name(key)
    geo = None
    if name in _CONV_ARGS:
        geo = "conv"
    elif "pool" in name and not name.startswith(("adaptive", "_adaptive")):
        geo = "pool"
    in_pos = 1 if name in ("addmm", "baddbmm") else 0
    if name in CONV_OPS or name == "linear":
        w_pos, w_needed = 1, True
    elif name == "batch_norm":
        w_pos, w_needed = 3, False
    elif name == "addmm":
        w_pos, w_needed = 2, True
    else:
        w_pos, w_needed = None, False
    return name, getattr(key, "_qualified_op_name", name), geo, in_pos, w_pos, w_needed


_NO_GEOMETRY = dict(kernel=None, stride=None, padding=None, dilation=None, groups=None)


class TensorDepths:
    """{tensor: weight layers on the longest path to it}, by tensor identity, keeping no
    tensor alive (as ``WeakTensorKeyDictionary``, without its per-lookup key objects):
    ``by_id`` maps ``id(t)`` to ``(weakref to t, depth)``; an entry whose tensor died is
    ignored (its id may belong to a new tensor)."""

    __slots__ = ("by_id",)

    def __init__(self):
        self.by_id: dict[int, tuple] = {}

    def get(self, t: torch.Tensor, default: int = 0) -> int:
        e = self.by_id.get(id(t))
        return e[1] if e is not None and e[0]() is t else default

    def __setitem__(self, t: torch.Tensor, depth: int) -> None:
        self.by_id[id(t)] = (_ref(t), depth)


class Recorder(CaptureConsumer):
    """Collects one :class:`OpRecord` per executed op: the counting consumer of an
    :class:`~.capture.OpCapture` (see :meth:`on_call`).

    Attribution: the innermost named module whose forward is running (the capture's
    module stack); when none is (an optimizer step) the module set with :meth:`phase`
    (default ``""``, the top).  In backward, once the capture tracks autograd
    (:meth:`~.capture.OpCapture.track_autograd`), each op is charged by the capture's
    autograd attribution and how its cost splits into input/weight gradient is kept in
    :attr:`grad_parts`.  Every record carries the current phase (the capture's)."""

    def __init__(self, convention: str = "native", names: dict[int, str] | None = None,
                 formulas: dict | None = None, capture: OpCapture | None = None):
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown convention '{convention}' (choose from {sorted(CONVENTIONS)})")
        self.convention = convention
        self.table = CONVENTIONS[convention]
        self.native = CONVENTIONS["native"]
        self.extra = overrides(formulas)
        self.names = names or {}
        self.types: dict[str, str] = {}
        self.capture = capture if capture is not None else OpCapture(mha_fastpath=None)
        self.rows: list[OpRecord] = []
        self.recording = True     # False: ops the capture hands over are not this count's
        self.grad_parts: dict[int, tuple] = {}   # backward row -> (part or GradCost, weight module)
        self.inside_composite = 0                # higher-order ops running unobserved
        self.depth = TensorDepths()
        self.last_depth = 0
        self._module: str | None = None          # backward: the module the capture charged
        # fvcore convention: work inside ops fvcore skips is recorded at 0 with its native MACs
        self._callers: tuple | None = ()
        self._callers_version = -1
        self.track_blind = convention == "fvcore"
        if self.track_blind:
            self.function_region = self._fvcore_region
        self.blind = 0
        self.blind_op = ""
        self.blind_calls = 0
        self.sdpa_region = False    # inside nn.MultiheadAttention(need_weights=False)
        self.sdpa_id = 0
        # bytes moved (see bytes_moved): of the ops making up the next row, and of
        # unrecorded ops (fills, copies) that go with the next row
        self.pending_bytes = 0
        self.carry_bytes = 0
        # per phase: {key: (formula or None, counted)}; per key: _key_facts; per phase:
        # {OpOverload: runs as its decomposition} (the static part of wants_decomposition)
        self._costs: dict[str, dict] = {p: {} for p in PHASES}
        self._keys: dict = {}
        self._decomposes: dict[str, dict] = {p: {} for p in PHASES}

    # phase and attribution ------------------------------------------------
    @property
    def current_phase(self) -> str:
        """The capture's phase: "forward", "backward" or "optimizer"."""
        return self.capture.current_phase

    @property
    def phase_module(self) -> str | None:
        return self.capture.phase_module

    @property
    def stack(self) -> list:
        """The capture's stack of modules whose forward is running (outer first)."""
        return self.capture.stack

    def set_phase(self, phase: str, module: str | None = None) -> None:
        """Label the following records with ``phase``; ops run outside any module's
        forward are attributed to ``module`` (a module path, "" for the top)."""
        self.capture.set_phase(phase, module)

    def phase(self, phase: str, module: str | None = None):
        """Context manager form of :meth:`set_phase`; restores the previous phase on exit."""
        return self.capture.phase(phase, module)

    def current(self) -> tuple[str, str]:
        if self._module is not None:
            return self._module, self.types.get(self._module, "")
        for mod in reversed(self.capture.stack):
            name = self.names.get(id(mod))
            if name is not None:
                return name, type(mod).__name__
        if self.phase_module:
            return self.phase_module, self.types.get(self.phase_module, "")
        return "", "(top)"

    def callers(self) -> tuple:
        """Paths of the named modules on the stack (outer first), cached until it changes."""
        version = self.capture.stack_version
        if self._callers_version != version:
            seen = [self.names[id(m)] for m in self.capture.stack if id(m) in self.names]
            if not seen and self.phase_module:
                seen = [self.phase_module]
            self._callers = tuple(dict.fromkeys(seen))
            self._callers_version = version
        return self._callers

    def formula(self, key) -> Formula | None:
        """The formula for a call of ``key`` now (per-call entry first; the backward formula
        inside ``loss.backward()``)."""
        return self._cost(key, self.capture.current_phase)[0]

    def is_counted(self, key) -> bool:
        return self._cost(key, self.capture.current_phase)[1]

    def _cost(self, key, phase: str) -> tuple:
        """(formula or None, counted) of a call of ``key`` in ``phase``, cached per key."""
        by_key = self._costs[phase]
        got = by_key.get(key)
        if got is None:
            got = by_key[key] = (self._formula(key, phase), self._counted(key, phase))
        return got

    def _formula(self, key, phase: str) -> Formula | None:
        if phase == "optimizer" and key in OPTIMIZER_OPS:
            return OPTIMIZER_OPS[key]
        extra = self.extra
        if extra and key in extra:
            return extra[key].cost(phase)
        if phase == "backward" and self.convention == "native":
            return BACKWARD.get(key)
        return self.table.get(key)

    def _counted(self, key, phase: str) -> bool:
        return (key in self.extra or key in self.table or key in self.native
                or (phase == "optimizer" and key in OPTIMIZER_OPS))

    def _blind_kernel(self, name: str) -> tuple[int, str]:
        """fvcore convention, outside a skipped call: is this dispatched op one fvcore skips?"""
        if self.sdpa_region and name in _SDPA_MATH_OPS | FVCORE_BLIND_KERNELS:
            if not self.sdpa_id:
                self.blind_calls += 1
                self.sdpa_id = self.blind_calls
            return self.sdpa_id, "scaled_dot_product_attention"
        if name in FVCORE_BLIND_KERNELS:
            self.blind_calls += 1
            return self.blind_calls, name
        return 0, ""

    def propagate(self, key: str, args, out) -> int:
        """Longest path in weight layers: max over tensor inputs, +1 for conv/linear.  A
        forward notion: skipped (0) in a backward attributed through autograd."""
        if self._attributed():
            return 0
        return self._propagate(key, args, out)

    def _propagate(self, key: str, args, out) -> int:
        d = 0
        depth = self.depth.by_id
        Tensor = torch.Tensor
        for a in args:
            if isinstance(a, Tensor):
                e = depth.get(id(a))
                if e is not None and e[1] > d and e[0]() is a:
                    d = e[1]
            elif isinstance(a, (list, tuple)):
                for t in a:
                    if isinstance(t, Tensor):
                        e = depth.get(id(t))
                        if e is not None and e[1] > d and e[0]() is t:
                            d = e[1]
        if key in _WEIGHT_OPS:
            d += 1
        if isinstance(out, Tensor):
            depth[id(out)] = (_ref(out), d)
        else:
            for o in output_tensors(out):
                depth[id(o)] = (_ref(o), d)
        self.last_depth = d
        return d

    # the consumer ---------------------------------------------------------
    def wants_decomposition(self, func, packet, name: str) -> bool:
        """The capture's ``decompose`` policy: an op with no formula (and not a view or
        silent) runs as its decomposition -- its CompositeImplicitAutograd kernel
        (``OpOverload.decompose``, as ``torch.utils.flop_counter.FlopCounterMode`` does) or a
        ``torch._decomp`` entry -- so its work is the counted ops it decomposes into; an op
        with neither is recorded as uncounted."""
        if self.inside_composite or self.blind or self.capture.functions.depth:
            return False
        phase = self.capture.current_phase
        by_func = self._decomposes[phase]
        wants = by_func.get(func)
        if wants is None:
            wants = by_func[func] = (packet not in self.table and not self._cost(packet, phase)[1]
                                     and name not in _SILENT and not func.is_view)
        return wants

    def checkpoint(self) -> int:
        return len(self.rows)

    def rollback(self, mark: int) -> None:
        del self.rows[mark:]

    def opaque(self, entering: bool) -> None:
        """A higher-order op runs unobserved: its inner torch functions are not rows."""
        self.inside_composite += 1 if entering else -1

    def _attributed(self) -> bool:
        return self.capture.node_map is not None and self.current_phase == "backward"

    def on_call(self, call) -> None:
        """One aten op from the capture: a row (with its bytes moved), or bytes carried to
        the next row (views, silent ops, the aten ops inside a composite row)."""
        if call.decomposed or not self.recording:     # a decomposed op: its sub-ops were the rows
            return
        func, name, args, kwargs, out = call.func, call.name, call.args, call.kwargs, call.out
        cap = self.capture
        attributed = cap.node_map is not None and cap.current_phase == "backward"
        if call.higher_order:
            self.propagate(name, args, out)
            if attributed:
                self._record_backward(func, tuple(args), kwargs, out, False)
            else:
                self.record(func, tuple(args), kwargs, out, False)
            return
        if cap.functions.depth:
            return    # an aten op of a composite row: its bytes come with on_function
        moved = 0 if call.free else call_bytes(args, kwargs, out)
        if self.inside_composite:
            self.pending_bytes += moved
            return
        if not attributed:              # depth: a forward notion (see propagate)
            self._propagate(name, args, out)
        if name in _SILENT or func.is_view:
            self.carry_bytes += moved
            return
        self.pending_bytes += moved
        inplace = name.endswith("_") or (
            bool(args) and isinstance(out, torch.Tensor) and out is args[0])
        if attributed:
            self._record_backward(call.packet, tuple(args), kwargs, out, inplace)
        elif call.optimizer_module is not None and not cap.phase_module:
            self._module = call.optimizer_module
            try:
                self.record(call.packet, tuple(args), kwargs, out, inplace)
            finally:
                self._module = None
        else:
            self.record(call.packet, tuple(args), kwargs, out, inplace)

    def on_function(self, call) -> None:
        """One composite function from the capture (:mod:`.capture_functions`): one row with
        its formula; its bytes are those of the aten ops it ran (or would have run)."""
        if call.shortcut or self.recording:
            self.pending_bytes += call.bytes
        self.propagate(call.name, call.raw_args, call.out)
        self.record(call.key, call.args, call.kwargs, call.out, False)

    def _fvcore_region(self, func, args, kwargs):
        """fvcore convention: a torch function fvcore records as one op it skips (its work
        kept apart as blind rows), or the MHA forward whose attention is one; else None."""
        if self.blind or self.inside_composite:
            return None
        blind = fvcore_blind_name(func, args, kwargs)
        if blind:
            return self._blind_call(blind)
        if func is F.multi_head_attention_forward and not _mha_needs_weights(args, kwargs):
            # its attention is an SDPA call fvcore skips; its projections it counts
            return self._sdpa_region()
        return None

    @contextmanager
    def _blind_call(self, blind: str):
        self.blind_calls += 1
        self.blind, self.blind_op = self.blind_calls, blind
        try:
            yield
        finally:
            self.blind, self.blind_op = 0, ""

    @contextmanager
    def _sdpa_region(self):
        self.sdpa_region, self.sdpa_id = True, 0
        try:
            yield
        finally:
            self.sdpa_region, self.sdpa_id = False, 0

    def _record_backward(self, key, args: tuple, kwargs: dict, out, inplace: bool) -> None:
        """A backward op charged by the capture's autograd attribution; how its cost splits
        into input- and weight-gradient work is kept in :attr:`grad_parts`."""
        split = split_of(key, self.extra)
        part: Any = None
        if split is not None:
            part = split(OpCall(key_name(key), [_shape(a) for a in args],
                                [_shape(o) for o in output_tensors(out)],
                                tuple(tuple(a.shape) if isinstance(a, torch.Tensor) else a
                                      for a in args), dict(kwargs), key))
        module, owner, part = self.capture.backward_owner(args, part)
        self._module = module
        try:
            self.record(key, args, kwargs, out, inplace)
        finally:
            self._module = None
        self.grad_parts[len(self.rows) - 1] = (part, owner or module)

    def record(self, key, args: tuple, kwargs: dict, out, inplace: bool) -> None:
        facts = self._keys.get(key)
        if facts is None:
            facts = self._keys[key] = _key_facts(key)
        name, qualified, geo_kind, in_pos, w_pos, w_needed = facts
        Tensor = torch.Tensor
        in_shapes = [tuple(a.shape) if isinstance(a, Tensor) else None for a in args]
        if isinstance(out, Tensor):
            out_shapes = [tuple(out.shape)]
        else:
            out_shapes = [tuple(o.shape) for o in output_tensors(out)]
        shapes_args = tuple(s if s is not None else a for s, a in zip(in_shapes, args))
        phase = self.capture.current_phase
        fn, counted = self._cost(key, phase)
        counted = fn is not None or counted
        cost = None
        call = None
        if fn is not None:
            call = OpCall(name, in_shapes, out_shapes, shapes_args, dict(kwargs), key)
            cost = fn(call)
        blind_macs = 0
        blind, blind_op = self.blind, self.blind_op
        if self.track_blind and not blind:
            blind, blind_op = self._blind_kernel(name)
        if blind:
            native = lookup("native", key, self.extra, phase)
            if native is not None:
                call = call or OpCall(name, in_shapes, out_shapes, shapes_args, dict(kwargs), key)
                blind_macs = int(native(call).macs)
            cost, counted = None, True
        module, mtype = self.current()
        if in_pos:
            in_shape = in_shapes[in_pos]
        else:
            in_shape = in_shapes[0] if in_shapes else None
        w_shape = None
        if w_pos is not None:
            w_shape = in_shapes[w_pos] if w_needed or len(in_shapes) > w_pos else None
        act = 0 if inplace or not out_shapes else math.prod(out_shapes[0])
        geo = _geometry(name, shapes_args, in_shape, w_shape) if geo_kind else _NO_GEOMETRY
        if self._callers_version != self.capture.stack_version:
            self.callers()
        self.rows.append(OpRecord(
            module=module, module_type=mtype, op=name, counted=counted, inplace=inplace,
            in_shape=in_shape, weight_shape=w_shape, out_shape=out_shapes[0] if out_shapes else None,
            macs=int(cost.macs) if cost else 0, flops=int(cost.flops) if cost else 0,
            activations=int(act), depth=self.last_depth, phase=phase,
            blind=blind, blind_op=blind_op, blind_macs=blind_macs,
            callers=self._callers, qualified=qualified,
            bytes=self.pending_bytes + self.carry_bytes, **geo))
        self.pending_bytes = self.carry_bytes = 0



@contextmanager
def counting(model: nn.Module | None = None, convention: str = "native", formulas: dict | None = None,
             mha_fastpath: bool = True, capture: OpCapture | None = None):
    """Count every op run inside the block; yields the :class:`Recorder`.

    Grad mode is left as the caller set it, so a whole training step can run inside::

        with counting(model) as rec:
            loss = model(x).sum()                  # phase "forward"
            with rec.phase("backward"):
                loss.backward()
            with rec.phase("optimizer"):
                opt.step()
        rows = rec.rows

    ``model`` (optional) names the modules for attribution.  ``mha_fastpath=False`` makes
    ``nn.MultiheadAttention`` take its Python path (same MACs; faster on meta).
    ``capture``: the :class:`~.capture.OpCapture` to read (other consumers may read it
    too, e.g. the memory tracker of the same step); default a new one.  The recorder is
    one of its consumers and gives it its decomposition policy for the block."""
    cap = capture if capture is not None else OpCapture(
        model, mha_fastpath=False if convention == "fvcore" or not mha_fastpath else None)
    # fvcore traces nn.MultiheadAttention's Python path (linear + bmm), never the fused one;
    # on meta the Python path is also the fast one (its linears skip the meta kernels)
    rec = Recorder(convention, module_names(model) if capture is not None else cap.names,
                   formulas, cap)
    if model is not None:
        rec.types = (cap.types if capture is None else
                     {n: type(m).__name__ for n, m in model.named_modules()})
    cap.decompose = rec.wants_decomposition
    cap.consume(rec)
    try:
        with eager_higher_order_ops(), cap:
            yield rec
    finally:
        if rec.rows:            # bytes of fills/copies after the last recorded op
            rec.rows[-1].bytes += rec.carry_bytes + rec.pending_bytes
        rec.carry_bytes = rec.pending_bytes = 0
        cap.consumers.remove(rec)
        cap.decompose = None


def run_callable(fn: Callable[[Recorder], Any], model: nn.Module | None = None,
                 convention: str = "native", formulas: dict | None = None) -> list[OpRecord]:
    """Run ``fn(recorder)`` under the counters with grad mode as the caller set it; return the
    records. ``fn`` may call ``recorder.set_phase("backward")`` etc. between steps."""
    with counting(model, convention, formulas) as rec:
        fn(rec)
    return rec.rows


def run_counted(model, inputs: tuple, convention: str = "native", kwargs: dict | None = None,
                formulas: dict | None = None, names_from: nn.Module | None = None) -> list[OpRecord]:
    """Run ``model(*inputs, **kwargs)`` once under ``torch.no_grad()`` and the counters;
    return one record per op.  ``names_from``: the module whose paths name the records
    (default ``model``)."""
    kwargs = kwargs or {}
    with torch.no_grad(), counting(names_from if names_from is not None else model,
                                   convention, formulas) as rec, model_forward(rec):
        model(*inputs, **kwargs)
    return rec.rows
