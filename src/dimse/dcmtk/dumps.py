"""Dumps in DCMTK's layout: associations and DIMSE messages (``-d`` and ``+v`` output), and
data sets as dcmdump prints them (movescu's ``Request Identifiers:``).

Nothing here imports pydicom: a data set to dump is already a pydicom object.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..codes import ContextResult
from ..core.commands import Command
from ..core.pdu import AssociateAC, AssociateRQ, RoleSelection, SOPClassExtendedNegotiation, UserInformation
from .texts import CONTEXT_RESULT
from .uid_names import SOP_CLASS_NAMES, TRANSFER_SYNTAX_NAMES, dcmtk_name

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

_NUMERIC_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "UV": 8, "SV": 8, "AT": 4}


def _empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, (list, tuple)) and not value)


def _value_text(elem: DataElement) -> str:
    if elem.VR == "SQ":
        return f"(Sequence with explicit length #={len(elem.value)})"
    if _empty(elem.value):
        return "(no value available)"
    values = elem.value if elem.VM > 1 else [elem.value]
    if elem.VR == "UI" and elem.VM == 1:
        name = SOP_CLASS_NAMES.get(str(elem.value)) or TRANSFER_SYNTAX_NAMES.get(str(elem.value), (None,))[0]
        if name:
            return f"={name}"
    if elem.VR in _NUMERIC_SIZES:
        return "\\".join(str(v) for v in values)
    if isinstance(elem.value, bytes):
        return f"(binary, {len(elem.value)} bytes)"
    return "[" + "\\".join(str(v) for v in values) + "]"


def _length(elem: DataElement) -> int:
    if elem.value is None or elem.VR == "SQ":
        return 0
    if elem.VR in _NUMERIC_SIZES:
        return _NUMERIC_SIZES[elem.VR] * elem.VM
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
