"""Per-layer training-step reports for the zoo (``reports/training/``): their CSV, the
baseline reader and the diff ``check`` gates on (a change that alters forward, backward or
optimizer cost of any layer fails CI). Counting the step and running the gate:
:mod:`inception_cost.regeneration.training_gate`.

Every report counts one step at :data:`REPORT_BATCH` with :data:`REPORT_OPTIMIZER`,
auxiliary heads built where the variant has them. CSV columns: see
:data:`inception_cost.counting.training.TRAINING_COLUMNS` (exact integers)."""
from __future__ import annotations

import io
import os

import pandas as pd

from ..counting.training import BYTES_COLUMNS, COUNTS, TRAINING_COLUMNS, TrainingReport
from .baseline import (BaselineError, LayerChange, VariantDiff, _to_count, read_baseline_text,
                       safe_name)
from .render import to_csv

REPORT_BATCH = 32
"""Training batch per replica in Szegedy et al. 2016 (Rethinking), Sec. 8."""
REPORT_OPTIMIZER = "sgd_momentum"
"""SGD with momentum 0.9, GoogLeNet's optimizer (Szegedy et al. 2015, Sec. 6)."""
TRAINING_DIR = "training"


def training_path(root: str, name: str) -> str:
    return os.path.join(root, TRAINING_DIR, f"{safe_name(name)}.csv")


def training_csv(report: TrainingReport) -> str:
    return to_csv(report.layers[TRAINING_COLUMNS])


_IDENTITIES = [
    ("bwd_macs", ("bwd_input_macs", "bwd_weight_macs")),
    ("bwd_flops", ("bwd_input_flops", "bwd_weight_flops")),
    ("step_macs", ("fwd_macs", "bwd_macs")),
    ("step_flops", ("fwd_flops", "bwd_flops", "opt_flops")),
    ("bwd_bytes", ("bwd_input_bytes", "bwd_weight_bytes")),
    ("step_bytes", ("fwd_bytes", "bwd_bytes", "opt_bytes")),
]
"""Sums every row of a training table satisfies (see TRAINING_COLUMNS)."""


def _corrupt(path: str, why: str) -> BaselineError:
    return BaselineError(f"training baseline {path} is corrupt: {why}; "
                         "`inception-cost check --update` rewrites it")


def read_training_baseline(path: str) -> pd.DataFrame:
    """The training baseline at ``path``, counts as exact Python ints. Corrupt (a
    :class:`BaselineError`, exit 2): unparsable, a missing column, no rows, a count
    that is not an integer in 0..2^63-1, an ``aux`` other than True/False, a module
    listed twice, or a row whose totals are not the sums of its parts.  A baseline written
    before the bytes columns existed has none of them (it is compared without them);
    one with only some of them is corrupt."""
    text = read_baseline_text(path, "training baseline")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except Exception as e:  # noqa: BLE001 - any parse failure is a corrupt baseline
        raise _corrupt(path, str(e).splitlines()[0]) from None
    missing = [c for c in TRAINING_COLUMNS if c not in df.columns]
    if missing == BYTES_COLUMNS:
        missing = []                      # an older baseline: no bytes columns at all
    if missing or df.empty:
        raise _corrupt(path, f"missing column(s) {', '.join(missing)}" if missing else "no rows")
    for c in baseline_counts(df):
        vals = [_to_count(v) for v in df[c]]
        if None in vals:
            i = vals.index(None)
            cell = str(df.at[i, c])
            cell = cell if len(cell) <= 40 else cell[:37] + "..."
            raise _corrupt(path, f"row {i + 2} column '{c}' is '{cell}', not an integer in "
                                 "0..2^63-1")
        df[c] = pd.Series(vals, dtype=object, index=df.index)
    bad_aux = [i for i, v in enumerate(df["aux"]) if v not in ("True", "False")]
    if bad_aux:
        i = bad_aux[0]
        raise _corrupt(path, f"row {i + 2} column 'aux' is '{df.at[i, 'aux'][:40]}', not True or False")
    first: dict[str, int] = {}
    for i, m in enumerate(df["module"]):
        if m in first:
            raise _corrupt(path, f"row {i + 2} repeats module '{m[:80]}' of row {first[m] + 2}")
        first[m] = i
    modules = list(df["module"])
    for total, parts in _IDENTITIES:
        if total not in df.columns:
            continue
        # plain lists of Python ints, row by row (a cell lookup per value is slow)
        for i, (have, *values) in enumerate(zip(df[total], *(df[c] for c in parts))):
            want = sum(values)
            if have != want:
                raise _corrupt(path, f"row {i + 2} ('{modules[i][:80]}'): {total} "
                                     f"{have} is not {' + '.join(parts)} = {want}")
    return df


