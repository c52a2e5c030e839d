"""A fast plain-text table (ASCII borders, as the rich renderer draws off a terminal) for
long tables where rich's per-cell layout is most of a command's time.  Headers may hold
several lines ("\\n"); numbers and number-like cells are right-aligned."""
from __future__ import annotations

import re

import pandas as pd

_NUMBER = re.compile(r"^[-+]?[\d.,]+(e[-+]?\d+)?( [a-z])?$")


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return str(v)


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
