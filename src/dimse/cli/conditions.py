"""DCMTK-style one-line reasons (``mmmm:cccc text``) for what the network layer raises.

Scripts written for DCMTK grep for these texts; where DCMTK has no text of its own, the
reason is ours and says what happened in the user's terms.  The choice of text follows the
error's type and the kind it carries (``NetworkTimeout.kind``, ``PeerProtocolError.kind``),
never its message; a message only fills in "our words" where DCMTK's line ends with them.
"""

from __future__ import annotations

import os
import socket

from ..core.connection import PeerProtocolError, Violation
from ..dcmtk.texts import reject_text
from ..errors import (
    AssociationAborted,
    AssociationRejected,
    NetworkTimeout,
    NoPresentationContext,
    ProtocolError,
    UnknownHost,
)
from ..net.errors import AssociationOver, PeerSilent, PeerStalled, ReleaseAfterEnd
from ..net.tls import describe_error as describe_tls_error

PEER_ABORTED = "0006:0317 Peer aborted Association (or never connected)"
DIMSE_TIMEOUT = "0006:0207 DIMSE No data available (timeout in non-blocking mode)"
NO_CONTEXT = "0006:0208 DIMSE No valid Presentation Context ID"
ACSE_TIMEOUT = "0006:031a DUL network read timeout"
CONNECT_TIMEOUT = "0006:031c TCP Initialization Error: Operation now in progress (Timeout)"

#: DCMTK's reason for each kind of NetworkTimeout that has one of its own
_TIMEOUT_TEXTS = {
    NetworkTimeout.CONNECT: CONNECT_TIMEOUT,
    NetworkTimeout.ACSE: ACSE_TIMEOUT,
    NetworkTimeout.DIMSE: DIMSE_TIMEOUT,
}


def describe(exc: BaseException) -> str:
    """The reason for ``exc`` after ``Association Request Failed:`` or ``Store Failed``: one
    line, or several where DCMTK prints a chain of conditions."""
    if isinstance(exc, AssociationRejected):
        return reject_text(exc.result, exc.source, exc.reason)
    if isinstance(exc, UnknownHost):
        return f"0006:0320 Attempt to connect to unknown host: {exc.host}"
    if isinstance(exc, socket.gaierror):
        return f"0006:031c TCP Initialization Error: {exc.strerror or exc}"
    tls_text = describe_tls_error(exc)
    if tls_text is not None:
        return tls_text
    if isinstance(exc, PeerSilent):
        return PEER_ABORTED  # DCMTK's upper layer counts a silent peer as one that aborted
    if isinstance(exc, PeerStalled):
        return f"{RECEIVE_FAILED}\n{READ_PDV_FAILED}\n0006:0310 {exc}"
    if isinstance(exc, NetworkTimeout):
        return _describe_timeout(exc)
    if isinstance(exc, OSError):
        text = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))
        return f"0006:031c TCP Initialization Error: {text}"
    if isinstance(exc, AssociationAborted):
        return PEER_ABORTED if _aborted_by_peer(exc) else f"0006:0317 {exc}"
    if isinstance(exc, NoPresentationContext):
        return NO_CONTEXT
    if isinstance(exc, PeerProtocolError):
        return describe_violation(exc)
    if isinstance(exc, ReleaseAfterEnd):  # DCMTK's upper layer: A-RELEASE request in Sta1
        return "0006:0303 DUL Finite State Machine Error: No action defined, state 1 event 10"
    if isinstance(exc, AssociationOver):
        return f"0006:020e DIMSE Failed to send message\n0006:0303 DUL Finite State Machine Error: {exc}"
    if isinstance(exc, ProtocolError):
        return f"0006:0303 DUL Finite State Machine Error: {exc}"
    return str(exc) or type(exc).__name__


def _describe_timeout(exc: NetworkTimeout) -> str:
    """DCMTK's text for the kind of timeout; a socket timeout (DCMTK has no text of its own
    for it) or one raised without a kind is told in our words."""
    text = _TIMEOUT_TEXTS.get(exc.kind) if exc.kind is not None else None
    return text if text is not None else f"0006:031c TCP Initialization Error: {exc}"


def _aborted_by_peer(exc: AssociationAborted) -> bool:
    """Whether the peer sent the A-ABORT (DCMTK's "Peer aborted Association"), not our side
    or a lost connection, as the raiser said (``by_peer``)."""
    return bool(exc.by_peer)


RECEIVE_FAILED = "0006:020d DIMSE Failed to receive message"
READ_PDV_FAILED = "0006:020c DIMSE Read PDV failed"
COMMAND_READ_FAILED = "0006:020d DIMSE: receiveCommand: cmdSet->read() Failed"

#: DCMTK's conditions for what a peer sent: the lines DCMTK prints first, the code of its last
#: line, and that line's text (None: the error's own words, which say what the peer sent)
_VIOLATIONS: dict[Violation, tuple[tuple[str, ...], str, str | None]] = {
    Violation.UNKNOWN_PDU_TYPE: ((RECEIVE_FAILED, READ_PDV_FAILED), "0006:0321", None),
    Violation.PDU_TOO_LONG: ((RECEIVE_FAILED, READ_PDV_FAILED), "0006:0308", None),
    Violation.MALFORMED_PDU: ((RECEIVE_FAILED, READ_PDV_FAILED), "0006:0307", None),
    Violation.UNEXPECTED_PDU: ((RECEIVE_FAILED, READ_PDV_FAILED), "0006:0303", None),
    Violation.UNKNOWN_CONTEXT: ((RECEIVE_FAILED,), "0006:0101", None),
    Violation.DATA_WITHOUT_COMMAND: ((RECEIVE_FAILED,), "0006:020f", None),
    Violation.COMMAND_IN_DATA: ((RECEIVE_FAILED,), "0006:020f", None),
    Violation.BAD_COMMAND_SET: ((COMMAND_READ_FAILED,), "0001:0004", None),
    Violation.UNEXPECTED_COMMAND: ((), "0006:0211", None),
    Violation.UNEXPECTED_MESSAGE_ID: ((), "0006:0211", None),
    Violation.UNEXPECTED_DATASET: ((), "0006:0203", "DIMSE Badly formed message"),  # the W: line said what
}


def describe_violation(exc: PeerProtocolError) -> str:
    """DCMTK's condition lines for what the peer sent, the last one in our words."""
    before, code, text = _VIOLATIONS[exc.kind]
    return "\n".join((*before, f"{code} {text or exc}"))
