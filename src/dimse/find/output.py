"""What findscu does with a response identifier: DCMTK's logger dump, the ``-X`` files and the
``--json`` lines.

DCMTK prints a received identifier as it came off the wire, trailing padding included
(``[STUDY ]``), where pydicom's values have it stripped; :func:`wire_view` gives the dump the
raw text of each string element back.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..codes import Status
from ..dcmtk import dumps
from ..dcmtk.uid_names import ts_description
from ..files.part10 import encode_dataset, meta_prefix

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

#: VRs whose value is text on the wire (what DCMTK prints with its padding)
_TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}

#: DCMTK's short C-FIND status strings (DU_cfindStatusString)
_FIND_TEXTS: dict[int, str] = {
    Status.SUCCESS: "Success",
    Status.PENDING: "Pending",
    0xFF01: "Pending: WarningUnsupportedOptionalKeys",
    0xA700: "Refused: OutOfResources",
    0x0122: "Refused: SOPClassNotSupported",
    0xA900: "Error: DataSetDoesNotMatchSOPClass",
    0xFE00: "Cancel: MatchingTerminatedDueToCancelRequest",
}
#: what DCMTK's DIMSE message dump adds after a C-FIND status (PS3.4 table C.4-1 meanings)
_FIND_DETAILS: dict[int, str] = {
    Status.SUCCESS: "Success: Matching is complete",
    Status.PENDING: "Pending: Matches are continuing",
    0xFF01: "Pending: Matches are continuing - Warning",
    0xA700: "Refused: Out of Resources",
    0x0122: "Refused: SOP Class not supported",
    0xA900: "Error: Data Set does not match SOP Class",
    0xFE00: "Cancel: Matching terminated due to Cancel request",
}


def find_status_text(status: int) -> str:
    """``Find Response: n (<text>)``: DCMTK's words for a C-FIND status."""
    exact = _FIND_TEXTS.get(status)
    if exact is not None:
        return exact
    if status & 0xF000 == 0xC000:
        return "Failed: UnableToProcess"
    return f"Unknown Status: 0x{status:x}"


def status_detail(dump: str, status: int) -> str:
    """A DIMSE message dump with DCMTK's meaning after the C-FIND status code."""
    detail = _FIND_DETAILS.get(status) or ("Failed: Unable to process" if status & 0xF000 == 0xC000 else "")
    marker = f": 0x{status:04x}"
    return dump.replace(marker, f"{marker}: {detail}", 1) if detail else dump


def wire_view(ds: Dataset) -> Dataset:
    """The identifier with each string element's value as received (padding kept), for the dump."""
    from pydicom import config
    from pydicom.dataelem import DataElement, RawDataElement
    from pydicom.dataset import Dataset as PydicomDataset

    shown = PydicomDataset()
    for tag in sorted(ds.keys()):
        raw = ds.get_item(tag)
        elem = ds[tag]
        if isinstance(raw, RawDataElement) and elem.VR in _TEXT_VRS and isinstance(raw.value, bytes) and raw.value:
            text = raw.value.decode("latin-1")
            shown[tag] = DataElement(tag, elem.VR, text, validation_mode=config.IGNORE)
        else:
            shown[tag] = elem
    return shown


def dump_identifier(ds: Dataset, transfer_syntax: str, raw: bool) -> str:
    """DCMTK's ``# Dicom-Data-Set`` block; ``raw``: values as received (a response)."""
    return dumps.dump_dataset(wire_view(ds) if raw else ds, ts_description(transfer_syntax))


def padded_view(ds: Dataset) -> Dataset:
    """The request identifier as DCMTK prints it once sent: odd-length strings padded (a UI with
    a NUL, the rest with a space), as DCMTK's encoder leaves its copy."""
    from pydicom import config
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset as PydicomDataset

    shown = PydicomDataset()
    for elem in ds:
        value = elem.value
        if elem.VR in _TEXT_VRS and value not in (None, ""):
            text = "\\".join(str(v) for v in value) if elem.VM > 1 else str(value)
            if len(text) % 2:
                text += "\0" if elem.VR == "UI" else " "
            shown[elem.tag] = DataElement(elem.tag, elem.VR, text, validation_mode=config.IGNORE)
        else:
            shown[elem.tag] = elem
    return shown


def json_line(ds: Dataset) -> str:
    """``--json``: the identifier in the DICOM JSON model (PS3.18 F.2), one line."""
    return json.dumps(ds.to_json_dict(), separators=(",", ":"))


class ResponseFiles:
    """``-X``: each response identifier to ``rsp0001.dcm``, ... in the output directory (the
    number is the response's, as DCMTK's), at most ``limit`` of them (``-Xlo``)."""

    def __init__(self, folder: str, sop_class: str, limit: int | None, log: logging.Logger) -> None:
        self.folder = folder
        self.sop_class = sop_class
        self.limit = limit
        self.log = log
        self.written = 0

    def write(self, ds: Dataset, number: int, transfer_syntax: str) -> None:
        if self.limit is not None and self.written >= self.limit:
            if self.written == self.limit:
                self.log.info(
                    "Maximum number of responses already written to file ... "
                    "not writing this and all following responses to file"
                )
                self.written += 1
            return
        name = f"rsp{number:04d}.dcm"
        path = os.path.join(self.folder, name) if self.folder else name  # DCMTK: no "./" without -od
        self.log.info("Writing response dataset to file: %s", path)
        from pydicom.uid import generate_uid

        data = meta_prefix(self.sop_class, generate_uid(), transfer_syntax) + encode_dataset(ds, transfer_syntax)
        try:
            Path(path).write_bytes(data)
        except OSError as exc:
            self.log.error("Writing response dataset to file %s failed: %s", path, exc.strerror or exc)
        self.written += 1
