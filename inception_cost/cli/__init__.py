"""``inception-cost`` command line. Each command lives in its own module here;
errors become one line on stderr and a non-zero exit (2 for usage).

Start-up stays light: this module imports only click, and the command modules
(which import torch and pandas) are loaded the first time a command is looked
up; ``inception-cost --help`` reads the commands' summaries from their source,
so it never imports torch.
"""
from __future__ import annotations

import ast
import functools
import os
import sys

import click

from .. import streams
from ..errors import InceptionCostError
from . import signals
from .signals import Terminated

_registered = False


def _register() -> None:
    global _registered
    if not _registered:
        from . import commands  # noqa: F401  (adds every command to ``cli``)
        for cmd in cli.commands.values():
            cmd.callback = _model_prints_to_stderr(cmd.callback)
        _registered = True


def _model_prints_to_stderr(callback):
    """The command runs with ``sys.stdout`` on stderr, so a model's own ``print`` never
    mixes with the table; the tool writes through :mod:`inception_cost.streams`.
    (Help and version text are written before the callback runs: they stay on stdout.)"""
    @functools.wraps(callback)
    def run(*args, **kwargs):
        with streams.model_prints_to_stderr():
            return callback(*args, **kwargs)
    return run


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


def _invoke(argv: list[str] | None):
    """Parse and run one command: what click's ``main`` does, minus its handlers
    (click answers Ctrl-C with a blank line on stderr; here ``_main`` answers it)."""
    if os.environ.get("_INCEPTION_COST_COMPLETE"):   # shell completion: click's own path
        try:
            cli.main(args=argv, prog_name="inception-cost")
        except SystemExit as e:
            return e.code if isinstance(e.code, int) else 0
    args = sys.argv[1:] if argv is None else list(argv)
    with cli.make_context("inception-cost", args) as ctx:
        return cli.invoke(ctx)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the exit code. Called in-process (not through
    :func:`entry`), a real Ctrl-C propagates as ``KeyboardInterrupt`` (see
    :mod:`.signals`)."""
    if signals.owns_process():
        return _flush_stdout(_main(argv, None))
    with signals.watch() as sigint:
        return _flush_stdout(_main(argv, sigint))


def _main(argv: list[str] | None, sigint: signals.SigintSeen | None) -> int:
    try:
        rv = _invoke(argv)
        return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        _interrupted()
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
        if sigint is not None and sigint.arrived:
            raise       # the caller's Ctrl-C, not the command's: it is the caller's to handle
        _interrupted()
        return 130
    except Terminated:
        _say("error: terminated (SIGTERM)")
        return 143
    except SystemExit as e:
        # our own code never calls sys.exit: this came from a user's model file,
        # factory or forward
        _say(f"error: the model's code called sys.exit({e.code!r}); a model file must not exit")
        return 2
    except BrokenPipeError:
        streams.silence()
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
        return 2   # an I/O error: never 1, the gate's "drifted"
    except Exception as e:  # noqa: BLE001 - last resort: one line, never a traceback
        if os.environ.get("INCEPTION_COST_DEBUG"):
            raise
        _say(f"error: internal error {type(e).__name__}: {_one_line(str(e))} "
             "(set INCEPTION_COST_DEBUG=1 for the traceback)")
        return 1
    except BaseException as e:  # noqa: BLE001 - GeneratorExit or another BaseException
        # our own code raises none of these: it came from a user's model file or forward
        if os.environ.get("INCEPTION_COST_DEBUG"):
            raise
        detail = _one_line(str(e))
        _say(f"error: the model's code raised {type(e).__name__}{': ' + detail if detail else ''}"
             " (not an Exception; set INCEPTION_COST_DEBUG=1 for the traceback)")
        return 2


def _interrupted() -> None:
    """Ctrl-C: one line. On a terminal a newline first ends the line holding the echoed ^C."""
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        click.echo("", err=True)
    _say("error: interrupted")


def _flush_stdout(code: int) -> int:
    """Flush what the command left in stdout's buffer: a closed pipe is quiet, any
    other failure (a full device) is one line and exit 2."""
    try:
        streams.stdout().flush()
    except BrokenPipeError:
        streams.silence()
    except OSError as e:
        streams.silence()
        _say(f"error: cannot write to stdout: {e.strerror or e}")
        return 2
    except ValueError:   # stdout closed
        pass
    return code


def entry() -> None:  # pragma: no cover - thin wrapper for the console script
    # Ctrl-C raises KeyboardInterrupt and SIGTERM raises Terminated, which main() turns
    # into one line and exit 130 / 143, including while torch is being imported.
    signals.install()
    sys.exit(main())
