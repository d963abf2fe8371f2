"""The acceptor: serve associations with a :class:`Services` object, many at once.

Every association runs in its own task; whatever one peer does (garbage, aborts, stalls)
ends that association only, and the server goes on accepting.  The acceptor's own limits
(simultaneous associations, data set size and time) are fields of :class:`Acceptor`; each
violation is logged on ``dimse.server`` (see docs/security.md).
"""

from __future__ import annotations

import asyncio
import logging
import ssl as ssl_module
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..codes import REASON_LOCAL_LIMIT, REJECT_TRANSIENT, SOURCE_PRESENTATION, AssociationEnd
from ..core import events as ev
from ..core.commands import C_ECHO_RQ, C_STORE_RQ, Command, response_to
from ..core.connection import Connection, PresentationContext
from ..core.negotiation import AcceptorPolicy, negotiate
from ..core.pdu import AssociateAC, AssociateRJ, AssociateRQ
from ..dcmtk.texts import abort_text
from ..errors import AssociationAborted, DimseError, NetworkTimeout
from ..files.storage import NullSink
from ..files.structure import checker_for
from .association import Association
from .channel import Channel
from .driver import Timeouts, configure_socket
from .errors import listen_failed
from .tls import describe_error as describe_tls_error

log = logging.getLogger("dimse.server")

STATUS_SUCCESS = 0x0000
STATUS_UNRECOGNIZED_OPERATION = 0x0211
STATUS_SOP_CLASS_NOT_SUPPORTED = 0x0122
STATUS_PROCESSING_FAILURE = 0x0110
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000

#: A-ASSOCIATE-RJ beyond ``Acceptor.max_associations``: transient, provider (presentation), local limit
LIMIT_REJECT = AssociateRJ(REJECT_TRANSIENT, SOURCE_PRESENTATION, REASON_LOCAL_LIMIT)
#: how an association ended when the peer closed the connection without a request (a port
#: probe: a load balancer, monitoring); logged at info only, DCMTK says nothing at its default level
PROBE = "connection closed before an association request"


class LimitExceeded(DimseError):
    """A peer went beyond one of the acceptor's limits; the association is aborted."""


class Sink(Protocol):
    """Where a C-STORE's data set goes as it arrives: :class:`~dimse.files.storage.FileSink`
    (a temporary file renamed into place on commit), :class:`~dimse.files.storage.NullSink`,
    or an object of one's own with the same methods.

    The acceptor walks the data set's structure on its way to the sink unless
    ``check_structure`` is False (a sink that drops the data set anyway); a sink without the
    attribute (written before it existed) is walked.  A sink may have a ``settle()`` method:
    blocking work (waiting for the disk: ``--fsync``) run in a worker thread once the data set
    is complete and sound, before ``Services.store_done`` (other associations go on meanwhile)."""

    check_structure: bool

    def write(self, data: memoryview) -> object:
        """The next piece of the data set (a view: copy what is kept)."""

    def commit(self) -> object:
        """The data set is complete and sound: keep it."""

    def discard(self) -> None:
        """Drop what was received (safe to call more than once)."""


class Ended(str):
    """How an association the acceptor served came to its end: ``kind``, an
    :class:`~dimse.codes.AssociationEnd`, and ``detail``, what went wrong in words (empty for
    the ordinary endings: released, rejected, aborted by the peer, aborted by us).

    It is also that text itself -- ``detail``, or the kind's value when there is none
    (``"released"``, ``"network error: ..."``): the string ``Services.association_ended`` was
    given before, so code comparing it to those strings keeps working."""

    kind: AssociationEnd
    detail: str

    def __new__(cls, kind: AssociationEnd, detail: str = "") -> Ended:
        self = super().__new__(cls, detail or kind.value)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "detail", detail)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __getnewargs__(self) -> tuple[AssociationEnd, str]:  # type: ignore[override]  # for copy and pickle
        return self.kind, self.detail

    def __repr__(self) -> str:
        return f"Ended({self.kind!r}, {self.detail!r})"


