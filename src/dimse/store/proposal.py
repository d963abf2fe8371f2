"""The ``--propose-*`` options and storescu's presentation-context proposal (DCMTK's algorithm,
spec section 3.2-3.3).  One table for both requestors: movescu offers five of the options
(``-x=``, ``-xe``, ``-xb``, ``-xd``, ``-xi``) and proposes their syntaxes in one context.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..cli.options import CommandLine, Parsed
from ..core.record import FrozenRecord
from ..uids import UNCOMPRESSED
from ..uids import DeflatedExplicitVRLittleEndian as DEFLATED
from ..uids import ExplicitVRBigEndian as BEE
from ..uids import ExplicitVRLittleEndian as LEE
from ..uids import ImplicitVRLittleEndian as LEI

_set = object.__setattr__


class ProposeOption(FrozenRecord):
    """One ``--propose-*`` option: P (the preferred syntax) and whether F, the uncompressed
    syntaxes, follow as fallbacks (spec 3.2)."""

    __slots__ = ("short", "long", "help", "preferred", "with_fallbacks")
    short: str
    long: str
    help: str
    preferred: str
    with_fallbacks: bool

    def __init__(self, short: str, long: str, help: str, preferred: str, with_fallbacks: bool) -> None:  # noqa: PLR0913
        _set(self, "short", short)
        _set(self, "long", long)
        _set(self, "help", help)
        _set(self, "preferred", preferred)
        _set(self, "with_fallbacks", with_fallbacks)


_OPTIONS: tuple[tuple[str, str, str, str, bool], ...] = (
    (
        "-x=",
        "--propose-uncompr",
        "propose all uncompressed TS, explicit VR\nwith local byte ordering first (default)",
        LEE,
        True,
    ),
    ("-xe", "--propose-little", "propose all uncompressed TS, explicit VR\nlittle endian first", LEE, True),
    ("-xb", "--propose-big", "propose all uncompressed TS, explicit VR\nbig endian first", BEE, True),
    ("-xi", "--propose-implicit", "propose implicit VR little endian TS only", LEI, False),
    (
        "-xs",
        "--propose-lossless",
        "propose default JPEG lossless TS\nand all uncompressed transfer syntaxes",
        "1.2.840.10008.1.2.4.70",
        True,
    ),
    (
        "-xy",
        "--propose-jpeg8",
        "propose default JPEG lossy TS for 8 bit data\nand all uncompressed transfer syntaxes",
        "1.2.840.10008.1.2.4.50",
        True,
    ),
    (
        "-xx",
        "--propose-jpeg12",
        "propose default JPEG lossy TS for 12 bit data\nand all uncompressed transfer syntaxes",
        "1.2.840.10008.1.2.4.51",
        True,
    ),
    (
        "-xv",
        "--propose-j2k-lossless",
        "propose JPEG 2000 lossless TS\nand all uncompressed transfer syntaxes",
        "1.2.840.10008.1.2.4.90",
        True,
    ),
    (
        "-xw",
        "--propose-j2k-lossy",
        "propose JPEG 2000 lossy TS\nand all uncompressed transfer syntaxes",
        "1.2.840.10008.1.2.4.91",
        True,
    ),
    (
        "-xt",
        "--propose-jls-lossless",
        "propose JPEG-LS lossless TS\nand all uncompressed transfer syntaxes",
        "1.2.840.10008.1.2.4.80",
        True,
    ),
    (
        "-xu",
        "--propose-jls-lossy",
        "propose JPEG-LS lossy TS\nand all uncompressed transfer syntaxes",
        "1.2.840.10008.1.2.4.81",
        True,
    ),
    ("-xm", "--propose-mpeg2", "propose MPEG2 Main Profile @ Main Level TS only", "1.2.840.10008.1.2.4.100", False),
    (
        "-xh",
        "--propose-mpeg2-high",
        "propose MPEG2 Main Profile @ High Level TS only",
        "1.2.840.10008.1.2.4.101",
        False,
    ),
    ("-xn", "--propose-mpeg4", "propose MPEG4 AVC/H.264 HP / Level 4.1 TS only", "1.2.840.10008.1.2.4.102", False),
    ("-xl", "--propose-mpeg4-bd", "propose MPEG4 AVC/H.264 BD-compatible TS only", "1.2.840.10008.1.2.4.103", False),
    (
        "-x2",
        "--propose-mpeg4-2-2d",
        "propose MPEG4 AVC/H.264 HP / Level 4.2 TS (2D) only",
        "1.2.840.10008.1.2.4.104",
        False,
    ),
    (
        "-x3",
        "--propose-mpeg4-2-3d",
        "propose MPEG4 AVC/H.264 HP / Level 4.2 TS (3D) only",
        "1.2.840.10008.1.2.4.105",
        False,
    ),
    (
        "-xo",
        "--propose-mpeg4-2-st",
        "propose MPEG4 AVC/H.264 Stereo HP / Level 4.2 TS only",
        "1.2.840.10008.1.2.4.106",
        False,
    ),
    ("-x4", "--propose-hevc", "propose HEVC/H.265 Main Profile / Level 5.1 TS only", "1.2.840.10008.1.2.4.107", False),
    (
        "-x5",
        "--propose-hevc10",
        "propose HEVC/H.265 Main 10 Profile / Level 5.1 TS only",
        "1.2.840.10008.1.2.4.108",
        False,
    ),
    (
        "-xr",
        "--propose-rle",
        "propose RLE lossless TS\nand all uncompressed transfer syntaxes",
        "1.2.840.10008.1.2.5",
        True,
    ),
    (
        "-xd",
        "--propose-deflated",
        "propose deflated explicit VR little endian TS\nand all uncompressed transfer syntaxes",
        DEFLATED,
        True,
    ),
)
PROPOSE_OPTIONS = tuple(ProposeOption(*row) for row in _OPTIONS)
_BY_LONG = {o.long: o for o in PROPOSE_OPTIONS}
PROPOSE_LONGS = tuple(_BY_LONG)
DEFAULT = "--propose-uncompr"


class Proposal(FrozenRecord):
    """P (preferred) and F (fallbacks) of spec 3.2, and whether to combine them (+C)."""

    __slots__ = ("preferred", "fallbacks", "combine")
    preferred: str
    fallbacks: tuple[str, ...]
    combine: bool

    def __init__(self, preferred: str, fallbacks: tuple[str, ...], combine: bool = False) -> None:
        _set(self, "preferred", preferred)
        _set(self, "fallbacks", fallbacks)
        _set(self, "combine", combine)

    def contexts_for(self, sop_class: str) -> list[tuple[str, list[str]]]:
        """The context(s) for one SOP class: P alone and F, or both in one (``+C``)."""
        if self.combine:
            return [(sop_class, list(self.transfer_syntaxes))]
        contexts = [(sop_class, [self.preferred])]
        if self.fallbacks:
            contexts.append((sop_class, list(self.fallbacks)))
        return contexts

    def contexts(self, sop_classes: Sequence[str]) -> list[tuple[str, list[str]]]:
        """(abstract syntax, transfer syntaxes) pairs in DCMTK's order, duplicates removed."""
        out: list[tuple[str, list[str]]] = []
        for sop_class in dict.fromkeys(sop_classes):
            out.extend(self.contexts_for(sop_class))
        return out

    @property
    def transfer_syntaxes(self) -> tuple[str, ...]:
        """P and F in one list (what ``+C`` proposes, and what movescu proposes)."""
        return tuple(dict.fromkeys((self.preferred, *self.fallbacks)))


def add_options(cmd: CommandLine, longs: Sequence[str] = PROPOSE_LONGS) -> None:
    """The options ``longs`` (a tool's subset, in its usage order)."""
    for long in longs:
        option = _BY_LONG[long]
        cmd.add(option.short, option.long, option.help)


def from_options(parsed: Parsed, longs: Sequence[str] = PROPOSE_LONGS) -> Proposal:
    """The winner of ``longs`` (default ``-x=``) as P and F; ``+C`` combines them."""
    option = _BY_LONG[parsed.winner(*longs) or DEFAULT]
    fallbacks = tuple(ts for ts in UNCOMPRESSED if ts != option.preferred) if option.with_fallbacks else ()
    return Proposal(option.preferred, fallbacks, parsed.has("--combine"))
