"""A paper reproduction's result as plain data: sections of rows + findings.

Rendering (rich / csv / json / md) lives in :mod:`inception_cost.report.paper_render`,
the narrower terminal views in :mod:`inception_cost.report.paper_terminal_views`;
data flows one way, papers compute and report renders.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .audit import Finding


TERMINAL_VIEW_WIDTH = 100   # columns of a terminal view written off a terminal


@dataclass
class Section:
    """One table: ``df`` holds exact values; ``notes`` print under it (rich/md)."""

    name: str
    title: str
    df: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    hide_in_text: list[str] = field(default_factory=list)  # columns left out of rich/md
    # the terminal view (rich, unless --wide), as data: the name of a view in
    # inception_cost.report.paper_terminal_views.VIEWS, what it reads, and the columns
    # ((after column, name, values)) and notes added to it
    terminal_view: str | None = None
    terminal_data: object = None
    terminal_columns: list = field(default_factory=list)
    terminal_notes: list[str] = field(default_factory=list)


@dataclass
class PaperReport:
    title: str
    sections: list[Section]
    findings: list[Finding] = field(default_factory=list)

    def section(self, name: str) -> Section:
        for s in self.sections:
            if s.name == name:
                return s
        raise KeyError(name)

    def findings_of(self, kind: str | None = None, row: str | None = None) -> list[Finding]:
        return [f for f in self.findings
                if (kind is None or f.kind == kind) and (row is None or f.row == row)]


def frame(records: list[dict], columns: list[str] | None = None) -> pd.DataFrame:
    """DataFrame of python objects: ints stay ints (no float upcast), missing -> None."""
    cols = list(columns or dict.fromkeys(k for r in records for k in r))
    return pd.DataFrame({c: pd.Series([r.get(c) for r in records], dtype=object) for c in cols})
