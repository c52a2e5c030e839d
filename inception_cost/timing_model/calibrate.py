"""Measure this machine's achieved ceilings for the timing model.

Each measurement runs a warm-up, then keeps the median of N timed repeats (a model's
forward runs at the machine's typical speed, not its best, so the calibration does too);
a repeat loops a short kernel until it lasts about a millisecond.

* a large GEMM per dtype (``torch.mm``, n x n): achieved TFLOP/s (2 n^3 FLOPs);
* per op class whose kernels run far from the GEMM rate (convolutions by kind -- k x k,
  1x1, depthwise, grouped -- and, on a CPU, by kernel: PyTorch's own im2col + GEMM
  kernel that it picks for small batch-1 convolutions, or oneDNN; a convolution
  backward; a batch norm backward; max, average and 3-D average pooling; global average pooling, ``mean`` over
  height and width, whose per-channel reduction of a few pixels runs far below the
  streaming bandwidth): a tiny call gives the class's per-op
  overhead (seconds) and a larger call its rate, FLOPs / (time - overhead), FLOPs
  counted as the timing model counts them; tiny calls go through the ``nn`` layer (its
  Python is part of what a model's forward pays per layer) and cycle through 16 distinct
  layers and inputs, as a forward does, instead of repeating one hot call;
* a tiny linear layer: its per-op overhead; a batch norm (eval): overhead and rate;
* a streaming kernel (``torch.add`` over a buffer far larger than the caches): achieved
  memory GB/s, bytes counted as the model counts them (two reads and one write); on a
  CPU the same add over 3 MB (inside the last-level cache): the cache GB/s, used for ops
  whose bytes fit in the last-level cache (its size read from sysfs);
* a tiny op (``x + 1`` on a 1-element tensor): seconds per op, the overhead of every
  other op;
* the overhead's context factor: the tiny calls of every forward op class and 16 tiny
  adds, timed once grouped by class (as the overheads above are measured: 16 copies of
  one class, then the next) and once interleaved (copy i of every class in turn, as a
  forward's stream of conv, batch norm, ReLU, pool ... runs); their time ratio.  A model
  alternates op classes, so each call finds less of its code and data warm in the
  instruction and data caches, branch predictors and TLBs than in a class-by-class
  loop; the same two orders timed again call by call (the clock read between calls)
  give the ratio per op class (a oneDNN convolution loses less of its time to a cold
  start than a 5 us pooling call does); the timing model multiplies each class's per-op
  overhead by its class's ratio;
* on a CPU with oneDNN, the layout reorder a oneDNN convolution runs on its output
  (``to_dense`` of a blocked 16 x 64 x 16 x 16 convolution result, 1 MiB): the reorder
  bandwidth, 2 x its bytes (read once, written once) over its median time.  The
  convolution timings above then have their own reorders
  (:func:`~inception_cost.timing_model.model.reorder_bytes` at that bandwidth) taken
  out before their rates are computed, so that a prediction can add them back at each
  layer's own shapes.

The result is a device profile (a :class:`~inception_cost.timing_model.devices.Device`
whose peaks are achieved rates and whose efficiencies are 1) that ``--on FILE`` accepts.
"""
from __future__ import annotations

import copy
import datetime
import math
import os
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import UsageError
from .devices import PROFILE_FORMAT, TINY_OP_KEY, Device


@dataclass
class Measurement:
    """One ceiling: what ran, its rate, in which unit, and the median time of one call (s)."""

    name: str
    value: float
    unit: str
    median_s: float
    repeats: int


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def best_time(fn: Callable[[], object], device: str, repeats: int, warmup: int = 2,
              inner: int = 1) -> float:
    """Best (smallest) wall time of one call of ``fn`` over ``repeats`` timed runs of
    ``inner`` calls each, after ``warmup`` calls.  Seconds."""
    return min(_run_times(fn, device, repeats, warmup, inner))


def median_time(fn: Callable[[], object], device: str, repeats: int, warmup: int = 2,
                inner: int = 1) -> float:
    """Median wall time of one call of ``fn`` over ``repeats`` timed runs of ``inner``
    calls each, after ``warmup`` calls.  Seconds."""
    return statistics.median(_run_times(fn, device, repeats, warmup, inner))


