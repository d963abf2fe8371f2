"""The sans-IO Connection: two peers wired together in memory, and negotiation."""

from __future__ import annotations

import struct

import pytest

from dimse.codes import AbortReason, AbortSource, RejectReason, RejectResult, RejectSource
from dimse.core import events as ev
from dimse.core.commands import C_ECHO_RSP, Command, c_echo_rq, c_store_rq, encode_command, response_to
from dimse.core.connection import DEFAULT_SEND_PDU, Connection, PresentationContext
from dimse.core.fsm import State
from dimse.core.negotiation import AcceptorPolicy, build_request, negotiate
from dimse.core.pdu import (
    ABSTRACT_SYNTAX_NOT_SUPPORTED,
    ACCEPTANCE,
    PDU_HEADER,
    PDV,
    TRANSFER_SYNTAXES_NOT_SUPPORTED,
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
    UserInformation,
    decode_pdu,
    encode,
    pdata_header,
)
from dimse.errors import AssociationRejected, LocalProtocolError

S = State
VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
BIG = "1.2.840.10008.1.2.2"
JPEG = "1.2.840.10008.1.2.4.50"

POLICY = AcceptorPolicy(
    ae_title="ANY-SCP",
    transfer_syntaxes={VERIFICATION: [IMPLICIT], CT: [EXPLICIT, IMPLICIT]},
)
PROPOSED = [(VERIFICATION, [IMPLICIT]), (CT, [IMPLICIT, EXPLICIT]), (MR, [IMPLICIT])]


# ---------------------------------------------------------------------------- helpers


def out(conn: Connection) -> bytes:
    return b"".join(bytes(b) for b in conn.data_to_send())


def split_pdus(raw: bytes) -> list[tuple[int, bytes]]:
    """(type, variable part) of each PDU in a byte stream; the stream must hold whole PDUs."""
    pdus, pos = [], 0
    while pos < len(raw):
        pdu_type, length = PDU_HEADER.unpack_from(raw, pos)
        assert pos + 6 + length <= len(raw), "partial PDU"
        pdus.append((pdu_type, raw[pos + 6 : pos + 6 + length]))
        pos += 6 + length
    return pdus


def decoded(raw: bytes) -> list:
    return [decode_pdu(t, body) for t, body in split_pdus(raw)]


def transfer(src: Connection, dst: Connection) -> bytes:
    raw = out(src)
    if raw:
        dst.receive_data(raw)
    return raw


def drain(conn: Connection) -> list:
    events = []
    while (e := conn.next_event()) is not None:
        events.append(e)
    return events


def pair(rq_max: int = 16384, ac_max: int = 16384, policy: AcceptorPolicy = POLICY, proposed=PROPOSED, **kwargs):
    """A requestor and an acceptor with an established association (both in Sta6)."""
    req, acc = Connection(requestor=True, **kwargs), Connection(requestor=False)
    rq = build_request("STORESCU", "ANY-SCP", proposed, max_pdu=rq_max)
    req.request(rq)
    assert req.state == S.STA4
    acc.connection_made()
    req.connection_made()
    assert req.state == S.STA5
    transfer(req, acc)
    assert acc.state == S.STA3
    (requested,) = drain(acc)
    assert isinstance(requested, ev.AssociationRequested)
    assert requested.request == rq
    answer = negotiate(requested.request, policy.replace(max_pdu=ac_max))
    assert isinstance(answer, AssociateAC)
    acc.accept(answer)
    assert acc.state == S.STA6
    transfer(acc, req)
    assert req.state == S.STA6
    (accepted,) = drain(req)
    assert isinstance(accepted, ev.AssociationAccepted)
    assert accepted.accept == answer
    return req, acc


def only_abort(raw: bytes) -> Abort:
    pdus = decoded(raw)
    assert len(pdus) == 1 and isinstance(pdus[0], Abort), pdus
    return pdus[0]


def reach(state: State) -> Connection:
    """A connection in ``state`` (its output so far discarded)."""
    if state == S.STA1:
        return Connection(requestor=True)
    if state == S.STA2:
        acc = Connection(requestor=False)
        acc.connection_made()
        return acc
    if state == S.STA3:
        req, acc = Connection(requestor=True), Connection(requestor=False)
        acc.connection_made()
        req.request(build_request("A", "B", PROPOSED))
        req.connection_made()
        transfer(req, acc)
        drain(acc)
        return acc
    if state == S.STA4:
        req = Connection(requestor=True)
        req.request(build_request("A", "B", PROPOSED))
        return req
    if state == S.STA5:
        req = Connection(requestor=True)
        req.request(build_request("A", "B", PROPOSED))
        req.connection_made()
        out(req)
        return req
    req, acc = pair()
    if state == S.STA6:
        return req
    if state == S.STA7:
        req.release()
        out(req)
        return req
    if state == S.STA8:
        req.release()
        transfer(req, acc)
        drain(acc)
        return acc
    if state in (S.STA9, S.STA10, S.STA11, S.STA12):
        req.release()
        acc.release()
        transfer(req, acc)
        transfer(acc, req)
        if state == S.STA9:
            return req
        if state == S.STA10:
            return acc
        req.release_response()
        if state == S.STA11:
            out(req)
            return req
        transfer(req, acc)
        return acc
    if state == S.STA13:
        req.abort()
        out(req)
        return req
    raise AssertionError(state)


