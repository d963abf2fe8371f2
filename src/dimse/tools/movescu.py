"""movescu: DICOM retrieve (C-MOVE) SCU with its own Storage SCP, a drop-in for DCMTK's.

Unlike DCMTK's: sub-associations are served concurrently with the C-MOVE association and with
each other; after the final C-MOVE response movescu keeps receiving while a sub-association is
open or fewer objects have arrived than the final responses report completed (an archive may
answer before it sends), until nothing came for ``--grace-time`` seconds -- then what is still
open is aborted, so movescu never waits forever, and objects reported but never arrived are a
``W:`` line and exit 69; a C-MOVE that failed (error status, no response, peer abort,
unreadable query) never exits 0.  Exit codes otherwise as
DCMTK's (spec section 8.1).  The C-MOVE loop itself is :mod:`dimse.move.mover`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from enum import IntEnum
from pathlib import Path
from typing import Any

from ..cli import access, network, preferences, tls
from ..cli.app import (
    add_max_pdu,
    add_output_directory,
    add_server_limits,
    end_association,
    run,
    server_limits,
)
from ..cli.conditions import describe
from ..cli.logs import configure
from ..cli.options import CommandLine, CommandLineError, Parsed, parse_int
from ..cli.progress import progress_bar as make_bar
from ..cli.progress import wanted as bar_wanted
from ..core.negotiation import AcceptorPolicy, build_request
from ..core.pdu import AssociateRQ
from ..core.record import FrozenRecord, Record
from ..dcmtk import dumps
from ..dcmtk.sopclasses import STORAGE_CLASSES
from ..errors import AssociationRejected, DimseError
from ..get.survey import Instance, Peer
from ..move.mover import MoveOptions, Mover, MoveRequest, MoveResult
from ..move.options import retrieve_command_line
from ..move.receiver import MoveReceiver
from ..move.requests import requests
from ..move.rewrite import OutputFormat
from ..move.verify import existing_uids, holdings, image_requests
from ..net.association import Association, Timeouts
from ..net.server import Acceptor, serve
from ..store import proposal
from ..store.retry import DEFAULT_FIRST_WAIT, JITTER, MAX_WAIT, RetryPolicy
from ..uids import VERIFICATION
from ..uids import DeflatedExplicitVRLittleEndian as DEFLATED
from ..uids import ExplicitVRBigEndian as BEE
from ..uids import ExplicitVRLittleEndian as LEE
from ..uids import ImplicitVRLittleEndian as LEI


class MovescuExit(IntEnum):
    """movescu's exit codes: DCMTK's names and values (spec section 8.1)."""

    NO_ERROR = 0
    COMMANDLINE_SYNTAX_ERROR = 1
    CANNOT_WRITE_OUTPUT_FILE = 40
    INVALID_OUTPUT_DIRECTORY = 45
    CANNOT_INITIALIZE_NETWORK = 60
    CANNOT_NEGOTIATE_ASSOCIATION = 61
    NO_PRESENTATION_CONTEXT = 66
    CANNOT_CLOSE_ASSOCIATION = 67
    CMOVE_WARNING = 68
    CMOVE_ERROR = 69
    CANNOT_CREATE_TLS_LAYER = 70


#: the exit code for what the C-MOVEs came to
_EXIT_FOR = {
    MoveResult.SUCCESS: MovescuExit.NO_ERROR,
    MoveResult.WARNING: MovescuExit.CMOVE_WARNING,
    MoveResult.FAILED: MovescuExit.CMOVE_ERROR,
}

MODELS = {
    "--patient": ("1.2.840.10008.5.1.4.1.2.1.1", "1.2.840.10008.5.1.4.1.2.1.2"),
    "--study": ("1.2.840.10008.5.1.4.1.2.2.1", "1.2.840.10008.5.1.4.1.2.2.2"),
    "--psonly": ("1.2.840.10008.5.1.4.1.2.3.1", "1.2.840.10008.5.1.4.1.2.3.2"),
}
#: storescu's ``--propose-*`` options (``store.proposal``) that movescu has, in its usage order
PROPOSALS = ("--propose-uncompr", "--propose-little", "--propose-big", "--propose-deflated", "--propose-implicit")


def command_line() -> CommandLine:
    cmd = retrieve_command_line("movescu", "DICOM retrieve (C-MOVE) SCU", "query information model", "MOVESCU")
    cmd.add("-aem", "--move", "set move destinat. AE title (default: MOVESCU)", "[a]etitle: string")
    _transfer_syntax_options(cmd)
    _other_network_options(cmd)
    cmd.group("limits on incoming associations (beyond DCMTK)", 1)
    add_server_limits(cmd)
    tls.add_options(cmd, "both")
    cmd.group("output options")
    _output_options(cmd)
    return cmd


def _transfer_syntax_options(cmd: CommandLine) -> None:
    """What the Storage SCP accepts, what the C-MOVE association proposes."""
    cmd.group("preferred network transfer syntaxes (incoming associations)", 1)
    preferences.add_options(cmd)
    cmd.add("-pm", "--promiscuous", "also accept storage SOP classes not in DCMTK's list (beyond DCMTK)")
    cmd.group("proposed transmission transfer syntaxes (outgoing associations)", 1)
    proposal.add_options(cmd, PROPOSALS)


def _other_network_options(cmd: CommandLine) -> None:
    cmd.group("network host access control (tcp wrapper)", 1)
    cmd.add("-ac", "--access-full", "accept connections from any host (default)")
    cmd.add(
        "+ac", "--access-control", "enforce host access control rules\n(files: $DIMSE_HOSTS_ALLOW, $DIMSE_HOSTS_DENY)"
    )
    cmd.group("port for incoming network associations", 1)
    cmd.add(None, "--no-port", "no port for incoming associations (default)")
    cmd.add("+P", "--port", "port number for incoming associations", "[n]umber: integer")
    cmd.group("handling of illegal datasets following 'pending' move responses", 1)
    cmd.add("-pi", "--pending-ignore", "assume no dataset present (default)")
    cmd.add("-pr", "--pending-read", "read and ignore dataset")
    cmd.group("other network options", 1)
    cmd.add("-to", "--timeout", "timeout for connection requests", "[s]econds: integer (default: unlimited)")
    cmd.add("-ta", "--acse-timeout", "timeout for ACSE messages", "[s]econds: integer (default: 30)")
    cmd.add("-td", "--dimse-timeout", "timeout for DIMSE messages", "[s]econds: integer (default: unlimited)")
    add_max_pdu(cmd, "16384 outgoing, 131072 incoming; DCMTK: 16384")
    network.add_granted_window(cmd)
    cmd.add("-dhl", "--disable-host-lookup", "disable hostname lookup")
    cmd.add(None, "--repeat", "repeat n times", "[n]umber: integer")
    cmd.add(None, "--abort", "abort association instead of releasing it")
    cmd.add(None, "--ignore", "ignore store data, receive but do not store")
    cmd.add(None, "--cancel", "cancel after n responses (default: never)", "[n]umber: integer")
    cmd.add("-up", "--uid-padding", "silently correct space-padded UIDs")
    cmd.add(
        None,
        "--grace-time",
        "after the final move response, keep receiving until the\nreported objects are in and no sub-association is open,\n"
        "or nothing came for s seconds; then abort what is open",
        "[s]econds: integer (default: 10)",
    )
    cmd.add(None, "--report", "write a JSON summary and every received object to f", "[f]ilename: string")
    _verify_options(cmd)


def _verify_options(cmd: CommandLine) -> None:
    """``--verify`` and what builds on it (``move.verify``)."""
    cmd.group("verification (beyond DCMTK)", 1)
    cmd.add(
        None,
        "--verify",
        "list the archive's instances with C-FINDs first (IMAGE\nlevel), name those that did not arrive (exit 69)",
    )
    cmd.add(
        None,
        "--retry",
        "with --verify: move the missing instances again,\nup to n times",
        "[n]umber: integer (default: 0)",
    )
    cmd.add(
        None,
        "--retry-wait",
        f"wait s seconds before the first retry, doubling each\ntime (at most {MAX_WAIT:.0f} s, plus up to {JITTER:.0%})",
        f"[s]econds: float (default: {DEFAULT_FIRST_WAIT:g})",
    )
    cmd.add(None, "--skip-existing", "with --verify: do not request instances already in -od")


def _output_options(cmd: CommandLine) -> None:
    """How received objects are written (``move.rewrite``)."""
    cmd.group("general", 1)
    add_output_directory(cmd)
    cmd.group("reliability (beyond DCMTK)", 1)
    cmd.add(None, "--fsync", "answer a C-STORE only once the object is on disk\n(it then survives a power loss)")
    cmd.group("bit preserving mode", 1)
    cmd.add(
        "-B", "--normal", "allow implicit format conversions (default);\nobjects are written as received either way"
    )
    cmd.add("+B", "--bit-preserving", "write data exactly as read (into -od, unlike DCMTK 3.6.7)")
    cmd.group("output file format", 1)
    cmd.add("+F", "--write-file", "write file format (default)")
    cmd.add("-F", "--write-dataset", "write data set without file meta information")
    cmd.group("output transfer syntax", 1)
    cmd.add("+t=", "--write-xfer-same", "write with same TS as input (default)")
    cmd.add("+te", "--write-xfer-little", "write with explicit VR little endian TS")
    cmd.add("+tb", "--write-xfer-big", "write with explicit VR big endian TS")
    cmd.add("+ti", "--write-xfer-implicit", "write with implicit VR little endian TS")
    cmd.add("+td", "--write-xfer-deflated", "write with deflated explicit VR little endian TS")
    cmd.group("post-1993 value representations (not with +B)", 1)
    cmd.add("+u", "--enable-new-vr", "enable support for new VRs (UN/UT) (default)")
    cmd.add("-u", "--disable-new-vr", "disable support for new VRs, convert to OB")
    cmd.group("group length encoding (not with +B)", 1)
    cmd.add("+g=", "--group-length-recalc", "recalculate group lengths if present (default)")
    cmd.add("+g", "--group-length-create", "always write with group length elements")
    cmd.add("-g", "--group-length-remove", "always write without group length elements")
    cmd.group("length encoding in sequences and items (not with +B)", 1)
    cmd.add("+e", "--length-explicit", "write with explicit lengths (default)")
    cmd.add("-e", "--length-undefined", "write with undefined lengths")
    cmd.group("data set trailing padding (not with --write-dataset or +B)", 1)
    cmd.add("-p", "--padding-off", "no padding (default)")
    cmd.add(
        "+p",
        "--padding-create",
        "align file on multiple of f bytes\nand items on multiple of i bytes",
        "[f]ile-pad [i]tem-pad: integer",
        "",  # a second value
    )
    cmd.group("deflate compression level (only with -xd or +td)", 1)
    cmd.add(
        "+cl", "--compression-level", "0=uncompressed, 1=fastest, 9=best compression", "[l]evel: integer (default: 6)"
    )


_WRITE_XFER = {
    "--write-xfer-little": LEE,
    "--write-xfer-big": BEE,
    "--write-xfer-implicit": LEI,
    "--write-xfer-deflated": DEFLATED,
}
_COMPRESSED_PREFER = [
    "--prefer-lossless",
    "--prefer-jpeg8",
    "--prefer-jpeg12",
    "--prefer-j2k-lossless",
    "--prefer-j2k-lossy",
    "--prefer-jls-lossless",
    "--prefer-jls-lossy",
    "--prefer-mpeg2",
    "--prefer-mpeg2-high",
    "--prefer-mpeg4",
    "--prefer-mpeg4-bd",
    "--prefer-mpeg4-2-2d",
    "--prefer-mpeg4-2-3d",
    "--prefer-mpeg4-2-st",
    "--prefer-hevc",
    "--prefer-hevc10",
    "--prefer-rle",
]


def output_format(parsed: Parsed) -> OutputFormat:
    """The re-encoding output options, with DCMTK's conflict checks (spec section 5)."""
    bit_preserving = parsed.winner("--normal", "--bit-preserving") == "--bit-preserving"
    xfer = parsed.winner("--write-xfer-same", *_WRITE_XFER)
    if xfer in _WRITE_XFER:
        preference = parsed.winner(*preferences.PREFERENCE_LONGS)
        for other in ("--accept-all", "--bit-preserving", *_COMPRESSED_PREFER):
            if other == preference or (other == "--bit-preserving" and bit_preserving):
                raise CommandLineError(f"{xfer} not allowed with {other}")
    new_vr = parsed.winner("--enable-new-vr", "--disable-new-vr")
    group = parsed.winner("--group-length-recalc", "--group-length-create", "--group-length-remove")
    lengths = parsed.winner("--length-explicit", "--length-undefined")
    padding = parsed.winner("--padding-off", "--padding-create")
    if bit_preserving:
        for given in (new_vr, group, lengths, padding):
            if given:
                raise CommandLineError(f"{given} not allowed with --bit-preserving")
    pad = None
    if padding == "--padding-create":
        if parsed.winner("--write-file", "--write-dataset") == "--write-dataset":
            raise CommandLineError("--padding-create not allowed with --write-dataset")
        values = parsed.given("--padding-create")
        pad = (parse_int(values[0], "--padding-create", 0), parse_int(values[1], "--padding-create", 0))
    if (
        parsed.has("--compression-level")
        and xfer not in (None, "--write-xfer-same", "--write-xfer-deflated")
        and parsed.winner(*PROPOSALS) != "--propose-deflated"
    ):
        raise CommandLineError(
            "--compression-level only allowed with --propose-deflated, --write-xfer-deflated or --write-xfer-same"
        )
    return OutputFormat(
        transfer_syntax=_WRITE_XFER.get(xfer or ""),
        group_length={"--group-length-create": "create", "--group-length-remove": "remove"}.get(group or "", "recalc"),
        undefined_lengths=lengths == "--length-undefined",
        padding=pad,
        new_vrs=new_vr != "--disable-new-vr",
        deflate_level=network.int_option(parsed, "--compression-level", 6, 0, 9),
        write_meta=parsed.winner("--write-file", "--write-dataset") != "--write-dataset",
    )


