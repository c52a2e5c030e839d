"""The narrower terminal views of paper sections (``inception-cost table``/``cases``/...,
rich, without --wide): at most 100 columns. A :class:`~inception_cost.papers.paper_result.Section`
names its view (``terminal_view``) and carries what the view reads (``terminal_data``); the
full table is the section's ``df`` (csv, json, md, --wide)."""
from __future__ import annotations

import re

import pandas as pd

from ..papers.audit import Finding, unit_label
from ..papers.paper_result import Section, frame
from ..papers.table1 import SHORT, Table1Audit


def _short_row(label: str, patch) -> str:
    """'convolution' + '7×7/2' -> 'convolution 7×7/2'; the alternative stem's row
    -> 'separable stem'; the total -> 'total'."""
    if label.startswith("convolution (stem="):
        return label[len("convolution (stem="):-1] + " stem"
    if label.startswith("total"):
        return "total"
    return f"{label} {patch}".strip() if patch else label


_ROUNDING_TAIL = re.compile(r",? beyond ±[^;]*? rounding under every base")


def _brief(message: str) -> str:
    """A finding's message without its 'params: ' / 'ops: ' lead (the tag says it)
    and the tolerance tail (the notes state the rule)."""
    return re.sub(r"^(params|ops): ", "", _ROUNDING_TAIL.sub("", message))


def terminal_table(a: Table1Audit, recs: list[dict]) -> tuple[pd.DataFrame, list[str]]:
    """Table 1 in eight narrow columns; each row's audit findings become one
    numbered footnote under the table. The branch widths, bias and Δ columns are
    in --wide, csv, json and md."""
    by_row: dict[str, list[Finding]] = {}
    for f in a.findings:
        by_row.setdefault(f.row, []).append(f)
    rows, notes = [], []
    labels = iter(a.labels)
    for d in recs:
        kind = str(d["type"])
        is_alt, is_total = kind.startswith("convolution (stem="), kind.startswith("total")
        label = None if is_alt or is_total else next(labels)
        name = _short_row(kind, d.get("patch/stride"))
        text = ""
        if label and by_row.get(label):
            text = "; ".join(f"{SHORT.get(f.kind, f.kind)}: {_brief(f.message)}"
                             for f in by_row[label])
        elif is_alt and d.get("audit"):
            text = d["audit"]
        mark = ""
        if text:
            mark = f"[{len(notes) + 1}]"
            notes.append(f"{mark} {name}: {text}")
        rows.append({"row": name, "output H×W×C": d.get("output (H×W×C)") or "",
                     "depth": d.get("depth"), "params": d.get("params (weights)"),
                     "paper": d.get("printed params") or "", "MACs": d.get("MACs"),
                     "paper ": d.get("printed ops") or "", "audit": mark})
    units = ", ".join(unit_label(u.suffix, u.base) for u in (a.params_unit, a.ops_unit))
    head = ["params = weights (bias excluded); MACs = multiply-adds; 'paper' = the printed "
            f"value, read with {units} (the bases with the smaller total error). A printed "
            "value covers half a unit of its last digit.",
            "Full table (branch widths, bias, Δ columns, unit evidence): --wide, or "
            "--format md/csv/json."]
    return frame(rows), head + notes


def terminal_claims(claims: list[dict]) -> tuple[pd.DataFrame, list[str]]:
    """The claims without the model column; computed values carry their unit."""
    rows = []
    for c in claims:
        comp = c.get("computed")
        comp = f"{comp:,}" if isinstance(comp, int) else str(comp)
        model = str(c.get("model") or "")
        rows.append({"claim": c["claim"], "printed": c["printed"],
                     "computed": f"{comp} " + (model if model.startswith("(") else f"({model})"),
                     "verdict": c["verdict"]})
    return frame(rows), []


VIEWS = {
    "same": lambda s: (s.df, []),     # the full table, its cells folded to fit
    "table1": lambda s: terminal_table(*s.terminal_data),
    "table1_claims": lambda s: terminal_claims(s.terminal_data),
}
"""View name -> (section -> (narrower frame, its notes))."""


def terminal_view(s: Section) -> tuple[pd.DataFrame, list[str]]:
    """The section's terminal frame and notes: its named view, then the columns and notes
    added to it (``terminal_columns``: (after column, name, values); ``terminal_notes``)."""
    df, notes = VIEWS[s.terminal_view](s)
    for after, name, values in s.terminal_columns:
        df = df.copy()
        df.insert(list(df.columns).index(after) + 1, name,
                  pd.Series(values, dtype=object, index=df.index))
    return df, [*notes, *s.terminal_notes]
