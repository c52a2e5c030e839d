"""Rethinking Table 1's outline from the built Inception-v2/v3, and the cost claims."""
from __future__ import annotations

import pytest
import torch
import torchvision.models as tvm

from inception_cost import count
from inception_cost.errors import UsageError
from inception_cost.papers import reference_data
from inception_cost.papers.rethinking import claim_rows, outline_rows, table3_rows

PRINTED_INPUTS = ["299×299×3", "149×149×32", "147×147×32", "147×147×64", "73×73×64",
                  "71×71×80", "35×35×192", "35×35×288", "17×17×768", "8×8×1280", "8×8×2048",
                  "1×1×2048", "1×1×1000"]


@pytest.fixture(scope="module")
def v3():
    return outline_rows("inception_v3")


@pytest.fixture(scope="module")
def claims():
    return claim_rows()


def test_v2_outline_matches_every_printed_input():
    rows, findings, rep = outline_rows("inception_v2")
    assert [r["printed input (H×W×C)"] for r in rows] == PRINTED_INPUTS
    assert [r["input (H×W×C)"] for r in rows] == PRINTED_INPUTS
    assert findings == []


def test_v3_outline_differences_are_flagged(v3):
    rows, findings, rep = v3
    by = {f.row: f for f in findings if f.kind == "input_mismatch"}
    # the released v3 stem: 1x1 conv to 80 keeps 73x73, then 3x3 to 192 and a pool
    assert "printed 71×71×80, built 73×73×80" in by["conv 3×3/2 (2)"].message
    assert "printed 35×35×288, built 35×35×192" in by["3×Inception (Fig. 5)"].message
    assert set(by) == {"conv 3×3/2 (2)", "3×Inception (Fig. 5)"}
    # the released v3 has no conv at 35x35x192 (a pool reaches 35x35 instead)
    assert [f.row for f in findings if f.kind == "no_layer"] == ["conv 3×3/1 (3)"]
    first = rows[0]
    assert first["input (H×W×C)"] == "299×299×3" and first["MACs"] == 149 * 149 * 32 * 27
    assert sum(r["MACs"] for r in rows) == rep.total_macs


def test_v3_matches_torchvision_and_the_claims(claims):
    rows, findings = claims
    with torch.device("meta"):
        tv = tvm.inception_v3(weights=None, aux_logits=False, init_weights=False).eval()
    ref = count(tv, (1, 3, 299, 299))
    by = {(r["claim"], r["model"]): r for r in rows}
    cl = reference_data.rethinking()["claims"]
    ops = by[(cl["v3_ops"]["text"], "inception_v3")]
    assert ops["computed"] == ref.total_macs == 5_713_216_096   # torchvision's "5.71 GFLOPS"
    assert ops["holds"] is False                                  # outside 4.5-5.5 G
    params = by[(cl["v3_params"]["text"], "inception_v3")]
    assert params["computed"] == ref.total_params == 23_834_568 and params["holds"] is True
    aux = by[(cl["v3_params"]["text"], "inception_v3 aux=True")]
    assert aux["computed"] == 27_161_264 and aux["holds"] is False
    # "about 2.5 higher than GoogLeNet" is about Inception-v2: Table 3's 3.8 / 1.5 = 2.53
    own = by[(cl["v2_vs_googlenet"]["text"],
              "the paper's own Table 3 (Inception-v2 3.8 / GoogLeNet 1.5)")]
    assert own["computed"] == round(3.8 / 1.5, 3) == 2.533 and own["holds"] is True
    assert {f.kind for f in findings} == {"claim"}


def test_table3_column():
    rows = table3_rows()
    by = {(r["network"], r["model"]): r for r in rows}
    assert by[("GoogLeNet", "googlenet stem=separable")]["within rounding"] == "yes"
    assert by[("GoogLeNet", "googlenet")]["within rounding"] == "no"      # 1.583 G
    assert by[("Inception-v3 (BN-auxiliary)", "inception_v3")]["MACs"] == 5_713_216_096
    # Table 1's network (three 3x3 stem convs) beside "Factorized 7x7" (4.8); the single
    # 7x7 stem reading beside "Inception-v2" (3.8)
    assert ("Inception-v2 factorized 7×7", "inception_v2") in by
    assert ("Inception-v2", "inception_v2 stem=7x7") in by
    assert ("Inception-v2", "inception_v2") not in by
    assert by[("BN-GoogLeNet", "")]["note"] == "not built"


def test_changed_printed_input_is_flagged(monkeypatch):
    data = reference_data.rethinking()
    data["table1"]["rows"][8]["input"] = "17×17×640"
    monkeypatch.setattr(reference_data, "rethinking", lambda: data)
    rows, findings, _ = outline_rows("inception_v2")
    assert [f.row for f in findings if f.kind == "input_mismatch"] == ["5×Inception (Fig. 6)"]


def test_only_v2_v3_have_an_outline_table():
    with pytest.raises(UsageError):
        outline_rows("googlenet")


def test_42_layers_claim_measured_as_longest_weight_path():
    from inception_cost.papers.rethinking import claim_rows
    rows, _ = claim_rows()
    row = next(r for r in rows if r["claim"] == "42 layers deep")
    # deepest path by hand: stem 5 convs (1a, 2a, 2b, 3b, 4a); 3 Fig.5 modules x 3 (double-3x3
    # branch: 1x1, 3x3, 3x3); mixed_6a 3 (1x1, 3x3, 3x3/2); 4 Fig.6 modules x 5 (1x1, 7x1,
    # 1x7, 7x1, 1x7); mixed_7a 4 (1x1, 1x7, 7x1, 3x3/2); 2 Fig.7 modules x 3 (1x1, 3x3,
    # 1x3|3x1); fc 1
    assert row["computed"] == 5 + 3 * 3 + 3 + 4 * 5 + 4 + 2 * 3 + 1 == 48
    assert row["holds"] is False
