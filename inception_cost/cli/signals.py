"""Ctrl-C and SIGTERM end a command the same way: the exception unwinds the stack,
so every ``finally`` runs (a temporary file being written is removed, the old file
stays), then ``main`` prints one line and exits 130 (SIGINT) or 143 (SIGTERM)."""
from __future__ import annotations

import signal


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM (exit 143)."""


def _on_sigterm(signum, frame) -> None:
    # one SIGTERM is enough: a second one must not cut the clean-up short
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def install() -> None:
    """SIGINT raises KeyboardInterrupt (even while torch is imported) and SIGTERM
    raises :class:`Terminated`. Call from the main thread of the process."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)
