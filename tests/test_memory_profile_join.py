"""The profiler sweep carries the predicted inference peak beside the measured
``torch.cuda.max_memory_allocated``; on CPU the measured column stays empty."""
import math

import pytest
import torch.nn as nn

from inception_cost.memory_analysis.profile_join import gap_pct
from inception_cost.profiling.api import profile
from inception_cost.profiling.sweep import RUN_COLUMNS


def test_cpu_sweep_has_predicted_peak_and_empty_measured():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(),
                          nn.Flatten(), nn.Linear(8 * 16 * 16, 10, bias=False))
    res = profile(model, [1, 2], device="cpu", input_size=(3, 16, 16), warmup=1, iters=2,
                  notify=lambda _m: None)
    assert {"predicted_peak_bytes", "peak_gap_pct"} <= set(RUN_COLUMNS)

    def blocks(n):  # the CUDA caching allocator's 512-byte rounding
        return -(-n // 512) * 512

    def peak(n):
        # After the ReLU (not in place): params + input + conv output + ReLU output.
        params = blocks(8 * 27 * 4) + blocks(2048 * 10 * 4)
        return params + blocks(n * 3 * 256 * 4) + 2 * blocks(n * 8 * 256 * 4)

    assert peak(2) == 1024 + 81920 + 6144 + 16384 + 16384
    assert list(res["predicted_peak_bytes"]) == [peak(1), peak(2)]
    assert all(math.isnan(float(v)) for v in res["peak_mem_bytes"])
    assert all(math.isnan(float(v)) for v in res["peak_gap_pct"])


def test_gap_is_measured_over_predicted():
    assert gap_pct(110, 100) == pytest.approx(10.0)
    assert gap_pct(90, 100) == pytest.approx(-10.0)
    assert math.isnan(gap_pct(float("nan"), 100))