def _identifiers(parsed: Parsed) -> list[MoveRequest]:
    """(query file or None, -k keys) for each request; files are checked now, as DCMTK does."""
    return requests([values[0] for values in parsed.all_values("--key")], parsed.params[2:])


#: MoveSettings.retry when --retry is not given
NO_RETRY = RetryPolicy()


class MoveSettings(FrozenRecord):
    """What movescu's options ask for, every value checked before any network work."""

    __slots__ = (
        "host",
        "port",
        "requests",
        "listen",
        "rq",
        "timeouts",
        "move",
        "repeat",
        "grace",
        "abort",
        "report",
        "max_pdu",
        "verify",
        "retry",
        "skip_existing",
        "output",
    )
    host: str
    port: int
    requests: list[MoveRequest]
    listen: int
    rq: AssociateRQ
    timeouts: Timeouts
    move: MoveOptions
    repeat: int
    grace: int
    abort: bool
    report: str | None
    max_pdu: int
    verify: bool
    retry: RetryPolicy
    skip_existing: bool
    output: str

    def __init__(  # noqa: PLR0913
        self,
        host: str,
        port: int,
        requests: list[MoveRequest],
        listen: int,  # --port n: our Storage SCP's port (0: none)
        rq: AssociateRQ,  # the C-MOVE association's request
        timeouts: Timeouts,
        move: MoveOptions,
        repeat: int,
        grace: int,  # --grace-time
        abort: bool,  # --abort instead of releasing
        report: str | None,  # --report file
        max_pdu: int = 16384,  # -pdu (the --verify C-FIND association's too)
        verify: bool = False,  # --verify
        retry: RetryPolicy = NO_RETRY,  # --retry n, --retry-wait s (with --verify)
        skip_existing: bool = False,  # --skip-existing (with --verify)
        output: str = ".",  # -od
    ) -> None:
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "requests", requests)
        object.__setattr__(self, "listen", listen)
        object.__setattr__(self, "rq", rq)
        object.__setattr__(self, "timeouts", timeouts)
        object.__setattr__(self, "move", move)
        object.__setattr__(self, "repeat", repeat)
        object.__setattr__(self, "grace", grace)
        object.__setattr__(self, "abort", abort)
        object.__setattr__(self, "report", report)
        object.__setattr__(self, "max_pdu", max_pdu)
        object.__setattr__(self, "verify", verify)
        object.__setattr__(self, "retry", retry)
        object.__setattr__(self, "skip_existing", skip_existing)
        object.__setattr__(self, "output", output)


