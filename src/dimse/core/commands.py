"""PS3.7 DIMSE command sets: group 0000 in Implicit VR Little Endian.

A command set is a handful of fixed elements, so it is coded here directly (keywords and
VRs from a table of group 0000, copied from the standard's data dictionary) instead of going
through a full data set on every message -- and without importing pydicom, whose import is
most of a tool's start-up time.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from ..codes import CommandField
from ..errors import ProtocolError

#: PS3.6 group 0000 (retired elements included): tag -> (keyword, VR)
COMMAND_ELEMENTS: dict[int, tuple[str, str]] = {
    0x0000: ("CommandGroupLength", "UL"),
    0x0001: ("CommandLengthToEnd", "UL"),
    0x0002: ("AffectedSOPClassUID", "UI"),
    0x0003: ("RequestedSOPClassUID", "UI"),
    0x0010: ("CommandRecognitionCode", "SH"),
    0x0100: ("CommandField", "US"),
    0x0110: ("MessageID", "US"),
    0x0120: ("MessageIDBeingRespondedTo", "US"),
    0x0200: ("Initiator", "AE"),
    0x0300: ("Receiver", "AE"),
    0x0400: ("FindLocation", "AE"),
    0x0600: ("MoveDestination", "AE"),
    0x0700: ("Priority", "US"),
    0x0800: ("CommandDataSetType", "US"),
    0x0850: ("NumberOfMatches", "US"),
    0x0860: ("ResponseSequenceNumber", "US"),
    0x0900: ("Status", "US"),
    0x0901: ("OffendingElement", "AT"),
    0x0902: ("ErrorComment", "LO"),
    0x0903: ("ErrorID", "US"),
    0x1000: ("AffectedSOPInstanceUID", "UI"),
    0x1001: ("RequestedSOPInstanceUID", "UI"),
    0x1002: ("EventTypeID", "US"),
    0x1005: ("AttributeIdentifierList", "AT"),
    0x1008: ("ActionTypeID", "US"),
    0x1020: ("NumberOfRemainingSuboperations", "US"),
    0x1021: ("NumberOfCompletedSuboperations", "US"),
    0x1022: ("NumberOfFailedSuboperations", "US"),
    0x1023: ("NumberOfWarningSuboperations", "US"),
    0x1030: ("MoveOriginatorApplicationEntityTitle", "AE"),
    0x1031: ("MoveOriginatorMessageID", "US"),
    0x4000: ("DialogReceiver", "LT"),
    0x4010: ("TerminalType", "LT"),
    0x5010: ("MessageSetID", "SH"),
    0x5020: ("EndMessageID", "SH"),
    0x5110: ("DisplayFormat", "LT"),
    0x5120: ("PagePositionID", "LT"),
    0x5130: ("TextFormatID", "CS"),
    0x5140: ("NormalReverse", "CS"),
    0x5150: ("AddGrayScale", "CS"),
    0x5160: ("Borders", "CS"),
    0x5170: ("Copies", "IS"),
    0x5180: ("CommandMagnificationType", "CS"),
    0x5190: ("Erase", "CS"),
    0x51A0: ("Print", "CS"),
    0x51B0: ("Overlays", "US"),
}
_TAG_FOR_KEYWORD = {keyword: tag for tag, (keyword, _) in COMMAND_ELEMENTS.items()}
_VR = {tag: vr for tag, (_, vr) in COMMAND_ELEMENTS.items()}

# Command Field values (PS3.7 E.1): the old names of the CommandField members
C_STORE_RQ, C_STORE_RSP = CommandField.C_STORE_RQ, CommandField.C_STORE_RSP
C_GET_RQ, C_GET_RSP = CommandField.C_GET_RQ, CommandField.C_GET_RSP
C_FIND_RQ, C_FIND_RSP = CommandField.C_FIND_RQ, CommandField.C_FIND_RSP
C_MOVE_RQ, C_MOVE_RSP = CommandField.C_MOVE_RQ, CommandField.C_MOVE_RSP
C_ECHO_RQ, C_ECHO_RSP = CommandField.C_ECHO_RQ, CommandField.C_ECHO_RSP
C_CANCEL_RQ = CommandField.C_CANCEL_RQ

COMMAND_NAMES: dict[int, str] = {
    C_STORE_RQ: "C-STORE RQ",
    C_STORE_RSP: "C-STORE RSP",
    C_GET_RQ: "C-GET RQ",
    C_GET_RSP: "C-GET RSP",
    C_FIND_RQ: "C-FIND RQ",
    C_FIND_RSP: "C-FIND RSP",
    C_MOVE_RQ: "C-MOVE RQ",
    C_MOVE_RSP: "C-MOVE RSP",
    C_ECHO_RQ: "C-ECHO RQ",
    C_ECHO_RSP: "C-ECHO RSP",
    C_CANCEL_RQ: "C-CANCEL RQ",
}

NO_DATASET = 0x0101
PRIORITY_MEDIUM, PRIORITY_HIGH, PRIORITY_LOW = 0x0000, 0x0001, 0x0002

_ELEMENT = struct.Struct("<HHL")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<L")
_MAX_COMMAND = 1 << 20


class Command:
    """One DIMSE command set, addressed by DICOM keyword (``cmd.MessageID``).

    Values are ``int`` for US/UL, ``str`` for UI/AE/LO/SH and ``list[int]`` for AT.
    Elements this package does not know are kept as raw bytes under their tag number.
    """

    __slots__ = ("_elements",)

    def __init__(self, **elements: Any) -> None:
        found: dict[int, Any] = {}
        for keyword, value in elements.items():
            if value is not None:
                found[_tag(keyword)] = value
        object.__setattr__(self, "_elements", found)

    def __getattr__(self, keyword: str) -> Any:
        try:
            return self._elements[_tag(keyword)]
        except KeyError:
            raise AttributeError(keyword) from None

    def __setattr__(self, keyword: str, value: Any) -> None:
        self[keyword] = value

    def __setitem__(self, key: str | int, value: Any) -> None:
        tag = key if isinstance(key, int) else _tag(key)
        if value is None:
            self._elements.pop(tag, None)
        else:
            self._elements[tag] = value

    def get(self, keyword: str, default: Any = None) -> Any:
        return self._elements.get(_tag(keyword), default)

    def __contains__(self, keyword: str) -> bool:
        return _tag(keyword) in self._elements

    def items(self) -> Iterator[tuple[str, Any]]:
        for tag, value in sorted(self._elements.items()):
            known = COMMAND_ELEMENTS.get(tag)
            yield (known[0] if known else f"{tag:08X}"), value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Command) and self._elements == other._elements

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.items())
        return f"Command({inner})"

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.get("CommandField"), f"0x{self.get('CommandField', 0):04x}")

    @property
    def has_dataset(self) -> bool:
        dataset_type: int = self.get("CommandDataSetType", NO_DATASET)
        return dataset_type != NO_DATASET

    @property
    def is_response(self) -> bool:
        return bool(self.get("CommandField", 0) & 0x8000)


def _tag(keyword: str) -> int:
    tag = _TAG_FOR_KEYWORD.get(keyword)
    if tag is None:
        raise AttributeError(f"{keyword} is not a command element keyword")
    return tag


def _encode_value(tag: int, value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    else:
        vr = _VR[tag]
        if vr == "US":
            raw = struct.pack("<H", value)
        elif vr == "UL":
            raw = struct.pack("<L", value)
        elif vr == "AT":
            raw = b"".join(struct.pack("<HH", t >> 16, t & 0xFFFF) for t in value)
        else:
            raw = str(value).encode("ascii")
            if len(raw) % 2:
                raw += b"\0" if vr == "UI" else b" "
    return raw


_US_ELEMENT = struct.Struct("<HHLH")
_UL_ELEMENT = struct.Struct("<HHLL")
_GROUP_LENGTH = struct.Struct("<HHLL")


def encode_command(command: Command) -> bytes:
    """The command set with its CommandGroupLength, ready for PDVs.

    US and UL values (most elements of a C-STORE) are packed with their header in one call;
    a command set is coded for every object sent or answered."""
    body = []
    for tag, value in sorted(command._elements.items()):
        if tag == 0x00000000:
            continue
        vr = _VR.get(tag)
        if vr == "US" and isinstance(value, int):  # CommandField and Status members too
            body.append(_US_ELEMENT.pack(0, tag, 2, value))
        elif vr == "UL" and isinstance(value, int):
            body.append(_UL_ELEMENT.pack(0, tag, 4, value))
        else:
            raw = _encode_value(tag, value)
            body.append(_ELEMENT.pack(0, tag & 0xFFFF, len(raw)) + raw)
    rest = b"".join(body)
    return _GROUP_LENGTH.pack(0, 0, 4, len(rest)) + rest


def decode_command(data: bytes | bytearray | memoryview) -> Command:
    """Parse a command set; anything malformed is a :class:`ProtocolError`."""
    data = memoryview(data)
    cmd = Command()
    pos, end = 0, len(data)
    try:
        while pos < end:
            if end - pos < 8:
                raise ProtocolError("truncated element in command set")
            group, elem, length = _ELEMENT.unpack_from(data, pos)
            pos += 8
            if group != 0:
                # Not a command element (PS3.7 6.3.1), but some archives put data there -- Orthanc
                # its Failed SOP Instance UID List in a C-GET-RSP -- and DCMTK reads on: skipped.
                if pos + length > end:
                    raise ProtocolError(f"element ({group:04x},{elem:04x}) overruns the command set")
                pos += length
                continue
            if pos + length > end:
                raise ProtocolError(f"element (0000,{elem:04x}) overruns the command set")
            tag = elem
            vr = _VR.get(tag)
            if vr == "US" and length == 2:
                cmd._elements[tag] = _U16.unpack_from(data, pos)[0]
                pos += 2
                continue
            if vr == "UL" and length == 4:
                cmd._elements[tag] = _U32.unpack_from(data, pos)[0]
                pos += 4
                continue
            raw = data[pos : pos + length]
            pos += length
            if vr is None:
                cmd._elements[tag] = bytes(raw)
                continue
            if vr in ("US", "UL"):
                value: Any = None  # a US or UL of another length
            elif vr == "AT":
                value = [(g << 16) | e for g, e in struct.iter_unpack("<HH", raw)] if length % 4 == 0 else None
            else:
                value = bytes(raw).decode("ascii", "replace").rstrip("\0 ")
                if vr != "UI":
                    value = value.lstrip(" ")
            if value is None:
                raise ProtocolError(f"element (0000,{elem:04x}) has a bad length {length}")
            cmd._elements[tag] = value
    except ProtocolError:
        raise
    except Exception as exc:
        raise ProtocolError(f"malformed command set: {exc}") from None
    if "CommandField" not in cmd:
        raise ProtocolError("command set without Command Field")
    return cmd


# ---------------------------------------------------------------------------- builders


def _dataset_type(has_dataset: bool) -> int:
    return 0x0000 if has_dataset else NO_DATASET


def c_echo_rq(message_id: int, sop_class: str = "1.2.840.10008.1.1") -> Command:
    return Command(
        AffectedSOPClassUID=sop_class,
        CommandField=C_ECHO_RQ,
        MessageID=message_id,
        CommandDataSetType=NO_DATASET,
    )


def c_store_rq(
    message_id: int,
    sop_class: str,
    sop_instance: str,
    priority: int = PRIORITY_MEDIUM,
    move_originator: tuple[str, int] | None = None,
) -> Command:
    cmd = Command(
        AffectedSOPClassUID=sop_class,
        CommandField=C_STORE_RQ,
        MessageID=message_id,
        Priority=priority,
        CommandDataSetType=0x0000,
        AffectedSOPInstanceUID=sop_instance,
    )
    if move_originator is not None:
        cmd.MoveOriginatorApplicationEntityTitle = move_originator[0]
        cmd.MoveOriginatorMessageID = move_originator[1]
    return cmd


def _query_rq(field: int, message_id: int, sop_class: str, priority: int, destination: str | None = None) -> Command:
    """C-FIND/C-GET/C-MOVE requests differ only in their field (and C-MOVE's destination)."""
    return Command(
        AffectedSOPClassUID=sop_class,
        CommandField=field,
        MessageID=message_id,
        MoveDestination=destination,
        Priority=priority,
        CommandDataSetType=_dataset_type(True),
    )


def c_find_rq(message_id: int, sop_class: str, priority: int = PRIORITY_MEDIUM) -> Command:
    return _query_rq(C_FIND_RQ, message_id, sop_class, priority)


def c_move_rq(message_id: int, sop_class: str, destination: str, priority: int = PRIORITY_MEDIUM) -> Command:
    return _query_rq(C_MOVE_RQ, message_id, sop_class, priority, destination)


def c_get_rq(message_id: int, sop_class: str, priority: int = PRIORITY_MEDIUM) -> Command:
    return _query_rq(C_GET_RQ, message_id, sop_class, priority)


def c_cancel_rq(message_id_being_responded_to: int) -> Command:
    return Command(
        CommandField=C_CANCEL_RQ,
        MessageIDBeingRespondedTo=message_id_being_responded_to,
        CommandDataSetType=NO_DATASET,
    )


def response_to(request: Command, status: int, has_dataset: bool = False, **extra: Any) -> Command:
    """The response to ``request`` with ``status``: the same SOP class (and instance)."""
    rsp = Command(
        AffectedSOPClassUID=request.get("AffectedSOPClassUID"),
        CommandField=request.CommandField | 0x8000,
        MessageIDBeingRespondedTo=request.MessageID,
        CommandDataSetType=_dataset_type(has_dataset),
        Status=status,
        AffectedSOPInstanceUID=request.get("AffectedSOPInstanceUID"),
    )
    for keyword, value in extra.items():
        rsp[keyword] = value
    return rsp
