"""GoogLeNet family: the Fig. 2 modules, paper GoogLeNet, torchvision's layout, BN-Inception."""
from __future__ import annotations

import pytest
import torch
import torchvision.models as tvm

from inception_cost import UsageError, build, count
from inception_cost.counting import ForwardError
from inception_cost.errors import InputTooSmallError
from inception_cost.models.bn_inception import BN_INCEPTION_NOTES
from inception_cost.models.inception_modules import InceptionReduced, InceptionSpec
from structure import conv_signature, signature_diff

# the CPU forwards here are small: one torch thread (tests/conftest.py); counts do not
# depend on the thread count
pytestmark = pytest.mark.usefixtures("one_thread")

IMG = (3, 224, 224)
MODULE_IN = (256, 28, 28)

# (variant, options, input C x H x W, expected output shape at batch 2)
FORWARD_CASES = [
    ("inception_naive", {}, MODULE_IN, (2, 672, 28, 28)),
    ("inception_reduced", {}, MODULE_IN, (2, 480, 28, 28)),
    ("inception_reduced", {"bn": True}, MODULE_IN, (2, 480, 28, 28)),
    ("googlenet", {}, IMG, (2, 1000)),
    ("googlenet", {"stem": "separable", "num_classes": 10}, IMG, (2, 10)),
    ("googlenet", {"lrn": False}, IMG, (2, 1000)),
    ("googlenet_torchvision", {}, IMG, (2, 1000)),
    ("bn_inception", {}, IMG, (2, 1000)),
    ("bn_inception", {"stem": "separable"}, IMG, (2, 1000)),
]


def _rows(report, module, op):
    df = report.layers
    return df[(df["module"] == module) & (df["op"] == op)]


def _out(report, module, op):
    """Output C, H, W of the single ``op`` row of ``module``."""
    rows = _rows(report, module, op)
    assert len(rows) == 1, (module, op, len(rows))
    _, c, h, w = rows.iloc[0]["out_shape"]
    return c, h, w


def _macs_under(report, prefix):
    df = report.layers
    return int(df[(df["module"] == prefix) | df["module"].str.startswith(prefix + ".")]
               ["macs"].sum())


# --- modules ---------------------------------------------------------------------------
def test_module_defaults_output_depth_and_macs():
    naive = count(build("inception_naive"), MODULE_IN)
    # 1x1 128 + 3x3 192 + 5x5 96 + pooled input 256 = 672 channels at 28x28
    assert _out(naive, "", "cat") == (672, 28, 28)
    # multiply-adds: 28*28 positions x 256 inputs x (128*1 + 192*9 + 96*25)
    assert naive.total_macs == 28 * 28 * 256 * (128 + 192 * 9 + 96 * 25) == 854_196_224
    reduced = count(build("inception_reduced"), MODULE_IN)
    # 1x1 128 + 3x3 192 + 5x5 96 + pool proj 64 = 480 channels at 28x28
    assert _out(reduced, "", "cat") == (480, 28, 28)
    # 1x1s on the 256-channel input: 128 + 64 + 64 + 64; then 3x3 64->192 and 5x5 64->96
    assert reduced.total_macs == 28 * 28 * (256 * (128 + 64 + 64 + 64) + 9 * 64 * 192
                                            + 25 * 64 * 96) == 271_351_808


def test_module_options_change_widths():
    r = count(build("inception_reduced", in_channels=192, n1x1=64, n3x3red=96, n3x3=128,
                    n5x5red=16, n5x5=32, pool_proj=32), (192, 28, 28))
    assert _out(r, "", "cat") == (64 + 128 + 32 + 32, 28, 28)
    # GoogLeNet's 3a weights without biases: 1x1s 192*(64+96+16+32), 3x3 96->128, 5x5 16->32
    weights = 192 * (64 + 96 + 16 + 32) + 9 * 96 * 128 + 25 * 16 * 32
    biases = 64 + 96 + 128 + 16 + 32 + 32
    assert r.total_params == weights + biases == 163_328 + 368


@pytest.mark.parametrize("name, bad", [
    ("inception_naive", {"n3x3": 0}),
    ("inception_naive", {"in_channels": -4}),
    ("inception_reduced", {"pool_proj": 0}),
    ("inception_reduced", {"n5x5red": -1}),
    ("inception_reduced", {"n1x1": 2.5}),
])
def test_module_non_positive_widths_are_usage_errors(name, bad):
    with pytest.raises(UsageError, match=next(iter(bad))):
        build(name, **bad)


def test_module_class_rejects_bad_spec():
    with pytest.raises(UsageError, match="pool_proj"):
        InceptionReduced(192, InceptionSpec(64, 96, 128, 16, 32, 0))


def test_unknown_variant_and_option_are_usage_errors():
    with pytest.raises(UsageError, match="unknown variant"):
        build("googlenet_v9")
    with pytest.raises(UsageError, match="no option"):
        build("googlenet", widths=3)
    with pytest.raises(UsageError, match="stem"):
        build("googlenet", stem="wide")


