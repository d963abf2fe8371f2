"""The asyncio driver: timeouts with DCMTK's meanings, IPv6, TCP_NODELAY, concurrent associations.

Silent peers are plain sockets in a thread (a peer that accepts and then says nothing is
exactly what is being tested); honest peers are our storescp or DCMTK's.
"""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from dimse import AssociationAborted, NetworkTimeout, Timeouts, associate
from dimse.core.negotiation import AcceptorPolicy, negotiate
from dimse.core.pdu import PDU_HEADER, AssociateRQ, decode_pdu, encode
from dimse.net.association import configure_socket
from dimse.uids import VERIFICATION

from .conftest import CT_SMALL, free_port, ours, run, running

LEI = "1.2.840.10008.1.2"
CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
LEE = "1.2.840.10008.1.2.1"


class SilentPeer:
    """Accepts connections; optionally answers the A-ASSOCIATE-RQ, then never says anything."""

    def __init__(self, answer_association: bool) -> None:
        self.answer = answer_association
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        self.conns.append(conn)
        if self.answer:
            header = conn.recv(6, socket.MSG_WAITALL)
            _, length = PDU_HEADER.unpack(header)
            rq = decode_pdu(1, conn.recv(length, socket.MSG_WAITALL))
            assert isinstance(rq, AssociateRQ)
            conn.sendall(encode(negotiate(rq, AcceptorPolicy(transfer_syntaxes={VERIFICATION: [LEI]}))))

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def silent_acse():
    peer = SilentPeer(answer_association=False)
    yield peer
    peer.close()


@pytest.fixture
def silent_dimse():
    peer = SilentPeer(answer_association=True)
    yield peer
    peer.close()


def test_acse_timeout_ends_association_request(silent_acse):
    """our echoscu -ta 1 -> a peer that never answers the A-ASSOCIATE-RQ: exit 1, one fatal line."""
    result = run([ours("echoscu"), "-ta", "1", "127.0.0.1", str(silent_acse.port)], timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith("F: Association Request Failed:")
    assert "timeout" in result.stderr


def test_dimse_timeout_ends_echo(silent_dimse):
    """our echoscu -td 1 -> a peer that accepts but never answers the C-ECHO-RQ: exit 70."""
    result = run([ours("echoscu"), "-td", "1", "127.0.0.1", str(silent_dimse.port)], timeout=30)
    assert result.returncode == 70
    assert "E: Echo SCU Failed: 0006:0207 DIMSE No data available (timeout in non-blocking mode)" in result.stderr


def test_socket_timeout_bounds_an_unlimited_dimse_wait(silent_dimse):
    """API with no DIMSE timeout but a 1 s socket timeout: the stalled echo raises NetworkTimeout."""

    async def attempt():
        assoc = await associate("127.0.0.1", silent_dimse.port, [(VERIFICATION, [LEI])], timeouts=Timeouts(socket=1))
        with pytest.raises(NetworkTimeout):
            await assoc.echo()
        await assoc.abort()

    asyncio.run(attempt())


def test_peer_closing_without_release_is_an_abort(silent_dimse):
    """A peer that drops the connection during an echo: AssociationAborted, not a hang."""

    async def attempt():
        assoc = await associate("127.0.0.1", silent_dimse.port, [(VERIFICATION, [LEI])])
        silent_dimse.thread.join(5)
        silent_dimse.close()
        with pytest.raises(AssociationAborted):
            await assoc.echo()

    asyncio.run(attempt())


def test_ipv6_loopback(tmp_path):
    """our echoscu -> our storescp over ::1."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        probe = socket.create_server(("::1", 0), family=socket.AF_INET6)
        probe.close()
    except OSError:
        pytest.skip("IPv6 loopback is not configured")
    port = free_port()
    with running([ours("storescp"), "-od", str(tmp_path), str(port)], port):
        result = run([ours("echoscu"), "-v", "::1", str(port)])
    assert result.returncode == 0, result.stderr
    assert "Received Echo Response (Success)" in result.stderr


@pytest.mark.parametrize(("env", "expected"), [(None, 1), ("1", 1), ("0", 0)])
def test_tcp_nodelay_follows_environment(monkeypatch, env, expected):
    """TCP_NODELAY is on by default and off with TCP_NODELAY=0, as in DCMTK."""
    if env is None:
        monkeypatch.delenv("TCP_NODELAY", raising=False)
    else:
        monkeypatch.setenv("TCP_NODELAY", env)

    async def check():
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        configure_socket(writer.transport)
        value = writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        server.close()
        return value

    assert bool(asyncio.run(check())) == bool(expected)


def test_acceptor_serves_associations_concurrently(port, tmp_path):
    """Two associations to our storescp at once: the second is served while the first is open."""

    async def both():
        first = await associate("127.0.0.1", port, [(CT_CLASS, [LEE])])
        second = await associate("127.0.0.1", port, [(VERIFICATION, [LEI])])
        echo = await second.echo()
        await second.release()
        store = await first.store_file(CT_SMALL)
        await first.release()
        return echo.Status, store.Status

    with running([ours("storescp"), "-od", str(tmp_path), str(port)], port):
        assert asyncio.run(both()) == (0, 0)
    assert len(list(tmp_path.iterdir())) == 1
