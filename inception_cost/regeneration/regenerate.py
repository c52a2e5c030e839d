"""``inception-cost report``: regenerate everything under reports/ deterministically.

Same code -> byte-identical CSV/JSON/Markdown (no timestamps, fixed row order).
Artifacts are produced as {relative path: text}; plots are optional (matplotlib).
"""
from __future__ import annotations

import os
from typing import Callable, Iterator

import pandas as pd

from ..counting import count
from ..atomic import write_text
from ..models.registry import build, variants
from ..report.baseline import baseline_path, layers_csv
from ..report.render import to_csv, to_json, to_markdown

Artifact = tuple[str, str]   # (relative path, text)


def summary_row(name: str, report, chw, kind: str = "network") -> dict:
    return {"variant": name, "kind": kind, "input": "x".join(map(str, chw)), "params": report.total_params,
            "macs": report.total_macs, "flops": report.total_flops,
            "activations": report.total_activations, "depth": report.depth}


def variant_reports(names: list[str] | None = None) -> Iterator[tuple[str, object, tuple, str]]:
    """(name, CostReport at batch 1 with the default input, C x H x W, kind) per variant."""
    for info in variants():
        if names and info.name not in names:
            continue
        rep = count(build(info.name), (1, *info.input_size), name=info.name)
        yield info.name, rep, info.input_size, info.kind


def paper_artifacts() -> list[Artifact]:
    """Table 1, Rethinking's outline, module comparison, factorization and case
    studies, each as csv + md + json under papers/."""
    from ..papers.bn_inception import bn_inception_report
    from ..papers.case_studies import cases_report
    from ..papers.factorize import factorize_report
    from ..papers.module_example import bottleneck_report, module_report
    from ..report.paper_render import render_report
    from ..papers.rethinking import rethinking_report
    from ..papers.table1 import table1_report

    reports = [("table1_googlenet", lambda: table1_report("googlenet", None)),
               ("table1_googlenet_torchvision", lambda: table1_report("googlenet_torchvision", None)),
               ("rethinking_inception_v2", lambda: rethinking_report("inception_v2")),
               ("rethinking_inception_v3", lambda: rethinking_report("inception_v3")),
               ("bn_inception", lambda: bn_inception_report()),
               ("module_naive_vs_reduced", lambda: module_report()),
               ("module_5x5_bottleneck", lambda: bottleneck_report()),
               ("factorize", lambda: factorize_report(64, 17)),
               ("cases", lambda: cases_report())]
    out: list[Artifact] = []
    for name, make in reports:
        rep = make()
        for fmt, ext in (("csv", "csv"), ("md", "md"), ("json", "json")):
            out.append((f"papers/{name}.{ext}", render_report(rep, fmt)))
    return out


def regenerate(out: str = "reports", plots: bool = True,
               progress: Callable[[str], None] | None = None,
               notify: Callable[[str], None] | None = None) -> list[str]:
    """Write every artifact under ``out`` (each file atomically); returns the paths
    written. ``notify`` hears what was skipped (plots without matplotlib)."""
    written: list[str] = []

    def put(rel: str, text: str) -> None:
        path = os.path.join(out, rel)
        write_text(path, text, make_dirs=True)
        written.append(path)

    rows, reports = [], {}
    for name, rep, chw, kind in variant_reports():
        if progress:
            progress(f"counted {name}")
        put(os.path.relpath(baseline_path(out, name), out), layers_csv(rep))
        rows.append(summary_row(name, rep, chw, kind))
        reports[name] = rep
    summary = pd.DataFrame(rows)
    put("summary.csv", to_csv(summary))
    put("summary.json", to_json(summary))
    put("summary.md", to_markdown(summary, "Every variant at batch 1, default input (C x H x W)",
                                  ["params: elements; macs: multiply-accumulates (bias excluded); "
                                   "flops: 2 x MACs + element-wise work; activations: output "
                                   "elements of out-of-place ops; depth: weight layers on the "
                                   "longest path"]))
    for rel, text in paper_artifacts():
        if progress:
            progress(f"wrote {rel}")
        put(rel, text)
    from .run_counts import RunCounts
    from .training_artifacts import training_artifacts
    for rel, text in training_artifacts(list(reports), RunCounts()):
        if progress:
            progress(f"wrote {rel}")
        put(rel, text)
    if plots:
        try:
            from ..report import plots as plotting
        except ImportError:
            plotting = None
        if plotting is not None and plotting.available():
            from .memory_plots import write_memory_plots
            for rel in [*plotting.write_all(out, reports, summary), *write_memory_plots(out)]:
                written.append(os.path.join(out, rel))
                if progress:
                    progress(f"plotted {rel}")
        elif notify:
            notify("plots skipped: matplotlib is not installed (pip install -e '.[plot]'); "
                   "use --no-plots to silence this")
    return written
