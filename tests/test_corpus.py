"""A corpus of torchvision and timm models of many families, each counted four ways.

For every model (small inputs where the architecture allows, batch 1):

* MACs == ``FlopCounterMode`` total / 2 on a meta copy of the model;
* params == the model's unique parameter elements;
* meta == CPU: same MACs, FLOPs and params (the CPU run takes the fused kernels,
  e.g. the CPU flash-attention kernel).  Activations (elements written) are not
  compared: a fused kernel returns its output in another memory layout than the
  meta math path, so a later ``reshape`` copies on one device and not the other;
* the fvcore convention equals ``FlopCountAnalysis(model, x).total()``;
* no op is left uncounted;
* counting leaves the model as it was: every parameter and buffer is the same
  object, on the same device, with the same dtype and values.
"""
from __future__ import annotations

import copy
import logging
import warnings

import pytest
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from inception_cost import count

timm = pytest.importorskip("timm")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fvcore.nn import FlopCountAnalysis

logging.getLogger("fvcore").setLevel(logging.ERROR)

IMG = (1, 3, 64, 64)
TINY = (1, 3, 32, 32)

# (source, name, constructor kwargs, input shape, family)
CORPUS = [
    ("tv", "resnet18", {}, TINY, "ResNet"),
    ("tv", "mobilenet_v3_small", {}, IMG, "MobileNetV3"),
    ("tv", "efficientnet_b0", {}, TINY, "EfficientNet"),
    ("tv", "regnet_x_400mf", {}, TINY, "RegNet"),
    ("tv", "shufflenet_v2_x0_5", {}, IMG, "ShuffleNet"),
    ("tv", "squeezenet1_1", {}, IMG, "SqueezeNet"),
    ("tv", "densenet121", {}, TINY, "DenseNet"),
    ("tv", "mnasnet0_5", {}, TINY, "MNASNet"),
    ("tv", "convnext_tiny", {}, TINY, "ConvNeXt"),
    ("tv", "swin_t", {}, TINY, "Swin"),
    ("tv", "vit_b_16", {"image_size": 32}, TINY, "ViT (nn.MultiheadAttention)"),
    ("tv", "r3d_18", {}, (1, 3, 4, 32, 32), "video 3-D ResNet"),
    ("tv", "lraspp_mobilenet_v3_large", {"weights_backbone": None}, IMG,
     "segmentation, dict output"),
    ("tv", "googlenet", {"aux_logits": False, "init_weights": False}, TINY, "Inception"),
    ("tv", "alexnet", {}, IMG, "AlexNet"),
    ("timm", "vit_tiny_patch16_224", {"img_size": 32}, TINY, "ViT (fused attention)"),
    ("timm", "deit_tiny_patch16_224", {"img_size": 32}, TINY, "DeiT"),
    ("timm", "convnext_atto", {}, TINY, "ConvNeXt"),
    ("timm", "maxvit_nano_rw_256", {"img_size": 64}, IMG, "MaxViT"),
    ("timm", "mobilevit_xxs", {}, IMG, "MobileViT"),
    ("timm", "levit_128s", {"img_size": 64}, IMG, "LeViT"),
    ("timm", "xception41", {}, TINY, "Xception"),
    ("timm", "resnet10t", {}, IMG, "ResNet"),
    ("timm", "mixer_s16_224", {"img_size": 32}, TINY, "MLP-Mixer"),
    ("timm", "poolformer_s12", {}, TINY, "MetaFormer"),
    ("timm", "ghostnet_050", {}, TINY, "GhostNet"),
    ("timm", "dla34", {}, TINY, "DLA"),
    ("timm", "repvgg_a0", {}, TINY, "RepVGG"),
    ("timm", "edgenext_xx_small", {}, IMG, "EdgeNeXt (XCA, positional sin/cos)"),
    ("timm", "cait_xxs24_224", {"img_size": 32, "depth": 4}, TINY, "CaiT (class attention)"),
    ("timm", "pit_ti_224", {"img_size": 32}, TINY, "PiT"),
    ("timm", "eva02_tiny_patch14_224", {"img_size": 28}, (1, 3, 28, 28), "EVA-02 (RoPE)"),
]


@pytest.fixture(scope="module", autouse=True)
def one_cpu_thread():
    """The CPU runs here are tiny: one intra-op thread does them without the idle
    spinning of a thread pool on a shared machine (counts do not depend on it)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build(source: str, name: str, kwargs: dict):
    torch.manual_seed(0)
    if source == "tv":
        return torchvision.models.get_model(name, weights=None, **kwargs).eval()
    return timm.create_model(name, pretrained=False, **kwargs).eval()


def snapshot(model):
    tensors = list(model.named_parameters()) + list(model.named_buffers())
    return [(n, t, t.device, t.dtype, t.detach().clone()) for n, t in tensors]


def assert_unchanged(model, before):
    after = list(model.named_parameters()) + list(model.named_buffers())
    assert [n for n, *_ in before] == [n for n, _ in after]
    for (name, t, device, dtype, values), (_, now) in zip(before, after):
        assert now is t, f"{name} was replaced"
        assert (now.device, now.dtype) == (device, dtype), name
        assert torch.equal(now.detach(), values), f"{name} changed value"


def fcm_total(model, x) -> int:
    meta = copy.deepcopy(model).to("meta")
    for p in meta.parameters():      # FlopCounterMode's module tracker wants no grad here
        p.requires_grad_(False)
    with torch.no_grad(), FlopCounterMode(display=False) as mode:
        meta(x.to("meta"))
    return mode.get_total_flops()


def fvcore_total(model, x) -> int:
    fca = FlopCountAnalysis(model, (x,))
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return int(fca.total())


def test_corpus_is_broad():
    assert len(CORPUS) >= 30
    assert len({family for *_, family in CORPUS}) >= 25


@pytest.mark.parametrize("source, name, kwargs, shape, family", CORPUS,
                         ids=[f"{s}:{n}" for s, n, *_ in CORPUS])
def test_model(source, name, kwargs, shape, family):
    model = build(source, name, kwargs)
    x = torch.randn(shape)
    before = snapshot(model)

    meta = count(model, inputs=(x,), device="meta")
    assert_unchanged(model, before)
    cpu = count(model, inputs=(x,), device="cpu")
    assert_unchanged(model, before)
    fv = count(model, inputs=(x,), device="meta", convention="fvcore")
    assert_unchanged(model, before)

    assert 2 * meta.total_macs == fcm_total(model, x)
    assert meta.total_params == sum(p.numel() for p in model.parameters())
    for column in ("total_macs", "total_flops", "total_params"):
        assert getattr(meta, column) == getattr(cpu, column), column
    assert meta.uncounted_ops == [] and cpu.uncounted_ops == []
    assert fv.total_flops == fvcore_total(model, x)
    assert_unchanged(model, before)
