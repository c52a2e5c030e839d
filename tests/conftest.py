"""Fixtures shared by the test files."""
from __future__ import annotations

import os

# OpenMP worker threads that wait for work sleep instead of spinning.  The runtime reads
# this once, when torch loads it, so it is set before the first ``import torch`` of the
# session (conftest.py is imported before any test module).  It changes neither the number
# of threads nor any result, only the CPU burnt while a thread waits: on a shared, loaded
# machine the spinning was a fifth of the CPU time of the counting files.  Child processes
# the tests start inherit it.  A value already in the environment is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402


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


# `python -m inception_cost` commands that only need their own process (an exit code the
# module entry sets, an abort that would end pytest itself) run in ONE child, so Python
# and torch start once for all of them (tests/cli_child.py).  The first command is the one whose failure mode depends on a fresh process (the OpenMP
# runtime aborting on `--threads 100000`).
ENTRY_NET = '''
import torch.nn as nn

def conv():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.ReLU())
'''
ENTRY_RUNS = {"profile threads 100000": ["profile", "{net}:conv", "--device", "cpu",
                                         "--threads", "100000"],
              "layers nope": ["layers", "nope"]}


@pytest.fixture(scope="session")
def module_entry_runs(tmp_path_factory):
    """{name: (exit code, stdout, stderr)} of each of ENTRY_RUNS, run in one child process
    through `python -m inception_cost`'s entry."""
    from cli_child import run_in_one_child
    net = tmp_path_factory.mktemp("entry") / "net.py"
    net.write_text(ENTRY_NET)
    return run_in_one_child({name: [a.format(net=net) for a in argv]
                             for name, argv in ENTRY_RUNS.items()})
