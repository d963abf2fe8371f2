"""PS3.8 protocol data units: plain value classes (records) and their exact wire form.

Pure functions only: ``encode`` turns a PDU into bytes and ``decode_pdu`` turns the
variable part of a received PDU back into one.  Whatever the bytes, decoding raises
nothing but :class:`PDUError` (the peer's mistake); what of ours does not fit the wire
format raises :class:`EncodingError` (our mistake).  Unknown items are skipped as PS3.8
9.3.1 requires.  Results, sources and reasons are the IntEnums of :mod:`dimse.codes`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from ..codes import AbortReason, AbortSource, ContextResult, RejectReason, RejectResult, RejectSource
from ..errors import EncodingError, PDUError
from .record import Record

# PDU types (PS3.8 9.3)
A_ASSOCIATE_RQ = 0x01
A_ASSOCIATE_AC = 0x02
A_ASSOCIATE_RJ = 0x03
P_DATA_TF = 0x04
A_RELEASE_RQ = 0x05
A_RELEASE_RP = 0x06
A_ABORT = 0x07
PDU_TYPES = frozenset(range(1, 8))
#: PS3.8's names, for messages that say what a peer sent
PDU_NAMES = {
    A_ASSOCIATE_RQ: "A-ASSOCIATE-RQ",
    A_ASSOCIATE_AC: "A-ASSOCIATE-AC",
    A_ASSOCIATE_RJ: "A-ASSOCIATE-RJ",
    P_DATA_TF: "P-DATA-TF",
    A_RELEASE_RQ: "A-RELEASE-RQ",
    A_RELEASE_RP: "A-RELEASE-RP",
    A_ABORT: "A-ABORT",
}

PDU_HEADER = struct.Struct(">BxL")
PDV_HEADER = struct.Struct(">LBB")
_ITEM_HEADER = struct.Struct(">BxH")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">L")

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"

# Item counts a peer may send; beyond them the PDU is invalid (PDUError).  Each is far above
# what a conforming peer needs, and each keeps the objects one PDU turns into bounded.
#: presentation context items per A-ASSOCIATE PDU (the ID is one byte: 256 values)
MAX_CONTEXT_ITEMS = 256
#: transfer syntax sub-items per presentation context
MAX_TRANSFER_SYNTAX_ITEMS = 128
#: sub-items of the user information item (3 per SOP class for 128 contexts, and a few more)
MAX_USER_INFO_ITEMS = 512
#: related general SOP classes in one common extended negotiation sub-item
MAX_RELATED_CLASSES = 128
#: PDV items per P-DATA-TF PDU (an empty PDV is 6 bytes on the wire but a few hundred in memory)
MAX_PDV_ITEMS = 4096

# Presentation context results (PS3.8 table 9-18): the old names of the ContextResult members
ACCEPTANCE = ContextResult.ACCEPTANCE
USER_REJECTION = ContextResult.USER_REJECTION
NO_REASON = ContextResult.NO_REASON
ABSTRACT_SYNTAX_NOT_SUPPORTED = ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED
TRANSFER_SYNTAXES_NOT_SUPPORTED = ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED


class RoleSelection(Record):
    """SCP/SCU role selection sub-item (0x54) for one SOP class."""

    __slots__ = ("sop_class", "scu_role", "scp_role")

    def __init__(self, sop_class: str, scu_role: bool, scp_role: bool) -> None:
        self.sop_class = sop_class
        self.scu_role = scu_role
        self.scp_role = scp_role


class SOPClassExtendedNegotiation(Record):
    """SOP class extended negotiation sub-item (0x56): opaque application information."""

    __slots__ = ("sop_class", "info")

    def __init__(self, sop_class: str, info: bytes) -> None:
        self.sop_class = sop_class
        self.info = info


class SOPClassCommonExtendedNegotiation(Record):
    """SOP class common extended negotiation sub-item (0x57)."""

    __slots__ = ("sop_class", "service_class", "related_general_classes", "version")

    def __init__(
        self, sop_class: str, service_class: str, related_general_classes: list[str] | None = None, version: int = 0
    ) -> None:
        self.sop_class = sop_class
        self.service_class = service_class
        self.related_general_classes: list[str] = [] if related_general_classes is None else related_general_classes
        self.version = version


class UserIdentityRQ(Record):
    """User identity negotiation request (0x58): type 1 user, 2 user+password, 3 Kerberos,
    4 SAML, 5 JWT."""

    __slots__ = ("identity_type", "primary", "secondary", "positive_response_requested")

    def __init__(
        self, identity_type: int, primary: bytes, secondary: bytes = b"", positive_response_requested: bool = False
    ) -> None:
        self.identity_type = identity_type
        self.primary = primary
        self.secondary = secondary
        self.positive_response_requested = positive_response_requested


class UserIdentityAC(Record):
    """User identity negotiation response (0x59)."""

    __slots__ = ("server_response",)

    def __init__(self, server_response: bytes = b"") -> None:
        self.server_response = server_response


class UserInformation(Record):
    """The user information item (0x50) and all its sub-items."""

    __slots__ = (
        "max_length",
        "implementation_class_uid",
        "implementation_version_name",
        "async_ops",
        "roles",
        "extended",
        "common_extended",
        "user_identity_rq",
        "user_identity_ac",
    )

    def __init__(
        self,
        max_length: int | None = 16384,
        implementation_class_uid: str = "",
        implementation_version_name: str | None = None,
        async_ops: tuple[int, int] | None = None,  # (invoked, performed)
        roles: list[RoleSelection] | None = None,
        extended: list[SOPClassExtendedNegotiation] | None = None,
        common_extended: list[SOPClassCommonExtendedNegotiation] | None = None,
        user_identity_rq: UserIdentityRQ | None = None,
        user_identity_ac: UserIdentityAC | None = None,
    ) -> None:
        self.max_length = max_length
        self.implementation_class_uid = implementation_class_uid
        self.implementation_version_name = implementation_version_name
        self.async_ops = async_ops
        self.roles: list[RoleSelection] = [] if roles is None else roles
        self.extended: list[SOPClassExtendedNegotiation] = [] if extended is None else extended
        self.common_extended: list[SOPClassCommonExtendedNegotiation] = (
            [] if common_extended is None else common_extended
        )
        self.user_identity_rq = user_identity_rq
        self.user_identity_ac = user_identity_ac


class PresentationContextRQ(Record):
    """A proposed presentation context: odd ID, one abstract syntax, transfer syntaxes."""

    __slots__ = ("context_id", "abstract_syntax", "transfer_syntaxes")

    def __init__(self, context_id: int, abstract_syntax: str, transfer_syntaxes: list[str]) -> None:
        self.context_id = context_id
        self.abstract_syntax = abstract_syntax
        self.transfer_syntaxes = transfer_syntaxes


class PresentationContextAC(Record):
    """The acceptor's answer for one context; ``transfer_syntax`` is meaningful on acceptance."""

    __slots__ = ("context_id", "result", "transfer_syntax")

    def __init__(self, context_id: int, result: ContextResult, transfer_syntax: str = "") -> None:
        self.context_id = context_id
        self.result = result
        self.transfer_syntax = transfer_syntax


