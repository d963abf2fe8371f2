"""storescu's ``--journal``: an append-only record of what became of each file, to resume by.

One JSON object per line, written when a file's final outcome is known (after its response,
or after the last attempt failed): its absolute path, size and modification time, the SOP
Instance UID sent, the status (or the error), the peer, the time and the attempts.  Each line
goes to the operating system at once, in one ``write`` (so a ``kill -9`` of storescu loses
no line written: only the files in flight, whose responses had not come, are sent again);
the journal is fsync'd every :data:`SYNC_EVERY` lines or :data:`SYNC_SECONDS` seconds and
at the end, so a power loss costs at most that many lines.

A run given an existing journal skips every file whose path, size and modification time are
recorded as stored (success or warning) at the same peer (called AE title, host and port as
given): a file changed since, moved, from another file set, or bound for another peer is sent.  A torn last line (a kill in the middle of a write) is ignored; a file whose
other lines are not journal lines is refused, never appended to.
"""

from __future__ import annotations

import os
import stat
import time
from typing import BinaryIO

from ..core.record import FrozenRecord

#: fsync after this many lines ...
SYNC_EVERY = 100
#: ... or when this many seconds passed since the last fsync
SYNC_SECONDS = 1.0

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)

#: how every line of ours begins: a last line that does not parse is a torn one of ours only
#: if it begins so (or is a beginning of it); any other is some other file's, never ours
_LINE_START = b'{"path":'


def _torn(line: bytes) -> bool:
    return line.startswith(_LINE_START) or _LINE_START.startswith(line)


def _parses(line: bytes) -> bool:
    import json  # here: a run without --journal does not load json (~3 ms at start-up)

    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _whole_lines_end(fp: BinaryIO, size: int) -> int:
    """Where the last whole line of a file of ``size`` bytes ends (0: it has none)."""
    end = size
    while end > 0:
        start = max(0, end - 65536)
        fp.seek(start)
        found = fp.read(end - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end = start
    return 0


class JournalError(Exception):
    """The journal cannot be read or written (one line for the user, exit code 1)."""


class FileState(FrozenRecord):
    """What identifies a file's content well enough to skip it: size and modification time."""

    __slots__ = ("size", "mtime_ns")
    size: int
    mtime_ns: int

    def __init__(self, size: int, mtime_ns: int) -> None:
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "mtime_ns", mtime_ns)


def file_state(path: str) -> FileState | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return FileState(st.st_size, st.st_mtime_ns)


def journal_key(path: str) -> str:
    """The name a file is recorded under: absolute, so that runs from other folders agree."""
    return os.path.abspath(path)


def read_stored(path: str, peer: str | None = None) -> dict[str, FileState]:
    """The files an existing journal records as stored (at ``peer``, if given; a later line
    wins); empty if none."""
    import json

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # /dev/zero would be read forever, a FIFO block
            raise JournalError(f"cannot use journal file: {path}: not a regular file")
        with open(path, "rb") as fp:
            lines = fp.read().split(b"\n")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise JournalError(f"cannot read journal file: {path}: {exc.strerror or exc}") from None
    stored: dict[str, FileState] = {}
    last = len(lines) - 1
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            key, state = entry["path"], FileState(int(entry["size"]), int(entry["mtime_ns"]))
            ok = entry["ok"] is True
            if peer is not None and entry["peer"] != peer:
                continue
        except (ValueError, KeyError, TypeError):
            if number == last and _torn(line):  # cut short in the middle of its write
                continue
            raise JournalError(f"not a storescu journal: {path} (line {number + 1})") from None
        if ok:
            stored[key] = state
        else:
            stored.pop(key, None)
    return stored


class Journal:
    """The journal of one run: what earlier runs stored, and the lines this one adds."""

    def __init__(self, path: str, peer: str) -> None:
        self.path = path
        self.peer = peer
        self.stored = read_stored(path, peer)
        try:
            self._fd = os.open(path, _OPEN_FLAGS, 0o666)
        except OSError as exc:
            raise JournalError(f"cannot open journal file: {path}: {exc.strerror or exc}") from None
        self._unsynced = 0
        self._synced_at = time.monotonic()
        self._torn_tail()

    def _torn_tail(self) -> None:
        """Only whole lines before ours: a torn last line (ignored when read) is cut off, else
        it would be a bad line in the middle next time; a whole one gets its newline."""
        try:
            size = os.fstat(self._fd).st_size
            with open(self.path, "rb") as fp:
                keep = _whole_lines_end(fp, size)
                fp.seek(keep)
                tail = fp.read(size - keep)
            torn = bool(tail) and not _parses(tail)
            if torn:
                os.ftruncate(self._fd, keep)
        except OSError as exc:
            raise JournalError(f"cannot write journal file: {self.path}: {exc.strerror or exc}") from None
        if tail and not torn:
            self._write(b"\n")

    def already_stored(self, path: str) -> bool:
        """Recorded as stored, and unchanged since (size and modification time)."""
        recorded = self.stored.get(journal_key(path))
        return recorded is not None and recorded == file_state(path)

    def record(
        self,
        path: str,
        ok: bool,
        *,
        sop_instance: str,
        status: int | None,
        error: str | None,
        attempts: int,
        state: FileState | None = None,
    ) -> None:
        """One file's final outcome, written at once (``state``: the file as it was sent,
        read now when not given)."""
        import json
        from datetime import UTC, datetime

        state = state or file_state(path) or FileState(-1, -1)
        entry = {
            "path": journal_key(path),
            "size": state.size,
            "mtime_ns": state.mtime_ns,
            "sop_instance": sop_instance,
            "ok": ok,
            "status": status,
            "error": error,
            "peer": self.peer,
            "attempts": attempts,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        self._write(json.dumps(entry, separators=(",", ":")).encode() + b"\n")
        self._unsynced += 1
        if self._unsynced >= SYNC_EVERY or time.monotonic() - self._synced_at >= SYNC_SECONDS:
            self.sync()

    def _write(self, data: bytes) -> None:
        try:
            while data:
                data = data[os.write(self._fd, data) :]
        except OSError as exc:
            raise JournalError(f"cannot write journal file: {self.path}: {exc.strerror or exc}") from None

    def sync(self) -> None:
        """Everything written so far, on disk."""
        if self._unsynced:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise JournalError(f"cannot write journal file: {self.path}: {exc.strerror or exc}") from None
        self._unsynced = 0
        self._synced_at = time.monotonic()

    def close(self) -> None:
        if self._fd >= 0:
            try:
                self.sync()
            finally:
                os.close(self._fd)
                self._fd = -1
