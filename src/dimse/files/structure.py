"""An incremental structural check of a data set as it arrives, piece by piece (sans-IO).

A receiver that writes a data set to disk without decoding it must still refuse one that no
reader could decode: an element longer than what follows, a sequence or item left open, a
delimiter where none may be, a VR that is not one, a deflated stream that does not inflate.
:class:`StructureChecker` is fed the pieces as they come and walks the element headers exactly
as :func:`dimse.scan.scan` walks a file (the same rules, constants and verdicts), without
decoding or keeping any value: a value's bytes are counted off, also across pieces, and only a
header cut by a piece boundary is kept (at most 11 bytes).  A deflated data set is inflated as
it comes, a bounded amount at a time, and only walked: memory stays small whatever the size.
"""

from __future__ import annotations

import struct
import zlib

from ..errors import DimseError
from ..uids import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian
from .scan import ITEM, ITEM_END, LONG_VRS, MAX_DEPTH, SEQUENCE_END, UNDEFINED, VRS, Garbled, Truncated

Buffer = bytes | bytearray | memoryview
#: where a walk is: (among a sequence's items, implicit VR, nesting depth, tag of the sequence or item)
_Frame = tuple[bool, bool, int, int]

#: standard transfer syntaxes whose data set is deflated explicit VR little endian
DEFLATED = frozenset({DeflatedExplicitVRLittleEndian, "1.2.840.10008.1.2.4.95"})  # the latter: JPIP Referenced Deflate
#: every standard transfer syntax starts so; those not named above are explicit VR little endian
_STANDARD = "1.2.840.10008.1.2."
#: most inflated bytes produced (and walked) per step: a deflate bomb costs time, not memory
INFLATE_STEP = 1 << 20


class Undeflatable(DimseError):
    """A deflated data set that does not inflate, or ends before its deflate stream does."""


def _structs(little: bool) -> tuple[struct.Struct, struct.Struct, struct.Struct]:
    order = "<" if little else ">"
    # explicit VR header (tag, VR, 2-byte length), implicit VR header (tag, 4-byte length), a length
    return struct.Struct(order + "HH2sH"), struct.Struct(order + "HHL"), struct.Struct(order + "L")


_ORDERS = {little: _structs(little) for little in (True, False)}


def _tag(tag: int) -> str:
    return f"({tag >> 16:04x},{tag & 0xFFFF:04x})"


