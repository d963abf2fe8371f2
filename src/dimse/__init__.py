"""dimse: DICOM network tools (storescu, movescu, storescp, echoscu) on a sans-IO core."""

__version__ = "0.1.0"

from .association import Association, Timeouts, associate  # noqa: E402
from .commands import Command  # noqa: E402
from .connection import Connection, PresentationContext  # noqa: E402
from .errors import (  # noqa: E402
    AssociationAborted,
    AssociationRejected,
    DimseError,
    NetworkTimeout,
    NoPresentationContext,
    ProtocolError,
    UnknownHost,
)
from .negotiation import AcceptorPolicy, build_request, negotiate  # noqa: E402
from .server import Acceptor, Services, serve  # noqa: E402

__all__ = [
    "Acceptor",
    "AcceptorPolicy",
    "Association",
    "AssociationAborted",
    "AssociationRejected",
    "Command",
    "Connection",
    "DimseError",
    "NetworkTimeout",
    "NoPresentationContext",
    "PresentationContext",
    "ProtocolError",
    "Services",
    "Timeouts",
    "UnknownHost",
    "__version__",
    "associate",
    "build_request",
    "negotiate",
    "serve",
]
