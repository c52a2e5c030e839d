"""A training step analysed on a real device runs on a copy: the caller's parameters get
no ``.grad`` and keep their values (the optimizer step of memory's real CPU fallback
writes the copy's). Before, a CPU model's parameters were shared with the copy, so a
second ``count_training(device="cpu")`` found the first one's gradients and counted
an extra ``add_`` per parameter element."""
import torch
import torch.nn as nn

from inception_cost import memory
from inception_cost.counting.training import count_training


class ReadsValues(nn.Module):
    """Two linear layers with a branch on a value: meta cannot run it, the CPU can."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 5)
        self.b = nn.Linear(5, 4)

    def forward(self, x):
        h = self.a(x)
        if h.abs().sum() >= 0:               # reads a value
            h = h.relu()
        return self.b(h)


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_cpu_training_count_leaves_the_callers_model_and_repeats_exactly():
    torch.manual_seed(0)
    model = ReadsValues()
    before = _snapshot(model)
    first = count_training(model, (6,), batch=2, device="cpu", optimizer="sgd")
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    second = count_training(model, (6,), batch=2, device="cpu", optimizer="sgd")
    assert second.totals() == first.totals()
    # weight gradients by hand (batch 2): a 6x5 weight 2*6*5 MACs, b 5x4 2*5*4 MACs,
    # biases: a sum over the batch, one FLOP per element read (2 * 5 + 2 * 4); nothing
    # accumulated into an old .grad
    t = second.totals()
    assert t["bwd_weight_macs"] == 2 * 6 * 5 + 2 * 5 * 4
    assert t["bwd_weight_flops"] == 2 * (2 * 6 * 5 + 2 * 5 * 4) + (2 * 5 + 2 * 4)


def test_memory_cpu_fallback_steps_a_copy():
    torch.manual_seed(0)
    model = ReadsValues()
    before = _snapshot(model)
    report = memory(model, inputs=(torch.randn(2, 6),), training=True,
                    optimizer="sgd_momentum", device="cpu")
    assert report.peak_bytes > 0
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
