"""Meta and CPU give the same counts where CPU runs a different (fused) kernel."""
import pytest
import torch
import torch.nn as nn

from inception_cost import count

# the CPU forwards here are small: one torch thread (tests/conftest.py); counts do not
# depend on the thread count
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("kw,shape", [
    ({}, (5, 2, 8)),
    (dict(bias=False), (5, 2, 8)),
    (dict(batch_first=True, bidirectional=True, num_layers=2), (2, 5, 8)),
])
def test_lstm_meta_equals_cpu(kw, shape):
    """On CPU nn.LSTM runs one fused aten.mkldnn_rnn_layer per layer and direction; on meta it
    decomposes into addmm/sigmoid/tanh/mul. MACs per layer and direction: steps x batch x
    4H x (I + H) — LSTM(8, 16): 10 sample-steps x 64 x 24 = 15,360; two layers, two
    directions: 2 x 15,360 + 2 x 10 x 64 x (32 + 16) = 92,160."""
    torch.manual_seed(0)
    m = nn.LSTM(8, 16, **kw)
    x = torch.randn(*shape)
    meta, cpu = count(m, inputs=(x,)), count(m, inputs=(x,), device="cpu")
    assert cpu.uncounted_ops == [] and meta.uncounted_ops == []
    # activations are the tensors each kernel writes: the fused kernel writes fewer
    for key in ("params", "macs", "flops"):
        assert meta.totals()[key] == cpu.totals()[key], key
    expect = 92_160 if kw.get("num_layers") == 2 else 15_360
    assert meta.total_macs == expect


def test_gru_meta_equals_cpu():
    # GRU(8, 16): 3 gates -> 10 sample-steps x 48 x 24 = 11,520 MACs
    m = nn.GRU(8, 16)
    x = torch.randn(5, 2, 8)
    meta, cpu = count(m, inputs=(x,)), count(m, inputs=(x,), device="cpu")
    assert (meta.total_macs, meta.total_flops) == (cpu.total_macs, cpu.total_flops)
    assert meta.total_macs == 11_520
    assert cpu.uncounted_ops == []
