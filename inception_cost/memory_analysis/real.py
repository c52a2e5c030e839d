"""The real thing: one program (``run.run_program``) run on real CPU tensors, its peak read
from ``torch.profiler``'s allocation events.

The profiler reports every CPU allocator request and release with the running total of
bytes allocated since profiling began; the peak of that total is what the program
allocated at its worst moment.  The storages alive before the program (parameters,
buffers, optimizer state of a steady step) are added: ``peak = static + max(total)``.
This is the allocator's view, so oneDNN scratch buffers and other kernel workspace that go
through PyTorch's CPU allocator are included.  Sizes in bytes.
"""
from __future__ import annotations

import contextlib
import gc
import warnings
from dataclasses import dataclass

import torch
import torch.nn as nn

from .tracked_run import run_program, setup
from .step_config import StepConfig


@dataclass(frozen=True)
class RealPeak:
    """``peak_bytes`` = ``static_bytes`` (parameters, buffers and optimizer state alive
    before the step) + ``program_peak_bytes`` (most bytes the program itself held)."""
    peak_bytes: int
    static_bytes: int
    program_peak_bytes: int
    threads: int


def _storages(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:
        if isinstance(t, torch.Tensor):
            st = t.untyped_storage()
            if st.data_ptr() not in seen:
                seen.add(st.data_ptr())
                total += st.nbytes()
    return total


def allocation_peak(events_tree) -> int:
    """Most bytes the CPU allocator held (running total of the profiler's allocation
    events), from ``kineto_results.experimental_event_tree()``."""
    peak = 0
    stack = list(events_tree)
    alloc = torch._C._profiler._EventType.Allocation
    while stack:
        e = stack.pop()
        stack.extend(e.children)
        if e.tag == alloc and str(e.extra_fields.device) == "cpu":
            peak = max(peak, int(e.extra_fields.total_allocated))
    return peak


def real_cpu_peak(model: nn.Module, cfg: StepConfig) -> RealPeak:
    """Run ``cfg`` once for real on ``model`` (a CPU module, used in place: the optimizer
    step changes its weights) and measure its peak (bytes)."""
    from torch.profiler import ProfilerActivity, profile
    model, opt = setup(model, cfg)
    static = _storages([*model.parameters(), *model.buffers()]
                       + [v for s in (opt.state.values() if opt else ())
                          for v in s.values()])
    grad = contextlib.nullcontext() if cfg.training else torch.no_grad()
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof, grad:
            run_program(model, cfg, "cpu", opt)
    program = allocation_peak(prof.profiler.kineto_results.experimental_event_tree())
    return RealPeak(static + program, static, program, torch.get_num_threads())


__all__ = ["real_cpu_peak", "RealPeak", "allocation_peak"]
