"""Profiler: CPU timing for real; CUDA-only logic (peaks, roofline, OOM rows,
crash-safe CSV appends, environment record) without pretending to time a GPU."""
import csv
import math
import types

import pandas as pd
import pytest
import torch
import torch.nn as nn

from inception_cost import count
from inception_cost.errors import UsageError
from inception_cost.profiling import (RUN_COLUMNS, CsvAppender, Profiler, RunConfig,
                                      configurations, lookup, profile, ratio_table,
                                      resolve_peaks, run_sweep)
import inception_cost.profiling.environment as envmod
from inception_cost.profiling import roofline as rl
from inception_cost.profiling.per_layer import join_layers, module_costs, time_layers
from inception_cost.profiling.timing import stats

QUIET = dict(notify=lambda msg: None)


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# device peaks ---------------------------------------------------------------
# datasheet figures (dense; Hopper datasheets print tensor-core peaks with 2:4 sparsity,
# halved here), TFLOP/s and TB/s
@pytest.mark.parametrize("name, label, bf16, tf32, fp32, tbs", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM", 1979 / 2, 989 / 2, 67.0, 3.35),
    ("NVIDIA H100 PCIe", "H100 PCIe", 1513 / 2, 756 / 2, 51.0, 2.0),
    ("NVIDIA H200", "H200 SXM", 1979 / 2, 989 / 2, 67.0, 4.8),
    ("NVIDIA A100-SXM4-80GB", "A100 SXM 80GB", 312.0, 156.0, 19.5, 2.039),
    ("NVIDIA A100-SXM4-40GB", "A100 SXM 40GB", 312.0, 156.0, 19.5, 1.555),
    ("NVIDIA A100-PCIE-40GB", "A100 SXM 40GB", 312.0, 156.0, 19.5, 1.555),
    ("NVIDIA L4", "L4", 242 / 2, 120 / 2, 30.3, 0.3),
    ("NVIDIA GeForce RTX 4090", "RTX 4090", 330.3 / 2, 82.6, 82.6, 1.008),
])
def test_peaks_come_from_the_device_catalog(name, label, bf16, tf32, fp32, tbs):
    entry = lookup(name)
    assert entry.name == label
    assert entry.peak_tflops("bf16") == pytest.approx(bf16, abs=0.051)
    assert entry.peak_tflops("fp16") == entry.peak_tflops("bf16")
    assert (entry.peak_tflops("tf32"), entry.peak_tflops("fp32")) == pytest.approx((tf32, fp32), abs=0.051)
    assert entry.bandwidth_tbs == pytest.approx(tbs, abs=1e-9)


def test_one_table_the_catalog_feeds_profile():
    """Every catalog GPU is found by its own name and aliases, with the catalog's numbers
    (GB/s -> TB/s): no second table to drift apart."""
    from inception_cost.timing_model.devices import catalog
    for dev in catalog():
        for n in (dev.name, *dev.aliases):
            entry = lookup("NVIDIA " + n)
            assert entry.name == dev.name, n
            assert entry.tflops == dev.peaks_tflops
            assert entry.bandwidth_tbs * 1000 == pytest.approx(dev.bandwidth_gbs)
    import inception_cost.profiling.peaks as peaks_module
    assert not hasattr(peaks_module, "PEAKS")


def test_a_mode_the_device_lacks_is_unknown():
    peak, bw, source = resolve_peaks("Tesla T4", "bf16")     # Turing: no BF16
    assert math.isnan(peak) and bw == 0.32 and source == "T4"


@pytest.mark.parametrize("name", ["NVIDIA H100 NVL", "NVIDIA L40S",
                                  "NVIDIA A100 80GB PCIe", "AMD EPYC 7B13", ""])
def test_unlisted_devices_are_unknown_never_guessed(name):
    peak, bw, source = resolve_peaks(name, "bf16")
    assert math.isnan(peak) and math.isnan(bw) and source == "unknown"


def test_peak_overrides_replace_table_values():
    assert resolve_peaks("AMD EPYC", "fp32", 1.5, 0.2) == (1.5, 0.2, "override")
    peak, bw, source = resolve_peaks("NVIDIA H100 80GB HBM3", "bf16", peak_bandwidth=3.0)
    assert (peak, bw, source) == (989.5, 3.0, "H100 SXM + override")
    with pytest.raises(UsageError, match="--peak-tflops"):
        resolve_peaks("", "fp32", -1, None)


