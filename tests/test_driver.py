"""The asyncio driver: timeouts with DCMTK's meanings, IPv6, TCP_NODELAY, concurrent associations.

Silent peers are plain sockets in a thread (a peer that accepts and then says nothing is
exactly what is being tested); honest peers are our storescp or DCMTK's.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import threading

import pytest

from dimse import AssociationAborted, DimseError, NetworkTimeout, NoPresentationContext, Timeouts, associate
from dimse.codes import AssociationEnd
from dimse.core.connection import PresentationContext
from dimse.core.negotiation import AcceptorPolicy, negotiate
from dimse.core.pdu import PDU_HEADER, AssociateRQ, decode_pdu, encode
from dimse.net.association import choose_context, configure_socket
from dimse.net.errors import ConnectionFailed, InvalidRequest, ListenFailed, TLSFailed
from dimse.net.server import PROBE, Acceptor, Services, serve
from dimse.net.tls import describe_error as describe_tls_error
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
    """TCP_NODELAY is on by default and off with TCP_NODELAY=0 (DCMTK 3.6.7 reads the same
    variable but leaves Nagle on when it is not set: docs/compatibility.md)."""
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


BEE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
JPEG_LS = "1.2.840.10008.1.2.4.80"


def _failure(coroutine) -> BaseException:
    """What ``coroutine`` raised (it must raise a DimseError)."""

    async def attempt() -> None:
        await coroutine

    with pytest.raises(DimseError) as caught:
        asyncio.run(attempt())
    return caught.value


def test_connection_refused_is_a_dimse_error_and_still_the_oserror():
    """Nothing listens: one family (DimseError) and the built-in type with its errno, so that
    ``except OSError`` and DCMTK's wording (from the errno) are what they were."""
    exc = _failure(associate("127.0.0.1", free_port(), [(VERIFICATION, [LEI])]))
    assert isinstance(exc, ConnectionFailed) and isinstance(exc, OSError)
    assert exc.errno == errno.ECONNREFUSED
    assert "Connect call failed" in str(exc)


@pytest.mark.parametrize(
    ("host", "port", "builtin"), [("127.0.0.1", 70000, OverflowError), ("bad\0host", 104, ValueError)]
)
def test_impossible_addresses_are_dimse_errors_of_the_builtin_type(host, port, builtin):
    exc = _failure(associate(host, port, [(VERIFICATION, [LEI])]))
    assert isinstance(exc, InvalidRequest) and isinstance(exc, builtin)


def test_too_many_contexts_is_a_dimse_error_and_a_value_error():
    exc = _failure(associate("127.0.0.1", free_port(), [(f"1.2.3.{i}", [LEI]) for i in range(129)]))
    assert isinstance(exc, ValueError)


def test_tls_failure_is_a_dimse_error_and_the_ssl_error():
    """A TLS requestor meeting a peer that does not speak TLS: a DimseError that is still the
    ssl.SSLError, with OpenSSL's reason (what the TLS error line is made of)."""

    async def attempt() -> None:
        async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"this is not TLS " * 40)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(garbage, "127.0.0.1", 0)
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        async with server:
            port = server.sockets[0].getsockname()[1]
            await associate("127.0.0.1", port, [(VERIFICATION, [LEI])], ssl=context, timeouts=Timeouts(connect=10))

    exc = _failure(attempt())
    assert isinstance(exc, TLSFailed) and isinstance(exc, ssl.SSLError)
    assert exc.reason  # OpenSSL's, kept: the TLS error line says it
    assert describe_tls_error(exc).startswith(f"000b:0886 TLS error: {exc.reason.replace('_', ' ').lower()}")


def test_serving_on_a_busy_port_is_a_dimse_error_and_the_oserror():
    async def attempt() -> None:
        with socket.create_server(("127.0.0.1", 0)) as busy:
            await serve(Acceptor(AcceptorPolicy()), "127.0.0.1", busy.getsockname()[1])

    exc = _failure(attempt())
    assert isinstance(exc, ListenFailed) and isinstance(exc, OSError)
    assert exc.errno == errno.EADDRINUSE


