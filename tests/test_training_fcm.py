"""Correctness bar: 2 x (forward MACs + backward MACs) == PyTorch FlopCounterMode's total
over the same forward + loss.backward() on a meta copy of the model, exactly."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from inception_cost import build, variants
from inception_cost.counting.training import count_training

aten = torch.ops.aten


def _reference_loss(out):
    """Cross-entropy (target class 0) on the first output, 0.3 x on the others."""
    outs = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, tuple) else [out]
    def ce(t):
        return F.cross_entropy(t, torch.zeros((t.shape[0], *t.shape[2:]), dtype=torch.long, device=t.device))
    loss = ce(outs[0])
    for a in outs[1:]:
        loss = loss + 0.3 * ce(a)
    return loss


def _per_group_conv_backward(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation,
                             transposed, _output_padding, _groups, output_mask, out_shape=None, **kw):
    """Hand derivation: dL/dx is one (transposed) conv of grad_out with W, and dL/dW is
    `groups` convs of Cin/groups channels each; both cost the forward's MACs,
    N * prod(grad spatial if not transposed else x spatial) * prod(W.shape); FLOPs = 2 x."""
    spatial = (x_shape if transposed else grad_out_shape)[2:]
    fwd = 2 * x_shape[0] * math.prod(spatial) * math.prod(w_shape)
    return fwd * int(bool(output_mask[0])) + fwd * int(bool(output_mask[1]))


def fcm_step_flops(model, x):
    fcm = FlopCounterMode(display=False)
    model = model.train()
    with fcm:
        _reference_loss(model(x)).backward()
    return fcm.get_total_flops()


def _tv(name):
    kw = dict(aux_logits=True, init_weights=False) if name in ("googlenet", "inception_v3") else {}
    with torch.device("meta"):
        return torchvision.models.get_model(name, weights=None, **kw)


def _ours(model, shape):
    t = count_training(model, shape, optimizer=None).totals()
    return 2 * (t["fwd_macs"] + t["bwd_macs"])


@pytest.mark.parametrize("name,size", [("googlenet", 224), ("inception_v3", 299), ("resnet50", 224),
                                       ("vgg16", 224), ("vit_b_16", 224), ("swin_t", 224)])
def test_equals_flopcountermode_torchvision(name, size):
    shape = (2, 3, size, size)
    model = _tv(name)
    ours = _ours(model, shape)       # on meta: fresh leaves swapped in, the model is not written
    assert ours == fcm_step_flops(model, torch.empty(shape, device="meta"))


@pytest.mark.parametrize("name", ["convnext_tiny", "efficientnet_b0"])
def test_grouped_conv_models_equal_flopcountermode_with_per_group_weight_gradient(name):
    """FlopCounterMode counts a depthwise conv's weight gradient `groups` times; with the
    per-group count (checked in test_training_counts) the totals agree exactly, and the
    difference from its raw total is exactly sum over grouped convs of (groups - 1) x MACs."""
    shape = (2, 3, 224, 224)
    model = _tv(name)
    ours = _ours(model, shape)
    per_group, raw, overcount = fcm_step_flops_two_ways(model, torch.empty(shape, device="meta"))
    assert ours == per_group
    assert raw - ours == overcount > 0


def fcm_step_flops_two_ways(model, x):
    """One training step under two nested FlopCounterModes, one with the per-group conv
    weight-gradient count and one raw, and forward hooks that take the grouped convs'
    overcount by hand: (per-group total, raw total, overcount), all in FLOPs."""
    per_group = FlopCounterMode(display=False,
                                custom_mapping={aten.convolution_backward: _per_group_conv_backward})
    raw = FlopCounterMode(display=False)
    overcount = []
    handles = [m.register_forward_hook(_grouped_overcount_hook(overcount)) for m in model.modules()
               if isinstance(m, nn.Conv2d) and m.groups > 1]
    try:
        with raw, per_group:
            _reference_loss(model.train()(x)).backward()
    finally:
        for h in handles:
            h.remove()
    return per_group.get_total_flops(), raw.get_total_flops(), sum(overcount)


def _grouped_overcount_hook(total):
    """Forward hook adding 2 x (groups - 1) x forward MACs of a grouped conv to ``total``,
    the forward MACs taken by hand from its output: out elements x Cin/groups x prod(k)."""
    def hook(mod, _inp, out):
        macs = out.numel() * (mod.in_channels // mod.groups) * math.prod(mod.kernel_size)
        total.append(2 * (mod.groups - 1) * macs)
    return hook


@pytest.mark.parametrize("info", [v for v in variants()], ids=lambda v: v.name)
def test_equals_flopcountermode_whole_zoo(info):
    shape = (2, *info.input_size)
    model = build(info.name, **info.training_heads)
    ours = _ours(model, shape)       # on meta: fresh leaves swapped in, the model is not written
    assert ours == fcm_step_flops(model, torch.empty(shape, device="meta"))
