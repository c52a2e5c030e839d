"""``profile(...)``: time real forward passes beside the counts."""
from __future__ import annotations

import warnings
from typing import Callable, Iterable, Sequence

import pandas as pd
import torch

from ..errors import UsageError
from .compare import ratio_table
from .peaks import DTYPE_MODES
from .runner import Profiler, built_dtype
from .sweep import configurations, run_sweep


class ProfileFrame(pd.DataFrame):
    """The run rows (one per configuration), plus ``.layers`` (per-layer rows or
    None), ``.environment`` (dict) and ``.comparison`` (MAC vs time ratios)."""

    _metadata = ["layers", "environment", "comparison"]
    layers = None
    environment = None
    comparison = None

    @property
    def _constructor(self):
        return ProfileFrame


def resolve_device(device: str | None) -> tuple[str, str | None]:
    """(device, notice): None means cuda when available, else cpu with a notice."""
    if device is None:
        if torch.cuda.is_available():
            return "cuda", None
        return "cpu", "notice: CUDA is not available; profiling on cpu (choose with --device)"
    dev = str(device)
    try:
        kind = torch.device(dev).type
    except RuntimeError:
        raise UsageError(f"unknown device '{dev}' (choose cuda or cpu)") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available on this machine "
                         "(use --device cpu)")
    if kind == "cuda" and (torch.device(dev).index or 0) >= torch.cuda.device_count():
        raise UsageError(f"no device '{dev}': this machine has {torch.cuda.device_count()} "
                         f"CUDA device(s)")
    if kind not in ("cuda", "cpu"):
        raise UsageError(f"unsupported device '{dev}' (choose cuda or cpu)")
    return dev, None


def _listify(value, what: str) -> list:
    if isinstance(value, (list, tuple)):
        vals = list(value)
    else:
        vals = [value]
    if not vals:
        raise UsageError(f"{what}: give at least one value")
    return vals


def check_options(device: str, dtypes: Sequence[str], batch_sizes: Sequence[int],
                  compile_opts: Sequence[bool], graph_opts: Sequence[bool],
                  per_layer: bool) -> None:
    """One clear UsageError for any combination that cannot run."""
    for d in dtypes:
        if d not in DTYPE_MODES:
            raise UsageError(f"unknown dtype '{d}' (choose from {', '.join(DTYPE_MODES)})")
    for b in batch_sizes:
        if isinstance(b, bool) or not isinstance(b, int) or b <= 0:
            raise UsageError(f"batch sizes must be positive integers (got {b!r})")
    cuda = torch.device(device).type == "cuda"
    if not cuda and "tf32" in dtypes:
        raise UsageError("dtype tf32 needs CUDA (TensorFloat-32 is a GPU tensor-core mode)")
    if not cuda and any(graph_opts):
        raise UsageError("CUDA graphs need --device cuda")
    if per_layer and (any(compile_opts) or any(graph_opts)):
        raise UsageError("--per-layer needs eager mode: drop --compile / --cuda-graphs")


def profile(model_or_name, batch_sizes: Iterable[int] = (1,), device: str | None = None,
            dtype="fp32", channels_last=False, compile=False, cuda_graphs=False,
            warmup: int | None = None, iters: int | None = None, per_layer: bool = False, *,
            input_size: tuple[int, int, int] | None = None, peak_tflops: float | None = None,
            peak_bandwidth: float | None = None, output: str | None = None,
            layers_output: str | None = None, resume: bool = False, progress=False,
            seed: int = 0, notify: Callable[[str], None] | None = None,
            inputs=None) -> ProfileFrame:
    """Time forward passes of one or more models; one row per configuration.

    ``model_or_name``: a variant name / model spec (``googlenet``,
    ``torchvision:googlenet``, ...), an ``nn.Module``, or a list of them.
    ``dtype`` (fp32|tf32|fp16|bf16), ``channels_last``, ``compile`` and
    ``cuda_graphs`` each take one value or a list: the sweep is their cross
    product with ``batch_sizes``. ``device=None``: cuda when available, else cpu.
    ``warmup``/``iters`` default to 10/50 on CUDA and 3/20 on CPU.
    ``output``: CSV path, each finished configuration appended at once;
    ``layers_output``: the same for per-layer rows. ``inputs``: the forward arguments
    without the batch (``ProfileInput``s: several, keyword, integer) instead of one image
    of ``input_size``. Units: times in ms,
    throughput in images/s, achieved/peak in TFLOP/s, bandwidth in TB/s,
    memory in bytes.
    """
    dev, notice = resolve_device(device)
    say = notify or (lambda msg: warnings.warn(msg, stacklevel=3))
    if notice:
        say(notice)
    specs = _listify(model_or_name, "model")
    dtypes = [str(d).lower() for d in _listify(dtype, "dtype")]
    batches = _listify(list(batch_sizes) if not isinstance(batch_sizes, int) else batch_sizes,
                       "batch_sizes")
    layouts = [bool(v) for v in _listify(channels_last, "channels_last")]
    compiles = [bool(v) for v in _listify(compile, "compile")]
    graphs = [bool(v) for v in _listify(cuda_graphs, "cuda_graphs")]
    check_options(dev, dtypes, batches, compiles, graphs, per_layer)
    prof = Profiler(dev, warmup, iters, peak_tflops, peak_bandwidth, seed=seed, notify=say)
    labels = [prof.add(s, input_size=input_size, inputs=inputs) for s in specs]
    for label in labels:     # a model built in fp16/bf16 runs in that dtype only
        built = built_dtype(prof.models[label][0])
        if built and any(d != built for d in dtypes):
            raise UsageError(f"{label} is built in {built} (.half() or .to()): profile it "
                             f"with --dtype {built} (dtype='{built}'), not "
                             f"{','.join(d for d in dtypes if d != built)}")
    if torch.device(dev).type == "cpu":
        for label in labels:
            for d in dtypes:
                if d in ("fp16", "bf16"):
                    prof.check_dtype(label, d)
    configs = configurations(labels, batches, dtypes, layouts, compiles, graphs)
    runs, layers = run_sweep(configs, lambda c: prof.run(c, per_layer=per_layer), prof.env,
                             csv_path=output, layers_path=layers_output if per_layer else None,
                             resume=resume, progress=progress, notify=say,
                             result_options=prof.result_options)
    result = ProfileFrame(runs)
    result.layers = layers if per_layer else None
    result.environment = dict(prof.env)
    result.comparison = ratio_table(runs) if len(labels) > 1 else None
    return result
