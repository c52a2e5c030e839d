"""GoogLeNet's Table 1 rebuilt from the built model, beside the printed values,
with a computed audit.

Structural columns (patch size/stride, output size, depth, #1×1 ... pool proj) are
read off the count rows of the built model. params = weights of convolutions and
linear layers (bias shown separately); ops = MACs (multiply-accumulates, bias
excluded), the paper's "multiply-adds". Printed values come from
:mod:`inception_cost.papers.reference_data`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..counting import count
from ..errors import InceptionCostError, UsageError
from ..models.registry import build, get_variant
from . import reference_data
from .audit import (Finding, Printed, approx_verdict, detect_unit, dims, has_shape, hwc, in_unit,
                    kernel_text, out_channels, parse_hwc, parse_printed, pct, rows_under,
                    signed_in_unit, size_text, unit_label, weight_count, weight_rows)
from .paper_result import PaperReport, Section, frame
from .sources import sources_section

# Table 1's rows (paper order) -> top-level children that implement them.  Both the
# paper build's names and torchvision's are listed; LRN layers (in Figure 3, not in
# Table 1) are folded into the row they follow.
ROW_CHILDREN: list[tuple[str, ...]] = [
    ("conv1",),
    ("pool1", "maxpool1", "lrn1"),
    ("conv2_reduce", "conv2", "conv3", "lrn2"),
    ("pool2", "maxpool2"),
    ("inception3a",), ("inception3b",),
    ("pool3", "maxpool3"),
    ("inception4a",), ("inception4b",), ("inception4c",), ("inception4d",), ("inception4e",),
    ("pool4", "maxpool4"),
    ("inception5a",), ("inception5b",),
    ("avgpool",),
    ("dropout",),
    ("fc",),
    (),  # softmax: the built models return logits
]
CHANNELS = ["n1x1", "n3x3red", "n3x3", "n5x5red", "n5x5", "pool_proj"]
CHANNEL_HEADERS = {"n1x1": "#1×1", "n3x3red": "#3×3 red", "n3x3": "#3×3",
                   "n5x5red": "#5×5 red", "n5x5": "#5×5", "pool_proj": "pool proj"}
# branch -> the columns its convolutions fill, in order; and the kernel a column implies
BRANCH_COLUMNS = {"branch1": ["n1x1"], "branch2": ["n3x3red", "n3x3"],
                  "branch3": ["n5x5red", "n5x5"], "branch4": ["pool_proj"]}
COLUMN_KERNEL = {"n1x1": (1, 1), "n3x3red": (1, 1), "n3x3": (3, 3), "n5x5red": (1, 1),
                 "n5x5": (5, 5), "pool_proj": (1, 1)}
TABLE1_VARIANTS = ("googlenet", "googlenet_torchvision")


@dataclass
class ComputedRow:
    """One Table 1 row measured on the built model."""

    children: list[str]
    patch: str = ""
    output: str = ""
    output_carried: bool = False
    depth: int = 0
    channels: dict = field(default_factory=dict)
    kernels: dict = field(default_factory=dict)   # column -> kernel (h, w) of the conv filling it
    weights: int = 0
    bias: int = 0
    macs: int = 0
    pools: int = 0
    extra: list[str] = field(default_factory=list)


def _patch(rows: pd.DataFrame) -> str:
    """Kernel/stride of the conv or pool with the largest window in the group."""
    best, area = "", 0
    for _, r in rows.iterrows():
        if r["op"] == "convolution" or ("pool" in r["op"] and has_shape(r["kernel"])):
            k = dims(r["kernel"])
            if k and k[0] * k[1] > area:
                best, area = kernel_text(r["kernel"], r["stride"]), k[0] * k[1]
        elif (r["op"].startswith("adaptive") and has_shape(r["in_shape"])
              and dims(r["out_shape"])[-2:] == (1, 1)):
            h, w = dims(r["in_shape"])[-2:]
            if h * w > area:  # equivalent window of a global average pool
                best, area = f"{h}×{w}/1", h * w
    return best


def measure_row(layers: pd.DataFrame, children: tuple[str, ...], model=None) -> ComputedRow:
    """Read one row's columns off the count rows of ``children``."""
    present = [c for c in children if model is None or hasattr(model, c)]
    rows = rows_under(layers, present)
    row = ComputedRow(children=present)
    if rows.empty:
        return row
    wrows = weight_rows(rows)
    row.weights = weight_count(rows)
    row.bias = int(rows["params"].sum()) - row.weights
    row.macs = int(rows["macs"].sum())
    shaped = rows[rows["out_shape"].map(has_shape)]
    row.output = hwc(shaped.iloc[-1]["out_shape"]) if not shaped.empty else ""
    branches: dict[str, list] = {}
    for _, r in wrows.iterrows():
        parts = r["module"].split(".")
        if len(parts) > 2 and parts[1].startswith("branch"):
            branches.setdefault(parts[1], []).append(r)
    if branches:  # an inception module: depth = longest branch, channels per branch
        row.depth = max(len(v) for v in branches.values())
        for b, convs in branches.items():
            for col, r in zip(BRANCH_COLUMNS.get(b, []), convs):
                row.channels[col] = out_channels(r)
                row.kernels[col] = dims(r["kernel"])
    else:
        row.depth = len(wrows)
        row.patch = _patch(rows)
        convs = [r for _, r in wrows.iterrows() if r["op"] == "convolution"]
        for i, r in enumerate(convs):
            k = dims(r["kernel"])
            if k in ((3, 3), (5, 5)) and i > 0 and dims(convs[i - 1]["kernel"]) == (1, 1):
                n = k[0]
                row.channels[f"n{n}x{n}red"] = out_channels(convs[i - 1])
                row.channels[f"n{n}x{n}"] = out_channels(r)
                row.kernels[f"n{n}x{n}"] = k
    row.pools = int(sum(1 for m, op in zip(rows["module"], rows["op"])
                        if "pool" in op and "." not in m))
    folded = [c for c in present if c.startswith("lrn")]
    if folded:
        row.extra.append(f"includes {', '.join(folded)} (local response norm: in Figure 3, "
                         f"not in Table 1; 0 params, 0 MACs)")
    return row


