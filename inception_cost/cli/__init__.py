"""``inception-cost`` command line. Each command lives in its own module here;
errors become one line on stderr and a non-zero exit (2 for usage)."""
from __future__ import annotations

import os
import sys

import click

from ..errors import InceptionCostError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="inception-cost")
def cli() -> None:
    """Exact parameter, MAC and FLOP counts (and CUDA timings) for CNNs,
    the Inception family first. MACs = multiply-accumulates (the papers'
    "multiply-adds"); FLOPs = 2 x MACs + element-wise work."""


def _register() -> None:
    from . import commands  # noqa: F401  (adds every command to ``cli``)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    _register()
    try:
        rv = cli.main(args=argv, prog_name="inception-cost", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 130
    except click.ClickException as e:
        msg = e.format_message().splitlines()[0] if e.format_message() else str(e)
        ctx = getattr(e, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        click.echo(f"error: {where}{msg}", err=True)
        return e.exit_code
    except InceptionCostError as e:
        click.echo(f"error: {e}", err=True)
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:
        click.echo(f"error: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}", err=True)
        return 1
    except Exception as e:  # noqa: BLE001 - last resort: one line, never a traceback
        if os.environ.get("INCEPTION_COST_DEBUG"):
            raise
        first = str(e).splitlines()[0] if str(e) else ""
        click.echo(f"error: internal error {type(e).__name__}: {first} "
                   "(set INCEPTION_COST_DEBUG=1 for the traceback)", err=True)
        return 1


def entry() -> None:  # pragma: no cover - thin wrapper for the console script
    sys.exit(main())
