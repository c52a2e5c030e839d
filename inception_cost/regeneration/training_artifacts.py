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
from .training_gate import variant_training_report
from .training_step_cost import MODELS, step_cost_markdown


def training_artifacts(names: list[str]) -> list[tuple[str, str]]:
    """(relative path, text) for the variants ``names``."""
    out, rows, reports = [], [], {}
    for name in names:
        rep = reports[name] = variant_training_report(name)
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
        out.append((f"{TRAINING_DIR}/step_cost.md", step_cost_markdown(reports)))
    return out
