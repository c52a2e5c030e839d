"""A user's model failing inside the analysed program, as one ``UsageError`` line.

The forward may raise, recurse without end, read tensor values (``.item()``,
``if x.sum() > 0``: the meta device has none), build a tensor beyond 2**63 - 1 bytes,
or modify in place a tensor autograd saved for backward (a step PyTorch refuses; the
message is PyTorch's own).
"""
from __future__ import annotations

from ..errors import UsageError
from .categories import BACKWARD, FORWARD, OPTIMIZER
from .tracker import InplaceModifiedError

META_HINT = ("this model's forward reads tensor values, which the meta device (where memory "
             "is tracked) does not have; target the CPU (device=\"cpu\"; CLI: --device cpu) "
             "to track a real CPU forward instead")
_META_MARKERS = ("meta tensor", "on meta", "meta device", "data-dependent", "data dependent",
                 "_local_scalar_dense", "dynamicoutputshape")
SIZE_HINT = ("a tensor of the model would exceed 2^63 - 1 bytes; use a smaller --batch or "
             "--input")


class ReadsValuesError(UsageError):
    """The model's forward read tensor values, which the meta device does not have."""


class TooLargeError(UsageError):
    """A tensor of the analysed program would exceed 2**63 - 1 bytes (torch sizes are
    int64): the batch or input is beyond what can be analysed."""


def _where(phase: int, module: str) -> str:
    if phase == FORWARD:
        return f"forward failed in module '{module or '<top>'}'"
    if phase == BACKWARD:
        return "backward failed"
    if phase == OPTIMIZER:
        return "optimizer step failed"
    return "the step failed"


def step_error(phase: int, module: str, exc: BaseException) -> UsageError:
    """``exc``, raised while ``module`` ran in ``phase``, as one line."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    if isinstance(exc, InplaceModifiedError):
        return UsageError(f"PyTorch refuses this training step: {text} (the model modifies in "
                          "place a tensor autograd saved for backward)")
    what = f"{_where(phase, module)}: {type(exc).__name__}: {text[:200]}"
    low = f"{type(exc).__name__} {text}".lower()
    if "overflow" in low:
        return TooLargeError(f"{what} — {SIZE_HINT}")
    if any(k in low for k in _META_MARKERS):
        return ReadsValuesError(f"{what} — {META_HINT}")
    return UsageError(what)
