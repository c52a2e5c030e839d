"""Write a DataFrame as rich / csv / json / md. Exact integers in csv and json."""
from __future__ import annotations

import io
import json
import sys
from typing import Iterable

import pandas as pd

from ..errors import UsageError
from ..counting.report import format_shapes
from .units import human

FORMATS = ("rich", "csv", "json", "md")


def _jsonable(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and v != v:  # NaN
        return None
    return v


def to_csv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def to_json(df: pd.DataFrame) -> str:
    rows = [{k: _jsonable(v) for k, v in r.items()} for r in df.to_dict(orient="records")]
    return json.dumps(rows, indent=2) + "\n"


def to_markdown(df: pd.DataFrame, title: str = "", notes: Iterable[str] = ()) -> str:
    def cell(v):
        s = "" if v is None or (isinstance(v, float) and v != v) else str(v)
        return s.replace("|", "\\|").replace("\n", " ")
    lines = []
    if title:
        lines += [f"### {title}", ""]
    cols = [str(c) for c in df.columns]
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    notes = list(notes)
    if notes:
        lines.append("")
        lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def humanise(df: pd.DataFrame, units: dict[str, str]) -> pd.DataFrame:
    """Copy of df with the columns in ``units`` shown as e.g. '1.50 GMACs'."""
    out = df.copy()
    for col, unit in units.items():
        if col in out.columns:
            out[col] = out[col].map(lambda v: human(v, unit) if isinstance(v, (int, float)) or
                                    hasattr(v, "item") else v)
    return out


def to_rich_text(df: pd.DataFrame, title: str = "", units: dict[str, str] | None = None,
                 notes: Iterable[str] = (), width: int | None = None) -> str:
    """Render with rich; off a TTY (or into a file) this is plain text."""
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    shown = humanise(df, units or {})
    is_tty = sys.stdout.isatty() and width is None
    table = Table(title=escape(title) if title else None, box=box.SIMPLE_HEAD if is_tty else box.ASCII2,
                  show_lines=False)
    for c in shown.columns:
        numeric = pd.api.types.is_numeric_dtype(df[c]) if c in df.columns else False
        justify = "right" if numeric or (units and c in units) else "left"
        table.add_column(escape(str(c)), justify=justify, overflow="fold")
    for row in shown.itertuples(index=False):
        table.add_row(*["" if v is None or (isinstance(v, float) and v != v) else escape(str(v))
                        for v in row])
    console = Console(file=io.StringIO(), width=width or (None if is_tty else 200),
                      force_terminal=is_tty, color_system="auto" if is_tty else None)
    console.print(table)
    for n in notes:
        console.print(n, markup=False)
    return console.file.getvalue()


def render(df: pd.DataFrame, fmt: str = "rich", title: str = "",
           units: dict[str, str] | None = None, notes: Iterable[str] = ()) -> str:
    """The text of ``df`` in ``fmt``. csv/json keep exact values; rich/md add notes."""
    notes = list(notes)
    df = format_shapes(df)
    if fmt == "csv":
        return to_csv(df)
    if fmt == "json":
        return to_json(df)
    if fmt == "md":
        return to_markdown(df, title, notes)
    if fmt == "rich":
        return to_rich_text(df, title, units, notes)
    raise UsageError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")


def write_output(text: str, output: str | None) -> None:
    """Print to stdout, or write to ``output`` (clear error if not writable)."""
    if not output or output == "-":
        sys.stdout.write(text)
        return
    try:
        with open(output, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    except OSError as e:
        raise UsageError(f"cannot write --output '{output}': {e.strerror or e}") from None
