"""``inception-cost layers MODEL``: one row per op (or per module with --depth)."""
from __future__ import annotations

import click
import pandas as pd
import torch

from ..counting import count
from ..counting.engine import ForwardError
from ..counting.cost_report import format_shapes
from ..errors import UsageError
from ..counting.placement import copy_on
from ..models.resolve import example_inputs, resolve_model
from ..report.render import render, write_output
from .input_option import (default_call, input_options, make_call, parse_dtype, parse_input,
                           signature_text)
from .limits import check_numel, check_real_forward, real_forward_cap
from .options import batch_option, format_option, output_option

UNITS = {"params": "params", "macs": "MACs", "flops": "FLOPs", "activations": "elements",
         "bytes": "B"}
SHOWN = ["module", "op", "kernel", "stride", "in_shape", "out_shape", "params", "macs", "flops",
         "activations", "bytes"]
# left out of the terminal view, in this order, as far as the width requires
OPTIONAL = ["kernel", "stride", "in_shape", "activations", "flop/B", "out_shape", "% flops",
            "bytes", "params", "op"]
# left out before quantities turn compact (bytes moved gives way to units in the cells)
FIRST = ["flop/B", "bytes"]


META_HINT = ("this model's forward reads tensor values, which the meta device does not have; "
             "run with --device cpu (a real forward: memory grows with --batch and --input)")
_META_ERRORS = ("meta tensor", "on meta", "meta device", "data-dependent", "data dependent",
                "register_meta", "meta_nonzero")


def count_error(e: ForwardError, device: str) -> UsageError:
    """A failed forward as one clear line, with the --device cpu hint when the
    failure comes from the meta device."""
    msg = str(e)
    if "overflow" in e.original.lower():
        return UsageError(f"{msg.splitlines()[0][:200]} — a tensor of the model would exceed "
                          "2^63 - 1 bytes; use a smaller --batch or --input")
    if device == "meta" and any(k in e.original.lower() for k in _META_ERRORS):
        msg = f"{msg.split(': ', 1)[0]}: {e.original.splitlines()[0][:160]} — {META_HINT}"
    return UsageError(msg)


def layers_table(report, depth: int | None, fmt: str) -> pd.DataFrame:
    """The table `layers` prints: ops (or modules at --depth) plus % and totals.

    ``--depth 0`` is one row, the whole model (no TOTAL row repeating it); at
    other depths the ops the top module runs itself are the row "(top)"."""
    if depth is not None:
        df = report.by_module(depth=depth)
        df["module"] = "(whole model)" if depth == 0 else df["module"].map(lambda m: m or "(top)")
    else:
        df = report.layers.drop(columns=["callers"]) if fmt in ("csv", "json") else report.layers[SHOWN]
        df = format_shapes(df)
    total = report.total_flops or 1
    df = with_intensity(df, text=fmt in ("rich", "md"))
    if fmt in ("rich", "md"):
        df["% flops"] = [f"{100 * int(v) / int(total):.2f}" for v in df["flops"]]
        if depth != 0:
            tot = {c: "" for c in df.columns}
            tot.update({"module": "TOTAL", **report.totals(), "% flops": "100.00",
                        "flop/B": _intensity_text(report.total_flops, report.total_bytes)})
            df = pd.concat([df, pd.DataFrame([tot])], ignore_index=True)
    return df


def _intensity_text(flops: int, moved: int) -> str:
    return f"{int(flops) / int(moved):.2f}" if int(moved) else ""


def with_intensity(df: pd.DataFrame, text: bool) -> pd.DataFrame:
    """A copy of ``df`` with arithmetic intensity beside ``bytes``: ``flop_per_byte``
    (FLOPs / bytes moved, a float; None where a row moves no bytes) for csv/json, or
    ``flop/B`` as 2-decimal text for the terminal and markdown."""
    if "bytes" not in df.columns:
        return df
    out = df.copy()
    pairs = list(zip(out["flops"], out["bytes"]))
    if text:
        out.insert(out.columns.get_loc("bytes") + 1, "flop/B",
                   [_intensity_text(f, b) for f, b in pairs])
    else:
        out.insert(out.columns.get_loc("bytes") + 1, "flop_per_byte",
                   pd.Series([int(f) / int(b) if int(b) else None for f, b in pairs],
                             index=out.index, dtype=object))
    return out


