"""storescu: DICOM storage (C-STORE) SCU, a drop-in for DCMTK's (3.7.0 option set).

Beyond DCMTK: files are streamed from disk when their syntax was accepted; compressed files
are decompressed when the peer only takes uncompressed ones (``+dls``/``+dly``/``-dn``); more
than 128 presentation contexts are spread over several associations (``+ma``); ``--report``
writes a JSON record of every file.  Exit codes are DCMTK's (spec section 4.1).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path
from typing import Any

from ..cli import identity, network, tls
from ..cli.app import add_ae_titles, add_max_pdu, add_timeouts, end_association, new_command_line, run
from ..cli.conditions import describe
from ..cli.logs import configure
from ..cli.options import CommandLine, CommandLineError, Parsed
from ..cli.progress import NoBar
from ..cli.progress import progress_bar as make_bar
from ..cli.progress import wanted as bar_wanted
from ..core.negotiation import MAX_CONTEXTS, build_request
from ..core.pdu import AssociateRQ, UserIdentityRQ
from ..core.record import Record
from ..dcmtk import dumps
from ..dcmtk.sopclasses import STORESCU_DEFAULT_CLASSES
from ..errors import AssociationRejected, DimseError
from ..net.association import MAX_WINDOW, Association
from ..store import inputs, proposal
from ..store.asconfig import AssociationConfig, ConfigError
from ..store.inputs import InputError, ReadMode
from ..store.invent import Inventor
from ..store.journal import FileState, Journal, JournalError
from ..store.retry import DEFAULT_FIRST_WAIT, JITTER, MAX_WAIT, RetryPolicy, transient_error, transient_status
from ..store.sender import Dots, Lookahead, Outcome, Progress, SendOptions, StoreWindow, send_file
from ..store.shard import parse_shard, select
from ..store.transcode import Transcoder

#: the asynchronous operations window storescu proposes (PS3.7 D.3.3.3)
DEFAULT_WINDOW = 16


class StorescuExit(IntEnum):
    """storescu's exit codes: DCMTK's storescu returns these literal numbers (spec section
    4.1); with halting, a C-STORE failure status gives its high byte instead (:meth:`Run.exit_code`)."""

    NO_ERROR = 0
    FAILURE = 1  # every failure DCMTK's storescu reports, command-line errors included
    NO_STATUS = 10  # halting, the last store unsuccessful without a response (a peer abort)


def command_line() -> CommandLine:
    cmd = new_command_line("storescu", "DICOM storage (C-STORE) SCU")
    cmd.param("peer", "hostname of DICOM peer")
    cmd.param("port", "tcp/ip port number of peer")
    cmd.param("dcmfile-in", "DICOM file or directory to be transmitted", repeat=True)
    cmd.add("+v", "--verbose-pc", "show presentation contexts in verbose mode")
    _input_options(cmd)
    cmd.group("network options")
    _negotiation_options(cmd)
    _other_network_options(cmd)
    identity.add_options(cmd)
    tls.add_options(cmd, "client")
    cmd.group("reporting (beyond DCMTK)")
    cmd.add(None, "--report", "write a JSON summary and one record per file to f", "[f]ilename: string")
    _bulk_options(cmd)
    return cmd


def _bulk_options(cmd: CommandLine) -> None:
    """Retry, resume and shards (beyond DCMTK, all off by default: docs/scale.md)."""
    cmd.group("bulk transfers (beyond DCMTK)")
    cmd.add(
        None,
        "--retry",
        "try transient failures again on a new association,\nup to n times in a row without a file stored\n(busy peer, lost connection, 0xA7xx)",
        "[n]umber: integer (default: 0)",
    )
    cmd.add(
        None,
        "--retry-wait",
        f"wait s seconds before the first retry, doubling each\ntime (at most {MAX_WAIT:.0f} s, plus up to {JITTER:.0%})",
        f"[s]econds: float (default: {DEFAULT_FIRST_WAIT:g})",
    )
    cmd.add(
        None,
        "--journal",
        "record each file's outcome in f; skip the files f\nrecords as stored (resume an interrupted run)",
        "[f]ilename: string",
    )
    cmd.add(
        None,
        "--shard",
        "send only shard i of n of the input files\n(by SOP Instance UID; n processes send each file once)",
        "[i]/[n]: integer/integer",
    )


def _input_options(cmd: CommandLine) -> None:
    cmd.group("input options")
    cmd.group("input file format", 1)
    cmd.add("+f", "--read-file", "read file format or data set (default)")
    cmd.add("+fo", "--read-file-only", "read file format only")
    cmd.add("-f", "--read-dataset", "read data set without file meta information")
    cmd.group("input files", 1)
    cmd.add("+sd", "--scan-directories", "scan directories for input files (dcmfile-in)")
    cmd.add(
        "+sp",
        "--scan-pattern",
        "pattern for filename matching (wildcards)",
        "[p]attern: string (only with --scan-directories)",
    )
    cmd.add("-r", "--no-recurse", "do not recurse within directories (default)")
    cmd.add("+r", "--recurse", "recurse within specified directories")
    cmd.add("-rn", "--no-rename", "do not rename processed files (default)")
    cmd.add("+rn", "--rename", "append .done/.bad to processed files")


def _negotiation_options(cmd: CommandLine) -> None:
    """Addresses, AE titles and what is proposed: contexts, syntaxes, conversions."""
    cmd.group("IP protocol version", 1)
    cmd.add("-i4", "--ipv4", "use IPv4 only (default)")
    cmd.add("-i6", "--ipv6", "use IPv6 only")
    cmd.add("-i0", "--ip-auto", "use DNS lookup to determine IP protocol")
    cmd.group("application entity titles", 1)
    add_ae_titles(cmd, "STORESCU")
    cmd.group("association negotiation profile from configuration file", 1)
    cmd.add(
        "-xf",
        "--config-file",
        "use profile p from config file f\n(format: docs/config-file.md, example: examples/storescu.cfg)",
        "[f]ilename, [p]rofile: string",
        "",
    )
    cmd.group("proposed transmission transfer syntaxes (not with --config-file)", 1)
    proposal.add_options(cmd)
    cmd.add("-R", "--required", "propose only required presentation contexts\n(default: propose all supported)")
    cmd.add("+C", "--combine", "combine proposed transfer syntaxes\n(default: separate presentation context for each)")
    cmd.group("more than 128 presentation contexts (beyond DCMTK)", 1)
    cmd.add("+ma", "--multi-associations", "use further associations one after another (default)")
    cmd.add("-ma", "--no-multi-associations", "fail as DCMTK does")
    cmd.group("post-1993 value representations", 1)
    cmd.add("+u", "--enable-new-vr", "enable support for new VRs (UN/UT) (default)")
    cmd.add("-u", "--disable-new-vr", "disable support for new VRs, convert to OB")
    cmd.group("deflate compression level (only with -xd)", 1)
    cmd.add(
        "+cl", "--compression-level", "0=uncompressed, 1=fastest, 9=best compression", "[l]evel: integer (default: 6)"
    )
    cmd.group("decompression of files the peer does not accept compressed (beyond DCMTK)", 1)
    cmd.add("+dls", "--decompress-lossless", "decompress lossless compressed files only (default)")
    cmd.add("+dly", "--decompress-lossy", "decompress lossless and lossy compressed files")
    cmd.add("-dn", "--decompress-never", "never decompress, fail as DCMTK does")


def _other_network_options(cmd: CommandLine) -> None:
    """Timeouts, sizes, repetition, halting, invent mode, parallelism."""
    cmd.group("other network options", 1)
    add_timeouts(cmd)
    add_max_pdu(cmd)
    cmd.add(None, "--max-send-pdu", "restrict max send pdu to n bytes", "[n]umber of bytes: integer (4096..131072)")
    cmd.add(None, "--repeat", "repeat n times", "[n]umber: integer")
    cmd.add(None, "--abort", "abort association instead of releasing it")
    cmd.add("-nh", "--no-halt", "do not halt if unsuccessful store encountered\n(default: do halt)")
    cmd.add("-up", "--uid-padding", "silently correct space-padded UIDs")
    cmd.add("+II", "--invent-instance", "invent a new SOP instance UID for every image sent")
    for short, long, what, default in (
        ("+IR", "--invent-series", "a new series UID after n images", 100),
        ("+IS", "--invent-study", "a new study UID after n series", 50),
        ("+IP", "--invent-patient", "a new patient ID and name after n studies", 25),
    ):
        help_text = f"invent {what}\nhave been sent (default: {default})"
        cmd.add(short, long, help_text, "[n]umber: integer (implies --invent-instance)")
    cmd.add(
        None,
        "--parallel",
        "send over n associations at once (beyond DCMTK);\nthe receiver must accept several at a time",
        "[n]umber: integer (default: 1)",
    )
    cmd.add(
        None,
        "--async-window",
        "propose n outstanding C-STOREs (beyond DCMTK);\nused as far as the peer grants it, 1: do not propose",
        f"[n]umber: integer (default: {DEFAULT_WINDOW})",
    )


def _check_dependencies(parsed: Parsed, proposed: proposal.Proposal) -> None:
    """DCMTK's dependency checks, against the winning options only."""
    if (
        parsed.has("--verbose-pc")
        and not parsed.winner("--verbose", "--debug")
        and parsed.value("--log-level") not in ("info", "debug", "trace")
    ):
        raise CommandLineError("--verbose-pc only allowed with verbose mode")
    if parsed.has("--scan-pattern") and not parsed.has("--scan-directories"):
        raise CommandLineError("--scan-pattern only allowed with --scan-directories")
    if parsed.winner("--no-recurse", "--recurse") == "--recurse" and not parsed.has("--scan-directories"):
        raise CommandLineError("--recurse only allowed with --scan-directories")
    if parsed.has("--config-file"):
        choice = parsed.winner(*proposal.PROPOSE_LONGS)
        for other in ([choice] if choice and choice != "--propose-uncompr" else []) + ["--required", "--combine"]:
            if parsed.has(other):
                raise CommandLineError(f"--config-file not allowed with {other}")
    if (
        parsed.has("--compression-level")
        and proposed.preferred != proposal.DEFLATED
        and not parsed.has("--config-file")
    ):
        raise CommandLineError("--compression-level only allowed with --propose-deflated or --config-file")


