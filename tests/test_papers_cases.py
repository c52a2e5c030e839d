"""CS231n lecture 9 case studies: AlexNet conv1, VGG16 params and activation memory."""
from __future__ import annotations

import pytest
import torch
import torchvision.models as tvm

from inception_cost.papers.case_studies import alexnet_rows, vgg16_memory, vgg16_rows

# VGG16 forward activations at 224x224x3, layer by layer (elements), written out
VGG16_LAYERS = [
    224 * 224 * 3,                       # input image
    224 * 224 * 64, 224 * 224 * 64,      # conv1_1, conv1_2 (ReLU in place)
    112 * 112 * 64,                      # pool1
    112 * 112 * 128, 112 * 112 * 128, 56 * 56 * 128,
    56 * 56 * 256, 56 * 56 * 256, 56 * 56 * 256, 28 * 28 * 256,
    28 * 28 * 512, 28 * 28 * 512, 28 * 28 * 512, 14 * 14 * 512,
    14 * 14 * 512, 14 * 14 * 512, 14 * 14 * 512, 7 * 7 * 512,
    4096, 4096, 1000,                    # fc6, fc7, fc8
]


def test_alexnet_conv1():
    rows, findings = alexnet_rows()
    lec, zoo = rows
    assert lec["weights"] == 11 * 11 * 3 * 96 == 34_848 and lec["bias"] == 96
    assert lec["output (H×W×C)"] == "55×55×96"            # (227 - 11) / 4 + 1 = 55
    assert lec["MACs"] == 55 * 55 * 96 * 11 * 11 * 3 == 105_415_200
    assert findings == []
    assert zoo["filters"] == 64 and zoo["weights"] == 11 * 11 * 3 * 64
    assert zoo["output (H×W×C)"] == "56×56×64"            # (227 + 2*2 - 11) // 4 + 1 = 56
    assert "64 filters, not 96" in zoo["audit"]


@pytest.fixture(scope="module")
def vgg():
    return vgg16_rows()


def test_vgg16_params_match_torchvision(vgg):
    rows, findings, mem = vgg
    with torch.device("meta"):
        ref = tvm.vgg16(weights=None)
    assert mem["params"] == sum(p.numel() for p in ref.parameters()) == 138_357_544
    assert rows[0]["verdict"].startswith("✓")


def test_vgg16_activation_memory(vgg):
    rows, findings, mem = vgg
    lecture_sum = sum(VGG16_LAYERS)
    assert lecture_sum == 15_237_608
    assert mem["total"] == lecture_sum + 7 * 7 * 512      # + torchvision's identity adaptive pool
    assert mem["identity_pools"] == 7 * 7 * 512
    assert mem["by_op"]["relu_"] == 0                     # in place: no new tensor
    assert mem["by_op"]["convolution"] == sum(VGG16_LAYERS[i] for i in
                                              (1, 2, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16, 17))
    assert rows[2]["computed"] == lecture_sum and rows[3]["computed"] == lecture_sum * 4
    kinds = [(f.row, f.kind) for f in findings]
    assert ("vgg16 bytes", "memory_mismatch") in kinds           # 61.0 MB vs 96MB
    assert sum(1 for _, k in kinds if k == "memory_mismatch") == 3
    assert rows[4]["verdict"] == "consistent"                    # 24M x 4 bytes = 96MB


def test_vgg16_memory_scales_with_input():
    mem = vgg16_memory((3, 112, 112))
    # every conv/pool map is a quarter; the adaptive pool upsamples 3x3 -> 7x7 and fc stay
    assert mem["by_op"]["convolution"] == 13_547_520 // 4
