"""movescu: DICOM retrieve (C-MOVE) SCU with its own Storage SCP, a drop-in for DCMTK's.

Unlike DCMTK's: sub-associations are served concurrently with the C-MOVE association and with
each other; after the final C-MOVE response a sub-association still open gets ``--grace-time``
seconds and is then aborted, so movescu never waits forever; and a C-MOVE that failed (error
status, no response, peer abort, unreadable query) never exits 0.  Exit codes otherwise as
DCMTK's (spec section 8.1).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from ..cli import access, network, preferences, tls
from ..cli.app import (
    add_ae_titles,
    add_max_pdu,
    add_output_directory,
    add_server_limits,
    end_association,
    new_command_line,
    run,
    server_limits,
)
from ..cli.conditions import describe
from ..cli.logs import configure
from ..cli.options import CommandLine, CommandLineError, Parsed, parse_int
from ..cli.progress import progress_bar as make_bar
from ..cli.progress import wanted as bar_wanted
from ..core.negotiation import AcceptorPolicy, build_request
from ..dcmtk import dumps
from ..dcmtk.sopclasses import STORAGE_CLASSES
from ..dcmtk.texts import move_status_text
from ..errors import AssociationAborted, AssociationRejected, DimseError, PeerRequestedRelease
from ..files.part10 import BadDicomFile
from ..move.identifier import KeyIdentifier
from ..move.receiver import MoveReceiver
from ..move.rewrite import OutputFormat
from ..net.association import Association, Timeouts
from ..net.server import Acceptor, serve
from ..uids import VERIFICATION
from ..uids import DeflatedExplicitVRLittleEndian as DEFLATED
from ..uids import ExplicitVRBigEndian as BEE
from ..uids import ExplicitVRLittleEndian as LEE
from ..uids import ImplicitVRLittleEndian as LEI

EXIT_INVALID_OUTPUT_DIRECTORY = 45
EXIT_CANNOT_WRITE_OUTPUT = 40
EXIT_CANNOT_INITIALIZE_NETWORK = 60
EXIT_CANNOT_NEGOTIATE = 61
EXIT_NO_PRESENTATION_CONTEXT = 66
EXIT_CANNOT_CLOSE = 67
EXIT_MOVE_WARNING = 68
EXIT_MOVE_ERROR = 69
EXIT_CANNOT_CREATE_TLS_LAYER = 70

MODELS = {
    "--patient": ("1.2.840.10008.5.1.4.1.2.1.1", "1.2.840.10008.5.1.4.1.2.1.2"),
    "--study": ("1.2.840.10008.5.1.4.1.2.2.1", "1.2.840.10008.5.1.4.1.2.2.2"),
    "--psonly": ("1.2.840.10008.5.1.4.1.2.3.1", "1.2.840.10008.5.1.4.1.2.3.2"),
}
PROPOSALS = {
    "--propose-uncompr": (LEE, BEE, LEI),
    "--propose-little": (LEE, BEE, LEI),
    "--propose-big": (BEE, LEE, LEI),
    "--propose-deflated": (DEFLATED, LEE, BEE, LEI),
    "--propose-implicit": (LEI,),
}


def command_line() -> CommandLine:
    cmd = new_command_line("movescu", "DICOM retrieve (C-MOVE) SCU")
    cmd.param("peer", "hostname of DICOM peer")
    cmd.param("port", "tcp/ip port number of peer")
    cmd.param("dcmfile-in", "DICOM query file(s)", optional=True, repeat=True)
    cmd.group("network options")
    cmd.group("override matching keys", 1)
    cmd.add("-k", "--key", "override matching key", '[k]ey: gggg,eeee="str" or dict. name="str"')
    cmd.group("query information model", 1)
    cmd.add("-P", "--patient", "use patient root information model (default)")
    cmd.add("-S", "--study", "use study root information model")
    cmd.add("-O", "--psonly", "use patient/study only information model")
    cmd.group("application entity titles", 1)
    add_ae_titles(cmd, "MOVESCU")
    cmd.add("-aem", "--move", "set move destinat. AE title (default: MOVESCU)", "[a]etitle: string")
    cmd.group("preferred network transfer syntaxes (incoming associations)", 1)
    preferences.add_options(cmd)
    cmd.add("-pm", "--promiscuous", "also accept storage SOP classes not in DCMTK's list (beyond DCMTK)")
    cmd.group("proposed transmission transfer syntaxes (outgoing associations)", 1)
    cmd.add(
        "-x=", "--propose-uncompr", "propose all uncompressed TS, explicit VR\nwith local byte ordering first (default)"
    )
    cmd.add("-xe", "--propose-little", "propose all uncompressed TS, explicit VR\nlittle endian first")
    cmd.add("-xb", "--propose-big", "propose all uncompressed TS, explicit VR\nbig endian first")
    cmd.add(
        "-xd",
        "--propose-deflated",
        "propose deflated explicit VR little endian TS\nand all uncompressed transfer syntaxes",
    )
    cmd.add("-xi", "--propose-implicit", "propose implicit VR little endian TS only")
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
        "after the final move response, wait at most s seconds\nfor open sub-associations, then abort them",
        "[s]econds: integer (default: 10)",
    )
    cmd.add(None, "--report", "write a JSON summary and every received object to f", "[f]ilename: string")
    cmd.group("limits on incoming associations (beyond DCMTK)", 1)
    add_server_limits(cmd)
    tls.add_options(cmd, "both")
    cmd.group("output options")
    cmd.group("general", 1)
    add_output_directory(cmd)
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
    return cmd


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
        values = parsed.values("--padding-create")
        pad = (parse_int(values[0], "--padding-create", 0), parse_int(values[1], "--padding-create", 0))
    if (
        parsed.has("--compression-level")
        and xfer not in (None, "--write-xfer-same", "--write-xfer-deflated")
        and not parsed.winner(*PROPOSALS) == "--propose-deflated"
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


def _identifiers(parsed: Parsed) -> list[tuple[str | None, list | KeyIdentifier]]:
    """(query file or None, -k keys) for each request; files are checked now, as DCMTK does.

    Keys alone that ``KeyIdentifier`` can code need no pydicom (most of movescu's start-up)."""
    texts = [values[0] for values in parsed.all_values("--key")]
    files = parsed.params[2:]
    keys = KeyIdentifier.parse(texts) if texts and not files else None
    if keys is None:
        from ..move.keys import parse_keys

        keys = parse_keys(texts)
    for path in files:
        if not os.access(path, os.R_OK) or os.path.isdir(path):
            raise CommandLineError(f"cannot access file: {path}")
    if not files and not texts:
        raise CommandLineError("either query file or override keys (or both) must be specified")
    return [(path, keys) for path in files] or [(None, keys)]


class Mover:
    """The C-MOVE loop of one movescu run and its accumulated exit status."""

    def __init__(self, parsed: Parsed, log: logging.Logger, assoc: Association, sop_class: str) -> None:
        self.parsed = parsed
        self.log = log
        self.assoc = assoc
        self.sop_class = sop_class
        self.cancel_after = network.int_option(parsed, "--cancel", 0, 0)
        self.destination = network.ae_title(parsed, "--move", "") or assoc.conn.request_pdu.calling_ae
        self.status = 0
        self.failed_exchange = False
        #: sub-operation counts of the latest response (remaining, completed, failed, warning)
        self.counts = {"remaining": 0, "completed": 0, "failed": 0, "warning": 0}
        self.final_statuses: list[int] = []
        self.on_response = None  # called after each response (progress bar)

    def _count(self, rsp, final: bool) -> None:
        """Keep the counts a response gives; after the final one an absent remaining count
        is 0 (PS3.7 makes it optional there: Orthanc and dcmjs-dimse leave it out)."""
        if final:
            self.counts["remaining"] = 0
        for key, keyword in (
            ("remaining", "NumberOfRemainingSuboperations"),
            ("completed", "NumberOfCompletedSuboperations"),
            ("failed", "NumberOfFailedSuboperations"),
            ("warning", "NumberOfWarningSuboperations"),
        ):
            value = rsp.get(keyword)
            if value is not None:
                self.counts[key] = value
        if self.on_response is not None:
            self.on_response()

    def _note(self, code: int) -> None:
        self.status = max(self.status, code) if code in (EXIT_MOVE_WARNING, EXIT_MOVE_ERROR) else self.status

    async def move(self, query_file: str | None, keys: list | KeyIdentifier) -> bool:
        """One C-MOVE; returns False when the exchange failed (further requests are not sent)."""
        log = self.log
        if isinstance(keys, KeyIdentifier):
            identifier = keys
        else:
            from pydicom.dataset import Dataset

            from ..move.keys import apply_keys, load_query

            try:
                identifier = load_query(query_file) if query_file else Dataset()
            except BadDicomFile as exc:
                self.assoc.next_message_id()
                log.error("bad DICOM file: %s: %s", query_file, exc)
                self._note(EXIT_MOVE_ERROR)
                return False
            apply_keys(identifier, keys)
        ctx = self.assoc.find_context(self.sop_class)
        if ctx is None:
            self.assoc.next_message_id()
            log.error("Move Request Failed: 0006:0208 DIMSE No valid Presentation Context ID")
            self._note(EXIT_MOVE_ERROR)
            return False
        debug = log.isEnabledFor(logging.DEBUG)
        message_id = self.assoc.next_message_id()
        responses = self.assoc.move(identifier, self.destination, self.sop_class, message_id)
        log.info("Sending Move Request" if debug else f"Sending Move Request (MsgID {message_id})")
        if log.isEnabledFor(logging.INFO):  # the dump needs pydicom
            from ..dcmtk.dataset_dump import dump_dataset

            shown = identifier.dataset() if isinstance(identifier, KeyIdentifier) else identifier
            log.info("Request Identifiers:\n%s", dump_dataset(shown))
        pending = 0
        try:
            async for rsp, _ in responses:
                status = rsp.get("Status", 0xC000)
                self._count(rsp, final=status != 0xFF00)
                if status == 0xFF00:
                    pending += 1
                    if rsp.has_dataset:
                        self._pending_dataset_warning()
                    if debug:
                        log.info("Received Move Response %d", pending)
                        log.debug("%s", dumps.dump_command(rsp, incoming=True, context_id=ctx.context_id))
                    else:
                        log.info("Received Move Response %d (%s)", pending, move_status_text(status))
                    if pending == self.cancel_after:
                        log.info("Sending Cancel Request (MsgID %d, PresID %d)", message_id, ctx.context_id)
                        await self.assoc.cancel(message_id, self.sop_class)
                    continue
                self._final(rsp, status, debug, ctx.context_id)
        except PeerRequestedRelease:
            log.error("Protocol Error: Peer requested release (Aborting)")
            log.info("Aborting Association")
            self._note(EXIT_MOVE_ERROR)
            return False
        except AssociationAborted as exc:
            log.error("Move Request Failed: %s", describe(exc))
            log.info("Peer Aborted Association")
            self._note(EXIT_MOVE_ERROR)
            return False
        except (DimseError, OSError) as exc:
            log.error("Move Request Failed: %s", describe(exc))
            log.error("Move SCU Failed: %s", describe(exc))
            log.info("Aborting Association")
            await self.assoc.abort()
            self._note(EXIT_MOVE_ERROR)
            return False
        return True

    def _pending_dataset_warning(self) -> None:
        """DCMTK's words for a data set after a pending response (we always read and drop it)."""
        rq = self.assoc.conn.request_pdu
        who = f"({rq.calling_ae},{rq.called_ae})"
        self.log.warning("DIMSE Warning: %s: moveUser: Status Pending, but DataSetType!=NULL", who)
        if self.parsed.winner("--pending-ignore", "--pending-read") == "--pending-read":
            self.log.warning("DIMSE Warning: %s: Reading but ignoring response identifier set", who)
        else:
            self.log.warning("DIMSE Warning: %s: Assuming NO response identifiers are present", who)

    def _final(self, rsp, status: int, debug: bool, context_id: int) -> None:
        self.final_statuses.append(status)
        text = move_status_text(status)
        if status == 0xB000:
            self.log.warning("Move response with warning status (%s)", text)
            self._note(EXIT_MOVE_WARNING)
        elif status not in (0x0000, 0xFE00):
            self.log.warning("Move response with error status (%s)", text)
            self._note(EXIT_MOVE_ERROR)
        if debug:
            self.log.info("Received Final Move Response")
            self.log.debug("%s", dumps.dump_command(rsp, incoming=True, context_id=context_id))
        else:
            self.log.info("Received Final Move Response (%s)", text)


async def _listen(
    parsed: Parsed, log: logging.Logger, port: int, contexts: tls.TLSContexts
) -> tuple[Acceptor | None, object, int | None]:
    """The embedded Storage SCP, if ``--port``; returns (acceptor, server, exit code on failure)."""
    output = Path(parsed.value("--output-directory", "."))
    if not output.is_dir():
        log.critical("specified output directory does not exist")
        return None, None, EXIT_INVALID_OUTPUT_DIRECTORY
    if not os.access(output, os.W_OK):
        log.critical("specified output directory is not writeable")
        return None, None, EXIT_CANNOT_WRITE_OUTPUT
    syntaxes = preferences.from_options(parsed)
    table = {uid: syntaxes for uid in STORAGE_CLASSES}
    table[VERIFICATION] = preferences.VERIFICATION_SYNTAXES
    policy = AcceptorPolicy(
        any_abstract=syntaxes if parsed.has("--promiscuous") else None,
        ae_title=network.ae_title(parsed, "--aetitle", "MOVESCU"),
        transfer_syntaxes=table,
        max_pdu=network.acceptor_max_pdu(parsed),
        async_ops=network.granted_window(parsed),
    )
    timeouts = Timeouts(
        acse=network.int_option(parsed, "--acse-timeout", 30, 1),
        dimse=network.int_option(parsed, "--dimse-timeout", None, 1),
    )
    receiver = MoveReceiver(output, parsed.has("--ignore"), False, log)
    receiver.output_format = output_format(parsed)
    # a file to be re-encoded is first stored with its meta header (it says how it was received)
    receiver.write_meta = receiver.output_format.write_meta or receiver.output_format.needed
    acceptor = Acceptor(policy, receiver, timeouts, ssl=contexts.server, **server_limits(parsed))
    if parsed.winner("--access-full", "--access-control") == "--access-control":
        lookup = not parsed.has("--disable-host-lookup")
        acceptor.admit = lambda address: access.allowed("movescu", address, lookup)
    try:
        server = await serve(acceptor, None, port)
    except OSError as exc:
        log.critical("cannot create network: %s", describe(exc))
        return None, None, EXIT_CANNOT_INITIALIZE_NETWORK
    return acceptor, server, None


def _check_values(parsed: Parsed) -> None:
    """Every numeric option read now, before any work, as DCMTK's parser does (with or
    without ``--port``)."""
    network.check_values(parsed)
    network.int_option(parsed, "--cancel", 0, 0)
    network.acceptor_max_pdu(parsed)
    network.granted_window(parsed)
    server_limits(parsed)


async def movescu_main(parsed: Parsed) -> int:
    tls.handle_listings(parsed)
    log = configure(parsed, "movescu")
    host, port = parsed.params[0], network.port_param(parsed.params[1])
    requests = _identifiers(parsed)
    listen = (
        0 if parsed.winner("--port", "--no-port") != "--port" else network.int_option(parsed, "--port", 0, 1, 65535)
    )
    if parsed.has("--output-directory") and not listen:
        raise CommandLineError("--output-directory only allowed with --port")
    output_format(parsed)  # option conflicts are command-line errors, with or without --port
    _check_values(parsed)
    repeat = network.int_option(parsed, "--repeat", 1, 1)
    grace = network.int_option(parsed, "--grace-time", 10, 0)
    find_class, move_class = MODELS[parsed.winner(*MODELS) or "--patient"]
    syntaxes = PROPOSALS[parsed.winner(*PROPOSALS) or "--propose-uncompr"]
    tls.check(parsed, "both")
    contexts = tls.contexts(parsed, "both", log)
    if contexts is None:
        return EXIT_CANNOT_CREATE_TLS_LAYER
    acceptor = server = None
    if listen:
        acceptor, server, failed = await _listen(parsed, log, listen, contexts)
        if failed is not None:
            return failed
    try:
        return await _run(
            parsed, log, host, port, requests, repeat, grace, acceptor, find_class, move_class, syntaxes, contexts
        )
    finally:
        if server is not None:
            server.close()
        contexts.finish()


async def _run(
    parsed, log, host, port, requests, repeat, grace, acceptor, find_class, move_class, syntaxes, contexts
) -> int:
    rq = build_request(
        network.ae_title(parsed, "--aetitle", "MOVESCU"),
        network.ae_title(parsed, "--call", "ANY-SCP"),
        [(find_class, syntaxes), (move_class, syntaxes)],
        network.max_pdu(parsed),
    )
    log.debug("Request Parameters:\n%s", dumps.dump_association(rq, None, True))
    log.info("Requesting Association")
    timeouts = Timeouts(
        connect=network.int_option(parsed, "--timeout", None, 1),
        acse=network.int_option(parsed, "--acse-timeout", 30, 1),
        dimse=network.int_option(parsed, "--dimse-timeout", None, 1),
        socket=None,  # pending responses may be far apart; -td bounds the wait
    )
    try:
        assoc = await Association.request(host, port, rq, timeouts, **contexts.request_options)
    except AssociationRejected as exc:
        log.critical("Association Rejected:\n%s", describe(exc))
        return EXIT_CANNOT_NEGOTIATE
    except (DimseError, OSError) as exc:
        log.critical("Association Request Failed:\n%s", describe(exc))
        return EXIT_CANNOT_NEGOTIATE
    log.debug("Association Parameters Negotiated:\n%s", dumps.dump_association(rq, assoc.conn.accept_pdu, True))
    if not assoc.contexts:
        log.critical("No Acceptable Presentation Contexts")
        await assoc.abort()
        return EXIT_NO_PRESENTATION_CONTEXT
    log.info("Association Accepted (Max Send PDV: %d)", assoc.conn.max_fragment)
    mover = Mover(parsed, log, assoc, move_class)
    receiver = acceptor.services if acceptor is not None else None
    bar = _progress(log, mover, receiver)
    ok = True
    for query_file, keys in requests:
        for _ in range(repeat):
            ok = await mover.move(query_file, keys)
            if not ok:
                break
        if not ok:
            break
    code = mover.status
    if ok:
        failure = await end_association(assoc, parsed.has("--abort"), log)
        if failure is not None:
            log.critical(
                "Association %s Failed:\n%s", "Abort" if parsed.has("--abort") else "Release", describe(failure)
            )
            code = EXIT_CANNOT_CLOSE
    if acceptor is not None:
        aborted = await acceptor.finish(grace)
        if aborted:
            log.warning("aborted %d sub-association(s) still open %d s after the move ended", aborted, grace)
    bar.close()
    counts = mover.counts
    log.info(
        "Sub-operations: %d completed, %d failed, %d warning, %d remaining%s",
        counts["completed"],
        counts["failed"],
        counts["warning"],
        counts["remaining"],
        f"; received {len(receiver.records)} objects ({receiver.bytes} bytes)" if receiver is not None else "",
    )
    report = parsed.value("--report")
    if report:
        summary = {**counts, "final_statuses": mover.final_statuses, "exit_code": code}
        if receiver is not None:
            summary.update(objects_received=len(receiver.records), bytes_received=receiver.bytes)
        files = receiver.records if receiver is not None else []
        Path(report).write_text(json.dumps({"summary": summary, "files": files}, indent=2) + "\n")
    return code


def _progress(log: logging.Logger, mover: Mover, receiver: MoveReceiver | None) -> Any:
    """Sub-operations done of all, failures and bytes received, on stderr when it is a terminal."""
    enabled = bar_wanted(log)
    bar = make_bar(enabled, total=0, unit="obj")

    def update() -> None:
        c = mover.counts
        done = c["completed"] + c["failed"] + c["warning"]
        bar.total = max(done + c["remaining"], bar.total or 0)
        bar.n = max(done, len(receiver.records) if receiver is not None else 0)
        received = f", received {receiver.bytes / 1e6:.1f} MB" if receiver is not None else ""
        bar.set_postfix_str(f"failed {c['failed']}{received}", refresh=False)
        bar.refresh()

    if enabled:
        mover.on_response = update
        if receiver is not None:
            receiver.on_object = update
    return bar


def main(argv: list[str] | None = None) -> int:
    return run(command_line(), argv, movescu_main)
