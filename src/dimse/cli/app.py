"""What every tool shares: the general options, the run wrapper and its exit codes."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from enum import IntEnum
from typing import TYPE_CHECKING, Any, TypedDict

from .._version import __version__
from .logs import add_logging_options, quiet_requested
from .options import CommandLine, CommandLineError, ExitRequest, Parsed

if TYPE_CHECKING:
    from ..net.association import Association


class ExitCode(IntEnum):
    """What :func:`run` itself returns; each tool's own codes are an IntEnum in its module.

    DCMTK's values (ofexit.h): 0 for success, 1 for a command-line error.  DCMTK has no code
    for a failure of the tool itself (a bug); its tools give 1 for every failure they have no
    code of their own for (storescu gives 1 for all of them), so ours give 1 too.
    """

    NO_ERROR = 0  # EXITCODE_NO_ERROR; also --help, --version and no arguments
    COMMANDLINE_SYNTAX_ERROR = 1  # EXITCODE_COMMANDLINE_SYNTAX_ERROR
    INTERNAL_ERROR = 1  # same value as DCMTK's generic failure (an alias of the member above)
    INTERRUPTED = 130  # Ctrl-C: what a shell reports for a program ended by SIGINT


def new_command_line(tool: str, description: str) -> CommandLine:
    cmd = CommandLine(tool, description, __version__)
    cmd.group("general options")
    cmd.add("-h", "--help", "print this help text and exit", exclusive=True)
    cmd.add(None, "--version", "print version information and exit", exclusive=True)
    cmd.add(None, "--arguments", "print expanded command line arguments")
    add_logging_options(cmd)
    return cmd


def add_ae_titles(cmd: CommandLine, calling_default: str) -> None:
    """-aet/-aec of a requestor."""
    cmd.add("-aet", "--aetitle", f"set my calling AE title (default: {calling_default})", "[a]etitle: string")
    cmd.add("-aec", "--call", "set called AE title of peer (default: ANY-SCP)", "[a]etitle: string")


def add_output_directory(cmd: CommandLine) -> None:
    cmd.add(
        "-od",
        "--output-directory",
        "write received objects to existing directory d",
        '[d]irectory: string (default: ".")',
    )


def add_max_pdu(cmd: CommandLine, default: str = "16384") -> None:
    cmd.add(
        "-pdu",
        "--max-pdu",
        f"set max receive pdu to n bytes (default: {default})",
        "[n]umber of bytes: integer (4096..131072)",
    )


def add_timeouts(cmd: CommandLine, connect: bool = True) -> None:
    if connect:
        cmd.add("-to", "--timeout", "timeout for connection requests", "[s]econds: integer (default: unlimited)")
    cmd.add("-ts", "--socket-timeout", "timeout for network socket (0 for none)", "[s]econds: integer (default: 60)")
    cmd.add("-ta", "--acse-timeout", "timeout for ACSE messages", "[s]econds: integer (default: 30)")
    cmd.add("-td", "--dimse-timeout", "timeout for DIMSE messages", "[s]econds: integer (default: unlimited)")


def add_server_limits(cmd: CommandLine) -> None:
    """Limits on what peers of our acceptor may do (beyond DCMTK; docs/security.md)."""
    cmd.add(
        None,
        "--max-associations",
        "serve at most n associations at once; more are\nrejected (transient, local limit exceeded)",
        "[n]umber: integer (default: 64)",
    )
    cmd.add(
        None,
        "--max-dataset-size",
        "abort an association whose data set exceeds\nn megabytes (default: unlimited)",
        "[n]umber: integer",
    )
    cmd.add(
        None,
        "--dataset-timeout",
        "abort an association whose data set takes longer\nthan s seconds to arrive (default: unlimited)",
        "[s]econds: integer",
    )


class ServerLimits(TypedDict):
    """The Acceptor keyword arguments of :func:`add_server_limits`' options."""

    max_associations: int
    max_dataset_bytes: int | None
    dataset_time_limit: int | None


def server_limits(parsed: Parsed) -> ServerLimits:
    """Acceptor keyword arguments for :func:`add_server_limits`' options."""
    from .network import int_option

    size = int_option(parsed, "--max-dataset-size", None, 1)
    return {
        "max_associations": int_option(parsed, "--max-associations", 64, 1),
        "max_dataset_bytes": size * 1024 * 1024 if size else None,
        "dataset_time_limit": int_option(parsed, "--dataset-timeout", None, 1),
    }


async def end_association(assoc: Association, abort: bool, log: logging.Logger) -> BaseException | None:
    """Release (or, with ``--abort``, abort) with DCMTK's INFO line; returns the failure, if any."""
    from ..errors import DimseError

    try:
        if abort:
            log.info("Aborting Association")
            await assoc.abort()
        else:
            log.info("Releasing Association")
            await assoc.release()
    except (DimseError, OSError) as exc:
        return exc
    return None


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop with ``DIMSE_EVENT_LOOP=uvloop`` when it is installed (optional, not a
    dependency), else asyncio's.  Opt-in: measured on loopback it gains little when sending and
    halves the speed of receiving large objects (docs/performance.md)."""
    if os.environ.get("DIMSE_EVENT_LOOP", "").strip().lower() != "uvloop":
        return None
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]  # optional, not a dependency
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(
    cmd: CommandLine,
    argv: list[str] | None,
    body: Callable[[Parsed], Coroutine[Any, Any, int]],
) -> int:
    """Parse ``argv`` with ``cmd`` and run ``body(parsed)``; returns the exit code.

    Syntax errors print DCMTK's three-line message and give 1; the exclusive options (help,
    version, the TLS listings) print and give 0; Ctrl-C gives 130.  No traceback reaches the
    user.
    """
    if argv is None:
        argv = sys.argv[1:]
        cmd.argv0 = sys.argv[0]
    if not argv and any(not p.optional for p in cmd.params):
        sys.stdout.write(cmd.usage())
        return ExitCode.NO_ERROR
    try:
        parsed = cmd.parse(argv)
        cmd.handle_exclusive(parsed)
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            return runner.run(body(parsed))
    except ExitRequest as req:
        return req.code
    except CommandLineError as exc:
        if not quiet_requested(argv):
            sys.stderr.write(cmd.error_text(str(exc)))
        return ExitCode.COMMANDLINE_SYNTAX_ERROR
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug: one clear line (the traceback only at debug level)
        import traceback

        if logging.getLogger("dimse").isEnabledFor(logging.DEBUG):
            traceback.print_exc()
        sys.stderr.write(f"F: internal error: {type(exc).__name__}: {exc}\n")
        return ExitCode.INTERNAL_ERROR
