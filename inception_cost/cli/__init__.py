"""``inception-cost`` command line. Each command lives in its own module here;
errors become one line on stderr and a non-zero exit (2 for usage).

Start-up stays light: this module imports only click, and the command modules
(which import torch and pandas) are loaded the first time a command is looked
up; ``inception-cost --help`` reads the commands' summaries from their source,
so it never imports torch.
"""
from __future__ import annotations

import ast
import os
import signal
import sys

import click

from ..errors import InceptionCostError

_registered = False


def _register() -> None:
    global _registered
    if not _registered:
        from . import commands  # noqa: F401  (adds every command to ``cli``)
        _registered = True


class _LazyGroup(click.Group):
    """Loads the command modules only when a command is needed."""

    def list_commands(self, ctx):
        _register()
        return super().list_commands(ctx)

    def get_command(self, ctx, cmd_name):
        _register()
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx, formatter):
        summaries = None if _registered else command_summaries()
        if not summaries:
            return super().format_commands(ctx, formatter)
        names = sorted(summaries)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [(n, click.utils.make_default_short_help(summaries[n], limit)) for n in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def command_summaries() -> dict[str, str] | None:
    """{command name: first paragraph of its docstring}, read from the source of the
    modules ``commands.py`` imports (with ``ast``, without importing them, so the
    group's --help never imports torch). None when the source cannot be read that
    way (then the commands are imported)."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        with open(os.path.join(here, "commands.py"), encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
        modules = [n.module for n in tree.body
                   if isinstance(n, ast.ImportFrom) and n.level == 1 and n.module]
        out: dict[str, str] = {}
        for mod in modules:
            with open(os.path.join(here, *mod.split(".")) + ".py", encoding="utf-8") as fh:
                found = _commands_in(ast.parse(fh.read()))
            if not found:
                return None
            out.update(found)
        return out or None
    except (OSError, SyntaxError, ValueError):
        return None


def _commands_in(tree: ast.Module) -> dict[str, str]:
    """Functions decorated with ``@click.command("name")`` and their help text."""
    found = {}
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef):
            continue
        for dec in fn.decorator_list:
            if (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute)
                    and dec.func.attr in ("command", "group") and dec.args
                    and isinstance(dec.args[0], ast.Constant) and isinstance(dec.args[0].value, str)):
                doc = ast.get_docstring(fn) or ""
                found[dec.args[0].value] = " ".join(doc.split("\f")[0].split("\n\n")[0].split())
    return found


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="inception-cost")
def cli() -> None:
    """Exact parameter, MAC and FLOP counts (and CUDA timings) for CNNs,
    the Inception family first. MACs = multiply-accumulates (the papers'
    "multiply-adds"); FLOPs = 2 x MACs + element-wise work."""


def _say(line: str) -> None:
    """One line on stderr, in any stderr encoding (never a UnicodeEncodeError)."""
    enc = getattr(sys.stderr, "encoding", None) or "utf-8"
    try:
        line.encode(enc)
    except (UnicodeEncodeError, LookupError):
        line = line.encode("ascii", "backslashreplace").decode("ascii")
    click.echo(line, err=True)


def _one_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    try:
        try:
            rv = cli.main(args=argv, prog_name="inception-cost", standalone_mode=False)
        finally:
            sys.stdout.flush()
        return rv if isinstance(rv, int) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        _say("error: interrupted")  # click turns Ctrl-C into Abort
        return 130
    except click.ClickException as e:
        msg = _one_line(e.format_message()) or str(e)
        ctx = getattr(e, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        _say(f"error: {where}{msg}")
        return e.exit_code
    except InceptionCostError as e:
        _say(f"error: {_one_line(str(e))}")
        return e.exit_code
    except KeyboardInterrupt:
        _say("error: interrupted")
        return 130
    except SystemExit as e:
        # our own code never calls sys.exit: this came from a user's model file,
        # factory or forward
        _say(f"error: the model's code called sys.exit({e.code!r}); a model file must not exit")
        return 2
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except UnicodeEncodeError as e:
        _say(f"error: the output cannot be encoded as {e.encoding}: set PYTHONIOENCODING=utf-8 "
             "(or use --format csv/json, or --output FILE)")
        return 2
    except MemoryError:
        _say("error: out of memory (the input or batch is too large for this machine)")
        return 2
    except OSError as e:
        where = f": {e.filename}" if e.filename else ""
        _say(f"error: {e.strerror or e}{where}")
        return 1
    except Exception as e:  # noqa: BLE001 - last resort: one line, never a traceback
        if os.environ.get("INCEPTION_COST_DEBUG"):
            raise
        _say(f"error: internal error {type(e).__name__}: {_one_line(str(e))} "
             "(set INCEPTION_COST_DEBUG=1 for the traceback)")
        return 1


def _silence_stdout() -> None:
    """After a closed pipe, send what is left to /dev/null so exit does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def entry() -> None:  # pragma: no cover - thin wrapper for the console script
    # Ctrl-C raises KeyboardInterrupt, which main() turns into "error: interrupted"
    # (exit 130), including while torch is being imported.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
