"""Dumps in DCMTK's layout: associations and DIMSE messages (``-d`` and ``+v`` output), and
data sets as dcmdump prints them (movescu's ``Request Identifiers:``).

Nothing here imports pydicom: a data set to dump is already a pydicom object.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from ..codes import ContextResult
from ..core.commands import Command
from ..core.pdu import AssociateAC, AssociateRQ, RoleSelection, SOPClassExtendedNegotiation, UserInformation
from .texts import CONTEXT_RESULT
from .uid_names import TRANSFER_SYNTAX_NAMES, dcmtk_name, sop_class_name

if TYPE_CHECKING:
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset


# ---------------------------------------------------------------------------------- associations


def _role(role: RoleSelection | None) -> str:
    if role is None:
        return "Default"
    return {(True, True): "SCP/SCU", (True, False): "SCU", (False, True): "SCP"}.get(
        (role.scu_role, role.scp_role), "None"
    )


def dump_association(rq: AssociateRQ, ac: AssociateAC | None, we_requested: bool) -> str:
    """The ``BEGIN A-ASSOCIATE-RQ``/``-AC`` block; ``ac`` None dumps the request alone."""
    kind = "A-ASSOCIATE-RQ" if ac is None else "A-ASSOCIATE-AC"
    ours, theirs = (rq, ac) if we_requested else (ac, rq)
    lines = [
        f"{'=' * 22} BEGIN {kind} {'=' * 21}",
        *_header(rq, ours.user_info if ours else None, theirs.user_info if theirs else None),
        "Presentation Contexts:",
        *_contexts(rq, ac),
        "Requested Extended Negotiation: " + ("none" if not rq.user_info.extended else ""),
        *_extended(rq.user_info.extended),
        "Accepted Extended Negotiation:  " + ("none" if not (ac and ac.user_info.extended) else ""),
        *_extended(ac.user_info.extended if ac else []),
        *_identity(rq, ac),
        f"{'=' * 23} END {kind} {'=' * 22}",
    ]
    return "\n".join(lines)


def _header(rq: AssociateRQ, ours: UserInformation | None, theirs: UserInformation | None) -> list[str]:
    return [
        f"Our Implementation Class UID:      {ours.implementation_class_uid if ours else ''}",
        f"Our Implementation Version Name:   {(ours.implementation_version_name or '') if ours else ''}",
        f"Their Implementation Class UID:    {theirs.implementation_class_uid if theirs else ''}",
        f"Their Implementation Version Name: {(theirs.implementation_version_name or '') if theirs else ''}",
        f"Application Context Name:    {rq.application_context}",
        f"Calling Application Name:    {rq.calling_ae}",
        f"Called Application Name:     {rq.called_ae}",
        f"Responding Application Name: {rq.called_ae}",
        f"Our Max PDU Receive Size:    {(ours.max_length or 0) if ours else 0}",
        f"Their Max PDU Receive Size:  {(theirs.max_length or 0) if theirs else 0}",
    ]


def _contexts(rq: AssociateRQ, ac: AssociateAC | None) -> list[str]:
    """Each proposed context: its syntaxes (a request), or the answer to it."""
    proposed_roles = {r.sop_class: r for r in rq.user_info.roles}
    accepted_roles = {r.sop_class: r for r in ac.user_info.roles} if ac else {}
    answers = {c.context_id: c for c in ac.contexts} if ac else {}
    lines = []
    for ctx in rq.contexts:
        answer = answers.get(ctx.context_id)
        state = "Proposed" if ac is None else CONTEXT_RESULT.get(answer.result, "No Reason") if answer else "No Reason"
        lines.append(f"  Context ID:        {ctx.context_id} ({state})")
        lines.append(f"    Abstract Syntax: {dcmtk_name(ctx.abstract_syntax)}")
        lines.append(f"    Proposed SCP/SCU Role: {_role(proposed_roles.get(ctx.abstract_syntax))}")
        if ac is None:
            lines.append("    Proposed Transfer Syntax(es):")
            lines.extend(f"      {dcmtk_name(ts)}" for ts in ctx.transfer_syntaxes)
        elif answer is not None and answer.result == ContextResult.ACCEPTANCE:
            lines.append(f"    Accepted SCP/SCU Role: {_role(accepted_roles.get(ctx.abstract_syntax))}")
            lines.append(f"    Accepted Transfer Syntax: {dcmtk_name(answer.transfer_syntax)}")
    return lines


def _extended(items: list[SOPClassExtendedNegotiation]) -> list[str]:
    lines = []
    for ext in items:
        lines.append(f"  Abstract Syntax: {dcmtk_name(ext.sop_class)}")
        lines.append(f"    Application Information, length: {len(ext.info)}")
    return lines


#: user identity type (PS3.7 D.3.3.7) -> DCMTK's name of the mode, and of a non-text identity
_IDENTITY_MODES = {1: "Username", 2: "Username/Password", 3: "Kerberos", 4: "SAML", 5: "JWT"}
_IDENTITY_LABELS = {3: "Kerberos Service Ticket", 4: "SAML Assertion", 5: "JSON Web Token"}
_USERNAME, _USERNAME_PASSWORD = 1, 2


def _identity(rq: AssociateRQ, ac: AssociateAC | None) -> list[str]:
    ident = rq.user_info.user_identity_rq
    if ident is None:
        lines = ["Requested User Identity Negotiation: none"]
    else:
        kind = ident.identity_type
        mode = _IDENTITY_MODES.get(kind, "Unknown")
        lines = ["Requested User Identity Negotiation:", f"  Authentication mode {kind}: {mode}"]
        if kind in (_USERNAME, _USERNAME_PASSWORD):
            lines.append(f"  Username: [{ident.primary.decode('utf-8', 'replace')}]")
            if kind == _USERNAME_PASSWORD:
                lines.append(f"  Password: [{ident.secondary.decode('utf-8', 'replace')}]")
        else:
            label = _IDENTITY_LABELS.get(kind, "Identity")
            lines.append(f"  {label} (not dumped) length: {len(ident.primary)}")
        lines.append(f"  Positive Response requested: {'Yes' if ident.positive_response_requested else 'No'}")
    response = ac.user_info.user_identity_ac if ac else None
    if response is None:
        lines.append("User Identity Negotiation Response:  none")
    else:
        lines.append("User Identity Negotiation Response:")
        lines.append(f"  Server Response (not dumped) length: {len(response.server_response)}")
    return lines


# ---------------------------------------------------------------------------------- DIMSE messages

_LABELS = {
    "CommandField": "Message Type",
    "MessageID": "Message ID",
    "MessageIDBeingRespondedTo": "Message ID Being Responded To",
    "AffectedSOPClassUID": "Affected SOP Class UID",
    "AffectedSOPInstanceUID": "Affected SOP Instance UID",
    "MoveDestination": "Move Destination",
    "NumberOfRemainingSuboperations": "Remaining Suboperations",
    "NumberOfCompletedSuboperations": "Completed Suboperations",
    "NumberOfFailedSuboperations": "Failed Suboperations",
    "NumberOfWarningSuboperations": "Warning Suboperations",
    "MoveOriginatorApplicationEntityTitle": "Move Originator AE Title",
    "MoveOriginatorMessageID": "Move Originator ID",
    "ErrorComment": "Error Comment",
}
#: elements DCMTK prints elsewhere in the block, or not at all
_NOT_LISTED = ("CommandGroupLength", "CommandField", "CommandDataSetType", "Status", "Priority")
_PRIORITIES = {0: "medium", 1: "high", 2: "low"}


def dump_command(command: Command, incoming: bool, context_id: int | None = None) -> str:
    """A DIMSE message block as DCMTK prints it at debug level."""

    def row(label: str, value: object) -> str:
        return f"{label:<30}: {value}"

    lines = [
        f"{'=' * 21} {'INCOMING' if incoming else 'OUTGOING'} DIMSE MESSAGE {'=' * 20}",
        row("Message Type", command.name),
    ]
    if incoming and context_id is not None:
        lines.append(row("Presentation Context ID", context_id))
    for keyword, value in command.items():
        if keyword in _NOT_LISTED:
            continue
        label = _LABELS.get(keyword, keyword)
        if keyword.endswith("SOPClassUID"):
            value = dcmtk_name(value).lstrip("=")
        lines.append(row(label, value))
    lines.append(row("Data Set", "present" if command.has_dataset else "none"))
    if "Priority" in command:
        lines.append(row("Priority", _PRIORITIES.get(command.Priority, command.Priority)))
    if "Status" in command:
        lines.append(row("DIMSE Status", f"0x{command.Status:04x}"))
    lines.append(f"{'=' * 23} END DIMSE MESSAGE {'=' * 23}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- data sets

#: attribute a caller may set on an element or a sequence item: its length as received or sent.
#: Without it an SQ or an item shows 0 (DCMTK's length of one built in memory, never encoded) and
#: any other element its value's even length.
DUMP_LENGTH = "dump_length"
#: attribute a caller may set on a text element: its value exactly as on the wire (padding, and
#: each value's own spelling, kept), shown instead of the value pydicom decoded
DUMP_TEXT = "dump_text"

_NUMERIC_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "UV": 8, "SV": 8, "AT": 4}
#: VRs DCMTK prints as floats, with this many significant digits (its own formatting can differ
#: from a correctly rounded one in the last digit or two of an FD)
_FLOAT_DIGITS = {"FL": 8, "OF": 8, "FD": 17, "OD": 17}
#: binary VRs DCMTK prints as hex words of this many bytes (OB, UN and unknown: single bytes)
_WORD_SIZES = {"OW": 2, "OL": 4, "OV": 8}
#: text VRs with one value whatever backslashes they hold
_SINGLE_VALUED = {"LT", "ST", "UT", "UR"}
_VALUE_WIDTH = 40  # DCMTK pads the value column to this width, after the tag and VR
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == b"" or (isinstance(value, (list, tuple)) and not value)


def _values(elem: DataElement) -> list[Any]:
    return list(elem.value) if elem.VM > 1 else [elem.value]


def _binary_text(vr: str, data: bytes) -> str:
    size = _WORD_SIZES.get(vr, 1)
    words = (int.from_bytes(data[i : i + size], "little") for i in range(0, len(data) - size + 1, size))
    return "\\".join(f"{word:0{2 * size}x}" for word in words)


def _float_values(vr: str, elem: DataElement) -> list[float]:
    if isinstance(elem.value, bytes):  # OF, OD: raw bytes
        size = 4 if vr == "OF" else 8
        count = len(elem.value) // size
        return list(struct.unpack(f"<{count}{'f' if size == 4 else 'd'}", elem.value[: count * size]))
    return [float(v) for v in _values(elem)]


def _text(elem: DataElement) -> str:
    """A text element's value as DCMTK holds it: as received if the caller says so."""
    wire = getattr(elem, DUMP_TEXT, None)
    return str(wire) if wire is not None else "\\".join(str(v) for v in _values(elem))


