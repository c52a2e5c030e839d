"""Engine/API-level correctness: inference mode, DataParallel, the caller's model left
untouched, input rules (full shape, batch=, inputs= dicts), bad input, exact integers."""
import math

import pytest
import torch
import torch.nn as nn
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from inception_cost import UsageError, count
from inception_cost.models import build

# tiny CPU forwards: one torch thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def fcm_macs(model, *args, **kwargs):
    """FlopCounterMode's total / 2 on the given inputs (its FLOPs are 2 per MAC)."""
    with FlopCounterMode(display=False) as fcm, torch.no_grad():
        model(*args, **kwargs)
    return fcm.get_total_flops() // 2


def test_count_inside_inference_mode():
    # resnet18 at 224: torchvision's published 1.814 GMACs; FlopCounterMode agrees
    model = torchvision.models.resnet18().eval()
    outside = count(model, (1, 3, 224, 224))
    with torch.inference_mode():
        inside = count(model, (1, 3, 224, 224))
    assert inside.totals() == outside.totals()
    assert inside.total_macs == fcm_macs(model, torch.zeros(1, 3, 224, 224)) == 1_814_073_344


def test_conv2d_op_seen_in_inference_mode_has_a_formula():
    """Under inference mode F.conv2d reaches the dispatcher as aten.conv2d (not decomposed).
    Conv2d(3, 8, 3) on 1x3x10x10 -> 8x8x8 output: 8*8*8 * 3*3*3 = 13,824 MACs."""
    from inception_cost.counting.engine import counting
    m = nn.Conv2d(3, 8, 3, bias=False)
    with torch.inference_mode(), counting(m) as rec:
        m(torch.zeros(1, 3, 10, 10))
    convs = [r for r in rec.rows if "conv" in r.op]
    assert sum(r.macs for r in convs) == 8 * 8 * 8 * 3 * 3 * 3 == 13_824
    assert all(r.counted for r in rec.rows)


def test_data_parallel_counts_as_the_bare_model():
    model = build("googlenet")
    bare = count(model, (1, 3, 224, 224))
    wrapped = count(nn.DataParallel(model), (1, 3, 224, 224))
    assert wrapped.totals() == bare.totals()
    assert bare.total_params == sum(p.numel() for p in model.parameters())


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        sub = nn.Sequential(nn.Linear(6, 6), nn.BatchNorm1d(6))
        self.a = sub
        self.b = sub

    def forward(self, x):
        return self.b(self.a(x))


def _snapshot(model):
    return [(name, t, t.device, t.dtype, t.detach().clone())
            for name, t in list(model.named_parameters(remove_duplicate=False))
            + list(model.named_buffers(remove_duplicate=False))]


def _googlenet_cpu():
    m = build("googlenet").to_empty(device="cpu")
    with torch.no_grad():
        for t in list(m.parameters()) + list(m.buffers()):
            t.copy_(torch.randn(t.shape).to(t.dtype)) if t.is_floating_point() else t.zero_()
    return m


@pytest.mark.parametrize("make", [Shared, lambda: torchvision.models.resnet18(),
                                  lambda: torchvision.models.mobilenet_v3_small(), _googlenet_cpu],
                         ids=["shared-submodule", "resnet18", "mobilenet_v3_small", "googlenet-cpu"])
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_count_never_changes_the_callers_model(make, device):
    torch.manual_seed(0)
    model = make()
    model.train()                       # training mode: a real forward would update BN stats
    size = (2, 6) if isinstance(model, Shared) else (1, 3, 224, 224)
    before = _snapshot(model)
    count(model, size, device=device)
    after = _snapshot(model)
    assert len(before) == len(after)
    for (n0, t0, d0, dt0, v0), (n1, t1, d1, dt1, v1) in zip(before, after):
        assert n0 == n1 and t0 is t1 and d0 == d1 and dt0 == dt1
        assert torch.equal(v0, v1), n0
    assert model.a is model.b if isinstance(model, Shared) else True


def test_shared_submodule_counts_twice_params_once():
    # Linear(6,6) on (2,6): 72 MACs per call, two calls; params 42 + BN 12, once
    r = count(Shared(), (2, 6))
    lin = r.layers[r.layers["op"] == "linear"]
    assert lin["macs"].sum() == 2 * 2 * 6 * 6
    assert r.total_params == sum(p.numel() for p in Shared().parameters()) == 6 * 6 + 6 + 12


def test_three_tuple_is_the_full_shape_for_a_conv1d_model():
    # Conv1d(16, 32, 5) on (4, 16, 100): 4 * 32 * 96 * 16 * 5 = 983,040 MACs
    m = nn.Sequential(nn.Conv1d(16, 32, 5, bias=False))
    r = count(m, (4, 16, 100))
    assert r.input_shapes == [(4, 16, 100)]
    assert r.total_macs == 4 * 32 * 96 * 16 * 5 == fcm_macs(m, torch.zeros(4, 16, 100))


