"""The checkpointing peak model (two recorded steps -> the peak of any set of checkpointed
blocks) against PyTorch's MemTracker run on each wrapped network, and the planner's
branch and bound against a brute force over every subset.

TinyNet (tests/checkpoint_nets.py), batch 8, Adam: its 7 candidate blocks give 128 sets.
"""
from itertools import combinations

import pytest
import torch
import torch.nn as nn

from inception_cost import apply_checkpointing, checkpoint_plan
from inception_cost.checkpointing.peak_model import build_peak_model
from inception_cost.checkpointing.planner import branch_and_bound
from inception_cost.checkpointing.recompute import recompute_costs
from inception_cost.memory_analysis.step_config import StepConfig

from checkpoint_nets import BLOCKS, TinyNet

BATCH, CHW = 8, (3, 32, 32)
CFG = StepConfig(batch=BATCH, input_size=CHW, training=True, optimizer="adam")
SETS = [c for k in range(len(BLOCKS) + 1) for c in combinations(BLOCKS, k)]


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return TinyNet()


@pytest.fixture(scope="module")
def model(net):
    pm = build_peak_model(net, CFG, BLOCKS)
    assert pm is not None
    return pm


@pytest.fixture(scope="module")
def costs(net):
    return recompute_costs(net, (BATCH, *CHW), BLOCKS, "adam").per_module


# sets whose peaks differ in where they happen: nothing, one early / one late block, a
# mix with recompute blocks next to each other, everything
REFERENCE_SETS = [("block6",), ("block1", "block2", "block4"), ("stem", "block3", "block5"),
                  tuple(BLOCKS)]


@pytest.mark.parametrize("modules", REFERENCE_SETS)
def test_model_peak_equals_memtracker(model, net, modules):
    """MemTracker's steady-step peak of the wrapped network (FakeTensorMode, written with
    PyTorch's API in tests/memtracker_step.py) is the model's, to the byte."""
    pytest.importorskip("torch.distributed._tools.mem_tracker")
    from memtracker_step import reference_step
    ref = reference_step(apply_checkpointing(net, modules), CHW, BATCH, training=True,
                         optimizer="adam")["Total"]
    assert model.peak(modules) == ref


class Burst(nn.Module):
    """A wide temporary nothing saves (64 copies of the input), then a conv that saves its
    small input: recomputing this block costs more memory than its backward."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(1, c, 1)
        self.act = nn.ReLU()

    def forward(self, x):
        t = (x.repeat(1, 64, 1, 1) * 2).sum(1, keepdim=True)
        return self.act(self.conv(t))


class BurstNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.b1 = Burst(8)
        self.b2 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.b2(self.b1(self.stem(x))).mean((2, 3)))


@pytest.mark.parametrize("modules", [(), ("b1",), ("stem", "b1", "b2")])
def test_peak_inside_a_recompute_block_equals_memtracker(modules):
    """Where the peak is reached while a block is recomputed (b1's temporaries), the
    model's peak is still MemTracker's; and checkpointing b1 raises the peak."""
    pytest.importorskip("torch.distributed._tools.mem_tracker")
    from memtracker_step import reference_step
    net = BurstNet()
    cfg = StepConfig(batch=4, input_size=CHW, training=True, optimizer="adam")
    pm = build_peak_model(net, cfg, ["stem", "b1", "b2"])
    ref = reference_step(apply_checkpointing(net, modules), CHW, 4, training=True,
                         optimizer="adam")["Total"]
    assert pm.peak(modules) == ref
    if modules:
        assert pm.peak(modules) > pm.peak(())


def test_model_tells_the_sets_apart(model):
    """The model is not one number: checkpointing lowers the peak, and different sets
    give different peaks (many distinct values over the 128 sets)."""
    peaks = {s: model.peak(s) for s in SETS}
    assert peaks[tuple(BLOCKS)] < peaks[()]
    assert len(set(peaks.values())) > 20


def test_lower_bound_never_above_any_completion(model):
    """PeakModel.lower_bound(chosen, undecided) <= the peak of chosen + any subset of
    undecided (checked for every split of the 7 blocks into 3 chosen / 4 undecided)."""
    for chosen in combinations(BLOCKS, 3):
        rest = [b for b in BLOCKS if b not in chosen]
        bound = model.lower_bound(chosen, rest)
        least = min(model.peak(chosen + extra) for k in range(len(rest) + 1)
                    for extra in combinations(rest, k))
        assert bound <= least, chosen


@pytest.mark.parametrize("frac", [0.55, 0.7, 0.8, 0.9])
def test_branch_and_bound_equals_brute_force(model, costs, frac):
    """Least (FLOPs, MACs) recompute among the fitting sets, by trying all 128."""
    budget = model.peak(()) - int(frac * (model.peak(()) - model.peak(BLOCKS)))
    key = {s: (sum(costs[m][1] for m in s), sum(costs[m][0] for m in s)) for s in SETS}
    fitting = [s for s in SETS if model.peak(s) <= budget]
    assert fitting and len(fitting) < len(SETS)
    best = min(key[s] for s in fitting)
    got, nodes, complete = branch_and_bound(model, list(BLOCKS), costs, budget,
                                            list(BLOCKS), 10_000)
    assert complete and model.peak(got) <= budget
    assert key[tuple(b for b in BLOCKS if b in got)] == best
    assert nodes < len(SETS) * 2   # it cuts branches


def test_planner_plan_fits_and_reports_the_analysed_peak(net, model):
    from inception_cost import memory
    base = model.peak(())
    plan = checkpoint_plan(net, (BATCH, *CHW), budget=int(0.8 * base), optimizer="adam",
                           with_curve=True)
    assert plan.method == "exact" and plan.proven_optimal
    exact = memory(apply_checkpointing(net, plan.modules), CHW, batch=BATCH, training=True,
                   optimizer="adam").peak_bytes
    assert plan.peak_bytes == exact == plan.model_peak_bytes <= plan.budget_bytes
    # the curve is labelled: its first row is the analysed unplanned step
    assert bool(plan.curve["analysed"].iat[0]) and plan.curve["peak_bytes"].iat[0] == base


def test_search_by_analyses_agrees(net, model):
    """Without the model (every peak an analysis) the planner finds a plan of the same
    recompute."""
    budget = int(0.8 * model.peak(()))
    a = checkpoint_plan(net, (BATCH, *CHW), budget=budget, with_curve=False,
                        candidates=BLOCKS[:4], max_analyses=16)
    b = checkpoint_plan(net, (BATCH, *CHW), budget=budget, with_curve=False,
                        candidates=BLOCKS[:4], max_analyses=16, use_model=False)
    assert a.method == b.method == "exact"
    assert a.recompute_flops == b.recompute_flops and a.model_peak_bytes is not None
    assert b.model_peak_bytes is None
