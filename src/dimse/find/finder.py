"""findscu's C-FIND loop: one request per query file (or the ``-k`` keys alone), ``--repeat``
times each, ``--cancel``, and every response logged, written or printed in DCMTK's words.

As in DCMTK 3.6.7 the ``-k`` keys are read per request, after the association is up (a bad key
is logged there and the association aborted) and applied in command-line order, sequence paths
included (``move.keys.apply_paths``), and responses are numbered across the whole run
(the final responses count too): ``--cancel n`` and the ``-X`` file names use that number.
A request whose exchange failed ends the loop: the rest is not sent.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from enum import IntEnum
from typing import TYPE_CHECKING, TextIO

from ..cli.conditions import describe
from ..codes import Status
from ..core.commands import Command, c_find_rq
from ..core.record import FrozenRecord
from ..dcmtk import dumps
from ..errors import AssociationAborted, DimseError, PeerRequestedRelease
from ..files.part10 import BadDicomFile
from ..net.association import Association
from ..uids import ExplicitVRBigEndian as BEE
from ..uids import ExplicitVRLittleEndian as LEE
from ..uids import ImplicitVRLittleEndian as LEI
from .output import ResponseFiles, dump_identifier, find_status_text, json_line, padded_view, status_detail

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

#: DCMTK's condition for a query file it cannot read
_UNREADABLE = "0001:000a I/O suspension or premature end of stream"
#: the statuses that say more responses follow (Pending, Pending with unsupported optional keys)
_PENDING = (Status.PENDING, Status.PENDING_WITH_WARNINGS)


class FindResult(IntEnum):
    """What the C-FINDs of a run came to; the worst one counts."""

    SUCCESS = 0  # every final response Success or Cancel
    FAILED = 1  # a final response with another status, or an exchange that failed


class BadKey(Exception):
    """A ``-k`` key that cannot be applied: (the key, DCMTK's condition text)."""

    def __init__(self, key: str, condition: str) -> None:
        super().__init__(condition)
        self.key = key
        self.condition = condition


class FindOptions(FrozenRecord):
    """How the requests are made and what is done with the responses (findscu's options)."""

    __slots__ = ("sop_class", "keys", "cancel_after", "show", "files", "json_out")
    sop_class: str
    keys: tuple[str, ...]
    cancel_after: int
    show: bool
    files: ResponseFiles | None
    json_out: TextIO | None

    def __init__(  # noqa: PLR0913
        self,
        sop_class: str,  # the FIND SOP class of the information model (-W/-P/-S/-O)
        keys: tuple[str, ...] = (),  # the -k texts, in command-line order
        cancel_after: int = 0,  # --cancel n: C-CANCEL after response n (0: never, as DCMTK's 0)
        show: bool = True,  # the identifiers go to the logger (+sr, or neither -sr nor an extract option)
        files: ResponseFiles | None = None,  # -X
        json_out: TextIO | None = None,  # --json: one line per identifier
    ) -> None:
        object.__setattr__(self, "sop_class", sop_class)
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "cancel_after", cancel_after)
        object.__setattr__(self, "show", show)
        object.__setattr__(self, "files", files)
        object.__setattr__(self, "json_out", json_out)


