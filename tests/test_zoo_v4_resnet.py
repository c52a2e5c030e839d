"""Inception-v4 and Inception-ResNet-v1/v2.

Reference numbers come from timm (pretrained=False, built on the meta device) and
from hand arithmetic over the paper's figures (Inception-ResNet-v1 has no release).
"""
import functools

import pytest
import timm
import torch

from inception_cost import build, count
from inception_cost.counting import ForwardError
from inception_cost.errors import InputTooSmallError, UsageError
from inception_cost.models.factorized import (FactorizedGridReduction, GridReduction,
                                              InceptionFig7, InceptionResNetA, InceptionResNetC,
                                              ResidualGridReduction)
from structure import conv_signature, signature_diff

# the CPU forwards here are small: one torch thread (tests/conftest.py); counts do not
# depend on the thread count
pytestmark = pytest.mark.usefixtures("one_thread")

SIZE = (3, 299, 299)
REFERENCED = {"inception_v4": 42_679_816, "inception_resnet_v2": 55_843_464}
NETWORKS = ["inception_v4", "inception_resnet_v1", "inception_resnet_v2"]


@functools.lru_cache(maxsize=None)
def report(name, size=SIZE):
    return count(build(name), size)


@functools.lru_cache(maxsize=None)
def timm_meta(name):
    with torch.device("meta"):
        return timm.create_model(name, pretrained=False).eval()


def conv_bn(cin, cout, kh, kw=None):
    """Parameters of conv (no bias) + BN: weights + BN scale and shift."""
    return cin * cout * kh * (kw or kh) + 2 * cout


def project(cin, cout):
    """Parameters of the residual blocks' linear 1×1 conv (with bias, no BN)."""
    return cin * cout + cout


# --------------------------------------------------------------------------- #
# against timm
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", REFERENCED)
def test_params_exact(name):
    assert report(name).total_params == REFERENCED[name]


@pytest.mark.parametrize("name", REFERENCED)
def test_structure_and_totals_match_timm(name):
    ours, ref = build(name), timm_meta(name)
    a, b = conv_signature(ours, SIZE), conv_signature(ref, SIZE)
    assert a == b, signature_diff(a, b)
    assert report(name).totals() == count(ref, SIZE).totals()


def test_cpu_forward_like_timm():
    x = torch.randn(2, *SIZE)
    with torch.no_grad():
        y = build("inception_v4", device="cpu")(x)
        y_ref = timm.create_model("inception_v4", pretrained=False).eval()(x)
    assert tuple(y.shape) == tuple(y_ref.shape) == (2, 1000)


@pytest.mark.parametrize("name", ["inception_resnet_v1", "inception_resnet_v2"])
def test_cpu_forward_shape(name):
    with torch.no_grad():
        y = build(name, device="cpu", num_classes=7)(torch.randn(2, *SIZE))
    assert tuple(y.shape) == (2, 7)


@pytest.mark.parametrize("name", NETWORKS)
def test_meta_and_cpu_builds_count_the_same(name):
    assert count(build(name, device="cpu"), (2, *SIZE)).totals() == \
        count(build(name), (2, *SIZE)).totals()


# --------------------------------------------------------------------------- #
# Inception-ResNet-v1 from the paper's figures
# --------------------------------------------------------------------------- #
def _input_shape(layers, child):
    rows = layers[(layers["module"] == child) | layers["module"].str.startswith(child + ".")]
    return rows.iloc[0]["in_shape"]


def test_inception_resnet_v1_grids_follow_the_paper():
    # Fig. 14 stem → 35×35×256; Fig. 7 reduction → 17×17×896; Fig. 12 → 8×8×1792 (Fig. 15)
    layers = report("inception_resnet_v1").layers
    assert _input_shape(layers, "block_a1") == (1, 256, 35, 35)
    assert _input_shape(layers, "block_b1") == (1, 896, 17, 17)
    assert _input_shape(layers, "block_c1") == (1, 1792, 8, 8)
    assert _input_shape(layers, "avgpool") == (1, 1792, 8, 8)
    children = [n for n, _ in build("inception_resnet_v1").named_children()]
    assert sum(n.startswith("block_a") for n in children) == 5
    assert sum(n.startswith("block_b") for n in children) == 10
    assert sum(n.startswith("block_c") for n in children) == 5