def read_settings(parsed: Parsed) -> MoveSettings:
    """All option values, in the order DCMTK checks them (the first bad one is reported)."""
    host, port = parsed.params[0], network.port_param(parsed.params[1])
    requests = _identifiers(parsed)
    listen = 0
    if parsed.winner("--port", "--no-port") == "--port":
        listen = network.int_option(parsed, "--port", 0, 1, 65535)
    if parsed.has("--output-directory") and not listen:
        raise CommandLineError("--output-directory only allowed with --port")
    output_format(parsed)  # option conflicts are command-line errors, with or without --port
    _check_values(parsed)
    find_class, move_class = MODELS[parsed.winner(*MODELS) or "--patient"]
    syntaxes = proposal.from_options(parsed, PROPOSALS).transfer_syntaxes
    calling = network.ae_title(parsed, "--aetitle", "MOVESCU")
    rq = build_request(
        calling,
        network.ae_title(parsed, "--call", "ANY-SCP"),
        [(find_class, syntaxes), (move_class, syntaxes)],
        network.max_pdu(parsed),
    )
    options = MoveOptions(
        sop_class=move_class,
        destination=network.ae_title(parsed, "--move", "") or calling,
        cancel_after=network.int_option(parsed, "--cancel", 0, 0),
        pending_read=parsed.winner("--pending-ignore", "--pending-read") == "--pending-read",
    )
    return MoveSettings(
        host=host,
        port=port,
        requests=requests,
        listen=listen,
        rq=rq,
        timeouts=network.retrieve_timeouts(parsed),
        move=options,
        repeat=network.int_option(parsed, "--repeat", 1, 1),
        grace=network.int_option(parsed, "--grace-time", 10, 0),
        abort=parsed.has("--abort"),
        report=parsed.value("--report"),
        max_pdu=network.max_pdu(parsed),
        verify=_verify_wanted(parsed, listen, options.destination == calling),
        retry=RetryPolicy(
            network.int_option(parsed, "--retry", 0, 0, 1000),
            network.seconds_option(parsed, "--retry-wait", DEFAULT_FIRST_WAIT, 0.0, MAX_WAIT),
        ),
        skip_existing=parsed.has("--skip-existing"),
        output=parsed.value("--output-directory", "."),
    )