def _run_times(fn, device, repeats, warmup, inner) -> list[float]:
    for _ in range(warmup):
        fn()
    _sync(device)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        _sync(device)
        out.append((time.perf_counter() - t0) / inner)
    return out


def _timed(fn: Callable[[], object], device: str, repeats: int) -> float:
    """Median seconds of one call, each repeat looping ``fn`` for about 1 ms."""
    fn()
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    once = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, min(500, int(1e-3 / once)))
    return median_time(fn, device, repeats, warmup=1, inner=inner)


def _interleaved(fns: list[Callable[[], object]], device: str, repeats: int,
                 progress: Callable[[str], None] | None = None) -> list[float]:
    """Median seconds of one call of each of ``fns``, timed round-robin: each round
    times every call once (looped to about 1 ms), so a burst of other work on a shared
    machine lands on one round of every kernel rather than on all rounds of one."""
    inner = []
    for fn in fns:
        fn()
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        inner.append(max(1, min(500, int(1e-3 / max(time.perf_counter() - t0, 1e-7)))))
    samples: list[list[float]] = [[] for _ in fns]
    for r in range(repeats):
        if progress:
            progress(f"{len(fns)} op-class kernels, round {r + 1}/{repeats}")
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            for _ in range(inner[i]):
                fn()
            _sync(device)
            samples[i].append((time.perf_counter() - t0) / inner[i])
    return [statistics.median(s) for s in samples]


def _counted(fn: Callable[[], object], threads: int | None = None) -> tuple[int, int]:
    """(FLOPs, oneDNN reorder bytes) of one call of ``fn`` as the timing model counts them
    (the native registry and :func:`~inception_cost.timing_model.model.reorder_bytes`,
    through the same event capture), so measured rates and predictions agree."""
    from ..counting.events import EventCapture, EventLog
    from .model import reorder_bytes
    with torch.no_grad(), EventCapture() as cap:
        log = cap.subscribe(EventLog())
        fn()
    return (sum(e.flops for e in log.events),
            sum(reorder_bytes(e, threads) for e in log.events) if threads else 0)


REORDER_SHAPE = (16, 64, 16, 16)
"""The convolution output whose reorder back to plain layout calibrates ``reorder_gbs``."""


def reorder_kernel() -> Callable[[], object] | None:
    """One oneDNN layout reorder, blocked (nChw16c) -> plain (NCHW), of a
    :data:`REORDER_SHAPE` fp32 tensor: the kernel a CPU convolution on oneDNN runs on its
    output (and, the other way round, on its input and weight).  None without oneDNN."""
    if not torch.backends.mkldnn.is_available():
        return None
    n, c, h, w = REORDER_SHAPE
    with torch.no_grad():
        xm = torch.randn(n, c, h, w).to_mkldnn()
        y = torch.mkldnn_convolution(xm, torch.randn(c, c, 1, 1), None, [0, 0], [1, 1], [1, 1], 1)
    return y.to_dense


@dataclass
class Kernel:
    """One op class to calibrate: ``tiny`` gives its overhead; ``big`` (when given) its
    rate; ``table`` (when given) its rate at several output sizes: (output pixels per
    image, call) pairs."""

    key: str
    label: str
    tiny: Callable[[], object]
    big: Callable[[], object] | None = None
    table: list | None = None


TINY_COPIES = 16
"""A tiny call is timed over this many distinct layers and inputs in turn, as a model calls
its layers, so that one layer's weights and input are not hot in the caches every call."""


def _module(device, mod: torch.nn.Module, shape, copies: int = 1) -> Callable[[], object]:
    """Calls of ``mod`` (an eval-mode layer, no gradient) on a random input of ``shape``:
    what a model's forward pays per layer, the module's Python included; with ``copies``,
    one call of each of that many copies, each on its own input."""
    mod = mod.to(device).eval().requires_grad_(False)
    if copies == 1:
        xt = torch.randn(*shape, device=device)
        return lambda: mod(xt)
    pairs = [(copy.deepcopy(mod), torch.randn(*shape, device=device)) for _ in range(copies)]
    return Calls([(lambda m=m, x=x: m(x)) for m, x in pairs])


