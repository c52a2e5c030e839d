"""Measure this machine's achieved ceilings for the timing model.

Each measurement runs a warm-up, then keeps the best of N timed repeats (the
fastest run is the least disturbed by other work on a shared machine):

* a large GEMM per dtype (``torch.mm``, n x n): achieved TFLOP/s (2 n^3 FLOPs);
* a 3x3 and a 1x1 convolution and a 3x3 stride-1 max pool: achieved TFLOP/s of each op
  class, FLOPs counted as the timing model counts them;
* a streaming kernel (``torch.add`` over a buffer far larger than the caches): achieved
  GB/s, bytes counted as the model counts them (two reads and one write);
* a tiny op (``x + 1`` on a 1-element tensor): seconds per op, the per-op overhead.

The result is a device profile (a :class:`~inception_cost.timing_model.devices.Device`
whose peaks are achieved rates and whose efficiencies are 1) that ``--on FILE`` accepts.
"""
from __future__ import annotations

import datetime
import os
import time
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import UsageError
from .devices import PROFILE_FORMAT, Device


@dataclass
class Measurement:
    """One ceiling: what ran, its rate, in which unit, and the best time (s)."""

    name: str
    value: float
    unit: str
    best_s: float
    repeats: int


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def best_time(fn: Callable[[], object], device: str, repeats: int, warmup: int = 2,
              inner: int = 1) -> float:
    """Best (smallest) wall time of one call of ``fn`` over ``repeats`` timed runs of
    ``inner`` calls each, after ``warmup`` calls.  Seconds."""
    for _ in range(warmup):
        fn()
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        _sync(device)
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def _counted_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` as the timing model counts them (the native registry,
    through the same event capture), so measured rates and predicted FLOPs agree."""
    from ..counting.events import EventCapture, EventLog
    with torch.no_grad(), EventCapture() as cap:
        log = cap.subscribe(EventLog())
        fn()
    return sum(e.flops for e in log.events)


def _op_kernels(device: str, gpu: bool, quick: bool) -> list[tuple[str, str, Callable]]:
    """(rate key, label, call) of the op classes whose kernels run far from the GEMM rate:
    a k x k and a 1x1 convolution, and a 3x3 stride-1 max pool (fp32)."""
    F = torch.nn.functional
    n = 32 if gpu else 2
    side = 28 if quick else 56
    x = torch.randn(n, 64, side, side, device=device)
    w3 = torch.randn(64, 64, 3, 3, device=device)
    x1 = torch.randn(n, 256, side // 2, side // 2, device=device)
    w1 = torch.randn(64, 256, 1, 1, device=device)
    y = torch.randn(n, 64, side // 2, side // 2, device=device)
    return [
        ("convolution", f"conv 3x3 {n}x64x{side}x{side} -> 64", lambda: F.conv2d(x, w3, padding=1)),
        ("convolution_1x1", f"conv 1x1 {n}x256x{side // 2}x{side // 2} -> 64", lambda: F.conv2d(x1, w1)),
        ("max_pool2d_with_indices", f"max pool 3x3/1 {n}x64x{side // 2}x{side // 2}",
         lambda: F.max_pool2d(y, 3, 1, 1, ceil_mode=True)),
    ]


def _dtypes(device: str) -> dict[str, torch.dtype]:
    if device == "cuda":
        return {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16,
                "bf16": torch.bfloat16}
    return {"fp32": torch.float32, "bf16": torch.bfloat16}


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "CPU"


def _memory_gb(device: str) -> float | None:
    if device == "cuda":
        return torch.cuda.get_device_properties(0).total_memory / 1e9
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return None


def check_device(device: str) -> None:
    if device not in ("cpu", "cuda"):
        raise UsageError(f"--device must be cpu or cuda (got '{device}')")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA GPU is visible to PyTorch on this machine")


def calibrate(device: str = "cpu", quick: bool = False,
              progress: Callable[[str], None] | None = None) -> tuple[Device, list[Measurement]]:
    """Measure ``device`` ("cpu" or "cuda"); returns (profile, measurements)."""
    check_device(device)
    say = progress or (lambda _msg: None)
    gpu = device == "cuda"
    n = (4096 if gpu else 1024) if not quick else (1024 if gpu else 256)
    repeats = 3 if quick else (10 if gpu else 5)
    out: list[Measurement] = []
    peaks: dict[str, float] = {}
    old_tf32 = torch.backends.cuda.matmul.allow_tf32 if gpu else None
    try:
        for mode, dt in _dtypes(device).items():
            say(f"GEMM {mode} {n}x{n}")
            if gpu:
                torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
            a = torch.randn(n, n, device=device).to(dt)
            b = torch.randn(n, n, device=device).to(dt)
            t = best_time(lambda: torch.mm(a, b), device, repeats)
            peaks[mode] = 2 * n ** 3 / t / 1e12
            out.append(Measurement(f"gemm {mode} {n}x{n}x{n}", peaks[mode], "TFLOP/s", t, repeats))
    finally:
        if gpu:
            torch.backends.cuda.matmul.allow_tf32 = old_tf32
    rates: dict[str, float] = {}
    for key, label, fn in _op_kernels(device, gpu, quick):
        say(label)
        flops = _counted_flops(fn)
        t = best_time(fn, device, repeats)
        rates[key] = flops / t / 1e12
        out.append(Measurement(label, rates[key], "TFLOP/s", t, repeats))
    say("streaming add")
    elems = (64 if gpu else 16) * 2 ** 20 if not quick else 2 ** 22
    p, q = torch.ones(elems, device=device), torch.ones(elems, device=device)
    r = torch.empty(elems, device=device)
    t = best_time(lambda: torch.add(p, q, out=r), device, repeats)
    bw = 3 * 4 * elems / t / 1e9
    out.append(Measurement(f"stream add {elems} fp32", bw, "GB/s", t, repeats))
    say("tiny op")
    tiny = torch.ones(1, device=device)
    t = best_time(lambda: tiny + 1, device, repeats, inner=200 if not quick else 50)
    out.append(Measurement("tiny op x + 1", t * 1e6, "us", t, repeats))
    name = torch.cuda.get_device_name(0) if gpu else _cpu_name()
    threads = torch.get_num_threads()
    profile = Device(
        name=f"{name} (measured)", kind="gpu" if gpu else "cpu", peaks_tflops=peaks,
        bandwidth_gbs=bw, memory_gb=_memory_gb(device),
        source=(f"inception-cost calibrate, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC,"
                f" torch {torch.__version__}, {threads} threads, best of {repeats}"),
        compute_efficiency=1.0, memory_efficiency=1.0, overhead_us=t * 1e6,
        op_tflops=rates, measured=True)
    return profile, out


def profile_json(profile: Device, measurements: list[Measurement]) -> dict:
    """The file ``calibrate -o`` writes (``--on FILE`` reads it back)."""
    return {"format": PROFILE_FORMAT, "version": 1, "device": profile.to_dict(),
            "measurements": [m.__dict__ for m in measurements]}
