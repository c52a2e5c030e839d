"""Checks of the Python API's arguments: a wrong type or value is a
:class:`~inception_cost.errors.UsageError` with the line the command line prints for
the same mistake, never a raw ``TypeError``/``RuntimeError`` from deep inside torch."""
from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from ..errors import UsageError


def check_device(device) -> str:
    """``device`` (a string or ``torch.device``) as a string: "meta", "cpu", or an
    accelerator this machine has. Unknown or unavailable is a UsageError."""
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise UsageError(f"device must be a string such as 'meta', 'cpu' or 'cuda', "
                         f"got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UsageError(f"unknown device '{device}' (choose meta, cpu or cuda)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device '{device}': CUDA is not available on this machine "
                             "(use meta or cpu)")
        if (dev.index or 0) >= torch.cuda.device_count():
            raise UsageError(f"no device '{device}': this machine has {torch.cuda.device_count()} "
                             "CUDA device(s)")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UsageError(f"device '{device}': MPS is not available on this machine "
                             "(use meta or cpu)")
    elif dev.type not in ("meta", "cpu"):
        raise UsageError(f"unsupported device '{device}' (choose meta, cpu or cuda)")
    return device


def check_freeze(freeze) -> None:
    """``freeze``: None, a comma-separated string, or a list/tuple of strings."""
    if freeze is None or isinstance(freeze, str):
        return
    if isinstance(freeze, (list, tuple, set, frozenset)) and all(isinstance(p, str) for p in freeze):
        return
    bad = freeze if not isinstance(freeze, (list, tuple, set, frozenset)) else \
        next(p for p in freeze if not isinstance(p, str))
    raise UsageError("freeze must be module/parameter patterns: a comma-separated string such "
                     f"as 'conv1,conv2*' or a list of strings, got {type(bad).__name__} {bad!r}")


def check_loss(loss) -> None:
    if loss is not None and not callable(loss):
        raise UsageError(f"loss must be a function loss(output) -> scalar tensor, "
                         f"got {type(loss).__name__}")


def check_aux_weight(weight) -> None:
    ok = isinstance(weight, (int, float)) and not isinstance(weight, bool) and math.isfinite(weight)
    if not ok:
        raise UsageError(f"aux_weight must be a finite number (the weight of each auxiliary "
                         f"loss), got {weight!r}")


def check_name(name) -> None:
    if not isinstance(name, str):
        raise UsageError(f"name must be a string, got {type(name).__name__}")


def check_flag(value, what: str) -> None:
    if not isinstance(value, bool):
        raise UsageError(f"{what} must be True or False, got {value!r}")


def check_formulas(formulas) -> None:
    if formulas is not None and not isinstance(formulas, Mapping):
        raise UsageError("formulas must be a dict {torch.ops.aten.op: fn} (fn: OpCall -> Cost, "
                         f"or an OpCost), got {type(formulas).__name__}")
