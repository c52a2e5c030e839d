"""Registers the backward-pass formulas (and the loss ops a training step runs) in the
native convention of the formula registry. Importing this module is enough; the
formulas themselves live in :mod:`.backward_formulas`."""
from __future__ import annotations

import torch

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


_register_all()
