"""Every file the tool writes is replaced atomically: with a full disk (simulated by
RLIMIT_FSIZE in a child process, or a write that fails half-way) the old file stays
byte for byte, no temporary file is left, and the command prints one `error:` line
and exits 2."""
import errno
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


def run_limited(code: str, limit_bytes: int, cwd) -> subprocess.CompletedProcess:
    """Run ``code`` in a child whose files may not grow beyond ``limit_bytes``
    (Python ignores SIGXFSZ, so a write past the limit raises EFBIG)."""
    prelude = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {REPO!r})
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes}))
    """)
    env = {**os.environ, "PYTHONPATH": REPO}
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def only_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_layers_output_on_a_full_disk_keeps_the_old_file(tmp_path):
    target = tmp_path / "r50.csv"
    target.write_text(OLD)
    # the per-op csv of googlenet is ~30 KB; allow 4 KB
    p = run_limited(f"""
        from inception_cost.cli import main
        sys.exit(main(["layers", "googlenet", "--format", "csv", "-o", {str(target)!r}]))
    """, 4096, tmp_path)
    assert p.returncode == 2, p.stderr
    line = only_error_line(p.stderr)
    assert str(target) in line and "too large" in line.lower()
    assert target.read_text() == OLD
    assert sorted(os.listdir(tmp_path)) == ["r50.csv"]        # no temporary file left


def test_check_update_on_a_full_disk_keeps_the_baseline(tmp_path):
    net = tmp_path / "net.py"
    net.write_text(NET)
    base = tmp_path / "base" / "layers"
    base.mkdir(parents=True)
    baseline = base / "net.csv"
    baseline.write_text(OLD)
    p = run_limited(f"""
        from inception_cost.cli import main
        sys.exit(main(["check", "--model", {str(net) + ":build"!r}, "--input", "3x8x8",
                       "--name", "net", "--baseline", {str(tmp_path / "base")!r}, "--update"]))
    """, 200, tmp_path)
    assert p.returncode == 2, p.stderr
    assert str(baseline) in only_error_line(p.stderr)
    assert baseline.read_text() == OLD
    assert os.listdir(base) == ["net.csv"]


def test_report_on_a_full_disk_leaves_every_file_old_or_whole(tmp_path):
    """A report cut by the size limit: files already written are whole, the one
    being written keeps its old content, nothing half-written, no temp files."""
    out = tmp_path / "rep"
    (out / "layers").mkdir(parents=True)
    p = run_limited(f"""
        import inception_cost.report.regenerate as rg
        from inception_cost.cli import main
        # two small artifacts, then one larger than the limit
        rg.variant_reports = lambda names=None: iter(())
        rg.paper_artifacts = lambda: [("small_a.md", "a" * 100), ("small_b.md", "b" * 100),
                                      ("layers/big.csv", "x" * 5000)]
        sys.exit(main(["report", "--out", {str(out)!r}, "--no-plots"]))
    """, 2048, tmp_path)
    assert p.returncode == 2, p.stderr
    assert "big.csv" in only_error_line(p.stderr)
    assert (out / "small_a.md").read_text() == "a" * 100
    assert (out / "small_b.md").read_text() == "b" * 100
    assert not (out / "layers" / "big.csv").exists()
    leftovers = [f for _, _, fs in os.walk(out) for f in fs if f.endswith(".tmp") or ".tmp" in f]
    assert leftovers == []


def test_sweep_append_never_damages_earlier_rows(tmp_path):
    path = tmp_path / "sweep.csv"
    app = CsvAppender(str(path), RUN_COLUMNS)
    app.append([{"variant": "a", "batch": 1, "status": "ok"}])
    before = path.read_bytes()
    limit = len(before) + 40         # room for less than one more row
    p = run_limited(f"""
        from inception_cost.profiling.sweep import RUN_COLUMNS, CsvAppender
        from inception_cost.errors import UsageError
        app = CsvAppender({str(path)!r}, RUN_COLUMNS)
        try:
            app.append([{{"variant": "b" * 200, "batch": 8, "status": "ok"}}])
        except UsageError as e:
            print(e)
            sys.exit(2)
    """, limit, tmp_path)
    assert p.returncode == 2, p.stderr
    assert str(path) in p.stdout
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["sweep.csv"]
    # and an append that fits adds exactly one row after the old bytes
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