def _verify_wanted(parsed: Parsed, listen: int, to_self: bool) -> bool:
    """``--verify`` and its companions, checked together: they need our own Storage SCP to
    be the destination (what arrived is what it received)."""
    verify = parsed.has("--verify")
    for option in ("--retry", "--retry-wait", "--skip-existing"):
        if parsed.has(option) and not verify:
            raise CommandLineError(f"{option} only allowed with --verify")
    if verify and not listen:
        raise CommandLineError("--verify only allowed with --port")
    if verify and not to_self:
        raise CommandLineError("--verify only allowed when moving to movescu itself (no other --move)")
    if verify and parsed.winner(*MODELS) == "--psonly":
        raise CommandLineError("--verify not allowed with --psonly")
    return verify


def _check_values(parsed: Parsed) -> None:
    """Every numeric option read now, before any work, as DCMTK's parser does (with or
    without ``--port``)."""
    network.check_values(parsed)
    network.int_option(parsed, "--cancel", 0, 0)
    network.acceptor_max_pdu(parsed)
    network.granted_window(parsed)
    server_limits(parsed)


class Listener(Record):
    """movescu's own Storage SCP (``--port``), serving the sub-associations."""

    __slots__ = ("receiver", "acceptor", "server")

    def __init__(
        self,
        receiver: MoveReceiver,
        acceptor: Acceptor,
        server: asyncio.Server,
    ) -> None:
        self.receiver = receiver
        self.acceptor = acceptor
        self.server = server


