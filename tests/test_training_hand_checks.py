"""Training-count rules checked against numbers derived outside our code: hand arithmetic
written here, PyTorch's FlopCounterMode, and the aten ops PyTorch itself runs (recorded
with a TorchDispatchMode).  Each test names the slip it guards against."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils import flop_counter
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from inception_cost import count
from inception_cost.counting.backward_formulas import attention_backward_macs
from inception_cost.counting.training import count_training
from micro import Fn

aten = torch.ops.aten


def _sum(out):
    return out.sum()


def _rows(report):
    return report.layers.set_index("module")


class _Recorder(TorchDispatchMode):
    """Every aten op run, with its arguments (what PyTorch does, not what we count)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls.append((func, args))
        return func(*args, **(kwargs or {}))


# --------------------------------------------------------------------------- #
# backprop through indexing: one add per gradient element
# --------------------------------------------------------------------------- #
class _Pick(nn.Module):
    """fc, then rows 0, 2, 2, 4, 1, 0 of its 5 x 4 output (row 0 and 2 picked twice)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        return self.fc(x)[torch.tensor([0, 2, 2, 4, 1, 0], device=x.device)]


def test_indexing_backward_counts_one_add_per_gradient_element():
    x = torch.randn(5, 3)
    # What PyTorch runs for the backward of x[idx]: a zero tensor and index_put with
    # accumulate=True of the (6, 4) gradient: 24 adds (duplicates add, they do not copy).
    m = _Pick()
    y = m(x)
    rec = _Recorder()
    with rec:
        y.backward(torch.ones_like(y))
    puts = [a for f, a in rec.calls if f.overloadpacket in (aten.index_put, aten.index_put_)]
    assert len(puts) == 1 and puts[0][3] is True and tuple(puts[0][2].shape) == (6, 4)
    # FlopCounterMode on the same step: matmuls only (forward addmm 2*5*3*4, weight
    # gradient mm 2*5*3*4; no input gradient: x is data); it has no formula for adds.
    fcm = FlopCounterMode(display=False)
    with fcm:
        _Pick()(x).sum().backward()
    assert fcm.get_total_flops() == 2 * 60 + 2 * 60
    r = count_training(_Pick(), inputs=x, loss=_sum, optimizer=None)
    ops = r.ops[r.ops["phase"] == "backward"].set_index("op")
    assert ops.loc["index_put", "flops"] == 6 * 4 == 24
    t = r.totals()
    assert 2 * (t["fwd_macs"] + t["bwd_macs"]) == fcm.get_total_flops()
    # backward FLOPs by hand: 24 adds (index_put), weight-gradient mm 2 x 60, and the bias
    # gradient summing 5 rows of 4 (20 adds)
    assert t["bwd_flops"] == 24 + 2 * 60 + 20


def test_index_put_adds_only_when_accumulating():
    """A plain index_put copies values in (0 FLOPs); accumulate=True adds each value."""
    idx = torch.tensor([0, 2, 2])

    def put(acc):
        return Fn(lambda x: x.index_put((idx.to(x.device),), torch.ones(3, 4, device=x.device),
                                        accumulate=acc))
    assert count(put(True), (5, 4)).totals()["flops"] == 3 * 4
    assert count(put(False), (5, 4)).totals()["flops"] == 0


# --------------------------------------------------------------------------- #
# normalisation backward (convention: counting/backward_formulas.py)
# --------------------------------------------------------------------------- #
def test_layer_norm_backward_by_hand():
    """LayerNorm over 6 features of a 4 x 6 input behind a linear layer (so its input needs
    a gradient): input gradient 8 FLOPs per element, weight 4, bias 1."""
    m = nn.Sequential(nn.Linear(5, 6), nn.LayerNorm(6))
    r = _rows(count_training(m, (4, 5), loss=_sum, optimizer=None))
    n = 4 * 6
    assert (r.loc["1", "bwd_input_flops"], r.loc["1", "bwd_weight_flops"]) == (8 * n, 5 * n)


# --------------------------------------------------------------------------- #
# fused attention backward with a value head dim unlike the query's
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("b,h,sq,sk,d,dv", [(2, 3, 16, 24, 8, 20), (1, 4, 7, 5, 32, 12)])
def test_fused_attention_backward_uses_each_head_dim(b, h, sq, sk, d, dv):
    q, k, v = (b, h, sq, d), (b, h, sk, d), (b, h, sk, dv)
    scores = b * h * sq * sk
    # hand: q k^T recompute (d), dP = dO v^T (dv), dV = P^T dO (dv), dQ = dS k (d),
    # dK = dS^T q (d)
    hand = scores * (3 * d + 2 * dv)
    macs, s = attention_backward_macs(q, k, v)
    assert (macs, s) == (hand, scores)
    # PyTorch's formula for every fused attention backward (FlopCounterMode's)
    assert 2 * macs == flop_counter.sdpa_backward_flop_count((b, h, sq, dv), q, k, v)


# --------------------------------------------------------------------------- #
# vector norm: square (or abs) and accumulate per element, a root per output
# --------------------------------------------------------------------------- #
def test_vector_norm_by_hand():
    r = count(Fn(lambda x: torch.linalg.vector_norm(x, dim=1)), (4, 6))
    assert r.totals()["flops"] == 2 * 4 * 6 + 4 == 52


# --------------------------------------------------------------------------- #
# freezing and the optimizer
# --------------------------------------------------------------------------- #
class _Ten(nn.Module):
    """conv1, conv10: a prefix that is not a path boundary."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 3, 3, bias=False)     # 6x6 -> 4x4, 54 weights
        self.conv10 = nn.Conv2d(3, 4, 3, bias=False)    # 4x4 -> 2x2, 108 weights

    def forward(self, x):
        return self.conv10(self.conv1(x))


