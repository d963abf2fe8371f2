"""Where the objects of a C-GET go: movescu's receiver (``move.receiver``: streamed into a
temporary file, renamed when complete, ``<modality>.<SOP Instance UID>``, a UID that is not a
UID refused), with getscu's log lines."""

from __future__ import annotations

import logging
from typing import Any

from ..core.commands import Command
from ..core.connection import PresentationContext
from ..files.storage import FileSink, object_filename
from ..move.receiver import MoveReceiver
from ..net.association import Association
from ..net.server import Sink


class GetReceiver(MoveReceiver):
    """The objects of the C-STORE sub-operations; the request lines are the getter's."""

    received_message = None

    def __init__(self, *args: Any, bit_preserving: bool = False, **kwargs: Any) -> None:
        """``bit_preserving`` (``+B``): files named by the SOP Instance UID alone and replaced
        without the "already exists" warning, as DCMTK getscu's bit-preserving mode does."""
        super().__init__(*args, **kwargs)
        self.bit_preserving = bit_preserving
        self.warn_existing = not bit_preserving

    def object_name(self, sop_class: str, sop_instance: str) -> str:
        return object_filename(sop_class, sop_instance, prefixed=not self.bit_preserving)

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
