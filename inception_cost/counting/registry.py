"""The op registry: ``torch.ops.aten`` op -> :class:`OpInfo`, everything the project knows
about that op.

An entry holds the op's cost formulas and its facts:

* ``forward``  -- cost of one call outside ``loss.backward()`` (a forward pass, a loss, an
  optimizer step; what :func:`inception_cost.count` uses), in the native convention;
* ``backward`` -- cost of one call that autograd runs inside ``loss.backward()`` (default:
  ``forward``: ``mm`` costs the same wherever it runs);
* ``split``    -- ``OpCall -> GradCost``: one backward call's cost divided into
  *input-gradient* and *weight-gradient* work (``convolution_backward``, the norms'
  backward); its total is the call's backward cost, so an entry has ``backward`` or
  ``split``, not both.  Without one, a backward call is input- or weight-gradient work as
  a whole, decided by the autograd node that runs it;
* ``fvcore``   -- the op's cost in fvcore's convention (``FlopCountAnalysis``), where the
  project reproduces it;
* ``weight_layer`` -- the op adds one weight layer to the longest path (``depth``);
* ``data_movement`` -- the op only moves or fills memory (cost 0, never uncounted);
* ``fvcore_skips`` -- fvcore's tracer sees this kernel as one op it has no handle for.

An op registered with only ``backward`` or only ``split`` (a backward-only op such as
``convolution_backward``) is costed by it wherever it runs.  Registering any part of an
entry twice raises :class:`RegistryError` naming the op and the part.

A formula is a small pure function of an :class:`OpCall` (integer-tuple shapes and the op's
scalar arguments) returning a :class:`Cost` (MACs, FLOPs).  Keys are ``torch.ops.aten``
overload packets (``torch.ops.aten.convolution``); an ``OpOverload``
(``torch.ops.aten.add.Tensor``) is reduced to its packet.  The only string keys are
composite Python functions that have no aten op (:data:`FUNCTION_KEYS`, e.g.
``"local_response_norm"`` for ``F.local_response_norm``).

Per call, ``formulas={op: entry}`` (``count``, ``count_training``) replaces what the
registry says about an op's cost for that call: ``entry`` is a formula (the op's cost
wherever it runs, as a forward formula) or an :class:`OpCost` naming ``forward``,
``backward`` and/or ``split``.

Usage::

    from inception_cost.counting.registry import Cost, register, register_op

    @register(torch.ops.aten.my_op)                  # the forward (native) formula
    def _my_op(call):
        return Cost(macs=..., flops=...)

    register_op(torch.ops.aten.my_op_backward, split=my_split)   # any part, once each

:data:`CONVENTIONS` (``{"native": {key: formula}, "fvcore": {...}}``) and
:data:`DATA_MOVEMENT` are indexes derived from the entries, kept for readers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import torch

FUNCTION_KEYS = frozenset({"local_response_norm"})
"""Composite functions with no ``torch.ops.aten`` op, keyed by these documented names."""


class RegistryError(ValueError):
    """An unknown registry key or a duplicate registration."""


@dataclass(frozen=True)
class Cost:
    """Cost of one op call: ``macs`` (multiply-accumulates), ``flops`` (floating-point ops)."""

    macs: int = 0
    flops: int = 0


@dataclass
class OpCall:
    """What a formula sees: integer-tuple shapes of tensor inputs/outputs and scalar arguments.

    ``args`` holds the call's positional arguments with every tensor replaced by its
    shape (a tuple of ints); ``in_shapes[i]`` is the shape of ``args[i]`` (``None``
    for a non-tensor argument); ``out_shapes`` the shapes of the tensor outputs.
    """

    name: str                      # op name, e.g. "convolution" (the aten packet's name)
    in_shapes: list
    out_shapes: list
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    op: Any = None                 # the registry key (aten packet, or a FUNCTION_KEYS string)

    @property
    def out_numel(self) -> int:
        """Elements of the first output."""
        return math.prod(self.out_shapes[0]) if self.out_shapes else 0

    @property
    def in_numel(self) -> int:
        """Elements of the first input."""
        return math.prod(self.in_shapes[0]) if self.in_shapes and self.in_shapes[0] else 0


Formula = Callable[[OpCall], Cost]
Key = Any  # torch._ops.OpOverloadPacket | str (one of FUNCTION_KEYS)


def op_key(op: Any) -> Key:
    """Normalise a registry key: an aten packet (or overload -> its packet), or a FUNCTION_KEYS name.

    Raises :class:`RegistryError` for anything else (a plain string such as
    ``"convolution"``: use ``torch.ops.aten.convolution``)."""
    if isinstance(op, torch._ops.OpOverload):
        return op.overloadpacket
    if isinstance(op, torch._ops.OpOverloadPacket):
        return op
    if isinstance(op, str) and op in FUNCTION_KEYS:
        return op
    if isinstance(op, str):
        hint = f" (use torch.ops.aten.{op})" if hasattr(torch.ops.aten, op) else ""
        raise RegistryError(f"unknown formula key '{op}'{hint}: keys are torch.ops.aten ops "
                            f"or one of {sorted(FUNCTION_KEYS)}")
    # higher-order ops (e.g. flex_attention) are keyed by the operator object itself
    if isinstance(op, torch._ops.HigherOrderOperator):
        return op
    raise RegistryError(f"unknown formula key {op!r}: keys are torch.ops.aten ops "
                        f"or one of {sorted(FUNCTION_KEYS)}")


def key_name(key: Key) -> str:
    """Short op name of a key: ``torch.ops.aten.convolution`` -> ``"convolution"``."""
    if isinstance(key, str):
        return key
    return getattr(key, "__name__", None) or getattr(key, "name", lambda: str(key))()



@dataclass(frozen=True)
class GradCost:
    """One backward call's cost divided by what it produces: ``input`` (dL/d activation)
    and ``weight`` (dL/d parameter, bias included).  Units: MACs and FLOPs."""

    input: Cost = Cost()
    weight: Cost = Cost()

    @property
    def total(self) -> Cost:
        return Cost(self.input.macs + self.weight.macs, self.input.flops + self.weight.flops)


Split = Callable[[OpCall], GradCost]


@dataclass(frozen=True)
class OpCost:
    """A per-call cost entry (``formulas={op: OpCost(...)}``): ``forward`` (cost of a call
    outside ``loss.backward()``), ``backward`` (cost of a call inside it; default
    ``forward``), ``split`` (``OpCall -> GradCost``: a backward call's cost divided into
    input- and weight-gradient work; its total is the call's backward cost, so not
    together with ``backward``).  A plain formula ``fn`` means ``OpCost(forward=fn)``."""

    forward: Formula | None = None
    backward: Formula | None = None
    split: Split | None = None


_COST_PARTS = ("forward", "backward", "split")
_FLAG_PARTS = ("weight_layer", "data_movement", "fvcore_skips")
PARTS = (*_COST_PARTS, "fvcore", *_FLAG_PARTS)
"""The parts of an :class:`OpInfo`, each registered at most once."""


def _split_total(split: Split) -> Formula:
    def total(call: OpCall) -> Cost:
        return split(call).total
    total.split = split           # type: ignore[attr-defined]
    return total


@dataclass
class OpInfo:
    """Everything the project knows about one op (see the module docstring for each part).

    ``cost(phase)`` is the formula for a call in ``phase`` ("backward" inside
    ``loss.backward()``, anything else outside it), ``None`` when the op has no cost formula."""

    key: Key
    forward: Formula | None = None
    backward: Formula | None = None
    split: Split | None = None
    fvcore: Formula | None = None
    weight_layer: bool = False
    data_movement: bool = False
    fvcore_skips: bool = False

    def __post_init__(self):
        self._resolve()

    def _resolve(self) -> None:
        from_split = _split_total(self.split) if self.split is not None else None
        self._forward = self.forward or self.backward or from_split
        self._backward = from_split or self.backward or self.forward

    @property
    def has_cost(self) -> bool:
        return self._forward is not None

    def cost(self, phase: str = "forward") -> Formula | None:
        return self._backward if phase == "backward" else self._forward


OPS: dict[Key, OpInfo] = {}
"""key -> :class:`OpInfo`: the registry."""

CONVENTIONS: dict[str, dict[Key, Formula]] = {"native": {}, "fvcore": {}}
"""convention -> {key: formula}, derived from :data:`OPS` (read-only for callers).
"native": each op's cost outside ``loss.backward()``; "fvcore": FlopCountAnalysis's."""

BACKWARD: dict[Key, Formula] = {}
"""key -> each op's native cost inside ``loss.backward()`` (derived from :data:`OPS`)."""