async def _listen(parsed: Parsed, log: logging.Logger, port: int, contexts: tls.TLSContexts) -> Listener | MovescuExit:
    """The embedded Storage SCP on ``port``, or the exit code after logging why not."""
    output = Path(parsed.value("--output-directory", "."))
    if not output.is_dir():
        log.critical("specified output directory does not exist")
        return MovescuExit.INVALID_OUTPUT_DIRECTORY
    if not os.access(output, os.W_OK):
        log.critical("specified output directory is not writeable")
        return MovescuExit.CANNOT_WRITE_OUTPUT_FILE
    receiver = MoveReceiver(output, parsed.has("--ignore"), False, log)
    receiver.output_format = output_format(parsed).replace(fsync=parsed.has("--fsync"))
    # a re-encoded object is written through to disk by its rewrite, the first copy need not be
    receiver.fsync = parsed.has("--fsync") and not receiver.output_format.needed
    receiver.sweep()
    # a file to be re-encoded is first stored with its meta header (it says how it was received)
    receiver.write_meta = receiver.output_format.write_meta or receiver.output_format.needed
    timeouts = Timeouts(
        acse=network.int_option(parsed, "--acse-timeout", 30, 1),
        dimse=network.int_option(parsed, "--dimse-timeout", None, 1),
    )
    acceptor = Acceptor(_policy(parsed), receiver, timeouts, ssl=contexts.server, **server_limits(parsed))
    if parsed.winner("--access-full", "--access-control") == "--access-control":
        lookup = not parsed.has("--disable-host-lookup")
        acceptor.admit = lambda address: access.allowed("movescu", address, lookup)
    try:
        server = await serve(acceptor, None, port)
    except OSError as exc:
        log.critical("cannot create network: %s", describe(exc))
        return MovescuExit.CANNOT_INITIALIZE_NETWORK
    return Listener(receiver, acceptor, server)


