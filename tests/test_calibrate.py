"""``inception-cost calibrate``: bad input is one line and exit 2 with nothing written; a
quick calibration writes a profile that ``predict --on FILE`` reads back."""
from __future__ import annotations

import json

import pytest
import torch

from inception_cost.timing_model.calibrate import best_time, median_time
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


def test_median_time_keeps_the_middle_run():
    delays = iter([0.0, 0.0, 0.03, 0.01, 0.02])     # two warm-up calls, then three timed runs
    import time

    def fn():
        time.sleep(next(delays))
    t = median_time(fn, "cpu", repeats=3, warmup=2)
    assert 0.02 <= t < 0.03


def test_quick_profile_round_trip(tmp_path, capsys):
    target = tmp_path / "cpu.json"
    code, out, err = run(["calibrate", "--quick", "-o", str(target)], capsys)
    assert code == 0, err
    data = json.loads(target.read_text())
    gemm = next(m for m in data["measurements"] if m["name"].startswith("gemm fp32"))
    n = int(gemm["name"].split()[-1].split("x")[0])
    # the rate is the GEMM's 2 n^3 FLOPs over its median time
    assert gemm["value"] == pytest.approx(2 * n ** 3 / gemm["median_s"] / 1e12)
    dev = load_device_file(str(target))
    assert dev.measured and dev.kind == "cpu" and dev.compute_efficiency == 1.0
    assert dev.peaks_tflops["fp32"] == gemm["value"]
    assert dev.threads == torch.get_num_threads()
    # the oneDNN reorder: a blocked 16 x 64 x 16 x 16 fp32 tensor back to NCHW, read once
    # and written once, over its median time
    ms = {m["name"]: m for m in data["measurements"]}
    reorder = next(m for m in data["measurements"] if m["name"].startswith("oneDNN reorder"))
    assert dev.reorder_gbs == pytest.approx(2 * 4 * 16 * 64 * 16 * 16 / reorder["median_s"] / 1e9)
    # the 3x3 oneDNN table at 14 x 14 outputs per image, batch 2, 256 -> 256 channels:
    # 2 * (2 * 256 * 14 * 14 * 256 * 9) FLOPs over (its time - the class's tiny call - its
    # reorders: input 2*256*14*14*4 B, weight 256*256*9*4 B, output as the input, each
    # read and written once, at the reorder bandwidth)
    tiny = ms["convolution_kxk overhead (tiny call)"]
    point = ms["conv 3x3, batch 2 at 392 output pixels"]
    flops = 2 * (2 * 256 * 14 * 14 * 256 * 9)
    layout = 2 * (401408 + 2359296 + 401408) / (dev.reorder_gbs * 1e9)
    t = point["median_s"]
    assert point["value"] == pytest.approx(flops / max(t - tiny["median_s"] - layout, t / 4) / 1e12)
    assert dev.op_overhead_us["convolution_kxk"] == pytest.approx(tiny["median_s"] * 1e6)
    assert dict(dev.op_rate_table["convolution_kxk"])[392.0] == pytest.approx(point["value"])
    # the native kernel's table counts pixels per image (batch 1); every class has a table
    assert {"convolution_kxk", "convolution_1x1", "convolution_depthwise", "convolution_grouped",
            "convolution_kxk_native", "convolution_1x1_native"} <= set(dev.op_rate_table)
    # global average pooling (``mean``): 2 x 512 x 7 x 7 inputs, one FLOP per element read
    # (the registry's count), over its time less its tiny call; no reorders
    gap = next(m for m in data["measurements"] if m["name"].startswith("global average pool"))
    gap_tiny = ms["mean overhead (tiny call)"]["median_s"]
    t = gap["median_s"]
    assert dev.op_tflops["mean"] == pytest.approx(2 * 512 * 7 * 7 / max(t - gap_tiny, t / 4) / 1e12)
    assert "native_batch_norm_backward" in dev.op_tflops and "native_batch_norm_backward" in dev.op_overhead_us
    # the context factor: the same tiny calls interleaved by class over grouped by class
    grouped = next(m for m in data["measurements"] if m["name"].endswith("tiny calls grouped by class"))
    inter = next(m for m in data["measurements"] if m["name"].endswith("tiny calls interleaved by class"))
    assert dev.overhead_context == pytest.approx(inter["median_s"] / grouped["median_s"])
    # and per op class, call by call: every forward class with tiny calls (the backward
    # kernels are left out) and the tiny add, each factor as its measurement row says
    suffix = " context factor (call by call)"
    per_class = {m["name"][:-len(suffix)]: m["value"] for m in data["measurements"]
                 if m["name"].endswith(suffix)}
    assert set(dev.op_overhead_context) == set(dev.op_overhead_us) - {
        "convolution_backward", "native_batch_norm_backward"} | {"(tiny op)"}
    assert dev.op_overhead_context == pytest.approx(per_class)
    # the in-cache add: 3 x 2^18 fp32 (two reads, one write) over its median time
    cache = next(m for m in data["measurements"] if m["name"].startswith("in-cache add"))
    assert dev.cache_bandwidth_gbs == pytest.approx(max(dev.bandwidth_gbs, 3 * 4 * 2 ** 18 / cache["median_s"] / 1e9))
    assert dev.cache_bytes >= 3 * 4 * 2 ** 18
    code, out, err = run(["predict", "googlenet", "--on", str(target), "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["totals"][0]["device"] == dev.name


def test_a_slow_rate_is_shown_to_four_significant_digits_not_rounded_to_zero():
    from inception_cost.cli.calibrate_cmd import calibration_text
    from inception_cost.timing_model.calibrate import Measurement
    from inception_cost.timing_model.devices import Device
    ms = [Measurement("max pool 3x3/1 2x64x28x28", 0.000123456, "TFLOP/s", 0.0078281, 3),
          Measurement("in-cache add 262144 fp32", 25.93812, "GB/s", 0.0001213, 3)]
    dev = Device(name="cpu (measured)", kind="cpu", peaks_tflops={"fp32": 0.1}, bandwidth_gbs=6.0,
                 source="inception-cost calibrate", measured=True)
    rows = {r["measurement"]: r for r in json.loads(calibration_text(dev, ms, "json"))["rows"]}
    # 0.000123456 TFLOP/s = 123.456 MFLOP/s: 4 significant digits, where 3 decimals gave 0.0
    assert rows["max pool 3x3/1 2x64x28x28"]["value"] == 0.0001235
    assert rows["in-cache add 262144 fp32"]["value"] == 25.94
    assert rows["max pool 3x3/1 2x64x28x28"]["median ms"] == 7.8281
