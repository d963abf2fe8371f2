"""The sans-IO association: bytes in, events out; primitives in, bytes out.

:class:`Connection` runs the PS3.8 state machine (:mod:`dimse.core.fsm`) and the DIMSE message
layer over it.  It owns no socket, thread or clock: a driver feeds it what the transport
received (``receive_data``), the expiry of the ARTIM timer (``timer_expired``) and the
user's requests (``request``, ``accept``, ``send_command``, ``send_data``, ``release`` ...),
then writes out ``data_to_send()``, honours ``artim_running`` and closes the transport when
``should_close`` is set.  Whatever a peer sends, the connection never raises: what breaks the
protocol becomes an A-P-ABORT (an ``Aborted`` event) and ``violation``, a
:class:`PeerProtocolError` whose ``kind`` says what the peer sent.

Every input goes through the table (``fsm.TRANSITIONS``): the dispatcher sets the next state
the table names, then runs the action's method (``_ae_1`` ... ``_aa_8``, found through
``_ACTIONS``), which only acts: sends, queues events, runs the ARTIM timer.  The one exception
is the hot path of ``_consume``: a P-DATA-TF carrying one data set fragment in Sta6 becomes
its event directly (DT-2, whose next state is Sta6 again), with the same checks.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Any

from ..codes import AbortReason, AbortSource, ContextResult
from ..errors import LocalProtocolError, PDUError, ProtocolError
from . import events as ev
from .commands import Command, decode_command, encode_command
from .fsm import Action, Input, State, transitions_for
from .pdu import (
    A_ABORT,
    A_ASSOCIATE_AC,
    A_ASSOCIATE_RJ,
    A_ASSOCIATE_RQ,
    A_RELEASE_RP,
    A_RELEASE_RQ,
    P_DATA_TF,
    PDU,
    PDU_HEADER,
    PDU_NAMES,
    PDU_TYPES,
    PDV,
    Abort,
    AssociateAC,
    AssociateRJ,
    AssociateRQ,
    PDataTF,
    PresentationContextRQ,
    ReleaseRP,
    ReleaseRQ,
    decode_pdu,
    encode,
    pdata_header,
)
from .record import FrozenRecord

_INPUT_FOR_PDU = {
    A_ASSOCIATE_RQ: Input.EVT6,
    A_ASSOCIATE_AC: Input.EVT3,
    A_ASSOCIATE_RJ: Input.EVT4,
    P_DATA_TF: Input.EVT10,
    A_RELEASE_RQ: Input.EVT12,
    A_RELEASE_RP: Input.EVT13,
    A_ABORT: Input.EVT16,
}

#: Largest A-ASSOCIATE PDU accepted (128 contexts x 38 transfer syntaxes fit ~8 times).
MAX_ASSOCIATE_PDU = 1 << 20
#: Receive limit for P-DATA-TF when we advertised "no maximum" (0).
UNLIMITED_PDU_CAP = 16 << 20
#: Send fragment size when the peer advertised "no maximum" (0).
DEFAULT_SEND_PDU = 256 << 10
#: Largest PDU we send, whatever the peer announces (up to 4 GB): bounds what one fragment costs.
MAX_SEND_PDU = 16 << 20
#: Largest command set accepted.
MAX_COMMAND_SET = 64 << 10

#: PDV item length and presentation context ID, for the single-fragment fast path
_PDV_HEAD = struct.Struct(">LB")
# states the per-read and per-PDU paths test (a module global is cheaper than State.X)
_STA1, _STA6 = State.STA1, State.STA6
_NOT_RECEIVING = (State.STA1, State.STA4)
_EVT9 = Input.EVT9  # P-DATA request: every command and data set sent

# A-ABORT reasons (PS3.8 table 9-26): the old names of the AbortReason members
ABORT_UNRECOGNIZED_PDU = AbortReason.UNRECOGNIZED_PDU
ABORT_UNEXPECTED_PDU = AbortReason.UNEXPECTED_PDU
ABORT_INVALID_PARAMETER = AbortReason.INVALID_PDU_PARAMETER_VALUE

_PDU_CLASS_NAMES = {
    AssociateRQ: PDU_NAMES[A_ASSOCIATE_RQ],
    AssociateAC: PDU_NAMES[A_ASSOCIATE_AC],
    AssociateRJ: PDU_NAMES[A_ASSOCIATE_RJ],
    PDataTF: PDU_NAMES[P_DATA_TF],
    ReleaseRQ: PDU_NAMES[A_RELEASE_RQ],
    ReleaseRP: PDU_NAMES[A_RELEASE_RP],
    Abort: PDU_NAMES[A_ABORT],
}


class Violation(Enum):
    """What a peer sent that PS3.8 or PS3.7 does not allow: the kind of a
    :class:`PeerProtocolError`, so that a caller can word it (DCMTK's conditions) without
    reading the message."""

    # found by the core while cutting PDUs and PDVs out of the stream
    UNKNOWN_PDU_TYPE = "unknown PDU type"
    PDU_TOO_LONG = "PDU longer than our maximum"
    MALFORMED_PDU = "malformed PDU"
    UNEXPECTED_PDU = "PDU not allowed in this state"
    UNKNOWN_CONTEXT = "PDV on a presentation context that was not accepted"
    DATA_WITHOUT_COMMAND = "data set fragment without a command"
    COMMAND_IN_DATA = "command fragment inside a data set"
    BAD_COMMAND_SET = "malformed command set"
    # found by the DIMSE user (the driver) in a well-formed message
    UNEXPECTED_COMMAND = "not the response expected"
    UNEXPECTED_MESSAGE_ID = "response to another message"
    UNEXPECTED_DATASET = "data set announced where none may be"


#: the A-ABORT reason a violation the core finds is answered with; any other: invalid parameter
_ABORT_REASONS = {
    Violation.UNKNOWN_PDU_TYPE: AbortReason.UNRECOGNIZED_PDU,
    Violation.UNEXPECTED_PDU: AbortReason.UNEXPECTED_PDU,
}


class PeerProtocolError(ProtocolError):
    """The peer sent something PS3.8 or PS3.7 does not allow; ``kind`` says what, the message
    says it in words ("peer sent an invalid PDU (type 0x17)")."""

    def __init__(self, kind: Violation, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def abort_reason(self) -> AbortReason:
        """The reason of the A-ABORT (service provider) the core answers it with (PS3.8
        table 9-26)."""
        return _ABORT_REASONS.get(self.kind, AbortReason.INVALID_PDU_PARAMETER_VALUE)


class PresentationContext(FrozenRecord):
    """An accepted presentation context."""

    __slots__ = ("context_id", "abstract_syntax", "transfer_syntax")
    context_id: int
    abstract_syntax: str
    transfer_syntax: str

    def __init__(self, context_id: int, abstract_syntax: str, transfer_syntax: str) -> None:
        object.__setattr__(self, "context_id", context_id)
        object.__setattr__(self, "abstract_syntax", abstract_syntax)
        object.__setattr__(self, "transfer_syntax", transfer_syntax)


#: what an action is handed: the PDU received (Evt3 ... Evt16) or the one a primitive carries
#: (Evt1, Evt7, Evt8, Evt15), the violation (Evt19), the P-DATA-TF PDUs to write (Evt9), or None
_Cause = PDU | PeerProtocolError | list[bytes | memoryview] | None
#: an action: a method of Connection taking the cause its inputs carry
_Handler = Callable[["Connection", Any], None]


class Connection:
    """One association, either as requestor or as acceptor."""

    def __init__(self, requestor: bool, max_send_pdu: int = 0) -> None:
        self.requestor = requestor
        self.state = State.STA1
        #: our own limit on what we send (DCMTK's --max-send-pdu); 0: only the peer's
        self.max_send_pdu = max_send_pdu
        self.request_pdu: AssociateRQ | None = None
        self.accept_pdu: AssociateAC | None = None
        self.contexts: dict[int, PresentationContext] = {}
        self.artim_running = False
        self.should_close = False
        #: what the peer sent that made us abort the association (the Aborted event's detail)
        self.violation: PeerProtocolError | None = None
        #: the state table of our role: (state, input) -> (action method, next state)
        self._table = _TABLES[bool(requestor)]
        # until our maximum is announced, no PDU may exceed the association PDU limit
        self._receive_limit = MAX_ASSOCIATE_PDU
        self._in = bytearray()
        self._out: list[bytes | memoryview] = []
        self._events: deque[ev.Event] = deque()
        self._command_buf: bytearray | None = None
        self._command_ctx = 0
        self._data_ctx: int | None = None

    # ------------------------------------------------------------------ driver side

    def connection_made(self) -> None:
        """The transport is open: Evt2 for a requestor, Evt5 for an acceptor."""
        self._handle(Input.EVT2 if self.requestor else Input.EVT5)

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes from the transport; ``b""`` means the transport closed."""
        if not data:
            if self.state != State.STA1:
                self._handle(Input.EVT17)
            return
        if self.state in _NOT_RECEIVING:
            return
        # PDUs are cut out of what arrived as views, not copies (a data set's bytes are handed
        # on as views of the transport's buffer); only an incomplete PDU is kept
        view = memoryview(data)
        offset = self._complete_pending(view) if self._in else 0
        if offset is None:
            return
        rest = view[offset:]
        pos = self._consume(rest)
        if pos is not None and pos < len(rest):
            self._in = bytearray(rest[pos:])

    def _complete_pending(self, view: memoryview) -> int | None:
        """Complete the PDU kept from earlier reads with the bytes it still lacks from
        ``view`` (no more are copied) and handle it; returns how much of ``view`` it took, or
        None when it is still incomplete, was refused, or ended the connection."""
        offset = 0
        while self._in:
            have = len(self._in)
            if have < 6:  # first the header, checked before anything more is kept
                take = min(6 - have, len(view) - offset)
                self._in += view[offset : offset + take]
                offset += take
                if len(self._in) < 6 or not self._header_ok(*PDU_HEADER.unpack_from(self._in, 0)):
                    return None
                continue
            need = 6 + PDU_HEADER.unpack_from(self._in, 0)[1] - have
            take = min(need, len(view) - offset)
            self._in += view[offset : offset + take]
            offset += take
            if take < need:
                return None
            pending, self._in = self._in, bytearray()  # views of it may be handed out
            if self._consume(pending) is None:
                return None
        return offset

    def _header_ok(self, pdu_type: int, length: int) -> bool:
        """A PDU header we accept (known type, length within our limit); else the abort."""
        if pdu_type not in PDU_TYPES:
            message = f"peer sent an invalid PDU (type 0x{pdu_type:02x})"
            self._invalid(PeerProtocolError(Violation.UNKNOWN_PDU_TYPE, message))
            return False
        limit = self._receive_limit if pdu_type == P_DATA_TF else MAX_ASSOCIATE_PDU
        if length > limit:
            name = PDU_NAMES[pdu_type]
            message = f"peer sent a {name} PDU that is too long: PDU length {length} exceeds the maximum {limit}"
            self._invalid(PeerProtocolError(Violation.PDU_TOO_LONG, message))
            return False
        return True

    def _consume(self, buf: bytes | bytearray | memoryview) -> int | None:
        """Handle the complete PDUs at the start of ``buf``; returns how many bytes they took
        (the rest is an incomplete PDU whose header, if there, was checked), or None once the
        connection refused a PDU or closed."""
        view = memoryview(buf)
        pos, end = 0, len(buf)
        while end - pos >= 6:
            if self.state == _STA1:
                return None
            pdu_type, length = PDU_HEADER.unpack_from(buf, pos)
            # (a P-DATA-TF within our limit needs no more checking)
            if (pdu_type != P_DATA_TF or length > self._receive_limit) and not self._header_ok(pdu_type, length):
                return None
            if end - pos < 6 + length:
                break
            if (
                pdu_type == P_DATA_TF
                and self.state == _STA6
                and self._data_ctx is not None
                and length >= 6
                and _PDV_HEAD.unpack_from(buf, pos + 6) == (length - 4, self._data_ctx)
                and not buf[pos + 11] & 1
            ):
                # the common case, one data set fragment filling its PDU: DT-2 directly,
                # without the PDU/PDV objects and the state table (same checks, same outcome)
                last = bool(buf[pos + 11] & 2)
                self._events.append(ev.DataReceived(self._data_ctx, view[pos + 12 : pos + 6 + length], last))
                if last:
                    self._data_ctx = None
                pos += 6 + length
                continue
            body = view[pos + 6 : pos + 6 + length]
            pos += 6 + length
            if not self._receive_pdu(pdu_type, body):
                return None
        return None if self.state == _STA1 else pos

    def _receive_pdu(self, pdu_type: int, body: memoryview) -> bool:
        """Decode one PDU and feed it to the machine; False if it was malformed (refused)."""
        try:
            pdu = decode_pdu(pdu_type, body)
        except PDUError as exc:
            message = f"peer sent a malformed {PDU_NAMES[pdu_type]} PDU: {exc}"
            self._invalid(PeerProtocolError(Violation.MALFORMED_PDU, message))
            return False
        self._handle(_INPUT_FOR_PDU[pdu_type], pdu)
        return True

    def timer_expired(self) -> None:
        """The ARTIM timer the driver runs while ``artim_running`` expired (Evt18)."""
        if self.artim_running:
            self._handle(Input.EVT18)

    def data_to_send(self) -> list[bytes | memoryview]:
        """Buffers to write to the transport, in order; the list is handed over."""
        out, self._out = self._out, []
        return out

    def next_event(self) -> ev.Event | None:
        """The next indication or confirmation for the user, or None."""
        return self._events.popleft() if self._events else None

    def queued_abort(self) -> ev.Aborted | None:
        """The A-ABORT (or protocol failure) among the events not yet taken, left in place:
        why a send was refused, while the responses queued ahead of it stay readable."""
        for event in self._events:
            if isinstance(event, ev.Aborted):
                return event
        return None

    @property
    def is_established(self) -> bool:
        return self.state == _STA6

    @property
    def pdu_incomplete(self) -> bool:
        """Part of a PDU arrived and the rest is still awaited (a peer that stops now stopped
        in the middle of a PDU, not between two)."""
        return bool(self._in)

    @property
    def peer_max_pdu(self) -> int:
        peer = self.accept_pdu if self.requestor else self.request_pdu
        return (peer.user_info.max_length or 0) if peer else 0

    @property
    def max_fragment(self) -> int:
        """Largest PDV payload we send: the peer's maximum PDU less 12 bytes of headers,
        the figure DCMTK uses (and logs as "Max Send PDV")."""
        limit = min(self.peer_max_pdu or DEFAULT_SEND_PDU, MAX_SEND_PDU)
        if self.max_send_pdu:
            limit = min(limit, self.max_send_pdu)
        return max(limit - 12, 1)

    # ------------------------------------------------------------------ user primitives

    def request(self, rq: AssociateRQ) -> None:
        """A-ASSOCIATE request (Evt1); call ``connection_made`` once the transport is up."""
        self._handle(Input.EVT1, rq)

    def accept(self, ac: AssociateAC) -> None:
        self._handle(Input.EVT7, ac)

    def reject(self, rj: AssociateRJ) -> None:
        self._handle(Input.EVT8, rj)

    def send_command(self, context_id: int, command: Command) -> None:
        """Send a command set as P-DATA-TF PDUs no larger than the peer accepts (Evt9)."""
        self._check_pdata(context_id)
        raw = memoryview(encode_command(command))
        step = self.max_fragment
        pdus: list[bytes | memoryview] = []
        for start in range(0, len(raw), step):
            piece = raw[start : start + step]
            last = start + step >= len(raw)
            pdus.append(pdata_header(context_id, len(piece), True, last) + piece)
        self._handle(_EVT9, pdus)

    def send_data(self, context_id: int, data: bytes | memoryview, last: bool) -> None:
        """Send (part of) a data set (Evt9); ``data`` is not copied, keep it alive until written."""
        self._check_pdata(context_id)
        view = memoryview(data)
        if not view:
            if last:
                self._handle(_EVT9, [pdata_header(context_id, 0, False, True)])
            return
        step = self.max_fragment
        pdus: list[bytes | memoryview] = []
        full = pdata_header(context_id, step, False, False)  # the same for every full fragment
        for start in range(0, len(view), step):
            piece = view[start : start + step]
            final = last and start + step >= len(view)
            whole = len(piece) == step and not final
            pdus.append(full if whole else pdata_header(context_id, len(piece), False, final))
            pdus.append(piece)
        self._handle(_EVT9, pdus)

    def release(self) -> None:
        """A-RELEASE request (Evt11)."""
        self._handle(Input.EVT11)

    def release_response(self) -> None:
        """A-RELEASE response (Evt14): grant the peer's release."""
        self._handle(Input.EVT14)

    def abort(self, source: int = AbortSource.SERVICE_USER, reason: int = AbortReason.NOT_SPECIFIED) -> None:
        """A-ABORT request (Evt15); harmless once the association is already over.

        ``source`` SERVICE_USER is the default; an acceptor enforcing one of its own limits
        sends SERVICE_PROVIDER with a PS3.8 table 9-26 ``reason``.
        """
        if self.state not in (State.STA1, State.STA2, State.STA13):
            provider = source == AbortSource.SERVICE_PROVIDER
            why = AbortReason(reason) if provider else AbortReason.NOT_SPECIFIED
            self._handle(Input.EVT15, Abort(AbortSource(source), why))

    # ------------------------------------------------------------------ machinery

    def _handle(self, event: Input, cause: _Cause = None) -> None:
        """Carry out the transition of the table for ``event``: the next state first (an
        action may feed the machine in turn: DT-2 an invalid PDV, as Evt19), then the action.
        An action that fails (a PDU of ours that cannot be encoded) leaves the state as it was."""
        transition = self._table.get((self.state, event))
        if transition is None:
            raise LocalProtocolError(f"{event.name} is not allowed in {self.state.name}")
        action, next_state = transition
        previous, self.state = self.state, next_state
        try:
            action(self, cause)
        except BaseException:
            self.state = previous
            raise

    def _check_pdata(self, context_id: int) -> None:
        if (self.state, _EVT9) not in self._table:
            raise LocalProtocolError(f"cannot send P-DATA in {self.state.name}")
        if context_id not in self.contexts:
            raise LocalProtocolError(f"presentation context {context_id} was not accepted")

    def _invalid(self, error: PeerProtocolError) -> None:
        """An unrecognized or invalid PDU (Evt19); what was kept of it is dropped."""
        self._in = bytearray()  # not clear(): views of the old buffer may be alive
        self._handle(Input.EVT19, error)

    def _send(self, pdu: PDU) -> None:
        self._out.append(encode(pdu))

    def _requested(self) -> AssociateRQ:
        """The A-ASSOCIATE-RQ of this association (kept by AE-1 or AE-6 before any action
        that needs it can run)."""
        assert self.request_pdu is not None
        return self.request_pdu

    def _record_contexts(self, rq: AssociateRQ, ac: AssociateAC) -> None:
        # a repeated context ID counts once, first come first served (as in negotiation)
        proposed: dict[int, PresentationContextRQ] = {}
        for offer in rq.contexts:
            proposed.setdefault(offer.context_id, offer)
        self.contexts = {}
        for answer in ac.contexts:
            cid = answer.context_id
            if answer.result == ContextResult.ACCEPTANCE and cid in proposed and cid not in self.contexts:
                abstract = proposed[cid].abstract_syntax
                self.contexts[cid] = PresentationContext(cid, abstract, answer.transfer_syntax)

    def _receive_limit_from(self, sent: AssociateRQ | AssociateAC) -> None:
        self._receive_limit = sent.user_info.max_length or UNLIMITED_PDU_CAP

    # ------------------------------------------------------------------ actions (PS3.8 9.2.2)
    # Each is handed the cause of its input (see _Cause) and only acts: the next state was
    # set by _handle from the table.

    def _ae_1(self, rq: AssociateRQ) -> None:
        self.request_pdu = rq
        self._receive_limit_from(rq)

    def _ae_2(self, _: None) -> None:
        self._send(self._requested())

    def _ae_3(self, ac: AssociateAC) -> None:
        self.accept_pdu = ac
        self._record_contexts(self._requested(), ac)
        self._events.append(ev.AssociationAccepted(ac))

    def _ae_4(self, rj: AssociateRJ) -> None:
        self.should_close = True
        self._events.append(ev.AssociationRejected(rj))

    def _ae_5(self, _: None) -> None:
        self.artim_running = True

    def _ae_6(self, rq: AssociateRQ) -> None:
        self.artim_running = False
        self.request_pdu = rq
        self._events.append(ev.AssociationRequested(rq))

    def _ae_7(self, ac: AssociateAC) -> None:
        self.accept_pdu = ac
        self._receive_limit_from(ac)
        self._record_contexts(self._requested(), ac)
        self._send(ac)

    def _ae_8(self, rj: AssociateRJ) -> None:
        self._send(rj)
        self.artim_running = True

    def _dt_1(self, pdus: list[bytes | memoryview]) -> None:
        """DT-1 and AR-7: the P-DATA-TF PDUs the primitive framed go out."""
        self._out += pdus

    def _dt_2(self, pdata: PDataTF) -> None:
        """DT-2 and AR-6: the PDVs become events; one the association cannot carry makes the
        whole PDU invalid (Evt19, from the state the table just gave: Sta6 or Sta7)."""
        try:
            for pdv in pdata.pdvs:
                self._receive_pdv(pdv)
        except PeerProtocolError as exc:
            self._handle(Input.EVT19, exc)

    def _receive_pdv(self, pdv: PDV) -> None:
        ctx = pdv.context_id
        if ctx not in self.contexts:
            message = f"peer sent a PDV on presentation context {ctx}, which was not accepted"
            raise PeerProtocolError(Violation.UNKNOWN_CONTEXT, message)
        if pdv.is_command:
            self._receive_command_pdv(pdv)
            return
        if self._data_ctx != ctx:
            message = "peer sent a data set fragment that no command announced"
            raise PeerProtocolError(Violation.DATA_WITHOUT_COMMAND, message)
        if pdv.is_last:
            self._data_ctx = None
        self._events.append(ev.DataReceived(ctx, memoryview(pdv.data), pdv.is_last))

    def _receive_command_pdv(self, pdv: PDV) -> None:
        """A fragment of a command set: kept until the last one, then decoded."""
        ctx = pdv.context_id
        if self._data_ctx is not None:
            message = "peer sent a command fragment where a data set fragment was due"
            raise PeerProtocolError(Violation.COMMAND_IN_DATA, message)
        if self._command_buf is None:
            self._command_buf, self._command_ctx = bytearray(), ctx
        elif ctx != self._command_ctx:
            message = "peer sent the fragments of a command set on different presentation contexts"
            raise PeerProtocolError(Violation.BAD_COMMAND_SET, message)
        self._command_buf += pdv.data
        if len(self._command_buf) > MAX_COMMAND_SET:
            message = f"peer sent a command set larger than {MAX_COMMAND_SET} bytes"
            raise PeerProtocolError(Violation.BAD_COMMAND_SET, message)
        if not pdv.is_last:
            return
        try:
            command = decode_command(self._command_buf)
        except ProtocolError as exc:
            message = f"peer sent a malformed command set: {exc}"
            raise PeerProtocolError(Violation.BAD_COMMAND_SET, message) from None
        self._command_buf = None
        if command.has_dataset:
            self._data_ctx = ctx
        self._events.append(ev.CommandReceived(ctx, command))

    def _ar_1(self, _: None) -> None:
        self._send(ReleaseRQ())

    def _ar_2(self, _: ReleaseRQ) -> None:
        self._events.append(ev.ReleaseRequested())

    def _ar_3(self, _: ReleaseRP) -> None:
        self.should_close = True
        self._events.append(ev.ReleaseConfirmed())

    def _ar_4(self, _: None) -> None:
        self._send(ReleaseRP())
        self.artim_running = True

    def _ar_5(self, _: None) -> None:
        self.artim_running = False

    def _ar_8(self, _: ReleaseRQ) -> None:
        self._events.append(ev.ReleaseRequested())

    def _ar_9(self, _: None) -> None:
        self._send(ReleaseRP())

    def _ar_10(self, _: ReleaseRP) -> None:
        self._events.append(ev.ReleaseConfirmed())

    def _aa_1(self, cause: _Cause) -> None:
        """The local user's A-ABORT (Evt15: its PDU goes out); or, in Sta2, a PDU that no
        association may carry yet, answered with a provider abort the user is told of."""
        if isinstance(cause, Abort):
            self._send(cause)
            self.artim_running = True
            return
        error = _violation(cause)
        self._send(Abort(AbortSource.SERVICE_PROVIDER, error.abort_reason))
        self.artim_running = True
        self._abort_event(error)

    def _aa_2(self, _: object) -> None:
        self.artim_running = False
        self.should_close = True

    def _aa_3(self, abort: Abort) -> None:
        self.should_close = True
        self._events.append(ev.Aborted(abort.source, abort.reason, True))

    def _aa_4(self, _: None) -> None:
        self.artim_running = False
        self._events.append(
            ev.Aborted(AbortSource.SERVICE_PROVIDER, AbortReason.NOT_SPECIFIED, False, "connection closed by peer")
        )

    def _aa_5(self, _: None) -> None:
        self.artim_running = False

    def _aa_6(self, _: PDU) -> None:
        """The PDU is ignored: the association is over."""

    def _aa_7(self, cause: _Cause) -> None:
        self._send(Abort(AbortSource.SERVICE_PROVIDER, _violation(cause).abort_reason))

    def _aa_8(self, cause: _Cause) -> None:
        error = _violation(cause)
        self._send(Abort(AbortSource.SERVICE_PROVIDER, error.abort_reason))
        self.artim_running = True
        self._command_buf, self._data_ctx = None, None
        self._abort_event(error)

    def _abort_event(self, error: PeerProtocolError) -> None:
        """The A-P-ABORT indication for what the peer sent (kept as ``violation``)."""
        self.violation = error
        self._events.append(ev.Aborted(AbortSource.SERVICE_PROVIDER, error.abort_reason, False, str(error)))


def _violation(cause: _Cause) -> PeerProtocolError:
    """What the peer did wrong: the violation of an invalid PDU (Evt19), else a well-formed
    PDU that the state machine does not allow where it arrived."""
    if isinstance(cause, PeerProtocolError):
        return cause
    name = _PDU_CLASS_NAMES.get(type(cause), "PDU")
    return PeerProtocolError(Violation.UNEXPECTED_PDU, f"peer sent an unexpected {name} PDU")


#: the method that carries out each action of the state table
_ACTIONS: dict[Action, _Handler] = {
    Action.AE_1: Connection._ae_1,
    Action.AE_2: Connection._ae_2,
    Action.AE_3: Connection._ae_3,
    Action.AE_4: Connection._ae_4,
    Action.AE_5: Connection._ae_5,
    Action.AE_6: Connection._ae_6,
    Action.AE_7: Connection._ae_7,
    Action.AE_8: Connection._ae_8,
    Action.DT_1: Connection._dt_1,
    Action.DT_2: Connection._dt_2,
    Action.AR_1: Connection._ar_1,
    Action.AR_2: Connection._ar_2,
    Action.AR_3: Connection._ar_3,
    Action.AR_4: Connection._ar_4,
    Action.AR_5: Connection._ar_5,
    Action.AR_6: Connection._dt_2,  # P-DATA indication, as DT-2 (the state stays Sta7)
    Action.AR_7: Connection._dt_1,  # send P-DATA-TF, as DT-1 (the state stays Sta8)
    Action.AR_8: Connection._ar_8,
    Action.AR_9: Connection._ar_9,
    Action.AR_10: Connection._ar_10,
    Action.AA_1: Connection._aa_1,
    Action.AA_2: Connection._aa_2,
    Action.AA_3: Connection._aa_3,
    Action.AA_4: Connection._aa_4,
    Action.AA_5: Connection._aa_5,
    Action.AA_6: Connection._aa_6,
    Action.AA_7: Connection._aa_7,
    Action.AA_8: Connection._aa_8,
}


def _dispatch_table(requestor: bool) -> dict[tuple[State, Input], tuple[_Handler, State]]:
    """The state table of one role with each action as its method, built once per role."""
    return {key: (_ACTIONS[action], nxt) for key, (action, nxt) in transitions_for(requestor).items()}


_TABLES = {True: _dispatch_table(True), False: _dispatch_table(False)}
