"""Plots: labels placed without overlaps, the cost-vs-accuracy chart and its CSV."""
from __future__ import annotations

import csv
import pathlib
import re

import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from inception_cost.papers.reference_data import imagenet_accuracy  # noqa: E402
from inception_cost.report import plots  # noqa: E402
from inception_cost.report.label_layout import overlapping_pairs, place_labels  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHART = ["googlenet", "bn_inception", "inception_v3", "inception_v4", "inception_resnet_v1",
         "inception_resnet_v2", "alexnet", "vgg16", "resnet50"]


@pytest.fixture(scope="module")
def summary():
    return pd.read_csv(ROOT / "reports" / "summary.csv")


def test_macs_vs_params_labels_do_not_overlap(summary, tmp_path):
    bad = plots.macs_vs_params(summary, str(tmp_path / "m.png"))
    assert bad == []
    assert (tmp_path / "m.png").stat().st_size > 10_000


def test_cost_vs_accuracy_chart_and_csv(summary, tmp_path):
    rels = plots.write_cost_vs_accuracy(str(tmp_path), summary)
    assert rels == ["plots/cost_vs_accuracy.csv", "plots/cost_vs_accuracy.png"]
    with open(tmp_path / rels[0], encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["variant"] for r in rows] == CHART
    counts = summary.set_index("variant")
    for r in rows:
        assert int(r["macs"]) == counts.at[r["variant"], "macs"]
        assert int(r["params"]) == counts.at[r["variant"], "params"]
        assert r["source"] and r["protocol"] and r["where"]
    table = plots.accuracy_table(summary, imagenet_accuracy())
    assert plots.cost_vs_accuracy(table, str(tmp_path / "again.png")) == []


def test_accuracy_reference_data_is_100_minus_the_printed_error():
    for a in imagenet_accuracy():
        m = re.search(r"\(([\d.]+)% top-1(?: / ([\d.]+)% top-5)?\)", a["metric"])
        if a["metric"].startswith("100 - printed error"):
            assert m, a
            assert float(a["top1"]) == pytest.approx(100 - float(m.group(1)))
            if m.group(2):
                assert float(a["top5"]) == pytest.approx(100 - float(m.group(2)))
        else:
            assert a["metric"] == "printed accuracy"
    by = {a["variant"]: a for a in imagenet_accuracy()}
    assert by["resnet50"]["top1"] == "77.15" and "10-crop" in by["resnet50"]["protocol"]
    assert by["inception_v3"]["top1"] == "78.8"      # 21.2 % single-crop top-1 error


def test_overlap_check_catches_a_collision():
    plt = plots._plt()
    fig, ax = plt.subplots(dpi=plots.DPI)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    a = ax.text(0.5, 0.5, "inception_resnet_v1")
    b = ax.text(0.52, 0.5, "inception_v3")
    assert overlapping_pairs(ax, [a, b]) == [("inception_resnet_v1", "inception_v3")]
    plt.close(fig)


def test_crowded_points_get_separate_labels():
    plt = plots._plt()
    fig, ax = plt.subplots(figsize=(5, 4), dpi=plots.DPI)
    xs, ys = [1.0, 1.02, 1.04, 2.0], [1.0, 1.01, 0.99, 2.0]
    ax.set_xlim(0, 3)
    ax.set_ylim(0, 3)
    ax.scatter(xs, ys, s=20)
    names = ["inception_v2", "inception_resnet_v1", "inception_v3", "far"]
    texts = place_labels(ax, xs, ys, names, [3.0] * 4)
    assert [t.get_text() for t in texts] == names
    assert overlapping_pairs(ax, texts, [3.0] * 4, xs, ys) == []
    plt.close(fig)
