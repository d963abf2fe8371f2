"""getscu: DICOM retrieve (C-GET) SCU, a drop-in for DCMTK 3.6.7's.

The objects come on the C-GET association itself, as C-STORE sub-operations, on the storage
contexts we propose in the SCP role; they are streamed to ``-od`` as movescu's receiver writes
them.  Unlike DCMTK's: a C-GET that failed (error or warning status, an exchange that broke)
exits 1, not 0; bad ``-k`` keys are command-line errors.  The loop is :mod:`dimse.get.getter`.

Beyond DCMTK (one request, no ``--repeat``/``--cancel``, -P or -S): the study's instances are
learnt first with C-FINDs (:mod:`dimse.get.survey`), the classes found are proposed (then
DCMTK's list where there is room), and instances that one association cannot hold (more than
127 classes, or classes the peer's C-FIND did not say) are fetched on further associations at
IMAGE level; an instance that never came is named.  ``--no-study-classes``: DCMTK's 120
classes and nothing more.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path

from ..cli import network, preferences, tls
from ..cli.app import add_max_pdu, add_output_directory, end_association, run
from ..cli.conditions import describe
from ..cli.logs import configure
from ..cli.options import CommandLine, CommandLineError, Parsed
from ..core.negotiation import build_request
from ..core.pdu import AssociateRQ
from ..core.record import FrozenRecord
from ..dcmtk import dumps
from ..dcmtk.sopclasses import STORAGE_CLASSES
from ..dcmtk.uid_names import sop_class_name
from ..errors import AssociationRejected, DimseError
from ..get.contexts import GETSCU_STORAGE_CLASSES, contexts
from ..get.getter import Getter
from ..get.receiver import GetReceiver
from ..get.survey import Instance, Peer, class_groups
from ..move.mover import MoveOptions, MoveRequest, MoveResult
from ..move.options import retrieve_command_line
from ..move.requests import requests as query_requests
from ..move.verify import holdings, image_requests
from ..net.association import Association, Timeouts
from ..store import proposal


class GetscuExit(IntEnum):
    """getscu's exit codes: DCMTK 3.6.7's getscu gives 1 for every failure."""

    NO_ERROR = 0
    FAILURE = 1  # command line, output directory, association, a failed C-GET (DCMTK: 0)


#: the GET SOP class of each information model (-P/-S/-O)
MODELS = {
    "--patient": "1.2.840.10008.5.1.4.1.2.1.3",
    "--study": "1.2.840.10008.5.1.4.1.2.2.3",
    "--psonly": "1.2.840.10008.5.1.4.1.2.3.3",
}
#: the ``--propose-*`` options getscu has (``store.proposal``), in its usage order
PROPOSALS = ("--propose-uncompr", "--propose-little", "--propose-big", "--propose-deflated", "--propose-implicit")


def command_line() -> CommandLine:
    cmd = retrieve_command_line("getscu", "DICOM retrieve (C-GET) SCU", "retrieve information model", "GETSCU")
    cmd.group("preferred storage transfer syntaxes (incoming associations)", 1)
    preferences.add_options(cmd)
    cmd.group("proposed retrieve transfer syntaxes (outgoing associations)", 1)
    proposal.add_options(cmd, PROPOSALS)
    cmd.group("other network options", 1)
    cmd.add("-to", "--timeout", "timeout for connection requests", "[s]econds: integer (default: unlimited)")
    cmd.add("-ta", "--acse-timeout", "timeout for ACSE messages", "[s]econds: integer (default: 30)")
    cmd.add("-td", "--dimse-timeout", "timeout for DIMSE messages", "[s]econds: integer (default: unlimited)")
    add_max_pdu(cmd)
    cmd.add(None, "--repeat", "repeat n times", "[n]umber: integer")
    cmd.add(None, "--abort", "abort association instead of releasing it")
    cmd.add(None, "--cancel", "cancel after n responses (default: never; beyond DCMTK)", "[n]umber: integer")
    cmd.add(
        None,
        "--no-study-classes",
        "propose DCMTK's 120 storage classes, do not\nlearn the study's classes first (beyond DCMTK)",
    )
    tls.add_options(cmd, "client")
    cmd.group("output options")
    cmd.group("general", 1)
    add_output_directory(cmd)
    cmd.group("storage mode", 1)
    cmd.add(
        "-B", "--normal", "receive in memory, then write to disk (default;\nobjects are streamed to disk either way)"
    )
    cmd.add("+B", "--bit-preserving", "receive directly to disk")
    cmd.add(None, "--ignore", "ignore store data, receive but do not store")
    return cmd


class GetSettings(FrozenRecord):
    """What getscu's options ask for, every value checked before any network work."""

    __slots__ = (
        "host",
        "port",
        "requests",
        "timeouts",
        "get",
        "repeat",
        "abort",
        "output",
        "ignore",
        "calling",
        "called",
        "query_syntaxes",
        "storage_syntaxes",
        "max_pdu",
        "learn",
        "bit_preserving",
    )
    host: str
    port: int
    requests: list[MoveRequest]
    timeouts: Timeouts
    get: MoveOptions
    repeat: int
    abort: bool
    output: Path
    ignore: bool
    calling: str
    called: str
    query_syntaxes: tuple[str, ...]
    storage_syntaxes: tuple[str, ...]
    max_pdu: int
    learn: bool
    bit_preserving: bool

    def __init__(  # noqa: PLR0913
        self,
        host: str,
        port: int,
        requests: list[MoveRequest],
        timeouts: Timeouts,
        get: MoveOptions,
        repeat: int,
        abort: bool,
        output: Path,
        ignore: bool,
        calling: str = "GETSCU",
        called: str = "ANY-SCP",
        query_syntaxes: tuple[str, ...] = (),
        storage_syntaxes: tuple[str, ...] = (),
        max_pdu: int = 16384,
        learn: bool = True,  # survey the study first (get.survey); --no-study-classes: DCMTK's list only
        bit_preserving: bool = False,  # +B: files named by SOP Instance UID alone, as DCMTK's getscu names them
    ) -> None:
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "requests", requests)
        object.__setattr__(self, "timeouts", timeouts)
        object.__setattr__(self, "get", get)
        object.__setattr__(self, "repeat", repeat)
        object.__setattr__(self, "abort", abort)
        object.__setattr__(self, "output", output)
        object.__setattr__(self, "ignore", ignore)
        object.__setattr__(self, "calling", calling)
        object.__setattr__(self, "called", called)
        object.__setattr__(self, "query_syntaxes", query_syntaxes)
        object.__setattr__(self, "storage_syntaxes", storage_syntaxes)
        object.__setattr__(self, "max_pdu", max_pdu)
        object.__setattr__(self, "learn", learn)
        object.__setattr__(self, "bit_preserving", bit_preserving)

    @property
    def rq(self) -> AssociateRQ:
        """The first association's request when the study's classes are not learnt: DCMTK's list."""
        return self.request(GETSCU_STORAGE_CLASSES)

    def request(self, classes: Sequence[str]) -> AssociateRQ:
        """The A-ASSOCIATE-RQ proposing the GET model and ``classes`` in the SCP role."""
        proposed, roles = contexts(self.get.sop_class, self.query_syntaxes, self.storage_syntaxes, classes)
        return build_request(self.calling, self.called, proposed, self.max_pdu, roles=roles)


