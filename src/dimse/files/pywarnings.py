"""Python warnings (pydicom's, mostly) as log lines instead of text on stderr.

Real archives are full of values pydicom warns about ("Invalid value for VR UI"); DCMTK's
tools say nothing of them when they only send or store, and scripts treat any stderr output
as a failure.  So no warning ever reaches the terminal as Python prints it: each one becomes
a ``D:`` line of the tool's log.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

log = logging.getLogger("dimse.warnings")


def _show(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    log.debug("%s: %s", category.__name__, message)


def route_to_log() -> None:
    """From now on every warning that would be printed is a debug log line."""
    warnings.showwarning = _show


@contextmanager
def logged() -> Iterator[None]:
    """Warnings raised inside become debug log lines here, whoever else listens (a test
    runner that records warnings included)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for warning in caught:
                _show(warning.message, warning.category, warning.filename, warning.lineno)
