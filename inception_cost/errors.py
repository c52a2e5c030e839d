"""Errors with one-line messages; the CLI prints them and exits non-zero."""
from __future__ import annotations


class InceptionCostError(Exception):
    """Base class: ``str(err)`` is the one line shown to the user."""

    exit_code = 1


class UsageError(InceptionCostError, ValueError):
    """Bad input from the user (unknown name, malformed size, bad option)."""

    exit_code = 2


class InputTooSmallError(UsageError):
    def __init__(self, module: str, input_chw: tuple, smallest: int | None):
        self.module, self.input_chw, self.smallest = module, input_chw, smallest
        c, h, w = input_chw
        hint = (f"; the smallest square input that works is {c}x{smallest}x{smallest}"
                if smallest else "")
        super().__init__(f"input {c}x{h}x{w} is too small: the output of '{module}' would be "
                         f"empty{hint}")