# roofline ------------------------------------------------------------------
def test_roofline_of_a_counted_3x3_conv():
    conv = nn.Conv2d(64, 64, 3, padding=1, bias=False)
    report = count(conv, (1, 64, 56, 56))
    costs = module_costs(report.layers)
    # 56*56 outputs x 64 out-channels x (64 x 3 x 3) taps
    macs = 56 * 56 * 64 * 64 * 9
    assert macs == 115_605_504 and int(costs["macs"].iloc[0]) == macs
    assert int(costs["flops"].iloc[0]) == 2 * macs
    # input 64x56x56 + weight 64x64x3x3 + output 64x56x56 elements
    elements = 200_704 + 36_864 + 200_704
    assert int(costs["elements"].iloc[0]) == elements
    # bf16 on an H100 SXM: I = 231,211,008 / 876,544 = 263.78 FLOP/B < ridge 989/3.35 = 295.2
    i_bf16 = rl.intensity(2 * macs, elements * 2)
    assert i_bf16 == pytest.approx(263.776, abs=1e-3)
    assert rl.ridge_point(989.0, 3.35) == pytest.approx(295.224, abs=1e-3)
    assert rl.bound(i_bf16, 989.0, 3.35) == "memory"
    assert rl.attainable_tflops(i_bf16, 989.0, 3.35) == pytest.approx(263.776 * 3.35, rel=1e-5)
    # fp32 (4 bytes): I = 131.9 > ridge 66.9/3.35 = 19.97, so the compute roof applies
    i_fp32 = rl.intensity(2 * macs, elements * 4)
    assert rl.bound(i_fp32, 66.9, 3.35) == "compute"
    assert rl.attainable_tflops(i_fp32, 66.9, 3.35) == 66.9
    # one millisecond for it: 0.2312 TFLOP/s, i.e. 0.02338% of 989 TFLOP/s
    times = pd.DataFrame([{"module": "", "module_type": "Conv2d", "calls": 1, "time_ms": 1.0}])
    row = join_layers(times, costs, "bf16", 989.0, 3.35).iloc[0]
    assert row["bytes"] == elements * 2
    assert row["achieved_tflops"] == pytest.approx(0.231211008)
    assert row["pct_of_peak"] == pytest.approx(100 * 0.231211008 / 989.0)
    assert row["pct_of_roofline"] == pytest.approx(100 * 0.231211008 / (263.776 * 3.35), rel=1e-4)
    assert row["bound"] == "memory"
    unknown = join_layers(times, costs, "bf16", math.nan, math.nan).iloc[0]
    assert unknown["bound"] == "unknown" and math.isnan(unknown["pct_of_roofline"])


def test_cat_moves_what_it_writes():
    # cat reads its inputs (as many elements as it writes) and writes the output
    assert rl.op_elements("cat", None, None, (1, 96, 28, 28)) == 2 * 96 * 28 * 28
    assert rl.op_elements("relu_", (1, 8, 4, 4), None, (1, 8, 4, 4)) == 2 * 128


# statistics and the self-time arithmetic --------------------------------------
def test_timing_statistics_by_hand():
    s = stats([float(i) for i in range(1, 11)])
    # linear interpolation: p10 at position 0.9 between 1 and 2, p90 at 8.1 between 9 and 10
    assert (s["median_ms"], s["p10_ms"], s["p90_ms"]) == (5.5, pytest.approx(1.9),
                                                          pytest.approx(9.1))
    assert s["mean_ms"] == 5.5 and s["min_ms"] == 1.0
    std = math.sqrt(sum((i - 5.5) ** 2 for i in range(1, 11)) / 9)  # sample std, 3.0277
    assert s["std_ms"] == pytest.approx(std) and s["cv"] == pytest.approx(std / 5.5)


class TickClock:
    """Each mark is the next integer: a span is the number of marks inside it + 1."""

    def __init__(self):
        self.t = 0

    def mark(self):
        self.t += 1
        return self.t

    def elapsed_ms(self, a, b):
        return float(b - a)

    def finish(self):
        pass


