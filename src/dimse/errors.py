"""The project's exceptions: one family, so callers catch exactly what the network can do."""

from __future__ import annotations

import socket

from .codes import AbortReason, AbortSource, RejectReason, RejectResult, RejectSource


class DimseError(Exception):
    """Base of every error this package raises on purpose."""


class ProtocolError(DimseError):
    """The peer broke PS3.8 or PS3.7; the association is aborted."""


class PDUError(ProtocolError):
    """Bytes received that are not a valid PDU (the peer's fault; see EncodingError for ours)."""


class EncodingError(DimseError, ValueError):
    """Something of ours does not fit the wire format (an AE title longer than 16 characters,
    an item longer than its 16-bit length field): a local mistake, never the peer's, so it is
    not a ProtocolError."""


class PeerRequestedRelease(ProtocolError):
    """The peer sent A-RELEASE-RQ while we waited for a response; we aborted."""


class LocalProtocolError(DimseError):
    """The local user asked for something the current state does not allow."""


class AssociationRejected(DimseError):
    """The peer sent A-ASSOCIATE-RJ; ``result``, ``source`` and ``reason`` are its codes."""

    def __init__(self, result: int, source: int, reason: int) -> None:
        self.result = RejectResult(result)
        self.source = RejectSource(source)
        self.reason = RejectReason(reason)
        super().__init__(f"association rejected (result {result}, source {source}, reason {reason})")


class AssociationAborted(DimseError):
    """The association ended by A-ABORT (either side) or by a lost connection.

    Where the raiser knows them: ``by_peer`` (the peer sent the A-ABORT), and the abort's
    ``source`` and ``reason`` codes; None when not said."""

    def __init__(
        self,
        message: str = "",
        *,
        by_peer: bool | None = None,
        source: int | None = None,
        reason: int | None = None,
    ) -> None:
        super().__init__(message)
        self.by_peer = by_peer
        self.source = None if source is None else AbortSource(source)
        self.reason = None if reason is None else AbortReason(reason)


class NetworkTimeout(DimseError):
    """A connect, ACSE, DIMSE or socket timeout expired; ``kind`` says which (one of the
    constants below, None when the raiser did not say), so that callers can tell them apart
    without reading the message."""

    CONNECT = "connect"  # -to: the TCP connection (and TLS handshake) was not made in time
    ACSE = "acse"  # -ta: no answer to an A-ASSOCIATE or A-RELEASE request
    DIMSE = "dimse"  # -td: no DIMSE message
    READ = "read"  # -ts: one network read waited too long
    SEND = "send"  # -ts: the peer did not take what we sent

    def __init__(self, message: str = "", kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind


class UnknownHost(DimseError, socket.gaierror):
    """The peer's host name does not resolve (still a ``socket.gaierror``, as before)."""

    def __init__(self, host: str, errno: int, text: str) -> None:
        super().__init__(errno, text)
        self.host = host


class NoPresentationContext(DimseError):
    """No accepted presentation context fits what is to be sent."""
