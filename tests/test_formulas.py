"""Hand-computed costs of single ops, counted through the real engine."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from inception_cost import count
from inception_cost.counting.formulas import adaptive_window_sum, einsum_macs, matmul_macs


def one(module, size, **kw):
    return count(module, size, **kw)


def conv_row(report):
    rows = report.layers[report.layers["op"] == "convolution"]
    assert len(rows) == 1
    return rows.iloc[0]


@pytest.mark.parametrize("k,cin,cout,hw", [(1, 192, 64, 28), (3, 96, 128, 28), (5, 16, 32, 28)])
def test_same_padded_conv_macs(k, cin, cout, hw):
    # 28x28 output, each output element costs k*k*cin MACs
    m = nn.Conv2d(cin, cout, k, padding=k // 2)
    r = one(m, (1, cin, hw, hw))
    assert r.total_macs == hw * hw * cout * k * k * cin
    # flops: 2 per MAC plus one bias add per output element
    assert r.total_flops == 2 * hw * hw * cout * k * k * cin + hw * hw * cout
    assert r.total_params == cout * cin * k * k + cout


def test_strided_padded_dilated_conv():
    # 7x7/2 pad 3 on 224 -> 112 (GoogLeNet conv1): 112*112*64*7*7*3 = 118,013,952
    r = one(nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), (1, 3, 224, 224))
    assert r.total_macs == 118_013_952
    row = conv_row(r)
    assert (row.kernel, row.stride, row.padding, row.out_shape) == ((7, 7), (2, 2), (3, 3), (1, 64, 112, 112))
    # dilation 2, 3x3, no pad on 10x10: effective kernel 5 -> 6x6 output
    r = one(nn.Conv2d(4, 8, 3, dilation=2, bias=False), (2, 4, 10, 10))
    assert r.total_macs == 2 * 6 * 6 * 8 * 9 * 4
    assert conv_row(r).dilation == (2, 2)


def test_grouped_and_depthwise_conv():
    # groups=4: each output channel sees cin/groups = 8 inputs
    r = one(nn.Conv2d(32, 64, 3, padding=1, groups=4, bias=False), (1, 32, 14, 14))
    assert r.total_macs == 14 * 14 * 64 * 9 * 8
    # depthwise: one input channel per output
    r = one(nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False), (1, 32, 14, 14))
    assert r.total_macs == 14 * 14 * 32 * 9
    assert conv_row(r).groups == 32


def test_transposed_conv():
    # every input pixel scatters a k*k*cout/groups patch: N*Cin*H*W*Cout*k*k
    m = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, bias=False)
    r = one(m, (1, 16, 7, 7))
    assert r.layers["out_shape"].iloc[0] == (1, 8, 14, 14)
    assert r.total_macs == 16 * 7 * 7 * 8 * 16


def test_linear_on_3d_input_and_matmul():
    # linear over (2, 10, 64): 2*10 rows, 64*32 MACs each
    r = one(nn.Linear(64, 32), (2, 10, 64))
    assert r.total_macs == 2 * 10 * 64 * 32
    assert r.total_flops == 2 * (2 * 10 * 64 * 32) + 2 * 10 * 32

    class MM(nn.Module):
        def forward(self, x):
            return x @ x.transpose(-1, -2) + torch.matmul(x[0], x[0].T)

    r = count(MM(), inputs=torch.zeros(3, 5, 7))
    # batched (3,5,7)@(3,7,5): 3*5*7*5 ; (5,7)@(7,5): 5*7*5
    assert r.total_macs == 3 * 5 * 7 * 5 + 5 * 7 * 5


def test_functional_calls_count_like_modules():
    class Fn(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(8, 3, 3, 3))

        def forward(self, x):
            y = F.conv2d(x, self.w, padding=1)
            return torch.cat([y + y, y], dim=1)

    r = count(Fn(), (1, 3, 16, 16))
    assert r.total_macs == 16 * 16 * 8 * 27
    add = r.layers[r.layers["op"] == "add"].iloc[0]
    assert add.flops == 8 * 16 * 16
    assert set(r.layers["op"]) == {"convolution", "add", "cat"}


def test_pooling_bn_relu_conventions():
    m = nn.Sequential(nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(3, 2), nn.AvgPool2d(2),
                      nn.AdaptiveAvgPool2d(1)).eval()
    r = count(m, (1, 4, 9, 9))
    by = dict(zip(r.layers["op"], r.layers["flops"]))
    assert by["batch_norm"] == 2 * 4 * 81          # folded scale+shift
    assert by["relu"] == 4 * 81                    # one per element
    assert by["max_pool2d_with_indices"] == 4 * 4 * 4 * 9   # 4x4 out, 3x3 window
    assert by["avg_pool2d"] == 4 * 2 * 2 * 4       # 2x2 out, 2x2 window
    assert by["adaptive_avg_pool2d"] == 4 * 4      # window = the 2x2 input


def test_lrn_and_softmax():
    r = count(nn.LocalResponseNorm(5), (1, 16, 7, 7))
    assert list(r.layers["op"]) == ["local_response_norm"]
    assert r.total_flops == (5 + 5) * 16 * 49
    r = count(nn.Softmax(dim=1), (2, 10))
    assert r.total_flops == 3 * 20


def test_inplace_ops_write_no_activation():
    r = count(nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(inplace=True)), (1, 3, 5, 5))
    assert list(r.layers["activations"]) == [100, 0]
    assert list(r.layers["inplace"]) == [False, True]


def test_pure_shape_helpers():
    assert matmul_macs((4,), (4, 3)) == 12
    assert matmul_macs((2, 1, 5, 6), (3, 6, 7)) == 2 * 3 * 5 * 6 * 7
    assert einsum_macs("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]) == 2 * 3 * 4 * 5
    # 7 -> 3 adaptive windows: [0,3) [2,5) [4,7) = 3+3+3
    assert adaptive_window_sum([7], [3]) == 9
    assert adaptive_window_sum([8, 8], [1, 1]) == 64


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), g=st.sampled_from([1, 2, 4]), cin_per=st.integers(1, 4),
       cout_per=st.integers(1, 4), kh=st.integers(1, 5), kw=st.integers(1, 5),
       stride=st.integers(1, 3), pad=st.integers(0, 2), dil=st.integers(1, 2),
       h=st.integers(8, 24), w=st.integers(8, 24))
def test_conv_property(n, g, cin_per, cout_per, kh, kw, stride, pad, dil, h, w):
    cin, cout = g * cin_per, g * cout_per
    hout = (h + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    wout = (w + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    if hout <= 0 or wout <= 0:
        return
    m = nn.Conv2d(cin, cout, (kh, kw), stride=stride, padding=pad, dilation=dil, groups=g)
    r = count(m, (n, cin, h, w))
    assert r.total_macs == n * hout * wout * cout * kh * kw * cin // g
    assert r.layers["out_shape"].iloc[0] == (n, cout, hout, wout)
