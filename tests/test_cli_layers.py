"""`inception-cost layers` as a user runs it: outputs and every bad input."""
import io
import json

import pandas as pd
import pytest

from micro import run


def test_layers_csv_exact_integers(capsys, tmp_path):
    out_file = tmp_path / "g.csv"
    code, out, err = run(["layers", "torchvision:googlenet", "--format", "csv", "-o", str(out_file)], capsys)
    assert code == 0, err
    df = pd.read_csv(out_file)
    # torchvision's googlenet: 6,624,904 params; conv1 = 112*112*64*7*7*3 MACs
    assert df["params"].sum() == 6_624_904
    first = df.iloc[0]
    assert first["module"] == "conv1.conv" and first["macs"] == 112 * 112 * 64 * 147


def test_layers_json_rows_and_depth(capsys):
    code, out, err = run(["layers", "torchvision:resnet50", "--format", "json", "--depth", "1"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    assert obj["model"] == "torchvision:resnet50" and obj["convention"] == "native"
    assert obj["input"] == [{"name": None, "shape": [1, 3, 224, 224], "dtype": "float32"}]
    rows = obj["rows"]
    assert {r["module"] for r in rows} >= {"conv1", "layer1", "fc"}
    # the totals are the rows' sums, and the parameters are torchvision's own count
    assert obj["totals"]["macs"] == sum(r["macs"] for r in rows)
    import torchvision
    assert obj["totals"]["params"] == sum(p.numel() for p in torchvision.models.resnet50().parameters())
    fc = next(r for r in rows if r["module"] == "fc")
    assert fc["macs"] == 2048 * 1000 and isinstance(fc["macs"], int)


def test_layers_rich_plain_text_with_units_and_total(capsys):
    code, out, err = run(["layers", "torchvision:googlenet", "--depth", "1", "--batch", "2"], capsys)
    assert code == 0, err
    assert "GMACs" in out and "GFLOPs" in out and "TOTAL" in out and "% flops" in out
    assert "\x1b[" not in out          # off a TTY: no escape codes
    # batch 2 doubles torchvision's 1.50 G MACs
    assert "3.00 GMACs" in out


def test_layers_md_and_fvcore_convention(capsys):
    code, out, err = run(["layers", "torchvision:googlenet", "--format", "md", "--depth", "0",
                          "--convention", "fvcore"], capsys)
    assert code == 0, err
    assert out.startswith("### ") and "| module |" in out and "fvcore" in out


def test_layers_user_factory_file(capsys, tmp_path):
    f = tmp_path / "mynet.py"
    f.write_text("import torch.nn as nn\n"
                 "def build():\n    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())\n")
    code, out, err = run(["layers", f"{f}:build", "--input", "3x10x10", "--format", "csv"], capsys)
    assert code == 0, err
    df = pd.read_csv(io.StringIO(out))
    assert df["macs"].sum() == 8 * 8 * 8 * 27


@pytest.mark.parametrize("args,needle", [
    (["layers", "googlenett"], "unknown variant"),
    (["layers", "torchvision:googlenett"], "did you mean googlenet"),
    (["layers", "torchvision:googlenet", "--input", "3x224"], "CxHxW"),
    (["layers", "torchvision:googlenet", "--batch", "0"], "--batch"),
    (["layers", "torchvision:alexnet", "--input", "3x30x30"], "smallest square input"),
    (["layers", "torchvision:resnet50", "--input", "1x224x224"], "conv1"),
    (["layers", "torchvision:googlenet", "-o", "/nonexistent/dir/x.csv", "--format", "csv"], "cannot write"),
    (["layers", "nofile.py:build"], "no such file"),
    (["layers", "torchvision:googlenet", "--format", "xml"], "xml"),
])
def test_bad_input_one_line_exit_2(args, needle, capsys):
    code, out, err = run(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert needle in lines[0]
    assert "Traceback" not in err


def test_console_script_and_module_entry(module_entry_runs):
    # `python -m inception_cost layers nope`, in the child of tests/conftest.py
    returncode, stdout, stderr = module_entry_runs["layers nope"]
    assert returncode == 2 and stderr.startswith("error: unknown variant")
    assert "Traceback" not in stderr
