"""Hardening: the acceptor's limits against hostile peers (see docs/security.md).

An Acceptor runs in-process on 127.0.0.1, in an event loop of its own thread, with small
timeouts; the hostile peer is a blocking socket speaking bytes built with our encoder or
forged by hand.  After each attack: the A-ABORT or A-ASSOCIATE-RJ PS3.8 prescribes (or a
closed connection), a line on the ``dimse.server`` log, nothing left in the output folder,
bounded memory, and an honest echo served next.  The limits of the sans-IO core (item and
PDV counts, context IDs) are also checked without sockets.

tests/test_hostile.py runs the storescp tool against garbage, stalls mid-P-DATA, aborts and
unsafe UIDs; nothing here repeats it.
"""

from __future__ import annotations

import asyncio
import logging
import select
import socket
import struct
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dimse import Acceptor, AcceptorPolicy, AssociationRejected, Services, Timeouts, associate, serve
from dimse.core.commands import c_echo_rq, c_store_rq, decode_command, encode_command
from dimse.core.connection import MAX_ASSOCIATE_PDU, MAX_SEND_PDU, Connection
from dimse.core.fsm import State
from dimse.core.negotiation import build_request, negotiate
from dimse.core.pdu import (
    MAX_CONTEXT_ITEMS,
    MAX_PDV_ITEMS,
    MAX_RELATED_CLASSES,
    MAX_TRANSFER_SYNTAX_ITEMS,
    MAX_USER_INFO_ITEMS,
    PDU_HEADER,
    Abort,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    PDataTF,
    PresentationContextAC,
    PresentationContextRQ,
    RoleSelection,
    SOPClassCommonExtendedNegotiation,
    decode_pdu,
    encode,
)
from dimse.errors import PDUError
from dimse.files.storage import PART_FOLDER, FileSink, object_filename, path_inside
from dimse.uids import VERIFICATION

from .corpus import pdv
from .rawpeer import WAIT, closed_by_peer, connect, read_pdu

CT = "1.2.840.10008.5.1.4.1.1.2"
LEI = "1.2.840.10008.1.2"
LEE = "1.2.840.10008.1.2.1"
POLICY = AcceptorPolicy(transfer_syntaxes={VERIFICATION: [LEI], CT: [LEE, LEI]})
#: small enough to keep the file fast, large enough for a loaded machine
TIMEOUTS = Timeouts(acse=1.0, socket=1.0)
#: what a hostile exchange may allocate at most (a 4 GB claim must not allocate anything)
MEMORY_BOUND = 8 << 20


# ---------------------------------------------------------------------------- the server side


class Storing(Services):
    """Stores each C-STORE as storescp does (temporary file, renamed when complete); records
    how every association ended."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.endings: list[str] = []

    def store_sink(self, assoc, ctx, command):
        name = object_filename(ctx.abstract_syntax, command.AffectedSOPInstanceUID)
        return FileSink(path_inside(self.folder, name))

    def association_ended(self, assoc, how: str) -> None:
        self.endings.append(how)


class ServerThread:
    """An Acceptor listening on 127.0.0.1 in an event loop run by a thread of its own."""

    def __init__(self, acceptor: Acceptor) -> None:
        self.acceptor = acceptor
        self.services: Storing = acceptor.services
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = self._call(serve(acceptor, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT)

    def stop(self) -> None:
        async def shutdown() -> None:
            self.server.close()
            await self.acceptor.finish(0)

        self._call(shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.loop.close()


def well_formed(size: int) -> bytes:
    """A data set of ``size`` bytes that passes the acceptor's structural check: one OB element."""
    return b"\xe0\x7f\x10\x00OB\0\0" + struct.pack("<L", size - 12) + bytes(size - 12)


@pytest.fixture
def make_server(tmp_path):
    """``make_server(**acceptor_fields)`` -> a running ServerThread (stopped after the test)."""
    started: list[ServerThread] = []

    def make(**fields) -> ServerThread:
        timeouts = fields.pop("timeouts", TIMEOUTS)
        server = ServerThread(Acceptor(POLICY, Storing(tmp_path), timeouts, **fields))
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server) -> ServerThread:
    return make_server()


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname}: {record.getMessage()}")


