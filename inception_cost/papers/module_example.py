"""Naive vs reduced Inception module (CS231n lecture 9's example by default) and a
GoogLeNet review's 5×5 bottleneck example, built and counted.

Units: params = weights (bias separate), MACs = multiply-accumulates (bias
excluded; the lecture's "ops"). Sizes print as H×W×C; options take C×H×W.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ..counting import count
from ..models.registry import build
from . import reference_data
from .audit import (Finding, approx_verdict, dims, explain_gap, has_shape, hwc, in_unit,
                    parse_printed, signed_in_unit, size_text, unit_label, weight_count)
from .paper_result import PaperReport, Section, frame
from .sources import sources_section


@dataclass(frozen=True)
class ModuleConfig:
    """Input (C, H, W) and branch widths shared by the naive and reduced modules."""

    in_channels: int = 256
    height: int = 28
    width: int = 28
    n1x1: int = 128
    n3x3red: int = 64
    n3x3: int = 192
    n5x5red: int = 64
    n5x5: int = 96
    pool_proj: int = 64

    @classmethod
    def lecture(cls) -> "ModuleConfig":
        return cls(**reference_data.cs231n_lecture9()["inception_module"]["config"])

    def naive_options(self) -> dict:
        return dict(in_channels=self.in_channels, n1x1=self.n1x1, n3x3=self.n3x3, n5x5=self.n5x5)

    def reduced_options(self) -> dict:
        return dict(in_channels=self.in_channels, n1x1=self.n1x1, n3x3red=self.n3x3red,
                    n3x3=self.n3x3, n5x5red=self.n5x5red, n5x5=self.n5x5,
                    pool_proj=self.pool_proj)

    @property
    def input_size(self) -> tuple[int, int, int]:
        return self.in_channels, self.height, self.width


def _layer(r) -> tuple[str, str | None, int | None, int]:
    """(lecture-style label, term 'H×W×Cout×kh×kw×Cin', input depth, MACs) of a count row."""
    if r["op"] == "convolution":
        cout, cin, kh, kw = dims(r["weight_shape"])
        _, _, h, w = dims(r["out_shape"])
        return f"{kh}×{kw} conv, {cout}", f"{h}×{w}×{cout}×{kh}×{kw}×{cin}", cin, int(r["macs"])
    k = size_text(r["kernel"])
    return f"{k} pool".strip(), None, None, int(r["macs"])


@dataclass
class ModuleCount:
    kind: str
    branches: list[dict]
    terms: list[tuple[str, str, int, int]]   # (label, term, input depth, MACs)
    output: str
    weights: int
    bias: int
    macs: int


def count_module(kind: str, cfg: ModuleConfig) -> ModuleCount:
    """Build ``inception_<kind>`` for cfg and count it at 1×C×H×W."""
    opts = cfg.naive_options() if kind == "naive" else cfg.reduced_options()
    rep = count(build(f"inception_{kind}", **opts), (1, *cfg.input_size), name=kind)
    layers = rep.layers
    branches, terms = [], []
    names = list(dict.fromkeys(m.split(".")[0] for m in layers["module"] if m))
    for b in names:
        sub = layers[layers["module"].map(lambda m: m.split(".")[0] == b)]
        parts = [r for _, r in sub.iterrows()
                 if r["op"] == "convolution" or "pool" in r["op"]]
        described = [_layer(r) for r in parts]
        terms += [(lab, t, cin, m) for lab, t, cin, m in described if t]
        shaped = sub[sub["out_shape"].map(has_shape)]
        w = weight_count(sub)
        branches.append({"module": kind, "branch": b,
                         "layers": " → ".join(d[0] for d in described),
                         "terms (H×W×Cout×k×k×Cin)": " + ".join(d[1] for d in described if d[1]),
                         "output (H×W×C)": hwc(shaped.iloc[-1]["out_shape"]),
                         "params (weights)": w, "bias": int(sub["params"].sum()) - w,
                         "MACs": int(sub["macs"].sum())})
    cat = layers[layers["op"] == "cat"]
    out = hwc(cat.iloc[-1]["out_shape"]) if not cat.empty else ""
    w = weight_count(layers)
    return ModuleCount(kind, branches, terms, out, w, rep.total_params - w, rep.total_macs)


def audit_total(kind: str, mc: ModuleCount, printed: dict, depths: list[int]) -> list[Finding]:
    """Printed total vs computed; explain a gap by a listed term (counted twice or
    omitted) or by a term computed with a different input depth."""
    row = f"{kind} total"
    out = []
    if printed["output"] != mc.output:
        out.append(Finding(row, "output_mismatch",
                           f"output: printed {printed['output']}, built {mc.output}"))
    want = sorted(t["term"] for t in printed["terms"] if t.get("term"))
    got = sorted(t for _, t, _, _ in mc.terms)
    if want != got:
        out.append(Finding(row, "term_mismatch", f"terms: printed {', '.join(want)}; "
                                                 f"built {', '.join(got)}"))
    p = parse_printed(printed["total_ops"])
    base = p.bases[0]
    if p.covers(mc.macs, base):
        out.append(Finding(row, "total_match",
                           f"computed {mc.macs:,} MACs = {in_unit(mc.macs, base, p.suffix, 1)} "
                           f"matches printed {p.text} ({unit_label(p.suffix, base)})"))
        return out
    lo, hi = (v - mc.macs for v in p.interval(base))
    cands = [(f"[{lab}] {t} = {m:,}, counted twice", m) for lab, t, _, m in mc.terms]
    cands += [(f"[{lab}] {t} = {m:,}, omitted", -m) for lab, t, _, m in mc.terms]
    for lab, t, cin, m in mc.terms:
        for d in sorted(set(depths) - {cin}):
            alt = m // cin * d
            cands.append((f"[{lab}] computed with input depth {d} instead of {cin} "
                          f"({t.rsplit('×', 1)[0]}×{d} = {alt:,})", alt - m))
    hits = explain_gap(lo, hi, cands)
    gap = p.value(base) - mc.macs
    msg = (f"computed {mc.macs:,} MACs = {in_unit(mc.macs, base, p.suffix, 1)} vs printed "
           f"{p.text}: gap {signed_in_unit(gap, base, p.suffix, 1)} "
           f"({in_unit(lo, base, p.suffix, 2)} to {in_unit(hi, base, p.suffix, 2)} "
           f"after rounding)")
    if hits:
        msg += "; the gap equals " + " or ".join(h[0] for h in hits)
    else:
        msg += "; no single listed term (or term with another input depth) explains it"
    out.append(Finding(row, "total_gap", msg))
    return out


def module_report(cfg: ModuleConfig | None = None) -> PaperReport:
    """Both modules per branch, their totals beside the lecture's, and the ratio."""
    lecture = ModuleConfig.lecture()
    cfg = cfg or lecture
    ref = reference_data.cs231n_lecture9()["inception_module"]
    is_lecture = cfg == lecture
    counts = {k: count_module(k, cfg) for k in ("naive", "reduced")}
    depths = sorted({cfg.in_channels, cfg.n3x3red, cfg.n5x5red})
    rows, totals, findings = [], [], []
    for kind, mc in counts.items():
        rows += mc.branches
        f = audit_total(kind, mc, ref[kind], depths) if is_lecture else []
        findings += f
        totals.append({"module": kind, "output (H×W×C)": mc.output,
                       "printed output": ref[kind]["output"] if is_lecture else "",
                       "params (weights)": mc.weights, "bias": mc.bias, "MACs": mc.macs,
                       "printed ops": ref[kind]["total_ops"] if is_lecture else "",
                       "audit": "; ".join(x.message for x in f)})
    n, r = counts["naive"], counts["reduced"]
    ratio = {"module": "reduced / naive", "output (H×W×C)": "", "printed output": "",
             "params (weights)": round(r.weights / n.weights, 4),
             "bias": None, "MACs": round(r.macs / n.macs, 4), "printed ops": "", "audit": ""}
    if is_lecture:
        pr = parse_printed(ref["reduced"]["total_ops"]).value() / \
            parse_printed(ref["naive"]["total_ops"]).value()
        ratio["printed ops"] = f"{float(pr):.4f}"
        ratio["audit"] = (f"printed totals give {float(pr):.3f}; computed {r.macs / n.macs:.3f}")
    totals.append(ratio)
    c, h, w = cfg.input_size
    title = (f"Inception module, naive vs reduced @ input {h}×{w}×{c} (H×W×C)"
             + (" — CS231n lecture 9 example" if is_lecture else ""))
    notes = ["MACs = multiply-accumulates (bias excluded; the lecture's ops); params = "
             "weights, bias separate. The max pool has no MACs."]
    if not is_lecture:
        notes.append("The lecture prints totals for its configuration only (input "
                     f"{lecture.height}×{lecture.width}×{lecture.in_channels}, widths "
                     f"{lecture.n1x1}/{lecture.n3x3red}/{lecture.n3x3}/{lecture.n5x5red}/"
                     f"{lecture.n5x5}/{lecture.pool_proj}); no printed column here.")
    notes += [f"[{f.row}] {f.message}" for f in findings]
    return PaperReport(title, [
        Section("branches", "per branch", frame(rows), []),
        Section("totals", "totals (printed = the lecture's)", frame(totals), notes,
                hide_in_text=["audit"]),
        sources_section(reference_data.cs231n_lecture9(), keep=["naive", "bottlenecks"]),
    ], findings)