def measure(variant: str, **options) -> tuple[list[ComputedRow], object, object]:
    """(rows in Table 1 order, model, CostReport) of a GoogLeNet build at 224x224."""
    model = build(variant, **options)
    rep = count(model, (1, 3, 224, 224), name=variant)
    rows = [measure_row(rep.layers, ch, model) for ch in ROW_CHILDREN]
    missing = [ch for ch, r in zip(ROW_CHILDREN, rows) if ch and not r.children]
    if missing:
        raise InceptionCostError(f"'{variant}' has no children named like Table 1's rows "
                                 f"({', '.join('/'.join(m) for m in missing[:3])} ...)")
    prev = ""
    for r in rows:
        if not r.output and prev:
            r.output, r.output_carried = prev, True
        prev = r.output or prev
    return rows, model, rep


# --------------------------------------------------------------------------- #
# audit
# --------------------------------------------------------------------------- #
def _printed(row: dict, key: str) -> Printed | None:
    return parse_printed(row[key]) if row.get(key) not in (None, "") else None


def _positions(printed_row: dict) -> int:
    h, w, _ = parse_hwc(printed_row["output"])
    return h * w


def _label(printed_row: dict, seen: dict) -> str:
    t = printed_row["type"]
    if printed_row.get("patch"):
        t = f"{t} {printed_row['patch']}"
    seen[t] = seen.get(t, 0) + 1
    return t if seen[t] == 1 else f"{t} ({seen[t]})"


