"""One capture of the op stream, read by every analysis: :class:`OpCapture`.

``OpCapture`` is the one ``TorchDispatchMode`` under which a model runs (paired with its own
``TorchFunctionMode``, :class:`~.capture_functions.FunctionCapture`, for composite
functions, and with the autograd node map during a training forward).  It runs each aten
op -- on meta through the fast paths of :mod:`.meta_fast`, or as its decomposition when a
consumer asks for one -- keeps the phase
(``forward``/``backward``/``optimizer``) and the module stack, attributes backward ops
through autograd (:mod:`.autograd_map`, one mechanism for every consumer), and hands
every op to its subscribers.  A new analysis is one more subscriber; none patches another.

Two kinds of subscriber:

* an **event subscriber**, any callable ``fn(event)`` (:meth:`OpCapture.subscribe`): called
  with the :class:`~.op_event.OpEvent` of every op that ran -- plain facts (integer shapes,
  dtypes, storage identities, bytes, MACs, FLOPs), safe to store;
* a **call consumer**, an object with ``on_call(call)`` (:meth:`OpCapture.consume`, e.g.
  :class:`CaptureConsumer`): called *during* each op with a :class:`CapturedCall` that
  holds the live ``func, args, kwargs, out`` (valid during the call only: a consumer keeps
  what it needs, never the call), the phase, and flags.  ``call.event`` builds the op's
  event on demand, once for all consumers.

Decomposition.  A consumer that prices ops (the counter) may pass ``decompose`` (a
callable ``(func, packet, name) -> bool``): an op it has no cost for then runs as its
decomposition under the capture, as ``torch.utils.flop_counter`` does.  Its sub-ops reach
every consumer with ``call.inner`` True, and afterwards the op itself comes once with
``call.decomposed`` True and its outputs.  A consumer of work (counting) reads the sub-ops
and skips the op; a consumer of storages (memory) skips the sub-ops and reads the op: its
outputs are the op's own, the sub-ops' temporaries are never seen, so its results are those
of a run without decomposition.  Event subscribers get the sub-ops (what ran).  If a
decomposition raises, consumers with ``checkpoint()``/``rollback(mark)`` forget its sub-ops
and the op runs itself.

Higher-order ops (``flex_attention``, ``cond``) run once, unobserved, and come as one call
with ``call.higher_order`` True; consumers with ``opaque(entering)`` are told around it.

Composite functions.  A call consumer with ``on_function(call)`` also gets each composite
function (``F.linear``, ``F.batch_norm``, ``F.scaled_dot_product_attention`` ...) as one
:class:`~.capture_functions.FunctionCall` after it ran (or after a meta shortcut stood in
for it); its aten ops reach ``on_call`` while ``capture.functions.depth`` is above 0.  A
consumer with ``function_region(func, args, kwargs)`` may run any torch function inside a
context of its own (see :mod:`.capture_functions`).  The function mode is entered only when
some consumer has one of these hooks.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode

from . import backward_registry as _backward_registry  # noqa: F401 - registers backward formulas
from .autograd_map import (LOSS_MODULE, NodeMap, backward_attribution, storage_key,
                           watch_mixed_nodes)
from .bytes_moved import call_bytes, is_free, tensor_leaves
from .capture_functions import FunctionCapture
from .formulas_attention import register_varlen_if_loaded
from .meta_fast import _META_FAST, _meta_fast, decomposition
from .op_event import PHASES, OpEvent, TensorFact, _call, _reference_flops, native_cost
from .registry import GradCost, split_of

_current_node = torch._C._current_autograd_node
_HigherOrder = torch._ops.HigherOrderOperator

# facts of each OpOverload that never change (read once per overload, not per call):
# (packet, packet name, has a meta fast path, moves no bytes)
_OP_FACTS: dict = {}
# a tensor's ``.device`` under FakeTensorMode reaches dispatch as prim.device: a query of
# metadata that reads and writes nothing, never handed to a consumer (not a counted row, not
# an op of the memory timeline)
_DEVICE_QUERY = torch.ops.prim.device.default


def op_facts(func) -> tuple:
    """(overload packet, packet name, meta fast path?, free?) of an aten OpOverload, cached."""
    facts = _OP_FACTS.get(func)
    if facts is None:
        packet = func.overloadpacket
        name = packet.__name__
        facts = _OP_FACTS[func] = (packet, name, name in _META_FAST, is_free(func, name))
    return facts


def module_names(model) -> dict[int, str]:
    """{id(module): path} of every submodule (first path of a shared one)."""
    names: dict[int, str] = {}
    if model is None:
        return names
    for n, m in model.named_modules():
        names.setdefault(id(m), n)
    return names


class CaptureConsumer:
    """Base of a call consumer: override :meth:`on_call`; the other hooks are optional.

    ``sees_storages``: True for a consumer that must see every op as it really runs
    (the memory tracker); the capture's composite shortcuts (ops not run at all on meta)
    are then off.  Optional hooks a consumer may add (the capture's function mode runs only
    when one does): ``on_function(call)``, one composite function call
    (:class:`~.capture_functions.FunctionCall`), and ``function_region(func, args, kwargs)``
    (see :mod:`.capture_functions`)."""

    sees_storages = False

    def on_call(self, call: "CapturedCall") -> None:   # pragma: no cover - interface
        raise NotImplementedError

    def checkpoint(self):
        """A mark taken before a decomposition (see :meth:`rollback`)."""
        return None

    def rollback(self, mark) -> None:
        """Forget what was seen since ``mark``: the decomposition failed."""

    def opaque(self, entering: bool) -> None:
        """Entering / leaving a higher-order op that runs unobserved."""


class CapturedCall:
    """One op, live, as handed to call consumers (valid during the call only).

    ``func``: the OpOverload (or HigherOrderOperator); ``name``: its packet name;
    ``args``/``kwargs``/``out``: the live operands and result; ``phase``; ``inner``: a
    sub-op of a decomposition; ``decomposed``: the op that just ran as its decomposition;
    ``higher_order``: a higher-order op run unobserved; ``free``: the op moves no bytes
    (a view, metadata, allocation: :func:`.bytes_moved.is_free`)."""

    __slots__ = ("capture", "func", "packet", "name", "args", "kwargs", "out", "phase",
                 "inner", "decomposed", "higher_order", "_event", "optimizer_module", "free")

    def __init__(self, capture, func, packet, name, args, kwargs, out, inner=False,
                 decomposed=False, higher_order=False, free=False):
        self.capture = capture
        self.func = func
        self.packet = packet
        self.name = name
        self.args = args
        self.kwargs = kwargs
        self.out = out
        self.phase = capture.current_phase
        self.inner = inner
        self.decomposed = decomposed
        self.higher_order = higher_order
        self.free = free
        self._event = None
        self.optimizer_module = None

    @property
    def event(self) -> OpEvent:
        """The op's :class:`OpEvent` (built once, on first use)."""
        if self._event is None:
            self._event = self.capture._event(self)
        return self._event

    def backward_owner(self, part=None) -> tuple[str, str | None, Any]:
        """(module charged, parameter owner or None, gradient part) of this backward op,
        by the capture's autograd attribution (``part``: what a split formula decided)."""
        return self.capture.backward_owner(self.args, part)