def test_context_choice_follows_dcmtks_order():
    """Own syntax; else explicit VR (little or big endian, in proposal order); else implicit;
    else the first context of the class (and ``prefer_deflate`` asks for deflated first)."""
    contexts = [
        PresentationContext(1, CT_CLASS, JPEG_LS),
        PresentationContext(3, CT_CLASS, LEI),
        PresentationContext(5, CT_CLASS, BEE),
        PresentationContext(7, CT_CLASS, LEE),
        PresentationContext(9, CT_CLASS, DEFLATED),
        PresentationContext(11, VERIFICATION, LEI),
    ]

    def chosen(ts: str, prefer_deflate: bool = False, among=contexts) -> int | None:
        ctx = choose_context(among, CT_CLASS, ts, prefer_deflate)
        return ctx.context_id if ctx else None

    assert chosen(LEE) == 7
    assert chosen(LEE, prefer_deflate=True) == 9
    assert chosen("1.2.840.10008.1.2.4.50") == 5  # explicit big endian was proposed before little
    assert chosen("1.2.840.10008.1.2.4.50", among=[contexts[0], contexts[1]]) == 3
    assert chosen("1.2.840.10008.1.2.4.50", among=[contexts[0]]) == 1
    assert chosen(LEE, among=[contexts[5]]) is None


def test_association_chooses_as_storescu_and_refuses_what_needs_a_codec(port, tmp_path):
    """Over a real association: the same choice (remembered), and store_context refuses a
    compressed object that only a codec could bring into the context chosen."""

    async def check() -> tuple[int | None, int | None, int]:
        assoc = await associate("127.0.0.1", port, [(CT_CLASS, [BEE]), (CT_CLASS, [LEE]), (CT_CLASS, [LEI])])
        try:
            first = assoc.choose_context(CT_CLASS, DEFLATED)
            again = assoc.choose_context(CT_CLASS, DEFLATED)
            assert first is again
            with pytest.raises(NoPresentationContext):
                assoc.store_context(CT_CLASS, JPEG_LS)
            status = (await assoc.store_file(CT_SMALL)).Status
            return first.context_id if first else None, assoc.store_context(CT_CLASS, LEI).context_id, status
        finally:
            await assoc.release()

    with running([ours("storescp"), "-od", str(tmp_path), str(port)], port):
        assert asyncio.run(check()) == (1, 5, 0)


class Endings(Services):
    """Records how each association ended."""

    def __init__(self, expected: int) -> None:
        self.endings: list = []
        self.expected = expected
        self.all_ended = asyncio.Event()

    def association_ended(self, assoc, how) -> None:
        self.endings.append(how)
        if len(self.endings) == self.expected:
            self.all_ended.set()


def test_acceptor_says_how_associations_ended():
    """Released, rejected, aborted by the peer, a port probe: a kind each (and the text the
    acceptor passed before, for code that compares strings)."""

    async def scenario() -> list:
        services = Endings(expected=4)
        policy = AcceptorPolicy(ae_title="SCP", transfer_syntaxes={VERIFICATION: [LEI]}, check_called_ae=True)
        server = await serve(Acceptor(policy, services, Timeouts(acse=5, socket=5)), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            released = await associate("127.0.0.1", port, [(VERIFICATION, [LEI])], called_ae="SCP")
            await released.release()
            with pytest.raises(DimseError):
                await associate("127.0.0.1", port, [(VERIFICATION, [LEI])], called_ae="OTHER")
            aborted = await associate("127.0.0.1", port, [(VERIFICATION, [LEI])], called_ae="SCP")
            await aborted.abort()
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await asyncio.wait_for(services.all_ended.wait(), 10)
        return services.endings

    endings = asyncio.run(scenario())
    assert sorted((how.kind, how.detail) for how in endings) == sorted(
        [
            (AssociationEnd.RELEASED, ""),
            (AssociationEnd.REJECTED, ""),
            (AssociationEnd.ABORTED_BY_PEER, ""),
            (AssociationEnd.PROBE, PROBE),
        ]
    )
    assert sorted(endings) == sorted(["released", "rejected", "aborted", PROBE])
