"""Data sets on the wire and on disk, through pydicom.

Only what the network needs: the header of a Part 10 file (so its data set can be streamed
unchanged), a data set encoded in / decoded from a transfer syntax, and the file meta
information written ahead of a received data set.
"""

from __future__ import annotations

import array
import contextlib
import functools
import io
import os
import stat
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..core.record import FrozenRecord
from ..errors import DimseError
from ..uids import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)
from .pywarnings import logged
from .scan import Garbled, Truncated, scan, scan_meta

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

# pydicom (and numpy through it) is imported inside the functions that decode or encode: a
# file streamed as it is needs neither, and their import is most of a tool's start-up time.


class BadDicomFile(DimseError):
    """A file that cannot be sent as it is.

    ``condition`` is DCMTK's code for the same failure (``0001:000a``), so that the
    ``Store SCU Failed:`` line reads as DCMTK's; None where DCMTK has no such case."""

    def __init__(self, text: str, condition: str | None = None, detail: str = "") -> None:
        super().__init__(text)
        self.condition = condition
        self.detail = detail  # what exactly is wrong, for a line of its own before the verdict

    @property
    def condition_line(self) -> str:
        """``mmmm:cccc text`` as DCMTK prints a condition (the text alone without a code)."""
        return f"{self.condition} {self}" if self.condition else str(self)


#: DCMTK's conditions (module dcmdata) for the ways a file can fail to load
PREMATURE_END = "0001:000a"  # I/O suspension or premature end of stream
END_OF_STREAM = "0001:0005"  # End of stream
FILE_ERROR = "0001:0012"  # a system error opening or reading the file, with its text
META_MISSING = "0001:001c"  # File meta information header missing
CORRUPTED = "0001:0006"  # Corrupted data


class SourceChanged(BadDicomFile):
    """The file changed (it got shorter) while its data set was being sent: the association
    carrying it had to be aborted."""


def file_error(exc: OSError) -> BadDicomFile:
    """An OSError opening or reading an input file, as DCMTK words it."""
    return BadDicomFile(exc.strerror or str(exc), FILE_ERROR)


def open_regular(path: str | Path) -> BinaryIO:
    """Open an input file for reading; anything but a regular file is refused as DCMTK
    refuses it (a pipe cannot seek, a device has no size), so that ``/dev/zero`` or
    ``/dev/urandom`` is never read without end."""
    try:
        # non-blocking: opening a pipe nobody writes to must not wait (no effect on files)
        fp = os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb")
    except OSError as exc:
        raise file_error(exc) from None
    try:
        info = os.fstat(fp.fileno())
        if not stat.S_ISREG(info.st_mode):
            os.lseek(fp.fileno(), 0, os.SEEK_END)  # a pipe or socket: Illegal seek
            raise BadDicomFile("End of stream", END_OF_STREAM)
    except OSError as exc:
        fp.close()
        raise file_error(exc) from None
    except BaseException:
        fp.close()
        raise
    return fp


_set = object.__setattr__


class Part10Header(FrozenRecord):
    """Where a Part 10 file's data set lies and what it is."""

    __slots__ = ("path", "sop_class", "sop_instance", "transfer_syntax", "dataset_offset", "dataset_length", "head")
    #: the file's first bytes as read for the meta group (all of a small file), else empty
    UNCOMPARED = frozenset({"head"})
    path: str | Path
    sop_class: str
    sop_instance: str
    transfer_syntax: str
    dataset_offset: int
    dataset_length: int
    head: bytes

    def __init__(  # noqa: PLR0913 (the header's fields, as read)
        self,
        path: str | Path,
        sop_class: str,
        sop_instance: str,
        transfer_syntax: str,
        dataset_offset: int,
        dataset_length: int,
        head: bytes = b"",
    ) -> None:
        _set(self, "path", path)
        _set(self, "sop_class", sop_class)
        _set(self, "sop_instance", sop_instance)
        _set(self, "transfer_syntax", transfer_syntax)
        _set(self, "dataset_offset", dataset_offset)
        _set(self, "dataset_length", dataset_length)
        _set(self, "head", head)

    @property
    def dataset_in_memory(self) -> memoryview | None:
        """The data set, when the whole file was read with its header (a small file)."""
        end = self.dataset_offset + self.dataset_length
        if self.head and len(self.head) == end:
            return memoryview(self.head)[self.dataset_offset : end]
        return None


def read_part10_header(path: str | Path, fp: BinaryIO | None = None) -> Part10Header:
    """Read only the preamble and file meta group; the data set is left on disk.

    ``fp``: the file already open (read_sop_uids can then go on with the same handle)."""
    keywords = ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID")
    try:
        with contextlib.nullcontext(fp) if fp is not None else open_regular(path) as fp:
            fp.seek(0)
            quick = scan_meta(fp)  # a conformant meta group, without pydicom's per-element objects
            head = b""
            if quick is not None:
                values, offset, head = quick
            else:
                values, offset = _pydicom_meta(fp, keywords)
            size = fp.seek(0, io.SEEK_END)
    except OSError as exc:
        raise file_error(exc) from None
    except (ValueError, EOFError) as exc:
        raise BadDicomFile(str(exc), PREMATURE_END) from None
    for keyword, value in zip(keywords, values, strict=True):
        if not value:
            raise BadDicomFile(f"file meta information has no {keyword}")
    return Part10Header(path, *values, offset, size - offset, head if len(head) <= size else b"")


