"""The planner against a brute force over every subset of TinyNet's five middle blocks
(32 subsets), with the budget set *exactly* to the peak of the least-recompute subset that
fits 60%, 75% and 90% of the unplanned peak: the planner must find that subset (a plan
whose peak equals the budget fits) and prove it ("exact").

Peaks: memory analyses (``inception_cost.memory``, training step, Adam) of each wrapped
subset; recompute: PyTorch's FlopCounterMode FLOPs of the wrapped model's forward +
backward minus the unwrapped one's, on meta tensors.  Ties in recompute FLOPs: any of the
cheapest subsets is accepted, and the budget is the lowest peak among them.
tests/test_checkpoint_plan.py checks budgets between the peaks; this file the boundaries.
"""
from itertools import combinations

import pytest
import torch

from inception_cost import apply_checkpointing, checkpoint_plan, memory

from checkpoint_nets import TinyNet

BATCH, CHW = 8, (3, 32, 32)
CANDS = ["block1", "block2", "block3", "block4", "block5"]
SUBSETS = [c for k in range(len(CANDS) + 1) for c in combinations(CANDS, k)]


def fcm_flops(model) -> int:
    from torch.utils.flop_counter import FlopCounterMode
    model = apply_checkpointing(model, []).to("meta").train()
    with FlopCounterMode(display=False) as f:
        model(torch.randn(BATCH, *CHW, device="meta")).sum().backward()
    return f.get_total_flops()


@pytest.fixture(scope="module")
def table():
    """TinyNet and {subset: (peak bytes, recompute FLOPs)} for all 32 subsets."""
    torch.manual_seed(0)
    net = TinyNet()
    base = fcm_flops(net)
    out = {}
    for combo in SUBSETS:
        wrapped = apply_checkpointing(net, combo)
        out[combo] = (memory(wrapped, CHW, batch=BATCH, training=True,
                             optimizer="adam").peak_bytes,
                      fcm_flops(wrapped) - base)
    return net, out


@pytest.mark.parametrize("pct", [60, 75, 90])
def test_budget_at_the_optimum_peak(table, pct):
    net, tab = table
    loose = tab[()][0] * pct // 100
    fitting = {c: v for c, v in tab.items() if v[0] <= loose}
    least = min(v[1] for v in fitting.values())
    budget = min(v[0] for v in fitting.values() if v[1] == least)
    assert budget < tab[()][0]
    plan = checkpoint_plan(net, (BATCH, *CHW), budget=budget, optimizer="adam",
                           candidates=CANDS, max_analyses=32, with_curve=False)
    assert plan.method == "exact"
    assert 2 * plan.recompute_macs == least == tab[tuple(plan.modules)][1]
    assert plan.peak_bytes == tab[tuple(plan.modules)][0] <= budget
