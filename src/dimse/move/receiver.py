"""movescu's embedded Storage SCP: the sub-associations of a C-MOVE, served concurrently.

Objects are written as storescp writes them (streamed into a temporary file, renamed when
complete, named ``<modality>.<SOP Instance UID>``, refused when the UID is not a UID); the log
lines are movescu's.
"""

from __future__ import annotations

from pathlib import Path

from ..core.pdu import AssociateAC, AssociateRQ
from ..net.association import Association
from ..net.server import PROBE
from ..scp.services import StoreServices
from .rewrite import OutputFormat


class MoveReceiver(StoreServices):
    stored_message = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.output_format = OutputFormat()
        self.records: list[dict] = []  # one per object received in this run (for --report)
        self.bytes = 0
        self.on_object = None  # called after each object (progress bar)

    def store_done(self, assoc: Association, ctx, command, sink) -> int:
        status = super().store_done(assoc, ctx, command, sink)
        if status == 0 and self.output_format.needed and hasattr(sink, "final_path"):
            status = self._rewrite(assoc, Path(sink.final_path))
        return self._record(ctx, command, sink, status)

    def store_failed(self, assoc: Association, ctx, command, sink, error) -> int:
        return self._record(ctx, command, sink, super().store_failed(assoc, ctx, command, sink, error))

    def _record(self, ctx, command, sink, status: int) -> int:
        """One object of the run (for --report and the progress bar); returns ``status``."""
        size = getattr(sink, "size", 0)
        self.bytes += size
        self.records.append(
            {
                "path": str(getattr(sink, "final_path", "")) if status == 0 else "",
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

    def _rewrite(self, assoc: Association, path) -> int:
        calling = assoc.conn.request_pdu.calling_ae if assoc.conn.request_pdu else ""
        try:
            self.output_format.rewrite(path, calling)  # its temporary file gets FILE_MODE
        except Exception as exc:  # pydicom raises many kinds; the object must not stay half-right
            self.log.error("cannot write DICOM file: %s: %s", path, exc)
            path.unlink(missing_ok=True)
            return 0xA700
        return 0

    def association_requested(self, rq: AssociateRQ) -> None:
        self.log.info("Sub-Association Received")

    def association_accepted(self, assoc: Association, ac: AssociateAC) -> None:
        from ..dcmtk import dumps

        self.log.info("Sub-Association Acknowledged (Max Send PDV: %d)", assoc.conn.max_fragment)
        if not assoc.contexts:
            self.log.info("    (but no valid presentation contexts)")
        if self.log.isEnabledFor(10):
            self.log.debug("Parameters:\n%s", dumps.dump_association(assoc.conn.request_pdu, ac, False))

    def association_ended(self, assoc: Association, how: str) -> None:
        if how not in ("released", "aborted", "closed", "rejected", "aborted by us", PROBE):
            self.log.error("DIMSE failure (aborting sub-association): %s", how)
