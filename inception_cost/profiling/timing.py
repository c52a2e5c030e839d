"""Whole-model timers and their statistics. Times are milliseconds.

CUDA: one pair of ``torch.cuda.Event(enable_timing=True)`` around each
forward, recorded on the current stream with no synchronize in between (the
GPU time of each iteration, launches pipelined as in real inference); one
``torch.cuda.synchronize()`` after the last iteration, then ``elapsed_time``
of every pair. CPU: ``time.perf_counter`` around each forward.

Percentiles use linear interpolation between order statistics (numpy's
default, Hyndman & Fan type 7); ``std`` is the sample standard deviation
(ddof=1) and ``cv = std / mean``.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

CV_WARN = 0.05  # coefficient of variation above which a timing is flagged as noisy


class CpuClock:
    """Marks are ``time.perf_counter()`` values (seconds)."""

    def mark(self):
        return time.perf_counter()

    def elapsed_ms(self, start, end) -> float:
        return (end - start) * 1e3

    def finish(self) -> None:
        pass


class CudaClock:
    """Marks are CUDA events recorded on the current stream; read after ``finish``."""

    def mark(self):
        ev = torch.cuda.Event(enable_timing=True)
        ev.record()
        return ev

    def elapsed_ms(self, start, end) -> float:
        return float(start.elapsed_time(end))

    def finish(self) -> None:
        torch.cuda.synchronize()


def clock_for(device: str):
    return CudaClock() if torch.device(device).type == "cuda" else CpuClock()


def time_calls(fn: Callable[[], object], iters: int, clock) -> list[float]:
    """Run ``fn`` ``iters`` times; the time of each call in ms."""
    marks = []
    for _ in range(iters):
        start = clock.mark()
        fn()
        marks.append((start, clock.mark()))
    clock.finish()
    return [clock.elapsed_ms(s, e) for s, e in marks]


def warm_up(fn: Callable[[], object], warmup: int, device: str) -> None:
    for _ in range(warmup):
        fn()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def stats(times_ms) -> dict:
    """median/p10/p90/mean/std/min (ms) and cv of a list of times."""
    t = np.asarray(times_ms, dtype=float)
    if t.size == 0:
        raise ValueError("no times")
    mean = float(t.mean())
    std = float(t.std(ddof=1)) if t.size > 1 else 0.0
    return {"median_ms": float(np.median(t)), "p10_ms": float(np.percentile(t, 10)),
            "p90_ms": float(np.percentile(t, 90)), "mean_ms": mean, "std_ms": std,
            "min_ms": float(t.min()), "cv": std / mean if mean > 0 else float("nan")}