SPLITS: dict[Key, Split] = {}
"""key -> the op's input/weight split, for the ops that have one (derived from :data:`OPS`)."""

DATA_MOVEMENT: set = set()
"""Keys of ops that only move or fill memory (cost 0, never reported as uncounted)."""

NAMES: dict[str, set] = {part: set() for part in _FLAG_PARTS}
"""flag part -> short names of the ops that have it (what the engine tests by name)."""


def _name_of(key: Key) -> str:
    return key if isinstance(key, str) else key_name(key)


def register_op(op: Any, *, forward: Formula | None = None, backward: Formula | None = None,
                split: Split | None = None, fvcore: Formula | None = None,
                weight_layer: bool = False, data_movement: bool = False,
                fvcore_skips: bool = False) -> OpInfo:
    """Add the given parts to ``op``'s entry (created on first use); returns the entry.

    Raises :class:`RegistryError` on an unknown key, a part given twice for one op, a
    formula that is not callable, or ``backward`` and ``split`` both on one op (each is
    the op's backward cost)."""
    key = op_key(op)
    name = key_name(key)
    given = dict(forward=forward, backward=backward, split=split, fvcore=fvcore)
    flags = dict(weight_layer=weight_layer, data_movement=data_movement, fvcore_skips=fvcore_skips)
    info = OPS.get(key) or OpInfo(key)
    for part, fn in given.items():
        if fn is None:
            continue
        if not callable(fn):
            raise RegistryError(f"op '{name}': its {part} formula is not callable")
        if getattr(info, part) is not None:
            raise RegistryError(f"op '{name}': its {part} formula is already registered")
    for part, on in flags.items():
        if on and getattr(info, part):
            raise RegistryError(f"op '{name}': its {part} flag is already registered")
    if (info.backward or backward) and (info.split or split):
        raise RegistryError(f"op '{name}': backward and split are both its backward cost; "
                            f"register one of them")
    for part, fn in given.items():
        if fn is not None:
            setattr(info, part, fn)
    for part, on in flags.items():
        if on:
            setattr(info, part, True)
            NAMES[part].add(name)
    info._resolve()
    OPS[key] = info
    if info.has_cost:
        CONVENTIONS["native"][key] = info.cost("forward")
        BACKWARD[key] = info.cost("backward")
    if info.split is not None:
        SPLITS[key] = info.split
    if info.fvcore is not None:
        CONVENTIONS["fvcore"][key] = info.fvcore
    if info.data_movement:
        DATA_MOVEMENT.add(key)
    return info


