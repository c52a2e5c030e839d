"""Bytes moved in `layers` and `train` rows (CLI JSON and API): hand-derived values for a
conv, a linear, an out-of-place and an in-place ReLU and a broadcast add; and equality of
the per-layer sums with PyTorch's ``get_num_bytes`` summed over every op a reference
dispatch mode (written here) sees in a plain run of the same model.

Convention (torch/utils/_runtime_estimation.py): an op reads each tensor argument and
writes each tensor it returns, at its dtype's size (fp32: 4 bytes), broadcast (stride-0)
dimensions once; views and allocations move 0."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._runtime_estimation import _IGNORE_OPS, get_num_bytes

from inception_cost import count
from inception_cost.counting.training import count_training, default_loss
from micro import run

TINY = '''
import torch
import torch.nn as nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)            # 1x3x6x6 -> 1x4x4x4
        self.act = nn.ReLU()                      # out of place
        self.shift = nn.Parameter(torch.zeros(4, 1, 1))
        self.act_ = nn.ReLU(inplace=True)
        self.fc = nn.Linear(64, 5)

    def forward(self, x):
        y = self.act(self.conv(x))
        y = y + self.shift                        # broadcast add over 4 x 4
        y = self.act_(y)
        return self.fc(y.flatten(1))


def tiny():
    m = Tiny()
    m.default_input_size = (3, 6, 6)
    return m
'''

F32 = 4
# hand arithmetic, elements read + written, batch 1
CONV = 3 * 6 * 6 + 4 * 3 * 3 * 3 + 4 + 4 * 4 * 4      # x, W, b; y
RELU = 64 + 64                                         # x; y (in place too: read, write)
ADD = 64 + 4 + 64                                      # y, shift (4 elements once); out
LINEAR = 64 + 5 * 64 + 5 + 5                           # x, W, b; out
FORWARD = CONV + RELU + ADD + RELU + LINEAR


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("bytes")
    (d / "tinynet.py").write_text(TINY)
    return f"{d}/tinynet.py:tiny"


@pytest.fixture(scope="module")
def tiny_model(tiny_file):
    from inception_cost.models.resolve import resolve_model
    return resolve_model(tiny_file)[0]


def _rows(out: str) -> list[dict]:
    return json.loads(out)["rows"]


def test_layers_json_rows_by_hand(tiny_file, capsys):
    code, out, err = run(["layers", tiny_file, "--format", "json"], capsys)
    assert code == 0, err
    obj = json.loads(out)
    got = {(r["module"], r["op"]): r for r in obj["rows"] if r["op"] != "params"}
    assert got[("conv", "convolution")]["bytes"] == F32 * CONV == 1136
    assert got[("act", "relu")]["bytes"] == F32 * RELU
    assert got[("act_", "relu_")]["bytes"] == F32 * RELU           # in place: same traffic
    assert got[("", "add")]["bytes"] == F32 * ADD == 528
    assert got[("fc", "linear")]["bytes"] == F32 * LINEAR == 1576
    assert all(isinstance(r["bytes"], int) for r in obj["rows"])
    assert obj["totals"]["bytes"] == F32 * FORWARD == 4264
    conv = got[("conv", "convolution")]
    assert conv["flop_per_byte"] == conv["flops"] / 1136
    # --depth: per module, the same bytes
    code, out, _ = run(["layers", tiny_file, "--format", "json", "--depth", "1"], capsys)
    by = {r["module"]: r["bytes"] for r in _rows(out)}
    assert by["fc"] == F32 * LINEAR and by["act_"] == F32 * RELU and by["(top)"] == F32 * ADD


def test_layers_csv_carries_bytes(tiny_file, capsys):
    code, out, _ = run(["layers", tiny_file, "--format", "csv"], capsys)
    header = out.splitlines()[0].split(",")
    assert "bytes" in header and "flop_per_byte" in header


def test_train_rows_by_hand(tiny_file, capsys):
    code, out, err = run(["train", tiny_file, "--batch", "1", "--optimizer", "sgd",
                          "--format", "json"], capsys)
    assert code == 0, err
    rows = {r["module"]: r for r in _rows(out)}
    assert rows["conv"]["fwd_bytes"] == F32 * CONV
    assert rows["act"]["fwd_bytes"] == F32 * RELU
    assert rows["act_"]["fwd_bytes"] == F32 * RELU
    assert rows["fc"]["fwd_bytes"] == F32 * LINEAR
    # backward of a ReLU: threshold_backward reads the gradient and the output, writes
    # the input gradient (64 each); in place the same
    assert rows["act"]["bwd_input_bytes"] == rows["act_"]["bwd_input_bytes"] == F32 * 3 * 64
    # conv: the input needs no gradient, so convolution_backward computes dW and db only:
    # reads dy 64, x 108, W 108; writes dW 108, db 4 -- all weight-gradient work
    assert rows["conv"]["bwd_input_bytes"] == 0
    assert rows["conv"]["bwd_weight_bytes"] == F32 * (64 + 108 + 108 + 108 + 4)
    # linear: dx = dy W (mm: dy 5, W 320 -> 64); dW = (x^T dy)^T (mm: x 64, dy 5 -> 320)
    # and db = sum(dy) (5 -> 5)
    assert rows["fc"]["bwd_input_bytes"] == F32 * (5 + 320 + 64)
    assert rows["fc"]["bwd_weight_bytes"] == F32 * ((64 + 5 + 320) + (5 + 5))
    # the broadcast add's parameter gradient: sum of dy over batch and space (64 -> 4)
    top = rows[""]
    assert top["fwd_bytes"] == F32 * ADD
    assert top["bwd_weight_bytes"] == F32 * (64 + 4)
    # sgd: p.add_(g, alpha=-lr) reads p and g, writes p: 3 accesses per element
    assert rows["fc"]["opt_bytes"] == F32 * 3 * (320 + 5)
    assert rows["conv"]["opt_bytes"] == F32 * 3 * (108 + 4)
    for r in rows.values():
        assert r["bwd_bytes"] == r["bwd_input_bytes"] + r["bwd_weight_bytes"]
        assert r["step_bytes"] == r["fwd_bytes"] + r["bwd_bytes"] + r["opt_bytes"]


# --------------------------------------------------------------------------- #
# equality with torch's get_num_bytes over a plain run
# --------------------------------------------------------------------------- #
class TorchBytes(TorchDispatchMode):
    """get_num_bytes of every tensor argument and output of every op that is not a view
    or creation op (torch's _IGNORE_OPS), nor an allocation or alias that touches no data."""

    UNTOUCHED = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided",
                 "alias", "_unsafe_view", "detach", "lift_fresh", "_local_scalar_dense",
                 "_record_function_enter_new", "_record_function_exit"}

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        if func.overloadpacket in _IGNORE_OPS or func.is_view or name in self.UNTOUCHED:
            return out
        self.total += sum(get_num_bytes(t) for t in pytree.tree_leaves((args, kwargs, out))
                          if isinstance(t, torch.Tensor))
        return out


