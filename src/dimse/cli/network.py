"""Network option values shared by the tools: AE titles, timeouts, PDU sizes, peer/port."""

from __future__ import annotations

import socket

from ..association import Timeouts
from .options import CommandLineError, Parsed, parse_int

MIN_PDU, MAX_PDU, DEFAULT_PDU = 4096, 131072, 16384


def ae_title(parsed: Parsed, option: str, default: str) -> str:
    value = parsed.value(option, default)
    if len(value) > 16:
        raise CommandLineError(f"Invalid value for option {option} ({value}): AE title longer than 16 characters")
    return value


def port_param(text: str) -> int:
    return parse_int(text, "port", 1, 65535, option=False)


def int_option(
    parsed: Parsed, option: str, default: int | None, low: int | None = None, high: int | None = None
) -> int | None:
    text = parsed.value(option)
    return default if text is None else parse_int(text, option, low, high)


def timeouts(parsed: Parsed) -> Timeouts:
    """-to/-ts/-ta/-td with DCMTK's ranges and defaults."""
    socket = int_option(parsed, "--socket-timeout", 60, -1)
    return Timeouts(
        connect=int_option(parsed, "--timeout", None, 1),
        acse=int_option(parsed, "--acse-timeout", 30, 1),
        dimse=int_option(parsed, "--dimse-timeout", None, 1),
        socket=None if socket is not None and socket <= 0 else socket,
    )


def address_family(parsed: Parsed) -> int:
    """-i4 (default), -i6, -i0: how host names are resolved."""
    choice = parsed.winner("--ipv4", "--ipv6", "--ip-auto")
    return {"--ipv6": socket.AF_INET6, "--ip-auto": socket.AF_UNSPEC}.get(choice or "", socket.AF_INET)


def max_pdu(parsed: Parsed) -> int:
    return int_option(parsed, "--max-pdu", DEFAULT_PDU, MIN_PDU, MAX_PDU)


def acceptor_max_pdu(parsed: Parsed) -> int:
    """The maximum PDU our Storage SCPs announce: ``-pdu`` if given, else the largest DCMTK
    allows (a DCMTK sender then needs 8x fewer PDUs per object than with its 16 KB default)."""
    return int_option(parsed, "--max-pdu", MAX_PDU, MIN_PDU, MAX_PDU)


#: the asynchronous operations window our acceptors grant by default (PS3.7 D.3.3.3)
DEFAULT_GRANTED_WINDOW = 16


def add_granted_window(cmd) -> None:
    """``--async-window n`` for an acceptor (beyond DCMTK)."""
    cmd.add(
        None,
        "--async-window",
        "grant a requestor up to n outstanding operations\n(beyond DCMTK; 1: one at a time, as DCMTK)",
        f"[n]umber: integer (default: {DEFAULT_GRANTED_WINDOW})",
    )


def granted_window(parsed: Parsed) -> tuple[int, int]:
    """The AcceptorPolicy ``async_ops`` for ``--async-window``: n invoked, one performed at a time."""
    return int_option(parsed, "--async-window", DEFAULT_GRANTED_WINDOW, 1, 0xFFFF), 1
