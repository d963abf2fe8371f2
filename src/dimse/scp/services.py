"""What a Storage SCP does with each request: objects written to ``<output>/<modality>.<UID>``.

Used by storescp, by movescu's own Storage SCP (``move.receiver``) and by the demo.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..codes import AssociationEnd
from ..core.commands import Command
from ..core.connection import PresentationContext
from ..core.pdu import AssociateAC, AssociateRQ
from ..dcmtk import dumps
from ..dcmtk.modality import modality_prefix
from ..files.part10 import meta_prefix
from ..files.storage import (
    DurableFileSink,
    FileSink,
    NullSink,
    UnsafeName,
    object_filename,
    path_inside,
    remove_temporary_folder,
    sweep_temporary,
    temporary_folder,
)
from ..net.association import Association
from ..net.server import STATUS_CANNOT_UNDERSTAND, STATUS_OUT_OF_RESOURCES, Ended, Services, Sink

#: what an association that ended the ordinary way is logged as (DCMTK's lines)
_ORDINARY_ENDINGS = {
    AssociationEnd.RELEASED: "Association Release",
    AssociationEnd.REJECTED: "Association Rejected",
    AssociationEnd.ABORTED_BY_PEER: "Association Aborted",
}


class StoreServices(Services):
    """Writes each received object to ``<output>/<modality>.<SOP Instance UID>``."""

    #: INFO line after an object was stored (None: say nothing)
    stored_message: str | None = "storing DICOM file: %s"
    #: INFO line when a C-STORE request comes (its MsgID, modality prefix); None: say nothing
    received_message: str | None = "Received Store Request (MsgID %d, %s)"

    def __init__(
        self, output: Path, ignore: bool, verbose_pc: bool, log: logging.Logger, keep_list: bool = False
    ) -> None:
        self.output = output
        self.ignore = ignore
        self.verbose_pc = verbose_pc
        self.log = log
        self.count = 0
        #: write a Part 10 file (+F); False writes the bare data set (-F)
        self.write_meta = True
        #: paths of stored objects, kept only when asked for (a server runs for months)
        self.stored: list[str] | None = [] if keep_list else None
        #: ``--fsync``: the response to a C-STORE only once the object is on disk
        self.fsync = False

    def sweep(self) -> None:
        """At start: remove what receivers of this host killed while receiving left in the
        output folder's temporary folder (one line says how many)."""
        if self.ignore:
            return  # nothing is written, nothing is touched
        removed = sweep_temporary(os.fspath(self.output))
        if removed:
            folder = temporary_folder(os.fspath(self.output))
            self.log.warning("removed %d temporary file(s) left by stopped receivers in %s", removed, folder)

    def tidy(self) -> None:
        """At the end: the temporary folder goes if nothing is left in it."""
        if not self.ignore:
            remove_temporary_folder(os.fspath(self.output))

    def association_requested(self, rq: AssociateRQ) -> None:
        self.log.info("Association Received")

    def association_accepted(self, assoc: Association, ac: AssociateAC) -> None:
        rq = assoc.conn.request_pdu
        level = logging.INFO if self.verbose_pc else logging.DEBUG
        if rq is not None and self.log.isEnabledFor(level):  # rq: always, once accepted
            self.log.log(level, "Parameters:\n%s", dumps.dump_association(rq, ac, False))
        self.log.info("Association Acknowledged (Max Send PDV: %d)", assoc.conn.max_fragment)

    def association_ended(self, assoc: Association, how: Ended) -> None:
        line = _ORDINARY_ENDINGS.get(how.kind) if not how.detail else None
        if line is not None:
            self.log.info(line)
        elif how.kind is not AssociationEnd.PROBE:  # a port probe: the acceptor said so at info
            self.log.error("Association ended: %s", how)

    async def echo(self, assoc: Association, command: Command) -> int:
        self.log.info("Received Echo Request (MsgID %d)", command.MessageID)
        return 0

    def store_sink(self, assoc: Association, ctx: PresentationContext, command: Command) -> Sink | int:
        sop_class = command.get("AffectedSOPClassUID", "")
        sop_instance = command.get("AffectedSOPInstanceUID", "")
        if self.received_message:
            self.log.info(self.received_message, command.MessageID, modality_prefix(sop_class))
        if self.ignore:
            return NullSink()
        try:
            path = path_inside(self.output, self.object_name(sop_class, sop_instance))
        except UnsafeName as exc:
            self.log.error("refusing object: %s", exc)
            return STATUS_CANNOT_UNDERSTAND
        if self.warn_existing and os.path.exists(path):
            self.log.warning("DICOM file already exists, overwriting: %s", path)
        calling = assoc.conn.request_pdu.calling_ae if assoc.conn.request_pdu else ""
        prefix = meta_prefix(sop_class, sop_instance, ctx.transfer_syntax, calling) if self.write_meta else b""
        try:
            return DurableFileSink(path, prefix) if self.fsync else FileSink(path, prefix)
        except OSError as exc:
            self.log.error("cannot write DICOM file: %s: %s", path, exc.strerror or exc)
            return STATUS_OUT_OF_RESOURCES

    #: whether an object replacing a file logs DCMTK's "already exists" warning
    warn_existing = True

    def object_name(self, sop_class: str, sop_instance: str) -> str:
        """The received object's file name in the output folder (DCMTK's
        ``<modality prefix>.<SOP Instance UID>``); raises UnsafeName for a UID that is not one."""
        return object_filename(sop_class, sop_instance)

    def store_done(self, assoc: Association, ctx: PresentationContext, command: Command, sink: Sink) -> int:
        if not isinstance(sink, FileSink):  # --ignore: a NullSink, nothing kept
            sink.commit()
            return 0
        try:
            path = sink.commit()
        except OSError as exc:
            self.log.error("cannot write DICOM file: %s: %s", sink.final_path, exc.strerror or exc)
            return STATUS_OUT_OF_RESOURCES
        if self.stored_message:
            self.log.info(self.stored_message, path)
        self.count += 1
        if self.stored is not None:
            self.stored.append(os.fspath(path))
        return 0
