"""Tables and notes for a counted training step (reads a TrainingReport, never counts).

Units: params (elements), *_macs (MACs), *_flops (FLOPs), *_bytes (bytes moved);
``bwd/fwd`` is the ratio of backward to forward MACs of a layer (the "2x rule" says 2.00);
``flop/B`` (``step_flop_per_byte`` in csv/json) the step's FLOPs per byte moved."""
from __future__ import annotations

import math

import pandas as pd

from ..counting.training import COUNTS, LOSS_MODULE, TRAINING_COLUMNS, TrainingReport
from ..units import human

SHOWN = ["module", "params", "trainable", "fwd_macs", "bwd_input_macs", "bwd_weight_macs",
         "bwd/fwd", "opt_flops", "step_flops", "step_bytes", "flop/B", "aux"]
# left out of the terminal view, in this order, as far as the width requires
OPTIONAL = ["aux", "trainable", "flop/B", "step_bytes", "bwd/fwd", "opt_flops", "params"]
# left out before quantities turn compact (bytes moved gives way to units in the cells)
FIRST = ["flop/B", "step_bytes"]
UNITS = {"params": "params", "trainable": "params", "fwd_macs": "MACs", "bwd_input_macs": "MACs",
         "bwd_weight_macs": "MACs", "bwd_macs": "MACs", "step_macs": "MACs", "fwd_flops": "FLOPs",
         "bwd_input_flops": "FLOPs", "bwd_weight_flops": "FLOPs", "bwd_flops": "FLOPs",
         "opt_flops": "FLOPs", "step_flops": "FLOPs", "fwd_bytes": "B", "bwd_input_bytes": "B",
         "bwd_weight_bytes": "B", "bwd_bytes": "B", "opt_bytes": "B", "step_bytes": "B"}


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.2f}" if den else ""


def with_ratio(df: pd.DataFrame) -> pd.DataFrame:
    """Adds ``bwd/fwd``: backward MACs / forward MACs per row ('' without forward MACs)."""
    out = df.copy()
    out["bwd/fwd"] = [_ratio(int(b), int(f)) for b, f in zip(out["bwd_macs"], out["fwd_macs"])]
    return out


def training_table(report: TrainingReport, depth: int | None, fmt: str) -> pd.DataFrame:
    """Per-layer (or per-module at ``depth``) table with a TOTAL row for rich/md."""
    df = with_ratio(report.by_module(depth))
    if fmt in ("csv", "json"):
        out = df[[*TRAINING_COLUMNS, "bwd/fwd"]].copy()
        out["step_flop_per_byte"] = pd.Series(
            [int(f) / int(b) if int(b) else None for f, b in zip(df["step_flops"], df["step_bytes"])],
            index=out.index, dtype=object)
        return out
    df["flop/B"] = [_ratio(int(f), int(b)) for f, b in zip(df["step_flops"], df["step_bytes"])]
    df = df[SHOWN].copy()
    df["aux"] = df["aux"].map(lambda a: "aux" if a else "")
    t = report.totals()
    total = {c: "" for c in df.columns}
    total.update({k: v for k, v in t.items() if k in df.columns})
    total.update({"module": "TOTAL", "bwd/fwd": _ratio(t["bwd_macs"], t["fwd_macs"]),
                  "flop/B": _ratio(t["step_flops"], t["step_bytes"])})
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)


def training_notes(report: TrainingReport) -> list[str]:
    """One line each: totals, the training-only heads, frozen parameters, conventions."""
    t = report.totals()
    opt = report.optimizer
    step = t["step_macs"]
    notes = [f"step: forward {human(t['fwd_macs'], 'MACs')}, backward {human(t['bwd_macs'], 'MACs')} "
             f"(input gradient {human(t['bwd_input_macs'], 'MACs')}, weight gradient "
             f"{human(t['bwd_weight_macs'], 'MACs')}; backward/forward {_ratio(t['bwd_macs'], t['fwd_macs'])}), "
             f"optimizer {human(t['opt_flops'], 'FLOPs')}; {human(t['step_flops'], 'FLOPs')} in all"]
    notes.append(f"bytes moved: forward {human(t['fwd_bytes'], 'B')}, backward input gradient "
                 f"{human(t['bwd_input_bytes'], 'B')}, weight gradient "
                 f"{human(t['bwd_weight_bytes'], 'B')}, optimizer {human(t['opt_bytes'], 'B')}; "
                 f"{human(t['step_bytes'], 'B')} in all, "
                 f"{_ratio(t['step_flops'], t['step_bytes']) or '-'} FLOPs per byte")
    if report.aux_modules:
        a = report.aux_totals()
        pct = 100.0 * a["step_macs"] / step if step else math.nan
        notes.append(f"training-only heads ({', '.join(report.aux_modules)}): "
                     f"{a['step_macs']:,} MACs, {pct:.2f}% of the step")
    if report.frozen:
        shown = ", ".join(report.frozen[:6]) + (f" (+{len(report.frozen) - 6} more)" if len(report.frozen) > 6 else "")
        notes.append(f"frozen (no weight gradient, no optimizer step): {shown}")
    notes.append("optimizer: " + (f"{opt.name} ({opt.per_element} FLOPs per parameter element"
                                  f"{', +%d per tensor' % opt.per_tensor if opt.per_tensor else ''})"
                                  if opt else "none"))
    notes.append(f"MACs = multiply-accumulates (bias excluded); backward formulas in "
                 f"inception_cost.counting.backward_formulas; '{LOSS_MODULE}' is the loss")
    if report.uncounted_ops:
        notes.append("ops with no formula (counted 0): " + ", ".join(report.uncounted_ops))
    return notes


def summary_row(name: str, report: TrainingReport) -> dict:
    """One row of a training summary: the step's totals (exact integers)."""
    t = report.totals()
    a = report.aux_totals()
    return {"variant": name, **{c: t[c] for c in COUNTS}, "aux_step_macs": a["step_macs"],
            "bwd/fwd": _ratio(t["bwd_macs"], t["fwd_macs"])}
