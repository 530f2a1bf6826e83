"""Rich progress bars for long jobs, driven by ``progress(done, total, text)`` callbacks."""

import contextlib


@contextlib.contextmanager
def progress_bars(console=None):
    """Yield a ``progress(done, total, text)`` callback; one bar per distinct ``text``."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    console = console or Console(stderr=True)
    bars = {}
    with Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                  disable=not console.is_terminal) as bar:

        def progress(done, total, text):
            if text not in bars:
                bars[text] = bar.add_task(text, total=total)
            bar.update(bars[text], completed=done, total=total)

        yield progress
