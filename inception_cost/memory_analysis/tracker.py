"""Storage lifetimes through the dispatcher: which bytes are alive after every op.

``StorageTracker`` is a consumer of the one op capture
(:class:`~inception_cost.counting.capture.OpCapture`): it reads every op as it really runs
(``sees_storages``: the counter's composite shortcuts are then off; the sub-ops of an op
the counter decomposes are skipped and the op itself read, so its results do not depend
on who else reads the capture).  After each op it looks at the op's output tensors: a
storage it has not seen is an allocation (its ``nbytes``: real dtype size, no rounding);
a storage it knows (a view, an in-place op) allocates nothing.  A weak reference to each
storage's Python object tells when the last Python or autograd reference died: the
storage is freed from the next op on.  Nothing is computed on the hot path beyond those
records; ``analysis.py`` turns them into timelines afterwards.

Index convention: an event recorded while ``n`` ops have completed takes effect at op index
``n`` (the state "after op n" includes a storage born by op n, and excludes one freed before
op n returned).
"""
from __future__ import annotations

import re
import weakref
from functools import partial

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

from ..counting.capture import CaptureConsumer, OpCapture
from .categories import (BACKWARD, BUFFERS, FORWARD, GRADIENTS, OPTIMIZER_STATE, PARAMETERS,
                         SAVED, TRANSIENT_FORWARD, transient_kind)

_current_node = torch._C._current_autograd_node
_sequence_nr = torch._C._autograd._get_sequence_nr
_ACCUMULATE_GRAD_SEQ = 2 ** 63  # AccumulateGrad nodes carry UINT64_MAX as sequence number


class StorageRecord:
    """One storage: born at op index ``born``, freed at ``died`` (-1: alive at the end),
    ``nbytes`` bytes; ``segments`` lists (op index, internal category) changes in order;
    ``saver`` is the module that first saved it for backward ("" if never saved)."""

    __slots__ = ("born", "died", "nbytes", "phase", "module", "segments", "saver", "saves")

    def __init__(self, born: int, nbytes: int, phase: int, module: str, category: int):
        self.born, self.died, self.nbytes = born, -1, nbytes
        self.phase, self.module = phase, module
        self.segments = [(born, category)]
        self.saver = ""
        self.saves = 0  # autograd saved-tensor slots holding it now

    @property
    def category(self) -> int:
        return self.segments[-1][1]