def fvcore_table(report, native, depth: int | None, fmt: str) -> pd.DataFrame:
    """fvcore's rows with the shapes it does not report taken from the native
    count of the same module (first op's input, last op's output); fvcore
    reports no activations, so that column is left out."""
    df = layers_table(report, depth, fmt)
    drop = [c for c in ("activations", "kernel", "stride", "weight_shape", "padding",
                        "dilation", "groups", "bytes", "flop/B", "flop_per_byte")
            if c in df.columns]
    df = df.drop(columns=drop)
    if depth is None:
        own = native.layers
        first_in = own.groupby("module", sort=False)["in_shape"].first()
        last_out = own.groupby("module", sort=False)["out_shape"].last()
        df["in_shape"] = df["module"].map(first_in).fillna("")
        df["out_shape"] = df["module"].map(last_out).fillna("")
    return df


def uncounted_notes(report) -> list[str]:
    """One note listing every op that ran with no formula (counted 0), with calls and modules;
    and, in the fvcore convention, the work fvcore does not count."""
    notes = []
    unc = report.uncounted
    if len(unc):
        parts = []
        for op, grp in unc.groupby("op", sort=False):
            mods = ", ".join(m or "<top>" for m in grp["module"][:3]) + (", ..." if len(grp) > 3 else "")
            parts.append(f"{op} x{int(grp['calls'].sum())} (in {mods})")
        notes.append("ops with no formula (counted 0): " + "; ".join(parts))
    blind = getattr(report, "fvcore_blind", None)
    if blind is not None and len(blind):
        notes.append(report.fvcore_blind_line())
    return notes


def model_call(model: str, input_, dtype, batch, device: str):
    """(module, Call, label) for a command's MODEL, --input, --dtype and --batch."""
    if batch is not None and batch <= 0:
        raise UsageError(f"--batch must be a positive integer (got {batch})")
    specs = [parse_input(t) for t in input_ or ()]
    dt = parse_dtype(dtype)
    module, default_size, label = resolve_model(model, device=device)
    if dt is not None:
        module = module.to(dt)
    def build(dev):
        if specs:
            return make_call(specs, module, batch, dev, dt)
        if len(default_size) == 3:
            check_numel(batch or 1, default_size)
        return default_call(module, default_size, batch, dev, dt, example_inputs(module))
    call = build("meta")
    if device != "meta":   # a real forward: check its memory before making the inputs
        check_cpu_forward(module, call, "--device cpu")
        call = build(device)
    return module, call, label


def call_title(call) -> str:
    xs = list(call.args) + list(call.kwargs.values())
    if len(xs) == 1 and not call.kwargs and xs[0].dim() == 4 and xs[0].dtype == torch.float32:
        return f"{call.text} (N x C x H x W)"
    return call.text


def check_cpu_forward(module, call, what: str) -> None:
    """As :func:`check_real_forward`, from a meta count of ``module`` with ``call``'s
    inputs; a model the meta device cannot run is estimated from weights and inputs."""
    try:
        check_real_forward(count(copy_on(module, "meta"), inputs=call.inputs), what)
        return
    except ForwardError:
        pass
    xs = list(call.args) + list(call.kwargs.values())
    need = sum(p.numel() * p.element_size() for p in module.parameters()) + \
        sum(t.numel() * t.element_size() for t in xs)
    cap = real_forward_cap()
    if need > cap:
        raise UsageError(f"{what} needs at least {need / 2**30:,.1f} GiB for the weights and the "
                         f"inputs, over the {cap / 2**30:.1f} GiB limit; use a smaller "
                         "--batch or --input")


@click.command("layers")
@click.argument("model")
@input_options
@batch_option(training=False)
@click.option("--depth", default=None, type=int, help="Aggregate by module depth K instead of per op "
              "(0: the whole model).")
@click.option("--convention", type=click.Choice(["native", "fvcore"]), default="native",
              show_default=True, help="native: MACs + FLOPs as documented; fvcore: fvcore's flop count.")
@click.option("--engine", type=click.Choice(["native", "fvcore"]), default="native", show_default=True,
              help="fvcore runs fvcore itself (real CPU forward, refused above an 8 GiB estimate) "
                   "behind the same table.")