class Mixed(nn.Module):
    """Every path the counter takes for a composite: conv, batch norm (eval), linear on
    2-D and 3-D input, softmax, layer norm, local response norm, attention, a transposed
    (non-contiguous) linear input, an add of an expanded (stride-0) tensor and an in-place
    ReLU."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.lrn = nn.LocalResponseNorm(3)
        self.ln = nn.LayerNorm(8)
        self.proj = nn.Linear(8, 8)
        self.fc = nn.Linear(8 * 16, 10)

    def forward(self, x):
        y = F.relu(self.bn(self.conv(x)), inplace=True)
        y = self.lrn(y) + self.conv.bias.view(1, 8, 1, 1).expand(y.shape)   # stride-0 operand
        t = self.ln(y.flatten(2).transpose(1, 2))             # N x 16 x 8
        t = self.proj(t) + self.proj(t.transpose(1, 2).transpose(1, 2).contiguous())
        a = F.scaled_dot_product_attention(t.unsqueeze(1), t.unsqueeze(1), t.unsqueeze(1))
        t = F.softmax(self.proj(a.squeeze(1).transpose(0, 1)), dim=-1)   # transposed input
        return self.fc(t.transpose(0, 1).flatten(1))


def _reference(model, x, train=False):
    ref = TorchBytes()
    if train:
        model.train()
        with torch.enable_grad(), ref:
            default_loss([model(x)]).backward()
    else:
        model.eval()
        with torch.no_grad(), ref:
            model(x)
    return ref.total


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_layers_bytes_sum_equals_get_num_bytes(device):
    torch.manual_seed(0)
    model = Mixed().eval()
    for _ in range(2):      # the second count reuses what the first one measured
        report = count(model, (2, 3, 4, 4), device=device)
        x = torch.randn(2, 3, 4, 4, device=device)
        run_model = model if device == "cpu" else model.to("meta")
        assert report.total_bytes == _reference(run_model, x) > 0
        assert int(report.layers["bytes"].sum()) == report.total_bytes
        model = Mixed().eval()
    by = report.by_module(depth=1)
    assert int(by["bytes"].sum()) == report.total_bytes


def test_layers_bytes_of_googlenet_equal_get_num_bytes():
    from inception_cost.models.registry import build
    from inception_cost.counting.placement import copy_on
    model = build("googlenet")
    report = count(model, (2, 3, 224, 224))
    assert report.total_bytes == _reference(copy_on(model, "meta"),
                                            torch.empty(2, 3, 224, 224, device="meta"))


def test_train_bytes_sum_equals_get_num_bytes():
    """Forward (train mode) + loss + backward: every layer's fwd and bwd bytes together are
    what the dispatched ops move; the optimizer's closed form is checked against torch.optim
    in test_training_optimizer."""
    torch.manual_seed(0)
    with torch.device("meta"):
        model = Mixed()
    rep = count_training(model, (2, 3, 4, 4), optimizer=None)
    t = rep.totals()
    assert t["opt_bytes"] == 0
    assert t["fwd_bytes"] + t["bwd_bytes"] == t["step_bytes"] == _reference(
        model, torch.empty(2, 3, 4, 4, device="meta"), train=True)
    assert rep.phase_bytes()["backward weight-grad"] == t["bwd_weight_bytes"] > 0


def test_a_backward_op_computing_both_gradients_splits_its_bytes_by_flops():
    """Conv2d(4, 2, 3) after a layer that needs the gradient: convolution_backward reads
    dy (8), x (64), W (72) and writes dx (64), dW (72), db (2). Its FLOPs: dx 2 x 288,
    dW 2 x 288 + 8 (db sums 8 elements); the input gradient gets its FLOP share of the
    bytes, rounded down, the weight gradient the rest."""
    with torch.device("meta"):
        m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 3))
    rows = count_training(m, (1, 3, 6, 6), optimizer=None).layers.set_index("module")
    total = F32 * (8 + 64 + 72 + 64 + 72 + 2)
    fi, fw = 2 * 288, 2 * 288 + 8
    assert rows.at["1", "bwd_input_bytes"] == total * fi // (fi + fw) == 560
    assert rows.at["1", "bwd_weight_bytes"] == total - 560


def test_check_reads_old_baselines_and_gates_bytes(tiny_file, tmp_path, capsys):
    base = tmp_path / "base"
    args = ["check", "--model", tiny_file, "--name", "tiny", "--baseline", str(base)]
    assert run(args + ["--update"], capsys)[0] == 0
    path = base / "layers" / "tiny.csv"
    text = path.read_text()
    header = text.splitlines()[0].split(",")
    i = header.index("bytes")
    lines = [ln.split(",") for ln in text.splitlines()]
    # a baseline written before the column existed: read and compared without it
    path.write_text("\n".join(",".join(c for j, c in enumerate(r) if j != i) for r in lines) + "\n")
    assert run(args, capsys)[0] == 0
    # a drifted byte count fails the gate
    lines[1][i] = str(int(lines[1][i]) + 4)
    path.write_text("\n".join(",".join(r) for r in lines) + "\n")
    code, out, _ = run(args, capsys)
    assert code == 1 and "bytes" in out


def test_training_baseline_without_bytes_columns_is_read(tmp_path):
    from inception_cost.counting.training import BYTES_COLUMNS
    from inception_cost.report.baseline import BaselineError
    from inception_cost.report.training_reports import (diff_training, read_training_baseline,
                                                        training_csv)
    with torch.device("meta"):
        m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    rep = count_training(m, (1, 3, 6, 6), optimizer="sgd")
    old = tmp_path / "old.csv"
    rep.layers.drop(columns=BYTES_COLUMNS).to_csv(old, index=False)
    assert diff_training("m", read_training_baseline(str(old)), rep).identical
    full = tmp_path / "full.csv"
    full.write_text(training_csv(rep))
    assert diff_training("m", read_training_baseline(str(full)), rep).identical
    drifted = rep.layers.copy()
    drifted.loc[0, "fwd_bytes"] += 4
    drifted.loc[0, "step_bytes"] += 4
    drifted.to_csv(full, index=False)
    d = diff_training("m", read_training_baseline(str(full)), rep)
    assert not d.identical and d.drifted(d.changes[0]) == ["fwd_bytes", "step_bytes"]
    rep.layers.drop(columns=["opt_bytes"]).to_csv(full, index=False)       # some, not all
    with pytest.raises(BaselineError, match="opt_bytes"):
        read_training_baseline(str(full))
