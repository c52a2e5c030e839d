"""Memory plots (matplotlib, an optional dependency) of a :class:`MemoryReport`: the
timeline of live bytes and the per-module bars (bytes shown in MiB). ``inception-cost
report`` draws them through :func:`inception_cost.regeneration.memory_plots.write_memory_plots`."""
from __future__ import annotations

import hashlib
import re

from ..atomic import save_with
from ..errors import UsageError
from ..memory_analysis.result import MemoryReport

PHASE_COLOURS = {"forward": "#3b75af", "backward": "#e0823d", "optimizer": "#519e3e"}
CATEGORY_COLOURS = {"parameters": "#7f7f7f", "buffers": "#bcbd22", "gradients": "#d62728",
                    "optimizer_state": "#9467bd", "saved_activations": "#1f77b4",
                    "transient": "#ff7f0e", "workspace": "#8c564b"}
MIB = 2 ** 20


def _plt():
    try:
        import matplotlib
    except ImportError:
        raise UsageError("plots need matplotlib, which is not installed: pip install "
                         "matplotlib (or pip install -e '.[plot]')") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams["svg.hashsalt"] = "inception-cost"
    return plt


def _title(r: MemoryReport) -> str:
    what = (f"training step ({r.optimizer}, {r.step} state)" if r.training else "inference")
    rounding = "512-byte rounded" if r.rounding else "exact bytes"
    return f"{r.model} batch {r.batch} {r.dtype}: {what}, {rounding}"


def timeline_plot(r: MemoryReport, path: str) -> None:
    """Stacked live MiB per category vs op index; phases shaded; the peak annotated."""
    plt = _plt()
    tl = r.timeline
    fig, ax = plt.subplots(figsize=(10, 4.5))
    cats = [c for c in CATEGORY_COLOURS if c in tl.columns and tl[c].max() > 0]
    ax.stackplot(tl["op_index"], *[tl[c] / MIB for c in cats], labels=cats,
                 colors=[CATEGORY_COLOURS[c] for c in cats], linewidth=0)
    for phase, colour in PHASE_COLOURS.items():
        idx = tl.index[tl["phase"] == phase]
        if len(idx):
            ax.axvspan(idx.min() - 0.5, idx.max() + 0.5, color=colour, alpha=0.08)
            ax.text((idx.min() + idx.max()) / 2, 0.99, phase, ha="center", va="top",
                    fontsize=8, color=colour, transform=ax.get_xaxis_transform())
    ax.annotate(f"peak {r.peak_bytes / MIB:,.1f} MiB\n{r.peak_op} in {r.peak_module}",
                xy=(r.peak_op_index, r.peak_bytes / MIB),
                xytext=(0.02, 0.90), textcoords="axes fraction", va="top", fontsize=8,
                arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.set_xlabel("op index")
    ax.set_ylabel("live MiB")
    ax.set_title(_title(r), fontsize=10)
    ax.legend(loc="center right", fontsize=7)
    _save(fig, path)
    plt.close(fig)


def module_bars(r: MemoryReport, path: str, depth: int = 1) -> None:
    """Per module at ``depth``: bytes saved for backward, output bytes, live peak."""
    plt = _plt()
    df = r.modules[r.modules["depth"] == depth]
    fig, ax = plt.subplots(figsize=(max(6, 0.4 * len(df)), 4.5))
    x = range(len(df))
    w = 0.28
    ax.bar([i - w for i in x], df["output_bytes"] / MIB, w, label="allocated by its forward")
    ax.bar(list(x), df["saved_bytes"] / MIB, w, label="saved for backward")
    ax.bar([i + w for i in x], df["live_forward_peak_bytes"] / MIB, w,
           label="live while it runs (forward peak)")
    ax.set_xticks(list(x))
    ax.set_xticklabels(df["module"], rotation=90, fontsize=8)
    ax.set_ylabel("MiB")
    ax.set_title(_title(r), fontsize=10)
    ax.legend(fontsize=7)
    _save(fig, path)
    plt.close(fig)


def _save(fig, path: str) -> None:
    """Write the PNG atomically (a temporary file in the same folder, then a rename):
    a full disk or an interrupt leaves the old plot or none, never a cut one."""
    save_with(path, lambda tmp: fig.savefig(tmp, dpi=110, metadata={"Software": None},
                                            bbox_inches="tight"), what="plot", make_dirs=True)


STEM_CHARS = 60
"""Longest model part of a plot's file name (characters), far below any file system's
255-byte limit on a name."""


def plot_stem(label: str) -> str:
    """A short, safe file-name stem for a model label: the spec's last path component
    ('path/to/net.py:build' -> 'net.py_build'), characters outside [A-Za-z0-9_.-]
    replaced by '_', at most :data:`STEM_CHARS` characters. When a path was dropped,
    the name cut or a character other than ':' replaced, 8 hex digits of the label's
    SHA-1 keep two labels apart ('torchvision:resnet50' -> 'torchvision_resnet50')."""
    base = re.split(r"[\\/]", label)[-1]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", base).strip("_.") or "model"
    if base != label or len(stem) > STEM_CHARS or re.search(r"[^A-Za-z0-9_.:-]", label):
        digest = hashlib.sha1(label.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        stem = f"{stem[:STEM_CHARS - 9]}-{digest}"
    return stem
