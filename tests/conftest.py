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


def pytest_collection_modifyitems(config, items):
    """Run the tests marked ``slow`` after every other test (the order among each group is
    kept).  ``pytest -x`` stops at the first failure: a common breakage then fails within
    the quick tests instead of after minutes of MemTracker steps."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)
