"""``memory(model, ...)``: predicted peak memory of inference or of one training step."""
from __future__ import annotations

import contextlib
import math
from dataclasses import replace
from fractions import Fraction

import numpy as np
import torch
import torch.nn as nn

from ..counting.arguments import check_freeze
from ..counting.inputs import input_shape
from ..counting.placement import copy_on, unwrap
from ..counting.step_program import OLD_OPTIMIZER_NAMES, freeze_patterns
from ..errors import UsageError
from .analysis import (INT64_MAX, live_by_category, module_frame, public_columns,
                       resolve_modules, rounded, timeline_frame)
from .categories import CATEGORIES, FORWARD, INTERNAL, PHASES, SAVED
from .failures import ReadsValuesError, TooLargeError
from .result import MemoryReport
from .tracked_run import track
from .step_config import DEVICES, DTYPES, OPTIMIZERS, STEPS, StepConfig, cast, input_templates


DEFAULT_RESERVE = "5%"   # --fit headroom: a fraction of the budget kept free


def as_module(model, input_size, entry: str | None = "memory"):
    """nn.Module -> (module, input size, label): a compiled or DataParallel module is
    analysed through the module it wraps; without ``input_size``, its
    ``default_input_size`` (a zoo model's, e.g. (3, 299, 299)) or (3, 224, 224); the label
    is its class name.  The memory analysis takes a module, never a model name: a name is
    one UsageError pointing at the public ``inception_cost.<entry>``, which builds the
    named model first (:mod:`inception_cost.by_name`)."""
    if isinstance(model, nn.Module):
        model = unwrap(model)
        if input_size is None:
            input_size = getattr(model, "default_input_size", None) or (3, 224, 224)
        return model, input_size, type(model).__name__
    if isinstance(model, str):
        public = f", or call inception_cost.{entry}({model!r}, ...), which accepts model " \
            "names" if entry else ""
        raise UsageError(f"model must be an nn.Module, got the name {model!r}: build the "
                         f"module{public}")
    raise UsageError(f"model must be an nn.Module, got {type(model).__name__}")


def _split_input(input_size, batch) -> tuple[int, tuple[int, int, int]]:
    """(N, C, H, W) or (C, H, W) + batch -> (batch, (C, H, W)), positive integers (the
    rules and messages of ``count``'s ``input_size``)."""
    size = input_shape(input_size)
    if len(size) == 4:
        return size[0], size[1:]
    if len(size) == 3:
        return input_shape(size, batch)[0], size
    raise UsageError(f"input_size must be (C, H, W) or (N, C, H, W), got {input_size}")


def _name(value, what: str, choices) -> str:
    """An option given by name (case and spaces ignored); anything but a str is refused."""
    if not isinstance(value, str):
        raise UsageError(f"{what} must be one of the names {', '.join(choices)}, got "
                         f"{value!r}")
    return value.strip().lower()


