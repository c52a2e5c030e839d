"""A model of the training-step peak for any set of checkpointed candidates, built from two
recorded memory analyses instead of one analysis per set.

Recorded once: the step with no module checkpointed (run U) and the step with every
candidate checkpointed (run W), each under the memory analysis' ``StorageTracker``, with
the op index where each checkpointed module's forward starts and ends (its first run, and
its recompute inside backward).  W's op stream is U's with one recompute block inserted
per candidate in backward (the forward ops are the same: non-reentrant checkpointing only
changes what autograd keeps); ``align`` checks that and maps every U op onto W's axis.

Every storage (and every op's kernel workspace) is *owned* by the candidate whose forward,
backward or recompute op allocated it, or by no candidate.  The step with the set S
checkpointed is modelled as W's op stream without the recompute blocks of candidates
outside S, in which the storages owned by a candidate in S live as in W and every other
storage lives as in U.  So the live bytes after op t are ``base[t] + sum(delta[m][t] for
m in S)`` (base: everything as in U; delta[m]: W's lifetimes minus U's for the storages m
owns), and the peak is their maximum over the ops that run.  Units: bytes.

It is a model, not an analysis: the planner searches with it and then analyses the chosen
plan exactly; ``PeakModel.peak`` for a set is compared with that analysis
(``CheckpointPlanResult.model_error_bytes``).  Where the two runs do not align (a model
whose op stream changes under checkpointing in a way not described above) no model is
built (``build_peak_model`` returns None) and the planner analyses every set it compares.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch.nn as nn

from ..counting.placement import copy_on, unwrap
from ..memory_analysis.analysis import INT64_MAX, resolve_modules, rounded
from ..memory_analysis.api import _on_device
from ..memory_analysis.categories import BACKWARD, GRADIENTS, OPTIMIZER, SAVED
from ..memory_analysis.tracked_run import track
from ..memory_analysis.step_config import StepConfig
from ..memory_analysis.tracker import StorageTracker, active_tracker
from . import apply as _apply
from .apply import checkpointed_class


@dataclass
class Recording:
    """One analysed step: the finished tracker, each op's module (backward ops resolved to
    the forward module), and the checkpointed modules' runs as (module, phase, first op,
    end op) - ops [first, end) ran inside that module's own forward."""
    module: nn.Module
    tracker: StorageTracker
    modules: list[str]
    runs: list[tuple[str, int, int, int]]


def record(model: nn.Module, cfg: StepConfig, wrapped=()) -> Recording:
    """Track one step of ``model`` (on meta or fake tensors, never run for real) with the
    modules ``wrapped`` checkpointed, noting where each checkpointed forward runs."""
    module = copy_on(unwrap(model), "meta")
    if wrapped:
        known = dict(module.named_modules())
        for name in wrapped:
            known[name].__class__ = checkpointed_class(type(known[name]))
    module, device, mode = _on_device(module, cfg.dtype)
    names = {id(m): n for n, m in module.named_modules()}
    events: list[tuple[str, bool, int, int]] = []

    def observe(mod, entering: bool) -> None:
        tr = active_tracker()
        if tr is not None and id(mod) in names:
            events.append((names[id(mod)], entering, tr.n, tr.phase))

    _apply.OBSERVERS.append(observe)
    try:
        with mode:
            tracker = track(module, cfg, device)
    finally:
        _apply.OBSERVERS.remove(observe)
    runs, open_ = [], {}
    for name, entering, n, phase in events:
        if entering:
            open_.setdefault(name, []).append((n, phase))
        elif open_.get(name):
            start, phase0 = open_[name].pop()
            runs.append((name, phase0, start, n))
    return Recording(module, tracker, resolve_modules(tracker), runs)


def _owner_of(path, cands: list[str]) -> int:
    if not isinstance(path, str):
        return -1
    for i, c in enumerate(cands):
        if path == c or path.startswith(c + "."):
            return i
    return -1


def align(u: Recording, w: Recording, cands: list[str]):
    """(position on W's axis of every U op, candidate index of each W op's recompute block
    or -1) - or None when W is not U with recompute blocks inserted in backward."""
    tu, tw = u.tracker, w.tracker
    recompute = np.full(tw.n, -1, dtype=np.int64)
    index = {c: i for i, c in enumerate(cands)}
    for name, phase, start, end in w.runs:
        if phase == BACKWARD and name in index:
            recompute[start:end] = index[name]
    pos = np.empty(tu.n, dtype=np.int64)
    i = j = 0
    last = -1   # candidate of the latest recompute block passed (for its stray ops)
    while j < tw.n:
        if recompute[j] >= 0:
            last = recompute[j]
            j += 1
            continue
        if (i < tu.n and tu.op_funcs[i] is tw.op_funcs[j]
                and tu.op_phases[i] == tw.op_phases[j]):
            pos[i] = j
            i += 1
            j += 1
            continue
        # an op of W that U lacks: checkpointing's own (input detaches around a recompute)
        if tw.op_phases[j] != BACKWARD:
            return None
        nxt = recompute[j:][recompute[j:] >= 0]
        near = int(nxt[0]) if len(nxt) and (j + 8 > len(recompute) or
                                            (recompute[j:j + 8] >= 0).any()) else last
        if near < 0:
            return None
        recompute[j] = near
        j += 1
    # W may stop before U's optimizer step (recorded without one): U's optimizer ops go
    # after W's last op
    rest = range(i, tu.n)
    if any(tu.op_phases[x] != OPTIMIZER for x in rest):
        return None
    for k, x in enumerate(rest):
        pos[x] = tw.n + k
    return pos, recompute


