"""``memory(model, ...)``: predicted peak memory of inference or of one training step."""
from __future__ import annotations

import contextlib

import numpy as np
import torch.nn as nn

from ..counting.placement import copy_on
from ..errors import UsageError
from .analysis import (live_by_category, module_frame, public_columns, resolve_modules,
                       rounded, timeline_frame)
from .categories import CATEGORIES, FORWARD, INTERNAL, PHASES, SAVED
from .result import MemoryReport
from .run import track
from .step import DTYPES, StepConfig, input_templates


def memory_optimizer(name: str | None) -> str:
    """The optimizer name the step runs: 'sgd_momentum' (the name ``count_training``
    and ``train`` use) is 'momentum' here."""
    name = (name or "none").lower()
    return "momentum" if name == "sgd_momentum" else name


def _resolve(model, input_size):
    """nn.Module or a model spec (variant name, torchvision:NAME, ...) -> (module, C x H x W,
    label)."""
    if isinstance(model, nn.Module):
        if input_size is None:
            input_size = tuple(getattr(model, "default_input_size", (3, 224, 224)))
        return model, input_size, type(model).__name__
    if isinstance(model, str):
        from ..models.resolve import resolve_model
        module, default, label = resolve_model(model)
        return module, input_size or default, label
    raise UsageError(f"model must be an nn.Module or a model name, got {type(model).__name__}")


def _split_input(input_size, batch):
    """(N, C, H, W) or (C, H, W) + batch -> (batch, (C, H, W))."""
    size = tuple(int(v) for v in input_size)
    if len(size) == 4:
        return size[0], size[1:]
    if len(size) == 3:
        return batch, size
    raise UsageError(f"input_size must be (C, H, W) or (N, C, H, W), got {input_size}")


# Modules whose eval forward takes a device-dependent "fast path" (fused attention kernels
# on CPU/CUDA only, never on meta): such models run on fake CPU tensors instead, so that the
# analysed program is the one a CPU or CUDA device runs.
_FAST_PATH_MODULES = (nn.MultiheadAttention, nn.TransformerEncoderLayer)


def needs_fake_device(model: nn.Module, dtype: str) -> bool:
    """True for dtype='amp' (autocast needs a device with an autocast dispatch key; meta
    has none) and for models with a device-dependent fast path."""
    return dtype == "amp" or any(isinstance(m, _FAST_PATH_MODULES) for m in model.modules())


def _on_device(model: nn.Module, dtype: str):
    """Where the program runs: the meta device, or fake CPU tensors (FakeTensorMode) where
    ``needs_fake_device``."""
    if not needs_fake_device(model, dtype):
        if any(t.device.type != "meta" for t in (*model.parameters(), *model.buffers())):
            model = model.to_empty(device="meta")
        return model, "meta", contextlib.nullcontext()
    from torch._subclasses.fake_tensor import FakeTensorMode
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    with mode:
        model = model.to_empty(device="cpu")
    return model, "cpu", mode


def _tracked(module: nn.Module, cfg: StepConfig):
    module = copy_on(module, "meta")   # the structure is copied, the data never
    module, device, mode = _on_device(module, cfg.dtype)
    with mode:
        tracker = track(module, cfg, device)
    return module, tracker


def peak_bytes(module: nn.Module, cfg: StepConfig, rounding: bool = False) -> int:
    """Only the peak (bytes) of ``cfg`` on ``module``: what the batch search probes."""
    _, tracker = _tracked(module, cfg)
    return int(live_by_category(tracker, rounding).sum(axis=0).max())


def analyse(module: nn.Module, cfg: StepConfig, label: str = "model",
            rounding: bool = False) -> MemoryReport:
    """Track ``cfg`` on ``module`` and build the report (bytes)."""
    module, tracker = _tracked(module, cfg)
    internal = live_by_category(tracker, rounding)
    modules = resolve_modules(tracker)
    timeline = timeline_frame(tracker, internal, modules)
    total = internal.sum(axis=0)
    peak = int(np.argmax(total))
    at_peak = {name: int(arr[peak]) for name, arr in public_columns(internal).items()}
    detail = {name: int(internal[i, peak]) for i, name in enumerate(INTERNAL)}
    named = [(n or "(model)", m) for n, m in module.named_modules()]
    params = sum(rounded(p.untyped_storage().nbytes(), rounding) for p in module.parameters())
    buffers = sum(rounded(b.untyped_storage().nbytes(), rounding) for b in module.buffers())
    act_sum = sum(rounded(r.nbytes, rounding) for r in tracker.records
                  if r.phase == FORWARD and r.segments[0][1] >= SAVED)
    return MemoryReport(
        model=label, batch=cfg.batch, input_size=tuple(cfg.input_size), training=cfg.training,
        optimizer=cfg.optimizer if cfg.training else "none", dtype=cfg.dtype,
        step=cfg.step if cfg.training and cfg.optimizer != "none" else "",
        rounding=rounding, peak_bytes=int(total[peak]), peak_op_index=peak,
        peak_op=timeline["op"].iat[peak], peak_module=str(modules[peak]),
        peak_phase=PHASES[tracker.op_phases[peak]], breakdown=at_peak, detail=detail,
        parameter_bytes=int(params), buffer_bytes=int(buffers),
        activation_sum_bytes=int(act_sum), ops=tracker.n,
        modules=module_frame(tracker, timeline, named, rounding), timeline=timeline)


