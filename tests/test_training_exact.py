"""`train` and count_training keep exact integers at any batch, refuse sizes no tensor
can hold with one line, and report a step PyTorch refuses with PyTorch's reason.

The expected numbers are derived by hand below (a one-conv model) or by Python
integer arithmetic on the batch-1 count (every count but the optimizer's is linear
in the batch)."""
from __future__ import annotations

import re

import csv
import io
import json
import textwrap

import pytest
import torch.nn as nn

from inception_cost import build
from inception_cost.counting.training import BackwardError, count_training
from inception_cost.units import human

from micro import run

INT64_MAX = 2**63 - 1

CONV_MODEL = textwrap.dedent('''
    import torch.nn as nn

    def build():
        # 3x8x8 -> conv 3x3, 8 filters, no bias -> 8x6x6 = 288 logits per sample
        return nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.Flatten())
''')

INPLACE_MODEL = textwrap.dedent('''
    import torch
    import torch.nn as nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            y = torch.sigmoid(self.fc(x.flatten(1)))
            y.add_(1)          # sigmoid saved y for its backward: PyTorch refuses the step
            return y

    def build():
        return M()
''')


def conv_step(b: int) -> dict:
    """Hand arithmetic for CONV_MODEL at batch b, SGD (2 FLOPs per parameter element).
    conv: 8 x 6 x 6 outputs x 3 x 3 x 3 MACs = 7776 MACs per sample, forward and weight
    gradient each (no input gradient: the input needs none); 216 weights.
    loss on 288 logits: log_softmax 3/element, nll 1 add per sample, backward 4/element."""
    macs = 7776 * b
    conv_flops = 2 * macs + 2 * macs + 2 * 216
    loss_flops = (3 * 288 + 1 + 4 * 288) * b
    return {"conv_fwd_macs": macs, "conv_step_flops": conv_flops,
            "step_flops": conv_flops + loss_flops}


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    (d / "conv.py").write_text(CONV_MODEL)
    (d / "inplace.py").write_text(INPLACE_MODEL)
    return d


def test_hand_formula_at_batch_1(model_files, capsys):
    code, out, _ = run(["train", f"{model_files}/conv.py:build", "--input", "3x8x8",
                          "--optimizer", "sgd", "--batch", "1",
                        "--format", "csv"], capsys)
    assert code == 0
    rows = {r["module"]: r for r in csv.DictReader(io.StringIO(out))}
    want = conv_step(1)
    assert int(rows["0"]["fwd_macs"]) == want["conv_fwd_macs"]
    assert int(rows["0"]["step_flops"]) == want["conv_step_flops"]
    assert sum(int(r["step_flops"]) for r in rows.values()) == want["step_flops"]


B = 10**15       # input 1e15 x 3 x 8 x 8 fp32 = 7.7e17 bytes: a tensor; counts > 2^63


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_counts_past_int64_are_exact_in_csv_and_json(model_files, capsys, fmt):
    code, out, err = run(["train", f"{model_files}/conv.py:build", "--input", "3x8x8",
                          "--optimizer", "sgd", "--batch",
                          str(B), "--format", fmt], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out))) if fmt == "csv" else json.loads(out)["rows"]
    by = {r["module"]: r for r in rows}
    want = conv_step(B)
    assert want["conv_step_flops"] > INT64_MAX
    assert int(by["0"]["fwd_macs"]) == want["conv_fwd_macs"]
    assert int(by["0"]["step_flops"]) == want["conv_step_flops"]
    assert sum(int(r["step_flops"]) for r in rows) == want["step_flops"]


def test_depth_0_sums_past_int64(model_files, capsys):
    code, out, _ = run(["train", f"{model_files}/conv.py:build", "--input", "3x8x8",
                          "--optimizer", "sgd", "--batch",
                        str(B), "--depth", "0", "--format", "csv"], capsys)
    assert code == 0
    rows = {r["module"]: r for r in csv.DictReader(io.StringIO(out))}
    want = conv_step(B)
    assert int(rows[""]["step_flops"]) == want["conv_step_flops"]
    assert int(rows[""]["step_flops"]) + int(rows["(loss)"]["step_flops"]) == want["step_flops"]


def test_rich_total_is_the_exact_count(model_files, capsys):
    code, out, _ = run(["train", f"{model_files}/conv.py:build", "--input", "3x8x8",
                          "--optimizer", "sgd", "--batch",
                        str(B)], capsys)
    assert code == 0
    total = conv_step(B)["step_flops"]          # 33,121,000,000,000,000,432 FLOPs
    assert total == 33_121_000_000_000_000_432
    assert "33121000.00 TFLOPs in all" in out
    total_row = [line for line in out.splitlines() if "TOTAL" in line][0]
    # the terminal view may show quantities compact, the unit in the header: 33121000.00T
    assert re.search(r"\b33121000\.00 ?T(FLOPs)?\b", total_row), total_row


def test_human_never_shows_float_rounded_digits():
    # 123456789012345678901234567890 FLOPs / 1e12 = 123456789012345678.90123...: a float
    # would print ...680.00
    assert human(123456789012345678901234567890, "FLOPs") == "123456789012345678.90 TFLOPs"
    assert human(2**63 + 5 * 10**9, "MACs") == "9223372.04 TMACs"
    assert human(1_500_000_000, "MACs") == "1.50 GMACs"


def test_inception_naive_at_6e9_equals_batch_1_times_batch():
    """The issue's case: branch3.conv step FLOPs at batch 6e9 wrapped to a negative number.
    Every count is linear in the batch except the optimizer's (per parameter)."""
    b = 6_000_000_000
    one = count_training(build("inception_naive"), (1, 256, 28, 28)).layers.set_index("module")
    big = count_training(build("inception_naive"), (b, 256, 28, 28)).layers.set_index("module")
    for module in one.index:
        for col in ("fwd_macs", "bwd_macs", "fwd_flops", "bwd_flops", "step_flops"):
            opt = int(one.at[module, "opt_flops"]) if col == "step_flops" else 0
            assert int(big.at[module, col]) == (int(one.at[module, col]) - opt) * b + opt, (module, col)
    assert int(big.at["branch3.conv", "step_flops"]) == 11_561_453_568_001_228_992


@pytest.mark.parametrize("batch", ["10000000000000000", "100000000000000000000",
                                   "9" * 340])
def test_batches_no_tensor_can_hold_are_one_error_line(model_files, capsys, batch):
    """1e16 x 3 x 8 x 8 fits (7.7e18 bytes) but the conv output 1e16 x 8 x 6 x 6 does not;
    1e20 and 340 nines: the input itself cannot be a tensor."""
    code, out, err = run(["train", f"{model_files}/conv.py:build", "--input", "3x8x8",
                          "--optimizer", "sgd", "--batch",
                          batch, "--format", "csv"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert "2^63 - 1 bytes" in err and "Traceback" not in err


def test_a_step_pytorch_refuses_says_why(model_files, capsys):
    code, out, err = run(["train", f"{model_files}/inplace.py:build", "--input", "2x2x2"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: backward failed: RuntimeError: one of the variables needed for "
                          "gradient computation has been modified by an inplace operation")
    assert "output 0 of Sigmoid" in err and "internal error" not in err


def test_api_raises_the_backward_error():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            y = self.fc(x).exp()    # exp saves its output
            y.mul_(2)
            return y
    with pytest.raises(BackwardError, match="modified by an inplace operation"):
        count_training(M(), (2, 4))
