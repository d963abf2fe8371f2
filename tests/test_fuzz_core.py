"""Property tests: whatever the peer sends, the PDU decoder and the Connection stay in control.

Bounded for CI: every test runs at most 200 examples and no example database is written.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dimse.core import events as ev
from dimse.core.commands import c_echo_rq, c_store_rq, decode_command, encode_command, response_to
from dimse.core.connection import Connection
from dimse.core.fsm import State
from dimse.core.negotiation import AcceptorPolicy, negotiate
from dimse.core.pdu import (
    PDU_HEADER,
    PDV,
    Abort,
    AssociateAC,
    AssociateRJ,
    PDataTF,
    ReleaseRP,
    ReleaseRQ,
    decode_pdu,
    encode,
)
from dimse.errors import LocalProtocolError, PDUError, ProtocolError

from . import corpus
from .corpus import CT, EVENT_TYPES, EXPLICIT, IMPLICIT, VERIFICATION, acceptor, check_output, full_request

BOUNDED = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SMALL = settings(BOUNDED, max_examples=120)

POLICY = AcceptorPolicy(ae_title="ANY-SCP", transfer_syntaxes={VERIFICATION: [IMPLICIT], CT: [EXPLICIT, IMPLICIT]})
TERMINAL = (ev.Aborted, ev.AssociationRejected)

REQUEST = full_request("STORESCU", max_pdu=4096)
ACCEPT = negotiate(REQUEST, POLICY.replace(max_pdu=4096))
assert isinstance(ACCEPT, AssociateAC)
STORE = encode_command(c_store_rq(1, CT, "1.2.3.4"))
PDATA_STORE = encode(
    PDataTF([PDV(3, True, False, STORE[:20]), PDV(3, True, True, STORE[20:]), PDV(3, False, True, b"DATA")])
)
PDATA_ECHO = encode(PDataTF([PDV(1, True, True, encode_command(c_echo_rq(2)))]))
PDATA_ECHO_RSP = encode(PDataTF([PDV(1, True, True, encode_command(response_to(c_echo_rq(2), 0)))]))

# what each side would see from a well-behaved peer, PDU by PDU
ACCEPTOR_INPUT = [encode(REQUEST), PDATA_STORE, PDATA_ECHO, encode(ReleaseRQ()), encode(Abort(0, 0))]
REQUESTOR_INPUT = [encode(ACCEPT), PDATA_ECHO_RSP, encode(ReleaseRQ()), encode(ReleaseRP()), encode(Abort(2, 1))]
EXTRA_PDUS = [encode(AssociateRJ(1, 1, 7)), encode(ReleaseRP()), encode(Abort(2, 6)), PDATA_STORE]

PDU_TYPES = [1, 2, 3, 4, 5, 6, 7]


# ---------------------------------------------------------------------------- helpers


@st.composite
def mutated(draw, pieces: list[bytes]) -> bytes:
    """Some of ``pieces`` in order, plus extras, with bytes flipped, inserted and deleted."""
    chosen = [p for p in pieces if draw(st.booleans())] or [pieces[0]]
    if draw(st.booleans()):
        chosen.insert(draw(st.integers(0, len(chosen))), draw(st.sampled_from(EXTRA_PDUS)))
    data = bytearray(b"".join(chosen))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "set_length"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif op == "set_length" and len(data) >= pos + 6:
            data[pos + 2 : pos + 6] = draw(st.integers(0, 0xFFFFFFFF)).to_bytes(4, "big")
    return bytes(data)


def chunked(draw, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


class Watcher:
    """Collects a connection's events and checks the invariants after every step."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.events: list = []
        self.expect_data: int | None = None

    def step(self, check_out: bool = True) -> list:
        conn, new = self.conn, []
        while (e := conn.next_event()) is not None:
            new.append(e)
        for e in new:
            assert isinstance(e, EVENT_TYPES), e
            assert not (self.events and isinstance(self.events[-1], TERMINAL)), f"{e} after {self.events[-1]}"
            if isinstance(e, ev.CommandReceived):
                assert self.expect_data is None
                assert e.context_id in conn.contexts
                self.expect_data = e.context_id if e.command.has_dataset else None
            elif isinstance(e, ev.DataReceived):
                assert e.context_id == self.expect_data
                if e.last:
                    self.expect_data = None
            self.events.append(e)
        assert isinstance(conn.state, State)
        assert conn.artim_running == (conn.state in (State.STA2, State.STA13))
        if conn.should_close:
            assert conn.state == State.STA1
        if check_out:
            check_output(conn)
        return new


def answer(conn: Connection, new_events: list) -> None:
    """A well-behaved user: accept what can be accepted, grant releases."""
    for e in new_events:
        corpus.answer(conn, e, POLICY)


def feed(conn: Connection, chunks: list[bytes], respond: bool) -> Watcher:
    w = Watcher(conn)
    w.step()
    for chunk in chunks:
        conn.receive_data(chunk)
        new = w.step()
        if respond:
            answer(conn, new)
            w.step()
    return w


def requestor() -> Connection:
    conn = corpus.requestor(REQUEST)
    conn.data_to_send()
    return conn


