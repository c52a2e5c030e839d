"""Plots (the ``plot`` extra): per-stage MACs/params bars, MACs vs params, published
accuracy vs MACs (with its data as CSV beside it), roofline.

Every figure is drawn at ``DPI`` and saved at the same DPI so that label placement
(:mod:`.label_layout`, display pixels) is what ends up in the PNG.  The plots only read
counts that were computed before (the summary, the reports); they never count.
"""
from __future__ import annotations

import glob
import math
import os

import pandas as pd

from ..atomic import save_with, write_text
from .label_layout import overlapping_pairs, place_labels

DPI = 110


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams["svg.hashsalt"] = "inception-cost"
    return plt


def _save(fig, path: str) -> None:
    """Write the PNG atomically (temp file in the same folder, then rename)."""
    save_with(path, lambda tmp: fig.savefig(tmp, dpi=DPI, metadata={"Software": None},
                                            bbox_inches="tight"), make_dirs=True)


def _write_text(path: str, text: str) -> None:
    write_text(path, text, make_dirs=True)


def _plain_log_ticks(axis) -> None:
    """Log axis with tick labels as plain numbers (0.5, 1, 2, 5, 10 …), not 10^x."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def stage_bars(name: str, report, path: str) -> None:
    """MACs and params per top-level module (GoogLeNet: one bar per Table-1 row)."""
    plt = _plt()
    df = report.by_module(depth=1)
    df = df[(df["macs"] > 0) | (df["params"] > 0)]
    fig, axes = plt.subplots(2, 1, figsize=(max(6, 0.35 * len(df)), 6), sharex=True, dpi=DPI)
    axes[0].bar(df["module"], df["macs"] / 1e6, color="#3b75af")
    axes[0].set_ylabel("MACs (millions)")
    axes[1].bar(df["module"], df["params"] / 1e6, color="#e0823d")
    axes[1].set_ylabel("parameters (millions)")
    axes[1].tick_params(axis="x", rotation=90)
    axes[1].set_xlabel("top-level module (forward order)")
    for ax in axes:
        ax.grid(axis="y", color="0.9")
        ax.set_axisbelow(True)
    axes[0].set_title(f"{name}: MACs and parameters per stage (batch 1)")
    _save(fig, path)
    plt.close(fig)


def _radius_px(s_points2: float) -> float:
    """Radius in display pixels of a scatter marker of area ``s`` (points^2)."""
    return math.sqrt(s_points2 / math.pi) * DPI / 72.0


def macs_vs_params(summary: pd.DataFrame, path: str):
    """Every network's GMACs against its parameters (millions), labelled without overlap.
    Returns (figure-free) label overlaps found after placement (empty when clean)."""
    plt = _plt()
    kind = summary["kind"] if "kind" in summary else pd.Series("network", index=summary.index)
    nets = summary[(summary["params"] > 0) & (kind == "network")]
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=DPI)
    size = 28.0
    xs, ys = list(nets["params"] / 1e6), list(nets["macs"] / 1e9)
    ax.scatter(xs, ys, s=size, color="#3b75af", zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(min(xs) / 1.6, max(xs) * 1.6)
    ax.set_ylim(min(ys) / 1.6, max(ys) * 1.6)
    _plain_log_ticks(ax.xaxis)
    _plain_log_ticks(ax.yaxis)
    ax.grid(which="major", color="0.9")
    ax.set_axisbelow(True)
    ax.set_xlabel("parameters (millions, log scale)")
    ax.set_ylabel("MACs per image (billions, log scale)")
    ax.set_title("MACs vs parameters (batch 1, each network's default input)")
    radii = [_radius_px(size)] * len(xs)
    texts = place_labels(ax, xs, ys, list(nets["variant"]), radii, fontsize=8)
    bad = overlapping_pairs(ax, texts, radii, xs, ys)
    _save(fig, path)
    plt.close(fig)
    return bad


# networks on the cost-vs-accuracy chart, in the order of the CSV beside it
ACCURACY_FAMILY = {"googlenet": "Inception", "bn_inception": "Inception",
                   "inception_v3": "Inception", "inception_v4": "Inception",
                   "inception_resnet_v1": "Inception-ResNet",
                   "inception_resnet_v2": "Inception-ResNet",
                   "alexnet": "other", "vgg16": "other", "resnet50": "other"}
FAMILY_COLOR = {"Inception": "#3b75af", "Inception-ResNet": "#5a9e4b", "other": "#e0823d"}
BUBBLE_POINTS2_PER_MPARAM = 6.0    # marker area (points^2) per million parameters


def accuracy_table(summary: pd.DataFrame, accuracy: list[dict]) -> pd.DataFrame:
    """Published accuracy beside our exact counts: one row per network in ``accuracy``
    found in ``summary``; macs in MACs (exact), params in elements."""
    counts = summary.set_index("variant")
    rows = []
    for a in accuracy:
        v = a["variant"]
        if v not in counts.index:
            continue
        rows.append({"variant": v, "network": a["network"], "input": counts.at[v, "input"],
                     "macs": int(counts.at[v, "macs"]), "params": int(counts.at[v, "params"]),
                     "top1": float(a["top1"]), "top5": float(a["top5"]) if a["top5"] else None,
                     "metric": a["metric"], "protocol": a["protocol"], "source": a["source"],
                     "where": a["where"]})
    return pd.DataFrame(rows)


def _short_protocol(protocol: str) -> str:
    p = protocol.lower()
    if "10 crops" in p or "10-crop" in p:
        return "10-crop"
    if "dense" in p:
        return "dense, 1 scale"
    return ""


def cost_vs_accuracy(table: pd.DataFrame, path: str):
    """Published top-1 accuracy (%) against our exact GMACs; bubble area = parameters.
    Labels name any protocol other than single crop.  Returns label overlaps (empty when
    the layout is clean)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 6), dpi=DPI)
    xs = list(table["macs"] / 1e9)
    ys = list(table["top1"])
    sizes = [BUBBLE_POINTS2_PER_MPARAM * p / 1e6 for p in table["params"]]
    colors = [FAMILY_COLOR[ACCURACY_FAMILY.get(v, "other")] for v in table["variant"]]
    ax.scatter(xs, ys, s=sizes, c=colors, alpha=0.55, edgecolors="0.25", linewidths=0.6,
               zorder=3)
    ax.set_xscale("log")
    ax.set_xlim(min(xs) / 1.7, max(xs) * 1.7)
    ax.set_ylim(min(ys) - 4, max(ys) + 3.5)
    _plain_log_ticks(ax.xaxis)
    ax.grid(which="major", color="0.9")
    ax.set_axisbelow(True)
    ax.set_xlabel("MACs per image (billions, log scale; exact count at each network's "
                  "default input)")
    ax.set_ylabel("published ImageNet top-1 accuracy (%)")
    ax.set_title("Published ImageNet accuracy vs exact compute (bubble area = parameters)")
    labels = []
    for name, protocol in zip(table["network"], table["protocol"]):
        short = _short_protocol(protocol)
        labels.append(f"{name} ({short})" if short else name)
    radii = [_radius_px(s) for s in sizes]
    texts = place_labels(ax, xs, ys, labels, radii, fontsize=8.5)
    bad = overlapping_pairs(ax, texts, radii, xs, ys)
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], ls="", marker="o", ms=7, color=FAMILY_COLOR[f], alpha=0.6,
                      label=f) for f in ("Inception", "Inception-ResNet", "other")]
    handles += [ax.scatter([], [], s=BUBBLE_POINTS2_PER_MPARAM * m, color="none",
                           edgecolors="0.25", label=f"{m}M params") for m in (10, 50, 100)]
    ax.legend(handles=handles, loc="lower right", fontsize=8, labelspacing=1.3,
              borderpad=1.0, frameon=True)
    fig.text(0.01, -0.02, "Top-1 as printed (100 − printed error): single crop unless the "
             "label says otherwise; source and protocol of each number in "
             "cost_vs_accuracy.csv.", fontsize=7.5, color="0.3")
    _save(fig, path)
    plt.close(fig)
    return bad


