"""PS3.8 PDUs: round trips, exact wire form, tolerance of unknown items, malformed input."""

from __future__ import annotations

import struct

import pytest

from dimse.codes import AbortReason, AbortSource, ContextResult, RejectReason, RejectResult, RejectSource
from dimse.core.pdu import (
    A_ABORT,
    A_ASSOCIATE_AC,
    A_ASSOCIATE_RJ,
    A_ASSOCIATE_RQ,
    A_RELEASE_RP,
    A_RELEASE_RQ,
    ABSTRACT_SYNTAX_NOT_SUPPORTED,
    ACCEPTANCE,
    APPLICATION_CONTEXT,
    NO_REASON,
    P_DATA_TF,
    PDU_HEADER,
    PDV,
    TRANSFER_SYNTAXES_NOT_SUPPORTED,
    USER_REJECTION,
    Abort,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    PDataTF,
    PresentationContextAC,
    PresentationContextRQ,
    ReleaseRP,
    ReleaseRQ,
    RoleSelection,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentityAC,
    UserIdentityRQ,
    UserInformation,
    decode_pdu,
    encode,
    pdata_header,
    pdata_header_pdv,
)
from dimse.errors import DimseError, EncodingError, PDUError, ProtocolError

VERIFICATION = "1.2.840.10008.1.1"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
STORAGE_SERVICE = "1.2.840.10008.4.2"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
BIG = "1.2.840.10008.1.2.2"
IMPL_UID = "1.2.826.0.1.3680043.9.3811.0.9.0"


def roundtrip(pdu):
    """encode -> check the header -> decode the variable part."""
    raw = encode(pdu)
    pdu_type, length = PDU_HEADER.unpack_from(raw)
    assert raw[1] == 0, "reserved header byte"
    assert length == len(raw) - 6
    return decode_pdu(pdu_type, raw[6:])


def item(item_type: int, body: bytes) -> bytes:
    return struct.pack(">BxH", item_type, len(body)) + body


def associate_bytes(pdu_type: int, items: list[bytes], called=b"ANY-SCP", calling=b"ECHOSCU") -> bytes:
    """An A-ASSOCIATE-RQ/AC built by hand, independently of the encoder."""
    body = b"\x00\x01\x00\x00" + called.ljust(16, b" ") + calling.ljust(16, b" ") + bytes(32) + b"".join(items)
    return struct.pack(">BxL", pdu_type, len(body)) + body


def app_context_item(uid: str = APPLICATION_CONTEXT) -> bytes:
    return item(0x10, uid.encode())


def user_info_item(*subs: bytes) -> bytes:
    return item(0x50, b"".join(subs))


def max_length_sub(n: int = 16384) -> bytes:
    return item(0x51, struct.pack(">L", n))


def rq_context_item(ctx_id: int, abstract: str, syntaxes: list[str], extra: bytes = b"") -> bytes:
    body = bytes([ctx_id, 0, 0, 0]) + item(0x30, abstract.encode()) + extra
    body += b"".join(item(0x40, ts.encode()) for ts in syntaxes)
    return item(0x20, body)


def decode_full(raw: bytes):
    pdu_type, length = PDU_HEADER.unpack_from(raw)
    assert length == len(raw) - 6
    return decode_pdu(pdu_type, raw[6:])


def full_user_info(**overrides) -> UserInformation:
    ui = UserInformation(
        max_length=16384,
        implementation_class_uid=IMPL_UID,
        implementation_version_name="PYNETDICOM_090",
        async_ops=(5, 3),
        roles=[RoleSelection(CT_STORAGE, True, False), RoleSelection(MR_STORAGE, False, True)],
        extended=[SOPClassExtendedNegotiation(CT_STORAGE, b"\x02\x00\x03\x00\x01\x00")],
        common_extended=[
            SOPClassCommonExtendedNegotiation(
                MR_STORAGE, STORAGE_SERVICE, ["1.2.840.10008.5.1.4.1.1.88.22", "1.2.840.10008.5.1.4.1.1.88.33"]
            )
        ],
        user_identity_rq=UserIdentityRQ(2, b"user", b"p4ssw0rd", True),
    )
    for name, value in overrides.items():
        setattr(ui, name, value)
    return ui


# ---------------------------------------------------------------------------- round trips


def test_associate_rq_roundtrip_with_every_sub_item():
    rq = AssociateRQ(
        "ANY-SCP",
        "STORESCU",
        [
            PresentationContextRQ(1, VERIFICATION, [IMPLICIT]),
            PresentationContextRQ(3, CT_STORAGE, [EXPLICIT, IMPLICIT, BIG]),
            PresentationContextRQ(255, MR_STORAGE, []),
        ],
        full_user_info(),
    )
    decoded = roundtrip(rq)
    assert isinstance(decoded, AssociateRQ)
    assert decoded == rq
    assert decoded.user_info.async_ops == (5, 3)


