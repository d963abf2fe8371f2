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
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .errors import DimseError
from .scan import Truncated, scan, scan_meta
from .uids import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

# pydicom (and numpy through it) is imported inside the functions that decode or encode: a
# file streamed as it is needs neither, and their import is most of a tool's start-up time.


class BadDicomFile(DimseError):
    """A file that cannot be sent as it is."""


@dataclass(slots=True, frozen=True)
class Part10Header:
    """Where a Part 10 file's data set lies and what it is."""

    path: str | Path
    sop_class: str
    sop_instance: str
    transfer_syntax: str
    dataset_offset: int
    dataset_length: int
    #: the file's first bytes as read for the meta group (all of a small file), else empty
    head: bytes = field(default=b"", repr=False, compare=False)

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
        with contextlib.nullcontext(fp) if fp is not None else open(path, "rb") as fp:
            fp.seek(0)
            quick = scan_meta(fp)  # a conformant meta group, without pydicom's per-element objects
            head = b""
            if quick is not None:
                values, offset, head = quick
            else:
                values, offset = _pydicom_meta(fp, keywords)
            size = fp.seek(0, io.SEEK_END)
    except (OSError, ValueError, EOFError) as exc:
        raise BadDicomFile(str(exc)) from None
    for keyword, value in zip(keywords, values, strict=True):
        if not value:
            raise BadDicomFile(f"file meta information has no {keyword}")
    return Part10Header(path, *values, offset, size - offset, head if len(head) <= size else b"")


def _pydicom_meta(fp: BinaryIO, keywords: tuple[str, ...]) -> tuple[tuple[str, ...], int]:
    """The meta group through pydicom, for files ``scan_meta`` leaves to it."""
    from pydicom.errors import InvalidDicomError
    from pydicom.filereader import _read_file_meta_info, read_preamble

    fp.seek(0)
    try:
        read_preamble(fp, False)
        meta = _read_file_meta_info(fp)
    except InvalidDicomError as exc:
        raise BadDicomFile(f"not a DICOM Part 10 file: {exc}") from None
    return tuple(str(meta.get(k, "") or "").rstrip("\0 ") for k in keywords), fp.tell()


def read_sop_uids(header: Part10Header, fp: BinaryIO | None = None) -> tuple[str, str]:
    """SOP Class and Instance UID from the data set of a Part 10 file (not its meta header),
    after checking that the data set is structurally whole (see :mod:`dimse.scan`)."""
    if header.transfer_syntax == DeflatedExplicitVRLittleEndian:
        from pydicom import dcmread

        try:
            ds = dcmread(header.path, stop_before_pixels=True, specific_tags=[0x00080016, 0x00080018])
        except Exception as exc:  # pydicom raises many kinds on bad input
            raise BadDicomFile(str(exc) or type(exc).__name__) from None
        return tuple(str(ds[tag].value or "") if tag in ds else "" for tag in (0x00080016, 0x00080018))
    implicit, little = _flags(header.transfer_syntax)
    try:
        with contextlib.nullcontext(fp) if fp is not None else open(header.path, "rb") as fp:
            return scan(fp, header.dataset_offset, header.dataset_length, implicit, little, header.head)
    except Truncated as exc:
        raise BadDicomFile(str(exc)) from None
    except OSError as exc:
        raise BadDicomFile(exc.strerror or str(exc)) from None
    # scan.Garbled propagates: the caller decodes the file with pydicom instead of streaming it


def read_any(path: str | Path) -> Dataset:
    """Decode a whole file, Part 10 or a bare data set (pydicom guesses its encoding).

    pydicom's warnings about what it guessed are not shown: what the file is worth is said
    by the one error line of the caller, if any."""
    from pydicom import dcmread

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
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
        return encode_as(transfer_syntax, deflate_level, character_set)
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
