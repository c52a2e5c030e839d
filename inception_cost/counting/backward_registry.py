"""Registers the backward-pass formulas (and the loss ops a training step runs) in the
native convention of the formula registry. Importing this module is enough; the
formulas themselves live in :mod:`.backward_formulas`."""
from __future__ import annotations

import torch

from . import engine as _engine  # noqa: F401 - every built-in formula registers first (they win)
from .backward_formulas import GRADIENT_SPLITS, backward_cost
from .registry import CONVENTIONS, Cost, OpCall, register

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
# stochastic depth: random-number generation, 0 FLOPs) and gradient buffers
_TRAINING_DATA_MOVEMENT = ("bernoulli_", "bernoulli", "new_zeros")


def _register_all() -> None:
    native = CONVENTIONS["native"]
    for name in GRADIENT_SPLITS:
        op = _packet(name)
        if op is None or op in native:      # a formula the engine already has wins
            continue
        register(op, convention="native", data_movement=name in _DATA_MOVEMENT)(backward_cost)
    for name in ("nll_loss_forward", "nll_loss2d_forward"):
        op = _packet(name)
        if op is not None and op not in native:
            register(op, convention="native")(_nll_loss_forward)
    for name in ("index_put", "index_put_", "_index_put_impl_"):
        op = _packet(name)
        if op is not None and op not in native:
            register(op, convention="native")(_index_put)
    for name in _TRAINING_DATA_MOVEMENT:
        op = _packet(name)
        if op is not None and op not in native:
            register(op, convention="native", data_movement=True)(_zero)


_register_all()