class Services:
    """What an acceptor does with each request; subclass and override.

    ``store_sink`` returns the :class:`Sink` that receives the data set as it arrives, or a
    status to refuse the object (its data set is then read and dropped).  ``store_done``
    turns a complete sink into the status of the C-STORE response; a data set that arrived
    broken (see :class:`Sink`) goes to ``store_failed`` instead.
    """

    def association_requested(self, rq: AssociateRQ) -> None:
        """Called before negotiation (logging hook)."""

    def association_accepted(self, assoc: Association, ac: AssociateAC) -> None:
        """Called once the A-ASSOCIATE-AC went out."""

    def association_ended(self, assoc: Association, how: Ended) -> None:
        """Called when the association is over (``how.kind``: released, aborted, ...)."""

    async def echo(self, assoc: Association, command: Command) -> int:
        return STATUS_SUCCESS

    def store_sink(self, assoc: Association, ctx: PresentationContext, command: Command) -> Sink | int:
        return NullSink()

    def store_done(self, assoc: Association, ctx: PresentationContext, command: Command, sink: Sink) -> int:
        sink.commit()
        return STATUS_SUCCESS

    def store_failed(
        self, assoc: Association, ctx: PresentationContext, command: Command, sink: Sink, error: DimseError
    ) -> int:
        """A data set that arrived broken (``error`` says how): nothing of it is kept; returns
        the status of the C-STORE response (the association goes on)."""
        sink.discard()
        message = command.get("MessageID")
        log.error("%s: refusing object (MsgID %s): cannot understand data set: %s", _who(assoc), message, error)
        return STATUS_CANNOT_UNDERSTAND


