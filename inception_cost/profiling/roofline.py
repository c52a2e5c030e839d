"""Roofline arithmetic. Units: FLOPs, bytes, seconds, TFLOP/s, TB/s.

Arithmetic intensity I = FLOPs / bytes moved (FLOP/byte). With peak compute P
(TFLOP/s) and bandwidth B (TB/s), the ridge point is P / B (FLOP/byte); a layer
with I > P / B is compute-bound, otherwise memory-bound, and can at best reach
min(P, I x B) TFLOP/s. Unknown peaks (NaN) give NaN and bound "unknown".
"""
from __future__ import annotations

import math

DTYPE_BYTES = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2}


def _nan(*vals) -> bool:
    return any(v is None or (isinstance(v, float) and math.isnan(v)) for v in vals)


def achieved_tflops(flops: float, seconds: float) -> float:
    """FLOPs done in ``seconds`` as TFLOP/s."""
    if _nan(flops, seconds) or seconds <= 0:
        return math.nan
    return float(flops) / float(seconds) / 1e12


def intensity(flops: float, nbytes: float) -> float:
    """FLOP per byte; NaN when nothing is moved."""
    if _nan(flops, nbytes) or nbytes <= 0:
        return math.nan
    return float(flops) / float(nbytes)


def ridge_point(peak_tflops: float, bandwidth_tbs: float) -> float:
    """FLOP/byte where the memory roof meets the compute roof."""
    if _nan(peak_tflops, bandwidth_tbs) or bandwidth_tbs <= 0:
        return math.nan
    return float(peak_tflops) / float(bandwidth_tbs)


def attainable_tflops(intens: float, peak_tflops: float, bandwidth_tbs: float) -> float:
    """min(peak, intensity x bandwidth) in TFLOP/s (FLOP/B x TB/s = TFLOP/s)."""
    if _nan(intens, peak_tflops, bandwidth_tbs):
        return math.nan
    return min(float(peak_tflops), float(intens) * float(bandwidth_tbs))


def bound(intens: float, peak_tflops: float, bandwidth_tbs: float) -> str:
    """"compute" when intensity exceeds the ridge point, else "memory"."""
    ridge = ridge_point(peak_tflops, bandwidth_tbs)
    if _nan(intens, ridge):
        return "unknown"
    return "compute" if intens > ridge else "memory"


def percent(part: float, whole: float) -> float:
    if _nan(part, whole) or whole <= 0:
        return math.nan
    return 100.0 * float(part) / float(whole)


def shape_elements(shape: tuple[int, ...] | None) -> int:
    """Elements of a count row's shape: (1, 64, 56, 56) -> 200704; () or None (or NaN)
    -> 0."""
    if shape is None or (isinstance(shape, float) and shape != shape) or len(shape) == 0:
        return 0
    n = 1
    for s in shape:
        n *= int(s)
    return n


def op_elements(op: str, in_shape: tuple[int, ...] | None, weight_shape: tuple[int, ...] | None,
                out_shape: tuple[int, ...] | None) -> int:
    """Elements an op reads and writes: its (first) input, weights and output.

    ``cat`` reads as many elements as it writes. Second tensor operands of
    element-wise ops are not recorded by the counter and so are not included."""
    out = shape_elements(out_shape)
    inp = out if op == "cat" else shape_elements(in_shape)
    return inp + shape_elements(weight_shape) + out