def _structure_findings(label: str, printed: dict, comp: ComputedRow, model) -> list[Finding]:
    out = []
    checks = [("patch size/stride", printed.get("patch") or "", comp.patch),
              ("output size", printed.get("output") or "", comp.output),
              ("depth", printed.get("depth"), comp.depth)]
    for col in CHANNELS:
        checks.append((CHANNEL_HEADERS[col], printed.get(col), comp.channels.get(col)))
    for name, p, c in checks:
        if p in (None, "") and c in (None, ""):
            continue
        if name == "patch size/stride" and (not p or not c):
            continue
        if str(p) != str(c):
            out.append(Finding(label, "structure",
                               f"{name}: printed {p if p not in (None, '') else '—'}, "
                               f"built model {c if c not in (None, '') else '—'}"))
    for col, k in comp.kernels.items():
        if k and k != COLUMN_KERNEL[col]:
            out.append(Finding(label, "structure",
                               f"{CHANNEL_HEADERS[col]} column: the built model's conv is "
                               f"{size_text(k)}, not "
                               f"{size_text(COLUMN_KERNEL[col])}"))
    if printed["type"].startswith("dropout") and hasattr(model, "dropout"):
        p = getattr(model.dropout, "p", None)
        if p is not None and f"({round(p * 100)}%)" not in printed["type"]:
            out.append(Finding(label, "structure", f"dropout: printed {printed['type']}, "
                                                   f"built p={p}"))
    return out


def _value_findings(label: str, what: str, p: Printed, computed: int, unit, unit_name: str,
                    kind: str) -> list[Finding]:
    """computed vs printed within half a unit of the last digit, either base."""
    if p.covers(computed, unit.base):
        return []
    others = p.matching_bases(computed)
    dec = max(p.decimals, 1)
    if others:
        b = others[0]
        return [Finding(label, "other_unit",
                        f"{what}: {computed:,} {unit_name} = {in_unit(computed, b, p.suffix, dec)} "
                        f"only with {unit_label(p.suffix, b)} (column unit "
                        f"{unit_label(p.suffix, unit.base)}); within rounding of printed {p.text}")]
    delta = computed - p.value(unit.base)
    half = in_unit(p.step / 2 * unit.base, unit.base, p.suffix, p.decimals + 1)
    return [Finding(label, kind,
                    f"{what}: computed {computed:,} {unit_name} = "
                    f"{in_unit(computed, unit.base, p.suffix, dec)} "
                    f"({unit_label(p.suffix, unit.base)}) vs printed {p.text}: "
                    f"{signed_in_unit(delta, unit.base, p.suffix, dec)} "
                    f"({pct(computed, p.value(unit.base))}), beyond ±{half} rounding "
                    f"under every base")]


def _self_consistency(label: str, pp: Printed, po: Printed, positions: int, kunit, munit,
                      ) -> Finding | None:
    """Printed ops vs printed params × output positions (intervals overlap for some K)."""
    olo, ohi = po.interval(munit.base)
    for kb in [kunit.base, *kunit.other]:
        plo, phi = pp.interval(kb)
        if plo * positions <= ohi and phi * positions >= olo:
            return None
    prod = pp.value(kunit.base) * positions
    alt = "; ".join(f"{in_unit(pp.value(b) * positions, munit.base, po.suffix, 1)} with "
                    f"{unit_label(pp.suffix, b)}" for b in kunit.other)
    return Finding(label, "self_contradiction",
                   f"printed {pp.text} × {positions:,} output positions = "
                   f"{in_unit(prod, munit.base, po.suffix, 1)} "
                   f"({unit_label(pp.suffix, kunit.base)}; {alt}) but printed ops {po.text}")


@dataclass
class Table1Audit:
    labels: list[str]
    printed: list[dict]
    rows: list[ComputedRow]
    alt_rows: list[ComputedRow] | None
    stem: str | None
    alt_stem: str | None
    params_unit: object
    ops_unit: object
    findings: list[Finding]
    claims: list[dict]
    totals: dict
    alt_totals: dict | None


def _stem_options(variant: str, stem: str | None) -> tuple[dict, str | None, str | None]:
    opts = get_variant(variant).options
    if "stem" not in opts:
        if stem not in (None, "standard"):
            raise UsageError(f"'{variant}' has no --stem option")
        return {}, None, None
    stem = stem or "standard"
    if stem not in ("standard", "separable"):
        raise UsageError(f"--stem must be standard or separable (got '{stem}')")
    alt = "separable" if stem == "standard" else "standard"
    return {"stem": stem}, stem, alt


