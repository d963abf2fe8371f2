"""PS3.7 command sets: round trips, exact encoding, malformed input."""

from __future__ import annotations

import struct

import pytest

from dimse.codes import CommandField
from dimse.core.commands import (
    C_CANCEL_RQ,
    C_ECHO_RQ,
    C_ECHO_RSP,
    C_FIND_RQ,
    C_FIND_RSP,
    C_MOVE_RQ,
    C_MOVE_RSP,
    C_STORE_RQ,
    C_STORE_RSP,
    NO_DATASET,
    PRIORITY_HIGH,
    PRIORITY_LOW,
    Command,
    c_cancel_rq,
    c_echo_rq,
    c_find_rq,
    c_move_rq,
    c_store_rq,
    decode_command,
    encode_command,
    response_to,
)
from dimse.errors import ProtocolError

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
FIND_STUDY = "1.2.840.10008.5.1.4.1.2.2.1"
MOVE_STUDY = "1.2.840.10008.5.1.4.1.2.2.2"
INSTANCE = "1.2.826.0.1.3680043.2.1125.1.12345678901234567890"


def element(elem: int, value: bytes) -> bytes:
    """One group-0000 element in Implicit VR Little Endian."""
    return struct.pack("<HHL", 0, elem, len(value)) + value


def with_group_length(*elements: bytes) -> bytes:
    rest = b"".join(elements)
    return element(0x0000, struct.pack("<L", len(rest))) + rest


def roundtrip(cmd: Command) -> Command:
    raw = encode_command(cmd)
    decoded = decode_command(raw)
    assert decoded.CommandGroupLength == len(raw) - 12
    decoded.CommandGroupLength = None  # not part of what the builder made
    return decoded


def elements_of(raw: bytes) -> list[tuple[int, bytes]]:
    """Walk an encoded command set independently of the decoder."""
    out, pos = [], 0
    while pos < len(raw):
        group, elem, length = struct.unpack_from("<HHL", raw, pos)
        assert group == 0
        out.append((elem, raw[pos + 8 : pos + 8 + length]))
        pos += 8 + length
    assert pos == len(raw)
    return out


ECHO = c_echo_rq(1)
STORE = c_store_rq(7, CT_STORAGE, INSTANCE, PRIORITY_HIGH)
STORE_FROM_MOVE = c_store_rq(8, CT_STORAGE, INSTANCE, move_originator=("MOVESCU", 3))
FIND = c_find_rq(9, FIND_STUDY, PRIORITY_LOW)
MOVE = c_move_rq(10, MOVE_STUDY, "STORESCP")

COMMANDS = {
    "C-ECHO-RQ": ECHO,
    "C-ECHO-RSP": response_to(ECHO, 0x0000),
    "C-STORE-RQ": STORE,
    "C-STORE-RQ move originator": STORE_FROM_MOVE,
    "C-STORE-RSP": response_to(STORE, 0x0000),
    "C-STORE-RSP warning": response_to(STORE, 0xB000, ErrorComment="coerced", OffendingElement=[0x00100010]),
    "C-STORE-RSP failure": response_to(STORE, 0xA700, ErrorComment="Out of resources"),
    "C-FIND-RQ": FIND,
    "C-FIND-RSP pending": response_to(FIND, 0xFF00, has_dataset=True),
    "C-FIND-RSP final": response_to(FIND, 0x0000),
    "C-MOVE-RQ": MOVE,
    "C-MOVE-RSP pending": response_to(
        MOVE,
        0xFF00,
        NumberOfRemainingSuboperations=3,
        NumberOfCompletedSuboperations=2,
        NumberOfFailedSuboperations=0,
        NumberOfWarningSuboperations=1,
    ),
    "C-MOVE-RSP final": response_to(MOVE, 0x0000, NumberOfCompletedSuboperations=6, NumberOfFailedSuboperations=0),
    "C-MOVE-RSP failed uids": response_to(MOVE, 0xA702, has_dataset=True, NumberOfFailedSuboperations=65535),
    "C-CANCEL-RQ": c_cancel_rq(9),
}