class StorageTracker(CaptureConsumer):
    """Records every op (name, phase, module) and every storage's lifetime (bytes).

    Use ``register(tensor, category)`` for storages that exist before the step (parameters,
    buffers, optimizer state); ``phase`` and ``module`` are set by the step runner and the
    module hooks installed by ``hooks()``.  Subscribe it to an
    :class:`~inception_cost.counting.capture.OpCapture` (or use :meth:`capture`).
    """

    sees_storages = True

    def __init__(self, module_names: dict[int, str] | None = None):
        self.n = 0
        self.phase = FORWARD
        self.module = "(input)"
        self.records: list[StorageRecord] = []
        self.op_funcs: list = []
        self.op_phases: list[int] = []
        self.op_modules: list[str] = []
        self.op_seq: list[int] = []          # forward: autograd sequence nr after the op
        self._live: dict[int, StorageRecord] = {}
        self._refs: dict[int, weakref.ref] = {}
        self._names = module_names or {}
        self._stack: list[str] = []
        self._param_module: dict[int, str] = {}
        self.attention: dict[str, int] = {}  # fused-attention backend -> calls (attention.py)
        self.workspace: dict[int, int] = {}  # op index -> kernel scratch bytes (workspace.py)
        self.workspace_rules: dict = {}
        self.threads = 1

    # --- storages -------------------------------------------------------------------
    def _free(self, key: int, _ref) -> None:
        rec = self._live.pop(key, None)
        self._refs.pop(key, None)
        if rec is not None:
            rec.died = self.n

    def _new(self, st, category: int) -> StorageRecord:
        key = id(st)
        rec = StorageRecord(self.n, st.nbytes(), self.phase, self.module, category)
        self._live[key] = rec
        self._refs[key] = weakref.ref(st, partial(self._free, key))
        self.records.append(rec)
        return rec

    def _see(self, t: torch.Tensor) -> None:
        st = t.untyped_storage()
        if id(st) not in self._live:
            self._new(st, TRANSIENT_FORWARD + self.phase)  # transient_kind(phase), inlined

    def record_of(self, t: torch.Tensor) -> StorageRecord | None:
        return self._live.get(id(t.untyped_storage()))

    def register(self, t: torch.Tensor, category: int) -> None:
        """Track a storage that exists already (or re-file a known one) as ``category``."""
        st = t.untyped_storage()
        rec = self._live.get(id(st))
        if rec is None:
            self._new(st, category)
        elif rec.category != category:
            self.retag(rec, category)

    def retag(self, rec: StorageRecord, category: int, from_birth: bool = False) -> None:
        if from_birth:
            rec.segments = [(rec.born, category)]
        elif rec.segments[-1][0] == self.n:
            rec.segments[-1] = (self.n, category)
        else:
            rec.segments.append((self.n, category))

    # --- the capture's calls -----------------------------------------------------------
    def capture(self) -> OpCapture:
        """A new capture read by this tracker alone (enter it to run the program)."""
        cap = OpCapture(mha_fastpath=None)
        cap.consume(self)
        return cap

    def on_call(self, call) -> None:
        """One op as it ran: new output storages are allocations."""
        if call.inner:              # a sub-op of a decomposition: the op itself comes next
            return
        func, args, kwargs, out = call.func, call.args, call.kwargs, call.out
        see = self._see
        if isinstance(out, torch.Tensor):
            see(out)
        elif isinstance(out, (tuple, list)):
            for o in out:
                if isinstance(o, torch.Tensor):
                    see(o)
                elif isinstance(o, (tuple, list)):
                    for q in o:
                        if isinstance(q, torch.Tensor):
                            see(q)
        rule = self.workspace_rules.get(func)
        if rule is not None:
            scratch = rule(args, kwargs, out, self.threads)
            if scratch:
                self.workspace[self.n] = scratch
        phase = self.phase
        self.op_funcs.append(func)
        self.op_phases.append(phase)
        if phase == BACKWARD:
            self.op_modules.append(self._backward_module())
            self.op_seq.append(-1)
        else:
            self.op_modules.append(self.module)
            self.op_seq.append(_sequence_nr())
        self.n += 1

    def _backward_module(self):
        """The autograd node running now: its sequence nr (an int, resolved to the
        forward module afterwards), a module name for AccumulateGrad, or '(loss)'."""
        node = _current_node()
        if node is None:
            return "(loss)"
        seq = node._sequence_nr()
        if seq >= _ACCUMULATE_GRAD_SEQ:
            var = getattr(node, "variable", None)
            return self._param_module.get(id(var), "(parameters)")
        return seq

    # --- hooks: modules, saved tensors, gradients ----------------------------------------
    def _pre(self, module, _inputs):
        name = self._names.get(id(module))
        if name is None:
            name = f"({type(module).__name__})"
        self._stack.append(self.module)
        self.module = name

    def _post(self, _module, _inputs, _outputs):
        if self._stack:
            self.module = self._stack.pop()

    def _pack(self, t: torch.Tensor):
        rec = self._live.get(id(t.untyped_storage()))
        if rec is None or rec.category < SAVED:
            return _Saved(t, None, self)
        if rec.category != SAVED:
            self.retag(rec, SAVED)
        if not rec.saver:
            rec.saver = self.module
        rec.saves += 1
        return _Saved(t, rec, self)

    def _unsaved(self, rec: StorageRecord) -> None:
        """Autograd released one saved slot; with none left a still-alive storage is
        transient again (e.g. the input batch the caller holds after backward)."""
        rec.saves -= 1
        if rec.saves == 0 and rec.died < 0 and rec.category == SAVED:
            self.retag(rec, transient_kind(rec.phase))

    def _grad_done(self, p: torch.Tensor) -> None:
        if p.grad is not None:
            self.register(p.grad, GRADIENTS)

    def hooks(self, model: torch.nn.Module, training: bool):
        """Context: global module hooks (module names), saved-tensor hooks and
        post-accumulate-grad hooks on ``model``'s parameters."""
        return _Hooks(self, model, training)

    def register_model(self, model: torch.nn.Module) -> None:
        for name, mod in model.named_modules():
            for p in mod.parameters(recurse=False):
                self._param_module.setdefault(id(p), name or "(model)")
        for p in model.parameters():
            self.register(p, PARAMETERS)
            if p.grad is not None:
                self.register(p.grad, GRADIENTS)
        for b in model.buffers():
            self.register(b, BUFFERS)

    def register_optimizer(self, optimizer, from_birth: bool = False) -> None:
        """File every tensor in ``optimizer.state`` as optimizer state (from its birth when
        ``from_birth``: state created lazily inside step())."""
        for state in optimizer.state.values():
            for v in state.values():
                if isinstance(v, torch.Tensor):
                    rec = self.record_of(v)
                    if rec is None:
                        self.register(v, OPTIMIZER_STATE)
                    elif rec.category != OPTIMIZER_STATE:
                        self.retag(rec, OPTIMIZER_STATE, from_birth=from_birth)


