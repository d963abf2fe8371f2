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

from ..errors import DimseError

UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
SOP_CLASS, SOP_INSTANCE = 0x00080016, 0x00080018
#: VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 7.1.2)
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
#: what passes for a VR in an explicit syntax: two upper-case letters (one rule for every walk of
#: element headers, here and in dimse.structure)
VRS = frozenset(bytes((a, b)) for a in range(65, 91) for b in range(65, 91))
#: sequences nested deeper than this are refused (a peer cannot make a walk recurse without bound)
MAX_DEPTH = 64


class Truncated(DimseError):
    """The data set is not whole: an element or item runs past the end of the file.

    ``tag`` and ``length``: the element that does not fit (None when a header itself is cut)."""

    def __init__(self, message: str, tag: int | None = None, length: int | None = None) -> None:
        super().__init__(message)
        self.tag = tag
        self.length = length


class Garbled(DimseError):
    """The bytes do not follow the transfer syntax.  ``at_start``: already the first element
    does not (e.g. implicit VR behind an explicit VR meta header, which pydicom reads: the
    caller may decode instead of streaming); else the structure is broken further in."""

    def __init__(self, message: str, at_start: bool = False) -> None:
        super().__init__(message)
        self.at_start = at_start


class _Walker:
    """Reads element headers from a window of the file (one read per 64 KB, not per field)."""

    WINDOW = 64 << 10

    def __init__(self, fp: BinaryIO, start: int, end: int, implicit: bool, little: bool) -> None:
        self.fp = fp
        self.start = start
        self.pos = start
        self.end = end
        self.buf = b""
        self.buf_start = start
        order = "<" if little else ">"
        self.tag = struct.Struct(order + "HH")
        self.u16 = struct.Struct(order + "H")
        self.u32 = struct.Struct(order + "L")
        self.found: dict[int, bytes] = {}

    def _ensure(self, size: int) -> int:
        """Offset in ``buf`` of ``size`` bytes at ``pos``, refilling the window as needed."""
        off = self.pos - self.buf_start
        if off < 0 or off + size > len(self.buf):
            self.fp.seek(self.pos)
            self.buf = self.fp.read(max(self.WINDOW, size))
            self.buf_start, off = self.pos, 0
            if len(self.buf) < size:
                raise Truncated(f"premature end of stream at byte {self.pos + len(self.buf)}")
        return off

    def _read(self, size: int) -> bytes:
        off = self._ensure(size)
        self.pos += size
        return self.buf[off : off + size]

    def _header(self, implicit: bool) -> tuple[int, bytes | None, int]:
        off = self._ensure(8)
        buf = self.buf
        group, element = self.tag.unpack_from(buf, off)
        tag = (group << 16) | element
        if group == 0xFFFE or implicit:
            self.pos += 8
            return tag, None, self.u32.unpack_from(buf, off + 4)[0]
        vr = buf[off + 4 : off + 6]
        if vr not in VRS:
            if self.pos == self.start:
                raise Garbled(f"element ({group:04x},{element:04x}) has no valid VR ({vr!r})", at_start=True)
            # as DCMTK reads it: a non-standard VR has a 2-byte length; a damaged length then
            # shows as an element running past the end, and the file is refused for that
            self.pos += 8
            return tag, vr, self.u16.unpack_from(buf, off + 6)[0]
        if vr in LONG_VRS:
            off = self._ensure(12)
            self.pos += 12
            return tag, vr, self.u32.unpack_from(self.buf, off + 8)[0]
        self.pos += 8
        return tag, vr, self.u16.unpack_from(buf, off + 6)[0]

    def _skip(self, tag: int, length: int) -> None:
        if self.pos + length > self.end:
            raise Truncated(
                f"element ({tag >> 16:04x},{tag & 0xFFFF:04x}) larger ({length}) than remaining bytes ({self.end - self.pos})",
                tag,
                length,
            )
        self.pos += length

    def dataset(self, depth: int, until_item_end: bool, implicit: bool) -> None:
        """Walk elements until the end (top level) or an item delimiter (nested)."""
        if depth > MAX_DEPTH:
            raise Garbled("sequences nested too deeply")
        while self.pos < self.end:
            tag, vr, length = self._header(implicit)
            if tag == ITEM_END:
                if until_item_end:
                    return
                raise Garbled("item delimiter outside an item")
            if length == UNDEFINED:
                # an undefined-length UN holds implicit VR little endian items (PS3.5 6.2.2)
                self.items(depth + 1, implicit or vr == b"UN")
            elif depth == 0 and tag in (SOP_CLASS, SOP_INSTANCE):
                if self.pos + length > self.end:
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