def _policy(parsed: Parsed) -> AcceptorPolicy:
    """What the Storage SCP accepts: DCMTK's storage classes (any with ``-pm``), Verification."""
    syntaxes = preferences.from_options(parsed)
    table = {uid: syntaxes for uid in STORAGE_CLASSES}
    table[VERIFICATION] = preferences.VERIFICATION_SYNTAXES
    return AcceptorPolicy(
        any_abstract=syntaxes if parsed.has("--promiscuous") else None,
        ae_title=network.ae_title(parsed, "--aetitle", "MOVESCU"),
        transfer_syntaxes=table,
        max_pdu=network.acceptor_max_pdu(parsed),
        async_ops=network.granted_window(parsed),
    )


async def movescu_main(parsed: Parsed) -> int:
    log = configure(parsed, "movescu")
    settings = read_settings(parsed)
    tls.check(parsed, "both")
    contexts = tls.contexts(parsed, "both", log)
    if contexts is None:
        return MovescuExit.CANNOT_CREATE_TLS_LAYER
    try:
        listener = await _listen(parsed, log, settings.listen, contexts) if settings.listen else None
        if isinstance(listener, MovescuExit):
            return listener
        try:
            return await _run(settings, log, contexts, listener)
        finally:
            if listener is not None:
                listener.server.close()
                listener.receiver.tidy()
    finally:
        contexts.finish()


async def _run(
    settings: MoveSettings, log: logging.Logger, contexts: tls.TLSContexts, listener: Listener | None
) -> int:
    """The moves as asked (``--verify``: checked against the archive's holdings)."""
    if settings.verify and listener is not None:
        return await _verified(settings, log, contexts, listener)
    code, _ = await _round(settings, settings.requests, settings.repeat, log, contexts, listener)
    return code


