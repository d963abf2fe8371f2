"""getscu: DICOM retrieve (C-GET) SCU, a drop-in for DCMTK 3.6.7's.

The objects come on the C-GET association itself, as C-STORE sub-operations (we propose
DCMTK's 120 storage classes in the SCP role); they are streamed to ``-od`` as movescu's
receiver writes them.  Unlike DCMTK's: a C-GET that failed (error or warning status, an
exchange that broke) exits 1, not 0; bad ``-k`` keys are command-line errors.  The loop is
:mod:`dimse.get.getter`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from ..cli import network, preferences, tls
from ..cli.app import add_max_pdu, add_output_directory, end_association, run
from ..cli.conditions import describe
from ..cli.logs import configure
from ..cli.options import CommandLine, CommandLineError, Parsed
from ..core.negotiation import build_request
from ..core.pdu import AssociateRQ
from ..dcmtk import dumps
from ..errors import AssociationRejected, DimseError
from ..get.contexts import GETSCU_STORAGE_CLASSES, contexts
from ..get.getter import Getter
from ..get.receiver import GetReceiver
from ..move.mover import MoveOptions, MoveRequest, MoveResult
from ..move.options import retrieve_command_line
from ..move.requests import requests as query_requests
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
    tls.add_options(cmd, "client")
    cmd.group("output options")
    cmd.group("general", 1)
    add_output_directory(cmd)
    cmd.group("storage mode", 1)
    cmd.add("-B", "--normal", "receive in memory, then write to disk (default;\nobjects are streamed to disk either way)")
    cmd.add("+B", "--bit-preserving", "receive directly to disk")
    cmd.add(None, "--ignore", "ignore store data, receive but do not store")
    return cmd


@dataclass(frozen=True)
class GetSettings:
    """What getscu's options ask for, every value checked before any network work."""

    host: str
    port: int
    requests: list[MoveRequest]
    rq: AssociateRQ
    timeouts: Timeouts
    get: MoveOptions
    repeat: int
    abort: bool
    output: Path
    ignore: bool


def read_settings(parsed: Parsed) -> GetSettings:
    """All option values, with DCMTK's conflict checks (the first bad one is reported)."""
    host, port = parsed.params[0], network.port_param(parsed.params[1])
    ignore = parsed.has("--ignore")
    storage_mode = parsed.winner("--normal", "--bit-preserving")
    if ignore and (parsed.has("--output-directory") or storage_mode):
        raise CommandLineError(f"{'--output-directory' if parsed.has('--output-directory') else storage_mode} "
                               "not allowed with --ignore")
    network.check_values(parsed)
    cancel = network.int_option(parsed, "--cancel", 0, 0)
    texts = [values[0] for values in parsed.all_values("--key")]
    requests = query_requests(texts, parsed.params[2:])
    get_class = MODELS[parsed.winner(*MODELS) or "--patient"]
    proposed, roles = contexts(
        get_class,
        proposal.from_options(parsed, PROPOSALS).transfer_syntaxes,
        preferences.from_options(parsed),
        GETSCU_STORAGE_CLASSES,
    )
    rq = build_request(
        network.ae_title(parsed, "--aetitle", "GETSCU"),
        network.ae_title(parsed, "--call", "ANY-SCP"),
        proposed,
        network.max_pdu(parsed),
        roles=roles,
    )
    return GetSettings(
        host=host,
        port=port,
        requests=requests,
        rq=rq,
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
    """The association, the C-GETs, its end."""
    assoc = await _associate(settings, log, tls_contexts)
    if assoc is None:
        return GetscuExit.FAILURE
    receiver = GetReceiver(settings.output, settings.ignore, False, log)
    receiver.sweep()
    getter = Getter(assoc, settings.get, log, receiver)
    try:
        ended = await getter.run(settings.requests, settings.repeat)  # False: aborted already
    finally:
        receiver.tidy()
    code = GetscuExit.NO_ERROR if getter.result == MoveResult.SUCCESS else GetscuExit.FAILURE
    if ended:
        failure = await end_association(assoc, settings.abort, log)
        if failure is not None:
            log.critical("Association %s Failed:\n%s", "Abort" if settings.abort else "Release", describe(failure))
            code = GetscuExit.FAILURE
    return code


async def _associate(settings: GetSettings, log: logging.Logger, tls_contexts: tls.TLSContexts) -> Association | None:
    """The association with a C-GET context, or None after logging DCMTK's line for why not."""
    rq = settings.rq
    log.debug("Configured a total of %d presentation contexts for SCU", len(rq.contexts))
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
