"""Shared by the speed benchmarks' ``--before DIR`` mode: the same measurement run on two
checkouts, alternated, in fresh subprocesses, and a dated section added to a recorded report.

Each subprocess runs the benchmark script of this tree with ``--child`` and the measured
checkout first on ``PYTHONPATH`` (so ``inception_cost`` comes from that checkout and the
measuring code is the same for both); it times the consumer and its reference tool in one
process and prints one JSON object.  The two checkouts alternate (before, after, after,
before, ...) for ``rounds`` rounds; each time keeps its best (fastest) value over the rounds.
The 1-minute load average is sampled before every subprocess.  Times are seconds.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys

from inception_cost.atomic import write_text

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def add_options(ap: argparse.ArgumentParser, rounds: int = 3) -> None:
    """The options every before/after benchmark takes: ``--before DIR``, ``--rounds N``,
    ``--title TEXT`` (the recorded section's title; default the script's own) and the
    hidden ``--child`` flag its subprocesses run with."""
    ap.add_argument("--before", help="a checkout of the commit to compare with")
    ap.add_argument("--rounds", type=int, default=rounds)
    ap.add_argument("--title", help="title of the recorded section (a section of the same "
                                    "title and date is replaced)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)


def title_option(a: argparse.Namespace) -> str:
    """`` --title "..."`` as a recorded section's regenerate line repeats it, or ''."""
    return f' --title "{a.title}"' if a.title else ""


def commit_of(tree: str) -> str:
    """Short commit id of a checkout (what a recorded report names, not its folder)."""
    res = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True)
    return res.stdout.strip() or "unknown commit"


def child(script: str, tree: str, args: list[str]) -> dict:
    """Run ``script --child ARGS`` with ``tree`` first on PYTHONPATH; its last JSON line."""
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
    res = subprocess.run([sys.executable, script, "--child", *args], env=env,
                         capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"error: child on {tree} failed:\n{res.stderr[-3000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    want = os.path.join(os.path.abspath(tree), "inception_cost")
    if not out.get("package", "").startswith(want):
        raise SystemExit(f"error: child imported {out.get('package')}, not {want}")
    return out


def alternate(script: str, before: str, rounds: int, args: list[str]) -> dict:
    """Per tree ('before', 'after'): every subprocess's JSON (list) and the load samples."""
    runs: dict = {"before": [], "after": []}
    loads: list[float] = []
    trees = {"before": before, "after": HERE}
    for r in range(rounds):
        order = ("before", "after") if r % 2 == 0 else ("after", "before")
        for key in order:
            loads.append(os.getloadavg()[0])
            runs[key].append(child(script, trees[key], args))
            print(key, runs[key][-1], flush=True)
    loads.append(os.getloadavg()[0])
    return {"runs": runs, "loads": loads}


def best(runs: list[dict], *path: str) -> float:
    """Fastest value at ``path`` over the subprocesses of one tree."""
    vals = []
    for r in runs:
        for p in path:
            r = r[p]
        vals.append(r)
    return min(vals)


def verdict(change: float, noise: float) -> str:
    """'faster' / 'same within noise' / 'slower' for a consumer's after/before ratio
    (both relative to its reference tool); ``noise`` is the relative band."""
    if change < 1 - noise:
        return "faster"
    if change > 1 + noise:
        return "slower"
    return "same within noise"


def noise_band(ref_before: float, ref_after: float) -> float:
    """How much the same reference code moved between the two columns (at least 5%)."""
    return max(0.05, abs(ref_after / ref_before - 1))


def load_line(loads: list[float]) -> str:
    return (f"1-minute load average during the run (2 cores): min {min(loads):.2f}, "
            f"max {max(loads):.2f}, mean {sum(loads) / len(loads):.2f} "
            f"({len(loads)} samples, one before each subprocess and one at the end)")


def add_section(path: str, title: str, lines: list[str]) -> str:
    """Append ``## title (date)`` to the report at ``path``, replacing a section of the
    same title and date; returns the section's text."""
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    head = f"## {title}, {today}"
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    text = re.sub(r"\n*" + re.escape(head) + r"\n.*?(?=\n## |\Z)", "", text, flags=re.S)
    section = "\n".join([head, "", *lines]) + "\n"
    write_text(path, text.rstrip("\n") + "\n\n" + section, make_dirs=True)
    return section
