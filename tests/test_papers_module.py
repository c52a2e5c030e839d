"""Naive vs reduced Inception module (CS231n lecture 9) and the 5x5 bottleneck example."""
from __future__ import annotations

import pytest

from inception_cost.papers import reference_data
from inception_cost.papers.module_example import (BottleneckConfig, ModuleConfig,
                                                  bottleneck_report, count_module,
                                                  module_report)

HW = 28 * 28


@pytest.fixture(scope="module")
def lecture():
    return module_report()


def totals(rep):
    return {r["module"]: r for r in rep.section("totals").df.to_dict(orient="records")}


def test_naive_module_matches_the_lecture(lecture):
    t = totals(lecture)["naive"]
    assert t["MACs"] == HW * 256 * (128 * 1 + 192 * 9 + 96 * 25) == 854_196_224
    assert t["output (H×W×C)"] == "28×28×672" == t["printed output"]
    assert t["params (weights)"] == 256 * (128 + 192 * 9 + 96 * 25)
    assert t["bias"] == 128 + 192 + 96
    f = lecture.findings_of(row="naive total")
    assert [x.kind for x in f] == ["total_match"]


def test_reduced_module_and_the_lectures_gap(lecture):
    t = totals(lecture)["reduced"]
    terms = [HW * 64 * 256, HW * 64 * 256, HW * 128 * 256, HW * 192 * 9 * 64,
             HW * 96 * 25 * 64, HW * 64 * 256]
    assert t["MACs"] == sum(terms) == 271_351_808
    assert t["output (H×W×C)"] == "28×28×480"
    # the printed 358M is the computed total plus the 3x3 term a second time
    assert sum(terms) + HW * 192 * 9 * 64 == 358_055_936
    gap = lecture.findings_of(kind="total_gap")
    assert len(gap) == 1 and gap[0].row == "reduced total"
    assert "[3×3 conv, 192] 28×28×192×3×3×64 = 86,704,128, counted twice" in gap[0].message
    ratio = totals(lecture)["reduced / naive"]
    assert ratio["MACs"] == round(271_351_808 / 854_196_224, 4)


def test_per_branch_rows(lecture):
    rows = lecture.section("branches").df
    red = rows[rows["module"] == "reduced"].set_index("branch")
    assert red.loc["branch2", "MACs"] == HW * (64 * 256 + 192 * 9 * 64)
    assert red.loc["branch2", "layers"] == "1×1 conv, 64 → 3×3 conv, 192"
    assert red.loc["branch4", "output (H×W×C)"] == "28×28×64"
    naive = rows[rows["module"] == "naive"].set_index("branch")
    assert naive.loc["branch4", "MACs"] == 0
    assert naive.loc["branch4", "output (H×W×C)"] == "28×28×256"


def test_gap_with_a_different_input_depth_is_recognised(monkeypatch):
    data = reference_data.cs231n_lecture9()
    # as if the 5x5 conv had been costed on the 256-deep input instead of its 64-deep reduction
    wrong = 271_351_808 - HW * 96 * 25 * 64 + HW * 96 * 25 * 256
    assert wrong == 632_619_008
    data["inception_module"]["reduced"]["total_ops"] = "633M"
    monkeypatch.setattr(reference_data, "cs231n_lecture9", lambda: data)
    gap = module_report().findings_of(kind="total_gap")
    assert len(gap) == 1
    assert "[5×5 conv, 96] computed with input depth 256 instead of 64" in gap[0].message


def test_unexplained_gap_and_output_mismatch(monkeypatch):
    data = reference_data.cs231n_lecture9()
    data["inception_module"]["naive"]["total_ops"] = "900M"
    data["inception_module"]["naive"]["output"] = "28×28×640"
    monkeypatch.setattr(reference_data, "cs231n_lecture9", lambda: data)
    rep = module_report()
    kinds = {f.kind for f in rep.findings_of(row="naive total")}
    assert kinds == {"total_gap", "output_mismatch"}
    gap = rep.findings_of(kind="total_gap", row="naive total")[0]
    assert "no single listed term" in gap.message


def test_any_configuration_is_built_and_counted():
    cfg = ModuleConfig(in_channels=192, height=14, width=14, n1x1=32, n3x3red=16, n3x3=48,
                       n5x5red=8, n5x5=16, pool_proj=24)
    naive, red = count_module("naive", cfg), count_module("reduced", cfg)
    assert naive.macs == 14 * 14 * 192 * (32 + 48 * 9 + 16 * 25)
    assert naive.output == "14×14×288"            # 32 + 48 + 16 + 192 passed through the pool
    assert red.macs == 14 * 14 * (192 * (32 + 16 + 8 + 24) + 16 * 9 * 48 + 8 * 25 * 16)
    assert red.output == "14×14×120"
    rep = module_report(cfg)
    assert rep.findings == []                      # no printed numbers for this configuration
    assert all(t["printed ops"] == "" for t in rep.section("totals").df.to_dict("records"))


def test_review_5x5_example():
    rep = bottleneck_report()
    rows = rep.section("example").df.to_dict(orient="records")
    assert rows[0]["MACs"] == (28 * 28 * 64) * (5 * 5 * 128) == 160_563_200
    assert rows[1]["MACs"] == (28 * 28 * 32) * (1 * 1 * 128) == 3_211_264
    assert rows[2]["MACs"] == (28 * 28 * 64) * (5 * 5 * 32) == 40_140_800
    assert rows[3]["MACs"] == 3_211_264 + 40_140_800 == 43_352_064
    assert rows[4]["MACs"] == round(43_352_064 / 160_563_200, 4) == 0.27
    assert [r["match"] for r in rows[:3]] == ["yes", "yes", "yes"]
    assert "holds" in rows[4]["match"] and rep.findings == []


def test_bottleneck_with_other_widths_has_no_printed_column():
    rep = bottleneck_report(BottleneckConfig(reduce=16))
    rows = rep.section("example").df.to_dict(orient="records")
    assert rows[3]["MACs"] == HW * 16 * 128 + HW * 64 * 25 * 16
    assert all(r["printed ops"] == "" for r in rows)
