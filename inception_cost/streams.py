"""The tool's stdout, kept apart from what a user's model prints.

While a command runs, ``sys.stdout`` points at stderr, so a ``print`` in a model
file, its factory or its forward lands on stderr; the tool's own tables and lines
go to :func:`stdout` (the real stdout), so ``--format csv`` on stdout stays clean.
A failed write to stdout (a full device, a closed descriptor) becomes one
:class:`~inception_cost.atomic.WriteError` line, exit 2.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Iterator, TextIO

_tool_stdout: TextIO | None = None


def stdout() -> TextIO:
    """Where the tool's own output goes (the real stdout, even while models print)."""
    return _tool_stdout if _tool_stdout is not None else sys.stdout


@contextlib.contextmanager
def model_prints_to_stderr() -> Iterator[None]:
    """Point ``sys.stdout`` at stderr for the block; :func:`stdout` stays the real one."""
    global _tool_stdout
    saved, outer = sys.stdout, _tool_stdout
    _tool_stdout = stdout()
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        sys.stdout = saved
        _tool_stdout = outer


def write(text: str) -> None:
    """Write ``text`` to the tool's stdout; an OSError (not a closed pipe) becomes a
    WriteError that names stdout."""
    out = stdout()
    try:
        out.write(text)
        out.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        silence()
        from .atomic import WriteError
        raise WriteError(f"cannot write to stdout: {e.strerror or e}") from None


def echo(line: str = "") -> None:
    """``line`` and a newline on the tool's stdout."""
    write(line + "\n")


def silence() -> None:
    """After a failed or closed stdout, point its descriptor at /dev/null so the
    interpreter's last flush at exit neither fails nor complains."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout().fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass
