"""dimse: DICOM network tools (storescu, movescu, storescp, echoscu) on a sans-IO core.

The names below are loaded when first used (PEP 562), so that ``import dimse.<anything>`` --
every console script starts with it -- does not load the whole network stack."""

from __future__ import annotations

import importlib

from ._version import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~10 ms at start-up)
if TYPE_CHECKING:
    from typing import Any

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

#: public name -> the module that defines it
_HOMES = {
    "Command": ".core.commands",
    "Connection": ".core.connection",
    "PresentationContext": ".core.connection",
    "AcceptorPolicy": ".core.negotiation",
    "build_request": ".core.negotiation",
    "negotiate": ".core.negotiation",
    "AssociationAborted": ".errors",
    "AssociationRejected": ".errors",
    "DimseError": ".errors",
    "NetworkTimeout": ".errors",
    "NoPresentationContext": ".errors",
    "ProtocolError": ".errors",
    "UnknownHost": ".errors",
    "Association": ".net.association",
    "Timeouts": ".net.association",
    "associate": ".net.association",
    "Acceptor": ".net.server",
    "Ended": ".net.server",
    "Services": ".net.server",
    "Sink": ".net.server",
    "serve": ".net.server",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'dimse' has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