def read_settings(parsed: Parsed) -> GetSettings:
    """All option values, with DCMTK's conflict checks (the first bad one is reported)."""
    host, port = parsed.params[0], network.port_param(parsed.params[1])
    ignore = parsed.has("--ignore")
    storage_mode = parsed.winner("--normal", "--bit-preserving")
    if ignore and (parsed.has("--output-directory") or storage_mode):
        raise CommandLineError(
            f"{'--output-directory' if parsed.has('--output-directory') else storage_mode} not allowed with --ignore"
        )
    network.check_values(parsed)
    cancel = network.int_option(parsed, "--cancel", 0, 0)
    texts = [values[0] for values in parsed.all_values("--key")]
    requests = query_requests(texts, parsed.params[2:], rightmost_wins=True)  # as DCMTK's getscu
    get_class = MODELS[parsed.winner(*MODELS) or "--patient"]
    query_syntaxes = tuple(proposal.from_options(parsed, PROPOSALS).transfer_syntaxes)
    storage_syntaxes = tuple(preferences.from_options(parsed))
    calling, called = network.ae_title(parsed, "--aetitle", "GETSCU"), network.ae_title(parsed, "--call", "ANY-SCP")
    return GetSettings(
        calling=calling,
        called=called,
        query_syntaxes=query_syntaxes,
        storage_syntaxes=storage_syntaxes,
        max_pdu=network.max_pdu(parsed),
        learn=not parsed.has("--no-study-classes"),
        bit_preserving=storage_mode == "--bit-preserving",
        host=host,
        port=port,
        requests=requests,
        timeouts=network.retrieve_timeouts(parsed),
        get=MoveOptions(sop_class=get_class, destination="", cancel_after=cancel),
        repeat=network.int_option(parsed, "--repeat", 1, 1),
        abort=parsed.has("--abort"),
        output=Path(parsed.value("--output-directory", ".")),
        ignore=ignore,
    )


