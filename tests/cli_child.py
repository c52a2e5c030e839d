"""Several `python -m inception_cost` commands run in one child process (Python and torch
start once), each as the shell would run it: through runpy and the package's __main__, with
its own exit code, or a traceback and 1 as Python would end a process.  After each command
the child writes a marker with its exit code to stdout and to stderr."""
from __future__ import annotations

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = """
import os, runpy, sys, traceback
sys.path.insert(0, {repo!r})
for i, argv in enumerate({runs!r}):
    sys.argv = ["inception-cost", *argv]
    code = 0
    try:
        runpy.run_module("inception_cost", run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = 0 if e.code is None else e.code
    except BaseException:           # as Python would end a process: traceback, exit 1
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    marker = ("\\n@@run %d exit %s@@\\n" % (i, code)).encode()
    for fd in {marker_fds!r}:
        os.write(fd, marker)
"""
MARKER = r"\n@@run (\d+) exit (\S+)@@\n"


def child_code(argvs: list[list[str]], marker_fds: tuple[int, ...] = (1, 2)) -> str:
    """The child's program for the argument lists ``argvs``; the marker after each command
    goes to the file descriptors ``marker_fds`` (stdout and stderr, or stdout alone when
    both are one terminal)."""
    return CHILD.format(repo=REPO, runs=argvs, marker_fds=marker_fds)


def run_in_one_child(runs: dict[str, list[str]], env: dict | None = None,
                     timeout: int = 300) -> dict[str, tuple[int, str, str]]:
    """{name: (exit code, stdout, stderr)} of each command of ``runs`` ({name: argv}), run
    in turn in one child process; ``env``: extra environment variables."""
    argvs = list(runs.values())
    p = subprocess.run([sys.executable, "-c", child_code(argvs)],
                       capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "PYTHONPATH": REPO, **(env or {})})
    assert p.returncode == 0, p.stderr
    outs, errs = re.split(MARKER, p.stdout), re.split(MARKER, p.stderr)
    assert outs[1::3] == errs[1::3] == [str(i) for i in range(len(argvs))], p.stderr
    return {name: (int(outs[3 * i + 2]), outs[3 * i], errs[3 * i])
            for i, name in enumerate(runs)}