def active_tracker() -> StorageTracker | None:
    """The StorageTracker reading the innermost active op capture, if any."""
    for mode in reversed(_get_current_dispatch_mode_stack()):
        if isinstance(mode, OpCapture):
            for c in mode.consumers:
                if isinstance(c, StorageTracker):
                    return c
    return None


class _Hooks:
    def __init__(self, tracker: StorageTracker, model, training: bool):
        self.t, self.model, self.training = tracker, model, training
        self.handles = []
        self.saved = None

    def __enter__(self):
        from torch.nn.modules import module as nn_module
        t = self.t
        self.handles.append(nn_module.register_module_forward_pre_hook(t._pre))
        self.handles.append(nn_module.register_module_forward_hook(t._post))
        if self.training:
            for p in self.model.parameters():
                if p.requires_grad:
                    self.handles.append(p.register_post_accumulate_grad_hook(t._grad_done))
            self.saved = torch.autograd.graph.saved_tensors_hooks(t._pack, _unpack)
            self.saved.__enter__()
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            self.saved.__exit__(*exc)
        for h in self.handles:
            h.remove()
        return False


class InplaceModifiedError(RuntimeError):
    """A tensor autograd saved for backward was modified in place before backward used it:
    the step PyTorch refuses.  Saved-tensor hooks bypass PyTorch's own version check, so
    ``_unpack`` runs it; the message is PyTorch's."""


class _Saved:
    """What autograd keeps for a saved tensor: the tensor itself (same lifetime as without
    hooks), its version counter at save time, and the name of the autograd node that
    produced it (for PyTorch's message), plus a note to the tracker when autograd lets go of it."""

    __slots__ = ("t", "rec", "tracker", "version", "node")

    def __init__(self, t, rec, tracker):
        self.t, self.rec, self.tracker = t, rec, tracker
        self.version = t._version
        fn = t.grad_fn   # its name only: a reference to the node would be a cycle
        self.node = (type(fn).__name__, t.output_nr) if fn is not None else None

    def __del__(self):
        if self.rec is not None:
            self.tracker._unsaved(self.rec)


def inplace_message(t: torch.Tensor, saved_version: int, node: tuple | None) -> str:
    """PyTorch's reason for refusing a backward that reads a saved tensor modified in place
    (the text of its SavedVariable version check, without its anomaly-detection hint)."""
    kind = t.type().replace(".meta.", ".")
    which = ""
    if node is not None:
        name, output_nr = node
        which = f", which is output {output_nr} of {re.sub(r'Backward[0-9]*$', '', name)}"
    return (f"one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: [{kind} {list(t.shape)}]{which}, is at version "
            f"{t._version}; expected version {saved_version} instead")


def _unpack(obj):
    if not isinstance(obj, _Saved):
        return obj
    t = obj.t
    if t._version != obj.version:
        raise InplaceModifiedError(inplace_message(t, obj.version, obj.node))
    return t


__all__ = ["StorageTracker", "StorageRecord", "InplaceModifiedError", "active_tracker"]