def _inventor(parsed: Parsed, log: logging.Logger) -> Inventor | None:
    """``+II``/``+IR``/``+IS``/``+IP``: the invent mode's counters, or None."""
    options = ("--invent-instance", "--invent-series", "--invent-study", "--invent-patient")
    if not any(parsed.has(o) for o in options):
        return None
    return Inventor(
        images_per_series=network.int_option(parsed, "--invent-series", 100, 1),
        series_per_study=network.int_option(parsed, "--invent-study", 50, 1),
        studies_per_patient=network.int_option(parsed, "--invent-patient", 25, 1),
        log=log,
    )


def _read_mode(parsed: Parsed) -> ReadMode:
    choice = parsed.winner("--read-file", "--read-file-only", "--read-dataset")
    return {
        "--read-file-only": ReadMode(True, False),
        "--read-dataset": ReadMode(False, True),
    }.get(choice or "", ReadMode(True, True))


def _send_options(parsed: Parsed, proposed: proposal.Proposal, log: logging.Logger) -> SendOptions:
    """How each file is read, converted and sent."""
    decompress = {"--decompress-lossy": "lossy", "--decompress-never": "never"}.get(
        parsed.winner("--decompress-lossless", "--decompress-lossy", "--decompress-never") or "", "lossless"
    )
    return SendOptions(
        mode=_read_mode(parsed),
        uid_padding=parsed.has("--uid-padding"),
        prefer_deflate=proposed.preferred == proposal.DEFLATED,
        inventor=_inventor(parsed, log),
        transcoder=Transcoder(decompress, network.int_option(parsed, "--compression-level", 6, 0, 9)),
    )


