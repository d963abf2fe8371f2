"""Transfer-syntax preferences of a Storage SCP (``+x=``, ``+xe``, ``+xa`` ...), DCMTK's lists."""

from __future__ import annotations

from ..uids import UNCOMPRESSED
from ..uids import DeflatedExplicitVRLittleEndian as DEFLATED
from ..uids import ExplicitVRBigEndian as BEE
from ..uids import ExplicitVRLittleEndian as LEE
from ..uids import ImplicitVRLittleEndian as LEI
from .options import CommandLine, Parsed

VERIFICATION_SYNTAXES = UNCOMPRESSED

#: option -> (long name, help, preferred transfer syntax or None)
_SINGLE = {
    "+xs": ("--prefer-lossless", "prefer default JPEG lossless TS", "1.2.840.10008.1.2.4.70"),
    "+xy": ("--prefer-jpeg8", "prefer default JPEG lossy TS for 8 bit data", "1.2.840.10008.1.2.4.50"),
    "+xx": ("--prefer-jpeg12", "prefer default JPEG lossy TS for 12 bit data", "1.2.840.10008.1.2.4.51"),
    "+xv": ("--prefer-j2k-lossless", "prefer JPEG 2000 lossless TS", "1.2.840.10008.1.2.4.90"),
    "+xw": ("--prefer-j2k-lossy", "prefer JPEG 2000 lossy TS", "1.2.840.10008.1.2.4.91"),
    "+xt": ("--prefer-jls-lossless", "prefer JPEG-LS lossless TS", "1.2.840.10008.1.2.4.80"),
    "+xu": ("--prefer-jls-lossy", "prefer JPEG-LS lossy TS", "1.2.840.10008.1.2.4.81"),
    "+xm": ("--prefer-mpeg2", "prefer MPEG2 Main Profile @ Main Level TS", "1.2.840.10008.1.2.4.100"),
    "+xh": ("--prefer-mpeg2-high", "prefer MPEG2 Main Profile @ High Level TS", "1.2.840.10008.1.2.4.101"),
    "+xn": ("--prefer-mpeg4", "prefer MPEG4 AVC/H.264 HP / Level 4.1 TS", "1.2.840.10008.1.2.4.102"),
    "+xl": ("--prefer-mpeg4-bd", "prefer MPEG4 AVC/H.264 BD-compatible TS", "1.2.840.10008.1.2.4.103"),
    "+x2": ("--prefer-mpeg4-2-2d", "prefer MPEG4 AVC/H.264 HP / Level 4.2 TS (2D)", "1.2.840.10008.1.2.4.104"),
    "+x3": ("--prefer-mpeg4-2-3d", "prefer MPEG4 AVC/H.264 HP / Level 4.2 TS (3D)", "1.2.840.10008.1.2.4.105"),
    "+xo": ("--prefer-mpeg4-2-st", "prefer MPEG4 AVC/H.264 Stereo HP / Level 4.2 TS", "1.2.840.10008.1.2.4.106"),
    "+x4": ("--prefer-hevc", "prefer HEVC/H.265 Main Profile / Level 5.1 TS", "1.2.840.10008.1.2.4.107"),
    "+x5": ("--prefer-hevc10", "prefer HEVC/H.265 Main 10 Profile / Level 5.1 TS", "1.2.840.10008.1.2.4.108"),
    "+xr": ("--prefer-rle", "prefer RLE lossless TS", "1.2.840.10008.1.2.5"),
    "+xd": ("--prefer-deflated", "prefer deflated expl. VR little endian TS", DEFLATED),
}

#: everything ``+xa`` accepts, in DCMTK 3.6.7's order (lossy JPEG 2000 first)
ACCEPT_ALL = (
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.100",
    "1.2.840.10008.1.2.4.101",
    "1.2.840.10008.1.2.4.102",
    "1.2.840.10008.1.2.4.103",
    "1.2.840.10008.1.2.4.104",
    "1.2.840.10008.1.2.4.105",
    "1.2.840.10008.1.2.4.106",
    "1.2.840.10008.1.2.4.107",
    "1.2.840.10008.1.2.4.108",
    DEFLATED,
    LEE,
    BEE,
    LEI,
)

PREFERENCE_LONGS = [
    "--prefer-uncompr",
    "--prefer-little",
    "--prefer-big",
    *(v[0] for v in _SINGLE.values()),
    "--implicit",
    "--accept-all",
]


def add_options(cmd: CommandLine) -> None:
    cmd.add("+x=", "--prefer-uncompr", "prefer explicit VR local byte order (default)")
    cmd.add("+xe", "--prefer-little", "prefer explicit VR little endian TS")
    cmd.add("+xb", "--prefer-big", "prefer explicit VR big endian TS")
    for short, (long, text, _) in _SINGLE.items():
        cmd.add(short, long, text)
    cmd.add("+xi", "--implicit", "accept implicit VR little endian TS only")
    cmd.add("+xa", "--accept-all", "accept all supported transfer syntaxes")


def from_options(parsed: Parsed) -> tuple[str, ...]:
    """The accepted transfer syntaxes in preference order; the rightmost option wins."""
    choice = parsed.winner(*PREFERENCE_LONGS)
    if choice in (None, "--prefer-uncompr", "--prefer-little"):
        return UNCOMPRESSED
    if choice == "--prefer-big":
        return (BEE, LEE, LEI)
    if choice == "--implicit":
        return (LEI,)
    if choice == "--accept-all":
        return ACCEPT_ALL
    preferred = next(ts for long, _, ts in _SINGLE.values() if long == choice)
    return (preferred, *UNCOMPRESSED)
