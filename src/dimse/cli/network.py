"""Network option values shared by the tools: AE titles, timeouts, PDU sizes, peer/port."""

from __future__ import annotations

import socket
from typing import overload

from ..core.connection import DEFAULT_SEND_PDU, MAX_SEND_PDU, Connection
from ..net.association import Timeouts
from .options import CommandLine, CommandLineError, Parsed, parse_int

MIN_PDU, MAX_PDU, DEFAULT_PDU = 4096, 131072, 16384


#: an AE title has at most 16 characters (PS3.5 table 6.2-1)
AE_TITLE_LENGTH = 16


def ae_title(parsed: Parsed, option: str, default: str) -> str:
    """The option's AE title, cut to 16 characters without a word, as DCMTK does.  Only
    printable ASCII can go into an A-ASSOCIATE-RQ (PS3.5 Default Character Repertoire): other
    characters are refused here, with the option's name, rather than sent (DCMTK sends their
    bytes, which receivers refuse as a malformed request)."""
    title = parsed.value(option, default)
    if not all(" " <= char <= "~" for char in title):
        raise CommandLineError(f"Invalid value for option {option} ({title}): AE titles are printable ASCII")
    return title[:AE_TITLE_LENGTH]


def port_param(text: str) -> int:
    """A port parameter (1..65535), with DCMTK's messages."""
    return parse_int(text, "port", 1, 65535, option=False)


@overload
def int_option(parsed: Parsed, option: str, default: int, low: int | None = None, high: int | None = None) -> int: ...
@overload
def int_option(
    parsed: Parsed, option: str, default: None, low: int | None = None, high: int | None = None
) -> int | None: ...
def int_option(
    parsed: Parsed, option: str, default: int | None, low: int | None = None, high: int | None = None
) -> int | None:
    """The option's integer value in DCMTK's range (a CommandLineError outside it), or ``default``."""
    text = parsed.value(option)
    return default if text is None else parse_int(text, option, low, high)


def seconds_option(parsed: Parsed, option: str, default: float, low: float = 0.0, high: float = 86400.0) -> float:
    """A number of seconds (a fraction allowed: ``0.5``) in ``low..high``, or ``default``."""
    text = parsed.value(option)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise CommandLineError(f"Invalid value for option {option} ({text})") from None
    if not low <= value <= high:  # NaN too
        word = "underflow" if value < low else "overflow"
        raise CommandLineError(f"Invalid value for option {option} ({word}: {text})")
    return value


def timeouts(parsed: Parsed) -> Timeouts:
    """-to/-ts/-ta/-td with DCMTK's ranges and defaults."""
    socket = int_option(parsed, "--socket-timeout", 60, -1)
    return Timeouts(
        connect=int_option(parsed, "--timeout", None, 1),
        acse=int_option(parsed, "--acse-timeout", 30, 1),
        dimse=int_option(parsed, "--dimse-timeout", None, 1),
        socket=None if socket is not None and socket <= 0 else socket,
    )


def retrieve_timeouts(parsed: Parsed) -> Timeouts:
    """-to/-ta/-td for a C-MOVE or C-GET association: no socket timeout (pending responses may
    be far apart while the peer works; -td bounds the wait for each)."""
    return Timeouts(
        connect=int_option(parsed, "--timeout", None, 1),
        acse=int_option(parsed, "--acse-timeout", 30, 1),
        dimse=int_option(parsed, "--dimse-timeout", None, 1),
        socket=None,
    )


def address_family(parsed: Parsed) -> int:
    """-i4 (default), -i6, -i0: how host names are resolved."""
    choice = parsed.winner("--ipv4", "--ipv6", "--ip-auto")
    return {"--ipv6": socket.AF_INET6, "--ip-auto": socket.AF_UNSPEC}.get(choice or "", socket.AF_INET)


def max_pdu(parsed: Parsed) -> int:
    """``-pdu``: the largest PDU we receive (DCMTK's range and default)."""
    return int_option(parsed, "--max-pdu", DEFAULT_PDU, MIN_PDU, MAX_PDU)


def max_send_pdu(parsed: Parsed) -> int:
    """``--max-send-pdu``: the largest P-DATA-TF we send (0: as large as the peer takes)."""
    return int_option(parsed, "--max-send-pdu", 0, MIN_PDU, MAX_PDU)


def announced_max_pdv(conn: Connection) -> int:
    """The "Max Send PDV" DCMTK logs: derived from the peer's maximum PDU alone, even when
    ``--max-send-pdu`` makes the fragments actually sent smaller."""
    return max(min(conn.peer_max_pdu or DEFAULT_SEND_PDU, MAX_SEND_PDU) - 12, 1)


def check_values(parsed: Parsed) -> None:
    """Read every shared numeric network option now, so that a bad value is reported before
    any work, as DCMTK reports it while parsing (each tool adds its own options)."""
    timeouts(parsed)
    max_pdu(parsed)
    max_send_pdu(parsed)
    int_option(parsed, "--repeat", 1, 1)


def acceptor_max_pdu(parsed: Parsed) -> int:
    """The maximum PDU our Storage SCPs announce: ``-pdu`` if given, else the largest DCMTK
    allows (a DCMTK sender then needs 8x fewer PDUs per object than with its 16 KB default)."""
    return int_option(parsed, "--max-pdu", MAX_PDU, MIN_PDU, MAX_PDU)


#: the asynchronous operations window our acceptors grant by default (PS3.7 D.3.3.3)
DEFAULT_GRANTED_WINDOW = 16


def add_granted_window(cmd: CommandLine) -> None:
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
