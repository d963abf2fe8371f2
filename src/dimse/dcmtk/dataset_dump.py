"""Data set dumps in dcmdump's layout (movescu's ``Request Identifiers:`` and debug output)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from .uid_names import SOP_CLASS_NAMES, TRANSFER_SYNTAX_NAMES

_NUMERIC_VRS = {"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV", "AT"}


def _value_text(elem) -> str:
    if elem.VR == "SQ":
        return f"(Sequence with explicit length #={len(elem.value)})"
    if elem.value is None or elem.value == "" or (isinstance(elem.value, (list, tuple)) and not elem.value):
        return "(no value available)"
    values = elem.value if elem.VM > 1 else [elem.value]
    if elem.VR == "UI" and elem.VM == 1:
        name = SOP_CLASS_NAMES.get(str(elem.value)) or TRANSFER_SYNTAX_NAMES.get(str(elem.value), (None,))[0]
        if name:
            return f"={name}"
    if elem.VR in _NUMERIC_VRS:
        return "\\".join(str(v) for v in values)
    if isinstance(elem.value, bytes):
        return f"(binary, {len(elem.value)} bytes)"
    return "[" + "\\".join(str(v) for v in values) + "]"


def _length(elem) -> int:
    if elem.value is None or elem.VR == "SQ":
        return 0
    if elem.VR in _NUMERIC_VRS:
        size = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "UV": 8, "SV": 8, "AT": 4}[elem.VR]
        return size * elem.VM
    if isinstance(elem.value, bytes):
        return len(elem.value) + len(elem.value) % 2
    text = "\\".join(str(v) for v in (elem.value if elem.VM > 1 else [elem.value]))
    return len(text) + len(text) % 2


def dump_dataset(ds: Dataset, transfer_syntax: str = "Little Endian Explicit") -> str:
    """``# Dicom-Data-Set`` block, one line per top-level element, the ``#`` in column 57."""
    lines = ["", "# Dicom-Data-Set", f"# Used TransferSyntax: {transfer_syntax}"]
    for elem in ds:
        left = f"({elem.tag.group:04x},{elem.tag.element:04x}) {elem.VR} {_value_text(elem)}"
        left = left.ljust(56) if len(left) < 56 else left + " "
        vm = 0 if elem.value is None or elem.value == "" else (1 if elem.VR == "SQ" else elem.VM)
        lines.append(f"{left}#{_length(elem):>4}, {vm} {elem.keyword}")
    lines.append("")
    return "\n".join(lines)
