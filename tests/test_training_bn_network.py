"""A batch-norm network (torchvision's resnet18 on a 2x3x32x32 batch): every layer's
forward, input-gradient and weight-gradient MACs against PyTorch's FlopCounterMode / 2,
run here on that layer alone with the shapes PyTorch's forward hooks saw; one
batch-norm layer's backward FLOPs by hand.

The per-layer reference runs each conv / linear by itself because FlopCounterMode's own
per-module attribution of backward work is not per layer in residual blocks (it files a
block's main-branch convolution_backward under the downsample conv as well).  Which
gradient an op produces is chosen the way autograd chooses it: ``requires_grad`` on the
input only (input gradient) or on the weight only (weight gradient).
"""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from inception_cost.counting.training import count_training

torchvision = pytest.importorskip("torchvision")
SHAPE = (2, 3, 32, 32)


@pytest.fixture(scope="module")
def resnet18():
    with torch.device("meta"):
        return torchvision.models.resnet18()


@pytest.fixture(scope="module")
def ours(resnet18):
    r = count_training(resnet18, SHAPE, optimizer=None)
    return r.layers.set_index("module")


@pytest.fixture(scope="module")
def layer_inputs(resnet18):
    """module name -> (module, input shape) for every Conv2d, Linear and BatchNorm2d, from
    forward hooks on one train-mode forward."""
    seen = {}

    def hook(name):
        def record(mod, inp, _out):
            seen[name] = (mod, tuple(inp[0].shape))
        return record
    hooks = [m.register_forward_hook(hook(n)) for n, m in resnet18.named_modules()
             if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))]
    with torch.no_grad():
        resnet18.train()(torch.empty(SHAPE, device="meta"))
    for h in hooks:
        h.remove()
    resnet18.eval()
    return seen


def _fcm(fn) -> int:
    fcm = FlopCounterMode(display=False)
    with fcm:
        fn()
    return fcm.get_total_flops()


def fcm_layer(mod: nn.Module, x_shape) -> tuple[int, int, int]:
    """FlopCounterMode FLOPs of (forward, input gradient, weight gradient) of ``mod`` alone
    on an input of ``x_shape`` (bias gradients are sums: FlopCounterMode counts 0)."""
    def call(x, w):
        if isinstance(mod, nn.Conv2d):
            return F.conv2d(x, w, None, mod.stride, mod.padding, mod.dilation, mod.groups)
        return F.linear(x, w)

    def run(x_grad: bool, w_grad: bool) -> int:
        x = torch.empty(x_shape, device="meta", requires_grad=x_grad)
        w = torch.empty(mod.weight.shape, device="meta", requires_grad=w_grad)
        y = call(x, w)
        fwd = _fcm(lambda: call(x, w))
        bwd = _fcm(lambda: y.backward(torch.empty_like(y)))
        return fwd, bwd
    fwd, dx = run(True, False)
    _, dw = run(False, True)
    return fwd, dx, dw


def test_every_conv_and_linear_equals_flopcountermode_alone(ours, layer_inputs):
    checked = 0
    for name, (mod, x_shape) in layer_inputs.items():
        if isinstance(mod, nn.BatchNorm2d):
            continue
        fwd, dx, dw = fcm_layer(mod, x_shape)
        row = ours.loc[name]
        # resnet18's first conv reads the data: no input gradient is computed
        want_dx = 0 if name == "conv1" else dx // 2
        assert (row.fwd_macs, row.bwd_input_macs, row.bwd_weight_macs) == \
            (fwd // 2, want_dx, dw // 2), name
        checked += 1
    assert checked == 21    # 20 convolutions (3 of them downsample) + fc


def test_total_backward_macs_equal_flopcountermode_on_the_whole_step(resnet18, ours):
    x = torch.empty(SHAPE, device="meta")
    target = torch.zeros(SHAPE[0], dtype=torch.long, device="meta")
    fcm = FlopCounterMode(display=False)
    with fcm:
        F.cross_entropy(resnet18.train()(x), target).backward()
    resnet18.eval()
    total = fcm.get_total_flops()
    assert 2 * int(ours["fwd_macs"].sum() + ours["bwd_macs"].sum()) == total


def test_one_batch_norm_layer_by_hand(ours, layer_inputs):
    """bn1 sees conv1's output, 2 x 64 x 16 x 16 = 32,768 elements.  Convention
    (counting/backward_formulas.py): training batch-norm backward costs 8 FLOPs per element
    for the input gradient (x-hat 2, two reductions 3, combine 3), 4 per element for the
    weight gradient (x-hat 2, multiply-sum 2) and 1 for the bias gradient (a sum); the
    training forward 7 per element (mean 1, variance 2, normalise 2, affine 2) plus the
    step counter."""
    _mod, x_shape = layer_inputs["bn1"]
    assert x_shape == (2, 64, 16, 16)
    n = 2 * 64 * 16 * 16
    bn = ours.loc["bn1"]
    assert (bn.fwd_macs, bn.bwd_input_macs, bn.bwd_weight_macs) == (0, 0, 0)
    # + 1: train mode adds 1 to the layer's num_batches_tracked counter
    assert bn.fwd_flops == 7 * n + 1 == 229_377
    assert bn.bwd_input_flops == 8 * n == 262_144
    assert bn.bwd_weight_flops == (4 + 1) * n == 163_840
