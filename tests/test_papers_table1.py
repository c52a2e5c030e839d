"""GoogLeNet Table 1 rebuilt from the built model, and the audit's findings."""
from __future__ import annotations

import json

import pytest

from inception_cost.errors import UsageError
from inception_cost.papers import reference_data
from inception_cost.papers.audit import detect_unit, parse_printed
from inception_cost.report.paper_render import render_report
from inception_cost.papers.table1 import audit_table1, table1_report

# GoogLeNet Table 1 channel columns as printed (input depth, #1x1, #3x3 red, #3x3,
# #5x5 red, #5x5, pool proj) and the output grid; typed from the paper.
PAPER = {
    "3a": (192, 64, 96, 128, 16, 32, 32, 28), "3b": (256, 128, 128, 192, 32, 96, 64, 28),
    "4a": (480, 192, 96, 208, 16, 48, 64, 14), "4b": (512, 160, 112, 224, 24, 64, 64, 14),
    "4c": (512, 128, 128, 256, 24, 64, 64, 14), "4d": (512, 112, 144, 288, 32, 64, 64, 14),
    "4e": (528, 256, 160, 320, 32, 128, 128, 14), "5a": (832, 256, 160, 320, 32, 128, 128, 7),
    "5b": (832, 384, 192, 384, 48, 128, 128, 7),
}


def hand_weights(cin, n1, n3r, n3, n5r, n5, pp, _grid):
    """Weights of one Inception module: 1x1 convs from the input, 3x3 / 5x5 after reductions."""
    return cin * (n1 + n3r + n5r + pp) + 3 * 3 * n3r * n3 + 5 * 5 * n5r * n5


@pytest.fixture(scope="module")
def audit():
    return audit_table1("googlenet", compare_alexnet=False)


@pytest.fixture(scope="module")
def rows(audit):
    return dict(zip(audit.labels, audit.rows))


def kinds(audit, label):
    return {f.kind for f in audit.findings if f.row == label}


def test_rows_in_paper_order_with_structure_read_off_the_model(audit):
    assert [p["type"] for p in audit.printed][:5] == [
        "convolution", "max pool", "convolution", "max pool", "inception (3a)"]
    outputs = [r.output for r in audit.rows]
    assert outputs == [p["output"] for p in audit.printed]  # the paper's sizes, H x W x C
    assert [r.patch for r in audit.rows[:4]] == ["7×7/2", "3×3/2", "3×3/1", "3×3/2"]
    assert audit.rows[15].patch == "7×7/1"  # avg pool
    assert [r.depth for r in audit.rows] == [p["depth"] for p in audit.printed]
    conv2 = audit.rows[2]
    assert conv2.channels == {"n3x3red": 64, "n3x3": 192}
    for key, vals in PAPER.items():
        row = audit.rows[audit.labels.index(f"inception ({key})")]
        assert [row.channels[c] for c in ("n1x1", "n3x3red", "n3x3", "n5x5red", "n5x5",
                                          "pool_proj")] == list(vals[1:7])


def test_params_and_macs_from_the_built_model(rows):
    conv1 = rows["convolution 7×7/2"]
    assert conv1.weights == 7 * 7 * 3 * 64 == 9408
    assert conv1.bias == 64
    assert conv1.macs == 112 * 112 * 64 * 7 * 7 * 3 == 118_013_952
    conv2 = rows["convolution 3×3/1"]
    assert conv2.weights == 64 * 64 + 3 * 3 * 64 * 192 == 114_688
    assert conv2.macs == 56 * 56 * 114_688 == 359_661_568
    for key, vals in PAPER.items():
        r = rows[f"inception ({key})"]
        w = hand_weights(*vals)
        assert r.weights == w, key
        assert r.macs == vals[-1] ** 2 * w, key  # every conv of the module runs on the output grid
    assert rows["inception (3a)"].weights == 163_328
    assert rows["inception (3a)"].macs == 128_049_152
    assert rows["linear"].weights == 1024 * 1000
    assert rows["linear"].macs == 1_024_000
    total = 118_013_952 + 359_661_568 + sum(v[-1] ** 2 * hand_weights(*v)
                                            for v in PAPER.values()) + 1_024_000
    assert audit_total(rows) == total == 1_582_671_872


def audit_total(rows):
    return sum(r.macs for r in rows.values())


def test_unit_detection_picks_k1024_for_params_and_decimal_m_for_ops(audit):
    assert (audit.params_unit.suffix, audit.params_unit.base) == ("K", 1024)
    assert (audit.ops_unit.suffix, audit.ops_unit.base) == ("M", 10**6)
    # the evidence: the linear row is 1,024,000 weights = 1000K only with K = 1024
    assert parse_printed("1000K").covers(1_024_000, 1024)
    assert not parse_printed("1000K").covers(1_024_000, 1000)
    assert audit.params_unit.total_error[1024] < audit.params_unit.total_error[1000]


def test_detect_unit_on_hand_pairs():
    pairs = [(parse_printed("1000K"), 1_024_000), (parse_printed("112K"), 114_688)]
    assert detect_unit(pairs).base == 1024
    assert detect_unit([(parse_printed("2.7K"), 2700)]).base == 1000