def _pydicom_meta(fp: BinaryIO, keywords: tuple[str, str, str]) -> tuple[tuple[str, str, str], int]:
    """The meta group through pydicom, for files ``scan_meta`` leaves to it."""
    from pydicom.errors import InvalidDicomError
    from pydicom.filereader import _read_file_meta_info, read_preamble

    fp.seek(0)
    try:
        read_preamble(fp, False)
        meta = _read_file_meta_info(fp)
    except InvalidDicomError:
        raise BadDicomFile("File meta information header missing", META_MISSING) from None
    sop_class, sop_instance, transfer_syntax = (str(meta.get(k, "") or "").rstrip("\0 ") for k in keywords)
    return (sop_class, sop_instance, transfer_syntax), fp.tell()


def read_sop_uids(header: Part10Header, fp: BinaryIO | None = None) -> tuple[str, str]:
    """SOP Class and Instance UID from the data set of a Part 10 file (not its meta header),
    after checking that the data set is structurally whole (see :mod:`dimse.scan`)."""
    if header.transfer_syntax == DeflatedExplicitVRLittleEndian:
        from pydicom import dcmread

        if fp is not None:
            fp.seek(0)
        try:
            source = fp if fp is not None else header.path
            with logged():
                ds = dcmread(source, stop_before_pixels=True, specific_tags=[0x00080016, 0x00080018])
        except Exception as exc:  # pydicom raises many kinds on bad input
            raise BadDicomFile(str(exc) or type(exc).__name__) from None
        sop_class, sop_instance = (str(ds[tag].value or "") if tag in ds else "" for tag in (0x00080016, 0x00080018))
        return sop_class, sop_instance
    implicit, little = _flags(header.transfer_syntax)
    try:
        with contextlib.nullcontext(fp) if fp is not None else open_regular(header.path) as fp:
            return scan(fp, header.dataset_offset, header.dataset_length, implicit, little, header.head)
    except Truncated as exc:
        raise truncated(exc) from None
    except OSError as exc:
        raise file_error(exc) from None
    # scan.Garbled propagates: the caller decodes the file with pydicom instead of streaming it


def truncated(exc: Truncated) -> BadDicomFile:
    """A data set that runs past the end of its file, in DCMTK's two lines: the element that
    does not fit (``DcmElement: PixelData (7fe0,0010) larger (32768) than remaining bytes in
    file``), then the verdict."""
    detail = ""
    if exc.tag is not None:
        detail = f"DcmElement: {_tag_name(exc.tag)} ({exc.tag >> 16:04x},{exc.tag & 0xFFFF:04x}) larger ({exc.length}) than remaining bytes in file"
    return BadDicomFile("I/O suspension or premature end of stream", PREMATURE_END, detail)


def garbled(exc: Garbled) -> BadDicomFile:
    """A data set whose structure breaks inside (an item delimiter outside an item ...)."""
    return BadDicomFile("Corrupted data", CORRUPTED, f"DcmItem: {exc}")


def _tag_name(tag: int) -> str:
    """DCMTK's dictionary name of a tag as its parser messages print it."""
    from pydicom.datadict import keyword_for_tag

    group, element = tag >> 16, tag & 0xFFFF
    if group % 2 and 0x10 <= element <= 0xFF:
        return "PrivateCreator"
    return keyword_for_tag(tag) or "Unknown Tag & Data"


def read_any(path: str | Path | BinaryIO) -> Dataset:
    """Decode a whole file (a path or a file already open), Part 10 or a bare data set
    (pydicom guesses its encoding).

    pydicom's warnings about what it guessed are debug lines: what the file is worth is
    said by the one error line of the caller, if any."""
    from pydicom import dcmread

    try:
        if not isinstance(path, (str, Path)):
            path.seek(0)
        with logged():
            return dcmread(path, force=True)
    except Exception as exc:  # pydicom raises many kinds on bad input
        raise BadDicomFile(str(exc) or type(exc).__name__) from None


def _flags(transfer_syntax: str) -> tuple[bool, bool]:
    return transfer_syntax == ImplicitVRLittleEndian, transfer_syntax != ExplicitVRBigEndian


