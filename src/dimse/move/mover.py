"""movescu's C-MOVE loop (spec section 6): one request per query, its responses, ``--cancel``,
the sub-operation counts, and what the moves came to -- logged in DCMTK's words.

A request whose exchange failed (unreadable query file, no context, the peer aborting or
asking to release, a DIMSE error) ends the loop: the rest is not sent, as in DCMTK.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from enum import IntEnum
from typing import TYPE_CHECKING, TypeAlias, cast

from ..cli.conditions import NO_CONTEXT, describe
from ..codes import Status
from ..core.commands import Command
from ..core.record import FrozenRecord, Record
from ..dcmtk import dumps
from ..dcmtk.texts import move_status_text
from ..errors import AssociationAborted, DimseError, PeerRequestedRelease
from ..files.part10 import BadDicomFile
from ..net.association import Association
from .identifier import KeyIdentifier

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

#: the ``-k`` keys of a request: coded without pydicom, or pydicom's elements (``move.keys``)
Keys: TypeAlias = "KeyIdentifier | list[DataElement]"
#: one C-MOVE to make: the query file (None: the keys alone) and the keys applied to it
MoveRequest: TypeAlias = "tuple[str | None, Keys]"


def request_identifier(query_file: str | None, keys: Keys) -> KeyIdentifier | Dataset:
    """A request's identifier: the keys alone, or the query file with the keys applied
    (raises BadDicomFile for a query file that cannot be read)."""
    if isinstance(keys, KeyIdentifier):
        return keys
    from pydicom.dataset import Dataset

    from .keys import apply_keys, load_query

    return apply_keys(load_query(query_file) if query_file else Dataset(), keys)


class MoveResult(IntEnum):
    """What the C-MOVEs of a run came to; the worst one counts (movescu's exit code)."""

    SUCCESS = 0  # every final response Success or Cancel
    WARNING = 1  # a final response Warning (sub-operations failed), none worse
    FAILED = 2  # a final response with an error status, or an exchange that failed


class SubOperations(Record):
    """The sub-operation counts of the latest C-MOVE response (PS3.7 C.4.2.1.2)."""

    __slots__ = ("remaining", "completed", "failed", "warning")

    def __init__(
        self,
        remaining: int = 0,
        completed: int = 0,
        failed: int = 0,
        warning: int = 0,
    ) -> None:
        self.remaining = remaining
        self.completed = completed
        self.failed = failed
        self.warning = warning

    @property
    def done(self) -> int:
        return self.completed + self.failed + self.warning


_COUNTS = {
    "remaining": "NumberOfRemainingSuboperations",
    "completed": "NumberOfCompletedSuboperations",
    "failed": "NumberOfFailedSuboperations",
    "warning": "NumberOfWarningSuboperations",
}


class MoveOptions(FrozenRecord):
    """How the requests are made (from movescu's options)."""

    __slots__ = ("sop_class", "destination", "cancel_after", "pending_read")
    sop_class: str
    destination: str
    cancel_after: int
    pending_read: bool

    def __init__(
        self,
        sop_class: str,  # the MOVE SOP class of the information model (-P/-S/-O)
        destination: str,  # -aem (movescu's default: its own calling AE title)
        cancel_after: int = 0,  # --cancel n: C-CANCEL after the n-th pending response (0: never)
        pending_read: bool = False,  # -pr: how the warning for a data set after a pending response reads
    ) -> None:
        object.__setattr__(self, "sop_class", sop_class)
        object.__setattr__(self, "destination", destination)
        object.__setattr__(self, "cancel_after", cancel_after)
        object.__setattr__(self, "pending_read", pending_read)


class Mover:
    """The C-MOVEs of one movescu run over one association, and what they came to (getscu's
    ``get.getter.Getter`` is one too, with the exchange and its words replaced)."""

    #: the error lines of a request whose exchange failed
    request_failed = "Move Request Failed: %s"
    scu_failed = "Move SCU Failed: %s"

    def __init__(self, assoc: Association, options: MoveOptions, log: logging.Logger) -> None:
        self.assoc = assoc
        self.options = options
        self.log = log
        self.result = MoveResult.SUCCESS
        self.counts = SubOperations()
        self.final_statuses: list[int] = []
        #: objects the final responses said were sent (completed + warning), summed over the
        #: moves; None once a move ended without giving any count (nothing to check against)
        self.announced: int | None = 0
        self._counted = False  # a response of the current move gave a count
        #: called after each response (the progress bar)
        self.on_response: Callable[[], None] | None = None
        rq = assoc.conn.request_pdu
        self._who = f"({rq.calling_ae},{rq.called_ae})" if rq is not None else "(,)"

    async def run(self, requests: Sequence[MoveRequest], repeat: int) -> bool:
        """Each request ``repeat`` times, in order; False once an exchange failed."""
        for query_file, keys in requests:
            for _ in range(repeat):
                if not await self.move(query_file, keys):
                    return False
        return True

    async def move(self, query_file: str | None, keys: Keys) -> bool:
        """One C-MOVE; returns False when the exchange failed (further requests are not sent)."""
        identifier = self._identifier(query_file, keys)
        if identifier is None:
            return False
        ctx = self.assoc.find_context(self.options.sop_class)
        if ctx is None:
            self.assoc.next_message_id()
            self.log.error(self.request_failed, NO_CONTEXT)
            self.worst(MoveResult.FAILED)
            return False
        message_id = self.assoc.next_message_id()
        try:
            await self.exchange(identifier, message_id, ctx.context_id)
        except PeerRequestedRelease:
            self.log.error("Protocol Error: Peer requested release (Aborting)")
            self.log.info("Aborting Association")
        except AssociationAborted as exc:
            self.log.error(self.request_failed, describe(exc))
            self.log.info("Peer Aborted Association")
        except (DimseError, OSError) as exc:
            self.log.error(self.request_failed, describe(exc))
            self.log.error(self.scu_failed, describe(exc))
            self.log.info("Aborting Association")
            await self.assoc.abort()
        else:
            return True
        self.worst(MoveResult.FAILED)
        return False

    async def exchange(self, identifier: KeyIdentifier | Dataset, message_id: int, context_id: int) -> None:
        """The request and its responses (DimseError and OSError tell how it failed)."""
        # a KeyIdentifier codes itself (encode_as) where the association encodes a data set
        sent = cast("Dataset", identifier)
        responses = self.assoc.move(sent, self.options.destination, self.options.sop_class, message_id)
        self.log_request(message_id, identifier)
        await self.handle_responses(responses, message_id, context_id)

    def _identifier(self, query_file: str | None, keys: Keys) -> KeyIdentifier | Dataset | None:
        """The identifier to send: the keys alone, or the query file with the keys applied
        (None after logging a query file that cannot be read)."""
        try:
            return request_identifier(query_file, keys)
        except BadDicomFile as exc:
            self.assoc.next_message_id()
            self.log.error("bad DICOM file: %s: %s", query_file, exc)
            self.worst(MoveResult.FAILED)
            return None

    def log_request(self, message_id: int, identifier: KeyIdentifier | Dataset) -> None:
        debug = self.log.isEnabledFor(logging.DEBUG)
        self.log.info("Sending Move Request" if debug else f"Sending Move Request (MsgID {message_id})")
        if self.log.isEnabledFor(logging.INFO):  # the dump needs pydicom
            shown = identifier.dataset() if isinstance(identifier, KeyIdentifier) else identifier
            self.log.info("Request Identifiers:\n%s", dumps.dump_dataset(shown))

    async def handle_responses(
        self, responses: AsyncIterator[tuple[Command, Dataset | None]], message_id: int, context_id: int
    ) -> None:
        """Every response up to the final one; ``--cancel n`` after the n-th pending one."""
        debug = self.log.isEnabledFor(logging.DEBUG)
        pending = 0
        self._counted = False
        async for rsp, _ in responses:
            status: int = rsp.get("Status", Status.CANNOT_UNDERSTAND)
            self._count(rsp, final=status != Status.PENDING)
            self.received(rsp, status, debug, context_id)
            if status != Status.PENDING:
                self.final(rsp, status, debug, context_id)
                continue
            pending += 1
            self.pending(rsp, pending, debug, context_id)
            if pending == self.options.cancel_after:
                self.log.info("Sending Cancel Request (MsgID %d, PresID %d)", message_id, context_id)
                await self.assoc.cancel(message_id, self.options.sop_class)

    def received(self, rsp: Command, status: int, debug: bool, context_id: int) -> None:
        """A response has come (its counts kept): what a subclass tells of it first."""

    def _count(self, rsp: Command, final: bool) -> None:
        """Keep the counts a response gives; after the final one an absent remaining count
        is 0 (PS3.7 makes it optional there: Orthanc and dcmjs-dimse leave it out)."""
        if final:
            self.counts.remaining = 0
        for field_name, keyword in _COUNTS.items():
            value = rsp.get(keyword)
            if value is not None:
                setattr(self.counts, field_name, value)
                self._counted = True
        if final:
            self._announce()
        if self.on_response is not None:
            self.on_response()

    def _announce(self) -> None:
        """A move ended: add the objects it says were sent to those movescu waits for."""
        if self.announced is not None:
            sent = self.counts.completed + self.counts.warning
            self.announced = self.announced + sent if self._counted else None

    def pending(self, rsp: Command, number: int, debug: bool, context_id: int) -> None:
        if rsp.has_dataset:
            self._pending_dataset_warning()
        if debug:
            self.log.info("Received Move Response %d", number)
            self.log.debug("%s", dumps.dump_command(rsp, incoming=True, context_id=context_id))
        else:
            self.log.info("Received Move Response %d (%s)", number, move_status_text(Status.PENDING))

    def _pending_dataset_warning(self) -> None:
        """DCMTK's words for a data set after a pending response (we always read and drop it)."""
        self.log.warning("DIMSE Warning: %s: moveUser: Status Pending, but DataSetType!=NULL", self._who)
        if self.options.pending_read:
            self.log.warning("DIMSE Warning: %s: Reading but ignoring response identifier set", self._who)
        else:
            self.log.warning("DIMSE Warning: %s: Assuming NO response identifiers are present", self._who)

    def final(self, rsp: Command, status: int, debug: bool, context_id: int) -> None:
        self.final_statuses.append(int(status))
        text = move_status_text(status)
        if status == Status.WARNING:
            self.log.warning("Move response with warning status (%s)", text)
            self.worst(MoveResult.WARNING)
        elif status not in (Status.SUCCESS, Status.CANCEL):
            self.log.warning("Move response with error status (%s)", text)
            self.worst(MoveResult.FAILED)
        if debug:
            self.log.info("Received Final Move Response")
            self.log.debug("%s", dumps.dump_command(rsp, incoming=True, context_id=context_id))
        else:
            self.log.info("Received Final Move Response (%s)", text)

    def worst(self, result: MoveResult) -> None:
        self.result = max(self.result, result)
