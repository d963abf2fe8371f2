"""storescp: DICOM storage (C-STORE) SCP, DCMTK-compatible.

Serves any number of associations at once (DCMTK needs ``--fork`` for that).  Each received
object streams into a temporary file in the output directory and is renamed to
``<modality>.<SOP Instance UID>`` only once complete and well-formed (the acceptor walks its
structure as it arrives; a broken one is answered 0xC000 and dropped); an object whose SOP
Instance UID is not a valid UID is refused, so no peer can make it write outside the output
directory.  Files get the mode the umask gives (0644 under 022), as DCMTK's do.  The temporary
files are in the output directory's hidden ``.dimse-part`` folder; those a killed storescp left
are removed at the next start; ``--fsync`` answers only once the object is on disk
(docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from enum import IntEnum
from pathlib import Path

from ..cli import network, preferences, tls
from ..cli.app import (
    add_max_pdu,
    add_output_directory,
    add_server_limits,
    add_timeouts,
    new_command_line,
    run,
    server_limits,
)
from ..cli.conditions import describe
from ..cli.logs import configure
from ..cli.options import CommandLine, Parsed
from ..codes import RejectReason, RejectResult, RejectSource
from ..core.negotiation import AcceptorPolicy
from ..core.pdu import AssociateRJ, AssociateRQ
from ..dcmtk.sopclasses import STORAGE_CLASSES
from ..net.association import Timeouts
from ..net.server import Acceptor, serve
from ..scp.services import StoreServices
from ..uids import VERIFICATION


class StorescpExit(IntEnum):
    """storescp's exit codes: DCMTK's storescp gives 1 for every failure (a missing output
    directory, a port it cannot listen on, a command-line error), as ours does."""

    NO_ERROR = 0
    FAILURE = 1


def command_line() -> CommandLine:
    cmd = new_command_line("storescp", "DICOM storage (C-STORE) SCP")
    cmd.param("port", "tcp/ip port number to listen on")
    cmd.add("+v", "--verbose-pc", "show presentation contexts in verbose mode")
    cmd.group("multi-process options")
    cmd.add(None, "--single-process", "single process mode (default)")
    cmd.add(None, "--fork", "accepted for compatibility: associations are always served concurrently")
    cmd.group("network options")
    cmd.group("preferred network transfer syntaxes", 1)
    preferences.add_options(cmd)
    cmd.group("other network options", 1)
    add_timeouts(cmd, connect=False)
    cmd.add("-aet", "--aetitle", "set my AE title (default: STORESCP)", "[a]etitle: string")
    cmd.add(None, "--check-called-aetitle", "reject associations not addressed to my AE title")
    add_max_pdu(cmd, "131072; DCMTK: 16384")
    network.add_granted_window(cmd)
    cmd.add(None, "--refuse", "refuse association")
    cmd.add(None, "--reject", "reject association if no implement. class UID")
    cmd.add(None, "--ignore", "ignore store data, receive but do not store")
    cmd.add("-pm", "--promiscuous", "promiscuous mode, accept unknown SOP classes")
    cmd.group("limits (beyond DCMTK)", 1)
    add_server_limits(cmd)
    tls.add_options(cmd, "server")
    cmd.group("output options")
    cmd.group("general", 1)
    add_output_directory(cmd)
    cmd.group("reliability (beyond DCMTK)", 1)
    cmd.add(None, "--fsync", "answer a C-STORE only once the object is on disk\n(it then survives a power loss)")
    return cmd


def build_policy(parsed: Parsed, ae_title: str) -> AcceptorPolicy:
    """What the SCP accepts (``+x*``, ``-pm``) and whom it rejects (``--refuse``, ``--reject``)."""
    syntaxes = preferences.from_options(parsed)
    table = {uid: syntaxes for uid in STORAGE_CLASSES}
    table[VERIFICATION] = preferences.VERIFICATION_SYNTAXES
    refuse, reject_no_impl = parsed.has("--refuse"), parsed.has("--reject")

    def vetting(rq: AssociateRQ) -> AssociateRJ | None:
        if refuse or (reject_no_impl and not rq.user_info.implementation_class_uid):
            return AssociateRJ(RejectResult.PERMANENT, RejectSource.SERVICE_USER, RejectReason.NO_REASON)
        return None

    return AcceptorPolicy(
        ae_title=ae_title,
        transfer_syntaxes=table,
        any_abstract=syntaxes if parsed.has("--promiscuous") else None,
        check_called_ae=parsed.has("--check-called-aetitle"),
        max_pdu=network.acceptor_max_pdu(parsed),
        async_ops=network.granted_window(parsed),
        vetting=vetting,
    )


async def storescp_main(parsed: Parsed) -> int:
    log = configure(parsed, "storescp")
    tls.check(parsed, "server")
    port = network.port_param(parsed.params[0])
    ae = network.ae_title(parsed, "--aetitle", "STORESCP")
    timeouts: Timeouts = network.timeouts(parsed)
    policy = build_policy(parsed, ae)
    limits = server_limits(parsed)  # every value is checked before the output directory
    output = Path(parsed.value("--output-directory", "."))
    if not output.is_dir():
        log.critical("specified output directory does not exist")
        return StorescpExit.FAILURE
    services = StoreServices(output, parsed.has("--ignore"), parsed.has("--verbose-pc"), log)
    services.fsync = parsed.has("--fsync")
    services.sweep()
    contexts = tls.contexts(parsed, "server", log)
    if contexts is None:
        return StorescpExit.FAILURE
    try:
        try:
            server = await serve(Acceptor(policy, services, timeouts, ssl=contexts.server, **limits), None, port)
        except OSError as exc:
            log.error("cannot create network: %s", describe(exc))
            return StorescpExit.FAILURE
        await _serve_until_stopped(server)
        return StorescpExit.NO_ERROR
    finally:
        services.tidy()
        contexts.finish()


async def _serve_until_stopped(server: asyncio.Server) -> None:
    """Serve until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    return run(command_line(), argv, storescp_main)


__all__ = ["main"]
