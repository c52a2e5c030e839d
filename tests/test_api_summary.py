"""Results print a short readable summary; count() of a zoo model needs no size."""
import torch
import torch.nn as nn

from inception_cost import build, count
from inception_cost.counting.training import count_training
from inception_cost.memory_analysis.api import memory

CONV_MACS = 14 * 14 * 8 * (3 * 3 * 3)      # Conv2d(3, 8, 3) on 3x16x16, no padding: 42,336


def test_count_of_a_zoo_model_uses_the_registry_input():
    m = build("inception_naive")               # registry input 256x28x28
    assert count(m).total_macs == count(m, (1, 256, 28, 28)).total_macs
    # CS231n lecture 9's naive module: 854M multiply-adds
    assert count(m).total_macs == 28 * 28 * 256 * (128 * 1 + 192 * 9 + 96 * 25)


def test_cost_report_prints_exact_totals():
    net = nn.Conv2d(3, 8, 3)
    r = count(net, (1, 3, 16, 16))
    text = str(r)
    assert f"{CONV_MACS:,}" in text and f"{sum(p.numel() for p in net.parameters()):,}" in text
    assert "dataclass" not in text and len(text.splitlines()) <= 10
    assert r._repr_html_().startswith("<pre>") and f"{CONV_MACS:,}" in r._repr_html_()


def test_training_and_memory_reports_print_summaries():
    net = nn.Sequential(nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 10))
    t = str(count_training(net, inputs=torch.zeros(1, 784), optimizer=None))
    assert f"{784 * 300 + 300 * 10:,}" in t and "forward MACs" in t
    m = memory(net, inputs=torch.zeros(1, 784))
    params = 4 * (784 * 300 + 300 + 300 * 10 + 10)
    assert f"{params + 4 * (784 + 300 + 300):,}" in str(m) and "peak" in str(m)
    assert m._repr_html_().startswith("<pre>")


class ReadsValues(nn.Module):
    """Like transformers' mask checks: the forward branches on a tensor's value."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x, mask):
        if mask.sum().item() >= 0:        # always true; only a real tensor can say so
            return self.fc(x)
        return x


def test_forward_that_reads_values_says_so_and_cpu_works():
    import pytest
    from inception_cost.counting.engine import ForwardError
    inputs = ((torch.zeros(2, 4),), {"mask": torch.ones(2, 4, dtype=torch.long)})
    with pytest.raises(ForwardError, match='device="cpu"'):
        count(ReadsValues(), inputs=inputs)
    assert count(ReadsValues(), inputs=inputs, device="cpu").total_macs == 2 * 4 * 3