class OpCapture(TorchDispatchMode):
    """The one dispatch capture (see the module docstring).

    ``model`` names the modules for attribution.  ``formulas``: per-call cost entries the
    events' MACs/FLOPs and splits use.  ``reference_flops``: events also carry
    FlopCounterMode's count.  ``mha_fastpath``: False turns ``nn.MultiheadAttention``'s
    fused fast path off while capturing (None: leave it as it is).  ``decompose``: see
    the module docstring.  For a training step call :meth:`track_autograd` before the
    forward pass and run it inside :meth:`autograd_tracking`; run ``loss.backward()``
    inside ``with cap.phase("backward")`` and the optimizer inside
    ``with cap.phase("optimizer")``."""

    supports_higher_order_operators = True

    def __init__(self, model: nn.Module | None = None, reference_flops: bool = False,
                 formulas: dict | None = None, mha_fastpath: bool | None = False,
                 decompose: Callable | None = None):
        super().__init__()
        register_varlen_if_loaded()
        self.names: dict[int, str] = {}
        self.types: dict[str, str] = {}
        if model is not None:                       # module_names and the type names, one walk
            for n, m in model.named_modules():
                self.names.setdefault(id(m), n)
                self.types[n] = type(m).__name__
        self.subscribers: list[Callable[[OpEvent], None]] = []
        self.consumers: list[CaptureConsumer] = []
        self.stack: list[nn.Module] = []
        self.stack_version = 0
        self.current_phase = "forward"
        self.phase_module: str | None = None
        self.reference = reference_flops
        self.extra = formulas
        self.mha_fastpath = mha_fastpath
        self.decompose = decompose
        self.decomposing: set = set()
        self.inner = 0                              # depth of running decompositions
        self.count = 0
        self.node_map: NodeMap | None = None
        self.param_storage: dict[int, str] = {}     # parameter storage -> owning module path
        self.optimizer_storage: dict[int, str] = {}  # optimizer tensors -> module (see own_optimizer)
        self.done: set = set()
        self._hooks: list = []
        self._node_mode = None
        self._fastpath = None
        self._depth = 0                             # nested entries (a decomposition re-enters)
        self.functions = FunctionCapture(self)      # the composite-function half
        self._functions_on = False
        self.opaque_depth = 0                       # higher-order ops running unobserved

    # subscribers ----------------------------------------------------------
    def subscribe(self, fn):
        """Add a subscriber: a callable taking each :class:`OpEvent` in order, or a call
        consumer (an object with ``on_call``); returns it."""
        if hasattr(fn, "on_call"):
            return self.consume(fn)
        self.subscribers.append(fn)
        return fn

    def consume(self, consumer: CaptureConsumer) -> CaptureConsumer:
        """Add a call consumer (gets a :class:`CapturedCall` per op); returns it."""
        self.consumers.append(consumer)
        return consumer

    @property
    def shortcuts_allowed(self) -> bool:
        """Whether ops may be skipped on meta (no consumer needs to see every storage)."""
        return not any(getattr(c, "sees_storages", False) for c in self.consumers)

    # phases and attribution ----------------------------------------------
    def set_phase(self, phase: str, module: str | None = None) -> None:
        """Label the following ops with ``phase``; ops run outside any module's forward are
        attributed to ``module`` ("" = the top)."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase '{phase}' (choose from {', '.join(PHASES)})")
        self.current_phase, self.phase_module = phase, module
        self.stack_version += 1

    @contextmanager
    def phase(self, phase: str, module: str | None = None):
        """Context manager form of :meth:`set_phase`; restores the previous phase on exit."""
        old = (self.current_phase, self.phase_module)
        self.set_phase(phase, module)
        try:
            yield self
        finally:
            self.current_phase, self.phase_module = old
            self.stack_version += 1

    def current(self) -> tuple[str, str]:
        """(path, type name) of the innermost named module running, else the phase's module."""
        for mod in reversed(self.stack):
            name = self.names.get(id(mod))
            if name is not None:
                return name, type(mod).__name__
        if self.phase_module is not None:
            return self.phase_module, self.types.get(self.phase_module, "")
        return "", "(top)"

    def track_autograd(self, param_owner: dict[int, str], params, inputs) -> NodeMap:
        """Map autograd nodes to modules during the forward pass (needed for backward
        attribution).  ``param_owner``: id(parameter) -> owning module path."""
        from .autograd_map import NodeMapMode
        self.node_map = NodeMap(param_owner, lambda: self.current()[0])
        for p in params:
            self.node_map.add_parameter(p)
        self.node_map.mark_activation(list(inputs))
        by_id = {id(p): p for p in params}
        self.param_storage = {storage_key(by_id[i]): m for i, m in param_owner.items() if i in by_id}
        self._node_mode = NodeMapMode(self.node_map)
        return self.node_map

    @contextmanager
    def autograd_tracking(self):
        """Run the forward pass inside this block so autograd nodes get mapped to modules."""
        if self._node_mode is None:
            yield
            return
        with self._node_mode:
            yield

    def watch_mixed_nodes(self) -> None:
        """Before backward: tell a mixed node's own work from the gradient accumulation
        autograd runs after it (input-gradient work), as training counts do."""
        watch_mixed_nodes(self.node_map, self.done)

    def backward_owner(self, args, part=None) -> tuple[str, str | None, Any]:
        """(module charged, parameter owner or None, gradient part) of a backward op running
        now with ``args`` (see :func:`.autograd_map.backward_attribution`)."""
        return backward_attribution(self.node_map, _current_node(), args, self.done, part)

    def own_optimizer(self, owned: dict[str, list[torch.Tensor]]) -> None:
        """Attribute optimizer ops by storage: ``owned`` maps a module path to its tensors
        (parameters, their gradients, their optimizer state); an optimizer op reading one
        of them (or a temporary computed from one) is that module's, and so are its results."""
        self.optimizer_storage = {storage_key(t): m for m, ts in owned.items() for t in ts}

    def _optimizer_owner(self, flat_in, outs) -> str | None:
        owners = self.optimizer_storage
        for t in flat_in:
            try:
                m = owners.get(storage_key(t))
            except (RuntimeError, NotImplementedError):
                continue
            if m is not None:
                for o in outs:
                    try:
                        owners[storage_key(o)] = m
                    except (RuntimeError, NotImplementedError):
                        pass
                return m
        return None

    # the dispatch hook ---------------------------------------------------
    def _run_decomposed(self, func, args, kwargs):
        """Run ``func`` as its decomposition under this capture; NotImplemented when it has
        none (or fails on these arguments: consumers then roll back what they saw)."""
        if func in self.decomposing:
            return NotImplemented
        table = decomposition(func)
        marks = [(c, c.checkpoint()) for c in self.consumers]
        count = self.count
        self.decomposing.add(func)
        self.inner += 1
        try:
            with self:
                out = func.decompose(*args, **kwargs)
                if out is NotImplemented and table is not None:
                    out = table(*args, **kwargs)
        except Exception:  # noqa: BLE001 - the op then runs (and is seen) itself
            for c, mark in marks:
                c.rollback(mark)
            self.count = count
            return NotImplemented
        finally:
            self.decomposing.discard(func)
            self.inner -= 1
        return out

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is _DEVICE_QUERY:     # metadata, not an op: no consumer sees it
            return func(*args, **(kwargs or {}))
        facts = _OP_FACTS.get(func)
        if facts is None:
            if isinstance(func, _HigherOrder):
                return self._higher_order(func, args, kwargs or {})
            facts = op_facts(func)
        packet, name, fast, free = facts
        if not kwargs:
            kwargs = {}
        out = _meta_fast(name, args, kwargs) if fast else None
        decomposed = False
        if out is None:
            if self.decompose is not None and self.decompose(func, packet, name):
                out = self._run_decomposed(func, args, kwargs)
                decomposed = out is not NotImplemented
            if not decomposed:
                out = func(*args, **kwargs)
        functions = self.functions
        if functions.depth and not decomposed and not free:   # bytes of a composite's own aten ops
            functions.moved += call_bytes(args, kwargs, out)
        consumers = self.consumers
        subscribers = self.subscribers
        if not consumers and not subscribers:
            return out
        call = CapturedCall(self, func, packet, name, args, kwargs, out, self.inner > 0,
                            decomposed, False, free)
        if self.optimizer_storage and self.current_phase == "optimizer":
            call.optimizer_module = self._optimizer_owner(tensor_leaves(kwargs, tensor_leaves(args)),
                                                          tensor_leaves(out))
        for c in consumers:
            c.on_call(call)
        if subscribers and not decomposed:
            ev = call.event
            for s in subscribers:
                s(ev)
        return out

    def _higher_order(self, func, args, kwargs):
        for c in self.consumers:
            c.opaque(True)
        self.opaque_depth += 1
        try:
            out = func(*args, **kwargs)
        finally:
            self.opaque_depth -= 1
            for c in self.consumers:
                c.opaque(False)
        call = CapturedCall(self, func, None, func.name(), args, kwargs, out, self.inner > 0,
                            False, True)
        for c in self.consumers:
            c.on_call(call)
        return out

    # events --------------------------------------------------------------
    def _backward_event_owner(self, name, args, kwargs, outs, key=None) -> tuple[str, str, str, object]:
        """(module, module type, grad part, GradCost or None) of a backward op."""
        if self.node_map is None:
            module, mtype = self.current()
            return module, mtype, "input", None
        split = split_of(key, self.extra)
        cost = part = None
        if split is not None:
            cost = split(_call(name, key, args, kwargs, outs))
            part = "split" if (cost.input.flops and cost.weight.flops) else (
                "weight" if cost.weight.flops and not cost.input.flops else "input")
        module, _owner, part = self.backward_owner(args, part)
        return module, self.types.get(module, "loss" if module == LOSS_MODULE else ""), part, cost

    def _event(self, call: CapturedCall) -> OpEvent:
        """The :class:`OpEvent` of ``call`` (plain facts, no live tensor)."""
        func, packet, name, args, kwargs, out = (call.func, call.packet, call.name, call.args,
                                                 call.kwargs, call.out)
        flat_in = tensor_leaves(kwargs, tensor_leaves(args))
        outs = tensor_leaves(out)
        free = call.free
        inplace = name.endswith("_") or any(o is a for o in outs for a in args[:1])
        counted, macs, flops = (False, 0, 0) if free else native_cost(name, packet, args, kwargs,
                                                                      outs, self.extra,
                                                                      call.phase)
        fin = tuple(TensorFact.of(t) for t in flat_in)
        grad, split = "", None
        if call.phase == "backward":
            module, mtype, grad, cost = self._backward_event_owner(name, args, kwargs, outs, packet)
            if isinstance(cost, GradCost) and grad == "split":
                split = (int(cost.input.flops), int(cost.weight.flops))
        elif call.phase == "optimizer":
            module = call.optimizer_module or next(
                (self.param_storage[f.storage] for f in fin if f.storage in self.param_storage), None)
            module, mtype = (module, self.types.get(module, "")) if module is not None else self.current()
        else:
            module, mtype = self.current()
        ref, ref_dtype = (None, None)
        if self.reference and not free:
            ref, ref_dtype = _reference_flops(packet, args, kwargs, out, outs)
        ev = OpEvent(index=self.count, op=name, overload=str(func.name()), phase=call.phase,
                     grad=grad, module=module, module_type=mtype, inputs=fin,
                     outputs=tuple(TensorFact.of(t) for t in outs), free=free, inplace=inplace,
                     counted=counted, macs=macs, flops=flops, grad_split=split,
                     reference_flops=ref, reference_dtype=ref_dtype)
        self.count += 1
        return ev

    # entering and leaving ------------------------------------------------
    def __enter__(self):
        if not self._hooks:
            def pre(mod, _args):
                self.stack.append(mod)
                self.stack_version += 1

            def post(mod, _args, _out):
                if self.stack and self.stack[-1] is mod:
                    self.stack.pop()
                    self.stack_version += 1

            self._hooks = [nn.modules.module.register_module_forward_pre_hook(pre),
                           nn.modules.module.register_module_forward_hook(post)]
            self._fastpath = torch.backends.mha.get_fastpath_enabled()
            if self.mha_fastpath is not None:
                torch.backends.mha.set_fastpath_enabled(bool(self.mha_fastpath))
            if self.functions.start(self.consumers):
                self.functions.__enter__()
                self._functions_on = True
        self._depth += 1
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            self._depth -= 1
            if self._depth == 0:
                torch.backends.mha.set_fastpath_enabled(self._fastpath)
                for h in self._hooks:
                    h.remove()
                self._hooks = []
                if self._functions_on:
                    self._functions_on = False
                    self.functions.__exit__(None, None, None)
