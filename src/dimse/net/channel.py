"""The asyncio protocol under an association: the socket reads into one reused buffer.

asyncio's streams copy each received byte three times (into the reader's buffer, then twice out
of it) and allocate every read afresh.  Here the transport reads straight into a buffer the
connection keeps (``recv_into``, or the TLS layer's equivalent), and :meth:`Channel.read` hands
what arrived to the driver as a view, without a copy.  The driver calls ``read`` only once it
has used everything it took before, so the space is then free again: the buffer is rewound, or
the few unread bytes moved to its start.  When it fills up, reading pauses and the data waits in
the kernel (back-pressure); a buffer that fills up is grown, up to ``MAX_BUFFER``, so a large
transfer moves in large reads while an idle or hostile connection holds little memory.

Over plain TCP, a read that finds nothing buffered first asks the socket itself (one
non-blocking ``readv``): what arrived while the driver was busy -- the response to the request
just sent, the data set after its command -- is taken without a turn of the event loop.  The
transport, still watching the socket, then finds it empty and waits on.

Before a read waits, the socket is told to acknowledge what it holds now (Linux's
``TCP_QUICKACK``).  A peer that writes a PDU in pieces with Nagle's algorithm on -- DCMTK's
tools unless ``TCP_NODELAY`` is set in their environment -- holds each piece after the first
until that one is acknowledged, and the kernel delays an acknowledgement up to 40 ms, hoping
to carry it on an answer that cannot come before the rest of the PDU: 40 ms per message, a
storescu of small files twenty times slower.  One ``setsockopt`` per wait sends the pending
acknowledgement at once.

Writing goes through the transport, with the usual flow control (:meth:`Channel.drain`).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable

#: buffer of a new connection: an association request, a command, a small object
FIRST_BUFFER = 32 << 10
#: the most a connection's buffer grows to (two of the largest PDUs we ask for, and more)
MAX_BUFFER = 1 << 20
#: Linux's option to acknowledge received data now (None elsewhere: nothing is done)
TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class Channel(asyncio.BufferedProtocol):
    """One connection's protocol object (see the module's docstring)."""

    def __init__(self, on_connected: Callable[[Channel], object] | None = None) -> None:
        self._buffer = bytearray(FIRST_BUFFER)
        self._view = memoryview(self._buffer)
        self._start = 0  # bytes before this were handed to the driver
        self._end = 0  # bytes before this were received
        self._filled = False  # reading paused because the buffer was full
        self._eof = False
        self._lost = False
        self._read_waiter: asyncio.Future | None = None
        self._read_error: BaseException | None = None  # raised by the next read (a timeout)
        self._write_paused = False
        self._drain_waiter: asyncio.Future | None = None
        self._on_connected = on_connected
        self._closed: asyncio.Future | None = None
        self.transport: asyncio.Transport | None = None
        #: the socket's descriptor, for direct reads and vectored writes (plain TCP only)
        self.fd: int | None = None
        #: the TCP socket under the transport (plain or TLS), told to acknowledge before a wait
        self._tcp: socket.socket | None = None
        #: why the connection was lost, if not cleanly (a TLS alert, a reset)
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ the transport's side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._closed = asyncio.get_running_loop().create_future()
        self.fd = _plain_fd(transport)
        self._tcp = _tcp_socket(transport)
        if self._on_connected is not None:
            self._on_connected(self)

    def replace_transport(self, transport: asyncio.BaseTransport) -> None:
        """The transport after ``loop.start_tls``: the socket now carries TLS records, so no
        more direct reads from it."""
        self.transport = transport  # type: ignore[assignment]
        self.fd = _plain_fd(transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view[self._end :]

    def buffer_updated(self, nbytes: int) -> None:
        self._end += nbytes
        if len(self._buffer) - self._end < len(self._buffer) // 4 and not self._filled and self.transport is not None:
            self._filled = True  # resumed by read() once there is room again
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake_reader()
        # over plain TCP keep the transport for what we still have to send (as asyncio's
        # streams do); the TLS layer closes by itself
        return self.transport is not None and self.transport.get_extra_info("sslcontext") is None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.fd is not None and not self._eof:
            self._read_remains(self.fd)
        self._eof = self._lost = True
        if exc is not None and self.error is None:
            self.error = exc
        self._wake_reader()
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("Connection lost"))
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _wake_reader(self) -> None:
        waiter, self._read_waiter = self._read_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ------------------------------------------------------------------ the driver's side

    async def read(self) -> memoryview:
        """What arrived since the last call, as a view of the buffer (empty: the peer closed).

        Everything returned by earlier calls must be used up by now: its space is reused."""
        if self._read_error is not None:
            raise self._read_error
        if self._start == self._end:
            self._start = self._end = 0
            self._make_room()
            if self.fd is not None and not self._eof and not self._filled:
                self._read_now(self.fd)
            while self._end == 0:
                if self._eof:
                    if isinstance(self.error, OSError):
                        raise self.error
                    return self._view[:0]
                self._acknowledge()
                self._read_waiter = asyncio.get_running_loop().create_future()
                await self._read_waiter
                if self._read_error is not None:
                    raise self._read_error
        elif self._filled:
            self._make_room()
        chunk = self._view[self._start : self._end]
        self._start = self._end
        return chunk

    def _make_room(self) -> None:
        """Move the unread bytes to the start (growing a buffer that filled up), and read on."""
        if not self._filled:
            return
        pending = bytes(self._view[self._start : self._end])
        if len(self._buffer) < MAX_BUFFER:
            self._buffer = bytearray(min(len(self._buffer) * 4, MAX_BUFFER))
            self._view = memoryview(self._buffer)  # views handed out earlier keep the old one
        self._view[: len(pending)] = pending
        self._start, self._end = 0, len(pending)
        if len(self._buffer) - self._end >= len(self._buffer) // 4 and self.transport is not None:
            self._filled = False
            if not self.transport.is_closing():
                self.transport.resume_reading()

    def _read_now(self, fd: int) -> None:
        """Whatever the socket has right now, without waiting (see the module's docstring)."""
        try:
            n = os.readv(fd, [self._view[self._end :]])
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # reset: the transport meets it too and closes
            self.error = self.error or exc
            self._eof = True
            return
        if n == 0:
            self._eof = True
        else:
            self.buffer_updated(n)

    def _acknowledge(self) -> None:
        """Acknowledge now what the socket received (see the module's docstring)."""
        if self._tcp is not None and TCP_QUICKACK is not None:
            try:
                self._tcp.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)
            except OSError:  # closed under us: the read finds out
                self._tcp = None

    def _read_remains(self, fd: int) -> None:
        """What the socket still holds when the transport gives up on it (still open here).

        A write that meets a reset (the peer closed with our requests unread) makes asyncio
        drop the connection at once, while the peer's last PDUs -- the responses it did send,
        its A-ABORT -- may still wait unread in the kernel: they are taken now, as far as the
        buffer has room, so that no answered request is counted as unanswered."""
        while not self._eof and self._end < len(self._buffer):
            before = self._end
            self._read_now(fd)
            if self._end == before:
                return

    def fail_read(self, exc: BaseException) -> None:
        """Make the read under way (and every later one) raise ``exc``: a timeout."""
        self._read_error = exc
        self._wake_reader()

    async def drain(self) -> None:
        """Wait until the transport takes more data (flow control)."""
        if self._lost:
            raise ConnectionResetError("Connection lost")
        if not self._write_paused:
            return
        self._drain_waiter = asyncio.get_running_loop().create_future()
        await self._drain_waiter

    async def wait_closed(self) -> None:
        if self._closed is not None:
            await asyncio.shield(self._closed)


def _tcp_socket(transport: asyncio.BaseTransport) -> socket.socket | None:
    """The TCP socket under a transport, TLS or not (None for anything else)."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    return sock  # type: ignore[no-any-return]


def _plain_fd(transport: asyncio.BaseTransport) -> int | None:
    """The descriptor of a plain TCP transport's socket (None under TLS, or for anything else)."""
    if transport.get_extra_info("sslcontext") is not None or transport.get_extra_info("ssl_object") is not None:
        return None
    sock = transport.get_extra_info("socket")
    if sock is None or sock.type != socket.SOCK_STREAM or not hasattr(os, "readv") or not hasattr(os, "writev"):
        return None
    return sock.fileno()
