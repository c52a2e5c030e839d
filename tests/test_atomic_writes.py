"""Every file the tool writes is replaced atomically: with a full disk (simulated by
RLIMIT_FSIZE in a child process, or a write that fails half-way) the old file stays
byte for byte, no temporary file is left, and the command prints one `error:` line
and exits 2."""
import errno
import json
import os
import subprocess
import sys
import textwrap

import pytest

from inception_cost import atomic
from inception_cost.atomic import WriteError, append_text, write_text
from inception_cost.profiling.sweep import RUN_COLUMNS, CsvAppender

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OLD = "old,content\n" * 10          # 120 bytes that must survive

NET = """import torch.nn as nn
def build():
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1))
"""


RUNNER = """
import contextlib, io, json, os, resource, sys, traceback
sys.path.insert(0, REPO)
results = {}
for name, limit, code, cwd in CASES:
    os.chdir(cwd)
    out, err, rc = io.StringIO(), io.StringIO(), 0
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                exec(compile(code, name, "exec"), {"__name__": "__case__", "sys": sys})
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:
                traceback.print_exc()
                rc = 1
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    results[name] = {"returncode": rc, "stdout": out.getvalue(), "stderr": err.getvalue()}
print(json.dumps(results))
"""


def run_limited(cases: list[tuple[str, int, str, str]]) -> dict[str, subprocess.CompletedProcess]:
    """Run each case ``(name, limit_bytes, code, working folder)`` in turn in ONE child process (torch
    starts once), each under its own limit: no file may grow beyond ``limit_bytes``
    while its code runs (the soft RLIMIT_FSIZE, put back to unlimited between cases;
    Python ignores SIGXFSZ, so a write past the limit raises EFBIG). Each case's exit
    code and its stdout/stderr come back as a CompletedProcess; anything written to
    the child's own stderr outside the cases fails every case."""
    prelude = f"REPO = {REPO!r}\nCASES = {[(n, lim, textwrap.dedent(c), d) for n, lim, c, d in cases]!r}\n"
    env = {**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", prelude + RUNNER],
                       capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    return {name: subprocess.CompletedProcess([name], r["returncode"], r["stdout"], r["stderr"])
            for name, r in json.loads(p.stdout).items()}


def only_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def _layers_case(tmp):
    target = tmp / "r50.csv"
    target.write_text(OLD)
    # the per-op csv of googlenet is ~30 KB; allow 4 KB
    return 4096, f"""
        from inception_cost.cli import main
        sys.exit(main(["layers", "googlenet", "--format", "csv", "-o", {str(target)!r}]))
    """


def _check_case(tmp):
    net = tmp / "net.py"
    net.write_text(NET)
    base = tmp / "base" / "layers"
    base.mkdir(parents=True)
    (base / "net.csv").write_text(OLD)
    return 200, f"""
        from inception_cost.cli import main
        sys.exit(main(["check", "--model", {str(net) + ":build"!r}, "--input", "3x8x8",
                       "--name", "net", "--baseline", {str(tmp / "base")!r}, "--update"]))
    """


def _report_case(tmp):
    out = tmp / "rep"
    (out / "layers").mkdir(parents=True)
    # patches the report module: runs last in the shared child
    return 2048, f"""
        import inception_cost.regeneration.regenerate as rg
        from inception_cost.cli import main
        # two small artifacts, then one larger than the limit
        rg.variant_reports = lambda names=None: iter(())
        rg.paper_artifacts = lambda: [("small_a.md", "a" * 100), ("small_b.md", "b" * 100),
                                      ("layers/big.csv", "x" * 5000)]
        sys.exit(main(["report", "--out", {str(out)!r}, "--no-plots"]))
    """


def _sweep_case(tmp):
    path = tmp / "sweep.csv"
    app = CsvAppender(str(path), RUN_COLUMNS)
    app.append([{"variant": "a", "batch": 1, "status": "ok"}])
    limit = len(path.read_bytes()) + 40         # room for less than one more row
    return limit, f"""
        from inception_cost.profiling.sweep import RUN_COLUMNS, CsvAppender
        from inception_cost.errors import UsageError
        app = CsvAppender({str(path)!r}, RUN_COLUMNS)
        try:
            app.append([{{"variant": "b" * 200, "batch": 8, "status": "ok"}}])
        except UsageError as e:
            print(e)
            sys.exit(2)
    """


LIMITED_CASES = {"sweep": _sweep_case, "check": _check_case, "layers": _layers_case,
                 "report": _report_case}


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory):
    """name -> (the case's folder, its bytes before the run, its CompletedProcess)."""
    folders, befores, cases = {}, {}, []
    for name, setup in LIMITED_CASES.items():
        tmp = folders[name] = tmp_path_factory.mktemp(name)
        limit, code = setup(tmp)
        befores[name] = {str(p.relative_to(tmp)): p.read_bytes()
                         for p in sorted(tmp.rglob("*")) if p.is_file()}
        cases.append((name, limit, code, str(tmp)))
    runs = run_limited(cases)
    return {name: (folders[name], befores[name], runs[name]) for name in LIMITED_CASES}


