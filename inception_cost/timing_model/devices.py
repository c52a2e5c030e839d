"""Devices a prediction can target: the datasheet catalog (``devices.json``), a user's
device file, or a profile written by ``inception-cost calibrate``.

A :class:`Device` holds dense peaks in TFLOP/s per math mode (``fp32``: the FP32 pipe;
``tf32``; ``fp16``/``bf16``: tensor cores with FP32 accumulate), memory bandwidth
(GB/s, 1 GB = 1e9 bytes) and size (GB), and the three terms of the timing model that
are not datasheet facts: the fraction of peak a large matrix product achieves
(``compute_efficiency``), the fraction of bandwidth a streaming kernel achieves
(``memory_efficiency``), and the fixed cost of launching one op (``overhead_us``,
microseconds).  Catalog devices take the stated defaults below; a calibrated device
stores what was measured (its peaks are then achieved rates and its efficiencies 1), and
may hold measured rates of op classes whose kernels run far from the GEMM rate
(``op_tflops``, fp32: the convolution classes of :func:`~inception_cost.timing_model.model.op_keys`,
pooling kernels), a measured overhead per op class (``op_overhead_us``, microseconds), a
second, higher bandwidth for ops whose bytes fit the last-level cache
(``cache_bandwidth_gbs`` for working sets of at most ``cache_bytes`` bytes), and the
torch thread count it was measured with (``threads``; it decides which CPU convolution
kernel PyTorch picks), and a convolution class's rate at several output sizes
(``op_rate_table``: class -> sorted ``(output pixels per image, TFLOP/s)`` pairs,
interpolated in log pixels), and the bandwidth of oneDNN's layout reorders
(``reorder_gbs``, GB/s: a CPU convolution on oneDNN reorders its plain tensors into
blocked layouts and back on every call; see :func:`~inception_cost.timing_model.model.reorder_bytes`).
``overhead_context`` multiplies every per-op overhead: the ratio of tiny calls' time
interleaved by op class (as a forward runs them) to the same calls grouped by class (as
the overheads are measured); ``op_overhead_context`` holds the same ratio per op class
(keys of ``op_overhead_us``, and ``(tiny op)`` for ops priced at ``overhead_us``), timed
call by call within the two orders, and replaces ``overhead_context`` for the classes it
names.  A profile written before ``reorder_gbs``,
``overhead_context`` or ``op_overhead_context`` existed loads unchanged and predicts as before
(no reorder term; its convolution rates already include the reorders at their shapes).

A device file is JSON (or TOML) with the catalog's fields, one device::

    {"name": "My GPU", "kind": "gpu", "peaks_tflops": {"fp32": 20, "fp16": 160},
     "bandwidth_gbs": 800, "memory_gb": 16, "source": "vendor datasheet"}
"""
from __future__ import annotations

import difflib
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache

from ..errors import UsageError

MODES = ("fp32", "tf32", "fp16", "bf16")
"""Math modes: FP32 pipe, TF32 tensor cores, FP16 / BF16 tensor cores (FP32 accumulate)."""

DEFAULT_COMPUTE_EFFICIENCY = 0.75
"""Catalog GPUs: fraction of the datasheet peak a large GEMM/convolution achieves
(the factor PyTorch's roofline estimator uses)."""
DEFAULT_MEMORY_EFFICIENCY = 0.8
"""Catalog GPUs: fraction of datasheet bandwidth a streaming kernel achieves."""
DEFAULT_OVERHEAD_US = 5.0
"""Catalog GPUs: microseconds per op of eager PyTorch (dispatch + kernel launch)."""

FORMAT = "inception-cost devices"
PROFILE_FORMAT = "inception-cost device profile"


TINY_OP_KEY = "(tiny op)"
"""The key of ``op_overhead_context`` for ops priced at a device's ``overhead_us``."""


