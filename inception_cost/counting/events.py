"""One recorded op event per dispatched aten op, with a subscriber interface.

:class:`EventCapture` is a single ``TorchDispatchMode`` that turns every aten op a
model runs (after autograd and composite decomposition: what eager execution launches)
into an :class:`OpEvent` and hands it to each subscriber.  An event holds plain facts:

* the aten op (``convolution``) and its overload (``aten::convolution.default``);
* its phase (``forward``, ``backward``, ``optimizer``) and, in backward, which gradient
  it computes (``input``, ``weight``, or ``split`` for ops such as ``convolution_backward``
  that compute both; ``grad_split`` then holds the FLOPs of each part);
* the module it is attributed to: in forward the innermost named module whose forward is
  running (as the counting engine does); in backward the module whose forward created the
  running autograd node (:class:`~inception_cost.counting.autograd_map.NodeMap`, as
  training counts do), a weight gradient given to the module owning the parameter;
* every tensor operand and output as a :class:`TensorFact`: integer shape and strides,
  dtype, storage identity and bytes touched;
* its MACs and FLOPs from the native formula registry (0 and ``counted=False`` for an
  op with no formula).

Bytes follow the convention of ``get_num_bytes`` in ``torch/utils/_runtime_estimation.py``:
an op reads every tensor argument and writes every tensor it returns, each at its
dtype's size, with broadcast (stride-0) dimensions counted once.  Views, metadata ops
and creation/allocation ops move 0 bytes (``OpEvent.free``).  Units: bytes, MACs, FLOPs.

Usage::

    with EventCapture(model) as cap:
        log = cap.subscribe(EventLog())
        model(x)
    log.events
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode

from . import backward_registry as _backward_registry  # noqa: F401 - registers backward formulas
from .autograd_map import (LOSS_MODULE, NodeMap, backward_attribution, storage_key,
                           watch_mixed_nodes)
from .bytes_moved import FREE_OPS, LIST_VIEWS as _LIST_VIEWS, tensor_leaves, touched_bytes  # noqa: F401
from .engine import _META_FAST, OPTIMIZER_OPS, _meta_fast, module_names
from .registry import GradCost, OpCall, lookup, split_of

PHASES = ("forward", "backward", "optimizer")

# ops with no formula that only fill or copy memory (0 FLOPs, counted)
FILL_OPS = frozenset({"zeros", "ones", "full", "new_zeros", "new_ones", "new_full", "fill_", "zero_",
                      "copy_", "_to_copy", "clone", "scalar_tensor"})
DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16",
               torch.float64: "float64", torch.int64: "int64", torch.int32: "int32",
               torch.int8: "int8", torch.uint8: "uint8", torch.bool: "bool"}


@dataclass(frozen=True)
class TensorFact:
    """One tensor an op reads or writes: integer shape and strides (elements), dtype name,
    element size (bytes), storage identity, and bytes touched (see :func:`touched_bytes`)."""

    shape: tuple
    stride: tuple
    dtype: str
    itemsize: int
    storage: int
    bytes: int

    @classmethod
    def of(cls, t: torch.Tensor) -> "TensorFact":
        try:
            storage = storage_key(t)
        except (RuntimeError, NotImplementedError):   # tensor subclasses without storage
            storage = 0
        return cls(tuple(int(s) for s in t.shape), tuple(int(s) for s in t.stride()),
                   DTYPE_NAMES.get(t.dtype, str(t.dtype).replace("torch.", "")),
                   t.element_size(), storage, touched_bytes(t))


@dataclass
class OpEvent:
    """One executed aten op.  Bytes (``bytes_read``/``bytes_written``) are 0 for a free
    op (view, metadata, allocation, creation); ``macs``/``flops`` come from the native
    formula registry."""

    index: int
    op: str                       # aten packet name, e.g. "convolution"
    overload: str                 # e.g. "aten::convolution.default"
    phase: str                    # forward | backward | optimizer
    grad: str                     # "" | input | weight | split (backward only)
    module: str                   # attributed module path ("" = the top)
    module_type: str
    inputs: tuple                 # TensorFact of every tensor argument, flattened in order
    outputs: tuple                # TensorFact of every returned tensor
    free: bool
    inplace: bool
    counted: bool
    macs: int
    flops: int
    grad_split: tuple | None = None   # (input-gradient FLOPs, weight-gradient FLOPs), grad="split"
    reference_flops: int | None = None  # torch.utils.flop_counter's count (capture option)
    reference_dtype: str | None = None  # the single floating output dtype torch's estimator uses

    @property
    def bytes_read(self) -> int:
        return 0 if self.free else sum(f.bytes for f in self.inputs)

    @property
    def bytes_written(self) -> int:
        return 0 if self.free else sum(f.bytes for f in self.outputs)

    @property
    def bytes(self) -> int:
        """Bytes moved: read + written (0 for a free op)."""
        return self.bytes_read + self.bytes_written

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, FLOPs per byte moved (inf for 0 bytes and >0 FLOPs)."""
        if self.bytes:
            return self.flops / self.bytes
        return float("inf") if self.flops else 0.0

    @property
    def dtype(self) -> str:
        """dtype of the first output (else the first input), '' when neither exists."""
        if self.outputs:
            return self.outputs[0].dtype
        return self.inputs[0].dtype if self.inputs else ""