async def _verified(settings: MoveSettings, log: logging.Logger, contexts: tls.TLSContexts, listener: Listener) -> int:
    """``--verify``: the archive's instances first, the move of those not yet in ``-od``
    (``--skip-existing``), then up to ``--retry`` moves of those that did not arrive."""
    rq = settings.rq
    peer = Peer(
        settings.host,
        settings.port,
        rq.calling_ae,
        rq.called_ae,
        settings.max_pdu,
        settings.timeouts,
        contexts.request_options,
    )
    held = await holdings(peer, settings.move.sop_class, settings.requests, log)
    if held is None:
        log.warning("cannot verify: the archive's instances could not be listed (C-FIND at IMAGE level)")
        code, _ = await _round(settings, settings.requests, settings.repeat, log, contexts, listener)
        return MovescuExit.CMOVE_ERROR if code in (MovescuExit.NO_ERROR, MovescuExit.CMOVE_WARNING) else code
    present = existing_uids(settings.output) if settings.skip_existing else set()
    todo = [i for i in held if i.uid not in present]
    log.info("The archive holds %d instance(s), %d already in the output directory", len(held), len(held) - len(todo))
    if not todo:
        log.info("Every instance is already in the output directory: nothing to move")
        return MovescuExit.NO_ERROR
    whole = len(todo) == len(held)  # nothing to leave out: the requests as given
    wanted, repeat = (settings.requests, settings.repeat) if whole else (image_requests(todo), 1)
    code, mover = await _round(settings, wanted, repeat, log, contexts, listener, report=False)
    missing = _missing(todo, listener)
    for attempt in range(1, settings.retry.retries + 1):
        if not missing:
            break
        wait = settings.retry.wait(attempt)
        log.info("%d instance(s) missing: moving them again in %.1f s (retry %d)", len(missing), wait, attempt)
        await asyncio.sleep(wait)
        code, mover = await _round(settings, image_requests(missing), 1, log, contexts, listener, report=False)
        missing = _missing(missing, listener)
    for instance in missing:
        log.warning("not received: %s", instance.uid)
    if missing and code in (MovescuExit.NO_ERROR, MovescuExit.CMOVE_WARNING):
        code = MovescuExit.CMOVE_ERROR
    if settings.report and mover is not None:
        _write_report(settings.report, mover, listener.receiver, code, [i.uid for i in missing])
    return code


def _missing(instances: list[Instance], listener: Listener) -> list[Instance]:
    """Those of ``instances`` that have not been received (in this run)."""
    received = listener.receiver.received
    return [i for i in instances if i.uid not in received]


async def _round(
    settings: MoveSettings,
    wanted: list[MoveRequest],
    repeat: int,
    log: logging.Logger,
    contexts: tls.TLSContexts,
    listener: Listener | None,
    report: bool = True,
) -> tuple[int, Mover | None]:
    """One C-MOVE association: the moves, its end, the sub-associations' end, the summary."""
    assoc = await _associate(settings, log, contexts)
    if isinstance(assoc, MovescuExit):
        return assoc, None
    mover = Mover(assoc, settings.move, log)
    receiver = listener.receiver if listener is not None else None
    base = receiver.arrived if receiver is not None else 0  # what earlier rounds received
    bar = _progress(log, mover, receiver)
    ended = await mover.run(wanted, repeat)  # False: aborted already
    code = _EXIT_FOR[mover.result]
    if ended:
        failure = await end_association(assoc, settings.abort, log)
        if failure is not None:
            log.critical("Association %s Failed:\n%s", "Abort" if settings.abort else "Release", describe(failure))
            code = MovescuExit.CANNOT_CLOSE_ASSOCIATION
    if listener is not None:
        to_self = settings.move.destination == settings.rq.calling_ae
        expected = base + mover.announced if to_self and mover.announced is not None else None
        await _await_arrivals(listener, expected, settings.grace, log)
        if not _all_arrived(expected, base, listener.receiver, log) and code in (
            MovescuExit.NO_ERROR,
            MovescuExit.CMOVE_WARNING,
        ):
            code = MovescuExit.CMOVE_ERROR
    bar.close()
    _log_summary(log, mover, receiver)
    if settings.report and report:
        _write_report(settings.report, mover, receiver, code)
    return code, mover


async def _await_arrivals(listener: Listener, expected: int | None, grace: int, log: logging.Logger) -> None:
    """After the final response (an archive may answer it before it sends, or while it still
    sends): keep receiving while a sub-association is open or fewer than ``expected`` objects
    have arrived, until nothing came for ``grace`` seconds; then abort what is still open."""
    receiver, acceptor = listener.receiver, listener.acceptor
    started = time.monotonic()
    while grace and (acceptor.active or receiver.arrived < (expected or 0)):
        receiver.activity.clear()
        idle = time.monotonic() - max(started, receiver.last_activity)
        if idle >= grace:
            break
        try:  # until something happens at the Storage SCP, or the rest of the grace time
            async with asyncio.timeout(grace - idle):
                await receiver.activity.wait()
        except TimeoutError:
            break
    aborted = await acceptor.finish(0)
    if aborted:
        log.warning("aborted %d sub-association(s) still open %d s after the move ended", aborted, grace)


