"""Predicted inference peak beside a measured one (``torch.cuda.max_memory_allocated``)
for each configuration of a profiling sweep.  Bytes; the prediction rounds every allocation
to 512-byte blocks like the CUDA caching allocator and has no cuDNN/cuBLAS workspaces."""
from __future__ import annotations

import math

import torch.nn as nn

from .api import analyse
from .step_config import InputTemplate, StepConfig

# Profiling dtypes -> memory dtypes (tf32 changes the math, not the bytes).
_DTYPES = {"fp32": "fp32", "tf32": "fp32", "fp16": "fp16", "bf16": "bf16"}
PREDICTED_COLUMNS = ("predicted_peak_bytes", "peak_gap_pct")


def _templates(chw) -> tuple[tuple[int, ...], tuple[InputTemplate, ...]]:
    """(first input's per-sample size, templates): ``chw`` is one image's size, or the
    forward arguments (objects with ``shape``, ``dtype`` (None: float), ``keyword``), as
    ``profiling.prepare.ProfileInput``; one positional float argument needs no template."""
    if all(isinstance(c, int) for c in chw):
        return tuple(chw), ()
    if len(chw) == 1 and chw[0].dtype is None and chw[0].keyword is None:
        return tuple(chw[0].shape), ()
    return tuple(chw[0].shape), tuple(InputTemplate(i.keyword, tuple(i.shape), i.dtype)
                                      for i in chw)


def predicted_peak(module: nn.Module, chw, batch: int, dtype: str) -> float:
    """Predicted inference peak (bytes, 512-rounded) of ``module`` at (batch, *chw) (or at
    ``batch`` of the forward arguments ``chw``, see :func:`_templates`); NaN when the dtype
    has no memory counterpart or the analysis fails."""
    mem_dtype = _DTYPES.get(dtype)
    if mem_dtype is None:
        return math.nan
    try:
        size, temps = _templates(chw)
        report = analyse(module, StepConfig(int(batch), size, dtype=mem_dtype, inputs=temps),
                         rounding=True)
    except Exception:  # noqa: BLE001 - a prediction must never break a profile run
        return math.nan
    return report.peak_bytes


def gap_pct(measured, predicted) -> float:
    """100 x (measured - predicted) / predicted; NaN if either is missing."""
    try:
        m, p = float(measured), float(predicted)
    except (TypeError, ValueError):
        return math.nan
    if math.isnan(m) or math.isnan(p) or p == 0:
        return math.nan
    return 100.0 * (m - p) / p


def predicted_columns(module: nn.Module, chw, batch: int, dtype: str, measured) -> dict:
    """The two columns a sweep row gains: predicted peak and the measured gap (%)."""
    pred = predicted_peak(module, chw, batch, dtype)
    return {"predicted_peak_bytes": pred, "peak_gap_pct": gap_pct(measured, pred)}