def _output_ready(settings: GetSettings, log: logging.Logger) -> bool:
    """DCMTK's check of the output directory, before any network work."""
    if settings.ignore:
        return True
    if not settings.output.is_dir():
        log.critical("specified output directory does not exist")
        return False
    if not os.access(settings.output, os.W_OK):
        log.critical("specified output directory is not writeable")
        return False
    return True


async def getscu_main(parsed: Parsed) -> int:
    log = configure(parsed, "getscu")
    settings = read_settings(parsed)
    tls.check(parsed, "client")
    if not _output_ready(settings, log):
        return GetscuExit.FAILURE
    tls_contexts = tls.contexts(parsed, "client", log)
    if tls_contexts is None:
        return GetscuExit.FAILURE
    try:
        return await _run(settings, log, tls_contexts)
    finally:
        tls_contexts.finish()


async def _run(settings: GetSettings, log: logging.Logger, tls_contexts: tls.TLSContexts) -> int:
    """Learn the study's classes (``get.survey``), then the C-GETs on as many associations as
    its classes need: the requests as given on the first, the instances still missing at IMAGE
    level on the others."""
    instances = await _survey(settings, log, tls_contexts)
    groups = class_groups(instances, GETSCU_STORAGE_CLASSES, STORAGE_CLASSES)
    receiver = GetReceiver(settings.output, settings.ignore, False, log, bit_preserving=settings.bit_preserving)
    receiver.sweep()
    try:
        rq = settings.rq if instances is None else settings.request(groups[0])
        code, failed = await _get_on(settings, rq, settings.requests, settings.repeat, receiver, log, tls_contexts)
        if instances is None or failed is None:
            if settings.learn:  # --no-study-classes: DCMTK's lines only
                _name_failed(failed or [], [], {}, log)
            return code
        retried: list[int] = []
        for classes in groups[1:]:
            wanted = set(classes)
            batch = [
                i for i in instances if i.uid not in receiver.received and (i.sop_class in wanted or not i.sop_class)
            ]
            if not batch:
                continue
            log.info(
                "Retrieving %d instance(s) on a further association (%d storage classes)", len(batch), len(classes)
            )
            more, more_failed = await _get_on(
                settings, settings.request(classes), image_requests(batch), 1, receiver, log, tls_contexts
            )
            retried.append(more)
            failed += more_failed or []
    finally:
        receiver.tidy()
    missing = [i for i in instances if i.uid not in receiver.received]
    _name_failed(failed, [i.uid for i in missing], {i.uid: i.sop_class for i in instances}, log)
    if retried:  # the first C-GET's failures were fetched again: what counts is what is still missing
        code = GetscuExit.FAILURE if missing or any(retried) else GetscuExit.NO_ERROR
    return code


async def _survey(settings: GetSettings, log: logging.Logger, tls_contexts: tls.TLSContexts) -> list[Instance] | None:
    """The instances of a single request (None: not learnt; DCMTK's default list is proposed)."""
    if not settings.learn or len(settings.requests) != 1 or settings.repeat != 1 or settings.get.cancel_after:
        return None
    peer = Peer(
        settings.host,
        settings.port,
        settings.calling,
        settings.called,
        settings.max_pdu,
        settings.timeouts,
        tls_contexts.request_options,
    )
    # an unreadable query file gives None too: the C-GET then says why, in DCMTK's words
    return await holdings(peer, settings.get.sop_class, settings.requests, log)