@pytest.fixture
def server_log():
    """The lines logged on ``dimse.server`` (whatever a CLI test did to the logging tree)."""
    logger = logging.getLogger("dimse.server")
    handler, level = Lines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def wait_until(predicate, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT} s: {what}")
        time.sleep(0.02)


def logged(lines: list[str], text: str) -> None:
    """A WARNING line containing ``text`` appears on the server log."""
    wait_until(lambda: any(line.startswith("WARNING") and text in line for line in lines), f"log line {text!r}")


# ---------------------------------------------------------------------------- the peer side


def request(contexts=((VERIFICATION, [LEI]), (CT, [LEE])), **extra) -> AssociateRQ:
    return build_request("HOSTILE", "ANY-SCP", list(contexts), **extra)


def associate_raw(port: int, rq: AssociateRQ | None = None) -> tuple[socket.socket, AssociateAC]:
    sock = connect(port)
    sock.sendall(encode(rq or request()))
    ac = read_pdu(sock)
    assert isinstance(ac, AssociateAC), ac
    return sock, ac


def echo_on(sock: socket.socket, ctx: int) -> int:
    """C-ECHO over a raw association; returns the response status."""
    sock.sendall(pdv(ctx, encode_command(c_echo_rq(7)), True))
    reply = read_pdu(sock)
    assert isinstance(reply, PDataTF), reply
    return decode_command(bytes(reply.pdvs[0].data)).Status


def honest_echo(port: int) -> int:
    """An honest peer (our own requestor): associate, C-ECHO, release; returns the status."""

    async def run() -> int:
        timeouts = Timeouts(connect=WAIT, acse=WAIT, dimse=WAIT)
        assoc = await associate("127.0.0.1", port, [(VERIFICATION, [LEI])], timeouts=timeouts)
        try:
            return (await assoc.echo()).Status
        finally:
            await assoc.release()

    return asyncio.run(run())


def assert_provider_abort(reply, reason: int) -> None:
    assert isinstance(reply, Abort), reply
    assert (reply.source, reply.reason) == (2, reason)


def no_internal_errors(server: ServerThread) -> None:
    assert not [how for how in server.services.endings if how.startswith("internal error")]


# ---------------------------------------------------------------------------- lengths that lie

FOUR_GB = 0xFFFFFFFF


@pytest.mark.parametrize(
    "associated, pdu_type",
    [(False, 0x01), (True, 0x04), (True, 0x05), (True, 0x07)],
    ids=["A-ASSOCIATE-RQ before association", "P-DATA-TF", "A-RELEASE-RQ", "A-ABORT"],
)
def test_pdu_length_of_4_gb_is_refused_at_the_header(server, server_log, associated, pdu_type):
    """A PDU header claiming 4 GB -> A-ABORT (service provider, invalid PDU parameter value) at
    once, before any body is read or buffered."""
    sock = associate_raw(server.port)[0] if associated else connect(server.port)
    tracemalloc.start()
    try:
        sock.sendall(PDU_HEADER.pack(pdu_type, FOUR_GB) + bytes(64))
        reply = read_pdu(sock)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_provider_abort(reply, 6)
    assert closed_by_peer(sock)
    assert peak < MEMORY_BOUND
    logged(server_log, f"PDU length {FOUR_GB} exceeds the maximum")
    assert honest_echo(server.port) == 0


def test_pdv_item_length_of_4_gb_aborts(server, server_log):
    """A P-DATA-TF of honest length whose PDV item claims 4 GB -> A-ABORT (2, 6)."""
    sock, _ = associate_raw(server.port)
    body = struct.pack(">LBB", FOUR_GB, 1, 3) + encode_command(c_echo_rq(1))
    sock.sendall(PDU_HEADER.pack(0x04, len(body)) + body)
    assert_provider_abort(read_pdu(sock), 6)
    logged(server_log, f"PDV item length {FOUR_GB} does not fit")
    assert honest_echo(server.port) == 0


def _top_level_items(raw: bytes) -> dict[int, int]:
    """Offsets of the first item of each type in an encoded A-ASSOCIATE PDU."""
    offsets, pos = {}, 6 + 68
    while pos < len(raw):
        offsets.setdefault(raw[pos], pos)
        pos += 4 + struct.unpack_from(">H", raw, pos + 2)[0]
    return offsets


