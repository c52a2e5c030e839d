"""``inception-cost module``: naive vs reduced Inception module (or the 5x5
bottleneck example), built and counted, beside the printed numbers."""
from __future__ import annotations

import click

from ..errors import UsageError
from ..papers.module_example import (BottleneckConfig, ModuleConfig, bottleneck_report,
                                     module_report)
from ..report.paper_render import render_report
from ..report.render import write_output
from .options import format_option, output_option, parse_chw

WIDTHS = ("n1x1", "n3x3red", "n3x3", "n5x5red", "n5x5", "pool_proj")


def _width(name: str):
    flag = "--" + name.replace("_", "-")
    return click.option(flag, name, type=int, default=None,
                        help=f"{name} output channels (default: the example's).")


def _positive(**widths) -> None:
    for k, v in widths.items():
        if v is not None and v <= 0:
            raise UsageError(f"--{k.replace('_', '-')} must be a positive integer (got {v})")


@click.command("module")
@click.option("--example", type=click.Choice(["lecture", "5x5"]), default="lecture",
              show_default=True,
              help="lecture: CS231n lecture 9's naive vs reduced module (854M vs 358M); "
                   "5x5: a GoogLeNet review's 5x5 conv with and without a 1x1 reduction.")
@click.option("--input", "input_", default=None,
              help="C x H x W (PyTorch's order), e.g. 256x28x28 (default: the example's).")
@_width("n1x1")
@_width("n3x3red")
@_width("n3x3")
@_width("n5x5red")
@_width("n5x5")
@_width("pool_proj")
@click.option("--on", "on", multiple=True,
              help="Also predict both modules' time on this device (catalog name or calibrated "
                   "file; repeatable): predicted time ratio beside the MAC ratio.")
@click.option("--dtype", default="fp32", show_default=True, help="Math mode for --on.")
@format_option()
@output_option()
def module_cmd(example, input_, fmt, output, on, dtype, **widths):
    """Naive vs reduced Inception module, per branch, beside the printed totals.

    Per-branch params, MACs and output shapes of both modules, their totals and
    ratio; where a printed total differs, the gap is explained if it can be.

    With --example 5x5, --n5x5red is the 1x1 reduction and --n5x5 the 5x5 conv's
    output channels. MACs = multiply-accumulates (bias excluded)."""
    _positive(**widths)
    given = {k: v for k, v in widths.items() if v is not None}
    if example == "5x5":
        extra = sorted(set(given) - {"n5x5red", "n5x5"})
        if extra:
            raise UsageError(f"--example 5x5 takes --n5x5red and --n5x5 only (got "
                             f"{', '.join('--' + e.replace('_', '-') for e in extra)})")
        base = BottleneckConfig.review()
        kw = {"reduce": given.get("n5x5red", base.reduce), "out": given.get("n5x5", base.out)}
        if input_:
            c, h, w = parse_chw(input_)
            kw.update(in_channels=c, height=h, width=w)
        cfg = BottleneckConfig(**{**base.__dict__, **kw})
        if min(cfg.height, cfg.width) < 1:
            raise UsageError("--input must be positive")
        rep = bottleneck_report(cfg)
        pair = None
        if on:
            from ..papers.module_example import _stack
            chw = (cfg.in_channels, cfg.height, cfg.width)
            pair = (("direct", _stack(cfg, False), chw), ("reduced", _stack(cfg, True), chw))
    else:
        base = ModuleConfig.lecture()
        kw = dict(given)
        if input_:
            c, h, w = parse_chw(input_)
            kw.update(in_channels=c, height=h, width=w)
        cfg = ModuleConfig(**{**base.__dict__, **kw})
        rep = module_report(cfg)
        pair = None
        if on:
            from ..models.registry import build
            pair = (("naive", build("inception_naive", **cfg.naive_options()), cfg.input_size),
                    ("reduced", build("inception_reduced", **cfg.reduced_options()), cfg.input_size))
    from ..report.json_object import input_entry
    chw = (cfg.in_channels, cfg.height, cfg.width)
    text = render_report(rep, fmt, envelope=True, model=("direct", "reduced") if example == "5x5" else
                         ("inception_naive", "inception_reduced"),
                         inputs=[input_entry(None, (1, *chw))])
    if pair is not None:
        text = with_predicted_ratio(text, pair, on, dtype, fmt)
    write_output(text, output)


def with_predicted_ratio(text: str, pair, on, dtype: str, fmt: str) -> str:
    """``text`` followed by the --on table; in json, the one object with that table's
    rows under ``predicted``."""
    if fmt != "json":
        return text + "\n" + predicted_ratio_text(pair, on, dtype, fmt)
    import json

    from ..report.json_object import dumps, rows_of
    obj = json.loads(text)
    df, title, notes = _predicted_ratio(pair, on, dtype)
    obj.update(predicted=rows_of(df), predicted_notes=[title, *notes])
    return dumps(obj, ascii_only=False)


def _predicted_ratio(pair, on, dtype: str):
    from ..timing_model.api import _mode
    from ..timing_model.compare import time_vs_mac_ratio
    from ..timing_model.devices import find_device
    from ..timing_model.model import EAGER_NOTE
    mode = _mode(dtype)
    devices = [find_device(d) for d in on]
    df = time_vs_mac_ratio(pair[0], pair[1], devices, mode)
    title = f"Predicted time ({mode}, batch 1) vs MACs: {pair[1][0]} / {pair[0][0]}"
    notes = [EAGER_NOTE, "time/MAC ratio 1.0: time shrinks as MACs do; above 1: the MAC saving "
             "buys less time"]
    return df, title, notes


def predicted_ratio_text(pair, on, dtype: str, fmt: str) -> str:
    """The --on table: predicted time ratio beside the MAC ratio, one row per device."""
    from ..report.render import render
    df, title, notes = _predicted_ratio(pair, on, dtype)
    if fmt == "rich":
        import textwrap
        notes = [textwrap.fill(n, 99, break_long_words=False) for n in notes]
    return render(df, fmt, title=title, notes=notes)