class StructureChecker:
    """Fed a data set's bytes in pieces of any size (:meth:`feed`), then :meth:`close`: the
    verdict :func:`dimse.scan.scan` gives on the same bytes, whatever the split.

    ``feed`` returns False once the data set is known to be broken (the caller may stop
    storing it); ``error`` then holds why: :class:`~dimse.scan.Truncated`,
    :class:`~dimse.scan.Garbled` or :class:`Undeflatable`."""

    def __init__(self, implicit: bool = False, little: bool = True, deflated: bool = False) -> None:
        self.error: DimseError | None = None
        self._explicit, self._implicit, self._u32 = _ORDERS[little]
        # a frame: (among a sequence's items, implicit VR, nesting depth, tag of the sequence or item)
        top: _Frame = (False, implicit, 0, 0)
        self._frames = [top]  # where the walk is: the data set, nested sequences and items, innermost last
        self._frame = top
        self._skip = 0  # value bytes still to count off before the next header
        self._skipping = (0, 0)  # tag and length of the element whose value is being counted off
        self._pending = b""  # the start of a header cut by the end of the last piece
        self._seen = 0  # bytes walked before the current piece (for messages)
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS) if deflated else None

    # ------------------------------------------------------------------ the caller's side

    def feed(self, piece: Buffer) -> bool:
        """Walk the next piece of the data set; False once it is known to be broken."""
        if self.error is not None:
            return False
        if self._inflater is None:
            self._walk_piece(piece)
        else:
            self._inflate(piece)
        return self.error is None

    def close(self) -> DimseError | None:
        """The data set is complete: None if it is whole and well-formed, else what is wrong."""
        if self.error is None and self._inflater is not None:
            self._inflate_end()
        if self.error is None:
            self.error = self._unfinished()
        return self.error

    # ------------------------------------------------------------------ deflate

    def _inflate(self, piece: Buffer) -> None:
        inflater = self._inflater
        assert inflater is not None  # feed() calls this for a deflated data set only
        if inflater.eof:  # bytes after the end of the deflate stream (padding) are ignored, as DCMTK does
            return
        try:
            out = inflater.decompress(piece, INFLATE_STEP)
            while True:
                if out:
                    self._walk_piece(out)
                    if self.error is not None:
                        return
                if inflater.eof or not (inflater.unconsumed_tail or len(out) == INFLATE_STEP):
                    return
                out = inflater.decompress(inflater.unconsumed_tail, INFLATE_STEP)
        except zlib.error as exc:
            self._inflate_error(exc)

    def _inflate_end(self) -> None:
        inflater = self._inflater
        assert inflater is not None  # close() calls this for a deflated data set only
        try:
            rest = inflater.flush() if not inflater.eof else b""
        except zlib.error as exc:
            self._inflate_error(exc)
            return
        if rest:
            self._walk_piece(rest)
        if self.error is None and not inflater.eof:
            self.error = Undeflatable("deflated data set ends before its deflate stream does")

    def _inflate_error(self, exc: zlib.error) -> None:
        text = str(exc).partition(": ")[2] or str(exc)  # "Error -3 while decompressing data: <why>"
        self.error = Undeflatable(f"deflated data set does not inflate ({text})")

    # ------------------------------------------------------------------ the walk

    def _walk_piece(self, piece: Buffer) -> None:
        """Walk ``piece``, first finishing a header the last piece cut."""
        size = len(piece)
        pos = 0
        while self._pending and pos < size:
            pending = self._pending
            take = 12 - len(pending)
            head = pending + bytes(piece[pos : pos + take])
            self._pending = b""
            self._walk(head, 0, self._seen + pos - len(pending))
            if self.error is not None:
                return
            # every byte taken from piece was walked, or is in _pending again (a header still cut:
            # a tiny piece), completed in the next round
            pos += len(head) - len(pending)
            if self._skip:  # a value started inside head: count off the rest in piece
                pos, self._skip = self._skip_in(pos, size)
        if pos < size:
            self._walk(piece, pos, self._seen)
        self._seen += size

    def _skip_in(self, pos: int, size: int) -> tuple[int, int]:
        """Count off what is left to skip from ``pos`` in a piece of ``size`` bytes."""
        left = size - pos
        if self._skip >= left:
            return size, self._skip - left
        return pos + self._skip, 0

    def _walk(self, buf: Buffer, pos: int, base: int) -> None:
        """Walk the headers of ``buf`` (``base``: its offset in the data set) from ``pos``: the
        hot loop (locals, no calls per element beyond one unpack).  Leaves a value's remaining
        length in ``_skip`` or a cut header in ``_pending``."""
        have = len(buf)
        if self._skip:
            pos, self._skip = self._skip_in(pos, have)
            if pos >= have:
                return
        explicit, implicit_header, u32 = self._explicit, self._implicit, self._u32
        in_items, implicit, _, _ = frame = self._frame
        tag = length = 0
        while pos < have:
            if pos + 8 > have:
                break
            if implicit:
                group, element, length = implicit_header.unpack_from(buf, pos)
                vr = None
                pos += 8
            else:
                group, element, vr, length = explicit.unpack_from(buf, pos)
                if group == 0xFFFE:
                    length = u32.unpack_from(buf, pos + 4)[0]
                    vr = None
                    pos += 8
                elif vr in LONG_VRS:
                    if pos + 12 > have:
                        break
                    length = u32.unpack_from(buf, pos + 8)[0]
                    pos += 12
                elif vr in VRS or base + pos:
                    # scan's rule, DCMTK's reading: a non-standard VR has a 2-byte length (a
                    # damaged one then shows as an element running past the end) ...
                    pos += 8
                else:  # ... except in the first element: not this transfer syntax at all
                    self.error = Garbled(f"element {_tag(group << 16 | element)} has no valid VR ({vr!r})", True)
                    return
            tag = group << 16 | element
            if in_items:
                if tag == ITEM and length != UNDEFINED:
                    pos += length  # an item of defined length: counted off whole
                    continue
            elif tag != ITEM_END and length != UNDEFINED:
                pos += length  # the common case: an element with its value
                continue
            nested = self._nest(frame, tag, length, vr)
            if nested is None:
                return
            in_items, implicit, _, _ = frame = nested
        self._frame = frame
        if pos > have:
            self._skip = pos - have
            self._skipping = (tag, length)
        elif pos < have:
            self._pending = bytes(buf[pos:])

    def _nest(self, frame: _Frame, tag: int, length: int, vr: bytes | None) -> _Frame | None:
        """A delimiter, an item of undefined length or a sequence (an element of undefined
        length) met in ``frame``: the frame the walk goes on in, or None (``error`` says why)."""
        frames = self._frames
        in_items, implicit, depth, _ = frame
        if in_items:
            if tag == SEQUENCE_END:
                frames.pop()
                return frames[-1]
            if tag != ITEM:
                self.error = Garbled(
                    f"parse error in sequence {_tag(frame[3])}: {_tag(tag)} instead of an item or its end"
                )
                return None
            if depth > MAX_DEPTH:
                self.error = Garbled("sequences nested too deeply")
                return None
            frame = (False, implicit, depth, tag)
        elif tag == ITEM_END:
            if not depth:
                self.error = Garbled("item delimiter outside an item")
                return None
            frames.pop()
            return frames[-1]
        else:
            # an undefined-length UN holds implicit VR little endian items (PS3.5 6.2.2)
            frame = (True, implicit or vr == b"UN", depth + 1, tag)
        frames.append(frame)
        return frame

    def _unfinished(self) -> DimseError | None:
        """What is wrong with a data set that ended here (None: nothing)."""
        if self._pending:
            return Truncated(f"premature end of stream at byte {self._seen}")
        if self._skip:
            tag, length = self._skipping
            return Truncated(
                f"element {_tag(tag)} larger ({length}) than remaining bytes ({length - self._skip})", tag, length
            )
        in_items, _, depth, tag = self._frame
        if in_items:
            return Truncated(f"premature end of stream before the end of sequence {_tag(tag)}")
        if depth:
            return Truncated("premature end of stream inside an item")
        return None


def checker_for(transfer_syntax: str) -> StructureChecker | None:
    """A checker for a data set in ``transfer_syntax``; None for a syntax whose encoding we do
    not know (a private one: nothing to check it against)."""
    if transfer_syntax == ImplicitVRLittleEndian:
        return StructureChecker(implicit=True)
    if transfer_syntax == ExplicitVRBigEndian:
        return StructureChecker(little=False)
    if transfer_syntax in DEFLATED:
        return StructureChecker(deflated=True)
    if transfer_syntax.startswith(_STANDARD):
        return StructureChecker()
    return None


def check(data: Buffer, transfer_syntax: str) -> DimseError | None:
    """The verdict on a whole data set in memory (what a receiver finds piece by piece)."""
    checker = checker_for(transfer_syntax)
    if checker is None:
        return None
    checker.feed(data)
    return checker.close()
