"""Rethinking the Inception Architecture: the factorized modules, Inception-v2 and -v3.

Numbers come from hand arithmetic written out below, from the paper's Table 1, or
from torchvision's inception_v3 (weights=None) built on the meta device.
"""
import functools

import pytest
import torch
import torchvision

from inception_cost import build, count
from inception_cost.counting import ForwardError
from inception_cost.errors import InputTooSmallError, UsageError
from structure import conv_signature, signature_diff

# tiny CPU forwards: one torch thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")

TABLE1_LABELS = ["conv 3×3/2", "conv 3×3/1", "conv padded 3×3/1", "pool 3×3/2", "conv 3×3/1 (2)",
                 "conv 3×3/2 (2)", "conv 3×3/1 (3)", "3×Inception (Fig. 5)",
                 "5×Inception (Fig. 6)", "2×Inception (Fig. 7)", "pool 8×8", "linear", "softmax"]


@functools.lru_cache(maxsize=None)
def report(name, size=(3, 299, 299), **options):
    return count(build(name, **options), size)


@functools.lru_cache(maxsize=None)
def torchvision_v3(aux_logits=False):
    with torch.device("meta"):
        return torchvision.models.inception_v3(weights=None, aux_logits=aux_logits,
                                               init_weights=False).eval()


def conv_bn(cin, cout, kh, kw=None):
    """Parameters of conv (no bias) + BN: weights + BN scale and shift."""
    return cin * cout * kh * (kw or kh) + 2 * cout


# --------------------------------------------------------------------------- #
# modules: params and MACs by hand, output shape from a real CPU forward
# --------------------------------------------------------------------------- #
# name: (input C×H×W, [(cin, cout, kh, kw, out_hw)], output C×H×W)
MODULES = {
    "rethinking_fig5": ((288, 35, 35), [
        (288, 64, 1, 1, 35),                                           # 1×1
        (288, 48, 1, 1, 35), (48, 64, 3, 3, 35),                       # 1×1 → 3×3
        (288, 64, 1, 1, 35), (64, 96, 3, 3, 35), (96, 96, 3, 3, 35),   # 1×1 → 3×3 → 3×3
        (288, 64, 1, 1, 35),                                           # pool → 1×1
    ], (64 + 64 + 96 + 64, 35, 35)),
    "rethinking_fig6": ((768, 17, 17), [
        (768, 192, 1, 1, 17),
        (768, 160, 1, 1, 17), (160, 160, 1, 7, 17), (160, 192, 7, 1, 17),
        (768, 160, 1, 1, 17), (160, 160, 7, 1, 17), (160, 160, 1, 7, 17), (160, 160, 7, 1, 17),
        (160, 192, 1, 7, 17),
        (768, 192, 1, 1, 17),
    ], (4 * 192, 17, 17)),
    "rethinking_fig7": ((1280, 8, 8), [
        (1280, 320, 1, 1, 8),
        (1280, 384, 1, 1, 8), (384, 384, 1, 3, 8), (384, 384, 3, 1, 8),
        (1280, 448, 1, 1, 8), (448, 384, 3, 3, 8), (384, 384, 1, 3, 8), (384, 384, 3, 1, 8),
        (1280, 192, 1, 1, 8),
    ], (320 + 2 * 384 + 2 * 384 + 192, 8, 8)),
    "grid_reduction_fig10": ((288, 35, 35), [
        (288, 384, 3, 3, 17),                                          # 3×3/2: (35-3)/2+1 = 17
        (288, 64, 1, 1, 35), (64, 96, 3, 3, 35), (96, 96, 3, 3, 17),
    ], (384 + 96 + 288, 17, 17)),                                      # + max-pooled input
}


@pytest.mark.parametrize("name", MODULES)
def test_module_params_and_macs_by_hand(name):
    chw, convs, _ = MODULES[name]
    r = report(name, chw)
    assert r.total_params == sum(conv_bn(ci, co, kh, kw) for ci, co, kh, kw, _ in convs)
    assert r.total_macs == sum(ci * co * kh * kw * hw * hw for ci, co, kh, kw, hw in convs)
    assert sum(1 for op in r.layers["op"] if op == "convolution") == len(convs)


