"""What the sans-IO :class:`~dimse.core.connection.Connection` tells its user.

Every event is a frozen dataclass deriving from :class:`Event`: a user tells them apart with
``isinstance`` (or ``match``), and nothing downstream can change what the connection said.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..codes import AbortReason, AbortSource
from .commands import Command
from .pdu import AssociateAC, AssociateRJ, AssociateRQ


class Event:
    """Base of every event a Connection gives out (``next_event``)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class AssociationRequested(Event):
    """A-ASSOCIATE indication: answer with ``accept`` or ``reject``."""

    request: AssociateRQ


@dataclass(frozen=True, slots=True)
class AssociationAccepted(Event):
    """A-ASSOCIATE confirmation (accept)."""

    accept: AssociateAC


@dataclass(frozen=True, slots=True)
class AssociationRejected(Event):
    """A-ASSOCIATE confirmation (reject); the transport is to be closed.  (The exception a
    requestor raises for it is :class:`dimse.errors.AssociationRejected`.)"""

    reject: AssociateRJ


@dataclass(frozen=True, slots=True)
class CommandReceived(Event):
    """A complete DIMSE command set; if ``command.has_dataset``, DataReceived events follow."""

    context_id: int
    command: Command


@dataclass(frozen=True, slots=True, init=False)
class DataReceived(Event):
    """One fragment of a data set, in the context's transfer syntax; ``last`` ends it.

    ``data`` is a view of the bytes the connection was fed: use it (or copy it) before the
    buffer under it is reused."""

    context_id: int
    data: memoryview
    last: bool

    def __init__(self, context_id: int, data: memoryview, last: bool) -> None:
        # one is made for every PDU of a data set: filling the slots directly costs a third
        # of the generated frozen __init__ (a generic object.__setattr__ per field)
        _set_context_id(self, context_id)
        _set_data(self, data)
        _set_last(self, last)


_set_context_id = vars(DataReceived)["context_id"].__set__
_set_data = vars(DataReceived)["data"].__set__
_set_last = vars(DataReceived)["last"].__set__


@dataclass(frozen=True, slots=True)
class ReleaseRequested(Event):
    """A-RELEASE indication: answer with ``release_response`` once nothing is outstanding."""


@dataclass(frozen=True, slots=True)
class ReleaseConfirmed(Event):
    """A-RELEASE confirmation: the association is over."""


@dataclass(frozen=True, slots=True)
class Aborted(Event):
    """A-ABORT or A-P-ABORT indication: the association is over.

    ``source`` is SERVICE_USER or SERVICE_PROVIDER as in the A-ABORT PDU; ``by_peer`` tells
    whether the peer sent the A-ABORT; ``reason`` explains provider aborts; ``detail`` says in
    words what the peer did when that made the connection abort.
    """

    source: AbortSource
    reason: AbortReason
    by_peer: bool
    detail: str = ""
