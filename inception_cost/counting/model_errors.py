"""What the model's own code raised, told apart from this package's defects.

The model's forward, its training loss and ``loss.backward()`` run the user's code (and
PyTorch's checks of it); an exception there means the model rejects this input or this
step, which every command reports as one ``error:`` line, exit 2. Each runs inside one of
the context managers below, which re-raise such an exception as :class:`ForwardError` (or
:class:`BackwardError`); anything raised outside them -- this package's own counting or
recording -- keeps its type and surfaces as an internal error.
"""
from __future__ import annotations

import contextlib
import os
from typing import Iterator, Protocol

from ..errors import UsageError
from .autograd_map import LOSS_MODULE


class ForwardError(RuntimeError):
    """The model's forward raised; ``module`` is the innermost module running."""

    def __init__(self, module: str, message: str):
        self.module = module or "<top>"
        self.original = message
        super().__init__(f"forward failed in module '{self.module}': {message}")


class BackwardError(ForwardError):
    """``loss.backward()`` raised (PyTorch refused the step, e.g. a tensor autograd
    saved was modified in place): ``original`` is PyTorch's reason, one line."""

    def __init__(self, message: str):
        RuntimeError.__init__(self, f"backward failed: {message}")
        self.module = LOSS_MODULE
        self.original = message


class Running(Protocol):
    def current(self) -> tuple[str, str]:
        """(path, type name) of the innermost named module running."""


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def raised_here(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc`` is this package's code (then it is a
    defect to report as such, not the model's or PyTorch's refusal)."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(_PACKAGE + os.sep)


def reason(exc: BaseException) -> str:
    """The first line of an exception's message, without PyTorch's debugging hint."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text.split(" Hint: ", 1)[0].strip()


@contextlib.contextmanager
def model_forward(running: Running) -> Iterator[None]:
    """The model's forward: an Exception (not a UsageError) becomes a ForwardError naming
    the innermost module ``running`` reports."""
    try:
        yield
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised with the module path
        module, _ = running.current()
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise ForwardError(module, f"{type(exc).__name__}: {msg}") from exc


@contextlib.contextmanager
def model_loss() -> Iterator[None]:
    """The training loss on the model's outputs: an Exception raised outside this package
    becomes a ForwardError naming the loss."""
    try:
        yield
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - re-raised naming the loss
        if raised_here(exc):
            raise
        raise ForwardError(LOSS_MODULE, f"{type(exc).__name__}: {reason(exc)}") from exc


@contextlib.contextmanager
def model_backward() -> Iterator[None]:
    """``loss.backward()``: an Exception raised outside this package (PyTorch's reason)
    becomes a BackwardError."""
    try:
        yield
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - PyTorch's reason, as one line
        if raised_here(exc):       # a defect of this package: an internal error
            raise
        raise BackwardError(f"{type(exc).__name__}: {reason(exc)}") from exc
