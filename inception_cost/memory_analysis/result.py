"""The result of a memory analysis: plain integers (bytes) and two DataFrames."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .categories import CATEGORIES


@dataclass(frozen=True)
class MemoryReport:
    """Predicted memory of one inference forward or one training step.  Units: bytes.

    ``peak_bytes`` is the most bytes alive after any op; ``peak_op_index``/``peak_op``/
    ``peak_module``/``peak_phase`` say when; ``breakdown`` splits the peak by category
    (keys: ``CATEGORIES``, summing to ``peak_bytes``); ``detail`` splits transient bytes by
    the phase that allocated them (keys ``transient_forward``/``_backward``/``_optimizer``).
    ``modules``: per-module rows (see ``analysis.module_frame``); ``timeline``: live bytes
    after every op, in total and per category.  ``rounding``: True when each allocation was
    rounded up to 512-byte blocks like the CUDA caching allocator, False for exact bytes.
    ``activation_sum_bytes``: bytes of every storage the forward allocated (each counted
    once, as if nothing were ever freed).  ``device``: the target device whose default
    kernels and optimizer implementation were modelled; ``foreach``: the optimizer ran its
    multi-tensor implementation; ``attention``: calls of scaled_dot_product_attention per
    backend the target device picks ('flash', 'efficient', 'math')."""
    model: str
    batch: int
    input_size: tuple[int, int, int]
    training: bool
    optimizer: str
    dtype: str
    step: str
    rounding: bool
    peak_bytes: int
    peak_op_index: int
    peak_op: str
    peak_module: str
    peak_phase: str
    breakdown: dict[str, int]
    detail: dict[str, int]
    parameter_bytes: int
    buffer_bytes: int
    activation_sum_bytes: int
    ops: int
    modules: pd.DataFrame = field(repr=False)
    timeline: pd.DataFrame = field(repr=False)
    units: str = "bytes"
    device: str = "cuda"
    foreach: bool = True
    attention: dict = field(default_factory=dict)

    def __str__(self) -> str:
        """A short readable summary (exact integers and their human form)."""
        from ..report.summary_text import memory_text
        return memory_text(self)

    def _repr_html_(self) -> str:
        from ..report.summary_text import as_html
        return as_html(str(self))

    def summary(self) -> pd.DataFrame:
        """Two columns (what, bytes): the peak, when it happens, and its breakdown."""
        rows = [{"what": "peak", "bytes": self.peak_bytes,
                 "note": f"after op {self.peak_op_index} of {self.ops} ({self.peak_op}) in "
                         f"{self.peak_module}, {self.peak_phase}"}]
        for cat in CATEGORIES:
            rows.append({"what": f"  {cat}", "bytes": self.breakdown[cat], "note": ""})
        rows.append({"what": "parameters + buffers (static)",
                     "bytes": self.parameter_bytes + self.buffer_bytes, "note": ""})
        rows.append({"what": "sum of forward allocations (no frees)",
                     "bytes": self.activation_sum_bytes, "note": ""})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        """JSON-ready: every scalar field, the breakdown and the module rows."""
        out = {k: getattr(self, k) for k in (
            "model", "batch", "training", "optimizer", "dtype", "step", "rounding",
            "peak_bytes", "peak_op_index", "peak_op", "peak_module", "peak_phase",
            "parameter_bytes", "buffer_bytes", "activation_sum_bytes", "ops", "units",
            "device", "foreach")}
        out["attention"] = dict(self.attention)
        out["input_size"] = list(self.input_size)
        out["breakdown"] = dict(self.breakdown)
        out["detail"] = dict(self.detail)
        out["modules"] = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                          for r in self.modules.to_dict(orient="records")]
        return out