class AssociateRQ(Record):
    __slots__ = ("called_ae", "calling_ae", "contexts", "user_info", "application_context", "protocol_version")

    def __init__(
        self,
        called_ae: str,
        calling_ae: str,
        contexts: list[PresentationContextRQ],
        user_info: UserInformation | None = None,
        application_context: str = APPLICATION_CONTEXT,
        protocol_version: int = 1,
    ) -> None:
        self.called_ae = called_ae
        self.calling_ae = calling_ae
        self.contexts = contexts
        self.user_info: UserInformation = UserInformation() if user_info is None else user_info
        self.application_context = application_context
        self.protocol_version = protocol_version


class AssociateAC(Record):
    __slots__ = ("called_ae", "calling_ae", "contexts", "user_info", "application_context", "protocol_version")

    def __init__(
        self,
        called_ae: str,
        calling_ae: str,
        contexts: list[PresentationContextAC],
        user_info: UserInformation | None = None,
        application_context: str = APPLICATION_CONTEXT,
        protocol_version: int = 1,
    ) -> None:
        self.called_ae = called_ae
        self.calling_ae = calling_ae
        self.contexts = contexts
        self.user_info: UserInformation = UserInformation() if user_info is None else user_info
        self.application_context = application_context
        self.protocol_version = protocol_version


class AssociateRJ(Record):
    __slots__ = ("result", "source", "reason")

    def __init__(self, result: RejectResult, source: RejectSource, reason: RejectReason) -> None:
        self.result = result  # permanent, transient
        self.source = source  # service user, provider (ACSE), provider (presentation)
        self.reason = reason  # its meaning depends on the source


