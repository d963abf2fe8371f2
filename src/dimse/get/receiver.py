"""Where the objects of a C-GET go: movescu's receiver (``move.receiver``: streamed into a
temporary file, renamed when complete, ``<modality>.<SOP Instance UID>``, a UID that is not a
UID refused), with getscu's log lines."""

from __future__ import annotations

import logging

from ..core.commands import Command
from ..core.connection import PresentationContext
from ..files.storage import FileSink, UnsafeName, is_valid_uid
from ..move.receiver import MoveReceiver
from ..net.association import Association
from ..net.server import Sink


class GetReceiver(MoveReceiver):
    """The objects of the C-STORE sub-operations; the request lines are the getter's."""

    received_message = None
    #: ``+B``: files named by the SOP Instance UID alone (DCMTK getscu's bit-preserving mode,
    #: which also replaces a file without the warning: ``warn_existing``)
    bit_preserving = False

    def object_name(self, sop_class: str, sop_instance: str) -> str:
        if not self.bit_preserving:
            return super().object_name(sop_class, sop_instance)
        if not is_valid_uid(sop_instance):
            raise UnsafeName(f"SOP Instance UID is not a valid UID: {sop_instance!r}")
        return sop_instance

    def store_done(self, assoc: Association, ctx: PresentationContext, command: Command, sink: Sink) -> int:
        status = super().store_done(assoc, ctx, command, sink)
        if status == 0 and isinstance(sink, FileSink) and self.log.isEnabledFor(logging.DEBUG):
            self.log.debug(
                "Stored instance to disk:\n  Filename: %s\n  SOP Class UID: %s\n  SOP Instance UID: %s",
                sink.final_path,
                command.get("AffectedSOPClassUID", ""),
                command.get("AffectedSOPInstanceUID", ""),
            )
        return status