def _value_text(elem: DataElement) -> str:
    vr = elem.VR
    if _empty(getattr(elem, DUMP_TEXT, elem.value)):
        return "(no value available)"
    if vr in _FLOAT_DIGITS:
        digits = _FLOAT_DIGITS[vr]
        return "\\".join(f"{v:.{digits}g}" for v in _float_values(vr, elem))
    if vr == "AT":
        return "\\".join(f"({int(v) >> 16:04x},{int(v) & 0xFFFF:04x})" for v in _values(elem))
    if vr in _NUMERIC_SIZES:
        return "\\".join(str(v) for v in _values(elem))
    if isinstance(elem.value, bytes):
        return _binary_text(vr, elem.value)
    text = _text(elem)
    if vr == "UI":
        uid = text.rstrip("\0 ")  # DCMTK finds the name of a padded UID too
        name = sop_class_name(uid) or TRANSFER_SYNTAX_NAMES.get(uid, (None,))[0]
        if name:
            return f"={name}"
    return f"[{text}]"


def value_length(elem: DataElement) -> int:
    """The length DCMTK shows for a non-sequence element: as received, else the value's length
    padded to even (DCMTK's in-memory value, as it would encode it)."""
    given = getattr(elem, DUMP_LENGTH, None)
    if given is not None:
        return int(given)
    if _empty(elem.value):
        return 0
    if elem.VR in _NUMERIC_SIZES:
        return _NUMERIC_SIZES[elem.VR] * elem.VM
    if isinstance(elem.value, bytes):
        return len(elem.value) + len(elem.value) % 2
    text = _text(elem)
    return len(text) + len(text) % 2


