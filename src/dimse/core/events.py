"""What the sans-IO :class:`~dimse.connection.Connection` tells its user."""

from __future__ import annotations

from dataclasses import dataclass

from .commands import Command
from .pdu import AssociateAC, AssociateRJ, AssociateRQ


@dataclass(slots=True)
class AssociationRequested:
    """A-ASSOCIATE indication: answer with ``accept`` or ``reject``."""

    request: AssociateRQ


@dataclass(slots=True)
class AssociationAccepted:
    """A-ASSOCIATE confirmation (accept)."""

    accept: AssociateAC


@dataclass(slots=True)
class AssociationRejected:
    """A-ASSOCIATE confirmation (reject); the transport is to be closed."""

    reject: AssociateRJ


@dataclass(slots=True)
class CommandReceived:
    """A complete DIMSE command set; if ``command.has_dataset``, DataReceived events follow."""

    context_id: int
    command: Command


@dataclass(slots=True)
class DataReceived:
    """One fragment of a data set, in the context's transfer syntax; ``last`` ends it."""

    context_id: int
    data: memoryview
    last: bool


@dataclass(slots=True)
class ReleaseRequested:
    """A-RELEASE indication: answer with ``release_response`` once nothing is outstanding."""


@dataclass(slots=True)
class ReleaseConfirmed:
    """A-RELEASE confirmation: the association is over."""


@dataclass(slots=True)
class Aborted:
    """A-ABORT or A-P-ABORT indication: the association is over.

    ``source`` is 0 (service user) or 2 (service provider) as in the A-ABORT PDU; ``by_peer``
    tells whether the peer sent the A-ABORT; ``reason`` explains provider aborts.
    """

    source: int
    reason: int
    by_peer: bool
    detail: str = ""


Event = (
    AssociationRequested
    | AssociationAccepted
    | AssociationRejected
    | CommandReceived
    | DataReceived
    | ReleaseRequested
    | ReleaseConfirmed
    | Aborted
)
