"""Sending one file as storescu does (spec section 3.4), streaming it when possible.

A file whose transfer syntax the peer accepted is sent from disk as it is, after reading only
its meta header and the two SOP UIDs; a file that needs another syntax is decoded with pydicom
and encoded again (native syntaxes), or decompressed / compressed when allowed and a codec
exists (see :mod:`dimse.store.transcode`).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from ..cli.conditions import PEER_ABORTED, describe
from ..core.commands import Command, c_store_rq
from ..core.connection import PresentationContext
from ..dcmtk.dumps import dump_command
from ..dcmtk.modality import MODALITY_PREFIX, NOT_IN_DCMTK_367, modality_prefix
from ..dcmtk.texts import store_status_text
from ..dcmtk.uid_names import sop_class_name, ts_description
from ..errors import AssociationAborted, DimseError, PeerRequestedRelease
from ..files.part10 import (
    BadDicomFile,
    Part10Header,
    SourceChanged,
    encode_dataset,
    garbled,
    open_regular,
    read_any,
    read_part10_header,
    read_sop_uids,
    truncated,
)
from ..files.scan import VRS, Garbled, Truncated, scan
from ..net.association import Association
from ..uids import NATIVE
from ..uids import DeflatedExplicitVRLittleEndian as DEFLATED
from ..uids import ExplicitVRBigEndian as BEE
from ..uids import ExplicitVRLittleEndian as LEE
from ..uids import ImplicitVRLittleEndian as LEI
from .inputs import ReadMode
from .invent import Inventor
from .transcode import TranscodeError, Transcoder

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

INAPPROPRIATE_DATA = "0006:0202 DIMSE Inappropriate data for message"
SEND_FAILED = "0006:020e DIMSE Failed to send message"


@dataclass
class Outcome:
    """What one store attempt came to."""

    path: str
    status: int | None = None  # the C-STORE-RSP status when the exchange worked
    error: str | None = None  # DCMTK-style condition text when it did not
    peer_aborted: bool = False
    peer_released: bool = False
    association_lost: bool = False  # we aborted it: the file changed while it was being sent
    context_id: int = 0
    sop_class: str = ""
    sop_instance: str = ""
    transfer_syntax: str = ""
    bytes: int = 0
    milliseconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Success or warning (DCMTK's rule, 0x0001 included)."""
        s = self.status
        return self.error is None and s is not None and (s == 0 or s >> 12 == 0xB or s in (0x0001, 0x0107, 0x0116))


@dataclass
class Loaded:
    """A file read as far as sending it needs.  The file stays open until :meth:`close`:
    its bytes are sent from this handle, so a file renamed or removed after it was loaded
    (an outbox cleaner, ``+rn``) is still sent whole."""

    transfer_syntax: str
    sop_class: str
    sop_instance: str
    region: tuple[BinaryIO, int, int] | None = None  # the data set on disk, if it can be sent as is
    dataset: Dataset | None = None
    in_memory: memoryview | None = None  # the data set, when the whole (small) file was read
    fp: BinaryIO | None = None

    def close(self) -> None:
        if self.fp is not None:
            self.fp.close()
            self.fp = None


@dataclass
class SendOptions:
    mode: ReadMode = field(default_factory=ReadMode)
    uid_padding: bool = False
    prefer_deflate: bool = False
    inventor: Inventor | None = None
    transcoder: Transcoder = field(default_factory=Transcoder)