_WORD_SIZE = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def _swap_words(ds: Dataset) -> None:
    """Byte-swap the raw values of OW/OF/OL/OD/OV elements (pydicom writes them as they are)."""
    for elem in ds.iterall():
        size = _WORD_SIZE.get(elem.VR)
        if size and isinstance(elem.value, (bytes, bytearray)) and len(elem.value) % size == 0:
            if elem.tag == 0x7FE00010 and getattr(elem, "is_undefined_length", False):
                continue  # encapsulated pixel data is a byte stream
            words = array.array({2: "H", 4: "L", 8: "Q"}[size], elem.value)
            words.byteswap()
            elem.value = words.tobytes()


def encode_dataset(
    ds: Dataset, transfer_syntax: str, deflate_level: int = 6, character_set: str | list[str] = "iso8859"
) -> bytes:
    """``ds`` in ``transfer_syntax`` (native pixel data is not compressed here).

    Changing byte order swaps OW/OF/OL/OD/OV values too, which pydicom leaves as they are.
    An object with an ``encode_as`` method (movescu's ``move.identifier.KeyIdentifier``) codes
    itself, so that a move by a few ``-k`` keys never imports pydicom.
    """
    encode_as = getattr(ds, "encode_as", None)
    if encode_as is not None:
        coded: bytes = encode_as(transfer_syntax, deflate_level, character_set)
        return coded
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    implicit, little = _flags(transfer_syntax)
    source_little = ds.original_encoding[1] if ds.original_encoding[1] is not None else True
    swap = source_little != little
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    try:
        for _ in ds.iterall():  # raw elements read as implicit VR get their dictionary VR here
            pass
        if swap:
            _swap_words(ds)
        try:
            with logged():
                write_dataset(fp, ds, parent_encoding=character_set)
        finally:
            if swap:
                _swap_words(ds)
    except Exception as exc:  # pydicom raises many kinds on odd data sets
        raise BadDicomFile(f"cannot encode data set: {exc}") from None
    raw = fp.getvalue()
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        packer = zlib.compressobj(deflate_level, zlib.DEFLATED, -zlib.MAX_WBITS)
        raw = packer.compress(raw) + packer.flush()
        if len(raw) % 2:
            raw += b"\0"  # PS3.5 A.5: a deflated data set is padded to even length
    return raw


def decode_dataset(data: bytes, transfer_syntax: str) -> Dataset:
    """Decode a data set received in ``transfer_syntax``; errors become :class:`BadDicomFile`."""
    from pydicom.filereader import read_dataset

    try:
        if transfer_syntax == DeflatedExplicitVRLittleEndian:
            data = zlib.decompress(data, -zlib.MAX_WBITS)
        implicit, little = _flags(transfer_syntax)
        with logged():
            ds = read_dataset(io.BytesIO(data), implicit, little)
        ds.set_original_encoding(implicit, little)
        return ds
    except Exception as exc:
        raise BadDicomFile(f"cannot decode data set: {exc}") from None


def _meta_element(element: int, vr: bytes, value: bytes) -> bytes:
    """One explicit VR little endian element of group 0002."""
    if vr == b"OB":
        return struct.pack("<HH", 2, element) + b"OB\0\0" + struct.pack("<L", len(value)) + value
    return struct.pack("<HH", 2, element) + vr + struct.pack("<H", len(value)) + value


def _padded(text: str, pad: bytes) -> bytes:
    raw = text.encode("ascii", "replace")
    return raw + pad if len(raw) % 2 else raw


def meta_prefix(sop_class: str, sop_instance: str, transfer_syntax: str, source_ae: str = "") -> bytes:
    """Preamble, ``DICM`` and the file meta group of a received object, coded directly: the
    same bytes as pydicom's ``write_file_meta_info`` (``tests/test_scan.py`` compares them)
    without its per-element work, which is a large share of a Storage SCP's time per object.
    Only the instance UID changes from object to object; the other elements are kept coded."""
    group = b"".join(
        (
            _META_VERSION,
            _meta_uid(0x0002, sop_class),
            _meta_element(0x0003, b"UI", _padded(sop_instance, b"\0")),
            _meta_uid(0x0010, transfer_syntax),
            _META_IMPLEMENTATION,
            _meta_source(source_ae),
        )
    )
    return _PREAMBLE + _meta_element(0x0000, b"UL", struct.pack("<L", len(group))) + group


_PREAMBLE = bytes(128) + b"DICM"
_META_VERSION = _meta_element(0x0001, b"OB", b"\x00\x01")
_META_IMPLEMENTATION = _meta_element(0x0012, b"UI", _padded(IMPLEMENTATION_CLASS_UID, b"\0")) + _meta_element(
    0x0013, b"SH", _padded(IMPLEMENTATION_VERSION_NAME, b" ")
)


@functools.lru_cache(maxsize=512)
def _meta_uid(element: int, uid: str) -> bytes:
    return _meta_element(element, b"UI", _padded(uid, b"\0"))


@functools.lru_cache(maxsize=64)
def _meta_source(source_ae: str) -> bytes:
    return _meta_element(0x0016, b"AE", _padded(source_ae, b" ")) if source_ae else b""
