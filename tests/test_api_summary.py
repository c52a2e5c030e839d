"""Results print a short readable summary; count() of a zoo model needs no size."""
import torch
import torch.nn as nn

from inception_cost import build, count
from inception_cost.counting.training import count_training
from inception_cost.memory_analysis.api import memory

CONV_MACS = 14 * 14 * 8 * (3 * 3 * 3)      # Conv2d(3, 8, 3) on 3x16x16, no padding: 42,336


def test_count_of_a_zoo_model_uses_the_registry_input():
    m = build("inception_naive")               # registry input 256x28x28
    assert count(m).total_macs == count(m, (1, 256, 28, 28)).total_macs
    # CS231n lecture 9's naive module: 854M multiply-adds
    assert count(m).total_macs == 28 * 28 * 256 * (128 * 1 + 192 * 9 + 96 * 25)


def test_cost_report_prints_exact_totals():
    net = nn.Conv2d(3, 8, 3)
    r = count(net, (1, 3, 16, 16))
    text = str(r)
    assert f"{CONV_MACS:,}" in text and f"{sum(p.numel() for p in net.parameters()):,}" in text
    assert "dataclass" not in text and len(text.splitlines()) <= 10
    assert r._repr_html_().startswith("<pre>") and f"{CONV_MACS:,}" in r._repr_html_()


def test_training_and_memory_reports_print_summaries():
    net = nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 10))
    t = str(count_training(net, inputs=torch.zeros(1, 784), optimizer=None))
    assert f"{784 * 300 + 300 * 10:,}" in t and "forward MACs" in t
    m = memory(net, inputs=torch.zeros(1, 784))
    params = 4 * (784 * 300 + 300 + 300 * 10 + 10)
    assert f"{params + 4 * (784 + 300 + 300):,}" in str(m) and "peak" in str(m)
    assert m._repr_html_().startswith("<pre>")


