"""Times one configuration of one model: whole-model and (optionally) per layer.

Each model is built once on the real device with a fixed seed (``build`` on
"meta" has no storage), counted once per batch size on the meta device, and
copied into each configuration's dtype and memory format.
"""
from __future__ import annotations

import copy
import math
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from ..counting import count
from ..counting.engine import ForwardError
from ..errors import UsageError
from ..memory_analysis.profile_join import predicted_columns
from ..models.resolve import example_inputs, resolve_model
from . import roofline as rl
from .environment import environment
from .peaks import resolve_peaks
from .per_layer import join_layers, module_costs, time_layers
from .prepare import (ProfileInput, RunConfig, backend_settings, capture_graph, compiled,
                      image_input, input_text, make_inputs, prepare_model)
from .sweep import CONFIG_COLUMNS
from .timing import CV_WARN, clock_for, stats, time_calls, warm_up

DEFAULTS = {"cuda": (10, 50), "cpu": (3, 20)}  # (warm-up, timed) iterations
COMPILE_MIN_WARMUP = 3  # compile + reduce-overhead needs a few calls before it replays


def default_iterations(device: str) -> tuple[int, int]:
    return DEFAULTS["cuda" if torch.device(device).type == "cuda" else "cpu"]



def _in_dtype_of(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Float inputs in the model's own float dtype (fp16 for a ``.half()`` model)."""
    from ..counting.inputs import float_dtype
    dt = float_dtype(module)
    if dt is None or dt == torch.float32:
        return args, kwargs
    to = lambda t: t.to(dt) if isinstance(t, torch.Tensor) and t.is_floating_point() else t  # noqa: E731
    return tuple(to(a) for a in args), {k: to(v) for k, v in kwargs.items()}


def built_dtype(module: nn.Module) -> str | None:
    """'fp16' or 'bf16' for a model built in that dtype (``.half()``), else None."""
    from ..counting.inputs import float_dtype
    return {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(float_dtype(module))


def example_profile_inputs(example) -> tuple:
    """A factory's example inputs (``(model, example_inputs)``) as profile inputs without
    their batch: floats in the configuration's dtype, integers drawn from the example's
    own range (min..max), keyword tensors by name; () when there are none."""
    if example is None:
        return ()
    if isinstance(example, torch.Tensor):
        example = (example,)
    named = list(example.items()) if isinstance(example, dict) else [(None, t) for t in example]
    out = []
    for key, t in named:
        if t.is_floating_point():
            out.append(ProfileInput(tuple(t.shape[1:]), keyword=key))
        else:
            values = t.detach().to("cpu") if not t.is_meta else None
            low = int(values.min()) if values is not None and values.numel() else 0
            high = int(values.max()) + 1 if values is not None and values.numel() else 1
            out.append(ProfileInput(tuple(t.shape[1:]), t.dtype, low, high, key))
    return tuple(out)

class Profiler:
    """Holds the built models, their counts and the environment of one device."""

    def __init__(self, device: str, warmup: int | None = None, iters: int | None = None,
                 peak_tflops: float | None = None, peak_bandwidth: float | None = None,
                 seed: int = 0, notify: Callable[[str], None] | None = None):
        dw, di = default_iterations(device)
        self.device = device
        self.cuda = torch.device(device).type == "cuda"
        self.warmup = dw if warmup is None else int(warmup)
        self.iters = di if iters is None else int(iters)
        if self.warmup < 0:
            raise UsageError(f"--warmup must be >= 0 (got {self.warmup})")
        if self.iters < 2:
            raise UsageError(f"--iters must be >= 2 (got {self.iters})")
        self.peak_override = (peak_tflops, peak_bandwidth)
        resolve_peaks("", "fp32", peak_tflops, peak_bandwidth)  # validates the overrides
        self.seed = seed
        self.notify = notify or (lambda msg: None)
        self.env = environment(device)
        self.models: dict[str, tuple[nn.Module, tuple[int, ...]]] = {}
        self.inputs: dict[str, tuple[ProfileInput, ...]] = {}
        self._reports: dict[tuple[str, int], object] = {}

    # models ---------------------------------------------------------------
    def add(self, spec, input_size: tuple[int, int, int] | None = None,
            inputs: tuple[ProfileInput, ...] | None = None) -> str:
        """Build (name/spec) or adopt (nn.Module) a model; returns its label. ``inputs``:
        its forward arguments without the batch (default: one image of ``input_size``, or
        of the model's own size)."""
        if isinstance(spec, nn.Module):
            label = type(spec).__name__
            chw = input_size or tuple(getattr(spec, "default_input_size", (3, 224, 224)))
            module = copy.deepcopy(spec).to(self.device).eval()
        elif isinstance(spec, str):
            torch.manual_seed(self.seed)
            module, chw, label = resolve_model(spec, device=self.device)
            chw = input_size or chw
        else:
            raise UsageError(f"cannot profile a {type(spec).__name__}: give a variant name or an "
                             f"nn.Module")
        base, n = label, 2
        while label in self.models:
            label, n = f"{base}#{n}", n + 1
        if not inputs and isinstance(spec, str):
            inputs = example_profile_inputs(example_inputs(module))
        inputs = tuple(inputs) if inputs else image_input(chw)
        self.models[label] = (module, inputs[0].shape)
        self.inputs[label] = inputs
        self.report(label, 1)  # fails early (and clearly) if the input does not fit
        return label

    def report(self, label: str, batch: int):
        """The count of ``label`` at this batch (meta device, cached)."""
        key = (label, batch)
        if key not in self._reports:
            module, _ = self.models[label]
            args, kwargs = make_inputs(self.inputs[label], RunConfig(label, batch=batch), "meta")
            args, kwargs = _in_dtype_of(module, args, kwargs)
            inputs = (args, kwargs) if kwargs and args else (kwargs or args)
            try:
                self._reports[key] = count(module, inputs=inputs, name=label)
            except ForwardError as e:
                raise UsageError(f"{label}: {e}") from None
        return self._reports[key]

    def check_dtype(self, label: str, dtype: str) -> None:
        """One batch-1 forward in ``dtype``; a clear UsageError if the device lacks a kernel."""
        module, _ = self.models[label]
        config = RunConfig(label, dtype)
        try:
            with torch.inference_mode():
                args, kwargs = make_inputs(self.inputs[label], config, self.device, self.seed)
                prepare_model(module, config)(*args, **kwargs)
        except (NotImplementedError, RuntimeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UsageError(f"{label} cannot run in {dtype} on {self.device}: {first} "
                             f"(try --dtype fp32 or bf16)") from None

    # timing ---------------------------------------------------------------
    def _time_whole(self, model: nn.Module, inputs: tuple[tuple, dict], config: RunConfig):
        """(times ms, peak allocated bytes, baseline bytes) of one configuration;
        ``inputs``: (positional, keyword) tensors."""
        args, kwargs = inputs
        clock = clock_for(self.device)
        peak = baseline = math.nan
        if config.cuda_graphs and not config.compile:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            baseline = torch.cuda.memory_allocated()
            graph, _out = capture_graph(lambda: model(*args, **kwargs), self.warmup)
            peak = torch.cuda.max_memory_allocated()
            warm_up(graph.replay, self.warmup, self.device)
            return time_calls(graph.replay, self.iters, clock), peak, baseline
        target = compiled(model, config) if config.compile else model
        warmup = max(self.warmup, COMPILE_MIN_WARMUP) if config.compile else self.warmup

        def forward():
            return target(*args, **kwargs)
        warm_up(forward, warmup, self.device)
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            baseline = torch.cuda.memory_allocated()
        times = time_calls(forward, self.iters, clock)
        if self.cuda:
            peak = torch.cuda.max_memory_allocated()
        return times, peak, baseline

    def run(self, config: RunConfig, per_layer: bool = False):
        """(run row, per-layer rows or None) of one configuration."""
        if per_layer and (config.compile or config.cuda_graphs):
            raise UsageError("per-layer timing needs eager mode (hooks do not run inside "
                             "compiled code or CUDA-graph replays)")
        module, _ = self.models[config.variant]
        report = self.report(config.variant, config.batch)
        layers = None
        with backend_settings(self.device, config.dtype), torch.inference_mode():
            model = prepare_model(module, config)
            args, kwargs = make_inputs(self.inputs[config.variant], config, self.device,
                                       self.seed)
            times, peak, baseline = self._time_whole(model, (args, kwargs), config)
            if per_layer:
                layer_times, roots = time_layers(model, lambda: model(*args, **kwargs),
                                                 self.warmup, self.iters,
                                                 clock_for(self.device))
            del model, args, kwargs
        row = self._row(config, report, times, peak, baseline)
        if per_layer:
            layers = self._layers(config, report, row, layer_times, roots)
            gap = float(layers["gap_pct"].iloc[0])
            row["message"] = "; ".join(m for m in (row["message"], (
                f"per-layer sum {layers['layers_sum_ms'].iloc[0]:.3f} ms vs whole "
                f"{row['median_ms']:.3f} ms (gap {gap:+.1f}%)")) if m)
            if abs(gap) > 10:
                self.notify(f"{config.label()}: per-layer times differ by {gap:+.1f}% from the "
                            f"whole-model time (> 10%: hook overhead or noisy timing)")
        return row, layers

    # rows -----------------------------------------------------------------
    def result_options(self, config: RunConfig) -> dict:
        """What a row of ``config`` records from the options beyond the configuration
        (the sweep's ``RESULT_OPTIONS``): ``--resume`` skips only rows that match."""
        peak_t, bw, _ = self.peaks(config.dtype)
        return {"input": input_text(self.inputs[config.variant]), "warmup": self.warmup,
                "iters": self.iters,
                "torch_threads": self.env["torch_threads"], "peak_tflops": peak_t,
                "peak_bandwidth_tbs": bw}

    def peaks(self, dtype: str) -> tuple[float, float, str]:
        name = self.env["gpu_name"] if self.cuda else ""
        return resolve_peaks(name, dtype, *self.peak_override)

    def _row(self, config: RunConfig, report, times, peak, baseline) -> dict:
        st = stats(times)
        seconds = st["median_ms"] / 1e3
        peak_t, bw, source = self.peaks(config.dtype)
        nbytes = rl.DTYPE_BYTES[config.dtype]
        layers = report.layers
        elements = sum(rl.op_elements(*r) for r in zip(layers["op"], layers["in_shape"],
                                                        layers["weight_shape"], layers["out_shape"]))
        flops = report.total_flops
        intens = rl.intensity(flops, elements * nbytes)
        achieved = rl.achieved_tflops(flops, seconds)
        message = ""
        if st["cv"] > CV_WARN:
            message = f"CV {100 * st['cv']:.1f}% > {100 * CV_WARN:.0f}%: noisy timing"
            self.notify(f"{config.label()}: {message}")
        return {
            **self.env, **config.as_dict(), "status": "ok", "message": message,
            "input": input_text(self.inputs[config.variant]), "warmup": self.warmup,
            "iters": self.iters, **st,
            "images_per_s": config.batch / seconds, "macs": report.total_macs, "flops": flops,
            "params": report.total_params, "macs_per_s": report.total_macs / seconds,
            "achieved_tflops": achieved, "peak_tflops": peak_t, "peak_bandwidth_tbs": bw,
            "peak_source": source, "pct_of_peak": rl.percent(achieved, peak_t),
            "bytes": elements * nbytes, "intensity_flop_per_byte": intens,
            "bound": rl.bound(intens, peak_t, bw), "attainable_tflops": rl.attainable_tflops(intens, peak_t, bw),
            "peak_mem_bytes": peak, "baseline_mem_bytes": baseline,
            "analytic_activation_bytes": report.total_activations * nbytes,
            **predicted_columns(self.models[config.variant][0], self.inputs[config.variant],
                                config.batch, config.dtype, peak),
        }

    def _layers(self, config, report, row, times: pd.DataFrame, roots) -> pd.DataFrame:
        peak_t, bw, _ = self.peaks(config.dtype)
        df = join_layers(times, module_costs(report.layers), config.dtype, peak_t, bw)
        total = float(df["time_ms"].sum(skipna=True))
        whole = row["median_ms"]
        head = {c: row[c] for c in CONFIG_COLUMNS}
        head.update(whole_ms=whole, hooked_ms=float(np.median(roots)), layers_sum_ms=total,
                    gap_pct=100.0 * (total - whole) / whole)
        for i, (k, v) in enumerate(head.items()):
            df.insert(i, k, [v] * len(df))
        return df
