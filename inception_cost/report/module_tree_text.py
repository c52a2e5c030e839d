"""The module tree (``layers MODEL --tree``) as terminal text that fits the width.

Module paths are indented two spaces per depth, as fvcore's ``flop_count_table``
indents them. No cell ever wraps (an indented path is one token): columns are left out
(FLOPs, then type, then output; named in a footnote), then counts show compact
('1.58G'), and as a last resort every module prints as a record (``report.fit``).
"""
from __future__ import annotations

import textwrap

import pandas as pd

from .fit import layout, records, terminal_width
from .render import to_terminal
from ..units import human

HEADERS = {"module": "module", "type": "type", "out_shape": "output", "params": "params",
           "macs": "MACs", "flops": "FLOPs"}
OPTIONAL = ["FLOPs", "type", "output"]
NUMBERS = ("params", "MACs", "FLOPs")


def _cells(tree: pd.DataFrame, compact: bool, flops: str = "FLOPs") -> dict[str, list[str]]:
    def num(v):
        return human(int(v), "").replace(" ", "") if compact else f"{int(v):,}"
    return {
        "module": [("  " * d) + (m or "model") for m, d in zip(tree["module"], tree["depth"])],
        "type": list(tree["type"]),
        "output": ["x".join(map(str, s)) if isinstance(s, tuple) else ""
                   for s in tree["out_shape"]],
        "params": [num(v) for v in tree["params"]],
        "MACs": [num(v) for v in tree["macs"]],
        flops: [num(v) for v in tree["flops"]],
    }


def tree_text(tree: pd.DataFrame, title: str = "", notes=(), width: int | None = None,
              flops: str = "FLOPs") -> str:
    """Fixed-width text of a :func:`~inception_cost.counting.module_tree.module_tree`
    frame: params in elements, MACs, FLOPs (``flops``: their header, 'fvcore-FLOPs' in
    fvcore's convention); ``width``: default COLUMNS, the terminal's width, or 100."""
    width = width or terminal_width(to_terminal())
    headers = [flops if h == "FLOPs" else h for h in HEADERS.values()]
    optional = [flops if h == "FLOPs" else h for h in OPTIONAL]
    lay = cells = None
    for compact in (False, True):
        cells = _cells(tree, compact, flops)
        lay = layout(headers, cells, set(headers), width, optional)
        if lay is not None:
            break
    wrap = dict(break_long_words=False, break_on_hyphens=False)
    notes = list(notes)
    if lay is None:
        rows = [[cells[h][i] for h in headers] for i in range(len(tree))]
        body = records(title, headers, rows, width)
    else:
        right = {flops if h == "FLOPs" else h for h in NUMBERS}
        lines = textwrap.wrap(title, width, **wrap) if title else []

        def line(vals):
            return "| " + " | ".join(v.rjust(w) if h in right else v.ljust(w)
                                     for h, v, w in zip(lay.columns, vals, lay.widths)) + " |"
        rule = "+" + "+".join("-" * (w + 2) for w in lay.widths) + "+"
        lines += [rule, line(lay.columns), rule]
        lines += [line([cells[h][i] for h in lay.columns]) for i in range(len(tree))]
        lines.append(rule)
        body = "\n".join(lines)
        if lay.dropped:
            notes.insert(0, f"not shown at {width} columns: {', '.join(lay.dropped)} "
                            "(--format md/csv/json carry every column; a larger COLUMNS "
                            "shows more)")
    notes = [ln for n in notes for ln in textwrap.wrap(n, width, **wrap)]
    return body.rstrip("\n") + "\n" + "".join(n + "\n" for n in notes)