class _NeedMore(Exception):
    """The in-memory walk met something it leaves to :class:`_Walker` (a header beyond the bytes
    read, or anything wrong: the walker then finds it again and says what it is)."""


_ORDERS = {
    little: tuple(struct.Struct(("<" if little else ">") + f) for f in ("HH", "H", "L")) for little in (True, False)
}


_UID_TAGS = frozenset({SOP_CLASS, SOP_INSTANCE})


def _fast_dataset(
    buf: bytes,
    pos: int,
    end: int,
    implicit: bool,
    little: bool,
    depth: int,
    until_item_end: bool,
    found: dict[int, bytes],
    wanted: frozenset[int] = _UID_TAGS,
) -> int:
    """:meth:`_Walker.dataset` over bytes already in memory (a file's first 64 KB), with local
    variables instead of method calls: the per-file cost of the check is mostly this loop.
    The values of the top-level elements in ``wanted`` go to ``found``."""
    if depth > MAX_DEPTH:
        raise _NeedMore
    tag_of, u16, u32 = _ORDERS[little]
    have = len(buf)
    while pos < end:
        if pos + 8 > have:
            raise _NeedMore
        group, element = tag_of.unpack_from(buf, pos)
        tag = (group << 16) | element
        vr = None
        if group == 0xFFFE or implicit:
            length = u32.unpack_from(buf, pos + 4)[0]
            pos += 8
        else:
            vr = buf[pos + 4 : pos + 6]
            if vr not in VRS:
                raise _NeedMore
            if vr in LONG_VRS:
                if pos + 12 > have:
                    raise _NeedMore
                length = u32.unpack_from(buf, pos + 8)[0]
                pos += 12
            else:
                length = u16.unpack_from(buf, pos + 6)[0]
                pos += 8
        if tag == ITEM_END:
            if until_item_end:
                return pos
            raise _NeedMore
        if length == UNDEFINED:
            pos = _fast_items(buf, pos, end, implicit or vr == b"UN", little, depth + 1, found)
            continue
        if pos + length > end:
            raise _NeedMore
        if depth == 0 and tag in wanted:
            if pos + length > have:
                raise _NeedMore
            found[tag] = buf[pos : pos + length]
        pos += length
    if until_item_end:
        raise _NeedMore
    return pos


def _fast_items(
    buf: bytes, pos: int, end: int, implicit: bool, little: bool, depth: int, found: dict[int, bytes]
) -> int:
    """:meth:`_Walker.items` over bytes in memory."""
    tag_of, _, u32 = _ORDERS[little]
    while True:
        if pos + 8 > len(buf):
            raise _NeedMore
        group, element = tag_of.unpack_from(buf, pos)
        tag = (group << 16) | element
        length = u32.unpack_from(buf, pos + 4)[0]
        pos += 8
        if tag == SEQUENCE_END:
            return pos
        if tag != ITEM:
            raise _NeedMore
        if length == UNDEFINED:
            pos = _fast_dataset(buf, pos, end, implicit, little, depth, True, found)
        elif pos + length > end:
            raise _NeedMore
        else:
            pos += length


def top_level_values(data: bytes, implicit: bool, little: bool, tags: frozenset[int]) -> dict[int, bytes] | None:
    """The raw values of the top-level elements ``tags`` of a data set held in memory (a C-FIND
    identifier, say), read without decoding the rest; None when ``data`` is not a whole,
    well-formed data set (the caller then asks pydicom, which says what is wrong)."""
    found: dict[int, bytes] = {}
    try:
        _fast_dataset(data, 0, len(data), implicit, little, 0, False, found, tags)
    except _NeedMore:
        return None
    return found


