"""`inception-cost train` as a user runs it: formats, aux heads, freeze, optimizer, bad input."""
import json
import os

import pandas as pd
import pytest

from micro import run


def test_train_csv_exact_and_adamw(capsys, tmp_path):
    out_file = tmp_path / "r.csv"
    code, out, err = run(["train", "torchvision:resnet50", "--optimizer", "adamw", "--format", "csv", "--batch", "1",
                          "-o", str(out_file)], capsys)
    assert code == 0, err
    df = pd.read_csv(out_file)
    params = int(df["params"].sum())
    assert params == 25_557_032                                  # torchvision's resnet50
    # adamw: 14 FLOPs per element + 1 per tensor (161 parameter tensors in resnet50)
    assert int(df["opt_flops"].sum()) == 14 * params + 161
    conv1 = df.set_index("module").loc["conv1"]
    assert conv1["fwd_macs"] == 112 * 112 * 64 * 7 * 7 * 3 and conv1["bwd_input_macs"] == 0
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp-")]


def test_train_googlenet_shows_training_only_heads(capsys):
    code, out, err = run(["train", "googlenet", "--depth", "1"], capsys)
    assert code == 0, err
    # default batch 32; per image 3 x (aux1 4,169,728 + aux2 4,202,496) MACs (forward, input
    # and weight gradients of heads of 1x1 conv 128, fc 2048->1024, fc 1024->1000)
    assert f"training-only heads (aux1, aux2): {32 * 3 * (4_169_728 + 4_202_496):,} MACs" in out
    code, out, err = run(["train", "googlenet", "--no-aux", "--format", "json", "--depth", "1"], capsys)
    rows = json.loads(out)["rows"]
    assert not any(r["module"].startswith("aux") for r in rows) and not any(r["aux"] for r in rows)


def test_train_freeze_backbone(capsys):
    code, out, err = run(["train", "torchvision:resnet50", "--freeze", "conv1,bn1,layer*",
                          "--format", "json", "--depth", "1"], capsys)
    assert code == 0, err
    rows = {r["module"]: r for r in json.loads(out)["rows"]}
    assert rows["layer4"]["bwd_macs"] == 0 and rows["layer4"]["trainable"] == 0
    fc = rows["fc"]
    assert (fc["bwd_input_macs"], fc["bwd_weight_macs"], fc["trainable"]) == (0, 32 * 2048 * 1000, 2048 * 1000 + 1000)


BAD_MODEL = """
import torch.nn as nn
class Strings(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
    def forward(self, x):
        return {"a": "not a tensor"}
def build():
    return Strings()
"""


@pytest.mark.parametrize("args,needle", [
    (["train", "googlenet", "--optimizer", "adamx"], "unknown optimizer 'adamx'"),
    (["train", "googlenet", "--freeze", "conv1,nothere*"], "freeze pattern 'nothere*' matches no module"),
    (["train", "googlenet", "--batch", "0"], "--batch must be a positive integer"),
    (["train", "googlenet", "--freeze", "*"], "nothing to train"),
    (["train", "nosuchnet"], "unknown variant"),
])
def test_train_bad_input_one_error_line_exit_2(args, needle, capsys):
    code, out, err = run(args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]


def test_train_non_tensor_output_is_one_error_line(capsys, tmp_path):
    f = tmp_path / "bad.py"
    f.write_text(BAD_MODEL)
    code, out, err = run(["train", f"{f}:build", "--input", "4x1x1"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "not a tensor or a tuple/dict of tensors" in lines[0]


def test_train_unwritable_output_leaves_no_file(capsys, tmp_path):
    target = tmp_path / "missing_dir" / "r.csv"
    code, out, err = run(["train", "inception_naive", "--format", "csv", "-o", str(target)], capsys)
    assert code == 2 and err.startswith("error: ") and not target.exists()


GATED = """
import torch.nn as nn
def build():
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
    m[2].weight.requires_grad_({frozen})
    return m
"""


def _gate(f, base, *extra):
    return ["check", "--model", f"{f}:build", "--input", "3x8x8", "--name", "net",
            "--baseline", str(base), "--train", *extra]


def test_check_gates_backward_cost(capsys, tmp_path):
    f, base = tmp_path / "net.py", tmp_path / "base"
    f.write_text(GATED.format(frozen="True"))
    code, out, err = run(_gate(f, base, "--update"), capsys)
    assert code == 0 and "net (training): created" in out, err
    assert (base / "training" / "net.csv").exists()
    code, out, err = run(_gate(f, base), capsys)
    assert code == 0 and "check passed" in out
    # freezing conv "2" leaves every forward count alone but removes its weight gradient:
    # 32 x 16 x 8 x 8 x 8 x 9 MACs (batch 32, Cout 16, 8x8 output, Cin 8, 3x3)
    f.write_text(GATED.format(frozen="False"))
    code, out, err = run(_gate(f, base), capsys)
    assert code == 1 and "check failed" in err
    assert "net (training)" in out and "net:" not in out
    code, out, err = run(_gate(f, base, "--format", "json"), capsys)
    payload = json.loads(out)
    changed = {v["variant"]: v for v in payload["variants"]}
    assert changed["net"]["identical"] and not changed["net (training)"]["identical"]
    assert changed["net (training)"]["delta"]["macs"] == -(32 * 16 * 8 * 8 * 8 * 9)
    # --no-train: the forward gate alone passes
    code, out, err = run(_gate(f, base, "--no-train"), capsys)
    assert code == 0


def test_check_corrupt_training_baseline_exits_2(capsys, tmp_path):
    f, base = tmp_path / "net.py", tmp_path / "base"
    f.write_text(GATED.format(frozen="True"))
    run(_gate(f, base, "--update"), capsys)
    (base / "training" / "net.csv").write_text("module,params\nconv,12x\n")
    code, out, err = run(_gate(f, base), capsys)
    assert code == 2 and "training baseline" in err and "corrupt" in err


def test_committed_training_reports_pass_check(capsys):
    root = os.path.join(os.path.dirname(__file__), "..", "reports")
    code, out, err = run(["check", "--baseline", root, "--variants", "googlenet,inception_naive",
                          "--train"], capsys)
    assert code == 0, out + err


def test_table_train_column(capsys):
    code, out, err = run(["table", "--train", "--format", "json"], capsys)
    assert code == 0, err
    table = json.loads(out)["table"]
    by_type = {r["type"]: r for r in table}
    conv1 = table[0]
    # conv1: 112*112*64*7*7*3 forward MACs; its input is the image -> weight gradient only
    assert conv1["MACs"] == 118_013_952 and conv1["train MACs (fwd+bwd)"] == 2 * 118_013_952
    linear = by_type["linear"]
    assert linear["train MACs (fwd+bwd)"] == 3 * 1024 * 1000          # forward, dL/dx, dL/dW
    total = by_type["total (Table 1 rows)"]
    assert total["train MACs (fwd+bwd)"] == sum(
        r["train MACs (fwd+bwd)"] for r in table
        if r["type"] not in ("total (Table 1 rows)", "convolution (stem=separable)"))
    code, out, err = run(["table", "inception_v3", "--train"], capsys)
    assert code == 2 and err.startswith("error: --train applies to GoogLeNet's Table 1")

