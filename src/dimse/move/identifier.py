"""movescu's C-MOVE identifier from ``-k`` keys, coded without pydicom (the common case).

Importing pydicom costs movescu ~0.3 s of CPU and ~25 MB at start-up, yet a move by patient,
study or series needs a handful of short string elements.  ``KeyIdentifier.parse`` takes the
``-k`` arguments when every key is one of the query/retrieve keys below with a value pydicom
would accept without a warning, and the identifier is then coded here, byte for byte as
pydicom writes it (``tests/test_move_identifier.py`` compares the two).  Anything else --
unknown keys, sequences and paths into them, values pydicom would warn about or convert,
non-ASCII text, an unusual character set, the deflated syntax -- returns ``None`` or goes
through pydicom (``move.keys`` for the keys, pydicom itself here for another syntax), imported
only then.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..uids import ExplicitVRBigEndian as BEE
from ..uids import ExplicitVRLittleEndian as LEE
from ..uids import ImplicitVRLittleEndian as LEI

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

#: ``gggg,eeee`` at the start of a ``-k`` argument (DCMTK's key syntax)
TAG_KEY = re.compile(r"^\s*(?:0[xX])?([0-9a-fA-F]{1,4})\s*,\s*(?:0[xX])?([0-9a-fA-F]{1,4})")


def split_key(text: str) -> tuple[int | None, str, str]:
    """(tag, name, value) of one ``-k`` argument: the tag when it is given as ``gggg,eeee``
    (else None, and the name is a dictionary keyword), the value after the first ``=``.
    The one reading of DCMTK's key syntax, for this module and ``move.keys``."""
    name, _, value = text.partition("=")
    match = TAG_KEY.match(text)
    tag = (int(match.group(1), 16) << 16) | int(match.group(2), 16) if match else None
    return tag, name, value


#: keyword -> (tag, VR): the query/retrieve keys coded without pydicom (VRs from PS3.6)
QUERY_KEYS: dict[str, tuple[int, str]] = {
    "SpecificCharacterSet": (0x00080005, "CS"),
    "SOPClassUID": (0x00080016, "UI"),
    "SOPInstanceUID": (0x00080018, "UI"),
    "StudyDate": (0x00080020, "DA"),
    "SeriesDate": (0x00080021, "DA"),
    "StudyTime": (0x00080030, "TM"),
    "SeriesTime": (0x00080031, "TM"),
    "AccessionNumber": (0x00080050, "SH"),
    "QueryRetrieveLevel": (0x00080052, "CS"),
    "RetrieveAETitle": (0x00080054, "AE"),
    "Modality": (0x00080060, "CS"),
    "ModalitiesInStudy": (0x00080061, "CS"),
    "ReferringPhysicianName": (0x00080090, "PN"),
    "StudyDescription": (0x00081030, "LO"),
    "SeriesDescription": (0x0008103E, "LO"),
    "PatientName": (0x00100010, "PN"),
    "PatientID": (0x00100020, "LO"),
    "IssuerOfPatientID": (0x00100021, "LO"),
    "PatientBirthDate": (0x00100030, "DA"),
    "PatientSex": (0x00100040, "CS"),
    "PatientAge": (0x00101010, "AS"),
    "StudyInstanceUID": (0x0020000D, "UI"),
    "SeriesInstanceUID": (0x0020000E, "UI"),
    "StudyID": (0x00200010, "SH"),
    "SeriesNumber": (0x00200011, "IS"),
    "InstanceNumber": (0x00200013, "IS"),
}
_BY_TAG = {tag: vr for tag, vr in QUERY_KEYS.values()}

_HEADERS: dict[str, Callable[[int, str, int], bytes]] = {
    LEI: lambda tag, vr, n: struct.pack("<HHI", tag >> 16, tag & 0xFFFF, n),
    LEE: lambda tag, vr, n: struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), n),
    BEE: lambda tag, vr, n: struct.pack(">HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), n),
}


def _range(regex: str) -> re.Pattern[str]:
    """A DA/TM value or range, as pydicom's validator accepts it."""
    return re.compile(rf"^{regex}$|^\-{regex} ?$|^{regex}\- ?$|^{regex}\-{regex} ?$")


