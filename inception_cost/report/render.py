"""Write a DataFrame as rich / csv / json / md. Exact integers in csv and json."""
from __future__ import annotations

import io
import json
import re
from typing import Iterable

import pandas as pd

from .. import streams
from ..atomic import write_text
from ..errors import UsageError
from ..counting.report import format_shapes
from .units import human

FORMATS = ("rich", "csv", "json", "md")

# Where the text goes decides colour and table style: a terminal gets colour and the
# terminal's width; a file (--output) or a pipe gets plain ASCII text. ``None``: stdout.
_destination_is_terminal: bool | None = None
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def set_destination(output: str | None) -> None:
    """Called with ``--output`` before rendering: a file is never a terminal."""
    global _destination_is_terminal
    _destination_is_terminal = False if output and output != "-" else None


def to_terminal() -> bool:
    """Whether the text being rendered will be shown on a terminal."""
    if _destination_is_terminal is not None:
        return _destination_is_terminal
    try:
        return streams.stdout().isatty()
    except (AttributeError, ValueError):
        return False


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
    is_tty = to_terminal() and width is None
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
    """Print to stdout, or write ``output`` atomically (clear error naming the path)."""
    if not output or output == "-":
        streams.write(encodable(text, getattr(streams.stdout(), "encoding", None)))
        return
    write_text(output, _ANSI.sub("", text), what="--output")


# what the tables print beyond ASCII, spelled in ASCII for an ASCII-only stdout
_ASCII = {"→": "->", "×": "x", "—": "-", "–": "-", "≠": "!=", "≈": "~", "∝": "~", "≥": ">=",
          "≤": "<=", "…": "...", "·": "*", "⁴": "^4", "⁶": "^6", "⁹": "^9", "²": "^2", "µ": "u",
          "±": "+/-", "’": "'", "“": '"', "”": '"'}


def encodable(text: str, encoding: str | None) -> str:
    """``text`` as ``encoding`` can carry it: symbols spelled in ASCII, anything
    else replaced by '?'. Unchanged when the encoding carries it already."""
    enc = encoding or "utf-8"
    try:
        text.encode(enc)
        return text
    except LookupError:
        return text
    except UnicodeEncodeError:
        pass
    text = "".join(_ASCII.get(ch, ch) for ch in text)
    return text.encode(enc, "replace").decode(enc)
