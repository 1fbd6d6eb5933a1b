"""Progress bars (rich) for long operations; a no-op when not asked for."""

from __future__ import annotations

from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["progress_task"]


@contextmanager
def progress_task(description: str, total: int, enabled: bool):
    """Yield ``advance(n)``; draws a rich progress bar on stderr when ``enabled``."""
    if not enabled:
        yield lambda n=1: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
