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


def prediction_text(p) -> str:
    """A Prediction: predicted latency (ms) and images/s, the FLOPs and bytes it is
    computed from (exact integers), achieved TFLOP/s and % of the device's peak, and the
    sums of the three per-op terms (compute, memory, overhead; ms)."""
    t = p.totals
    ms = lambda v: f"{v:>18,.3f}  ms"       # noqa: E731
    rows = [("latency", ms(t["latency_ms"])),
            ("images/s", f"{t['images_per_s']:>18,.1f}"),
            ("FLOPs", _n(t["flops"], "FLOPs")),
            ("bytes moved", _n(t["bytes"], "B")),
            ("achieved", f"{t['achieved_tflops']:>18,.2f}  TFLOP/s "
                         f"({t['pct_of_peak']:.1f}% of peak)"),
            ("  compute", ms(t["compute_ms"])), ("  memory", ms(t["memory_ms"])),
            ("  overhead", ms(t["overhead_ms"]))]
    what = "training step" if p.training else "forward"
    title = (f"Prediction {p.model_name or 'model'} {what}, batch {p.batch}, {p.mode} "
             f"on {p.device.name} (eager, no fusion)")
    return lines_text(title, rows, f"  compute/memory/overhead: sums over {t['ops']} ops; "
                                   f"{len(p.layers)} layer rows: .layers, .ops, .phases")


def plan_text(r) -> str:
    """A CheckpointPlanResult: the modules to checkpoint, the peak (bytes) with and
    without them against the budget, and the recompute (MACs, FLOPs)."""
    b = lambda v: f"{int(v):>18,}  ({human_bytes(v)})"     # noqa: E731
    rows = [("budget", b(r.budget_bytes)),
            ("peak without plan", b(r.baseline_peak_bytes)),
            ("peak with plan", b(r.peak_bytes)),
            ("recompute MACs", _n(r.recompute_macs, "MACs") + f"  {r.recompute_pct_macs:.2f}%"),
            ("recompute FLOPs", _n(r.recompute_flops, "FLOPs") + f"  {r.recompute_pct_flops:.2f}%")]
    chw = "x".join(str(int(s)) for s in r.input_size)
    title = (f"CheckpointPlan {r.model} batch {r.batch} @ {chw} {r.dtype}, {r.optimizer}: "
             f"{len(r.modules)} of {len(r.candidates)} modules ({r.method})")
    return lines_text(title, rows, "  checkpoint: " + (", ".join(r.modules) or "(none)"))


def fit_text(r) -> str:
    """A FitResult: the largest batch, its peak and the next batch's (bytes)."""
    b = lambda v: f"{int(v):>18,}  ({human_bytes(v)})"     # noqa: E731
    what = "training step" if r.training else "inference"
    rows = [("budget", b(r.budget_bytes)), ("parameters", b(r.static_bytes))]
    if r.batch:
        rows.append((f"peak at batch {r.batch}", b(r.peak_bytes)))
    rows.append((f"peak at batch {r.batch + 1}", b(r.next_peak_bytes)))
    title = f"FitResult {what}: largest batch {r.batch} in {human_bytes(r.budget_bytes)}"
    return lines_text(title, rows, f"  fits: peak <= the budget less its reserve; "
                                   f"{r.probes} batch sizes analysed")
