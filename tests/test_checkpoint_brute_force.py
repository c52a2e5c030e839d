"""The planner against a brute force over every subset of TinyNet's five middle blocks
(32 subsets), with the budget set *exactly* to the peak of the least-recompute subset that
fits 60%, 75% and 90% of the unplanned peak: the planner must find that subset (a plan
whose peak equals the budget fits) and prove it ("exact").

Peaks: memory analyses (``inception_cost.memory``, training step, Adam) of each wrapped
subset; recompute: PyTorch's FlopCounterMode FLOPs of the wrapped model's forward +
backward minus the unwrapped one's, on real CPU tensors (tests/conftest.py's
``tinynet_subsets``, computed once per session for this file and test_checkpoint_plan.py).
Ties in recompute FLOPs: any of the cheapest subsets is accepted, and the budget is the
lowest peak among them.
tests/test_checkpoint_plan.py checks budgets between the peaks; this file the boundaries.
"""
import pytest

from inception_cost import checkpoint_plan

from checkpoint_nets import TINY_BATCH, TINY_CANDS, TINY_CHW

BATCH, CHW, CANDS = TINY_BATCH, TINY_CHW, TINY_CANDS


@pytest.fixture(scope="module")
def table(tinynet_subsets):
    """TinyNet and {subset: (peak bytes, recompute FLOPs)} for all 32 subsets: the
    session's brute force (tests/conftest.py), shared with test_checkpoint_plan.py."""
    return tinynet_subsets


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
