"""movescu's embedded Storage SCP: the sub-associations of a C-MOVE, served concurrently.

Objects are written as storescp writes them (streamed into a temporary file, renamed when
complete, named ``<modality>.<SOP Instance UID>``, refused when the UID is not a UID); the log
lines are movescu's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..codes import AssociationEnd
from ..core.commands import Command
from ..core.connection import PresentationContext
from ..core.pdu import AssociateAC, AssociateRQ
from ..dcmtk.texts import StatusClass, status_class
from ..errors import DimseError
from ..files.storage import FileSink, NullSink
from ..net.association import Association
from ..net.server import Ended, Sink
from ..scp.services import StoreServices
from .rewrite import OutputFormat


class MoveReceiver(StoreServices):
    stored_message = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.output_format = OutputFormat()
        self.records: list[dict[str, object]] = []  # one per object received in this run (for --report)
        self.bytes = 0
        self.on_object: Callable[[], object] | None = None  # called after each object (progress bar)
        #: when a sub-association or an object last came or ended (movescu waits while it is recent)
        self.last_activity = time.monotonic()
        #: set at each of those moments (what the wait after the final response waits on)
        self.activity = asyncio.Event()
        #: objects received and kept (or dropped by ``--ignore``): what the archive may count as
        #: sent; a refused one it counts as failed
        self.arrived = 0
        #: the SOP Instance UIDs of those objects: what a further request need not ask for
        self.received: set[str] = set()

    def _touch(self) -> None:
        self.last_activity = time.monotonic()
        self.activity.set()

    def store_sink(self, assoc: Association, ctx: PresentationContext, command: Command) -> Sink | int:
        self._touch()
        return super().store_sink(assoc, ctx, command)

    def store_done(self, assoc: Association, ctx: PresentationContext, command: Command, sink: Sink) -> int:
        status = super().store_done(assoc, ctx, command, sink)
        if status == 0 and self.output_format.needed and isinstance(sink, FileSink):
            status = self._rewrite(assoc, Path(sink.final_path))
        return self._record(ctx, command, sink, status)

    def store_failed(
        self, assoc: Association, ctx: PresentationContext, command: Command, sink: Sink, error: DimseError
    ) -> int:
        return self._record(ctx, command, sink, super().store_failed(assoc, ctx, command, sink, error))

    def _record(self, ctx: PresentationContext, command: Command, sink: Sink, status: int) -> int:
        """One object of the run (for --report and the progress bar); returns ``status``."""
        self._touch()
        if kept(status):
            self.arrived += 1
            self.received.add(str(command.get("AffectedSOPInstanceUID", "")))
        size = sink.size if isinstance(sink, (FileSink, NullSink)) else 0
        self.bytes += size
        self.records.append(
            {
                "path": str(sink.final_path) if status == 0 and isinstance(sink, FileSink) else "",
                "sop_class": command.get("AffectedSOPClassUID", ""),
                "sop_instance": command.get("AffectedSOPInstanceUID", ""),
                "transfer_syntax": ctx.transfer_syntax,
                "bytes": size,
                "status": status,
            }
        )
        if self.on_object is not None:
            self.on_object()
        return status

    def _rewrite(self, assoc: Association, path: Path) -> int:
        calling = assoc.conn.request_pdu.calling_ae if assoc.conn.request_pdu else ""
        try:
            self.output_format.rewrite(path, calling)  # its temporary file gets FILE_MODE
        except Exception as exc:  # pydicom raises many kinds; the object must not stay half-right
            self.log.error("cannot write DICOM file: %s: %s", path, exc)
            path.unlink(missing_ok=True)
            return 0xA700
        return 0

    def association_requested(self, rq: AssociateRQ) -> None:
        self._touch()
        self.log.info("Sub-Association Received")

    def association_accepted(self, assoc: Association, ac: AssociateAC) -> None:
        from ..dcmtk import dumps

        self.log.info("Sub-Association Acknowledged (Max Send PDV: %d)", assoc.conn.max_fragment)
        if not assoc.contexts:
            self.log.info("    (but no valid presentation contexts)")
        rq = assoc.conn.request_pdu
        if rq is not None and self.log.isEnabledFor(logging.DEBUG):
            self.log.debug("Parameters:\n%s", dumps.dump_association(rq, ac, False))

    def association_ended(self, assoc: Association, how: Ended) -> None:
        self._touch()  # one fewer open: the wait after the final response looks again
        # the ordinary endings (released, rejected, aborted by either side) and port probes
        # say nothing; an association that something went wrong with says what
        if how.detail and how.kind is not AssociationEnd.PROBE:
            self.log.error("DIMSE failure (aborting sub-association): %s", how)


def kept(status: object) -> bool:
    """A C-STORE status under which the object was kept: success or a warning (PS3.4 B.2.3)."""
    return isinstance(status, int) and status_class(status) in (StatusClass.SUCCESS, StatusClass.WARNING)