class EventLog:
    """The simplest subscriber: keeps every event in ``events``."""

    def __init__(self):
        self.events: list[OpEvent] = []

    def __call__(self, event: OpEvent) -> None:
        self.events.append(event)


# composite-level formulas reached from the aten op a norm decomposes to
_BATCH_NORM_OPS = {
    # name: (training argument position or a fixed value)
    "_native_batch_norm_legit_no_training": False,
    "_native_batch_norm_legit": 5,
    "native_batch_norm": 5,
    "_native_batch_norm_legit_functional": 5,
    "cudnn_batch_norm": 5,
    "miopen_batch_norm": 5,
}
_LAYER_NORM_OPS = {"native_layer_norm": "layer_norm", "native_group_norm": "group_norm"}


def _shape_args(args) -> tuple:
    return tuple(tuple(int(s) for s in a.shape) if isinstance(a, torch.Tensor) else a for a in args)


def _call(name: str, key, args, kwargs, outs) -> OpCall:
    in_shapes = [tuple(int(s) for s in a.shape) if isinstance(a, torch.Tensor) else None for a in args]
    out_shapes = [tuple(int(s) for s in o.shape) for o in outs]
    return OpCall(name, in_shapes, out_shapes, _shape_args(args), dict(kwargs), key)


def native_cost(name: str, key, args, kwargs, outs, extra=None,
                phase: str = "forward") -> tuple[bool, int, int]:
    """(counted, MACs, FLOPs) of one aten call in ``phase`` by the native registry; norms that
    reach the dispatcher as their ``native_*`` kernels use the composite's formula.  In the
    optimizer phase the optimizer's per-op weights come first (``lerp_`` 3 FLOPs per
    element ...), as in the counting engine (:data:`.engine.OPTIMIZER_OPS`)."""
    fn = OPTIMIZER_OPS.get(key) if phase == "optimizer" else None
    if fn is None:
        fn = lookup("native", key, extra, phase)
    if fn is not None:
        c = fn(_call(name, key, args, kwargs, outs))
        return True, int(c.macs), int(c.flops)
    if name in _BATCH_NORM_OPS:
        pos = _BATCH_NORM_OPS[name]
        training = bool(args[pos]) if isinstance(pos, int) and len(args) > pos else False
        x, w, b = args[0], args[1] if len(args) > 1 else None, args[2] if len(args) > 2 else None
        bn = torch.ops.aten.batch_norm
        call = _call("batch_norm", bn, (x, None, None, w, b, training), {"_has_affine": w is not None},
                     outs)
        c = lookup("native", bn)(call)
        return True, int(c.macs), int(c.flops)
    if name in _LAYER_NORM_OPS:
        comp = getattr(torch.ops.aten, _LAYER_NORM_OPS[name])
        wpos = 2 if name == "native_layer_norm" else 1
        w = args[wpos] if len(args) > wpos else None
        c = lookup("native", comp)(_call(_LAYER_NORM_OPS[name], comp, args, {"_has_affine": w is not None},
                                         outs))
        return True, int(c.macs), int(c.flops)
    return name in FILL_OPS, 0, 0


def _reference_flops(packet, args, kwargs, out, outs) -> tuple[int | None, str | None]:
    """torch.utils.flop_counter's FLOPs for this call (None when it has no formula) and the
    floating output dtype torch's runtime estimator would price it at."""
    from torch.utils.flop_counter import flop_registry
    floats = {o.dtype for o in outs if o.dtype in (torch.float16, torch.bfloat16, torch.float32,
                                                     torch.float64)}
    dtype = DTYPE_NAMES.get(next(iter(floats))) if len(floats) == 1 else None
    if packet not in flop_registry:
        return None, dtype
    return int(flop_registry[packet](*args, **kwargs, out_val=out)), dtype


