"""Receiving a data set into a file: a temporary file, renamed into place only when complete.

Nothing is ever written outside the output directory: the name comes from a SOP Instance
UID only after the UID was checked to be a valid UID (digits and dots).

The temporary file of ``<dir>/<name>`` is ``<dir>/.dimse-part/<host>-<pid>-<name>``: in a hidden
folder (a scan of ``<dir>`` does not find half-received objects, not even one left by a killed
receiver), on the file system of ``<dir>`` (the rename is atomic), named for the process
writing it (the next receiver to start removes the files of dead processes of its host and
leaves those of live ones alone: :func:`sweep_temporary`).  See docs/reliability.md.
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


def object_filename(sop_class: str, sop_instance: str, prefixed: bool = True) -> str:
    """DCMTK's name for a received object: ``<modality prefix>.<SOP Instance UID>`` (not
    ``prefixed``: the UID alone, as DCMTK getscu's ``+B`` names it)."""
    if not is_valid_uid(sop_instance):
        raise UnsafeName(f"SOP Instance UID is not a valid UID: {sop_instance!r}")
    return f"{modality_prefix(sop_class)}.{sop_instance}" if prefixed else sop_instance


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


#: the hidden folder, beside the received files, that holds their temporary files
PART_FOLDER = ".dimse-part"


def _host_tag() -> str:
    """This host's name as a file name part: no ``-`` (it separates the parts), no ``/``."""
    try:
        host = os.uname().nodename
    except AttributeError:  # Windows has no uname
        host = os.environ.get("COMPUTERNAME", "")
    return re.sub(r"[^A-Za-z0-9.]", "_", host) or "localhost"


_HOST = _host_tag()
#: ``<host>-<pid>-``, the start of this process's temporary file names (a forked child has its own)
_TAG = f"{_HOST}-{os.getpid()}-"


def _forked() -> None:
    global _TAG
    _TAG = f"{_HOST}-{os.getpid()}-"


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


def temporary_folder(folder: str) -> str:
    """The folder of the temporary files of objects received into ``folder``."""
    return os.path.join(folder, PART_FOLDER)


def temporary_prefix() -> str:
    """What this process's temporary file names start with (``<host>-<pid>-``)."""
    return _TAG


def make_temporary_folder(folder: str) -> str:
    """Create ``folder``'s temporary folder if it is not there (the first object received into
    ``folder``, or another receiver removed it); returns its path."""
    part = temporary_folder(folder)
    try:
        os.mkdir(part)  # the umask's mode, as the files in it get
    except FileExistsError:
        pass
    return part


def _create_temporary(final_path: str) -> tuple[int, str]:
    """``<dir>/.dimse-part/<host>-<pid>-<name>``, created exclusively with :data:`FILE_MODE`
    (kept by the rename); a random name only when that one is taken (the same object arriving
    twice at once).  Cheaper than mkstemp's random names, which cost a Storage SCP a
    measurable share of its time per object; the folder is created when an open says it is
    missing, so the usual object costs one open, as a file beside the final one would."""
    folder, name = os.path.split(final_path)
    part = temporary_folder(folder or ".")
    tmp = os.path.join(part, _TAG + name)
    for attempt in range(3):  # another receiver may remove the empty folder in between
        try:
            # 0666 and the kernel applies the umask (or a default ACL of the folder), as for fopen
            return os.open(tmp, _TEMP_FLAGS, 0o666), tmp
        except FileNotFoundError:
            if attempt == 2:
                raise
            make_temporary_folder(folder or ".")
        except FileExistsError:
            return _random_temporary(part, _TAG + name + ".")
    raise AssertionError("unreachable")


def _random_temporary(part: str, prefix: str) -> tuple[int, str]:
    """A temporary file with a random name in ``part`` (mkstemp), given :data:`FILE_MODE`."""
    import tempfile  # only here: rare, and it costs every start-up a few ms

    fd, tmp = tempfile.mkstemp(dir=part, prefix=prefix)
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, tmp


def random_temporary(final_path: str) -> tuple[int, str]:
    """A temporary file for ``final_path`` with a random name (a file rewritten in place:
    ``move.rewrite``), in the same folder as the received ones and named the same way."""
    folder, name = os.path.split(final_path)
    make_temporary_folder(folder or ".")
    return _random_temporary(temporary_folder(folder or "."), _TAG + name + ".")