def _batches(classes: list[str], proposed: proposal.Proposal) -> list[list[str]]:
    """SOP classes grouped so that each group's contexts fit one association (128)."""
    batches: list[list[str]] = [[]]
    used = 0
    for sop_class in classes:
        need = len(proposed.contexts_for(sop_class))
        if used + need > MAX_CONTEXTS and batches[-1]:
            batches.append([])
            used = 0
        batches[-1].append(sop_class)
        used += need
    return batches


def progress_bar(files: list[str], repeat: int, log: logging.Logger) -> Any:
    """Files, bytes, rate and ETA (see :func:`dimse.cli.progress.wanted` for when)."""
    enabled = bar_wanted(log)
    total = sum(inputs.file_size(f) for f in files) * repeat if enabled else 0
    return make_bar(enabled, total=total, unit="B", unit_scale=True, unit_divisor=1024)


def _rename(path: str, ok: bool, log: logging.Logger) -> str | None:
    """``+rn``: the new name, None when the file could not be renamed."""
    new = f"{path}.{'done' if ok else 'bad'}"
    try:
        os.rename(path, new)
        log.debug("renamed file '%s' to '%s'", path, new)
    except OSError:
        log.warning("cannot rename file '%s' to '%s'", path, new)
        return None
    return new


#: Outcome fields that say how an association ended, not what became of a file
_INTERNAL = ("peer_aborted", "peer_released", "association_lost", "context_id", "transient", "timed_out", "file_state")


