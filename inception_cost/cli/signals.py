"""Ctrl-C and SIGTERM end a command the same way: the exception unwinds the stack,
so every ``finally`` runs (a temporary file being written is removed, the old file
stays), then ``main`` prints one line and exits 130 (SIGINT) or 143 (SIGTERM).

That holds for the process the console script (or ``python -m inception_cost``)
starts: :func:`install` marks it as the CLI's own. ``main`` called inside another
program (a test suite, a notebook) owns neither the process nor its signals: a real
Ctrl-C there propagates as ``KeyboardInterrupt`` to the caller (see :func:`watch`),
and the caller's handlers are left as they were."""
from __future__ import annotations

import contextlib
import signal
from typing import Iterator

_owns_process = False


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM (exit 143)."""


def _on_sigterm(signum, frame) -> None:
    # one SIGTERM is enough: a second one must not cut the clean-up short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def install() -> None:
    """SIGINT raises KeyboardInterrupt (even while torch is imported) and SIGTERM
    raises :class:`Terminated`. Call from the main thread of the process, in the
    process's entry point only (never from ``main``: an in-process call must not
    replace its caller's handlers)."""
    global _owns_process
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)
    _owns_process = True


def owns_process() -> bool:
    """True once :func:`install` ran: this process is the CLI's own."""
    return _owns_process


class SigintSeen:
    """Whether a SIGINT arrived while :func:`watch` was active."""

    arrived = False


@contextlib.contextmanager
def watch() -> Iterator[SigintSeen]:
    """Note whether a real SIGINT arrives during the block, so an in-process ``main``
    can tell the caller's Ctrl-C (to propagate) from a ``KeyboardInterrupt`` a model
    raised (one line, exit 130). The caller's SIGINT handler still runs and is
    restored when the block ends. Nothing is installed outside the main thread, or
    when the handler is not a Python function (SIG_IGN, SIG_DFL: no
    ``KeyboardInterrupt`` can come from the signal then)."""
    seen = SigintSeen()
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous):
        yield seen
        return

    def noticing(signum, frame):
        seen.arrived = True
        previous(signum, frame)

    try:
        signal.signal(signal.SIGINT, noticing)
    except ValueError:                  # not the main thread: no signal reaches here
        yield seen
        return
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)