class Calls:
    """Distinct calls run one after the other by one call of this object; ``calls`` keeps
    them apart, so that the context measurement can interleave them with other classes'."""

    def __init__(self, calls: list[Callable[[], object]]):
        self.calls = calls

    def __call__(self) -> None:
        for fn in self.calls:
            fn()


def _conv(device, x, w, groups=1, padding=0, copies: int = 1):
    conv = torch.nn.Conv2d(x[1], w[0], tuple(w[2:]), padding=padding, groups=groups, bias=False)
    return _module(device, conv, x, copies)


def _copies(make: Callable[[], Callable[[], object]]) -> Callable[[], object]:
    """One call of each of :data:`TINY_COPIES` distinct calls ``make()`` builds."""
    return Calls([make() for _ in range(TINY_COPIES)])


def _tiny_conv(device, x, w, groups=1, padding=0):
    return _conv(device, x, w, groups, padding, TINY_COPIES)


def _tiny(device, mod, shape):
    return _module(device, mod, shape, TINY_COPIES)


SIZES = ((28, 128), (14, 256), (7, 512), (2, 512))
"""(output side, channels) of the convolution rate table: channels grow as the image
shrinks, as in the networks of the zoo."""
NATIVE_KXK_SIZES = ((16, 64), (12, 128), (7, 256), (2, 512))
"""The same for PyTorch's native batch-1 k x k kernel, which it picks only for inputs of
at most 20480 elements."""