# --------------------------------------------------------------------------- #
# the review's 5x5 example
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class BottleneckConfig:
    in_channels: int = 128
    height: int = 28
    width: int = 28
    reduce: int = 32
    out: int = 64
    kernel: int = 5

    @classmethod
    def review(cls) -> "BottleneckConfig":
        return cls(**reference_data.googlenet_review()["config"])


def _stack(cfg: BottleneckConfig, reduced: bool) -> nn.Module:
    k, p = cfg.kernel, cfg.kernel // 2
    if not reduced:
        return nn.Sequential(nn.Conv2d(cfg.in_channels, cfg.out, k, padding=p, bias=False))
    return nn.Sequential(nn.Conv2d(cfg.in_channels, cfg.reduce, 1, bias=False),
                         nn.Conv2d(cfg.reduce, cfg.out, k, padding=p, bias=False))


def bottleneck_report(cfg: BottleneckConfig | None = None) -> PaperReport:
    """k×k conv directly vs after a 1×1 reduction (no bias), beside the review's numbers."""
    review = BottleneckConfig.review()
    cfg = cfg or review
    is_review = cfg == review
    ref = reference_data.googlenet_review()
    size = (1, cfg.in_channels, cfg.height, cfg.width)
    direct = count(_stack(cfg, False), size, device="meta").layers
    reduced = count(_stack(cfg, True), size, device="meta").layers
    findings, rows = [], []
    for key, r in (("direct", direct.iloc[0]), ("reduce", reduced.iloc[0]),
                   ("after_reduce", reduced.iloc[1])):
        lab, term, _, macs = _layer(r)
        printed = ref[key]["ops"] if is_review else ""
        ok = parse_printed(printed).covers(macs) if printed else None
        if ok is False:
            findings.append(Finding(key, "ops_mismatch", f"{lab}: computed {macs:,} MACs vs "
                                                         f"printed {printed}"))
        rows.append({"path": "direct" if key == "direct" else "with 1×1 reduction",
                     "layer": lab, "term (H×W×Cout×k×k×Cin)": term,
                     "output (H×W×C)": hwc(r["out_shape"]),
                     "params (weights)": weight_count(r.to_frame().T), "MACs": macs,
                     "printed ops": printed,
                     "match": "" if ok is None else "yes" if ok else "no"})
    total = int(reduced["macs"].sum())
    rows.append({"path": "with 1×1 reduction", "layer": "total",
                 "term (H×W×Cout×k×k×Cin)": " + ".join(f"{x:,}" for x in reduced["macs"]
                                                       if x),
                 "output (H×W×C)": hwc(reduced.iloc[-1]["out_shape"]),
                 "params (weights)": weight_count(reduced), "MACs": total,
                 "printed ops": (f"{ref['reduce']['ops']} + {ref['after_reduce']['ops']}"
                                 if is_review else ""), "match": ""})
    ratio = total / int(direct["macs"].sum())
    verdict = ""
    if is_review:
        claimed = float(parse_printed(ref["ratio"]["value"]).value())
        ok, verdict = approx_verdict(ratio, claimed)
        if not ok:
            findings.append(Finding("ratio", "claim", f"{ref['ratio']['text']}: {verdict}"))
        verdict = f"{ratio:.3f}: {verdict}"
    rows.append({"path": "reduced / direct", "layer": "ratio", "term (H×W×Cout×k×k×Cin)": "",
                 "output (H×W×C)": "", "params (weights)": None, "MACs": round(ratio, 4),
                 "printed ops": f"{ref['ratio']['value']} ({ref['ratio']['text']})" if is_review else "",
                 "match": verdict})
    title = (f"{cfg.kernel}×{cfg.kernel} conv to {cfg.out} on {cfg.height}×{cfg.width}×"
             f"{cfg.in_channels}, direct vs after a 1×1 reduction to {cfg.reduce}"
             + (" — the GoogLeNet review's example" if is_review else ""))
    notes = ["MACs = multiply-accumulates; convolutions built without bias (weights only)."]
    return PaperReport(title, [Section("example", "", frame(rows), notes),
                               sources_section(reference_data.googlenet_review())], findings)

