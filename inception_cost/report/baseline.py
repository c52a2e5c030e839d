"""Per-layer baseline CSVs and the diff behind ``inception-cost check``.

A baseline is ``<dir>/layers/<name>.csv`` with the columns below, exact integers.
Rows are matched by (module, op, n-th occurrence of that op in that module).
A baseline written before the ``bytes`` column existed is read and compared without it.
"""
from __future__ import annotations

import io
import os
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field

import pandas as pd

from ..counting.cost_report import CostReport, format_shapes
from ..atomic import write_text
from ..errors import InceptionCostError
from .render import to_csv

BASELINE_COLUMNS = ["module", "op", "kernel", "stride", "padding", "dilation", "groups", "in_shape",
                    "weight_shape", "out_shape", "params", "macs", "flops", "activations", "depth",
                    "bytes"]
COMPARED = ["out_shape", "params", "macs", "flops", "activations", "bytes"]
INTS = ["params", "macs", "flops", "activations", "depth", "bytes"]
OPTIONAL_COLUMNS = ["bytes"]
"""Columns an older baseline may lack (then they are not compared)."""


class BaselineError(InceptionCostError):
    """Missing, empty or corrupt baseline: check exits 2, never a silent pass."""

    exit_code = 2


def safe_name(name: str) -> str:
    """The file stem of ``name``'s baselines, one stem per name and back again:
    letters and digits of any script, '_', '-' and '.' stay as they are ('模型一',
    'inception_v3'); every other character, and a leading '.', becomes '%XX' per
    UTF-8 byte ('mypkg.nets:build' -> 'mypkg.nets%3Abuild'). See :func:`name_of`."""
    if not name:
        return "%"   # the empty name: a stem no other name has
    out = []
    for i, ch in enumerate(name):
        if (ch.isalnum() or ch in "_-" or (ch == "." and i > 0)) and ch.isprintable():
            out.append(ch)
        else:
            out.append("".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass")))
    return "".join(out)


def name_of(stem: str) -> str:
    """The name whose baselines have the file stem ``stem`` (inverse of :func:`safe_name`)."""
    return "" if stem == "%" else urllib.parse.unquote(stem, errors="surrogatepass")


def legacy_name(name: str) -> str:
    """The stem this tool gave ``name`` before stems became one per name
    ('mypkg.nets:build' -> 'mypkg.nets_build'); only to point at such a file."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"


def _fold(file_name: str) -> str:
    return unicodedata.normalize("NFC", file_name).casefold()


def check_unique(root: str, folder: str, names: list[str]) -> None:
    """Refuse (BaselineError, exit 2) names that would share one baseline file: two of
    ``names`` whose stems differ only in case or Unicode normalization (one file on
    macOS and Windows), or a name whose stem is that close to a different file already
    in ``root``/``folder``."""
    seen: dict[str, str] = {}
    for n in names:
        key = _fold(safe_name(n))
        if key in seen and seen[key] != n:
            raise BaselineError(f"baseline names '{seen[key]}' and '{n}' would share one file "
                                f"({safe_name(n)}.csv on a case-insensitive file system); "
                                "choose names that differ in more than case")
        seen[key] = n
    where = os.path.join(root, folder)
    try:
        present = [f for f in os.listdir(where) if f.endswith(".csv")]
    except OSError:
        return
    for n in dict.fromkeys(names):
        mine = f"{safe_name(n)}.csv"
        for f in present:
            if f != mine and _fold(f) == _fold(mine):
                raise BaselineError(f"baseline name '{n}' collides with {os.path.join(where, f)} "
                                    f"(baseline of '{name_of(f[:-4])}'; the names differ only "
                                    "in case or Unicode form); choose another --name")


def baseline_path(root: str, name: str) -> str:
    return os.path.join(root, "layers", f"{safe_name(name)}.csv")


def layers_frame(report: CostReport) -> pd.DataFrame:
    return format_shapes(report.layers[BASELINE_COLUMNS])


def layers_csv(report: CostReport) -> str:
    return to_csv(layers_frame(report))


MAX_COUNT = 2**63 - 1   # no count at batch 1 reaches this: its input could not be a tensor


def _to_count(text: str) -> int | None:
    """'123' -> 123; anything else (a sign, a fraction, more than 19 digits, a value
    at or above 2**63) -> None."""
    if not re.fullmatch(r"\d{1,19}", text):
        return None
    value = int(text)
    return value if value <= MAX_COUNT else None


def write_baseline(path: str, report: CostReport) -> None:
    """Write ``report``'s per-layer baseline to ``path`` atomically."""
    write_text(path, layers_csv(report), what="baseline", make_dirs=True)


def baseline_names(root: str, folder: str = "layers") -> list[str]:
    """File stems of the baselines under ``root``/``folder``, sorted."""
    where = os.path.join(root, folder)
    if not os.path.isdir(where):
        return []
    return sorted(f[:-4] for f in os.listdir(where) if f.endswith(".csv") and not f.startswith("."))


def orphan_baselines(root: str, names: list[str], folder: str = "layers") -> list[str]:
    """Baseline files under ``root``/``folder`` (layers or training) that belong to
    none of ``names`` (a variant that was removed or renamed): the gate reports them."""
    known = {safe_name(n) for n in names} | NOT_BASELINES.get(folder, set())
    return [os.path.join(root, folder, f"{stem}.csv") for stem in baseline_names(root, folder)
            if stem not in known]


# files `report` writes beside the baselines that are not baselines (training/summary.csv:
# the zoo's step totals)
NOT_BASELINES = {"training": {"summary"}}


def read_baseline_text(path: str, what: str = "baseline") -> str:
    """The text of a baseline file; missing, unreadable, not UTF-8, empty or binary
    is a :class:`BaselineError` naming ``what`` and the path."""
    if not os.path.exists(path):
        raise BaselineError(f"no {what} at {path} (run `inception-cost check --update` to create it)")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        raise BaselineError(f"cannot read {what} {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BaselineError(f"{what} {path} is corrupt: not UTF-8 text (byte {e.start}); "
                            "`inception-cost check --update` rewrites it") from None
    if not text.strip():
        raise BaselineError(f"{what} {path} is empty")
    if "\x00" in text:
        raise BaselineError(f"{what} {path} is corrupt: it holds NUL bytes (a binary file); "
                            "`inception-cost check --update` rewrites it")
    return text


def read_baseline(path: str) -> pd.DataFrame:
    """The baseline at ``path``; counts become exact Python ints. Any defect
    (missing, unreadable, not UTF-8, empty, unparsable, a missing column, a count
    that is not a non-negative integer) is a :class:`BaselineError`."""
    text = read_baseline_text(path)
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except Exception as e:  # noqa: BLE001 - any parse failure is a corrupt baseline
        raise BaselineError(f"baseline {path} is corrupt: {str(e).splitlines()[0]}") from None
    missing = [c for c in BASELINE_COLUMNS if c not in df.columns and c not in OPTIONAL_COLUMNS]
    if missing:
        raise BaselineError(f"baseline {path} is corrupt: missing column(s) {', '.join(missing)}")
    if df.empty:
        raise BaselineError(f"baseline {path} has a header but no rows")
    for c in [c for c in INTS if c in df.columns]:
        vals = [_to_count(v) for v in df[c]]
        if None in vals:
            i = vals.index(None)
            cell = str(df.at[i, c])
            cell = cell if len(cell) <= 40 else cell[:37] + "..."
            raise BaselineError(f"baseline {path} is corrupt: row {i + 2} column '{c}' is "
                                f"'{cell}', not an integer in 0..2^63-1")
        df[c] = pd.Series(vals, dtype=object, index=df.index)
    return df[[c for c in BASELINE_COLUMNS if c in df.columns]]


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
    compared = [c for c in COMPARED if c in old.columns and c in new.columns]
    changes: list[LayerChange] = []
    for k, rec in b.items():
        if k not in a:
            changes.append(LayerChange("added", k[0], k[1], {}, rec))
        elif any(str(a[k][c]) != str(rec[c]) for c in compared):
            changes.append(LayerChange("changed", k[0], k[1], a[k], rec))
    for k, rec in a.items():
        if k not in b:
            changes.append(LayerChange("removed", k[0], k[1], rec, {}))
    tot = lambda df: {c: sum(int(v) for v in df[c]) for c in ("params", "macs", "flops", "activations",
                                                               "bytes") if c in df.columns}
    return VariantDiff(name, changes, tot(old), tot(new))
