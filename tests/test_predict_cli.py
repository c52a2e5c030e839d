"""``inception-cost predict`` and ``devices``: hand-computed totals on a toy device, the
JSON object, 100-column tables, and one-line errors for bad input."""
from __future__ import annotations

import json

import pytest

from tests.micro import run

FACTORY = '''
import torch.nn as nn

def relu():
    m = nn.ReLU()
    m.default_input_size = (1, 1, 4)
    return m
'''


@pytest.fixture()
def toy(tmp_path):
    model = tmp_path / "toy.py"
    model.write_text(FACTORY)
    dev = tmp_path / "slow.json"
    # 1e-6 TFLOP/s = 1 MFLOP/s; 1e-5 GB/s = 10 kB/s; efficiencies 1; 1 us per op
    dev.write_text(json.dumps({"name": "Slow", "peaks_tflops": {"fp32": 1e-6}, "bandwidth_gbs": 1e-5,
                               "compute_efficiency": 1, "memory_efficiency": 1, "overhead_us": 1}))
    return f"{model}:relu", str(dev)


def test_json_totals_by_hand(toy, capsys):
    model, dev = toy
    code, out, err = run(["predict", model, "--on", dev, "--batch", "1,2", "--format", "json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["execution"] == "eager, no fusion"
    one, two = obj["totals"]
    # relu over N*4 fp32 elements: reads and writes N*16 bytes, N*4 FLOPs
    # batch 1: memory 32 B / 1e4 B/s = 3.2 ms > compute 4 / 1e6 = 0.004 ms; + 0.001 ms overhead
    assert one["latency_ms"] == pytest.approx(3.2 + 0.001)
    assert one["images_per_s"] == pytest.approx(1 / 3.201e-3)
    assert two["latency_ms"] == pytest.approx(6.4 + 0.001)
    assert (one["bytes"], one["flops"]) == (32, 4)
    assert one["achieved_tflops"] == pytest.approx(4 / 3.201e-3 / 1e12)
    assert one["pct_of_peak"] == pytest.approx(100 * 4 / 3.201e-3 / 1e6)


def test_rich_tables_fit_100_columns(capsys):
    code, out, err = run(["predict", "googlenet", "--on", "H100", "--on", "t4", "--on", "RTX 4090",
                          "--dtype", "fp16", "--batch", "1,8"], capsys)
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "no fusion" in out and "inception4a.branch2.1.conv" in out


def test_train_phases_in_json(capsys):
    code, out, err = run(["predict", "googlenet", "--on", "A100", "--train", "--batch", "2",
                          "--format", "json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    assert [p["phase"] for p in obj["phases"]] == ["forward", "backward input-grad",
                                                   "backward weight-grad", "optimizer"]
    assert sum(p["time_ms"] for p in obj["phases"]) == pytest.approx(obj["totals"][0]["latency_ms"])


@pytest.mark.parametrize("args,msg", [
    (["--on", "H1000"], "unknown device 'H1000'; did you mean"),
    (["--on", "V100", "--dtype", "bf16"], "V100 SXM2 32GB has no bf16 peak"),
    (["--dtype", "fp8"], "unknown dtype 'fp8'"),
    (["--batch", "0"], "--batch must be positive"),
])
def test_bad_input_one_line_exit_2(args, msg, capsys, tmp_path):
    target = tmp_path / "out.txt"
    code, out, err = run(["predict", "googlenet", *args, "-o", str(target)], capsys)
    assert code == 2 and err.startswith("error: ") and msg in err and len(err.splitlines()) == 1
    assert not target.exists()


@pytest.mark.parametrize("content", ['{"broken', '{"devices": "no"}', '{"name": "z", "peaks_tflops": '
                                     '{"fp32": -1}, "bandwidth_gbs": 5}'])
def test_damaged_device_file_exit_2(content, capsys, tmp_path):
    dev = tmp_path / "dev.json"
    dev.write_text(content)
    target = tmp_path / "out.txt"
    code, out, err = run(["predict", "googlenet", "--on", str(dev), "-o", str(target)], capsys)
    assert code == 2 and err.startswith("error: ") and len(err.splitlines()) == 1
    assert not target.exists()


def test_profile_on_prints_predicted_beside_measured(toy, capsys):
    model, dev = toy
    code, out, err = run(["profile", model, "--device", "cpu", "--iters", "2", "--warmup", "1",
                          "--on", dev, "--format", "md"], capsys)
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("| ") and ":relu" in line
               and line.count("|") == 7)
    _, variant, dtype, batch, measured, predicted, error, _ = [c.strip() for c in row.split("|")]
    assert predicted == "3.201"        # the hand total above: 3.2 ms of bytes + 0.001 ms overhead
    # the measured median is printed to 0.001 ms: the error lies between its two roundings
    lo, hi = float(measured) - 5e-4, float(measured) + 5e-4
    bounds = sorted(100 * (float(predicted) - m) / m for m in (lo, hi))
    assert bounds[0] - 0.1 <= float(error) <= bounds[1] + 0.1


def test_a_narrow_terminal_leaves_out_flop_per_byte_and_says_so(monkeypatch, capsys):
    """googlenet on one device: cells of 26 (inception3a.branch2.0.conv) + 6 (FLOP/B) + 5
    (0.010) + 5 (1.1 o) characters, + 3 per column and 1 of borders = 55. At 54 columns
    FLOP/B is left out and named in a footnote; at 55 it stays."""
    monkeypatch.setenv("COLUMNS", "54")
    code, out, err = run(["predict", "googlenet", "--on", "H100"], capsys)
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 54
    assert "FLOP/B" not in out.split("not shown")[0]
    assert "not shown at 54 columns: FLOP/B" in " ".join(out.split())
    monkeypatch.setenv("COLUMNS", "55")
    code, out, err = run(["predict", "googlenet", "--on", "H100"], capsys)
    assert code == 0 and "FLOP/B" in out and "not shown" not in out
    assert max(len(line) for line in out.splitlines()) == 55
