"""``checkpoint_plan``: which modules to checkpoint so one training step fits a memory
budget with the least recompute.

Every peak the planner compares is a memory analysis (``memory_analysis``) of the model
with the plan applied (``apply_checkpointing``): the recompute in backward is tracked like
any other op, never modelled.  Recompute costs are counted (``recompute.py``) and add up
over modules.  The search:

1. Greedy order: candidates by activation bytes they save (without checkpointing) per
   recompute FLOP, most first.  The trade-off curve is every prefix of that order, from
   no checkpointing to every candidate, each analysed.
2. The shortest prefix that fits the budget (bisection over the prefixes; the peak
   usually falls as modules are added, and the prefix found is analysed), then pruned: each chosen module, most
   expensive first, is dropped when the plan still fits without it.
3. Proof: every subset of the candidates cheaper (in recompute FLOPs) than that plan is
   analysed, cheapest first; the first that fits is the optimum.  When they are all
   analysed (at most ``max_analyses``, at most 2^16 subsets) the answer is "exact": no
   cheaper plan fits.  Otherwise the greedy plan is returned as "greedy" and the result
   says how many cheaper subsets were not analysed.
"""
from __future__ import annotations

import time
from itertools import combinations

import pandas as pd
import torch.nn as nn

from ..counting.placement import copy_on
from ..errors import UsageError
from ..memory_analysis.api import _resolve, _split_input, analyse, peak_bytes
from ..memory_analysis.sizes import parse_size
from ..memory_analysis.step import StepConfig
from ..units import human_bytes
from .apply import check_modules, checkpointed_class
from .candidates import candidate_modules
from .recompute import recompute_costs
from .result import CheckpointPlanResult

MAX_EXACT_CANDIDATES = 16
"""Above this many candidates the cheaper subsets are not enumerated (2^16 = 65,536)."""


class _Peaks:
    """Peak bytes of the step with any subset checkpointed, on one meta copy whose
    modules' classes are switched per subset (memoized)."""

    def __init__(self, model: nn.Module, cfg: StepConfig, rounding: bool):
        self.work = copy_on(model, "meta")
        self.mods = dict(self.work.named_modules())
        self.base = {n: type(m) for n, m in self.mods.items()}
        self.cfg, self.rounding = cfg, rounding
        self.cache: dict[frozenset, int] = {}

    def _set(self, modules) -> None:
        chosen = set(modules)
        for name, cls in self.base.items():
            want = checkpointed_class(cls) if name in chosen else cls
            if type(self.mods[name]) is not want:
                self.mods[name].__class__ = want

    def __call__(self, modules) -> int:
        key = frozenset(modules)
        if key not in self.cache:
            self._set(key)
            self.cache[key] = peak_bytes(self.work, self.cfg, self.rounding)
        return self.cache[key]

    def report(self, modules, label: str):
        self._set(modules)
        try:
            return analyse(self.work, self.cfg, label, self.rounding)
        finally:
            self._set(())


def _budget(budget) -> int:
    if isinstance(budget, str):
        return parse_size(budget, "--budget")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        raise UsageError(f"budget must be a positive number of bytes or a size like 16GiB "
                         f"(got {budget!r})")
    return budget


def _greedy_order(cands: list[str], saved: dict[str, int], cost: dict[str, tuple[int, int]]):
    def key(m):
        s, f = saved.get(m, 0), cost[m][1]
        ratio = float("inf") if f == 0 and s > 0 else (s / f if f else 0.0)
        return (-ratio, cands.index(m))
    return sorted(cands, key=key)


def _cheaper_subsets(cands: list[str], cost: dict, limit: tuple[int, int]):
    """Every subset whose (FLOPs, MACs) recompute is below ``limit``, cheapest first."""
    out = []
    for k in range(len(cands) + 1):
        for combo in combinations(cands, k):
            f = sum(cost[m][1] for m in combo)
            mac = sum(cost[m][0] for m in combo)
            if (f, mac) < limit:
                out.append(((f, mac, k), combo))
    out.sort(key=lambda t: t[0])
    return [c for _, c in out]