@pytest.mark.parametrize("item", [0x10, 0x20, 0x50], ids=["application context", "presentation context", "user info"])
def test_association_item_length_that_overruns_aborts(server, server_log, item):
    """An item of an A-ASSOCIATE-RQ claiming its 64 KiB maximum inside a short PDU -> A-ABORT (2, 6)."""
    raw = bytearray(encode(request()))
    struct.pack_into(">H", raw, _top_level_items(raw)[item] + 2, 0xFFFF)
    sock = connect(server.port)
    sock.sendall(raw)
    assert_provider_abort(read_pdu(sock), 6)
    logged(server_log, "overruns its container")
    assert honest_echo(server.port) == 0


def test_peer_claiming_a_4_gb_maximum_pdu_is_served(server):
    """A requestor whose maximum length sub-item says 4 GB is served: our responses are sized
    by what they hold, not by the peer's claim."""
    tracemalloc.start()
    try:
        sock, ac = associate_raw(server.port, request(max_pdu=FOUR_GB))
        assert echo_on(sock, 1) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND
    sock.close()


def test_a_4_gb_maximum_claimed_by_an_scp_is_capped_for_what_we_send():
    """An SCP announcing a 4 GB maximum PDU cannot make us read and send 4 GB fragments."""
    conn = Connection(requestor=True)
    conn.request(request())
    conn.connection_made()
    accept = negotiate(request(), POLICY)
    accept.user_info.max_length = FOUR_GB
    conn.receive_data(encode(accept))
    assert conn.peer_max_pdu == FOUR_GB
    assert conn.max_fragment == MAX_SEND_PDU - 12


# ---------------------------------------------------------------------------- truncated PDUs


def _cut(raw: bytes, keep: int) -> bytes:
    """The first ``keep`` body bytes of ``raw`` under a header that says so: complete but short."""
    return PDU_HEADER.pack(raw[0], keep) + raw[6 : 6 + keep]


@pytest.mark.parametrize(
    "associated, raw",
    [
        (False, _cut(encode(request()), 40)),  # shorter than the fixed fields
        (False, _cut(encode(request()), 80)),  # ends inside the application context item
        (False, _cut(encode(request()), 140)),  # ends inside a presentation context
        (True, _cut(pdv(1, encode_command(c_echo_rq(1)), True), 3)),  # half a PDV header
        (True, _cut(pdv(1, encode_command(c_echo_rq(1)), True), 40)),  # half a command set
        (True, PDU_HEADER.pack(0x05, 2) + bytes(2)),  # A-RELEASE-RQ of 2 bytes instead of 4
    ],
    ids=["rq-fixed-fields", "rq-app-context", "rq-context", "pdv-header", "command-set", "release-rq"],
)
def test_truncated_pdu_aborts(server, associated, raw):
    """A PDU whose length covers only part of what it must hold -> A-ABORT (service provider)."""
    sock = associate_raw(server.port)[0] if associated else connect(server.port)
    sock.sendall(raw)
    reply = read_pdu(sock)
    assert isinstance(reply, Abort) and reply.source == 2, reply
    assert closed_by_peer(sock)
    assert honest_echo(server.port) == 0
    no_internal_errors(server)