class Round(Record):
    """What one association came to: the exit code that ends the run (None: go on), the
    files to send at once on a new association (``-nh``, after a file changed under us), and
    those to try again after a wait (``--retry``), with why; ``timed_out``: a response did not
    come in time (abort, do not release); ``held``: the outcomes of the deferred stores (booked
    as they are if the run stops before a retry); ``progress``: a file was stored on this
    association (a failure after it starts the count of attempts again)."""

    __slots__ = ("code", "rest", "deferred", "reason", "timed_out", "held", "progress")

    def __init__(  # noqa: PLR0913 (what an association came to)
        self,
        code: int | None = None,
        rest: list[str] | None = None,
        deferred: list[str] | None = None,
        reason: str = "",
        timed_out: bool = False,
        held: list[Outcome] | None = None,
        progress: bool = False,
    ) -> None:
        self.code = code
        self.rest: list[str] = [] if rest is None else rest
        self.deferred: list[str] = [] if deferred is None else deferred
        self.reason = reason
        self.timed_out = timed_out
        self.held: list[Outcome] = [] if held is None else held
        self.progress = progress

    def defer(self, outcome: Outcome) -> None:
        self.deferred.append(outcome.path)
        self.held.append(outcome)
        if not self.reason:
            if transient_status(outcome.status):
                self.reason = f"status {outcome.status or 0:04X}H"
            else:
                self.reason = (outcome.error or "").splitlines()[-1] if outcome.error else "no response"


def _left(window: StoreWindow | None, rest: list[str]) -> list[str]:
    """The files an association did not finish: those its window held unsent, then ``rest``."""
    return [*(window.unanswered if window is not None else []), *rest]