def test_associate_ac_roundtrip_with_every_result():
    contexts = [
        PresentationContextAC(1, ACCEPTANCE, EXPLICIT),
        PresentationContextAC(3, USER_REJECTION),
        PresentationContextAC(5, NO_REASON),
        PresentationContextAC(7, ABSTRACT_SYNTAX_NOT_SUPPORTED),
        PresentationContextAC(9, TRANSFER_SYNTAXES_NOT_SUPPORTED),
        # a transfer syntax on a refused context is not significant, but it must survive
        PresentationContextAC(11, TRANSFER_SYNTAXES_NOT_SUPPORTED, IMPLICIT),
    ]
    ac = AssociateAC(
        "ANY-SCP",
        "STORESCU",
        contexts,
        UserInformation(
            max_length=0,
            implementation_class_uid=IMPL_UID,
            async_ops=(1, 1),
            roles=[RoleSelection(CT_STORAGE, True, True)],
            user_identity_ac=UserIdentityAC(b"server says yes"),
        ),
    )
    decoded = roundtrip(ac)
    assert isinstance(decoded, AssociateAC)
    assert decoded == ac
    assert [c.result for c in decoded.contexts] == [0, 1, 2, 3, 4, 4]
    assert decoded.user_info.max_length == 0


@pytest.mark.parametrize("pdu_cls", [AssociateRQ, AssociateAC])
@pytest.mark.parametrize(
    "field_name, value",
    [
        ("max_length", 1),
        ("max_length", 0xFFFFFFFF),
        ("max_length", None),
        ("implementation_class_uid", ""),
        ("implementation_class_uid", "1.2.3.4.5"),
        ("implementation_version_name", None),
        ("implementation_version_name", ""),
        ("implementation_version_name", "OFFIS_DCMTK_369"),
        ("implementation_version_name", "SIXTEEN_CHARS_XX"),
        ("async_ops", None),
        ("async_ops", (0, 0)),
        ("async_ops", (0xFFFF, 1)),
        ("roles", []),
        ("roles", [RoleSelection(CT_STORAGE, False, False)]),
        ("roles", [RoleSelection(CT_STORAGE, True, False), RoleSelection("1.2.3", False, True)]),
        ("extended", []),
        ("extended", [SOPClassExtendedNegotiation(CT_STORAGE, b"")]),
        (
            "extended",
            [SOPClassExtendedNegotiation(CT_STORAGE, b"\x01"), SOPClassExtendedNegotiation("1.2", b"\xff" * 7)],
        ),
        ("common_extended", []),
        ("common_extended", [SOPClassCommonExtendedNegotiation(MR_STORAGE, STORAGE_SERVICE)]),
        ("common_extended", [SOPClassCommonExtendedNegotiation(MR_STORAGE, STORAGE_SERVICE, ["1.2.3"], version=0)]),
        (
            "common_extended",
            [SOPClassCommonExtendedNegotiation(MR_STORAGE, STORAGE_SERVICE, ["1.2.3", "1.2.3.4", "1.2.840.5"])],
        ),
        ("user_identity_rq", None),
        ("user_identity_ac", UserIdentityAC(b"")),
        ("user_identity_ac", UserIdentityAC(b"\x00\x01ticket")),
    ],
)
def test_user_information_sub_item_roundtrip(pdu_cls, field_name, value):
    ui = full_user_info(**{field_name: value})
    contexts = [PresentationContextRQ(1, VERIFICATION, [IMPLICIT])]
    if pdu_cls is AssociateAC:
        contexts = [PresentationContextAC(1, ACCEPTANCE, IMPLICIT)]
    pdu = pdu_cls("CALLED", "CALLING", contexts, ui)
    decoded = roundtrip(pdu)
    assert decoded == pdu
    assert getattr(decoded.user_info, field_name) == value


