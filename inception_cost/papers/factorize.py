"""Factorized convolutions, built and counted: a k×k conv vs a stack of smaller
ones with the same receptive field (Rethinking §3, the VGG argument).

Every side is an ``nn.Sequential`` of C→C convolutions (stride 1, "same" padding,
no bias) counted at 1×C×G×G, so both sides produce the same output grid and
params / MACs compare per output position. Receptive fields are MEASURED: the
gradient of one centre output pixel with respect to the input, on a one-channel
copy of the same geometry with all-ones weights (a receptive field depends only on
kernel sizes, strides and dilations).

Units: params = weights; MACs = multiply-accumulates.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..counting import count
from ..errors import UsageError
from . import reference_data
from .audit import Finding, parse_printed
from .paper_result import PaperReport, Section, frame
from .sources import sources_section

Kernels = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Comparison:
    name: str
    single: Kernels
    stacked: Kernels
    claim: str | None = None   # key of the printed claim (reference data)


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("5×5 vs two 3×3", ((5, 5),), ((3, 3), (3, 3)), "two_3x3"),
    Comparison("3×3 vs 3×1 + 1×3", ((3, 3),), ((3, 1), (1, 3)), "asym_3"),
    Comparison("3×3 vs two 2×2", ((3, 3),), ((2, 2), (2, 2)), "two_2x2"),
    *(Comparison(f"{n}×{n} vs 1×{n} + {n}×1", ((n, n),), ((1, n), (n, 1)), "asym_n")
      for n in (3, 5, 7)),
    Comparison("7×7 vs three 3×3", ((7, 7),), ((3, 3),) * 3, "vgg"),
)


def conv_stack(kernels: Kernels, channels: int) -> nn.Sequential:
    """C→C convolutions, stride 1, 'same' padding (even kernels pad one more at the end)."""
    return nn.Sequential(*[nn.Conv2d(channels, channels, k, padding="same", bias=False)
                           for k in kernels])


def measure_receptive_field(kernels: Kernels) -> tuple[int, int]:
    """(height, width) of the input region that influences one output pixel,
    measured with a gradient on CPU."""
    reach = [sum(k[i] - 1 for k in kernels) for i in (0, 1)]
    size = [2 * r + 3 for r in reach]  # large enough that no padding clips the region
    net = conv_stack(kernels, 1).to("cpu")
    with torch.no_grad():
        for m in net:
            m.weight.fill_(1.0)
    x = torch.zeros(1, 1, *size, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        y = net(x)
    y[0, 0, size[0] // 2, size[1] // 2].backward()
    hit = x.grad[0, 0] != 0
    rows = torch.nonzero(hit.any(dim=1)).flatten()
    cols = torch.nonzero(hit.any(dim=0)).flatten()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def _side(kernels: Kernels, channels: int, grid: int) -> dict:
    with warnings.catch_warnings():  # even kernels with padding='same' pad asymmetrically
        warnings.simplefilter("ignore", UserWarning)
        with torch.device("meta"):  # a count: no weights allocated at any width
            net = conv_stack(kernels, channels)
        rep = count(net, (1, channels, grid, grid))
    return {"layers": " → ".join(f"{kh}×{kw}" for kh, kw in kernels),
            "params": rep.total_params, "macs": rep.total_macs,
            "rf": measure_receptive_field(kernels)}


def _rf(rf: tuple[int, int]) -> str:
    return f"{rf[0]}×{rf[1]}"


def factorize_report(channels: int = 64, grid: int = 17) -> PaperReport:
    """Each comparison with params, MACs, saving % and measured receptive fields."""
    if channels <= 0 or grid <= 0:
        raise UsageError(f"--channels and --grid must be positive (got {channels}, {grid})")
    claims = reference_data.rethinking()["factorization"]
    vgg = reference_data.cs231n_lecture9()["vgg16"]["stacked_3x3"]
    rows, findings = [], []
    for c in COMPARISONS:
        a, b = _side(c.single, channels, grid), _side(c.stacked, channels, grid)
        saving = 100.0 * (a["params"] - b["params"]) / a["params"]
        saving_macs = 100.0 * (a["macs"] - b["macs"]) / a["macs"]
        printed, verdict = "", ""
        if c.claim == "vgg":
            pa, pb = vgg["single_weights_per_c2"], vgg["stacked_weights_per_c2"]
            printed = f"{pa}·C² vs {pb}·C² weights, {vgg['receptive_field']}×" \
                      f"{vgg['receptive_field']} field"
            ok = (a["params"] == pa * channels ** 2 and b["params"] == pb * channels ** 2
                  and b["rf"] == (vgg["receptive_field"],) * 2)
            verdict = "holds" if ok else "does not hold"
        elif c.claim and "saving" in claims.get(c.claim, {}):
            p = parse_printed(claims[c.claim]["saving"].rstrip("%"))
            printed = claims[c.claim]["saving"]
            ok = p.covers(saving)
            verdict = "holds" if ok else "does not hold"
        rf_equal = a["rf"] == b["rf"]
        if not rf_equal:
            findings.append(Finding(c.name, "receptive_field",
                                    f"receptive fields differ: {_rf(a['rf'])} vs {_rf(b['rf'])}"))
        if verdict == "does not hold":
            findings.append(Finding(c.name, "claim", f"printed {printed}, computed "
                                                     f"{saving:.1f}%"))
        rows.append({
            "comparison": c.name, "single": a["layers"], "single params": a["params"],
            "single MACs": a["macs"], "stacked": b["layers"], "stacked params": b["params"],
            "stacked MACs": b["macs"],
            "weights / C² (single vs stacked)": f"{a['params'] / channels ** 2:g} vs "
                                               f"{b['params'] / channels ** 2:g}",
            "receptive field (measured)": f"{_rf(a['rf'])} vs {_rf(b['rf'])}",
            "same field": "yes" if rf_equal else "no",
            "saving % (params)": round(saving, 2), "saving % (MACs)": round(saving_macs, 2),
            "printed": printed, "verdict": verdict})
    # the cost ratio claim: one 5x5 vs one 3x3
    r = claims["ratio_5_3"]
    five, three = _side(((5, 5),), channels, grid), _side(((3, 3),), channels, grid)
    ratio = five["macs"] / three["macs"]
    ok = parse_printed(r["ratio"]).covers(ratio)
    if not ok:
        findings.append(Finding("5×5 vs 3×3", "claim", f"{r['text']}: computed {ratio:.3f}×"))
    claim_rows = [{"claim": r["text"], "printed": f"{r['ratio']}×",
                   "computed": round(ratio, 4), "unit": "ratio of MACs (same C, same grid)",
                   "verdict": "holds" if ok else "does not hold"}]
    title = (f"Factorized convolutions, C={channels} in and out, on a {grid}×{grid} grid "
             f"(stride 1, same padding, no bias)")
    notes = ["params = weights; MACs = multiply-accumulates; saving = 1 − stacked / single.",
             "Receptive field: measured as the input pixels whose gradient w.r.t. one centre "
             "output pixel is non-zero (one-channel copy, all-ones weights, CPU).",
             "Printed savings from Rethinking §3 (a printed '28%' covers 27.5–28.5%); the "
             "7×7 row is the lecture's VGG argument; 1×n + n×1 has no printed number "
             "(the paper: " + claims["asym_n"]["text"] + ")."]
    notes += [f"[{f.row}] {f.message}" for f in findings]
    return PaperReport(title, [
        Section("comparisons", "single conv vs factorized stack", frame(rows), notes),
        Section("claims", "cost ratio", frame(claim_rows), []),
        sources_section(reference_data.rethinking(), reference_data.cs231n_lecture9(),
                        keep=["2.78", "stacked"]),
    ], findings)
