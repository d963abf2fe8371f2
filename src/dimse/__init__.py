"""dimse: DICOM network tools (storescu, movescu, storescp, echoscu) on a sans-IO core."""

from ._version import __version__
from .core.commands import Command
from .core.connection import Connection, PresentationContext
from .core.negotiation import AcceptorPolicy, build_request, negotiate
from .errors import (
    AssociationAborted,
    AssociationRejected,
    DimseError,
    NetworkTimeout,
    NoPresentationContext,
    ProtocolError,
    UnknownHost,
)
from .net.association import Association, Timeouts, associate
from .net.server import Acceptor, Ended, Services, Sink, serve

__all__ = [
    "Acceptor",
    "AcceptorPolicy",
    "Association",
    "AssociationAborted",
    "AssociationRejected",
    "Command",
    "Connection",
    "DimseError",
    "Ended",
    "NetworkTimeout",
    "NoPresentationContext",
    "PresentationContext",
    "ProtocolError",
    "Services",
    "Sink",
    "Timeouts",
    "UnknownHost",
    "__version__",
    "associate",
    "build_request",
    "negotiate",
    "serve",
]