def test_layers_output_on_a_full_disk_keeps_the_old_file(full_disk):
    tmp_path, _, p = full_disk["layers"]
    target = tmp_path / "r50.csv"
    assert p.returncode == 2, p.stderr
    line = only_error_line(p.stderr)
    assert str(target) in line and "too large" in line.lower()
    assert target.read_text() == OLD
    assert sorted(os.listdir(tmp_path)) == ["r50.csv"]        # no temporary file left


def test_check_update_on_a_full_disk_keeps_the_baseline(full_disk):
    tmp_path, _, p = full_disk["check"]
    base = tmp_path / "base" / "layers"
    baseline = base / "net.csv"
    assert p.returncode == 2, p.stderr
    assert str(baseline) in only_error_line(p.stderr)
    assert baseline.read_text() == OLD
    assert os.listdir(base) == ["net.csv"]


def test_report_on_a_full_disk_leaves_every_file_old_or_whole(full_disk):
    """A report cut by the size limit: files already written are whole, the one
    being written keeps its old content, nothing half-written, no temp files."""
    tmp_path, _, p = full_disk["report"]
    out = tmp_path / "rep"
    assert p.returncode == 2, p.stderr
    assert "big.csv" in only_error_line(p.stderr)
    assert (out / "small_a.md").read_text() == "a" * 100
    assert (out / "small_b.md").read_text() == "b" * 100
    assert not (out / "layers" / "big.csv").exists()
    leftovers = [f for _, _, fs in os.walk(out) for f in fs if f.endswith(".tmp") or ".tmp" in f]
    assert leftovers == []


def test_sweep_append_never_damages_earlier_rows(full_disk):
    tmp_path, before_files, p = full_disk["sweep"]
    path = tmp_path / "sweep.csv"
    before = before_files["sweep.csv"]
    assert p.returncode == 2, p.stderr
    assert str(path) in p.stdout
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["sweep.csv"]
    # and an append that fits adds exactly one row after the old bytes
    app = CsvAppender(str(path), RUN_COLUMNS)
    app.append([{"variant": "c", "batch": 2, "status": "ok"}])
    after = path.read_bytes()
    assert after.startswith(before) and after[len(before):].count(b"\n") == 1


def test_a_write_failing_half_way_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    target.write_text(OLD)
    real_replace = os.replace

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", no_space)
    with pytest.raises(WriteError, match="No space left on device") as e:
        write_text(str(target), "new" * 1000, what="--output")
    assert str(target) in str(e.value) and e.value.exit_code == 2
    monkeypatch.setattr(atomic.os, "replace", real_replace)
    assert target.read_text() == OLD and os.listdir(tmp_path) == ["out.txt"]


def test_interrupted_write_removes_its_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    target.write_text(OLD)

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_text(str(target), "new")
    assert target.read_text() == OLD and os.listdir(tmp_path) == ["out.txt"]


def test_replace_keeps_the_file_mode_and_appends_copy_the_old_bytes(tmp_path):
    target = tmp_path / "t.csv"
    target.write_text("h\n1\n")
    os.chmod(target, 0o640)
    append_text(str(target), "2\n")
    assert target.read_text() == "h\n1\n2\n"
    assert (os.stat(target).st_mode & 0o777) == 0o640


def test_missing_folder_and_directory_targets_are_clear_errors(tmp_path):
    with pytest.raises(WriteError, match="no such folder"):
        write_text(str(tmp_path / "nope" / "x.txt"), "x", what="--output")
    with pytest.raises(WriteError, match="is a directory"):
        write_text(str(tmp_path), "x", what="--output")


def test_a_symlinked_output_is_written_through_the_link(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text(OLD)
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_text(str(link), "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    assert sorted(os.listdir(tmp_path)) == ["link.txt", "real.txt"]
