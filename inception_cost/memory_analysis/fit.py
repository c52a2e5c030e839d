"""The largest batch whose predicted peak fits a memory budget (bytes), searched on meta.

Exact integers throughout.  The search keeps a bracket [fits, does not fit]: it starts at
batch 1 and grows exponentially (doubling, or a secant jump: the peak grows almost affinely
with the batch, since parameters, gradients and optimizer state are fixed and activations
scale with N) until a batch does not fit, then shrinks by integer secant guesses, with a
bisection whenever a guess fails to halve the bracket, until it is one batch wide.  There
is no fixed cap: the only bound is ``limit``, the largest batch whose input tensor still
holds at most 2**63 - 1 bytes.  Every answer is verified by construction:
peak(best) <= budget < peak(best + 1); a batch whose peak equals the budget fits.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from ..errors import UsageError
from ..units import human_bytes
from .failures import TooLargeError
from .step_config import StepConfig


@dataclass(frozen=True)
class FitResult:
    """``batch``: the largest batch that fits (0: not even batch 1); ``peak_bytes``: its
    predicted peak (None when batch is 0); ``next_peak_bytes``: the peak of batch + 1 (of
    batch 1 when nothing fits); ``static_bytes``: the parameters; ``probes``: analyses run.
    All sizes in bytes."""
    training: bool
    budget_bytes: int
    batch: int
    peak_bytes: int | None
    next_peak_bytes: int
    static_bytes: int
    probes: int

    def __str__(self) -> str:
        """A short readable summary (exact bytes and their human form)."""
        from ..report.summary_text import fit_text
        return fit_text(self)

    def _repr_html_(self) -> str:
        from ..report.summary_text import as_html
        return as_html(str(self))


def largest_batch(peak_of: Callable[[int], int], budget: int, limit: int, start: int = 1
                  ) -> tuple[int, dict[int, int | None]]:
    """Largest n in [start, limit] with peak_of(n) <= budget (0 if none), for a non-decreasing
    ``peak_of`` (bytes); a probe that raises ``TooLargeError`` counts as not fitting.
    Returns it and every probe made {batch: peak bytes, or None when too large}."""
    seen: dict[int, int | None] = {}

    def fits(n: int) -> bool:
        if n not in seen:
            try:
                seen[n] = peak_of(n)
            except TooLargeError:
                seen[n] = None
        p = seen[n]
        return p is not None and p <= budget

    if limit < start or not fits(start):
        return 0, seen
    lo, hi = start, limit + 1          # fits(lo); hi: the smallest batch known not to (or past limit)
    bisect = False
    while hi - lo > 1:
        width = hi - lo
        guess = None if bisect else _secant(seen, lo, hi, budget)
        if guess is not None:
            mid = min(max(guess, lo + 1), hi - 1)
        elif hi > limit and hi not in seen:
            mid = min(2 * lo, hi - 1)   # no batch known to fail yet: grow exponentially
        else:
            mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
            if guess is not None and mid + 1 < hi and not fits(mid + 1):
                hi = mid + 1
        else:
            hi = mid
        bisect = guess is not None and 2 * (hi - lo) > width
    return lo, seen


def _secant(seen: dict, lo: int, hi: int, budget: int) -> int | None:
    """Integer estimate of the largest fitting batch from two probed peaks: the bracket
    ends when both are known, else the two largest fitting batches (an extrapolation)."""
    plo = seen[lo]
    if seen.get(hi) is not None:
        a, pa, b, pb = lo, plo, hi, seen[hi]
    else:
        below = [n for n, p in seen.items() if n < lo and p is not None and p <= budget]
        if not below:
            return None
        a = max(below)
        a, pa, b, pb = a, seen[a], lo, plo
    if pb <= pa:
        return None
    return lo + (budget - plo) * (b - a) // (pb - pa)


def check_budget(results) -> None:
    """A budget below the parameters alone in every mode asked is a usage error (one line
    naming what the parameters need)."""
    if results and all(r.static_bytes > r.budget_bytes for r in results):
        need = ", ".join(f"{size_text(r.static_bytes)} ({'training' if r.training else 'inference'})"
                         for r in results)
        raise UsageError(f"--fit {size_text(results[0].budget_bytes)} is smaller than the "
                         f"model: the parameters alone need {need}")


def size_text(nbytes: int) -> str:
    """Bytes for a message: human units, or scientific notation past what a float holds."""
    if nbytes < 2**80:
        return human_bytes(nbytes)
    digits = str(nbytes)
    return f"{digits[0]}.{digits[1:4]}e+{len(digits) - 1} B"


def fit(peak_of_cfg: Callable[[StepConfig], int], cfg: StepConfig, budget: int,
        parameter_bytes: int, limit: int, shown: str | None = None) -> FitResult:
    """Largest batch in [1, ``limit``] for ``cfg`` (its batch ignored) with
    ``peak_of_cfg(cfg) <= budget`` (bytes).  When not even batch 1 fits (the parameters
    alone may exceed the budget) the result has batch 0 and batch 1's peak.  ``shown``: how
    the error messages name the budget (default ``--fit <budget>``)."""
    shown = shown or f"--fit {size_text(budget)}"
    errors: dict[int, TooLargeError] = {}
    cache: dict[int, int] = {}

    def peak_of(n: int) -> int:
        if n not in cache:
            try:
                cache[n] = peak_of_cfg(replace(cfg, batch=n))
            except TooLargeError as e:
                errors[n] = e
                raise
        return cache[n]

    start, first_error = 1, None
    try:
        peak_of(1)
    except TooLargeError:
        raise
    except UsageError as e:      # e.g. batch norm in training refuses one value per channel
        if limit < 2:
            raise
        try:
            peak_of(2)
        except UsageError:
            raise e from None
        start, first_error = 2, e
    best, seen = largest_batch(peak_of, budget, limit, start)
    mode = "training" if cfg.training else "inference"
    if best == 0 and first_error is not None:
        raise UsageError(f"{mode}: batch 1 cannot run ({first_error}) and batch 2 needs "
                         f"{seen[2]:,} bytes, more than {shown}")
    if best == 0:
        if seen.get(1) is None:
            raise errors.get(1) or TooLargeError("batch 1 is too large to analyse")
        return FitResult(training=cfg.training, budget_bytes=budget, batch=0, peak_bytes=None,
                         next_peak_bytes=seen[1], static_bytes=parameter_bytes,
                         probes=len(seen))
    if best + 1 not in seen and best < limit:
        try:
            seen[best + 1] = peak_of(best + 1)
        except TooLargeError:
            seen[best + 1] = None
    if best >= limit or seen[best + 1] is None:
        why = ("its input would exceed 2^63 - 1 bytes" if best >= limit else
               "a tensor of the model would exceed 2^63 - 1 bytes")
        raise UsageError(f"{shown} is more than any batch the tool can "
                         f"analyse needs ({mode}): batch {best:,} fits with a peak of "
                         f"{seen[best]:,} bytes, and batch {best + 1:,} cannot be analysed "
                         f"({why})")
    return FitResult(training=cfg.training, budget_bytes=budget, batch=best,
                     peak_bytes=seen[best], next_peak_bytes=seen[best + 1],
                     static_bytes=parameter_bytes, probes=len(seen))
