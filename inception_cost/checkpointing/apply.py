"""``apply_checkpointing(model, plan)``: a copy of ``model`` whose planned modules run under
``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)``.

Each planned module keeps its name, parameters and state-dict keys; only its class changes
to a subclass (same ``__name__``) whose ``forward`` calls the original ``forward`` through
non-reentrant checkpointing.  Because the change lives in the class, every copy of the
wrapped model (``copy.copy``, ``copy.deepcopy``, the memory analysis' meta copy) stays
wrapped and runs its own parameters.  The caller's model is never changed.
"""
from __future__ import annotations

import copy
import functools

import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from ..errors import UsageError

_SUBCLASSES: dict[type, type] = {}
OBSERVERS: list = []
"""Callables ``observer(module, entering: bool)`` told when a checkpointed module's own
forward starts and ends - its first run and its recompute in backward (the peak model's
recording run uses this; empty otherwise, and then nothing is added to the call)."""


def _observed(module, fn, *args, **kwargs):
    for obs in tuple(OBSERVERS):
        obs(module, True)
    try:
        return fn(*args, **kwargs)
    finally:
        for obs in tuple(OBSERVERS):
            obs(module, False)


def _checkpointed_forward(self, *args, **kwargs):
    base = type(self).__checkpointed_base__
    fn = functools.partial(base.forward, self)
    if OBSERVERS:
        fn = functools.partial(_observed, self, fn)
    return checkpoint(fn, *args, use_reentrant=False, **kwargs)


def checkpointed_class(cls: type) -> type:
    """The subclass of ``cls`` whose forward runs under non-reentrant checkpointing
    (one per class; ``isinstance`` and the class name are unchanged)."""
    if getattr(cls, "__checkpointed_base__", None) is not None:
        return cls
    sub = _SUBCLASSES.get(cls)
    if sub is None:
        sub = type(cls.__name__, (cls,), {"forward": _checkpointed_forward,
                                          "__checkpointed_base__": cls,
                                          "__module__": cls.__module__})
        _SUBCLASSES[cls] = sub
    return sub


def is_checkpointed(module: nn.Module) -> bool:
    """True when ``module``'s forward runs under checkpointing applied by this package."""
    return getattr(type(module), "__checkpointed_base__", None) is not None


def check_modules(model: nn.Module, names) -> tuple[str, ...]:
    """Validate a plan's module names against ``model``: each names a submodule (not the
    model itself), none is listed twice, none lies inside another.  Returns them as a
    tuple; raises ``UsageError`` with one line otherwise."""
    names = tuple(str(n) for n in names)
    known = dict(model.named_modules())
    missing = [n for n in names if not n or n not in known]
    if missing:
        raise UsageError(f"the plan names module{'s' if len(missing) > 1 else ''} the model "
                         f"does not have: {', '.join(repr(n) for n in missing)}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"the plan lists {dupes[0]!r} more than once")
    for a in names:
        for b in names:
            if a != b and b.startswith(a + "."):
                raise UsageError(f"the plan nests {b!r} inside {a!r}: checkpointed modules "
                                 "must not contain each other")
    return names


def apply_checkpointing(model: nn.Module, plan) -> nn.Module:
    """A deep copy of ``model`` with every module named by ``plan`` (a ``CheckpointPlan``, a
    planner result, or a list of module names) wrapped in non-reentrant checkpointing.
    The caller's ``model`` is untouched; the copy computes the same values."""
    if not isinstance(model, nn.Module):
        raise UsageError(f"model must be an nn.Module, got {type(model).__name__}")
    names = check_modules(model, plan_modules(plan))
    out = copy.deepcopy(model)
    known = dict(out.named_modules())
    for name in names:
        mod = known[name]
        mod.__class__ = checkpointed_class(type(mod))
    return out


def plan_modules(plan) -> tuple[str, ...]:
    """The module names of a plan object, a planner result, or a sequence of names."""
    if isinstance(plan, str):
        raise UsageError("a plan is a list of module names or a CheckpointPlan (read a plan "
                         "file with inception_cost.checkpointing.load_plan)")
    mods = getattr(plan, "modules", plan)
    try:
        return tuple(mods)
    except TypeError:
        raise UsageError(f"a plan must list module names, got {type(plan).__name__}") from None
