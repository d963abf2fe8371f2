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
from ..files.scan import UNDEFINED
from ..uids import ExplicitVRLittleEndian, ImplicitVRLittleEndian

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement, RawDataElement
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


def _encoded_size(elem: DataElement, implicit: bool) -> int:
    """Bytes an element takes encoded: its header and value, an undefined length's contents and
    delimitation item included."""
    from pydicom.valuerep import EXPLICIT_VR_LENGTH_32  # a 4-byte length after two reserved bytes

    header = 8 if implicit or elem.VR not in EXPLICIT_VR_LENGTH_32 else 12
    if elem.VR != "SQ":
        return header + dumps.value_length(elem)
    if elem.is_undefined_length:
        return header + _items_length(elem.value, implicit) + 8
    return header + int(getattr(elem, dumps.DUMP_LENGTH, 0))


def _item_length(item: Dataset, implicit: bool) -> int:
    """What an explicit length item holds: its elements, encoded."""
    return sum(_encoded_size(e, implicit) for e in item)


def _items_length(items: list[Dataset], implicit: bool) -> int:
    """A sequence's value length: each item's tag and length, its elements, its delimiter."""
    return sum(
        8 + _item_length(item, implicit) + (8 if item.is_undefined_length_sequence_item else 0) for item in items
    )


def _sequence(elem: DataElement, items: list[Dataset], undefined: bool, length: int | None) -> DataElement:
    """The shown copy of a sequence: its items, DCMTK's length flag and length."""
    from pydicom.dataelem import DataElement as PydicomElement

    shown = PydicomElement(elem.tag, "SQ", items)
    shown.is_undefined_length = undefined
    if length is not None:
        setattr(shown, dumps.DUMP_LENGTH, length)
    return shown


def _measure(items: list[Dataset], implicit: bool) -> None:
    """Each item's length, as its elements take encoded (what an explicit length item holds)."""
    for item in items:
        setattr(item, dumps.DUMP_LENGTH, _item_length(item, implicit))


def wire_view(ds: Dataset) -> Dataset:
    """The identifier as received, for the dump, items included: each string element's value
    with its padding, each element's and item's length and undefined lengths as on the wire, an
    element of an implicit VR data set the dictionary does not know as DCMTK's ``??``.  What was
    built in memory (``-k`` keys) keeps DCMTK's in-memory lengths: 0 for sequences and items."""
    from pydicom import config
    from pydicom.dataelem import RawDataElement, convert_raw_data_element
    from pydicom.dataset import Dataset as PydicomDataset

    shown = PydicomDataset()
    shown.is_undefined_length_sequence_item = ds.is_undefined_length_sequence_item
    for tag in sorted(ds.keys()):
        raw = ds.get_item(tag)
        received = raw if isinstance(raw, RawDataElement) else None
        if received is not None and received.VR != "SQ" and isinstance(received.value, bytes):
            with config.disable_value_validation():  # only its VR is wanted, the value stays raw
                leaf = convert_raw_data_element(received, ds=ds)  # not kept: the source stays raw
            if _kept_raw(received, leaf):
                shown[tag] = _received_leaf(received, leaf)
                continue
        elem = ds[tag]
        shown[tag] = _wire_sequence(elem, received, _implicit(ds)) if elem.VR == "SQ" else elem
    if getattr(ds, "seq_item_tell", None) is not None:  # an item read off the wire: its length
        setattr(shown, dumps.DUMP_LENGTH, _item_length(shown, _implicit(ds)))
    return shown


def _implicit(ds: Dataset) -> bool:
    return bool(getattr(ds, "original_encoding", (False,))[0])


def _kept_raw(raw: RawDataElement, elem: DataElement) -> bool:
    """Whether a received element is shown from its bytes: text, ``UN`` (DCMTK keeps an explicit
    length one as it came) and unknown ones."""
    return elem.VR in _TEXT_VRS or elem.VR == "UN" or raw.VR == "UN"


def _wire_sequence(elem: DataElement, received: RawDataElement | None, implicit: bool) -> DataElement:
    """A sequence as received: its length as on the wire; one converted before the dump (no raw
    length left, pydicom reads an undefined length one at once) measured; one built in memory 0."""
    items = [wire_view(item) for item in elem.value or []]
    if received is not None:
        undefined = received.length == UNDEFINED
        return _sequence(elem, items, undefined, None if undefined else received.length)
    if elem.is_undefined_length:
        return _sequence(elem, items, True, None)
    read = elem.file_tell is not None
    return _sequence(elem, items, False, _items_length(items, implicit) if read else 0)


def _received_leaf(raw: RawDataElement, elem: DataElement) -> DataElement:
    """A received non-sequence element (``elem``: its own conversion, not the data set's) as
    DCMTK's network tools keep it (no data correction): text as it came, padding and odd lengths
    included, ``UN`` kept as bytes (pydicom's guess of the VR not taken), ``??`` for an unknown
    tag of an implicit VR data set."""
    from pydicom import config
    from pydicom.dataelem import DataElement as PydicomElement

    data = raw.value or b""
    if raw.VR == "UN" and elem.VR != "UN":
        elem = PydicomElement(elem.tag, "UN", data, validation_mode=config.IGNORE)
    elif raw.VR is None and elem.VR == "UN":
        elem.VR = "??"  # dcmdata's name for a VR it could not look up
    elif elem.VR in _TEXT_VRS:
        setattr(elem, dumps.DUMP_TEXT, data.decode("latin-1"))  # the value pydicom made of it may not parse
    setattr(elem, dumps.DUMP_LENGTH, len(data))
    return elem


def dump_identifier(ds: Dataset, transfer_syntax: str, raw: bool) -> str:
    """DCMTK's ``# Dicom-Data-Set`` block; ``raw``: values as received (a response)."""
    return dumps.dump_dataset(wire_view(ds) if raw else ds, ts_description(transfer_syntax))


def padded_view(ds: Dataset, transfer_syntax: str = ExplicitVRLittleEndian) -> Dataset:
    """The request identifier as DCMTK prints it once sent in ``transfer_syntax``: odd-length
    strings padded (a UI with a NUL, the rest with a space), every sequence and item of explicit
    length and their lengths as encoded, as DCMTK's encoder leaves its copy."""
    return _padded(ds, transfer_syntax == ImplicitVRLittleEndian)


def _padded(ds: Dataset, implicit: bool) -> Dataset:
    from pydicom import config
    from pydicom.dataelem import DataElement as PydicomElement
    from pydicom.dataset import Dataset as PydicomDataset

    shown = PydicomDataset()
    for elem in ds:
        value = elem.value
        if elem.VR == "SQ":
            items = [_padded(item, implicit) for item in value or []]
            _measure(items, implicit)
            shown[elem.tag] = _sequence(elem, items, False, _items_length(items, implicit))
        elif elem.VR in _TEXT_VRS and value not in (None, ""):
            text = "\\".join(str(v) for v in value) if elem.VM > 1 else str(value)
            if len(text) % 2:
                text += "\0" if elem.VR == "UI" else " "
            shown[elem.tag] = PydicomElement(elem.tag, elem.VR, text, validation_mode=config.IGNORE)
            setattr(shown[elem.tag], dumps.DUMP_TEXT, text)
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
