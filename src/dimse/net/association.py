"""The asyncio driver: one :class:`Association` runs a sans-IO Connection over a TCP stream.

No polling and no sleeps: the driver awaits the socket, feeds what arrives to the
connection, and writes what the connection produced, with ``drain()`` as back-pressure.
Timeouts have DCMTK's meanings: ``connect`` (-to), ``acse`` (-ta), ``dimse`` (-td) and
``socket`` (-ts, any single wait for the network); ``None`` or 0 means none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl as ssl_module
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..core import events as ev
from ..core.commands import (
    C_ECHO_RSP,
    C_STORE_RSP,
    PRIORITY_MEDIUM,
    Command,
    c_cancel_rq,
    c_echo_rq,
    c_find_rq,
    c_move_rq,
    c_store_rq,
)
from ..core.connection import Connection, PeerProtocolError, PresentationContext, Violation
from ..core.fsm import State
from ..core.negotiation import build_request
from ..core.pdu import AssociateRQ
from ..dcmtk.texts import StatusClass, status_class
from ..errors import (
    AssociationAborted,
    AssociationRejected,
    DimseError,
    LocalProtocolError,
    NetworkTimeout,
    NoPresentationContext,
    PeerRequestedRelease,
    ProtocolError,
    UnknownHost,
)
from ..files.part10 import (
    FILE_ERROR,
    PREMATURE_END,
    BadDicomFile,
    SourceChanged,
    decode_dataset,
    encode_dataset,
    read_any,
    read_part10_header,
    read_sop_uids,
)
from ..files.scan import Garbled
from ..uids import NATIVE, VERIFICATION, DeflatedExplicitVRLittleEndian
from .channel import Channel

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

log = logging.getLogger("dimse.association")

#: bytes of a data set read from disk and handed to the transport at once (whole PDUs): one
#: read and one vectored write per MB, memory bounded by it
SEND_CHUNK = 1 << 20
MAX_RESPONSE_DATASET = 64 << 20
MAX_WINDOW = 64  # outstanding operations we keep at most, whatever a peer grants
#: responses that never carry a data set (PS3.7 9.3.1.2, 9.3.5.2), in DCMTK's words
_NO_DATASET_RESPONSES = {C_STORE_RSP: "C-Store RSP", C_ECHO_RSP: "C-Echo RSP"}
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
        NetworkTimeout (``kind`` CONNECT or ACSE), UnknownHost (a ``socket.gaierror``) or
        OSError (connection refused; ssl.SSLError for TLS).

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
        except socket.gaierror as exc:
            raise UnknownHost(host, exc.errno, exc.strerror or str(exc)) from None
        except TimeoutError:
            raise NetworkTimeout(f"connection to {host}:{port} timed out", NetworkTimeout.CONNECT) from None
        configure_socket(transport)
        conn.connection_made()
        assoc = cls(conn, channel, timeouts)
        try:
            await assoc._flush()
            event = await assoc._next_event(timeouts.acse, "A-ASSOCIATE response", NetworkTimeout.ACSE)
        except NetworkTimeout as exc:
            await assoc.abort()
            if exc.kind == NetworkTimeout.SEND:
                raise
            # the ACSE timer or a read's socket timeout: one ACSE timeout to the caller, as in DCMTK
            raise NetworkTimeout(str(exc), NetworkTimeout.ACSE) from None
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
                    raise NetworkTimeout("network send timed out", NetworkTimeout.SEND) from None
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

    async def _next_event(
        self,
        timeout: float | None,
        waiting_for: str = "data",
        kind: str = NetworkTimeout.DIMSE,
        idle_reads_bounded: bool = True,
    ) -> ev.Event:
        """The next event, reading from the network as needed.

        ``timeout`` bounds the whole wait (ACSE or DIMSE timeout); the socket timeout bounds
        each read -- with ``idle_reads_bounded`` False and a ``timeout`` running, only reads
        in the middle of a PDU (DCMTK's non-blocking DIMSE mode: -td, not -ts, bounds the
        wait for a message); the ARTIM timer is run here whenever the connection asks for it.
        """
        event = self.conn.next_event()
        if event is not None:  # already decoded: no timer to set (once per PDU of a data set)
            return event
        if not timeout:  # no overall limit (the default -td): each read is still bounded
            return await self._next_event_unbounded()
        try:
            async with asyncio.timeout(timeout):
                return await self._next_event_unbounded(idle_reads_bounded)
        except TimeoutError:
            raise NetworkTimeout(f"timeout waiting for {waiting_for}", kind) from None

    async def _next_event_unbounded(self, idle_reads_bounded: bool = True) -> ev.Event:
        while True:
            event = self.conn.next_event()
            if event is not None:
                return event
            if self.conn.state == State.STA1 or self._closed:
                raise AssociationAborted("association is closed")
            await self._read_once(idle_reads_bounded)

    async def _read_once(self, idle_reads_bounded: bool = True) -> None:
        artim = self.conn.artim_running
        if artim:
            limit = _t(self.timeouts.acse)
        elif idle_reads_bounded or self.conn.pdu_incomplete:
            limit = _t(self.timeouts.socket)
        else:
            limit = None
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
            raise await self._read_timed_out(limit) from None
        except OSError:  # reset, or a TLS alert: the channel keeps it (Channel.error)
            data = b""
        self.conn.receive_data(data)
        if not data:
            self._closed = True
        await self._flush()

    async def _read_timed_out(self, limit: float) -> NetworkTimeout:
        """What a read cut off by the socket timeout means: a peer that stopped in the middle
        of a PDU; one that went silent between PDUs of an established association (aborted
        here: DCMTK's upper layer counts it as the peer's abort); else a plain timeout."""
        if self.conn.pdu_incomplete:
            return PeerStalled(f"peer sent part of a PDU, then nothing for {limit:g} s", NetworkTimeout.READ)
        if self.conn.state == State.STA6:
            await self.abort()
            return PeerSilent("network receive timed out", NetworkTimeout.READ)
        return NetworkTimeout("network receive timed out", NetworkTimeout.READ)

    def _aborted_error(self, event: ev.Aborted) -> DimseError:
        """The error an Aborted event is for the caller: what the peer sent, when that made
        the connection abort the association; else the abort itself."""
        if not event.by_peer and self.conn.violation is not None:
            return self.conn.violation
        return AssociationAborted(_abort_detail(event))

    def _why_over(self, exc: LocalProtocolError) -> DimseError:
        """Why a send was refused by the connection (``exc``): the abort still queued -- a
        peer's garbage or A-ABORT that arrived with the last response --; else, on an
        association already over, an AssociationOver saying why it ended; else ``exc``."""
        while (event := self.conn.next_event()) is not None:
            if isinstance(event, ev.Aborted):
                return self._aborted_error(event)
        if self.conn.state in (State.STA1, State.STA13):
            violation = self.conn.violation
            return AssociationOver(f"association already aborted: {violation}" if violation else "association is over")
        return exc

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
                raise self._aborted_error(event)
            else:
                await self.abort()
                raise ProtocolError(f"unexpected {type(event).__name__} while receiving a data set")

    async def send_command(self, context_id: int, command: Command) -> None:
        try:
            self.conn.send_command(context_id, command)
        except LocalProtocolError as exc:
            raise self._why_over(exc) from None
        await self._flush()

    async def send_dataset_bytes(
        self, context_id: int, data: bytes | memoryview, progress: Callable[[int], object] | None = None
    ) -> None:
        view = memoryview(data)
        step = self.conn.max_fragment
        chunk = step * max(1, SEND_CHUNK // step)  # written (and waited for) a chunk at a time
        for start in range(0, max(len(view), 1), chunk):
            piece = view[start : start + chunk]
            try:
                self.conn.send_data(context_id, piece, start + chunk >= len(view))
            except LocalProtocolError as exc:
                raise self._why_over(exc) from None
            if progress is not None:
                _report_fragments(progress, len(piece), step)
            await self._flush()

    async def send_dataset_file(
        self,
        context_id: int,
        path: str | Path | BinaryIO,
        offset: int,
        length: int,
        progress: Callable[[int], object] | None = None,
        pad: bool = False,
    ) -> None:
        """Stream ``length`` bytes of ``path`` (or of a file already open) from ``offset`` as
        the data set, piece by piece; ``pad`` adds the NUL byte that makes a deflated data set
        of odd length even (PS3.5 A.5).  A file that turns out shorter than announced (it was
        truncated meanwhile) or cannot be read aborts the association: the peer must not
        take half a data set for a whole one (raises :class:`SourceChanged`)."""
        step = self.conn.max_fragment
        chunk = step * max(1, SEND_CHUNK // step)  # read, written and waited for a chunk at a time
        with open(path, "rb", buffering=0) if isinstance(path, (str, Path)) else contextlib.nullcontext(path) as fp:
            fd, position, remaining = fp.fileno(), offset, length
            while True:
                try:
                    piece = os.pread(fd, min(chunk, remaining), position)
                except OSError as exc:
                    await self.abort()
                    detail = "reading it failed while it was being sent"
                    raise SourceChanged(exc.strerror or str(exc), FILE_ERROR, detail) from None
                if not piece and remaining > 0:
                    await self.abort()
                    raise SourceChanged(
                        "I/O suspension or premature end of stream",
                        PREMATURE_END,
                        f"the file ended {remaining} bytes early while it was being sent",
                    )
                remaining -= len(piece)
                position += len(piece)
                if pad and remaining == 0:
                    piece += b"\0"
                self.conn.send_data(context_id, piece, remaining == 0)
                if progress is not None:
                    _report_fragments(progress, len(piece), step)
                await self._flush()
                if remaining == 0:
                    return

    # ------------------------------------------------------------------ requestor services

    async def _response_to(self, message_id: int | Collection[int], expected: int) -> tuple[Command, bytes | None]:
        """The next response, which must be an ``expected`` (Command Field) answering
        ``message_id`` (or one of several outstanding); else the association is aborted at
        once and a PeerProtocolError says what came instead, checked in DCMTK's order."""
        event = await self._next_event(self.timeouts.dimse, "DIMSE response", idle_reads_bounded=False)
        if isinstance(event, ev.Aborted):
            raise self._aborted_error(event)
        if isinstance(event, ev.ReleaseRequested):
            await self.abort()
            raise PeerRequestedRelease("Peer requested release (Aborting)")
        if not isinstance(event, ev.CommandReceived):
            await self.abort()
            raise ProtocolError(f"expected a DIMSE response, received {event!r}")
        rsp = event.command
        problem = self._wrong_response(rsp, message_id, expected)
        if problem is not None:
            await self.abort()
            raise problem
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

    def _wrong_response(
        self, rsp: Command, message_id: int | Collection[int], expected: int
    ) -> PeerProtocolError | None:
        """What is wrong with ``rsp`` as the answer awaited, if anything."""
        field_ = rsp.CommandField
        if rsp.has_dataset and field_ in _NO_DATASET_RESPONSES:
            rq = self.conn.request_pdu
            log.warning(
                "DIMSE Warning: (%s,%s): %s: DataSetType != NULL",
                rq.calling_ae if rq else "",
                rq.called_ae if rq else "",
                _NO_DATASET_RESPONSES[field_],
            )
            dataset_type = rsp.get("CommandDataSetType")
            return PeerProtocolError(
                Violation.UNEXPECTED_DATASET,
                f"peer sent a {rsp.name} that announces a data set (Command Data Set Type 0x{dataset_type:04x})",
            )
        if field_ != expected:
            return PeerProtocolError(Violation.UNEXPECTED_COMMAND, f"DIMSE: Unexpected Response Command Field: 0x{field_:x}")
        answered = rsp.get("MessageIDBeingRespondedTo")
        if answered != message_id and (isinstance(message_id, int) or answered not in message_id):
            awaited = message_id if isinstance(message_id, int) else ", ".join(str(m) for m in sorted(message_id))
            return PeerProtocolError(
                Violation.UNEXPECTED_MESSAGE_ID, f"DIMSE: Unexpected Response MsgId: {answered} (expected: {awaited})"
            )
        return None

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
        return (await self._response_to(mid, C_ECHO_RSP))[0]

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
        source: bytes | memoryview | tuple[str | Path | BinaryIO, int, int],
        progress: Callable[[int], object] | None = None,
    ) -> Command:
        """Send a C-STORE-RQ and its data set, return the C-STORE-RSP.

        ``source`` is the encoded data set, or ``(path, offset, length)`` of a file region sent
        as it is on disk; ``progress`` is called with the size of each fragment sent.
        """
        await self.send_store(context_id, command, source, progress)
        return (await self._response_to(command.MessageID, C_STORE_RSP))[0]

    async def send_store(
        self,
        context_id: int,
        command: Command,
        source: bytes | memoryview | tuple[str | Path | BinaryIO, int, int],
        progress: Callable[[int], object] | None = None,
    ) -> None:
        """Send a C-STORE-RQ and its data set without waiting for the response (see
        :meth:`store_response`), for an asynchronous operations window larger than one."""
        try:
            self.conn.send_command(context_id, command)  # written together with the first fragment
        except LocalProtocolError as exc:
            raise self._why_over(exc) from None
        if isinstance(source, tuple):
            path, offset, length = source
            pad = length % 2 == 1 and self.contexts[context_id].transfer_syntax == DeflatedExplicitVRLittleEndian
            await self.send_dataset_file(context_id, path, offset, length, progress=progress, pad=pad)
        else:
            await self.send_dataset_bytes(context_id, source, progress=progress)

    async def store_response(self, outstanding: Collection[int]) -> Command:
        """The next C-STORE-RSP, which must answer one of the ``outstanding`` message IDs
        (responses may come in any order, PS3.7 D.3.3.3)."""
        return (await self._response_to(outstanding, C_STORE_RSP))[0]

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
            rsp, data = await self._response_to(command.MessageID, command.CommandField | 0x8000)
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
                event = await self._next_event(self.timeouts.acse, "A-RELEASE response", NetworkTimeout.ACSE)
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


class PeerSilent(NetworkTimeout, AssociationAborted):
    """Nothing arrived within the socket timeout (-ts) while the next PDU of an established
    association was awaited.  DCMTK's upper layer reports this as the peer aborting the
    association, and so do DCMTK's tools; it is both a NetworkTimeout (kind READ) and an
    AssociationAborted, and the association has been aborted."""


class PeerStalled(NetworkTimeout):
    """The peer sent part of a PDU and then nothing within the socket timeout (-ts)."""


class AssociationOver(LocalProtocolError):
    """Something was to be sent on an association that had already ended (the reason it
    ended was reported before)."""


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
