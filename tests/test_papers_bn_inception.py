"""BN-Inception readings against hand arithmetic, and the audit against the printed totals
(the BN paper's 13.6M and +25% / +30%, NASNet's Table 2 "Inception V2, 11.2M, 1.94B")."""
from __future__ import annotations

import ast
import json
import pathlib

import pytest
from inception_cost import count
from inception_cost.cli import main
from inception_cost.models.registry import build
from inception_cost.papers import bn_inception as audit

# TF-slim research/slim/nets/inception_v2.py at 224x224, written out from that file (its
# Mixed_3b..Mixed_5c are the paper's 3a..5b).  (output H, in channels, out channels, k)
TF_SLIM_CONVS = [
    (56, 64, 64, 1), (56, 64, 192, 3),                                    # Conv2d_2b, 2c
    # Mixed_3b (3a) @ 28, in 192
    (28, 192, 64, 1), (28, 192, 64, 1), (28, 64, 64, 3), (28, 192, 64, 1), (28, 64, 96, 3),
    (28, 96, 96, 3), (28, 192, 32, 1),
    # Mixed_3c (3b) @ 28, in 256
    (28, 256, 64, 1), (28, 256, 64, 1), (28, 64, 96, 3), (28, 256, 64, 1), (28, 64, 96, 3),
    (28, 96, 96, 3), (28, 256, 64, 1),
    # Mixed_4a (3c), in 320: 1x1 at 28, stride-2 3x3s to 14
    (28, 320, 128, 1), (14, 128, 160, 3), (28, 320, 64, 1), (28, 64, 96, 3), (14, 96, 96, 3),
    # Mixed_4b (4a) @ 14, in 576
    (14, 576, 224, 1), (14, 576, 64, 1), (14, 64, 96, 3), (14, 576, 96, 1), (14, 96, 128, 3),
    (14, 128, 128, 3), (14, 576, 128, 1),
    # Mixed_4c (4b)
    (14, 576, 192, 1), (14, 576, 96, 1), (14, 96, 128, 3), (14, 576, 96, 1), (14, 96, 128, 3),
    (14, 128, 128, 3), (14, 576, 128, 1),
    # Mixed_4d (4c): pool projection 96
    (14, 576, 160, 1), (14, 576, 128, 1), (14, 128, 160, 3), (14, 576, 128, 1),
    (14, 128, 160, 3), (14, 160, 160, 3), (14, 576, 96, 1),
    # Mixed_4e (4d): pool projection 96
    (14, 576, 96, 1), (14, 576, 128, 1), (14, 128, 192, 3), (14, 576, 160, 1),
    (14, 160, 192, 3), (14, 192, 192, 3), (14, 576, 96, 1),
    # Mixed_5a (4e), in 576: 1x1 at 14, stride-2 3x3s to 7
    (14, 576, 128, 1), (7, 128, 192, 3), (14, 576, 192, 1), (14, 192, 256, 3), (7, 256, 256, 3),
    # Mixed_5b (5a) @ 7, in 1024
    (7, 1024, 352, 1), (7, 1024, 192, 1), (7, 192, 320, 3), (7, 1024, 160, 1), (7, 160, 224, 3),
    (7, 224, 224, 3), (7, 1024, 128, 1),
    # Mixed_5c (5b)
    (7, 1024, 352, 1), (7, 1024, 192, 1), (7, 192, 320, 3), (7, 1024, 192, 1), (7, 192, 224, 3),
    (7, 224, 224, 3), (7, 1024, 128, 1),
]
# Conv2d_1a_7x7: separable, depthwise 7x7 x 3 channels x multiplier 8 -> 24, pointwise 24 -> 64
SEP_DW_WEIGHTS, SEP_PW_WEIGHTS = 7 * 7 * 3 * 8, 24 * 64
SEP_MACS = 112 * 112 * 24 * 7 * 7 + 112 * 112 * 64 * 24
LOGITS_WEIGHTS = 1024 * 1000


def _tf_slim_by_hand() -> tuple[int, int]:
    weights = SEP_DW_WEIGHTS + SEP_PW_WEIGHTS + LOGITS_WEIGHTS
    macs = SEP_MACS + LOGITS_WEIGHTS
    for h, cin, cout, k in TF_SLIM_CONVS:
        weights += cin * cout * k * k
        macs += h * h * cout * cin * k * k
    return weights, macs


def test_tf_slim_reading_equals_hand_arithmetic_and_nasnet_within_rounding():
    weights, macs = _tf_slim_by_hand()
    assert (weights, macs) == (11_167_384, 1_934_857_216)
    params, w, m = audit.reading_cost(audit.TF_SLIM)
    assert (w, m) == (weights, macs)
    # NASNet Table 2: "Inception V2, 224x224, 11.2M, 1.94B"
    assert 11.15e6 <= weights <= 11.25e6
    assert abs(macs - 1.94e9) / 1.94e9 < 0.003          # 1.9349 G: -0.27 %
    assert 1.935e9 - macs == 142_784                    # just under the strict rounding of 1.94
    model = build("bn_inception", depths="tf_slim", stem="separable")
    assert params == sum(p.numel() for p in model.parameters())


