"""Receiving a data set into a file: a temporary file, renamed into place only when complete.

Nothing is ever written outside the output directory: the name comes from a SOP Instance
UID only after the UID was checked to be a valid UID (digits and dots).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from .errors import DimseError
from .modality import modality_prefix


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


def path_inside(directory: Path, name: str) -> Path:
    """``directory/name``, refusing anything that would leave ``directory``."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise UnsafeName(f"unsafe file name: {name!r}")
    return directory / name


_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _create_temporary(final_path: Path) -> tuple[int, str]:
    """``<dir>/.<name>.part``, created exclusively (mode 0600); a random name only when that
    one is taken (the same object arriving twice at once).  Cheaper than mkstemp's random
    names, which cost a Storage SCP a measurable share of its time per object."""
    tmp = str(final_path.parent / f".{final_path.name}.part")
    try:
        return os.open(tmp, _TEMP_FLAGS, 0o600), tmp
    except FileExistsError:
        return tempfile.mkstemp(dir=final_path.parent, prefix=f".{final_path.name}.", suffix=".part")


class FileSink:
    """Collects a data set in ``<dir>/.<name>.part`` and renames it to ``<dir>/<name>`` on commit."""

    def __init__(self, final_path: Path, prefix: bytes = b"") -> None:
        self.final_path = final_path
        fd, tmp = _create_temporary(final_path)
        self._tmp = Path(tmp)
        self._file = os.fdopen(fd, "wb", buffering=1 << 20)
        self.size = 0
        try:
            if prefix:
                self._file.write(prefix)
        except BaseException:
            self.discard()
            raise

    def write(self, data: memoryview | bytes) -> None:
        self._file.write(data)
        self.size += len(data)

    def commit(self) -> Path:
        """Close and move into place; returns the final path."""
        try:
            self._file.close()
            os.replace(self._tmp, self.final_path)
        except BaseException:
            self.discard()
            raise
        return self.final_path

    def discard(self) -> None:
        """Drop what was received; safe to call more than once."""
        try:
            self._file.close()
        except OSError:
            pass
        self._tmp.unlink(missing_ok=True)


class NullSink:
    """Receives and forgets (``--ignore``)."""

    size = 0

    def write(self, data: memoryview | bytes) -> None:
        self.size += len(data)

    def commit(self) -> None:
        return None

    def discard(self) -> None:
        return None