class PDV(Record):
    """One presentation data value: a fragment of a command or data set."""

    __slots__ = ("context_id", "is_command", "is_last", "data")

    def __init__(self, context_id: int, is_command: bool, is_last: bool, data: bytes | memoryview) -> None:
        self.context_id = context_id
        self.is_command = is_command
        self.is_last = is_last
        self.data = data


class PDataTF(Record):
    __slots__ = ("pdvs",)

    def __init__(self, pdvs: list[PDV]) -> None:
        self.pdvs = pdvs


class ReleaseRQ(Record):
    __slots__ = ()


class ReleaseRP(Record):
    __slots__ = ()


class Abort(Record):
    __slots__ = ("source", "reason")

    def __init__(
        self,
        source: AbortSource = AbortSource.SERVICE_USER,
        reason: AbortReason = AbortReason.NOT_SPECIFIED,  # meaningful when the provider aborts
    ) -> None:
        self.source = source
        self.reason = reason


PDU = AssociateRQ | AssociateAC | AssociateRJ | PDataTF | ReleaseRQ | ReleaseRP | Abort


# ---------------------------------------------------------------------------- encoding


def _item(item_type: int, body: bytes) -> bytes:
    if len(body) > 0xFFFF:
        raise EncodingError(f"item 0x{item_type:02x} too long ({len(body)} bytes)")
    return _ITEM_HEADER.pack(item_type, len(body)) + body


def _uid(uid: str) -> bytes:
    return uid.encode("ascii")


def _ae(title: str) -> bytes:
    raw = title.encode("ascii")
    if len(raw) > 16:
        raise EncodingError(f"AE title longer than 16 characters: {title!r}")
    return raw.ljust(16, b" ")


def _with_len(raw: bytes) -> bytes:
    return _U16.pack(len(raw)) + raw


def _encode_user_info(ui: UserInformation) -> bytes:
    parts: list[bytes] = []
    if ui.max_length is not None:
        parts.append(_item(0x51, _U32.pack(ui.max_length)))
    parts.append(_item(0x52, _uid(ui.implementation_class_uid)))
    if ui.async_ops is not None:
        parts.append(_item(0x53, struct.pack(">HH", *ui.async_ops)))
    for role in ui.roles:
        body = _with_len(_uid(role.sop_class)) + bytes([role.scu_role, role.scp_role])
        parts.append(_item(0x54, body))
    if ui.implementation_version_name is not None:
        parts.append(_item(0x55, ui.implementation_version_name.encode("ascii")))
    for ext in ui.extended:
        parts.append(_item(0x56, _with_len(_uid(ext.sop_class)) + bytes(ext.info)))
    for cx in ui.common_extended:
        related = b"".join(_with_len(_uid(u)) for u in cx.related_general_classes)
        body = _with_len(_uid(cx.sop_class)) + _with_len(_uid(cx.service_class)) + _with_len(related)
        header = struct.pack(">BBH", 0x57, cx.version, len(body))
        parts.append(header + body)
    if ui.user_identity_rq is not None:
        rq = ui.user_identity_rq
        body = bytes([rq.identity_type, rq.positive_response_requested])
        body += _with_len(bytes(rq.primary)) + _with_len(bytes(rq.secondary))
        parts.append(_item(0x58, body))
    if ui.user_identity_ac is not None:
        parts.append(_item(0x59, _with_len(bytes(ui.user_identity_ac.server_response))))
    return _item(0x50, b"".join(parts))


def _encode_associate(pdu: AssociateRQ | AssociateAC, pdu_type: int) -> bytes:
    parts = [
        struct.pack(">HH", pdu.protocol_version, 0),
        _ae(pdu.called_ae),
        _ae(pdu.calling_ae),
        bytes(32),
        _item(0x10, _uid(pdu.application_context)),
    ]
    for ctx in pdu.contexts:
        if isinstance(ctx, PresentationContextRQ):
            sub = _item(0x30, _uid(ctx.abstract_syntax))
            sub += b"".join(_item(0x40, _uid(ts)) for ts in ctx.transfer_syntaxes)
            parts.append(_item(0x20, bytes([ctx.context_id, 0, 0, 0]) + sub))
        else:
            sub = _item(0x40, _uid(ctx.transfer_syntax)) if ctx.transfer_syntax else b""
            parts.append(_item(0x21, bytes([ctx.context_id, 0, ctx.result, 0]) + sub))
    parts.append(_encode_user_info(pdu.user_info))
    body = b"".join(parts)
    return PDU_HEADER.pack(pdu_type, len(body)) + body


