"""``checkpoint_plan``: which modules to checkpoint so one training step fits a memory
budget with the least recompute.

The objective: least recompute FLOPs (then MACs) among the sets of candidates whose peak
fits the budget.  Recompute costs are counted (``recompute.py``) and add up over modules.
Peaks come from the peak model (``peak_model.py``: two recorded analyses, no module and
every candidate checkpointed, from which the peak of any set is a max over one array);
the plan the planner returns is then analysed exactly (``memory_analysis`` on the wrapped
model), and that analysis is the ``peak_bytes`` it reports.  The search:

1. Greedy order: candidates by activation bytes they save (without checkpointing) per
   recompute FLOP, most first.  The trade-off curve is every prefix of that order, from
   no checkpointing to every candidate (modelled; the first row and any plan already
   analysed are analyses, every row with ``verify_curve=True``).
2. A first plan: the shortest fitting prefix, pruned (each chosen module, most expensive
   first, is dropped when the plan still fits without it).
3. Branch and bound over all subsets of the candidates (include/exclude in greedy order):
   a branch is cut when its recompute is not below the best plan's, or when even taking
   every undecided candidate's savings wherever they help its peak stays above the budget
   (``PeakModel.lower_bound``).  When the search ends within ``max_nodes`` branches, the
   plan is the least recompute of all 2^n subsets under the peak model: method "exact".
   Otherwise the best plan found is returned as "greedy".
4. The plan is analysed exactly.  If the analysis disagrees with the model the plan is
   still reported with its analysed peak; one that no longer fits, or a model that could
   not be built (the two recorded runs do not align), sends the planner to the search by
   analyses alone (``_search_by_analyses``: bisection over the greedy prefixes, pruning,
   and at most ``max_analyses`` analyses of cheaper subsets as proof).
"""
from __future__ import annotations

import time
from itertools import combinations

import numpy as np
import pandas as pd
import torch.nn as nn

from ..counting.placement import copy_on
from ..errors import UsageError
from ..memory_analysis.api import _split_input, analyse, as_module, peak_bytes, report_from
from ..memory_analysis.sizes import parse_size
from ..memory_analysis.step_config import StepConfig
from ..units import human_bytes
from .apply import check_modules, checkpointed_class
from .candidates import candidate_modules
from .peak_model import PeakModel, build_peak_model, record
from .recompute import recompute_costs
from .result import CheckpointPlanResult

MAX_EXACT_CANDIDATES = 16
"""Without the peak model: above this many candidates the cheaper subsets are not
enumerated (2^16 = 65,536)."""
MAX_NODES = 200_000
"""Branches the branch and bound may visit (each one max over one array of live bytes)."""
OBJECTIVE = "recompute FLOPs, then recompute MACs"


