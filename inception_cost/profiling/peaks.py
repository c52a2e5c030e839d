"""Dense (no sparsity) peak compute and memory bandwidth of the GPU being profiled,
read from the device catalog (:mod:`inception_cost.timing_model.devices`, the file
``devices.json`` with each value's datasheet source): one table serves ``predict`` and
``profile``.

Units here: TFLOP/s (10^12 floating-point operations per second) per dtype mode and
TB/s (10^12 bytes per second; the catalog stores GB/s). "fp32" is the plain FP32 pipe
(TF32 off); "tf32" is TensorFloat-32 on tensor cores; "fp16"/"bf16" are tensor-core
peaks with FP32 accumulation.

A device is found by its ``torch.cuda.get_device_name()`` with a leading "NVIDIA"
dropped ("NVIDIA H100 80GB HBM3" -> "H100 80GB HBM3"), matched exactly against the
catalog's names and aliases with case, spaces and dashes ignored. Nothing matches a
CPU or an unlisted GPU ("H100 NVL", "A100 80GB PCIe"): its peaks are *unknown* (NaN)
unless given with ``--peak-tflops`` / ``--peak-bandwidth``, as is a mode the device
lacks (T4 bf16); no number is ever guessed.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..errors import UsageError

DTYPE_MODES = ("fp32", "tf32", "fp16", "bf16")


@dataclass(frozen=True)
class DevicePeak:
    name: str                      # the catalog's device name, e.g. "H100 SXM"
    tflops: dict = field(default_factory=dict)  # dtype mode -> TFLOP/s
    bandwidth_tbs: float = math.nan  # TB/s

    def peak_tflops(self, dtype: str) -> float:
        return float(self.tflops.get(dtype, math.nan))


UNKNOWN = DevicePeak("unknown", {}, math.nan)

_VENDOR = re.compile(r"^\s*nvidia\s+", re.IGNORECASE)


def lookup(device_name: str) -> DevicePeak:
    """The catalog's peaks for a device name (``torch.cuda.get_device_name()``), or UNKNOWN."""
    from ..timing_model.devices import _index, normalise
    text = _VENDOR.sub("", device_name or "")
    dev = _index().get(normalise(text)) if text.strip() else None
    if dev is None or dev.kind != "gpu" or dev.measured:
        return UNKNOWN
    return DevicePeak(dev.name, dict(dev.peaks_tflops), dev.bandwidth_gbs / 1000.0)


def _positive(value, what: str) -> float | None:
    if value is None:
        return None
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise UsageError(f"{what} must be a positive number (got {value})")
    return v


def resolve_peaks(device_name: str, dtype: str, peak_tflops=None,
                  peak_bandwidth=None) -> tuple[float, float, str]:
    """(peak TFLOP/s, peak TB/s, source) for one device and dtype mode.

    An override replaces the catalog value; a missing value is NaN ("unknown")."""
    if dtype not in DTYPE_MODES:
        raise UsageError(f"unknown dtype '{dtype}' (choose from {', '.join(DTYPE_MODES)})")
    override_t = _positive(peak_tflops, "--peak-tflops")
    override_b = _positive(peak_bandwidth, "--peak-bandwidth")
    entry = lookup(device_name)
    tflops = override_t if override_t is not None else entry.peak_tflops(dtype)
    tbs = override_b if override_b is not None else entry.bandwidth_tbs
    if override_t is not None or override_b is not None:
        source = "override" if entry is UNKNOWN else f"{entry.name} + override"
    else:
        source = entry.name
    return tflops, tbs, source