@dataclass(frozen=True)
class Device:
    """One target device.  Units: TFLOP/s (dense, FMA = 2 FLOPs), GB/s, GB, microseconds."""

    name: str
    kind: str                                  # "gpu" | "cpu"
    peaks_tflops: dict                         # mode -> TFLOP/s
    bandwidth_gbs: float
    memory_gb: float | None = None
    aliases: tuple = ()
    source: str = ""
    compute_efficiency: float = DEFAULT_COMPUTE_EFFICIENCY
    memory_efficiency: float = DEFAULT_MEMORY_EFFICIENCY
    overhead_us: float = DEFAULT_OVERHEAD_US
    op_tflops: dict = field(default_factory=dict)   # measured fp32 rate per op class (calibrated)
    measured: bool = False
    op_overhead_us: dict = field(default_factory=dict)  # measured overhead per op class (us)
    cache_bandwidth_gbs: float | None = None   # GB/s for an op whose bytes fit in cache_bytes
    cache_bytes: int | None = None             # last-level cache size (bytes)
    threads: int | None = None                 # torch CPU threads of the calibration
    op_rate_table: dict = field(default_factory=dict)  # class -> [[output pixels, TFLOP/s], ...]
    reorder_gbs: float | None = None           # oneDNN layout reorder bandwidth (GB/s, calibrated CPU)
    overhead_context: float | None = None      # per-op overhead in a mixed op stream / in a class loop
    op_overhead_context: dict = field(default_factory=dict)  # the same ratio per op class (x)

    def peak(self, mode: str) -> float:
        """Dense peak of ``mode`` in TFLOP/s; UsageError when the device has none."""
        v = self.peaks_tflops.get(mode)
        if v is None:
            have = ", ".join(m for m in MODES if m in self.peaks_tflops)
            raise UsageError(f"{self.name} has no {mode} peak (it has: {have})")
        return float(v)

    @property
    def ridge(self) -> dict:
        """FLOPs per byte where compute and memory time are equal, per mode."""
        return {m: v * 1e12 / (self.bandwidth_gbs * 1e9) for m, v in self.peaks_tflops.items()}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["aliases"] = list(self.aliases)
        return d


def _positive(v, what: str, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise UsageError(f"{where}: {what} must be a positive number (got {v!r})")
    return float(v)


def device_from_dict(d, where: str) -> Device:
    """A validated :class:`Device` from a parsed file entry (UsageError when damaged)."""
    if not isinstance(d, dict):
        raise UsageError(f"{where}: a device must be an object with name, peaks_tflops and bandwidth_gbs")
    name = d.get("name")
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"{where}: a device needs a non-empty 'name'")
    peaks = d.get("peaks_tflops")
    if not isinstance(peaks, dict) or not peaks:
        raise UsageError(f"{where}: device '{name}' needs 'peaks_tflops' (e.g. {{\"fp32\": 19.5}})")
    for m in peaks:
        if m not in MODES:
            raise UsageError(f"{where}: device '{name}' has an unknown mode '{m}' "
                             f"(modes: {', '.join(MODES)})")
    peaks = {m: _positive(v, f"peaks_tflops.{m}", where) for m, v in peaks.items()}
    rates = d.get("op_tflops") or {}
    if not isinstance(rates, dict) or not all(isinstance(k, str) for k in rates):
        raise UsageError(f"{where}: device '{name}' has a malformed 'op_tflops'")
    rates = {k: _positive(v, f"op_tflops.{k}", where) for k, v in rates.items()}
    overheads = d.get("op_overhead_us") or {}
    if not isinstance(overheads, dict) or not all(isinstance(k, str) for k in overheads):
        raise UsageError(f"{where}: device '{name}' has a malformed 'op_overhead_us'")
    for k, v in overheads.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v >= 0):
            raise UsageError(f"{where}: op_overhead_us.{k} must be a number >= 0 (got {v!r})")
    cache_bw = d.get("cache_bandwidth_gbs")
    cache_bw = None if cache_bw is None else _positive(cache_bw, "cache_bandwidth_gbs", where)
    cache_bytes = d.get("cache_bytes")
    if cache_bytes is not None and (isinstance(cache_bytes, bool) or not isinstance(cache_bytes, int)
                                    or cache_bytes <= 0):
        raise UsageError(f"{where}: cache_bytes must be a positive integer (got {cache_bytes!r})")
    if (cache_bw is None) != (cache_bytes is None):
        raise UsageError(f"{where}: device '{name}' needs both cache_bandwidth_gbs and cache_bytes, or neither")
    table = d.get("op_rate_table") or {}
    if not isinstance(table, dict):
        raise UsageError(f"{where}: device '{name}' has a malformed 'op_rate_table'")
    clean_table = {}
    for k, pts in table.items():
        ok = isinstance(k, str) and isinstance(pts, list) and pts and all(
            isinstance(pt, list) and len(pt) == 2 for pt in pts)
        if not ok:
            raise UsageError(f"{where}: op_rate_table.{k} must be a list of [output pixels, TFLOP/s] pairs")
        clean_table[k] = sorted((_positive(a, f"op_rate_table.{k} pixels", where),
                                 _positive(b, f"op_rate_table.{k} rate", where)) for a, b in pts)
    context = d.get("overhead_context")
    context = None if context is None else _positive(context, "overhead_context", where)
    op_context = d.get("op_overhead_context") or {}
    if not isinstance(op_context, dict) or not all(isinstance(k, str) for k in op_context):
        raise UsageError(f"{where}: device '{name}' has a malformed 'op_overhead_context'")
    op_context = {k: _positive(v, f"op_overhead_context.{k}", where) for k, v in op_context.items()}
    reorder = d.get("reorder_gbs")
    reorder = None if reorder is None else _positive(reorder, "reorder_gbs", where)
    threads = d.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads <= 0):
        raise UsageError(f"{where}: threads must be a positive integer (got {threads!r})")
    kind = d.get("kind", "gpu")
    if kind not in ("gpu", "cpu"):
        raise UsageError(f"{where}: device '{name}' kind must be 'gpu' or 'cpu' (got {kind!r})")
    mem = d.get("memory_gb")
    aliases = d.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise UsageError(f"{where}: device '{name}' aliases must be a list of names")
    eff_c = _positive(d.get("compute_efficiency", DEFAULT_COMPUTE_EFFICIENCY), "compute_efficiency", where)
    eff_m = _positive(d.get("memory_efficiency", DEFAULT_MEMORY_EFFICIENCY), "memory_efficiency", where)
    if eff_c > 1 or eff_m > 1:
        raise UsageError(f"{where}: device '{name}' efficiencies must be at most 1")
    overhead = d.get("overhead_us", DEFAULT_OVERHEAD_US)
    if isinstance(overhead, bool) or not isinstance(overhead, (int, float)) or not overhead >= 0:
        raise UsageError(f"{where}: overhead_us must be a number >= 0 (got {overhead!r})")
    return Device(name=name.strip(), kind=kind, peaks_tflops=peaks,
                  bandwidth_gbs=_positive(d.get("bandwidth_gbs"), "bandwidth_gbs", where),
                  memory_gb=None if mem is None else _positive(mem, "memory_gb", where),
                  aliases=tuple(aliases), source=str(d.get("source", "")),
                  compute_efficiency=eff_c, memory_efficiency=eff_m, overhead_us=float(overhead),
                  op_tflops=rates, measured=bool(d.get("measured", False)),
                  op_overhead_us={k: float(v) for k, v in overheads.items()},
                  cache_bandwidth_gbs=cache_bw, cache_bytes=cache_bytes, threads=threads,
                  op_rate_table=clean_table, reorder_gbs=reorder, overhead_context=context,
                  op_overhead_context=op_context)


