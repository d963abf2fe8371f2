"""An input file as what is sent of it: opened once, checked whole, then its bytes or its data set.

storescu (``store.sender``) and ``Association.store_file`` send files the same way, DCMTK's:
the file is opened once (:func:`~dimse.files.part10.open_regular`: regular files only), its meta
header read, and its whole element structure walked before anything is sent, reading a
non-standard VR as DCMTK does, so a damaged length is refused with DCMTK's lines.  A file in a
syntax the peer accepted is then sent as it is from that same handle (from memory when the
small file was read whole with its header); otherwise it is decoded with pydicom and encoded
again.  The handle stays open until :meth:`Source.close`, so a file renamed or removed after
it was opened (an outbox cleaner, ``+rn``) is still sent whole.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

from ..uids import NATIVE
from ..uids import DeflatedExplicitVRLittleEndian as DEFLATED
from ..uids import ExplicitVRBigEndian as BEE
from ..uids import ExplicitVRLittleEndian as LEE
from ..uids import ImplicitVRLittleEndian as LEI
from .part10 import (
    BadDicomFile,
    Part10Header,
    encode_dataset,
    garbled,
    open_regular,
    read_any,
    read_part10_header,
    read_sop_uids,
    truncated,
)
from .scan import VRS, Garbled, Truncated, scan

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

#: what goes on the wire for a data set: its bytes, or a region ``(file, offset, length)`` of a file
Payload = bytes | memoryview | tuple[BinaryIO, int, int]


def reencodable(source: str, target: str) -> bool:
    """Whether a data set in ``source`` can be sent in ``target`` by decoding and encoding it
    again (the same syntax, or one native syntax to another); anything else needs a codec."""
    return target == source or (source in NATIVE and target in NATIVE)


class Source:
    """A file opened for sending: its transfer syntax and SOP UIDs (DCMTK's storescu announces
    these), and either the data set as it is on disk (``region``, or ``in_memory`` for a small
    file read whole, with its Part 10 ``header``) or the data set decoded (``dataset``: a bare
    data set, or a file that had to be decoded to be checked or changed).  Close it (or use it
    as a context manager) once it is sent.  Two sources are equal only if they are the same."""

    def __init__(  # noqa: PLR0913 (what was found opening the file)
        self,
        transfer_syntax: str,
        sop_class: str,
        sop_instance: str,
        fp: BinaryIO | None,
        region: tuple[BinaryIO, int, int] | None = None,
        in_memory: memoryview | None = None,
        dataset: Dataset | None = None,
        header: Part10Header | None = None,
    ) -> None:
        self.transfer_syntax = transfer_syntax
        self.sop_class = sop_class
        self.sop_instance = sop_instance
        self.fp = fp
        self.region = region
        self.in_memory = in_memory
        self.dataset = dataset
        self.header = header

    def close(self) -> None:
        if self.fp is not None:
            self.fp.close()
            self.fp = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def decoded(self) -> Dataset:
        """The data set through pydicom (decoded from the open file the first time)."""
        if self.dataset is None:
            if self.fp is None:
                raise BadDicomFile("file already closed")
            self.dataset = read_any(self.fp)
        return self.dataset

    def payload(self, target: str, deflate_level: int = 6) -> Payload | None:
        """What to send for ``target``: the data set as it is when ``target`` is its own syntax,
        else decoded and encoded again; None when that takes a codec (a compressed syntax)."""
        if target == self.transfer_syntax and self.region is not None:
            return self.in_memory if self.in_memory is not None else self.region
        if not reencodable(self.transfer_syntax, target):
            return None
        return encode_dataset(self.decoded(), target, deflate_level)


def open_source(
    path: str | Path,
    *,
    allow_file: bool = True,
    allow_dataset: bool = True,
    uid_padding: bool = False,
    amend: Callable[[Dataset], object] | None = None,
) -> Source:
    """Open ``path`` and read it as far as sending it needs: a Part 10 file (``allow_file``),
    else a bare data set (``allow_dataset``), as storescu's ``+f``/``+fo``/``-f`` say.
    ``uid_padding`` drops one trailing space of each SOP UID (``-up``); ``amend`` changes the
    data set before it is sent (invent mode), so the file is then decoded.  Raises
    :class:`BadDicomFile` (in DCMTK's words) for a file that cannot be sent."""
    fp = open_regular(path)
    try:
        return _load(path, fp, allow_file, allow_dataset, uid_padding, amend)
    except BaseException:
        fp.close()
        raise


def _load(
    path: str | Path,
    fp: BinaryIO,
    allow_file: bool,
    allow_dataset: bool,
    uid_padding: bool,
    amend: Callable[[Dataset], object] | None,
) -> Source:
    header = _header(path, fp, allow_file, allow_dataset)
    if header is None:
        _whole_bare(fp)
    else:
        uids = _whole(header, fp)
        if uids is not None and amend is None:
            sop_class, sop_instance = (_unpad(v, uid_padding) for v in uids)
            in_memory = header.dataset_in_memory if header.transfer_syntax != DEFLATED else None
            region = (fp, header.dataset_offset, header.dataset_length)
            return Source(header.transfer_syntax, sop_class, sop_instance, fp, region, in_memory, header=header)
    ds = read_any(fp)
    if amend is not None:
        amend(ds)
    sop_class, sop_instance = (_unpad(str(ds.get(k, "") or ""), uid_padding) for k in ("SOPClassUID", "SOPInstanceUID"))
    return Source(_ts_of(ds), sop_class, sop_instance, fp, dataset=ds)


def _header(path: str | Path, fp: BinaryIO, allow_file: bool, allow_dataset: bool) -> Part10Header | None:
    """The Part 10 header; None for a bare data set (no header, and that is allowed)."""
    if not allow_file:
        return None
    try:
        return read_part10_header(path, fp)
    except BadDicomFile:
        if not allow_dataset:
            raise
        return None


def _whole(header: Part10Header, fp: BinaryIO) -> tuple[str, str] | None:
    """Refuse a file whose data set is not whole, as DCMTK does, before anything of it is
    sent or decoded (pydicom's forced reading would take damaged lengths for values).  Returns
    the SOP UIDs, or None when the data set is whole only read as implicit VR (it is then
    decoded and encoded again)."""
    try:
        return read_sop_uids(header, fp)
    except Garbled as exc:
        if not exc.at_start:
            raise garbled(exc) from None
    _whole_as_implicit(header, fp)
    return None


def _whole_as_implicit(header: Part10Header, fp: BinaryIO) -> None:
    """A data set whose first element is not explicit VR is decoded (and re-encoded) only if
    it is whole read as implicit VR little endian, the usual way such files are written."""
    _walk(fp, header.dataset_offset, header.dataset_length, True, True)


def _whole_bare(fp: BinaryIO) -> None:
    """The same check for a data set without meta header (``+f``, ``-f``), in the encoding
    its first element shows -- DCMTK's guess: explicit VR when a VR follows the tag, big
    endian when the group reads as one."""
    size = fp.seek(0, 2)
    fp.seek(0)
    head = fp.read(6)
    implicit = len(head) < 6 or head[4:6] not in VRS
    little = not (len(head) >= 2 and head[0] == 0 and head[1] != 0)
    _walk(fp, 0, size, implicit, little)


def _walk(fp: BinaryIO, offset: int, length: int, implicit: bool, little: bool) -> None:
    """The structural walk of :func:`~dimse.files.scan.scan`, its verdict in DCMTK's words."""
    try:
        scan(fp, offset, length, implicit, little)
    except Truncated as exc:
        raise truncated(exc) from None
    except Garbled as exc:
        raise garbled(exc) from None


def _ts_of(ds: Dataset) -> str:
    """A decoded data set's transfer syntax: its meta header's, else what pydicom read it as."""
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if ts:
        return ts
    implicit, little = ds.original_encoding
    return LEI if implicit else (LEE if little else BEE)


def _unpad(uid: str, uid_padding: bool) -> str:
    """-up drops one trailing space; a trailing NUL is UI padding anyway."""
    if uid_padding and uid.endswith(" "):
        uid = uid[:-1]
    return uid.rstrip("\0")
