"""From a finished ``StorageTracker`` to numbers: live bytes per category after every op,
the peak, and per-module rows.  All sizes are bytes: exact integers at any size (int64
arrays while every sum fits, Python integers in object arrays beyond 2**63 - 1).
"""
from __future__ import annotations

from bisect import bisect_right

import numpy as np
import pandas as pd

from .categories import (BACKWARD, CATEGORIES, FORWARD, INTERNAL, PHASES, SAVED,
                         TRANSIENT_FORWARD, WORKSPACE)
from .tracker import StorageTracker

ALLOCATOR_BLOCK = 512  # bytes: the CUDA caching allocator rounds every request up to this
INT64_MAX = 2**63 - 1


def rounded(nbytes: int, rounding: bool) -> int:
    """Bytes one storage occupies: exact, or rounded up to 512-byte blocks."""
    if not rounding:
        return nbytes
    return -(-nbytes // ALLOCATOR_BLOCK) * ALLOCATOR_BLOCK


def live_by_category(tracker: StorageTracker, rounding: bool) -> np.ndarray:
    """Array [len(INTERNAL), n_ops]: bytes alive after each op, per internal category.

    int64 when the bytes of all storages together fit in int64 (then no running sum can
    wrap); otherwise an object array of Python integers, exact at any size."""
    n = max(tracker.n, 1)
    cats, starts, ends, sizes = [], [], [], []
    for rec in tracker.records:
        size = rounded(rec.nbytes, rounding)
        if size == 0:
            continue
        died = n if rec.died < 0 else rec.died
        segs = rec.segments
        for i, (start, cat) in enumerate(segs):
            end = segs[i + 1][0] if i + 1 < len(segs) else died
            start, end = max(start, rec.born), min(end, died)
            if end > start:
                cats.append(cat)
                starts.append(start)
                ends.append(end)
                sizes.append(size)
    for op, size in getattr(tracker, "workspace", {}).items():
        if op < n:
            cats.append(WORKSPACE)
            starts.append(op)
            ends.append(op + 1)
            sizes.append(rounded(size, rounding))
    dtype = np.int64 if sum(sizes) <= INT64_MAX else object
    diff = np.zeros((len(INTERNAL), n + 1), dtype=dtype)
    if sizes:
        cats_a = np.asarray(cats)
        sizes_a = np.asarray(sizes, dtype=dtype)
        np.add.at(diff, (cats_a, np.asarray(starts)), sizes_a)
        np.add.at(diff, (cats_a, np.asarray(ends)), -sizes_a)
    return np.cumsum(diff, axis=1)[:, :n]


def public_columns(internal: np.ndarray) -> dict[str, np.ndarray]:
    """Internal rows -> the public categories (transient = the three transient rows)."""
    cols = {name: internal[i] for i, name in enumerate(CATEGORIES[:TRANSIENT_FORWARD])}
    cols["transient"] = internal[TRANSIENT_FORWARD:WORKSPACE].sum(axis=0)
    cols["workspace"] = internal[WORKSPACE]
    return cols


def resolve_modules(tracker: StorageTracker) -> list[str]:
    """Module of every op; a backward op gets the module whose forward op created the
    autograd node that runs it (matched by autograd sequence number)."""
    fwd_seq, fwd_mod = [], []
    for phase, seq, mod in zip(tracker.op_phases, tracker.op_seq, tracker.op_modules):
        if phase == FORWARD:
            fwd_seq.append(seq)
            fwd_mod.append(mod)
    out = []
    for phase, mod in zip(tracker.op_phases, tracker.op_modules):
        if phase == BACKWARD and isinstance(mod, int):
            i = bisect_right(fwd_seq, mod)
            out.append(fwd_mod[i] if i < len(fwd_mod) else "(autograd)")
        else:
            out.append(mod)
    return out


def op_names(tracker: StorageTracker) -> list[str]:
    cache: dict = {}
    names = []
    for f in tracker.op_funcs:
        name = cache.get(f)
        if name is None:
            name = cache[f] = str(f).replace(".default", "")
        names.append(name)
    return names


def timeline_frame(tracker: StorageTracker, internal: np.ndarray, modules: list[str]
                   ) -> pd.DataFrame:
    """One row per op: op_index, phase, module, op, live_bytes, then bytes per category."""
    n = tracker.n
    cols = public_columns(internal)
    total = internal.sum(axis=0)
    df = pd.DataFrame({"op_index": np.arange(n, dtype=np.int64),
                       "phase": [PHASES[p] for p in tracker.op_phases],
                       "module": modules, "op": op_names(tracker),
                       "live_bytes": total[:n]})
    for name, arr in cols.items():
        df[name] = arr[:n]
    return df


def _inclusive(name: str, paths) -> list[str]:
    if name == "(model)":
        return [p for p in paths if not p.startswith("(") or p == "(model)"]
    prefix = name + "."
    return [p for p in paths if p == name or p.startswith(prefix)]


def module_frame(tracker: StorageTracker, timeline: pd.DataFrame, model_modules,
                 rounding: bool) -> pd.DataFrame:
    """One row per module that ran, in forward order; every figure includes the module's
    descendants.  saved_bytes: bytes of activation storages first saved for backward while
    this module ran; output_bytes: bytes of storages its forward ops allocated;
    live_forward_peak_bytes / live_backward_peak_bytes: the most bytes alive after any of
    its forward / backward ops; param_bytes: its parameters."""
    saved: dict[str, int] = {}
    alloc: dict[str, int] = {}
    for rec in tracker.records:
        size = rounded(rec.nbytes, rounding)
        if rec.saver:
            saved[rec.saver] = saved.get(rec.saver, 0) + size
        if rec.phase == FORWARD and rec.segments[0][1] >= SAVED:
            alloc[rec.module] = alloc.get(rec.module, 0) + size
    fwd = timeline[timeline["phase"] == "forward"]
    bwd = timeline[timeline["phase"] == "backward"]
    fpeak = fwd.groupby("module", sort=False)["live_bytes"].max().to_dict()
    bpeak = bwd.groupby("module", sort=False)["live_bytes"].max().to_dict()
    nops = fwd.groupby("module", sort=False).size().to_dict()
    order = list(dict.fromkeys(fwd["module"]))
    types = {name: type(m).__name__ for name, m in model_modules}
    pbytes = {name: sum(p.numel() * p.element_size() for p in m.parameters())
              for name, m in model_modules}
    rows = []
    for name in (n for n, _ in model_modules):
        paths = _inclusive(name, order)
        if not paths:
            continue
        rows.append({
            "module": name, "type": types.get(name, ""),
            "depth": 0 if name == "(model)" else name.count(".") + 1,
            "forward_ops": int(sum(nops.get(p, 0) for p in paths)),
            "param_bytes": int(pbytes.get(name, 0)),
            "output_bytes": int(sum(alloc.get(p, 0) for p in paths)),
            "saved_bytes": int(sum(saved.get(p, 0) for p in paths)),
            "live_forward_peak_bytes": int(max((fpeak[p] for p in paths if p in fpeak),
                                               default=0)),
            "live_backward_peak_bytes": int(max((bpeak[p] for p in paths if p in bpeak),
                                                default=0)),
        })
    first = {p: i for i, p in enumerate(order)}
    rows.sort(key=lambda r: min((first[p] for p in _inclusive(r["module"], order)),
                                default=len(order)))
    return pd.DataFrame(rows)
