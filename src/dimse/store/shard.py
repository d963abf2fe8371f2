"""storescu's ``--shard i/n``: this process's share of the input files.

Every file belongs to exactly one of n shards, decided from what the file is and not from
where the process runs: its SOP Instance UID when it can be read (the same object under two
mount points lands in the same shard), else its path as given.  n processes given the same
files and shards 0..n-1 (a GNU parallel job, a Slurm array, a Kubernetes Indexed Job) send
every file exactly once together, with no coordinator; ``0/1`` is every file.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..cli.options import CommandLineError

_SHARD = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(text: str) -> tuple[int, int]:
    """``i/n`` with 0 <= i < n, as (i, n)."""
    match = _SHARD.fullmatch(text)
    if match is None:
        raise CommandLineError(f"Invalid value for option --shard ({text}): expected i/n, e.g. 0/4")
    index, count = int(match[1]), int(match[2])
    if count < 1 or index >= count:
        raise CommandLineError(f"Invalid value for option --shard ({text}): i must be 0..n-1 and n at least 1")
    return index, count


def shard_of(key: str, count: int) -> int:
    """A stable hash of ``key`` (the same on every host and Python version) modulo ``count``."""
    import hashlib  # here, not at start-up (~10 ms): only --shard needs it

    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % count


def select(files: list[str], index: int, count: int, uid_of: Callable[[str], str]) -> list[str]:
    """The files of shard ``index`` of ``count``, in their order; ``uid_of`` gives a file's
    SOP Instance UID ("" when it cannot be read)."""
    if count == 1:
        return list(files)
    return [path for path in files if shard_of(uid_of(path) or f"path:{path}", count) == index]