def info(op: Any) -> OpInfo | None:
    """The registry entry of ``op`` (a key, an overload or a packet), ``None`` if none."""
    return OPS.get(op_key(op))


def register(*ops: Any, convention: str = "native", data_movement: bool = False):
    """Decorator: register ``fn`` as the formula of each op in ``ops`` for ``convention``:
    "native" registers the ``forward`` part of each entry, "fvcore" its ``fvcore`` part.

    Raises :class:`RegistryError` on an unknown key or a key that already has a formula
    in that convention (a native one: forward, backward or split).  ``data_movement=True``
    marks the ops as pure data movement."""
    if convention not in CONVENTIONS:
        raise RegistryError(f"unknown convention '{convention}' (choose from {sorted(CONVENTIONS)})")
    keys = [op_key(op) for op in ops]
    table = CONVENTIONS[convention]

    def deco(fn: Formula) -> Formula:
        for k in keys:
            if k in table:
                raise RegistryError(f"formula for '{key_name(k)}' already registered in the "
                                    f"{convention} convention")
            if convention == "native":
                register_op(k, forward=fn, data_movement=data_movement)
            elif convention == "fvcore":
                register_op(k, fvcore=fn, data_movement=data_movement)
            else:                                  # a caller's own table
                table[k] = fn
                if data_movement:
                    register_op(k, data_movement=True)
        return fn
    return deco


def _entry(op: Key, value: Any) -> OpInfo:
    """A per-call ``formulas=`` value as an (unregistered) :class:`OpInfo`."""
    if isinstance(value, OpInfo):
        return value
    name = key_name(op)
    if isinstance(value, OpCost):
        parts = {p: getattr(value, p) for p in _COST_PARTS}
        if not any(parts.values()):
            raise RegistryError(f"OpCost for '{name}' names no formula (forward, backward or split)")
        for part, fn in parts.items():
            if fn is not None and not callable(fn):
                raise RegistryError(f"{part} formula for '{name}' is not callable")
        if value.backward is not None and value.split is not None:
            raise RegistryError(f"OpCost for '{name}': backward and split are both its backward "
                                f"cost; give one of them")
        return OpInfo(op, **parts)
    if not callable(value):
        raise RegistryError(f"formula for '{name}' is not callable")
    return OpInfo(op, forward=value)


def overrides(mapping: Mapping[Any, Any] | None) -> dict[Key, OpInfo]:
    """Validate a per-call ``formulas=`` mapping into {key: OpInfo} (keys checked; values a
    formula or an :class:`OpCost`).  Each entry replaces the registry's cost parts of its op
    for the call (its facts, e.g. ``weight_layer``, stay the registry's)."""
    out: dict[Key, OpInfo] = {}
    for op, value in (mapping or {}).items():
        k = op_key(op)
        out[k] = _entry(k, value)
    return out


def lookup(convention: str, key: Key, extra: Mapping[Key, Any] | None = None,
           phase: str = "forward") -> Formula | None:
    """The formula for a call of ``key`` in ``phase`` and ``convention``, a per-call entry
    (a formula, an :class:`OpCost` or an :class:`OpInfo`) first."""
    if extra and key in extra:
        entry = extra[key]
        if not isinstance(entry, OpInfo):
            entry = _entry(key, entry)
        return entry.cost(phase)
    if phase == "backward" and convention == "native":
        return BACKWARD.get(key)
    return CONVENTIONS[convention].get(key)


def split_of(key: Key, extra: Mapping[Key, Any] | None = None) -> Split | None:
    """The input/weight split of a backward call of ``key`` (a per-call entry first; a
    per-call entry without one means: decided by the autograd node)."""
    if extra and key in extra:
        entry = extra[key]
        if not isinstance(entry, OpInfo):
            entry = _entry(key, entry)
        return entry.split
    return SPLITS.get(key)


def keys(convention: str = "native") -> Iterable[Key]:
    return CONVENTIONS[convention].keys()
