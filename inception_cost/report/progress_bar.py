"""The terminal's progress bar for a profiling sweep: a rich bar on stderr when it is a
terminal, else :class:`~inception_cost.profiling.sweep.LineProgress`'s line per finished
configuration.  Passed to ``profile(progress=...)`` by the CLI; the sweep only calls the
observer's ``begin``/``start``/``finish``/``close``."""
from __future__ import annotations

import sys

from ..profiling.sweep import LineProgress


class TerminalProgress(LineProgress):
    """A rich bar (transient, on stderr) labelled with the configuration being run."""

    def begin(self, total: int) -> None:
        super().begin(total)
        self.bar = None
        if not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn)
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(),
                            console=Console(stderr=True), transient=True)
        self.bar.start()
        self.task = self.bar.add_task("profiling", total=total)

    def start(self, config) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=config.label())

    def finish(self, config, row: dict) -> None:
        if self.bar is None:
            super().finish(config, row)
        else:
            self.done += 1
            self.bar.advance(self.task)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
