"""Tables of predicted time (read-only views of :class:`~inception_cost.timing_model.model.Prediction`)."""
from __future__ import annotations

import math

import pandas as pd

from ..timing_model.model import EAGER_NOTE, layers_at_depth



def short_name(device) -> str:
    """The shortest of a device's name and aliases (for column headers)."""
    return min((device.name, *device.aliases), key=len)


_LETTER = {"compute": "c", "memory": "m", "overhead": "o", "free": ""}
BOUND_LEGEND = "bound: c = compute, m = memory (bytes / bandwidth), o = per-op overhead"


def _ms(v: float) -> str:
    """Milliseconds to the microsecond below 100 ms."""
    return f"{v:.3f}" if v < 100 else f"{v:.1f}"


def layer_table(preds: list, depth: int | None = None, stacked: bool = True) -> pd.DataFrame:
    """Per-layer rows with one (ms, % of time + bound letter) pair per prediction, side by
    side (same model and batch); FLOP/B is the layer's arithmetic intensity (FLOPs per byte
    moved).  ``stacked``: headers on several lines (the device name word by word), so three
    devices fit 100 columns."""
    first = layers_at_depth(preds[0].layers, depth)
    df = pd.DataFrame({"layer": first["module"].map(lambda m: m or "(top)"),
                       "FLOP/B": [None if isinstance(v, float) and math.isnan(v) else round(v, 1)
                                  for v in first["flop_per_byte"]]})
    for p in preds:
        lay = layers_at_depth(p.layers, depth).set_index("module").reindex(first["module"])
        tag = short_name(p.device)
        head = "\n".join(tag.split()) if stacked else tag
        df[f"{head}{chr(10) if stacked else ' '}ms"] = [_ms(v) for v in lay["time_ms"]]
        df[f"{tag} %{chr(10) if stacked else ' '}bound" if not stacked else f"{head}\n%\nbound"] = [
            f"{v:.1f} {_LETTER[b]}" for v, b in zip(lay["pct_time"], lay["bound"])]
    return df


def totals_table(preds: list) -> pd.DataFrame:
    """One row per (batch, device): latency, images/s, achieved TFLOP/s, % of peak, and the
    sums of the three terms over all ops (compute, memory, overhead; ms)."""
    rows = []
    for p in preds:
        t = p.totals
        rows.append({"device": short_name(p.device), "batch": t["batch"],
                     "latency ms": round(t["latency_ms"], 3), "images/s": round(t["images_per_s"], 1),
                     "TFLOP/s": round(t["achieved_tflops"], 2), "% peak": round(t["pct_of_peak"], 1),
                     "compute": round(t["compute_ms"], 3), "memory": round(t["memory_ms"], 3),
                     "overhead": round(t["overhead_ms"], 3)})
    return pd.DataFrame(rows)


def training_note(optimizer: str, freeze: list | None = None) -> str:
    """What a predicted training step ran: the step ``train`` counts, with its optimizer
    and the frozen patterns."""
    step = "no optimizer step" if optimizer == "none" else (
        f"{optimizer} step (steady state: its state exists; the per-parameter loop)")
    text = ("training step = forward (train mode) + loss (cross-entropy, + 0.3 x each "
            f"training-only head) + backward + {step}, as `train` counts it")
    if freeze:
        text += f"; frozen (no gradient, no update): {', '.join(freeze)}"
    return text


def prediction_notes(preds: list, freeze: list | None = None) -> list[str]:
    seen, notes = set(), [EAGER_NOTE]
    step = next((p for p in preds if p.training), None)
    if step is not None:
        notes.append(training_note(step.optimizer, freeze))
    for p in preds:
        if p.device.name not in seen:
            seen.add(p.device.name)
            notes.extend(p.notes[1:])
    reorders = any(p.device.reorder_gbs for p in preds)
    notes.append("time = max(FLOPs / (peak x eff), bytes / (bandwidth x eff)) + per-op overhead"
                 + (" + oneDNN layout reorders (convolutions)" if reorders else "") + "; "
                 + BOUND_LEGEND)
    return notes


def _clean(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    return v


def prediction_json(preds: list, model: str, training: bool, inputs: list[dict] | None = None,
                    freeze: list | None = None, **settings) -> str:
    """A JSON object: ``model``, ``input`` (shapes per sample: ``batch`` lists the batch
    sizes), ``convention``, ``training``, ``settings``, ``totals`` (one object per batch
    and device, with latency_ms and images_per_s), ``phases``, ``layers`` (one row per
    layer, batch and device; also as ``rows``) and notes; for a training step also its
    ``optimizer`` and the ``freeze`` patterns."""
    from .json_object import dumps, with_envelope
    totals, layers, phases = [], [], []
    for p in preds:
        totals.append({k: _clean(v) for k, v in p.totals.items()})
        for r in p.layers.to_dict(orient="records"):
            layers.append({"device": p.device.name, "batch": p.batch, **{k: _clean(v) for k, v in r.items()}})
        for r in p.phases.to_dict(orient="records"):
            phases.append({"device": p.device.name, "batch": p.batch, **{k: _clean(v) for k, v in r.items()}})
    obj = {"model": model, "training": training, **settings, "execution": "eager, no fusion"}
    if training:
        obj.update(optimizer=preds[0].optimizer if preds else "", freeze=list(freeze or []))
    obj.update({"totals": totals, "phases": phases, "layers": layers,
                "notes": prediction_notes(preds, freeze)})
    return dumps(with_envelope(obj, inputs, rows=layers, convention="native"))


def layers_csv_frame(preds: list, depth: int | None) -> pd.DataFrame:
    """Long form: one row per (device, batch, layer)."""
    frames = []
    for p in preds:
        lay = layers_at_depth(p.layers, depth)
        lay.insert(0, "batch", p.batch)
        lay.insert(0, "device", p.device.name)
        frames.append(lay)
    return pd.concat(frames, ignore_index=True)
