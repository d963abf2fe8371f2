"""Human texts for wire codes, in DCMTK's words so logs read the same as DCMTK's."""

from __future__ import annotations

from enum import StrEnum

_RESULT = {1: "Rejected Permanent", 2: "Rejected Transient"}
_SOURCE = {
    1: "Service User",
    2: "Service Provider (ACSE Related)",
    3: "Service Provider (Presentation Related)",
}
# (source, reason) -> text; PS3.8 table 9-21
_REASON = {
    (1, 1): "No Reason",
    (1, 2): "App Context Name Not Supported",
    (1, 3): "Calling AE Title Not Recognized",
    (1, 7): "Called AE Title Not Recognized",
    (2, 1): "No Reason",
    (2, 2): "Protocol Version Not Supported",
    (3, 1): "Temporary Congestion",
    (3, 2): "Local Limit Exceeded",
}

_ABORT_REASON = {
    0: "reason not specified",
    1: "unrecognized PDU",
    2: "unexpected PDU",
    4: "unrecognized PDU parameter",
    5: "unexpected PDU parameter",
    6: "invalid PDU parameter value",
}

CONTEXT_RESULT = {
    0: "Accepted",
    1: "User Rejection",
    2: "No Reason",
    3: "Abstract Syntax Not Supported",
    4: "Transfer Syntaxes Not Supported",
}


def reject_text(result: int, source: int, reason: int) -> str:
    """Three lines as DCMTK prints an A-ASSOCIATE-RJ."""
    return (
        f"Result: {_RESULT.get(result, f'Unknown ({result})')}, "
        f"Source: {_SOURCE.get(source, f'Unknown ({source})')}\n"
        f"Reason: {_REASON.get((source, reason), f'Unknown ({reason})')}"
    )


def abort_text(source: int, reason: int) -> str:
    who = {0: "service user", 1: "reserved", 2: "service provider"}.get(source, f"source {source}")
    if source == 2:
        return f"{who}: {_ABORT_REASON.get(reason, f'reason {reason}')}"
    return who


class StatusClass(StrEnum):
    """PS3.7 annex C status categories."""

    SUCCESS = "Success"
    WARNING = "Warning"
    FAILURE = "Failure"
    CANCEL = "Cancel"
    PENDING = "Pending"


def status_class(status: int) -> StatusClass:
    """Classify a DIMSE status as PS3.7 C.1-C.5 do."""
    if status == 0x0000:
        return StatusClass.SUCCESS
    if status in (0xFF00, 0xFF01):
        return StatusClass.PENDING
    if status == 0xFE00:
        return StatusClass.CANCEL
    if status in (0x0001, 0x0107, 0x0116) or status >> 12 == 0xB:
        return StatusClass.WARNING
    return StatusClass.FAILURE


def store_status_text(status: int) -> str:
    """DCMTK's short C-STORE status string (``Received Store Response (<text>)``)."""
    exact = {
        0x0000: "Success",
        0x0122: "Refused: SOPClassNotSupported",
        0xB000: "Warning: CoercionOfDataElements",
        0xB007: "Warning: DataSetDoesNotMatchSOPClass",
        0xB006: "Warning: ElementsDiscarded",
    }
    if status in exact:
        return exact[status]
    if status >> 8 == 0xA7:
        return "Refused: OutOfResources"
    if status >> 8 == 0xA9:
        return "Error: DataSetDoesNotMatchSOPClass"
    if status >> 12 == 0xC:
        return "Error: CannotUnderstand"
    return f"Unknown Status: 0x{status:x}"


def move_status_text(status: int) -> str:
    """DCMTK's short C-MOVE status string."""
    exact = {
        0x0000: "Success",
        0xFF00: "Pending",
        0xA701: "Refused: OutOfResourcesNumberOfMatches",
        0xA702: "Refused: OutOfResourcesSubOperations",
        0x0122: "Refused: SOPClassNotSupported",
        0xA801: "Refused: MoveDestinationUnknown",
        0xA900: "Error: DataSetDoesNotMatchSOPClass",
        0xFE00: "Cancel: SubOperationsTerminatedDueToCancelIndication",
        0xB000: "Warning: SubOperationsCompleteOneOrMoreFailures",
    }
    if status in exact:
        return exact[status]
    if status >> 12 == 0xC:
        return "Failed: UnableToProcess"
    return f"Unknown Status: 0x{status:x}"
