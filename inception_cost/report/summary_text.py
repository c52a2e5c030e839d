"""Short readable summaries of result objects (``print(report)``, notebooks).

Plain text lines of ``label  exact integer  (human)``; the HTML form is the same
lines in a ``<pre>`` block. Reads the results only."""
from __future__ import annotations

import html

from ..units import human, human_bytes


def lines_text(title: str, rows: list[tuple[str, str]], footer: str = "") -> str:
    width = max((len(k) for k, _ in rows), default=0)
    out = [title] + [f"  {k:<{width}}  {v}" for k, v in rows]
    return "\n".join(out + ([footer] if footer else []))


def as_html(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>"


def _n(v: int, unit: str) -> str:
    return f"{int(v):>18,}  ({human(v, unit)})"


def _shapes(shapes) -> str:
    return ", ".join("x".join(str(int(s)) for s in shape) for shape in shapes) or "?"


def cost_text(r) -> str:
    """A CostReport: params (elements), MACs, FLOPs, activations (elements), bytes moved."""
    flops = "fvcore-FLOPs" if r.convention == "fvcore" else "FLOPs"
    rows = [("params", _n(r.total_params, "params")), ("MACs", _n(r.total_macs, "MACs")),
            (flops, _n(r.total_flops, "FLOPs")),
            ("activations", _n(r.total_activations, "elements")),
            ("bytes moved", _n(r.total_bytes, "B"))]
    title = (f"CostReport {r.model_name or 'model'} @ {_shapes(r.input_shapes)} "
             f"({r.convention} convention, {r.engine} engine, {r.device})")
    return lines_text(title, rows, f"  {len(r.layers)} op rows: .layers, .by_module(depth=1), "
                                   ".totals()")


def training_text(r) -> str:
    """A TrainingReport: forward, backward (input / weight gradient) MACs, optimizer and
    step FLOPs, bytes moved by the step."""
    t = r.totals()
    rows = [("forward MACs", _n(t["fwd_macs"], "MACs")),
            ("backward MACs", _n(t["bwd_macs"], "MACs")),
            ("  input grad", _n(t["bwd_input_macs"], "MACs")),
            ("  weight grad", _n(t["bwd_weight_macs"], "MACs")),
            ("optimizer FLOPs", _n(t["opt_flops"], "FLOPs")),
            ("step FLOPs", _n(t["step_flops"], "FLOPs")),
            ("step bytes moved", _n(t["step_bytes"], "B"))]
    opt = r.optimizer.name if r.optimizer else "none"
    title = f"TrainingReport {r.model_name or 'model'} @ {_shapes(r.input_shapes)}, optimizer {opt}"
    return lines_text(title, rows, f"  backward/forward {r.backward_forward_ratio:.2f}; "
                                   f"{len(r.layers)} layer rows: .layers, .by_module(depth)")


def memory_text(r) -> str:
    """A MemoryReport: the peak (bytes), when it happens and its categories."""
    rows = [("peak", f"{int(r.peak_bytes):>18,}  ({human_bytes(r.peak_bytes)})")]
    rows += [(f"  {k}", f"{int(v):>18,}  ({human_bytes(v)})") for k, v in r.breakdown.items() if v]
    what = f"training step ({r.optimizer})" if r.training else "inference"
    title = f"MemoryReport {r.model} batch {r.batch} {r.dtype}: {what}, bytes"
    return lines_text(title, rows, f"  peak after op {r.peak_op_index} ({r.peak_op}) in "
                                   f"{r.peak_module}, {r.peak_phase}")