def _flag(value, what: str):
    """None, True or False; anything else is refused."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    raise UsageError(f"{what} must be None, True or False, got {value!r}")


_MEMORY_SPELLING = {new: old for old, new in OLD_OPTIMIZER_NAMES.items()}


def memory_optimizer(name: str) -> str:
    """The optimizer name the memory analysis reports: 'sgd_momentum' (the name of the
    step program, ``count_training`` and ``train``) keeps its older spelling 'momentum'
    here (the same optimizer, :mod:`inception_cost.counting.step_program`)."""
    return _MEMORY_SPELLING.get(name, name)


def model_dtype(module, dtype):
    """'fp32' (the default) for a model built in fp16 or bf16 (``.half()``) is that
    dtype: the model is analysed as it is, its input in its dtype (an fp32 input would
    not run, and a cast to fp32 is not what the model is)."""
    if dtype == "fp32":
        from ..counting.inputs import float_dtype
        return {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(float_dtype(module), dtype)
    return dtype


def _model_and_input(model, input_size, batch, inputs, entry: str = "memory"):
    """(module, per-sample size, label, batch, input templates): from ``input_size`` (+
    ``batch``), or from ``inputs`` (tensors as ``count`` takes them; their first size is
    the batch)."""
    if inputs is None:
        module, chw, label = as_module(model, input_size, entry)
        return module, chw, label, batch, ()
    if input_size is not None:
        raise UsageError("give input_size= or inputs=, not both")
    module, _chw, label = as_module(model, None, entry)
    n, temps = input_templates(inputs)
    return module, temps[0].size, label, n, temps


def _config(chw, batch, training, optimizer, dtype, step, device="cuda", foreach=None,
            workspace=True, temps=(), freeze=None) -> StepConfig:
    n, chw = (batch, tuple(chw)) if temps else _split_input(chw, batch)
    if not isinstance(training, (bool, np.bool_)):
        raise UsageError(f"training must be True or False, got {training!r}")
    optimizer = _name("none" if optimizer is None else optimizer, "optimizer",
                      (*OPTIMIZERS, "sgd_momentum"))
    cfg = StepConfig(batch=n, input_size=chw, training=bool(training),
                     optimizer=memory_optimizer(optimizer),
                     dtype=_name(dtype, "dtype", DTYPES), step=_name(step, "step", STEPS),
                     device=_name(device, "device", DEVICES), foreach=_flag(foreach, "foreach"),
                     workspace=bool(workspace), inputs=tuple(temps),
                     freeze=tuple(freeze_patterns(freeze)))
    if not temps:
        check_input_bytes(cfg.batch, cfg.input_size, cfg.dtype)
    return cfg


def input_itemsize(dtype: str) -> int:
    """Bytes per element of the input batch (fp32 for 'fp32' and 'amp')."""
    return DTYPES[dtype].itemsize


def max_batch(chw: tuple[int, int, int], dtype: str) -> int:
    """The largest batch whose input N x C x H x W holds at most 2**63 - 1 bytes."""
    return INT64_MAX // (math.prod(chw) * input_itemsize(dtype))


def check_input_bytes(batch: int, chw: tuple[int, int, int], dtype: str) -> None:
    """TooLargeError when the input batch cannot be one tensor (2**63 - 1 bytes at most)."""
    if batch > max_batch(chw, dtype):
        c, h, w = chw
        n = batch * math.prod(chw)
        raise TooLargeError(f"input {batch}x{c}x{h}x{w} (N x C x H x W) has {_sci(n)} elements, "
                            f"more than one {dtype} tensor can hold (2^63 - 1 bytes); use a "
                            "smaller --batch or --input")


def _sci(n: int) -> str:
    digits = str(n)
    return f"{digits[0]}.{digits[1:4]}e+{len(digits) - 1:02d}"


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
    model = cast(model, dtype)   # on meta: fake parameters cannot be cast in place
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    with mode:
        model = model.to_empty(device="cpu")
    return model, "cpu", mode


def has_values(module: nn.Module) -> bool:
    """Whether every parameter and buffer holds data (none is on the meta device)."""
    return not any(t.device.type == "meta" for t in (*module.parameters(), *module.buffers()))


def _tracked(module: nn.Module, cfg: StepConfig, real: bool = False):
    """The program of ``cfg`` run under a tracker: on the meta device (or fake CPU
    tensors), the data never copied; ``real``: on a CPU copy of ``module`` with its
    values, for a forward that reads them."""
    if real:
        module = cast(copy_on(unwrap(module), "cpu", writable=True), cfg.dtype)
        device, mode = "cpu", contextlib.nullcontext()
    else:
        module = copy_on(unwrap(module), "meta")   # the structure is copied, the data never
        module, device, mode = _on_device(module, cfg.dtype)
    with mode:
        tracker = track(module, cfg, device)
    return module, tracker


def peak_bytes(module: nn.Module, cfg: StepConfig, rounding: bool = False) -> int:
    """Only the peak (bytes) of ``cfg`` on ``module``: what the batch search probes."""
    _, tracker = _tracked(module, cfg)
    return int(max(live_by_category(tracker, rounding).sum(axis=0)))


def analyse(module: nn.Module, cfg: StepConfig, label: str = "model",
            rounding: bool = False, real: bool = False) -> MemoryReport:
    """Track ``cfg`` on ``module`` and build the report (bytes); ``real``: run it on
    CPU tensors with the model's values (see :func:`memory`)."""
    module, tracker = _tracked(module, cfg, real)
    return report_from(module, tracker, cfg, label, rounding)


