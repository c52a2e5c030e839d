"""The CS231n comparators in torchvision's layout: AlexNet, VGG-16, ResNet-50.

Each is a table plus a small block: AlexNet's five conv rows, VGG's configuration list
(numbers are 3x3 conv widths, "M" a 2x2/2 max pool), ResNet-50's stage table of
(bottleneck width, blocks, first stride) with the stride on the 3x3 conv (torchvision's
"v1.5").  Classifier heads follow torchvision (adaptive average pool, dropout 0.5).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn

from .blocks import ConvBNReLU, ConvReLU, check_widths
from .registry import register_variant


# --- AlexNet ---------------------------------------------------------------------------
class AlexConv(NamedTuple):
    out: int
    kernel: int
    stride: int
    padding: int
    pool_after: bool  # 3x3/2 max pool after this conv


ALEXNET_CONVS = (
    AlexConv(64, 11, 4, 2, True),
    AlexConv(192, 5, 1, 2, True),
    AlexConv(384, 3, 1, 1, False),
    AlexConv(256, 3, 1, 1, False),
    AlexConv(256, 3, 1, 1, True),
)
ALEXNET_POOLED = 6          # adaptive average pool output, H = W
FC_WIDTH = 4096             # AlexNet and VGG hidden FC width


def _mlp_head(in_features: int, num_classes: int, dropout_first: bool) -> nn.Sequential:
    """Two FC-4096 + ReLU layers with dropout 0.5, then the linear classifier.  AlexNet
    puts dropout before each hidden FC, VGG after."""
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(2):
        fc = [nn.Linear(width, FC_WIDTH), nn.ReLU(inplace=True)]
        layers += [nn.Dropout(0.5), *fc] if dropout_first else [*fc, nn.Dropout(0.5)]
        width = FC_WIDTH
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


class _FeaturesPoolClassifier(nn.Module):
    def __init__(self, features: nn.Module, pooled: int, classifier: nn.Module):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(pooled)
        self.classifier = classifier

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def alexnet(num_classes: int = 1000) -> nn.Module:
    layers: list[nn.Module] = []
    cin = 3
    for row in ALEXNET_CONVS:
        layers += [nn.Conv2d(cin, row.out, row.kernel, row.stride, row.padding),
                   nn.ReLU(inplace=True)]
        if row.pool_after:
            layers.append(nn.MaxPool2d(3, stride=2))
        cin = row.out
    return _FeaturesPoolClassifier(
        nn.Sequential(*layers), ALEXNET_POOLED,
        _mlp_head(cin * ALEXNET_POOLED ** 2, num_classes, dropout_first=True))


# --- VGG-16 ----------------------------------------------------------------------------
VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
             512, 512, 512, "M"]
VGG_POOLED = 7


def vgg(cfg, num_classes: int = 1000) -> nn.Module:
    layers: list[nn.Module] = []
    cin = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, stride=2))
        else:
            layers.append(ConvReLU(cin, v, 3, 1, 1))
            cin = v
    return _FeaturesPoolClassifier(nn.Sequential(*layers), VGG_POOLED,
                                   _mlp_head(cin * VGG_POOLED ** 2, num_classes,
                                             dropout_first=False))


# --- ResNet-50 -------------------------------------------------------------------------
RESNET50_STAGES = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]  # width, blocks, stride
BOTTLENECK_EXPANSION = 4
RESNET_BN_EPS = 1e-5


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (stride here) -> 1x1 expand (x4), each with BN; identity or a
    strided 1x1 conv + BN shortcut; ReLU after the sum."""

    def __init__(self, cin: int, width: int, stride: int = 1):
        super().__init__()
        cout = width * BOTTLENECK_EXPANSION
        self.conv1 = ConvBNReLU(cin, width, 1, eps=RESNET_BN_EPS)
        self.conv2 = ConvBNReLU(width, width, 3, stride, 1, eps=RESNET_BN_EPS)
        self.conv3 = ConvBNReLU(width, cout, 1, eps=RESNET_BN_EPS, relu=False)
        self.downsample = (ConvBNReLU(cin, cout, 1, stride, eps=RESNET_BN_EPS, relu=False)
                           if stride != 1 or cin != cout else nn.Identity())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + self.downsample(x))


class ResNet(nn.Module):
    def __init__(self, stages, num_classes: int = 1000):
        super().__init__()
        self.stem = ConvBNReLU(3, 64, 7, 2, 3, eps=RESNET_BN_EPS)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = 64
        for i, (width, blocks, stride) in enumerate(stages, start=1):
            layer = []
            for b in range(blocks):
                layer.append(Bottleneck(cin, width, stride if b == 0 else 1))
                cin = width * BOTTLENECK_EXPANSION
            self.add_module(f"layer{i}", nn.Sequential(*layer))
        self.n_stages = len(stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.maxpool(self.stem(x))
        for i in range(1, self.n_stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


# --- registry --------------------------------------------------------------------------
@register_variant("alexnet", input_size=(3, 224, 224),
                  description="AlexNet, torchvision's single-tower layout (61,100,840 params)",
                  source="reference: torchvision.models.alexnet (Krizhevsky et al. 2012)",
                  reference="torchvision:alexnet")
def build_alexnet(num_classes: int = 1000) -> nn.Module:
    check_widths("alexnet", num_classes=num_classes)
    return alexnet(num_classes)


@register_variant("vgg16", input_size=(3, 224, 224),
                  description="VGG-16 (configuration D), torchvision's layout "
                              "(138,357,544 params)",
                  source="reference: torchvision.models.vgg16 (Simonyan & Zisserman 2014)",
                  reference="torchvision:vgg16")
def build_vgg16(num_classes: int = 1000) -> nn.Module:
    check_widths("vgg16", num_classes=num_classes)
    return vgg(VGG16_CFG, num_classes)


@register_variant("resnet50", input_size=(3, 224, 224),
                  description="ResNet-50, torchvision's layout with stride on the 3x3 "
                              "(25,557,032 params)",
                  source="reference: torchvision.models.resnet50 (He et al. 2015)",
                  reference="torchvision:resnet50")
def build_resnet50(num_classes: int = 1000) -> nn.Module:
    check_widths("resnet50", num_classes=num_classes)
    return ResNet(RESNET50_STAGES, num_classes)
