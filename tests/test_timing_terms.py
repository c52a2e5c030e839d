"""The calibrated CPU terms of the timing model, by hand: the cache bandwidth for an op
whose bytes fit in the last-level cache, an overhead per op class, the convolution
classes PyTorch's CPU dispatch picks (oneDNN or its native kernel), and the rate table
interpolated in log output pixels."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn as nn

from inception_cost.counting.events import EventCapture, EventLog
from inception_cost.timing_model.devices import Device
from inception_cost.timing_model.model import op_keys, op_time, output_pixels, table_rate
from tests.micro import run


def _event(model, x):
    with torch.no_grad(), EventCapture(model) as cap:
        log = cap.subscribe(EventLog())
        model(x)
    (ev,) = [e for e in log.events if not e.free]
    return ev


# 1 TFLOP/s, 100 GB/s DRAM, 400 GB/s for working sets up to 1 MiB, efficiencies 1,
# 10 us per op except a k x k oneDNN convolution (70 us)
CPU = Device(name="toy cpu", kind="cpu", peaks_tflops={"fp32": 1.0}, bandwidth_gbs=100,
             compute_efficiency=1.0, memory_efficiency=1.0, overhead_us=10.0,
             cache_bandwidth_gbs=400, cache_bytes=2 ** 20, threads=1,
             op_overhead_us={"convolution_kxk": 70.0})


@pytest.fixture(scope="module")
def relu_64k():
    return _event(nn.ReLU(), torch.randn(1, 64, 32, 32))          # 65536 fp32 elements


def test_op_in_cache_moves_at_the_cache_bandwidth(relu_64k):
    ev = relu_64k
    assert ev.bytes == 2 * 4 * 65536                                # 512 KiB read + written
    t = op_time(ev, CPU, "fp32")
    # 524288 B <= 1 MiB: at 400 GB/s, 1.31 us; + 10 us overhead
    assert t.memory_s == pytest.approx(524288 / 400e9)
    assert t.time_s == pytest.approx(524288 / 400e9 + 10e-6)


def test_working_set_exactly_the_cache_size_is_in_cache(relu_64k):
    dev = Device(**{**CPU.__dict__, "cache_bytes": 524288})
    assert op_time(relu_64k, dev, "fp32").memory_s == pytest.approx(524288 / 400e9)
    # one byte less of cache: the op streams from DRAM at 100 GB/s
    dev = Device(**{**CPU.__dict__, "cache_bytes": 524287})
    assert op_time(relu_64k, dev, "fp32").memory_s == pytest.approx(524288 / 100e9)


def test_no_cache_term_without_a_cache_bandwidth(relu_64k):
    dev = Device(**{**CPU.__dict__, "cache_bandwidth_gbs": None, "cache_bytes": None})
    assert op_time(relu_64k, dev, "fp32").memory_s == pytest.approx(524288 / 100e9)


def test_overhead_per_op_class():
    # batch 2: oneDNN (the native kernel is batch 1 only) -> convolution_kxk, 70 us
    conv = _event(nn.Conv2d(8, 8, 3, padding=1, bias=False), torch.randn(2, 8, 8, 8))
    assert op_keys(conv, 1)[0] == "convolution_kxk"
    t = op_time(conv, CPU, "fp32")
    flops = 2 * (2 * 8 * 8 * 8 * 8 * 9)
    assert t.overhead_s == pytest.approx(70e-6)
    assert t.time_s == pytest.approx(max(flops / 1e12, t.memory_s) + 70e-6)
    # a 1x1 convolution has no entry of its own: the device's 10 us
    one = _event(nn.Conv2d(8, 8, 1, bias=False), torch.randn(2, 8, 8, 8))
    assert op_time(one, CPU, "fp32").overhead_s == pytest.approx(10e-6)


@pytest.mark.parametrize("layer, x, threads, key", [
    # groups 1, 3x3, batch 1, 64*16*16 = 16384 <= 20480 input elements: native, any threads
    (nn.Conv2d(64, 64, 3, padding=1), (1, 64, 16, 16), 1, "convolution_kxk_native"),
    (nn.Conv2d(64, 64, 3, padding=1), (1, 64, 16, 16), 2, "convolution_kxk_native"),
    # 64*18*18 = 20736 > 20480: oneDNN
    (nn.Conv2d(64, 64, 3, padding=1), (1, 64, 18, 18), 1, "convolution_kxk"),
    # 5x5 kernel (> 3 on both sides): oneDNN
    (nn.Conv2d(8, 8, 5, padding=2), (1, 8, 8, 8), 1, "convolution_kxk"),
    # 1x1 stride 1, batch < 16, 1 thread: native; with 2 threads, or at batch 16, oneDNN
    (nn.Conv2d(256, 64, 1), (2, 256, 8, 8), 1, "convolution_1x1_native"),
    (nn.Conv2d(256, 64, 1), (2, 256, 8, 8), 2, "convolution_1x1"),
    (nn.Conv2d(256, 64, 1), (16, 256, 8, 8), 1, "convolution_1x1"),
    # 1x1 stride 2: oneDNN
    (nn.Conv2d(256, 64, 1, stride=2), (2, 256, 8, 8), 1, "convolution_1x1"),
    # groups: always oneDNN; one input channel per group is depthwise
    (nn.Conv2d(32, 32, 3, padding=1, groups=32), (1, 32, 8, 8), 1, "convolution_depthwise"),
    (nn.Conv2d(32, 32, 3, padding=1, groups=8), (1, 32, 8, 8), 1, "convolution_grouped"),
])
def test_convolution_class(layer, x, threads, key):
    ev = _event(layer, torch.randn(*x))
    keys = op_keys(ev, threads)
    assert keys[0] == key
    assert keys[-1] in ("convolution", "convolution_1x1")            # older profiles' keys


def test_table_rate_is_linear_in_log_pixels():
    table = [(4.0, 0.01), (400.0, 0.11)]
    # 40 is halfway between 4 and 400 in log: halfway between the rates
    assert table_rate(table, 40) == pytest.approx(0.06)
    assert table_rate(table, 4 * 10 ** 0.5) == pytest.approx(0.01 + 0.25 * 0.10)
    assert table_rate(table, 1) == 0.01 and table_rate(table, 10 ** 6) == 0.11
    # the order of the points does not matter (a profile keeps them as measured)
    three = [(400.0, 0.11), (4.0, 0.01), (40.0, 0.03)]
    assert table_rate(three, 20) == pytest.approx(0.01 + math.log(5) / math.log(10) * 0.02)
    assert table_rate(three, 200) == pytest.approx(0.03 + math.log(5) / math.log(10) * 0.08)


def test_convolution_rate_from_the_table():
    # 2 x 8 x 10 x 10 output: 200 output pixels (oneDNN counts every image)
    ev = _event(nn.Conv2d(8, 8, 3, padding=1, bias=False), torch.randn(2, 8, 10, 10))
    assert output_pixels(ev) == 200 and output_pixels(ev, per_image=True) == 100
    dev = Device(**{**CPU.__dict__, "op_rate_table": {"convolution_kxk": [(20.0, 1e-3), (2000.0, 3e-3)]}})
    flops = 2 * (2 * 8 * 10 * 10 * 8 * 9)                             # 230400
    rate = 1e-3 + (math.log(200) - math.log(20)) / (math.log(2000) - math.log(20)) * 2e-3   # 2e-3
    assert rate == pytest.approx(2e-3)
    assert op_time(ev, dev, "fp32").compute_s == pytest.approx(flops / (rate * 1e12))


@pytest.mark.parametrize("field, value, message", [
    ("op_overhead_us", {"convolution_kxk": -1}, "op_overhead_us.convolution_kxk must be a number >= 0"),
    ("op_rate_table", {"convolution_kxk": [[4, 0]]}, "op_rate_table.convolution_kxk rate must be a positive"),
    ("op_rate_table", {"convolution_kxk": "fast"}, "op_rate_table.convolution_kxk must be a list"),
    ("cache_bytes", 2.5, "cache_bytes must be a positive integer"),
    ("threads", 0, "threads must be a positive integer"),
])
def test_damaged_calibrated_fields_are_one_line(tmp_path, capsys, field, value, message):
    dev = {"name": "cpu", "kind": "cpu", "peaks_tflops": {"fp32": 0.1}, "bandwidth_gbs": 10,
           "cache_bandwidth_gbs": 30, "cache_bytes": 2 ** 20, "threads": 1, field: value}
    path = tmp_path / "cpu.json"
    path.write_text(json.dumps({"format": "inception-cost device profile", "version": 1, "device": dev}))
    code, out, err = run(["predict", "googlenet", "--on", str(path)], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_cache_bandwidth_without_cache_size_is_one_line(tmp_path, capsys):
    path = tmp_path / "cpu.json"
    path.write_text(json.dumps({"name": "cpu", "peaks_tflops": {"fp32": 0.1}, "bandwidth_gbs": 10,
                                "cache_bandwidth_gbs": 30}))
    code, out, err = run(["predict", "googlenet", "--on", str(path)], capsys)
    assert code == 2 and err.count("\n") == 1 and "needs both cache_bandwidth_gbs and cache_bytes" in err


# oneDNN layout reorders ------------------------------------------------------------

def test_reorder_bytes_of_a_onednn_convolution_by_hand():
    from inception_cost.timing_model.model import reorder_bytes
    # batch 2, 3x3: oneDNN.  x 2*8*10*10*4 = 6400 B, weight 16*8*3*3*4 = 4608 B,
    # output 2*16*10*10*4 = 12800 B; each read once and written once: 2 x 23808
    ev = _event(nn.Conv2d(8, 16, 3, padding=1, bias=False), torch.randn(2, 8, 10, 10))
    assert reorder_bytes(ev, 1) == 2 * (6400 + 4608 + 12800) == 47616
    # a depthwise convolution is oneDNN even at batch 1 (grouped convolutions never take
    # the native kernel): x 1*8*10*10*4 = 3200 B, weight 8*1*3*3*4 = 288 B, output = x
    dw = _event(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), torch.randn(1, 8, 10, 10))
    assert reorder_bytes(dw, 1) == 2 * (3200 + 288 + 3200)


def test_no_reorder_on_the_native_kernel_or_other_ops(relu_64k):
    from inception_cost.timing_model.model import reorder_bytes
    # batch 1, 3x3, 8*10*10 = 800 <= 20480 input elements: PyTorch's native kernel
    native = _event(nn.Conv2d(8, 16, 3, padding=1, bias=False), torch.randn(1, 8, 10, 10))
    assert op_keys(native, 1)[0] == "convolution_kxk_native"
    assert reorder_bytes(native, 1) == 0
    assert reorder_bytes(relu_64k, 1) == 0


def test_reorder_bytes_of_a_convolution_backward_by_hand():
    from inception_cost.counting.events import EventCapture, EventLog
    from inception_cost.timing_model.model import reorder_bytes
    g, x, w = torch.randn(2, 16, 10, 10), torch.randn(2, 8, 10, 10), torch.randn(16, 8, 3, 3)
    with EventCapture() as cap:
        log = cap.subscribe(EventLog())
        torch.ops.aten.convolution_backward(g, x, w, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
                                            [True, True, False])
    (ev,) = [e for e in log.events if e.op == "convolution_backward"]
    # in: grad_output 12800 B, input 6400, weight 4608; out: grad_input 6400, grad_weight 4608
    assert reorder_bytes(ev, 1) == 2 * (12800 + 6400 + 4608 + 6400 + 4608) == 69632


def test_reorder_time_is_added_at_the_reorder_bandwidth():
    ev = _event(nn.Conv2d(8, 16, 3, padding=1, bias=False), torch.randn(2, 8, 10, 10))
    base = op_time(ev, CPU, "fp32")
    assert base.reorder_s == 0.0                                    # no reorder_gbs: no term
    dev = Device(**{**CPU.__dict__, "reorder_gbs": 10.0})
    t = op_time(ev, dev, "fp32")
    assert t.reorder_s == pytest.approx(47616 / 10e9)
    # a separate kernel: added to max(compute, memory) + overhead, not overlapped
    assert t.time_s == pytest.approx(max(t.compute_s, t.memory_s) + 47616 / 10e9 + 70e-6)


def test_calibration_counts_the_reorders_of_its_convolutions():
    from inception_cost.timing_model.calibrate import _conv, _counted
    fn = _conv("cpu", (2, 8, 10, 10), (16, 8, 3, 3), padding=1)
    flops, moved = _counted(fn, 1)
    assert flops == 2 * (2 * 16 * 10 * 10 * 8 * 9)
    assert moved == 47616
    assert _counted(fn, None) == (flops, 0)                        # no reorder term: nothing


def test_reorder_field_round_trip_and_old_profiles(tmp_path, capsys):
    from inception_cost.timing_model.devices import load_device_file
    dev = {"name": "cpu", "kind": "cpu", "peaks_tflops": {"fp32": 0.1}, "bandwidth_gbs": 10}
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": "inception-cost device profile", "version": 1, "device": dev}))
    assert load_device_file(str(old)).reorder_gbs is None           # older profile: no term
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"format": "inception-cost device profile", "version": 1,
                               "device": {**dev, "reorder_gbs": 19.5}}))
    assert load_device_file(str(new)).reorder_gbs == 19.5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "inception-cost device profile", "version": 1,
                               "device": {**dev, "reorder_gbs": 0}}))
    code, out, err = run(["predict", "googlenet", "--on", str(bad)], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: ") and "reorder_gbs must be a positive number" in err


# cold bytes ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def linear_relu():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    with torch.no_grad(), EventCapture(model) as cap:
        log = cap.subscribe(EventLog())
        model(torch.randn(2, 4))
    return [e for e in log.events if not e.free]


def test_cold_bytes_are_first_touches(linear_relu):
    from inception_cost.timing_model.model import cold_bytes
    addmm, relu = linear_relu
    assert (addmm.op, relu.op) == ("addmm", "relu")
    # addmm reads bias 3*4 = 12 B, x 2*4*4 = 32 B and W^T 3*4*4 = 48 B, none touched before:
    # 92 cold bytes; relu reads addmm's output (touched): none.  Distinct bytes: 12 + 32 + 48
    # + addmm's output 24 + relu's output 24 = 140
    assert cold_bytes(linear_relu, 139) == {addmm.index: 12 + 32 + 48}
    assert cold_bytes(linear_relu, 140) == {}                      # the stream fits: all warm
    assert cold_bytes(linear_relu, None) == {}


def test_cold_bytes_move_at_the_memory_bandwidth(linear_relu):
    addmm = linear_relu[0]
    assert addmm.bytes == 12 + 32 + 48 + 24                         # 116 B: in the 1 MiB cache
    t = op_time(addmm, CPU, "fp32", cold=92)
    # 24 warm bytes at 400 GB/s, 92 cold bytes at 100 GB/s
    assert t.memory_s == pytest.approx(24 / 400e9 + 92 / 100e9)
    assert op_time(addmm, CPU, "fp32").memory_s == pytest.approx(116 / 400e9)
    # without a cache term every byte already moves at the memory bandwidth
    dev = Device(**{**CPU.__dict__, "cache_bandwidth_gbs": None, "cache_bytes": None})
    assert op_time(addmm, dev, "fp32", cold=92).memory_s == pytest.approx(116 / 100e9)


# overhead in context ---------------------------------------------------------------

def test_overhead_context_multiplies_every_overhead(relu_64k):
    conv = _event(nn.Conv2d(8, 8, 3, padding=1, bias=False), torch.randn(2, 8, 8, 8))
    dev = Device(**{**CPU.__dict__, "overhead_context": 1.5})
    assert op_time(conv, dev, "fp32").overhead_s == pytest.approx(70e-6 * 1.5)      # class overhead
    assert op_time(relu_64k, dev, "fp32").overhead_s == pytest.approx(10e-6 * 1.5)  # device overhead
    assert op_time(relu_64k, CPU, "fp32").overhead_s == pytest.approx(10e-6)        # no factor: 1


def test_context_calls_are_the_same_calls_in_two_orders():
    from inception_cost.timing_model.calibrate import TINY_COPIES, Calls, Kernel, context_calls
    seen = []
    kernels = [Kernel(key, key, Calls([(lambda k=key, i=i: seen.append((k, i))) for i in range(TINY_COPIES)]))
               for key in ("a", "b", "convolution_backward")]
    grouped, interleaved = context_calls(kernels, "cpu")
    # classes a and b (the backward is left out) and the 16 tiny adds: 3 x 16 calls each
    assert len(grouped.calls) == len(interleaved.calls) == 3 * TINY_COPIES
    assert set(grouped.calls) == set(interleaved.calls)
    grouped()
    assert seen == [("a", i) for i in range(16)] + [("b", i) for i in range(16)]
    seen.clear()
    interleaved()
    assert seen == [(k, i) for i in range(16) for k in ("a", "b")]


def test_context_field_round_trip(tmp_path, capsys):
    from inception_cost.timing_model.devices import load_device_file
    dev = {"name": "cpu", "kind": "cpu", "peaks_tflops": {"fp32": 0.1}, "bandwidth_gbs": 10}
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"format": "inception-cost device profile", "version": 1,
                                "device": {**dev, "overhead_context": 1.4}}))
    assert load_device_file(str(path)).overhead_context == 1.4
    path.write_text(json.dumps({"format": "inception-cost device profile", "version": 1, "device": dev}))
    assert load_device_file(str(path)).overhead_context is None
    path.write_text(json.dumps({"format": "inception-cost device profile", "version": 1,
                                "device": {**dev, "overhead_context": -1}}))
    code, out, err = run(["predict", "googlenet", "--on", str(path)], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: ") and "overhead_context must be a positive number" in err


def test_context_by_op_class_replaces_the_one_factor(relu_64k):
    # a k x k oneDNN convolution: 70 us x its class's 1.2; the ReLU (priced at the device's
    # 10 us tiny-op overhead): x the "(tiny op)" factor 2.5; a class the dict does not name
    # falls back to the one factor 1.5
    from inception_cost.timing_model.devices import TINY_OP_KEY
    conv = _event(nn.Conv2d(8, 8, 3, padding=1, bias=False), torch.randn(2, 8, 8, 8))
    dev = Device(**{**CPU.__dict__, "overhead_context": 1.5,
                    "op_overhead_context": {"convolution_kxk": 1.2, TINY_OP_KEY: 2.5}})
    assert op_time(conv, dev, "fp32").overhead_s == pytest.approx(70e-6 * 1.2)
    assert op_time(relu_64k, dev, "fp32").overhead_s == pytest.approx(10e-6 * 2.5)
    only_conv = Device(**{**dev.__dict__, "op_overhead_context": {"convolution_kxk": 1.2}})
    assert op_time(relu_64k, only_conv, "fp32").overhead_s == pytest.approx(10e-6 * 1.5)


def test_class_context_is_each_class_interleaved_over_grouped(monkeypatch):
    # a fake clock: class a's calls take 2 s grouped and 3 s each after a call of class b;
    # b's take 1 s whatever precedes them.  Grouped: a a b b; interleaved: a b a b, where
    # the first a follows nothing (2 s) and the second follows b (3 s).  a: (2 + 3) / (2 + 2);
    # b: 2 / 2.  The clock reads themselves take 0 s.
    from inception_cost.timing_model import calibrate as C
    now = [0.0]
    last = [None]

    def call(key, grouped_cost, after_other):
        def fn():
            now[0] += after_other if last[0] not in (None, key) else grouped_cost
            last[0] = key
        return fn
    monkeypatch.setattr(C, "TINY_COPIES", 2)
    monkeypatch.setattr(C.time, "perf_counter", lambda: now[0])
    groups = [("a", C.Calls([call("a", 2.0, 3.0) for _ in range(2)])),
              ("b", C.Calls([call("b", 1.0, 1.0) for _ in range(2)]))]
    assert C.clock_read_s() == 0.0
    f = C.class_context(groups, "cpu", repeats=3)
    # each round's grouped run starts after the previous interleaved run ended on b, so
    # grouped a is (3 + 2) and interleaved a is (3 + 3): a's ratio is 6 / 5 every round
    assert f == {"a": pytest.approx(6 / 5), "b": pytest.approx(1.0)}


def test_op_context_field_round_trip(tmp_path, capsys):
    from inception_cost.timing_model.devices import load_device_file
    dev = {"name": "cpu", "kind": "cpu", "peaks_tflops": {"fp32": 0.1}, "bandwidth_gbs": 10}
    path = tmp_path / "p.json"

    def write(d):
        path.write_text(json.dumps({"format": "inception-cost device profile", "version": 1, "device": d}))
    write({**dev, "op_overhead_context": {"mean": 2.5, "(tiny op)": 3}})
    assert load_device_file(str(path)).op_overhead_context == {"mean": 2.5, "(tiny op)": 3.0}
    write(dev)                                            # an older file: no per-class factors
    assert load_device_file(str(path)).op_overhead_context == {}
    write({**dev, "op_overhead_context": {"mean": 0}})
    code, out, err = run(["predict", "googlenet", "--on", str(path)], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("error: ") and "op_overhead_context.mean must be a positive number" in err
