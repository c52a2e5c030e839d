"""``inception-cost calibrate``: bad input is one line and exit 2 with nothing written; a
quick calibration writes a profile that ``predict --on FILE`` reads back."""
from __future__ import annotations

import json

import pytest
import torch

from inception_cost.timing_model.calibrate import best_time
from inception_cost.timing_model.devices import load_device_file
from tests.micro import run


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_is_one_line_and_writes_nothing(tmp_path, capsys):
    target = tmp_path / "gpu.json"
    code, out, err = run(["calibrate", "--device", "cuda", "-o", str(target)], capsys)
    assert code == 2 and err == "error: --device cuda: no CUDA GPU is visible to PyTorch on this machine\n"
    assert not target.exists()


def test_unknown_device(tmp_path, capsys):
    target = tmp_path / "x.json"
    code, out, err = run(["calibrate", "--device", "tpu", "-o", str(target)], capsys)
    assert code == 2 and err.startswith("error: --device must be cpu or cuda") and not target.exists()


def test_best_time_keeps_the_fastest_run():
    delays = iter([0.0, 0.0, 0.03, 0.01, 0.02])     # two warm-up calls, then three timed runs
    import time

    def fn():
        time.sleep(next(delays))
    t = best_time(fn, "cpu", repeats=3, warmup=2)
    assert 0.01 <= t < 0.02


def test_quick_profile_round_trip(tmp_path, capsys):
    target = tmp_path / "cpu.json"
    code, out, err = run(["calibrate", "--quick", "-o", str(target)], capsys)
    assert code == 0, err
    data = json.loads(target.read_text())
    gemm = next(m for m in data["measurements"] if m["name"].startswith("gemm fp32"))
    n = int(gemm["name"].split()[-1].split("x")[0])
    # the rate is the GEMM's 2 n^3 FLOPs over its best time
    assert gemm["value"] == pytest.approx(2 * n ** 3 / gemm["best_s"] / 1e12)
    dev = load_device_file(str(target))
    assert dev.measured and dev.kind == "cpu" and dev.compute_efficiency == 1.0
    assert dev.peaks_tflops["fp32"] == gemm["value"]
    code, out, err = run(["predict", "googlenet", "--on", str(target), "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["totals"][0]["device"] == dev.name