@dataclass
class PeakModel:
    """``peak(modules)``: modelled peak bytes of the step with ``modules`` checkpointed
    (see the module doc).  ``candidates``: the modules it knows; ``points``: ops on W's
    axis."""
    candidates: tuple[str, ...]
    base: np.ndarray        # [T] bytes alive after each op, every storage as in U
    delta: np.ndarray       # [k, T] W's minus U's bytes of each candidate's storages
    block: np.ndarray       # [T] candidate whose recompute block holds the op, -1: none

    def __post_init__(self):
        self.index = {c: i for i, c in enumerate(self.candidates)}
        self.plain = self.block < 0

    def indices(self, modules) -> list[int]:
        return sorted(self.index[m] for m in modules)

    def live(self, modules) -> np.ndarray:
        """Bytes alive after each op that runs with ``modules`` checkpointed."""
        idx = self.indices(modules)
        total = self.base + self.delta[idx].sum(axis=0) if idx else self.base
        mask = self.plain | np.isin(self.block, idx) if idx else self.plain
        return total[mask]

    def peak(self, modules) -> int:
        """Modelled peak bytes with ``modules`` checkpointed."""
        return int(self.live(modules).max())

    def lower_bound(self, chosen, undecided) -> int:
        """A peak no completion of ``chosen`` (checkpointed) by any subset of
        ``undecided`` can go below: every undecided candidate's savings taken wherever
        they help, only the recompute blocks certain to run counted."""
        idx = self.indices(chosen)
        total = self.base + self.delta[idx].sum(axis=0) if idx else self.base.copy()
        und = self.indices(undecided)
        if und:
            total = total + np.minimum(self.delta[und], 0).sum(axis=0)
        mask = self.plain | np.isin(self.block, idx) if idx else self.plain
        return int(total[mask].max())


def _intervals(rec: Recording, owner_of_op, where, rounding: bool, t_end: int):
    """(owner, start, end, bytes) of every storage and workspace of ``rec``; op indices
    mapped onto W's axis by ``where(index, is_end)``."""
    tr = rec.tracker
    out = []
    for r in tr.records:
        size = rounded(r.nbytes, rounding)
        if size == 0:
            continue
        # parameters, buffers, optimizer state and gradients live alike in every plan
        owned = r.born < tr.n and r.segments[0][1] >= SAVED and \
            all(cat != GRADIENTS for _, cat in r.segments)
        owner = owner_of_op(r.born) if owned else -1
        start = where(r.born, False)
        end = t_end if r.died < 0 else where(r.died, True)
        if end > start:
            out.append((owner, start, end, size))
    for op, size in getattr(tr, "workspace", {}).items():
        if op < tr.n and size:
            out.append((owner_of_op(op), where(op, False), where(op + 1, True),
                        rounded(size, rounding)))
    return out


def build_peak_model(model: nn.Module, cfg: StepConfig, cands: list[str],
                     rounding: bool = False, plain: Recording | None = None
                     ) -> PeakModel | None:
    """The peak model of ``cands`` for ``cfg`` on ``model`` (two recorded steps: U,
    reused from ``plain`` when given, and W), or None where the runs do not align."""
    cands = list(cands)
    u = plain if plain is not None else record(model, cfg)
    # W without the optimizer: its step is the same in every plan (U's is used)
    w = record(model, replace(cfg, optimizer="none"), cands)
    al = align(u, w, cands)
    if al is None:
        return None
    pos, block = al
    tu, tw = u.tracker, w.tracker
    t = tw.n + sum(1 for p in tu.op_phases if p == OPTIMIZER)
    u_owner = [_owner_of(m, cands) for m in u.modules]
    w_owner = [(int(block[j]) if block[j] >= 0 else _owner_of(m, cands))
               for j, m in enumerate(w.modules)]

    def u_where(i: int, is_end: bool) -> int:
        if i >= tu.n:
            return t
        if is_end:   # freed after U op i-1 returned: before any block inserted after it
            return int(pos[i - 1]) + 1 if i > 0 else 0
        return int(pos[i])

    def w_where(j: int, _is_end: bool) -> int:
        return min(j, t)

    u_iv = _intervals(u, lambda i: u_owner[i], u_where, rounding, t)
    w_iv = _intervals(w, lambda j: w_owner[j], w_where, rounding, t)
    total = sum(s for *_x, s in u_iv) + sum(s for *_x, s in w_iv)
    dtype = np.int64 if total <= INT64_MAX else object
    k = len(cands)
    diff = np.zeros((k + 1, t + 1), dtype=dtype)   # row k: base
    for owner, start, end, size in u_iv:
        diff[k, start] += size
        diff[k, end] -= size
        if owner >= 0:
            diff[owner, start] -= size
            diff[owner, end] += size
    for owner, start, end, size in w_iv:
        if owner >= 0:
            diff[owner, start] += size
            diff[owner, end] -= size
    cum = np.cumsum(diff, axis=1)[:, :t]
    block = np.concatenate([block, np.full(t - tw.n, -1, dtype=np.int64)])
    return PeakModel(tuple(cands), cum[k], cum[:k], block)


__all__ = ["PeakModel", "Recording", "build_peak_model", "record", "align"]
