"""The requests of a query/retrieve tool run (movescu, getscu): the query files and the ``-k``
keys applied to each, checked at command-line time as DCMTK does."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..cli.options import CommandLineError
from .identifier import KeyIdentifier
from .mover import Keys, MoveRequest


def requests(texts: Sequence[str], files: Sequence[str], rightmost_wins: bool = False) -> list[MoveRequest]:
    """(query file or None, keys) for each request.  Keys alone that ``KeyIdentifier`` can
    code need no pydicom (most of a tool's start-up); bad keys and unreadable files are
    command-line errors.  Of two keys for a tag the leftmost wins (DCMTK's movescu), or with
    ``rightmost_wins`` the rightmost, paths applied left to right (DCMTK's getscu)."""
    fast = KeyIdentifier.parse(texts, rightmost_wins) if texts and not files else None
    keys: Keys
    if fast is not None:
        keys = fast
    else:
        from .keys import parse_keys

        keys = parse_keys(texts)
        if rightmost_wins:  # ``apply_keys`` applies right to left: the rightmost key then comes last
            keys.reverse()
    for path in files:
        if not os.access(path, os.R_OK) or os.path.isdir(path):
            raise CommandLineError(f"cannot access file: {path}")
    if not files and not texts:
        raise CommandLineError("either query file or override keys (or both) must be specified")
    return [(path, keys) for path in files] or [(None, keys)]