class _Peaks:
    """Peak bytes of the step with any subset checkpointed, on one meta copy whose
    modules' classes are switched per subset (memoized)."""

    def __init__(self, model: nn.Module, cfg: StepConfig, rounding: bool):
        self.work = copy_on(model, "meta")
        self.mods = dict(self.work.named_modules())
        self.base = {n: type(m) for n, m in self.mods.items()}
        self.cfg, self.rounding = cfg, rounding
        self.cache: dict[frozenset, int] = {}
        self.runs = 0    # analyses run (cache misses and reports)

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
            self.runs += 1
            self.cache[key] = peak_bytes(self.work, self.cfg, self.rounding)
        return self.cache[key]

    def report(self, modules, label: str):
        self._set(modules)
        self.runs += 1
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
                    verify_curve: bool = False, max_nodes: int = MAX_NODES,
                    use_model: bool = True, name: str | None = None) -> CheckpointPlanResult:
    """Plan activation checkpointing for one training step of ``model`` so that its
    predicted peak is at most ``budget`` (bytes, or a size such as "16GiB") with the least
    recompute FLOPs.  ``model``: an nn.Module (a model name: the public
    :func:`inception_cost.checkpoint_plan`).  ``input_size``: (C, H, W) with ``batch``, or
    (N, C, H, W); ``optimizer``/``dtype``/``step``/``allocator_rounding``: as
    ``inception_cost.memory``.
    ``candidates``: module names to choose from (default: ``candidate_modules(model)``).
    ``with_curve``: the trade-off curve over the greedy prefixes (modelled);
    ``verify_curve``: analyse every curve row exactly as well (up to n more analyses).
    ``max_nodes``: branches the exact search may visit before it settles for the best
    plan found.  ``use_model=False`` (or a model whose runs do not align) searches by
    analyses alone, with at most ``max_analyses`` analyses for the proof.
    Raises ``UsageError`` when the budget is below the parameters, gradients and optimizer
    state, or when no plan reaches it."""
    t0 = time.perf_counter()
    module, chw, label = as_module(model, input_size, "checkpoint_plan")
    n, chw = _split_input(chw, batch)
    budget_bytes = _budget(budget)
    cfg = StepConfig(batch=n, input_size=chw, training=True,
                     optimizer=(optimizer or "none").lower(), dtype=str(dtype).lower(), step=step)
    cands = list(candidates) if candidates is not None else candidate_modules(module)
    check_modules(module, cands)
    label = name or label
    plain = record(module, cfg)
    base = report_from(plain.module, plain.tracker, cfg, label, allocator_rounding)
    tl = base.timeline
    static = (base.parameter_bytes + base.buffer_bytes + int(tl["gradients"].max())
              + int(tl["optimizer_state"].max()))
    if budget_bytes < static:
        raise UsageError(f"budget {human_bytes(budget_bytes)} is below what the parameters, "
                         f"gradients and optimizer state alone need: {human_bytes(static)} "
                         f"({static:,} bytes); no checkpointing plan can help")
    saved = {r["module"]: int(r["saved_bytes"]) for r in base.modules.to_dict("records")}
    costs = recompute_costs(module, (n, *chw), cands, cfg.optimizer)
    cost = costs.per_module
    order = _greedy_order(cands, saved, cost)
    exact = _Peaks(module, cfg, allocator_rounding)
    exact.cache[frozenset()] = base.peak_bytes
    pm = build_peak_model(module, cfg, cands, allocator_rounding, plain) if use_model and \
        cands else None
    recordings = 1 + (pm is not None)

    planned, chosen, method, note = base, (), "none needed", \
        "the step fits without checkpointing"
    proven, model_peak = False, None
    if base.peak_bytes > budget_bytes:
        found = _search_model(pm, order, cost, budget_bytes, max_nodes) if pm else None
        if found is not None:
            chosen, proven, nodes = found
            chosen = tuple(x for x in cands if x in chosen)
            model_peak = pm.peak(chosen)
            planned = exact.report(chosen, label)
            exact.cache[frozenset(chosen)] = planned.peak_bytes
            if planned.peak_bytes > budget_bytes:
                found, model_peak = None, None   # the model was wrong here: analyses decide
            else:
                method = "exact" if proven and planned.peak_bytes == model_peak else "greedy"
                note = _model_note(cands, proven, nodes, max_nodes, model_peak,
                                   planned.peak_bytes)
        elif pm is not None:
            lowest = _lowest_modelled(pm, order, cands)
            rep = exact.report(lowest, label)
            exact.cache[frozenset(lowest)] = rep.peak_bytes
            if rep.peak_bytes > budget_bytes:   # (else the model was wrong: analyses decide)
                raise UsageError(
                    f"no checkpointing plan fits {human_bytes(budget_bytes)}: the lowest "
                    f"predicted peak reachable is {human_bytes(rep.peak_bytes)} "
                    f"({rep.peak_bytes:,} bytes, checkpointing {len(lowest)} of {len(cands)} "
                    f"candidate modules; the lowest the peak model finds, analysed)")
        if found is None:
            chosen, method, note = _search_by_analyses(order, cands, cost, costs, exact,
                                                       budget_bytes, max_analyses)
            proven = method == "exact"
            planned = exact.report(chosen, label)
    if with_curve:
        curve = _curve(order, pm, exact, costs, budget_bytes, verify_curve)
    else:
        curve = pd.DataFrame(columns=["modules", "added", "peak_bytes", "analysed",
                                      "recompute_macs", "recompute_flops", "fits"])
    after = {r["module"]: int(r["saved_bytes"]) for r in planned.modules.to_dict("records")}
    rows = []
    for m in cands:
        rows.append({"module": m, "type": type(exact.mods[m]).__name__,
                     "saved_bytes": saved.get(m, 0),
                     "recompute_macs": cost[m][0], "recompute_flops": cost[m][1],
                     "chosen": m in chosen,
                     "bytes_saved": (saved.get(m, 0) - after.get(m, 0)) if m in chosen else 0})
    macs, flops = costs.of(chosen)
    step_macs = costs.step["fwd_macs"] + costs.step["bwd_macs"]
    return CheckpointPlanResult(
        model=label, batch=n, input_size=tuple(chw), optimizer=cfg.optimizer,
        dtype=cfg.dtype, budget_bytes=budget_bytes, peak_bytes=planned.peak_bytes,
        peak_op=planned.peak_op, peak_module=planned.peak_module,
        peak_phase=planned.peak_phase, baseline_peak_bytes=base.peak_bytes,
        baseline_peak_op=base.peak_op, baseline_peak_module=base.peak_module,
        baseline_peak_phase=base.peak_phase, static_bytes=static, recompute_macs=macs,
        recompute_flops=flops, step_macs=step_macs, step_flops=costs.step["step_flops"],
        modules=tuple(chosen), method=method, method_note=note,
        analyses=recordings + exact.runs,
        seconds=time.perf_counter() - t0, candidates=pd.DataFrame(rows), curve=curve,
        proven_optimal=proven if method != "none needed" else True,
        objective=OBJECTIVE, model_peak_bytes=model_peak)


