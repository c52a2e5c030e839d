"""CS231n comparators (AlexNet, VGG-16, ResNet-50) against torchvision's layouts."""
from __future__ import annotations

import pytest
import torch
import torchvision.models as tvm

from inception_cost import build, count
from inception_cost.counting import ForwardError
from inception_cost.errors import InputTooSmallError
from structure import conv_signature, signature_diff

# the CPU forwards here are small: one torch thread (tests/conftest.py); counts do not
# depend on the thread count
pytestmark = pytest.mark.usefixtures("one_thread")

IMG = (3, 224, 224)
PARAMS = {"alexnet": 61_100_840, "vgg16": 138_357_544, "resnet50": 25_557_032}
REFERENCES = {
    "alexnet": lambda: tvm.alexnet(weights=None),
    "vgg16": lambda: tvm.vgg16(weights=None, init_weights=False),
    "resnet50": lambda: tvm.resnet50(weights=None),
}
NAMES = list(PARAMS)


def _reference(name):
    with torch.device("meta"):
        return REFERENCES[name]().eval()


@pytest.mark.parametrize("name", NAMES)
def test_params_exact(name):
    ours = count(build(name), IMG).total_params
    assert ours == PARAMS[name]
    assert ours == sum(p.numel() for p in _reference(name).parameters())


@pytest.mark.parametrize("name", NAMES)
def test_structure_and_totals_equal_reference(name):
    ours, ref = build(name), _reference(name)
    a, b = conv_signature(ours, IMG), conv_signature(ref, IMG)
    assert a == b, signature_diff(a, b)
    ca, cb = count(ours, IMG), count(ref, IMG)
    assert (ca.total_macs, ca.total_flops) == (cb.total_macs, cb.total_flops)


def test_hand_arithmetic():
    alex = count(build("alexnet"), IMG).layers
    conv1 = alex[alex["op"] == "convolution"].iloc[0]
    # (224 + 2*2 - 11) // 4 + 1 = 55; 64 filters of 3x11x11 at 55x55
    assert conv1["out_shape"] == (1, 64, 55, 55)
    assert conv1["macs"] == 55 * 55 * 64 * 3 * 11 * 11 == 70_276_800
    # VGG-16: 13 3x3 convs (weights + bias) and FCs 25088->4096->4096->1000
    widths = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
              (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    convs = sum(9 * ci * co + co for ci, co in widths)
    fcs = (512 * 7 * 7 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert convs + fcs == PARAMS["vgg16"]
    # ResNet-50: 3 + 4 + 6 + 3 bottlenecks x 3 convs + 4 projections + stem = 53 convs
    res = count(build("resnet50"), IMG).layers
    assert int((res["op"] == "convolution").sum()) == 3 * (3 + 4 + 6 + 3) + 4 + 1
    assert res[res["op"] == "add"].shape[0] == 3 + 4 + 6 + 3


@pytest.fixture(scope="module")
def cpu_models():
    torch.manual_seed(0)
    return {n: build(n, device="cpu") for n in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_cpu_forward_and_meta_equals_cpu(name, cpu_models):
    model = cpu_models[name]
    with torch.no_grad():
        out = model(torch.randn(2, *IMG))
    assert tuple(out.shape) == (2, 1000) and torch.isfinite(out).all()
    meta, cpu = count(build(name), (2, *IMG)), count(model, (2, *IMG))
    assert (meta.total_params, meta.total_macs, meta.total_flops) == \
        (cpu.total_params, cpu.total_macs, cpu.total_flops)


def test_num_classes_option():
    r = count(build("resnet50", num_classes=10), IMG)
    assert r.total_params == PARAMS["resnet50"] - 2048 * 990 - 990


def test_bad_input():
    with pytest.raises(ForwardError) as e:
        count(build("vgg16"), (1, 224, 224))
    assert "features.0.conv" in str(e.value)
    with pytest.raises(InputTooSmallError):
        count(build("alexnet"), (3, 32, 32))