@lru_cache(maxsize=1)
def catalog() -> tuple[Device, ...]:
    """The datasheet catalog shipped with the package."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "devices.json")
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return tuple(device_from_dict(d, "devices.json") for d in data["devices"])


def normalise(name: str) -> str:
    """Case, spaces, dashes and underscores do not matter: 'RTX 4090' == 'rtx-4090'."""
    return re.sub(r"[\s_\-]+", "", name).lower()


def _index() -> dict[str, Device]:
    out: dict[str, Device] = {}
    for dev in catalog():
        for n in (dev.name, *dev.aliases):
            out.setdefault(normalise(n), dev)
    return out


def load_device_file(path: str) -> Device:
    """A device from a user's JSON/TOML file or a calibrated profile; UsageError when it
    is unreadable, not a device file, or its values are not positive."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        raise UsageError(f"cannot read device file '{path}': {e.strerror or e}") from None
    try:
        if path.lower().endswith(".toml"):
            import tomllib
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise UsageError(f"device file '{path}' is not valid {'TOML' if path.lower().endswith('.toml') else 'JSON'}: "
                         f"{str(e).splitlines()[0]}") from None
    if isinstance(data, dict) and isinstance(data.get("devices"), list):
        if len(data["devices"]) != 1:
            raise UsageError(f"device file '{path}' holds {len(data['devices'])} devices; give one")
        data = data["devices"][0]
    elif isinstance(data, dict) and data.get("format") == PROFILE_FORMAT:
        data = data.get("device")
    if not isinstance(data, dict) or "peaks_tflops" not in data:
        raise UsageError(f"'{path}' is not a device file (it needs name, peaks_tflops and bandwidth_gbs)")
    return device_from_dict(data, f"device file '{path}'")


def find_device(spec: str) -> Device:
    """A catalog device by name (case, spaces and dashes ignored) or a device file path."""
    if not isinstance(spec, str) or not spec.strip():
        raise UsageError("--on needs a device name (see `inception-cost devices`) or a device file")
    key = normalise(spec)
    idx = _index()
    if key in idx:
        return idx[key]
    if os.path.exists(spec) or spec.lower().endswith((".json", ".toml")):
        return load_device_file(spec)
    close = difflib.get_close_matches(key, list(idx), n=3, cutoff=0.5)
    names = list(dict.fromkeys(idx[c].name for c in close))
    hint = f"; did you mean {' or '.join(repr(n) for n in names)}?" if names else ""
    raise UsageError(f"unknown device '{spec}'{hint} (`inception-cost devices` lists them)")
