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
