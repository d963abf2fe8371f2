"""What the sans-IO :class:`~dimse.core.connection.Connection` tells its user.

Every event is a frozen record deriving from :class:`Event`: a user tells them apart with
``isinstance`` (or ``match``), and nothing downstream can change what the connection said.
"""

from __future__ import annotations

from ..codes import AbortReason, AbortSource
from .commands import Command
from .pdu import AssociateAC, AssociateRJ, AssociateRQ
from .record import FrozenRecord

_set = object.__setattr__


class Event(FrozenRecord):
    """Base of every event a Connection gives out (``next_event``)."""

    __slots__ = ()


class AssociationRequested(Event):
    """A-ASSOCIATE indication: answer with ``accept`` or ``reject``."""

    __slots__ = ("request",)
    request: AssociateRQ

    def __init__(self, request: AssociateRQ) -> None:
        _set(self, "request", request)


class AssociationAccepted(Event):
    """A-ASSOCIATE confirmation (accept)."""

    __slots__ = ("accept",)
    accept: AssociateAC

    def __init__(self, accept: AssociateAC) -> None:
        _set(self, "accept", accept)


class AssociationRejected(Event):
    """A-ASSOCIATE confirmation (reject); the transport is to be closed.  (The exception a
    requestor raises for it is :class:`dimse.errors.AssociationRejected`.)"""

    __slots__ = ("reject",)
    reject: AssociateRJ

    def __init__(self, reject: AssociateRJ) -> None:
        _set(self, "reject", reject)


class CommandReceived(Event):
    """A complete DIMSE command set; if ``command.has_dataset``, DataReceived events follow."""

    __slots__ = ("context_id", "command")
    context_id: int
    command: Command

    def __init__(self, context_id: int, command: Command) -> None:
        _set(self, "context_id", context_id)
        _set(self, "command", command)


class DataReceived(Event):
    """One fragment of a data set, in the context's transfer syntax; ``last`` ends it.

    ``data`` is a view of the bytes the connection was fed: use it (or copy it) before the
    buffer under it is reused."""

    __slots__ = ("context_id", "data", "last")
    context_id: int
    data: memoryview
    last: bool

    def __init__(self, context_id: int, data: memoryview, last: bool) -> None:
        # one is made for every PDU of a data set: the slots' own setters are a third
        # cheaper than object.__setattr__ with a name
        _set_context_id(self, context_id)
        _set_data(self, data)
        _set_last(self, last)


_set_context_id = vars(DataReceived)["context_id"].__set__
_set_data = vars(DataReceived)["data"].__set__
_set_last = vars(DataReceived)["last"].__set__


class ReleaseRequested(Event):
    """A-RELEASE indication: answer with ``release_response`` once nothing is outstanding."""

    __slots__ = ()


class ReleaseConfirmed(Event):
    """A-RELEASE confirmation: the association is over."""

    __slots__ = ()


class Aborted(Event):
    """A-ABORT or A-P-ABORT indication: the association is over.

    ``source`` is SERVICE_USER or SERVICE_PROVIDER as in the A-ABORT PDU; ``by_peer`` tells
    whether the peer sent the A-ABORT; ``reason`` explains provider aborts; ``detail`` says in
    words what the peer did when that made the connection abort.
    """

    __slots__ = ("source", "reason", "by_peer", "detail")
    source: AbortSource
    reason: AbortReason
    by_peer: bool
    detail: str

    def __init__(self, source: AbortSource, reason: AbortReason, by_peer: bool, detail: str = "") -> None:
        _set(self, "source", source)
        _set(self, "reason", reason)
        _set(self, "by_peer", by_peer)
        _set(self, "detail", detail)