def _vm(elem: DataElement) -> int:
    """DCMTK's value multiplicity: 0 for an empty value, else (text as received) one more than
    its backslashes."""
    wire = getattr(elem, DUMP_TEXT, None)
    if _empty(elem.value if wire is None else wire):
        return 0
    if wire is None:
        return int(elem.VM)
    return 1 if elem.VR in _SINGLE_VALUED else str(wire).count("\\") + 1


def _name(elem: DataElement) -> str:
    """DCMTK's dictionary name: the keyword, retired ones marked as its dictionary marks them."""
    if elem.keyword:
        return ("RETIRED_" if elem.is_retired else "") + elem.keyword
    if elem.tag.is_private_creator:
        return "PrivateCreator"
    if elem.tag.element == 0:
        return "GenericGroupLength"
    return "Unknown Tag & Data"


def _line(level: int, tag: int, vr: str, text: str, length: int | None, vm: int, name: str) -> str:
    """One dcmdump line: indented two spaces a level, the value column padded to 40 characters
    (so the ``#`` moves right with the indent), the length 3 wide (``u/l`` when undefined) and
    the VM 2 wide, wider numbers pushing on."""
    left = f"{'  ' * level}({tag >> 16:04x},{tag & 0xFFFF:04x}) {vr} {text}"
    left = left.ljust(2 * level + 15 + _VALUE_WIDTH)
    shown = "u/l" if length is None else f"{length:>3}"
    return f"{left} # {shown},{vm:>2} {name}"