def test_well_formed_streams_reach_the_expected_end():
    """The unmutated inputs drive both sides through a whole association (a sanity check of the fixtures)."""
    w = feed(acceptor(), ACCEPTOR_INPUT[:4], respond=True)
    assert [type(e) for e in w.events] == [
        ev.AssociationRequested,
        ev.CommandReceived,
        ev.DataReceived,
        ev.CommandReceived,
        ev.ReleaseRequested,
    ]
    assert w.conn.state == State.STA13
    w = feed(requestor(), [REQUESTOR_INPUT[0], REQUESTOR_INPUT[1]], respond=True)
    assert w.conn.state == State.STA6
    assert [type(e) for e in w.events] == [ev.AssociationAccepted, ev.CommandReceived]


# ---------------------------------------------------------------------------- the decoder


@BOUNDED
@given(pdu_type=st.integers(0, 255), body=st.binary(max_size=300))
def test_decode_pdu_random_bytes_only_raise_pdu_error(pdu_type, body):
    try:
        pdu = decode_pdu(pdu_type, body)
    except PDUError:
        return
    assert pdu_type in PDU_TYPES
    raw = encode(pdu) if pdu_type != 4 else None
    if raw is not None:
        assert PDU_HEADER.unpack_from(raw)[0] == pdu_type


@BOUNDED
@given(data=st.data())
def test_decode_pdu_mutated_valid_bodies_only_raise_pdu_error(data):
    raw = data.draw(st.sampled_from(ACCEPTOR_INPUT + REQUESTOR_INPUT + EXTRA_PDUS))
    body = data.draw(mutated([raw[6:]]))
    pdu_type = data.draw(st.sampled_from([raw[0], *PDU_TYPES]))
    try:
        decode_pdu(pdu_type, body)
    except PDUError:
        pass


# ---------------------------------------------------------------------------- the connection


@BOUNDED
@given(data=st.data(), respond=st.booleans())
def test_acceptor_fed_mutated_streams_never_raises(data, respond):
    stream = data.draw(mutated(ACCEPTOR_INPUT))
    feed(acceptor(), chunked(data.draw, stream), respond)


@BOUNDED
@given(data=st.data(), respond=st.booleans())
def test_requestor_fed_mutated_streams_never_raises(data, respond):
    stream = data.draw(mutated(REQUESTOR_INPUT))
    feed(requestor(), chunked(data.draw, stream), respond)


@SMALL
@given(data=st.data(), requestor_side=st.booleans(), close=st.booleans())
def test_random_bytes_never_raise(data, requestor_side, close):
    conn = requestor() if requestor_side else acceptor()
    prefix = data.draw(st.sampled_from([b"", encode(ACCEPT) if requestor_side else encode(REQUEST)]))
    stream = prefix + data.draw(st.binary(max_size=400))
    w = feed(conn, chunked(data.draw, stream), respond=True)
    if close:
        conn.receive_data(b"")
        w.step()
        assert conn.state == State.STA1
    conn.timer_expired()
    w.step()
    assert conn.state in (State.STA1, State.STA3, State.STA5, State.STA6, State.STA7, State.STA8)


# ---------------------------------------------------------------------------- P-DATA on an association

COMMAND_SETS = [
    encode_command(c_echo_rq(1)),
    encode_command(c_store_rq(2, CT, "1.2.3.4")),
    encode_command(response_to(c_echo_rq(1), 0)),
    encode_command(response_to(c_store_rq(2, CT, "1.2.3.4"), 0xFF00, has_dataset=True)),
]


@st.composite
def pdvs(draw) -> list[PDV]:
    """PDVs as a confused peer might send them: real command sets cut anywhere, on any context."""
    out = []
    for _ in range(draw(st.integers(1, 8))):
        ctx = draw(st.sampled_from([1, 3, 1, 3, 5, 0, 255]))
        is_command = draw(st.booleans())
        if is_command:
            raw = draw(st.sampled_from(COMMAND_SETS))
            start = draw(st.integers(0, len(raw)))
            data = raw if draw(st.booleans()) else raw[start : draw(st.integers(start, len(raw)))]
        else:
            data = draw(st.binary(max_size=16))
        out.append(PDV(ctx, is_command, draw(st.booleans()), data))
    return out


def model(items: list[PDV], contexts) -> tuple[list, bool]:
    """What PS3.7/PS3.8 make of a PDV sequence: (events, aborted)."""
    events, cmd_buf, cmd_ctx, data_ctx = [], None, None, None
    for p in items:
        if p.context_id not in contexts:
            return events, True
        if p.is_command:
            if data_ctx is not None or (cmd_buf is not None and p.context_id != cmd_ctx):
                return events, True
            if cmd_buf is None:
                cmd_buf, cmd_ctx = b"", p.context_id
            cmd_buf += bytes(p.data)
            if p.is_last:
                try:
                    cmd = decode_command(cmd_buf)
                except ProtocolError:
                    return events, True
                cmd_buf = None
                data_ctx = p.context_id if cmd.has_dataset else None
                events.append(("command", p.context_id, cmd))
        else:
            if data_ctx != p.context_id:
                return events, True
            if p.is_last:
                data_ctx = None
            events.append(("data", p.context_id, bytes(p.data), p.is_last))
    return events, False