class Run:
    """One storescu run: the file loop over one or more associations, and its exit code."""

    def __init__(self, parsed: Parsed, log: logging.Logger) -> None:
        self.log = log
        self.halt = not parsed.has("--no-halt")
        self.rename = parsed.winner("--no-rename", "--rename") == "--rename"
        self.repeat = network.int_option(parsed, "--repeat", 1, 1)
        self.window = network.int_option(parsed, "--async-window", DEFAULT_WINDOW, 1, MAX_WINDOW)
        self.abort = parsed.has("--abort")
        self.required = parsed.has("--required")
        self.multi = parsed.winner("--multi-associations", "--no-multi-associations") != "--no-multi-associations"
        # the association request and its network settings (every value was checked before)
        self.calling_ae = network.ae_title(parsed, "--aetitle", "STORESCU")
        self.called_ae = network.ae_title(parsed, "--call", "ANY-SCP")
        self.max_pdu = network.max_pdu(parsed)
        self.timeouts = network.timeouts(parsed)
        self.max_send_pdu = network.max_send_pdu(parsed)
        self.family = network.address_family(parsed)
        self.dump_level = logging.INFO if parsed.has("--verbose-pc") else logging.DEBUG
        self.outcomes: list[Outcome] = []
        self.bar = progress_bar([], 1, log)  # replaced by start() once the files are known
        self.started = 0
        self.total_files = 0
        self.unsuccessful = False
        self.last_status = 0
        self.dots = Dots(log.getEffectiveLevel() == logging.INFO)
        self.proposed = proposal.from_options(parsed)
        self.config: AssociationConfig | None = None  # -xf: read at start-up, profile used per association
        self.profile = parsed.given("--config-file")[1] if parsed.has("--config-file") else ""
        self.identity: UserIdentityRQ | None = None  # the user identity item, read at start-up
        self.tls: tls.TLSContexts | None = None  # built at start-up
        self.send_options = _send_options(parsed, self.proposed, log)
        self.retry = RetryPolicy(
            network.int_option(parsed, "--retry", 0, 0, 1000),
            network.seconds_option(parsed, "--retry-wait", DEFAULT_FIRST_WAIT, 0.0, MAX_WAIT),
        )
        self.journal: Journal | None = None  # --journal: opened at start-up
        #: how many times each file was set aside to be tried again (--retry)
        self.tries: Counter[str] = Counter()

    def start(self, files: list[str]) -> None:
        """The progress bar for all files of the run (all associations share it)."""
        self.total_files = len(files) * self.repeat
        self.bar = progress_bar(files, self.repeat, self.log)

    def exit_code(self) -> int:
        """Spec 4.1: with halting, an unsuccessful store gives the status' high byte (10 if none)."""
        if self.halt and self.unsuccessful:
            return (self.last_status >> 8) or StorescuExit.NO_STATUS
        return StorescuExit.NO_ERROR

    async def association(self, host: str, port: int, classes: list[str], files: list[str]) -> int | None:
        """Send ``files`` (each ``--repeat`` times) over an association proposing ``classes``;
        None to go on, else an exit code.  A file that changed while it was being sent costs
        its association (we abort it); with ``-nh`` the files after it go out on a new one.
        With ``--retry``, what failed transiently goes out again on a new association after
        a wait, until it is done or the attempts are spent."""
        work = [path for path in files for _ in range(self.repeat)]
        attempt = 1  # attempts in a row without progress: a file stored starts the count again
        while True:
            result = await self._association(host, port, classes, work, attempt)
            if result.code is not None or (self.halt and self.unsuccessful):
                self._record(result.held, None, Round(), self.retry.retries + 1)  # the run ends: final
                return result.code
            if result.deferred:
                for path in result.deferred:
                    self.tries[path] += 1
                attempt = 1 if result.progress else attempt
                wait = self.retry.wait(attempt)
                attempt += 1
                work = [*result.deferred, *result.rest]  # rest: after a file changed under us (-nh)
                self.log.info(
                    "Retrying %d file(s) in %.1f s (attempt %d of %d): %s",
                    len(work),
                    wait,
                    attempt,
                    self.retry.retries + 1,
                    result.reason,
                )
                await asyncio.sleep(wait)
                continue
            if not result.rest:
                return None
            self.log.info("Continuing with %d file(s) on a new association", len(result.rest))
            work = result.rest

    async def _association(self, host: str, port: int, classes: list[str], work: list[str], attempt: int) -> Round:
        """One association for ``work``, attempt ``attempt`` of them (see :class:`Round`)."""
        rq = self._request(classes)
        if isinstance(rq, StorescuExit):
            return Round(rq)
        final = attempt > self.retry.retries
        assoc = await self._connect(host, port, rq, final)
        if isinstance(assoc, Association):
            return await self._files(assoc, work, Round(), attempt)
        if isinstance(assoc, str):
            return Round(deferred=work, reason=assoc)
        return Round(assoc)

    def _request(self, classes: list[str]) -> AssociateRQ | StorescuExit:
        """The A-ASSOCIATE-RQ for ``classes`` (or the ``-xf`` profile), logged as DCMTK logs
        it; or the exit code after DCMTK's words for why there is none."""
        log = self.log
        extra: dict[str, Any] = {"user_identity_rq": self.identity} if self.identity is not None else {}
        if self.window > 1:
            extra["async_ops"] = (self.window, 1)  # we invoke up to n stores, perform none
        if self.config is not None:
            try:
                profile = self.config.profile(self.profile)
            except ConfigError as exc:
                log.critical("%s", exc)
                return StorescuExit.FAILURE
            contexts = profile.contexts
            extra |= {"roles": profile.roles, "extended": profile.extended}
        else:
            contexts = self.proposed.contexts(classes)
        if len(contexts) > MAX_CONTEXTS:
            log.error("Too many presentation contexts")
            log.critical("0006:0101 ASC Bad presentation context ID")
            return StorescuExit.FAILURE
        rq = build_request(self.calling_ae, self.called_ae, contexts, self.max_pdu, **extra)
        if log.isEnabledFor(self.dump_level):  # the dump is built only when it is shown
            log.log(self.dump_level, "Request Parameters:\n%s", dumps.dump_association(rq, None, True))
        log.info("Requesting Association")
        if not contexts:
            log.critical(
                "Association Request Failed: 0006:0103 ASC Coding error in ASC_requestAssociation: missing presentation contexts"
            )
            return StorescuExit.FAILURE
        return rq

    async def _connect(self, host: str, port: int, rq: AssociateRQ, final: bool) -> Association | StorescuExit | str:
        """The association, accepted with contexts (and the user identity response, if one
        is required); or the exit code after DCMTK's words for why not; or, when the failure
        is transient and not ``final`` (``--retry``), why it is to be tried again."""
        log = self.log
        tls_options = self.tls.request_options if self.tls is not None else {}
        try:
            assoc = await Association.request(
                host, port, rq, self.timeouts, self.max_send_pdu, self.family, **tls_options
            )
        except (DimseError, OSError) as exc:
            again = not final and transient_error(exc)
            text = describe(exc)
            if isinstance(exc, AssociationRejected):
                log.log(logging.WARNING if again else logging.CRITICAL, "Association Rejected:\n%s", text)
                return "association rejected (transient)" if again else StorescuExit.FAILURE
            log.log(logging.WARNING if again else logging.CRITICAL, "Association Request Failed: %s", text)
            return text.splitlines()[-1] if again else StorescuExit.FAILURE
        accepted = assoc.conn.accept_pdu
        if log.isEnabledFor(self.dump_level):  # the dump is built only when it is shown
            log.log(self.dump_level, "Association Parameters Negotiated:\n%s", dumps.dump_association(rq, accepted, True))
        if not assoc.contexts:
            log.critical("No Acceptable Presentation Contexts")
            await assoc.abort()
            return StorescuExit.FAILURE
        if identity.response_missing(self.identity, accepted):
            log.error("User Identity Negotiation failed: Positive response requested but none received")
            log.critical("0006:0108 ASC User Identification Negotiation failed")
            await assoc.abort()
            return StorescuExit.FAILURE
        log.info("Association Accepted (Max Send PDV: %d)", network.announced_max_pdv(assoc.conn))
        return assoc

    def _record(self, finished: list[Outcome], failure: Outcome | None, pending: Round, attempt: int) -> Outcome | None:
        """Book finished stores (a transient failure with attempts left goes to ``pending``
        instead); returns the first one that ends the run (DCMTK's halting rule)."""
        for outcome in finished:
            # the last attempt, unless a file stored on it began a new count (never without --retry)
            final = not self.retry.retries or (attempt > self.retry.retries and not pending.progress)
            outcome.attempts = self.tries[outcome.path] + 1
            if not final and outcome.retryable:
                pending.defer(outcome)
                pending.timed_out |= outcome.timed_out
                continue
            self.outcomes.append(outcome)
            pending.progress |= outcome.ok
            if not (self.halt and self.unsuccessful):  # stores in flight after the halt do not undo it
                self.unsuccessful = not outcome.ok
                self.last_status = outcome.status or 0
            # +rn first: the journal names the file as a run resuming over the same folder finds it
            renamed = _rename(outcome.path, outcome.ok, self.log) if self.rename else None
            if self.journal is not None:
                self.journal.record(
                    renamed or outcome.path,
                    outcome.ok,
                    sop_instance=outcome.sop_instance,
                    status=outcome.status,
                    error=outcome.error,
                    attempts=outcome.attempts,
                    state=FileState(*outcome.file_state) if outcome.file_state is not None else None,
                )
            if failure is None and outcome.error is not None:
                if self.halt or outcome.peer_aborted or outcome.peer_released or outcome.association_lost:
                    failure = outcome
        return failure

    async def _files(self, assoc: Association, work: list[str], pending: Round, attempt: int) -> Round:
        """Every file of ``work`` over ``assoc``, then its end."""
        size = min(assoc.operations_window, self.window)
        window = StoreWindow(assoc, size, self.log, self.dots) if size > 1 else None
        failure, stopped_at = await self._send_files(assoc, work, window, pending, attempt)
        if window is not None:
            failure = self._record(await window.finish(), failure, pending, attempt)
            if window.unanswered and failure is None and not pending.deferred:
                # the association broke under the window and no new one takes what it held
                # (-nh, no retry left): each fails as it would have one at a time, reported
                unsent, window.unanswered = window.unanswered, []
                failure = await self._fail_each(assoc, unsent, pending, attempt)
        if pending.deferred and failure is None:
            return await self._end_early(assoc, pending, window, work[stopped_at:])
        ended = await self._end(assoc, failure, window, work[stopped_at:])
        ended.held, ended.progress = pending.held, pending.progress  # held: booked if the run stops here
        if ended.code is None and pending.deferred:  # -nh, a file changed under us: they still wait
            ended.deferred, ended.reason = pending.deferred, pending.reason
        return ended

    async def _fail_each(self, assoc: Association, paths: list[str], pending: Round, attempt: int) -> Outcome | None:
        """Files left when the association is gone: each tried (and failing, with DCMTK's
        lines) and booked, as DCMTK tries each with ``-nh``; the first that ends the run."""
        failure: Outcome | None = None
        for path in paths:
            failure = self._record([await self._send_one(assoc, path, None, None, None)], failure, pending, attempt)
        return failure

    async def _end_early(self, assoc: Association, pending: Round, window: StoreWindow | None, rest: list[str]) -> Round:
        """The association after a transient failure (``--retry``): released if it is still
        up (aborted when a response did not come in time); the files not done are deferred."""
        if assoc.is_established:
            ending = await end_association(assoc, pending.timed_out, self.log)
            if ending is not None:
                self.log.debug("ending the association before retrying: %s", describe(ending))
        pending.deferred += _left(window, rest)
        return pending

    async def _send_files(
        self, assoc: Association, files: list[str], window: StoreWindow | None, pending: Round, attempt: int
    ) -> tuple[Outcome | None, int]:
        """Send until done, halted or deferred: the store that ends the run (if one did), and
        how many of ``files`` were started."""
        bar = self.bar
        on_bytes = None if isinstance(bar, NoBar) else bar.update
        # with +rn a file may be renamed by the one before it: DCMTK then finds it gone, so
        # it is not opened ahead of its turn; invent mode logs what it invents as it reads a
        # file, and those lines belong after the previous file's response
        early = not self.rename and self.send_options.inventor is None
        lookahead = Lookahead(self.send_options) if early else None
        failure: Outcome | None = None
        try:
            for index, path in enumerate(files):
                if self.halt and self.unsuccessful:
                    break
                self.started = min(self.started + 1, self.total_files)
                bar.set_description(f"file {self.started}/{self.total_files}", refresh=False)
                if window is None:
                    following = files[index + 1] if index + 1 < len(files) else None
                    finished = [await self._send_one(assoc, path, on_bytes, lookahead, following)]
                else:
                    finished = await window.submit(path, self.send_options, on_bytes)
                failure = self._record(finished, failure, pending, attempt)
                if failure is not None or pending.deferred:
                    return failure, index + 1
            return None, len(files)
        finally:
            if lookahead is not None:
                lookahead.discard()

    async def _send_one(
        self,
        assoc: Association,
        path: str,
        on_bytes: Callable[[int], object] | None,
        lookahead: Lookahead | None,
        following: str | None,
    ) -> Outcome:
        """One store, its response awaited."""
        progress = Progress(self.dots, on_bytes)
        return await send_file(assoc, path, self.send_options, self.log, progress, lookahead, following)

    async def _end(
        self, assoc: Association, failure: Outcome | None, window: StoreWindow | None, rest: list[str]
    ) -> Round:
        """How the association ends after the files: released (or aborted with ``--abort``),
        aborted for a failure, or already gone; the files to send again on a new one."""
        log = self.log
        if failure is not None and (failure.peer_aborted or failure.peer_released):
            # the association is gone: with -nh DCMTK tries each file left, each fails, and
            # its release then fails (exit 1); the files left are reported failed here too
            log.info("Peer Aborted Association" if failure.peer_aborted else "Aborting Association")
            if not self.halt:
                await self._fail_each(assoc, _left(window, rest), Round(), self.retry.retries + 1)
            return Round(self.exit_code() if self.halt else StorescuExit.FAILURE)
        if failure is not None and failure.association_lost:
            log.info("Aborting Association")  # done already: the peer has half a data set
            if self.halt:
                log.error("Store SCU Failed: %s", failure.error)
                return Round(StorescuExit.FAILURE)
            return Round(rest=_left(window, rest))
        if failure is not None:
            log.error("Store SCU Failed: %s", failure.error)
            log.info("Aborting Association")
            await assoc.abort()
            return Round(StorescuExit.FAILURE)
        ending = await end_association(assoc, self.abort, log)
        if ending is not None:
            log.error("Association %s Failed: %s", "Abort" if self.abort else "Release", describe(ending))
            return Round(StorescuExit.FAILURE)
        return Round()

    def log_summary(self) -> None:
        """``-v``: how many files went out, how many bytes."""
        sent = [o for o in self.outcomes if o.ok]
        if self.outcomes:
            self.log.info(
                "Sent %d of %d files (%d bytes)%s",
                len(sent),
                len(self.outcomes),
                sum(o.bytes for o in sent),
                "" if len(sent) == len(self.outcomes) else f", {len(self.outcomes) - len(sent)} unsuccessful",
            )

    def write_report(self, path: str, exit_code: int) -> None:
        """``--report``: a summary and one record per store attempt."""
        sent = [o for o in self.outcomes if o.ok]
        summary = {
            "files": len(self.outcomes),
            "succeeded": len(sent),
            "failed": len(self.outcomes) - len(sent),
            "bytes": sum(o.bytes for o in sent),
            "milliseconds": round(sum(o.milliseconds for o in self.outcomes), 3),
            "exit_code": int(exit_code),
        }
        records = [{**{k: v for k, v in o.as_dict().items() if k not in _INTERNAL}, "ok": o.ok} for o in self.outcomes]
        import json  # here: only --report writes JSON

        Path(path).write_text(json.dumps({"summary": summary, "files": records}, indent=2) + "\n")