def checkpoint_plan(model, input_size=None, *, budget, batch: int = 1, optimizer: str = "adam",
                    dtype: str = "fp32", step: str = "steady", allocator_rounding: bool = False,
                    candidates=None, max_analyses: int = 16, with_curve: bool = True,
                    name: str | None = None) -> CheckpointPlanResult:
    """Plan activation checkpointing for one training step of ``model`` so that its
    predicted peak is at most ``budget`` (bytes, or a size such as "16GiB") with the least
    recompute FLOPs.  ``input_size``: (C, H, W) with ``batch``, or (N, C, H, W);
    ``optimizer``/``dtype``/``step``/``allocator_rounding``: as ``inception_cost.memory``.
    ``candidates``: module names to choose from (default: ``candidate_modules(model)``).
    ``max_analyses``: memory analyses allowed for proving the plan optimal.
    ``with_curve``: analyse every prefix of the greedy order for the trade-off curve
    (n + 1 analyses); without it the fitting prefix is found by bisection.
    Raises ``UsageError`` when the budget is below the parameters, gradients and optimizer
    state, or when no plan that was analysed reaches it."""
    t0 = time.perf_counter()
    module, chw, label = _resolve(model, input_size)
    n, chw = _split_input(chw, batch)
    budget_bytes = _budget(budget)
    cfg = StepConfig(batch=n, input_size=chw, training=True,
                     optimizer=(optimizer or "none").lower(), dtype=str(dtype).lower(), step=step)
    cands = list(candidates) if candidates is not None else candidate_modules(module)
    check_modules(module, cands)
    peaks = _Peaks(module, cfg, allocator_rounding)
    base = peaks.report((), name or label)
    tl = base.timeline
    static = (base.parameter_bytes + base.buffer_bytes + int(tl["gradients"].max())
              + int(tl["optimizer_state"].max()))
    if budget_bytes < static:
        raise UsageError(f"budget {human_bytes(budget_bytes)} is below what the parameters, "
                         f"gradients and optimizer state alone need: {human_bytes(static)} "
                         f"({static:,} bytes); no checkpointing plan can help")
    peaks.cache[frozenset()] = base.peak_bytes
    saved = {r["module"]: int(r["saved_bytes"]) for r in base.modules.to_dict("records")}
    costs = recompute_costs(module, (n, *chw), cands, cfg.optimizer)
    cost = costs.per_module
    order = _greedy_order(cands, saved, cost)

    first_fit = None
    if base.peak_bytes > budget_bytes:
        first_fit = _first_fitting_prefix(order, peaks, budget_bytes)
    curve = _curve(order, peaks, costs, budget_bytes) if with_curve else pd.DataFrame(
        columns=["modules", "added", "peak_bytes", "recompute_macs", "recompute_flops", "fits"])

    if base.peak_bytes <= budget_bytes:
        chosen, method, note = (), "none needed", "the step fits without checkpointing"
    else:
        if first_fit is None:
            best = min(peaks.cache.items(), key=lambda kv: (kv[1], len(kv[0])))
            raise UsageError(
                f"no checkpointing plan fits {human_bytes(budget_bytes)}: the lowest predicted "
                f"peak reachable is {human_bytes(best[1])} ({best[1]:,} bytes, checkpointing "
                f"{len(best[0])} of {len(cands)} candidate modules; lowest of the "
                f"{len(peaks.cache)} plans analysed)")
        plan = list(order[:first_fit])
        for m in sorted(plan, key=lambda m: (-cost[m][1], plan.index(m))):
            trial = [x for x in plan if x != m]
            if peaks(trial) <= budget_bytes:
                plan = trial
        chosen = tuple(x for x in cands if x in plan)
        method, note = "greedy", ""
        limit = tuple(reversed(costs.of(chosen)))   # (FLOPs, MACs)
        if len(cands) <= MAX_EXACT_CANDIDATES:
            chosen, method, note = _prove(cands, cost, limit, chosen, peaks, budget_bytes,
                                          max_analyses)
        else:
            note = (f"greedy plan, not proven optimal: {len(cands)} candidates are more than "
                    f"{MAX_EXACT_CANDIDATES} for the exhaustive check")
    planned = peaks.report(chosen, name or label) if chosen else base
    after = {r["module"]: int(r["saved_bytes"]) for r in planned.modules.to_dict("records")}
    rows = []
    for m in cands:
        rows.append({"module": m, "type": type(peaks.mods[m]).__name__,
                     "saved_bytes": saved.get(m, 0),
                     "recompute_macs": cost[m][0], "recompute_flops": cost[m][1],
                     "chosen": m in chosen,
                     "bytes_saved": (saved.get(m, 0) - after.get(m, 0)) if m in chosen else 0})
    macs, flops = costs.of(chosen)
    step_macs = costs.step["fwd_macs"] + costs.step["bwd_macs"]
    return CheckpointPlanResult(
        model=name or label, batch=n, input_size=tuple(chw), optimizer=cfg.optimizer,
        dtype=cfg.dtype, budget_bytes=budget_bytes, peak_bytes=planned.peak_bytes,
        peak_op=planned.peak_op, peak_module=planned.peak_module,
        peak_phase=planned.peak_phase, baseline_peak_bytes=base.peak_bytes,
        baseline_peak_op=base.peak_op, baseline_peak_module=base.peak_module,
        baseline_peak_phase=base.peak_phase, static_bytes=static, recompute_macs=macs,
        recompute_flops=flops, step_macs=step_macs, step_flops=costs.step["step_flops"],
        modules=tuple(chosen), method=method, method_note=note, analyses=len(peaks.cache) + 2,
        seconds=time.perf_counter() - t0, candidates=pd.DataFrame(rows), curve=curve)


