"""Measure this machine's achieved ceilings for the timing model.

Each measurement runs a warm-up, then keeps the best of N timed repeats (the
fastest run is the least disturbed by other work on a shared machine):

* a large GEMM per dtype (``torch.mm``, n x n): achieved TFLOP/s (2 n^3 FLOPs);
* a 3x3 convolution (64 -> 64 channels, 56 x 56): achieved TFLOP/s
  (2 x MACs, the count the timing model uses);
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
    say("convolution 3x3")
    side, ch, batch = (56, 64, 32 if gpu else 2) if not quick else (28, 32, 1)
    x = torch.randn(batch, ch, side, side, device=device)
    w = torch.randn(ch, ch, 3, 3, device=device)
    conv = lambda: torch.nn.functional.conv2d(x, w, padding=1)  # noqa: E731
    t = best_time(conv, device, repeats)
    conv_flops = 2 * batch * ch * side * side * ch * 9
    conv_rate = conv_flops / t / 1e12
    out.append(Measurement(f"conv3x3 {batch}x{ch}x{side}x{side}", conv_rate, "TFLOP/s", t, repeats))
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
        conv_tflops={"fp32": conv_rate}, measured=True)
    return profile, out


def profile_json(profile: Device, measurements: list[Measurement]) -> dict:
    """The file ``calibrate -o`` writes (``--on FILE`` reads it back)."""
    return {"format": PROFILE_FORMAT, "version": 1, "device": profile.to_dict(),
            "measurements": [m.__dict__ for m in measurements]}