async def storescu_main(parsed: Parsed) -> int:
    log = configure(parsed, "storescu")
    host, port = parsed.params[0], network.port_param(parsed.params[1])
    _check_dependencies(parsed, proposal.from_options(parsed))
    network.check_values(parsed)  # value checks happen before any work, as in DCMTK
    parallel = network.int_option(parsed, "--parallel", 1, 1, 64)
    identity.check(parsed)
    tls.check(parsed, "client")
    shard = parse_shard(parsed.value("--shard", "0/1"))
    job = Run(parsed, log)
    try:
        code = await _run(job, parsed, host, port, shard, parallel)
    except JournalError as exc:  # cannot be read or written: what is sent can no longer be told
        log.critical("%s", exc)
        code = StorescuExit.FAILURE
    if job.journal is not None:
        try:
            job.journal.close()
        except JournalError as exc:
            log.critical("%s", exc)
            code = StorescuExit.FAILURE
    return code


async def _run(job: Run, parsed: Parsed, host: str, port: int, shard: tuple[int, int], parallel: int) -> int:
    """Read the inputs, set up TLS, send; the exit code (and ``--report``)."""
    log = job.log
    prepared = _prepare(job, parsed, shard, f"{job.called_ae}@{host}:{port}", log)
    if isinstance(prepared, StorescuExit):
        return prepared
    files, classes = prepared
    job.tls = tls.contexts(parsed, "client", log)  # after the input check, as in DCMTK
    if job.tls is None:
        return StorescuExit.FAILURE
    try:
        exit_code = await _send(job, host, port, files, classes, parallel)
        job.log_summary()
        report = parsed.value("--report")
        if report:
            job.write_report(report, exit_code)
        return exit_code
    finally:
        job.tls.finish()


