"""GoogLeNet's Table 1 rebuild with a training column: forward + backward MACs of one
training step per image, for each row (``inception-cost table --train``).

The step is counted on the same build as the table (auxiliary heads excluded, as in
Table 1; the optimizer, which does no MACs, is left out). Reads a finished
:class:`PaperReport` and returns a copy with the column added."""
from __future__ import annotations

import copy

import pandas as pd

from ..counting.training import count_training
from ..models.registry import build
from .paper_result import PaperReport
from .table1 import ROW_CHILDREN, _stem_options

TRAIN_COLUMN = "train MACs (fwd+bwd)"
RATIO_COLUMN = "bwd/fwd"


def _row_macs(layers: pd.DataFrame, children: tuple[str, ...]) -> tuple[int, int]:
    """(forward MACs, backward MACs) of the layers under ``children``."""
    mask = layers["module"].map(lambda m: any(m == c or m.startswith(c + ".") for c in children))
    rows = layers[mask]
    return int(rows["fwd_macs"].sum()), int(rows["bwd_macs"].sum())


def _step(variant: str, **options) -> pd.DataFrame:
    return count_training(build(variant, **options), (1, 3, 224, 224), optimizer=None).layers


def _cells(fwd: int, bwd: int) -> tuple[int, str]:
    return fwd + bwd, (f"{bwd / fwd:.2f}" if fwd else "")


def with_training_column(rep: PaperReport, variant: str, stem: str | None) -> PaperReport:
    """A copy of Table 1's report with per-row training-step MACs and backward/forward."""
    opts, _stem, alt_stem = _stem_options(variant, stem)
    layers = _step(variant, **opts)
    alt_layers = _step(variant, stem=alt_stem) if alt_stem else None
    train, ratio = [], []
    fwd_total = bwd_total = 0
    for i, children in enumerate(ROW_CHILDREN):
        fwd, bwd = _row_macs(layers, children)
        fwd_total, bwd_total = fwd_total + fwd, bwd_total + bwd
        for cell, col in zip(_cells(fwd, bwd), (train, ratio)):
            col.append(cell)
        if i == 0 and alt_layers is not None:
            for cell, col in zip(_cells(*_row_macs(alt_layers, children)), (train, ratio)):
                col.append(cell)
    for cell, col in zip(_cells(fwd_total, bwd_total), (train, ratio)):
        col.append(cell)                                   # the total row
    out = copy.deepcopy(rep)
    section = out.section("table")
    df = section.df
    if len(df) != len(train):
        raise ValueError(f"Table 1 has {len(df)} rows, the training column {len(train)}")
    at = list(df.columns).index("Δ MACs") + 1 if "Δ MACs" in df.columns else len(df.columns)
    df.insert(at, TRAIN_COLUMN, pd.Series(train, dtype=object))
    df.insert(at + 1, RATIO_COLUMN, pd.Series(ratio, dtype=object))
    note = (
        f"{TRAIN_COLUMN}: forward (training mode) + backward MACs of one training step per "
        f"image, for the row's layers; {RATIO_COLUMN}: backward / forward. conv1 needs no input "
        f"gradient (its input is the image), so its backward is 1x its forward, not 2x.")
    section.notes.append(note)
    if section.terminal_view is not None:
        section.terminal_columns.append(("MACs", "train MACs", train))
        section.terminal_notes.append(note)
    return out