def _totals(rows: list[ComputedRow], rep) -> dict:
    return {"weights": sum(r.weights for r in rows), "bias": sum(r.bias for r in rows),
            "macs": sum(r.macs for r in rows), "depth": sum(r.depth for r in rows),
            "pools": sum(r.pools for r in rows), "all_params": rep.total_params,
            "all_macs": rep.total_macs}


def audit_table1(variant: str = "googlenet", stem: str | None = None,
                 compare_alexnet: bool = True) -> Table1Audit:
    """Measure the build(s) and compute every finding against the printed Table 1."""
    if variant not in TABLE1_VARIANTS:
        raise UsageError(f"GoogLeNet's Table 1 is reproduced for {', '.join(TABLE1_VARIANTS)} "
                         f"(got '{variant}')")
    data = reference_data.googlenet_table1()
    printed = data["rows"]
    if len(printed) != len(ROW_CHILDREN):
        raise InceptionCostError(f"reference Table 1 has {len(printed)} rows, expected "
                                 f"{len(ROW_CHILDREN)}")
    opts, stem, alt_stem = _stem_options(variant, stem)
    rows, model, rep = measure(variant, **opts)
    alt_rows = alt_rep = None
    if alt_stem:
        alt_rows, _, alt_rep = measure(variant, stem=alt_stem)
    seen: dict = {}
    labels = [_label(p, seen) for p in printed]
    findings: list[Finding] = []

    pp = [_printed(p, "params") for p in printed]
    po = [_printed(p, "ops") for p in printed]
    kunit = detect_unit([(p, r.weights) for p, r in zip(pp, rows) if p])
    munit = detect_unit([(p, r.macs) for p, r in zip(po, rows) if p])
    findings.append(Finding("(all)", "unit", kunit.describe("params column")))
    findings.append(Finding("(all)", "unit", munit.describe("ops column")))

    for i, (label, prow, comp) in enumerate(zip(labels, printed, rows)):
        findings += _structure_findings(label, prow, comp, model)
        pm = om = False
        if pp[i]:
            f = _value_findings(label, "params", pp[i], comp.weights, kunit, "weights",
                                "params_mismatch")
            findings += f
            pm = any(x.kind == "params_mismatch" for x in f)
        if po[i]:
            f = _value_findings(label, "ops", po[i], comp.macs, munit, "MACs", "ops_mismatch")
            findings += f
            om = any(x.kind == "ops_mismatch" for x in f)
        if pp[i] and po[i]:
            sc = _self_consistency(label, pp[i], po[i], _positions(prow), kunit, munit)
            if sc:
                findings.append(sc)
            elif pm and om:
                findings.append(Finding(label, "derived_from_params",
                                        f"printed params and ops agree with each other "
                                        f"({pp[i].text} × {_positions(prow):,} positions ≈ "
                                        f"{po[i].text}) while both differ from the built "
                                        f"row: the printed ops follow the printed params"))
    # the conv1 row: which stem do the printed numbers describe?
    if alt_rows is not None and pp[0] and po[0]:
        for name, r in ((stem, rows[0]), (alt_stem, alt_rows[0])):
            kb, mb = pp[0].matching_bases(r.weights), po[0].matching_bases(r.macs)
            if kb and mb:
                findings.append(Finding(labels[0], "stem_match",
                                        f"printed {pp[0].text} / {po[0].text} is what "
                                        f"stem={name} gives: {r.weights:,} weights = "
                                        f"{in_unit(r.weights, kb[0], 'K', 1)} "
                                        f"({unit_label('K', kb[0])}), {r.macs:,} MACs = "
                                        f"{in_unit(r.macs, mb[0], 'M', 0)}"))
    totals = _totals(rows, rep)
    alt_totals = _totals(alt_rows, alt_rep) if alt_rows is not None else None
    claims = _claims(data, totals, alt_totals, stem, alt_stem, pp, po, munit, compare_alexnet,
                     variant)
    for c in claims:
        if not c["holds"]:
            findings.append(Finding("claims", "claim", f"{c['claim']}: {c['verdict']}"))
    return Table1Audit(labels, printed, rows, alt_rows, stem, alt_stem, kunit, munit, findings,
                       claims, totals, alt_totals)


