"""The DIMSE API: an :class:`Association` over the transport driver (:mod:`dimse.net.driver`).

As requestor it connects and negotiates (:meth:`Association.request`, :func:`associate`) and
offers C-ECHO, C-STORE (streamed from disk, :mod:`dimse.files.source`), C-FIND, C-MOVE,
C-GET (the peer's C-STORE sub-operations received on the same association) and C-CANCEL; as the acceptor's handle it answers the request and the release
(:mod:`dimse.net.server` runs that side).  What the network does to it is raised as a
:class:`~dimse.errors.DimseError` (:mod:`dimse.net.errors`: also the built-in type Python
reports it as, an OSError, ``ssl.SSLError`` or ValueError).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl as ssl_module
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..core import events as ev
from ..core.commands import (
    C_ECHO_RSP,
    C_STORE_RQ,
    C_STORE_RSP,
    PRIORITY_MEDIUM,
    Command,
    c_cancel_rq,
    c_echo_rq,
    c_find_rq,
    c_get_rq,
    c_move_rq,
    c_store_rq,
    response_to,
)
from ..core.connection import Connection, PeerProtocolError, PresentationContext, Violation
from ..core.fsm import State
from ..core.negotiation import build_request
from ..core.pdu import AssociateAC, AssociateRJ, AssociateRQ
from ..dcmtk.texts import StatusClass, status_class
from ..errors import (
    AssociationRejected,
    NetworkTimeout,
    NoPresentationContext,
    PeerRequestedRelease,
    ProtocolError,
    UnknownHost,
)
from ..files.part10 import BadDicomFile, decode_dataset, encode_dataset
from ..files.source import open_source, reencodable
from ..uids import NATIVE, VERIFICATION
from ..uids import DeflatedExplicitVRLittleEndian as DEFLATED
from ..uids import ExplicitVRBigEndian as BEE
from ..uids import ExplicitVRLittleEndian as LEE
from ..uids import ImplicitVRLittleEndian as LEI
from .channel import Channel
from .driver import (
    SEND_CHUNK,
    Driver,
    Timeouts,
    aborted,
    as_limit,
    configure_socket,
    open_input,
    tcp_nodelay_wanted,
)
from .errors import AssociationOver, PeerSilent, PeerStalled, ReleaseAfterEnd, connection_failed, invalid_request

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = [
    "MAX_RESPONSE_DATASET",
    "MAX_WINDOW",
    "SEND_CHUNK",
    "Association",
    "AssociationOver",
    "PeerSilent",
    "PeerStalled",
    "Timeouts",
    "associate",
    "choose_context",
    "configure_socket",
    "tcp_nodelay_wanted",
]

log = logging.getLogger("dimse.association")

MAX_RESPONSE_DATASET = 64 << 20
MAX_WINDOW = 64  # outstanding operations we keep at most, whatever a peer grants
#: responses that never carry a data set (PS3.7 9.3.1.2, 9.3.5.2), in DCMTK's words
_NO_DATASET_RESPONSES = {C_STORE_RSP: "C-Store RSP", C_ECHO_RSP: "C-Echo RSP"}

#: what a C-STORE's data set is sent from: its bytes, or ``(file, offset, length)`` on disk
StoreSource = bytes | memoryview | tuple[str | Path | BinaryIO, int, int]
#: what takes a C-STORE-RQ received during a C-GET (its context, its command), reads its data
#: set and returns the status of the C-STORE-RSP
StoreHandler = Callable[[PresentationContext, Command], Awaitable[int]]


def choose_context(
    contexts: Iterable[PresentationContext], sop_class: str, transfer_syntax: str, prefer_deflate: bool = False
) -> PresentationContext | None:
    """The accepted context to send a ``sop_class`` object in ``transfer_syntax`` on, in DCMTK's
    (storescu's) order: the object's own syntax (deflated instead of a native one with
    ``prefer_deflate``); else explicit VR little or big endian; else implicit VR; else the
    first one for the class."""
    candidates = [c for c in contexts if c.abstract_syntax == sop_class]
    wanted = DEFLATED if prefer_deflate and transfer_syntax in NATIVE else transfer_syntax
    for ctx in candidates:
        if ctx.transfer_syntax == wanted:
            return ctx
    for ctx in candidates:
        if ctx.transfer_syntax in (LEE, BEE):
            return ctx
    for ctx in candidates:
        if ctx.transfer_syntax == LEI:
            return ctx
    return candidates[0] if candidates else None


class Association(Driver):
    """A live association over a TCP stream (either role)."""

    def __init__(self, conn: Connection, channel: Channel, timeouts: Timeouts) -> None:
        super().__init__(conn, channel, timeouts)
        self._message_id = 0
        #: choose_context's answers: the contexts never change once the association is up, and
        #: a default proposal has over a hundred (looking through them cost a visible share)
        self._chosen: dict[tuple[str, str, bool], PresentationContext | None] = {}

    # ------------------------------------------------------------------ requestor set-up

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
        NetworkTimeout (``kind`` CONNECT or ACSE), UnknownHost (a ``socket.gaierror``),
        ConnectionFailed (an OSError: connection refused; TLSFailed, an ``ssl.SSLError``, for
        TLS) or InvalidRequest (a ValueError: a host or port that cannot be).

        ``family`` (socket.AF_INET, AF_INET6, 0 for any) applies to host names; a literal
        address is used as it is.  ``ssl`` runs the association over TLS; the TLS handshake
        counts against the connect timeout.  ``server_hostname`` is sent as SNI (None: no SNI)."""
        timeouts = timeouts or Timeouts()
        conn = Connection(requestor=True, max_send_pdu=max_send_pdu)
        conn.request(rq)
        transport, channel = await _connect(host, port, timeouts.connect, family, ssl, server_hostname)
        configure_socket(transport)
        conn.connection_made()
        assoc = cls(conn, channel, timeouts)
        event = await assoc._answer_to_request()
        if isinstance(event, ev.AssociationAccepted):
            return assoc
        await assoc.close()
        raise _refusal(event, channel.error, ssl is not None)

    async def _answer_to_request(self) -> ev.Event:
        """Send the A-ASSOCIATE-RQ and wait (ACSE timeout) for the answer; aborts on a failure."""
        try:
            await self.flush()
            return await self.next_event(self.timeouts.acse, "A-ASSOCIATE response", NetworkTimeout.ACSE)
        except NetworkTimeout as exc:
            await self.abort()
            if exc.kind == NetworkTimeout.SEND:
                raise
            # the ACSE timer or a read's socket timeout: one ACSE timeout to the caller, as in DCMTK
            raise NetworkTimeout(str(exc), NetworkTimeout.ACSE) from None
        except BaseException:
            await self.abort()
            raise

    # ------------------------------------------------------------------ acceptor side

    async def receive_request(self, timeout: float | None) -> ev.Event:
        """The A-ASSOCIATE-RQ (AssociationRequested), or the Aborted that came instead;
        ``timeout`` bounds the whole wait (ARTIM bounds each read)."""
        return await self.next_event(timeout, "A-ASSOCIATE-RQ")

    async def accept(self, ac: AssociateAC) -> None:
        """Send the A-ASSOCIATE-AC: the association is up."""
        self.conn.accept(ac)
        self._chosen.clear()
        await self.flush()

    async def reject(self, rj: AssociateRJ) -> None:
        """Send the A-ASSOCIATE-RJ and close."""
        self.conn.reject(rj)
        await self.flush()
        await self.close()

    async def grant_release(self) -> None:
        """Answer the peer's A-RELEASE-RQ and close."""
        self.conn.release_response()
        await self.flush()
        await self.close()

    @property
    def closed_quietly(self) -> bool:
        """The connection closed leaving no PDU cut short: nothing was sent (a port probe), or
        only whole PDUs that need no answer (an A-ABORT) -- what DCMTK passes over in silence.
        (A request cut short is an error, as in DCMTK.)"""
        return self.conn.state == State.STA1 and not self.conn.pdu_incomplete

    # ------------------------------------------------------------------ properties

    @property
    def contexts(self) -> dict[int, PresentationContext]:
        return self.conn.contexts

    @property
    def is_established(self) -> bool:
        return self.conn.is_established

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

    def choose_context(
        self, sop_class: str, transfer_syntax: str, prefer_deflate: bool = False
    ) -> PresentationContext | None:
        """The context to send a ``sop_class`` object in ``transfer_syntax`` on
        (:func:`choose_context`: DCMTK's order), remembered for the association."""
        key = (sop_class, transfer_syntax, prefer_deflate)
        chosen = self._chosen
        if key not in chosen:
            chosen[key] = choose_context(self.contexts.values(), sop_class, transfer_syntax, prefer_deflate)
        return chosen[key]

    def store_context(self, sop_class: str, transfer_syntax: str) -> PresentationContext:
        """The context to send an object in (:meth:`choose_context`), when the object can be
        sent on it without a codec: in its own syntax, or from one native syntax to another."""
        ctx = self.choose_context(sop_class, transfer_syntax)
        if ctx is None or not reencodable(transfer_syntax, ctx.transfer_syntax):
            raise NoPresentationContext(f"no presentation context for {sop_class} in {transfer_syntax}")
        return ctx

    def next_message_id(self) -> int:
        self._message_id = self._message_id % 0xFFFF + 1
        return self._message_id

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

    # ------------------------------------------------------------------ requestor services

    async def _response_to(self, message_id: int | Collection[int], expected: int) -> tuple[Command, bytes | None]:
        """The next response, which must be an ``expected`` (Command Field) answering
        ``message_id`` (or one of several outstanding); else the association is aborted at
        once and a PeerProtocolError says what came instead, checked in DCMTK's order."""
        event = await self.next_event(self.timeouts.dimse, "DIMSE response", idle_reads_bounded=False)
        return await self._as_response(event, message_id, expected)

    async def _as_response(
        self, event: ev.Event, message_id: int | Collection[int], expected: int
    ) -> tuple[Command, bytes | None]:
        """``event`` as the response awaited (see ``_response_to``), with its data set."""
        if isinstance(event, ev.Aborted):
            raise self.aborted_error(event)
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
            data = await self._response_dataset()
        return rsp, data

    async def _response_dataset(self) -> bytes:
        """The data set of a response (an identifier), within MAX_RESPONSE_DATASET."""
        buf = bytearray()

        def collect(piece: memoryview) -> None:
            buf.extend(piece)
            if len(buf) > MAX_RESPONSE_DATASET:
                raise ProtocolError("response data set too large")

        await self.receive_dataset(collect, self.timeouts.dimse)
        return bytes(buf)

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

    async def store(
        self,
        context_id: int,
        command: Command,
        source: StoreSource,
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
        source: StoreSource,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        """Send a C-STORE-RQ and its data set without waiting for the response (see
        :meth:`store_response`), for an asynchronous operations window larger than one.  A
        file region's file is opened before anything is sent."""
        if not isinstance(source, tuple):
            self.queue_command(context_id, command)  # written together with the first fragment
            await self.send_dataset_bytes(context_id, source, progress)
            return
        path, offset, length = source
        with open_input(path) as fp:
            self.queue_command(context_id, command)
            pad = length % 2 == 1 and self.contexts[context_id].transfer_syntax == DEFLATED
            await self.send_dataset_file(context_id, fp, offset, length, progress=progress, pad=pad)

    async def store_response(self, outstanding: Collection[int]) -> Command:
        """The next C-STORE-RSP, which must answer one of the ``outstanding`` message IDs
        (responses may come in any order, PS3.7 D.3.3.3)."""
        return (await self._response_to(outstanding, C_STORE_RSP))[0]

    async def store_file(
        self,
        path: str | Path,
        priority: int = PRIORITY_MEDIUM,
        move_originator: tuple[str, int] | None = None,
    ) -> Command:
        """C-STORE a file, read and checked as storescu does (:mod:`dimse.files.source`).  A
        file whose transfer syntax was accepted is streamed from disk unchanged; otherwise it
        is decoded and re-encoded (native syntaxes only).  A whole Part 10 file is announced
        by the UIDs of its meta header, a decoded one by those of its data set."""
        with open_source(path) as source:
            meta = source.header
            sop_class, sop_instance = (meta.sop_class, meta.sop_instance) if meta else (source.sop_class, source.sop_instance)
            if not sop_class or not sop_instance:
                raise BadDicomFile("data set has no SOP Class UID or SOP Instance UID")
            ctx = self.store_context(sop_class, source.transfer_syntax)
            payload = source.payload(ctx.transfer_syntax)
            if payload is None:  # not after store_context: it takes only a context needing no codec
                raise NoPresentationContext(f"no presentation context for {sop_class}")
            command = c_store_rq(self.next_message_id(), sop_class, sop_instance, priority, move_originator)
            return await self.store(ctx.context_id, command, payload)

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

    async def _send_query(self, command: Command, identifier: Dataset) -> PresentationContext:
        """A C-FIND, C-MOVE or C-GET request and its identifier; returns the context used."""
        ctx = self._context_or_raise(command.AffectedSOPClassUID)
        await self.send_command(ctx.context_id, command)
        await self.send_dataset_bytes(ctx.context_id, encode_dataset(identifier, ctx.transfer_syntax))
        return ctx

    async def _query(
        self, command: Command, identifier: Dataset, on_store: StoreHandler | None = None
    ) -> AsyncIterator[tuple[Command, Dataset | None]]:
        """The responses of a query up to the final one, identifiers decoded by pydicom."""
        async for rsp, data, transfer_syntax in self._query_bytes(command, identifier, on_store):
            yield rsp, (decode_dataset(data, transfer_syntax) if data is not None else None)

    async def _query_bytes(
        self, command: Command, identifier: Dataset, on_store: StoreHandler | None = None
    ) -> AsyncIterator[tuple[Command, bytes | None, str]]:
        """The responses of a query up to the final one, each with its identifier's bytes and
        their transfer syntax; with ``on_store`` (C-GET), the C-STORE sub-operations that come
        between them are served."""
        ctx = await self._send_query(command, identifier)
        while True:
            event = await self.next_event(self.timeouts.dimse, "DIMSE response", idle_reads_bounded=False)
            if on_store is not None and isinstance(event, ev.CommandReceived) and event.command.get("CommandField") == C_STORE_RQ:
                await self._sub_operation(event.context_id, event.command, on_store)
                continue
            rsp, data = await self._as_response(event, command.MessageID, command.CommandField | 0x8000)
            yield rsp, data, ctx.transfer_syntax
            if status_class(rsp.get("Status", 0xC000)) != StatusClass.PENDING:
                return

    def find_bytes(
        self, identifier: Dataset, sop_class: str, message_id: int | None = None
    ) -> AsyncIterator[tuple[Command, bytes | None, str]]:
        """C-FIND whose response identifiers are left undecoded: yields (response, bytes or
        None, transfer syntax) until the final response (a caller that needs a few values of
        many identifiers reads them without pydicom)."""
        return self._query_bytes(c_find_rq(message_id or self.next_message_id(), sop_class), identifier)

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

    def get(
        self,
        identifier: Dataset,
        sop_class: str,
        on_store: StoreHandler,
        message_id: int | None = None,
    ) -> AsyncIterator[tuple[Command, Dataset | None]]:
        """C-GET: yields (response, identifier) until the final response.  The peer's
        sub-operations come as C-STORE-RQs on this association (we hold the SCP role of their
        storage contexts, PS3.7 D.3.3.4), between the responses: each goes to ``on_store``,
        which reads its data set (``dimse.net.server.receive_store``: streamed into a sink)
        and returns the status of the C-STORE-RSP sent back."""
        return self._query(c_get_rq(message_id or self.next_message_id(), sop_class), identifier, on_store)

    async def _sub_operation(self, context_id: int, command: Command, on_store: StoreHandler) -> None:
        """One C-STORE sub-operation of a C-GET: its data set to ``on_store``, the response back.
        A C-STORE-RQ that announces no data set is answered "cannot understand"."""
        status = await on_store(self.contexts[context_id], command) if command.has_dataset else 0xC000
        await self.send_command(context_id, response_to(command, status))

    async def cancel(self, message_id: int, sop_class: str) -> None:
        """C-CANCEL the operation ``message_id``."""
        await self.send_command(self._context_or_raise(sop_class).context_id, c_cancel_rq(message_id))

    # ------------------------------------------------------------------ ending

    async def release(self) -> None:
        """A-RELEASE; waits (ACSE timeout) for the peer's answer, then closes.  Raises
        :class:`ReleaseAfterEnd` when the association has already ended (an abort)."""
        if not self.conn.is_established:
            await self.abort()
            raise ReleaseAfterEnd("the association has already ended")
        self.conn.release()
        await self.flush()
        try:
            while self.conn.state != State.STA1:
                event = await self.next_event(self.timeouts.acse, "A-RELEASE response", NetworkTimeout.ACSE)
                if isinstance(event, ev.ReleaseRequested):  # release collision
                    self.conn.release_response()
                    await self.flush()
                elif isinstance(event, ev.Aborted):
                    raise aborted(event)
                elif isinstance(event, ev.ReleaseConfirmed):
                    if self.conn.state == State.STA12:
                        self.conn.release_response()
                        await self.flush()
                    else:
                        break
        except NetworkTimeout:
            await self.abort()
            raise
        finally:
            await self.close()


async def _connect(
    host: str,
    port: int,
    timeout: float | None,
    family: int,
    ssl: ssl_module.SSLContext | None,
    server_hostname: str | None,
) -> tuple[asyncio.Transport, Channel]:
    """The TCP (and TLS) connection; every failure raised as a DimseError (see ``request``)."""
    try:
        async with asyncio.timeout(as_limit(timeout)):
            return await asyncio.get_running_loop().create_connection(
                Channel,
                host,
                port,
                family=0 if _is_literal_address(host) else family,
                ssl=ssl,
                server_hostname=(server_hostname or "") if ssl is not None else None,
            )
    except socket.gaierror as exc:
        raise UnknownHost(host, exc.errno if exc.errno is not None else 0, exc.strerror or str(exc)) from None
    except TimeoutError:
        raise NetworkTimeout(f"connection to {host}:{port} timed out", NetworkTimeout.CONNECT) from None
    except OSError as exc:
        raise connection_failed(exc) from exc
    except (ValueError, OverflowError) as exc:
        raise invalid_request(exc) from exc


def _refusal(event: ev.Event, channel_error: BaseException | None, tls: bool) -> Exception:
    """The error for an association request answered otherwise than by an A-ASSOCIATE-AC."""
    if isinstance(event, ev.AssociationRejected):
        rj = event.reject
        return AssociationRejected(rj.result, rj.source, rj.reason)
    if isinstance(channel_error, ssl_module.SSLError):
        return connection_failed(channel_error)  # the peer's TLS alert says more than "connection closed"
    if tls and isinstance(event, ev.Aborted) and not event.by_peer:
        # a TLS 1.3 server checks our certificate after the handshake and just hangs up
        return aborted(event, " after the TLS handshake (is our certificate trusted?)")
    return aborted(event)


def _is_literal_address(host: str) -> bool:
    """An IPv4 or IPv6 address written out (not a name to resolve)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host.split("%", 1)[0] if family == socket.AF_INET6 else host)
        except (OSError, ValueError):
            continue
        return True
    return False


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
    **user_info_extra: Any,
) -> Association:
    """Open an association proposing ``(abstract syntax, [transfer syntaxes])`` pairs.

    ``user_info_extra`` adds user information sub-items (``user_identity_rq``, ``roles``,
    ``extended``, ``async_ops`` ...) to the request."""
    try:
        rq = build_request(calling_ae, called_ae, contexts, max_pdu, **user_info_extra)
    except ValueError as exc:  # more contexts than PS3.8 allows
        raise invalid_request(exc) from exc
    return await Association.request(host, port, rq, timeouts, max_send_pdu, ssl=ssl)