INTENSITY = "intensity_flop_per_byte"   # the profile CSVs' column (FLOPs per byte moved)


def _peaks_beside(layers_csv: str) -> pd.DataFrame | None:
    """The whole-model runs CSV written beside a per-layer CSV (X.layers.csv -> X.csv),
    which carries the device peaks (peak_tflops, peak_bandwidth_tbs)."""
    runs = layers_csv.replace(".layers.csv", ".csv")
    if runs == layers_csv or not os.path.exists(runs):
        return None
    try:
        return pd.read_csv(runs)
    except Exception:  # noqa: BLE001 - a roofline without its roof
        return None


def roofline(profile_csvs: list[str], path: str) -> bool:
    """Achieved TFLOP/s vs arithmetic intensity (FLOPs / byte) from per-layer profile
    CSVs (column ``intensity_flop_per_byte``; ``arithmetic_intensity`` in older files),
    with the device's roof when the runs CSV beside them names its peaks."""
    frames, peaks = [], []
    for p in profile_csvs:
        try:
            df = pd.read_csv(p)
        except Exception:  # noqa: BLE001 - skip unreadable profiles
            continue
        if "arithmetic_intensity" in df.columns and INTENSITY not in df.columns:
            df = df.rename(columns={"arithmetic_intensity": INTENSITY})
        if {INTENSITY, "achieved_tflops"} <= set(df.columns):
            frames.append(df)
            runs = _peaks_beside(p)
            if runs is not None:
                peaks.append(runs)
    if not frames:
        return False
    df = pd.concat(frames).dropna(subset=[INTENSITY, "achieved_tflops"])
    df = df[(df[INTENSITY] > 0) & (df["achieved_tflops"] > 0)]
    if df.empty:
        return False
    if peaks and not {"peak_tflops", "peak_bandwidth_tbs"} <= set(df.columns):
        runs = pd.concat(peaks)
        if {"peak_tflops", "peak_bandwidth_tbs"} <= set(runs.columns):
            df = df.assign(peak_tflops=runs["peak_tflops"].dropna().iloc[0]
                           if runs["peak_tflops"].notna().any() else float("nan"),
                           peak_bandwidth_tbs=runs["peak_bandwidth_tbs"].dropna().iloc[0]
                           if runs["peak_bandwidth_tbs"].notna().any() else float("nan"))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 5), dpi=DPI)
    ax.scatter(df[INTENSITY], df["achieved_tflops"], s=8)
    if {"peak_tflops", "peak_bandwidth_tbs"} <= set(df.columns):
        pk, bw = df["peak_tflops"].dropna(), df["peak_bandwidth_tbs"].dropna()
        if len(pk) and len(bw):
            import numpy as np
            x = np.logspace(-1, 4, 100)
            ax.plot(x, np.minimum(pk.iloc[0], x * bw.iloc[0]), "k--", lw=1, label="roofline")
            ax.legend()
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOPs / byte)")
    ax.set_ylabel("achieved TFLOP/s")
    ax.set_title("Per-layer roofline")
    _save(fig, path)
    plt.close(fig)
    return True