class ReadsValues(nn.Module):
    """Like transformers' mask checks: the forward branches on a tensor's value."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x, mask):
        if mask.sum().item() >= 0:        # always true; only a real tensor can say so
            return self.fc(x)
        return x


def test_forward_that_reads_values_says_so_and_cpu_works():
    import pytest
    from inception_cost.counting.engine import ForwardError
    inputs = ((torch.zeros(2, 4),), {"mask": torch.ones(2, 4, dtype=torch.long)})
    with pytest.raises(ForwardError, match='device="cpu"'):
        count(ReadsValues(), inputs=inputs)
    assert count(ReadsValues(), inputs=inputs, device="cpu").total_macs == 2 * 4 * 3


NAIVE_MACS = 28 * 28 * 256 * (128 * 1 + 192 * 9 + 96 * 25)   # CS231n's 854M multiply-adds


def test_count_training_of_a_zoo_model_uses_the_registry_input():
    t = count_training(build("inception_naive"), optimizer=None)   # registry input 256x28x28
    assert t.totals()["fwd_macs"] == NAIVE_MACS
    assert t.input_shapes == [(1, 256, 28, 28)]
    # batch= scales the registry's sample, as count(batch=) does
    assert count_training(build("inception_naive"), batch=2, optimizer=None).totals()[
        "fwd_macs"] == 2 * NAIVE_MACS


def _slow(tmp_path):
    import json
    from inception_cost.timing_model.devices import find_device
    dev = tmp_path / "slow.json"
    # 1 MFLOP/s, 10 kB/s, efficiencies 1, 1 us per op
    dev.write_text(json.dumps({"name": "Slow", "peaks_tflops": {"fp32": 1e-6},
                               "bandwidth_gbs": 1e-5, "compute_efficiency": 1,
                               "memory_efficiency": 1, "overhead_us": 1}))
    return find_device(str(dev))


def test_predict_prints_a_summary_and_uses_the_registry_input(tmp_path):
    from inception_cost import predict
    relu = nn.ReLU()
    relu.default_input_size = (1, 1, 4)          # no size given: this one, at batch 1
    p = predict(relu, device=_slow(tmp_path))
    # relu over 4 fp32 elements: 4 FLOPs, reads + writes 32 bytes; memory 32 B / 1e4 B/s =
    # 3.2 ms (> compute 4 / 1e6 s = 0.004 ms), + 0.001 ms overhead
    text = str(p)
    assert "latency" in text and "3.201  ms" in text
    assert " 4  (" in text and " 32  (" in text            # FLOPs, bytes: exact integers
    assert "batch 1" in text and "Slow" in text and len(text.splitlines()) <= 12
    assert p._repr_html_().startswith("<pre>") and "3.201" in p._repr_html_()
    naive = predict(build("inception_naive"), device=_slow(tmp_path))
    assert naive.batch == 1 and naive.totals["flops"] >= 2 * NAIVE_MACS


def test_checkpoint_plan_prints_a_summary():
    from inception_cost.checkpointing.planner import checkpoint_plan

    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    r = checkpoint_plan(net, (3, 16, 16), budget="1GiB", batch=2, optimizer="sgd")
    text = str(r)
    assert f"{r.budget_bytes:,}" in text and f"{2 ** 30:,}" in text   # 1 GiB, exactly
    assert f"{r.baseline_peak_bytes:,}" in text and "CheckpointPlan" in text
    assert "dataclass" not in text and "DataFrame" not in text and len(text.splitlines()) <= 8
    assert r._repr_html_().startswith("<pre>")


def test_fit_result_prints_a_summary():
    from inception_cost.memory_analysis.api import fit_batch
    net = nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 10))
    params = 4 * (784 * 300 + 300 + 300 * 10 + 10)
    per_sample = 4 * (784 + 300 + 300)     # input, first Linear's and ReLU's outputs, fp32
    r = fit_batch(net, params + 10 * per_sample, inputs=torch.zeros(1, 784), reserve=0)
    text = str(r)
    assert "largest batch 10 " in text
    assert f"{params + 10 * per_sample:,}" in text and "batch 10" in text
    assert f"{params + 11 * per_sample:,}" in text and "batch 11" in text
    assert "FitResult(" not in text and r._repr_html_().startswith("<pre>")


def _half_conv():
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).half()
    m.default_input_size = (3, 16, 16)
    return m


def test_a_half_model_gets_a_half_input():
    """A .half() model counted from a size: the input is fp16 like the model (an fp32
    input would not run: 'Input type (float) and bias type (c10::Half)')."""
    m = _half_conv()
    r = count(m)
    assert r.total_macs == 8 * 14 * 14 * (3 * 3 * 3)                  # 42,336
    # bytes at 2 per element: conv reads x (3x16x16), weight (8x3x3x3), bias (8), writes
    # 8x14x14; ReLU reads and writes 8x14x14
    x, w, b, y = 3 * 16 * 16, 8 * 27, 8, 8 * 14 * 14
    assert r.total_bytes == 2 * (x + w + b + y) + 2 * (y + y)       # 11,392
    assert count_training(m, optimizer=None).totals()["fwd_macs"] == 8 * 14 * 14 * 27
    mem = memory(m)
    # fp16 parameters + the input, the conv's output and ReLU's output, all alive at the end
    assert (mem.dtype, mem.peak_bytes) == ("fp16", 2 * (w + b) + 2 * (x + y + y))   # 8,256


def test_a_half_model_from_the_cli(tmp_path, capsys):
    from micro import run
    (tmp_path / "half.py").write_text(
        "import torch.nn as nn\n"
        "def half():\n"
        "    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).half()\n"
        "    m.default_input_size = (3, 16, 16)\n"
        "    return m\n")
    import json
    for args in ([], ["--input", "3x16x16"]):
        code, out, err = run(["layers", f"{tmp_path}/half.py:half", *args, "--format", "json"],
                             capsys)
        assert code == 0, err
        obj = json.loads(out)
        assert obj["input"][0]["dtype"] == "float16" and obj["totals"]["macs"] == 42336
    code, out, err = run(["memory", f"{tmp_path}/half.py:half", "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["peak_bytes"] == 2 * (8 * 27 + 8) + 2 * (768 + 2 * 1568)
    code, out, err = run(["predict", f"{tmp_path}/half.py:half", "--format", "json"], capsys)
    assert code == 0, err
    [t] = json.loads(out)["totals"]
    # the bytes of count() above; FLOPs: 2 per MAC + one bias add and one ReLU per output
    assert (t["mode"], t["bytes"], t["flops"]) == ("fp16", 11392, 2 * 42336 + 1568 + 1568)
    # profile times the model as built: --dtype fp16 runs (MACs as counted), fp32 is one line
    fast = ["--device", "cpu", "--iters", "2", "--warmup", "0", "--threads", "1"]
    code, out, err = run(["profile", f"{tmp_path}/half.py:half", *fast], capsys)
    assert code == 2 and err.strip().splitlines() == [
        f"error: {tmp_path}/half.py:half is built in fp16 (.half() or .to()): profile it with "
        "--dtype fp16 (dtype='fp16'), not fp32"]
    code, out, err = run(["profile", f"{tmp_path}/half.py:half", *fast, "--dtype", "fp16",
                          "--format", "json"], capsys)
    assert code == 0, err
    [row] = json.loads(out)["rows"]
    assert (row["status"], row["dtype"], row["macs"]) == ("ok", "fp16", 42336)