# --- paper GoogLeNet ---------------------------------------------------------------------
def test_googlenet_output_sizes_follow_table1():
    r = count(build("googlenet"), IMG)
    # Table 1's "output size" column, row by row (C, H, W)
    expected = [
        ("conv1.conv", "convolution", (64, 112, 112)),
        ("pool1", "max_pool2d_with_indices", (64, 56, 56)),
        ("conv2.conv", "convolution", (192, 56, 56)),
        ("pool2", "max_pool2d_with_indices", (192, 28, 28)),
        ("inception3a", "cat", (256, 28, 28)),
        ("inception3b", "cat", (480, 28, 28)),
        ("pool3", "max_pool2d_with_indices", (480, 14, 14)),
        ("inception4a", "cat", (512, 14, 14)),
        ("inception4b", "cat", (512, 14, 14)),
        ("inception4c", "cat", (512, 14, 14)),
        ("inception4d", "cat", (528, 14, 14)),
        ("inception4e", "cat", (832, 14, 14)),
        ("pool4", "max_pool2d_with_indices", (832, 7, 7)),
        ("inception5a", "cat", (832, 7, 7)),
        ("inception5b", "cat", (1024, 7, 7)),
        ("avgpool", "avg_pool2d", (1024, 1, 1)),
    ]
    for module, op, chw in expected:
        assert _out(r, module, op) == chw, module
    fc = _rows(r, "fc", "linear").iloc[0]
    assert fc["out_shape"] == (1, 1000)
    assert len(_rows(r, "lrn1", "local_response_norm")) == 1
    assert len(_rows(r, "lrn2", "local_response_norm")) == 1


# Table 1's "ops" column in millions (paper values).  5a is left out: the paper prints 54M
# (and 1072K params) but its own row gives 49 * 1,042,432 = 51.1M multiply-adds.
TABLE1_OPS_M = {"conv2": 360, "inception3a": 128, "inception3b": 304, "inception4a": 73,
                "inception4b": 88, "inception4c": 100, "inception4d": 119, "inception4e": 170,
                "inception5b": 71, "fc": 1}


def test_googlenet_ops_per_row_match_table1():
    r = count(build("googlenet"), IMG)
    for row, paper_m in TABLE1_OPS_M.items():
        macs = _macs_under(r, row)
        if row == "conv2":
            macs += _macs_under(r, "conv2_reduce")
        # printed in whole millions, sometimes truncated (4a: 73.6M -> "73M"), else rounded
        assert abs(macs / 1e6 - paper_m) < 1, (row, macs)


def test_googlenet_separable_stem_reproduces_table1_conv1_row():
    model = build("googlenet", stem="separable")
    conv1 = model.conv1
    assert conv1.depthwise.groups == 3 and conv1.depthwise.out_channels == 24
    weights = conv1.depthwise.weight.numel() + conv1.pointwise.conv.weight.numel()
    # depthwise 3 inputs x 8 multiplier x 7x7, pointwise 24 -> 64
    assert weights == 3 * 8 * 49 + 24 * 64 == 2712          # Table 1: "2.7K"
    assert round(weights / 1000, 1) == 2.7
    r = count(model, IMG)
    macs = _macs_under(r, "conv1")
    # each of the 112x112 outputs: 24 channels x 49 taps, then 64 outputs x 24 inputs
    assert macs == 112 * 112 * (24 * 49 + 24 * 64) == 34_019_328  # Table 1: "34M"
    assert round(macs / 1e6) == 34
    standard = count(build("googlenet"), IMG)
    assert _macs_under(standard, "conv1") == 112 * 112 * 64 * 3 * 49  # 118M, not 34M


def test_googlenet_aux_heads_run_and_are_counted():
    plain = count(build("googlenet"), IMG)
    model = build("googlenet", aux=True)
    r = count(model, IMG)
    # per head: 1x1 conv (C->128, bias) + FC 2048->1024 + FC 1024->1000, with biases
    head = lambda c: (c * 128 + 128) + (2048 * 1024 + 1024) + (1024 * 1000 + 1000)  # noqa: E731
    assert r.total_params - plain.total_params == head(512) + head(528) == 6_379_728
    for aux, c in (("aux1", 512), ("aux2", 528)):
        assert _out(r, f"{aux}.pool", "avg_pool2d") == (c, 4, 4)   # 14x14, 5x5/3 -> 4x4
        assert _rows(r, f"{aux}.fc2", "linear").iloc[0]["out_shape"] == (1, 1000)
    assert r.total_macs - plain.total_macs == sum(
        16 * c * 128 + 2048 * 1024 + 1024 * 1000 for c in (512, 528))
    with torch.no_grad():
        out = build("googlenet", device="cpu", aux=True)(torch.randn(2, *IMG))
    assert isinstance(out, tuple) and [tuple(o.shape) for o in out] == [(2, 1000)] * 3


# --- torchvision layout ------------------------------------------------------------------
def _tv_googlenet(aux: bool):
    with torch.device("meta"):
        return tvm.googlenet(weights=None, init_weights=False, aux_logits=aux).eval()