def _text(found: dict[int, bytes], tag: int) -> str:
    """The value found for ``tag`` as text, padding stripped ("" where absent)."""
    return found.get(tag, b"").decode("ascii", "replace").rstrip("\0 ")


def _uids(found: dict[int, bytes]) -> tuple[str, str]:
    return _text(found, SOP_CLASS), _text(found, SOP_INSTANCE)


def _meta_values(found: dict[int, bytes]) -> tuple[str, str, str]:
    """SOP class, SOP instance and transfer syntax UID of a meta group (META_TAGS)."""
    return _text(found, 0x00020002), _text(found, 0x00020003), _text(found, 0x00020010)


def scan(fp: BinaryIO, offset: int, length: int, implicit: bool, little: bool, head: bytes = b"") -> tuple[str, str]:
    """Check the data set at ``offset`` (``length`` bytes) and return its SOP Class and Instance UID.

    ``head``: the file's first bytes if already read (by :func:`scan_meta`), so a small file
    is read once and a large one's element headers before its pixel data usually too."""
    if head:
        found: dict[int, bytes] = {}
        try:
            _fast_dataset(head, offset, offset + length, implicit, little, 0, False, found)
            return _uids(found)
        except _NeedMore:
            pass  # the windowed walk below reads on, or says what is wrong
    walker = _Walker(fp, offset, offset + length, implicit, little)
    walker.buf, walker.buf_start = head, 0
    walker.dataset(0, until_item_end=False, implicit=implicit)
    return _uids(walker.found)


META_TAGS = (0x00020002, 0x00020003, 0x00020010)  # SOP class, SOP instance, transfer syntax


def scan_meta(fp: BinaryIO) -> tuple[tuple[str, str, str], int, bytes] | None:
    """The preamble and a conformant (explicit VR little endian) file meta group: the three
    UIDs a sender needs, the data set's offset and the file's first bytes as read (up to 64 KB:
    all of a small file).  None when the file is anything else, so the caller can hand it to
    pydicom, which copes with more."""
    head = fp.read(_Walker.WINDOW)
    try:
        values, offset = _fast_meta(head, complete=len(head) < _Walker.WINDOW)
        return values, offset, head
    except _NeedMore:
        fp.seek(0)  # the windowed walk reads on, or finds what is wrong
    walker = _Walker(fp, 0, 1 << 62, implicit=False, little=True)
    found: dict[int, bytes] = {}
    try:
        if walker._read(132)[128:] != b"DICM":
            return None
        while True:
            try:
                off = walker._ensure(2)
            except Truncated:
                break
            if walker.buf[off : off + 2] != b"\x02\x00":
                break
            tag, vr, length = walker._header(implicit=False)
            if vr is None or length == UNDEFINED or length > 1 << 16:
                return None
            value = walker._read(length)
            if tag in META_TAGS:
                found[tag] = value
    except (Truncated, Garbled):
        return None
    return _meta_values(found), walker.pos, walker.buf if walker.buf_start == 0 else b""


def _fast_meta(head: bytes, complete: bool) -> tuple[tuple[str, str, str], int]:
    """:func:`scan_meta`'s walk over the first bytes in memory (``complete``: the whole file)."""
    if head[128:132] != b"DICM":
        raise _NeedMore
    tag_of, u16, u32 = _ORDERS[True]
    have, pos = len(head), 132
    found: dict[int, bytes] = {}
    while True:
        if pos + 2 > have:
            if complete:
                break
            raise _NeedMore
        if head[pos : pos + 2] != b"\x02\x00":
            break
        if pos + 12 > have:
            raise _NeedMore
        group, element = tag_of.unpack_from(head, pos)
        vr = head[pos + 4 : pos + 6]
        if vr not in VRS:
            raise _NeedMore
        if vr in LONG_VRS:
            length = u32.unpack_from(head, pos + 8)[0]
            pos += 12
        else:
            length = u16.unpack_from(head, pos + 6)[0]
            pos += 8
        if length == UNDEFINED or length > 1 << 16 or pos + length > have:
            raise _NeedMore
        tag = (group << 16) | element
        if tag in META_TAGS:
            found[tag] = head[pos : pos + length]
        pos += length
    return _meta_values(found), pos
