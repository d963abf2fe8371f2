"""echoscu: DICOM verification (C-ECHO) SCU, DCMTK-compatible.

Exit codes: 0 success, 1 syntax/association errors (as DCMTK), 70 when the echo itself
failed: no response, a protocol error, a peer abort or a non-success status (DCMTK exits 0
after a peer abort or a failure status: see docs/compatibility.md).
"""

from __future__ import annotations

import logging
from enum import IntEnum

from ..cli import network, tls
from ..cli.app import add_ae_titles, add_max_pdu, add_timeouts, end_association, new_command_line, run
from ..cli.conditions import describe
from ..cli.logs import configure
from ..cli.options import CommandLine, Parsed
from ..codes import Status
from ..core.negotiation import MAX_CONTEXTS, build_request
from ..core.pdu import AssociateRQ
from ..core.record import FrozenRecord
from ..dcmtk import dumps
from ..dcmtk.texts import echo_status_text
from ..errors import AssociationAborted, AssociationRejected, DimseError
from ..net.association import Association, Timeouts
from ..uids import VERIFICATION


class EchoscuExit(IntEnum):
    """echoscu's exit codes: DCMTK's values (``EXITCODE_ASSOCIATION_ABORTED`` is echoscu's own)."""

    NO_ERROR = 0
    FAILURE = 1  # command-line errors, association failures, a failed release
    ASSOCIATION_ABORTED = 70  # the echo itself failed (DCMTK: only a peer abort, and it exits 0)


#: the transfer syntaxes DCMTK's echoscu proposes, in order (``-pts n`` takes the first n)
TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    *(f"1.2.840.10008.1.2.4.{n}" for n in range(50, 67)),
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.92",
    "1.2.840.10008.1.2.4.93",
    *(f"1.2.840.10008.1.2.4.{n}" for n in range(100, 109)),
)


def command_line() -> CommandLine:
    cmd = new_command_line("echoscu", "DICOM verification (C-ECHO) SCU")
    cmd.param("peer", "hostname of DICOM peer")
    cmd.param("port", "tcp/ip port number of peer")
    cmd.group("network options")
    cmd.group("application entity titles", 1)
    add_ae_titles(cmd, "ECHOSCU")
    cmd.group("association negotiation debugging", 1)
    cmd.add("-pts", "--propose-ts", "propose n transfer syntaxes", f"[n]umber: integer (1..{len(TRANSFER_SYNTAXES)})")
    cmd.add("-ppc", "--propose-pc", "propose n presentation contexts", "[n]umber: integer (1..128)")
    cmd.group("other network options", 1)
    add_timeouts(cmd)
    add_max_pdu(cmd)
    cmd.add(None, "--repeat", "repeat n times", "[n]umber: integer")
    cmd.add(None, "--abort", "abort association instead of releasing it")
    tls.add_options(cmd, "client")
    return cmd


class Settings(FrozenRecord):
    """What the options ask for, every value checked before any work (as DCMTK's parser)."""

    __slots__ = ("rq", "timeouts", "repeat", "abort")
    rq: AssociateRQ
    timeouts: Timeouts
    repeat: int
    abort: bool

    def __init__(
        self,
        rq: AssociateRQ,
        timeouts: Timeouts,
        repeat: int,
        abort: bool,
    ) -> None:
        object.__setattr__(self, "rq", rq)
        object.__setattr__(self, "timeouts", timeouts)
        object.__setattr__(self, "repeat", repeat)
        object.__setattr__(self, "abort", abort)


def settings(parsed: Parsed) -> Settings:
    """All option values at once, before TLS set-up or any network work: a bad value is a
    command-line error, never a line after "Requesting Association"."""
    n_ts = network.int_option(parsed, "--propose-ts", 1, 1, len(TRANSFER_SYNTAXES))
    n_pc = network.int_option(parsed, "--propose-pc", 1, 1, MAX_CONTEXTS)
    network.check_values(parsed)
    rq = build_request(
        network.ae_title(parsed, "--aetitle", "ECHOSCU"),
        network.ae_title(parsed, "--call", "ANY-SCP"),
        [(VERIFICATION, TRANSFER_SYNTAXES[:n_ts])] * n_pc,
        network.max_pdu(parsed),
    )
    return Settings(rq, network.timeouts(parsed), network.int_option(parsed, "--repeat", 1, 1), parsed.has("--abort"))


async def echo_main(parsed: Parsed) -> int:
    log = configure(parsed, "echoscu")
    host, port = parsed.params[0], network.port_param(parsed.params[1])
    wanted = settings(parsed)
    tls.check(parsed, "client")
    contexts = tls.contexts(parsed, "client", log)
    if contexts is None:
        return EchoscuExit.FAILURE
    try:
        return await _echo(wanted, log, host, port, contexts)
    finally:
        contexts.finish()


async def _echo(wanted: Settings, log: logging.Logger, host: str, port: int, contexts: tls.TLSContexts) -> int:
    rq = wanted.rq
    if log.isEnabledFor(logging.DEBUG):  # the dump is built only when it is shown
        log.debug("Request Parameters:\n%s", dumps.dump_association(rq, None, True))
    log.info("Requesting Association")
    try:
        assoc = await Association.request(host, port, rq, wanted.timeouts, **contexts.request_options)
    except AssociationRejected as exc:
        log.critical("Association Rejected:\n%s", describe(exc))
        return EchoscuExit.FAILURE
    except (DimseError, OSError) as exc:
        log.critical("Association Request Failed: %s", describe(exc))
        return EchoscuExit.FAILURE
    if log.isEnabledFor(logging.DEBUG):  # the dump is built only when it is shown
        log.debug("Association Parameters Negotiated:\n%s", dumps.dump_association(rq, assoc.conn.accept_pdu, True))
    if not assoc.contexts:
        log.critical("No Acceptable Presentation Contexts")
        await assoc.abort()
        return EchoscuExit.FAILURE
    log.info("Association Accepted (Max Send PDV: %d)", network.announced_max_pdv(assoc.conn))
    return await _echo_loop(assoc, wanted.repeat, wanted.abort, log)


async def _echo_loop(assoc: Association, repeat: int, abort: bool, log: logging.Logger) -> int:
    try:
        for _ in range(repeat):
            message_id = assoc.next_message_id()
            log.info("Sending Echo Request (MsgID %d)", message_id)
            rsp = await assoc.echo(message_id)
            status: int = rsp.get("Status", Status.CANNOT_UNDERSTAND)
            log.info("Received Echo Response (%s)", echo_status_text(status))
            if status != Status.SUCCESS:
                log.error("Echo Failed: peer answered with status 0x%04x", status)
                log.info("Aborting Association")
                await assoc.abort()
                return EchoscuExit.ASSOCIATION_ABORTED
    except AssociationAborted as exc:
        log.error("Echo Failed: %s", describe(exc))
        log.info("Peer Aborted Association")
        return EchoscuExit.ASSOCIATION_ABORTED
    except (DimseError, OSError) as exc:
        log.error("Echo SCU Failed: %s", describe(exc))
        log.info("Aborting Association")
        await assoc.abort()
        return EchoscuExit.ASSOCIATION_ABORTED
    failure = await end_association(assoc, abort, log)
    if failure is not None:
        log.critical("Association %s Failed: %s", "Abort" if abort else "Release", describe(failure))
        return EchoscuExit.FAILURE
    return EchoscuExit.NO_ERROR


def main(argv: list[str] | None = None) -> int:
    return run(command_line(), argv, echo_main)
