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

from .categories import BACKWARD, FORWARD, OPTIMIZER
from .step import StepConfig, autocast, loss_of, make_batch, make_optimizer, prepare_model, \
    warm_optimizer
from .tracker import StorageTracker


def _noop(*_a) -> None:
    return None


def run_program(model: nn.Module, cfg: StepConfig, device, optimizer,
                set_phase: Callable[[int], None] = _noop,
                set_module: Callable[[str], None] = _noop) -> None:
    """Inference: build the batch, forward.  Training: build the batch and targets,
    forward, loss, backward, optimizer.step(), zero_grad(set_to_none=True)."""
    with autocast(cfg, torch.device(device).type):
        set_phase(FORWARD)
        set_module("(input)")
        args, kwargs, target = make_batch(cfg, device)
        set_module("(model)")
        if not cfg.training:
            with torch.no_grad():
                out = model(*args, **kwargs)
            del out
            return
        out = model(*args, **kwargs)
        set_module("(loss)")
        loss = loss_of(out, target)
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
    opt = make_optimizer(cfg.optimizer, model.parameters()) if cfg.training else None
    if opt is not None and cfg.step == "steady":
        warm_optimizer(opt, model)
    return model, opt


def track(model: nn.Module, cfg: StepConfig, device) -> StorageTracker:
    """Run ``cfg`` on ``model`` (on ``device``: meta, or a fake device) under a fresh
    StorageTracker and return it, finished."""
    model, opt = setup(model, cfg)
    tracker = StorageTracker(module_names(model))
    tracker.register_model(model)
    if opt is not None:
        tracker.register_optimizer(opt)

    def set_phase(p: int) -> None:
        tracker.phase = p

    def set_module(m: str) -> None:
        tracker.module = m

    grad_ctx = contextlib.nullcontext() if cfg.training else torch.no_grad()
    with grad_ctx, tracker.hooks(model, cfg.training), tracker:
        run_program(model, cfg, device, opt, set_phase, set_module)
    if opt is not None:
        tracker.register_optimizer(opt, from_birth=True)
    return tracker
