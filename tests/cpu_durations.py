"""A pytest plugin that records the CPU seconds (user + sys of this process and of the
child processes it waited for) and wall seconds of every test phase (setup, call,
teardown), most CPU first, to the file named by $CPU_DURATIONS_OUT, one tab-separated line
each: cpu_s, wall_s, phase, test id.  On a shared machine wall time follows the load;
CPU time much less so.

    CPU_DURATIONS_OUT=cpu.tsv PYTHONPATH=.:tests python -m pytest -p cpu_durations tests/
"""
import os
import resource
import time

import pytest

_rows: list[tuple[float, float, str, str]] = []


def _cpu() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    t, w = _cpu(), time.perf_counter()
    yield
    _rows.append((_cpu() - t, time.perf_counter() - w, "setup", item.nodeid))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    t, w = _cpu(), time.perf_counter()
    yield
    _rows.append((_cpu() - t, time.perf_counter() - w, "call", item.nodeid))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    t, w = _cpu(), time.perf_counter()
    yield
    _rows.append((_cpu() - t, time.perf_counter() - w, "teardown", item.nodeid))


def pytest_sessionfinish(session):
    out = os.environ.get("CPU_DURATIONS_OUT")
    if out:
        with open(out, "w") as fh:
            for c, w, ph, n in sorted(_rows, reverse=True):
                fh.write(f"{c:.2f}\t{w:.2f}\t{ph}\t{n}\n")
