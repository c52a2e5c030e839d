"""Drive one analysed program (inference forward or training step) under a tracker.

``run_program`` is shared by our ``StorageTracker`` and the MemTracker reference: the
``marks`` callbacks tell the tracker the phase and module; the Python references held are
the same for both, so both see the same lifetimes.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch
import torch.nn as nn

from ..errors import UsageError
from .attention import FusedAttention
from .categories import BACKWARD, FORWARD, OPTIMIZER
from .failures import step_error
from .step_config import StepConfig, autocast, loss_of, make_batch, prepare_model, warm_optimizer
from .tracker import StorageTracker
from .workspace import default_threads
from .workspace import rules as workspace_rules


def _noop(*_a) -> None:
    return None


def run_program(model: nn.Module, cfg: StepConfig, device, optimizer,
                set_phase: Callable[[int], None] = _noop,
                set_module: Callable[[str], None] = _noop,
                on_batch: Callable[[tuple, dict], None] = _noop,
                on_loss: Callable[[object, object], None] = _noop) -> None:
    """Inference: build the batch, forward.  Training: build the batch and targets,
    forward, loss, backward, optimizer.step(), zero_grad(set_to_none=True).
    ``on_batch(args, kwargs)`` sees the inputs before the forward, ``on_loss(out, loss)``
    the output and the loss before the step drops the output (another reader of the
    same run, e.g. the training counts, looks there; neither may keep them)."""
    with autocast(cfg, torch.device(device).type):
        set_phase(FORWARD)
        set_module("(input)")
        args, kwargs, target = make_batch(cfg, device)
        on_batch(args, kwargs)
        set_module("(model)")
        if not cfg.training:
            with torch.no_grad():
                out = model(*args, **kwargs)
            del out
            return
        out = model(*args, **kwargs)
        set_module("(loss)")
        loss = loss_of(out, target, cfg.program)
        on_loss(out, loss)
        del out
    set_phase(BACKWARD)
    loss.backward()
    del loss
    if optimizer is not None:
        set_phase(OPTIMIZER)
        set_module("(optimizer)")
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def module_names(model: nn.Module) -> dict[int, str]:
    return {id(m): (name or "(model)") for name, m in model.named_modules()}


def setup(model: nn.Module, cfg: StepConfig):
    """Model in the right mode/dtype, and its optimizer (state created for 'steady')."""
    model = prepare_model(model, cfg)
    if cfg.training:
        cfg.program.freeze_parameters(model)
    if cfg.training and not any(p.requires_grad for p in model.parameters()):
        raise UsageError("the model has no parameters that require gradients: a training step "
                         "has nothing to train (analyse inference without --train)")
    opt = cfg.program.make_optimizer(model.parameters()) if cfg.training else None
    if opt is not None and cfg.step == "steady":
        warm_optimizer(opt, model)
    return model, opt


def track(model: nn.Module, cfg: StepConfig, device) -> StorageTracker:
    """Run ``cfg`` on ``model`` (on ``device``: meta, or a fake device) under a fresh
    StorageTracker and return it, finished."""
    model, opt = setup(model, cfg)
    tracker = new_tracker(model, cfg, opt)
    run_tracked(model, cfg, device, opt, tracker, tracker.capture())
    return tracker


def new_tracker(model: nn.Module, cfg: StepConfig, opt) -> StorageTracker:
    """A StorageTracker for ``cfg`` on the set-up ``model`` and its optimizer ``opt``, with
    the parameters, buffers, gradients and optimizer state that exist before the step."""
    tracker = StorageTracker(module_names(model))
    if cfg.workspace:
        tracker.workspace_rules = workspace_rules(cfg.device)
        tracker.threads = default_threads()
    tracker.register_model(model)
    if opt is not None:
        tracker.register_optimizer(opt)
    return tracker


def run_tracked(model: nn.Module, cfg: StepConfig, device, opt, tracker: StorageTracker,
                capture, on_phase: Callable[[int, str], None] = _noop,
                on_batch: Callable[[tuple, dict], None] = _noop,
                on_loss: Callable[[object, object], None] = _noop):
    """Run the program of ``cfg`` with ``tracker`` reading it: ``capture`` is the context that
    runs the op capture the tracker is subscribed to (entered once around the program; its
    value is returned).  ``on_phase(phase, module)`` follows the tracker's phase and module;
    ``on_batch``/``on_loss``: see :func:`run_program`."""
    def set_phase(p: int) -> None:
        tracker.phase = p
        on_phase(p, tracker.module)

    def set_module(m: str) -> None:
        tracker.module = m
        on_phase(tracker.phase, m)

    grad_ctx = contextlib.nullcontext() if cfg.training else torch.no_grad()
    attention = FusedAttention(cfg.device)
    try:
        with grad_ctx, tracker.hooks(model, cfg.training), attention, capture as entered:
            run_program(model, cfg, device, opt, set_phase, set_module, on_batch, on_loss)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - the user's model failed: one line
        raise step_error(tracker.phase, tracker.module, exc) from exc
    tracker.attention = dict(attention.used)
    if opt is not None:
        tracker.register_optimizer(opt, from_birth=True)
    return entered
