"""``inception-cost table [VARIANT]``: a paper's Table 1 rebuilt from the built model,
beside the printed values, with a computed audit."""
from __future__ import annotations

import click

from ..errors import UsageError
from ..report.paper_render import render_report
from ..papers.bn_inception import PAPER_VARIANT as BN_VARIANT, bn_inception_report
from ..papers.rethinking import OUTLINE_VARIANTS, rethinking_report
from ..papers.table1 import TABLE1_VARIANTS, table1_report
from ..report.render import write_output
from .options import format_option, output_option


@click.command("table")
@click.argument("variant", default="googlenet")
@click.option("--stem", type=click.Choice(["standard", "separable"]), default=None,
              help="GoogLeNet's first conv: standard 7x7/2, or depthwise-separable "
                   "(depth multiplier 8). The other stem's conv1 row is always shown too.")
@click.option("--wide", is_flag=True,
              help="rich: the full table (branch widths, bias, Δ columns, audit tags); "
                   "the default view fits 100 columns, audit findings as footnotes.")
@click.option("--train", is_flag=True,
              help="Add a training column (forward + backward MACs of one step) to GoogLeNet's Table 1.")
@click.option("--on", "on", multiple=True,
              help="Also predict GoogLeNet's and Inception-v3's time on this device (catalog "
                   "name or calibrated file; repeatable): time ratio beside the MAC ratio.")
@click.option("--dtype", default="fp32", show_default=True, help="Math mode for --on.")
@format_option()
@output_option()
def table_cmd(variant, stem, wide, fmt, output, train, on, dtype):
    """Rebuild a paper's Table 1 from the built model and audit what it prints.

    VARIANT: googlenet (default; also googlenet_torchvision) for GoogLeNet's Table 1,
    inception_v2 / inception_v3 for Rethinking's Table 1 outline and cost claims,
    bn_inception for the BN paper's readings vs its 13.6M and NASNet's 11.2M / 1.94B.
    params = weights (bias shown separately); ops = MACs (multiply-accumulates, bias
    excluded). Sizes print as H x W x C, as the papers do."""
    if variant in TABLE1_VARIANTS:
        rep = table1_report(variant, stem)
        if train:
            from ..papers.table1_training import with_training_column
            rep = with_training_column(rep, variant, stem)
    elif train:
        raise UsageError("--train applies to GoogLeNet's Table 1 (googlenet, googlenet_torchvision)")
    elif variant in OUTLINE_VARIANTS:
        if stem is not None:
            raise UsageError("--stem applies to googlenet only")
        rep = rethinking_report(variant)
    elif variant == BN_VARIANT:
        if stem is not None:
            raise UsageError("--stem applies to googlenet only")
        rep = bn_inception_report()
    else:
        raise UsageError(f"no paper table for '{variant}' (choose from "
                         f"{', '.join(TABLE1_VARIANTS + OUTLINE_VARIANTS + (BN_VARIANT,))})")
    inputs = None
    if fmt == "json":
        from ..models.registry import get_variant
        from ..report.json_object import input_entry
        inputs = [input_entry(None, (1, *get_variant(variant).input_size))]
    text = render_report(rep, fmt, wide=wide, envelope=True, model=variant, inputs=inputs)
    if on:
        from ..models.registry import build, get_variant
        from .module_cmd import with_predicted_ratio
        pair = tuple((n, build(n, device="meta"), get_variant(n).input_size)
                     for n in ("googlenet", "inception_v3"))
        text = with_predicted_ratio(text, pair, on, dtype, fmt)
    write_output(text, output)