def _prepare(
    job: Run, parsed: Parsed, shard: tuple[int, int], peer: str, log: logging.Logger
) -> tuple[list[str], list[str]] | StorescuExit:
    """The user identity, the ``-xf`` file and the input files, read before any connection
    (the files to send: this ``--shard``'s, less those ``--journal`` records as stored; and
    with ``-R`` the SOP classes to propose); or the exit code."""
    try:
        job.identity = identity.request(parsed, log)
    except identity.IdentityError as exc:
        log.error("%s", exc)
        return StorescuExit.FAILURE
    if parsed.has("--config-file"):
        try:
            job.config = AssociationConfig(parsed.given("--config-file")[0])
        except ConfigError as exc:
            log.error("reading config file: %s", exc)
            return StorescuExit.FAILURE
    try:
        files = inputs.determine(
            parsed.params[2:],
            parsed.has("--scan-directories"),
            parsed.value("--scan-pattern"),
            parsed.winner("--no-recurse", "--recurse") == "--recurse",
            log,
        )
        if not files:
            raise InputError("no input files to be sent")
        files = _share(job, files, shard, parsed.value("--journal"), peer, log)
        if not files:
            return StorescuExit.NO_ERROR
        opts = job.send_options
        return inputs.check(files, job.required, job.halt, opts.mode, opts.uid_padding, log)
    except InputError as exc:
        log.critical("%s", exc)
        return StorescuExit.FAILURE


