"""What storescu's ``--retry`` tries again, and how long it waits first.

A failure is *transient* when the same request may well succeed a little later: the peer
refused the association for now (A-ASSOCIATE-RJ "rejected-transient"), the connection could
not be made or went away (refused, reset, timed out, aborted), a response did not come in
time, or the peer answered 0xA7xx (refused: out of resources).  Everything else is permanent
and tried once, as DCMTK does: a permanent rejection, no presentation context, 0xA9xx and
0xCxxx statuses, a bad file, a failed TLS handshake, an unknown host.

The waits grow exponentially from the first (``--retry-wait``), capped at :data:`MAX_WAIT`,
each with up to :data:`JITTER` of itself added at random so that many senders refused at once
do not all come back at the same moment.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

from ..codes import RejectResult
from ..core.record import FrozenRecord
from ..errors import AssociationAborted, AssociationRejected, NetworkTimeout, PeerRequestedRelease, UnknownHost
from ..net.errors import ConnectionFailed, ConnectionLost

if TYPE_CHECKING:
    import random

#: the longest wait between two attempts, in seconds
MAX_WAIT = 300.0
#: the share of a wait added at random (0.25: a 4 s wait becomes 4 to 5 s)
JITTER = 0.25
#: the first wait when ``--retry`` is given without ``--retry-wait``, in seconds
DEFAULT_FIRST_WAIT = 1.0


def transient_status(status: int | None) -> bool:
    """0xA7xx: the peer is out of resources for now."""
    return status is not None and status & 0xFF00 == 0xA700


def transient_error(exc: BaseException) -> bool:
    """Whether an exception that ended an association or a store is worth another attempt."""
    if isinstance(exc, AssociationRejected):
        return exc.result is RejectResult.TRANSIENT
    if isinstance(exc, (UnknownHost, ssl.SSLError)):
        return False  # a TLSFailed too: certificates do not mend themselves
    if isinstance(exc, (ConnectionFailed, ConnectionLost, NetworkTimeout, AssociationAborted, PeerRequestedRelease)):
        return True
    return isinstance(exc, (ConnectionError, TimeoutError))


class RetryPolicy(FrozenRecord):
    """``--retry n``: up to ``retries`` attempts after the first, the first of them after
    ``first_wait`` seconds."""

    __slots__ = ("retries", "first_wait", "max_wait")
    retries: int
    first_wait: float
    max_wait: float

    def __init__(self, retries: int = 0, first_wait: float = DEFAULT_FIRST_WAIT, max_wait: float = MAX_WAIT) -> None:
        object.__setattr__(self, "retries", retries)
        object.__setattr__(self, "first_wait", first_wait)
        object.__setattr__(self, "max_wait", max_wait)

    def wait(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 1: the
        wait after the first attempt is about ``first_wait``)."""
        doublings = min(max(0, attempt - 1), 1000)  # 2.0 ** 1024 overflows; the cap is met long before
        base = min(self.max_wait, self.first_wait * 2.0**doublings)
        if rng is None:
            import random  # here, not at start-up: only a retry waits

            return base * (1 + JITTER * random.random())
        return base * (1 + JITTER * rng.random())