def test_connection_closed_in_the_middle_of_a_request(server):
    """Half an A-ASSOCIATE-RQ, then the connection closes: the attempt ends quietly."""
    raw = encode(request())
    sock = connect(server.port)
    sock.sendall(raw[: len(raw) // 2])
    sock.close()
    wait_until(lambda: server.services.endings, "the connection to end")
    assert honest_echo(server.port) == 0
    no_internal_errors(server)


# ---------------------------------------------------------------------------- stalls and tricklers


def test_peer_stopping_in_the_middle_of_a_request_is_dropped(server, server_log):
    """Half an A-ASSOCIATE-RQ, then silence: dropped when ARTIM (the ACSE timeout) expires."""
    raw = encode(request())
    sock = connect(server.port)
    sock.sendall(raw[: len(raw) // 2])
    assert closed_by_peer(sock)
    logged(server_log, "timeout waiting for A-ASSOCIATE-RQ")
    assert honest_echo(server.port) == 0


def _trickle(sock: socket.socket, pieces, pause: float) -> bool:
    """Send ``pieces`` one by one with ``pause`` between them; True if the server spoke or closed first."""
    for piece in pieces:
        readable, _, _ = select.select([sock], [], [], pause)
        if readable:
            return True
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return True
    return False


def test_request_trickled_byte_by_byte_is_dropped(server, server_log):
    """An A-ASSOCIATE-RQ sent a byte at a time, each byte well within the ACSE timeout: ARTIM
    bounds the whole request, so the peer is dropped before it is done."""
    raw = encode(request())
    sock = connect(server.port)
    assert _trickle(sock, [raw[i : i + 1] for i in range(len(raw))], pause=TIMEOUTS.acse / 4)
    assert closed_by_peer(sock)
    logged(server_log, "timeout waiting for A-ASSOCIATE-RQ")
    assert honest_echo(server.port) == 0


def test_idle_association_is_dropped_by_the_socket_timeout(server, server_log):
    """An association that never sends a command is aborted when the socket timeout expires."""
    sock, _ = associate_raw(server.port)
    reply = read_pdu(sock)
    assert isinstance(reply, Abort), reply
    assert closed_by_peer(sock)
    logged(server_log, "network receive timed out")
    assert honest_echo(server.port) == 0


# ---------------------------------------------------------------------------- many connections


def test_thousand_connections_opened_and_dropped(server):
    """1,000 connections, 100 at a time: silent, a few bytes, or a whole request, then reset.
    The server ends every one, stays within bounded memory, and serves the next echo."""
    raw = encode(request())
    tracemalloc.start()
    try:
        for _ in range(10):
            socks = [connect(server.port) for _ in range(100)]
            for i, sock in enumerate(socks):
                if i % 3 == 1:
                    sock.sendall(raw[:5])
                elif i % 3 == 2:
                    sock.sendall(raw)
            for sock in socks:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
        wait_until(lambda: server.acceptor.active == 0, "every connection to end")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * MEMORY_BOUND
    assert server.acceptor.associations == 0
    no_internal_errors(server)
    assert honest_echo(server.port) == 0


# ---------------------------------------------------------------------------- presentation contexts


def _request_with_ids(ids: list[int], abstract: str = VERIFICATION) -> AssociateRQ:
    rq = request()
    rq.contexts = [PresentationContextRQ(i, abstract, [LEI]) for i in ids]
    return rq


def test_256_contexts_with_repeated_ids_are_answered_once_per_id(server):
    """256 contexts cycling through the 128 odd IDs: each ID is answered once (its first
    context) and the association works."""
    ids = [(2 * i + 1) % 256 for i in range(256)]
    sock, ac = associate_raw(server.port, _request_with_ids(ids))
    assert [c.context_id for c in ac.contexts] == list(range(1, 256, 2))
    assert all(c.result == 0 for c in ac.contexts)
    assert echo_on(sock, 255) == 0
    sock.close()


def test_256_contexts_with_every_id_refuse_the_even_ones(server):
    """IDs 0..255: the 128 odd IDs are accepted, the even ones (not allowed by PS3.8) refused
    with "no reason (provider rejection)"; the association works."""
    sock, ac = associate_raw(server.port, _request_with_ids(list(range(256))))
    results = {c.context_id: c.result for c in ac.contexts}
    assert len(results) == 256
    assert all(results[i] == (0 if i % 2 else 2) for i in range(256))
    assert echo_on(sock, 1) == 0
    sock.close()


def test_more_than_256_contexts_abort(server, server_log):
    """257 presentation context items cannot be valid (the ID is one byte) -> A-ABORT (2, 6)."""
    sock = connect(server.port)
    sock.sendall(encode(_request_with_ids([1] * (MAX_CONTEXT_ITEMS + 1))))
    assert_provider_abort(read_pdu(sock), 6)
    logged(server_log, f"more than {MAX_CONTEXT_ITEMS} presentation context items")
    assert honest_echo(server.port) == 0


# ---------------------------------------------------------------------------- simultaneous associations


def test_associations_beyond_the_limit_are_rejected_then_served_again(make_server, server_log):
    """max_associations=2: a third association gets A-ASSOCIATE-RJ (transient, service provider
    (presentation), local limit exceeded); once one ends, an honest peer is served."""
    server = make_server(max_associations=2, timeouts=Timeouts(acse=WAIT, socket=WAIT))
    first, _ = associate_raw(server.port)
    second, _ = associate_raw(server.port)
    sock = connect(server.port)
    sock.sendall(encode(request()))
    assert read_pdu(sock) == AssociateRJ(2, 3, 2)
    assert closed_by_peer(sock)
    with pytest.raises(AssociationRejected) as info:
        honest_echo(server.port)
    assert (info.value.result, info.value.source, info.value.reason) == (2, 3, 2)
    logged(server_log, "association rejected: 2 associations already (limit 2)")
    assert echo_on(second, 1) == 0  # the two admitted ones are unaffected
    first.close()
    wait_until(lambda: server.acceptor.associations == 1, "the first association to end")
    assert honest_echo(server.port) == 0
    second.close()


# ---------------------------------------------------------------------------- data set limits


def _store(sock: socket.socket, ctx: int, uid: str, data: bytes, step: int = 4000) -> None:
    sock.sendall(pdv(ctx, encode_command(c_store_rq(1, CT, uid)), True))
    for start in range(0, len(data), step):
        sock.sendall(pdv(ctx, data[start : start + step], False, start + step >= len(data)))


def _ct_context(ac: AssociateAC) -> int:
    return next(c.context_id for c in ac.contexts if c.result == 0 and c.context_id == 3)


def _kept(folder: Path) -> list[str]:
    """What a receiver left in ``folder``: its files, and nothing in its temporary folder."""
    temporary = folder / PART_FOLDER
    assert not temporary.exists() or not any(temporary.iterdir()), "temporary files left behind"
    return sorted(p.name for p in folder.iterdir() if p.name != PART_FOLDER)


def test_data_set_over_the_size_limit_is_aborted_and_leaves_no_file(make_server, server_log, tmp_path):
    """max_dataset_bytes=4096: a data set of exactly 4096 bytes is stored, one of 10,000 is
    aborted (A-ABORT service provider, reason not specified) and leaves nothing behind."""
    server = make_server(max_dataset_bytes=4096)
    sock, ac = associate_raw(server.port)
    _store(sock, _ct_context(ac), "1.2.3.1", well_formed(4096))
    assert decode_command(bytes(read_pdu(sock).pdvs[0].data)).Status == 0
    assert _kept(tmp_path) == ["CT.1.2.3.1"]
    try:
        _store(sock, _ct_context(ac), "1.2.3.2", bytes(10_000))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the abort may cut the rest of the data set short
    assert_provider_abort(read_pdu(sock), 0)
    logged(server_log, "data set larger than 4096 bytes")
    assert honest_echo(server.port) == 0
    assert _kept(tmp_path) == ["CT.1.2.3.1"]


def test_data_set_trickling_past_the_time_limit_is_aborted(make_server, server_log, tmp_path):
    """dataset_time_limit=1 s: fragments that each beat the socket timeout but never finish
    the data set -> A-ABORT (service provider, reason not specified), no file."""
    server = make_server(dataset_time_limit=1.0, timeouts=Timeouts(acse=WAIT, socket=WAIT))
    sock, ac = associate_raw(server.port)
    ctx = _ct_context(ac)
    sock.sendall(pdv(ctx, encode_command(c_store_rq(1, CT, "1.2.3.3")), True))
    fragments = (pdv(ctx, bytes(16), False, last=False) for _ in range(int(WAIT / 0.1)))
    assert _trickle(sock, fragments, pause=0.1)
    assert_provider_abort(read_pdu(sock), 0)
    logged(server_log, "data set not received within 1.0 s")
    assert _kept(tmp_path) == []
    assert honest_echo(server.port) == 0


def test_data_set_slower_than_the_socket_timeout_in_all_but_each_piece_is_stored(make_server, tmp_path):
    """socket timeout 1 s: a data set whose pieces come 0.4 s apart for 3 s in all is stored -- the
    timeout bounds each read, not the sum of them (one timer serves many reads) -- and the next
    silence is still cut by it."""
    server = make_server(timeouts=Timeouts(acse=1.0, socket=1.0))
    sock, ac = associate_raw(server.port)
    ctx = _ct_context(ac)
    sock.sendall(pdv(ctx, encode_command(c_store_rq(1, CT, "1.2.3.4")), True))
    data = well_formed(128)
    pieces = [pdv(ctx, data[16 * i : 16 * i + 16], False, last=i == 7) for i in range(8)]
    assert not _trickle(sock, pieces, pause=0.4)  # the server neither spoke nor hung up meanwhile
    assert decode_command(bytes(read_pdu(sock).pdvs[0].data)).Status == 0
    assert _kept(tmp_path) == ["CT.1.2.3.4"]
    assert isinstance(read_pdu(sock), Abort)  # then idle: aborted by the socket timeout
    assert honest_echo(server.port) == 0


# ---------------------------------------------------------------------------- the sans-IO core


def _user_info_with(items: int) -> AssociateRQ:
    # + maximum length, implementation class UID and version name
    return request(roles=[RoleSelection(CT, True, False)] * (items - 3))


def _common_extended(related: int) -> AssociateRQ:
    return request(common_extended=[SOPClassCommonExtendedNegotiation(CT, "1.2.840.10008.4.2", ["1.2"] * related)])


def _pdata_with(pdvs: int) -> bytes:
    return PDU_HEADER.pack(0x04, 6 * pdvs) + struct.pack(">LBB", 2, 1, 0) * pdvs


def _transfer_syntaxes(count: int) -> AssociateRQ:
    rq = request()
    rq.contexts[0].transfer_syntaxes = [LEI] * count
    return rq


LIMITS = {
    "presentation context items": (MAX_CONTEXT_ITEMS, lambda n: encode(_request_with_ids([1] * n))),
    "transfer syntaxes in one context": (MAX_TRANSFER_SYNTAX_ITEMS, lambda n: encode(_transfer_syntaxes(n))),
    "user information sub-items": (MAX_USER_INFO_ITEMS, lambda n: encode(_user_info_with(n))),
    "related general SOP classes": (MAX_RELATED_CLASSES, lambda n: encode(_common_extended(n))),
    "PDV items in a P-DATA-TF PDU": (MAX_PDV_ITEMS, _pdata_with),
}


@pytest.mark.parametrize("what", LIMITS)
def test_item_counts_are_bounded_by_the_decoder(what):
    """At the limit a PDU decodes; one item more is a PDUError naming the limit."""
    limit, build = LIMITS[what]
    raw = build(limit)
    decode_pdu(raw[0], raw[6:])
    raw = build(limit + 1)
    with pytest.raises(PDUError, match=f"more than {limit} {what}"):
        decode_pdu(raw[0], raw[6:])


def test_connection_aborts_a_request_over_an_item_limit():
    """The acceptor's connection answers an over-limit request with A-ABORT (2, 6) and says why."""
    conn = Connection(requestor=False)
    conn.connection_made()
    conn.receive_data(encode(_request_with_ids([1] * (MAX_CONTEXT_ITEMS + 1))))
    event = conn.next_event()
    assert (event.source, event.reason, event.by_peer) == (2, 6, False)
    assert "presentation context items" in event.detail
    assert b"".join(conn.data_to_send()) == encode(Abort(2, 6))


@pytest.mark.parametrize("source, reason, sent", [(0, 0, (0, 0)), (2, 0, (2, 0)), (2, 6, (2, 6)), (0, 5, (0, 0))])
def test_abort_primitive_carries_the_source_and_reason(source, reason, sent):
    """``abort(source, reason)``: a service-provider abort carries its reason; a user abort has none."""
    conn = Connection(requestor=False)
    conn.connection_made()
    conn.receive_data(encode(request()))
    conn.accept(negotiate(conn.next_event().request, POLICY))
    conn.data_to_send()
    conn.abort(source, reason)
    assert b"".join(conn.data_to_send()) == encode(Abort(*sent))


def test_repeated_context_ids_first_come_first_served_on_both_sides():
    """A repeated context ID: negotiation answers its first context only, and both sides record
    the first one (the requestor, too, when an accept repeats an ID)."""
    rq = request(contexts=[(CT, [LEE]), (VERIFICATION, [LEI])])
    rq.contexts[1].context_id = 1
    ac = negotiate(rq, POLICY)
    assert [(c.context_id, c.transfer_syntax) for c in ac.contexts] == [(1, LEE)]
    acceptor = Connection(requestor=False)
    acceptor.connection_made()
    acceptor.receive_data(encode(rq))
    acceptor.accept(negotiate(acceptor.next_event().request, POLICY))
    assert acceptor.contexts[1].abstract_syntax == CT

    requestor = Connection(requestor=True)
    requestor.request(request())
    requestor.connection_made()
    twice = negotiate(request(), POLICY)
    twice.contexts = [PresentationContextAC(1, 0, LEI), PresentationContextAC(1, 0, LEE)]
    requestor.receive_data(encode(twice))
    assert requestor.contexts[1].transfer_syntax == LEI


# ---------------------------------------------------------------------------- properties

BOUNDED = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@BOUNDED
@given(
    pdu_type=st.integers(1, 7), length=st.integers(0, FOUR_GB), extra=st.binary(max_size=64), associated=st.booleans()
)
@example(pdu_type=0x04, length=MAX_ASSOCIATE_PDU + 1, extra=b"", associated=False)  # P-DATA before association
def test_a_declared_length_never_buffers_more_than_arrived(pdu_type, length, extra, associated):
    """Whatever length a PDU header declares: over our maximum (before the association 1 MiB
    for every PDU, P-DATA-TF included) it is an A-ABORT (2, 6) at the header; otherwise the
    connection keeps no more than the bytes that actually arrived."""
    conn = Connection(requestor=False)
    conn.connection_made()
    limit = MAX_ASSOCIATE_PDU
    if associated:
        conn.receive_data(encode(request()))
        conn.accept(negotiate(conn.next_event().request, POLICY))
        conn.data_to_send()
        limit = POLICY.max_pdu if pdu_type == 0x04 else MAX_ASSOCIATE_PDU
    conn.receive_data(PDU_HEADER.pack(pdu_type, length) + extra)
    if length > limit:
        event = conn.next_event()
        assert (event.source, event.reason) == (2, 6)
        assert conn.state == State.STA13
        assert b"".join(conn.data_to_send()) == encode(Abort(2, 6))
    assert len(conn._in) <= 6 + len(extra)


@BOUNDED
@given(
    ids=st.lists(st.integers(0, 255), min_size=1, max_size=MAX_CONTEXT_ITEMS + 8),
    abstracts=st.lists(st.sampled_from([VERIFICATION, CT, "1.2.3.4"]), min_size=1),
)
def test_any_context_list_is_answered_once_per_id(ids, abstracts):
    """Any list of context IDs: over 256 items the request is invalid; otherwise every distinct
    ID is answered once, in order, even IDs refused, and the acceptor records exactly the
    accepted ones with their first context's abstract syntax."""
    rq = request()
    rq.contexts = [PresentationContextRQ(i, abstracts[n % len(abstracts)], [LEI, LEE]) for n, i in enumerate(ids)]
    raw = encode(rq)
    if len(ids) > MAX_CONTEXT_ITEMS:
        with pytest.raises(PDUError):
            decode_pdu(raw[0], raw[6:])
        return
    first: dict[int, str] = {}
    for n, i in enumerate(ids):
        first.setdefault(i, abstracts[n % len(abstracts)])
    conn = Connection(requestor=False)
    conn.connection_made()
    conn.receive_data(raw)
    ac = negotiate(conn.next_event().request, POLICY)
    assert [c.context_id for c in ac.contexts] == list(first)
    assert all(c.result == 2 for c in ac.contexts if c.context_id % 2 == 0)
    conn.accept(ac)
    accepted = {c.context_id for c in ac.contexts if c.result == 0}
    assert set(conn.contexts) == accepted
    assert all(i % 2 == 1 and conn.contexts[i].abstract_syntax == first[i] for i in accepted)