def encode(pdu: PDU) -> bytes:
    """Encode any PDU (header included)."""
    if isinstance(pdu, AssociateRQ):
        return _encode_associate(pdu, A_ASSOCIATE_RQ)
    if isinstance(pdu, AssociateAC):
        return _encode_associate(pdu, A_ASSOCIATE_AC)
    if isinstance(pdu, AssociateRJ):
        return PDU_HEADER.pack(A_ASSOCIATE_RJ, 4) + bytes([0, pdu.result, pdu.source, pdu.reason])
    if isinstance(pdu, PDataTF):
        body = b"".join(
            pdata_header_pdv(p.context_id, len(p.data), p.is_command, p.is_last) + bytes(p.data) for p in pdu.pdvs
        )
        return PDU_HEADER.pack(P_DATA_TF, len(body)) + body
    if isinstance(pdu, ReleaseRQ):
        return PDU_HEADER.pack(A_RELEASE_RQ, 4) + bytes(4)
    if isinstance(pdu, ReleaseRP):
        return PDU_HEADER.pack(A_RELEASE_RP, 4) + bytes(4)
    if isinstance(pdu, Abort):
        return PDU_HEADER.pack(A_ABORT, 4) + bytes([0, 0, pdu.source, pdu.reason])
    raise TypeError(f"not a PDU: {pdu!r}")


def pdata_header_pdv(context_id: int, length: int, is_command: bool, is_last: bool) -> bytes:
    """The 6-byte PDV item header for a fragment of ``length`` bytes."""
    return PDV_HEADER.pack(length + 2, context_id, (1 if is_command else 0) | (2 if is_last else 0))


def pdata_header(context_id: int, length: int, is_command: bool, is_last: bool) -> bytes:
    """PDU header plus PDV header for a P-DATA-TF carrying one fragment of ``length`` bytes.

    Lets a sender write the payload from its own buffer without joining it to the header.
    """
    return PDU_HEADER.pack(P_DATA_TF, length + 6) + pdata_header_pdv(context_id, length, is_command, is_last)


# ---------------------------------------------------------------------------- decoding


def _iter_items(data: memoryview, where: str) -> Iterator[tuple[int, memoryview, int]]:
    """Yield (type, body, first header byte) of consecutive items, checking every length."""
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < 4:
            raise PDUError(f"truncated item header in {where}")
        item_type, second, length = data[pos], data[pos + 1], _U16.unpack_from(data, pos + 2)[0]
        pos += 4
        if pos + length > end:
            raise PDUError(f"item 0x{item_type:02x} in {where} overruns its container")
        yield item_type, data[pos : pos + length], second
        pos += length


def _text(raw: memoryview, what: str) -> str:
    try:
        return bytes(raw).decode("ascii")
    except UnicodeDecodeError:
        raise PDUError(f"{what} is not ASCII") from None


def _uid_text(raw: memoryview, what: str) -> str:
    return _text(raw, what).rstrip("\0 ")


def _u16_prefixed(data: memoryview, pos: int, what: str) -> tuple[memoryview, int]:
    if pos + 2 > len(data):
        raise PDUError(f"truncated {what}")
    length = _U16.unpack_from(data, pos)[0]
    pos += 2
    if pos + length > len(data):
        raise PDUError(f"{what} overruns its item")
    return data[pos : pos + length], pos + length


def _check_count(count: int, limit: int, what: str) -> None:
    if count > limit:
        raise PDUError(f"more than {limit} {what}")


def _max_length(ui: UserInformation, body: memoryview, second: int) -> None:
    if len(body) != 4:
        raise PDUError("maximum length item must be 4 bytes")
    ui.max_length = _U32.unpack(body)[0]


def _implementation_class(ui: UserInformation, body: memoryview, second: int) -> None:
    ui.implementation_class_uid = _uid_text(body, "implementation class UID")


def _async_ops(ui: UserInformation, body: memoryview, second: int) -> None:
    if len(body) != 4:
        raise PDUError("asynchronous operations window item must be 4 bytes")
    invoked, performed = struct.unpack(">HH", body)
    ui.async_ops = (invoked, performed)


