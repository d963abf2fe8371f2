"""storescu's ``--journal``: an append-only record of what became of each file, to resume by.

One JSON object per line, written when a file's final outcome is known (after its response,
or after the last attempt failed): its absolute path, size and modification time, the SOP
Instance UID sent, the status (or the error), the peer, the time and the attempts.  Each line
goes to the operating system at once, in one ``write`` (so a ``kill -9`` of storescu loses
no line written: only the files in flight, whose responses had not come, are sent again);
the journal is fsync'd every :data:`SYNC_EVERY` lines or :data:`SYNC_SECONDS` seconds and
at the end, so a power loss costs at most that many lines.

A run given an existing journal skips every file whose path, size and modification time are
recorded as stored (success or warning): a file changed since, moved, or from another file
set is sent.  A torn last line (a kill in the middle of a write) is ignored; a file whose
other lines are not journal lines is refused, never appended to.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

#: fsync after this many lines ...
SYNC_EVERY = 100
#: ... or when this many seconds passed since the last fsync
SYNC_SECONDS = 1.0

_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


class JournalError(Exception):
    """The journal cannot be read or written (one line for the user, exit code 1)."""


@dataclass(frozen=True)
class FileState:
    """What identifies a file's content well enough to skip it: size and modification time."""

    size: int
    mtime_ns: int


def file_state(path: str) -> FileState | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return FileState(st.st_size, st.st_mtime_ns)


def journal_key(path: str) -> str:
    """The name a file is recorded under: absolute, so that runs from other folders agree."""
    return os.path.abspath(path)


def read_stored(path: str) -> dict[str, FileState]:
    """The files an existing journal records as stored (a later line wins); empty if none."""
    try:
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
        except (ValueError, KeyError, TypeError):
            if number == last:  # torn by a kill in the middle of its write
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
        self.stored = read_stored(path)
        try:
            self._fd = os.open(path, _OPEN_FLAGS, 0o666)
        except OSError as exc:
            raise JournalError(f"cannot open journal file: {path}: {exc.strerror or exc}") from None
        self._unsynced = 0
        self._synced_at = time.monotonic()
        self._torn_tail()

    def _torn_tail(self) -> None:
        """Start on a line of our own when the last run was killed in the middle of one."""
        size = os.fstat(self._fd).st_size
        if size:
            with open(self.path, "rb") as fp:
                fp.seek(size - 1)
                if fp.read(1) != b"\n":
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