@pytest.mark.parametrize("identity_type", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("positive", [False, True])
def test_user_identity_rq_roundtrip(identity_type, positive):
    primary = {1: b"alice", 2: b"alice", 3: b"\x60\x82kerberos-ticket", 4: b"<saml:Assertion/>", 5: b"eyJhbGciOi.x.y"}
    secondary = b"s3cret" if identity_type == 2 else b""
    rq = AssociateRQ(
        "A",
        "B",
        [PresentationContextRQ(1, VERIFICATION, [IMPLICIT])],
        UserInformation(
            implementation_class_uid=IMPL_UID,
            user_identity_rq=UserIdentityRQ(identity_type, primary[identity_type], secondary, positive),
        ),
    )
    raw = encode(rq)
    decoded = roundtrip(rq)
    uid = decoded.user_info.user_identity_rq
    assert uid == UserIdentityRQ(identity_type, primary[identity_type], secondary, positive)
    # wire: type, positive-response flag, u16 primary length, primary, u16 secondary length, secondary
    body = bytes([identity_type, positive]) + struct.pack(">H", len(primary[identity_type])) + primary[identity_type]
    body += struct.pack(">H", len(secondary)) + secondary
    assert item(0x58, body) in raw


def test_user_identity_ac_roundtrip_and_wire():
    ac = AssociateAC(
        "A",
        "B",
        [PresentationContextAC(1, ACCEPTANCE, IMPLICIT)],
        UserInformation(implementation_class_uid=IMPL_UID, user_identity_ac=UserIdentityAC(b"Accepted")),
    )
    raw = encode(ac)
    assert b"\x59\x00\x00\x0a\x00\x08Accepted" in raw
    assert roundtrip(ac).user_info.user_identity_ac == UserIdentityAC(b"Accepted")


def test_common_extended_negotiation_version_is_the_second_header_byte():
    cx = SOPClassCommonExtendedNegotiation(MR_STORAGE, STORAGE_SERVICE, ["1.2.3"], version=0)
    ui = UserInformation(implementation_class_uid="1.2", common_extended=[cx])
    raw = encode(AssociateRQ("A", "B", [], ui))
    expected_body = (
        b"\x00\x19" + MR_STORAGE.encode() + b"\x00\x11" + STORAGE_SERVICE.encode() + b"\x00\x07\x00\x051.2.3"
    )
    assert item(0x57, expected_body) in raw
    # a peer that sends version 1 is read back with it
    ui.common_extended[0].version = 1
    raw = encode(AssociateRQ("A", "B", [], ui))
    assert b"\x57\x01" + struct.pack(">H", len(expected_body)) + expected_body in raw
    assert roundtrip(AssociateRQ("A", "B", [], ui)).user_info.common_extended[0].version == 1


@pytest.mark.parametrize(
    "pdu",
    [
        AssociateRJ(1, 1, 1),
        AssociateRJ(1, 1, 2),
        AssociateRJ(1, 1, 3),
        AssociateRJ(1, 1, 7),
        AssociateRJ(1, 2, 1),
        AssociateRJ(1, 2, 2),
        AssociateRJ(2, 3, 1),
        AssociateRJ(2, 3, 2),
        ReleaseRQ(),
        ReleaseRP(),
        Abort(),
        Abort(0, 0),
        Abort(2, 0),
        Abort(2, 1),
        Abort(2, 2),
        Abort(2, 4),
        Abort(2, 5),
        Abort(2, 6),
    ],
)
def test_fixed_length_pdu_roundtrip(pdu):
    raw = encode(pdu)
    assert len(raw) == 10
    assert roundtrip(pdu) == pdu


@pytest.mark.parametrize(
    "pdvs",
    [
        [PDV(1, True, True, b"\x00" * 12)],
        [PDV(1, False, False, b"abc"), PDV(1, False, True, b"")],
        [PDV(255, True, False, b"x" * 1000), PDV(255, True, True, b"y"), PDV(3, False, True, b"z" * 99)],
    ],
)
def test_pdata_roundtrip(pdvs):
    decoded = roundtrip(PDataTF(pdvs))
    assert isinstance(decoded, PDataTF)
    assert len(decoded.pdvs) == len(pdvs)
    for got, want in zip(decoded.pdvs, pdvs, strict=True):
        assert (got.context_id, got.is_command, got.is_last, bytes(got.data)) == (
            want.context_id,
            want.is_command,
            want.is_last,
            bytes(want.data),
        )


# ---------------------------------------------------------------------------- exact wire form


def test_release_rq_wire():
    assert encode(ReleaseRQ()) == bytes.fromhex("05 00 00000004 00000000")


def test_release_rp_wire():
    assert encode(ReleaseRP()) == bytes.fromhex("06 00 00000004 00000000")


def test_abort_wire_source_and_reason():
    assert encode(Abort()) == bytes.fromhex("07 00 00000004 00 00 00 00")
    assert encode(Abort(2, 6)) == bytes.fromhex("07 00 00000004 00 00 02 06")
    assert encode(Abort(2, 1)) == bytes.fromhex("07 00 00000004 00 00 02 01")


def test_associate_rj_wire():
    assert encode(AssociateRJ(1, 1, 7)) == bytes.fromhex("03 00 00000004 00 01 01 07")
    assert encode(AssociateRJ(2, 3, 2)) == bytes.fromhex("03 00 00000004 00 02 03 02")


def test_pdata_wire_and_control_header_bits():
    raw = encode(
        PDataTF(
            [PDV(7, True, True, b"AB"), PDV(7, False, False, b"C"), PDV(9, False, True, b""), PDV(1, True, False, b"D")]
        )
    )
    assert raw == bytes.fromhex(
        "04 00 0000001c"
        "00000004 07 03 4142"  # command, last
        "00000003 07 00 43"  # data, not last
        "00000002 09 02"  # data, last, empty
        "00000003 01 01 44"  # command, not last
    )
    assert pdata_header_pdv(7, 2, True, True) == bytes.fromhex("00000004 07 03")
    assert pdata_header(5, 10, False, True) == bytes.fromhex("04 00 00000010 0000000c 05 02")
    assert pdata_header(5, 10, False, True) + b"0123456789" == encode(PDataTF([PDV(5, False, True, b"0123456789")]))


def test_associate_rq_wire_matches_hand_built_bytes():
    rq = AssociateRQ(
        "ANY-SCP",
        "ECHOSCU",
        [PresentationContextRQ(1, VERIFICATION, [IMPLICIT, EXPLICIT])],
        UserInformation(
            max_length=16382, implementation_class_uid=IMPL_UID, implementation_version_name="PYNETDICOM_090"
        ),
    )
    expected = associate_bytes(
        A_ASSOCIATE_RQ,
        [
            app_context_item(),
            rq_context_item(1, VERIFICATION, [IMPLICIT, EXPLICIT]),
            user_info_item(max_length_sub(16382), item(0x52, IMPL_UID.encode()), item(0x55, b"PYNETDICOM_090")),
        ],
    )
    assert encode(rq) == expected


def test_ae_titles_space_padded_to_16():
    raw = encode(AssociateRQ("ANY-SCP", "X", [], UserInformation()))
    assert raw[6:10] == b"\x00\x01\x00\x00"  # protocol version 1, reserved
    assert raw[10:26] == b"ANY-SCP         "
    assert raw[26:42] == b"X               "
    assert raw[42:74] == bytes(32)
    raw = encode(AssociateAC("SIXTEEN-CHARS-AE", "", [], UserInformation()))
    assert raw[10:26] == b"SIXTEEN-CHARS-AE"
    assert raw[26:42] == b" " * 16


def test_ae_title_longer_than_16_is_refused():
    with pytest.raises(EncodingError) as refused:
        encode(AssociateRQ("SEVENTEEN-CHARS-A", "B", [], UserInformation()))
    _is_our_mistake(refused.value)


def _is_our_mistake(exc: Exception) -> None:
    """What we cannot encode is our error, not a peer's protocol violation."""
    assert isinstance(exc, DimseError) and isinstance(exc, ValueError)
    assert not isinstance(exc, ProtocolError)


def test_ae_titles_are_trimmed_on_decode():
    raw = associate_bytes(
        A_ASSOCIATE_RQ,
        [app_context_item(), user_info_item()],
        called=b"  ANY-SCP\x00\x00",
        calling=b"ECHOSCU",
    )
    rq = decode_full(raw)
    assert (rq.called_ae, rq.calling_ae) == ("ANY-SCP", "ECHOSCU")


def test_uid_trailing_null_padding_is_dropped_on_decode():
    raw = associate_bytes(
        A_ASSOCIATE_RQ,
        [
            item(0x10, APPLICATION_CONTEXT.encode() + b"\x00"),
            rq_context_item(1, VERIFICATION + "\x00", [IMPLICIT + "\x00"]),
            user_info_item(item(0x52, b"1.2.3\x00")),
        ],
    )
    rq = decode_full(raw)
    assert rq.application_context == APPLICATION_CONTEXT
    assert rq.contexts == [PresentationContextRQ(1, VERIFICATION, [IMPLICIT])]
    assert rq.user_info.implementation_class_uid == "1.2.3"
    assert rq.user_info.max_length is None  # no 0x51 sub-item


def test_rejected_context_without_transfer_syntax_sub_item():
    ac = AssociateAC("A", "B", [PresentationContextAC(3, ABSTRACT_SYNTAX_NOT_SUPPORTED)], UserInformation())
    raw = encode(ac)
    assert item(0x21, b"\x03\x00\x03\x00") in raw
    assert roundtrip(ac).contexts == [PresentationContextAC(3, ABSTRACT_SYNTAX_NOT_SUPPORTED, "")]


# ---------------------------------------------------------------------------- pynetdicom's vectors


@pytest.fixture(scope="module")
def ref():
    return pytest.importorskip("pynetdicom.tests.encoded_pdu_items")


def test_pynetdicom_associate_rq_decodes_and_reencodes_identically(ref):
    rq = decode_full(ref.a_associate_rq)
    assert rq == AssociateRQ(
        "ANY-SCP",
        "ECHOSCU",
        [PresentationContextRQ(1, VERIFICATION, [IMPLICIT])],
        UserInformation(16382, IMPL_UID, "PYNETDICOM_090"),
    )
    assert encode(rq) == ref.a_associate_rq


def test_pynetdicom_associate_ac_decodes_and_reencodes_identically(ref):
    ac = decode_full(ref.a_associate_ac)
    assert ac == AssociateAC(
        "ANY-SCP",
        "ECHOSCU",
        [PresentationContextAC(1, ACCEPTANCE, IMPLICIT)],
        UserInformation(16384, "1.2.276.0.7230010.3.0.3.6.0", "OFFIS_DCMTK_360"),
    )
    assert encode(ac) == ref.a_associate_ac


def test_pynetdicom_associate_vectors_with_sub_items(ref):
    rq = decode_full(ref.a_associate_rq_user_async)
    assert rq.user_info.async_ops == (5, 5)
    assert rq.user_info.user_identity_rq == UserIdentityRQ(1, b"pynetdicom", b"", True)

    rq = decode_full(ref.a_associate_rq_role)
    assert rq.user_info.roles == [RoleSelection(CT_STORAGE, False, True)]

    rq = decode_full(ref.a_associate_rq_user_id_user_pass)
    assert rq.contexts[0].context_id == 1
    assert rq.contexts[0].transfer_syntaxes == [EXPLICIT, BIG, IMPLICIT]
    assert rq.user_info.user_identity_rq == UserIdentityRQ(2, b"pynetdicom", b"p4ssw0rd", False)

    rq = decode_full(ref.a_associate_rq_user_id_ext_neg)
    assert [c.context_id for c in rq.contexts] == [1, 3, 5]
    assert rq.user_info.extended == [
        SOPClassExtendedNegotiation(CT_STORAGE, b"\x02\x00\x03\x00\x01\x00"),
        SOPClassExtendedNegotiation(MR_STORAGE, b"\x02\x00\x03\x00\x01\x00"),
    ]

    # an A-ASSOCIATE-AC (type 2) carrying a common extended negotiation sub-item
    ac = decode_full(ref.a_associate_rq_com_ext_neg)
    assert isinstance(ac, AssociateAC)
    assert ac.user_info.common_extended == [
        SOPClassCommonExtendedNegotiation(MR_STORAGE, STORAGE_SERVICE, ["1.2.840.10008.5.1.4.1.1.88.22"])
    ]

    ac = decode_full(ref.a_associate_ac_zero_ts)  # refused context with an empty 0x40 sub-item
    assert ac.contexts == [PresentationContextAC(1, 0, EXPLICIT), PresentationContextAC(3, 3, "")]

    ac = decode_full(ref.a_associate_ac_no_ts)  # refused context without any 0x40 sub-item
    assert ac.contexts == [PresentationContextAC(1, 3, "")]


def test_pynetdicom_fixed_and_pdata_vectors(ref):
    assert decode_full(ref.a_associate_rj) == AssociateRJ(1, 1, 1)
    assert encode(AssociateRJ(1, 1, 1)) == ref.a_associate_rj
    assert encode(ReleaseRQ()) == ref.a_release_rq
    assert encode(ReleaseRP()) == ref.a_release_rp
    assert encode(Abort(0, 0)) == ref.a_abort
    assert decode_full(ref.a_p_abort) == Abort(2, 4)
    pdata = decode_full(ref.p_data_tf)
    assert len(pdata.pdvs) == 1
    pdv = pdata.pdvs[0]
    assert (pdv.context_id, pdv.is_command, pdv.is_last, len(pdv.data)) == (1, True, True, 78)
    assert encode(PDataTF([PDV(1, True, True, bytes(pdv.data))])) == ref.p_data_tf


def test_our_encoding_is_read_by_pynetdicom():
    pdu_mod = pytest.importorskip("pynetdicom.pdu")
    rq = AssociateRQ(
        "CALLED-AE",
        "CALLING-AE",
        [
            PresentationContextRQ(1, VERIFICATION, [IMPLICIT]),
            PresentationContextRQ(3, CT_STORAGE, [EXPLICIT, IMPLICIT]),
        ],
        full_user_info(user_identity_rq=UserIdentityRQ(2, b"user", b"pw", True)),
    )
    theirs = pdu_mod.A_ASSOCIATE_RQ()
    theirs.decode(encode(rq))
    assert theirs.called_ae_title == "CALLED-AE"
    assert theirs.calling_ae_title == "CALLING-AE"
    assert [(c.context_id, c.abstract_syntax, c.transfer_syntax) for c in theirs.presentation_context] == [
        (1, VERIFICATION, [IMPLICIT]),
        (3, CT_STORAGE, [EXPLICIT, IMPLICIT]),
    ]
    subs = {type(s).__name__: s for s in theirs.user_information.user_data}
    assert subs["MaximumLengthSubItem"].maximum_length_received == 16384
    assert subs["ImplementationClassUIDSubItem"].implementation_class_uid == IMPL_UID
    assert subs["ImplementationVersionNameSubItem"].implementation_version_name == "PYNETDICOM_090"
    assert subs["AsynchronousOperationsWindowSubItem"].maximum_number_operations_invoked == 5
    assert subs["AsynchronousOperationsWindowSubItem"].maximum_number_operations_performed == 3
    assert subs["UserIdentitySubItemRQ"].primary_field == b"user"
    assert subs["UserIdentitySubItemRQ"].secondary_field == b"pw"
    assert subs["SOPClassCommonExtendedNegotiationSubItem"].related_general_sop_class_identification == [
        "1.2.840.10008.5.1.4.1.1.88.22",
        "1.2.840.10008.5.1.4.1.1.88.33",
    ]


# ---------------------------------------------------------------------------- unknown items


def test_unknown_items_and_sub_items_in_associate_rq_are_skipped():
    raw = associate_bytes(
        A_ASSOCIATE_RQ,
        [
            item(0x77, b"future item"),
            app_context_item(),
            item(0x21, b"\x01\x00\x00\x00"),  # an AC context item has no place in an RQ
            rq_context_item(1, VERIFICATION, [IMPLICIT], extra=item(0x99, b"unknown sub-item")),
            item(0xFF, b""),
            user_info_item(
                max_length_sub(32768),
                item(0x5F, b"unknown user information sub-item"),
                item(0x52, b"1.2.3"),
                item(0x60, b""),
                item(0x55, b"V1"),
            ),
            item(0x01, b"\x00" * 9),
        ],
    )
    rq = decode_full(raw)
    assert rq == AssociateRQ(
        "ANY-SCP",
        "ECHOSCU",
        [PresentationContextRQ(1, VERIFICATION, [IMPLICIT])],
        UserInformation(32768, "1.2.3", "V1"),
    )


def test_unknown_items_in_associate_ac_are_skipped():
    raw = associate_bytes(
        A_ASSOCIATE_AC,
        [
            app_context_item(),
            rq_context_item(1, VERIFICATION, [IMPLICIT]),  # an RQ context item has no place in an AC
            item(0x21, b"\x01\x00\x00\x00" + item(0x30, b"ignored") + item(0x40, IMPLICIT.encode())),
            item(0x42, b"?"),
            user_info_item(item(0x5A, b"??"), max_length_sub(0)),
        ],
    )
    ac = decode_full(raw)
    assert ac.contexts == [PresentationContextAC(1, ACCEPTANCE, IMPLICIT)]
    assert ac.user_info.max_length == 0
    assert ac.user_info.implementation_class_uid == ""


# ---------------------------------------------------------------------------- malformed input


def _rq_with(*items: bytes) -> bytes:
    return associate_bytes(A_ASSOCIATE_RQ, list(items))[6:]


GOOD_CONTEXT = rq_context_item(1, VERIFICATION, [IMPLICIT])
GOOD_UI = user_info_item(max_length_sub())

MALFORMED_ASSOCIATE = {
    "shorter than fixed fields": associate_bytes(A_ASSOCIATE_RQ, [])[6:60],
    "truncated item header": _rq_with(app_context_item(), GOOD_UI, b"\x20\x00"),
    "item overruns the PDU": _rq_with(app_context_item(), GOOD_UI, b"\x20\x00\x00\x10\x01\x00"),
    "no application context": _rq_with(GOOD_CONTEXT, GOOD_UI),
    "no user information": _rq_with(app_context_item(), GOOD_CONTEXT),
    "context item shorter than 4": _rq_with(app_context_item(), item(0x20, b"\x01\x00"), GOOD_UI),
    "context without abstract syntax": _rq_with(
        app_context_item(), item(0x20, b"\x01\x00\x00\x00" + item(0x40, IMPLICIT.encode())), GOOD_UI
    ),
    "sub-item overruns its context": _rq_with(
        app_context_item(), item(0x20, b"\x01\x00\x00\x00\x30\x00\x00\x40abc"), GOOD_UI
    ),
    "truncated sub-item header in context": _rq_with(
        app_context_item(), item(0x20, b"\x01\x00\x00\x00" + item(0x30, b"1.2") + b"\x40\x00"), GOOD_UI
    ),
    "max length not 4 bytes": _rq_with(app_context_item(), user_info_item(item(0x51, b"\x00\x00\x40"))),
    "async ops not 4 bytes": _rq_with(app_context_item(), user_info_item(item(0x53, b"\x00\x01\x00\x01\x00"))),
    "role selection truncated": _rq_with(app_context_item(), user_info_item(item(0x54, b"\x00\x031.2\x01"))),
    "role selection uid overrun": _rq_with(app_context_item(), user_info_item(item(0x54, b"\x00\x101.2\x01\x00"))),
    "role selection without uid length": _rq_with(app_context_item(), user_info_item(item(0x54, b"\x00"))),
    "extended negotiation uid overrun": _rq_with(app_context_item(), user_info_item(item(0x56, b"\x00\x091.2"))),
    "common extended: service class missing": _rq_with(app_context_item(), user_info_item(item(0x57, b"\x00\x031.2"))),
    "common extended: related list overrun": _rq_with(
        app_context_item(), user_info_item(item(0x57, b"\x00\x031.2\x00\x031.3\x00\x20\x00\x031.4"))
    ),
    "common extended: related uid overrun": _rq_with(
        app_context_item(), user_info_item(item(0x57, b"\x00\x031.2\x00\x031.3\x00\x05\x00\x091.4"))
    ),
    "common extended: related uid length cut": _rq_with(
        app_context_item(), user_info_item(item(0x57, b"\x00\x031.2\x00\x031.3\x00\x01\x00"))
    ),
    "user identity shorter than 2": _rq_with(app_context_item(), user_info_item(item(0x58, b"\x01"))),
    "user identity without primary length": _rq_with(app_context_item(), user_info_item(item(0x58, b"\x01\x00"))),
    "user identity primary overrun": _rq_with(app_context_item(), user_info_item(item(0x58, b"\x01\x00\x00\x09ab"))),
    "user identity secondary overrun": _rq_with(
        app_context_item(), user_info_item(item(0x58, b"\x02\x00\x00\x02ab\x00\x05pw"))
    ),
    "user identity secondary length cut": _rq_with(
        app_context_item(), user_info_item(item(0x58, b"\x02\x00\x00\x02ab\x00"))
    ),
    "user identity ac truncated": _rq_with(app_context_item(), user_info_item(item(0x59, b"\x00"))),
    "user identity ac overrun": _rq_with(app_context_item(), user_info_item(item(0x59, b"\x00\x05abc"))),
    "user info sub-item overrun": _rq_with(app_context_item(), item(0x50, b"\x51\x00\x00\x08\x00\x00")),
    "non-ascii called AE": associate_bytes(A_ASSOCIATE_RQ, [app_context_item(), GOOD_UI], called=b"CALL\xe9D")[6:],
    "non-ascii calling AE": associate_bytes(A_ASSOCIATE_RQ, [app_context_item(), GOOD_UI], calling=b"\xff")[6:],
    "non-ascii abstract syntax": _rq_with(app_context_item(), rq_context_item(1, "1.2.\u200b3", [IMPLICIT]), GOOD_UI),
    "non-ascii transfer syntax": _rq_with(app_context_item(), rq_context_item(1, "1.2", ["1.2.\xe9"]), GOOD_UI),
    "non-ascii application context": _rq_with(item(0x10, b"1.2.\xff"), GOOD_UI),
    "non-ascii implementation class uid": _rq_with(app_context_item(), user_info_item(item(0x52, b"1.2.\x80"))),
    "non-ascii implementation version": _rq_with(app_context_item(), user_info_item(item(0x55, b"V\xc3\xa9"))),
    "non-ascii role selection uid": _rq_with(app_context_item(), user_info_item(item(0x54, b"\x00\x031.\xff\x01\x00"))),
}


@pytest.mark.parametrize("body", MALFORMED_ASSOCIATE.values(), ids=MALFORMED_ASSOCIATE.keys())
def test_malformed_associate_rq_raises_pdu_error(body):
    with pytest.raises(PDUError):
        decode_pdu(A_ASSOCIATE_RQ, body)


# the defects outside presentation context items (0x20 items are skipped in an A-ASSOCIATE-AC)
MALFORMED_ASSOCIATE_AC = {k: v for k, v in MALFORMED_ASSOCIATE.items() if "context" not in k and "syntax" not in k}


@pytest.mark.parametrize("body", MALFORMED_ASSOCIATE_AC.values(), ids=MALFORMED_ASSOCIATE_AC.keys())
def test_malformed_associate_ac_raises_pdu_error(body):
    with pytest.raises(PDUError):
        decode_pdu(A_ASSOCIATE_AC, body)


def test_malformed_ac_context_item_raises():
    with pytest.raises(PDUError):
        decode_pdu(A_ASSOCIATE_AC, _rq_with(app_context_item(), item(0x21, b"\x01\x00"), GOOD_UI))
    with pytest.raises(PDUError):
        decode_pdu(
            A_ASSOCIATE_AC, _rq_with(app_context_item(), item(0x21, b"\x01\x00\x00\x00\x40\x00\x00\x09ab"), GOOD_UI)
        )
    with pytest.raises(PDUError):
        decode_pdu(
            A_ASSOCIATE_AC,
            _rq_with(app_context_item(), item(0x21, b"\x01\x00\x00\x00" + item(0x40, b"1.\xff")), GOOD_UI),
        )


MALFORMED_PDATA = {
    "empty": b"",
    "truncated pdv header": b"\x00\x00\x00\x03\x01",
    "pdv length 0": b"\x00\x00\x00\x00\x01\x03",
    "pdv length 1": b"\x00\x00\x00\x01\x01\x03",
    # the same, followed by bytes that would parse if the short item were let through
    "pdv length 0 then a valid pdv": b"\x00\x00\x00\x00" + b"\x00\x00\x00\x02\x01\x03",
    "pdv length 1 then a valid pdv": b"\x00\x00\x00\x01\x05" + b"\x00\x00\x00\x02\x01\x03",
    "pdv length overruns": b"\x00\x00\x00\x05\x01\x03ab",
    "second pdv truncated": b"\x00\x00\x00\x03\x01\x03a\x00\x00",
    "second pdv overruns": b"\x00\x00\x00\x03\x01\x03a\x00\x00\x00\x09\x01\x02",
    "huge pdv length": b"\xff\xff\xff\xff\x01\x03abc",
}


@pytest.mark.parametrize("body", MALFORMED_PDATA.values(), ids=MALFORMED_PDATA.keys())
def test_malformed_pdata_raises_pdu_error(body):
    with pytest.raises(PDUError):
        decode_pdu(P_DATA_TF, body)


def test_pdv_of_length_two_is_an_empty_fragment():
    pdata = decode_pdu(P_DATA_TF, b"\x00\x00\x00\x02\x05\x02")
    assert len(pdata.pdvs) == 1
    assert (pdata.pdvs[0].context_id, pdata.pdvs[0].is_last, bytes(pdata.pdvs[0].data)) == (5, True, b"")


@pytest.mark.parametrize("pdu_type", [A_ASSOCIATE_RJ, A_RELEASE_RQ, A_RELEASE_RP, A_ABORT])
@pytest.mark.parametrize("length", [0, 1, 3, 5, 8, 100])
def test_fixed_pdus_with_length_other_than_4_raise(pdu_type, length):
    with pytest.raises(PDUError):
        decode_pdu(pdu_type, bytes(length))
    assert decode_pdu(pdu_type, bytes(4)) is not None


@pytest.mark.parametrize("pdu_type", [0x00, 0x08, 0x09, 0x10, 0x50, 0xFF])
def test_unknown_pdu_type_raises(pdu_type):
    with pytest.raises(PDUError):
        decode_pdu(pdu_type, bytes(4))


def test_item_too_long_for_its_length_field_is_refused_on_encode():
    with pytest.raises(EncodingError, match="item 0x30 too long") as refused:
        encode(AssociateRQ("A", "B", [PresentationContextRQ(1, "1." * 40000, [IMPLICIT])], UserInformation()))
    _is_our_mistake(refused.value)


def test_decoded_codes_are_enums_that_keep_unknown_values():
    rj = decode_pdu(A_ASSOCIATE_RJ, bytes([0, 1, 2, 9]))
    assert isinstance(rj, AssociateRJ)
    assert (rj.result, rj.source) == (RejectResult.PERMANENT, RejectSource.ACSE)
    assert isinstance(rj.reason, RejectReason) and rj.reason == 9  # no such reason: kept
    abort = decode_pdu(A_ABORT, bytes([0, 0, 2, 0x33]))
    assert isinstance(abort, Abort)
    assert abort.source is AbortSource.SERVICE_PROVIDER
    assert isinstance(abort.reason, AbortReason) and abort.reason == 0x33
    assert decode_pdu(A_ABORT, bytes([0, 0, 2, 6])) == Abort(2, 6)
    assert encode(abort) == encode(Abort(2, 0x33))


def test_decoded_context_results_are_enums():
    contexts = [PresentationContextAC(1, ContextResult.ACCEPTANCE, IMPLICIT), PresentationContextAC(3, 7)]
    ac = AssociateAC("A", "B", contexts)
    decoded = decode_pdu(A_ASSOCIATE_AC, encode(ac)[6:])
    assert isinstance(decoded, AssociateAC)
    results = [c.result for c in decoded.contexts]
    assert results == [ContextResult.ACCEPTANCE, 7]
    assert all(isinstance(r, ContextResult) for r in results)