def _all_arrived(expected: int | None, base: int, receiver: MoveReceiver, log: logging.Logger) -> bool:
    """Whether what arrived is what the final responses announced (a ``W:`` line when not);
    False only when objects the archive called sent never came.  ``base``: what had arrived
    before this round's moves (``expected`` counts it too)."""
    if expected is None or receiver.arrived == expected:
        return True
    arrived = receiver.arrived - base
    log.warning("the archive reported %d sub-operations completed, %d objects arrived", expected - base, arrived)
    return receiver.arrived > expected


async def _associate(
    settings: MoveSettings, log: logging.Logger, contexts: tls.TLSContexts
) -> Association | MovescuExit:
    """The C-MOVE association, or the exit code after logging why there is none."""
    rq = settings.rq
    if log.isEnabledFor(logging.DEBUG):  # the dump is built only when it is shown
        log.debug("Request Parameters:\n%s", dumps.dump_association(rq, None, True))
    log.info("Requesting Association")
    try:
        assoc = await Association.request(
            settings.host, settings.port, rq, settings.timeouts, **contexts.request_options
        )
    except AssociationRejected as exc:
        log.critical("Association Rejected:\n%s", describe(exc))
        return MovescuExit.CANNOT_NEGOTIATE_ASSOCIATION
    except (DimseError, OSError) as exc:
        log.critical("Association Request Failed:\n%s", describe(exc))
        return MovescuExit.CANNOT_NEGOTIATE_ASSOCIATION
    if log.isEnabledFor(logging.DEBUG):  # the dump is built only when it is shown
        log.debug("Association Parameters Negotiated:\n%s", dumps.dump_association(rq, assoc.conn.accept_pdu, True))
    if not assoc.contexts:
        log.critical("No Acceptable Presentation Contexts")
        await assoc.abort()
        return MovescuExit.NO_PRESENTATION_CONTEXT
    log.info("Association Accepted (Max Send PDV: %d)", assoc.conn.max_fragment)
    return assoc


def _log_summary(log: logging.Logger, mover: Mover, receiver: MoveReceiver | None) -> None:
    counts = mover.counts
    log.info(
        "Sub-operations: %d completed, %d failed, %d warning, %d remaining%s",
        counts.completed,
        counts.failed,
        counts.warning,
        counts.remaining,
        f"; received {len(receiver.records)} objects ({receiver.bytes} bytes)" if receiver is not None else "",
    )


def _write_report(
    path: str, mover: Mover, receiver: MoveReceiver | None, code: int, missing: list[str] | None = None
) -> None:
    """``--report``: the counts, the final statuses, the exit code and every object received
    (``--verify``: the instances that did not arrive too; the counts are the last move's)."""
    summary: dict[str, Any] = {**mover.counts.as_dict(), "final_statuses": mover.final_statuses, "exit_code": int(code)}
    if missing is not None:
        summary["missing"] = missing
    if receiver is not None:
        summary.update(objects_received=len(receiver.records), bytes_received=receiver.bytes)
        summary.update(announced=mover.announced, arrived=receiver.arrived)
    files = receiver.records if receiver is not None else []
    Path(path).write_text(json.dumps({"summary": summary, "files": files}, indent=2) + "\n")


def _progress(log: logging.Logger, mover: Mover, receiver: MoveReceiver | None) -> Any:
    """Sub-operations done of all, failures and bytes received, on stderr when it is a terminal."""
    enabled = bar_wanted(log)
    bar = make_bar(enabled, total=0, unit="obj")

    def update() -> None:
        counts = mover.counts
        bar.total = max(counts.done + counts.remaining, bar.total or 0)
        bar.n = max(counts.done, len(receiver.records) if receiver is not None else 0)
        received = f", received {receiver.bytes / 1e6:.1f} MB" if receiver is not None else ""
        bar.set_postfix_str(f"failed {counts.failed}{received}", refresh=False)
        bar.refresh()

    if enabled:
        mover.on_response = update
        if receiver is not None:
            receiver.on_object = update
    return bar


def main(argv: list[str] | None = None) -> int:
    return run(command_line(), argv, movescu_main)
