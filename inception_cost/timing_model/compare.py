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