def report_from(module: nn.Module, tracker, cfg: StepConfig, label: str = "model",
                rounding: bool = False) -> MemoryReport:
    """The report (bytes) of a finished tracker of ``cfg`` run on ``module`` (the tracked
    copy)."""
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
        modules=module_frame(tracker, timeline, named, rounding), timeline=timeline,
        device=cfg.device, foreach=cfg.uses_foreach if cfg.training else False,
        attention=dict(tracker.attention))


def memory(model, input_size=None, *, batch: int = 1, training: bool = False,
           optimizer: str | None = None, dtype: str = "fp32", allocator_rounding: bool = False,
           step: str = "steady", name: str | None = None, device: str = "cuda",
           foreach: bool | None = None, workspace: bool = True, inputs=None,
           freeze=None) -> MemoryReport:
    """Predicted memory of one inference forward (``training=False``) or one training step
    (forward in train mode, cross-entropy loss with 0.3 x each auxiliary head, backward,
    ``optimizer.step()``), tracked storage by storage on the meta device.

    model: an nn.Module (any device; it is copied, never run for real); a model name
    (``"googlenet"``, ``torchvision:NAME``, ...) is built by the public
    :func:`inception_cost.memory`, not here.
    input_size: (C, H, W) with ``batch``, or (N, C, H, W).  optimizer: None/"none", "sgd",
    "momentum" (= "sgd_momentum"), "sgd_nesterov", "adam", "adamw", "rmsprop", "adagrad".
    dtype: "fp32", "bf16", "fp16" (model and input cast), "amp" (fp32 parameters, autocast to fp16).  step: "steady"
    (optimizer state exists before the step, as in every step after the first) or "first"
    (torch.optim creates it lazily inside this step).  allocator_rounding: round every
    allocation up to 512 bytes as the CUDA caching allocator does.  device: the target,
    "cuda" (default) or "cpu": the fused attention kernel and the optimizer implementation
    PyTorch picks there by default.  foreach: None = that default (multi-tensor on CUDA,
    per-parameter loop on CPU), True/False to choose.  workspace: add the kernel scratch
    of the target's ops while they run (category "workspace"; CPU rules in
    ``workspace.py``, none for cuda); False gives storages only (MemTracker's view).
    Returns a
    ``MemoryReport``; all sizes in bytes.
    inputs: instead of input_size, the model's inputs as :func:`inception_cost.count`
    takes them (a tensor, a tuple of tensors, a dict of keyword tensors, or (tuple,
    dict)); only their shapes and integer dtypes are used, and their first size is
    the batch. Float inputs take ``dtype``.
    A forward that reads tensor values (transformers checks its attention mask's) cannot
    run on meta: with ``device="cpu"`` the step then runs on real CPU tensors, on a copy
    of the model with its values (integer inputs all zeros: a mask of zeros pads every
    position); a model given on the meta device, or another target, is a
    ``ReadsValuesError`` (one line).
    freeze (training): module/parameter path patterns (fnmatch; a comma-separated string
    or a list) whose parameters get no gradient, as ``count_training``'s ``freeze``.
    """
    check_freeze(freeze)
    module, chw, label, n, temps = _model_and_input(model, input_size, batch, inputs)
    dtype = model_dtype(module, dtype)
    cfg = _config(chw, n, training, optimizer, dtype, step, device, foreach, workspace, temps,
                  freeze)
    try:
        return analyse(module, cfg, name or label, bool(allocator_rounding))
    except ReadsValuesError as e:
        if cfg.device != "cpu":
            raise
        if not has_values(module):
            raise ReadsValuesError(f"{e} (the model is on the meta device: build it on the "
                                   "CPU, with values, for a real forward)") from None
        return analyse(module, cfg, name or label, bool(allocator_rounding), real=True)