def test_self_times_subtract_children_and_sum_to_the_root():
    model = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 4)))
    x = torch.randn(2, 4)
    times, roots = time_layers(model, lambda: model(x), warmup=1, iters=3, clock=TickClock())
    got = dict(zip(times["module"], times["time_ms"]))
    # marks: root 1 | 0: 2,3 | 1: 4 | 1.0: 5,6 | 1.1: 7,8 | 1: 9 | root 10
    assert got == {"": 9 - 1 - 5, "0": 1.0, "1": 5 - 2, "1.0": 1.0, "1.1": 1.0}
    assert sum(got.values()) == 9.0 and roots == [9.0, 9.0, 9.0]
    assert list(times["module_type"]) == ["Sequential", "Linear", "Sequential", "ReLU", "Linear"]
    assert len(model._forward_hooks) == 0 and len(model[0]._forward_pre_hooks) == 0


# whole-model timing on CPU ---------------------------------------------------
def _convnet():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(16, 64, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(64, 64, 3, padding=1), nn.ReLU()).eval()


def test_timer_check_helper_structure(one_thread):
    """The helper the GPU sweep runs. Whether the two timers agree is a measurement
    (it moves with the machine's load): benchmarks/timer_agreement.py records it in
    reports/benchmarks/. Here: the row's structure and its arithmetic."""
    from inception_cost.profiling.timer_check import timer_check
    r = timer_check(_convnet(), "cpu", 1, input_size=(16, 32, 32), min_run_time=0.05)
    assert r["variant"] == "Sequential" and r["batch"] == 1 and r["dtype"] == "fp32"
    assert r["profile_median_ms"] > 0 and r["timer_median_ms"] > 0
    assert r["ratio"] == pytest.approx(r["profile_median_ms"] / r["timer_median_ms"])


class ListClock:
    """Marks are read from a list (ms): the durations are known, whatever the load."""

    def __init__(self, marks):
        self.marks = iter(marks)

    def mark(self):
        return next(self.marks)

    def elapsed_ms(self, a, b):
        return float(b - a)

    def finish(self):
        pass


def test_timed_forwards_and_their_statistics_with_a_known_clock():
    from inception_cost.profiling.timing import time_calls
    calls = []
    # five forwards lasting 3, 1, 2, 5 and 4 ms
    clock = ListClock([0, 3, 10, 11, 20, 22, 30, 35, 40, 44])
    times = time_calls(lambda: calls.append(1), 5, clock)
    assert times == [3.0, 1.0, 2.0, 5.0, 4.0] and len(calls) == 5
    s = stats(times)
    # sorted 1..5: p10 at position 0.4 -> 1.4, p90 at 3.6 -> 4.6 (linear interpolation)
    assert s["median_ms"] == 3.0 and s["min_ms"] == 1.0 and s["mean_ms"] == 3.0
    assert s["p10_ms"] == pytest.approx(1.4) and s["p90_ms"] == pytest.approx(4.6)
    # sample std of 1..5 = sqrt(10 / 4)
    assert s["std_ms"] == pytest.approx(math.sqrt(2.5)) and s["cv"] == pytest.approx(math.sqrt(2.5) / 3)