def test_reach_gives_the_state_asked_for():
    for state in S:
        assert reach(state).state == state


# ---------------------------------------------------------------------------- association


def test_full_association_records_contexts_on_both_sides():
    req, acc = pair()
    expected = {
        1: PresentationContext(1, VERIFICATION, IMPLICIT),
        3: PresentationContext(3, CT, EXPLICIT),  # the acceptor's preference wins
    }
    assert req.contexts == expected
    assert acc.contexts == expected
    assert req.is_established and acc.is_established
    assert not req.artim_running and not acc.artim_running
    assert not req.should_close and not acc.should_close
    assert req.peer_max_pdu == 16384 and acc.peer_max_pdu == 16384


def test_acceptor_artim_runs_until_the_request_arrives():
    acc = Connection(requestor=False)
    assert acc.state == S.STA1 and not acc.artim_running
    acc.connection_made()
    assert acc.state == S.STA2 and acc.artim_running
    raw = encode(build_request("A", "B", PROPOSED))
    acc.receive_data(raw[:20])  # a partial PDU does not stop the timer
    assert acc.artim_running
    acc.receive_data(raw[20:])
    assert acc.state == S.STA3 and not acc.artim_running


def test_artim_expiry_before_request_closes():
    acc = reach(S.STA2)
    acc.timer_expired()
    assert acc.state == S.STA1
    assert acc.should_close
    assert not acc.artim_running
    assert out(acc) == b""
    assert drain(acc) == []


def test_timer_expired_is_ignored_when_artim_is_not_running():
    req, acc = pair()
    req.timer_expired()
    acc.timer_expired()
    assert req.state == acc.state == S.STA6
    assert out(req) == out(acc) == b""


def test_request_byte_by_byte():
    req, acc = Connection(requestor=True), Connection(requestor=False)
    acc.connection_made()
    req.request(build_request("A", "B", PROPOSED))
    req.connection_made()
    for byte in out(req):
        assert acc.state == S.STA2
        acc.receive_data(bytes([byte]))
    assert acc.state == S.STA3
    assert isinstance(acc.next_event(), ev.AssociationRequested)


def test_reject():
    req, acc = Connection(requestor=True), Connection(requestor=False)
    acc.connection_made()
    req.request(build_request("A", "WRONG-AE", PROPOSED))
    req.connection_made()
    transfer(req, acc)
    (requested,) = drain(acc)
    answer = negotiate(requested.request, AcceptorPolicy(ae_title="ANY-SCP", check_called_ae=True))
    assert answer == AssociateRJ(1, 1, 7)
    acc.reject(answer)
    assert acc.state == S.STA13 and acc.artim_running
    raw = transfer(acc, req)
    assert raw == bytes.fromhex("03 00 00000004 00 01 01 07")
    assert req.state == S.STA1 and req.should_close
    assert drain(req) == [ev.AssociationRejected(AssociateRJ(1, 1, 7))]
    acc.timer_expired()  # the requestor closed nothing yet: ARTIM ends it
    assert acc.state == S.STA1 and acc.should_close


def test_reject_then_requestor_closes():
    acc = reach(S.STA3)
    acc.reject(AssociateRJ(2, 3, 1))
    acc.receive_data(b"")
    assert acc.state == S.STA1 and not acc.artim_running


def test_requestor_receives_an_accept_with_a_context_it_never_proposed():
    req = reach(S.STA5)
    ac = AssociateAC(
        "A",
        "B",
        [PresentationContextAC(1, ACCEPTANCE, IMPLICIT), PresentationContextAC(99, ACCEPTANCE, IMPLICIT)],
        UserInformation(max_length=8192),
    )
    req.receive_data(encode(ac))
    assert req.state == S.STA6
    assert set(req.contexts) == {1}
    assert req.peer_max_pdu == 8192


# ---------------------------------------------------------------------------- DIMSE messages


def test_echo_exchange():
    req, acc = pair()
    req.send_command(1, c_echo_rq(7))
    raw = transfer(req, acc)
    (pdata,) = decoded(raw)
    assert [(p.context_id, p.is_command, p.is_last) for p in pdata.pdvs] == [(1, True, True)]
    (received,) = drain(acc)
    assert isinstance(received, ev.CommandReceived)
    assert received.context_id == 1
    assert received.command.MessageID == 7
    assert received.command.AffectedSOPClassUID == VERIFICATION
    assert not received.command.has_dataset
    acc.send_command(1, response_to(received.command, 0x0000))
    transfer(acc, req)
    (response,) = drain(req)
    assert isinstance(response, ev.CommandReceived)
    assert response.command.CommandField == C_ECHO_RSP
    assert response.command.MessageIDBeingRespondedTo == 7
    assert response.command.Status == 0
    assert req.state == acc.state == S.STA6


