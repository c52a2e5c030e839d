"""`inception-cost profile` as a user runs it on a machine without a GPU."""
import json

import pandas as pd
import pytest
import torch

from inception_cost import build, count
from micro import run
from inception_cost.profiling import LAYER_CONFIG_COLUMNS, RUN_COLUMNS
from inception_cost.profiling.per_layer import LAYER_FIELDS

FACTORY = '''
import torch.nn as nn

def tiny():
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    m.default_input_size = (3, 16, 16)
    return m

def with_lrn():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.LocalResponseNorm(5))
'''
FAST = ["--device", "cpu", "--warmup", "1", "--iters", "3", "--threads", "1"]


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(FACTORY)
    return f"{path}:tiny", f"{path}:with_lrn"


@pytest.fixture(autouse=True)
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def one_line_error(code, err, fragment):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert fragment in lines[0] and "Traceback" not in err


def test_cuda_without_cuda_is_exit_2(capsys, monkeypatch, spec):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out, err = run(["profile", spec[0], "--device", "cuda"], capsys)
    one_line_error(code, err, "CUDA is not available")


@pytest.mark.parametrize("args, fragment", [
    (["profile", "no_such_variant", "--device", "cpu"], "unknown variant 'no_such_variant'"),
    (["profile", "MODEL", "--device", "cpu", "--batch", "1,x"], "--batch must be"),
    (["profile", "MODEL", "--device", "cpu", "--batch", "0"], "--batch must be"),
    (["profile", "MODEL", "--device", "cpu", "--dtype", "fp8"], "unknown --dtype 'fp8'"),
    (["profile", "MODEL", "--device", "cpu", "--dtype", "tf32"], "tf32 needs CUDA"),
    (["profile", "MODEL", "--device", "cpu", "--cuda-graphs"], "CUDA graphs need --device cuda"),
    (["profile", "MODEL", "--device", "tpu"], "unknown device 'tpu'"),
    (["profile", "MODEL", "--device", "cpu", "-o", "/no/such/dir/x.csv"], "cannot write --output"),
    (["profile", "MODEL", "--device", "cpu", "--per-layer", "--format", "csv"], "needs --output"),
    (["profile", "MODEL", "--device", "cpu", "--input", "3x2"], "takes CxHxW"),
    (["profile", "LRN", "--device", "cpu", "--dtype", "fp16"], "cannot run in fp16 on cpu"),
])
def test_bad_input_is_one_line_exit_2(capsys, spec, args, fragment):
    args = [spec[0] if a == "MODEL" else spec[1] if a == "LRN" else a for a in args]
    code, out, err = run(args, capsys)
    one_line_error(code, err, fragment)


def test_default_device_is_cpu_with_a_notice(capsys, monkeypatch, spec):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out, err = run(["profile", spec[0], "--warmup", "0", "--iters", "2", "--format", "json"],
                         capsys)
    assert code == 0, err
    assert err.splitlines()[0] == ("notice: CUDA is not available; profiling on cpu "
                                   "(choose with --device)")
    rows = json.loads(out)["rows"]
    assert rows[0]["device"] == "cpu" and rows[0]["status"] == "ok"
    # conv 16*16 outputs x 8 channels x 27 taps + linear 8 x 4 (pooling has no MACs)
    assert rows[0]["macs"] == 16 * 16 * 8 * 27 + 8 * 4


def test_csv_output_is_appended_per_configuration(capsys, spec, tmp_path):
    out_file = tmp_path / "runs.csv"
    code, out, err = run(["profile", spec[0], *FAST, "--batch", "1,2", "--dtype", "fp32,bf16",
                          "--format", "csv", "-o", str(out_file)], capsys)
    assert code == 0, err
    assert out == "" and f"4 configuration(s) in {out_file}" in err
    # one progress line per configuration as it finishes (stderr is not a terminal here)
    assert sum(line.startswith("[") for line in err.splitlines()) == 4
    df = pd.read_csv(out_file)
    assert list(df.columns) == RUN_COLUMNS
    assert list(zip(df["dtype"], df["batch"])) == [("fp32", 1), ("fp32", 2), ("bf16", 1), ("bf16", 2)]
    assert (df["status"] == "ok").all() and (df["torch"] == torch.__version__).all()
    # a second command adds to the same file; --resume skips what is already there
    code, _, err = run(["profile", spec[0], *FAST, "--batch", "1,4", "--format", "csv",
                        "-o", str(out_file), "--resume"], capsys)
    assert code == 0, err
    assert "resume: 1 configuration(s) already in" in err
    df = pd.read_csv(out_file)
    assert list(zip(df["dtype"], df["batch"]))[4:] == [("fp32", 4)]


def test_per_layer_csv_goes_to_a_sibling_file(capsys, spec, tmp_path):
    out_file = tmp_path / "g.csv"
    code, out, err = run(["profile", spec[0], *FAST, "--per-layer", "--batch", "2",
                          "--format", "csv", "-o", str(out_file)], capsys)
    assert code == 0, err
    layers = pd.read_csv(tmp_path / "g.layers.csv", keep_default_na=False)
    assert list(layers.columns) == LAYER_CONFIG_COLUMNS + LAYER_FIELDS
    conv = layers[layers["module"] == "0"].iloc[0]
    assert conv["ops"] == "convolution" and int(conv["macs"]) == 2 * 16 * 16 * 8 * 27
    assert float(conv["layers_sum_ms"]) == pytest.approx(
        pd.to_numeric(layers["time_ms"]).sum(), rel=1e-6)


def test_naive_vs_reduced_shows_mac_ratio_beside_time_ratio(capsys):
    code, out, err = run(["profile", "inception_naive", "inception_reduced", *FAST,
                          "--iters", "2", "--format", "md"], capsys)
    assert code == 0, err
    naive = count(build("inception_naive"), (1, 256, 28, 28)).total_macs
    reduced = count(build("inception_reduced"), (1, 256, 28, 28)).total_macs
    assert "MACs vs measured time" in out
    line = next(l for l in out.splitlines() if "inception_reduced / inception_naive" in l)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[5] == f"{reduced / naive:.3f}"
    assert float(cells[6]) > 0  # measured time ratio


def test_rich_output_has_environment_and_units(capsys, spec):
    code, out, err = run(["profile", spec[0], *FAST, "--per-layer", "--peak-tflops", "1",
                          "--peak-bandwidth", "0.05"], capsys)
    assert code == 0, err
    out = " ".join(out.split())   # titles and notes wrap at the terminal width
    assert "environment: " in out and f"torch {torch.__version__}" in out
    assert "median ms" in out and "device peaks: override" in out
    assert "top 6 of 6 modules by self time" in out and "gap" in out


def test_old_batch_size_spelling_works_with_a_note(capsys, spec):
    code, out, err = run(["profile", spec[0], *FAST, "--batch-size", "2", "--format", "json"],
                         capsys)
    assert code == 0, err
    assert "note: --batch-size is now spelled --batch" in err
    assert [r["batch"] for r in __import__("json").loads(out)["rows"]] == [2]