class EventCapture(TorchDispatchMode):
    """Records one :class:`OpEvent` per aten op run inside the block and calls every
    subscriber with it.

    ``model`` names the modules for attribution.  For a training step call
    :meth:`track_autograd` with the parameters' owners before the forward pass, then run
    ``loss.backward()`` inside ``with cap.phase("backward")`` and the optimizer step inside
    ``with cap.phase("optimizer")``.  ``reference_flops=True`` also records PyTorch's
    FlopCounterMode count of each op (for parity checks)."""

    def __init__(self, model: nn.Module | None = None, reference_flops: bool = False,
                 formulas: dict | None = None):
        super().__init__()
        self.names = module_names(model)
        self.types = {n: type(m).__name__ for n, m in model.named_modules()} if model is not None else {}
        self.subscribers: list[Callable[[OpEvent], None]] = []
        self.stack: list[nn.Module] = []
        self.current_phase = "forward"
        self.phase_module: str | None = None
        self.reference = reference_flops
        self.extra = formulas
        self.count = 0
        self.node_map: NodeMap | None = None
        self.param_storage: dict[int, str] = {}     # parameter storage -> owning module path
        self._done: set = set()
        self._hooks: list = []
        self._node_mode = None

    # subscribers ----------------------------------------------------------
    def subscribe(self, fn: Callable[[OpEvent], None]):
        """Add a subscriber (called with each event, in order); returns it."""
        self.subscribers.append(fn)
        return fn

    # phases and attribution ----------------------------------------------
    @contextmanager
    def phase(self, phase: str, module: str | None = None):
        """Label the ops run inside with ``phase``; ops run outside any module's forward
        are attributed to ``module`` ("" = the top)."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase '{phase}' (choose from {', '.join(PHASES)})")
        old = (self.current_phase, self.phase_module)
        self.current_phase, self.phase_module = phase, module
        try:
            yield self
        finally:
            self.current_phase, self.phase_module = old

    def current(self) -> tuple[str, str]:
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

    def watch_mixed_nodes(self) -> None:
        """Before backward: tell a mixed node's own work from the gradient accumulation
        autograd runs after it (input-gradient work), as training counts do."""
        watch_mixed_nodes(self.node_map, self._done)

    def _backward_owner(self, name, args, kwargs, outs, key=None) -> tuple[str, str, str, object]:
        """(module, module type, grad part, GradCost or None) of a backward op."""
        nmap = self.node_map
        node = torch._C._current_autograd_node()
        if nmap is None:
            module, mtype = self.current()
            return module, mtype, "input", None
        split = split_of(key, self.extra)
        cost = part = None
        if split is not None:
            cost = split(_call(name, key, args, kwargs, outs))
            part = "split" if (cost.input.flops and cost.weight.flops) else (
                "weight" if cost.weight.flops and not cost.input.flops else "input")
        module, _owner, part = backward_attribution(nmap, node, args, self._done, part)
        return module, self.types.get(module, "loss" if module == LOSS_MODULE else ""), part, cost

    # the dispatch hook ---------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        packet = func.overloadpacket
        name = packet.__name__
        out = _meta_fast(name, args, kwargs) if name in _META_FAST else None
        if out is None:
            out = func(*args, **kwargs)
        if not self.subscribers:
            return out
        flat_in = tensor_leaves(kwargs, tensor_leaves(args))
        outs = tensor_leaves(out)
        free = func.is_view or name in FREE_OPS or name in _LIST_VIEWS
        inplace = name.endswith("_") or any(o is a for o in outs for a in args[:1])
        counted, macs, flops = (False, 0, 0) if free else native_cost(name, packet, args, kwargs,
                                                                      outs, self.extra,
                                                                      self.current_phase)
        fin = tuple(TensorFact.of(t) for t in flat_in)
        grad, split = "", None
        if self.current_phase == "backward":
            module, mtype, grad, cost = self._backward_owner(name, args, kwargs, outs, packet)
            if isinstance(cost, GradCost) and grad == "split":
                split = (int(cost.input.flops), int(cost.weight.flops))
        elif self.current_phase == "optimizer":
            module = next((self.param_storage[f.storage] for f in fin if f.storage in self.param_storage),
                          None)
            module, mtype = (module, self.types.get(module, "")) if module is not None else self.current()
        else:
            module, mtype = self.current()
        ref, ref_dtype = (None, None)
        if self.reference and not free:
            ref, ref_dtype = _reference_flops(packet, args, kwargs, out, outs)
        ev = OpEvent(index=self.count, op=name, overload=str(func.name()), phase=self.current_phase,
                     grad=grad, module=module, module_type=mtype,
                     inputs=fin,
                     outputs=tuple(TensorFact.of(t) for t in outs), free=free, inplace=inplace,
                     counted=counted, macs=macs, flops=flops, grad_split=split,
                     reference_flops=ref, reference_dtype=ref_dtype)
        self.count += 1
        for s in self.subscribers:
            s(ev)
        return out

    # entering and leaving ------------------------------------------------
    def __enter__(self):
        def pre(mod, _args):
            self.stack.append(mod)

        def post(mod, _args, _out):
            if self.stack and self.stack[-1] is mod:
                self.stack.pop()

        self._hooks = [nn.modules.module.register_module_forward_pre_hook(pre),
                       nn.modules.module.register_module_forward_hook(post)]
        self._fastpath = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            torch.backends.mha.set_fastpath_enabled(self._fastpath)
            for h in self._hooks:
                h.remove()
            self._hooks = []

    @contextmanager
    def autograd_tracking(self):
        """Run the forward pass inside this block so autograd nodes get mapped to modules."""
        if self._node_mode is None:
            yield
            return
        with self._node_mode:
            yield