class Acceptor:
    """Serves associations on accepted connections under ``policy`` with ``services``.

    ``on_finished`` is called with each finished association task's outcome (tests,
    --exit-after); ``admit`` (host access control) with the peer's address: False drops the
    connection.  ``max_associations``: associations served at once (counted from their
    A-ASSOCIATE-RQ); one more is answered A-ASSOCIATE-RJ transient / service provider
    (presentation) / local limit exceeded, so a flood of peers cannot exhaust memory and file
    descriptors (None: no limit).  ``max_dataset_bytes``: largest data set received; a bigger
    one is aborted (A-ABORT service provider, reason not specified) and nothing is kept (None:
    no limit, DICOM objects may be huge).  ``dataset_time_limit``: seconds a data set may take
    from its command to its last fragment; a slower one is aborted like a too large one, which
    stops a peer that trickles bytes just fast enough to beat the socket timeout (None: no
    limit).  ``ssl``: every connection starts with a handshake under this context (its failure
    is logged and ends that connection only)."""

    def __init__(  # noqa: PLR0913 (the acceptor's limits and hooks)
        self,
        policy: AcceptorPolicy,
        services: Services | None = None,
        timeouts: Timeouts | None = None,
        on_finished: Callable[[], None] | None = None,
        admit: Callable[[str], bool] | None = None,
        max_associations: int | None = 64,
        max_dataset_bytes: int | None = None,
        dataset_time_limit: float | None = None,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        self.policy = policy
        self.services: Services = Services() if services is None else services
        self.timeouts: Timeouts = Timeouts() if timeouts is None else timeouts
        self.on_finished = on_finished
        self.admit = admit
        self.max_associations = max_associations
        self.max_dataset_bytes = max_dataset_bytes
        self.dataset_time_limit = dataset_time_limit
        self.ssl = ssl
        self._active: set[asyncio.Task[None]] = set()
        self._associations = 0
        #: a task per connection until it has started (the loop keeps only weak references)
        self._starting: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> int:
        """Connections being served right now."""
        return len(self._active)

    @property
    def associations(self) -> int:
        """Associations counted against ``max_associations`` right now."""
        return self._associations

    async def finish(self, grace: float | None) -> int:
        """Give running associations ``grace`` seconds to end, then abort them; returns how
        many had to be aborted."""
        pending = set(self._active)
        if pending and grace:
            _, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        return len(pending)

    def connected(self, channel: Channel) -> None:
        """A new connection (the channel's transport is up): served by its own task."""
        task = asyncio.get_running_loop().create_task(self.handle(channel))
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def handle(self, channel: Channel) -> None:
        """One connection from accept to close; never raises (but honours cancellation)."""
        transport = channel.transport
        assert transport is not None, "called once the connection is made"
        configure_socket(transport)
        peer = transport.get_extra_info("peername")
        if self.admit is not None and peer and not self.admit(peer[0]):
            log.warning("Access control: refused connection from %s", peer[0])
            transport.close()
            return
        if self.ssl is not None and not await self._start_tls(channel, self.ssl, peer):
            return
        conn = Connection(requestor=False)
        conn.connection_made()
        assoc = Association(conn, channel, self.timeouts)
        task = asyncio.current_task()
        assert task is not None
        self._active.add(task)
        ended = Ended(AssociationEnd.ABORTED)  # unless it comes to another end: cancelled
        try:
            ended = await self._serve(assoc)
        finally:
            self._active.discard(task)
            await assoc.close()
            try:
                self.services.association_ended(assoc, ended)
            finally:
                if self.on_finished is not None:
                    self.on_finished()

    async def _serve(self, assoc: Association) -> Ended:
        """Serve ``assoc`` to its end; whatever went wrong aborts it (and is said how it ended)."""
        try:
            return await self._run(assoc)
        except asyncio.CancelledError:
            await assoc.abort()
            raise
        except LimitExceeded as exc:
            log.warning("%s: %s: A-ABORT (%s)", _who(assoc), exc, abort_text(2, 0))
            await assoc.abort(2, 0)
            return Ended(AssociationEnd.LIMIT_EXCEEDED, _text(exc))
        except NetworkTimeout as exc:
            log.warning("%s: %s: connection dropped", _who(assoc), exc)
            await assoc.abort()
            return Ended(AssociationEnd.TIMED_OUT, _text(exc))
        except (OSError, asyncio.IncompleteReadError) as exc:  # net.errors.ConnectionLost too
            await assoc.abort()
            return Ended(AssociationEnd.NETWORK_ERROR, f"network error: {exc}")
        except DimseError as exc:
            await assoc.abort()
            return Ended(AssociationEnd.ABORTED, _text(exc))
        except Exception as exc:  # a bug must not take the server down
            log.exception("internal error on association from %s", assoc.peer)
            await assoc.abort()
            return Ended(AssociationEnd.INTERNAL_ERROR, f"internal error: {exc}")

    async def _start_tls(self, channel: Channel, context: ssl_module.SSLContext, peer: object) -> bool:
        """The TLS handshake, bounded by the ACSE timeout; False (logged) if it failed."""
        raw = channel.transport
        assert raw is not None
        try:
            tls = await asyncio.get_running_loop().start_tls(
                raw, channel, context, server_side=True, ssl_handshake_timeout=self.timeouts.acse or None
            )
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            self._tls_failed(exc, peer[0] if isinstance(peer, tuple) else "?")
            raw.abort()
            if self.on_finished is not None:
                self.on_finished()
            return False
        assert isinstance(tls, asyncio.Transport)
        channel.replace_transport(tls)
        tls.set_write_buffer_limits(high=1 << 20)
        return True

    def _tls_failed(self, exc: BaseException, who: str) -> None:
        if isinstance(exc, (ConnectionAbortedError, TimeoutError)):  # asyncio's handshake timeout
            log.error(
                "Receiving Association failed: TLS handshake not completed within %s s (from %s)",
                self.timeouts.acse,
                who,
            )
        elif (text := describe_tls_error(exc)) is not None:
            log.error("Receiving Association failed: %s (from %s)", text, who)
        else:  # a port probe, or a peer that gave up before saying anything
            log.info("connection from %s closed before the TLS handshake", who)

    async def _run(self, assoc: Association) -> Ended:
        # ARTIM bounds each read and, here, the whole request: a peer cannot trickle it in
        try:
            event = await assoc.receive_request(self.timeouts.acse)
        except AssociationAborted:
            if not assoc.closed_quietly:
                raise
            peer = assoc.peer
            log.info("connection from %s closed before an association request", peer[0] if peer else "?")
            return Ended(AssociationEnd.PROBE, PROBE)
        if isinstance(event, ev.Aborted):
            detail = event.detail or abort_text(event.source, event.reason)
            if not event.by_peer:
                log.warning("%s: %s: A-ABORT (%s)", _who(assoc), detail, abort_text(event.source, event.reason))
            kind = AssociationEnd.ABORTED_BY_PEER if event.by_peer else AssociationEnd.ABORTED
            return Ended(kind, "aborted before association: " + detail)
        assert isinstance(event, ev.AssociationRequested)
        self.services.association_requested(event.request)
        if self.max_associations is not None and self._associations >= self.max_associations:
            log.warning(
                "%s: association rejected: %d associations already (limit %d)",
                _who(assoc),
                self._associations,
                self.max_associations,
            )
            await assoc.reject(LIMIT_REJECT)
            return Ended(AssociationEnd.REJECTED)
        self._associations += 1
        try:
            return await self._negotiated(assoc, event.request)
        finally:
            self._associations -= 1

    async def _negotiated(self, assoc: Association, request: AssociateRQ) -> Ended:
        answer = negotiate(request, self.policy)
        if not isinstance(answer, AssociateAC):
            await assoc.reject(answer)
            return Ended(AssociationEnd.REJECTED)
        await assoc.accept(answer)
        self.services.association_accepted(assoc, answer)
        while True:
            event = await assoc.receive_command(self.timeouts.dimse)
            if isinstance(event, ev.ReleaseRequested):
                await assoc.grant_release()
                return Ended(AssociationEnd.RELEASED)
            if isinstance(event, ev.Aborted):
                return _aborted(assoc, event)
            assert isinstance(event, ev.CommandReceived)
            await self._dispatch(assoc, event.context_id, event.command)

    async def _dispatch(self, assoc: Association, context_id: int, command: Command) -> None:
        ctx = assoc.contexts[context_id]
        field_ = command.get("CommandField")
        if field_ == C_STORE_RQ and command.has_dataset:
            status = await self._store(assoc, ctx, command)
        elif field_ == C_ECHO_RQ:
            status = await self.services.echo(assoc, command)
        else:
            if command.has_dataset:
                await self._receive_dataset(assoc, _drop)
            if command.is_response:
                log.warning("ignoring unexpected %s", command.name)
                return
            status = STATUS_UNRECOGNIZED_OPERATION
        await assoc.send_command(context_id, response_to(command, status))

    async def _store(self, assoc: Association, ctx: PresentationContext, command: Command) -> int:
        return await receive_store(assoc, ctx, command, self.services, self._receive_dataset)

    async def _receive_dataset(self, assoc: Association, write: Callable[[memoryview], object]) -> int:
        """The data set that follows a command, within ``max_dataset_bytes`` and
        ``dataset_time_limit`` (raises LimitExceeded); a refused or ignored one counts too."""
        receiver = write if self.max_dataset_bytes is None else _bounded(write, self.max_dataset_bytes)
        if not self.dataset_time_limit:
            return await assoc.receive_dataset(receiver, self.timeouts.dimse)
        try:
            async with asyncio.timeout(self.dataset_time_limit) as deadline:
                return await assoc.receive_dataset(receiver, self.timeouts.dimse)
        except TimeoutError:
            if not deadline.expired():
                raise
            raise LimitExceeded(f"data set not received within {self.dataset_time_limit} s") from None


#: reads the data set that follows a command into a writer; returns its size
ReceiveDataset = Callable[[Association, Callable[[memoryview], object]], Awaitable[int]]


async def receive_store(
    assoc: Association, ctx: PresentationContext, command: Command, services: Services, receive: ReceiveDataset
) -> int:
    """A C-STORE-RQ's data set into ``services``' sink, walked (structure check) on its way;
    returns the status of the response.  The one path for the acceptor and for the C-STORE
    sub-operations of a C-GET (``receive`` applies the caller's limits)."""
    if command.get("AffectedSOPClassUID") != ctx.abstract_syntax:
        # a SOP class we did not accept on this context: refused, the data set dropped
        log.warning(
            "C-STORE of %s on a context for %s: refused", command.get("AffectedSOPClassUID"), ctx.abstract_syntax
        )
        await receive(assoc, _drop)
        return STATUS_SOP_CLASS_NOT_SUPPORTED
    sink = services.store_sink(assoc, ctx, command)
    if isinstance(sink, int):
        await receive(assoc, _drop)
        return sink
    checker = checker_for(ctx.transfer_syntax) if getattr(sink, "check_structure", True) else None
    write = sink.write if checker is None else _checked(checker.feed, sink.write)
    try:
        await receive(assoc, write)
    except BaseException:
        sink.discard()
        raise
    if checker is not None and (error := checker.close()) is not None:
        return services.store_failed(assoc, ctx, command, sink, error)
    settle = getattr(sink, "settle", None)
    if settle is not None:  # it waits for the disk: not on the event loop
        await asyncio.to_thread(settle)
    return services.store_done(assoc, ctx, command, sink)


def _bounded(write: Callable[[memoryview], object], limit: int) -> Callable[[memoryview], None]:
    """``write``, refusing (LimitExceeded) a data set that grows beyond ``limit`` bytes."""
    size = 0

    def bounded(piece: memoryview) -> None:
        nonlocal size
        size += len(piece)
        if size > limit:
            raise LimitExceeded(f"data set larger than {limit} bytes")
        write(piece)

    return bounded


def _drop(piece: memoryview) -> None:
    """The sink of a data set that is read and thrown away."""


def _checked(feed: Callable[[memoryview], bool], write: Callable[[memoryview], object]) -> Callable[[memoryview], None]:
    """Each piece walked, then written while the data set is still sound (a broken one is
    dropped at the end: what follows the damage need not reach the disk)."""

    def checked(piece: memoryview) -> None:
        if feed(piece):
            write(piece)

    return checked


def _aborted(assoc: Association, event: ev.Aborted) -> Ended:
    """How an association that an A-ABORT (or a lost connection) ended came to its end."""
    if event.by_peer:
        return Ended(AssociationEnd.ABORTED_BY_PEER)
    if event.reason:  # the core caught a protocol violation (a lost connection has none)
        log.warning("%s: %s: A-ABORT (%s)", _who(assoc), event.detail, abort_text(2, event.reason))
    return Ended(AssociationEnd.ABORTED, f"aborted: {event.detail}")


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _who(assoc: Association) -> str:
    peer = assoc.peer
    return f"Peer {peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "Peer"


async def serve(acceptor: Acceptor, host: str | None, port: int, **kwargs: Any) -> asyncio.Server:
    """Listen on ``host:port`` (``None``: all interfaces) and serve with ``acceptor``; a port
    that cannot be opened raises ListenFailed (an OSError)."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.create_server(lambda: Channel(acceptor.connected), host, port, **kwargs)
    except OSError as exc:
        raise listen_failed(exc) from exc