def _claims(data, totals, alt_totals, stem, alt_stem, pp, po, munit, compare_alexnet,
            variant) -> list[dict]:
    cl = data["claims"]
    out = []
    ops_claim = parse_printed(cl["total_ops"]["value"])
    for name, t in ((stem, totals), (alt_stem, alt_totals)):
        if t is None:
            continue
        ok = ops_claim.covers(t["macs"], 10**9)
        who = f"{variant}" + (f" stem={name}" if name else "")
        out.append({"claim": cl["total_ops"]["text"], "printed": ops_claim.text,
                    "computed": t["macs"], "unit": "MACs", "model": who, "holds": ok,
                    "verdict": ("holds: " if ok else "does not hold: ")
                    + f"{t['macs'] / 1e9:.3f} G MACs vs {ops_claim.text} ± 0.05G"})
    col_sum = sum(p.value(munit.base) for p in po if p)
    ok = ops_claim.covers(col_sum, 10**9)
    out.append({"claim": "sum of the printed ops column", "printed": ops_claim.text,
                "computed": int(col_sum), "unit": "MACs (printed)", "model": "(paper)",
                "holds": ok, "verdict": ("consistent with " if ok else "inconsistent with ")
                + f"the text's {ops_claim.text}: Σ = {float(col_sum) / 1e6:,.0f}M"})
    layers = cl["layers"]
    for key, value, what in (("weight_layers", totals["depth"], "weight layers (Σ depth)"),
                             ("with_pooling", totals["depth"] + totals["pools"],
                              "weight layers + top-level pools")):
        ok = value == layers[key]
        out.append({"claim": layers["text"], "printed": str(layers[key]), "computed": value,
                    "unit": what, "model": variant, "holds": ok,
                    "verdict": "holds" if ok else f"does not hold: {value}"})
    if compare_alexnet:
        try:
            alex = count(build("alexnet"), (1, 3, 224, 224)).total_params
        except UsageError:
            alex = None
        if alex:
            ratio = alex / totals["all_params"]
            claimed = float(parse_printed(cl["fewer_params_than_alexnet"]["ratio"]).value())
            ok, text = approx_verdict(ratio, claimed)
            out.append({"claim": cl["fewer_params_than_alexnet"]["text"],
                        "printed": f"{claimed:g}×", "computed": round(ratio, 2),
                        "unit": "ratio of params",
                        "model": f"alexnet {alex:,} / {variant} {totals['all_params']:,}",
                        "holds": ok, "verdict": f"{ratio:.1f}×: {text}"})
    return out


# --------------------------------------------------------------------------- #
# presentation
# --------------------------------------------------------------------------- #
SHORT = {"params_mismatch": "params≠", "ops_mismatch": "ops≠",
         "self_contradiction": "self-contradicts", "structure": "structure≠",
         "stem_match": "=separable stem", "other_unit": "other K",
         "derived_from_params": "ops∝printed params"}


def _row_dict(label, printed, comp: ComputedRow, kunit, munit, pp, po) -> dict:
    d = {"type": label, "patch/stride": comp.patch,
         "output (H×W×C)": comp.output, "depth": comp.depth}
    for col in CHANNELS:
        d[CHANNEL_HEADERS[col]] = comp.channels.get(col)
    d["params (weights)"] = comp.weights
    d["bias"] = comp.bias
    d["printed params"] = printed.get("params") or ""
    d["Δ params"] = (int(round(comp.weights - pp.value(kunit.base))) if pp else None)
    d["MACs"] = comp.macs
    d["printed ops"] = printed.get("ops") or ""
    d["Δ MACs"] = int(round(comp.macs - po.value(munit.base))) if po else None
    return d


