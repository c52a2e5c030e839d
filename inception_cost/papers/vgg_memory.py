"""CS231n lecture 9 on VGG16 memory, audited with storage lifetimes.

The lecture sums every layer's output (24M activations x 4 bytes ~ 96 MB per image, "only
forward! ~x2 for bwd") and says "most memory is in the early layers, most parameters in the
late ones".  Here: that sum (each storage once, nothing freed), the true inference peak by
liveness, and the training-step peak (Adam, steady state), per image and at batch 64; and
the early/late claim layer by layer.  Units: bytes (fp32), params (elements).
"""
from __future__ import annotations

from ..memory_analysis.api import memory
from ..models.registry import build
from .audit import Finding
from .paper_result import Section, frame

BATCHES = (1, 64)
MB = 10 ** 6
EARLY_STAGES = 2  # "early": VGG16's first two stages, conv1_1 .. pool2 (4 of 16 weight layers)


def vgg16_memory_rows() -> tuple[list[dict], dict]:
    """Per batch: sum of forward allocations, inference peak, training-step peak (bytes)."""
    model = build("vgg16")
    rows, reports = [], {}
    for n in BATCHES:
        inf = memory(model, (3, 224, 224), batch=n, name="vgg16")
        train = memory(model, (3, 224, 224), batch=n, training=True, optimizer="adam",
                       name="vgg16")
        reports[n] = (inf, train)
        static = inf.parameter_bytes
        for what, value, how in (
                ("sum of activations (every forward output once, input included)",
                 inf.activation_sum_bytes, "the lecture's method: nothing is ever freed"),
                ("inference peak, activations only (peak - parameters)", inf.peak_bytes - static,
                 f"at {inf.peak_op} in {inf.peak_module}"),
                ("inference peak, total", inf.peak_bytes, "parameters included"),
                ("training-step peak, total", train.peak_bytes,
                 f"Adam; at {train.peak_op} in {train.peak_module} ({train.peak_phase}): "
                 + ", ".join(f"{k} {v / MB:,.0f} MB" for k, v in train.breakdown.items() if v)),
        ):
            rows.append({"batch": n, "figure": what, "bytes": int(value),
                         "MB per image": round(value / n / MB, 1) if "total" not in what
                         or n == 1 else None, "note": how})
    return rows, reports


def early_late_rows(report) -> tuple[list[dict], dict]:
    """One row per VGG16 layer (conv, pool, linear): output bytes per image and params."""
    mods = report.modules
    layers = mods[(mods["depth"] == 2) & (mods["output_bytes"] > 0)]
    params_of = {name: int(p) // 4 for name, p in zip(mods["module"], mods["param_bytes"])}
    rows, pools = [], 0
    for _, r in layers.iterrows():
        early = pools < EARLY_STAGES and r["module"].startswith("features")
        pools += r["type"] == "MaxPool2d"
        rows.append({"layer": r["module"], "type": r["type"],
                     "output bytes / image": int(r["output_bytes"]) // report.batch,
                     "params": params_of.get(r["module"], 0),
                     "stage": "early (stages 1-2)" if early else
                     ("fully connected" if r["module"].startswith("classifier") else "middle")})
    act_total = sum(r["output bytes / image"] for r in rows)
    par_total = sum(r["params"] for r in rows)
    early_act = sum(r["output bytes / image"] for r in rows if r["stage"].startswith("early"))
    fc_par = sum(r["params"] for r in rows if r["stage"] == "fully connected")
    early_par = sum(r["params"] for r in rows if r["stage"].startswith("early"))
    fc_act = sum(r["output bytes / image"] for r in rows if r["stage"] == "fully connected")
    return rows, {"act_total": act_total, "par_total": par_total, "early_act": early_act,
                  "fc_par": fc_par, "early_par": early_par, "fc_act": fc_act}


def vgg16_memory_sections() -> tuple[list[Section], list[Finding]]:
    rows, reports = vgg16_memory_rows()
    layer_rows, s = early_late_rows(reports[1][0])
    findings = []
    early_share = s["early_act"] / s["act_total"]
    fc_share = s["fc_par"] / s["par_total"]
    verdict = [
        f"early layers (conv1_1 .. pool2, 4 of 16 weight layers) write {early_share:.0%} of "
        f"the activation bytes and hold {s['early_par'] / s['par_total']:.2%} of the params",
        f"the three fully-connected layers hold {fc_share:.0%} of the params and write "
        f"{s['fc_act'] / s['act_total']:.3%} of the activation bytes",
    ]
    claim_ok = early_share > 0.5 and fc_share > 0.5
    if not claim_ok:
        findings.append(Finding("vgg16 early/late", "claim_mismatch", "; ".join(verdict)))
    inf1, tr1 = reports[1]
    tr64 = reports[BATCHES[-1]][1]
    saved_share = tr64.breakdown["saved_activations"] / tr64.peak_bytes
    notes = [
        "bytes: exact fp32 storages (4 bytes per element), no allocator rounding; MB = 10^6 "
        "bytes, as the lecture's 96MB",
        f"the lecture's sum of activations counts every output as if none were ever freed; "
        f"by liveness an inference forward needs {(inf1.peak_bytes - inf1.parameter_bytes) / MB:.1f} "
        f"MB of activations per image at its peak, "
        f"{(inf1.peak_bytes - inf1.parameter_bytes) / inf1.activation_sum_bytes:.0%} of the "
        f"{inf1.activation_sum_bytes / MB:.1f} MB sum (plus {inf1.parameter_bytes / MB:.0f} MB "
        "of parameters)",
        "the sum includes the int64 indices max pooling writes on CUDA (and on meta) even in "
        "inference, freed at once; the counting audit above counts only the pooled values",
        f"a training step keeps what autograd saved: its peak at batch 1 is "
        f"{tr1.peak_bytes / MB:,.0f} MB, mostly parameters + gradients + Adam's two moments "
        f"(4 x {inf1.parameter_bytes / MB:.0f} MB); at batch {BATCHES[-1]} activations saved "
        f"for backward are {saved_share:.0%} of the peak",
    ]
    claim = ("✓ " if claim_ok else "✗ ") + "'most memory is in the early layers, most " \
        "parameters in the late ones': " + "; ".join(verdict)
    sections = [
        Section("vgg16_memory", "VGG16 memory by liveness (inception_cost.memory), per image "
                                "and at batch 64", frame(rows), notes),
        Section("vgg16_memory_layers", "VGG16 per layer: output bytes per image vs params",
                frame(layer_rows), [claim]),
    ]
    return sections, findings