def _ts_of(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if ts:
        return ts
    implicit, little = ds.original_encoding
    return LEI if implicit else (LEE if little else BEE)


def load(path: str, opts: SendOptions) -> Loaded:
    """Transfer syntax and SOP UIDs of a file; decodes it only when it must.  The file is
    opened once, here: what is sent later comes from that handle."""
    fp = open_regular(path)
    try:
        loaded = _load(path, fp, opts)
    except BaseException:
        fp.close()
        raise
    loaded.fp = fp
    return loaded


def _load(path: str, fp: BinaryIO, opts: SendOptions) -> Loaded:
    header = None
    if opts.mode.allow_file:
        try:
            header = read_part10_header(path, fp)
        except BadDicomFile:
            if not opts.mode.allow_dataset:
                raise
    uids = None
    if header is not None and opts.inventor is None:
        try:
            uids = read_sop_uids(header, fp)
        except Garbled as exc:
            if not exc.at_start:
                raise garbled(exc) from None
            _whole_as_implicit(header, fp)  # implicit VR behind an explicit meta header
    elif header is not None:
        _whole(header, fp)
    if uids is not None:
        sop_class, sop_instance = (_unpad(v, opts.uid_padding) for v in uids)
        return Loaded(
            header.transfer_syntax,
            sop_class,
            sop_instance,
            region=(fp, header.dataset_offset, header.dataset_length),
            in_memory=header.dataset_in_memory if header.transfer_syntax != DEFLATED else None,
        )
    if header is None:
        _whole_bare(fp)
    ds = read_any(fp)
    if opts.inventor is not None:
        opts.inventor.apply(ds)
    values = [_unpad(str(ds.get(k, "") or ""), opts.uid_padding) for k in ("SOPClassUID", "SOPInstanceUID")]
    return Loaded(_ts_of(ds), values[0], values[1], dataset=ds)


def _whole(header: Part10Header, fp: BinaryIO) -> None:
    """Refuse a file whose data set is not whole, as DCMTK does, before anything of it is
    decoded: pydicom's forced reading would take damaged lengths for values."""
    try:
        read_sop_uids(header, fp)
    except Garbled as exc:
        if not exc.at_start:
            raise garbled(exc) from None
        _whole_as_implicit(header, fp)


def _whole_as_implicit(header: Part10Header, fp: BinaryIO) -> None:
    """A data set whose first element is not explicit VR is decoded (and re-encoded) only if
    it is whole read as implicit VR little endian, the usual way such files are written."""
    try:
        scan(fp, header.dataset_offset, header.dataset_length, True, True)
    except Truncated as exc:
        raise truncated(exc) from None
    except Garbled as exc:
        raise garbled(exc) from None


def _whole_bare(fp: BinaryIO) -> None:
    """The same check for a data set without meta header (``+f``, ``-f``), in the encoding
    its first element shows -- DCMTK's guess: explicit VR when a VR follows the tag, big
    endian when the group reads as one."""
    size = fp.seek(0, 2)
    fp.seek(0)
    head = fp.read(6)
    implicit = len(head) < 6 or head[4:6] not in VRS
    little = not (len(head) >= 2 and head[0] == 0 and head[1] != 0)
    try:
        scan(fp, 0, size, implicit, little)
    except Truncated as exc:
        raise truncated(exc) from None
    except Garbled as exc:
        raise garbled(exc) from None


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
        self._result: Loaded | BadDicomFile | None = None

    def prepare(self, path: str) -> None:
        """Load ``path`` now, for the next :meth:`take` of it."""
        self.discard()
        try:
            self._result = load(path, self.opts)
        except BadDicomFile as exc:
            self._result = exc
        self._path = path

    def take(self, path: str) -> Loaded:
        """What :func:`load` gives for ``path``, prepared earlier or read now."""
        result, prepared = self._result, self._path
        self._path = self._result = None
        if prepared != path or result is None:
            if isinstance(result, Loaded):
                result.close()
            return load(path, self.opts)
        if isinstance(result, BadDicomFile):
            raise result
        return result

    def discard(self) -> None:
        """Forget (and close) a file prepared but not taken."""
        if isinstance(self._result, Loaded):
            self._result.close()
        self._path = self._result = None


def _unpad(uid: str, uid_padding: bool) -> str:
    """-up drops one trailing space; a trailing NUL is UI padding anyway."""
    if uid_padding and uid.endswith(" "):
        uid = uid[:-1]
    return uid.rstrip("\0")


def select_context(assoc: Association, sop_class: str, ts: str, prefer_deflate: bool) -> PresentationContext | None:
    """DCMTK's order: same syntax; else explicit LE/BE; else implicit; else the first one.

    Remembered per association (its contexts never change): a default proposal has over a
    hundred contexts, and looking through them was a visible share of the time per file."""
    chosen = assoc.__dict__.setdefault("_chosen_contexts", {})
    key = (sop_class, ts, prefer_deflate)
    if key not in chosen:
        chosen[key] = _select_context(assoc, sop_class, ts, prefer_deflate)
    return chosen[key]


def _select_context(assoc: Association, sop_class: str, ts: str, prefer_deflate: bool) -> PresentationContext | None:
    candidates = [c for c in assoc.contexts.values() if c.abstract_syntax == sop_class]
    wanted = DEFLATED if prefer_deflate and ts in NATIVE else ts
    for test in (
        lambda c: c.transfer_syntax == wanted,
        lambda c: c.transfer_syntax in (LEE, BEE),
        lambda c: c.transfer_syntax == LEI,
        lambda c: True,
    ):
        for ctx in candidates:
            if test(ctx):
                return ctx
    return None


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


async def send_file(
    assoc: Association,
    path: str,
    opts: SendOptions,
    log: logging.Logger,
    dots: Dots,
    on_bytes: Callable[[int], object] | None = None,
    window: bool = False,
    lookahead: Lookahead | None = None,
    next_path: str | None = None,
) -> Outcome | InFlight:
    """One store attempt for ``path``: everything logged in DCMTK's words.  With ``window``
    the response is not waited for: an :class:`InFlight` is returned once the data set is
    sent (or an Outcome when the attempt failed before that).  With a ``lookahead``, the
    file comes from it, and ``next_path`` is loaded into it while the response is due."""
    message_id = assoc.next_message_id()
    outcome = Outcome(path)
    log.info("Sending file: %s", path)
    try:
        loaded = lookahead.take(path) if lookahead is not None else load(path, opts)
    except BadDicomFile as exc:
        return bad_file(outcome, exc, log)
    try:
        sent = await _send_loaded(assoc, loaded, outcome, message_id, opts, log, dots, on_bytes, window)
    finally:
        loaded.close()
    if not isinstance(sent, float):
        return sent
    try:
        if lookahead is not None and next_path is not None:
            lookahead.prepare(next_path)
        rsp = await assoc.store_response((message_id,))
    except (DimseError, OSError) as exc:
        return _failed(outcome, exc, log, dots)
    return _answered(outcome, rsp, outcome.context_id, sent, log, dots)


def bad_file(outcome: Outcome, exc: BadDicomFile, log: logging.Logger) -> Outcome:
    """A file refused before anything of it was sent, in DCMTK's two lines."""
    if exc.detail:
        log.error("%s", exc.detail)
    log.error("Bad DICOM file: %s: %s", outcome.path, exc)
    outcome.error = exc.condition_line
    return outcome


async def _send_loaded(
    assoc: Association,
    loaded: Loaded,
    outcome: Outcome,
    message_id: int,
    opts: SendOptions,
    log: logging.Logger,
    dots: Dots,
    on_bytes: Callable[[int], object] | None,
    window: bool,
) -> Outcome | InFlight | float:
    """Choose the context, build the request and send it with its data set; the time it
    started when a response is now due (else the failed Outcome, or the InFlight store)."""
    path = outcome.path
    outcome.sop_class, outcome.sop_instance = loaded.sop_class, loaded.sop_instance
    if not loaded.sop_class or not loaded.sop_instance:
        log.error("No SOP Class or Instance UID in file: %s", path)
        outcome.error = INAPPROPRIATE_DATA
        return outcome
    ctx = select_context(assoc, loaded.sop_class, loaded.transfer_syntax, opts.prefer_deflate)
    if ctx is None:
        log.error("No presentation context for: (%s) %s", class_label(loaded.sop_class), loaded.sop_class)
        outcome.error = "0006:0208 DIMSE No valid Presentation Context ID"
        return outcome
    outcome.context_id = ctx.context_id
    target = ctx.transfer_syntax
    outcome.transfer_syntax = target
    if target != loaded.transfer_syntax:
        log.info("Converting transfer syntax: %s -> %s", ts_description(loaded.transfer_syntax), ts_description(target))
    log.info("Sending Store Request (MsgID %d, %s)", message_id, modality_prefix(loaded.sop_class))
    try:
        source, sop_instance = _source(loaded, target, opts)
    except TranscodeError as exc:
        conn = assoc.conn.request_pdu
        dots.start()
        dots.end()
        log.warning(
            "DIMSE Warning: (%s,%s): sendMessage: unable to convert dataset from '%s' transfer syntax to '%s'",
            conn.calling_ae,
            conn.called_ae,
            ts_description(loaded.transfer_syntax),
            ts_description(target),
        )
        log.warning("%s", exc)
        log.error("Store Failed, file: %s:\n%s", path, SEND_FAILED)
        outcome.error = SEND_FAILED
        return outcome
    except BadDicomFile as exc:
        return bad_file(outcome, exc, log)
    outcome.bytes = source[2] if isinstance(source, tuple) else len(source)
    outcome.sop_instance = sop_instance
    command = c_store_rq(message_id, loaded.sop_class, sop_instance)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s", dump_command(command, incoming=False))

    def report(size: int) -> None:
        dots.fragment(size)
        if on_bytes is not None:
            on_bytes(size)

    progress = report if dots.enabled or on_bytes is not None else None  # else no call per fragment

    started = time.perf_counter()
    dots.start()
    try:
        await assoc.send_store(ctx.context_id, command, source, progress)
    except (DimseError, OSError) as exc:
        return _failed(outcome, exc, log, dots)
    if window:
        dots.end()
        return InFlight(outcome, message_id, ctx.context_id, started)
    return started


def _failed(outcome: Outcome, exc: Exception, log: logging.Logger, dots: Dots) -> Outcome:
    """A store that ended without a response, logged in DCMTK's words."""
    dots.end()
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


@dataclass
class InFlight:
    """A C-STORE sent whose response is still to come (asynchronous operations window)."""

    outcome: Outcome
    message_id: int
    context_id: int
    started: float


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
        #: files in flight when we had to abort the association (to be sent on a new one)
        self.unanswered: list[str] = []

    async def submit(
        self, path: str, opts: SendOptions, on_bytes: Callable[[int], object] | None = None
    ) -> list[Outcome]:
        """Send ``path`` once there is room; returns the stores finished meanwhile (in order)."""
        done = []
        while len(self.outstanding) >= self.size and self.broken is None:
            done += await self.collect_one()
        if self.broken is not None:
            return done
        started = await send_file(self.assoc, path, opts, self.log, self.dots, on_bytes, window=True)
        if isinstance(started, Outcome):
            if started.association_lost:
                # we aborted it, not the peer: what was in flight is sent again by the caller
                self.broken = AssociationAborted(started.error or "")
                self.unanswered = [p.outcome.path for p in self.outstanding.values()]
                self.outstanding.clear()
            elif started.peer_aborted or started.peer_released:
                self.broken = AssociationAborted(started.error or "")
                done += self._fail_all(self.broken)
            done.append(started)
        else:
            self.outstanding[started.message_id] = started
        return done

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


def _source(
    loaded: Loaded, target: str, opts: SendOptions
) -> tuple[bytes | memoryview | tuple[BinaryIO, int, int], str]:
    """What goes on the wire (the file region itself -- from memory when the small file was
    read whole --, or the data set in ``target``), and the SOP Instance UID to announce (lossy
    compression gives a new one)."""
    if target == loaded.transfer_syntax and loaded.region is not None:
        if loaded.in_memory is not None:
            return loaded.in_memory, loaded.sop_instance
        return loaded.region, loaded.sop_instance
    ds = loaded.dataset if loaded.dataset is not None else read_any(loaded.fp)
    if target == loaded.transfer_syntax or (loaded.transfer_syntax in NATIVE and target in NATIVE):
        return encode_dataset(ds, target, opts.transcoder.deflate_level), loaded.sop_instance
    raw = opts.transcoder.convert(ds, loaded.transfer_syntax, target)
    return raw, str(ds.get("SOPInstanceUID", loaded.sop_instance))
