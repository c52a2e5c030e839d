"""Plots (the ``plot`` extra): per-layer MACs/params bars, MACs vs params, roofline."""
from __future__ import annotations

import glob
import os

import pandas as pd

from ..atomic import save_with


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
    save_with(path, lambda tmp: fig.savefig(tmp, dpi=110, metadata={"Software": None},
                                            bbox_inches="tight"))


def stage_bars(name: str, report, path: str) -> None:
    """MACs and params per top-level module (GoogLeNet: one bar per Table-1 row)."""
    plt = _plt()
    df = report.by_module(depth=1)
    df = df[(df["macs"] > 0) | (df["params"] > 0)]
    fig, axes = plt.subplots(2, 1, figsize=(max(6, 0.35 * len(df)), 6), sharex=True)
    axes[0].bar(df["module"], df["macs"] / 1e6, color="#3b75af")
    axes[0].set_ylabel("MMACs")
    axes[1].bar(df["module"], df["params"] / 1e6, color="#e0823d")
    axes[1].set_ylabel("M params")
    axes[1].tick_params(axis="x", rotation=90)
    axes[0].set_title(f"{name}: per-stage MACs and params (batch 1)")
    _save(fig, path)
    plt.close(fig)


def macs_vs_params(summary: pd.DataFrame, path: str) -> None:
    plt = _plt()
    nets = summary[(summary["params"] > 0) & (summary.get("kind", "network") == "network")]
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(nets["params"] / 1e6, nets["macs"] / 1e9)
    for _, r in nets.iterrows():
        ax.annotate(r["variant"], (r["params"] / 1e6, r["macs"] / 1e9), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("params (millions)")
    ax.set_ylabel("GMACs per image")
    ax.set_title("MACs vs params across networks (batch 1, default input)")
    _save(fig, path)
    plt.close(fig)


def roofline(profile_csvs: list[str], path: str) -> bool:
    """Achieved TFLOP/s vs arithmetic intensity from per-layer profile CSVs."""
    frames = []
    for p in profile_csvs:
        try:
            df = pd.read_csv(p)
        except Exception:  # noqa: BLE001 - skip unreadable profiles
            continue
        if {"arithmetic_intensity", "achieved_tflops"} <= set(df.columns):
            frames.append(df)
    if not frames:
        return False
    df = pd.concat(frames).dropna(subset=["arithmetic_intensity", "achieved_tflops"])
    df = df[(df["arithmetic_intensity"] > 0) & (df["achieved_tflops"] > 0)]
    if df.empty:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(df["arithmetic_intensity"], df["achieved_tflops"], s=8)
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
    profiles = sorted(glob.glob(os.path.join(out, "gpu", "*layer*.csv")) +
                      glob.glob(os.path.join(out, "cpu", "*layer*.csv")))
    rel = os.path.join("plots", "roofline.png")
    if roofline(profiles, os.path.join(out, rel)):
        rels.append(rel)
    return rels