def test_rows_beyond_rounding(audit):
    flagged = {f.row for f in audit.findings if f.kind == "params_mismatch"}
    # 4c: 509,440 weights = 497.5K (K=1024) or 509.4K (K=1000), printed 463K
    assert {"inception (3b)", "inception (4a)", "inception (4b)", "inception (4c)",
            "inception (4d)", "inception (4e)", "inception (5a)", "inception (5b)",
            "convolution 7×7/2"} == flagged
    # 3a: 163,328 / 1024 = 159.5 -> printed 159K is within half a unit; linear 1000K exact
    for ok in ("inception (3a)", "convolution 3×3/1", "linear"):
        assert "params_mismatch" not in kinds(audit, ok)
    ops_flagged = {f.row for f in audit.findings if f.kind == "ops_mismatch"}
    # 4a: 73,608,192 MACs is 73.6M, printed 73M; 5a: 51,079,168 vs 54M
    assert ops_flagged == {"convolution 7×7/2", "inception (4a)", "inception (5a)"}


def test_self_contradicting_rows(audit):
    bad = {f.row for f in audit.findings if f.kind == "self_contradiction"}
    # printed params x output positions vs printed ops, e.g. 4c: 463K x 196 =
    # 92,925,952 (K=1024) or 90,748,000 (K=1000), neither within 99.5M..100.5M
    assert 463 * 1024 * 196 == 92_925_952
    assert bad == {"inception (3b)", "inception (4c)", "inception (4d)", "inception (4e)",
                   "inception (5b)"}
    # conv1: 2.7K x 112 x 112 = 33.9M (K=1000) ~ 34M is consistent
    assert "self_contradiction" not in kinds(audit, "convolution 7×7/2")
    msg = next(f.message for f in audit.findings
               if f.kind == "self_contradiction" and f.row == "inception (4c)")
    assert "463K" in msg and "100M" in msg


def test_conv1_printed_values_are_the_separable_stem(audit):
    sep = audit.alt_rows[0]
    assert audit.alt_stem == "separable"
    assert sep.weights == 7 * 7 * 1 * 24 + 24 * 64 == 2712   # depthwise x8, then pointwise
    assert sep.macs == 112 * 112 * (24 * 49 + 64 * 24) == 34_019_328
    assert parse_printed("2.7K").covers(sep.weights, 1000)
    assert parse_printed("34M").covers(sep.macs, 10**6)
    match = [f for f in audit.findings if f.kind == "stem_match"]
    assert len(match) == 1 and "stem=separable" in match[0].message
    assert audit.alt_totals["macs"] == 1_582_671_872 - 118_013_952 + 34_019_328


def test_claims(audit):
    by = {(c["claim"], c["model"]): c for c in audit.claims}
    ops = reference_data.googlenet_table1()["claims"]["total_ops"]["text"]
    assert not by[(ops, "googlenet stem=standard")]["holds"]      # 1.583 G
    assert by[(ops, "googlenet stem=separable")]["holds"]         # 1.499 G
    layers = [c for c in audit.claims if c["claim"].startswith("22 layers")]
    assert [c["computed"] for c in layers] == [22, 27] and all(c["holds"] for c in layers)


def test_changing_one_channel_in_the_paper_data_adds_a_note(monkeypatch):
    data = reference_data.googlenet_table1()
    row = next(r for r in data["rows"] if r["type"] == "inception (4a)")
    row["n3x3"] = 200
    monkeypatch.setattr(reference_data, "googlenet_table1", lambda: data)
    a = audit_table1("googlenet", compare_alexnet=False)
    notes = [f.message for f in a.findings if f.row == "inception (4a)" and f.kind == "structure"]
    assert notes == ["#3×3: printed 200, built model 208"]
    untouched = [f for f in a.findings if f.kind == "structure" and f.row != "inception (4a)"]
    assert untouched == []


def test_changing_printed_ops_flags_the_row(monkeypatch):
    data = reference_data.googlenet_table1()
    data["rows"][4]["ops"] = "140M"  # inception (3a): computed 128,049,152
    monkeypatch.setattr(reference_data, "googlenet_table1", lambda: data)
    a = audit_table1("googlenet", compare_alexnet=False)
    assert "ops_mismatch" in {f.kind for f in a.findings if f.row == "inception (3a)"}
    assert "self_contradiction" in {f.kind for f in a.findings if f.row == "inception (3a)"}


def test_report_formats_keep_exact_integers():
    rep = table1_report("googlenet", compare_alexnet=False)
    obj = json.loads(render_report(rep, "json"))
    first = obj["table"][0]
    assert first["MACs"] == 118_013_952 and first["params (weights)"] == 9408
    assert obj["table"][1]["type"] == "convolution (stem=separable)"
    total = obj["table"][-1]
    assert total["MACs"] == 1_582_671_872 and total["depth"] == 22
    assert {"unit", "self_contradiction", "stem_match"} <= {f["kind"] for f in obj["findings"]}
    md = render_report(rep, "md")
    assert "| type | patch/stride | output (H×W×C) |" in md and "K=1024" in md
    csv = render_report(rep, "csv").splitlines()
    assert csv[0].startswith("type,patch/stride,output (H×W×C),depth")


def test_unknown_variant_is_a_usage_error():
    with pytest.raises(UsageError):
        audit_table1("resnet50")
    with pytest.raises(UsageError):
        audit_table1("googlenet_torchvision", stem="separable")