def memory(model, input_size=None, *, batch: int = 1, training: bool = False,
           optimizer: str | None = None, dtype: str = "fp32", allocator_rounding: bool = False,
           step: str = "steady", name: str | None = None, inputs=None) -> MemoryReport:
    """Predicted memory of one inference forward (``training=False``) or one training step
    (forward in train mode, cross-entropy loss with 0.3 x each auxiliary head, backward,
    ``optimizer.step()``), tracked storage by storage on the meta device.

    model: an nn.Module (any device; it is copied, never run for real) or a model spec.
    input_size: (C, H, W) with ``batch``, or (N, C, H, W).  optimizer: None/"none", "sgd",
    "momentum", "adam", "adamw", "rmsprop", "adagrad".  dtype: "fp32", "bf16", "fp16"
    (model and input cast), "amp" (fp32 parameters, autocast to fp16).  step: "steady"
    (optimizer state exists before the step, as in every step after the first) or "first"
    (torch.optim creates it lazily inside this step).  allocator_rounding: round every
    allocation up to 512 bytes as the CUDA caching allocator does.  Returns a
    ``MemoryReport``; all sizes in bytes.
    inputs: instead of input_size, the model's inputs as :func:`inception_cost.count`
    takes them (a tensor, a tuple of tensors, a dict of keyword tensors, or (tuple,
    dict)); only their shapes and integer dtypes are used, and their first size is
    the batch. Float inputs take ``dtype``.
    """
    if inputs is not None:
        if input_size is not None:
            raise UsageError("give input_size= or inputs=, not both")
        module, _chw, label = _resolve(model, None)
        n, temps = input_templates(inputs)
        chw = temps[0].size
    else:
        module, chw, label = _resolve(model, input_size)
        n, chw = _split_input(chw, batch)
        temps = ()
    cfg = StepConfig(batch=n, input_size=chw, training=bool(training),
                     optimizer=memory_optimizer(optimizer), dtype=str(dtype).lower(),
                     step=step, inputs=temps)
    return analyse(module, cfg, name or label, allocator_rounding)


__all__ = ["memory", "analyse", "MemoryReport", "CATEGORIES"]


def fit_batch(model, budget: int | str, input_size=None, *, training: bool = False,
              optimizer: str | None = None, dtype: str = "fp32",
              allocator_rounding: bool = False, step: str = "steady", inputs=None):
    """Largest batch whose predicted peak (bytes) fits ``budget`` (bytes, or a size such as
    '16GiB'); a ``fit.FitResult``.  Pass allocator_rounding=True for CUDA: the
    question is usually about a CUDA device, where it applies."""
    from .fit import fit
    from .sizes import parse_size
    if inputs is not None:
        module, _chw, _label = _resolve(model, None)
        _n, temps = input_templates(inputs)
        chw = temps[0].size
    else:
        module, chw, _label = _resolve(model, input_size)
        _n, chw = _split_input(chw, 1)
        temps = ()
    budget = parse_size(budget) if isinstance(budget, str) else int(budget)
    cfg = StepConfig(batch=1, input_size=chw, training=bool(training),
                     optimizer=memory_optimizer(optimizer), dtype=str(dtype).lower(),
                     step=step, inputs=temps)
    dt = DTYPES[cfg.dtype]
    params = sum(rounded(p.numel() * (dt.itemsize if cfg.dtype in ("bf16", "fp16")
                                      else p.element_size()), allocator_rounding)
                 for p in module.parameters())
    return fit(lambda c: peak_bytes(module, c, allocator_rounding), cfg, budget, params)
