"""Render a :class:`~inception_cost.papers.paper_result.PaperReport` as rich / csv / json / md.
csv and json keep exact integers; rich and md add each section's notes."""
from __future__ import annotations

import pandas as pd

from ..errors import UsageError
from ..papers.paper_result import PaperReport
from .paper_terminal_views import terminal_view
from .render import FORMATS, render, to_csv, to_rich_text


def _plain(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    return v


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _display(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Integers with thousands separators (exact, readable); numeric columns right-aligned."""
    cols, right = {}, {}
    for c in df.columns:
        vals = [_plain(v) for v in df[c] if not _blank(v)]
        numeric = bool(vals) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                     for v in vals)
        if numeric:
            right[c] = ""
        cells = ["" if _blank(v) else f"{_plain(v):,}" if numeric and isinstance(_plain(v), int)
                 else str(_plain(v)) for v in df[c]]
        cols[c] = pd.Series(cells, dtype=object, index=df.index)
    return pd.DataFrame(cols), right


def render_report(rep: PaperReport, fmt: str, wide: bool = False, envelope: bool = False,
                  model=None, inputs: list[dict] | None = None) -> str:
    """rich/md: every section with its notes; csv: the sections separated by a blank
    line; json: {"title", <section name>: [rows], "findings": [...]}, and with
    ``envelope`` (the commands' output; ``reports/papers/`` has none) first "model",
    "input", "convention" and last "totals" and "rows" (null unless a section has that
    name: the sections hold the rows).

    rich uses a section's narrower ``terminal`` view when it has one, unless
    ``wide``; csv, json and md always carry the full table."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    if fmt == "json":
        obj = {"title": rep.title}
        for s in rep.sections:
            obj[s.name] = [{k: _plain(v) for k, v in r.items()}
                           for r in s.df.to_dict(orient="records")]
            if s.notes:
                obj[f"{s.name}_notes"] = list(s.notes)
        obj["findings"] = [f.__dict__ for f in rep.findings]
        from .json_object import dumps, with_envelope
        if envelope:
            obj = with_envelope(obj, inputs, convention="native", model=model)
        return dumps(obj, ascii_only=False)
    if fmt == "csv":
        return "\n".join(to_csv(s.df) for s in rep.sections)
    parts = []
    for i, s in enumerate(rep.sections):
        title = s.title if i else f"{rep.title} — {s.title}" if s.title else rep.title
        if fmt == "rich" and not wide and s.terminal_view is not None:
            df, notes = terminal_view(s)
            df, right = _display(df)
            parts.append(to_rich_text(df, title, right, notes))
            continue
        df, right = _display(s.df.drop(columns=[c for c in s.hide_in_text if c in s.df]))
        if fmt == "rich" and wide:
            # --wide asks for the full table: its natural width, never a folded cell
            natural = sum(max([len(str(c))] + [len(str(v)) for v in df[c]]) + 3
                          for c in df.columns) + 1
            parts.append(to_rich_text(df, title, right, s.notes, width=max(200, natural)))
        elif fmt == "rich":
            parts.append(to_rich_text(df, title, right, s.notes))
        else:
            parts.append(render(df, fmt, title=title, units=right, notes=s.notes))
    return "\n".join(parts)