def _curve(order, peaks: _Peaks, costs, budget: int) -> pd.DataFrame:
    rows = []
    for k in range(len(order) + 1):
        plan = order[:k]
        p = peaks(plan)
        macs, flops = costs.of(plan)
        rows.append({"modules": k, "added": order[k - 1] if k else "(none)", "peak_bytes": p,
                     "recompute_macs": macs, "recompute_flops": flops, "fits": p <= budget})
    return pd.DataFrame(rows)


def _first_fitting_prefix(order, peaks: _Peaks, budget: int):
    """Shortest prefix of ``order`` that fits, by bisection (the peak falls as modules are
    added in the usual case; the result is verified, and None when even all do not fit)."""
    if peaks(order) > budget:
        return None
    lo, hi = 0, len(order)          # prefix lo does not fit (the base), prefix hi fits
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if peaks(order[:mid]) <= budget:
            hi = mid
        else:
            lo = mid
    return hi


def _prove(cands, cost, limit, greedy, peaks: _Peaks, budget: int, max_analyses: int):
    """Analyse the subsets cheaper than ``limit``, cheapest first: (plan, method, note)."""
    cheaper = _cheaper_subsets(cands, cost, limit)
    fresh = 0
    for i, combo in enumerate(cheaper):
        new = frozenset(combo) not in peaks.cache
        if new and fresh >= max_analyses:
            return greedy, "greedy", (
                f"greedy plan, not proven optimal: {len(cheaper) - i} of the {len(cheaper)} "
                f"plans with less recompute were not analysed (limit {max_analyses})")
        fresh += new
        if peaks(combo) <= budget:
            return tuple(combo), "exact", (
                f"every plan with less recompute ({i} of the {2 ** len(cands)} subsets of "
                f"{len(cands)} candidates) was analysed and does not fit")
    return greedy, "exact", (
        f"every plan with less recompute ({len(cheaper)} of the {2 ** len(cands)} subsets of "
        f"{len(cands)} candidates) was analysed and does not fit")


def fit_with_checkpointing(model, budget, input_size=None, *, optimizer: str = "adam",
                           dtype: str = "fp32", step: str = "steady",
                           allocator_rounding: bool = False, max_analyses: int = 64,
                           reserve: int | str = "5%"):
    """Largest training batch that fits ``budget`` (bytes or a size) less ``reserve`` (as
    ``fit_batch``'s: a percentage of the budget or a size) with checkpointing: the largest
    batch at which checkpointing every candidate fits (searched like ``fit_batch``), and
    the planner's least-recompute plan at that batch for the budget less the reserve.
    Returns (batch, peak bytes with every candidate at that batch - at batch 1 when no
    batch fits -, CheckpointPlanResult or None when no batch fits)."""
    from dataclasses import replace

    from ..memory_analysis.api import max_batch, reserve_bytes
    from ..memory_analysis.fit import largest_batch
    module, chw, label = _resolve(model, input_size)
    _n, chw = _split_input(chw, 1)
    budget_bytes = _budget(budget)
    budget_bytes -= reserve_bytes(reserve, budget_bytes)
    cfg = StepConfig(batch=1, input_size=chw, training=True,
                     optimizer=(optimizer or "none").lower(), dtype=str(dtype).lower(), step=step)
    cands = candidate_modules(module)
    work = copy_on(module, "meta")
    mods = dict(work.named_modules())
    for m in cands:
        mods[m].__class__ = checkpointed_class(type(mods[m]))
    best, seen = largest_batch(
        lambda b: peak_bytes(work, replace(cfg, batch=b), allocator_rounding), budget_bytes,
        max_batch(chw, cfg.dtype))
    if best == 0:           # the peak is batch 1's with every candidate (0: too large)
        return 0, seen.get(1) or 0, None
    plan = checkpoint_plan(module, (best, *chw), budget=budget_bytes, optimizer=optimizer,
                           dtype=dtype, step=step, allocator_rounding=allocator_rounding,
                           max_analyses=max_analyses, name=label)
    return best, seen[best], plan
