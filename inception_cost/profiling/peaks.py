"""Dense (no sparsity) peak compute and memory bandwidth of common GPUs.

Units: TFLOP/s (10^12 floating-point operations per second) per dtype mode and
TB/s (10^12 bytes per second). "fp32" is the plain FP32 pipe (TF32 off);
"tf32" is TensorFloat-32 on tensor cores; "fp16"/"bf16" are tensor-core peaks
with FP32 accumulation. Values are the vendors' datasheet numbers.

A device is found by matching ``torch.cuda.get_device_name()`` against each
entry's pattern, first match wins (so "H100 PCIe" is tried before plain
"H100"). Nothing matches a CPU or an unlisted GPU: its peaks are *unknown*
(NaN) unless given with ``--peak-tflops`` / ``--peak-bandwidth``; no number is
ever guessed.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..errors import UsageError

DTYPE_MODES = ("fp32", "tf32", "fp16", "bf16")


@dataclass(frozen=True)
class DevicePeak:
    name: str                      # the table's label, e.g. "H100 SXM"
    pattern: str                   # regex searched (case-insensitive) in the device name
    tflops: dict = field(default_factory=dict)  # dtype mode -> TFLOP/s
    bandwidth_tbs: float = math.nan  # TB/s

    def peak_tflops(self, dtype: str) -> float:
        return float(self.tflops.get(dtype, math.nan))


def _gpu(name: str, pattern: str, half: float, tf32: float, fp32: float, tbs: float) -> DevicePeak:
    return DevicePeak(name, pattern, {"fp16": half, "bf16": half, "tf32": tf32, "fp32": fp32}, tbs)


# Order matters: the first entry whose pattern matches wins.
PEAKS: tuple[DevicePeak, ...] = (
    _gpu("H100 PCIe", r"h100.*pcie", 756.0, 378.0, 51.2, 2.0),
    _gpu("H100 SXM", r"h100(?!.*nvl)", 989.0, 494.7, 66.9, 3.35),
    _gpu("H200", r"h200(?!.*nvl)", 989.0, 494.7, 66.9, 4.8),
    _gpu("A100 SXM 80GB", r"a100.*sxm.*80\s*gb", 312.0, 156.0, 19.5, 2.039),
    _gpu("A100 40GB", r"a100.*40\s*gb", 312.0, 156.0, 19.5, 1.555),
    _gpu("L4", r"\bl4\b", 121.0, 60.0, 30.3, 0.3),
)

UNKNOWN = DevicePeak("unknown", r"$^", {}, math.nan)


def lookup(device_name: str) -> DevicePeak:
    """The table entry for a device name (``torch.cuda.get_device_name()``), or UNKNOWN."""
    text = (device_name or "").lower()
    for entry in PEAKS:
        if re.search(entry.pattern, text):
            return entry
    return UNKNOWN


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

    An override replaces the table value; a missing value is NaN ("unknown")."""
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
