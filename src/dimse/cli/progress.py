"""Progress bars on a terminal; tqdm is imported only when a bar is actually drawn.

Most runs (scripts, pipes, any log level at info or below) draw no bar, and tqdm's import
(with importlib.metadata) is a measurable share of a tool's start-up time.
"""

from __future__ import annotations

from typing import Any


class NoBar:
    """What a tool calls on its progress bar, doing nothing (no terminal, or logging is on)."""

    total: int | None = 0
    n: int = 0

    def update(self, n: int = 1) -> None:
        """Count ``n`` more (unused)."""

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        """Label the bar (unused)."""

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Text after the bar (unused)."""

    def refresh(self) -> None:
        """Redraw (unused)."""

    def close(self) -> None:
        """Remove the bar (unused)."""


def progress_bar(enabled: bool, **options: Any) -> Any:
    """A tqdm bar with ``options`` when ``enabled``, else a :class:`NoBar`."""
    if not enabled:
        return NoBar()
    from tqdm import tqdm

    return tqdm(**options)