@pytest.mark.parametrize("cmd", COMMANDS.values(), ids=COMMANDS.keys())
def test_command_roundtrip(cmd):
    decoded = roundtrip(cmd)
    assert decoded == cmd
    assert decoded.has_dataset == cmd.has_dataset
    assert decoded.is_response == cmd.is_response
    assert decoded.name == cmd.name


@pytest.mark.parametrize("cmd", COMMANDS.values(), ids=COMMANDS.keys())
def test_group_length_and_element_order(cmd):
    raw = encode_command(cmd)
    elems = elements_of(raw)
    assert elems[0] == (0x0000, struct.pack("<L", len(raw) - 12))
    tags = [e for e, _ in elems]
    assert tags == sorted(tags)
    assert len(tags) == len(set(tags))
    assert all(len(value) % 2 == 0 for _, value in elems)


def test_builders_set_the_expected_fields():
    assert (ECHO.CommandField, ECHO.MessageID, ECHO.CommandDataSetType) == (C_ECHO_RQ, 1, NO_DATASET)
    assert ECHO.AffectedSOPClassUID == "1.2.840.10008.1.1"
    assert not ECHO.has_dataset and not ECHO.is_response
    assert (STORE.CommandField, STORE.Priority, STORE.CommandDataSetType) == (C_STORE_RQ, PRIORITY_HIGH, 0)
    assert STORE.has_dataset
    assert STORE_FROM_MOVE.MoveOriginatorApplicationEntityTitle == "MOVESCU"
    assert STORE_FROM_MOVE.MoveOriginatorMessageID == 3
    assert "MoveOriginatorMessageID" not in STORE
    assert (FIND.CommandField, MOVE.CommandField, MOVE.MoveDestination) == (C_FIND_RQ, C_MOVE_RQ, "STORESCP")
    rsp = response_to(STORE, 0x0000)
    assert rsp.CommandField == C_STORE_RSP
    assert rsp.MessageIDBeingRespondedTo == 7
    assert rsp.AffectedSOPInstanceUID == INSTANCE
    assert rsp.is_response and not rsp.has_dataset
    assert response_to(FIND, 0xFF00, has_dataset=True).CommandField == C_FIND_RSP
    assert response_to(MOVE, 0).CommandField == C_MOVE_RSP
    assert response_to(ECHO, 0).CommandField == C_ECHO_RSP
    assert "AffectedSOPInstanceUID" not in response_to(ECHO, 0)
    cancel = c_cancel_rq(9)
    assert (cancel.CommandField, cancel.MessageIDBeingRespondedTo) == (C_CANCEL_RQ, 9)
    assert cancel.name == "C-CANCEL RQ"


def test_echo_exact_bytes():
    # the C-ECHO-RQ command set as DCMTK and pynetdicom send it
    expected = (
        b"\x00\x00\x00\x00\x04\x00\x00\x00\x38\x00\x00\x00"
        b"\x00\x00\x02\x00\x12\x00\x00\x001.2.840.10008.1.1\x00"
        b"\x00\x00\x00\x01\x02\x00\x00\x00\x30\x00"
        b"\x00\x00\x10\x01\x02\x00\x00\x00\x01\x00"
        b"\x00\x00\x00\x08\x02\x00\x00\x00\x01\x01"
    )
    assert encode_command(ECHO) == expected


def test_pynetdicom_vectors():
    ref = pytest.importorskip("pynetdicom.tests.encoded_pdu_items")
    # P-DATA-TF: 6 bytes PDU header, 6 bytes PDV header, then the command set
    assert encode_command(response_to(c_echo_rq(1), 0x0000)) == ref.p_data_tf[12:]
    # (pynetdicom's p_data_tf_rq vector states a group length of 58 for 56 bytes: compare the rest)
    assert encode_command(c_echo_rq(1))[12:] == ref.p_data_tf_rq[24:]
    event_report = decode_command(ref.p_data_tf_n_event_report[12:])
    assert event_report.CommandField == 0x0100
    assert event_report.EventTypeID == 3
    assert event_report.AffectedSOPInstanceUID == "1.2.840.10008.5.1.1.17"
    assert event_report.AffectedSOPClassUID == "1.2.840.10008.5.1.1.14"