def table1_report(variant: str = "googlenet", stem: str | None = None,
                  compare_alexnet: bool = True) -> PaperReport:
    """Table 1 as sections: table (rows + total), claims; findings attached."""
    a = audit_table1(variant, stem, compare_alexnet)
    recs = []
    for i, (label, prow, comp) in enumerate(zip(a.labels, a.printed, a.rows)):
        pp, po = _printed(prow, "params"), _printed(prow, "ops")
        d = _row_dict(prow["type"], prow, comp, a.params_unit, a.ops_unit, pp, po)
        fs = [f for f in a.findings if f.row == label]
        d["audit"] = "; ".join(f.message for f in fs)
        d["audit tags"] = ", ".join(dict.fromkeys(SHORT.get(f.kind, f.kind) for f in fs))
        recs.append(d)
        if i == 0 and a.alt_rows is not None:
            alt = a.alt_rows[0]
            d2 = _row_dict(f"{prow['type']} (stem={a.alt_stem})", prow, alt, a.params_unit,
                           a.ops_unit, pp, po)
            kb, mb = pp.matching_bases(alt.weights), po.matching_bases(alt.macs)
            note = (f"stem={a.alt_stem}: matches printed {pp.text} "
                    f"({unit_label('K', kb[0])}) / {po.text}" if kb and mb else
                    f"stem={a.alt_stem}: does not match printed {pp.text} / {po.text}")
            d2["audit"], d2["audit tags"] = note, ("matches printed" if kb and mb else "≠ printed")
            recs.append(d2)
    t = a.totals
    total_ops = reference_data.googlenet_table1()["claims"]["total_ops"]["value"]
    tot = {"type": "total (Table 1 rows)", "depth": t["depth"], "params (weights)": t["weights"],
           "bias": t["bias"], "MACs": t["macs"], "printed ops": total_ops,
           "Δ MACs": int(round(t["macs"] - parse_printed(total_ops).value(10**9)))}
    tot["audit"] = "; ".join(f.message for f in a.findings if f.row == "(all)")
    tot["audit tags"] = "units: " + ", ".join(unit_label(u.suffix, u.base)
                                          for u in (a.params_unit, a.ops_unit))
    recs.append(tot)
    df = frame(recs)
    notes = _notes(a, variant)
    claims = frame(a.claims)
    title = (f"GoogLeNet Table 1 — {variant}" + (f" (stem={a.stem})" if a.stem else "")
             + " @ 224×224×3: computed from the built model vs printed")
    return PaperReport(title, [
        Section("table", "rows (params = weights; MACs = multiply-adds, bias excluded)",
                df, notes, hide_in_text=["audit"], terminal_view="table1", terminal_data=(a, recs)),
        Section("claims", "claims in the text, checked against the built model",
                claims, [], terminal_view="table1_claims", terminal_data=a.claims),
        sources_section(reference_data.googlenet_table1()),
    ], a.findings)


def _notes(a: Table1Audit, variant: str) -> list[str]:
    notes = [
        "Sizes are H×W×C as the paper prints them. params = conv/linear weights (bias "
        "separate); MACs = multiply-accumulates, bias excluded (the paper's ops).",
        "Tolerance: a printed value covers half a unit of its last printed digit (2.7K: "
        "±0.05K), under either base of its suffix (K = 1000 or 1024; M = 10^6 or 2^20).",
        a.params_unit.describe("params column") + ".",
        a.ops_unit.describe("ops column") + ".",
        "Δ columns: computed − printed × detected base, rounded to an integer.",
    ]
    for r, label in zip(a.rows, a.labels):
        for e in r.extra:
            notes.append(f"[{label}] {e}")
        if r.output_carried and r.children:
            notes.append(f"[{label}] no op runs in eval mode; output carried from the "
                         f"previous row")
        if not r.children:
            notes.append(f"[{label}] not part of the built model (it returns logits); "
                         f"0 params, 0 MACs")
    for f in a.findings:
        if f.row not in ("(all)", "claims"):
            notes.append(f"[{f.row}] {f.kind}: {f.message}")
    if a.totals["all_params"] != a.totals["weights"] + a.totals["bias"]:
        notes.append(f"model params outside Table 1's rows (e.g. auxiliary heads): "
                     f"{a.totals['all_params'] - a.totals['weights'] - a.totals['bias']:,}")
    return notes