def _role_selection(ui: UserInformation, body: memoryview, second: int) -> None:
    uid, pos = _u16_prefixed(body, 0, "role selection UID")
    if pos + 2 > len(body):
        raise PDUError("truncated role selection item")
    ui.roles.append(RoleSelection(_uid_text(uid, "SOP class UID"), bool(body[pos]), bool(body[pos + 1])))


def _implementation_version(ui: UserInformation, body: memoryview, second: int) -> None:
    ui.implementation_version_name = _text(body, "implementation version name").rstrip(" ")


def _extended(ui: UserInformation, body: memoryview, second: int) -> None:
    uid, pos = _u16_prefixed(body, 0, "extended negotiation UID")
    ui.extended.append(SOPClassExtendedNegotiation(_uid_text(uid, "SOP class UID"), bytes(body[pos:])))


def _common_extended(ui: UserInformation, body: memoryview, second: int) -> None:
    sop, pos = _u16_prefixed(body, 0, "common extended negotiation SOP class")
    service, pos = _u16_prefixed(body, pos, "common extended negotiation service class")
    related_raw, pos = _u16_prefixed(body, pos, "related general SOP classes")
    related: list[str] = []
    rpos = 0
    while rpos < len(related_raw):
        uid, rpos = _u16_prefixed(related_raw, rpos, "related general SOP class")
        related.append(_uid_text(uid, "related general SOP class"))
        _check_count(len(related), MAX_RELATED_CLASSES, "related general SOP classes")
    ui.common_extended.append(
        SOPClassCommonExtendedNegotiation(
            _uid_text(sop, "SOP class UID"), _uid_text(service, "service class UID"), related, second
        )
    )


def _user_identity_rq(ui: UserInformation, body: memoryview, second: int) -> None:
    if len(body) < 2:
        raise PDUError("truncated user identity item")
    primary, pos = _u16_prefixed(body, 2, "user identity primary field")
    secondary, pos = (
        (memoryview(b""), pos) if pos == len(body) else _u16_prefixed(body, pos, "user identity secondary field")
    )
    ui.user_identity_rq = UserIdentityRQ(body[0], bytes(primary), bytes(secondary), bool(body[1]))


def _user_identity_ac(ui: UserInformation, body: memoryview, second: int) -> None:
    response, _ = _u16_prefixed(body, 0, "user identity server response")
    ui.user_identity_ac = UserIdentityAC(bytes(response))


#: how each known user information sub-item is read into the UserInformation (item, body,
#: the item header's second byte); other sub-items are skipped (PS3.7 D.3.3)
_USER_INFO_ITEMS: dict[int, Callable[[UserInformation, memoryview, int], None]] = {
    0x51: _max_length,
    0x52: _implementation_class,
    0x53: _async_ops,
    0x54: _role_selection,
    0x55: _implementation_version,
    0x56: _extended,
    0x57: _common_extended,
    0x58: _user_identity_rq,
    0x59: _user_identity_ac,
}


def _decode_user_info(data: memoryview) -> UserInformation:
    ui = UserInformation(max_length=None)
    for count, (item_type, body, second) in enumerate(_iter_items(data, "user information"), 1):
        _check_count(count, MAX_USER_INFO_ITEMS, "user information sub-items")
        read = _USER_INFO_ITEMS.get(item_type)
        if read is not None:
            read(ui, body, second)
    return ui


def _context_rq(item: memoryview, before: int) -> PresentationContextRQ:
    """A proposed presentation context item (0x20); ``before`` of them came first."""
    if len(item) < 4:
        raise PDUError("truncated presentation context item")
    _check_count(before + 1, MAX_CONTEXT_ITEMS, "presentation context items")
    abstract, syntaxes = None, []
    for sub_type, sub, _ in _iter_items(item[4:], "presentation context"):
        if sub_type == 0x30:
            abstract = _uid_text(sub, "abstract syntax")
        elif sub_type == 0x40:
            syntaxes.append(_uid_text(sub, "transfer syntax"))
            _check_count(len(syntaxes), MAX_TRANSFER_SYNTAX_ITEMS, "transfer syntaxes in one context")
    if abstract is None:
        raise PDUError(f"presentation context {item[0]} has no abstract syntax")
    return PresentationContextRQ(item[0], abstract, syntaxes)


