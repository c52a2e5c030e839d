"""Per-layer training-step reports for the zoo (``reports/training/``) and the
``check`` gate on them: a change that alters forward, backward or optimizer cost of
any layer fails CI.

Every report counts one step at :data:`REPORT_BATCH` with :data:`REPORT_OPTIMIZER`,
auxiliary heads built where the variant has them. CSV columns: see
:data:`inception_cost.counting.training.TRAINING_COLUMNS` (exact integers)."""
from __future__ import annotations

import io
import os

import pandas as pd

from ..counting.training import COUNTS, TRAINING_COLUMNS, TrainingReport, count_training
from ..models.registry import build, get_variant
from ..atomic import write_text
from .baseline import BaselineError, LayerChange, VariantDiff, read_baseline_text, safe_name
from .render import to_csv

REPORT_BATCH = 32
"""Training batch per replica in Szegedy et al. 2016 (Rethinking), Sec. 8."""
REPORT_OPTIMIZER = "sgd_momentum"
"""SGD with momentum 0.9, GoogLeNet's optimizer (Szegedy et al. 2015, Sec. 6)."""
TRAINING_DIR = "training"


def training_path(root: str, name: str) -> str:
    return os.path.join(root, TRAINING_DIR, f"{safe_name(name)}.csv")


def variant_training_report(name: str, module=None, chw=None) -> TrainingReport:
    """One step of a zoo variant (auxiliary heads on where it has them), or of ``module``."""
    if module is None:
        info = get_variant(name)
        module = build(name, **info.training_heads)
        chw = chw or info.input_size
    return count_training(module, (REPORT_BATCH, *chw), optimizer=REPORT_OPTIMIZER, name=name)


def training_csv(report: TrainingReport) -> str:
    return to_csv(report.layers[TRAINING_COLUMNS])


def read_training_baseline(path: str) -> pd.DataFrame:
    text = read_baseline_text(path, "training baseline")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except Exception as e:  # noqa: BLE001 - any parse failure is a corrupt baseline
        raise BaselineError(f"training baseline {path} is corrupt: {str(e).splitlines()[0]}") from None
    missing = [c for c in TRAINING_COLUMNS if c not in df.columns]
    if missing or df.empty:
        raise BaselineError(f"training baseline {path} is corrupt: "
                            + (f"missing column(s) {', '.join(missing)}" if missing else "no rows"))
    for c in COUNTS:
        if not df[c].str.fullmatch(r"-?\d+").all():
            raise BaselineError(f"training baseline {path} is corrupt: column '{c}' is not integers")
        df[c] = df[c].map(int)
    return df


def diff_training(name: str, old: pd.DataFrame, report: TrainingReport) -> VariantDiff:
    """Every layer whose training counts changed, appeared or disappeared; totals as
    params / macs (forward + backward MACs) / flops (the whole step's FLOPs)."""
    new = pd.read_csv(io.StringIO(training_csv(report)), dtype=str, keep_default_na=False)
    for c in COUNTS:
        new[c] = new[c].map(int)

    def keyed(df):
        return {r["module"]: r for r in df.to_dict(orient="records")}

    def view(r):
        return {"params": r["params"], "macs": r["step_macs"], "out_shape": "",
                **{c: r[c] for c in COUNTS}}
    a, b = keyed(old), keyed(new)
    changes = []
    for k, rec in b.items():
        if k not in a:
            changes.append(LayerChange("added", k, "train", {}, view(rec)))
        elif any(int(a[k][c]) != int(rec[c]) for c in COUNTS) or str(a[k]["aux"]) != str(rec["aux"]):
            changes.append(LayerChange("changed", k, "train", view(a[k]), view(rec)))
    changes += [LayerChange("removed", k, "train", view(rec), {}) for k, rec in a.items() if k not in b]

    def tot(df):
        return {"params": int(df["params"].sum()), "macs": int(df["step_macs"].sum()),
                "flops": int(df["step_flops"].sum()), "activations": 0}
    return VariantDiff(f"{name} (training)", changes, tot(old), tot(new))


def check_training(root: str, name: str, module=None, chw=None, update: bool = False):
    """(VariantDiff or None, message or None). ``update`` rewrites the baseline
    atomically and returns a one-line message; a missing/corrupt baseline raises
    :class:`BaselineError`."""
    rep = variant_training_report(name, module, chw)
    path = training_path(root, name)
    if update:
        state = "created"
        if os.path.exists(path):
            try:
                d = diff_training(name, read_training_baseline(path), rep)
                state = "unchanged" if d.identical else f"updated ({len(d.changes)} layer changes)"
            except BaselineError:
                state = "repaired (it was unusable)"
        write_text(path, training_csv(rep), make_dirs=True)
        return None, f"{name} (training): {state} {path}"
    return diff_training(name, read_training_baseline(path), rep), None


def training_gate_on(flag: bool | None, root: str) -> bool:
    """``check``: --train / --no-train, or (default) whenever ``<root>/training/`` exists."""
    return flag if flag is not None else os.path.isdir(os.path.join(root, TRAINING_DIR))


def gate_training(root: str, name: str, module, chw, update: bool, results: list, problems: list,
                  echo) -> None:
    """The ``check`` hook: adds this variant's training diff to ``results`` (or its
    baseline problem to ``problems``; with ``update``, echoes what was written)."""
    try:
        diff, message = check_training(root, name, module, chw, update)
    except BaselineError as e:
        problems.append(str(e))
        return
    except OSError as e:
        from ..errors import UsageError
        raise UsageError(f"cannot write training baseline for {name}: {e.strerror or e}") from None
    if message:
        echo(message)
    if diff is not None:
        results.append(diff)
