"""``inception-cost variants``: the registry."""
from __future__ import annotations

import click
import pandas as pd

from ..models.registry import variants
from ..report.render import render, write_output
from .options import format_option, output_option


def variants_frame() -> pd.DataFrame:
    rows = [{"name": v.name, "kind": v.kind, "input (CxHxW)": "x".join(map(str, v.input_size)),
             "description": v.description, "source": v.source,
             "options": ", ".join(v.options)} for v in variants()]
    return pd.DataFrame(rows)


@click.command("variants")
@format_option()
@output_option()
def variants_cmd(fmt, output):
    """List every registered module and network."""
    write_output(render(variants_frame(), fmt, title="inception-cost variants"), output)
