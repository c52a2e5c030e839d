"""Models the project never saw count exactly in training, and the fold/pad ops they
run are counted (col2im's overlapping adds) or listed as data movement.

References: PyTorch's FlopCounterMode over a forward + backward the test runs itself
(MACs = its FLOPs / 2), hand arithmetic, and F.fold run on ones (how many values land
on each output position)."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from inception_cost import count
from inception_cost.counting.formulas_fold import col2im_adds
from inception_cost.counting.registry import DATA_MOVEMENT
from inception_cost.counting.training import count_training

timm = pytest.importorskip("timm")
aten = torch.ops.aten


def _per_group_conv_backward(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation,
                             transposed, _output_padding, _groups, output_mask, out_shape=None, **kw):
    """A grouped conv's weight gradient is `groups` convs of Cin/groups channels: each
    gradient costs the forward's 2 x N x prod(spatial) x prod(W.shape) FLOPs."""
    spatial = (x_shape if transposed else grad_out_shape)[2:]
    fwd = 2 * x_shape[0] * int(torch.Size(spatial).numel()) * int(torch.Size(w_shape).numel())
    return fwd * int(bool(output_mask[0])) + fwd * int(bool(output_mask[1]))


def fcm_step_macs(model: nn.Module, shape) -> int:
    """FlopCounterMode's FLOPs / 2 of forward + cross-entropy (class 0) + backward, on meta."""
    model = model.to("meta").train()
    x = torch.empty(shape, device="meta")
    fcm = FlopCounterMode(display=False,
                          custom_mapping={aten.convolution_backward: _per_group_conv_backward})
    with fcm:
        out = model(x)
        F.cross_entropy(out, torch.zeros(out.shape[0], dtype=torch.long, device="meta")).backward()
    return fcm.get_total_flops() // 2


def _timm(name, **kw):
    torch.manual_seed(0)
    return timm.create_model(name, pretrained=False, **kw)


@pytest.mark.parametrize("name, kwargs, size", [
    ("coat_lite_tiny", {"img_size": 32}, 32),          # shared submodule, depthwise convs
    ("cait_xxs24_224", {"img_size": 32, "depth": 2}, 32),   # class attention, layer scale
])
def test_unseen_timm_training_macs_equal_flopcountermode(name, kwargs, size):
    shape = (1, 3, size, size)
    t = count_training(_timm(name, **kwargs), shape, optimizer=None)
    assert t.uncounted_ops == []
    totals = t.totals()
    reference = _timm(name, **kwargs)
    assert totals["params"] == sum(p.numel() for p in reference.parameters())
    assert totals["fwd_macs"] + totals["bwd_macs"] == fcm_step_macs(reference, shape)


def fold_reference(n, c, size, kernel, dilation, padding, stride) -> int:
    """Adds of F.fold, measured: fold ones and count values beyond the first per position."""
    h, w = size
    cols = F.unfold(torch.zeros(n, c, h, w), kernel, dilation=dilation, padding=padding,
                    stride=stride)
    hits = F.fold(torch.ones_like(cols), size, kernel, dilation=dilation, padding=padding,
                  stride=stride)
    return int(hits.sum().item()) - int((hits > 0).sum().item())


@pytest.mark.parametrize("n, c, size, kernel, dilation, padding, stride", [
    (2, 4, (12, 12), 3, 1, 1, 2),
    (1, 3, (7, 9), (3, 2), (2, 1), (1, 0), (1, 2)),
    (2, 2, (8, 8), 2, 1, 0, 2),          # blocks tile the image: a permutation, 0 adds
    (1, 5, (10, 6), 4, 1, 2, 1),
])
def test_col2im_adds_equal_fold_of_ones(n, c, size, kernel, dilation, padding, stride):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    want = fold_reference(n, c, size, kernel, dilation, padding, stride)
    cols = F.unfold(torch.zeros(n, c, *size), kernel, dilation=dilation, padding=padding,
                    stride=stride)
    fold = nn.Fold(size, kernel, dilation=dilation, padding=padding, stride=stride)
    report = count(fold, inputs=(cols.to("meta"),))
    row = report.layers[report.layers["op"] == "col2im"].iloc[0]
    assert int(row["flops"]) == want
    assert col2im_adds((n, c * kh * kw, cols.shape[-1]), size, kernel, dilation, padding,
                       stride) == want


def test_col2im_hand_count():
    """12 x 12, kernel 3, padding 1, stride 2: 6 blocks per row; the block starts at
    -1, 1, ..., 9 put 2 + 3 x 5 = 17 values inside a row of 12 positions, so a channel
    gets 17 x 17 - 12 x 12 = 145 adds; N = 2, C = 4: 1,160."""
    assert col2im_adds((2, 4 * 9, 36), (12, 12), 3, 1, 1, 2) == 2 * 4 * (17 * 17 - 12 * 12) == 1160


class PadFold(nn.Module):
    """conv (so the pads need an input gradient) -> reflection pad 2 -> replication pad 1
    -> conv 3x3 -> unfold -> fold."""

    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(3, 3, 1)
        self.pad = nn.ReflectionPad2d(2)
        self.rep = nn.ReplicationPad2d(1)
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        x = self.conv(self.rep(self.pad(self.c0(x))))
        cols = F.unfold(x, 3, padding=1, stride=2)
        return F.fold(cols * 2, (12, 12), 3, padding=1, stride=2).flatten(1)


def test_pads_unfold_fold_in_a_training_step():
    """Input 2 x 3 x 8 x 8: reflection pad -> 12 x 12, replication pad -> 14 x 14, conv -> 12 x 12.
    Backward of the replication pad: 2 x 3 x (14 x 14 - 12 x 12) = 312 adds; of the
    reflection pad: 2 x 3 x (12 x 12 - 8 x 8) = 480 adds; col2im (forward, and the
    backward of unfold) 1,160 adds each; im2col and the pads move data."""
    ops = count_training(PadFold(), (2, 3, 8, 8), optimizer=None).ops
    assert ops["counted"].all()
    flops = {(p, o): int(f) for p, o, f in zip(ops["phase"], ops["op"], ops["flops"])}
    assert flops[("backward", "replication_pad2d_backward")] == 312
    assert flops[("backward", "reflection_pad2d_backward")] == 480
    assert flops[("forward", "col2im")] == flops[("backward", "col2im")] == 1160
    assert flops[("forward", "im2col")] == flops[("forward", "reflection_pad2d")] == 0
    for op in ("im2col", "reflection_pad2d", "replication_pad2d", "reflection_pad1d"):
        assert getattr(aten, op) in DATA_MOVEMENT
    assert getattr(aten, "col2im") not in DATA_MOVEMENT
    count(PadFold(), (2, 3, 8, 8), strict=True)     # strict: no op without a formula
