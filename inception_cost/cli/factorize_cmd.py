"""``inception-cost factorize``: single convolutions vs factorized stacks with the
same receptive field (measured), built and counted."""
from __future__ import annotations

import click

from ..papers.factorize import factorize_report
from ..report.paper_render import render_report
from ..report.render import write_output
from .options import format_option, output_option


@click.command("factorize")
@click.option("--channels", default=64, show_default=True, type=int,
              help="C: input and output channels of every convolution.")
@click.option("--grid", default=17, show_default=True, type=int,
              help="G: the square input grid (G x G); same padding keeps it.")
@format_option()
@output_option()
def factorize_cmd(channels, grid, fmt, output):
    """Single convs vs factorized stacks: params, MACs, savings, receptive fields.

    5x5 vs two 3x3, 3x3 vs 3x1 + 1x3, 3x3 vs two 2x2, nxn vs 1xn + nx1 (n = 3, 5, 7)
    and 7x7 vs three 3x3: params (weights), MACs, saving % and the measured
    receptive field of both sides, beside the printed savings."""
    from ..report.json_object import input_entry
    write_output(render_report(factorize_report(channels, grid), fmt, envelope=True,
                               inputs=[input_entry(None, (1, channels, grid, grid))]), output)
