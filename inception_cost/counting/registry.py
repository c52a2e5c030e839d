"""The formula registry: ``torch.ops.aten`` op -> cost function, one table per convention.

A formula is a small pure function of an :class:`OpCall` (integer-tuple shapes and
the op's scalar arguments) returning a :class:`Cost` (MACs, FLOPs).  Keys are
``torch.ops.aten`` overload packets (``torch.ops.aten.convolution``); an
``OpOverload`` (``torch.ops.aten.add.Tensor``) is reduced to its packet.  Forward
and backward ops (``aten.convolution_backward``) register the same way: nothing
here assumes a forward pass.

The only string keys are composite Python functions that have no aten op
(:data:`FUNCTION_KEYS`, e.g. ``"local_response_norm"`` for
``F.local_response_norm``).  Registering an unknown key, or the same key twice in
one convention, raises :class:`RegistryError`.

Usage::

    from inception_cost.counting.registry import Cost, register

    @register(torch.ops.aten.my_op, convention="native")
    def _my_op(call):
        return Cost(macs=..., flops=...)
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


CONVENTIONS: dict[str, dict[Key, Formula]] = {"native": {}, "fvcore": {}}
"""convention -> {key: formula}.  "native": documented MACs/FLOPs; "fvcore": FlopCountAnalysis."""

DATA_MOVEMENT: set = set()
"""Keys of ops that only move or fill memory (cost 0, never reported as uncounted)."""


def register(*ops: Any, convention: str = "native", data_movement: bool = False):
    """Decorator: register ``fn`` as the formula of each op in ``ops`` for ``convention``.

    Raises :class:`RegistryError` on an unknown key or a key already registered in
    that convention.  ``data_movement=True`` marks the ops as pure data movement."""
    if convention not in CONVENTIONS:
        raise RegistryError(f"unknown convention '{convention}' (choose from {sorted(CONVENTIONS)})")
    keys = [op_key(op) for op in ops]
    table = CONVENTIONS[convention]

    def deco(fn: Formula) -> Formula:
        for k in keys:
            if k in table:
                raise RegistryError(f"formula for '{key_name(k)}' already registered in the "
                                    f"{convention} convention")
            table[k] = fn
            if data_movement:
                DATA_MOVEMENT.add(k)
        return fn
    return deco


def overrides(mapping: Mapping[Any, Formula] | None) -> dict[Key, Formula]:
    """Validate a per-call ``formulas=`` mapping into {key: formula} (keys checked, callables required)."""
    out: dict[Key, Formula] = {}
    for op, fn in (mapping or {}).items():
        k = op_key(op)
        if not callable(fn):
            raise RegistryError(f"formula for '{key_name(k)}' is not callable")
        out[k] = fn
    return out


def lookup(convention: str, key: Key, extra: Mapping[Key, Formula] | None = None) -> Formula | None:
    """The formula for ``key`` in ``convention``, a per-call override first."""
    if extra and key in extra:
        return extra[key]
    return CONVENTIONS[convention].get(key)


def keys(convention: str = "native") -> Iterable[Key]:
    return CONVENTIONS[convention].keys()
