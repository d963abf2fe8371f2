"""The project's exceptions: one family, so callers catch exactly what the network can do."""


class DimseError(Exception):
    """Base of every error this package raises on purpose."""


class ProtocolError(DimseError):
    """The peer broke PS3.8 or PS3.7; the association is aborted."""


class PDUError(ProtocolError):
    """Bytes that are not a valid PDU."""


class PeerRequestedRelease(ProtocolError):
    """The peer sent A-RELEASE-RQ while we waited for a response; we aborted."""


class LocalProtocolError(DimseError):
    """The local user asked for something the current state does not allow."""


class AssociationRejected(DimseError):
    """The peer sent A-ASSOCIATE-RJ."""

    def __init__(self, result: int, source: int, reason: int) -> None:
        from .names import reject_text

        self.result, self.source, self.reason = result, source, reason
        super().__init__(reject_text(result, source, reason))


class AssociationAborted(DimseError):
    """The association ended by A-ABORT (either side) or by a lost connection."""


class NetworkTimeout(DimseError):
    """A connect, ACSE or DIMSE timeout expired."""


class NoPresentationContext(DimseError):
    """No accepted presentation context fits what is to be sent."""