def _share(
    job: Run, files: list[str], shard: tuple[int, int], journal: str | None, peer: str, log: logging.Logger
) -> list[str]:
    """This run's part of ``files``: its ``--shard``, less what the ``--journal`` records as
    stored (opened here, kept in ``job``); empty when nothing is left to do (said why)."""
    index, count = shard
    if count > 1:
        opts = job.send_options
        files = select(files, index, count, lambda path: _instance_of(path, opts.mode, opts.uid_padding))
        log.info("shard %d/%d: %d file(s)", index, count, len(files))
        if not files:
            log.info("no input files in shard %d/%d", index, count)
            return files
    if journal:
        job.journal = Journal(journal, peer)
        job.send_options.file_state = True
        left = [path for path in files if not job.journal.already_stored(path)]
        if len(left) < len(files):
            log.info("skipping %d file(s) recorded as stored in journal %s", len(files) - len(left), journal)
        if not left:
            log.info("nothing left to send: every file is recorded as stored")
        files = left
    return files


def _instance_of(path: str, mode: ReadMode, uid_padding: bool) -> str:
    """A file's SOP Instance UID, "" when it cannot be read (then its path decides its shard)."""
    try:
        return inputs.read_sop_uids(path, mode, uid_padding)[1]
    except Exception:  # any unreadable file: it is reported when its shard sends it
        return ""


async def _send(job: Run, host: str, port: int, files: list[str], classes: list[str], parallel: int) -> int:
    """Every file over as many associations as it takes (``+ma``, ``--parallel``); the exit code."""
    if not job.required:
        classes = list(STORESCU_DEFAULT_CLASSES)
    batches = [classes]
    if job.required and len(job.proposed.contexts(classes)) > MAX_CONTEXTS and job.multi:
        batches = _batches(classes, job.proposed)
    code: int | None = None
    job.start(files)
    class_of = {f: _class_of(f, job) for f in files} if len(batches) > 1 else {}  # read each file once
    for batch in batches:
        members = set(batch)
        batch_files = files if len(batches) == 1 else [f for f in files if class_of[f] in members]
        groups = [batch_files[i::parallel] for i in range(parallel) if batch_files[i::parallel]]
        codes = await asyncio.gather(*(job.association(host, port, batch, group) for group in groups or [[]]))
        code = next((c for c in codes if c is not None), None)
        if code is not None or (job.halt and job.unsuccessful):
            break
    job.bar.close()
    return job.exit_code() if code is None else code


def _class_of(path: str, job: Run) -> str:
    try:
        return inputs.read_sop_uids(path, job.send_options.mode, job.send_options.uid_padding)[0]
    except Exception:
        return ""


def main(argv: list[str] | None = None) -> int:
    return run(command_line(), argv, storescu_main)
