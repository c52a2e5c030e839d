"""Factorized convolutions: params, MACs, savings and measured receptive fields."""
from __future__ import annotations

import pytest

from inception_cost.errors import UsageError
from inception_cost.papers.factorize import (COMPARISONS, conv_stack,
                                             factorize_report, measure_receptive_field)

C, G = 64, 17


def propagated_rf(kernels):
    """Independent check: stride-1 stacks grow the field by k - 1 per layer."""
    return tuple(1 + sum(k[i] - 1 for k in kernels) for i in (0, 1))


@pytest.fixture(scope="module")
def rows():
    rep = factorize_report(C, G)
    return {r["comparison"]: r for r in rep.section("comparisons").df.to_dict("records")}


@pytest.mark.parametrize("name,single_w,stacked_w,saving", [
    ("5×5 vs two 3×3", 25, 18, 28.0),                 # (25 - 18) / 25
    ("3×3 vs 3×1 + 1×3", 9, 6, 33.33),                # (9 - 6) / 9
    ("3×3 vs two 2×2", 9, 8, 11.11),                  # (9 - 8) / 9
    ("3×3 vs 1×3 + 3×1", 9, 6, 33.33),                # 1 - 2/3
    ("5×5 vs 1×5 + 5×1", 25, 10, 60.0),               # 1 - 2/5
    ("7×7 vs 1×7 + 7×1", 49, 14, 71.43),              # 1 - 2/7
    ("7×7 vs three 3×3", 49, 27, 44.9),               # 49 C^2 vs 27 C^2
])
def test_params_macs_and_savings(rows, name, single_w, stacked_w, saving):
    r = rows[name]
    assert r["single params"] == single_w * C * C
    assert r["stacked params"] == stacked_w * C * C
    assert r["single MACs"] == single_w * C * C * G * G      # same padding: every layer at G x G
    assert r["stacked MACs"] == stacked_w * C * C * G * G
    assert r["saving % (params)"] == pytest.approx(saving, abs=0.01)
    assert r["saving % (MACs)"] == r["saving % (params)"]
    assert r["same field"] == "yes"


def test_printed_savings_hold(rows):
    for name in ("5×5 vs two 3×3", "3×3 vs 3×1 + 1×3", "3×3 vs two 2×2", "7×7 vs three 3×3"):
        assert rows[name]["verdict"] == "holds", name
    assert rows["5×5 vs two 3×3"]["printed"] == "28%"


@pytest.mark.parametrize("kernels,expected", [
    (((5, 5),), (5, 5)), (((3, 3), (3, 3)), (5, 5)), (((3, 1), (1, 3)), (3, 3)),
    (((2, 2), (2, 2)), (3, 3)), (((1, 7),), (1, 7)), (((3, 3),) * 3, (7, 7)),
])
def test_receptive_field_is_measured(kernels, expected):
    assert measure_receptive_field(kernels) == expected == propagated_rf(kernels)


def test_every_comparison_has_equal_fields():
    for c in COMPARISONS:
        assert measure_receptive_field(c.single) == measure_receptive_field(c.stacked), c.name


def test_unequal_fields_are_detected():
    assert measure_receptive_field(((5, 5),)) != measure_receptive_field(((3, 3),))


def test_cost_ratio_claim_and_options():
    rep = factorize_report(channels=8, grid=5)
    claim = rep.section("claims").df.iloc[0]
    assert claim["computed"] == round(25 / 9, 4) and claim["verdict"] == "holds"
    r = rep.section("comparisons").df.iloc[0]
    assert r["single params"] == 25 * 8 * 8 and r["single MACs"] == 25 * 8 * 8 * 5 * 5
    assert sum(p.numel() for p in conv_stack(((3, 3), (3, 3)), 8, ).parameters()) == 18 * 64


def test_bad_options():
    with pytest.raises(UsageError):
        factorize_report(channels=0)
