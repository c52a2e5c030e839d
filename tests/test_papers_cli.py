"""The paper commands end to end: table, module, factorize, cases."""
from __future__ import annotations

import csv
import io
import json

from inception_cost.cli import main


def run(capsys, *args):
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_table_json_default_googlenet(capsys):
    rc, out, err = run(capsys, "table", "--format", "json")
    assert rc == 0, err
    obj = json.loads(out)
    rows = obj["table"]
    assert rows[0]["type"] == "convolution" and rows[0]["MACs"] == 112 * 112 * 64 * 147
    assert rows[1]["MACs"] == 112 * 112 * (24 * 49 + 64 * 24)   # separable stem row
    assert rows[-1]["MACs"] == 1_582_671_872
    kinds = {f["kind"] for f in obj["findings"]}
    assert {"unit", "params_mismatch", "self_contradiction", "stem_match", "claim"} <= kinds
    assert any(c["claim"].startswith("12×") for c in obj["claims"])


def test_table_separable_stem_md_to_file(capsys, tmp_path):
    path = tmp_path / "t1.md"
    rc, out, err = run(capsys, "table", "googlenet", "--stem", "separable", "--format", "md",
                       "-o", str(path))
    assert rc == 0 and out == ""
    text = path.read_text(encoding="utf-8")
    assert "| convolution | 7×7/2 | 112×112×64 | 2 |" in text
    assert "(stem=standard)" in text and "stem_match" in text


def test_table_inception_v3_csv(capsys):
    rc, out, err = run(capsys, "table", "inception_v3", "--format", "csv")
    assert rc == 0, err
    first = out.split("\n\n")[0]
    rows = list(csv.DictReader(io.StringIO(first)))
    assert [r["printed input (H×W×C)"] for r in rows][:3] == ["299×299×3", "149×149×32",
                                                              "147×147×32"]
    assert rows[0]["MACs"] == str(149 * 149 * 32 * 3 * 3 * 3)


def test_table_rich_lists_findings(capsys):
    rc, out, err = run(capsys, "table", "inception_v2")
    assert rc == 0 and "Table 1 outline" in out and "5 billion multiply-adds" in out


def test_module_json_and_5x5(capsys):
    rc, out, _ = run(capsys, "module", "--format", "json")
    assert rc == 0
    totals = {t["module"]: t for t in json.loads(out)["totals"]}
    assert totals["naive"]["MACs"] == 854_196_224 and totals["reduced"]["MACs"] == 271_351_808
    assert any("counted twice" in f["message"] for f in json.loads(out)["findings"])
    rc, out, _ = run(capsys, "module", "--example", "5x5", "--format", "json")
    ex = json.loads(out)["example"]
    assert [r["MACs"] for r in ex[:4]] == [160_563_200, 3_211_264, 40_140_800, 43_352_064]


def test_module_custom_input_and_widths(capsys):
    rc, out, _ = run(capsys, "module", "--input", "64x14x14", "--n3x3", "32", "--format", "json")
    assert rc == 0
    naive = {t["module"]: t for t in json.loads(out)["totals"]}["naive"]
    assert naive["MACs"] == 14 * 14 * 64 * (128 + 32 * 9 + 96 * 25)
    assert naive["output (H×W×C)"] == "14×14×320" and naive["printed ops"] == ""


def test_usage_errors(capsys):
    for args in (["module", "--n3x3", "0"], ["module", "--input", "256x28"],
                 ["module", "--example", "5x5", "--n1x1", "4"], ["table", "resnet50"],
                 ["table", "inception_v3", "--stem", "separable"],
                 ["factorize", "--channels", "-1"]):
        rc, out, err = run(capsys, *args)
        assert rc == 2, args
        assert err.startswith("error:") and "Traceback" not in err and len(err.splitlines()) == 1


def test_factorize_and_cases(capsys):
    rc, out, _ = run(capsys, "factorize", "--channels", "16", "--grid", "8", "--format", "json")
    assert rc == 0
    first = json.loads(out)["comparisons"][0]
    assert first["single params"] == 25 * 16 * 16 and first["stacked MACs"] == 18 * 256 * 64
    rc, out, _ = run(capsys, "cases", "--format", "md")
    assert rc == 0 and "34,848" in out and "138,357,544" in out and "15,237,608" in out
