"""`memory` and `--fit` give exact integers at any size, checked against hand arithmetic
(Python integers), PyTorch's MemTracker and ``sum(p.numel())``.

The MLP 784-300-10 (Flatten, Linear, ReLU, Linear; fp32, inference) has a peak affine in
the batch N, derived by hand: the parameters stay alive; the input x (784 values per
image) is held by the caller; Flatten is a view; after the ReLU op the first Linear's
output h (300) and the ReLU's output r (300) are both alive (Sequential rebinds its
variable only after the call returns); the second Linear then holds x + r + 10 < that.
So peak(N) = 4 x params + 4 x (784 + 300 + 300) x N.
"""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

import inception_cost
from inception_cost import build
from inception_cost.cli import main
from inception_cost.memory_analysis import fit_batch, memory

INT64_MAX = 2**63 - 1
MLP_PARAMS = 784 * 300 + 300 + 300 * 10 + 10          # 238,510 parameters
P = 4 * MLP_PARAMS                                      # 954,040 bytes
PER_IMAGE = 4 * (784 + 300 + 300)                       # 5,536 bytes
INPUT_PER_IMAGE = 4 * 784                               # fp32 input bytes per image

MLP_FILE = '''
import torch.nn as nn

def mlp():
    m = nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 10))
    m.default_input_size = (1, 28, 28)
    return m
'''


def mlp() -> nn.Module:
    with torch.device("meta"):
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 10))


def peak(n: int) -> int:
    return P + PER_IMAGE * n


