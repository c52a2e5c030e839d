"""The reference: PyTorch's ``torch.distributed._tools.mem_tracker.MemTracker`` run on the
same program (``run.run_program``) under ``FakeTensorMode`` on CPU.

``memtracker_peak`` returns MemTracker's peak snapshot with its category names; ``ours_as``
folds our categories into MemTracker's, by design:

- MemTracker files every storage allocated during forward as "Activation" (saved for
  backward or not) and every storage allocated during backward as "Temp";
  we split forward storages into saved_activations and transient.
- MemTracker files everything allocated inside ``optimizer.step()`` as "Optstate",
  temporaries included; we call only ``optimizer.state`` tensors optimizer_state.
"""
from __future__ import annotations

import contextlib
import copy
import warnings
import torch
import torch.nn as nn

from .result import MemoryReport
from .tracked_run import run_program, setup
from .step_config import StepConfig, cast

MT_CATEGORIES = ("Parameter", "Buffer", "Gradient", "Activation", "Temp", "Optstate", "Other")


def memtracker_peak(meta_model: nn.Module, cfg: StepConfig) -> dict[str, int]:
    """MemTracker's peak snapshot (bytes per category and "Total") for ``cfg`` on a copy of
    ``meta_model`` moved to fake CPU tensors (FakeTensorMode), run under FakeTensorMode."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    model = cast(copy.deepcopy(meta_model), cfg.dtype)  # fake parameters cannot be cast
    with FakeTensorMode(allow_non_fake_inputs=True):
        model = model.to_empty(device="cpu")
        model, opt = setup(model, cfg)
        tracker = MemTracker()
        skip_frozen_grad_hooks(tracker, model)
        tracker.track_external(model, opt)
        grad = contextlib.nullcontext() if cfg.training else torch.no_grad()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with grad, tracker:
                run_program(model, cfg, "cpu", opt)
        snap = tracker.get_tracker_snapshot("peak")
    dev = next(iter(snap.values())) if snap else {}
    out = {getattr(k, "value", k): int(v) for k, v in dev.items()}
    return {k: out.get(k, 0) for k in (*MT_CATEGORIES, "Total")}


class _NoHook:
    def remove(self) -> None:
        return None


def skip_frozen_grad_hooks(tracker, model: nn.Module) -> None:
    """MemTracker registers a gradient hook on every parameter of every module it enters,
    and ``register_hook`` refuses a parameter that does not require gradients (a frozen
    layer): "cannot register a hook on a tensor that doesn't require gradient".  A frozen
    parameter never gets a gradient, so its hook would never fire: mark it as hooked
    already (MemTracker removes the placeholder handles at exit)."""
    for p in model.parameters():
        if not p.requires_grad:
            tracker._param_to_grad_hook_handles[p] = (_NoHook(), _NoHook())


def ours_as_memtracker(report: MemoryReport) -> dict[str, int]:
    """Our peak breakdown in MemTracker's categories (see the module docstring)."""
    d = report.detail
    return {"Parameter": d["parameters"], "Buffer": d["buffers"], "Gradient": d["gradients"],
            "Activation": d["saved_activations"] + d["transient_forward"],
            "Temp": d["transient_backward"],
            "Optstate": d["optimizer_state"] + d["transient_optimizer"], "Other": 0,
            "Total": report.peak_bytes}