@pytest.mark.parametrize("name", MODULES)
def test_module_cpu_forward_shape(name):
    chw, _, out = MODULES[name]
    y = build(name, device="cpu")(torch.randn(2, *chw))
    assert tuple(y.shape) == (2, *out)


def test_module_widths_are_options():
    # Fig. 6 with n = 3 and c7 = 64: the 1×n / n×1 convs shrink to 64·64·3 weights
    r = count(build("rethinking_fig6", n=3, c7=64), (768, 17, 17))
    convs = r.layers[r.layers["op"] == "convolution"]
    assert set(convs["kernel"]) == {(1, 1), (1, 3), (3, 1)}
    expected = (conv_bn(768, 192, 1) + conv_bn(768, 64, 1) + conv_bn(64, 64, 1, 3)
                + conv_bn(64, 192, 3, 1) + conv_bn(768, 64, 1) + 3 * conv_bn(64, 64, 3, 1)
                + conv_bn(64, 192, 1, 3) + conv_bn(768, 192, 1))
    assert r.total_params == expected
    y = build("grid_reduction_fig10", device="cpu", in_channels=32, n=8, m=4)(
        torch.randn(2, 32, 9, 9))
    assert tuple(y.shape) == (2, 8 + 4 + 32, 4, 4)   # (9-3)/2+1 = 4


@pytest.mark.parametrize("name,option", [
    ("rethinking_fig5", {"b1": 0}), ("rethinking_fig5", {"pool_proj": -3}),
    ("rethinking_fig6", {"c7": 0}), ("rethinking_fig6", {"n": 0}),
    ("rethinking_fig7", {"b3_mid": -1}), ("grid_reduction_fig10", {"k": 0}),
    ("grid_reduction_fig10", {"in_channels": 0}), ("inception_v3", {"num_classes": 0}),
    ("inception_v2", {"num_classes": -1}),
])
def test_non_positive_widths_rejected(name, option):
    with pytest.raises(UsageError, match=next(iter(option))):
        build(name, **option)


# --------------------------------------------------------------------------- #
# Inception-v3
# --------------------------------------------------------------------------- #
def test_inception_v3_params_and_macs():
    r = report("inception_v3")
    assert r.total_params == 23_834_568
    assert r.total_macs == 5_713_216_096


def test_inception_v3_aux_head_by_hand():
    plain, with_aux = report("inception_v3"), report("inception_v3", aux=True)
    # 17×17×768 → avg pool 5/3 → 5×5: conv 1×1 768→128, conv 5×5 128→768 (→ 1×1), fc 768→1000
    aux_params = conv_bn(768, 128, 1) + conv_bn(128, 768, 5) + 768 * 1000 + 1000
    aux_macs = 5 * 5 * 768 * 128 + 128 * 768 * 25 + 768 * 1000
    assert with_aux.total_params - plain.total_params == aux_params
    assert with_aux.total_params == 27_161_264
    assert with_aux.total_macs - plain.total_macs == aux_macs
    assert with_aux.total_params == count(torchvision_v3(aux_logits=True),
                                          (3, 299, 299)).total_params


def test_inception_v3_matches_torchvision():
    ours, ref = build("inception_v3"), torchvision_v3()
    a, b = conv_signature(ours, (3, 299, 299)), conv_signature(ref, (3, 299, 299))
    assert a == b, signature_diff(a, b)
    assert report("inception_v3").totals() == count(ref, (3, 299, 299)).totals()


def test_inception_v3_cpu_forward_like_torchvision():
    x = torch.randn(2, 3, 299, 299)
    ref = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    with torch.no_grad():
        y = build("inception_v3", device="cpu")(x)
        y_ref = ref.eval()(x)
        logits, aux = build("inception_v3", device="cpu", aux=True, num_classes=10)(x)
    assert tuple(y.shape) == tuple(y_ref.shape) == (2, 1000)
    assert tuple(logits.shape) == tuple(aux.shape) == (2, 10)


