"""Fit a table of text cells into a terminal width without splitting a token.

A token is a run of non-space characters: a number (``118,013,952``), a name
(``features.0.conv``), a header word. Cells may wrap between tokens, never inside
one; a right-aligned (numeric) cell never wraps at all. When the table does not
fit even so, the caller's optional columns are left out (named in a footnote);
when it still does not fit, every row is printed as a vertical record
(``column: value`` lines), which fits any width a token fits.

The width is ``COLUMNS`` when set, else the terminal's width on a terminal, else
:data:`DEFAULT_WIDTH` (a pipe or a file).
"""
from __future__ import annotations

import os
import re
import shutil
import textwrap
from dataclasses import dataclass, field

DEFAULT_WIDTH = 100   # columns when COLUMNS is unset and the output is not a terminal
MIN_WIDTH = 20


def terminal_width(is_terminal: bool) -> int:
    """Columns to fit: ``COLUMNS`` (when a whole number >= 20), the terminal's own
    width on a terminal, else :data:`DEFAULT_WIDTH`."""
    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit() and int(env) >= MIN_WIDTH:
        return int(env)
    if is_terminal:
        return max(MIN_WIDTH, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)
    return DEFAULT_WIDTH


def longest_token(text: str) -> int:
    return max((len(t) for t in str(text).split()), default=0)


def overhead(ncols: int) -> int:
    """Characters a boxed table adds: one space each side of a cell and a border
    between cells and at both edges ('| a | b |')."""
    return 3 * ncols + 1


@dataclass
class Layout:
    """Column widths (characters) of the columns kept, and the columns left out."""

    columns: list[str]
    widths: list[int]
    dropped: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.widths) + overhead(len(self.widths))


def _natural(header: str, cells: list[str]) -> int:
    return max([len(str(header))] + [len(c) for c in cells])


# a quantity with its unit ('26.70 MiB', '1.50 GMACs', '9.47 K params') stays on one line
_QUANTITY = re.compile(r"^[-+~≈]?\d[\d,.]*%?( ?[A-Za-zµ/]+){0,2}$")


def is_quantity_column(cells: list[str]) -> bool:
    """Every non-empty cell a quantity (then the column is right-aligned)."""
    filled = [c for c in cells if c]
    return bool(filled) and all(_QUANTITY.match(c) for c in filled)


def _minimum(header: str, cells: list[str], atomic: bool) -> int:
    per_cell = (len(c) if atomic or _QUANTITY.match(c) else longest_token(c) for c in cells)
    return max([longest_token(header), 1, *per_cell])


def layout(headers: list[str], cells: dict[str, list[str]], atomic: set[str], width: int,
           optional: list[str] = ()) -> Layout | None:
    """Widths that fit ``width`` with no token split, leaving out ``optional``
    columns (in that order) only as far as needed; None when even the kept
    columns cannot fit (then print records)."""
    nat = {h: _natural(h, cells[h]) for h in headers}
    mins = {h: _minimum(h, cells[h], h in atomic) for h in headers}

    def fit(cols: list[str]) -> list[int] | None:
        budget = width - overhead(len(cols))
        if sum(mins[c] for c in cols) > budget:
            return None
        widths = {c: nat[c] for c in cols}
        excess = sum(widths.values()) - budget
        # shrink the widest wrappable column one character at a time, never below
        # its longest token
        while excess > 0:
            c = max(cols, key=lambda k: (widths[k] > mins[k], widths[k]))
            if widths[c] <= mins[c]:
                return None
            widths[c] -= 1
            excess -= 1
        return [widths[c] for c in cols]

    optional = [c for c in optional if c in headers]
    kept = list(headers)
    dropped: list[str] = []
    widths = fit(kept)
    for c in optional:
        if widths is not None:
            break
        kept.remove(c)
        dropped.append(c)
        widths = fit(kept)
    if widths is None:
        return None
    # put back what fits again, most important (last dropped) first
    for c in reversed(list(dropped)):
        trial = [h for h in headers if h in kept or h == c]
        w = fit(trial)
        if w is not None:
            kept, widths = trial, w
            dropped.remove(c)
    return Layout(kept, widths, dropped)


def records(title: str, headers: list[str], rows: list[list[str]], width: int) -> str:
    """Each row as a block: its first cell, then ``column: value`` lines wrapped
    between tokens (a token longer than the width stays whole on its line)."""
    key_w = min(max((len(h) for h in headers[1:]), default=0), max(8, width // 3))
    wrap = dict(break_long_words=False, break_on_hyphens=False)
    out = []
    if title:
        out += textwrap.wrap(title, width, **wrap) + [""]
    for row in rows:
        out += textwrap.wrap(row[0], width, **wrap) if row and row[0] else [""]
        for h, v in zip(headers[1:], row[1:]):
            if v == "":
                continue
            lead = f"  {h:<{key_w}} : "
            if len(lead) > width // 2:
                out += textwrap.wrap(h, width, initial_indent="  ", subsequent_indent="  ", **wrap)
                lead = "      "
            out += textwrap.wrap(v, width, initial_indent=lead,
                                 subsequent_indent=" " * len(lead), **wrap) or [lead.rstrip()]
        out.append("")
    return "\n".join(out)