def test_odd_length_ui_padded_with_nul():
    raw = encode_command(Command(CommandField=C_ECHO_RQ, AffectedSOPClassUID="1.2.3"))
    assert element(0x0002, b"1.2.3\x00") in raw
    assert decode_command(raw).AffectedSOPClassUID == "1.2.3"
    raw = encode_command(Command(CommandField=C_ECHO_RQ, AffectedSOPClassUID="1.2.34"))
    assert element(0x0002, b"1.2.34") in raw


def test_odd_length_ae_and_lo_padded_with_space():
    cmd = Command(CommandField=C_MOVE_RQ, MoveDestination="ABC", ErrorComment="odd")
    raw = encode_command(cmd)
    assert element(0x0600, b"ABC ") in raw
    assert element(0x0902, b"odd ") in raw
    decoded = decode_command(raw)
    assert (decoded.MoveDestination, decoded.ErrorComment) == ("ABC", "odd")
    raw = encode_command(Command(CommandField=C_MOVE_RQ, MoveDestination="ABCD"))
    assert element(0x0600, b"ABCD") in raw


def test_decoding_trims_padding_as_its_vr_allows():
    raw = with_group_length(
        element(0x0002, b"1.2.3\x00"),
        element(0x0100, struct.pack("<H", C_STORE_RQ)),
        element(0x0600, b"  DEST  "),  # AE: leading and trailing spaces are not significant
        element(0x1000, b"1.2.4 "),
    )
    cmd = decode_command(raw)
    assert cmd.AffectedSOPClassUID == "1.2.3"
    assert cmd.MoveDestination == "DEST"
    assert cmd.AffectedSOPInstanceUID == "1.2.4"


def test_at_and_ul_values():
    cmd = Command(CommandField=C_STORE_RSP, AttributeIdentifierList=[0x00100010, 0x7FE00010, 0xFFFEE000], Status=0xC000)
    raw = encode_command(cmd)
    assert element(0x1005, bytes.fromhex("1000 1000 e07f 1000 feff 00e0")) in raw
    assert roundtrip(cmd) == cmd
    long_value = Command(CommandField=C_STORE_RQ, CommandLengthToEnd=0xDEADBEEF)
    assert element(0x0001, struct.pack("<L", 0xDEADBEEF)) in encode_command(long_value)
    assert roundtrip(long_value).CommandLengthToEnd == 0xDEADBEEF


def test_unknown_group_0000_tag_kept_as_raw_bytes():
    raw = with_group_length(
        element(0x0005, b"\x01\x02\x03"),  # odd length, no VR known: left exactly as received
        element(0x0100, struct.pack("<H", C_ECHO_RQ)),
        element(0x7777, b"raw value!"),
    )
    cmd = decode_command(raw)
    values = dict(cmd.items())
    assert values["00000005"] == b"\x01\x02\x03"
    assert values["00007777"] == b"raw value!"
    assert encode_command(cmd) == raw
    # and a caller can add one by tag number
    cmd2 = Command(CommandField=C_ECHO_RQ)
    cmd2[0x0005] = b"\x01\x02\x03"
    cmd2[0x7777] = b"raw value!"
    assert encode_command(cmd2) == raw


def test_command_with_unknown_tag_can_be_shown():
    # repr and the DCMTK-style dump walk items(); a peer's unknown element must not break them
    cmd = decode_command(element(0x0100, struct.pack("<H", C_ECHO_RQ)) + element(0x0005, b"\x01\x02"))
    assert "00000005=b'\\x01\\x02'" in repr(cmd)
    assert "CommandField=48" in repr(cmd)
    from dimse.dcmtk.dumps import dump_command

    assert "00000005" in dump_command(cmd, incoming=True, context_id=1)