def test_printed_reading_biases_and_aux_heads_by_hand():
    base, _, macs = audit.reading_cost(audit.PRINTED)
    assert (base, macs) == (11_285_224, 2_032_600_064)
    # Caffe port: one bias per conv output channel, same MACs.  Conv output channels:
    # stem 64 + 64 + 192; per module 1x1 + 3x3red + 3x3 + d3red + 2 * d3 + proj (Figure 5)
    modules = [(64, 64, 64, 64, 96, 32), (64, 64, 96, 64, 96, 64), (0, 128, 160, 64, 96, 0),
               (224, 64, 96, 96, 128, 128), (192, 96, 128, 96, 128, 128),
               (160, 128, 160, 128, 160, 128), (96, 128, 192, 160, 192, 128),
               (0, 128, 192, 192, 256, 0), (352, 192, 320, 160, 224, 128),
               (352, 192, 320, 192, 224, 128)]
    biases = 64 + 64 + 192 + sum(a + b + c + d + 2 * e + f for a, b, c, d, e, f in modules)
    caffe = audit.reading_cost("Caffe port (pretrainedmodels.bninception): + conv biases")
    assert caffe[0] == base + biases == 11_295_240 and caffe[2] == macs
    # GoogLeNet-style aux head on 4a (576 channels in) and 4d (608 in): 1x1 conv 128 + BN,
    # FC 2048 -> 1024, FC 1024 -> 1000
    def head(cin):
        return cin * 128 + 2 * 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000
    one = audit.reading_cost("+ one GoogLeNet-style aux head (4a)")[0]
    two = audit.reading_cost("+ two GoogLeNet-style aux heads (4a, 4d)")[0]
    assert one == base + head(576) == 14_482_384
    assert two == base + head(576) + head(608) == 17_683_640
    model = build("bn_inception", aux=2)
    assert two == sum(p.numel() for p in model.parameters())


def test_5x5_branch_reading_by_hand():
    base = audit.reading_cost(audit.PRINTED)[0]
    five = audit.reading_cost(audit.FIVE)[0]
    # (in channels, double-3x3 reduce, double-3x3 width) per module; the 5x5 branch drops
    # the middle conv (d*d*9 weights + BN 2d) and turns r*d*9 into r*d*25
    rows = [(192, 64, 96), (256, 64, 96), (320, 64, 96), (576, 96, 128), (576, 96, 128),
            (576, 128, 160), (608, 160, 192), (608, 192, 256), (1056, 160, 224),
            (1024, 192, 224)]
    delta = sum(r * d * 25 - (r * d * 9 + d * d * 9 + 2 * d) for _, r, d in rows)
    assert five == base + delta == 12_238_440


def test_claims_13_6m_unexplained_and_appendix_ratios():
    rows, findings = audit.claim_rows()
    first = rows[0]
    assert first["printed"] == "13.6M" and first["holds"] is False
    assert first["verdict"].startswith("unexplained")
    # every reading tried is outside 13.55-13.65M
    assert all(not 13.55e6 <= audit.reading_cost(k)[0] <= 13.65e6
               for k in audit.BN_INCEPTION_READINGS)
    sep = [r for r in rows if r["reading"].startswith("BN-Inception / GoogLeNet, separable")]
    compute = next(r for r in sep if r["unit"] == "ratio of MACs")
    params = next(r for r in sep if r["unit"] == "ratio of params")
    assert compute["computed"] == round(1_948_605_440 / 1_498_677_248, 4) and compute["holds"]
    assert params["computed"] == round(11_278_528 / 6_991_856, 4) and not params["holds"]
    nas = [r for r in rows if r["reading"] == audit.TF_SLIM]
    assert [r["holds"] for r in nas] == [True, True]
    assert "142,784" in nas[1]["verdict"]
    assert any("13.6" in f.message for f in findings)


def test_table_cli_prints_the_bn_inception_audit(capsys):
    rc = main(["table", "bn_inception", "--format", "json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    obj = json.loads(out)
    assert {"readings", "claims", "sources"} <= set(obj)
    tf = next(r for r in obj["readings"] if r["reading"] == audit.TF_SLIM)
    assert tf["MACs"] == 1_934_857_216
    assert any("Table 2" in s["where"] for s in obj["sources"])
    rc = main(["table", "bn_inception", "--stem", "separable"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err.strip().splitlines() == ["error: --stem applies to googlenet only"]


def test_bad_reading_options_are_usage_errors():
    from inception_cost.errors import UsageError
    for opts in ({"depths": "nope"}, {"branch": "7x7"}, {"aux": 3}, {"bias": "yes"}):
        with pytest.raises(UsageError):
            build("bn_inception", **opts)


def test_default_build_unchanged():
    rep = count(build("bn_inception"), (1, 3, 224, 224))
    assert (rep.total_params, rep.total_macs) == (11_285_224, 2_032_600_064)


def test_papers_never_import_report():
    """Data flows one way: papers compute, report renders (no import cycle)."""
    root = pathlib.Path(audit.__file__).parent
    offenders = []
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                mod = "." * node.level + (node.module or "")
                if mod.startswith("..report") or mod.startswith("inception_cost.report"):
                    offenders.append(f"{path.name}: {mod}")
            elif isinstance(node, ast.Import):
                offenders += [f"{path.name}: {a.name}" for a in node.names
                              if a.name.startswith("inception_cost.report")]
    assert offenders == []
