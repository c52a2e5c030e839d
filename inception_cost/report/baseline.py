"""Per-layer baseline CSVs and the diff behind ``inception-cost check``.

A baseline is ``<dir>/layers/<name>.csv`` with the columns below, exact integers.
Rows are matched by (module, op, n-th occurrence of that op in that module).
"""
from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field

import pandas as pd

from ..counting.report import CostReport, format_shapes
from ..errors import InceptionCostError
from .render import to_csv

BASELINE_COLUMNS = ["module", "op", "kernel", "stride", "padding", "dilation", "groups", "in_shape",
                    "weight_shape", "out_shape", "params", "macs", "flops", "activations", "depth"]
COMPARED = ["out_shape", "params", "macs", "flops", "activations"]
INTS = ["params", "macs", "flops", "activations", "depth"]


class BaselineError(InceptionCostError):
    """Missing, empty or corrupt baseline: check exits 2, never a silent pass."""

    exit_code = 2


def safe_name(name: str) -> str:
    """'mypkg.nets:build' -> 'mypkg.nets_build' (a file name)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"


def baseline_path(root: str, name: str) -> str:
    return os.path.join(root, "layers", f"{safe_name(name)}.csv")


def layers_frame(report: CostReport) -> pd.DataFrame:
    return format_shapes(report.layers[BASELINE_COLUMNS])


def layers_csv(report: CostReport) -> str:
    return to_csv(layers_frame(report))


def read_baseline(path: str) -> pd.DataFrame:
    if not os.path.exists(path):
        raise BaselineError(f"no baseline at {path} (run `inception-cost check --update` to create it)")
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        raise BaselineError(f"cannot read baseline {path}: {e.strerror}") from None
    if not text.strip():
        raise BaselineError(f"baseline {path} is empty")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except Exception as e:  # noqa: BLE001 - any parse failure is a corrupt baseline
        raise BaselineError(f"baseline {path} is corrupt: {str(e).splitlines()[0]}") from None
    missing = [c for c in BASELINE_COLUMNS if c not in df.columns]
    if missing:
        raise BaselineError(f"baseline {path} is corrupt: missing column(s) {', '.join(missing)}")
    if df.empty:
        raise BaselineError(f"baseline {path} has a header but no rows")
    for c in INTS:
        bad = ~df[c].str.fullmatch(r"-?\d+")
        if bad.any():
            i = int(bad.idxmax())
            raise BaselineError(f"baseline {path} is corrupt: row {i + 2} column '{c}' is "
                                f"'{df.at[i, c]}', not an integer")
        df[c] = df[c].astype("int64")
    return df[BASELINE_COLUMNS]


@dataclass
class LayerChange:
    kind: str            # "changed" | "added" | "removed"
    module: str
    op: str
    old: dict = field(default_factory=dict)
    new: dict = field(default_factory=dict)


@dataclass
class VariantDiff:
    name: str
    changes: list[LayerChange]
    old_totals: dict
    new_totals: dict

    @property
    def identical(self) -> bool:
        return not self.changes

    def delta(self, col: str) -> int:
        return int(self.new_totals[col]) - int(self.old_totals[col])


def _keyed(df: pd.DataFrame) -> dict:
    seen: dict[tuple, int] = {}
    out = {}
    for rec in df.to_dict(orient="records"):
        k = (rec["module"], rec["op"])
        n = seen.get(k, 0)
        seen[k] = n + 1
        out[(*k, n)] = rec
    return out


def diff_layers(name: str, old: pd.DataFrame, new: pd.DataFrame) -> VariantDiff:
    """Every changed, added or removed layer between two per-layer frames."""
    a, b = _keyed(old), _keyed(new)
    changes: list[LayerChange] = []
    for k, rec in b.items():
        if k not in a:
            changes.append(LayerChange("added", k[0], k[1], {}, rec))
        elif any(str(a[k][c]) != str(rec[c]) for c in COMPARED):
            changes.append(LayerChange("changed", k[0], k[1], a[k], rec))
    for k, rec in a.items():
        if k not in b:
            changes.append(LayerChange("removed", k[0], k[1], rec, {}))
    tot = lambda df: {c: int(df[c].sum()) for c in ("params", "macs", "flops", "activations")}
    return VariantDiff(name, changes, tot(old), tot(new))
