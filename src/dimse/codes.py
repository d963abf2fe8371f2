"""Wire codes named once (PS3.8, PS3.7): what the core and the tools compare against.

Each set is an ``IntEnum`` that still takes a value the standard does not name (a peer may
send one): ``Status(0xC123)`` is a member named ``UNKNOWN_0xc123``, equal to the int, so
codes read from the wire never raise.  How DCMTK words them for a user is
:mod:`dimse.dcmtk.texts`.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class _OpenIntEnum(IntEnum):
    """An IntEnum that keeps unknown values as pseudo-members instead of raising."""

    @classmethod
    def _missing_(cls, value: object) -> _OpenIntEnum | None:
        if not isinstance(value, int):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"UNKNOWN_{value:#x}"
        member._value_ = value
        return member


class RejectResult(_OpenIntEnum):
    """A-ASSOCIATE-RJ result (PS3.8 table 9-21)."""

    PERMANENT = 1
    TRANSIENT = 2


class RejectSource(_OpenIntEnum):
    """A-ASSOCIATE-RJ source."""

    SERVICE_USER = 1
    ACSE = 2  # service provider, ACSE related
    PRESENTATION = 3  # service provider, presentation related


class RejectReason(_OpenIntEnum):
    """A-ASSOCIATE-RJ reason; its meaning depends on the source (hence the aliases)."""

    NO_REASON = 1
    APPLICATION_CONTEXT_NOT_SUPPORTED = 2  # source SERVICE_USER
    CALLING_AE_NOT_RECOGNIZED = 3  # source SERVICE_USER
    CALLED_AE_NOT_RECOGNIZED = 7  # source SERVICE_USER
    PROTOCOL_VERSION_NOT_SUPPORTED = 2  # source ACSE
    TEMPORARY_CONGESTION = 1  # source PRESENTATION
    LOCAL_LIMIT_EXCEEDED = 2  # source PRESENTATION


class AbortSource(_OpenIntEnum):
    """A-ABORT source (PS3.8 9.3.8)."""

    SERVICE_USER = 0
    RESERVED = 1
    SERVICE_PROVIDER = 2


class AbortReason(_OpenIntEnum):
    """A-ABORT reason when the source is the service provider."""

    NOT_SPECIFIED = 0
    UNRECOGNIZED_PDU = 1
    UNEXPECTED_PDU = 2
    UNRECOGNIZED_PDU_PARAMETER = 4
    UNEXPECTED_PDU_PARAMETER = 5
    INVALID_PDU_PARAMETER_VALUE = 6


class ContextResult(_OpenIntEnum):
    """Result of one presentation context in an A-ASSOCIATE-AC (PS3.8 9.3.3.2)."""

    ACCEPTANCE = 0
    USER_REJECTION = 1
    NO_REASON = 2  # provider rejection
    ABSTRACT_SYNTAX_NOT_SUPPORTED = 3
    TRANSFER_SYNTAXES_NOT_SUPPORTED = 4


class CommandField(_OpenIntEnum):
    """(0000,0100) Command Field (PS3.7 E.1)."""

    C_STORE_RQ = 0x0001
    C_STORE_RSP = 0x8001
    C_GET_RQ = 0x0010
    C_GET_RSP = 0x8010
    C_FIND_RQ = 0x0020
    C_FIND_RSP = 0x8020
    C_MOVE_RQ = 0x0021
    C_MOVE_RSP = 0x8021
    C_ECHO_RQ = 0x0030
    C_ECHO_RSP = 0x8030
    C_CANCEL_RQ = 0x0FFF


class Status(_OpenIntEnum):
    """DIMSE statuses this package sends or acts on (PS3.7 annex C)."""

    SUCCESS = 0x0000
    WARNING = 0xB000  # C-STORE: coercion of data elements; C-MOVE/C-GET: some sub-operations failed
    ELEMENTS_DISCARDED = 0xB006
    DATA_SET_DOES_NOT_MATCH_SOP_CLASS = 0xB007
    CANCEL = 0xFE00
    PENDING = 0xFF00
    PENDING_WITH_WARNINGS = 0xFF01
    PROCESSING_FAILURE = 0x0110
    NO_SUCH_SOP_CLASS = 0x0118
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    UNRECOGNIZED_OPERATION = 0x0211
    OUT_OF_RESOURCES = 0xA700
    OUT_OF_RESOURCES_SUB_OPERATIONS = 0xA702
    MOVE_DESTINATION_UNKNOWN = 0xA801
    IDENTIFIER_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    CANNOT_UNDERSTAND = 0xC000


class AssociationEnd(StrEnum):
    """How an association an acceptor served came to its end (what ``Services`` is told)."""

    RELEASED = "released"
    REJECTED = "rejected"
    ABORTED_BY_PEER = "aborted"
    ABORTED = "aborted by us"  # we (or the core, for a protocol violation) sent A-ABORT
    PROBE = "probe"  # the connection closed before any request (a port probe)
    TIMED_OUT = "timed out"
    LIMIT_EXCEEDED = "limit exceeded"
    NETWORK_ERROR = "network error"
    INTERNAL_ERROR = "internal error"


# The plain names the modules used before the enums (kept: the same ints).
REJECT_PERMANENT, REJECT_TRANSIENT = RejectResult.PERMANENT, RejectResult.TRANSIENT
SOURCE_USER, SOURCE_ACSE, SOURCE_PRESENTATION = RejectSource.SERVICE_USER, RejectSource.ACSE, RejectSource.PRESENTATION
REASON_NO_REASON = RejectReason.NO_REASON
REASON_APP_CONTEXT = RejectReason.APPLICATION_CONTEXT_NOT_SUPPORTED
REASON_CALLING_AE = RejectReason.CALLING_AE_NOT_RECOGNIZED
REASON_CALLED_AE = RejectReason.CALLED_AE_NOT_RECOGNIZED
REASON_PROTOCOL_VERSION = RejectReason.PROTOCOL_VERSION_NOT_SUPPORTED
REASON_CONGESTION = RejectReason.TEMPORARY_CONGESTION
REASON_LOCAL_LIMIT = RejectReason.LOCAL_LIMIT_EXCEEDED
