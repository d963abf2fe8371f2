"""Receiving a data set into a file: a temporary file, renamed into place only when complete.

Nothing is ever written outside the output directory: the name comes from a SOP Instance
UID only after the UID was checked to be a valid UID (digits and dots).
"""

from __future__ import annotations

import os
import re

from ..dcmtk.modality import modality_prefix
from ..errors import DimseError


class UnsafeName(DimseError):
    """A peer-supplied UID that must not become a file name."""


#: PS3.5 9.1 (pydicom's rule, without importing pydicom): numeric components, no leading zeros
_VALID_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


def is_valid_uid(value: str) -> bool:
    value = value.strip()  # as pydicom's UID does
    return 0 < len(value) <= 64 and _VALID_UID.fullmatch(value) is not None


def object_filename(sop_class: str, sop_instance: str) -> str:
    """DCMTK's name for a received object: ``<modality prefix>.<SOP Instance UID>``."""
    if not is_valid_uid(sop_instance):
        raise UnsafeName(f"SOP Instance UID is not a valid UID: {sop_instance!r}")
    return f"{modality_prefix(sop_class)}.{sop_instance}"


def path_inside(directory: str | os.PathLike[str], name: str) -> str:
    """``directory/name``, refusing anything that would leave ``directory`` (a string: a
    Storage SCP makes one per object, and path objects cost it a visible share of its time)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise UnsafeName(f"unsafe file name: {name!r}")
    return os.path.join(directory, name)


_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _process_umask() -> int:
    """The process's umask.  Linux reports it in /proc (a read, safe whatever other threads
    do); elsewhere it can only be read by setting it and setting it back, which a thread
    creating a file in between would see, hence once, at import, before any receiving."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: the mode of a received file: what any program creating a file gets (0644 under umask 022),
#: as DCMTK's files have, so that an importer running as another user can read them
FILE_MODE = 0o666 & ~_process_umask()


def _create_temporary(final_path: str) -> tuple[int, str]:
    """``<dir>/.<name>.part``, created exclusively with :data:`FILE_MODE` (kept by the rename);
    a random name only when that one is taken (the same object arriving twice at once).
    Cheaper than mkstemp's random names, which cost a Storage SCP a measurable share of its
    time per object."""
    folder, name = os.path.split(final_path)
    tmp = os.path.join(folder, f".{name}.part")
    try:
        # 0666 and the kernel applies the umask (or a default ACL of the folder), as for fopen
        return os.open(tmp, _TEMP_FLAGS, 0o666), tmp
    except FileExistsError:
        import tempfile  # only here: rare, and it costs every start-up a few ms

        fd, tmp = tempfile.mkstemp(dir=folder or ".", prefix=f".{name}.", suffix=".part")
        try:
            os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        return fd, tmp


def _write_all(fd: int, *buffers: bytes | memoryview) -> None:
    """Write every byte of ``buffers``: a regular file takes them in one call; a short write
    (rare) is finished plainly."""
    written = os.writev(fd, buffers)
    if written < sum(map(len, buffers)):
        rest = memoryview(b"".join(buffers))[written:]
        while rest:
            rest = rest[os.write(fd, rest) :]


class FileSink:
    """Collects a data set in ``<dir>/.<name>.part`` and renames it to ``<dir>/<name>`` on commit.

    The pieces go to the file as they come, with no buffer of our own (a network piece is
    already large: a PDU's worth), the meta header prefix in one vectored write with the
    first piece.  A failed write (a full disk) drops the file and the rest of the data set,
    and :meth:`commit` raises it: the peer gets a failure status, the association goes on."""

    #: the acceptor walks the data set's structure on its way here (what is kept must be sound)
    check_structure = True

    def __init__(self, final_path: str | os.PathLike[str], prefix: bytes = b"") -> None:
        self.final_path = final_path
        self._final = os.fspath(final_path)
        self._fd, self._tmp = _create_temporary(self._final)
        self._prefix = prefix
        self.size = 0
        self.error: OSError | None = None

    def write(self, data: memoryview | bytes) -> None:
        self.size += len(data)
        if self.error is not None:
            return
        try:
            if self._prefix:
                _write_all(self._fd, self._prefix, data)
                self._prefix = b""
            else:
                _write_all(self._fd, data)
        except OSError as exc:
            self.error = exc
            self.discard()

    def commit(self) -> str | os.PathLike[str]:
        """Close and move into place; returns the final path (raises the OSError that
        stopped writing, if one did)."""
        if self.error is not None:
            raise self.error
        try:
            if self._prefix:  # an empty data set: the meta header alone
                _write_all(self._fd, self._prefix)
                self._prefix = b""
            os.close(self._fd)
            self._fd = -1
            os.replace(self._tmp, self._final)
        except BaseException:
            self.discard()
            raise
        return self.final_path

    def discard(self) -> None:
        """Drop what was received; safe to call more than once."""
        if self._fd >= 0:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = -1
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass


class NullSink:
    """Receives and forgets (``--ignore``): cheap, so its data set is not checked either
    (DCMTK's ``--ignore`` does not parse it)."""

    size = 0
    #: the acceptor walks a data set's structure as it arrives unless its sink says no
    check_structure = False

    def write(self, data: memoryview | bytes) -> None:
        self.size += len(data)

    def commit(self) -> None:
        return None

    def discard(self) -> None:
        return None