def test_googlenet_torchvision_params_exact():
    ours = count(build("googlenet_torchvision"), IMG).total_params
    ours_aux = count(build("googlenet_torchvision", aux=True), IMG).total_params
    assert ours == 6_624_904
    assert ours_aux == 13_004_888
    assert ours == sum(p.numel() for p in _tv_googlenet(False).parameters())
    assert ours_aux == sum(p.numel() for p in _tv_googlenet(True).parameters())


def test_googlenet_torchvision_structure_equals_reference():
    ours = conv_signature(build("googlenet_torchvision"), IMG)
    ref = conv_signature(_tv_googlenet(False), IMG)
    assert sum(ref.values()) == 57
    assert ours == ref, signature_diff(ours, ref)
    a = count(build("googlenet_torchvision"), IMG)
    b = count(_tv_googlenet(False), IMG)
    assert (a.total_macs, a.total_flops) == (b.total_macs, b.total_flops)


# --- BN-Inception ------------------------------------------------------------------------
def test_bn_inception_depths_from_rows():
    r = count(build("bn_inception"), IMG)
    # each row's output: #1x1 + #3x3 + double #3x3 + (pool proj, or the input passed through)
    expected = {
        "inception3a": (64 + 64 + 96 + 32, 28), "inception3b": (64 + 96 + 96 + 64, 28),
        "inception3c": (160 + 96 + 320, 14), "inception4a": (224 + 96 + 128 + 128, 14),
        "inception4b": (192 + 128 + 128 + 128, 14), "inception4c": (160 + 160 + 160 + 128, 14),
        "inception4d": (96 + 192 + 192 + 128, 14), "inception4e": (192 + 256 + 608, 7),
        "inception5a": (352 + 320 + 224 + 128, 7), "inception5b": (352 + 320 + 224 + 128, 7),
    }
    for name, (c, hw) in expected.items():
        assert _out(r, name, "cat") == (c, hw, hw), name
    assert _out(r, "inception4d", "cat")[0] == 608 and "608" in BN_INCEPTION_NOTES
    assert _out(r, "avgpool", "avg_pool2d") == (1024, 1, 1)
    # stride-2 modules drop the 1x1 branch: 2 + 3 convs instead of 1 + 2 + 3 + 1
    n_conv = lambda m: int(r.layers[r.layers["module"].str.startswith(m + ".")  # noqa: E731
                                    & (r.layers["op"] == "convolution")].shape[0])
    assert n_conv("inception3c") == 5 and n_conv("inception3b") == 7


def test_bn_inception_3a_params_by_hand():
    r = count(build("bn_inception"), IMG)
    got = int(r.by_module(depth=1).set_index("module").loc["inception3a", "params"])
    convs = (192 * 64                    # 1x1
             + 192 * 64 + 9 * 64 * 64    # 3x3 reduce, 3x3
             + 192 * 64 + 9 * 64 * 96 + 9 * 96 * 96  # double 3x3 reduce, two 3x3
             + 192 * 32)                 # pool projection
    bn = 2 * (64 + 64 + 64 + 64 + 96 + 96 + 32)  # gamma and beta after every conv
    assert got == convs + bn == 219_072


# --- every variant of this family: forward, meta == cpu, bad input -----------------------
@pytest.mark.parametrize("name, options, chw, shape", FORWARD_CASES,
                         ids=["-".join([c[0], *(f"{k}={v}" for k, v in c[1].items())])
                              for c in FORWARD_CASES])
def test_cpu_forward_shape_and_meta_equals_cpu(name, options, chw, shape):
    torch.manual_seed(0)
    cpu_model = build(name, device="cpu", **options)
    with torch.no_grad():
        out = cpu_model(torch.randn(2, *chw))
    assert tuple(out.shape) == shape
    assert torch.isfinite(out).all()
    meta = count(build(name, device="meta", **options), (2, *chw))
    cpu = count(cpu_model, (2, *chw))
    assert (meta.total_params, meta.total_macs, meta.total_flops) == \
        (cpu.total_params, cpu.total_macs, cpu.total_flops)
    assert meta.total_params == sum(p.numel() for p in cpu_model.parameters())


def test_input_too_small():
    with pytest.raises(InputTooSmallError) as e:
        count(build("googlenet"), (3, 64, 64))
    assert e.value.module == "avgpool"
    # 223 -> conv1 112 -> 56 -> 28 -> 14 -> 7 (ceil-mode pools); 222 -> 111 -> 55 -> 27 -> 13 -> 6
    assert e.value.smallest == 223
    with pytest.raises(InputTooSmallError):
        count(build("bn_inception"), (3, 100, 100))


def test_wrong_input_channels_names_the_module():
    with pytest.raises(ForwardError) as e:
        count(build("googlenet"), (1, 224, 224))
    assert "conv1.conv" in str(e.value)
    with pytest.raises(ForwardError) as e:
        count(build("inception_reduced"), (192, 28, 28))
    assert "branch1.conv" in str(e.value)
