"""The timing model: recorded op events -> predicted seconds on a device.

Per op (eager execution: one kernel per aten op, nothing fused)::

    time = max(FLOPs / (peak x compute_efficiency), bytes / (bandwidth x memory_efficiency))
           + overhead

* FLOPs: the op's exact count (native registry; an FMA is 2 FLOPs, as datasheet peaks count).
* peak: the device's dense peak for the math mode: matrix products and convolutions
  (:data:`TENSOR_OPS`) at the requested mode (fp32 / tf32 / fp16 / bf16 tensor cores),
  every other op at the FP32 pipe (they are memory-bound on every catalog device).
  A calibrated device's measured rate of an op class (:func:`op_keys`: convolutions by
  kind -- k x k, 1x1, depthwise, grouped -- and by the CPU kernel PyTorch picks; pooling
  kernels) replaces the peak for that class in fp32.
* bytes: every tensor read and written once (views, metadata, creation: 0); see
  :mod:`inception_cost.counting.events`.
* bandwidth: the device's memory bandwidth, or its cache bandwidth when it has one and
  the op's bytes fit in its last-level cache (:func:`bandwidth_gbs`).
* overhead: a fixed cost per op that moves bytes or does work (dispatch + launch); a
  calibrated device holds one per op class (a oneDNN convolution call costs far more
  than an element-wise op), else one for every op; a calibrated CPU also holds the
  context factor (``overhead_context``, and per op class ``op_overhead_context``) that
  turns a class's overhead measured in a loop of that class into its overhead in a
  stream of mixed classes, as a model runs.
* cold bytes (a device with a cache term): bytes an op reads from a tensor that no earlier
  op of the recorded stream touched -- the weights, buffers and input of a forward --
  were last used one step ago; when the stream's distinct bytes (every storage it reads
  or writes, counted once: the reuse distance of such a tensor) exceed the last-level
  cache, an LRU cache has evicted them, and they move at the memory bandwidth while the
  op's other bytes move at the cache bandwidth (:func:`cold_bytes`).
* layout reorders (a calibrated CPU with ``reorder_gbs``): a convolution that PyTorch runs
  on oneDNN with plain (NCHW) tensors reorders, inside the one aten op, its input and
  weight into oneDNN's blocked layouts and its output back (three reorder kernels per
  call, visible with ``ONEDNN_VERBOSE=1``).  Each reorder reads and writes its tensor
  once: :func:`reorder_bytes` = 2 x (input + weight + output bytes) for a forward and
  2 x (every tensor operand and gradient) for a backward, moved at the calibrated
  reorder bandwidth and added to the op's time (a separate kernel: it does not overlap
  the convolution's own compute).  The calibration subtracts the same term from its
  convolution timings, so the class rates are the convolution kernel's alone.

``Terms.pytorch()`` reproduces ``torch.utils._runtime_estimation`` instead: PyTorch's
FLOP counts divided by 2, every op at its output dtype's peak x 0.75, full bandwidth,
no overhead.  Units: seconds internally; the tables show milliseconds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from ..counting.events import OpEvent
from ..errors import UsageError
from .devices import TINY_OP_KEY, Device

TENSOR_OPS = frozenset({
    "convolution", "_convolution", "convolution_overrideable", "mkldnn_convolution",
    "cudnn_convolution", "convolution_backward", "mm", "addmm", "bmm", "baddbmm", "matmul",
    "_scaled_mm", "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention", "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention_backward", "_scaled_dot_product_efficient_attention_backward",
    "_scaled_dot_product_cudnn_attention_backward", "_scaled_dot_product_flash_attention_for_cpu_backward",
    "_flash_attention_forward", "_efficient_attention_forward",
})
"""Ops that run on tensor cores (or the CPU's GEMM kernels) in the requested math mode."""
CONV_OPS = frozenset({"convolution", "_convolution", "convolution_overrideable", "mkldnn_convolution",
                      "cudnn_convolution", "convolution_backward"})

EAGER_NOTE = ("eager execution: one kernel per aten op, no fusion (torch.compile would fuse "
              "element-wise ops and cut bytes and overhead)")
MODE_DTYPE = {"fp32": "float32", "tf32": "float32", "fp16": "float16", "bf16": "bfloat16"}
_DTYPE_MODE = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float64": "fp32"}


@dataclass(frozen=True)
class Terms:
    """How events become seconds.  ``flops``: "native" (the registry's exact FLOPs) or
    "reference" (torch.utils.flop_counter's); ``flop_scale`` multiplies them;
    ``dtype_peaks``: every op at its output dtype's peak (PyTorch) instead of tensor ops
    at the mode's peak and the rest at the FP32 pipe; ``overhead``: add the per-op cost."""

    flops: str = "native"
    flop_scale: float = 1.0
    dtype_peaks: bool = False
    overhead: bool = True
    name: str = "default"
    cold: bool = True

    @classmethod
    def pytorch(cls) -> "Terms":
        """torch.utils._runtime_estimation's roofline (with a device at 0.75 x peak,
        full bandwidth and no overhead, see :func:`pytorch_device`)."""
        return cls(flops="reference", flop_scale=0.5, dtype_peaks=True, overhead=False,
                   name="pytorch", cold=False)


@dataclass(frozen=True)
class OpTime:
    """Predicted seconds of one op: compute, memory, overhead, total, and what bounds it."""

    compute_s: float
    memory_s: float
    overhead_s: float
    time_s: float
    bound: str          # compute | memory | overhead | free
    reorder_s: float = 0.0   # oneDNN layout reorders inside the op (calibrated CPU)


def _op_flops(ev: OpEvent, terms: Terms) -> float:
    if terms.flops == "reference":
        return (ev.reference_flops or 0) * terms.flop_scale
    return ev.flops * terms.flop_scale


def _peak_tflops(ev: OpEvent, device: Device, mode: str, terms: Terms) -> float:
    if terms.dtype_peaks:
        m = _DTYPE_MODE.get(ev.reference_dtype or ev.dtype, "fp32")
        if m == "fp32" and mode == "tf32":
            m = "tf32"
        return device.peak(m)
    if (device.op_tflops or device.op_rate_table) and mode == "fp32":
        for key in op_keys(ev, device.threads):
            table = device.op_rate_table.get(key)
            if table:
                return table_rate(table, output_pixels(ev, per_image=key.endswith("_native")))
            rate = device.op_tflops.get(key)
            if rate is not None:
                return rate
    if ev.op in TENSOR_OPS:
        return device.peak(mode)
    return device.peak("fp32")


def output_pixels(ev: OpEvent, per_image: bool = False) -> int:
    """Output elements per channel of an op: its first output's batch x spatial
    dimensions (all but the channel dimension), or only the spatial ones per image with
    ``per_image`` (PyTorch's native CPU convolution loops over images; oneDNN's
    efficiency grows with the batch).  1 for an op with no such output."""
    shape = ev.outputs[0].shape if ev.outputs else ()
    n = 1 if per_image or len(shape) < 3 else shape[0]
    for d in shape[2:]:
        n *= d
    return n


def table_rate(table, pixels: float) -> float:
    """A rate (TFLOP/s) from ``(pixels, rate)`` points (any order): linear in log(pixels)
    between the two points around ``pixels``, the end point's rate outside."""
    table = sorted(table)
    if pixels <= table[0][0]:
        return table[0][1]
    if pixels >= table[-1][0]:
        return table[-1][1]
    for (x0, r0), (x1, r1) in zip(table, table[1:]):
        if x0 <= pixels <= x1:
            f = (math.log(pixels) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return r0 + f * (r1 - r0)
    return table[-1][1]


def _conv_kind(ev: OpEvent) -> tuple[str, bool]:
    """(kind, native) of a forward convolution: kind ``depthwise`` (one input channel per
    group, several groups), ``grouped``, ``1x1`` or ``kxk``; ``native`` when PyTorch's CPU
    dispatch (``use_mkldnn`` in ATen's Convolution.cpp, fp32, not dilated) picks its own
    im2col + GEMM kernel instead of oneDNN: a 1x1 stride-1 convolution on fewer than 16
    images with 1 thread, or a batch-1 convolution with groups 1, kernel at most 3 on some
    side and at most 20480 input elements."""
    x = ev.inputs[0].shape if ev.inputs else ()
    w = ev.inputs[1].shape if len(ev.inputs) > 1 else ()
    if len(x) < 3 or len(w) < 3 or not w[1]:
        return "kxk", False
    groups = x[1] // w[1]
    one = all(k == 1 for k in w[2:])
    if groups > 1:
        return ("depthwise" if w[1] == 1 else "grouped"), False
    return ("1x1" if one else "kxk"), None


def op_keys(ev: OpEvent, threads: int | None = None) -> tuple[str, ...]:
    """Keys of a calibrated rate or overhead for this op, most specific first.

    Forward convolutions: ``convolution_{kind}`` with kind ``kxk``, ``1x1``, ``depthwise``
    or ``grouped``, and ``_native`` appended where PyTorch's CPU dispatch with ``threads``
    threads picks its native kernel (see :func:`_conv_kind`; never for grouped ones), then
    the coarser keys of older profiles (``convolution_1x1``, ``convolution``).  Backward
    convolutions: ``convolution_backward``.  Every other op: its aten name."""
    if ev.op not in CONV_OPS:
        return (ev.op,)
    if ev.op == "convolution_backward":
        return ("convolution_backward", op_class(ev))
    kind, native = _conv_kind(ev)
    if native is None:
        native = _uses_native_kernel(ev, kind, threads)
    old = "convolution_1x1" if kind == "1x1" else "convolution"
    key = f"convolution_{kind}" + ("_native" if native else "")
    return tuple(dict.fromkeys((key, f"convolution_{kind}", old)))


def _uses_native_kernel(ev: OpEvent, kind: str, threads: int | None, backward: bool = False) -> bool:
    x = ev.inputs[1 if backward else 0].shape
    w = ev.inputs[2 if backward else 1].shape
    n = x[0]
    numel = 1
    for d in x:
        numel *= d
    one = kind == "1x1"
    y = ev.inputs[0].shape if backward else (ev.outputs[0].shape if ev.outputs else x)
    strided = one and len(x) == 4 and tuple(y[2:]) != tuple(x[2:])
    onednn_side = strided or n >= 16 or not one or (threads or 1) > 1
    small = not (w[-1] > 3 and w[-2] > 3) and n <= 1 and numel <= 20480
    return not (onednn_side and not small)


def runs_on_onednn(ev: OpEvent, threads: int | None) -> bool:
    """True for a 2-D convolution (forward or backward) that PyTorch's CPU dispatch runs on
    oneDNN: grouped or depthwise always, else unless :func:`_uses_native_kernel` picks
    its native kernel (the same ``use_mkldnn`` rule decides the backward)."""
    if ev.op not in CONV_OPS:
        return False
    backward = ev.op == "convolution_backward"
    if len(ev.inputs) < (3 if backward else 2):
        return False
    x = ev.inputs[1 if backward else 0].shape
    w = ev.inputs[2 if backward else 1].shape
    if len(x) != 4 or len(w) != 4 or not w[1]:
        return False
    if x[1] // w[1] > 1:
        return True
    kind = "1x1" if w[2] == w[3] == 1 else "kxk"
    return not _uses_native_kernel(ev, kind, threads, backward)


def reorder_bytes(ev: OpEvent, threads: int | None = 1) -> int:
    """Bytes the oneDNN layout reorders of one convolution call move (0 for any other op
    and for a convolution on PyTorch's native kernel): every plain tensor the call hands
    to oneDNN is read once and written once in blocked layout, every result read once in
    blocked layout and written once in plain layout.  Forward: 2 x (input + weight +
    output bytes); backward: 2 x (gradient of the output + input + weight + the input and
    weight gradients; a bias gradient is a plain reduction and is left out)."""
    if not runs_on_onednn(ev, threads):
        return 0
    if ev.op == "convolution_backward":
        moved = sum(f.bytes for f in ev.inputs[:3]) + sum(f.bytes for f in ev.outputs if len(f.shape) == 4)
    else:
        moved = ev.inputs[0].bytes + ev.inputs[1].bytes + (ev.outputs[0].bytes if ev.outputs else 0)
    return 2 * moved


def op_class(ev: OpEvent) -> str:
    """The coarse key of a calibrated rate (older profiles): the op's name, with
    convolutions split into 1x1 and k x k (``convolution_1x1`` / ``convolution``)."""
    if ev.op in CONV_OPS:
        w = ev.inputs[1].shape if len(ev.inputs) > 1 else ()
        if ev.op == "convolution_backward":
            w = ev.inputs[2].shape if len(ev.inputs) > 2 else ()
        return "convolution_1x1" if len(w) > 2 and all(k == 1 for k in w[2:]) else "convolution"
    return ev.op


def _overhead_us(ev: OpEvent, device: Device) -> float:
    """The op class's measured overhead (first of :func:`op_keys` the device holds), else
    the device's ``overhead_us`` (microseconds); times the class's context factor (the
    overhead in a stream of mixed op classes over the overhead in a loop of one class):
    the device's ``op_overhead_context`` for that class (:data:`TINY_OP_KEY` for ops at
    ``overhead_us``) when it has one, else its ``overhead_context``, else 1."""
    key, us = _class_overhead(ev, device)
    context = (device.op_overhead_context or {}).get(key)
    return us * (context or device.overhead_context or 1.0)


def _class_overhead(ev: OpEvent, device: Device) -> tuple[str, float]:
    """(op class key, overhead in us): the first of :func:`op_keys` the device holds an
    overhead for, else (:data:`TINY_OP_KEY`, ``overhead_us``)."""
    if device.op_overhead_us:
        for key in op_keys(ev, device.threads):
            v = device.op_overhead_us.get(key)
            if v is not None:
                return key, v
    return TINY_OP_KEY, device.overhead_us


def bandwidth_gbs(ev: OpEvent, device: Device) -> float:
    """GB/s the op's bytes move at: the cache bandwidth when the device has one and the
    op's bytes (its working set: every operand and output) fit in ``cache_bytes``, else
    the memory bandwidth."""
    if device.cache_bandwidth_gbs and device.cache_bytes and ev.bytes <= device.cache_bytes:
        return device.cache_bandwidth_gbs
    return device.bandwidth_gbs


def cold_bytes(events: list[OpEvent], cache_bytes: int | None) -> dict[int, int]:
    """Event index -> bytes the op reads from storages that no earlier non-free op of the
    stream read or wrote (first touches: a forward's weights, buffers and input), when
    the stream's distinct bytes exceed ``cache_bytes``; empty when they fit (or when
    there is no cache).  Distinct bytes: each storage once, at the most bytes any op
    touches of it."""
    if not cache_bytes:
        return {}
    seen: set[int] = set()
    size: dict[int, int] = {}
    cold: dict[int, int] = {}
    for ev in events:
        if ev.free:
            continue
        c = 0
        for f in ev.inputs:
            if f.storage not in seen:
                c += f.bytes
        for f in (*ev.inputs, *ev.outputs):
            seen.add(f.storage)
            if f.bytes > size.get(f.storage, 0):
                size[f.storage] = f.bytes
        if c:
            cold[ev.index] = c
    return cold if sum(size.values()) > cache_bytes else {}


def op_time(ev: OpEvent, device: Device, mode: str, terms: Terms = Terms(), cold: int = 0) -> OpTime:
    """Predicted time of one event on ``device`` in math ``mode``; ``cold``: bytes of it
    (see :func:`cold_bytes`) that move at the memory bandwidth even when the op's bytes
    fit in the cache."""
    if ev.free:
        return OpTime(0.0, 0.0, 0.0, 0.0, "free")
    flops = _op_flops(ev, terms)
    compute = flops / (_peak_tflops(ev, device, mode, terms) * 1e12 * device.compute_efficiency) \
        if flops else 0.0
    bw = bandwidth_gbs(ev, device)
    cold = min(cold, ev.bytes) if terms.cold and bw != device.bandwidth_gbs else 0
    memory = ((ev.bytes - cold) / (bw * 1e9) + cold / (device.bandwidth_gbs * 1e9)) / device.memory_efficiency
    over = _overhead_us(ev, device) * 1e-6 if terms.overhead else 0.0
    reorder = reorder_bytes(ev, device.threads) / (device.reorder_gbs * 1e9) \
        if device.reorder_gbs and terms.overhead else 0.0
    body = max(compute, memory)
    bound = "compute" if compute >= memory and compute > 0 else "memory"
    if over > body + reorder:
        bound = "overhead"
    return OpTime(compute, memory, over, body + reorder + over, bound, reorder)


OP_COLUMNS = ["index", "phase", "grad", "module", "module_type", "op", "flops", "bytes",
              "flop_per_byte", "compute_ms", "memory_ms", "overhead_ms", "time_ms", "bound", "reorder_ms"]
LAYER_COLUMNS = ["module", "module_type", "ops", "flops", "bytes", "flop_per_byte", "time_ms",
                 "pct_time", "bound", "compute_ms", "memory_ms", "overhead_ms"]


@dataclass
class Prediction:
    """Predicted time of one model on one device, per op, per layer and in total.

    ``ops``: :data:`OP_COLUMNS` (flops in FLOPs, bytes in bytes, times in ms);
    ``layers``: :data:`LAYER_COLUMNS` (per attributed module, in order of first op);
    ``phases``: time/FLOPs/bytes per phase (forward, backward input-grad, backward
    weight-grad, optimizer); ``totals``: latency_ms, images_per_s, flops, bytes,
    achieved_tflops, pct_of_peak and the device and mode (and a training step's
    ``optimizer``)."""

    model_name: str
    device: Device
    mode: str
    batch: int
    training: bool
    ops: pd.DataFrame
    layers: pd.DataFrame
    phases: pd.DataFrame
    totals: dict
    notes: list = field(default_factory=list)
    optimizer: str = ""       # a training step's optimizer ("none": no step), "" for inference

    def __str__(self) -> str:
        """A short readable summary (latency in ms, exact FLOPs and bytes)."""
        from ..report.summary_text import prediction_text
        return prediction_text(self)

    def _repr_html_(self) -> str:
        from ..report.summary_text import as_html
        return as_html(str(self))


def _phase_parts(ev: OpEvent, flops) -> list[tuple[str, float, object, int]]:
    """(phase label, time share, FLOPs, bytes) parts of one op: a split backward op
    (``convolution_backward`` ...) is shared between input- and weight-gradient by its
    formula's FLOP split (FLOPs exactly; bytes by the same fraction, rounded down for
    the input part)."""
    if ev.phase == "forward":
        return [("forward", 1.0, flops, ev.bytes)]
    if ev.phase == "optimizer":
        return [("optimizer", 1.0, flops, ev.bytes)]
    if ev.grad == "split" and ev.grad_split and sum(ev.grad_split):
        a, b = ev.grad_split
        share = a / (a + b)
        fa = a if flops == ev.flops else flops * share
        ba = ev.bytes * a // (a + b)
        return [("backward input-grad", share, fa, ba),
                ("backward weight-grad", 1.0 - share, flops - fa, ev.bytes - ba)]
    label = "backward weight-grad" if ev.grad == "weight" else "backward input-grad"
    return [(label, 1.0, flops, ev.bytes)]


def layers_at_depth(layers: pd.DataFrame, depth: int | None) -> pd.DataFrame:
    """Layer rows summed to module paths cut to ``depth`` components (None: unchanged)."""
    if depth is None:
        return layers.copy()
    key = layers["module"].map(lambda m: m if m.startswith("(") else ".".join(m.split(".")[:depth]))
    g = layers.groupby(key, sort=False)
    out = g[["ops", "flops", "bytes", "time_ms", "pct_time", "compute_ms", "memory_ms",
             "overhead_ms"]].sum()
    out["module_type"] = g["module_type"].first().where(g.size() == 1, "")
    out.index.name = "module"
    out = out.reset_index()
    out["flop_per_byte"] = [f / b if b else float("nan") for f, b in zip(out["flops"], out["bytes"])]
    out["bound"] = [_bound(c, m, o) for c, m, o in zip(out["compute_ms"], out["memory_ms"],
                                                        out["overhead_ms"])]
    return out[LAYER_COLUMNS]


def _bound(compute: float, memory: float, overhead: float) -> str:
    if overhead > max(compute, memory):
        return "overhead"
    return "compute" if compute >= memory and compute > 0 else "memory"


def predict_events(events: list[OpEvent], device: Device, mode: str = "fp32", batch: int = 1,
                   training: bool = False, terms: Terms = Terms(), model_name: str = "",
                   optimizer: str = "") -> Prediction:
    """Arithmetic over a recorded event stream: no model is run here. ``optimizer``: the
    name of the optimizer the training step's events ran (shown in totals and notes)."""
    if mode not in MODE_DTYPE:
        raise UsageError(f"unknown math mode '{mode}' (choose from {', '.join(MODE_DTYPE)})")
    device.peak(mode)           # a mode the device lacks is an error up front
    rows = []
    layers: dict[str, dict] = {}
    phases: dict[str, dict] = {}
    cold = cold_bytes(events, device.cache_bytes) if terms.cold and device.cache_bandwidth_gbs else {}
    for ev in events:
        t = op_time(ev, device, mode, terms, cold.get(ev.index, 0))
        if ev.free:
            continue
        flops = int(_op_flops(ev, terms)) if terms.flops == "native" else _op_flops(ev, terms)
        rows.append((ev.index, ev.phase, ev.grad, ev.module, ev.module_type, ev.op, flops, ev.bytes,
                     ev.intensity, t.compute_s * 1e3, t.memory_s * 1e3, t.overhead_s * 1e3,
                     t.time_s * 1e3, t.bound, t.reorder_s * 1e3))
        lay = layers.setdefault(ev.module, dict(module_type=ev.module_type, ops=0, flops=0, bytes=0,
                                                c=0.0, m=0.0, o=0.0, t=0.0, r=0.0))
        lay["ops"] += 1
        lay["flops"] += flops
        lay["bytes"] += ev.bytes
        lay["c"] += t.compute_s
        lay["m"] += t.memory_s
        lay["o"] += t.overhead_s
        lay["t"] += t.time_s
        lay["r"] += t.reorder_s
        for label, share, f, b in _phase_parts(ev, flops):
            ph = phases.setdefault(label, dict(flops=0, bytes=0, t=0.0))
            ph["flops"] += f
            ph["bytes"] += b
            ph["t"] += t.time_s * share
    ops = pd.DataFrame(rows, columns=OP_COLUMNS)
    total_s = sum(v["t"] for v in layers.values())
    lrows = []
    for mod, v in layers.items():
        lrows.append((mod, v["module_type"], v["ops"], v["flops"], v["bytes"],
                      v["flops"] / v["bytes"] if v["bytes"] else float("nan"), v["t"] * 1e3,
                      100.0 * v["t"] / total_s if total_s else 0.0, _bound(v["c"], v["m"], v["o"]),
                      v["c"] * 1e3, v["m"] * 1e3, v["o"] * 1e3))
    layer_df = pd.DataFrame(lrows, columns=LAYER_COLUMNS)
    order = ["forward", "backward input-grad", "backward weight-grad", "optimizer"]
    phase_df = pd.DataFrame([(p, phases[p]["flops"], phases[p]["bytes"], phases[p]["t"] * 1e3)
                             for p in order if p in phases],
                            columns=["phase", "flops", "bytes", "time_ms"])
    total_flops = sum(v["flops"] for v in layers.values())
    total_bytes = sum(v["bytes"] for v in layers.values())
    achieved = total_flops / total_s / 1e12 if total_s else 0.0
    peak = device.peak(mode)
    totals = dict(device=device.name, mode=mode, batch=batch, training=training,
                  latency_ms=total_s * 1e3, images_per_s=batch / total_s if total_s else float("inf"),
                  flops=total_flops, bytes=total_bytes, ops=len(rows),
                  achieved_tflops=achieved, pct_of_peak=100.0 * achieved / peak,
                  compute_ms=sum(v["c"] for v in layers.values()) * 1e3,
                  memory_ms=sum(v["m"] for v in layers.values()) * 1e3,
                  overhead_ms=sum(v["o"] for v in layers.values()) * 1e3,
                  reorder_ms=sum(v["r"] for v in layers.values()) * 1e3, terms=terms.name)
    if training and optimizer:
        totals["optimizer"] = optimizer
    notes = [EAGER_NOTE,
             f"{device.name}: {mode} peak {peak:.3g} TFLOP/s x {device.compute_efficiency:g}, "
             f"{device.bandwidth_gbs:.3g} GB/s x {device.memory_efficiency:g}, "
             f"{device.overhead_us:.3g} us per op" + (" (measured)" if device.measured else
                                                    " (datasheet + stated defaults)")]
    if device.op_rate_table or device.op_overhead_us or device.cache_bandwidth_gbs:
        notes.append(f"{device.name}: fp32 convolution rates by class and output size, overheads "
                     f"by op class ({len(device.op_overhead_us)} classes)"
                     + (f", {device.cache_bandwidth_gbs:.3g} GB/s for ops whose bytes fit in "
                        f"{device.cache_bytes / 2 ** 20:.3g} MiB of cache" if device.cache_bandwidth_gbs else "")
                     + (f", oneDNN layout reorders at {device.reorder_gbs:.3g} GB/s" if device.reorder_gbs else "")
                     + (f", overheads x{device.overhead_context:.3g} for a stream of mixed op classes"
                        if device.overhead_context and not device.op_overhead_context else "")
                     + (f", overheads x{min(device.op_overhead_context.values()):.3g}-"
                        f"{max(device.op_overhead_context.values()):.3g} by op class for a stream of mixed "
                        f"op classes" if device.op_overhead_context else "")
                     + " (measured)")
    return Prediction(model_name, device, mode, batch, training, ops, layer_df, phase_df, totals, notes,
                      optimizer if training else "")


def pytorch_device(gpu_type: str, tf32: bool = False) -> Device:
    """A :class:`Device` holding PyTorch's datasheet numbers for ``gpu_type`` (its
    ``datasheet_tops`` per dtype, ``datasheet_dram_bw_gbs``) with its 0.75 factor on
    peak, full bandwidth and no overhead: with :meth:`Terms.pytorch` the model then
    computes what ``get_compute_time``/``get_transfer_time`` do."""
    import torch
    from torch._inductor.analysis.device_info import datasheet_dram_bw_gbs, datasheet_tops
    peaks = {}
    for mode, dtype in (("fp32", torch.float32), ("fp16", torch.float16), ("bf16", torch.bfloat16)):
        v = datasheet_tops(dtype, is_tf32=False, device_name=gpu_type)
        if v:
            peaks[mode] = v
    v = datasheet_tops(torch.float32, is_tf32=True, device_name=gpu_type)
    if v:
        peaks["tf32"] = v
    bw = datasheet_dram_bw_gbs(gpu_type)
    if bw is None or not peaks:
        raise UsageError(f"PyTorch's table has no device '{gpu_type}'")
    return Device(name=f"{gpu_type} (PyTorch table)", kind="gpu", peaks_tflops=peaks, bandwidth_gbs=bw,
                  compute_efficiency=0.75, memory_efficiency=1.0, overhead_us=0.0,
                  source="torch/_inductor/analysis/device_info.py")
