"""Case-study figures of CS231n lecture 9, computed from built models: AlexNet's
first convolution, VGG16's parameter total and its forward activation memory.

Units: params (elements; weights and bias separate), MACs (multiply-accumulates),
activations (elements written by each op's output; in-place ops count 0), bytes
(fp32 = 4 bytes per element).
"""
from __future__ import annotations

import pandas as pd
import torch.nn as nn

from ..counting import count
from ..models.registry import build
from . import reference_data
from .audit import Finding, dims, hwc, in_unit, parse_hwc, parse_printed, pct, weight_count
from .paper_result import PaperReport, Section, frame
from .sources import sources_section

FP32_BYTES = 4


def lecture_conv1() -> nn.Conv2d:
    """The lecture's (and the AlexNet paper's) conv1: 96 filters, 11×11, stride 4."""
    ref = reference_data.cs231n_lecture9()["alexnet_conv1"]
    k, s = ref["kernel"], ref["stride"]
    c = parse_hwc(ref["input"])[2]
    return nn.Conv2d(c, ref["filters"], k, stride=s)


def _conv_row(name: str, r) -> dict:
    cout, cin, kh, kw = dims(r["weight_shape"])
    w = cout * cin * kh * kw
    return {"layer": name, "filters": cout,
            "kernel/stride": f"{kh}×{kw}/{dims(r['stride'])[0]}",
            "padding": dims(r["padding"])[0], "input (H×W×C)": hwc(r["in_shape"]),
            "output (H×W×C)": hwc(r["out_shape"]), "weights": w,
            "bias": int(r["params"]) - w, "MACs": int(r["macs"])}


def alexnet_rows() -> tuple[list[dict], list[Finding]]:
    ref = reference_data.cs231n_lecture9()["alexnet_conv1"]
    h, w, c = parse_hwc(ref["input"])
    own = count(lecture_conv1(), (1, c, h, w)).layers.iloc[0]
    rows, findings = [], []
    lec = _conv_row("conv1 as in the lecture (standalone nn.Conv2d)", own)
    p = parse_printed(ref["params"])
    p_round = parse_printed(ref["params_rounded"])
    notes = []
    for what, ok, text in (
            ("weights", p.covers(lec["weights"]),
             f"weights {lec['weights']:,} vs printed {p.text}"),
            ("rounded", p_round.covers(lec["weights"], 1000),
             f"{in_unit(lec['weights'], 1000, 'K', 1)} vs the lecture's {p_round.text}"),
            ("output", lec["output (H×W×C)"] == ref["output"],
             f"output {lec['output (H×W×C)']} vs printed {ref['output']}")):
        notes.append(("✓ " if ok else "✗ ") + text)
        if not ok:
            findings.append(Finding("alexnet conv1", f"{what}_mismatch", text))
    lec.update({"printed": f"{p.text} weights ({p_round.text}), {ref['output']}",
                "audit": "; ".join(notes)})
    rows.append(lec)
    tv = count(build("alexnet"), (1, c, h, w)).layers
    first = tv[tv["op"] == "convolution"].iloc[0]
    zoo = _conv_row("conv1 of build('alexnet') (torchvision layout)", first)
    diff = []
    if zoo["filters"] != lec["filters"]:
        diff.append(f"{zoo['filters']} filters, not {lec['filters']}")
    if zoo["padding"] != lec["padding"]:
        diff.append(f"padding {zoo['padding']}, not {lec['padding']}")
    if zoo["output (H×W×C)"] != lec["output (H×W×C)"]:
        diff.append(f"output {zoo['output (H×W×C)']} at {h}×{w}")
    zoo.update({"printed": "", "audit": ("differs from the lecture's conv1: " + ", ".join(diff))
                if diff else "same as the lecture's conv1"})
    rows.append(zoo)
    return rows, findings


def vgg16_memory(input_size=(3, 224, 224)) -> dict:
    """Forward activation elements of VGG16 per image, by op kind, plus the input."""
    layers = count(build("vgg16"), (1, *input_size)).layers
    by_op = layers.groupby("op", sort=False)["activations"].sum()
    same = [dims(a) == dims(b) for a, b in zip(layers["in_shape"], layers["out_shape"])]
    identity = layers[layers["op"].str.startswith("adaptive") & pd.Series(same, index=layers.index)]
    inp = 1
    for d in input_size:
        inp *= d
    total = int(layers["activations"].sum()) + inp
    return {"input": inp, "by_op": {k: int(v) for k, v in by_op.items()},
            "identity_pools": int(identity["activations"].sum()),
            "total": total, "params": int(layers["params"].sum()),
            "weights": weight_count(layers)}