__all__ = ["memory", "analyse", "MemoryReport", "CATEGORIES"]


def fit_batch(model, budget: int | str, input_size=None, *, training: bool = False,
              optimizer: str | None = None, dtype: str = "fp32",
              allocator_rounding: bool = False, step: str = "steady", device: str = "cuda",
              foreach: bool | None = None, workspace: bool = True,
              reserve: int | str = DEFAULT_RESERVE, inputs=None):
    """Largest batch whose predicted peak (bytes) fits ``budget`` (bytes, or a size such as
    '16GiB') less ``reserve``; a ``fit.FitResult`` (its ``budget_bytes`` is the budget as
    given).  ``reserve``: headroom kept free for what the model does not predict
    (allocator fragmentation, unmodelled kernel workspace such as cuDNN's): a fraction of
    the budget ('5%', the default) or a size ('256MiB', 0).  Pass allocator_rounding=True
    for CUDA: the question is usually about a CUDA device, where it applies."""
    from .fit import fit, size_text
    from .sizes import parse_size
    module, chw, _label, _n, temps = _model_and_input(model, input_size, 1, inputs,
                                                          "fit_batch")
    dtype = model_dtype(module, dtype)
    cfg = _config(chw, 1, training, optimizer, dtype, step, device, foreach, workspace, temps)
    budget = _budget(budget, parse_size)
    usable = budget - reserve_bytes(reserve, budget)
    dt = DTYPES[cfg.dtype]
    params = sum(rounded(p.numel() * (dt.itemsize if cfg.dtype in ("bf16", "fp16")
                                      else p.element_size()), allocator_rounding)
                 for p in module.parameters())
    shown = f"--fit {size_text(budget)}" + (f" less the reserve ({size_text(budget - usable)})"
                                            if usable < budget else "")
    result = fit(lambda c: peak_bytes(module, c, bool(allocator_rounding)), cfg, usable, params,
                 max_batch(cfg.input_size, cfg.dtype), shown)
    return replace(result, budget_bytes=budget)


def _budget(budget, parse_size) -> int:
    """Bytes from an int, a size string ('16GiB', '8.2GB': exact) or a finite float (rounded
    down); anything else is the usage error the CLI prints for a bad --fit."""
    if isinstance(budget, bool):
        budget = str(budget)
    if isinstance(budget, int):
        if budget <= 0:
            raise UsageError(f"--fit must be a positive size (got '{budget}')")
        return budget
    if isinstance(budget, float) and math.isfinite(budget) and budget >= 1:
        return int(budget)
    return parse_size(budget if isinstance(budget, str) else repr(budget))


def reserve_bytes(reserve: int | str, budget: int) -> int:
    """Headroom in bytes: '5%' of ``budget`` (rounded down), a size ('256MiB'), or an int."""
    from .sizes import parse_size
    if isinstance(reserve, str) and reserve.strip().endswith("%"):
        text = reserve.strip()[:-1].strip()
        try:
            pct = Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise UsageError(f"--reserve must be a percentage like 5% or a size like 256MiB "
                             f"(got '{reserve}')") from None
        if not 0 <= pct < 100:
            raise UsageError(f"--reserve must be between 0% and 100% (got '{reserve}')")
        return int(budget * pct // 100)   # exact: no float
    value = parse_size(reserve, "--reserve") if isinstance(reserve, str) and \
        reserve.strip() not in ("0", "") else int(reserve or 0)
    if value < 0 or value >= budget:
        raise UsageError(f"--reserve must be smaller than the budget (got '{reserve}')")
    return value
