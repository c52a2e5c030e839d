"""Predicted time ratio beside MAC ratio for a pair of models (naive vs reduced module,
GoogLeNet vs Inception-v3): how much of a MAC saving survives as time on a device."""
from __future__ import annotations

import pandas as pd
import torch.nn as nn

from .devices import Device
from .model import MODE_DTYPE, predict_events
from .record import record_forward


def time_vs_mac_ratio(base: tuple[str, nn.Module, tuple], other: tuple[str, nn.Module, tuple],
                      devices: list[Device], mode: str = "fp32", batch: int = 1) -> pd.DataFrame:
    """One row per device: both predicted latencies (ms), their ratio other/base, the MAC
    ratio other/base (exact MACs of the same recorded streams) and time ratio / MAC ratio
    (1.0: time shrinks as MACs do; above 1: the MAC saving buys less time).
    ``base``/``other``: (label, module, C x H x W)."""
    for d in devices:
        d.peak(mode)
    streams = []
    for label, module, chw in (base, other):
        streams.append((label, record_forward(module, (batch, *chw), dtype=MODE_DTYPE[mode])))
    macs = [sum(e.macs for e in ev) for _, ev in streams]
    mac_ratio = macs[1] / macs[0] if macs[0] else float("nan")
    rows = []
    for d in devices:
        t = [predict_events(ev, d, mode, batch=batch).totals["latency_ms"] for _, ev in streams]
        ratio = t[1] / t[0]
        rows.append({"device": d.name, "batch": batch, f"{streams[0][0]} ms": round(t[0], 4),
                     f"{streams[1][0]} ms": round(t[1], 4), "time ratio": round(ratio, 3),
                     "MAC ratio": round(mac_ratio, 3), "time/MAC ratio": round(ratio / mac_ratio, 2)})
    return pd.DataFrame(rows)


def predicted_beside_measured(runs: pd.DataFrame, layers: pd.DataFrame | None, device: Device,
                              mode_of=lambda dtype: dtype) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Whole-model and per-layer predicted ms beside ``profile``'s measured medians.

    ``runs``: profile rows (variant, dtype, batch, input "CxHxW", status, median_ms);
    ``layers``: profile's per-layer rows (module self times) or None.  Error % =
    (predicted - measured) / measured.  Per layer: the modules both sides name, with the
    Spearman rank correlation of the two times per run in the ``spearman`` column."""
    from ..models.resolve import resolve_model
    whole, per_layer = [], []
    for r in runs.itertuples(index=False):
        if r.status != "ok":
            continue
        model, _, _ = resolve_model(r.variant)
        chw = tuple(int(v) for v in str(r.input).split("x"))
        mode = mode_of(r.dtype)
        ev = record_forward(model, (int(r.batch), *chw), dtype=MODE_DTYPE[mode])
        p = predict_events(ev, device, mode, batch=int(r.batch), model_name=r.variant)
        pred = p.totals["latency_ms"]
        whole.append({"variant": r.variant, "dtype": r.dtype, "batch": int(r.batch),
                      "measured ms": round(float(r.median_ms), 3), "predicted ms": round(pred, 3),
                      "error %": round(100 * (pred - float(r.median_ms)) / float(r.median_ms), 1)})
        if layers is not None:
            m = layers[(layers["variant"] == r.variant) & (layers["batch"] == r.batch)
                       & (layers["dtype"] == r.dtype) & (layers["module"] != "")]
            j = m[["module", "time_ms"]].merge(p.layers[["module", "time_ms"]], on="module",
                                               suffixes=("_measured", "_predicted"))
            rho = float(j["time_ms_predicted"].rank().corr(j["time_ms_measured"].rank())) if len(j) > 2 \
                else float("nan")
            for row in j.itertuples(index=False):
                per_layer.append({"variant": r.variant, "batch": int(r.batch), "module": row.module,
                                  "measured ms": row.time_ms_measured, "predicted ms": row.time_ms_predicted,
                                  "error %": 100 * (row.time_ms_predicted - row.time_ms_measured)
                                  / row.time_ms_measured if row.time_ms_measured else float("nan"),
                                  "spearman": round(rho, 3)})
    return pd.DataFrame(whole), (pd.DataFrame(per_layer) if layers is not None else None)