def test_sent_group_length_is_recomputed():
    cmd = Command(CommandGroupLength=9999, CommandField=C_ECHO_RQ, MessageID=1)
    raw = encode_command(cmd)
    assert raw[8:12] == struct.pack("<L", len(raw) - 12)


def test_group_length_need_not_come_first_or_be_present_on_receipt():
    cmd = decode_command(element(0x0100, struct.pack("<H", C_ECHO_RQ)) + element(0x0110, b"\x05\x00"))
    assert (cmd.CommandField, cmd.MessageID) == (C_ECHO_RQ, 5)
    assert "CommandGroupLength" not in cmd


def test_keyword_outside_group_0000_is_refused():
    with pytest.raises(AttributeError):
        Command(PatientName="DOE^JOHN")
    with pytest.raises(AttributeError):
        Command().NoSuchKeyword  # noqa: B018
    with pytest.raises(AttributeError):
        Command().MessageID  # noqa: B018


MALFORMED = {
    "empty": b"",
    "truncated element header": element(0x0100, b"\x30\x00") + b"\x00\x00\x10",
    "short trailing header": element(0x0100, b"\x30\x00") + b"\x00\x00\x10\x01",
    "element outside group 0000 overruns": element(0x0100, b"\x30\x00") + struct.pack("<HHL", 0x0008, 0x0058, 9) + b"ab",
    "element overruns": element(0x0100, b"\x30\x00") + struct.pack("<HHL", 0, 0x0110, 10) + b"\x01\x00",
    "huge element length": element(0x0100, b"\x30\x00") + struct.pack("<HHL", 0, 0x0110, 0xFFFFFFFF),
    "US of length 3": element(0x0100, b"\x30\x00\x00"),
    "US of length 0": element(0x0100, b""),
    "US of length 4": element(0x0100, b"\x30\x00") + element(0x0110, b"\x01\x00\x00\x00"),
    "UL of length 2": element(0x0100, b"\x30\x00") + element(0x0000, b"\x02\x00"),
    "AT of length 6": element(0x0100, b"\x30\x00") + element(0x1005, b"\x10\x00\x10\x00\x20\x00"),
    "no CommandField": with_group_length(element(0x0110, b"\x01\x00"), element(0x0800, b"\x01\x01")),
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_command_set_raises_protocol_error(raw):
    with pytest.raises(ProtocolError):
        decode_command(raw)


def test_elements_outside_group_0000_are_skipped():
    """An archive's data elements in a command set (Orthanc's (0008,0000) and Failed SOP Instance
    UID List in a C-GET-RSP) are skipped, as DCMTK skips them; the command elements are read."""
    raw = element(0x0100, b"\x10\x80") + element(0x0900, b"\x00\xb0")
    raw += struct.pack("<HHL", 0x0008, 0x0000, 4) + b"\x0a\x00\x00\x00" + struct.pack("<HHL", 0x0008, 0x0058, 6) + b"1.2.3\0"
    cmd = decode_command(raw)
    assert (cmd.CommandField, cmd.Status) == (0x8010, 0xB000)


def test_non_ascii_text_does_not_escape_as_unicode_error():
    raw = element(0x0100, b"\x30\x00") + element(0x0902, b"caf\xe9")
    assert decode_command(raw).ErrorComment.startswith("caf")


def test_command_field_names_are_the_enum_members():
    """The old names are the CommandField members, and a command set built with them is coded
    exactly as one built with the plain numbers."""
    assert C_STORE_RQ is CommandField.C_STORE_RQ and C_ECHO_RSP is CommandField.C_ECHO_RSP
    assert C_CANCEL_RQ is CommandField.C_CANCEL_RQ
    with_member = Command(CommandField=C_ECHO_RQ, MessageID=1, CommandDataSetType=NO_DATASET)
    with_int = Command(CommandField=0x0030, MessageID=1, CommandDataSetType=NO_DATASET)
    assert encode_command(with_member) == encode_command(with_int)
    assert decode_command(encode_command(with_member)).CommandField == CommandField.C_ECHO_RQ
    assert with_member.name == "C-ECHO RQ"
