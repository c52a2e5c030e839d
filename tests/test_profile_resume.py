"""`profile --resume` skips only what this command would measure again (same input,
iterations, per-layer rows ...); --threads is bounded by the machine; two processes
appending to one sweep CSV lose no row."""
import csv
import inspect
import os
import subprocess
import sys

import pandas as pd
import pytest
import torch

from inception_cost.cli.profile_cmd import machine_cpus
from micro import run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NET = '''
import torch.nn as nn

def conv():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.ReLU())
'''


def conv_macs(batch: int, side: int) -> int:
    """3x3 conv, 3 -> 4 channels, 'same' padding: 4 outputs per pixel, 3*9 MACs each."""
    return batch * side * side * 4 * 3 * 9


@pytest.fixture()
def spec(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(NET)
    return f"{path}:conv"


@pytest.fixture(autouse=True)
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def sweep(spec, out, *extra):
    return ["profile", spec, "--device", "cpu", "--warmup", "0", "--iters", "2",
            "--threads", "1", "--format", "csv", "-o", str(out), "--resume", *extra]


def test_resume_times_a_changed_input_and_skips_only_true_repeats(spec, tmp_path, capsys):
    out = tmp_path / "runs.csv"
    code, _, err = run(sweep(spec, out, "--input", "3x16x16", "--batch-size", "1,2"), capsys)
    assert code == 0, err
    code, _, err = run(sweep(spec, out, "--input", "3x64x64", "--batch-size", "1,2"), capsys)
    assert code == 0 and "resume:" not in err, err           # nothing skipped
    df = pd.read_csv(out)
    assert list(zip(df["input"], df["batch"])) == [("3x16x16", 1), ("3x16x16", 2),
                                                   ("3x64x64", 1), ("3x64x64", 2)]
    assert list(df["macs"]) == [conv_macs(1, 16), conv_macs(2, 16), conv_macs(1, 64),
                                conv_macs(2, 64)]
    assert (df["status"] == "ok").all()
    # the same command again: both configurations are already there
    code, _, err = run(sweep(spec, out, "--input", "3x64x64", "--batch-size", "1,2"), capsys)
    assert code == 0 and "resume: 2 configuration(s) already in" in err
    assert len(pd.read_csv(out)) == 4
    # other iterations are another measurement: timed again
    code, _, err = run(sweep(spec, out, "--input", "3x64x64", "--batch-size", "1",
                             "--iters", "3"), capsys)
    assert code == 0 and "resume:" not in err
    df = pd.read_csv(out)
    assert len(df) == 5 and df["iters"].iloc[-1] == 3


def test_resume_with_per_layer_runs_what_has_no_per_layer_rows(spec, tmp_path, capsys):
    out = tmp_path / "runs.csv"
    code, _, err = run(sweep(spec, out, "--input", "3x8x8"), capsys)
    assert code == 0, err
    code, _, err = run(sweep(spec, out, "--input", "3x8x8", "--per-layer"), capsys)
    assert code == 0 and "resume:" not in err, err
    layers = pd.read_csv(tmp_path / "runs.layers.csv", dtype=str, keep_default_na=False)
    assert set(layers["module"]) >= {"0", "1"}                # the conv and the ReLU
    code, _, err = run(sweep(spec, out, "--input", "3x8x8", "--per-layer"), capsys)
    assert code == 0 and "resume: 1 configuration(s) already in" in err


def test_threads_beyond_the_machine_are_refused(spec, capsys):
    cpus = machine_cpus()
    code, out, err = run(["profile", spec, "--device", "cpu", "--threads", str(cpus + 1)],
                         capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0] == (f"error: --threads {cpus + 1} is more than this machine's {cpus} "
                        "logical CPU(s)")


def test_threads_100000_is_one_line_not_an_abort(module_entry_runs):
    # where the OpenMP runtime aborted the process (SIGABRT, exit 134, no message); the
    # first command of the child of tests/conftest.py (`python -m inception_cost profile
    # NET.py:conv --device cpu --threads 100000`, the same one-conv model as NET here): an
    # abort ends that child, and the fixture fails
    returncode, stdout, stderr = module_entry_runs["profile threads 100000"]
    assert returncode == 2, stderr
    assert stderr.strip().splitlines() == [
        f"error: --threads 100000 is more than this machine's {machine_cpus()} logical CPU(s)"]


def append_rows(who: str, path: str, ready: str, rows: int) -> None:
    """Append ``rows`` one-row batches through the sweep's appender, after waiting for the
    other process to be ready too."""
    import os
    import time
    from inception_cost.profiling.sweep import RUN_COLUMNS, CsvAppender
    app = CsvAppender(path, RUN_COLUMNS)
    open(os.path.join(ready, who), "w").close()
    while len(os.listdir(ready)) < 2:          # start together
        time.sleep(0.001)
    for i in range(rows):
        app.append([{"variant": f"{who}-{i}", "batch": i + 1, "status": "ok",
                     "message": "x" * 40}])


def test_two_processes_appending_to_one_csv_lose_no_row(tmp_path):
    """This process and a child each append 200 rows, one at a time, to one CSV."""
    rows = 200
    path = tmp_path / "sweep.csv"
    ready = tmp_path / "ready"
    ready.mkdir()
    code = (f"import sys\nsys.path.insert(0, {REPO!r})\n{inspect.getsource(append_rows)}\n"
            f"append_rows('b', {str(path)!r}, {str(ready)!r}, {rows})\n")
    child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    try:
        append_rows("a", str(path), str(ready), rows)
    finally:
        _, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    with open(path, newline="") as fh:
        lines = list(csv.reader(fh))
    from inception_cost.profiling.sweep import RUN_COLUMNS
    assert lines[0] == RUN_COLUMNS
    body = lines[1:]
    assert len(body) == 2 * rows                         # 400 rows, one header
    assert all(len(r) == len(RUN_COLUMNS) for r in body)  # every row whole
    assert sorted(r[0] for r in body) == sorted(f"{w}-{i}" for w in "ab" for i in range(rows))
    # each process's rows stay in the order it wrote them
    for w in "ab":
        mine = [int(r[0].split("-")[1]) for r in body if r[0].startswith(w + "-")]
        assert mine == list(range(rows))
    assert sorted(os.listdir(tmp_path)) == ["ready", "sweep.csv"]      # nothing left behind
