"""Training-step counts: per-layer input-/weight-gradient MACs by hand, PyTorch's
test_flop_counter.py backward cases, frozen layers, auxiliary heads, bad input."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from inception_cost import build
from inception_cost.counting.training import count_training, default_loss
from inception_cost.errors import UsageError

# the CPU forwards here are small: one torch thread (tests/conftest.py); counts do not
# depend on the thread count
pytestmark = pytest.mark.usefixtures("one_thread")


def _layer(report, module):
    return report.layers.set_index("module").loc[module]


def _sum_loss(out):
    return out.sum()


# --------------------------------------------------------------------------- #
# hand arithmetic for convolutions
# --------------------------------------------------------------------------- #
class ConvStack(nn.Module):
    """first conv -> grouped conv -> strided transposed conv."""

    def __init__(self):
        super().__init__()
        self.first = nn.Conv2d(3, 8, 3, bias=False)                       # 10x10 -> 8x8
        self.grouped = nn.Conv2d(8, 16, 3, padding=1, groups=4, bias=False)   # 8x8 -> 8x8
        self.up = nn.ConvTranspose2d(16, 6, 3, stride=2, bias=False)     # 8x8 -> 17x17

    def forward(self, x):
        return self.up(self.grouped(self.first(x)))


N = 2
FIRST = N * 8 * 8 * 8 * 3 * 3 * 3            # N * Cout * Ho * Wo * Cin * k * k = 27,648
GROUPED = N * 16 * 8 * 8 * (8 // 4) * 3 * 3  # Cin/groups = 2 per output channel = 36,864
UP = N * 16 * 8 * 8 * 6 * 3 * 3              # transposed: N * Cin * Hin * Win * Cout * k * k = 110,592


def test_conv_gradients_by_hand():
    r = count_training(ConvStack(), (N, 3, 10, 10), loss=_sum_loss, optimizer=None)
    first, grouped, up = _layer(r, "first"), _layer(r, "grouped"), _layer(r, "up")
    assert (first.fwd_macs, grouped.fwd_macs, up.fwd_macs) == (27_648, 36_864, 110_592) == (FIRST, GROUPED, UP)
    # the first layer's input is the data: no input gradient, only the weight gradient
    assert (first.bwd_input_macs, first.bwd_weight_macs) == (0, FIRST)
    # a grouped conv's input- and weight-gradient each cost its forward MACs
    assert (grouped.bwd_input_macs, grouped.bwd_weight_macs) == (GROUPED, GROUPED)
    # strided transposed conv: dL/dx is a strided conv of dL/dy with W, same MACs
    assert (up.bwd_input_macs, up.bwd_weight_macs) == (UP, UP)
    assert r.totals()["bwd_macs"] == FIRST + 2 * GROUPED + 2 * UP


def test_frozen_weight_keeps_input_gradient_only():
    m = ConvStack()
    m.grouped.weight.requires_grad_(False)
    r = count_training(m, (N, 3, 10, 10), loss=_sum_loss, optimizer=None)
    grouped = _layer(r, "grouped")
    assert (grouped.bwd_input_macs, grouped.bwd_weight_macs) == (GROUPED, 0)
    assert (_layer(r, "first").bwd_weight_macs, _layer(r, "up").bwd_weight_macs) == (FIRST, UP)
    assert m.grouped.weight.requires_grad is False and m.first.weight.grad is None   # model untouched


def test_frozen_prefix_has_no_backward_at_all():
    r = count_training(ConvStack(), (N, 3, 10, 10), loss=_sum_loss, optimizer=None,
                       freeze="first,grouped")
    assert _layer(r, "first").bwd_macs == 0 and _layer(r, "grouped").bwd_macs == 0
    up = _layer(r, "up")
    # the first trainable layer needs no input gradient either
    assert (up.bwd_input_macs, up.bwd_weight_macs) == (0, UP)
    assert sorted(r.frozen) == ["first.weight", "grouped.weight"]
    assert _layer(r, "first").trainable == 0 and _layer(r, "up").trainable == 16 * 6 * 9


def test_grouped_weight_gradient_equals_per_group_convs_under_flopcountermode():
    """FlopCounterMode counts a grouped conv's weight gradient as one dense conv; running
    the g per-group convolutions (groups=1) under it gives our count."""
    g, cin, cout = 4, 8, 16
    x = torch.randn(N, cin, 8, 8)
    fcm = FlopCounterMode(display=False)
    with fcm:
        for i in range(g):
            w = torch.randn(cout // g, cin // g, 3, 3, requires_grad=True)
            F.conv2d(x[:, i * cin // g:(i + 1) * cin // g], w, padding=1).sum().backward()
    per_group_weight_grad = fcm.get_flop_counts()["Global"][torch.ops.aten.convolution_backward]
    r = count_training(ConvStack(), (N, 3, 10, 10), loss=_sum_loss, optimizer=None)
    assert 2 * _layer(r, "grouped").bwd_weight_macs == per_group_weight_grad


def test_linear_split_and_bias_gradient():
    m = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    r = count_training(m, inputs=torch.randn(3, 10), loss=_sum_loss, optimizer="sgd")
    first, last = _layer(r, "0"), _layer(r, "2")
    assert (first.bwd_input_macs, first.bwd_weight_macs) == (0, 3 * 10 * 20)
    assert (last.bwd_input_macs, last.bwd_weight_macs) == (3 * 20 * 5, 3 * 20 * 5)
    # weight-gradient FLOPs: 2 x MACs + the bias gradient (a sum over the batch: 3 x 20 adds)
    assert first.bwd_weight_flops == 2 * 600 + 60
    # sgd: 2 FLOPs per parameter element
    assert first.opt_flops == 2 * (10 * 20 + 20) and last.opt_flops == 2 * (20 * 5 + 5)
    assert _layer(r, "1").bwd_input_flops == 3 * 20           # ReLU backward: 1 per element


# --------------------------------------------------------------------------- #
# PyTorch's test/test_flop_counter.py backward cases (the numbers are facts)
# --------------------------------------------------------------------------- #
def test_pytorch_resnet18_module_case():
    m = torchvision.models.resnet18(weights=None)
    x = torch.empty(1, 3, 224, 224, device="meta", requires_grad=True)
    r = count_training(m, inputs=x, loss=_sum_loss, optimizer=None)
    t = r.totals()
    assert 2 * (t["fwd_macs"] + t["bwd_macs"]) == 10_884_440_064
    ops = r.ops
    layer1 = ops[ops["module"].str.startswith("layer1.")]
    assert 2 * int(layer1.loc[layer1.op == "convolution", "macs"].sum()) == 924_844_032
    assert 2 * int(layer1.loc[layer1.op == "convolution_backward", "macs"].sum()) == 1_849_688_064


def test_pytorch_conv_transpose_loop_case():
    model = nn.ConvTranspose2d(4, 8, (2, 2), stride=2)
    x = torch.rand(1, 4, 30, 2)
    total = 0
    for _ in range(50):
        t = count_training(model, inputs=x, loss=_sum_loss, optimizer=None).totals()
        total += 2 * (t["fwd_macs"] + t["bwd_macs"])
        assert t["bwd_input_macs"] == 0                   # weight-only gradient
    assert total == 1_536_000


class _MmBmm(nn.Module):
    def forward(self, a):
        a = torch.mm(a, torch.randn(5, 6, device=a.device))
        a = a.unsqueeze(0).expand(7, 4, 6)
        return torch.bmm(a, torch.randn(7, 6, 7, device=a.device))


class _SelfMm(nn.Module):
    def forward(self, a):
        return a.mm(a.t())


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_pytorch_mm_bmm_backward_cases(device):
    a = torch.randn(4, 5, requires_grad=True)
    t = count_training(_MmBmm(), inputs=a, loss=_sum_loss, optimizer=None, device=device).totals()
    assert 2 * (t["fwd_macs"] + t["bwd_macs"]) == 5_184
    total = 0
    for _ in range(2):                                    # test_backward_reset: two steps
        t = count_training(_SelfMm(), inputs=a, loss=_sum_loss, optimizer=None, device=device).totals()
        total += 2 * (t["fwd_macs"] + t["bwd_macs"])
    assert total == 960


class _Attention(nn.Module):
    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def _qkv(b, h, sq, sk, d, dv):
    return (torch.randn(b, h, sq, d, requires_grad=True), torch.randn(b, h, sk, d, requires_grad=True),
            torch.randn(b, h, sk, dv, requires_grad=True))


def test_sdpa_backward_math_path_on_meta_is_twice_forward():
    # PyTorch's test_sdpa: b=4, h=8, s=128, d=64: forward 134,217,728 FLOPs; math fw+bw = 3x
    t = count_training(_Attention(), inputs=_qkv(4, 8, 128, 128, 64, 64), loss=_sum_loss,
                       optimizer=None).totals()
    assert 2 * t["bwd_macs"] == 2 * 134_217_728
    # non-uniform (sk=256): forward 268,435,456; math fw+bw 805,306,368
    t = count_training(_Attention(), inputs=_qkv(4, 8, 128, 256, 64, 64), loss=_sum_loss,
                       optimizer=None).totals()
    assert 2 * t["bwd_macs"] == 805_306_368 - 268_435_456


def test_sdpa_backward_fused_cpu_kernel_is_five_halves_of_forward():
    # fused kernels recompute q k^T: fw+bw = 7/2 x forward, i.e. backward = 5/2 x forward
    r = count_training(_Attention(), inputs=_qkv(4, 8, 128, 128, 64, 64), loss=_sum_loss,
                       optimizer=None, device="cpu")
    assert "_scaled_dot_product_flash_attention_for_cpu_backward" in set(r.ops["op"])
    assert 2 * r.totals()["bwd_macs"] == 134_217_728 * 5 // 2
    # non-uniform: PyTorch's efficient-attention fw+bw 939,524,096 minus its forward
    r = count_training(_Attention(), inputs=_qkv(4, 8, 128, 256, 64, 64), loss=_sum_loss,
                       optimizer=None, device="cpu")
    assert 2 * r.totals()["bwd_macs"] == 939_524_096 - 268_435_456


# --------------------------------------------------------------------------- #
# auxiliary heads and the default loss
# --------------------------------------------------------------------------- #
def test_googlenet_aux_heads_are_training_only_and_labelled():
    r = count_training(build("googlenet", aux=True), (2, 3, 224, 224), optimizer=None)
    assert r.aux_modules == ["aux1", "aux2"]
    # paper heads: 5x5/3 avg pool -> 4x4; 1x1 conv to 128; fc 2048->1024; fc 1024->1000
    aux1 = 4 * 4 * 512 * 128 + 2048 * 1024 + 1024 * 1000
    aux2 = 4 * 4 * 528 * 128 + 2048 * 1024 + 1024 * 1000
    a = r.aux_totals()
    assert a["fwd_macs"] == 2 * (aux1 + aux2)
    # every layer of a head needs input and weight gradients: backward = 2 x forward
    assert a["bwd_input_macs"] == a["bwd_weight_macs"] == a["fwd_macs"]
    plain = count_training(build("googlenet"), (2, 3, 224, 224), optimizer=None)
    assert r.totals()["step_macs"] - plain.totals()["step_macs"] == a["step_macs"]
    # FlopCounterMode on the two steps (heads on / off): the heads' step MACs are half the
    # difference of its totals
    assert 2 * a["step_macs"] == _fcm_step(build("googlenet", aux=True)) - \
        _fcm_step(build("googlenet"))


def _fcm_step(model):
    """FlopCounterMode's FLOPs for a train-mode forward, cross-entropy (+ 0.3 x each auxiliary
    head's) and backward on a 2 x 3 x 224 x 224 meta batch."""
    x = torch.empty(2, 3, 224, 224, device="meta")
    target = torch.zeros(2, dtype=torch.long, device="meta")
    fcm = FlopCounterMode(display=False)
    with fcm:
        out = model.train()(x)
        heads = list(out) if isinstance(out, tuple) else [out]
        loss = F.cross_entropy(heads[0], target)
        for aux in heads[1:]:
            loss = loss + 0.3 * F.cross_entropy(aux, target)
        loss.backward()
    return fcm.get_total_flops()