@click.option("--device", type=click.Choice(["meta", "cpu"]), default="meta", show_default=True,
              help="meta: no memory at any size; cpu: a real forward, for models whose forward "
                   "reads tensor values (if x.sum() > 0, .item(), nonzero).")
@click.option("--tree", is_flag=True, default=False,
              help="The module tree: indented module names, output shape, params, MACs, "
                   "FLOPs, down to --depth (default 2).")
@click.option("--strict", is_flag=True, default=False,
              help="Fail (exit 2) if an op that is not pure data movement has no formula.")
@format_option()
@output_option()
def layers(model, input_, dtype, batch, depth, convention, engine, device, strict, tree, fmt,
           output):
    """Per-layer params, MACs, FLOPs, activations and bytes moved of MODEL.

    MODEL: a variant name (see `inception-cost variants`), torchvision:NAME,
    timm:NAME, or path/to/file.py:factory (which may return (model, example_inputs))."""
    if depth is not None and depth < 0:
        raise UsageError(f"--depth must be >= 0 (got {depth})")
    engine_device = "cpu" if engine == "fvcore" else device
    module, call, label = model_call(model, input_, dtype, batch, device)
    native = None
    try:
        if engine == "fvcore":
            native = count(module, inputs=call.inputs, name=label)
            check_real_forward(native, "--engine fvcore")
        if engine == "fvcore":
            try:
                report = count(module, inputs=call.inputs, engine="fvcore", name=label)
            except (UsageError, MemoryError):
                raise
            except Exception as e:  # noqa: BLE001 - fvcore's tracer fails in many ways
                detail = " ".join(str(e).split())[:200]
                raise UsageError(f"--engine fvcore could not count '{label}': {type(e).__name__}: "
                                 f"{detail} (the native engine counts it: leave --engine out)") from None
        else:
            report = count(module, inputs=call.inputs, convention=convention, device=device,
                           name=label, strict=strict)
    except ForwardError as e:
        err = count_error(e, engine_device)
        if input_:
            err = UsageError(f"{err} (inputs: {call.text}; {signature_text(module)})")
        raise err from None
    df = fvcore_table(report, native, depth, fmt) if engine == "fvcore" else \
        layers_table(report, depth, fmt)
    unit_flops = "fvcore-FLOPs" if report.convention == "fvcore" else "FLOPs"
    units = {**UNITS, "flops": unit_flops}
    title = (f"{label} @ {call_title(call)} — "
             f"{report.convention} convention, {report.engine} engine")
    notes = [f"MACs = multiply-accumulates (bias excluded); {unit_flops} per "
             f"inception_cost.counting.formulas"]
    if engine != "fvcore":
        notes.append("bytes = bytes moved (each op reads its tensor operands and writes its "
                     "results; views 0); flop/B = FLOPs per byte moved")
    if engine == "fvcore":
        notes.append("fvcore reports FLOPs per module and operator only: shapes are the "
                     "module's input and output from the native count; activations: "
                     f"{int(native.total_activations):,} elements (native engine)")
    notes += uncounted_notes(report)
    if tree:
        from .layers_tree import tree_output
        write_output(tree_output(module, report, call, label, depth, device, fmt, title, notes),
                     output)
        return
    if fmt == "json":
        write_output(layers_json(report, df, label, call), output)
        return
    write_output(render(df, fmt, title=title, units=units, notes=notes, optional=OPTIONAL,
                        first=FIRST), output)


def layers_json(report, df: pd.DataFrame, label: str, call) -> str:
    """{model, input, convention, engine, batch, totals, rows}: exact integers (params and
    activations in elements, macs in MACs, flops in FLOPs of the convention, bytes in
    bytes moved; ``flop_per_byte`` a float, null for a row that moves nothing)."""
    from ..report.json_object import call_inputs, dumps, json_object, rows_of
    totals = {k: v for k, v in report.totals().items()
              if k != "bytes" or report.engine != "fvcore"}   # fvcore: no bytes
    return dumps(json_object(label, call_inputs(call), totals, rows_of(format_shapes(df)),
                             convention=report.convention, engine=report.engine,
                             batch=call.batch))
