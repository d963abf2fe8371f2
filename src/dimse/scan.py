"""A structural check of a data set on disk, done before it is streamed unchanged.

Streaming a file without decoding it must not send a truncated or garbled data set that the
peer would choke on halfway (and abort).  This walks the element headers of the data set --
tags, VRs, lengths, sequence items, delimiters -- seeking over the values, and checks that
every element fits in the file.  On the way it picks up the SOP Class and Instance UID, so
one pass replaces a pydicom read of the first elements.  Values are never decoded: pydicom
stays the data set library; this only proves the bytes are whole.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from .errors import DimseError

UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
SOP_CLASS, SOP_INSTANCE = 0x00080016, 0x00080018
_LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
MAX_DEPTH = 64


class Truncated(DimseError):
    """The data set is not whole: an element or item runs past the end of the file."""


class Garbled(DimseError):
    """The bytes do not follow the transfer syntax (e.g. implicit VR behind an explicit VR
    meta header); pydicom may still read them, so the caller decodes instead of streaming."""


class _Walker:
    def __init__(self, fp: BinaryIO, end: int, implicit: bool, little: bool) -> None:
        self.fp = fp
        self.end = end
        order = "<" if little else ">"
        self.tag = struct.Struct(order + "HH")
        self.u16 = struct.Struct(order + "H")
        self.u32 = struct.Struct(order + "L")
        self.found: dict[int, bytes] = {}

    def _read(self, size: int) -> bytes:
        data = self.fp.read(size)
        if len(data) != size:
            raise Truncated(f"premature end of stream at byte {self.fp.tell()}")
        return data

    def _header(self, implicit: bool) -> tuple[int, bytes | None, int]:
        group, element = self.tag.unpack(self._read(4))
        tag = (group << 16) | element
        if group == 0xFFFE or implicit:
            return tag, None, self.u32.unpack(self._read(4))[0]
        vr = self._read(2)
        if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
            raise Garbled(f"element ({group:04x},{element:04x}) has no valid VR ({vr!r})")
        if vr in _LONG_VRS:
            self._read(2)
            return tag, vr, self.u32.unpack(self._read(4))[0]
        return tag, vr, self.u16.unpack(self._read(2))[0]

    def _skip(self, tag: int, length: int) -> None:
        here = self.fp.tell()
        if here + length > self.end:
            raise Truncated(
                f"element ({tag >> 16:04x},{tag & 0xFFFF:04x}) larger ({length}) than remaining bytes ({self.end - here})"
            )
        self.fp.seek(length, 1)

    def dataset(self, depth: int, until_item_end: bool, implicit: bool) -> None:
        """Walk elements until the end (top level) or an item delimiter (nested)."""
        if depth > MAX_DEPTH:
            raise Garbled("sequences nested too deeply")
        while self.fp.tell() < self.end:
            tag, vr, length = self._header(implicit)
            if tag == ITEM_END:
                if until_item_end:
                    return
                raise Garbled("item delimiter outside an item")
            if length == UNDEFINED:
                # an undefined-length UN holds implicit VR little endian items (PS3.5 6.2.2)
                self.items(depth + 1, implicit or vr == b"UN")
            elif depth == 0 and tag in (SOP_CLASS, SOP_INSTANCE):
                if self.fp.tell() + length > self.end:
                    self._skip(tag, length)
                self.found[tag] = self._read(length)
            else:
                self._skip(tag, length)
        if until_item_end:
            raise Truncated("premature end of stream inside an item")

    def items(self, depth: int, implicit: bool) -> None:
        """Walk the items of an undefined-length sequence (or encapsulated pixel data)."""
        while True:
            tag, _, length = self._header(implicit)
            if tag == SEQUENCE_END:
                return
            if tag != ITEM:
                raise Garbled(f"({tag >> 16:04x},{tag & 0xFFFF:04x}) where a sequence item was expected")
            if length == UNDEFINED:
                self.dataset(depth, until_item_end=True, implicit=implicit)
            else:
                self._skip(tag, length)


def scan(fp: BinaryIO, offset: int, length: int, implicit: bool, little: bool) -> tuple[str, str]:
    """Check the data set at ``offset`` (``length`` bytes) and return its SOP Class and Instance UID."""
    fp.seek(offset)
    walker = _Walker(fp, offset + length, implicit, little)
    walker.dataset(0, until_item_end=False, implicit=implicit)
    return tuple(
        walker.found.get(tag, b"").decode("ascii", "replace").rstrip("\0 ") for tag in (SOP_CLASS, SOP_INSTANCE)
    )


META_TAGS = (0x00020002, 0x00020003, 0x00020010)  # SOP class, SOP instance, transfer syntax


def scan_meta(fp: BinaryIO) -> tuple[tuple[str, str, str], int] | None:
    """The preamble and a conformant (explicit VR little endian) file meta group: the three
    UIDs a sender needs and the data set's offset.  None when the file is anything else, so the
    caller can hand it to pydicom, which copes with more."""
    if fp.read(132)[128:] != b"DICM":
        return None
    walker = _Walker(fp, 1 << 62, implicit=False, little=True)
    found: dict[int, bytes] = {}
    try:
        while True:
            start = fp.tell()
            head = fp.read(2)
            if len(head) < 2 or head != b"\x02\x00":
                fp.seek(start)
                break
            fp.seek(start)
            tag, vr, length = walker._header(implicit=False)
            if vr is None or length == UNDEFINED or length > 1 << 16:
                return None
            value = walker._read(length)
            if tag in META_TAGS:
                found[tag] = value
    except (Truncated, Garbled):
        return None
    values = tuple(found.get(tag, b"").decode("ascii", "replace").rstrip("\0 ") for tag in META_TAGS)
    return values, fp.tell()