def established(requestor_side: bool) -> Connection:
    if requestor_side:
        conn = requestor()
        conn.receive_data(encode(ACCEPT))
    else:
        conn = acceptor()
        conn.receive_data(encode(REQUEST))
        conn.accept(negotiate(conn.next_event().request, POLICY.replace(max_pdu=4096)))
    assert conn.state == State.STA6
    conn.data_to_send()
    while conn.next_event() is not None:
        pass
    return conn


@BOUNDED
@given(data=st.data(), requestor_side=st.booleans(), per_pdu=st.integers(1, 4))
def test_pdv_sequences_give_the_events_the_standard_prescribes(data, requestor_side, per_pdu):
    conn = established(requestor_side)
    items = data.draw(pdvs())
    stream = b"".join(encode(PDataTF(items[i : i + per_pdu])) for i in range(0, len(items), per_pdu))
    w = feed(conn, chunked(data.draw, stream), respond=False)
    expected, aborted = model(items, conn.contexts)
    got = [
        ("command", e.context_id, e.command)
        if isinstance(e, ev.CommandReceived)
        else ("data", e.context_id, bytes(e.data), e.last)
        for e in w.events
        if not isinstance(e, ev.Aborted)
    ]
    for e in got:  # the received group length is not part of what the model compares
        if e[0] == "command":
            e[2].CommandGroupLength = None
    for e in expected:
        if e[0] == "command":
            e[2].CommandGroupLength = None
    assert got == expected
    if aborted:
        assert conn.state == State.STA13
        assert isinstance(w.events[-1], ev.Aborted)
        assert (w.events[-1].source, w.events[-1].reason) == (2, 6)
    else:
        assert conn.state == State.STA6
        assert not any(isinstance(e, ev.Aborted) for e in w.events)


@SMALL
@given(data=st.data(), requestor_side=st.booleans())
def test_established_connection_fed_mutated_pdata_never_raises(data, requestor_side):
    conn = established(requestor_side)
    pieces = [encode(PDataTF(data.draw(pdvs()))) for _ in range(data.draw(st.integers(1, 2)))]
    tail = data.draw(st.sampled_from([[], [encode(ReleaseRQ())], [encode(ReleaseRP())], [encode(Abort())]]))
    stream = data.draw(mutated(pieces + tail))
    feed(conn, chunked(data.draw, stream), respond=data.draw(st.booleans()))


ACTIONS = st.lists(
    st.sampled_from(
        [
            "to_acc",
            "to_req",
            "to_acc",
            "to_req",
            "echo",
            "store",
            "release_req",
            "release_acc",
            "abort_req",
            "abort_acc",
            "timer_req",
            "timer_acc",
            "close",
            "garbage_acc",
        ]
    ),
    max_size=25,
)


@SMALL
@given(actions=ACTIONS, split=st.integers(1, 64))
def test_two_connections_under_random_user_actions(actions, split):
    """Users doing anything in any order: only LocalProtocolError may come back to them."""
    req, acc = Connection(requestor=True), Connection(requestor=False)
    acc.connection_made()
    req.request(REQUEST)
    req.connection_made()
    wr, wa = Watcher(req), Watcher(acc)

    def move(src: Connection, dst: Connection, watcher: Watcher) -> None:
        raw = b"".join(bytes(b) for b in src.data_to_send())
        pos = 0
        while pos < len(raw):  # whole, well-formed PDUs only
            pdu_type, length = PDU_HEADER.unpack_from(raw, pos)
            decode_pdu(pdu_type, raw[pos + 6 : pos + 6 + length])
            pos += 6 + length
        assert pos == len(raw)
        for i in range(0, len(raw), split):
            dst.receive_data(raw[i : i + split])
            answer(dst, watcher.step(check_out=False))

    for action in ["to_acc", *actions]:
        try:
            if action == "to_acc":
                move(req, acc, wa)
            elif action == "to_req":
                move(acc, req, wr)
            elif action == "echo":
                req.send_command(1, c_echo_rq(1))
            elif action == "store":
                req.send_command(3, c_store_rq(2, CT, "1.2.3"))
                req.send_data(3, b"\x00" * 9000, last=True)
            elif action == "release_req":
                req.release()
            elif action == "release_acc":
                acc.release()
            elif action == "abort_req":
                req.abort()
            elif action == "abort_acc":
                acc.abort()
            elif action == "timer_req":
                req.timer_expired()
            elif action == "timer_acc":
                acc.timer_expired()
            elif action == "close":
                req.receive_data(b"")
                acc.receive_data(b"")
            elif action == "garbage_acc":
                acc.receive_data(b"\x04\x00\x00\x00\x00\x02\x00\x00")
        except LocalProtocolError:
            pass
        wr.step(check_out=False)
        wa.step(check_out=False)
    # each side only ever visits its own role's states
    assert wr.conn.state not in (State.STA2, State.STA3, State.STA4, State.STA10, State.STA12)
    assert wa.conn.state not in (State.STA4, State.STA5, State.STA9, State.STA11)
