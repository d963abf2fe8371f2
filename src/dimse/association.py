"""The asyncio driver: one :class:`Association` runs a sans-IO Connection over a TCP stream.

No polling and no sleeps: the driver awaits the socket, feeds what arrives to the
connection, and writes what the connection produced, with ``drain()`` as back-pressure.
Timeouts have DCMTK's meanings: ``connect`` (-to), ``acse`` (-ta), ``dimse`` (-td) and
``socket`` (-ts, any single wait for the network); ``None`` or 0 means none.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl as ssl_module
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import events as ev
from .channel import Channel
from .commands import (
    PRIORITY_MEDIUM,
    Command,
    c_cancel_rq,
    c_echo_rq,
    c_find_rq,
    c_move_rq,
    c_store_rq,
)
from .connection import Connection, PresentationContext
from .datasets import BadDicomFile, decode_dataset, encode_dataset, read_any, read_part10_header, read_sop_uids
from .errors import (
    AssociationAborted,
    AssociationRejected,
    NetworkTimeout,
    NoPresentationContext,
    PeerRequestedRelease,
    ProtocolError,
)
from .fsm import State
from .names import StatusClass, status_class
from .negotiation import build_request
from .pdu import AssociateRQ
from .scan import Garbled
from .uids import NATIVE, VERIFICATION, DeflatedExplicitVRLittleEndian

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

log = logging.getLogger("dimse.association")

#: bytes of a data set read from disk and handed to the transport at once (whole PDUs): one
#: read and one vectored write per MB, memory bounded by it
SEND_CHUNK = 1 << 20
MAX_RESPONSE_DATASET = 64 << 20
MAX_WINDOW = 64  # outstanding operations we keep at most, whatever a peer grants
_MAX_IOV = 512  # buffers per writev (IOV_MAX is 1024 on Linux)


@dataclass
class Timeouts:
    """Network timeouts in seconds (None: wait forever)."""

    connect: float | None = None
    acse: float | None = 30.0
    dimse: float | None = None
    socket: float | None = 60.0


def _t(value: float | None) -> float | None:
    return value if value else None


def tcp_nodelay_wanted() -> bool:
    """TCP_NODELAY is on unless the environment says ``TCP_NODELAY=0`` (as in DCMTK)."""
    return os.environ.get("TCP_NODELAY", "1").strip() != "0"


def configure_socket(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if tcp_nodelay_wanted() else 0)
    transport.set_write_buffer_limits(high=1 << 20)


class Association:
    """A live association over a TCP stream (either role)."""

    def __init__(
        self,
        conn: Connection,
        channel: Channel,
        timeouts: Timeouts,
    ) -> None:
        self.conn = conn
        self.timeouts = timeouts
        self._channel = channel
        self._message_id = 0
        self._closed = False
        self.peer = channel.transport.get_extra_info("peername")
        #: when the read under way times out (see _watch), and the timer that checks it
        self._read_deadline: float | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ set-up

    @classmethod
    async def request(
        cls,
        host: str,
        port: int,
        rq: AssociateRQ,
        timeouts: Timeouts | None = None,
        max_send_pdu: int = 0,
        family: int = 0,
        ssl: ssl_module.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> Association:
        """Connect and negotiate; raises AssociationRejected, AssociationAborted,
        NetworkTimeout or OSError (connection refused, unknown host; ssl.SSLError for TLS).

        ``family`` (socket.AF_INET, AF_INET6, 0 for any) applies to host names; a literal
        address is used as it is.  ``ssl`` runs the association over TLS; the TLS handshake
        counts against the connect timeout.  ``server_hostname`` is sent as SNI (None: no SNI)."""
        timeouts = timeouts or Timeouts()
        conn = Connection(requestor=True, max_send_pdu=max_send_pdu)
        conn.request(rq)
        try:
            async with asyncio.timeout(_t(timeouts.connect)):
                transport, channel = await asyncio.get_running_loop().create_connection(
                    Channel,
                    host,
                    port,
                    family=0 if _is_literal_address(host) else family,
                    ssl=ssl,
                    server_hostname=(server_hostname or "") if ssl is not None else None,
                )
        except TimeoutError:
            raise NetworkTimeout(f"connection to {host}:{port} timed out") from None
        configure_socket(transport)
        conn.connection_made()
        assoc = cls(conn, channel, timeouts)
        try:
            await assoc._flush()
            event = await assoc._next_event(timeouts.acse, "A-ASSOCIATE response")
        except BaseException:
            await assoc.abort()
            raise
        if isinstance(event, ev.AssociationAccepted):
            return assoc
        await assoc._close()
        if isinstance(event, ev.AssociationRejected):
            rj = event.reject
            raise AssociationRejected(rj.result, rj.source, rj.reason)
        if isinstance(channel.error, ssl_module.SSLError):
            raise channel.error  # the peer's TLS alert says more than "connection closed"
        if ssl is not None and isinstance(event, ev.Aborted) and not event.by_peer:
            # a TLS 1.3 server checks our certificate after the handshake and just hangs up
            raise AssociationAborted(f"{_abort_detail(event)} after the TLS handshake (is our certificate trusted?)")
        raise AssociationAborted(_abort_detail(event))

    # ------------------------------------------------------------------ properties

    @property
    def contexts(self) -> dict[int, PresentationContext]:
        return self.conn.contexts

    @property
    def is_established(self) -> bool:
        return self.conn.state == State.STA6

    def find_context(
        self, abstract_syntax: str, transfer_syntaxes: Sequence[str] | None = None
    ) -> PresentationContext | None:
        """The first accepted context for ``abstract_syntax``, preferring ``transfer_syntaxes`` in order."""
        candidates = [c for c in self.contexts.values() if c.abstract_syntax == abstract_syntax]
        if transfer_syntaxes is None:
            return candidates[0] if candidates else None
        for ts in transfer_syntaxes:
            for ctx in candidates:
                if ctx.transfer_syntax == ts:
                    return ctx
        return None

    def next_message_id(self) -> int:
        self._message_id = self._message_id % 0xFFFF + 1
        return self._message_id

    # ------------------------------------------------------------------ I/O

    async def _flush(self) -> None:
        buffers = self.conn.data_to_send()
        if buffers and not self._closed:
            self._write(buffers)
            if self._channel.transport.get_write_buffer_size():  # else all sent: nothing to wait for
                try:
                    async with asyncio.timeout(_t(self.timeouts.socket)):
                        await self._channel.drain()
                except TimeoutError:
                    raise NetworkTimeout("network send timed out") from None
        if self.conn.should_close:
            await self._close()

    def _write(self, buffers: list[bytes | memoryview]) -> None:
        """PDU headers and payload pieces in one ``writev`` when the transport has nothing
        queued (asyncio's ``writelines`` would first join them into one copy); what the
        socket does not take goes to the transport, which keeps the order and the
        back-pressure."""
        transport = self._channel.transport
        fd = self._channel.fd
        if fd is not None and not transport.is_closing() and not transport.get_write_buffer_size():
            try:
                sent = os.writev(fd, buffers[:_MAX_IOV])
            except OSError:  # would block, or broken: the transport meets it too and reports it
                sent = 0
            done = 0
            while sent and done < len(buffers):
                size = len(buffers[done])
                if sent < size:
                    buffers[done] = memoryview(buffers[done])[sent:]
                    break
                sent -= size
                done += 1
            buffers = buffers[done:]
        if buffers:
            transport.writelines(buffers)

    async def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._channel.transport.close()
        try:
            async with asyncio.timeout(1):
                await self._channel.wait_closed()
        except (OSError, TimeoutError):
            pass

    async def _next_event(self, timeout: float | None, waiting_for: str = "data") -> ev.Event:
        """The next event, reading from the network as needed.

        ``timeout`` bounds the whole wait (ACSE or DIMSE timeout); the socket timeout bounds
        each read; the ARTIM timer is run here whenever the connection asks for it.
        """
        event = self.conn.next_event()
        if event is not None:  # already decoded: no timer to set (once per PDU of a data set)
            return event
        if not timeout:  # no overall limit (the default -td): each read is still bounded
            return await self._next_event_unbounded()
        try:
            async with asyncio.timeout(timeout):
                return await self._next_event_unbounded()
        except TimeoutError:
            raise NetworkTimeout(f"timeout waiting for {waiting_for}") from None

    async def _next_event_unbounded(self) -> ev.Event:
        while True:
            event = self.conn.next_event()
            if event is not None:
                return event
            if self.conn.state == State.STA1 or self._closed:
                raise AssociationAborted("association is closed")
            await self._read_once()

    async def _read_once(self) -> None:
        artim = self.conn.artim_running
        limit = _t(self.timeouts.acse) if artim else _t(self.timeouts.socket)
        try:
            if limit is None:
                data = await self._channel.read()
            else:
                self._watch(limit)
                try:
                    data = await self._channel.read()
                finally:
                    self._read_deadline = None
        except _ReadTimedOut:
            if artim:
                self.conn.timer_expired()
                try:
                    await self._flush()
                except (OSError, NetworkTimeout):
                    pass
                await self._close()
                return
            raise NetworkTimeout("network receive timed out") from None
        except OSError:  # reset, or a TLS alert: the channel keeps it (Channel.error)
            data = b""
        self.conn.receive_data(data)
        if not data:
            self._closed = True
        await self._flush()

    def _watch(self, limit: float) -> None:
        """Bound the read about to start by ``limit`` seconds.

        One timer serves many reads: it is set when none is pending (or when the pending one
        would fire too late), and when it fires before the current read's deadline it is set
        again for that deadline.  A timer made and cancelled for every read (``asyncio.timeout``)
        was a visible share of the time per object."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        self._read_deadline = deadline
        watchdog = self._watchdog
        if watchdog is None or watchdog.when() > deadline:
            if watchdog is not None:
                watchdog.cancel()
            self._watchdog = loop.call_at(deadline, self._watchdog_fired)

    def _watchdog_fired(self) -> None:
        self._watchdog = None
        deadline = self._read_deadline
        if deadline is None or self._closed:
            return  # no read waiting: the next one sets a timer again
        loop = asyncio.get_running_loop()
        if loop.time() >= deadline - 0.001:
            self._channel.fail_read(_ReadTimedOut())  # the waiting read raises it
        else:
            self._watchdog = loop.call_at(deadline, self._watchdog_fired)

    async def receive_command(self, timeout: float | None = None) -> ev.Event:
        """Next CommandReceived, or the ReleaseRequested/Aborted that ends the association."""
        return await self._next_event(timeout, "DIMSE message")

    async def receive_dataset(self, write: Callable[[memoryview], object], timeout: float | None) -> int:
        """Feed the fragments of the data set that follows a command to ``write``; returns its size."""
        size = 0
        while True:
            event = await self._next_event(timeout, "data set")
            if isinstance(event, ev.DataReceived):
                write(event.data)
                size += len(event.data)
                if event.last:
                    return size
            elif isinstance(event, ev.Aborted):
                raise AssociationAborted(_abort_detail(event))
            else:
                await self.abort()
                raise ProtocolError(f"unexpected {type(event).__name__} while receiving a data set")

    async def send_command(self, context_id: int, command: Command) -> None:
        self.conn.send_command(context_id, command)
        await self._flush()

    async def send_dataset_bytes(
        self, context_id: int, data: bytes | memoryview, progress: Callable[[int], object] | None = None
    ) -> None:
        view = memoryview(data)
        step = self.conn.max_fragment
        chunk = step * max(1, SEND_CHUNK // step)  # written (and waited for) a chunk at a time
        for start in range(0, max(len(view), 1), chunk):
            piece = view[start : start + chunk]
            self.conn.send_data(context_id, piece, start + chunk >= len(view))
            if progress is not None:
                _report_fragments(progress, len(piece), step)
            await self._flush()

    async def send_dataset_file(
        self,
        context_id: int,
        path: Path,
        offset: int,
        length: int,
        progress: Callable[[int], object] | None = None,
        pad: bool = False,
    ) -> None:
        """Stream ``length`` bytes of ``path`` from ``offset`` as the data set, piece by piece;
        ``pad`` adds the NUL byte that makes a deflated data set of odd length even (PS3.5 A.5)."""
        step = self.conn.max_fragment
        chunk = step * max(1, SEND_CHUNK // step)  # read, written and waited for a chunk at a time
        remaining = length
        with open(path, "rb", buffering=0) as fp:
            fp.seek(offset)
            while True:
                piece = fp.read(min(chunk, remaining))
                remaining -= len(piece)
                if not piece and remaining > 0:
                    raise BadDicomFile(f"{path} ended {remaining} bytes early")
                if pad and remaining == 0:
                    piece += b"\0"
                self.conn.send_data(context_id, piece, remaining == 0)
                if progress is not None:
                    _report_fragments(progress, len(piece), step)
                await self._flush()
                if remaining == 0:
                    return

    # ------------------------------------------------------------------ requestor services

    async def _response_to(self, message_id: int | Collection[int]) -> tuple[Command, bytes | None]:
        """The next response, which must answer ``message_id`` (or one of several outstanding)."""
        event = await self._next_event(self.timeouts.dimse, "DIMSE response")
        if isinstance(event, ev.Aborted):
            raise AssociationAborted(_abort_detail(event))
        if isinstance(event, ev.ReleaseRequested):
            await self.abort()
            raise PeerRequestedRelease("Peer requested release (Aborting)")
        if not isinstance(event, ev.CommandReceived) or not event.command.is_response:
            await self.abort()
            raise ProtocolError(f"expected a DIMSE response, received {event!r}")
        rsp = event.command
        answered = rsp.get("MessageIDBeingRespondedTo")
        if answered != message_id and (isinstance(message_id, int) or answered not in message_id):
            await self.abort()
            raise ProtocolError(f"response to message {rsp.get('MessageIDBeingRespondedTo')}, expected {message_id}")
        data = None
        if rsp.has_dataset:
            buf = bytearray()

            def collect(piece: memoryview) -> None:
                buf.extend(piece)
                if len(buf) > MAX_RESPONSE_DATASET:
                    raise ProtocolError("response data set too large")

            await self.receive_dataset(collect, self.timeouts.dimse)
            data = bytes(buf)
        return rsp, data

    def _context_or_raise(self, abstract_syntax: str) -> PresentationContext:
        ctx = self.find_context(abstract_syntax)
        if ctx is None:
            raise NoPresentationContext(f"no accepted presentation context for {abstract_syntax}")
        return ctx

    async def echo(self, message_id: int | None = None) -> Command:
        """C-ECHO; returns the response (``.Status``)."""
        ctx = self._context_or_raise(VERIFICATION)
        mid = message_id or self.next_message_id()
        await self.send_command(ctx.context_id, c_echo_rq(mid))
        return (await self._response_to(mid))[0]

    def store_context(self, sop_class: str, transfer_syntax: str) -> PresentationContext:
        """The context to send an object in: its own transfer syntax if accepted, else a
        native one it can be converted to (only from a native syntax)."""
        ctx = self.find_context(sop_class, [transfer_syntax])
        if ctx is None and transfer_syntax in NATIVE:
            ctx = self.find_context(sop_class, NATIVE)
        if ctx is None:
            raise NoPresentationContext(f"no presentation context for {sop_class} in {transfer_syntax}")
        return ctx

    async def store(
        self,
        context_id: int,
        command: Command,
        source: bytes | memoryview | tuple[Path, int, int],
        progress: Callable[[int], object] | None = None,
    ) -> Command:
        """Send a C-STORE-RQ and its data set, return the C-STORE-RSP.

        ``source`` is the encoded data set, or ``(path, offset, length)`` of a file region sent
        as it is on disk; ``progress`` is called with the size of each fragment sent.
        """
        await self.send_store(context_id, command, source, progress)
        return (await self._response_to(command.MessageID))[0]

    async def send_store(
        self,
        context_id: int,
        command: Command,
        source: bytes | memoryview | tuple[Path, int, int],
        progress: Callable[[int], object] | None = None,
    ) -> None:
        """Send a C-STORE-RQ and its data set without waiting for the response (see
        :meth:`store_response`), for an asynchronous operations window larger than one."""
        self.conn.send_command(context_id, command)  # written together with the first fragment
        if isinstance(source, tuple):
            path, offset, length = source
            pad = length % 2 == 1 and self.contexts[context_id].transfer_syntax == DeflatedExplicitVRLittleEndian
            await self.send_dataset_file(context_id, path, offset, length, progress=progress, pad=pad)
        else:
            await self.send_dataset_bytes(context_id, source, progress=progress)

    async def store_response(self, outstanding: Collection[int]) -> Command:
        """The next C-STORE-RSP, which must answer one of the ``outstanding`` message IDs
        (responses may come in any order, PS3.7 D.3.3.3)."""
        return (await self._response_to(outstanding))[0]

    @property
    def operations_window(self) -> int:
        """How many operations we may have outstanding as requestor: the acceptor's answer to
        the asynchronous operations window item (PS3.7 D.3.3.3; 0 there means unlimited,
        capped here at 64); 1 when it did not answer."""
        ac = self.conn.accept_pdu
        if not self.conn.requestor or ac is None or ac.user_info.async_ops is None:
            return 1
        invoked = ac.user_info.async_ops[0]
        return MAX_WINDOW if invoked == 0 else min(invoked, MAX_WINDOW)

    async def store_file(
        self,
        path: str | Path,
        priority: int = PRIORITY_MEDIUM,
        move_originator: tuple[str, int] | None = None,
    ) -> Command:
        """C-STORE a file.  A file whose transfer syntax was accepted is streamed from disk
        unchanged; otherwise it is decoded and re-encoded (native syntaxes only)."""
        path = Path(path)
        try:
            header = read_part10_header(path)
        except BadDicomFile:
            return await self.store_dataset(read_any(path), priority, move_originator)
        try:
            read_sop_uids(header)  # the data set must be whole before it is streamed as it is
        except Garbled:
            return await self.store_dataset(read_any(path), priority, move_originator)
        ctx = self.store_context(header.sop_class, header.transfer_syntax)
        command = c_store_rq(self.next_message_id(), header.sop_class, header.sop_instance, priority, move_originator)
        if ctx.transfer_syntax == header.transfer_syntax:
            source = (path, header.dataset_offset, header.dataset_length)
        else:
            source = encode_dataset(read_any(path), ctx.transfer_syntax)
        return await self.store(ctx.context_id, command, source)

    async def store_dataset(
        self,
        ds: Dataset,
        priority: int = PRIORITY_MEDIUM,
        move_originator: tuple[str, int] | None = None,
    ) -> Command:
        """C-STORE a pydicom data set (encoded in the accepted transfer syntax)."""
        sop_class, sop_instance = ds.get("SOPClassUID"), ds.get("SOPInstanceUID")
        if not sop_class or not sop_instance:
            raise BadDicomFile("data set has no SOP Class UID or SOP Instance UID")
        meta = getattr(ds, "file_meta", None)
        source_ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
        ctx = self.store_context(str(sop_class), source_ts or NATIVE[0])
        command = c_store_rq(self.next_message_id(), str(sop_class), str(sop_instance), priority, move_originator)
        return await self.store(ctx.context_id, command, encode_dataset(ds, ctx.transfer_syntax))

    async def _query(self, command: Command, identifier: Dataset) -> AsyncIterator[tuple[Command, Dataset | None]]:
        ctx = self._context_or_raise(command.AffectedSOPClassUID)
        await self.send_command(ctx.context_id, command)
        await self.send_dataset_bytes(ctx.context_id, encode_dataset(identifier, ctx.transfer_syntax))
        while True:
            rsp, data = await self._response_to(command.MessageID)
            yield rsp, (decode_dataset(data, ctx.transfer_syntax) if data is not None else None)
            if status_class(rsp.get("Status", 0xC000)) != StatusClass.PENDING:
                return

    def find(
        self, identifier: Dataset, sop_class: str, message_id: int | None = None
    ) -> AsyncIterator[tuple[Command, Dataset | None]]:
        """C-FIND: yields (response, identifier) until the final response."""
        return self._query(c_find_rq(message_id or self.next_message_id(), sop_class), identifier)

    def move(
        self, identifier: Dataset, destination: str, sop_class: str, message_id: int | None = None
    ) -> AsyncIterator[tuple[Command, Dataset | None]]:
        """C-MOVE: yields (response, identifier) until the final response."""
        return self._query(c_move_rq(message_id or self.next_message_id(), sop_class, destination), identifier)

    async def cancel(self, message_id: int, sop_class: str) -> None:
        """C-CANCEL the operation ``message_id``."""
        await self.send_command(self._context_or_raise(sop_class).context_id, c_cancel_rq(message_id))

    # ------------------------------------------------------------------ ending

    async def release(self) -> None:
        """A-RELEASE; waits (ACSE timeout) for the peer's answer, then closes."""
        if self.conn.state != State.STA6:
            return await self._close()
        self.conn.release()
        await self._flush()
        try:
            while self.conn.state != State.STA1:
                event = await self._next_event(self.timeouts.acse, "A-RELEASE response")
                if isinstance(event, ev.ReleaseRequested):  # release collision
                    self.conn.release_response()
                    await self._flush()
                elif isinstance(event, ev.Aborted):
                    raise AssociationAborted(_abort_detail(event))
                elif isinstance(event, ev.ReleaseConfirmed):
                    if self.conn.state == State.STA12:
                        self.conn.release_response()
                        await self._flush()
                    else:
                        break
        except NetworkTimeout:
            await self.abort()
            raise
        finally:
            await self._close()

    async def abort(self, source: int = 0, reason: int = 0) -> None:
        """A-ABORT (``source``/``reason`` as :meth:`Connection.abort`) and close at once."""
        if not self._closed:
            self.conn.abort(source, reason)
            try:
                await self._flush()
            except (OSError, NetworkTimeout):
                pass
        await self._close()


def _report_fragments(progress: Callable[[int], object], size: int, step: int) -> None:
    """``progress`` once per fragment of ``step`` bytes that ``size`` bytes were sent as."""
    for start in range(0, max(size, 1), step):
        progress(min(step, size - start))


class _ReadTimedOut(NetworkTimeout):
    """A read outlived its deadline: raised into the waiting read by the watchdog (and by the
    stream from then on: the association is over)."""


def _is_literal_address(host: str) -> bool:
    """An IPv4 or IPv6 address written out (not a name to resolve)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host.split("%", 1)[0] if family == socket.AF_INET6 else host)
        except (OSError, ValueError):
            continue
        return True
    return False


def _abort_detail(event: ev.Event) -> str:
    if isinstance(event, ev.Aborted):
        if event.by_peer:
            return "Peer Aborted Association"
        return event.detail or "association aborted by the network layer"
    return f"unexpected {type(event).__name__}"


async def associate(
    host: str,
    port: int,
    contexts: Sequence[tuple[str, Sequence[str]]],
    calling_ae: str = "DIMSE",
    called_ae: str = "ANY-SCP",
    max_pdu: int = 16384,
    timeouts: Timeouts | None = None,
    max_send_pdu: int = 0,
    ssl: ssl_module.SSLContext | None = None,
    **user_info_extra,
) -> Association:
    """Open an association proposing ``(abstract syntax, [transfer syntaxes])`` pairs.

    ``user_info_extra`` adds user information sub-items (``user_identity_rq``, ``roles``,
    ``extended``, ``async_ops`` ...) to the request."""
    rq = build_request(calling_ae, called_ae, contexts, max_pdu, **user_info_extra)
    return await Association.request(host, port, rq, timeouts, max_send_pdu, ssl=ssl)