def _model_note(cands, proven: bool, nodes: int, max_nodes: int, model_peak: int,
                analysed: int) -> str:
    k = len(cands)
    if proven and model_peak == analysed:
        return (f"proven least recompute (FLOPs, then MACs) among all {2 ** k:,} subsets of "
                f"the {k} candidates, under the peak model (branch and bound, {nodes:,} "
                f"branches); the plan's peak is an exact analysis, equal to the model's")
    if proven:
        return (f"least recompute under the peak model ({nodes:,} branches), not proven: the "
                f"plan's analysed peak ({analysed:,} bytes) differs from the model's "
                f"({model_peak:,} bytes)")
    return (f"heuristic: the branch and bound over the {k} candidates stopped at "
            f"{max_nodes:,} branches; the best plan found is returned, not proven optimal")


def _search_model(pm: PeakModel, order, cost, budget: int, max_nodes: int):
    """(modules, proven, branches) of the least-recompute set whose modelled peak fits, or
    None when none fits (even every candidate checkpointed)."""
    if pm.peak(order) > budget:
        return None
    # first plan: the shortest fitting prefix, pruned
    k = next(i for i in range(len(order) + 1) if pm.peak(order[:i]) <= budget)
    plan = list(order[:k])
    for m in sorted(plan, key=lambda m: (-cost[m][1], plan.index(m))):
        trial = [x for x in plan if x != m]
        if pm.peak(trial) <= budget:
            plan = trial
    best, nodes, complete = branch_and_bound(pm, order, cost, budget, plan, max_nodes)
    return best, complete, nodes


