"""Everything ``inception-cost report`` writes under ``reports/training/``: one per-layer
CSV per variant, a summary (csv + md) and, on a full regeneration, the README's
step-cost tables (``step_cost.md``)."""
from __future__ import annotations

import os

import pandas as pd

from ..report.render import to_csv, to_markdown
from ..report.training_reports import (REPORT_BATCH, REPORT_OPTIMIZER, TRAINING_DIR, training_csv,
                                       training_path)
from ..report.training_table import summary_row
from ..models.registry import get_variant
from .run_counts import RunCounts
from .training_step_cost import MODELS, extra_optimizers, step_cost_markdown


def training_artifacts(names: list[str], counts: RunCounts | None = None
                       ) -> list[tuple[str, str]]:
    """(relative path, text) for the variants ``names``; ``counts``: the run's counts (each
    step counted once, shared by the CSVs, the summary and ``step_cost.md``)."""
    counts = counts if counts is not None else RunCounts()
    out, rows = [], []
    for name in names:
        heads = get_variant(name).training_heads
        rep = counts.training(name, REPORT_OPTIMIZER, also=extra_optimizers(name, **heads),
                              **heads)
        out.append((os.path.relpath(training_path("", name)), training_csv(rep)))
        rows.append(summary_row(name, rep))
    summary = pd.DataFrame(rows)
    out.append((f"{TRAINING_DIR}/summary.csv", to_csv(summary)))
    out.append((f"{TRAINING_DIR}/summary.md", to_markdown(
        summary, f"One training step per variant: batch {REPORT_BATCH}, {REPORT_OPTIMIZER}, "
                 f"auxiliary heads on",
        ["fwd/bwd/step_macs: multiply-accumulates; *_flops: FLOPs; bwd = input-gradient + "
         "weight-gradient work; opt_flops: the optimizer step; aux_step_macs: forward + backward "
         "MACs of the training-only heads; bwd/fwd: backward MACs / forward MACs",
         "regenerate with `inception-cost report`"])))
    if {name for name, _, _ in MODELS} <= set(names):
        out.append((f"{TRAINING_DIR}/step_cost.md", step_cost_markdown(counts)))
    return out
