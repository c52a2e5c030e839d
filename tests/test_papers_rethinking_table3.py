"""Rethinking's Table 3 placement (3.8 / 4.8), the "2.5× GoogLeNet" row, NASNet's
"Inception V3, 23.8M, 5.72B", and the sources block of every paper report."""
from __future__ import annotations

import pytest

from inception_cost import count
from inception_cost.models.registry import build
from inception_cost.papers import reference_data
from inception_cost.papers.rethinking import claim_rows, table3_notes, table3_rows


@pytest.fixture(scope="module")
def claims():
    return claim_rows()[0]


def test_nasnet_v3_is_the_release_params_without_and_macs_with_the_aux_head(claims):
    nas = reference_data.rethinking()["claims"]["nasnet_v3"]["text"]
    by = {(r["model"], r["unit"]): r for r in claims if r["claim"] == nas}
    # aux head on 17x17x768: 5x5/3 avg pool -> 5x5; 1x1 conv 768 -> 128; 5x5 conv 128 -> 768
    # (valid, 5x5 -> 1x1); linear 768 -> 1000
    aux_macs = 5 * 5 * 128 * 768 + 1 * 1 * 768 * 128 * 25 + 768 * 1000
    assert aux_macs == 5_683_200
    with_aux = by[("inception_v3 aux=True", "MACs")]
    assert with_aux["computed"] == 5_713_216_096 + aux_macs == 5_718_899_296
    assert with_aux["holds"] is True                    # 5.7189 G inside 5.715-5.725
    assert by[("inception_v3", "MACs")]["holds"] is False   # 5.7132 G rounds to 5.71
    assert by[("inception_v3", "params")]["computed"] == 23_834_568
    assert by[("inception_v3", "params")]["holds"] is True
    assert by[("inception_v3 aux=True", "params")]["holds"] is False


def test_two_and_a_half_times_googlenet_is_checked_on_the_v2_row(claims):
    text = reference_data.rethinking()["claims"]["v2_vs_googlenet"]["text"]
    rows = [r for r in claims if r["claim"] == text]
    own = rows[0]
    assert own["computed"] == round(3.8 / 1.5, 3) and own["holds"] is True
    # every built ratio has inception_v2 (not v3) in the numerator
    assert all(r["model"].startswith("inception_v2") for r in rows[1:])
    assert not any("inception_v3" in r["model"] for r in rows)


def test_7x7_stem_reading_by_hand():
    # Table 1's stem: 3x3/2 3->32 (149), 3x3 32->32 (147), 3x3 pad 32->64 (147);
    # the 7x7 reading: one 7x7/2 3->64 (147)
    three = 149 * 149 * 32 * 27 + 147 * 147 * 32 * 32 * 9 + 147 * 147 * 64 * 32 * 9
    seven = 147 * 147 * 64 * 3 * 49
    v2 = count(build("inception_v2"), (1, 3, 299, 299)).total_macs
    v2_7 = count(build("inception_v2", stem="7x7"), (1, 3, 299, 299)).total_macs
    assert v2 - v2_7 == three - seven == 413_329_824
    rows = {(r["network"], r["model"]): r for r in table3_rows()}
    assert rows[("Inception-v2", "inception_v2 stem=7x7")]["MACs"] == v2_7
    assert rows[("Inception-v2 factorized 7×7", "inception_v2")]["MACs"] == v2
    notes = " ".join(table3_notes())
    assert "+413,329,824 MACs" in notes and "Unexplained" in notes
    assert "283 px → 4.981 G" in notes


def test_7x7_stem_outline_keeps_table_1_sizes_after_the_stem():
    from inception_cost.papers.rethinking import outline_rows
    model = build("inception_v2", stem="7x7")
    assert [label for label, _ in model.outline][:2] == ["conv 7×7/2", "pool 3×3/2"]
    rows, _, _ = outline_rows("inception_v2")
    assert rows[0]["type"] == "conv"                    # the default build is unchanged


@pytest.mark.parametrize("make", [
    lambda: __import__("inception_cost.papers.module_example", fromlist=["x"]).module_report(),
    lambda: __import__("inception_cost.papers.module_example", fromlist=["x"]).bottleneck_report(),
    lambda: __import__("inception_cost.papers.factorize", fromlist=["x"]).factorize_report(64, 17),
    lambda: __import__("inception_cost.papers.case_studies", fromlist=["x"]).cases_report(),
    lambda: __import__("inception_cost.papers.table1", fromlist=["x"]).table1_report(
        "googlenet", None),
    lambda: __import__("inception_cost.papers.rethinking", fromlist=["x"]).rethinking_report(
        "inception_v2"),
])
def test_every_paper_report_ends_with_its_sources(make):
    rep = make()
    src = rep.sections[-1]
    assert src.name == "sources" and len(src.df) >= 1
    assert list(src.df.columns) == ["printed", "where", "paper"]
    assert all(v for v in src.df["paper"])
