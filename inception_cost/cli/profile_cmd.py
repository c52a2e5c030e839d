"""``inception-cost profile VARIANT [VARIANT ...]``: time real forward passes."""
from __future__ import annotations

import math
import os

import click
import pandas as pd
import torch

from ..errors import UsageError
from ..profiling.api import profile, resolve_device
from ..profiling.environment import describe
from ..profiling.peaks import DTYPE_MODES
from ..report.progress_bar import TerminalProgress
from ..report.render import render, to_csv, write_output
from ..units import human, human_bytes
from .options import (INFERENCE_BATCH, batch_option, dtype_option, format_option, input_option,
                      output_option, parse_int_list)
from .vocabulary import note


def _num(v, fmt: str) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(f) else format(f, fmt)


def _mode(r) -> str:
    if r["compile"] is True or str(r["compile"]) == "True":
        return "compile+graphs" if str(r["cuda_graphs"]) == "True" else "compile"
    return "graphs" if str(r["cuda_graphs"]) == "True" else "eager"


def _layout(r) -> str:
    return "NHWC" if str(r["channels_last"]) == "True" else "NCHW"


def runs_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The whole-model rows as people read them (units in the headers)."""
    rows = []
    for _, r in runs.iterrows():
        ok = r["status"] == "ok"
        rows.append({
            "variant": r["variant"], "dtype": r["dtype"], "layout": _layout(r), "mode": _mode(r),
            "batch": r["batch"], "status": r["status"],
            "median ms": _num(r["median_ms"], ".3f") if ok else "",
            "p10-p90 ms": f"{_num(r['p10_ms'], '.3f')}-{_num(r['p90_ms'], '.3f')}" if ok else "",
            "cv %": _num(100 * float(r["cv"]), ".1f") if ok else "",
            "images/s": _num(r["images_per_s"], ".1f") if ok else "",
            "MACs": human(r["macs"], "MACs") if ok else "",
            "TFLOP/s": _num(r["achieved_tflops"], ".3f") if ok else "",
            "% peak": _num(r["pct_of_peak"], ".1f") if ok else "",
            "peak mem": human_bytes(r["peak_mem_bytes"]) if ok and _num(r["peak_mem_bytes"], "g") else "",
            "activations (analytic)": human_bytes(r["analytic_activation_bytes"]) if ok else "",
            "predicted peak": human_bytes(r["predicted_peak_bytes"]) if ok and _num(
                r.get("predicted_peak_bytes"), "g") else "",
            "peak gap %": _num(r.get("peak_gap_pct"), "+.1f") if ok else "",
            "note": r["message"] if not ok else "",
        })
    return pd.DataFrame(rows)


def compare_table(comp: pd.DataFrame) -> pd.DataFrame:
    rows = [{"batch": r["batch"], "dtype": r["dtype"], "layout": _layout(r), "mode": _mode(r),
             "variant": f"{r['variant']} / {r['baseline']}",
             "MAC ratio": _num(r["macs_ratio"], ".3f"), "time ratio": _num(r["time_ratio"], ".3f"),
             "time/MAC ratio": _num(r["time_ratio_over_macs_ratio"], ".2f")}
            for _, r in comp.iterrows()]
    return pd.DataFrame(rows)


def layer_tables(layers: pd.DataFrame, top: int) -> list[tuple[str, pd.DataFrame]]:
    out = []
    keys = ["variant", "dtype", "channels_last", "batch"]
    for _, g in layers.groupby(keys, sort=False):
        first = g.iloc[0]
        shown = g.sort_values("time_ms", ascending=False).head(top)
        df = pd.DataFrame({
            "module": shown["module"].map(lambda m: m or "(top)"), "type": shown["module_type"],
            "ops": shown["ops"], "time ms": shown["time_ms"].map(lambda v: _num(v, ".4f")),
            "% time": shown["time_pct"].map(lambda v: _num(v, ".1f")),
            "MACs": shown["macs"].map(lambda v: human(v, "MACs") if v else ""),
            "TFLOP/s": shown["achieved_tflops"].map(lambda v: _num(v, ".3f")),
            "% peak": shown["pct_of_peak"].map(lambda v: _num(v, ".1f")),
            "FLOP/B": shown["intensity_flop_per_byte"].map(lambda v: _num(v, ".1f")),
            "bound": shown["bound"],
            "% roofline": shown["pct_of_roofline"].map(lambda v: _num(v, ".1f")),
        })
        title = (f"{first['variant']} {first['dtype']} {_layout(first)} batch {first['batch']}: "
                 f"top {len(df)} of {len(g)} modules by self time; per-layer sum "
                 f"{first['layers_sum_ms']:.3f} ms vs whole {first['whole_ms']:.3f} ms "
                 f"(gap {first['gap_pct']:+.1f}%)")
        out.append((title, df))
    return out


# left out of the terminal view, in this order, as far as the width requires
RUNS_OPTIONAL = ["p10-p90 ms", "cv %", "peak gap %", "predicted peak", "activations (analytic)",
                 "peak mem", "% peak", "layout", "mode", "TFLOP/s", "dtype", "status", "note"]
LAYERS_OPTIONAL = ["ops", "% roofline", "% peak", "bound", "FLOP/B", "TFLOP/s", "type"]


def _without_blank_columns(df: pd.DataFrame) -> pd.DataFrame:
    """The terminal view leaves out columns with no value in any row (e.g. % of peak
    when the device's peaks are unknown)."""
    keep = [c for c in df.columns if (df[c].astype(str).str.strip() != "").any()]
    return df[keep]


def _check_writable(path: str | None) -> None:
    if not path or path == "-":
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(folder) or not os.access(folder, os.W_OK) or (
            os.path.exists(path) and not os.access(path, os.W_OK)):
        raise UsageError(f"cannot write --output '{path}'")


def machine_cpus() -> int:
    """Logical CPUs this process may run on (its affinity set where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def layers_path(output: str, fmt: str) -> str:
    stem, _ext = os.path.splitext(output)
    return f"{stem}.layers.{fmt}"


def _check_forward(module, call) -> None:
    """A forward that fails on the ``--input`` given (on the meta device, before anything
    is timed): one line with the inputs and the forward's signature.  A forward that
    reads tensor values is left to the real run."""
    from ..counting.api import count, reads_values
    from ..counting.engine import ForwardError
    from .input_option import rejected
    try:
        count(module, inputs=call.inputs)
    except ForwardError as e:
        if not reads_values(e):
            raise rejected(e, call.text, module) from None


def profile_inputs(texts, variant: str, batches: list[int], batch_given: bool):
    """(forward arguments without the batch, batch sizes) from ``--input``, read as
    ``layers`` reads it against the first VARIANT (built on the meta device): a shape
    with the batch fixes the batch (a --batch that differs is an error)."""
    from ..models.resolve import resolve_model
    from ..profiling.prepare import ProfileInput
    from .input_option import make_call, parse_input, per_sample
    specs = [parse_input(t) for t in texts]
    module, _size, _label = resolve_model(variant)
    one = batches[0] if batch_given and len(batches) == 1 else None
    pairs, carried = per_sample(specs, module, one)
    _check_forward(module, make_call(specs, module, one, "meta"))
    if carried is not None and batch_given and batches != [carried]:
        raise UsageError(f"--batch {','.join(map(str, batches))} disagrees with --input "
                         f"{texts[0]} (its first size is the batch): give one of them")
    inputs = tuple(ProfileInput(shape, None if s.dtype.is_floating_point else s.dtype,
                                s.low, s.high, s.keyword) for s, shape in pairs)
    return inputs, [carried] if carried is not None else batches


@click.command("profile")
@click.argument("variants", nargs=-1, required=True)
@batch_option(sweep=True, training=False)
@click.option("--batch-size", "batch_size", default=None, hidden=True,
              help="Old spelling of --batch.")
@click.option("--device", default=None,
              help="cuda or cpu (default: cuda when available, else cpu).")
@dtype_option("fp32 (TF32 off) | tf32 | fp16 | bf16, or a comma list to sweep")
@click.option("--channels-last", is_flag=True, help="Model and input in channels_last (NHWC).")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile (default mode, static shapes).")
@click.option("--cuda-graphs", is_flag=True, help="Replay a captured CUDA graph (no launch overhead).")
@click.option("--per-layer", is_flag=True, help="Also time every module (eager only).")
@click.option("--warmup", type=int, default=None, help="Warm-up iterations [10 on CUDA, 3 on CPU].")
@click.option("--iters", type=int, default=None, help="Timed iterations [50 on CUDA, 20 on CPU].")
@input_option()
@click.option("--peak-tflops", type=float, default=None,
              help="Peak TFLOP/s for %-of-peak and roofline (overrides the device table).")
@click.option("--peak-bandwidth", type=float, default=None,
              help="Peak memory bandwidth in TB/s (overrides the device table).")
@click.option("--threads", type=int, default=None, help="torch CPU threads (torch.set_num_threads).")
@click.option("--resume", is_flag=True,
              help="With --format csv --output: skip configurations already in the file.")
@click.option("--top", type=int, default=20, show_default=True,
              help="Per-layer rows shown in rich/md output (files get all).")
@click.option("--on", "on", default=None,
              help="Print the predicted time beside the measured one, per model and per layer: a "
                   "device profile from `calibrate` (or a catalog name when profiling that GPU).")
@format_option()
@output_option()
def profile_cmd(variants, batch, batch_size, device, dtype, channels_last, compile_, cuda_graphs,
                per_layer, warmup, iters, input_, peak_tflops, peak_bandwidth, threads, resume,
                top, fmt, output, on):
    """Time forward passes of each VARIANT: latency statistics, images/s,
    achieved TFLOP/s beside the MAC/FLOP counts, peak memory, and with
    --per-layer each module's time on the device's roofline.

    VARIANT: a variant name (see `inception-cost variants`), torchvision:NAME,
    timm:NAME, or path/to/file.py:factory. With --format csv --output FILE,
    each finished configuration is appended to FILE at once (per-layer rows
    to FILE's .layers.csv sibling); CUDA out-of-memory is a row with status oom.
    """
    if batch_size is not None:
        if batch is not None:
            raise UsageError("give --batch or its old spelling --batch-size, not both")
        note("--batch-size", "--batch")
    batches = parse_int_list(batch or batch_size or str(INFERENCE_BATCH),
                             "--batch-size" if batch_size is not None else "--batch")
    dtypes = [d.strip().lower() for d in dtype.split(",") if d.strip()]
    bad = [d for d in dtypes if d not in DTYPE_MODES]
    if not dtypes or bad:
        raise UsageError(f"unknown --dtype '{','.join(bad) or dtype}' "
                         f"(choose from {', '.join(DTYPE_MODES)})")
    inputs = None
    if input_:
        inputs, batches = profile_inputs(input_, variants[0], batches,
                                         batch is not None or batch_size is not None)
    if threads is not None:
        if threads <= 0:
            raise UsageError(f"--threads must be a positive integer (got {threads})")
        cpus = machine_cpus()
        if threads > cpus:   # far past it, the OpenMP runtime aborts the process
            raise UsageError(f"--threads {threads} is more than this machine's {cpus} "
                             "logical CPU(s)")
        torch.set_num_threads(threads)
    if top <= 0:
        raise UsageError(f"--top must be a positive integer (got {top})")
    if per_layer and fmt in ("csv", "json") and not output:
        raise UsageError("--per-layer with --format csv/json needs --output FILE "
                         "(per-layer rows go to FILE's .layers sibling)")
    if resume and not (fmt == "csv" and output):
        raise UsageError("--resume needs --format csv --output FILE")
    _check_writable(output)
    target = None
    if on:
        from ..timing_model.devices import find_device
        target = find_device(on)
        for d in dtypes:
            target.peak(d)
    dev, notice = resolve_device(device)
    if notice:
        click.echo(notice, err=True)
    live = fmt == "csv" and bool(output) and output != "-"
    result = profile(list(variants), batch_sizes=batches, device=dev, dtype=dtypes,
                     channels_last=channels_last, compile=compile_, cuda_graphs=cuda_graphs,
                     warmup=warmup, iters=iters, per_layer=per_layer, inputs=inputs,
                     peak_tflops=peak_tflops, peak_bandwidth=peak_bandwidth,
                     output=output if live else None,
                     layers_output=layers_path(output, "csv") if live and per_layer else None,
                     resume=resume, progress=TerminalProgress(),
                     notify=lambda msg: click.echo(f"warning: {msg}" if not msg.startswith(
                         ("notice", "resume")) else msg, err=True))
    runs = pd.DataFrame(result)
    if live:
        where = f"{output}" + (f" and {layers_path(output, 'csv')}" if per_layer else "")
        click.echo(f"{len(runs)} configuration(s) in {where} (each appended as it finished)",
                   err=True)
        return
    if fmt == "csv":
        write_output(to_csv(runs), output)
        if per_layer:
            write_output(to_csv(result.layers), layers_path(output, fmt))
        return
    if fmt == "json":
        settings = dict(batch=batches, dtype=dtypes, device=dev, channels_last=channels_last,
                        compile=compile_, cuda_graphs=cuda_graphs)
        write_output(profile_json(runs, list(variants), inputs, settings), output)
        if per_layer:
            write_output(profile_json(result.layers, list(variants), inputs, settings),
                         layers_path(output, fmt))
        return
    env = result.environment
    peak_note = ""
    ok = runs[runs["status"] == "ok"]
    if not ok.empty:
        src = ok["peak_source"].iloc[0]
        peak_note = ("device peaks: unknown (give --peak-tflops and --peak-bandwidth for % of "
                     "peak and roofline)" if src == "unknown" else f"device peaks: {src}")
    notes = [describe(env),
             "times from " + ("CUDA events" if env["device"] == "cuda" else "time.perf_counter")
             + f"; median and p10/p90 of {ok['iters'].iloc[0] if not ok.empty else '?'} timed "
               "forwards after warm-up; TFLOP/s = counted FLOPs / median time",
             "activations (analytic) = sum of every op's output elements x dtype bytes "
             "(an upper bound: inference frees tensors as it goes)"]
    if peak_note:
        notes.append(peak_note)
    noisy = ok[ok["cv"].astype(float) > 0.05]
    if len(noisy):
        notes.append(f"{len(noisy)} configuration(s) with CV > 5%: timings noisy")
    table = runs_table(runs)
    if fmt == "rich":
        table = _without_blank_columns(table)
    parts = [render(table, fmt, title=f"profile on {env['device_name']}", notes=notes,
                    optional=RUNS_OPTIONAL)]
    if result.comparison is not None and len(result.comparison):
        parts.append(render(compare_table(result.comparison), fmt,
                            title="MACs vs measured time, relative to the first variant",
                            notes=["time/MAC ratio 1.0: time shrinks exactly as MACs do; "
                                   "above 1: the MAC saving buys less time"]))
    if per_layer and result.layers is not None:
        for title, df in layer_tables(result.layers, top):
            if fmt == "rich":
                df = _without_blank_columns(df)
            parts.append(render(df, fmt, title=title, optional=LAYERS_OPTIONAL,
                                notes=["self time: a module's span minus its children's; "
                                       "FLOP/B = FLOPs / bytes of inputs + weights + outputs"]))
    if target is not None:
        parts += predicted_parts(runs, result.layers if per_layer else None, target, fmt, top)
    write_output("\n".join(parts), output)


def profile_json(rows: pd.DataFrame, variants: list[str], inputs, settings: dict) -> str:
    """{model (the VARIANTs), input (the --input arguments per sample, the batch swept;
    null without --input: each row's ``input`` names what ran), convention, the sweep's
    settings, totals (configurations, and those that ran: ok), rows}. Times in ms."""
    from ..report.json_object import dumps, input_entry, json_object, rows_of
    shown = None
    if inputs:
        float_dtype = MODE_DTYPES.get(settings["dtype"][0], "float32")
        shown = [input_entry(p.keyword, p.shape, p.dtype or float_dtype) for p in inputs]
    status = rows["status"] if "status" in rows.columns else pd.Series([], dtype=object)
    totals = {"rows": len(rows), "configurations": len(set(
        zip(*[rows[c] for c in ("variant", "dtype", "channels_last", "batch")]))
        ) if len(rows) else 0}
    if len(status):
        totals["ok"] = int((status == "ok").sum())
    return dumps(json_object(variants, shown, totals, rows_of(rows), convention="native",
                             **settings))


MODE_DTYPES = {"fp32": "float32", "tf32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def predicted_parts(runs, layers, target, fmt: str, top: int) -> list[str]:
    """Predicted beside measured: whole model, and the top layers by measured self time."""
    from ..timing_model.compare import predicted_beside_measured
    from ..timing_model.model import EAGER_NOTE
    whole, per_layer = predicted_beside_measured(runs, layers, target)
    notes = [f"predicted on {target.name}; " + EAGER_NOTE, "error % = (predicted - measured) / measured"]
    if fmt == "rich":
        import textwrap
        notes = [textwrap.fill(n, 99, break_long_words=False) for n in notes]
    parts = [render(whole, fmt, title="Predicted vs measured (median)", notes=notes)]
    if per_layer is not None and len(per_layer):
        for (variant, batch), g in per_layer.groupby(["variant", "batch"], sort=False):
            shown = g.sort_values("measured ms", ascending=False).head(top)
            df = pd.DataFrame({"module": shown["module"],
                               "measured ms": shown["measured ms"].map(lambda v: _num(v, ".4f")),
                               "predicted ms": shown["predicted ms"].map(lambda v: _num(v, ".4f")),
                               "error %": shown["error %"].map(lambda v: _num(v, "+.0f"))})
            parts.append(render(df, fmt, title=f"{variant} batch {batch}: top {len(df)} layers by measured "
                                               f"self time; Spearman over {len(g)} layers "
                                               f"{g['spearman'].iloc[0]:.2f}"))
    return parts