def _conv_table(device, kind: str, batch: int, sizes, per_image: bool = False) -> list:
    """(output pixels, call) pairs of one convolution class (3x3 padding 1 or 1x1, stride
    1); pixels count every image (batch x height x width) unless ``per_image``."""
    out = []
    for side, c, *b in sizes:
        n = b[0] if b else batch
        if kind == "1x1":
            fn = _conv(device, (n, c, side, side), (c, c, 1, 1))
        elif kind == "depthwise":
            fn = _conv(device, (n, c, side, side), (c, 1, 3, 3), groups=c, padding=1)
        elif kind == "grouped":
            fn = _conv(device, (n, c, side, side), (c, c // 32, 3, 3), groups=32, padding=1)
        else:
            fn = _conv(device, (n, c, side, side), (c, c, 3, 3), padding=1)
        out.append((side * side * (1 if per_image else n), fn))
    return out


def _conv_backward(device, x, w):
    xt = torch.randn(*x, device=device)
    wt = torch.randn(*w, device=device) * 0.1
    g = torch.randn(x[0], w[0], x[2], x[3], device=device)
    conv_bw = torch.ops.aten.convolution_backward.default
    return lambda: conv_bw(g, xt, wt, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1, [True, True, False])


def _bn_backward(device, shape):
    """``native_batch_norm_backward`` (training mode, every gradient) of a batch norm over
    ``shape``, as a training step's backward calls it."""
    c = shape[1]
    x = torch.randn(*shape, device=device)
    g = torch.randn(*shape, device=device)
    w, b = torch.ones(c, device=device), torch.zeros(c, device=device)
    rm, rv = torch.zeros(c, device=device), torch.ones(c, device=device)
    _, mean, invstd = torch.ops.aten.native_batch_norm(x, w, b, rm, rv, True, 0.1, 1e-5)
    bw = torch.ops.aten.native_batch_norm_backward.default
    return lambda: bw(g, x, w, rm, rv, mean, invstd, True, 1e-5, [True, True, True])


def _pool(device, fn, shape, *args):
    xt = torch.randn(*shape, device=device)
    return lambda: fn(xt, *args)


def _batch_norm(c: int) -> torch.nn.Module:
    bn = torch.nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.running_var.uniform_(0.5, 1.5)
        bn.running_mean.uniform_(-0.5, 0.5)
    return bn


def _op_kernels(device: str, gpu: bool, quick: bool) -> list[Kernel]:
    """The op classes to calibrate (fp32).  Shapes: a tiny call (its time is the class's
    overhead) and a call of a typical layer's size (its rate).  CPU batch sizes and sizes
    follow PyTorch's kernel choice (``use_mkldnn`` in ATen's Convolution.cpp): oneDNN for
    1x1 at batch 16 and k x k at batch 2, the native kernel at batch 1 on small inputs."""
    F = torch.nn.functional
    n = 32 if gpu else 2
    sizes = SIZES[1::2] if quick else SIZES
    big = sizes + (() if quick else ((28, 128, 4 * n),))   # a larger batch: oneDNN's rate grows with it
    ks = [
        Kernel("convolution_kxk", f"conv 3x3, batch {n}", _tiny_conv(device, (n, 8, 8, 8), (8, 8, 3, 3), padding=1),
               table=_conv_table(device, "kxk", n, big)),
        Kernel("convolution_1x1", f"conv 1x1, batch {max(n, 16)}", _tiny_conv(device, (16, 8, 4, 4), (8, 8, 1, 1)),
               table=_conv_table(device, "1x1", max(n, 16), sizes)),
        Kernel("convolution_depthwise", f"conv 3x3 depthwise, batch {n}", _tiny_conv(device, (1, 8, 4, 4), (8, 1, 3, 3), groups=8, padding=1),
               table=_conv_table(device, "depthwise", n, big)),
        Kernel("convolution_grouped", f"conv 3x3 32 groups, batch {n}", _tiny_conv(device, (1, 64, 4, 4), (64, 2, 3, 3), groups=32, padding=1),
               table=_conv_table(device, "grouped", n, big)),
    ]
    if not gpu:
        ks += [
            Kernel("convolution_kxk_native", "conv 3x3 native, batch 1", _tiny_conv(device, (1, 8, 4, 4), (8, 8, 3, 3), padding=1),
                   table=_conv_table(device, "kxk", 1, NATIVE_KXK_SIZES[1::2] if quick else NATIVE_KXK_SIZES,
                                     per_image=True)),
            Kernel("convolution_1x1_native", "conv 1x1 native, batch 1", _tiny_conv(device, (1, 8, 4, 4), (8, 8, 1, 1)),
                   table=_conv_table(device, "1x1", 1, sizes, per_image=True)),
        ]
    ks += [
        Kernel("convolution_backward", f"conv 3x3 backward {n}x64x28x28",
               _copies(lambda: _conv_backward(device, (n, 8, 8, 8), (8, 8, 3, 3))),
               _conv_backward(device, (n, 64, 28, 28), (64, 64, 3, 3))),
        Kernel("max_pool2d_with_indices", f"max pool 3x3/1 {n}x64x28x28",
               _tiny(device, torch.nn.MaxPool2d(3, 1, 1, ceil_mode=True), (1, 8, 4, 4)),
               _module(device, torch.nn.MaxPool2d(3, 1, 1, ceil_mode=True), (n, 64, 28, 28))),
        Kernel("avg_pool2d", f"avg pool 3x3/1 {n}x64x28x28",
               _tiny(device, torch.nn.AvgPool2d(3, 1, 1), (1, 8, 4, 4)),
               _module(device, torch.nn.AvgPool2d(3, 1, 1), (n, 64, 28, 28))),
        Kernel("avg_pool3d", "avg pool 5x1x1 1x1x68x28x28 (LRN)",
               _copies(lambda: _pool(device, F.avg_pool3d, (1, 1, 12, 4, 4), (5, 1, 1), 1)),
               _pool(device, F.avg_pool3d, (1, 1, 68, 28, 28), (5, 1, 1), 1)),
    ]
    ks += [
        Kernel("mean", f"global average pool {n}x512x7x7",
               _tiny(device, torch.nn.AdaptiveAvgPool2d(1), (1, 8, 4, 4)),
               _module(device, torch.nn.AdaptiveAvgPool2d(1), (n, 512, 7, 7))),
        Kernel("addmm", "linear 1x8 -> 8", _tiny(device, torch.nn.Linear(8, 8), (1, 8))),
        Kernel("native_batch_norm", f"batch norm (eval) {4 * n}x96x16x16",
               _tiny(device, _batch_norm(8), (1, 8, 4, 4)),
               _module(device, _batch_norm(96), (4 * n, 96, 16, 16))),
        Kernel("native_batch_norm_backward", f"batch norm backward {4 * n}x96x16x16",
               _copies(lambda: _bn_backward(device, (2, 8, 4, 4))),
               _bn_backward(device, (4 * n, 96, 16, 16))),
    ]
    return ks


CONTEXT_SKIP = ("convolution_backward", "native_batch_norm_backward")
"""Op classes left out of the context chain (backward kernels: the chain is a forward's stream)."""


def context_groups(kernels: list[Kernel], device: str) -> list[tuple[str, Calls]]:
    """(op class key, its :data:`TINY_COPIES` tiny calls) for every class in ``kernels``
    (less :data:`CONTEXT_SKIP`) and, under ``(tiny op)``, :data:`TINY_COPIES` one-element adds."""
    ones = [torch.ones(1, device=device) for _ in range(TINY_COPIES)]
    adds = Calls([(lambda t=t: t + 1) for t in ones])
    return [(k.key, k.tiny) for k in kernels
            if k.key not in CONTEXT_SKIP and isinstance(k.tiny, Calls)] + [(TINY_OP_KEY, adds)]


def context_calls(kernels: list[Kernel], device: str) -> tuple[Calls, Calls]:
    """(grouped, interleaved): the tiny calls of :func:`context_groups`, first
    grouped by class as the overhead measurement runs them (all copies of one class, then
    the next class), then interleaved as a forward runs them (copy i of every class in
    turn).  The same calls in both; the ratio of their times is the overhead's context
    factor (:func:`calibrate`)."""
    groups = [g for _, g in context_groups(kernels, device)]
    grouped = Calls([fn for g in groups for fn in g.calls])
    interleaved = Calls([g.calls[i] for i in range(TINY_COPIES) for g in groups])
    return grouped, interleaved


def class_seconds(order: list[tuple[str, Callable[[], object]]], device: str) -> dict[str, float]:
    """Seconds each class's calls took in one run of ``order`` ((class key, call) pairs),
    read call by call from the clock (``time.perf_counter``, read once between calls), less
    one clock read per call (:func:`clock_read_s`)."""
    out: dict[str, float] = {}
    clock = time.perf_counter
    read = clock_read_s()
    t = clock()
    for key, fn in order:
        fn()
        _sync(device)
        u = clock()
        out[key] = out.get(key, 0.0) + max(u - t - read, 0.0)
        t = u
    return out


def clock_read_s(n: int = 200) -> float:
    """Median seconds between two consecutive reads of ``time.perf_counter``."""
    clock = time.perf_counter
    gaps = []
    for _ in range(n):
        a = clock()
        gaps.append(clock() - a)
    return statistics.median(gaps)


def class_context(groups: list[tuple[str, Calls]], device: str, repeats: int) -> dict[str, float]:
    """Per op class: the context factor, median over ``repeats`` rounds of (the class's
    calls' seconds when every class's calls run interleaved, copy i of each class in turn)
    / (their seconds when the calls run grouped by class), each timed call by call
    (:func:`class_seconds`) within the same two orders as :func:`context_calls`.  Rounds
    alternate the orders, so a burst of other work on a shared machine hits both."""
    grouped = [(key, fn) for key, g in groups for fn in g.calls]
    interleaved = [(key, g.calls[i]) for i in range(TINY_COPIES) for key, g in groups]
    class_seconds(grouped, device)
    class_seconds(interleaved, device)
    ratios: dict[str, list[float]] = {key: [] for key, _ in groups}
    for _ in range(repeats):
        a = class_seconds(grouped, device)
        b = class_seconds(interleaved, device)
        for key in ratios:
            if a.get(key, 0.0) > 0 and b.get(key, 0.0) > 0:
                ratios[key].append(b[key] / a[key])
    return {key: statistics.median(r) for key, r in ratios.items() if r}


def _size(text: str) -> int:
    """'48K' / '49152 KB' / '1280K' -> bytes."""
    t = text.strip().upper().replace("B", "").replace(" ", "")
    mult = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(t[-1:], 1)
    return int(t.rstrip("KMG")) * mult


def _cache_bytes() -> int | None:
    """Size of this CPU's last-level cache in bytes: the highest cache level sysfs lists,
    else /proc/cpuinfo's 'cache size'; None when neither can be read."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    best: tuple[int, int | None] = (0, None)
    try:
        entries = os.listdir(base)
    except OSError:
        entries = []
    for idx in entries:
        d = os.path.join(base, idx)
        try:
            with open(os.path.join(d, "level"), encoding="utf-8") as fh:
                level = int(fh.read().strip())
            with open(os.path.join(d, "type"), encoding="utf-8") as fh:
                if fh.read().strip() == "Instruction":
                    continue
            with open(os.path.join(d, "size"), encoding="utf-8") as fh:
                value = _size(fh.read())
        except (OSError, ValueError):
            continue
        if level > best[0]:
            best = (level, value)
    if best[1] is not None and best[0] >= 3:
        return best[1]
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("cache size"):
                    return _size(line.split(":", 1)[1])
    except (OSError, ValueError):
        pass
    return best[1]


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


def _repeats(device: str, quick: bool) -> int:
    return 3 if quick else (10 if device == "cuda" else 7)


def steps(device: str = "cpu", quick: bool = False) -> int:
    """How many progress messages :func:`calibrate` sends (a progress bar's total)."""
    gpu = device == "cuda"
    return len(_dtypes(device)) + _repeats(device, quick) + (1 if gpu else 3) + 1


def calibrate(device: str = "cpu", quick: bool = False,
              progress: Callable[[str], None] | None = None) -> tuple[Device, list[Measurement]]:
    """Measure ``device`` ("cpu" or "cuda"); returns (profile, measurements)."""
    check_device(device)
    say = progress or (lambda _msg: None)
    gpu = device == "cuda"
    n = (4096 if gpu else 1024) if not quick else (1024 if gpu else 256)
    repeats = _repeats(device, quick)
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
            t = median_time(lambda: torch.mm(a, b), device, repeats)
            peaks[mode] = 2 * n ** 3 / t / 1e12
            out.append(Measurement(f"gemm {mode} {n}x{n}x{n}", peaks[mode], "TFLOP/s", t, repeats))
    finally:
        if gpu:
            torch.backends.cuda.matmul.allow_tf32 = old_tf32
    threads = None if gpu else torch.get_num_threads()
    reorder_gbs = None
    reorder = None if gpu else reorder_kernel()
    if reorder is not None:
        say("oneDNN layout reorder")
        t = _timed(reorder, device, repeats)
        moved = 2 * 4 * math.prod(REORDER_SHAPE)
        reorder_gbs = moved / t / 1e9
        out.append(Measurement(f"oneDNN reorder nChw16c -> NCHW {'x'.join(map(str, REORDER_SHAPE))} fp32",
                               reorder_gbs, "GB/s", t, repeats))
    rates: dict[str, float] = {}
    overheads: dict[str, float] = {}
    table: dict[str, list] = {}
    kernels = _op_kernels(device, gpu, quick)
    calls: list[tuple[str, object, Callable]] = []        # (class key, role, call)
    for k in kernels:
        calls.append((k.key, "tiny", k.tiny))
        calls += [(k.key, None, k.big)] if k.big is not None else [(k.key, px, fn) for px, fn in k.table or []]
    grouped, interleaved = context_calls(kernels, device)
    calls += [("(context)", "grouped", grouped), ("(context)", "interleaved", interleaved)]
    times = _interleaved([fn for _, _, fn in calls], device, repeats, say)
    context = {role: t for (key, role, _), t in zip(calls, times) if key == "(context)"}
    calls, times = calls[:-2], times[:-2]
    overhead_context = context["interleaved"] / context["grouped"]
    for role in ("grouped", "interleaved"):
        out.append(Measurement(f"context: {len(interleaved.calls)} tiny calls {role} by class",
                               context[role] * 1e6, "us", context[role], repeats))
    out.append(Measurement("overhead context factor (interleaved / grouped)", overhead_context, "x",
                           context["interleaved"], repeats))
    say("overhead context by op class")
    op_context = class_context(context_groups(kernels, device), device, repeats)
    for key, f in op_context.items():
        out.append(Measurement(f"{key} context factor (call by call)", f, "x",
                               context["interleaved"], repeats))
    tiny_s = {key: t / TINY_COPIES for (key, role, _), t in zip(calls, times) if role == "tiny"}
    labels = {k.key: k.label for k in kernels}
    for (key, role, fn), t in zip(calls, times):
        tiny = tiny_s[key]
        if role == "tiny":
            overheads[key] = tiny * 1e6           # per call: the round ran TINY_COPIES calls
            out.append(Measurement(f"{key} overhead (tiny call)", tiny * 1e6, "us", tiny, repeats))
            continue
        flops, moved = _counted(fn, threads if reorder_gbs else None)
        # the work above the call's fixed cost and its layout reorders; never less than a
        # quarter of the call
        layout = moved / (reorder_gbs * 1e9) if reorder_gbs else 0.0
        rate = flops / max(t - tiny - layout, t / 4) / 1e12
        if role is None:
            rates[key] = rate
            out.append(Measurement(labels[key], rate, "TFLOP/s", t, repeats))
        else:
            table.setdefault(key, []).append([role, rate])
            out.append(Measurement(f"{labels[key]} at {role} output pixels", rate, "TFLOP/s", t, repeats))
    for key, pts in table.items():
        pts.sort()                                        # by output pixels
        rates[key] = pts[-1][1]                           # the largest size's rate
    rates["convolution"] = rates["convolution_kxk"]       # the keys older profiles used
    say("streaming add")
    elems = (64 if gpu else 16) * 2 ** 20 if not quick else 2 ** 22
    p, q = torch.ones(elems, device=device), torch.ones(elems, device=device)
    r = torch.empty(elems, device=device)
    t = median_time(lambda: torch.add(p, q, out=r), device, repeats)
    bw = 3 * 4 * elems / t / 1e9
    out.append(Measurement(f"stream add {elems} fp32", bw, "GB/s", t, repeats))
    cache_bw, cache_bytes = None, None
    if not gpu:
        say("in-cache add")
        cache_bytes = _cache_bytes()
        small = 2 ** 18                       # 3 x 1 MiB: past the L2 of most CPUs, inside the LLC
        if cache_bytes is not None and 3 * 4 * small <= cache_bytes:
            p2, q2, r2 = torch.ones(small), torch.ones(small), torch.empty(small)
            t = _timed(lambda: torch.add(p2, q2, out=r2), device, repeats)
            cache_bw = max(bw, 3 * 4 * small / t / 1e9)
            out.append(Measurement(f"in-cache add {small} fp32 (cache {cache_bytes // 2 ** 20} MiB)",
                                   cache_bw, "GB/s", t, repeats))
        else:
            cache_bytes = None
    say("tiny op")
    tiny = torch.ones(1, device=device)
    t = _timed(lambda: tiny + 1, device, repeats)
    out.append(Measurement("tiny op x + 1", t * 1e6, "us", t, repeats))
    name = torch.cuda.get_device_name(0) if gpu else _cpu_name()
    threads = torch.get_num_threads()
    profile = Device(
        name=f"{name} (measured)", kind="gpu" if gpu else "cpu", peaks_tflops=peaks,
        bandwidth_gbs=bw, memory_gb=_memory_gb(device),
        source=(f"inception-cost calibrate, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC,"
                f" torch {torch.__version__}, {threads} threads, median of {repeats}"),
        compute_efficiency=1.0, memory_efficiency=1.0, overhead_us=t * 1e6,
        op_tflops=rates, measured=True, op_overhead_us=overheads, op_rate_table=table,
        cache_bandwidth_gbs=cache_bw, cache_bytes=cache_bytes, threads=None if gpu else threads,
        reorder_gbs=reorder_gbs, overhead_context=overhead_context, op_overhead_context=op_context)
    return profile, out


def profile_json(profile: Device, measurements: list[Measurement]) -> dict:
    """The file ``calibrate -o`` writes (``--on FILE`` reads it back)."""
    return {"format": PROFILE_FORMAT, "version": 1, "device": profile.to_dict(),
            "measurements": [m.__dict__ for m in measurements]}