def remove_temporary_folder(folder: str) -> None:
    """Remove ``folder``'s temporary folder if it is empty (a receiver stopping, an object
    dropped): an idle output folder holds the received files only.  Another receiver's files
    keep it, and one that needs it again makes it again."""
    try:
        os.rmdir(temporary_folder(folder))
    except OSError:
        pass


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (of any user: a permission error means it does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True
    return True


def _stale(name: str) -> bool:
    """A temporary file name of this host's whose process is gone.  Called before this
    process receives anything, so a name with its own pid is a previous process's (after a
    restart a pid comes back, in a container always the same one)."""
    if not name.startswith(_HOST + "-"):
        return False  # another host's: whether its process lives cannot be told from here
    pid, sep, _ = name[len(_HOST) + 1 :].partition("-")
    if not sep or not pid.isascii() or not pid.isdigit():
        return False
    return int(pid) == os.getpid() or not _alive(int(pid))


def sweep_temporary(folder: str) -> int:
    """Remove the temporary files that receivers of this host killed before they finished
    left in ``folder``'s temporary folder (the files of live processes stay: two receivers
    may share an output folder); returns how many.  Call it before receiving into ``folder``."""
    part = temporary_folder(folder)
    try:
        entries = list(os.scandir(part))
    except OSError:  # no temporary folder: nothing was left (the usual case, one failed call)
        return 0
    removed = 0
    for entry in entries:
        if _stale(entry.name):
            try:
                os.unlink(entry.path)
            except OSError:  # gone meanwhile, a folder, not ours to remove
                continue
            removed += 1
    remove_temporary_folder(folder)
    return removed


def _write_all(fd: int, *buffers: bytes | bytearray | memoryview) -> None:
    """Write every byte of ``buffers``: a regular file takes them in one call; a short write
    (rare) is finished plainly."""
    written = os.writev(fd, buffers)
    if written < sum(map(len, buffers)):
        rest = memoryview(b"".join(buffers))[written:]
        while rest:
            rest = rest[os.write(fd, rest) :]


def _sync_data(fd: int) -> None:
    """The file's data and size on disk (what reading it back needs; not its times)."""
    getattr(os, "fdatasync", os.fsync)(fd)


def sync_folder(folder: str) -> None:
    """``folder``'s entries on disk: a file renamed into it is found there after a power loss."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: the size of the writes a sink makes (a CT image in one or two, a small object in one)
WRITE_SIZE = 256 << 10


class FileSink:
    """Collects a data set in ``<dir>/.dimse-part/<host>-<pid>-<name>`` and renames it to
    ``<dir>/<name>`` on commit.

    The pieces are gathered into one buffer and written :data:`WRITE_SIZE` bytes at a time
    (a peer's PDUs are often 16 KB: one system call each cost more than the copy), the meta
    header prefix first; a piece that large on its own, with nothing gathered, is written as
    it is.  A failed write (a full disk) drops the file and the rest of the data set, and
    :meth:`commit` raises it: the peer gets a failure status, the association goes on."""

    #: the acceptor walks the data set's structure on its way here (what is kept must be sound)
    check_structure = True

    def __init__(self, final_path: str | os.PathLike[str], prefix: bytes = b"") -> None:
        self.final_path = final_path
        self._final = os.fspath(final_path)
        self._fd, self._tmp = _create_temporary(self._final)
        self._pending = bytearray(prefix)
        self.size = 0
        self.error: OSError | None = None

    def write(self, data: memoryview | bytes) -> None:
        """Take one piece (a view the caller may reuse once this returns: it is copied or
        written before)."""
        self.size += len(data)
        if self.error is not None:
            return
        pending = self._pending
        try:
            if not pending and len(data) >= WRITE_SIZE:
                _write_all(self._fd, data)
                return
            pending += data
            if len(pending) >= WRITE_SIZE:
                _write_all(self._fd, pending)
                pending.clear()
        except OSError as exc:
            self.error = exc
            self.discard()

    def _flush(self) -> None:
        """Write what is gathered (the meta header alone for an empty data set)."""
        if self._pending:
            _write_all(self._fd, self._pending)
            self._pending.clear()

    def commit(self) -> str | os.PathLike[str]:
        """Close and move into place; returns the final path (raises the OSError that
        stopped writing, if one did)."""
        if self.error is not None:
            raise self.error
        try:
            self._flush()
            os.close(self._fd)
            self._fd = -1
            os.replace(self._tmp, self._final)
        except BaseException:
            self.discard()
            raise
        return self.final_path

    def discard(self) -> None:
        """Drop what was received (and the temporary folder, if that leaves it empty); safe to
        call more than once."""
        self._pending = bytearray()
        if self._fd >= 0:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = -1
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            return  # dropped already (or committed)
        remove_temporary_folder(os.path.dirname(self._final) or ".")


class DurableFileSink(FileSink):
    """A :class:`FileSink` whose commit ends only once the object is on disk (``--fsync``):
    its data synced before the rename, its folder after it, so that a success status sent
    after the commit survives a power loss.

    The acceptor calls :meth:`settle` in a worker thread before ``store_done`` (the disk wait
    does not hold up other associations); ``commit`` then only reports what it did, or does
    it all itself when nobody settled the sink first."""

    _settled = False

    def settle(self) -> None:
        """Write the object through to disk; a failure is kept in ``error`` and raised by
        :meth:`commit`, as a failed write is."""
        if self.error is not None or self._settled:
            return
        try:
            self._commit_durably()
        except OSError as exc:
            self.error = exc
            self.discard()

    def commit(self) -> str | os.PathLike[str]:
        if self.error is not None:
            raise self.error
        if not self._settled:
            try:
                self._commit_durably()
            except BaseException:
                self.discard()
                raise
        return self.final_path

    def _commit_durably(self) -> None:
        self._flush()
        _sync_data(self._fd)
        os.close(self._fd)
        self._fd = -1
        os.replace(self._tmp, self._final)
        sync_folder(os.path.dirname(self._final) or ".")
        self._settled = True


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
