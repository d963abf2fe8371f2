"""The transport driver: a sans-IO Connection run over one asyncio connection (a Channel).

No polling and no sleeps: the driver awaits the socket, feeds what arrives to the
connection, and writes what the connection produced, with ``drain()`` as back-pressure.
Timeouts have DCMTK's meanings: ``connect`` (-to), ``acse`` (-ta), ``dimse`` (-td) and
``socket`` (-ts, any single wait for the network); ``None`` or 0 means none.  What DIMSE
services are made of this is :class:`dimse.net.association.Association`'s business.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..core import events as ev
from ..core.commands import Command
from ..core.connection import Connection
from ..core.fsm import State
from ..core.record import Record
from ..errors import AssociationAborted, DimseError, LocalProtocolError, NetworkTimeout, ProtocolError
from ..files.part10 import FILE_ERROR, PREMATURE_END, SourceChanged, file_error
from .channel import Channel
from .errors import AssociationOver, PeerSilent, PeerStalled, connection_lost

#: bytes of a data set read from disk and handed to the transport at once (whole PDUs): one
#: read and one vectored write per MB, memory bounded by it
SEND_CHUNK = 1 << 20
_MAX_IOV = 512  # buffers per writev (IOV_MAX is 1024 on Linux)


class Timeouts(Record):
    """Network timeouts in seconds (None: wait forever)."""

    __slots__ = ("connect", "acse", "dimse", "socket")

    def __init__(
        self,
        connect: float | None = None,
        acse: float | None = 30.0,
        dimse: float | None = None,
        socket: float | None = 60.0,
    ) -> None:
        self.connect = connect
        self.acse = acse
        self.dimse = dimse
        self.socket = socket


def as_limit(value: float | None) -> float | None:
    """A timeout as asyncio takes it: None for none (0 too, as in DCMTK)."""
    return value if value else None


def tcp_nodelay_wanted() -> bool:
    """TCP_NODELAY is on unless the environment says ``TCP_NODELAY=0`` (as in DCMTK)."""
    return os.environ.get("TCP_NODELAY", "1").strip() != "0"


def configure_socket(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if tcp_nodelay_wanted() else 0)
    if isinstance(transport, asyncio.WriteTransport):
        transport.set_write_buffer_limits(high=1 << 20)


class _ReadTimedOut(NetworkTimeout):
    """A read outlived its deadline: raised into the waiting read by the watchdog (and by the
    stream from then on: the association is over)."""


def abort_detail(event: ev.Event) -> str:
    """What an event that ended an association means, in words."""
    if isinstance(event, ev.Aborted):
        if event.by_peer:
            return "Peer Aborted Association"
        return event.detail or "association aborted by the network layer"
    return f"unexpected {type(event).__name__}"


def open_input(path: str | Path | BinaryIO) -> contextlib.AbstractContextManager[BinaryIO]:
    """A data set's file opened for sending (a file already open is used as it is, and left
    open); a file that cannot be opened is a :class:`BadDicomFile` (nothing was sent)."""
    if not isinstance(path, (str, Path)):
        return contextlib.nullcontext(path)
    try:
        return open(path, "rb", buffering=0)
    except OSError as exc:
        raise file_error(exc) from None


def aborted(event: ev.Event, suffix: str = "") -> AssociationAborted:
    """The AssociationAborted an event that ended an association is to the caller, with what
    the event knows of the abort (who sent it, its source and reason)."""
    if not isinstance(event, ev.Aborted):
        return AssociationAborted(abort_detail(event) + suffix, by_peer=False)
    return AssociationAborted(
        abort_detail(event) + suffix, by_peer=event.by_peer, source=event.source, reason=event.reason
    )


def _report_fragments(progress: Callable[[int], object], size: int, step: int) -> None:
    """``progress`` once per fragment of ``step`` bytes that ``size`` bytes were sent as."""
    for start in range(0, max(size, 1), step):
        progress(min(step, size - start))


class Driver:
    """Moves bytes between a :class:`Connection` and its :class:`Channel`, under the timeouts."""

    def __init__(self, conn: Connection, channel: Channel, timeouts: Timeouts) -> None:
        self.conn = conn
        self.timeouts = timeouts
        self._channel = channel
        transport = channel.transport
        assert transport is not None, "the channel is connected (and TLS, if any, started)"
        self._transport = transport
        self._closed = False
        self.peer = transport.get_extra_info("peername")
        #: when the read under way times out (see _watch), and the timer that checks it
        self._read_deadline: float | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ writing

    async def flush(self) -> None:
        """Write what the connection produced (waiting while the transport is full), and close
        when the connection says so."""
        buffers = self.conn.data_to_send()
        if buffers and not self._closed:
            self._write(buffers)
            if self._transport.get_write_buffer_size():  # else all sent: nothing to wait for
                try:
                    async with asyncio.timeout(as_limit(self.timeouts.socket)):
                        await self._channel.drain()
                except TimeoutError:
                    raise NetworkTimeout("network send timed out", NetworkTimeout.SEND) from None
                except OSError as exc:  # the connection went away under us
                    raise connection_lost(exc) from exc
        if self.conn.should_close:
            await self.close()

    def _write(self, buffers: list[bytes | memoryview]) -> None:
        """PDU headers and payload pieces in one ``writev`` when the transport has nothing
        queued (asyncio's ``writelines`` would first join them into one copy); what the
        socket does not take goes to the transport, which keeps the order and the
        back-pressure."""
        transport = self._transport
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
        if buffers and not transport.is_closing():
            # a closing transport (the peer went away) drops what it is given, and after a
            # few calls logs asyncio's bare "socket.send() raised exception." on stderr; the
            # loss itself is reported where it is met (the read, or the drain)
            transport.writelines(buffers)

    async def close(self) -> None:
        """Close the connection (no PDU is sent: see :meth:`abort`); waits a moment for it."""
        if self._closed:
            return
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._transport.close()
        try:
            async with asyncio.timeout(1):
                await self._channel.wait_closed()
        except (OSError, TimeoutError):
            pass

    async def abort(self, source: int = 0, reason: int = 0) -> None:
        """A-ABORT (``source``/``reason`` as :meth:`Connection.abort`) and close at once."""
        if not self._closed:
            self.conn.abort(source, reason)
            try:
                await self.flush()
            except (OSError, NetworkTimeout):
                pass
        await self.close()

    # ------------------------------------------------------------------ reading

    async def next_event(
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
                raise AssociationAborted("association is closed", by_peer=False)
            await self._read_once(idle_reads_bounded)

    def _read_limit(self, idle_reads_bounded: bool) -> float | None:
        """How long the next read may wait: ARTIM while it runs, else the socket timeout
        (only in the middle of a PDU when idle reads are not bounded)."""
        if self.conn.artim_running:
            return as_limit(self.timeouts.acse)
        if idle_reads_bounded or self.conn.pdu_incomplete:
            return as_limit(self.timeouts.socket)
        return None

    async def _read_once(self, idle_reads_bounded: bool = True) -> None:
        artim = self.conn.artim_running
        limit = self._read_limit(idle_reads_bounded)
        data: bytes | memoryview
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
                await self._artim_expired()
                return
            raise await self._read_timed_out(limit or 0.0) from None
        except OSError:  # reset, or a TLS alert: the channel keeps it (Channel.error)
            data = b""
        self.conn.receive_data(data)
        if not data:
            self._closed = True
        await self.flush()

    async def _artim_expired(self) -> None:
        """The ARTIM timer ran out (PS3.8 Evt18): the connection is dropped."""
        self.conn.timer_expired()
        try:
            await self.flush()
        except (OSError, NetworkTimeout):
            pass
        await self.close()

    async def _read_timed_out(self, limit: float) -> NetworkTimeout:
        """What a read cut off by the socket timeout means: a peer that stopped in the middle
        of a PDU; one that went silent between PDUs of an established association (aborted
        here: DCMTK's upper layer counts it as the peer's abort); else a plain timeout."""
        if self.conn.pdu_incomplete:
            return PeerStalled(f"peer sent part of a PDU, then nothing for {limit:g} s", NetworkTimeout.READ)
        if self.conn.is_established:
            await self.abort()
            return PeerSilent("network receive timed out", NetworkTimeout.READ)
        return NetworkTimeout("network receive timed out", NetworkTimeout.READ)

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

    def aborted_error(self, event: ev.Aborted) -> DimseError:
        """The error an Aborted event is for the caller: what the peer sent, when that made
        the connection abort the association; else the abort itself."""
        if not event.by_peer and self.conn.violation is not None:
            return self.conn.violation
        return aborted(event)

    def _why_over(self, exc: LocalProtocolError) -> DimseError:
        """Why a send was refused by the connection (``exc``): the abort still queued -- a
        peer's garbage or A-ABORT that arrived with the last response; left in the queue,
        behind the responses that came first, which stay readable --; else, on an
        association already over, an AssociationOver saying why it ended; else ``exc``."""
        event = self.conn.queued_abort()
        if event is not None:
            return self.aborted_error(event)
        if self.conn.state in (State.STA1, State.STA13):
            violation = self.conn.violation
            return AssociationOver(f"association already aborted: {violation}" if violation else "association is over")
        return exc

    # ------------------------------------------------------------------ DIMSE messages

    async def receive_command(self, timeout: float | None = None) -> ev.Event:
        """Next CommandReceived, or the ReleaseRequested/Aborted that ends the association."""
        return await self.next_event(timeout, "DIMSE message")

    async def receive_dataset(self, write: Callable[[memoryview], object], timeout: float | None) -> int:
        """Feed the fragments of the data set that follows a command to ``write``; returns its size."""
        size = 0
        while True:
            event = await self.next_event(timeout, "data set")
            if isinstance(event, ev.DataReceived):
                write(event.data)
                size += len(event.data)
                if event.last:
                    return size
            elif isinstance(event, ev.Aborted):
                raise self.aborted_error(event)
            else:
                await self.abort()
                raise ProtocolError(f"unexpected {type(event).__name__} while receiving a data set")

    def queue_command(self, context_id: int, command: Command) -> None:
        """A command set, written with whatever is flushed next (its data set's first piece)."""
        try:
            self.conn.send_command(context_id, command)
        except LocalProtocolError as exc:
            raise self._why_over(exc) from None

    async def send_command(self, context_id: int, command: Command) -> None:
        self.queue_command(context_id, command)
        await self.flush()

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
            await self.flush()

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
        truncated meanwhile) or cannot be read aborts the association: the peer must not take
        half a data set for a whole one (raises :class:`SourceChanged`)."""
        with open_input(path) as fp:
            await self._send_region(context_id, fp.fileno(), offset, length, progress, pad)

    async def _send_region(
        self, context_id: int, fd: int, offset: int, length: int, progress: Callable[[int], object] | None, pad: bool
    ) -> None:
        step = self.conn.max_fragment
        chunk = step * max(1, SEND_CHUNK // step)  # read, written and waited for a chunk at a time
        position, remaining = offset, length
        while True:
            piece = await self._read_source(fd, min(chunk, remaining), position, remaining)
            remaining -= len(piece)
            position += len(piece)
            if pad and remaining == 0:
                piece += b"\0"
            self.conn.send_data(context_id, piece, remaining == 0)
            if progress is not None:
                _report_fragments(progress, len(piece), step)
            await self.flush()
            if remaining == 0:
                return

    async def _read_source(self, fd: int, size: int, position: int, remaining: int) -> bytes:
        """The next piece of a data set sent from disk; a file that cannot be read or ends
        early aborts the association (:class:`SourceChanged`)."""
        try:
            piece = os.pread(fd, size, position)
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
        return piece