def chunks(n: int, step: int) -> list[int]:
    return [step] * (n // step) + ([n % step] if n % step else [])


@pytest.mark.parametrize("ac_max", [4096, 1000, 16384, 100, 13])
def test_data_set_fragments_obey_the_peer_maximum(ac_max):
    req, acc = pair(ac_max=ac_max)
    assert req.peer_max_pdu == ac_max
    step = req.max_fragment
    assert step == ac_max - 12
    data = bytes(range(256)) * 80  # 20480 bytes
    req.send_command(3, c_store_rq(1, CT, "1.2.3"))
    req.send_data(3, data[:7000], last=False)
    req.send_data(3, data[7000:], last=True)
    raw = out(req)
    data_pdvs = []
    for pdu_type, body in split_pdus(raw):
        assert pdu_type == 0x04
        assert len(body) + 6 <= ac_max  # the whole PDU, header included, fits the peer's maximum
        (pdv,) = decode_pdu(pdu_type, body).pdvs
        assert len(pdv.data) <= step
        if not pdv.is_command:
            data_pdvs.append(pdv)
    assert [len(p.data) for p in data_pdvs] == chunks(7000, step) + chunks(20480 - 7000, step)
    assert [p.is_last for p in data_pdvs] == [False] * (len(data_pdvs) - 1) + [True]
    assert b"".join(bytes(p.data) for p in data_pdvs) == data
    acc.receive_data(raw)
    events = drain(acc)
    assert isinstance(events[0], ev.CommandReceived) and events[0].command.has_dataset
    assert all(isinstance(e, ev.DataReceived) and e.context_id == 3 for e in events[1:])
    assert b"".join(bytes(e.data) for e in events[1:]) == data
    assert [e.last for e in events[1:]] == [False] * (len(events) - 2) + [True]
    assert acc.state == S.STA6
    assert out(acc) == b""


def test_acceptor_fragments_for_the_requestor_maximum():
    req, acc = pair(rq_max=4096, ac_max=65536)
    assert acc.peer_max_pdu == 4096 and acc.max_fragment == 4084
    acc.send_command(1, response_to(c_echo_rq(1), 0xFF00, has_dataset=True))
    acc.send_data(1, b"\xaa" * 10000, last=True)
    raw = out(acc)
    for _, body in split_pdus(raw):
        assert len(body) + 6 <= 4096
    sizes = [len(p.data) for pdu in decoded(raw) for p in pdu.pdvs if not p.is_command]
    assert sizes == [4084, 4084, 1832]
    req.receive_data(raw)
    events = drain(req)
    assert b"".join(bytes(e.data) for e in events[1:]) == b"\xaa" * 10000


def test_max_send_pdu_caps_fragments_below_the_peer_maximum():
    req, acc = pair(max_send_pdu=1024)
    assert req.max_fragment == 1012
    req.send_data(3, b"x" * 3000, last=True)
    sizes = [len(p.data) for pdu in decoded(out(req)) for p in pdu.pdvs]
    assert sizes == [1012, 1012, 976]


def test_peer_without_maximum_gets_the_default_fragment():
    req, acc = pair(ac_max=0)
    assert req.peer_max_pdu == 0
    assert req.max_fragment == DEFAULT_SEND_PDU - 12


def test_empty_last_fragment_and_empty_non_last_send():
    req, acc = pair()
    req.send_command(3, c_store_rq(1, CT, "1.2.3"))
    req.send_data(3, b"abc", last=False)
    req.send_data(3, b"", last=False)  # nothing to send
    req.send_data(3, b"", last=True)  # an empty last fragment ends the data set
    raw = out(req)
    assert [(p.is_command, p.is_last, bytes(p.data)) for pdu in decoded(raw) for p in pdu.pdvs][1:] == [
        (False, False, b"abc"),
        (False, True, b""),
    ]
    acc.receive_data(raw)
    events = drain(acc)
    assert [(type(e), getattr(e, "last", None)) for e in events] == [
        (ev.CommandReceived, None),
        (ev.DataReceived, False),
        (ev.DataReceived, True),
    ]


def test_multi_fragment_command_is_reassembled():
    req, acc = pair(max_send_pdu=40)  # 28-byte fragments
    cmd = c_store_rq(5, CT, "1.2.826.0.1.3680043.2.1125." + "7" * 40, move_originator=("MOVESCU", 2))
    req.send_command(3, cmd)
    raw = out(req)
    pdvs = [p for pdu in decoded(raw) for p in pdu.pdvs]
    assert len(pdvs) > 4
    assert all(p.is_command and len(p.data) <= 28 for p in pdvs)
    assert [p.is_last for p in pdvs] == [False] * (len(pdvs) - 1) + [True]
    assert b"".join(bytes(p.data) for p in pdvs) == encode_command(cmd)
    for i in range(0, len(raw), 5):  # arbitrary chunking on the wire
        acc.receive_data(raw[i : i + 5])
    (received,) = drain(acc)
    assert isinstance(received, ev.CommandReceived)
    received.command.CommandGroupLength = None
    assert received.command == cmd


def test_several_pdvs_in_one_pdata_pdu():
    req, acc = pair()
    command = encode_command(c_store_rq(5, CT, "1.2.3"))
    pdata = PDataTF(
        [
            PDV(3, True, False, command[:10]),
            PDV(3, True, True, command[10:]),
            PDV(3, False, False, b"first"),
            PDV(3, False, True, b"second"),
        ]
    )
    acc.receive_data(encode(pdata))
    events = drain(acc)
    assert [type(e) for e in events] == [ev.CommandReceived, ev.DataReceived, ev.DataReceived]
    assert events[0].command.MessageID == 5
    assert (bytes(events[1].data), events[1].last) == (b"first", False)
    assert (bytes(events[2].data), events[2].last) == (b"second", True)
    # a second message on the other context follows without trouble
    acc.receive_data(encode(PDataTF([PDV(1, True, True, encode_command(c_echo_rq(6)))])))
    (echo,) = drain(acc)
    assert (echo.context_id, echo.command.MessageID) == (1, 6)
    assert acc.state == S.STA6


# ---------------------------------------------------------------------------- release


def test_release():
    req, acc = pair()
    req.release()
    assert req.state == S.STA7
    assert transfer(req, acc) == bytes.fromhex("05 00 00000004 00000000")
    assert acc.state == S.STA8
    assert drain(acc) == [ev.ReleaseRequested()]
    acc.release_response()
    assert acc.state == S.STA13 and acc.artim_running
    assert transfer(acc, req) == bytes.fromhex("06 00 00000004 00000000")
    assert req.state == S.STA1 and req.should_close
    assert drain(req) == [ev.ReleaseConfirmed()]
    acc.receive_data(b"")  # the requestor closed the transport
    assert acc.state == S.STA1 and not acc.artim_running
    assert drain(acc) == []


def test_acceptor_may_still_send_after_the_release_request():
    req, acc = pair()
    req.send_command(1, c_echo_rq(3))
    transfer(req, acc)
    (echo,) = drain(acc)
    req.release()
    transfer(req, acc)
    assert acc.state == S.STA8
    acc.send_command(1, response_to(echo.command, 0))  # P-DATA request in Sta8 (AR-7)
    acc.release_response()
    transfer(acc, req)
    events = drain(req)
    assert [type(e) for e in events] == [ev.CommandReceived, ev.ReleaseConfirmed]
    assert events[0].command.MessageIDBeingRespondedTo == 3
    assert req.state == S.STA1


def test_release_collision():
    req, acc = pair()
    req.release()
    acc.release()
    assert req.state == acc.state == S.STA7
    transfer(req, acc)
    transfer(acc, req)
    assert req.state == S.STA9
    assert acc.state == S.STA10
    assert drain(req) == [ev.ReleaseRequested()]
    assert drain(acc) == [ev.ReleaseRequested()]
    req.release_response()
    assert req.state == S.STA11
    transfer(req, acc)
    assert acc.state == S.STA12
    assert drain(acc) == [ev.ReleaseConfirmed()]
    acc.release_response()
    assert acc.state == S.STA13 and acc.artim_running
    transfer(acc, req)
    assert req.state == S.STA1 and req.should_close
    assert drain(req) == [ev.ReleaseConfirmed()]
    acc.receive_data(b"")
    assert acc.state == S.STA1


def test_release_collision_acceptor_may_not_answer_before_the_confirmation():
    acc = reach(S.STA10)
    with pytest.raises(LocalProtocolError):
        acc.release_response()
    assert acc.state == S.STA10


# ---------------------------------------------------------------------------- aborts


@pytest.mark.parametrize("aborting", ["requestor", "acceptor"])
def test_abort_from_either_side(aborting):
    req, acc = pair()
    me, peer = (req, acc) if aborting == "requestor" else (acc, req)
    me.abort()
    assert me.state == S.STA13 and me.artim_running
    raw = transfer(me, peer)
    assert raw == bytes.fromhex("07 00 00000004 00 00 00 00")
    assert peer.state == S.STA1 and peer.should_close
    assert drain(peer) == [ev.Aborted(0, 0, True)]
    assert drain(me) == []
    me.receive_data(b"")
    assert me.state == S.STA1 and not me.artim_running


def test_aborting_peer_whose_abort_crosses_ours():
    req, acc = pair()
    req.abort()
    acc.abort()
    transfer(req, acc)
    transfer(acc, req)
    assert req.state == acc.state == S.STA1  # A-ABORT in Sta13: AA-2
    assert req.should_close and acc.should_close


@pytest.mark.parametrize("state", [S.STA3, S.STA5, S.STA6, S.STA7, S.STA8, S.STA9, S.STA10, S.STA11, S.STA12])
def test_abort_in_every_state_with_an_association(state):
    conn = reach(state)
    conn.abort()
    assert conn.state == S.STA13
    assert conn.artim_running
    assert only_abort(out(conn)) == Abort(0, 0)
    conn.timer_expired()
    assert conn.state == S.STA1 and conn.should_close


def test_abort_while_connecting_just_closes():
    req = reach(S.STA4)
    req.abort()
    assert req.state == S.STA1 and req.should_close
    assert out(req) == b""


@pytest.mark.parametrize("state", [S.STA1, S.STA2, S.STA13])
def test_abort_without_an_association_is_harmless(state):
    conn = reach(state)
    conn.abort()
    assert conn.state == state
    assert out(conn) == b""


@pytest.mark.parametrize("state", [S.STA3, S.STA5, S.STA6, S.STA7, S.STA8, S.STA9, S.STA10, S.STA11, S.STA12])
def test_peer_abort_in_every_state_with_an_association(state):
    conn = reach(state)
    drain(conn)
    conn.receive_data(encode(Abort(2, 6)))
    assert conn.state == S.STA1 and conn.should_close
    assert drain(conn) == [ev.Aborted(2, 6, True)]
    assert out(conn) == b""


@pytest.mark.parametrize("state", [S.STA3, S.STA5, S.STA6, S.STA7, S.STA8, S.STA9, S.STA10, S.STA11, S.STA12])
def test_transport_closed_in_every_state_with_an_association(state):
    conn = reach(state)
    drain(conn)
    conn.receive_data(b"")
    assert conn.state == S.STA1
    (aborted,) = drain(conn)
    assert isinstance(aborted, ev.Aborted) and not aborted.by_peer and aborted.source == 2


def test_transport_closed_before_request_or_while_connecting():
    acc = reach(S.STA2)
    acc.receive_data(b"")
    assert acc.state == S.STA1 and not acc.artim_running
    req = reach(S.STA4)
    req.receive_data(b"")
    assert req.state == S.STA1
    assert isinstance(req.next_event(), ev.Aborted)


# ---------------------------------------------------------------------------- misbehaving peers


def provider_abort(conn: Connection, reason: int) -> None:
    assert conn.state == S.STA13
    assert conn.artim_running
    assert only_abort(out(conn)) == Abort(2, reason)
    events = drain(conn)
    assert isinstance(events[-1], ev.Aborted)
    assert (events[-1].source, events[-1].reason, events[-1].by_peer) == (2, reason, False)


UNEXPECTED_IN_STA6 = {
    "A-ASSOCIATE-RQ": encode(build_request("A", "B", PROPOSED)),
    "A-ASSOCIATE-AC": encode(AssociateAC("A", "B", [], UserInformation())),
    "A-ASSOCIATE-RJ": encode(AssociateRJ(1, 1, 1)),
    "A-RELEASE-RP": encode(ReleaseRP()),
}


@pytest.mark.parametrize("raw", UNEXPECTED_IN_STA6.values(), ids=UNEXPECTED_IN_STA6.keys())
@pytest.mark.parametrize("side", ["requestor", "acceptor"])
def test_unexpected_pdu_in_sta6_aborts(side, raw):
    req, acc = pair()
    conn = req if side == "requestor" else acc
    conn.receive_data(raw)
    provider_abort(conn, 2)
    conn.receive_data(encode(ReleaseRQ()))  # ignored in Sta13
    assert conn.state == S.STA13 and out(conn) == b"" and drain(conn) == []


def test_unexpected_pdu_before_the_request_aborts():
    acc = reach(S.STA2)
    acc.receive_data(encode(ReleaseRQ()))
    assert acc.state == S.STA13 and acc.artim_running
    abort = only_abort(out(acc))
    assert abort.source == 2
    (aborted,) = drain(acc)
    assert isinstance(aborted, ev.Aborted) and aborted.reason == 2 and not aborted.by_peer


def test_unexpected_pdu_while_awaiting_the_accept_aborts():
    req = reach(S.STA5)
    req.receive_data(encode(PDataTF([PDV(1, True, True, b"xx")])))
    provider_abort(req, 2)


def test_request_arriving_in_sta13_is_answered_with_an_abort():
    conn = reach(S.STA13)
    conn.receive_data(encode(build_request("A", "B", PROPOSED)))
    assert conn.state == S.STA13
    assert only_abort(out(conn)) == Abort(2, 2)


def test_unknown_pdu_type_aborts_as_unrecognized():
    req, acc = pair()
    acc.receive_data(bytes.fromhex("09 00 00000004 00000000"))
    provider_abort(acc, 1)


def test_malformed_pdu_aborts_as_invalid_parameter():
    req, acc = pair()
    acc.receive_data(bytes.fromhex("05 00 00000005 0000000000"))
    provider_abort(acc, 6)


def test_pdu_longer_than_our_maximum_aborts_at_its_header():
    req, acc = pair(rq_max=4096)
    req.receive_data(pdata_header(1, 4096 - 5, True, True))  # length field 4097; no body needed
    provider_abort(req, 6)


def test_input_after_an_invalid_pdu_is_dropped():
    req, acc = pair(rq_max=4096)
    req.receive_data(pdata_header(1, 5000, True, True))
    provider_abort(req, 6)
    req.receive_data(encode(ReleaseRQ()))  # the bad header is gone: a PDU is ignored in Sta13 (AA-6)
    assert req.state == S.STA13
    assert out(req) == b""
    assert drain(req) == []
    req.receive_data(b"\0" * 10)  # garbage in Sta13 is answered with another A-ABORT (AA-7)
    assert only_abort(out(req)) == Abort(2, 1)
    assert req.state == S.STA13 and drain(req) == []
    acc.receive_data(bytes.fromhex("ee 00 00000004 00000000") + encode(ReleaseRQ()))
    provider_abort(acc, 1)
    acc.receive_data(encode(ReleaseRP()))
    assert out(acc) == b"" and acc.state == S.STA13


def test_pdu_exactly_at_our_maximum_is_accepted():
    req, acc = pair(rq_max=4096)
    command = encode_command(response_to(c_echo_rq(1), 0, has_dataset=True))
    filler = 4096 - 12 - len(command)  # two PDV items of 6 + payload bytes each
    raw = encode(PDataTF([PDV(1, True, True, command), PDV(1, False, True, b"\0" * filler)]))
    assert PDU_HEADER.unpack_from(raw)[1] == 4096
    req.receive_data(raw)
    assert req.state == S.STA6
    assert [type(e) for e in drain(req)] == [ev.CommandReceived, ev.DataReceived]
    assert out(req) == b""


def test_pdata_on_a_refused_context_aborts():
    req, acc = pair()
    assert 5 not in acc.contexts  # MR was refused
    acc.receive_data(encode(PDataTF([PDV(5, True, True, encode_command(c_echo_rq(1)))])))
    provider_abort(acc, 6)


def test_pdata_on_an_unknown_context_aborts():
    req, acc = pair()
    req.receive_data(encode(PDataTF([PDV(99, True, True, encode_command(c_echo_rq(1)))])))
    provider_abort(req, 6)


def test_data_without_a_command_aborts():
    req, acc = pair()
    acc.receive_data(encode(PDataTF([PDV(3, False, True, b"pixel data")])))
    provider_abort(acc, 6)


def test_data_after_a_command_without_data_set_aborts():
    req, acc = pair()
    acc.receive_data(encode(PDataTF([PDV(1, True, True, encode_command(c_echo_rq(1))), PDV(1, False, True, b"x")])))
    events = drain(acc)
    assert [type(e) for e in events] == [ev.CommandReceived, ev.Aborted]
    assert acc.state == S.STA13


def test_data_on_another_context_than_its_command_aborts():
    req, acc = pair()
    pdvs = [PDV(3, True, True, encode_command(c_store_rq(1, CT, "1.2"))), PDV(1, False, True, b"x")]
    acc.receive_data(encode(PDataTF(pdvs)))
    provider_abort(acc, 6)


def test_command_while_a_data_set_is_expected_aborts():
    req, acc = pair()
    acc.receive_data(encode(PDataTF([PDV(3, True, True, encode_command(c_store_rq(1, CT, "1.2")))])))
    acc.receive_data(encode(PDataTF([PDV(1, True, True, encode_command(c_echo_rq(2)))])))
    provider_abort(acc, 6)


def test_command_fragments_on_two_contexts_abort():
    req, acc = pair()
    command = encode_command(c_echo_rq(1))
    acc.receive_data(encode(PDataTF([PDV(1, True, False, command[:8]), PDV(3, True, True, command[8:])])))
    provider_abort(acc, 6)


@pytest.mark.parametrize(
    "command",
    [
        b"",
        b"\x00\x00\x00\x00\x04\x00\x00\x00",
        encode_command(Command(MessageID=1)),
        b"\x08\x00\x16\x00\x00\x00\x00\x00",
    ],
    ids=["empty", "truncated", "no CommandField", "wrong group"],
)
def test_undecodable_command_aborts(command):
    req, acc = pair()
    acc.receive_data(encode(PDataTF([PDV(1, True, True, command)])))
    provider_abort(acc, 6)


def test_oversized_command_set_aborts():
    req, acc = pair(ac_max=0)
    chunk = b"\0" * 60000
    acc.receive_data(encode(PDataTF([PDV(1, True, False, chunk), PDV(1, True, False, chunk)])))
    provider_abort(acc, 6)


def test_data_after_abort_is_ignored():
    req, acc = pair()
    acc.receive_data(encode(PDataTF([PDV(3, False, True, b"x")])) + encode(PDataTF([PDV(1, True, True, b"x")])))
    assert acc.state == S.STA13
    events = drain(acc)
    assert len(events) == 1 and isinstance(events[0], ev.Aborted)
    assert len(decoded(out(acc))) == 1


# ---------------------------------------------------------------------------- local misuse


def test_local_primitives_not_allowed_in_the_state_raise():
    req, acc = pair()
    rq = build_request("A", "B", PROPOSED)
    with pytest.raises(LocalProtocolError):
        req.request(rq)
    with pytest.raises(LocalProtocolError):
        acc.accept(AssociateAC("A", "B", [], UserInformation()))
    with pytest.raises(LocalProtocolError):
        acc.reject(AssociateRJ(1, 1, 1))
    with pytest.raises(LocalProtocolError):
        req.release_response()
    with pytest.raises(LocalProtocolError):
        req.send_command(5, c_echo_rq(1))  # context refused
    with pytest.raises(LocalProtocolError):
        req.send_data(7, b"x", last=True)  # context never proposed
    assert req.state == acc.state == S.STA6
    assert out(req) == out(acc) == b""


@pytest.mark.parametrize("state", [S.STA1, S.STA2, S.STA4, S.STA5, S.STA7, S.STA9, S.STA13])
def test_pdata_outside_sta6_and_sta8_raises(state):
    conn = reach(state)
    with pytest.raises(LocalProtocolError):
        conn.send_command(1, c_echo_rq(1))
    with pytest.raises(LocalProtocolError):
        conn.send_data(1, b"x", last=True)
    assert conn.state == state
    assert out(conn) == b""


@pytest.mark.parametrize("state", [S.STA1, S.STA2, S.STA3, S.STA5, S.STA7, S.STA8, S.STA13])
def test_release_outside_sta6_raises(state):
    conn = reach(state)
    with pytest.raises(LocalProtocolError):
        conn.release()
    assert conn.state == state


@pytest.mark.parametrize("state", [S.STA1, S.STA2, S.STA5, S.STA6, S.STA13])
def test_accept_and_reject_outside_sta3_raise(state):
    conn = reach(state)
    with pytest.raises(LocalProtocolError):
        conn.accept(AssociateAC("A", "B", [], UserInformation()))
    with pytest.raises(LocalProtocolError):
        conn.reject(AssociateRJ(1, 1, 1))
    assert conn.state == state


@pytest.mark.parametrize("state", [S.STA2, S.STA5, S.STA6, S.STA13])
def test_request_outside_sta1_raises(state):
    conn = reach(state)
    with pytest.raises(LocalProtocolError):
        conn.request(build_request("A", "B", PROPOSED))
    assert conn.state == state


def test_data_before_connection_is_ignored():
    req = reach(S.STA4)
    req.receive_data(encode(ReleaseRQ()))
    assert req.state == S.STA4
    idle = Connection(requestor=False)
    idle.receive_data(encode(build_request("A", "B", PROPOSED)))
    assert idle.state == S.STA1 and drain(idle) == []


# ---------------------------------------------------------------------------- negotiation


def rq_for(*contexts, called="ANY-SCP", **kwargs) -> AssociateRQ:
    return build_request("SCU", called, list(contexts), **kwargs)


def test_build_request_numbers_contexts_and_fills_user_information():
    rq = rq_for((VERIFICATION, [IMPLICIT]), (CT, [EXPLICIT]), (MR, [IMPLICIT]), max_pdu=32768)
    assert [c.context_id for c in rq.contexts] == [1, 3, 5]
    assert rq.contexts[1] == PresentationContextRQ(3, CT, [EXPLICIT])
    assert (rq.called_ae, rq.calling_ae) == ("ANY-SCP", "SCU")
    assert rq.user_info.max_length == 32768
    assert rq.user_info.implementation_class_uid
    with pytest.raises(ValueError):
        rq_for(*[(CT, [IMPLICIT])] * 129)
    assert len(rq_for(*[(CT, [IMPLICIT])] * 128).contexts) == 128
    assert rq_for(*[(CT, [IMPLICIT])] * 128).contexts[-1].context_id == 255


def test_negotiate_rejects_a_bad_called_ae_when_checking():
    policy = AcceptorPolicy(ae_title="ANY-SCP", transfer_syntaxes={VERIFICATION: [IMPLICIT]}, check_called_ae=True)
    assert negotiate(rq_for((VERIFICATION, [IMPLICIT]), called="OTHER"), policy) == AssociateRJ(1, 1, 7)
    assert isinstance(negotiate(rq_for((VERIFICATION, [IMPLICIT])), policy), AssociateAC)
    policy.check_called_ae = False
    assert isinstance(negotiate(rq_for((VERIFICATION, [IMPLICIT]), called="OTHER"), policy), AssociateAC)


def test_negotiate_rejects_a_wrong_application_context():
    rq = rq_for((VERIFICATION, [IMPLICIT]))
    rq.application_context = "1.2.3.4"
    assert negotiate(rq, POLICY) == AssociateRJ(1, 1, 2)


def test_negotiate_rejects_an_unsupported_protocol_version():
    rq = rq_for((VERIFICATION, [IMPLICIT]))
    rq.protocol_version = 2
    assert negotiate(rq, POLICY) == AssociateRJ(1, 2, 2)


def test_negotiate_answers_each_role_once():
    """A peer repeating a role item thousands of times gets one answer per SOP class."""
    from dimse.core.pdu import RoleSelection

    rq = rq_for((VERIFICATION, [IMPLICIT]))
    rq.user_info.roles = [RoleSelection(VERIFICATION, True, True)] * 3000
    ac = negotiate(rq, POLICY)
    assert ac.user_info.roles == [RoleSelection(VERIFICATION, True, False)]
    assert len(encode(ac)) < 1000


def test_negotiate_vetting_has_the_last_word():
    policy = AcceptorPolicy(transfer_syntaxes={VERIFICATION: [IMPLICIT]}, vetting=lambda rq: AssociateRJ(2, 3, 1))
    assert negotiate(rq_for((VERIFICATION, [IMPLICIT])), policy) == AssociateRJ(2, 3, 1)
    policy.vetting = lambda rq: None
    assert isinstance(negotiate(rq_for((VERIFICATION, [IMPLICIT])), policy), AssociateAC)


def test_negotiate_context_results():
    policy = AcceptorPolicy(transfer_syntaxes={CT: [JPEG, EXPLICIT, IMPLICIT], VERIFICATION: [IMPLICIT]}, max_pdu=65536)
    rq = rq_for(
        (CT, [IMPLICIT, EXPLICIT, BIG]),  # ours first: Explicit, though the requestor listed Implicit first
        (MR, [IMPLICIT]),  # abstract syntax not supported
        (VERIFICATION, [EXPLICIT, BIG]),  # transfer syntaxes not supported
        (CT, [IMPLICIT]),
    )
    ac = negotiate(rq, policy)
    assert ac.contexts == [
        PresentationContextAC(1, ACCEPTANCE, EXPLICIT),
        PresentationContextAC(3, ABSTRACT_SYNTAX_NOT_SUPPORTED, IMPLICIT),  # a sub-item, not to be tested
        PresentationContextAC(5, TRANSFER_SYNTAXES_NOT_SUPPORTED, EXPLICIT),
        PresentationContextAC(7, ACCEPTANCE, IMPLICIT),
    ]
    assert (ac.called_ae, ac.calling_ae) == (rq.called_ae, rq.calling_ae)
    assert ac.user_info.max_length == 65536


def test_negotiate_any_abstract():
    policy = AcceptorPolicy(transfer_syntaxes={}, any_abstract=[EXPLICIT, IMPLICIT])
    ac = negotiate(rq_for((MR, [IMPLICIT]), ("1.2.3.4.5", [BIG])), policy)
    assert ac.contexts == [PresentationContextAC(1, 0, IMPLICIT), PresentationContextAC(3, 4, BIG)]


def test_negotiate_async_ops_and_roles():
    policy = AcceptorPolicy(transfer_syntaxes={CT: [IMPLICIT]}, async_ops=(4, 1))
    rq = rq_for(
        (CT, [IMPLICIT]),
        (MR, [IMPLICIT]),
        async_ops=(8, 0),
        roles=[RoleSelection(CT, True, True), RoleSelection(MR, True, True)],
    )
    ac = negotiate(rq, policy)
    assert ac.user_info.async_ops == (4, 1)  # 0 means unlimited: the other side's figure stands
    assert ac.user_info.roles == [RoleSelection(CT, True, False)]  # SCP role refused; MR not accepted
    assert negotiate(rq_for((CT, [IMPLICIT])), policy).user_info.async_ops is None


def test_negotiated_contexts_over_the_wire():
    req, acc = pair(
        policy=AcceptorPolicy(transfer_syntaxes={CT: [BIG, EXPLICIT]}),
        proposed=[(CT, [IMPLICIT]), (CT, [EXPLICIT, IMPLICIT]), (VERIFICATION, [IMPLICIT])],
    )
    assert req.contexts == acc.contexts == {3: PresentationContext(3, CT, EXPLICIT)}


def test_decoded_request_from_wire_matches_negotiation_input():
    rq = rq_for((CT, [IMPLICIT]), roles=[RoleSelection(CT, True, False)], async_ops=(2, 2))
    back = decode_pdu(0x01, encode(rq)[6:])
    assert back == rq
    assert negotiate(back, POLICY) == negotiate(rq, POLICY)


def test_abort_pdu_bytes_from_provider():
    req, acc = pair()
    acc.receive_data(struct.pack(">BxL", 0x04, 0))  # P-DATA-TF without any PDV
    assert out(acc) == bytes.fromhex("07 00 00000004 00 00 02 06")


# ---------------------------------------------------------------------------- events and codes


def test_events_are_frozen_and_share_one_base():
    """Whatever the path a data set fragment took (the one-fragment fast path, or a PDU of
    several PDVs), its event is frozen, equal field by field, and an ev.Event."""
    req, acc = pair()
    req.send_command(3, c_store_rq(1, CT, "1.2.3"))
    req.send_data(3, b"abcd", last=False)
    transfer(req, acc)
    acc.receive_data(encode(PDataTF([PDV(3, False, False, b"ef"), PDV(3, False, True, b"gh")])))
    command, fast, *slow = drain(acc)
    assert isinstance(command, ev.CommandReceived)
    assert fast == ev.DataReceived(3, memoryview(b"abcd"), False)
    assert slow == [ev.DataReceived(3, memoryview(b"ef"), False), ev.DataReceived(3, memoryview(b"gh"), True)]
    for event in (command, fast, *slow):
        assert isinstance(event, ev.Event)
        with pytest.raises(AttributeError):
            event.context_id = 5
    assert repr(fast).startswith("DataReceived(context_id=3, data=<memory at ")


def test_abort_events_carry_the_abort_codes():
    req, acc = pair()
    acc.receive_data(encode(ReleaseRP()))  # not allowed in Sta6: AA-8
    (aborted,) = drain(acc)
    assert aborted.source is AbortSource.SERVICE_PROVIDER
    assert aborted.reason is AbortReason.UNEXPECTED_PDU
    req.receive_data(encode(Abort(2, 0x42)))  # a reason PS3.8 does not name
    (aborted,) = drain(req)
    assert aborted == ev.Aborted(AbortSource.SERVICE_PROVIDER, 0x42, True)
    assert isinstance(aborted.reason, AbortReason)


def test_local_abort_sends_its_codes():
    req, acc = pair()
    acc.abort(AbortSource.SERVICE_PROVIDER, AbortReason.INVALID_PDU_PARAMETER_VALUE)
    assert out(acc) == bytes.fromhex("07 00 00000004 00 00 02 06")
    req.abort(0, 5)  # a service user's abort has no reason
    assert out(req) == bytes.fromhex("07 00 00000004 00 00 00 00")


def test_rejection_codes_are_enums_on_the_event_and_on_the_error():
    req = reach(S.STA5)
    req.receive_data(encode(AssociateRJ(1, 2, 2)))
    (rejected,) = drain(req)
    rj = rejected.reject
    assert (rj.result, rj.source, rj.reason) == (RejectResult.PERMANENT, RejectSource.ACSE, 2)
    error = AssociationRejected(rj.result, rj.source, rj.reason)
    assert error.reason is RejectReason.PROTOCOL_VERSION_NOT_SUPPORTED
    assert str(error) == "association rejected (result 1, source 2, reason 2)"


def test_queued_abort_leaves_the_responses_ahead_of_it():
    """A response and the peer's A-ABORT in one read: queued_abort names the abort without
    taking anything, and the response is still the next event (a sender refused after the
    abort still books the answer it got)."""
    req, acc = pair()
    acc.send_command(1, response_to(c_echo_rq(7), 0))
    acc.abort()
    transfer(acc, req)
    found = req.queued_abort()
    assert isinstance(found, ev.Aborted)
    first = req.next_event()
    assert isinstance(first, ev.CommandReceived) and first.command.MessageIDBeingRespondedTo == 7
    assert req.next_event() is found and req.queued_abort() is None
