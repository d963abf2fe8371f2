"""Association and DIMSE dumps in DCMTK's layout (``-d`` and ``+v`` output)."""

from __future__ import annotations

from ..core.commands import Command
from ..core.pdu import AssociateAC, AssociateRQ, RoleSelection
from .texts import CONTEXT_RESULT
from .uid_names import dcmtk_name


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
    ours_ui = ours.user_info if ours else None
    theirs_ui = theirs.user_info if theirs else None
    lines = [
        f"{'=' * 22} BEGIN {kind} {'=' * 21}",
        f"Our Implementation Class UID:      {ours_ui.implementation_class_uid if ours_ui else ''}",
        f"Our Implementation Version Name:   {(ours_ui.implementation_version_name or '') if ours_ui else ''}",
        f"Their Implementation Class UID:    {theirs_ui.implementation_class_uid if theirs_ui else ''}",
        f"Their Implementation Version Name: {(theirs_ui.implementation_version_name or '') if theirs_ui else ''}",
        f"Application Context Name:    {rq.application_context}",
        f"Calling Application Name:    {rq.calling_ae}",
        f"Called Application Name:     {rq.called_ae}",
        f"Responding Application Name: {rq.called_ae}",
        f"Our Max PDU Receive Size:    {(ours_ui.max_length or 0) if ours_ui else 0}",
        f"Their Max PDU Receive Size:  {(theirs_ui.max_length or 0) if theirs_ui else 0}",
        "Presentation Contexts:",
    ]
    proposed_roles = {r.sop_class: r for r in rq.user_info.roles}
    accepted_roles = {r.sop_class: r for r in ac.user_info.roles} if ac else {}
    answers = {c.context_id: c for c in ac.contexts} if ac else {}
    for ctx in rq.contexts:
        answer = answers.get(ctx.context_id)
        state = "Proposed" if ac is None else CONTEXT_RESULT.get(answer.result, "No Reason") if answer else "No Reason"
        lines.append(f"  Context ID:        {ctx.context_id} ({state})")
        lines.append(f"    Abstract Syntax: {dcmtk_name(ctx.abstract_syntax)}")
        lines.append(f"    Proposed SCP/SCU Role: {_role(proposed_roles.get(ctx.abstract_syntax))}")
        if ac is None:
            lines.append("    Proposed Transfer Syntax(es):")
            lines.extend(f"      {dcmtk_name(ts)}" for ts in ctx.transfer_syntaxes)
        elif answer is not None and answer.result == 0:
            lines.append(f"    Accepted SCP/SCU Role: {_role(accepted_roles.get(ctx.abstract_syntax))}")
            lines.append(f"    Accepted Transfer Syntax: {dcmtk_name(answer.transfer_syntax)}")
    lines.append("Requested Extended Negotiation: " + ("none" if not rq.user_info.extended else ""))
    for ext in rq.user_info.extended:
        lines.append(f"  Abstract Syntax: {dcmtk_name(ext.sop_class)}")
        lines.append(f"    Application Information, length: {len(ext.info)}")
    accepted_ext = ac.user_info.extended if ac else []
    lines.append("Accepted Extended Negotiation:  " + ("none" if not accepted_ext else ""))
    for ext in accepted_ext:
        lines.append(f"  Abstract Syntax: {dcmtk_name(ext.sop_class)}")
        lines.append(f"    Application Information, length: {len(ext.info)}")
    ident = rq.user_info.user_identity_rq
    if ident is None:
        lines.append("Requested User Identity Negotiation: none")
    else:
        mode = {1: "Username", 2: "Username/Password", 3: "Kerberos", 4: "SAML", 5: "JWT"}.get(
            ident.identity_type, "Unknown"
        )
        lines.append("Requested User Identity Negotiation:")
        lines.append(f"  Authentication mode {ident.identity_type}: {mode}")
        if ident.identity_type in (1, 2):
            lines.append(f"  Username: [{ident.primary.decode('utf-8', 'replace')}]")
            if ident.identity_type == 2:
                lines.append(f"  Password: [{ident.secondary.decode('utf-8', 'replace')}]")
        else:
            label = {3: "Kerberos Service Ticket", 4: "SAML Assertion", 5: "JSON Web Token"}.get(
                ident.identity_type, "Identity"
            )
            lines.append(f"  {label} (not dumped) length: {len(ident.primary)}")
        lines.append(f"  Positive Response requested: {'Yes' if ident.positive_response_requested else 'No'}")
    response = ac.user_info.user_identity_ac if ac else None
    if response is None:
        lines.append("User Identity Negotiation Response:  none")
    else:
        lines.append("User Identity Negotiation Response:")
        lines.append(f"  Server Response (not dumped) length: {len(response.server_response)}")
    lines.append(f"{'=' * 23} END {kind} {'=' * 22}")
    return "\n".join(lines)


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
        if keyword in ("CommandGroupLength", "CommandField", "CommandDataSetType", "Status", "Priority"):
            continue
        label = _LABELS.get(keyword, keyword)
        if keyword.endswith("SOPClassUID"):
            value = dcmtk_name(value).lstrip("=")
        lines.append(row(label, value))
    lines.append(row("Data Set", "present" if command.has_dataset else "none"))
    if "Priority" in command:
        lines.append(row("Priority", {0: "medium", 1: "high", 2: "low"}.get(command.Priority, command.Priority)))
    if "Status" in command:
        lines.append(row("DIMSE Status", f"0x{command.Status:04x}"))
    lines.append(f"{'=' * 23} END DIMSE MESSAGE {'=' * 23}")
    return "\n".join(lines)