@pytest.mark.parametrize("name", ["inception_v2", "inception_v3"])
def test_meta_and_cpu_builds_count_the_same(name):
    meta, cpu = build(name), build(name, device="cpu")
    assert count(meta, (2, 3, 299, 299)).totals() == count(cpu, (2, 3, 299, 299)).totals()


def test_inception_v3_input_too_small():
    # 74 → conv 3×3/2: 36 → 3×3: 34 → pad 3×3: 34 → pool 3/2: 16 → 1×1: 16 → 3×3: 14
    #    → pool 3/2: 6 → Mixed_6a 3×3/2: 2 → Mixed_7a 3×3/2: (2-3)//2+1 = 0, empty.
    # 75 → 37 → 35 → 35 → 17 → 17 → 15 → 7 → 3 → 1: the smallest that works.
    with pytest.raises(InputTooSmallError) as err:
        count(build("inception_v3"), (3, 74, 74))
    assert err.value.smallest == 75
    assert report("inception_v3", (3, 75, 75)).total_macs > 0


def test_inception_v3_wrong_input_channels_names_the_module():
    with pytest.raises(ForwardError, match="conv_1a"):
        count(build("inception_v3"), (1, 4, 299, 299))


# --------------------------------------------------------------------------- #
# Inception-v2 and the Table 1 outline
# --------------------------------------------------------------------------- #
def _input_hwc(layers, child):
    rows = layers[(layers["module"] == child) | layers["module"].str.startswith(child + ".")]
    dims = list(rows.iloc[0]["in_shape"])[1:]   # drop the batch
    c, *hw = dims
    return (*(hw or [1, 1]), c)


def test_inception_v2_outline_matches_table1():
    # Rethinking Table 1, "input size" column, one entry per row up to "linear"
    printed = [(299, 299, 3), (149, 149, 32), (147, 147, 32), (147, 147, 64), (73, 73, 64),
               (71, 71, 80), (35, 35, 192), (35, 35, 288), (17, 17, 768), (8, 8, 1280),
               (8, 8, 2048), (1, 1, 2048)]
    model = build("inception_v2")
    assert [label for label, _ in model.outline] == TABLE1_LABELS
    layers = report("inception_v2").layers
    measured = [_input_hwc(layers, names[0]) for _, names in model.outline if names]
    assert measured == printed
    assert model.outline[-1] == ("softmax", [])


@pytest.mark.parametrize("name", ["inception_v2", "inception_v3"])
def test_outline_covers_every_child_once(name):
    model = build(name, **({"aux": True} if name == "inception_v3" else {}))
    assert [label for label, _ in model.outline] == TABLE1_LABELS
    listed = [n for _, names in model.outline for n in names]
    assert sorted(listed) == sorted(n for n, _ in model.named_children())


def test_inception_v2_stem_conv_by_hand():
    layers = report("inception_v2").layers
    conv6 = layers[layers["module"] == "conv_6.conv"].iloc[0]
    assert (conv6["kernel"], conv6["stride"], conv6["out_shape"]) == ((3, 3), (1, 1), (1, 288, 35, 35))
    assert conv6["macs"] == 35 * 35 * 192 * 288 * 9


def test_inception_v2_cpu_forward():
    y = build("inception_v2", device="cpu", num_classes=10)(torch.randn(2, 3, 299, 299))
    assert tuple(y.shape) == (2, 10)


def test_inception_v2_shares_v3_widths_after_the_stem():
    # from the 17×17 modules on, v2 is v3 plus one more 17×17 module (c7 = 160)
    v2, v3 = report("inception_v2").by_module(depth=1), report("inception_v3").by_module(depth=1)
    p2, p3 = dict(zip(v2["module"], v2["params"])), dict(zip(v3["module"], v3["params"]))
    assert p2["fig6_1"] == p3["mixed_6b"] and p2["fig6_5"] == p3["mixed_6e"]
    assert p2["fig6_4"] == p3["mixed_6c"]
    assert p2["reduce_17to8"] == p3["mixed_7a"] and p2["fig7_1"] == p3["mixed_7b"]
    # the 35×35 modules use a 3×3 (48·64·9) where v3 keeps a 5×5 (48·64·25)
    assert p3["mixed_5d"] - p2["fig5_3"] == 48 * 64 * (25 - 9)
