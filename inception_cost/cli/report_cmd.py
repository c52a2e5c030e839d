"""``inception-cost report``: regenerate reports/ (CSV, JSON, Markdown, plots)."""
from __future__ import annotations

import sys

import click

from .. import streams
from ..regeneration.regenerate import regenerate


@click.command("report")
@click.option("--out", default="reports", show_default=True, help="Folder to (re)write.")
@click.option("--no-plots", is_flag=True, help="Skip the matplotlib plots.")
def report_cmd(out, no_plots):
    """Regenerate every per-layer CSV, the summary, the paper tables and plots.

    Every file is written atomically (a temporary file, then a rename): an
    interrupted or failed run leaves each file old or new, never cut. Writes
    files only: it has no --format or --output."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    skipped: list[str] = []
    # the spinner goes to stderr, and only on a terminal: stdout carries the result line
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True,
                  console=Console(stderr=True), disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("counting…", total=None)
        paths = regenerate(out, plots=not no_plots,
                           progress=lambda msg: bar.update(task, description=msg),
                           notify=skipped.append)
    for line in skipped:
        click.echo(f"notice: {line}", err=True)
    streams.echo(f"wrote {len(paths)} files under {out}/")
