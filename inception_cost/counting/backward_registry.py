"""Registers the backward-pass formulas (each backward op's input/weight ``split``) and the
loss ops a training step runs in the op registry. Importing this module is enough; the
formulas themselves live in :mod:`.backward_formulas`.  An op registered twice (here and
in the forward formulas) raises."""
from __future__ import annotations

import torch

from . import formulas as _formulas  # noqa: F401 - the forward formulas register first
from .backward_formulas import GRADIENT_SPLITS
from .registry import Cost, OpCall, register_op

aten = torch.ops.aten

_DATA_MOVEMENT = {"nll_loss_backward", "nll_loss2d_backward", "select_backward", "slice_backward",
                  "index_select_backward"}


def _packet(name: str):
    try:
        return getattr(aten, name)
    except (AttributeError, RuntimeError):   # an op this torch build lacks
        return None


def _nll_loss_forward(call: OpCall) -> Cost:
    """nll_loss_forward(self, target, ...): one add per target element (the picked
    -log p summed; the mean's divide folded in)."""
    target = call.in_shapes[1] if len(call.in_shapes) > 1 and call.in_shapes[1] else ()
    n = 1
    for s in target:
        n *= int(s)
    return Cost(0, n)


def _index_put(call: OpCall) -> Cost:
    """index_put(self, indices, values, accumulate): with accumulate (the backward of
    indexing) one add per value element, else a copy (0)."""
    accumulate = bool(call.args[3]) if len(call.args) > 3 else bool(call.kwargs.get("accumulate", False))
    values = call.in_shapes[2] if len(call.in_shapes) > 2 and call.in_shapes[2] else ()
    n = 1
    for s in values:
        n *= int(s)
    return Cost(0, n if accumulate else 0)


def _zero(call: OpCall) -> Cost:
    return Cost(0, 0)


# ops a training step runs besides the backward formulas: random masks (dropout,
# stochastic depth: random-number generation, 0 FLOPs); gradient buffers (new_zeros) are
# data movement in the forward formulas already
_TRAINING_DATA_MOVEMENT = ("bernoulli_", "bernoulli")


def _register_all() -> None:
    for name, split in GRADIENT_SPLITS.items():
        op = _packet(name)
        if op is not None:
            register_op(op, split=split, data_movement=name in _DATA_MOVEMENT)
    for name in ("nll_loss_forward", "nll_loss2d_forward"):
        op = _packet(name)
        if op is not None:
            register_op(op, forward=_nll_loss_forward)
    for name in ("index_put", "index_put_", "_index_put_impl_"):
        op = _packet(name)
        if op is not None:
            register_op(op, forward=_index_put)
    for name in _TRAINING_DATA_MOVEMENT:
        op = _packet(name)
        if op is not None:
            register_op(op, forward=_zero, data_movement=True)


_register_all()
