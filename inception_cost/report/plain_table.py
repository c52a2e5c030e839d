"""A fast plain-text table (ASCII borders, as the rich renderer draws off a terminal) for
long tables where rich's per-cell layout is most of a command's time.  Headers may hold
several lines ("\\n"); numbers and number-like cells are right-aligned.  Cells never
wrap: :func:`plain_tables` splits a table wider than the terminal into several, each with
the row names and as many column groups as fit."""
from __future__ import annotations

import re
import textwrap

import pandas as pd

_NUMBER = re.compile(r"^[-+]?[\d.,]+(e[-+]?\d+)?( [a-z])?$")


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return str(v)


def table_width(df: pd.DataFrame) -> int:
    """Characters of the widest line :func:`plain_table` draws for ``df`` (title aside)."""
    widths = [max([len(h) for h in str(c).split("\n")] + [len(_cell(v)) for v in df[c]])
              for c in df.columns]
    return sum(widths) + 3 * len(widths) + 1


def plain_tables(df: pd.DataFrame, title: str, keep: int, group: int, width: int) -> str:
    """``df`` as one or more plain tables that each fit ``width`` columns: the first
    ``keep`` columns (the row names) in every table, the others in groups of ``group``
    columns (a device's pair), as many groups per table as fit.  None when one group
    beside the kept columns is already too wide."""
    head, rest = list(df.columns[:keep]), list(df.columns[keep:])
    groups = [rest[i:i + group] for i in range(0, len(rest), group)]
    tables, cur = [], []
    for g in groups:
        if cur and table_width(df[head + cur + g]) > width:
            tables.append(cur)
            cur = []
        cur = cur + g
    tables.append(cur)
    if any(table_width(df[head + t]) > width for t in tables):
        return None
    out = []
    for i, cols in enumerate(tables):
        part = f"{title} ({i + 1} of {len(tables)})" if len(tables) > 1 else title
        text = plain_table(df[head + cols])
        wrapped = textwrap.wrap(part, width, break_long_words=False, break_on_hyphens=False)
        rule = len(text.splitlines()[0])
        out.append("\n".join(ln.center(rule).rstrip() for ln in wrapped) + "\n" + text)
    return "\n".join(out)


def plain_table(df: pd.DataFrame, title: str = "", notes=()) -> str:
    cols = [str(c).split("\n") for c in df.columns]
    depth = max((len(c) for c in cols), default=1)
    heads = [[""] * (depth - len(c)) + c for c in cols]
    body = [[_cell(v) for v in row] for row in df.itertuples(index=False)]
    widths = [max([len(h) for h in heads[i]] + [len(r[i]) for r in body]) for i in range(len(cols))]
    right = [all(_NUMBER.match(r[i]) or not r[i] for r in body) and any(r[i] for r in body)
             for i in range(len(cols))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells, align=None) -> str:
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(" " + (c.rjust(w) if (align or right)[i] else c.ljust(w)) + " ")
        return "|" + "|".join(out) + "|"
    lines = []
    if title:
        lines.append(title.center(len(rule)).rstrip())
    lines.append(rule)
    for k in range(depth):
        lines.append(line([h[k] for h in heads], [False] * len(cols)))
    lines.append(rule)
    lines += [line(r) for r in body]
    lines.append(rule)
    lines += list(notes)
    return "\n".join(lines) + "\n"