def test_explicit_batch_is_prepended():
    m = nn.Sequential(nn.Conv1d(16, 32, 5, bias=False))
    r = count(m, (16, 100), batch=4)
    assert r.input_shapes == [(4, 16, 100)] and r.total_macs == 4 * 32 * 96 * 16 * 5


def test_chw_shorthand_only_for_conv2d_models():
    # Conv2d first: (3, 8, 8) is one image; 3x3 conv 3->4 pad 1: 8*8*4*27 = 6,912 MACs
    m = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    r = count(m, (3, 8, 8))
    assert r.input_shapes == [(1, 3, 8, 8)] and r.total_macs == 8 * 8 * 4 * 27
    # a Linear model: (2, 5, 10) is the full shape: 2*5*10*7 = 700 MACs
    lin = nn.Linear(10, 7, bias=False)
    r = count(lin, (2, 5, 10))
    assert r.input_shapes == [(2, 5, 10)] and r.total_macs == 700


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 8)
        self.proj = nn.Linear(8, 3, bias=False)

    def forward(self, input_ids, attention_mask=None):
        h = self.emb(input_ids)
        if attention_mask is not None:
            h = h * attention_mask[..., None]
        return self.proj(h)


def test_inputs_as_tensor_tuple_and_dict():
    ids = torch.randint(0, 100, (2, 5))
    mask = torch.ones(2, 5)
    # proj: 2*5 tokens * 8 * 3 = 240 MACs
    r_kw = count(TwoInputs(), inputs={"input_ids": ids, "attention_mask": mask})
    r_pos = count(TwoInputs(), inputs=(ids, mask))
    r_one = count(TwoInputs(), inputs=ids)
    assert r_kw.total_macs == r_pos.total_macs == r_one.total_macs == 240
    assert r_kw.input_shapes == [(2, 5), (2, 5)]
    # the mask multiply is one FLOP per element of h (2*5*8) -> only with the mask
    assert r_kw.total_flops - r_one.total_flops == 2 * 5 * 8


@pytest.mark.parametrize("bad", ["abc", (1.5, 3, 8, 8), (1, 3, 8, True), 7, (1, -3, 8, 8), ()])
def test_bad_input_size_is_a_usage_error(bad):
    with pytest.raises(UsageError):
        count(nn.Conv2d(3, 4, 3), bad)


def test_bad_batch_and_model_are_usage_errors():
    with pytest.raises(UsageError):
        count(nn.Conv2d(3, 4, 3), (3, 8, 8), batch=2.0)
    with pytest.raises(UsageError):
        count("resnet", (1, 3, 8, 8))
    with pytest.raises(UsageError):
        count(nn.Conv2d(3, 4, 3), (1, 3, 8, 8), inputs=torch.zeros(1, 3, 8, 8))


def test_counts_are_exact_at_batch_2_pow_40():
    model = build("googlenet")
    one = count(model, (1, 3, 224, 224))
    huge = count(model, (2 ** 40, 3, 224, 224))
    for key, v in one.totals().items():
        if key == "bytes":
            continue
        expect = v if key == "params" else v * 2 ** 40
        assert huge.totals()[key] == expect, key
    # bytes are affine in the batch: weights are read once per op, activations per sample
    per_sample = count(model, (2, 3, 224, 224)).total_bytes - one.total_bytes
    assert huge.total_bytes == one.total_bytes + (2 ** 40 - 1) * per_sample
    assert huge.total_bytes > 2 ** 63 and type(huge.total_bytes) is int
    assert huge.total_flops > 2 ** 63           # beyond int64: would have wrapped
    assert type(huge.total_flops) is int
    # per-module sums stay exact too
    top = huge.by_module(depth=0)
    assert int(top["flops"].iloc[0]) == one.total_flops * 2 ** 40
    assert huge.by_op()["macs"].map(int).sum() == one.total_macs * 2 ** 40
    # googlenet's MACs are batch-linear: 1.5 GMACs x 2^40
    assert math.isclose(huge.total_macs / 2 ** 40, one.total_macs)


def test_cli_csv_is_exact_beyond_int64(capsys):
    """googlenet at batch 3e9: FLOPs exceed 2**63 and must print exactly, not wrapped."""
    import io

    import pandas as pd

    from inception_cost.cli import main
    one = count(build("googlenet"), (1, 3, 224, 224))
    code = main(["layers", "googlenet", "--batch", "3000000000", "--depth", "0", "--format", "csv"])
    out, err = capsys.readouterr()
    assert code == 0, err
    row = pd.read_csv(io.StringIO(out), dtype=str).iloc[0]
    assert int(row["flops"]) == one.total_flops * 3_000_000_000 > 2 ** 63
    assert int(row["macs"]) == one.total_macs * 3_000_000_000