def test_cpu_profile_rows_join_counts(one_thread):
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(),
                          nn.Flatten(), nn.Linear(8 * 16 * 16, 10, bias=False))
    res = profile(model, [1, 2], device="cpu", input_size=(3, 16, 16), warmup=1, iters=5,
                  per_layer=True, **QUIET)
    assert list(res.columns) == RUN_COLUMNS and list(res["status"]) == ["ok", "ok"]
    # conv: 16*16*8 outputs x 27 taps; linear: 2048 x 10; per image
    per_image = 16 * 16 * 8 * 27 + 2048 * 10
    assert list(res["macs"]) == [per_image, 2 * per_image]
    for _, r in res.iterrows():
        assert r["images_per_s"] == pytest.approx(r["batch"] / (r["median_ms"] / 1e3))
        assert r["achieved_tflops"] == pytest.approx(r["flops"] / (r["median_ms"] / 1e3) / 1e12)
        assert r["p10_ms"] <= r["median_ms"] <= r["p90_ms"]
        assert r["analytic_activation_bytes"] == 4 * count(model, (r["batch"], 3, 16, 16)).total_activations
        assert r["torch"] == torch.__version__ and r["device"] == "cpu"
        assert r["peak_source"] == "unknown" and math.isnan(r["pct_of_peak"])
    layers = res.layers
    b2 = layers[layers["batch"] == 2].set_index("module")
    assert b2.loc["0", "macs"] == 2 * 16 * 16 * 8 * 27 and b2.loc["3", "macs"] == 2 * 2048 * 10
    assert b2.loc["0", "ops"] == "convolution" and b2.loc["1", "ops"] == "relu"
    assert b2["layers_sum_ms"].iloc[0] == pytest.approx(b2["time_ms"].sum())
    whole = b2["whole_ms"].iloc[0]
    assert b2["gap_pct"].iloc[0] == pytest.approx(100 * (b2["time_ms"].sum() - whole) / whole)


def test_per_layer_gap_is_computed_from_its_parts(one_thread):
    """How close the per-layer sum comes to the whole forward is a measurement
    (benchmarks/timer_agreement.py); the test checks the gap's arithmetic."""
    res = profile(_convnet(), [4], device="cpu", input_size=(16, 32, 32), warmup=1, iters=3,
                  per_layer=True, **QUIET)
    lay = res.layers
    whole, parts = float(lay["whole_ms"].iloc[0]), float(lay["time_ms"].sum())
    assert float(lay["layers_sum_ms"].iloc[0]) == pytest.approx(parts)
    assert float(lay["gap_pct"].iloc[0]) == pytest.approx(100 * (parts - whole) / whole)
    assert set(lay["module"]) == {"", "0", "1", "2", "3"} and (lay["time_ms"] >= 0).all()


def test_bf16_runs_on_cpu_and_counts_two_bytes(one_thread):
    model = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False))
    res = profile(model, [1], device="cpu", dtype="bf16", input_size=(3, 8, 8), warmup=1,
                  iters=3, **QUIET)
    r = res.iloc[0]
    assert r["status"] == "ok" and r["dtype"] == "bf16"
    assert r["bytes"] == 2 * (3 * 64 + 4 * 3 + 4 * 64)  # (input + weight + output) x 2 bytes


def test_fp16_without_a_cpu_kernel_is_a_clear_usage_error():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.LocalResponseNorm(5))
    with pytest.raises(UsageError, match=r"cannot run in fp16 on cpu"):
        profile(model, [1], device="cpu", dtype="fp16", input_size=(3, 8, 8), **QUIET)


@pytest.mark.parametrize("kwargs, message", [
    (dict(cuda_graphs=True), "CUDA graphs need --device cuda"),
    (dict(dtype="tf32"), "tf32 needs CUDA"),
    (dict(dtype="fp8"), "unknown dtype 'fp8'"),
    (dict(per_layer=True, compile=True), "--per-layer needs eager"),
    (dict(batch_sizes=[0]), "positive integers"),
    (dict(iters=1), "--iters must be >= 2"),
])
def test_options_that_cannot_run_are_rejected(kwargs, message):
    args = dict(batch_sizes=[1], device="cpu", input_size=(3, 8, 8), **QUIET)
    args.update(kwargs)
    with pytest.raises(UsageError, match=message):
        profile(nn.Conv2d(3, 4, 1), **args)


def test_cuda_requested_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError, match="CUDA is not available"):
        profile(nn.Conv2d(3, 4, 1), [1], device="cuda")
    notes = []
    res = profile(nn.Conv2d(3, 4, 1), [1], input_size=(3, 8, 8), iters=2, warmup=0,
                  notify=notes.append)
    assert res["device"].iloc[0] == "cpu" and notes[0].startswith("notice: CUDA is not available")


# sweeps: OOM rows, crash-safe appends, resume ---------------------------------
ENV = {"device": "cuda", "device_name": "NVIDIA H100 80GB HBM3", "torch": torch.__version__}


def _ok_row(config):
    return {**ENV, **config.as_dict(), "status": "ok", "median_ms": float(config.batch)}