class Finder:
    """The C-FINDs of one findscu run over one association."""

    def __init__(self, assoc: Association, options: FindOptions, log: logging.Logger) -> None:
        self.assoc = assoc
        self.options = options
        self.log = log
        #: the identifier blocks of DCMTK's default output (their level is set by findscu)
        self.responses = log.getChild("responses")
        self.result = FindResult.SUCCESS
        self.count = 0  # responses received in this run (DCMTK's response number)

    async def run(self, query_files: Sequence[str | None], repeat: int) -> bool:
        """Each request ``repeat`` times, in order; False once an exchange failed (the
        association is then gone)."""
        for query_file in query_files:
            identifier = self._identifier(query_file)
            if identifier is None:
                self.log.info("Aborting Association")
                await self.assoc.abort()
                return False
            for number in range(repeat):
                if not await self.find(identifier, query_file, number > 0):
                    return False
        return True

    def _identifier(self, query_file: str | None) -> Dataset | None:
        """The query file with the keys applied (None after logging why it cannot be made)."""
        from pydicom.dataset import Dataset

        from ..move.keys import apply_paths, load_query

        try:
            identifier = load_query(query_file) if query_file else Dataset()
        except BadDicomFile as exc:
            self.log.error("Bad DICOM file: %s: %s", query_file, _UNREADABLE.split(" ", 1)[1])
            self.log.debug("(%s)", exc)
            self.log.error("Find SCU Failed: %s", _UNREADABLE)
            self.result = FindResult.FAILED
            return None
        try:
            elements = _parse_keys(self.options.keys)
        except BadKey as exc:
            self.log.error("Bad override key/path: %s", exc.key)
            self.log.error("Find SCU Failed: %s", exc.condition)
            self.result = FindResult.FAILED
            return None
        if query_file is None:
            identifier.set_original_encoding(False, True)  # DCMTK's dump says explicit VR for keys alone
        return apply_paths(identifier, elements)  # in command-line order: the rightmost key wins

    async def find(self, identifier: Dataset, query_file: str | None, again: bool) -> bool:
        """One C-FIND; returns False when the exchange failed."""
        ctx = self.assoc.find_context(self.options.sop_class)
        context_id = ctx.context_id if ctx else 0
        network_syntax = ctx.transfer_syntax if ctx else LEE
        message_id = self.assoc.next_message_id()
        self._log_request(message_id, identifier, context_id, again, network_syntax)
        try:
            responses = self.assoc.find(identifier, self.options.sop_class, message_id)
            await self._responses(responses, message_id, context_id, network_syntax)
        except PeerRequestedRelease:
            self.log.error("Protocol Error: Peer requested release (Aborting)")
            self.log.info("Aborting Association")
        except AssociationAborted as exc:
            self.log.error("Find SCU Failed: %s", describe(exc))
            self.log.info("Peer Aborted Association")
        except (DimseError, OSError) as exc:
            self.log.error("Find SCU Failed: %s", describe(exc))
            self.log.info("Aborting Association")
            await self.assoc.abort()
        else:
            return True
        self.result = FindResult.FAILED
        return False

    def _log_request(
        self, message_id: int, identifier: Dataset, context_id: int, again: bool, network_syntax: str
    ) -> None:
        """DCMTK's request lines; a query sent before (``--repeat``) is dumped as DCMTK's encoder
        left it: padded, explicit lengths, in the association's transfer syntax."""
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.info("Sending Find Request")
            command = c_find_rq(message_id, self.options.sop_class)
            lines = dumps.dump_command(command, incoming=False).split("\n")
            lines.insert(2, f"{'Presentation Context ID':<30}: {context_id}")  # DCMTK's C-FIND-RQ dump has it
            self.log.debug("%s", "\n".join(lines))
        else:
            self.log.info("Sending Find Request (MsgID %d)", message_id)
        if self.log.isEnabledFor(logging.INFO):
            if again:
                shown, syntax = padded_view(identifier, network_syntax), network_syntax
            else:
                shown, syntax = identifier, _encoding_of(identifier)
            self.log.info("Request Identifiers:\n%s", dump_identifier(shown, syntax, raw=not again))

    async def _responses(
        self,
        responses: AsyncIterator[tuple[Command, Dataset | None]],
        message_id: int,
        context_id: int,
        ts: str,
    ) -> None:
        """Every response up to the final one; ``--cancel n`` after response n."""
        async for rsp, identifier in responses:
            self.count += 1
            status: int = rsp.get("Status", Status.CANNOT_UNDERSTAND)
            if status not in _PENDING:
                self._final(rsp, status)
                continue
            self._pending(rsp, status, identifier, ts)
            if self.count == self.options.cancel_after:
                self.log.info("Sending Cancel Request (MsgID %d, PresID %d)", message_id, context_id)
                await self.assoc.cancel(message_id, self.options.sop_class)

    def _pending(self, rsp: Command, status: int, identifier: Dataset | None, ts: str) -> None:
        """One pending response: logged, then to the ``-X`` file and the ``--json`` line."""
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.info("Received Find Response %d", self.count)
            self.log.debug("%s", self._command_dump(rsp, status))
            if self.options.show and identifier is not None:
                self.log.debug("Response Identifiers:\n%s", dump_identifier(identifier, ts, raw=True))
        elif self.options.show and identifier is not None:
            self.responses.info(
                "---------------------------\nFind Response: %d (%s)\n%s",
                self.count,
                find_status_text(status),
                dump_identifier(identifier, ts, raw=True),
            )
        else:
            self.log.info("Received Find Response %d (%s)", self.count, find_status_text(status))
        if identifier is None:
            return
        if self.options.files is not None:
            self.options.files.write(identifier, self.count, ts)
        if self.options.json_out is not None:
            self.options.json_out.write(json_line(identifier) + "\n")
            self.options.json_out.flush()

    def _final(self, rsp: Command, status: int) -> None:
        if status not in (Status.SUCCESS, Status.CANCEL):
            self.result = FindResult.FAILED
        if self.log.isEnabledFor(logging.DEBUG):
            self.log.info("Received Final Find Response")
            self.log.debug("%s", self._command_dump(rsp, status))
        else:
            self.log.info("Received Final Find Response (%s)", find_status_text(status))

    def _command_dump(self, rsp: Command, status: int) -> str:
        return status_detail(dumps.dump_command(rsp, incoming=True), status)


def _encoding_of(ds: Dataset) -> str:
    """The transfer syntax a query file was read in (explicit VR little endian for keys alone)."""
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit:
        return LEI
    return BEE if little is False else LEE


def _parse_keys(texts: Sequence[str]) -> list[DataElement]:
    """The ``-k`` keys as elements (paths, as DCMTK's findscu reads them); the first bad one
    raises with DCMTK's condition text."""
    from ..move.keys import BadPath, parse_path

    elements = []
    for text in texts:
        try:
            elements.append(parse_path(text))
        except BadPath as exc:
            raise BadKey(text, exc.condition) from None
    return elements
