"""Human texts for wire codes, in DCMTK's words so logs read the same as DCMTK's.

The codes are :mod:`dimse.codes`' enums; a plain int from the wire finds the same entry.
"""

from __future__ import annotations

from enum import StrEnum

from ..codes import AbortReason, AbortSource, ContextResult, RejectReason, RejectResult, RejectSource, Status

_RESULT: dict[int, str] = {RejectResult.PERMANENT: "Rejected Permanent", RejectResult.TRANSIENT: "Rejected Transient"}
_SOURCE: dict[int, str] = {
    RejectSource.SERVICE_USER: "Service User",
    RejectSource.ACSE: "Service Provider (ACSE Related)",
    RejectSource.PRESENTATION: "Service Provider (Presentation Related)",
}
#: (source, reason) -> text; PS3.8 table 9-21 (a reason means something else for each source)
_REASON: dict[tuple[int, int], str] = {
    (RejectSource.SERVICE_USER, RejectReason.NO_REASON): "No Reason",
    (RejectSource.SERVICE_USER, RejectReason.APPLICATION_CONTEXT_NOT_SUPPORTED): "App Context Name Not Supported",
    (RejectSource.SERVICE_USER, RejectReason.CALLING_AE_NOT_RECOGNIZED): "Calling AE Title Not Recognized",
    (RejectSource.SERVICE_USER, RejectReason.CALLED_AE_NOT_RECOGNIZED): "Called AE Title Not Recognized",
    (RejectSource.ACSE, RejectReason.NO_REASON): "No Reason",
    (RejectSource.ACSE, RejectReason.PROTOCOL_VERSION_NOT_SUPPORTED): "Protocol Version Not Supported",
    (RejectSource.PRESENTATION, RejectReason.TEMPORARY_CONGESTION): "Temporary Congestion",
    (RejectSource.PRESENTATION, RejectReason.LOCAL_LIMIT_EXCEEDED): "Local Limit Exceeded",
}

_ABORT_SOURCE: dict[int, str] = {
    AbortSource.SERVICE_USER: "service user",
    AbortSource.RESERVED: "reserved",
    AbortSource.SERVICE_PROVIDER: "service provider",
}
_ABORT_REASON: dict[int, str] = {
    AbortReason.NOT_SPECIFIED: "reason not specified",
    AbortReason.UNRECOGNIZED_PDU: "unrecognized PDU",
    AbortReason.UNEXPECTED_PDU: "unexpected PDU",
    AbortReason.UNRECOGNIZED_PDU_PARAMETER: "unrecognized PDU parameter",
    AbortReason.UNEXPECTED_PDU_PARAMETER: "unexpected PDU parameter",
    AbortReason.INVALID_PDU_PARAMETER_VALUE: "invalid PDU parameter value",
}

CONTEXT_RESULT: dict[int, str] = {
    ContextResult.ACCEPTANCE: "Accepted",
    ContextResult.USER_REJECTION: "User Rejection",
    ContextResult.NO_REASON: "No Reason",
    ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED: "Abstract Syntax Not Supported",
    ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED: "Transfer Syntaxes Not Supported",
}


def reject_text(result: int, source: int, reason: int) -> str:
    """Three lines as DCMTK prints an A-ASSOCIATE-RJ."""
    return (
        f"Result: {_RESULT.get(result, f'Unknown ({result})')}, "
        f"Source: {_SOURCE.get(source, f'Unknown ({source})')}\n"
        f"Reason: {_REASON.get((source, reason), f'Unknown ({reason})')}"
    )


def abort_text(source: int, reason: int) -> str:
    """Who aborted, and why when the service provider did."""
    who = _ABORT_SOURCE.get(source, f"source {source}")
    if source == AbortSource.SERVICE_PROVIDER:
        return f"{who}: {_ABORT_REASON.get(reason, f'reason {reason}')}"
    return who


