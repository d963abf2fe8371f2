"""Sending one file as storescu does (spec section 3.4), streaming it when possible.

A file is read as :mod:`dimse.files.source` reads it (``Association.store_file`` too): opened
once, its meta header and structure checked, its SOP UIDs found.  One whose transfer syntax the
peer accepted (on the context DCMTK's order chooses, ``Association.choose_context``) is sent
from disk as it is; one that needs another syntax is decoded with pydicom and encoded again
(native syntaxes), or decompressed / compressed when allowed and a codec exists (see
:mod:`dimse.store.transcode`).  :func:`send_file` waits for the response, :func:`start_file`
leaves it to come (:class:`StoreWindow`).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable

from ..cli.conditions import PEER_ABORTED, describe
from ..core.commands import Command, c_store_rq
from ..core.connection import PresentationContext
from ..core.record import FrozenRecord, Record
from ..dcmtk.dumps import dump_command
from ..dcmtk.modality import MODALITY_PREFIX, NOT_IN_DCMTK_367, modality_prefix
from ..dcmtk.texts import StatusClass, status_class, store_status_text
from ..dcmtk.uid_names import sop_class_name, ts_description
from ..errors import AssociationAborted, DimseError, NetworkTimeout, PeerRequestedRelease
from ..files.part10 import BadDicomFile, SourceChanged
from ..files.source import Payload, Source, open_source
from ..net.association import Association
from .inputs import ReadMode
from .invent import Inventor
from .retry import transient_error, transient_status
from .transcode import TranscodeError, Transcoder

INAPPROPRIATE_DATA = "0006:0202 DIMSE Inappropriate data for message"
SEND_FAILED = "0006:020e DIMSE Failed to send message"
NO_CONTEXT = "0006:0208 DIMSE No valid Presentation Context ID"


class Outcome(Record):
    """What one store attempt came to: the C-STORE-RSP ``status`` when the exchange worked, a
    DCMTK-style condition text (``error``) when it did not; ``association_lost``: we aborted
    it (the file changed while it was being sent); ``transient``: failed in a way that may not
    recur (``--retry``: see store.retry); ``timed_out``: its response did not come in time (the
    association is in doubt); ``attempts``: the attempt (association, with --retry) that gave
    it; ``file_state``: the file as it was opened, (size, modification time in ns), for
    ``--journal``."""

    __slots__ = (
        "path",
        "status",
        "error",
        "peer_aborted",
        "peer_released",
        "association_lost",
        "transient",
        "timed_out",
        "context_id",
        "sop_class",
        "sop_instance",
        "transfer_syntax",
        "bytes",
        "milliseconds",
        "attempts",
        "file_state",
    )

    def __init__(  # noqa: PLR0913 (what a store attempt came to)
        self,
        path: str,
        status: int | None = None,
        error: str | None = None,
        peer_aborted: bool = False,
        peer_released: bool = False,
        association_lost: bool = False,
        transient: bool = False,
        timed_out: bool = False,
        context_id: int = 0,
        sop_class: str = "",
        sop_instance: str = "",
        transfer_syntax: str = "",
        bytes: int = 0,
        milliseconds: float = 0.0,
        attempts: int = 1,
        file_state: tuple[int, int] | None = None,
    ) -> None:
        self.path = path
        self.status = status
        self.error = error
        self.peer_aborted = peer_aborted
        self.peer_released = peer_released
        self.association_lost = association_lost
        self.transient = transient
        self.timed_out = timed_out
        self.context_id = context_id
        self.sop_class = sop_class
        self.sop_instance = sop_instance
        self.transfer_syntax = transfer_syntax
        self.bytes = bytes
        self.milliseconds = milliseconds
        self.attempts = attempts
        self.file_state = file_state

    @property
    def ok(self) -> bool:
        """Success or warning (DCMTK's rule, 0x0001 included)."""
        if self.error is not None or self.status is None:
            return False
        return status_class(self.status) in (StatusClass.SUCCESS, StatusClass.WARNING)

    @property
    def retryable(self) -> bool:
        """Worth another attempt: a transient failure (an abort, a timeout, a lost
        connection) or a 0xA7xx status (out of resources)."""
        return self.transient or transient_status(self.status)


class SendOptions(Record):
    """How files are read and sent; ``file_state``: note each file's size and modification
    time as it is opened (``--journal`` records them)."""

    __slots__ = ("mode", "uid_padding", "prefer_deflate", "inventor", "transcoder", "file_state")

    def __init__(  # noqa: PLR0913 (storescu's reading and sending options)
        self,
        mode: ReadMode | None = None,
        uid_padding: bool = False,
        prefer_deflate: bool = False,
        inventor: Inventor | None = None,
        transcoder: Transcoder | None = None,
        file_state: bool = False,
    ) -> None:
        self.mode: ReadMode = ReadMode() if mode is None else mode
        self.uid_padding = uid_padding
        self.prefer_deflate = prefer_deflate
        self.inventor = inventor
        self.transcoder: Transcoder = Transcoder() if transcoder is None else transcoder
        self.file_state = file_state


def load(path: str, opts: SendOptions) -> Source:
    """Transfer syntax and SOP UIDs of a file; decodes it only when it must.  The file is
    opened once, here: what is sent later comes from that handle (close the Source)."""
    return open_source(
        path,
        allow_file=opts.mode.allow_file,
        allow_dataset=opts.mode.allow_dataset,
        uid_padding=opts.uid_padding,
        amend=opts.inventor.apply if opts.inventor is not None else None,
    )


class Lookahead:
    """Reads the next file while the peer stores the current one.

    With one operation outstanding at a time, the receiver's work on a C-STORE and ours on
    the next file (opening it, reading its header, finding its UIDs) can overlap: the next
    file is loaded right after a request is sent, before its response is waited for.  Only
    the result is kept (an error too, raised when the file's turn comes), so logs and
    outcomes stay in the order of the files."""

    def __init__(self, opts: SendOptions) -> None:
        self.opts = opts
        self._path: str | None = None
        self._result: Source | BadDicomFile | None = None

    def prepare(self, path: str) -> None:
        """Load ``path`` now, for the next :meth:`take` of it."""
        self.discard()
        try:
            self._result = load(path, self.opts)
        except BadDicomFile as exc:
            self._result = exc
        self._path = path

    def take(self, path: str) -> Source:
        """What :func:`load` gives for ``path``, prepared earlier or read now."""
        result, prepared = self._result, self._path
        self._path = self._result = None
        if prepared != path or result is None:
            if isinstance(result, Source):
                result.close()
            return load(path, self.opts)
        if isinstance(result, BadDicomFile):
            raise result
        return result

    def discard(self) -> None:
        """Forget (and close) a file prepared but not taken."""
        if isinstance(self._result, Source):
            self._result.close()
        self._path = self._result = None


def class_label(sop_class: str) -> str:
    """``CT`` for a class DCMTK 3.6.7 has a prefix for, else DCMTK's name, else
    ``unknown SOP class``: what DCMTK's storescu prints for it."""
    if sop_class in NOT_IN_DCMTK_367:
        return "unknown SOP class"
    return MODALITY_PREFIX.get(sop_class) or sop_class_name(sop_class) or "unknown SOP class"


class Dots:
    """DCMTK's ``XMIT: ....`` progress on stdout (only at exactly the verbose level)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def start(self) -> None:
        if self.enabled:
            sys.stdout.write("XMIT: ")

    def fragment(self, size: int) -> None:
        if self.enabled:
            sys.stdout.write(".")

    def end(self) -> None:
        if self.enabled:
            sys.stdout.write("\n")
            sys.stdout.flush()


class Progress(FrozenRecord):
    """What is told of a data set's bytes as they go out: DCMTK's ``XMIT: ....`` dots and the
    progress bar (``on_bytes``, called with the size of each fragment)."""

    __slots__ = ("dots", "on_bytes")
    dots: Dots
    on_bytes: Callable[[int], object] | None

    def __init__(self, dots: Dots, on_bytes: Callable[[int], object] | None = None) -> None:
        object.__setattr__(self, "dots", dots)
        object.__setattr__(self, "on_bytes", on_bytes)

    def fragment(self, size: int) -> None:
        self.dots.fragment(size)
        if self.on_bytes is not None:
            self.on_bytes(size)

    @property
    def callback(self) -> Callable[[int], object] | None:
        """What the association calls per fragment sent; None when nobody listens (then
        there is no call per fragment at all)."""
        return self.fragment if self.dots.enabled or self.on_bytes is not None else None


async def send_file(
    assoc: Association,
    path: str,
    opts: SendOptions,
    log: logging.Logger,
    progress: Progress,
    lookahead: Lookahead | None = None,
    next_path: str | None = None,
) -> Outcome:
    """One store attempt for ``path``, its response awaited: everything logged in DCMTK's
    words.  With a ``lookahead``, the file comes from it, and ``next_path`` is loaded into it
    while the response is due."""
    sent = await _send(assoc, path, opts, log, progress, lookahead)
    if isinstance(sent, Outcome):
        return sent
    try:
        if lookahead is not None and next_path is not None:
            lookahead.prepare(next_path)
        rsp = await assoc.store_response((sent.message_id,))
    except (DimseError, OSError) as exc:
        return _failed(sent.outcome, exc, log, progress.dots)
    return _answered(sent.outcome, rsp, sent.context_id, sent.started, log, progress.dots)


async def start_file(
    assoc: Association, path: str, opts: SendOptions, log: logging.Logger, progress: Progress
) -> Outcome | InFlight:
    """One store attempt for ``path`` whose response is left to come (an asynchronous
    operations window): the :class:`InFlight` store once its data set is sent, or the
    Outcome of an attempt that failed before that."""
    sent = await _send(assoc, path, opts, log, progress, None)
    if isinstance(sent, InFlight):
        progress.dots.end()
    return sent


def bad_file(outcome: Outcome, exc: BadDicomFile, log: logging.Logger) -> Outcome:
    """A file refused before anything of it was sent, in DCMTK's two lines."""
    if exc.detail:
        log.error("%s", exc.detail)
    log.error("Bad DICOM file: %s: %s", outcome.path, exc)
    outcome.error = exc.condition_line
    return outcome


async def _send(
    assoc: Association,
    path: str,
    opts: SendOptions,
    log: logging.Logger,
    progress: Progress,
    lookahead: Lookahead | None,
) -> Outcome | InFlight:
    """Read ``path`` (or take it from ``lookahead``) and send its C-STORE-RQ and data set:
    the store now in flight, or the Outcome of an attempt that failed."""
    message_id = assoc.next_message_id()
    outcome = Outcome(path)
    log.info("Sending file: %s", path)
    try:
        source = lookahead.take(path) if lookahead is not None else load(path, opts)
    except BadDicomFile as exc:
        return bad_file(outcome, exc, log)
    with source:
        if opts.file_state and source.fp is not None:
            st = os.fstat(source.fp.fileno())
            outcome.file_state = (st.st_size, st.st_mtime_ns)
        ctx = _context(assoc, source, outcome, opts, log)
        if ctx is None:
            return outcome
        log.info("Sending Store Request (MsgID %d, %s)", message_id, modality_prefix(source.sop_class))
        payload = _payload(assoc, source, outcome, opts, log, progress.dots)
        if payload is None:
            return outcome
        command = c_store_rq(message_id, source.sop_class, outcome.sop_instance)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s", dump_command(command, incoming=False))
        started = time.perf_counter()
        progress.dots.start()
        try:
            await assoc.send_store(ctx.context_id, command, payload, progress.callback)
        except (DimseError, OSError) as exc:
            return _failed(outcome, exc, log, progress.dots)
    return InFlight(outcome, message_id, ctx.context_id, started)


def _context(
    assoc: Association, source: Source, outcome: Outcome, opts: SendOptions, log: logging.Logger
) -> PresentationContext | None:
    """The context to send ``source`` on (DCMTK's choice, ``Association.choose_context``),
    after the checks DCMTK makes first; None when there is none (logged, in ``outcome``)."""
    outcome.sop_class, outcome.sop_instance = source.sop_class, source.sop_instance
    if not source.sop_class or not source.sop_instance:
        log.error("No SOP Class or Instance UID in file: %s", outcome.path)
        outcome.error = INAPPROPRIATE_DATA
        return None
    ctx = assoc.choose_context(source.sop_class, source.transfer_syntax, opts.prefer_deflate)
    if ctx is None:
        log.error("No presentation context for: (%s) %s", class_label(source.sop_class), source.sop_class)
        outcome.error = NO_CONTEXT
        return None
    outcome.context_id = ctx.context_id
    outcome.transfer_syntax = target = ctx.transfer_syntax
    if target != source.transfer_syntax:
        log.info("Converting transfer syntax: %s -> %s", ts_description(source.transfer_syntax), ts_description(target))
    return ctx


def _payload(
    assoc: Association, source: Source, outcome: Outcome, opts: SendOptions, log: logging.Logger, dots: Dots
) -> Payload | None:
    """What goes on the wire for ``source`` in the outcome's transfer syntax (and the SOP
    Instance UID it announces, in ``outcome``); None when it cannot be made (logged)."""
    target = outcome.transfer_syntax
    try:
        payload, sop_instance = _converted(source, target, opts)
    except TranscodeError as exc:
        rq = assoc.conn.request_pdu
        dots.start()
        dots.end()
        log.warning(
            "DIMSE Warning: (%s,%s): sendMessage: unable to convert dataset from '%s' transfer syntax to '%s'",
            rq.calling_ae if rq else "",
            rq.called_ae if rq else "",
            ts_description(source.transfer_syntax),
            ts_description(target),
        )
        log.warning("%s", exc)
        log.error("Store Failed, file: %s:\n%s", outcome.path, SEND_FAILED)
        outcome.error = SEND_FAILED
        return None
    except BadDicomFile as exc:
        bad_file(outcome, exc, log)
        return None
    outcome.bytes = payload[2] if isinstance(payload, tuple) else len(payload)
    outcome.sop_instance = sop_instance
    return payload


def _converted(source: Source, target: str, opts: SendOptions) -> tuple[Payload, str]:
    """The data set as it is or coded again for ``target`` (a codec's work when it takes one),
    and the SOP Instance UID to announce (lossy compression gives a new one)."""
    payload = source.payload(target, opts.transcoder.deflate_level)
    if payload is not None:
        return payload, source.sop_instance
    ds = source.decoded()
    raw = opts.transcoder.convert(ds, source.transfer_syntax, target)
    return raw, str(ds.get("SOPInstanceUID", source.sop_instance))


def _failed(outcome: Outcome, exc: Exception, log: logging.Logger, dots: Dots) -> Outcome:
    """A store that ended without a response, logged in DCMTK's words."""
    dots.end()
    outcome.transient = transient_error(exc)
    outcome.timed_out = isinstance(exc, NetworkTimeout) and not isinstance(exc, AssociationAborted)
    if isinstance(exc, PeerRequestedRelease):
        log.error("Protocol Error: Peer requested release (Aborting)")
        outcome.error, outcome.peer_released = "peer requested release", True
    elif isinstance(exc, AssociationAborted):
        log.error("Store Failed, file: %s:\n%s", outcome.path, describe(exc))
        outcome.error, outcome.peer_aborted = PEER_ABORTED, True
    elif isinstance(exc, SourceChanged):
        log.error("Store Failed, file: %s:\n%s (%s)", outcome.path, exc.condition_line, exc.detail)
        outcome.error, outcome.association_lost = exc.condition_line, True
    else:
        log.error("Store Failed, file: %s:\n%s", outcome.path, describe(exc))
        outcome.error = describe(exc)
    return outcome


def _answered(
    outcome: Outcome, rsp: Command, context_id: int, started: float, log: logging.Logger, dots: Dots
) -> Outcome:
    dots.end()
    outcome.milliseconds = (time.perf_counter() - started) * 1000
    outcome.status = rsp.get("Status", 0xC000)
    if log.isEnabledFor(logging.DEBUG):
        log.info("Received Store Response")
        log.debug("%s", dump_command(rsp, incoming=True, context_id=context_id))
    else:
        log.info("Received Store Response (%s)", store_status_text(outcome.status))
    return outcome


class InFlight(Record):
    """A C-STORE sent whose response is still to come (asynchronous operations window)."""

    __slots__ = ("outcome", "message_id", "context_id", "started")

    def __init__(self, outcome: Outcome, message_id: int, context_id: int, started: float) -> None:
        self.outcome = outcome
        self.message_id = message_id
        self.context_id = context_id
        self.started = started


class StoreWindow:
    """Keeps up to ``size`` C-STOREs outstanding on one association (PS3.7 D.3.3.3), so the
    receiver's time per object overlaps our sending of the next ones; responses are matched
    to their requests by message ID, in whatever order they come."""

    def __init__(self, assoc: Association, size: int, log: logging.Logger, dots: Dots) -> None:
        self.assoc = assoc
        self.size = max(1, size)
        self.log = log
        self.dots = dots
        self.outstanding: dict[int, InFlight] = {}
        self.broken: Exception | None = None  # the association failed while responses were due
        #: files in flight when we had to abort the association, and a file not sent because
        #: the association broke while it waited for room (to be sent on a new one)
        self.unanswered: list[str] = []

    async def submit(
        self, path: str, opts: SendOptions, on_bytes: Callable[[int], object] | None = None
    ) -> list[Outcome]:
        """Send ``path`` once there is room; returns the stores finished meanwhile (in order)."""
        done = []
        while self.outstanding and self.broken is None and (self._full or not self.assoc.is_established):
            # once the association has ended, the responses that came before its end are read
            # first: sending would meet the end and lose them (stored, yet reported failed)
            done += await self.collect_one()
        if self.broken is not None:
            self.unanswered.append(path)  # never sent: without this it would be lost on a retry
            return done
        started = await start_file(self.assoc, path, opts, self.log, Progress(self.dots, on_bytes))
        if isinstance(started, Outcome):
            if started.association_lost:
                # we aborted it, not the peer: what was in flight is sent again by the caller
                self.broken = AssociationAborted(started.error or "", by_peer=False)
                self.unanswered = [p.outcome.path for p in self.outstanding.values()]
                self.outstanding.clear()
            elif started.peer_aborted or started.peer_released:
                self.broken = AssociationAborted(started.error or "", by_peer=started.peer_aborted)
                done += self._fail_all(self.broken)
            done.append(started)
        else:
            self.outstanding[started.message_id] = started
        return done

    @property
    def _full(self) -> bool:
        return len(self.outstanding) >= self.size

    async def collect_one(self) -> list[Outcome]:
        """Wait for the next response; on a failure every outstanding store fails."""
        try:
            rsp = await self.assoc.store_response(self.outstanding.keys())
        except (DimseError, OSError) as exc:
            self.broken = exc
            return self._fail_all(exc)
        pending = self.outstanding.pop(rsp.get("MessageIDBeingRespondedTo"))
        return [_answered(pending.outcome, rsp, pending.context_id, pending.started, self.log, Dots(False))]

    async def finish(self) -> list[Outcome]:
        """Wait for every outstanding response."""
        done = []
        while self.outstanding and self.broken is None:
            done += await self.collect_one()
        return done

    def _fail_all(self, exc: Exception) -> list[Outcome]:
        failed = [_failed(p.outcome, exc, self.log, Dots(False)) for p in self.outstanding.values()]
        self.outstanding.clear()
        return failed
