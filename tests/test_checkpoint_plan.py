"""The planner on a small network (5 of its candidate blocks): its plan has the least
recompute of every subset that fits, by brute force over all 32 subsets - peaks from memory analyses of
each wrapped subset, recompute from PyTorch's FlopCounterMode on real CPU tensors."""
import pytest

from inception_cost import UsageError, checkpoint_plan
from inception_cost.checkpointing import candidate_modules

from checkpoint_nets import BLOCKS, TINY_BATCH, TINY_CANDS, TINY_CHW, TinyNet

BATCH, CHW, CANDS = TINY_BATCH, TINY_CHW, TINY_CANDS


@pytest.fixture(scope="module")
def brute(tinynet_subsets):
    """{subset: (peak bytes, recompute FLOPs by FlopCounterMode)} for all subsets: the
    session's brute force (tests/conftest.py), shared with test_checkpoint_brute_force.py."""
    return tinynet_subsets


def test_candidates_are_the_blocks():
    assert candidate_modules(TinyNet()) == BLOCKS


@pytest.mark.parametrize("frac", [0.6, 0.75, 0.9])
def test_plan_equals_brute_force(brute, frac):
    net, table = brute
    base = table[()][0]
    budget = int(base * frac)
    fitting = {c: v for c, v in table.items() if v[0] <= budget}
    best = min(v[1] for v in fitting.values())
    plan = checkpoint_plan(net, (BATCH, *CHW), budget=budget, optimizer="adam",
                           candidates=CANDS, max_analyses=32, with_curve=False)
    assert plan.method == "exact"
    assert tuple(plan.modules) in fitting
    # recompute in FlopCounterMode's FLOPs (2 x MACs) is the least of all fitting subsets
    assert table[tuple(plan.modules)][1] == best
    assert 2 * plan.recompute_macs == best
    assert plan.peak_bytes == table[tuple(plan.modules)][0] <= budget


def test_budget_below_static_bytes_is_an_error():
    net = TinyNet()
    params = sum(p.numel() for p in net.parameters())  # elements
    buffers = sum(b.numel() * b.element_size() for b in net.buffers())  # BN statistics
    # Adam: parameters + gradients + two moments (fp32) + one step counter per tensor
    static = 4 * 4 * params + 4 * len(list(net.parameters())) + buffers
    with pytest.raises(UsageError, match=f"alone need: .*{static:,} bytes"):
        checkpoint_plan(net, (BATCH, *CHW), budget=static - 1, optimizer="adam",
                        candidates=CANDS)


def test_unreachable_budget_names_the_best_peak(brute):
    net, table = brute
    lowest = min(v[0] for v in table.values())
    with pytest.raises(UsageError, match="lowest predicted peak reachable is") as e:
        checkpoint_plan(net, (BATCH, *CHW), budget=lowest - 1, optimizer="adam",
                        candidates=CANDS)
    assert f"{lowest:,} bytes" in str(e.value)
