"""The largest batch whose predicted peak fits a memory budget (bytes), searched on meta.

The peak grows with the batch almost affinely (parameters, gradients and optimizer state are
fixed; activations scale with N), so each probe's guess is the secant between the current
bracket ends; the bracket [fits, does not fit] shrinks until it is one batch wide.  Every
answer is verified: peak(best) <= budget < peak(best + 1).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from ..errors import UsageError
from ..report.units import human_bytes
from .step import StepConfig

MAX_BATCH = 1 << 24


@dataclass(frozen=True)
class FitResult:
    """``batch``: the largest batch that fits (0: not even batch 1); ``peak_bytes``: its
    predicted peak; ``next_peak_bytes``: the peak of batch + 1; ``probes``: analyses run."""
    training: bool
    budget_bytes: int
    batch: int
    peak_bytes: int
    next_peak_bytes: int
    static_bytes: int
    probes: int


def largest_batch(peak_of: Callable[[int], int], budget: int, start: int = 1
                  ) -> tuple[int, dict[int, int]]:
    """Largest n >= 1 with peak_of(n) <= budget (0 if none), for a non-decreasing
    ``peak_of``; returns it and every probe made {batch: peak bytes}."""
    seen: dict[int, int] = {}

    def peak(n: int) -> int:
        if n not in seen:
            seen[n] = peak_of(n)
        return seen[n]

    if peak(start) > budget:
        if start == 1:
            return 0, seen
        return largest_batch(peak_of, budget, 1)
    lo, hi = start, None
    probe = max(2 * start, 8)
    while hi is None:
        p = peak(probe)
        if p <= budget:
            lo = probe
            slope = (p - peak(start)) / (probe - start) if probe > start else p
            guess = lo + int((budget - p) / slope) if slope > 0 else 2 * lo
            probe = min(max(guess + 1, lo + 1), MAX_BATCH)
            if lo >= MAX_BATCH:
                return lo, seen
        else:
            hi = probe
    while hi - lo > 1:
        plo, phi = peak(lo), peak(hi)
        guess = lo + int((budget - plo) * (hi - lo) / (phi - plo)) if phi > plo else lo + 1
        mid = min(max(guess, lo + 1), hi - 1)
        if peak(mid) <= budget:
            lo = mid
            if mid + 1 < hi and peak(mid + 1) > budget:
                hi = mid + 1
        else:
            hi = mid
    return lo, seen


def check_budget(budget: int, parameter_bytes: int) -> None:
    """A budget below the parameters alone is a usage error (one line)."""
    if parameter_bytes > budget:
        raise UsageError(f"--fit {human_bytes(budget)} is smaller than the model: the "
                         f"parameters alone need {human_bytes(parameter_bytes)}")


def fit(peak_of_cfg: Callable[[StepConfig], int], cfg: StepConfig, budget: int,
        parameter_bytes: int) -> FitResult:
    """Largest batch for ``cfg`` (its batch ignored) with ``peak_of_cfg(cfg) <= budget``."""
    check_budget(budget, parameter_bytes)
    best, seen = largest_batch(lambda n: peak_of_cfg(replace(cfg, batch=n)), budget)
    if best + 1 not in seen:
        seen[best + 1] = peak_of_cfg(replace(cfg, batch=best + 1))
    return FitResult(training=cfg.training, budget_bytes=budget, batch=best,
                     peak_bytes=seen.get(best, 0), next_peak_bytes=seen[best + 1],
                     static_bytes=parameter_bytes, probes=len(seen))
