"""Fixtures shared by the test files."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """Run the module's tests on one torch CPU thread, then restore the setting.

    For files whose CPU forwards are tiny: on a shared, loaded machine torch's intra-op
    pool spends most of their CPU time spinning.  Counts are independent of threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tinynet_subsets():
    """TinyNet (tests/checkpoint_nets.py, seed 0) and, for every subset of its five middle
    blocks, ``{subset: (peak bytes, recompute FLOPs)}`` at batch 8, 3x32x32: the peak from a
    memory analysis (training step, Adam) of the wrapped model, the recompute from
    PyTorch's FlopCounterMode: FLOPs of the wrapped model's forward + backward on real
    CPU tensors minus the unwrapped one's.  The brute force that tests/test_checkpoint_plan.py
    and tests/test_checkpoint_brute_force.py check the planner against, computed once."""
    from itertools import combinations

    from torch.utils.flop_counter import FlopCounterMode

    from checkpoint_nets import TINY_BATCH, TINY_CANDS, TINY_CHW, TinyNet
    from inception_cost import apply_checkpointing, memory

    batch, chw = TINY_BATCH, TINY_CHW
    before = torch.get_num_threads()
    torch.set_num_threads(1)   # 33 small CPU forward + backward passes
    try:
        torch.manual_seed(0)
        net = TinyNet()
        x = torch.randn(batch, *chw)

        def fcm(model):
            with FlopCounterMode(display=False) as f:
                model(x).sum().backward()
            return f.get_total_flops()

        base = fcm(net)
        out = {}
        for k in range(len(TINY_CANDS) + 1):
            for combo in combinations(TINY_CANDS, k):
                wrapped = apply_checkpointing(net, combo)
                peak = memory(wrapped, chw, batch=batch, training=True,
                              optimizer="adam").peak_bytes
                out[combo] = (peak, fcm(wrapped) - base)
    finally:
        torch.set_num_threads(before)
    return net, out


def pytest_collection_modifyitems(config, items):
    """Run the tests marked ``slow`` after every other test (the order among each group is
    kept).  ``pytest -x`` stops at the first failure: a common breakage then fails within
    the quick tests instead of after minutes of MemTracker steps."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)