def test_default_loss_weights_aux_outputs_by_0_3():
    g = torch.Generator().manual_seed(0)
    main, aux = torch.randn(4, 10, generator=g), torch.randn(4, 10, generator=g)
    target = torch.zeros(4, dtype=torch.long)
    expected = F.cross_entropy(main, target) + 0.3 * F.cross_entropy(aux, target)
    assert torch.allclose(default_loss([main, aux]), expected)


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #
class _Strings(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return "not a tensor"


def test_bad_input_is_a_usage_error():
    with pytest.raises(UsageError, match="not a tensor or a tuple/dict of tensors"):
        count_training(_Strings(), (2, 4))
    with pytest.raises(UsageError, match="scalar"):
        count_training(nn.Linear(4, 3), (2, 4), loss=lambda out: out * 2)
    with pytest.raises(UsageError, match="unknown optimizer"):
        count_training(nn.Linear(4, 3), (2, 4), optimizer="adamx")
    with pytest.raises(UsageError, match="freeze pattern 'conv9\\*' matches no module"):
        count_training(ConvStack(), (N, 3, 10, 10), freeze="first,conv9*")


def test_callers_model_is_unchanged():
    m = build("googlenet", aux=True)          # built on meta, in eval mode
    before = {n: (p, p.requires_grad, p.device) for n, p in m.named_parameters()}
    buffers = {n: b for n, b in m.named_buffers()}
    count_training(m, (2, 3, 224, 224), freeze="conv1", optimizer="adamw")
    assert not m.training and not any(mod.training for mod in m.modules())
    for n, p in m.named_parameters():
        assert (p, p.requires_grad, p.device) == before[n] and p.grad is None
    assert all(b is buffers[n] for n, b in m.named_buffers())


class _LayerScale(nn.Module):
    def __init__(self):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(4, 1, 1))

    def forward(self, x):
        return self.gamma * x


def test_elementwise_parameter_split():
    """y = gamma * x: dL/dx = g * gamma (reads the parameter: input gradient, 1 FLOP per
    element); dL/dgamma = g * x summed over N, H, W (weight gradient, 1 + 1 per element)."""
    m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), _LayerScale(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5))
    r = count_training(m, (2, 3, 8, 8), optimizer=None)
    n = 2 * 4 * 8 * 8
    ls = _layer(r, "1")
    assert (ls.bwd_input_flops, ls.bwd_weight_flops) == (n, 2 * n)
    fc = _layer(r, "3")          # behind a flatten (a view): still an activation's gradient
    assert (fc.bwd_input_macs, fc.bwd_weight_macs) == (2 * 256 * 5, 2 * 256 * 5)