class StatusClass(StrEnum):
    """PS3.7 annex C status categories."""

    SUCCESS = "Success"
    WARNING = "Warning"
    FAILURE = "Failure"
    CANCEL = "Cancel"
    PENDING = "Pending"


#: warnings outside the 0xBxxx range (PS3.7 C.4: attribute list error, value out of range ...)
_OTHER_WARNINGS = frozenset({0x0001, 0x0107, 0x0116})


def _high_byte(status: int) -> int:
    return status >> 8


def _high_nibble(status: int) -> int:
    return status >> 12


def status_class(status: int) -> StatusClass:
    """Classify a DIMSE status as PS3.7 C.1-C.5 do."""
    if status == Status.SUCCESS:
        return StatusClass.SUCCESS
    if status in (Status.PENDING, Status.PENDING_WITH_WARNINGS):
        return StatusClass.PENDING
    if status == Status.CANCEL:
        return StatusClass.CANCEL
    if status in _OTHER_WARNINGS or _high_nibble(status) == _high_nibble(Status.WARNING):
        return StatusClass.WARNING
    return StatusClass.FAILURE


_STORE_TEXTS: dict[int, str] = {
    Status.SUCCESS: "Success",
    Status.SOP_CLASS_NOT_SUPPORTED: "Refused: SOPClassNotSupported",
    Status.WARNING: "Warning: CoercionOfDataElements",
    Status.DATA_SET_DOES_NOT_MATCH_SOP_CLASS: "Warning: DataSetDoesNotMatchSOPClass",
    Status.ELEMENTS_DISCARDED: "Warning: ElementsDiscarded",
}


def store_status_text(status: int) -> str:
    """DCMTK's short C-STORE status string (``Received Store Response (<text>)``)."""
    exact = _STORE_TEXTS.get(status)
    if exact is not None:
        return exact
    if _high_byte(status) == _high_byte(Status.OUT_OF_RESOURCES):  # 0xA7xx
        return "Refused: OutOfResources"
    if _high_byte(status) == _high_byte(Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS):  # 0xA9xx
        return "Error: DataSetDoesNotMatchSOPClass"
    if _high_nibble(status) == _high_nibble(Status.CANNOT_UNDERSTAND):  # 0xCxxx
        return "Error: CannotUnderstand"
    return f"Unknown Status: 0x{status:x}"


#: C-MOVE "Refused: Out of resources - Unable to calculate number of matches" (PS3.4 C.4.2.1.5)
_OUT_OF_RESOURCES_MATCHES = 0xA701

_MOVE_TEXTS: dict[int, str] = {
    Status.SUCCESS: "Success",
    Status.PENDING: "Pending",
    _OUT_OF_RESOURCES_MATCHES: "Refused: OutOfResourcesNumberOfMatches",
    Status.OUT_OF_RESOURCES_SUB_OPERATIONS: "Refused: OutOfResourcesSubOperations",
    Status.SOP_CLASS_NOT_SUPPORTED: "Refused: SOPClassNotSupported",
    Status.MOVE_DESTINATION_UNKNOWN: "Refused: MoveDestinationUnknown",
    Status.IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS: "Error: DataSetDoesNotMatchSOPClass",
    Status.CANCEL: "Cancel: SubOperationsTerminatedDueToCancelIndication",
    Status.WARNING: "Warning: SubOperationsCompleteOneOrMoreFailures",
}


def move_status_text(status: int) -> str:
    """DCMTK's short C-MOVE status string."""
    exact = _MOVE_TEXTS.get(status)
    if exact is not None:
        return exact
    if _high_nibble(status) == _high_nibble(Status.CANNOT_UNDERSTAND):  # 0xCxxx
        return "Failed: UnableToProcess"
    return f"Unknown Status: 0x{status:x}"


def echo_status_text(status: int) -> str:
    """echoscu's ``Received Echo Response (<text>)``."""
    return "Success" if status == Status.SUCCESS else f"Unknown Status: 0x{status:x}"