def test_inception_resnet_v1_params_by_hand():
    stem = (conv_bn(3, 32, 3) + conv_bn(32, 32, 3) + conv_bn(32, 64, 3) + conv_bn(64, 80, 1)
            + conv_bn(80, 192, 3) + conv_bn(192, 256, 3))
    block_a = 3 * conv_bn(256, 32, 1) + 3 * conv_bn(32, 32, 3) + project(3 * 32, 256)
    reduction_a = (conv_bn(256, 384, 3) + conv_bn(256, 192, 1) + conv_bn(192, 192, 3)
                   + conv_bn(192, 256, 3))                      # k, l, m, n = 192, 192, 256, 384
    block_b = (2 * conv_bn(896, 128, 1) + conv_bn(128, 128, 1, 7) + conv_bn(128, 128, 7, 1)
               + project(2 * 128, 896))
    reduction_b = (3 * conv_bn(896, 256, 1) + conv_bn(256, 384, 3) + conv_bn(256, 256, 3)
                   + conv_bn(256, 256, 3) + conv_bn(256, 256, 3))
    block_c = (2 * conv_bn(1792, 192, 1) + conv_bn(192, 192, 1, 3) + conv_bn(192, 192, 3, 1)
               + project(2 * 192, 1792))
    fc = 1792 * 1000 + 1000
    expected = stem + 5 * block_a + reduction_a + 10 * block_b + reduction_b + 5 * block_c + fc
    assert report("inception_resnet_v1").total_params == expected


def test_inception_resnet_v1_costs_about_inception_v3():
    # the paper: Inception-ResNet-v1 has "roughly the computational cost of Inception-v3"
    v3 = count(build("inception_v3"), SIZE).total_macs
    assert 0.85 < report("inception_resnet_v1").total_macs / v3 < 1.15


# --------------------------------------------------------------------------- #
# residual blocks
# --------------------------------------------------------------------------- #
def test_residual_block_adds_scaled_projection():
    block = InceptionResNetA(16, 4, (4, 4), (4, 6, 8), scale=0.5).eval()
    x = torch.randn(2, 16, 9, 9)
    with torch.no_grad():
        branches = block.mixed(x)
        assert tuple(branches.shape) == (2, 4 + 4 + 8, 9, 9)
        expected = torch.relu(x + 0.5 * block.project(branches))
        assert torch.allclose(block(x), expected)
        block.project.weight.zero_()
        block.project.bias.zero_()
        assert torch.equal(block(x), torch.relu(x))


def test_last_block_c_without_relu_keeps_negatives():
    block = InceptionResNetC(8, 4, (4, 4, 4), scale=1.0, relu=False).eval()
    with torch.no_grad():
        block.project.weight.zero_()
        block.project.bias.zero_()
        x = -torch.ones(1, 8, 8, 8)
        assert torch.equal(block(x), x)


@pytest.mark.parametrize("make", [
    lambda: InceptionResNetA(256, 0, (32, 32), (32, 32, 32)),
    lambda: InceptionResNetC(1792, 192, (192, -1, 192)),
    lambda: GridReduction(384, 192, 224, 0, 384),
    lambda: FactorizedGridReduction(1024, (192, 192), (256, 256, 0, 320)),
    lambda: ResidualGridReduction(896, (256, 384), (256, 256), (256, 256, -5)),
    lambda: InceptionFig7(1536, 256, (384, 256), (384, 448), 256),            # b3 too short
    lambda: InceptionFig7(1536, 256, (384, 256), (384, 448, 256), 256, factorize_mid=True),
])
def test_bad_block_widths_rejected(make):
    with pytest.raises(UsageError):
        make()


@pytest.mark.parametrize("name", NETWORKS)
def test_non_positive_classes_rejected(name):
    with pytest.raises(UsageError, match="num_classes"):
        build(name, num_classes=0)


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #
def test_inception_v4_input_too_small():
    # 74 → 3×3/2: 36 → 3×3: 34 → pad 3×3: 34 → Mixed_3a /2: 16 → Mixed_4a 3×3 V: 14
    #    → Mixed_5a /2: 6 → Reduction-A /2: 2 → Reduction-B /2: (2-3)//2+1 = 0, empty.
    # 75 → 37 → 35 → 35 → 17 → 15 → 7 → 3 → 1: the smallest that works.
    with pytest.raises(InputTooSmallError) as err:
        count(build("inception_v4"), (3, 74, 74))
    assert err.value.smallest == 75


def test_wrong_input_channels_names_the_module():
    with pytest.raises(ForwardError, match="conv_1a"):
        count(build("inception_resnet_v2"), (1, 1, 299, 299))