# What pydicom 3 accepts without a warning (pydicom.valuerep: VR_REGEXES, MAX_VALUE_LEN), kept
# stricter where pydicom would convert the value (IS: a plain number in the 32-bit range).
_PATTERNS = {
    "AE": re.compile(r"^[\x20-\x7e]{0,16}$"),
    "AS": re.compile(r"^\d\d\d[DWMY]$"),
    "CS": re.compile(r"^[A-Z0-9 _]{0,16}$"),
    "DA": _range(r"\d{4}(0[1-9]|1[0-2])([0-2]\d|3[01])"),
    "TM": _range(r"([01]\d|2[0-3])([0-5]\d((60|[0-5]\d)(\.\d{1,6} ?)?)?)?"),
    "UI": re.compile(r"^(?=.{0,64}$)(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$"),
    "IS": re.compile(r"^-?[0-9]{1,10}$"),
    "LO": re.compile(r"^[\x20-\x5b\x5d-\x7e]{0,64}$"),
    "SH": re.compile(r"^[\x20-\x5b\x5d-\x7e]{0,16}$"),
    "PN": re.compile(r"^[\x20-\x3c\x3e-\x5b\x5d-\x7e]{0,64}$"),  # one component group, no '='
}
#: character sets in which ASCII text is coded as ASCII and that pydicom knows without a warning
_PLAIN_CHARSETS = {"ISO_IR 100", "ISO_IR 101", "ISO_IR 109", "ISO_IR 110", "ISO_IR 144", "ISO_IR 192"}


def _valid(vr: str, part: str) -> bool:
    """Whether pydicom takes ``part`` for ``vr`` as it is (no warning, no conversion)."""
    if part == "":
        return True
    if not _PATTERNS[vr].match(part) or part.endswith("\n"):
        return False
    if vr == "IS":
        return -(2**31) <= int(part) < 2**31
    return True


def _key(text: str) -> tuple[int, str, str] | None:
    """(tag, VR, value) of one ``-k`` argument, or None when it is not a simple query key
    (a path into a sequence, ``gggg,eeee[0]...``, is ``move.keys``'s even when it starts with one)."""
    tag, name, value = split_key(text)
    if "[" in name:
        return None
    if tag is not None:
        vr = _BY_TAG.get(tag)
        return None if vr is None else (tag, vr, value)
    found = QUERY_KEYS.get(name)
    return None if found is None else (*found, value)


class KeyIdentifier:
    """The identifier of a move made only of ``-k`` query keys; codes itself without pydicom.

    ``encode_as`` is what ``datasets.encode_dataset`` calls for it, so ``Association.move``
    sends it like a pydicom data set."""

    def __init__(self, texts: Sequence[str], elements: dict[int, tuple[str, list[str] | None]]) -> None:
        self.texts = list(texts)
        #: tag -> (VR, values or None for an empty element), the leftmost key for a tag
        self.elements = elements

    @classmethod
    def parse(cls, texts: Sequence[str], rightmost_wins: bool = False) -> KeyIdentifier | None:
        """The keys as an identifier, or None when pydicom must build it (see the module doc).
        Of two keys for a tag the leftmost is kept (DCMTK's movescu), or the rightmost
        (``rightmost_wins``: DCMTK's getscu)."""
        elements: dict[int, tuple[str, list[str] | None]] = {}
        for text in texts:
            key = _key(text)
            if key is None:
                return None
            tag, vr, value = key
            parts = value.split("\\") if value else None
            if parts is not None and not all(_valid(vr, part) for part in parts):
                return None
            if rightmost_wins:
                elements[tag] = (vr, parts)
            else:
                elements.setdefault(tag, (vr, parts))
        charset = elements.get(0x00080005)
        if charset is not None and charset[1] is not None:
            if len(charset[1]) != 1 or charset[1][0] not in _PLAIN_CHARSETS:
                return None
        return cls(texts, elements)

    def encode_as(
        self, transfer_syntax: str, deflate_level: int = 6, character_set: str | list[str] = "iso8859"
    ) -> bytes:
        """The identifier in ``transfer_syntax``: coded here for the three native syntaxes."""
        header = _HEADERS.get(transfer_syntax)
        if header is None or character_set != "iso8859":
            from ..files.part10 import encode_dataset

            return encode_dataset(self.dataset(), transfer_syntax, deflate_level, character_set)
        out = bytearray()
        for tag in sorted(self.elements):
            vr, parts = self.elements[tag]
            value = "\\".join(parts).encode("ascii") if parts is not None else b""
            if len(value) % 2:
                value += b"\0" if vr == "UI" else b" "
            out += header(tag, vr, len(value))
            out += value
        return bytes(out)

    def dataset(self) -> Dataset:
        """The same identifier as a pydicom data set (for the ``-v`` dump and other syntaxes):
        the elements ``move.keys`` would make of the same keys."""
        from pydicom.dataelem import DataElement
        from pydicom.dataset import Dataset

        ds = Dataset()
        for tag in sorted(self.elements):
            vr, parts = self.elements[tag]
            value = None if parts is None else parts[0] if len(parts) == 1 else parts
            ds[tag] = DataElement(tag, vr, value)
        return ds