def test_freeze_conv1_leaves_conv10_trainable_and_its_optimizer_flops():
    r = count_training(_Ten(), (1, 2, 6, 6), loss=_sum, optimizer="sgd", freeze="conv1")
    rows = _rows(r)
    assert sorted(r.frozen) == ["conv1.weight"]
    assert (rows.loc["conv1", "trainable"], rows.loc["conv10", "trainable"]) == (0, 108)
    # conv10's weight gradient by hand: 1 x 4 x 2 x 2 outputs x 3 x 3 x 3 = 432 MACs; its
    # input gradient is not needed (conv1 is frozen and reads the data)
    assert (rows.loc["conv10", "bwd_weight_macs"], rows.loc["conv10", "bwd_input_macs"]) == (432, 0)
    assert rows.loc["conv1", "bwd_macs"] == 0
    # SGD: 2 FLOPs per trainable element (multiply by lr, subtract); none for frozen ones
    assert (rows.loc["conv1", "opt_flops"], rows.loc["conv10", "opt_flops"]) == (0, 2 * 108)
    assert r.totals()["opt_flops"] == 216


def test_frozen_parameters_get_no_optimizer_flops():
    m = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    m[0].weight.requires_grad_(False)                 # bias stays trainable
    rows = _rows(count_training(m, (2, 4), loss=_sum, optimizer="sgd"))
    assert rows.loc["0", "opt_flops"] == 2 * 3          # the bias's 3 elements only
    assert rows.loc["1", "opt_flops"] == 2 * (3 * 2 + 2)


# --------------------------------------------------------------------------- #
# an input that requires grad is an activation, not a parameter
# --------------------------------------------------------------------------- #
def test_input_with_requires_grad_gets_an_input_gradient():
    """y = x W^T + b with x.requires_grad: dL/dx = g W (3 x 10 x 20 MACs) is input-gradient
    work, dL/dW = g^T x (same MACs) weight-gradient work; FlopCounterMode counts both."""
    x = torch.randn(3, 10, requires_grad=True)
    lin = nn.Linear(10, 20)
    fcm = FlopCounterMode(display=False)
    with fcm:
        lin(x).sum().backward()
    r = _rows(count_training(nn.Sequential(nn.Linear(10, 20)), inputs=x, loss=_sum,
                             optimizer=None))
    assert (r.loc["0", "bwd_input_macs"], r.loc["0", "bwd_weight_macs"]) == (600, 600)
    assert 2 * (r.loc["0", "fwd_macs"] + r.loc["0", "bwd_macs"]) == fcm.get_total_flops()
