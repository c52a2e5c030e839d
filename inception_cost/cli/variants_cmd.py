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
    df = variants_frame()
    if fmt == "json":
        from ..report.json_object import dumps, json_object, rows_of
        kinds = {f"{k}s": int((df["kind"] == k).sum()) for k in dict.fromkeys(df["kind"])}
        write_output(dumps(json_object(None, None, {"entries": len(df), **kinds},
                                       rows_of(df))), output)
        return
    notes = []
    if fmt == "rich":
        # the terminal view: one short block per entry; md/csv/json carry source and options
        df = df.drop(columns=["source", "options"])
        notes = ["source and build options of each: inception-cost variants --format md"]
    write_output(render(df, fmt, title="inception-cost variants", notes=notes), output)