def write_all(out: str, reports: dict, summary: pd.DataFrame) -> list[str]:
    rels = []
    for name, rep in reports.items():
        rel = os.path.join("plots", f"{name}_stages.png")
        stage_bars(name, rep, os.path.join(out, rel))
        rels.append(rel)
    rel = os.path.join("plots", "macs_vs_params.png")
    macs_vs_params(summary, os.path.join(out, rel))
    rels.append(rel)
    rels += write_cost_vs_accuracy(out, summary)
    profiles = sorted(glob.glob(os.path.join(out, "gpu", "*layer*.csv")) +
                      glob.glob(os.path.join(out, "cpu", "*layer*.csv")))
    rel = os.path.join("plots", "roofline.png")
    if roofline(profiles, os.path.join(out, rel)):
        rels.append(rel)
    return rels


def write_cost_vs_accuracy(out: str, summary: pd.DataFrame) -> list[str]:
    """plots/cost_vs_accuracy.png and the CSV of its numbers (published accuracy with
    source and protocol, our exact MACs and params) beside it."""
    from ..papers.reference_data import imagenet_accuracy
    from .render import to_csv

    table = accuracy_table(summary, imagenet_accuracy())
    if table.empty:
        return []
    csv_rel = os.path.join("plots", "cost_vs_accuracy.csv")
    _write_text(os.path.join(out, csv_rel), to_csv(table))
    png_rel = os.path.join("plots", "cost_vs_accuracy.png")
    cost_vs_accuracy(table, os.path.join(out, png_rel))
    return [csv_rel, png_rel]
