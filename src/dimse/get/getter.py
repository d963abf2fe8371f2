"""getscu's C-GET loop: movescu's (``move.mover``: identifiers, counts, ``--cancel``) with the
C-GET exchange, where the peer's C-STORE sub-operations come on the same association, between
its responses -- logged in DCMTK getscu's words.

An exchange that fails ends the run as DCMTK's getscu ends it: a line saying what was being
done (sending the request, receiving a command, receiving a data set -- then answered "cannot
understand" --, answering a C-STORE) and nothing more, not movescu's lines; the association
is aborted where DCMTK just exits."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, NoReturn, cast

from ..cli.conditions import describe
from ..codes import Status
from ..core.commands import Command, c_get_rq, response_to
from ..core.connection import PresentationContext
from ..dcmtk import dumps
from ..dcmtk.texts import move_status_text, store_status_text
from ..errors import DimseError, NetworkTimeout
from ..move.identifier import KeyIdentifier
from ..move.mover import Keys, MoveOptions, Mover, MoveRequest, MoveResult
from ..net.association import Association
from ..net.errors import AssociationOver, ConnectionLost
from ..net.server import STATUS_CANNOT_UNDERSTAND, receive_store
from .receiver import GetReceiver

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

#: the sub-operation counts of the final status report, in DCMTK's words
_REPORT = (
    ("Remaining", "NumberOfRemainingSuboperations"),
    ("Completed", "NumberOfCompletedSuboperations"),
    ("Failed", "NumberOfFailedSuboperations"),
    ("Warning", "NumberOfWarningSuboperations"),
)
#: DCMTK getscu's line for a send that failed, by what was being sent (C-CANCEL: ours)
_SEND_FAILED = {
    "request": "Failed sending C-GET request: %s",
    "response": "Failed sending C-STORE response: %s",
    "cancel": "Failed sending C-CANCEL request: %s",
}


class _Reported(Exception):
    """The exchange failed and DCMTK getscu's lines for it were logged: the run ends there.
    (Not a DimseError: the mover's own failure lines are movescu's.)"""


def _send_failed(exc: BaseException) -> bool:
    """Whether ``exc`` was met sending (the association already over, the connection lost
    under a write, a send that timed out), not receiving."""
    if isinstance(exc, NetworkTimeout):
        return exc.kind == NetworkTimeout.SEND
    return isinstance(exc, (AssociationOver, ConnectionLost))


class Getter(Mover):
    """The C-GETs of one getscu run over one association; objects go to ``receiver``."""

    request_failed = "Get Request Failed: %s"

    def __init__(self, assoc: Association, options: MoveOptions, log: logging.Logger, receiver: GetReceiver) -> None:
        super().__init__(assoc, options, log)
        self.receiver = receiver
        self._last: Command | None = None  # the last C-GET response of this round
        #: the Failed SOP Instance UID List (0008,0058) of the final responses
        self.failed_uids: list[str] = []
        #: what a send failing now would have been sending (a key of _SEND_FAILED; None: nothing)
        self._sending: str | None = None

    async def run(self, requests: Sequence[MoveRequest], repeat: int) -> bool:
        """DCMTK getscu's order: each round sends every request, then reports the last response."""
        for _ in range(repeat):
            self._last = None
            for query_file, keys in requests:
                if not await self.move(query_file, keys):
                    return False
            self._report()
        return True

    async def move(self, query_file: str | None, keys: Keys) -> bool:
        """The mover's C-MOVE step as a C-GET; a failed exchange, told in getscu's words, ends
        the run (False)."""
        try:
            return await super().move(query_file, keys)
        except _Reported:
            self.worst(MoveResult.FAILED)
            return False

    async def exchange(self, identifier: KeyIdentifier | Dataset, message_id: int, context_id: int) -> None:
        self.log_request(message_id, identifier)
        sent = cast("Dataset", identifier)  # a KeyIdentifier codes itself (encode_as)
        self._sending = "request"
        responses = self.assoc.get(sent, self.options.sop_class, self._store, message_id)
        try:
            await self.handle_responses(self._keep_failed(responses), message_id, context_id)
        except (DimseError, OSError) as exc:
            line = _SEND_FAILED.get(self._sending or "") if _send_failed(exc) else None
            await self._fail(line or "Failed receiving DIMSE command: %s", exc)

    async def _fail(self, line: str, exc: BaseException) -> NoReturn:
        """DCMTK getscu's ``line`` for ``exc``; the association is aborted (DCMTK exits)."""
        self.log.error(line, describe(exc))
        await self.assoc.abort()
        raise _Reported from exc

    async def _keep_failed(
        self, responses: AsyncIterator[tuple[Command, Dataset | None]]
    ) -> AsyncIterator[tuple[Command, Dataset | None]]:
        """The responses, the failed instances their identifiers name kept (to name them later)."""
        async for rsp, identifier in responses:
            self._sending = None
            if identifier is not None and "FailedSOPInstanceUIDList" in identifier:
                value = identifier.FailedSOPInstanceUIDList
                self.failed_uids += [str(uid) for uid in ([value] if isinstance(value, str) else value) if uid]
            yield rsp, identifier

    def log_request(self, message_id: int, identifier: KeyIdentifier | Dataset) -> None:
        if not self.log.isEnabledFor(logging.DEBUG):
            self.log.info("Sending C-GET Request (MsgID %d)", message_id)
            return
        self.log.info("Sending C-GET Request")
        context_id = self.assoc.find_context(self.options.sop_class)
        rq = c_get_rq(message_id, self.options.sop_class)
        shown = identifier.dataset() if isinstance(identifier, KeyIdentifier) else identifier
        dump = dumps.dump_command(rq, incoming=False, context_id=context_id.context_id if context_id else None)
        self.log.debug("%s\n%s", dump, dumps.dump_dataset(shown))

    async def _store(self, ctx: PresentationContext, command: Command) -> int:
        """One C-STORE sub-operation: logged, its data set into the receiver.  A data set that
        cannot be received is answered "cannot understand" and ends the run (DCMTK's order)."""
        self._sending = None
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.info("Received C-STORE Request")
            self.log.debug("%s", dumps.dump_command(command, incoming=True, context_id=ctx.context_id))
        else:
            self.log.info("Received C-STORE Request (MsgID %d)", command.get("MessageID", 0))
        timeout = self.assoc.timeouts.dimse
        try:
            status = await receive_store(
                self.assoc, ctx, command, self.receiver, lambda assoc, write: assoc.receive_dataset(write, timeout)
            )
        except (DimseError, OSError) as exc:
            self.log.error("Unable to receive dataset on presentation context %d: %s", ctx.context_id, describe(exc))
            await self._answer(ctx, command, STATUS_CANNOT_UNDERSTAND)
        self._log_response(ctx, command, status)
        self._sending = "response"  # the association sends it when this returns
        return status

    async def _answer(self, ctx: PresentationContext, command: Command, status: int) -> NoReturn:
        """The response to a C-STORE whose data set did not come, sent ourselves; the run ends."""
        self._log_response(ctx, command, status)
        try:
            await self.assoc.send_command(ctx.context_id, response_to(command, status))
        except (DimseError, OSError) as exc:
            await self._fail("Failed sending C-STORE response: %s", exc)
        await self.assoc.abort()
        raise _Reported

    def _log_response(self, ctx: PresentationContext, command: Command, status: int) -> None:
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.info("Sending C-STORE Response")
            rsp = response_to(command, status)
            self.log.debug("%s", dumps.dump_command(rsp, incoming=False, context_id=ctx.context_id))
        else:
            self.log.info("Sending C-STORE Response (%s)", store_status_text(status))

    def received(self, rsp: Command, status: int, debug: bool, context_id: int) -> None:
        """DCMTK's getscu tells of each C-GET response before it handles it."""
        self._last = rsp
        if debug:
            self.log.info("Received C-GET Response")
            self.log.debug("%s", dumps.dump_command(rsp, incoming=True, context_id=context_id))
            self.log.debug("Handling C-GET Response")
        else:
            self.log.info("Received C-GET Response (%s)", move_status_text(status))

    def final(self, rsp: Command, status: int, debug: bool, context_id: int) -> None:
        self.final_statuses.append(int(status))
        text = move_status_text(status)
        if status in (Status.SUCCESS, Status.CANCEL):
            if debug:
                self.log.debug("DIMSE status is: %s", text.split(":", 1)[0])
        elif 0xB000 <= status <= 0xBFFF:  # Warning (0xB000) and its kin
            self.log.warning("DIMSE status is: %s", text)
            self.worst(MoveResult.WARNING)
        else:
            self.log.error("DIMSE status is: %s", text)
            self.worst(MoveResult.FAILED)

    def pending(self, rsp: Command, number: int, debug: bool, context_id: int) -> None:
        if number == self.options.cancel_after:
            self._sending = "cancel"  # the mover sends it next
        if debug:
            self.log.debug("DIMSE status is: Pending")

    def _report(self) -> None:
        """DCMTK's final status report: the counts of the round's last C-GET response."""
        if self._last is None:
            return
        last = self._last
        lines = [f"  Number of {name} Suboperations{' ' * (10 - len(name))}: {last.get(key, 0)}" for name, key in _REPORT]
        self.log.info("Final status report from last C-GET message:\n%s", "\n".join(lines))