DRIFT_COLUMNS = [*COUNTS, "aux"]
"""Columns of a training baseline compared row by row (every one is shown when it drifts;
the bytes columns only where the baseline has them)."""


def baseline_counts(df: pd.DataFrame) -> list[str]:
    """The count columns a training baseline holds (COUNTS, less the bytes columns of a
    baseline written before they existed)."""
    return [c for c in COUNTS if c in df.columns]


class TrainingDiff(VariantDiff):
    """A training gate's diff: every change carries all of its row's columns, and
    renderers show each drifted column with its old and new value."""

    def drifted(self, change: LayerChange) -> list[str]:
        """The columns that differ in a changed row (all its counts when added/removed)."""
        if change.kind != "changed":
            return ["params", "step_macs", "step_flops"]
        return [c for c in DRIFT_COLUMNS
                if c in change.old and str(change.old[c]) != str(change.new[c])]

    def change_table(self) -> pd.DataFrame:
        """One row per (changed layer, drifted column): exact old and new values."""
        rows = [{"change": c.kind, "module": c.module, "column": col,
                 "old": c.old.get(col, ""), "new": c.new.get(col, "")}
                for c in self.changes for col in self.drifted(c)]
        return pd.DataFrame(rows, columns=["change", "module", "column", "old", "new"])

    def column_deltas(self) -> dict[str, int]:
        """new total - old total of every count column."""
        return {c: int(self.new_totals[c]) - int(self.old_totals[c]) for c in COUNTS
                if c in self.old_totals}

    def totals_line(self) -> str:
        moved = [f"{c} {d:+,}" for c, d in self.column_deltas().items() if d]
        if not moved:
            return (f"{self.name} total: every column's total unchanged (counts moved between "
                    "layers or between columns of a layer)")
        return f"{self.name} total: " + ", ".join(moved)


def _exact(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    for c in baseline_counts(df):
        out[c] = pd.Series([int(v) for v in out[c]], dtype=object, index=out.index)
    out["aux"] = out["aux"].map(str)
    return out


def diff_training(name: str, old: pd.DataFrame, report: TrainingReport) -> TrainingDiff:
    """Every layer whose training counts changed, appeared or disappeared; totals as
    params / macs (forward + backward MACs) / flops (the whole step's FLOPs), plus
    every count column under its own name."""
    old = _exact(old)
    compared = [c for c in DRIFT_COLUMNS if c in old.columns]
    new = _exact(report.layers[[c for c in TRAINING_COLUMNS if c in old.columns]])

    def keyed(df):
        return {r["module"]: r for r in df.to_dict(orient="records")}

    def view(r):
        return {"params": r["params"], "macs": r["step_macs"], "flops": r["step_flops"],
                "out_shape": "", **{c: r[c] for c in compared}}
    a, b = keyed(old), keyed(new)
    changes = []
    for k, rec in b.items():
        if k not in a:
            changes.append(LayerChange("added", k, "train", {}, view(rec)))
        elif any(str(a[k][c]) != str(rec[c]) for c in compared):
            changes.append(LayerChange("changed", k, "train", view(a[k]), view(rec)))
    changes += [LayerChange("removed", k, "train", view(rec), {}) for k, rec in a.items() if k not in b]

    def tot(df):
        t = {c: sum(int(v) for v in df[c]) for c in baseline_counts(df)}
        return {**t, "macs": t["step_macs"], "flops": t["step_flops"], "activations": 0}
    return TrainingDiff(f"{name} (training)", changes, tot(old), tot(new))


def training_gate_on(flag: bool | None, root: str) -> bool:
    """``check``: --train / --no-train, or (default) whenever ``<root>/training/`` exists."""
    return flag if flag is not None else os.path.isdir(os.path.join(root, TRAINING_DIR))