def _context_ac(item: memoryview, before: int) -> PresentationContextAC:
    """An answered presentation context item (0x21); ``before`` of them came first."""
    if len(item) < 4:
        raise PDUError("truncated presentation context item")
    _check_count(before + 1, MAX_CONTEXT_ITEMS, "presentation context items")
    ts = ""
    for sub_type, sub, _ in _iter_items(item[4:], "presentation context"):
        if sub_type == 0x40:
            ts = _uid_text(sub, "transfer syntax")
    return PresentationContextAC(item[0], ContextResult(item[2]), ts)


def _decode_associate(body: memoryview, is_rq: bool) -> AssociateRQ | AssociateAC:
    if len(body) < 68:
        raise PDUError("A-ASSOCIATE PDU shorter than its fixed fields")
    version = _U16.unpack_from(body, 0)[0]
    called = _text(body[4:20], "called AE title").strip(" \0")
    calling = _text(body[20:36], "calling AE title").strip(" \0")
    app_context: str | None = None
    user_info: UserInformation | None = None
    proposed: list[PresentationContextRQ] = []
    answered: list[PresentationContextAC] = []
    for item_type, item, _ in _iter_items(body[68:], "A-ASSOCIATE PDU"):
        if item_type == 0x10:
            app_context = _uid_text(item, "application context name")
        elif item_type == 0x20 and is_rq:
            proposed.append(_context_rq(item, len(proposed)))
        elif item_type == 0x21 and not is_rq:
            answered.append(_context_ac(item, len(answered)))
        elif item_type == 0x50:
            user_info = _decode_user_info(item)
    if app_context is None:
        raise PDUError("A-ASSOCIATE PDU has no application context item")
    if user_info is None:
        raise PDUError("A-ASSOCIATE PDU has no user information item")
    if is_rq:
        return AssociateRQ(called, calling, proposed, user_info, app_context, version)
    return AssociateAC(called, calling, answered, user_info, app_context, version)


def decode_pdata(body: memoryview) -> PDataTF:
    """Split a P-DATA-TF body into PDVs; fragments are views into ``body`` (no copy)."""
    pdvs: list[PDV] = []
    pos, end = 0, len(body)
    while pos < end:
        if end - pos < 6:
            raise PDUError("truncated PDV item header")
        length, ctx, control = PDV_HEADER.unpack_from(body, pos)
        if length < 2 or pos + 4 + length > end:
            raise PDUError(f"PDV item length {length} does not fit its P-DATA-TF PDU")
        pdvs.append(PDV(ctx, bool(control & 1), bool(control & 2), body[pos + 6 : pos + 4 + length]))
        _check_count(len(pdvs), MAX_PDV_ITEMS, "PDV items in a P-DATA-TF PDU")
        pos += 4 + length
    if not pdvs:
        raise PDUError("P-DATA-TF PDU without a PDV item")
    return PDataTF(pdvs)


def decode_pdu(pdu_type: int, body: bytes | memoryview) -> PDU:
    """Decode the variable part of a PDU whose header gave ``pdu_type``."""
    body = memoryview(body)
    try:
        if pdu_type == P_DATA_TF:
            return decode_pdata(body)
        if pdu_type in (A_ASSOCIATE_RQ, A_ASSOCIATE_AC):
            return _decode_associate(body, pdu_type == A_ASSOCIATE_RQ)
        if pdu_type in (A_ASSOCIATE_RJ, A_RELEASE_RQ, A_RELEASE_RP, A_ABORT) and len(body) != 4:
            raise PDUError(f"PDU type 0x{pdu_type:02x} must have a length of 4, not {len(body)}")
        if pdu_type == A_ASSOCIATE_RJ:
            return AssociateRJ(RejectResult(body[1]), RejectSource(body[2]), RejectReason(body[3]))
        if pdu_type == A_RELEASE_RQ:
            return ReleaseRQ()
        if pdu_type == A_RELEASE_RP:
            return ReleaseRP()
        if pdu_type == A_ABORT:
            return Abort(AbortSource(body[2]), AbortReason(body[3]))
    except PDUError:
        raise
    except Exception as exc:  # defensive: nothing else may escape the decoder
        raise PDUError(f"malformed PDU 0x{pdu_type:02x}: {exc}") from None
    raise PDUError(f"unknown PDU type 0x{pdu_type:02x}")
