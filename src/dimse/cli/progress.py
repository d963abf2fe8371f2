"""Progress bars on a terminal; tqdm is imported only when a bar is actually drawn.

Most runs (scripts, pipes, any log level at info or below) draw no bar, and tqdm's import
(with importlib.metadata) is a measurable share of a tool's start-up time.
"""

from __future__ import annotations

import logging
import sys
from typing import Any


class NoBar:
    """What a tool calls on its progress bar when none is drawn (the tools update a bar only
    when it is a real one)."""

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        """Label the bar (nothing to label)."""

    def close(self) -> None:
        """Remove the bar (nothing to remove)."""


def wanted(log: logging.Logger) -> bool:
    """A bar only on a terminal, and only when nothing is logged below warnings (the bar would
    fight with the log lines)."""
    return sys.stderr.isatty() and not log.isEnabledFor(logging.INFO)


def progress_bar(enabled: bool, **options: Any) -> Any:
    """A tqdm bar on stderr with ``options`` when ``enabled``, else a :class:`NoBar`."""
    if not enabled:
        return NoBar()
    import shutil

    from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]  # no stubs shipped

    size = shutil.get_terminal_size((80, 24))  # a terminal may say 0x0; tqdm then draws nothing
    return tqdm(file=sys.stderr, leave=False, ncols=size.columns, nrows=size.lines, **options)