def _name_failed(failed: list[str], missing: list[str], classes: dict[str, str], log: logging.Logger) -> None:
    """One line per instance that never came: those the peer reported failed, and (when the
    survey knows what to expect) those that are missing all the same -- which instance, which
    class.  ``classes`` empty: no survey, every failed instance is named."""
    named = missing if classes else list(dict.fromkeys(failed))
    reported = set(failed)
    for uid in named:
        sop_class = classes.get(uid, "")
        shown = f" ({sop_class_name(sop_class) or sop_class})" if sop_class else ""
        why = ": SOP class unknown to getscu" if sop_class and sop_class not in STORAGE_CLASSES else ""
        if uid in reported or not classes:
            log.warning("Sub-operation failed for SOP Instance %s%s%s", uid, shown, why)
        else:
            log.warning("SOP Instance %s%s was not received%s", uid, shown, why)


async def _get_on(
    settings: GetSettings,
    rq: AssociateRQ,
    requests: list[MoveRequest],
    repeat: int,
    receiver: GetReceiver,
    log: logging.Logger,
    tls_contexts: tls.TLSContexts,
) -> tuple[GetscuExit, list[str] | None]:
    """One association, its C-GETs, its end: the exit code and the failed instances the peer
    named (None: no association)."""
    assoc = await _associate(settings, rq, log, tls_contexts)
    if assoc is None:
        return GetscuExit.FAILURE, None
    getter = Getter(assoc, settings.get, log, receiver)
    ended = await getter.run(requests, repeat)  # False: aborted already
    code = GetscuExit.NO_ERROR if getter.result == MoveResult.SUCCESS else GetscuExit.FAILURE
    if ended:
        failure = await end_association(assoc, settings.abort, log)
        if failure is not None:
            log.critical("Association %s Failed:\n%s", "Abort" if settings.abort else "Release", describe(failure))
            code = GetscuExit.FAILURE
    return code, getter.failed_uids


async def _associate(
    settings: GetSettings, rq: AssociateRQ, log: logging.Logger, tls_contexts: tls.TLSContexts
) -> Association | None:
    """The association with a C-GET context, or None after logging DCMTK's line for why not."""
    log.debug("Configured a total of %d presentation contexts for SCU", len(rq.contexts))
    if log.isEnabledFor(logging.DEBUG):  # the dump is built only when it is shown
        log.debug("Request Parameters:\n%s", dumps.dump_association(rq, None, True))
    log.info("Requesting Association")
    try:
        assoc = await Association.request(
            settings.host, settings.port, rq, settings.timeouts, **tls_contexts.request_options
        )
    except (DimseError, OSError) as exc:
        if isinstance(exc, AssociationRejected):
            log.debug("Association Rejected:\n%s", describe(exc))
        log.critical("Could not negotiate association: %s", _condition_text(exc))
        return None
    if log.isEnabledFor(logging.DEBUG):  # the dump is built only when it is shown
        log.debug("Association Parameters Negotiated:\n%s", dumps.dump_association(rq, assoc.conn.accept_pdu, True))
    if not assoc.contexts:
        log.critical("No Acceptable Presentation Contexts")
        await assoc.abort()
        return None
    log.info("Association Accepted (Max Send PDV: %d)", assoc.conn.max_fragment)
    if assoc.find_context(settings.get.sop_class) is None:
        log.critical("No adequate Presentation Contexts for sending C-GET")
        await assoc.abort()
        return None
    return assoc


def _condition_text(exc: BaseException) -> str:
    """DCMTK's condition text without its ``mmmm:cccc`` code (getscu prints only the text)."""
    if isinstance(exc, AssociationRejected):
        return "DUL Association Rejected"
    first = describe(exc).splitlines()[-1]
    code, _, text = first.partition(" ")
    return text if len(code) == 9 and code[4] == ":" else first


def main(argv: list[str] | None = None) -> int:
    return run(command_line(), argv, getscu_main)
