"""The fuzz corpus: seed PDU streams kept in tests/fuzz_corpus/, and the replay that checks one.

Each corpus file is a byte stream as a peer would send it (one PDU or a whole conversation,
valid or hostile).  ``replay`` feeds it to the PDU decoder and to both sides of a
``Connection``; it raises only on a defect: an exception other than PDUError from the
decoder, any exception from the connection, an unknown event, or output that is not whole,
well-formed PDUs.  The test suite replays every file (tests/test_fuzz_corpus.py) and the
atheris harness (fuzz/fuzz_pdu.py) starts from the same files.

``python -m tests.corpus`` rewrites the seed files from the encoder (crashers found by a
fuzzer are added by hand, as ``crash-<what>.bin``, and are never rewritten).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from dimse.core import events as ev
from dimse.core.commands import c_echo_rq, c_store_rq, encode_command, response_to
from dimse.core.connection import MAX_COMMAND_SET, Connection
from dimse.core.fsm import State
from dimse.core.negotiation import AcceptorPolicy, build_request, negotiate
from dimse.core.pdu import (
    MAX_CONTEXT_ITEMS,
    MAX_PDV_ITEMS,
    MAX_TRANSFER_SYNTAX_ITEMS,
    MAX_USER_INFO_ITEMS,
    PDU_HEADER,
    Abort,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    PresentationContextRQ,
    ReleaseRP,
    ReleaseRQ,
    RoleSelection,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentityRQ,
    decode_pdu,
    encode,
    pdata_header,
)
from dimse.errors import LocalProtocolError, PDUError

CORPUS = Path(__file__).parent / "fuzz_corpus"

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
#: the acceptor's policy; the largest maximum PDU the tools allow, so big PDUs reach the decoder
POLICY = AcceptorPolicy(transfer_syntaxes={VERIFICATION: [IMPLICIT], CT: [EXPLICIT, IMPLICIT]}, max_pdu=131072)

EVENT_TYPES = (
    ev.AssociationRequested,
    ev.AssociationAccepted,
    ev.AssociationRejected,
    ev.CommandReceived,
    ev.DataReceived,
    ev.ReleaseRequested,
    ev.ReleaseConfirmed,
    ev.Aborted,
)


# ---------------------------------------------------------------------------- seeds


def _request(calling: str = "FUZZ", **extra) -> AssociateRQ:
    return build_request(calling, "ANY-SCP", [(VERIFICATION, [IMPLICIT]), (CT, [IMPLICIT, EXPLICIT])], **extra)


def full_request(calling: str = "FUZZ", **extra) -> AssociateRQ:
    """A request for Verification and CT storage with every optional user information item: an
    asynchronous operations window, a role selection, (common) extended negotiation, a user identity."""
    return _request(
        calling,
        async_ops=(2, 2),
        roles=[RoleSelection(CT, True, False)],
        extended=[SOPClassExtendedNegotiation(CT, b"\x01\x00")],
        common_extended=[SOPClassCommonExtendedNegotiation(CT, "1.2.840.10008.4.2", ["1.2.3"])],
        user_identity_rq=UserIdentityRQ(2, b"user", b"pass", True),
        **extra,
    )


REQUEST = full_request()
ACCEPT = negotiate(REQUEST, POLICY)
ECHO = encode_command(c_echo_rq(1))
STORE = encode_command(c_store_rq(2, CT, "1.2.3.4"))
ECHO_RSP = encode_command(response_to(c_echo_rq(1), 0))


def pdv(ctx: int, data: bytes, command: bool, last: bool = True) -> bytes:
    """A P-DATA-TF PDU carrying ``data`` as its one PDV."""
    return pdata_header(ctx, len(data), command, last) + data


def _contexts(ids: list[int]) -> bytes:
    rq = _request()
    rq.contexts = [PresentationContextRQ(i, VERIFICATION, [IMPLICIT]) for i in ids]
    return encode(rq)


PDV_EMPTY = struct.pack(">LBB", 2, 1, 1)  # an empty, non-last command fragment on context 1


def _with_header(pdu_type: int, body: bytes, length: int | None = None) -> bytes:
    return PDU_HEADER.pack(pdu_type, len(body) if length is None else length) + body


def seeds() -> dict[str, bytes]:
    """Every generated corpus file: name -> bytes."""
    rq = encode(REQUEST)
    store = pdv(3, STORE[:20], True, False) + pdv(3, STORE[20:], True) + pdv(3, b"\x08\x00" * 50, False, False)
    store += pdv(3, b"\x00" * 10, False)
    many_ts = _request()
    many_ts.contexts[0].transfer_syntaxes = [IMPLICIT] * (MAX_TRANSFER_SYNTAX_ITEMS + 1)
    many_roles = _request(roles=[RoleSelection(CT, True, False)] * MAX_USER_INFO_ITEMS)
    huge_max = _request()
    huge_max.user_info.max_length = 0xFFFFFFFF
    rq_body = rq[6:]
    big_command = b"".join(pdv(1, b"\x00" * 16000, True, False) for _ in range(MAX_COMMAND_SET // 16000 + 1))
    return {
        # well-formed PDUs and conversations
        "a-associate-rq.bin": rq,
        "a-associate-ac.bin": encode(ACCEPT),
        "a-associate-rj.bin": encode(AssociateRJ(1, 1, 7)),
        "p-data-tf-echo.bin": pdv(1, ECHO, True),
        "a-release-rq.bin": encode(ReleaseRQ()),
        "a-release-rp.bin": encode(ReleaseRP()),
        "a-abort.bin": encode(Abort(2, 6)),
        "acceptor-echo-release.bin": rq + pdv(1, ECHO, True) + encode(ReleaseRQ()),
        "acceptor-store-abort.bin": rq + store + encode(Abort(0, 0)),
        "requestor-echo-release.bin": encode(ACCEPT) + pdv(1, ECHO_RSP, True) + encode(ReleaseRP()),
        # counts at and beyond the limits
        "rq-256-contexts-repeated-ids.bin": _contexts([(2 * i + 1) % 256 for i in range(MAX_CONTEXT_ITEMS)]),
        "rq-256-contexts-every-id.bin": _contexts(list(range(256))),
        "rq-257-contexts.bin": _contexts([1] * (MAX_CONTEXT_ITEMS + 1)),
        "rq-129-transfer-syntaxes.bin": encode(many_ts),
        "rq-513-user-info-items.bin": encode(many_roles),
        "pdata-4097-pdvs.bin": rq + _with_header(4, PDV_EMPTY * (MAX_PDV_ITEMS + 1)),
        "command-set-over-64k.bin": rq + big_command,
        # lengths that lie
        "rq-length-4gb.bin": _with_header(1, rq_body[:100], 0xFFFFFFFF),
        "rq-max-length-4gb.bin": encode(huge_max) + pdv(1, ECHO, True),
        "pdata-length-4gb.bin": rq + _with_header(4, b"\x00" * 32, 0xFFFFFFFF),
        "pdv-length-4gb.bin": rq + _with_header(4, struct.pack(">LBB", 0xFFFFFFFF, 1, 3) + ECHO),
        "rq-item-overrun.bin": _with_header(1, rq_body[:68] + b"\x10\x00\xff\xff" + rq_body[72:120]),
        "rq-shorter-than-fixed-fields.bin": _with_header(1, rq_body[:40]),
        "release-rq-length-0.bin": rq + _with_header(5, b""),
        "abort-length-4gb.bin": rq + _with_header(7, b"\x00" * 4, 0xFFFFFFFF),
        # truncated and foreign
        "rq-truncated.bin": rq[: len(rq) // 2],
        "acceptor-store-truncated.bin": rq + store[: len(store) - 7],
        "unknown-pdu-type.bin": _with_header(9, b"\x00" * 4),
        "http-request.bin": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    }


def write_seeds(folder: Path = CORPUS) -> None:
    folder.mkdir(exist_ok=True)
    for name, data in seeds().items():
        (folder / name).write_bytes(data)


# ---------------------------------------------------------------------------- replay


def decode_each(data: bytes) -> None:
    """Decode every complete PDU of ``data`` (as far as the headers allow); only PDUError may come out."""
    pos = 0
    while pos + 6 <= len(data):
        pdu_type, length = PDU_HEADER.unpack_from(data, pos)
        try:
            decode_pdu(pdu_type, data[pos + 6 : pos + 6 + length])
        except PDUError:
            pass
        pos += 6 + length


def check_output(conn: Connection) -> None:
    """What a connection writes must be whole PDUs that decode (we never send garbage)."""
    raw = b"".join(bytes(b) for b in conn.data_to_send())
    pos = 0
    while pos < len(raw):
        pdu_type, length = PDU_HEADER.unpack_from(raw, pos)
        decode_pdu(pdu_type, raw[pos + 6 : pos + 6 + length])
        pos += 6 + length
    if pos != len(raw):
        raise AssertionError("connection wrote a partial PDU")


def answer(conn: Connection, event: ev.Event, policy: AcceptorPolicy = POLICY) -> None:
    """A well-behaved user: negotiate requests (with ``policy``), grant releases."""
    if isinstance(event, ev.AssociationRequested) and conn.state == State.STA3:
        reply = negotiate(event.request, policy)
        if isinstance(reply, AssociateAC):
            conn.accept(reply)
        else:
            conn.reject(reply)
    elif isinstance(event, ev.ReleaseRequested) and conn.state in (State.STA8, State.STA9, State.STA12):
        conn.release_response()


def _feed(conn: Connection, data: bytes, step: int) -> None:
    check_output(conn)
    for start in range(0, len(data), step):
        conn.receive_data(data[start : start + step])
        while (event := conn.next_event()) is not None:
            if not isinstance(event, EVENT_TYPES):
                raise AssertionError(f"unknown event {event!r}")
            answer(conn, event)
        check_output(conn)
    conn.receive_data(b"")  # the peer closes
    conn.timer_expired()
    while conn.next_event() is not None:
        pass
    check_output(conn)


def acceptor() -> Connection:
    conn = Connection(requestor=False)
    conn.connection_made()
    return conn


def requestor(request: AssociateRQ = REQUEST) -> Connection:
    conn = Connection(requestor=True)
    conn.request(request)
    conn.connection_made()
    return conn


SIDES: dict[str, Callable[[], Connection]] = {"acceptor": acceptor, "requestor": requestor}


def replay(data: bytes, steps: tuple[int, ...] = (1 << 20, 7)) -> None:
    """Run ``data`` through the decoder and both sides of a connection, whole and in pieces."""
    decode_each(data)
    for make in SIDES.values():
        for step in steps:
            try:
                _feed(make(), data, step)
            except LocalProtocolError as exc:  # the user above acts only where the state allows it
                raise AssertionError(f"local protocol error from a well-behaved user: {exc}") from exc


if __name__ == "__main__":
    write_seeds()
    print(f"{len(seeds())} seed files written to {CORPUS}")