def test_oom_is_a_row_and_the_sweep_goes_on(tmp_path):
    def runner(config):
        if config.dtype == "fp16":
            raise ValueError("boom")
        if config.batch >= 64:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return _ok_row(config), None

    path = tmp_path / "sweep.csv"
    configs = configurations(["googlenet"], [1, 64, 256], ["bf16", "fp16"])
    runs, _ = run_sweep(configs, runner, ENV, csv_path=str(path))
    assert list(runs["status"]) == ["ok", "oom", "oom", "error", "error", "error"]
    assert runs["message"].iloc[1].startswith("OutOfMemoryError: CUDA out of memory")
    assert runs["message"].iloc[3] == "ValueError: boom"
    on_disk = pd.read_csv(path)
    assert list(on_disk.columns) == RUN_COLUMNS
    assert list(on_disk["status"]) == list(runs["status"])
    assert list(on_disk["batch"]) == [1, 64, 256, 1, 64, 256]
    assert (on_disk["gpu_name"].isna() | (on_disk["gpu_name"] == "")).all()
    assert (on_disk["device_name"] == "NVIDIA H100 80GB HBM3").all()


def test_profiler_oom_becomes_a_row(monkeypatch, tmp_path):
    """The real profiler path: an OOM raised inside timing (as on a GPU) is a row."""
    real = Profiler._time_whole

    def fake(self, model, x, config):
        if config.batch > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return real(self, model, x, config)

    monkeypatch.setattr(Profiler, "_time_whole", fake)
    path = tmp_path / "p.csv"
    res = profile(nn.Conv2d(3, 4, 1), [1, 2, 4], device="cpu", input_size=(3, 8, 8), warmup=0,
                  iters=2, output=str(path), **QUIET)
    assert list(res["status"]) == ["ok", "oom", "oom"]
    assert list(pd.read_csv(path)["status"]) == ["ok", "oom", "oom"]


def test_rows_survive_a_crash_mid_sweep_and_resume_skips_them(tmp_path):
    path = tmp_path / "crash.csv"
    configs = configurations(["a", "b"], [1, 8], ["bf16"])
    ran = []

    def crashing(config):
        if len(ran) == 3:
            raise KeyboardInterrupt  # the process dies here, mid-sweep
        ran.append(config)
        return _ok_row(config), None

    with pytest.raises(KeyboardInterrupt):
        run_sweep(configs, crashing, ENV, csv_path=str(path))
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["variant"], r["batch"]) for r in rows] == [("a", "1"), ("a", "8"), ("b", "1")]

    again = []

    def fine(config):
        again.append(config)
        return _ok_row(config), None

    runs, _ = run_sweep(configs, fine, ENV, csv_path=str(path), resume=True)
    assert again == [configs[3]]
    assert sorted(zip(runs["variant"], runs["batch"])) == [("a", 1), ("a", 8), ("b", 1), ("b", 8)]
    assert len(pd.read_csv(path)) == 4