def branch_and_bound(pm: PeakModel, order, cost, budget: int, incumbent, max_nodes: int):
    """Least (recompute FLOPs, MACs) subset of ``order`` whose modelled peak is at most
    ``budget``, starting from the fitting ``incumbent``.  Returns (modules, branches
    visited, complete): complete is False when ``max_nodes`` stopped the search."""
    idx = [pm.index[m] for m in order]
    key = [(cost[m][1], cost[m][0]) for m in order]
    neg = np.minimum(pm.delta[idx], 0) if idx else pm.delta[:0]
    # suffix[i]: the most the candidates order[i:] can lower each op's live bytes
    suffix = np.zeros((len(order) + 1, pm.base.shape[0]), dtype=pm.base.dtype)
    for i in range(len(order) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + neg[i]
    best = [tuple(sum(key[order.index(m)][j] for m in incumbent) for j in (0, 1)),
            list(incumbent)]
    nodes = 0

    class _Stop(Exception):
        pass

    def visit(i, chosen, total, mask, c):
        nonlocal nodes
        nodes += 1
        if nodes > max_nodes:
            raise _Stop
        if c >= best[0]:
            return
        if total[mask].max() <= budget:
            best[0], best[1] = c, list(chosen)
            return
        if i == len(order) or (total + suffix[i])[mask].max() > budget:
            return
        j = idx[i]
        inner = mask | (pm.block == j)
        visit(i + 1, chosen + [order[i]], total + pm.delta[j], inner,
              (c[0] + key[i][0], c[1] + key[i][1]))
        visit(i + 1, chosen, total, mask, c)

    try:
        visit(0, [], pm.base, pm.plain.copy(), (0, 0))
        complete = True
    except _Stop:
        complete = False
    return best[1], nodes, complete


def _lowest_modelled(pm: PeakModel, order, cands):
    """The set with the lowest modelled peak among the greedy prefixes and every
    candidate but one (the plans an unreachable budget is reported against)."""
    sets = [tuple(order[:k]) for k in range(len(order) + 1)]
    sets += [tuple(x for x in cands if x != m) for m in cands]
    return min(sets, key=lambda s: (pm.peak(s), len(s)))


def _search_by_analyses(order, cands, cost, costs, peaks: _Peaks, budget: int,
                        max_analyses: int):
    """The search without the peak model: every peak an exact analysis.  Returns (plan,
    method, note); raises UsageError when no analysed plan fits."""
    first_fit = _first_fitting_prefix(order, peaks, budget)
    if first_fit is None:
        best = min(peaks.cache.items(), key=lambda kv: (kv[1], len(kv[0])))
        raise UsageError(
            f"no checkpointing plan fits {human_bytes(budget)}: the lowest predicted "
            f"peak reachable is {human_bytes(best[1])} ({best[1]:,} bytes, checkpointing "
            f"{len(best[0])} of {len(cands)} candidate modules; lowest of the "
            f"{len(peaks.cache)} plans analysed)")
    plan = list(order[:first_fit])
    for m in sorted(plan, key=lambda m: (-cost[m][1], plan.index(m))):
        trial = [x for x in plan if x != m]
        if peaks(trial) <= budget:
            plan = trial
    chosen = tuple(x for x in cands if x in plan)
    limit = tuple(reversed(costs.of(chosen)))   # (FLOPs, MACs)
    if len(cands) <= MAX_EXACT_CANDIDATES:
        return _prove(cands, cost, limit, chosen, peaks, budget, max_analyses)
    return chosen, "greedy", (f"greedy plan, not proven optimal: {len(cands)} candidates are "
                              f"more than {MAX_EXACT_CANDIDATES} for the exhaustive check")


def _curve(order, pm, peaks: _Peaks, costs, budget: int, verify: bool) -> pd.DataFrame:
    """Greedy prefixes: peak (modelled, or analysed where ``analysed``), recompute."""
    rows = []
    for k in range(len(order) + 1):
        plan = order[:k]
        key = frozenset(plan)
        if pm is None or verify or key in peaks.cache:
            p, analysed = peaks(plan), True
        else:
            p, analysed = pm.peak(plan), False
        macs, flops = costs.of(plan)
        rows.append({"modules": k, "added": order[k - 1] if k else "(none)", "peak_bytes": p,
                     "analysed": analysed, "recompute_macs": macs, "recompute_flops": flops,
                     "fits": p <= budget})
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
    module, chw, label = as_module(model, input_size, None)
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
    def peak_of(b: int) -> int:
        return peak_bytes(work, replace(cfg, batch=b), allocator_rounding)

    start = 1
    try:
        peak_of(1)
    except UsageError:      # batch norm in training refuses one value per channel
        start = 2
    best, seen = largest_batch(peak_of, budget_bytes, max_batch(tuple(chw), cfg.dtype), start)
    if best == 0:           # the peak is batch 1's with every candidate (0: too large)
        return 0, seen.get(1) or 0, None
    plan = checkpoint_plan(module, (best, *chw), budget=budget_bytes, optimizer=optimizer,
                           dtype=dtype, step=step, allocator_rounding=allocator_rounding,
                           max_analyses=max_analyses, name=label)
    return best, seen[best], plan