def _length_of(obj: Any, undefined: bool) -> int | None:
    return None if undefined else int(getattr(obj, DUMP_LENGTH, None) or 0)


def _sequence_lines(elem: DataElement, level: int) -> list[str]:
    """An SQ line, each item (its line, its elements a level deeper, its delimitation line), and
    the sequence delimitation line DCMTK prints even for an explicit length ("for re-encoding")."""
    undefined = bool(elem.is_undefined_length)
    items = list(elem.value or [])
    kind = "undefined" if undefined else "explicit"
    text = f"(Sequence with {kind} length #={len(items)})"
    lines = [_line(level, elem.tag, "SQ", text, _length_of(elem, undefined), 1, _name(elem))]
    for item in items:
        item_undefined = bool(getattr(item, "is_undefined_length_sequence_item", False))
        item_kind = "undefined" if item_undefined else "explicit"
        item_text = f"(Item with {item_kind} length #={len(item)})"
        lines.append(_line(level + 1, _ITEM, "na", item_text, _length_of(item, item_undefined), 1, "Item"))
        lines.extend(_element_lines(item, level + 2))
        end = "(ItemDelimitationItem)" if item_undefined else "(ItemDelimitationItem for re-encoding)"
        lines.append(_line(level + 1, _ITEM_END, "na", end, 0, 0, "ItemDelimitationItem"))
    end = "(SequenceDelimitationItem)" if undefined else "(SequenceDelimitationItem for re-encod.)"
    lines.append(_line(level, _SEQUENCE_END, "na", end, 0, 0, "SequenceDelimitationItem"))
    return lines


def _element_lines(ds: Dataset, level: int) -> list[str]:
    lines = []
    for elem in ds:
        if elem.VR == "SQ":
            lines.extend(_sequence_lines(elem, level))
        else:
            lines.append(_line(level, elem.tag, elem.VR, _value_text(elem), value_length(elem), _vm(elem), _name(elem)))
    return lines


def dump_dataset(ds: Dataset, transfer_syntax: str = "Little Endian Explicit") -> str:
    """``# Dicom-Data-Set`` block as dcmdump prints it (without shortening long values, as
    DCMTK's network tools print it): sequences with their items, nested, the ``#`` in column 57
    at the top level."""
    lines = ["", "# Dicom-Data-Set", f"# Used TransferSyntax: {transfer_syntax}"]
    lines.extend(_element_lines(ds, 0))
    lines.append("")
    return "\n".join(lines)