def test_existing_csv_with_other_columns_is_refused(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(UsageError, match="different columns"):
        CsvAppender(str(path), RUN_COLUMNS)
    with pytest.raises(UsageError, match="cannot write"):
        CsvAppender(str(tmp_path / "missing" / "x.csv"), RUN_COLUMNS)


# environment ---------------------------------------------------------------
def test_environment_record_cpu():
    env = envmod.environment("cpu")
    assert env["torch"] == torch.__version__ and env["device"] == "cpu"
    assert env["torch_threads"] == torch.get_num_threads() and env["gpu_name"] == ""
    assert env["cuda"] == (torch.version.cuda or "")
    assert set(env) <= set(RUN_COLUMNS)


def test_environment_record_cuda_from_device_queries(monkeypatch):
    props = types.SimpleNamespace(major=9, minor=0, total_memory=85_520_809_984)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=0: "NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i=0: props)
    monkeypatch.setattr(envmod, "driver_version", lambda: "550.54.15")
    env = envmod.environment("cuda")
    assert (env["gpu_name"], env["device_name"]) == ("NVIDIA H100 80GB HBM3",) * 2
    assert (env["compute_capability"], env["driver"]) == ("9.0", "550.54.15")
    assert env["gpu_memory_bytes"] == 85_520_809_984
    assert resolve_peaks(env["gpu_name"], "bf16")[:2] == (989.5, 3.35)


# naive vs reduced -----------------------------------------------------------
def test_ratio_table_by_hand():
    runs = pd.DataFrame([
        {"variant": "naive", "device_name": "d", "dtype": "fp32", "channels_last": False,
         "compile": False, "cuda_graphs": False, "batch": 8, "status": "ok", "macs": 1000,
         "median_ms": 2.0},
        {"variant": "reduced", "device_name": "d", "dtype": "fp32", "channels_last": False,
         "compile": False, "cuda_graphs": False, "batch": 8, "status": "ok", "macs": 250,
         "median_ms": 1.0},
        {"variant": "reduced", "device_name": "d", "dtype": "fp32", "channels_last": False,
         "compile": False, "cuda_graphs": False, "batch": 16, "status": "ok", "macs": 500,
         "median_ms": 2.0},  # no baseline at batch 16: no row
    ])
    t = ratio_table(runs)
    assert len(t) == 1
    r = t.iloc[0]
    assert (r["variant"], r["baseline"], r["macs_ratio"], r["time_ratio"]) == \
        ("reduced", "naive", 0.25, 0.5)
    assert r["time_ratio_over_macs_ratio"] == 2.0


def test_run_config_labels():
    c = RunConfig("googlenet", "bf16", True, False, True, 32)
    assert c.mode == "graphs"
    assert c.label() == "googlenet bf16 channels_last graphs batch 32"
    assert RunConfig("x", compile=True, cuda_graphs=True).mode == "compile+graphs"


# findings from recorded sweeps --------------------------------------------------
def test_summary_speedups_and_layers_furthest_from_roofline():
    from inception_cost.profiling.sweep_findings import furthest_from_roofline, speedups
    base = {"variant": "googlenet", "batch": 32, "status": "ok", "compile": False,
            "images_per_s": 1.0, "achieved_tflops": 1.0}
    runs = pd.DataFrame([
        {**base, "dtype": "fp32", "channels_last": False, "cuda_graphs": False, "median_ms": 12.0},
        {**base, "dtype": "bf16", "channels_last": True, "cuda_graphs": False, "median_ms": 5.0},
        {**base, "dtype": "bf16", "channels_last": True, "cuda_graphs": True, "median_ms": 4.0},
        {**base, "dtype": "bf16", "channels_last": True, "cuda_graphs": True, "median_ms": 1.0,
         "status": "oom"},  # failed rows never count as the best
    ])
    s = speedups(runs).iloc[0]
    assert (s["best mode"], s["best ms"], s["speed-up"]) == ("bf16 NHWC graphs", 4.0, 3.0)
    layer = {"variant": "googlenet", "dtype": "bf16", "channels_last": True, "batch": 32,
             "ops": "convolution", "time_ms": 1.0, "intensity_flop_per_byte": 10.0,
             "bound": "memory", "achieved_tflops": 1.0, "attainable_tflops": 10.0}
    layers = pd.DataFrame([
        {**layer, "module": "a", "time_pct": 30.0, "pct_of_roofline": 10.0},
        {**layer, "module": "b", "time_pct": 50.0, "pct_of_roofline": 60.0},
        {**layer, "module": "c", "time_pct": 0.5, "pct_of_roofline": 1.0},  # under 1% of time
    ])
    far = furthest_from_roofline(layers, n=5)
    assert list(far["module"]) == ["a", "b"]


def test_oom_detection_works_without_torch_OutOfMemoryError():
    """torch.OutOfMemoryError is new in torch 2.5; pyproject allows torch >= 2.1,
    which has only torch.cuda.OutOfMemoryError."""
    from inception_cost.profiling.sweep import is_oom, oom_error_types

    class CudaOOM(RuntimeError):
        pass

    old_torch = types.SimpleNamespace(cuda=types.SimpleNamespace(OutOfMemoryError=CudaOOM))
    assert oom_error_types(old_torch) == (CudaOOM,)
    assert oom_error_types(types.SimpleNamespace()) == ()
    assert is_oom(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_oom(RuntimeError("CUDNN_STATUS_ALLOC_FAILED")) and not is_oom(ValueError("x"))
