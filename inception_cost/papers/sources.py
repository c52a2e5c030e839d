"""Where each printed number comes from: a ``sources`` list kept in every paper's JSON
(reference data), shown as the last section of each paper report so a reader can check
the printed values against the paper, table and section they were copied from."""
from __future__ import annotations

from typing import Iterable

from .paper_result import Section, frame

SOURCE_COLUMNS = ["printed", "where", "paper"]


def sources_section(*refs: dict, keep: Iterable[str] | None = None) -> Section:
    """One table of every ``sources`` entry in ``refs`` (duplicates dropped, order kept);
    with ``keep``, only entries whose 'printed' text contains one of those strings."""
    seen, rows = set(), []
    keep = list(keep) if keep is not None else None
    for ref in refs:
        for src in ref.get("sources", []):
            if keep is not None and not any(k in src["printed"] for k in keep):
                continue
            key = tuple(src.get(c, "") for c in SOURCE_COLUMNS)
            if key not in seen:
                seen.add(key)
                rows.append(dict(zip(SOURCE_COLUMNS, key)))
    if not rows:
        raise ValueError("reference data without a 'sources' list")
    df = frame(rows, SOURCE_COLUMNS)
    # the terminal view is the same table, its cells folded to fit 100 columns
    return Section("sources", "sources: where each printed number comes from", df, [],
                   terminal_view="same")


def cite(ref: dict, printed_contains: str) -> str:
    """'<paper>, <where>' of the first source whose 'printed' mentions the text."""
    for src in ref.get("sources", []):
        if printed_contains in src["printed"]:
            return f"{src['paper']}, {src['where']}"
    raise KeyError(printed_contains)

