"""Two training-count bugs on unseen models: a submodule registered under two names
(timm coat_lite_tiny) must not leave meta tensors in the caller's model, and the CPU's
fused LSTM backward (``mkldnn_rnn_layer_backward``, timm sequencer2d) must be counted
exactly as the per-step ops autograd runs for it on meta."""
import pytest
import torch
import torch.nn as nn

from inception_cost.counting.training import count_training

# the CPU forwards here are small: one torch thread (tests/conftest.py); counts do not
# depend on the thread count
pytestmark = pytest.mark.usefixtures("one_thread")


class SharedTwice(nn.Module):
    """One Linear registered as ``a`` and as ``b`` (used twice), then a head."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = self.a
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(self.b(self.a(x)))


def test_shared_submodule_keeps_the_callers_weights():
    torch.manual_seed(0)
    model = SharedTwice()
    before = {n: p.detach().clone() for n, p in model.named_parameters(remove_duplicate=False)}
    rep = count_training(model, inputs=(torch.randn(2, 4),))
    after = dict(model.named_parameters(remove_duplicate=False))
    assert set(after) == set(before)
    for n, p in after.items():
        assert p.device.type == "cpu", n
        assert torch.equal(p, before[n]), n
    assert model.a is model.b and model.a.weight is model.b.weight
    # forward MACs by hand: two 4x4 Linears on 2 rows + the 4->3 head
    fwd = rep.ops[rep.ops.phase == "forward"]
    assert int(fwd.macs.sum()) == 2 * (2 * 4 * 4) + 2 * 4 * 3


def _sequencer_block():
    seq = pytest.importorskip("timm.models.sequencer")

    class Block(nn.Module):
        """A linear stem (so the LSTM's input needs its gradient, as in sequencer2d)
        and timm's bidirectional LSTM2d over rows and columns."""

        def __init__(self):
            super().__init__()
            self.stem = nn.Linear(3, 8)
            self.rnn = seq.LSTM2d(8, 6)
            self.head = nn.Linear(8, 5)

        def forward(self, x):                  # x: (N, H, W, 3)
            return self.head(self.rnn(self.stem(x)).mean((1, 2)))
    return Block


@pytest.mark.parametrize("shape", [(2, 4, 5, 3), (1, 1, 3, 3)], ids=["4x5", "1x3"])
def test_cpu_fused_lstm_backward_equals_the_meta_count(shape):
    make = _sequencer_block()
    torch.manual_seed(0)
    meta = count_training(make(), input_size=shape, device="meta")
    cpu = count_training(make(), input_size=shape, device="cpu")
    assert "mkldnn_rnn_layer_backward" in set(cpu.ops.op)
    assert "mkldnn_rnn_layer_backward" not in set(meta.ops.op)
    for phase in ("forward", "backward"):
        m = meta.ops[meta.ops.phase == phase]
        c = cpu.ops[cpu.ops.phase == phase]
        assert int(c.macs.sum()) == int(m.macs.sum()), phase
        assert int(c.flops.sum()) == int(m.flops.sum()), phase
    assert bool(cpu.ops.counted.all())
