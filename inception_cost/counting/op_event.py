"""One recorded op event: the plain facts of one executed aten op (:class:`OpEvent`), its
tensors (:class:`TensorFact`), and the native cost of a call (:func:`native_cost`).

An event holds no live tensor: shapes and strides are integer tuples, storages are
identities (integers), bytes exact integers.  Events are made by
:class:`~inception_cost.counting.capture.OpCapture` and handed to its subscribers; see
:mod:`inception_cost.counting.events` for the conventions (bytes, phases, attribution).
Units: bytes, MACs, FLOPs, elements.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .autograd_map import storage_key
from .bytes_moved import touched_bytes
from .optimizer_formulas import optimizer_ops
from .registry import OpCall, lookup

OPTIMIZER_OPS = optimizer_ops()
"""Costs of the ops an optimizer step dispatches (phase "optimizer"): one FLOP per
arithmetic operation per element, an ``alpha``/``value`` multiplier included
(:func:`.optimizer_formulas.optimizer_op_flops`); ahead of every other formula, in the
events and in the counter (:mod:`.engine`) alike."""

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
    element ...), as in the counting engine (:data:`OPTIMIZER_OPS`)."""
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