def vgg16_rows() -> tuple[list[dict], list[Finding], dict]:
    ref = reference_data.cs231n_lecture9()["vgg16"]
    mem = vgg16_memory()
    rows, findings = [], []
    pp = parse_printed(ref["params"]["value"])
    ok = pp.covers(mem["params"])
    rows.append({"figure": "VGG16 total params", "printed": ref["params"]["text"],
                 "computed": mem["params"], "unit": "params (weights + bias)",
                 "verdict": ("✓ within rounding of " if ok else "✗ outside ") + pp.text})
    if not ok:
        findings.append(Finding("vgg16 params", "params_mismatch",
                                f"{mem['params']:,} vs printed {pp.text}"))
    pe = parse_printed(ref["memory"]["elements"])
    pb = parse_printed(ref["memory"]["bytes"])
    lecture_like = mem["total"] - mem["identity_pools"]
    for label, n in (("VGG16 forward activations per image (every op output + input)",
                      mem["total"]),
                     ("  without the identity adaptive pool (the lecture's layer list)",
                      lecture_like)):
        ok = pe.covers(n)
        rows.append({"figure": label, "printed": pe.text, "computed": n,
                     "unit": "elements",
                     "verdict": ("✓ within rounding of " if ok else "✗ ")
                     + f"{pe.text}: {in_unit(n, 10**6, 'M', 2)} ({pct(n, pe.value())})"})
        if not ok:
            findings.append(Finding(label.strip(), "memory_mismatch",
                                    f"{n:,} elements = {in_unit(n, 10**6, 'M', 2)} vs printed "
                                    f"{pe.text} ({pct(n, pe.value())})"))
    nbytes = lecture_like * FP32_BYTES
    ok = pb.covers(nbytes)
    rows.append({"figure": "  × 4 bytes (fp32)", "printed": f"≈ {pb.text}B",
                 "computed": nbytes, "unit": "bytes",
                 "verdict": ("✓ " if ok else "✗ ") + f"{nbytes / 1e6:.1f} MB "
                 f"({nbytes / 2**20:.1f} MiB) vs ≈ {pb.text}B"})
    if not ok:
        findings.append(Finding("vgg16 bytes", "memory_mismatch",
                                f"{nbytes:,} bytes vs printed ≈ {pb.text}B"))
    consistent = pb.covers(pe.value() * ref["memory"]["bytes_per_element"])
    rows.append({"figure": "printed elements × 4 vs printed bytes", "printed":
                 ref["memory"]["text"], "computed": int(pe.value() * 4), "unit": "bytes",
                 "verdict": "consistent" if consistent else "inconsistent"})
    return rows, findings, mem


def cases_report() -> PaperReport:
    arows, af = alexnet_rows()
    vrows, vf, mem = vgg16_rows()
    breakdown = [{"what": "input image", "elements": mem["input"]}]
    breakdown += [{"what": f"{op} outputs" + (" (in place: 0)" if op.endswith("_") else ""),
                   "elements": n} for op, n in mem["by_op"].items()]
    breakdown.append({"what": "total", "elements": mem["total"]})
    notes = ["Counted: every op's output tensor once (a conv's in-place ReLU adds 0), the "
             "pools, the linear layers, and the 224×224×3 input image as the lecture does; "
             "dropout runs no op in eval.",
             f"torchvision's VGG16 has an AdaptiveAvgPool2d(7) that is an identity at 224 "
             f"({mem['identity_pools']:,} elements); the lecture's layer list has no such layer."]
    notes += [f"[{f.row}] {f.message}" for f in vf]
    from .vgg_memory import vgg16_memory_sections
    mem_sections, mf = vgg16_memory_sections()
    return PaperReport("CS231n lecture 9 case studies, computed from built models", [
        Section("alexnet", "AlexNet conv1 @ 227×227×3 (weights, bias, MACs)", frame(arows),
                [f"[{f.row}] {f.message}" for f in af]),
        Section("vgg16", "VGG16 @ 224×224×3", frame(vrows), notes),
        Section("vgg16_activations", "VGG16 activation elements by op", frame(breakdown), []),
        *mem_sections,
        sources_section(reference_data.cs231n_lecture9(), keep=["AlexNet", "VGG16"]),
    ], af + vf + mf)
