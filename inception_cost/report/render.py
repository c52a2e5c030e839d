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
from ..counting.cost_report import format_shapes
from .fit import is_quantity_column, layout, records, terminal_width
from ..units import human

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


def _compact(v) -> str:
    """1_500_000_000 -> '1.50G' (the unit moves to the header)."""
    if not (isinstance(v, (int, float)) or hasattr(v, "item")):
        return v
    return human(v, "").replace(" ", "")


def _header(col: str, unit: str) -> str:
    """The header of a compact column (words wrap): 'macs' -> 'MACs';
    'bwd_weight_macs' -> 'bwd weight macs'; 'activations' -> 'activations (elements)'."""
    if col.lower() == unit.lower():
        return unit
    words = col.replace("_", " ")
    return words if unit.lower() in col.lower() else f"{words} ({unit})"


def _text_cells(df: pd.DataFrame, units: dict[str, str], compact: bool):
    """(headers, {header: cell texts}, right-aligned headers) of ``df`` as shown."""
    shown = df.copy()
    renamed = {}
    for col, unit in units.items():
        if col in shown.columns and unit:
            if compact:
                shown[col] = shown[col].map(_compact)
                renamed[col] = _header(str(col), unit)
            else:
                shown[col] = shown[col].map(lambda v: human(v, unit) if isinstance(v, (int, float))
                                            or hasattr(v, "item") else v)
    headers, cells, right = [], {}, set()
    for c in shown.columns:
        h = renamed.get(c, str(c))
        numeric = pd.api.types.is_numeric_dtype(df[c]) if c in df.columns else False
        cells[h] = ["" if v is None or (isinstance(v, float) and v != v) else str(v)
                    for v in shown[c]]
        if numeric or c in units or is_quantity_column(cells[h]):
            right.add(h)
        headers.append(h)
    return headers, cells, right


def to_rich_text(df: pd.DataFrame, title: str = "", units: dict[str, str] | None = None,
                 notes: Iterable[str] = (), width: int | None = None,
                 optional: Iterable[str] = (), first: Iterable[str] = ()) -> str:
    """Render with rich, fitted to ``width`` (default: COLUMNS, the terminal's width, or
    100 off a terminal) without splitting a number, a name or a header word: cells wrap
    between words; if that is not enough, the ``first`` columns are left out (so the
    others keep their units in the cells), then quantities show compact with their unit
    in the header (every column back), then the ``optional`` columns are left out (in
    that order; left-out columns are named in a footnote), and as a last resort every
    row prints as a record. Off a terminal (or into a file) the text is plain ASCII."""
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table


    units = units or {}
    is_tty = to_terminal()
    width = width or terminal_width(is_tty)
    optional = [str(c) for c in optional]
    first = [str(c) for c in first if str(c) in [str(h) for h in df.columns]]
    notes = list(notes)
    lay = None
    steps = ((False, False), (False, "first"), (True, False), (True, True))
    for compact, drop in steps:
        if compact and not drop and not any(units.values()):
            continue
        if drop == "first" and not first:
            continue
        headers, cells, right = _text_cells(df, units, compact and any(units.values()))
        names = dict(zip(headers, [str(c) for c in df.columns]))
        by_name = {names[h]: h for h in headers}
        wanted = first if drop == "first" else optional if drop else []
        opt = [by_name[c] for c in wanted if c in by_name]
        lay = layout(headers, cells, right, width, opt)
        if lay is not None:
            break
    console = Console(file=io.StringIO(), width=width, force_terminal=is_tty,
                      color_system="auto" if is_tty else None)
    if lay is None:
        rows = [[cells[h][i] for h in headers] for i in range(len(df))]
        console.file.write(records(title, headers, rows, width))
    else:
        table = Table(title=escape(title) if title else None,
                      box=box.SIMPLE_HEAD if is_tty else box.ASCII2, show_lines=False)
        for h, w in zip(lay.columns, lay.widths):
            table.add_column(escape(h), justify="right" if h in right else "left", width=w,
                             overflow="fold")
        for i in range(len(df)):
            table.add_row(*[escape(cells[h][i]) for h in lay.columns])
        console.print(table)
        if lay.dropped:
            notes.insert(0, f"not shown at {width} columns: {', '.join(names[h] for h in lay.dropped)}"
                            " (--format md/csv/json carry every column; a larger COLUMNS "
                            "shows more)")
    for n in notes:
        console.print(n, markup=False, highlight=False)
    return console.file.getvalue()


def render(df: pd.DataFrame, fmt: str = "rich", title: str = "",
           units: dict[str, str] | None = None, notes: Iterable[str] = (),
           optional: Iterable[str] = (), first: Iterable[str] = ()) -> str:
    """The text of ``df`` in ``fmt``. csv/json keep exact values; rich/md add notes.
    rich leaves out the ``first`` columns, then the ``optional`` ones (in that order) as
    far as it must to fit the width (see :func:`to_rich_text`)."""
    notes = list(notes)
    df = format_shapes(df)
    if fmt == "csv":
        return to_csv(df)
    if fmt == "json":
        return to_json(df)
    if fmt == "md":
        return to_markdown(df, title, notes)
    if fmt == "rich":
        return to_rich_text(df, title, units, notes, optional=optional, first=first)
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
