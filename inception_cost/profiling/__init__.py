"""Timing real forward passes (CUDA events, or perf_counter on CPU) beside the counts:
whole-model latency statistics, throughput, memory, achieved TFLOP/s, and per-layer
time on a roofline. Times are ms; rates TFLOP/s; bandwidth TB/s; memory bytes."""
from .api import ProfileFrame, profile, resolve_device
from .compare import ratio_table
from .peaks import lookup, resolve_peaks
from .prepare import RunConfig
from .runner import Profiler
from .sweep import LAYER_CONFIG_COLUMNS, RUN_COLUMNS, CsvAppender, configurations, run_sweep

__all__ = ["profile", "ProfileFrame", "resolve_device", "ratio_table",
           "lookup", "resolve_peaks", "RunConfig", "Profiler", "RUN_COLUMNS",
           "LAYER_CONFIG_COLUMNS", "CsvAppender", "configurations", "run_sweep"]
