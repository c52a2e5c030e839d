"""CPU seconds (user + system) of one run of each quick command, in a fresh process.

    python benchmarks/cli_startup.py [--code PATH] [--repeat N] [--output FILE]

``--code``: the checkout whose ``inception_cost`` runs (PYTHONPATH); default: this one.
Prints a Markdown table; with --output writes it (atomically). Shared or loaded
machines inflate the numbers: compare runs made one after the other.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys

COMMANDS = ["--help", "module", "factorize", "table", "cases", "variants",
            "layers googlenet --depth 0", "layers torchvision:resnet50 --depth 0"]


def cpu_seconds(args: list[str], code: str) -> float:
    env = {**os.environ, "PYTHONPATH": code, "COLUMNS": "100"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "inception_cost", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--code", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--output", default=None)
    a = ap.parse_args()
    rows = ["| command | CPU s (min of %d) |" % a.repeat, "|---|---:|"]
    for cmd in COMMANDS:
        best = min(cpu_seconds(cmd.split(), a.code) for _ in range(a.repeat))
        rows.append(f"| `inception-cost {cmd}` | {best:.2f} |")
    text = "\n".join(rows) + "\n"
    print(text)
    if a.output:
        sys.path.insert(0, a.code)
        from inception_cost.atomic import write_text
        write_text(a.output, text)


if __name__ == "__main__":
    main()
