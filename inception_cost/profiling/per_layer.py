"""Per-module time, joined with the counts, on one roofline. Times are ms.

Every module gets a forward pre-hook and a forward hook that take a clock
mark (a recorded CUDA event, or ``time.perf_counter`` on CPU); nothing
synchronizes until the last iteration, then each pair is read. A module's
*self* time is its span minus the spans of the modules it called, so the
functional ops a container runs itself (``torch.cat`` in an Inception block,
a residual add) are timed where the counter attributes them: to the innermost
module running. Self times add up to the root's span, which differs from the
un-hooked whole-model time only by the hooks' own cost (the reported gap).
On a GPU, small batches are launch-bound: the span of a layer then includes
the CPU time to launch it, hooks included.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd
import torch.nn as nn

from . import roofline as rl


class _Spans:
    """Records (module, type, start mark, end mark, parent call) for every call."""

    def __init__(self, model: nn.Module, clock):
        self.clock = clock
        self.calls: list[list] = []
        self.stack: list[int] = []
        self.handles = []
        for name, mod in model.named_modules():
            kind = type(mod).__name__
            self.handles.append(mod.register_forward_pre_hook(
                lambda _m, _a, n=name, k=kind: self._enter(n, k)))
            self.handles.append(mod.register_forward_hook(
                lambda _m, _a, _o, n=name: self._leave()))

    def _enter(self, name: str, kind: str) -> None:
        parent = self.stack[-1] if self.stack else -1
        self.calls.append([name, kind, self.clock.mark(), None, parent])
        self.stack.append(len(self.calls) - 1)

    def _leave(self) -> None:
        idx = self.stack.pop()
        self.calls[idx][3] = self.clock.mark()

    def take(self) -> list[list]:
        calls, self.calls, self.stack = self.calls, [], []
        return calls

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def self_times(calls: list[list], clock) -> tuple[dict[str, float], dict[str, str], float]:
    """({module: summed self ms}, {module: type}, root span ms) of one forward."""
    spans = [clock.elapsed_ms(c[2], c[3]) for c in calls]
    own = list(spans)
    for i, c in enumerate(calls):
        if c[4] >= 0:
            own[c[4]] -= spans[i]
    per: dict[str, float] = {}
    kinds: dict[str, str] = {}
    for c, t in zip(calls, own):
        per[c[0]] = per.get(c[0], 0.0) + t
        kinds.setdefault(c[0], c[1])
    root = sum(s for c, s in zip(calls, spans) if c[4] < 0)
    return per, kinds, root


def time_layers(model: nn.Module, forward: Callable[[], object], warmup: int, iters: int,
                clock) -> tuple[pd.DataFrame, list[float]]:
    """Median self time per module over ``iters`` hooked forwards.

    Returns (DataFrame[module, module_type, calls, time_ms], root span per iteration)."""
    spans = _Spans(model, clock)
    try:
        for _ in range(warmup):
            forward()
            spans.take()
        clock.finish()
        runs = []
        for _ in range(iters):
            forward()
            runs.append(spans.take())
        clock.finish()
    finally:
        spans.remove()
    order: dict[str, None] = {}
    counts: dict[str, int] = {}
    for c in runs[0]:
        order.setdefault(c[0], None)
        counts[c[0]] = counts.get(c[0], 0) + 1
    per_iter, roots, kinds = [], [], {}
    for calls in runs:
        per, k, root = self_times(calls, clock)
        per_iter.append(per)
        kinds.update(k)
        roots.append(root)
    rows = [{"module": m, "module_type": kinds[m], "calls": counts[m],
             "time_ms": float(np.median([p.get(m, 0.0) for p in per_iter]))} for m in order]
    return pd.DataFrame(rows, columns=["module", "module_type", "calls", "time_ms"]), roots


def module_costs(layers: pd.DataFrame) -> pd.DataFrame:
    """Per innermost module: ops, params, macs, flops, elements moved (from count rows)."""
    df = layers.copy()
    df["elements"] = [rl.op_elements(o, i, w, u) for o, i, w, u in
                      zip(df["op"], df["in_shape"], df["weight_shape"], df["out_shape"])]
    ops = df.groupby("module", sort=False)["op"].agg(
        lambda s: "+".join(dict.fromkeys(o for o in s if o != "params")))
    sums = df.groupby("module", sort=False)[["params", "macs", "flops", "elements"]].sum()
    out = sums.join(ops.rename("ops")).reset_index()
    return out[["module", "ops", "params", "macs", "flops", "elements"]]


LAYER_FIELDS = ["module", "module_type", "ops", "calls", "time_ms", "time_pct", "params", "macs",
                "flops", "bytes", "intensity_flop_per_byte", "achieved_tflops", "pct_of_peak",
                "attainable_tflops", "pct_of_roofline", "bound"]


def join_layers(times: pd.DataFrame, costs: pd.DataFrame, dtype: str, peak_tflops: float,
                bandwidth_tbs: float) -> pd.DataFrame:
    """Timed modules beside their counts and roofline (rows in execution order)."""
    timed = times.merge(costs, on="module", how="left", sort=False)
    untimed = costs[~costs["module"].isin(times["module"])]
    df = pd.concat([timed, untimed], ignore_index=True) if len(untimed) else timed
    df["module_type"] = df["module_type"].fillna("")
    df["ops"] = df["ops"].fillna("")
    df["calls"] = df["calls"].fillna(0).astype("int64")
    df["time_ms"] = df["time_ms"].astype(float)
    for c in ("params", "macs", "flops", "elements"):
        df[c] = df[c].fillna(0).astype("int64")
    total = float(df["time_ms"].sum(skipna=True))
    nbytes = rl.DTYPE_BYTES[dtype]
    df["bytes"] = df["elements"] * nbytes
    df["time_pct"] = [rl.percent(t, total) for t in df["time_ms"]]
    df["intensity_flop_per_byte"] = [rl.intensity(f, b) for f, b in zip(df["flops"], df["bytes"])]
    df["achieved_tflops"] = [rl.achieved_tflops(f, t / 1e3) if f > 0 else math.nan
                             for f, t in zip(df["flops"], df["time_ms"])]
    df["pct_of_peak"] = [rl.percent(a, peak_tflops) for a in df["achieved_tflops"]]
    df["attainable_tflops"] = [rl.attainable_tflops(i, peak_tflops, bandwidth_tbs)
                               for i in df["intensity_flop_per_byte"]]
    df["pct_of_roofline"] = [rl.percent(a, b) for a, b in
                             zip(df["achieved_tflops"], df["attainable_tflops"])]
    df["bound"] = [rl.bound(i, peak_tflops, bandwidth_tbs) if f > 0 else ""
                   for i, f in zip(df["intensity_flop_per_byte"], df["flops"])]
    return df[LAYER_FIELDS]
