"""The planner's answer: plain integers (bytes, MACs, FLOPs) and two DataFrames."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class CheckpointPlanResult:
    """A checkpointing plan for one training step and what it costs.  Units: bytes, MACs,
    FLOPs, seconds.

    ``modules``: the modules to wrap (non-reentrant ``torch.utils.checkpoint``);
    ``peak_bytes``: the predicted peak of the step with the plan applied (a memory analysis
    of the wrapped model), at ``peak_op``/``peak_module``/``peak_phase``;
    ``baseline_peak_bytes`` (and ``baseline_peak_*``): the same without checkpointing;
    ``recompute_macs``/``recompute_flops``: forward work run again inside backward
    (counted); ``step_macs``/``step_flops``: the unplanned step's forward + backward
    (+ optimizer FLOPs where a formula exists).
    ``method``: "exact" (proven least recompute among all subsets of the candidates: by
    branch and bound under the peak model, the plan's analysed peak equal to the model's;
    or, without the model, every cheaper plan analysed), "greedy" (the documented
    heuristic; see ``method_note``) or "none needed" (the step fits without checkpointing).
    ``proven_optimal``: True for "exact" and "none needed"; ``objective``: what is
    minimised; ``model_peak_bytes``: the peak model's figure for the plan (None where the
    plan was found by analyses alone), beside the analysed ``peak_bytes``.
    ``candidates``: one row per candidate module (saved_bytes without checkpointing,
    recompute_macs/flops, chosen, bytes_saved: its saved activations that the plan frees).
    ``curve``: the trade-off from no checkpointing to every candidate (greedy order; a
    row's peak is an exact analysis of the wrapped model where ``analysed`` is True, the
    peak model's figure otherwise).  ``analyses``: recorded steps and memory analyses run;
    ``seconds``: wall time of the planner."""
    model: str
    batch: int
    input_size: tuple[int, int, int]
    optimizer: str
    dtype: str
    budget_bytes: int
    peak_bytes: int
    peak_op: str
    peak_module: str
    peak_phase: str
    baseline_peak_bytes: int
    baseline_peak_op: str
    baseline_peak_module: str
    baseline_peak_phase: str
    static_bytes: int
    recompute_macs: int
    recompute_flops: int
    step_macs: int
    step_flops: int
    modules: tuple[str, ...]
    method: str
    method_note: str
    analyses: int
    seconds: float
    candidates: pd.DataFrame = field(repr=False)
    curve: pd.DataFrame = field(repr=False)
    units: str = "bytes, MACs, FLOPs"
    proven_optimal: bool = False
    objective: str = "recompute FLOPs, then recompute MACs"
    model_peak_bytes: int | None = None

    def __str__(self) -> str:
        """A short readable summary (exact bytes, MACs and FLOPs, and their human form)."""
        from ..report.summary_text import plan_text
        return plan_text(self)

    def _repr_html_(self) -> str:
        from ..report.summary_text import as_html
        return as_html(str(self))

    @property
    def recompute_pct_macs(self) -> float:
        """Recompute MACs as % of the unplanned step's MACs (forward + backward)."""
        return 100.0 * self.recompute_macs / self.step_macs if self.step_macs else 0.0

    @property
    def recompute_pct_flops(self) -> float:
        """Recompute FLOPs as % of the unplanned step's FLOPs."""
        return 100.0 * self.recompute_flops / self.step_flops if self.step_flops else 0.0

    def summary(self) -> pd.DataFrame:
        """(what, value, note) rows: budget, peaks before/after and when, recompute."""
        rows = [
            ("budget", self.budget_bytes, ""),
            ("peak without checkpointing", self.baseline_peak_bytes,
             f"{self.baseline_peak_phase}, {self.baseline_peak_module}"),
            ("peak with the plan", self.peak_bytes,
             f"{self.peak_phase}, {self.peak_module}"),
            ("params + grads + optimizer state", self.static_bytes, ""),
            ("modules checkpointed", len(self.modules), f"of {len(self.candidates)} candidates"),
            ("recompute", self.recompute_macs, f"MACs, {self.recompute_pct_macs:.2f}% of the step"),
            ("recompute", self.recompute_flops, f"FLOPs, {self.recompute_pct_flops:.2f}% of the step"),
        ]
        return pd.DataFrame(rows, columns=["what", "value", "note"])

    def to_dict(self) -> dict:
        """JSON-ready: every scalar, the plan, the candidates and the curve."""
        keys = ("model", "batch", "optimizer", "dtype", "budget_bytes", "peak_bytes",
                "peak_op", "peak_module", "peak_phase", "baseline_peak_bytes",
                "baseline_peak_op", "baseline_peak_module", "baseline_peak_phase",
                "static_bytes", "recompute_macs", "recompute_flops", "step_macs",
                "step_flops", "method", "method_note", "proven_optimal", "objective",
                "model_peak_bytes", "analyses", "units")
        out = {k: getattr(self, k) for k in keys}
        out["input_size"] = list(self.input_size)
        out["modules"] = list(self.modules)
        out["recompute_pct_macs"] = round(self.recompute_pct_macs, 4)
        out["recompute_pct_flops"] = round(self.recompute_pct_flops, 4)
        out["candidates"] = _records(self.candidates)
        out["curve"] = _records(self.curve)
        return out


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
            for r in df.to_dict(orient="records")]