def run(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def mlp_spec(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "mlp_model.py"
    path.write_text(MLP_FILE)
    return f"{path}:mlp"


def test_mlp_peak_is_the_hand_formula():
    assert sum(p.numel() for p in mlp().parameters()) == MLP_PARAMS
    for n in (1, 7, 1000):
        assert memory(mlp(), (1, 28, 28), batch=n).peak_bytes == peak(n)


# --- int64: the peak past 2**63 - 1 bytes ---------------------------------------------------

def naive_peak(n: int, params: int) -> int:
    """inception_naive (256 x 28 x 28 in; 1x1/3x3/5x5 convs of 128/192/96 and a 3x3 max pool
    of the 256 channels; concatenated to 672): at the concatenation the input, the four
    branch outputs and the concatenated output are alive: 256 + 672 + 672 channels."""
    return 4 * params + 4 * n * 28 * 28 * (256 + 2 * (128 + 192 + 96 + 256))


@pytest.mark.parametrize("n", [2_000_000_000_000, 3_000_000_000_000])
def test_inception_naive_peak_past_int64_is_exact(capsys, n):
    params = sum(p.numel() for p in build("inception_naive").parameters())
    rc, out, err = run(capsys, "memory", "inception_naive", "--batch", n, "--format", "json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["peak_bytes"] == naive_peak(n, params) > INT64_MAX
    assert naive_peak(2_000_000_000_000, params) == 10_035_200_000_004_359_808   # the issue's
    assert sum(data["breakdown"].values()) == data["peak_bytes"]


def test_timeline_past_int64_is_exact_in_csv_and_json(capsys):
    n = 2_000_000_000_000
    params = sum(p.numel() for p in build("inception_naive").parameters())
    rc, out, err = run(capsys, "memory", "inception_naive", "--batch", n, "--format", "csv",
                       "--timeline")
    assert rc == 0, err
    live = [int(line.split(",")[4]) for line in out.strip().splitlines()[1:]]
    assert max(live) == naive_peak(n, params)
    assert live[0] == 4 * params + 4 * n * 256 * 28 * 28          # the input batch alone
    rc, out, err = run(capsys, "memory", "inception_naive", "--batch", n, "--format", "json",
                       "--timeline")
    assert rc == 0, err
    assert max(r["live_bytes"] for r in json.loads(out)["timeline"]) == naive_peak(n, params)


@pytest.mark.parametrize("k", range(10, 21))
def test_batch_1e10_to_1e20_exact_or_one_error_line(capsys, mlp_spec, k):
    n = 10**k
    rc, out, err = run(capsys, "memory", mlp_spec, "--batch", n, "--format", "json")
    if n * INPUT_PER_IMAGE <= INT64_MAX:
        assert rc == 0, err
        assert json.loads(out)["peak_bytes"] == peak(n)
    else:
        assert rc == 2 and out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: input ") and \
            "2^63 - 1 bytes" in lines[0], err


# --- --fit: no cap, exact sizes, exact answers --------------------------------------------

BUDGETS = [2**20, 10**7, 2**30, 80 * 2**30, 2**40, 10**14, 2**50]   # 1 MiB ... 1 PiB


@pytest.mark.parametrize("budget", BUDGETS)
def test_fit_is_the_hand_division_from_1mib_to_1pib(budget):
    expected = (budget - P) // PER_IMAGE
    r = fit_batch(mlp(), budget, (1, 28, 28), reserve=0)
    assert r.batch == expected
    # an affine peak takes 4 analyses: batches 1 and 2, the secant's (exact) answer, and
    # the batch after it
    assert r.probes == 4
    assert r.peak_bytes == peak(expected) <= budget < peak(expected + 1) == r.next_peak_bytes


def test_fit_has_no_2_to_the_24_cap():
    assert fit_batch(mlp(), 2**50, (1, 28, 28), reserve=0).batch == (2**50 - P) // PER_IMAGE > 2**37


@pytest.mark.parametrize("n", [1, 2, 12345, 2**31 + 5])
def test_a_batch_whose_peak_equals_the_budget_fits(n):
    assert fit_batch(mlp(), peak(n), (1, 28, 28), reserve=0).batch == n
    assert fit_batch(mlp(), peak(n) - 1, (1, 28, 28), reserve=0).batch == n - 1


@pytest.mark.parametrize("text, nbytes", [
    ("8.2GB", 8_200_000_000), ("8G", 8 * 2**30), ("8GiB", 8 * 2**30), ("1.5G", 3 * 2**29),
    ("0.1TB", 10**11), ("1PiB", 2**50), ("123456789", 123_456_789),
])
def test_fit_sizes_are_exact(capsys, mlp_spec, text, nbytes):
    rc, out, err = run(capsys, "memory", mlp_spec, "--fit", text, "--reserve", "0",
                           "--format", "csv")
    assert rc == 0, err
    rows = [line.split(",") for line in out.strip().splitlines()[1:]]
    inference = rows[0]
    assert inference[0] == "inference" and int(inference[1]) == nbytes
    assert int(inference[2]) == (nbytes - P) // PER_IMAGE


def test_fit_of_340_nines_is_the_input_limit_in_one_error_line(capsys, mlp_spec):
    rc, out, err = run(capsys, "memory", mlp_spec, "--fit", "9" * 340)
    assert rc == 2 and out == ""
    lines = err.strip().splitlines()
    limit = INT64_MAX // INPUT_PER_IMAGE      # the largest batch whose input is one tensor
    assert len(lines) == 1 and lines[0].startswith("error: --fit 9.999e+339 B"), err
    assert f"batch {limit:,} fits with a peak of {peak(limit):,} bytes" in lines[0]


def test_fit_when_not_even_batch_1_fits_reports_batch_1s_peak(capsys, mlp_spec):
    budget = P + PER_IMAGE - 1            # the parameters fit, one image does not
    rc, out, err = run(capsys, "memory", mlp_spec, "--fit", budget, "--reserve", "0",
                           "--format", "json")
    assert rc == 0, err
    inference = json.loads(out)["rows"][0]
    assert inference["largest_batch"] == 0 and inference["peak_bytes"] is None
    assert inference["peak_bytes_at_batch_plus_1"] == peak(1)
    rc, out, err = run(capsys, "memory", mlp_spec, "--fit", budget, "--reserve", "0")
    assert rc == 0, err
    assert f"inference: batch 1 does not fit; it needs {peak(1):,} bytes" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_googlenet_fit_30mib_says_batch_1_does_not_fit(capsys):
    model = build("googlenet")
    b1 = memory(model, batch=1).peak_bytes
    assert b1 > 30 * 2**20 > 4 * sum(p.numel() for p in model.parameters())
    rc, out, err = run(capsys, "memory", "googlenet", "--fit", "30MiB", "--format", "csv")
    assert rc == 0, err
    row = out.strip().splitlines()[1].split(",")
    assert row[:5] == ["inference", str(30 * 2**20), "0", "", str(b1)]


def test_fit_starts_at_batch_2_when_batch_1_cannot_train():
    from inception_cost.errors import UsageError
    with torch.device("meta"):   # conv to 1 x 1, then batch norm: one value per channel at N=1
        model = nn.Sequential(nn.Conv2d(3, 4, 8), nn.BatchNorm2d(4), nn.Flatten(),
                              nn.Linear(4, 2))
    with pytest.raises(UsageError, match="Expected more than 1 value per channel"):
        memory(model, (3, 8, 8), batch=1, training=True, optimizer="sgd")
    budget = 10**6
    r = fit_batch(model, budget, (3, 8, 8), training=True, optimizer="sgd", reserve=0)
    assert r.batch >= 2 and r.peak_bytes <= budget < r.next_peak_bytes
    for n, p in ((r.batch, r.peak_bytes), (r.batch + 1, r.next_peak_bytes)):
        assert memory(model, (3, 8, 8), batch=n, training=True, optimizer="sgd").peak_bytes == p


# --- the parameter set of a training step: aux heads, as `train` builds them -------------

@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_train_includes_the_aux_heads(capsys, name):
    with_aux = build(name, aux=True)
    heads = [m for n, m in with_aux.named_children() if n.startswith("aux")]
    assert heads, "the model has auxiliary heads"
    plain = 4 * sum(p.numel() for p in build(name).parameters())
    aux_bytes = 4 * sum(p.numel() for h in heads for p in h.parameters())
    # batch 2: in training, batch norm refuses one value per channel (the 1 x 1 aux maps)
    rc, out, err = run(capsys, "memory", name, "--train", "--optimizer", "none", "--batch", 2,
                       "--format", "json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["parameter_bytes"] == 4 * sum(p.numel() for p in with_aux.parameters()) \
        == plain + aux_bytes
    assert any(r["module"].startswith("aux") for r in data["modules"])
    if name == "googlenet":   # (inception_v3's step takes seconds: once is enough)
        rc, out, err = run(capsys, "memory", name, "--train", "--no-aux", "--optimizer", "sgd",
                           "--batch", 2, "--format", "json")
        assert rc == 0 and json.loads(out)["parameter_bytes"] == plain
        api = inception_cost.memory(name, training=True, optimizer="sgd", batch=2)
        assert api.parameter_bytes == plain + aux_bytes


def test_memory_train_and_train_see_the_same_parameters(capsys):
    rc, out, err = run(capsys, "train", "googlenet", "--batch", 2, "--format", "csv")
    assert rc == 0, err
    header, *rows = [line.split(",") for line in out.strip().splitlines()]
    counted = {r[0] for r in rows if int(r[header.index("params")]) > 0}
    params = sum(int(r[header.index("params")]) for r in rows)
    rc, out, err = run(capsys, "memory", "googlenet", "--train", "--batch", 2,
                       "--optimizer", "sgd", "--format", "json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["parameter_bytes"] == 4 * params
    assert any(m.startswith("aux") for m in counted)


def test_googlenet_train_batch_32_with_aux_heads(capsys):
    rc, out, err = run(capsys, "memory", "googlenet", "--train", "--batch", 32,
                       "--optimizer", "adam", "--format", "json")
    assert rc == 0, err
    data = json.loads(out)
    params = sum(p.numel() for p in build("googlenet", aux=True).parameters())
    assert data["parameter_bytes"] == 4 * params == 53_513_120
    # Adam: two moments + a 4-byte step per tensor, on every parameter.
    n_tensors = len(list(build("googlenet", aux=True).parameters()))
    assert data["breakdown"]["optimizer_state"] == 2 * 4 * params + 4 * n_tensors


def test_built_inception_v3_uses_its_299_input():
    model = build("inception_v3")
    r = memory(model)
    assert r.input_size == (3, 299, 299)     # Szegedy et al. 2016: 299 x 299 inputs
    # after the first op only the parameters, the batch-norm buffers and the
    # 1 x 3 x 299 x 299 fp32 input are alive
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    assert r.timeline["live_bytes"].iat[0] == 4 * params + buffers + 4 * 3 * 299 * 299


# --- compiled models count through their original module --------------------------------

def test_compiled_model_counts_like_its_original():
    m = mlp()
    compiled = torch.compile(m)
    assert memory(compiled, (1, 28, 28), batch=3).peak_bytes == peak(3)
    assert fit_batch(compiled, 2**30, (1, 28, 28), reserve=0).batch == (2**30 - P) // PER_IMAGE
    from inception_cost import count
    # Linear MACs: 784 x 300 + 300 x 10 per image
    assert count(torch.compile(nn.Sequential(nn.Linear(784, 300), nn.ReLU(),
                                             nn.Linear(300, 10))),
                 (2, 784)).total_macs == 2 * (784 * 300 + 300 * 10)


def test_compiled_model_from_a_file(capsys, tmp_path):
    path = tmp_path / "compiled_model.py"
    path.write_text('''
import torch
import torch.nn as nn


class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(48, 2)

    def forward(self, x):
        return self.fc(x.flatten(1))


def compiled():
    m = Base()
    m.default_input_size = (3, 4, 4)
    return torch.compile(m)
''')
    rc, out, err = run(capsys, "memory", f"{path}:compiled", "--batch", 5, "--format", "json")
    assert rc == 0, err
    # parameters (48 x 2 + 2) x 4 B; input 5 x 48 x 4 B and output 5 x 2 x 4 B both alive
    assert json.loads(out)["peak_bytes"] == 4 * (48 * 2 + 2) + 4 * 5 * (48 + 2)
    rc, out, err = run(capsys, "memory", f"{path}:compiled", "--train", "--optimizer", "sgd",
                       "--format", "json")
    assert rc == 0, err
    rc, out, err = run(capsys, "layers", f"{path}:compiled", "--batch", 5, "--format", "csv")
    assert rc == 0, err
    header, *rows = [line.split(",") for line in out.strip().splitlines()]
    macs = sum(int(r[header.index("macs")]) for r in rows)
    assert macs == 5 * 48 * 2


# --- frozen layers: a ViT with half its blocks frozen, against MemTracker ---------------

def _tiny_vit():
    from torchvision.models.vision_transformer import VisionTransformer
    with torch.device("meta"):
        return VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                 hidden_dim=32, mlp_dim=64, num_classes=10)


def _memtracker_step(meta_model, batch: int, chw) -> tuple[int, int]:
    """One Adam training step (steady state: state created by one earlier step), written
    here with PyTorch's API, on fake CPU tensors under MemTracker: (peak bytes, parameter
    bytes).  MemTracker cannot hook a frozen parameter (register_hook refuses it); such a
    parameter never receives a gradient, so it is marked as hooked with a no-op handle."""
    import copy
    import warnings

    import torch.nn.functional as F
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker

    class NoHook:
        def remove(self):
            return None

    model = copy.deepcopy(meta_model)
    with FakeTensorMode(allow_non_fake_inputs=True):
        model = model.to_empty(device="cpu").train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(trainable, foreach=True)
        for p in trainable:
            p.grad = torch.zeros_like(p)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tracker = MemTracker()
        for p in model.parameters():
            if not p.requires_grad:
                tracker._param_to_grad_hook_handles[p] = (NoHook(), NoHook())
        tracker.track_external(model, opt)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with tracker:
                x = torch.randn(batch, *chw)
                target = torch.randint(0, 2, (batch,))
                out = model(x)
                loss = F.cross_entropy(out, target)
                del out
                loss.backward()
                del loss
                opt.step()
                opt.zero_grad(set_to_none=True)
        snap = tracker.get_tracker_snapshot("peak")
    dev = next(iter(snap.values()))
    named = {getattr(k, "value", k): int(v) for k, v in dev.items()}
    return named["Total"], named.get("Parameter", 0)


def test_vit_with_half_its_blocks_frozen_matches_memtracker():
    pytest.importorskip("torchvision")
    pytest.importorskip("torch.distributed._tools.mem_tracker")
    model = _tiny_vit()
    model.encoder.layers[:1].requires_grad_(False)   # half of its two blocks
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert 0 < frozen < sum(p.numel() for p in model.parameters())
    ours = memory(model, (3, 32, 32), batch=2, training=True, optimizer="adam")
    ref_total, ref_params = _memtracker_step(model, 2, (3, 32, 32))
    assert abs(ours.peak_bytes - ref_total) <= 0.01 * ref_total, (ours.peak_bytes, ref_total)
    assert ours.parameter_bytes == ref_params == 4 * sum(p.numel() for p in model.parameters())
    trainable = [p for p in model.parameters() if p.requires_grad]
    # Adam state only for trainable parameters: two fp32 moments + a 4-byte step each
    assert ours.breakdown["optimizer_state"] == \
        8 * sum(p.numel() for p in trainable) + 4 * len(trainable)


def test_bf16_vit_on_fake_tensors_is_half_the_bytes():
    """ViT runs on fake CPU tensors (its attention has a device fast path); bf16 casts the
    model on meta first: every parameter 2 bytes per element."""
    pytest.importorskip("torchvision")
    model = _tiny_vit()
    r = memory(model, (3, 32, 32), batch=2, training=True, optimizer="sgd", dtype="bf16")
    assert r.parameter_bytes == 2 * sum(p.numel() for p in model.parameters())
    assert r.breakdown["parameters"] == r.parameter_bytes


def test_terminal_tables_fit_100_columns(capsys):
    rc, out, err = run(capsys, "memory", "googlenet", "--train", "--batch", 32, "--depth", 2,
                     "--optimizer", "adam")
    assert rc == 0, err
    table = [line for line in out.splitlines() if line[:1] in "+|"]
    assert table and max(len(line) for line in table) <= 100
    assert "1723823496" in out and "live bwd" in out   # the peak, aux heads on
