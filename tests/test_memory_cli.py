"""``inception-cost memory``: output formats, --fit, and bad input (one error line, exit 2,
no file written)."""
import json
import os

import pytest
import torch

from inception_cost.cli import main
from inception_cost.memory_analysis import fit_batch


def run(capsys, *args):
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("args, needle", [
    (["--fit", "16XB"], "--fit must be a size like 16GiB"),
    (["--fit", "1MiB"], "the parameters alone need 26.70 MiB"),
    (["--dtype", "fp8"], "unknown dtype 'fp8'"),
    (["--train", "--optimizer", "lion"], "unknown optimizer 'lion'"),
    (["--batch", "0"], "--batch must be a positive integer"),
])
def test_bad_input_is_one_error_line_exit_2(capsys, tmp_path, args, needle):
    target = tmp_path / "out.csv"
    rc, out, err = run(capsys, "memory", "googlenet", *args, "-o", str(target))
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert "Traceback" not in err and not target.exists() and os.listdir(tmp_path) == []


def test_parameters_alone_figure_is_the_parameter_bytes(capsys):
    from inception_cost import build
    params = sum(p.numel() * 4 for p in build("googlenet").parameters())  # fp32
    rc, _out, err = run(capsys, "memory", "googlenet", "--fit", "1MiB")
    assert rc == 2 and f"the parameters alone need {params / 2**20:.2f} MiB" in err


def test_json_output_is_exact_and_consistent(capsys, tmp_path):
    """The breakdown sums to the peak (consistency); the peak itself is checked against
    MemTracker in test_memory_fit_scan.test_cli_json_peak_and_breakdown_equal_memtracker."""
    target = tmp_path / "mem.json"
    rc, _out, err = run(capsys, "memory", "googlenet", "--train", "--batch", "2",
                        "--optimizer", "adam", "--format", "json", "-o", str(target))
    assert rc == 0, err
    data = json.loads(target.read_text())
    assert data["units"] == "bytes" and data["training"] is True
    assert sum(data["breakdown"].values()) == data["peak_bytes"]
    from inception_cost import build
    # --train builds the auxiliary heads, as `train` does
    params = list(build("googlenet", aux=True).parameters())
    nbytes = sum(p.numel() * 4 for p in params)
    assert data["parameter_bytes"] == nbytes
    # Adam: two fp32 moments per parameter + a 4-byte step per tensor.
    assert data["breakdown"]["optimizer_state"] == 2 * nbytes + 4 * len(params)
    assert data["peak_phase"] in ("forward", "backward", "optimizer")


def test_csv_timeline_and_rich_output(capsys):
    rc, out, err = run(capsys, "memory", "googlenet", "--batch", "2", "--format", "csv",
                       "--timeline")
    assert rc == 0, err
    header = out.splitlines()[0].split(",")
    assert header[:5] == ["op_index", "phase", "module", "op", "live_bytes"]
    rc, out, err = run(capsys, "memory", "googlenet", "--train", "--optimizer", "sgd")
    assert rc == 0, err
    assert "peak" in out and "saved_activations" in out and "inception3a" in out


def test_fit_prints_inference_and_training(capsys):
    """Output shape and the search's invariant; the answer itself is checked against a scan
    of MemTracker's peaks in test_memory_fit_scan.test_cli_fit_equals_memtracker_scan."""
    rc, out, err = run(capsys, "memory", "googlenet", "--fit", "4GiB", "--format", "csv")
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("mode,budget_bytes,largest_batch")
    rows = [line.split(",") for line in lines[1:]]
    assert [r[0] for r in rows] == ["inference", "training"]
    for r in rows:
        budget, batch, peak, nxt = int(r[1]), int(r[2]), int(r[3]), int(r[4])
        usable = budget - budget * 5 // 100       # the default --reserve, 5%
        assert budget == 4 * 2**30 and batch > 0 and peak <= usable < nxt
    assert int(rows[0][2]) > int(rows[1][2])  # training keeps far more alive


def test_fit_agrees_with_api(capsys):
    with torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1))
    r = fit_batch(model, "1MiB", (3, 32, 32), reserve=0)
    # params 8*27*4 + 32 = 896 B; per image: input 12288 + output 32768 = 45056 B.
    assert r.batch == (2**20 - 896) // 45056
    kept = fit_batch(model, "1MiB", (3, 32, 32))       # default reserve: 5% kept free
    assert kept.batch == (2**20 - 2**20 * 5 // 100 - 896) // 45056


def test_plots_are_written(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    from inception_cost.regeneration.memory_plots import write_memory_plots
    rels = write_memory_plots(str(tmp_path), batch=2)
    assert len(rels) == 3
    for rel in rels:
        data = (tmp_path / rel).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    rc, _out, err = run(capsys, "memory", "googlenet", "--train", "--batch", "2", "--plots",
                        str(tmp_path / "cli"), "--format", "csv", "-o", str(tmp_path / "m.csv"))
    assert rc == 0, err
    assert sorted(os.listdir(tmp_path / "cli")) == [
        "googlenet_b2_train_memory_modules.png", "googlenet_b2_train_memory_timeline.png"]
