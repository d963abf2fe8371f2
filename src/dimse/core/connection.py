"""The sans-IO association: bytes in, events out; primitives in, bytes out.

:class:`Connection` runs the PS3.8 state machine (:mod:`dimse.fsm`) and the DIMSE message
layer over it.  It owns no socket, thread or clock: a driver feeds it what the transport
received (``receive_data``), the expiry of the ARTIM timer (``timer_expired``) and the
user's requests (``request``, ``accept``, ``send_command``, ``send_data``, ``release`` ...),
then writes out ``data_to_send()``, honours ``artim_running`` and closes the transport when
``should_close`` is set.  Whatever a peer sends, the connection never raises: what breaks the
protocol becomes an A-P-ABORT (an ``Aborted`` event) and ``violation``, a
:class:`PeerProtocolError` whose ``kind`` says what the peer sent.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from enum import Enum

from ..errors import LocalProtocolError, PDUError, ProtocolError
from . import events as ev
from .commands import Command, decode_command, encode_command
from .fsm import TRANSITIONS, Event, State
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

_EVENT_FOR_PDU = {
    A_ASSOCIATE_RQ: Event.EVT6,
    A_ASSOCIATE_AC: Event.EVT3,
    A_ASSOCIATE_RJ: Event.EVT4,
    P_DATA_TF: Event.EVT10,
    A_RELEASE_RQ: Event.EVT12,
    A_RELEASE_RP: Event.EVT13,
    A_ABORT: Event.EVT16,
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

# A-ABORT reasons (PS3.8 table 9-26)
ABORT_UNRECOGNIZED_PDU = 1
ABORT_UNEXPECTED_PDU = 2
ABORT_INVALID_PARAMETER = 6


#: the method that carries out each action of the state table ("AE-1" -> "_ae_1")
_ACTION_METHODS = {action: "_" + action.replace("-", "_").lower() for action in set(TRANSITIONS.values())}

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


class PeerProtocolError(ProtocolError):
    """The peer sent something PS3.8 or PS3.7 does not allow; ``kind`` says what, the message
    says it in words ("peer sent an invalid PDU (type 0x17)")."""

    def __init__(self, kind: Violation, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(slots=True, frozen=True)
class PresentationContext:
    """An accepted presentation context."""

    context_id: int
    abstract_syntax: str
    transfer_syntax: str


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
        self._handle(Event.EVT2 if self.requestor else Event.EVT5)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the transport; ``b""`` means the transport closed."""
        if not data:
            if self.state != State.STA1:
                self._handle(Event.EVT17)
            return
        if self.state in (State.STA1, State.STA4):
            return
        # PDUs are cut out of what arrived as views, not copies (a data set's bytes are handed
        # on as views of the transport's buffer); only an incomplete PDU is kept, and it takes
        # from the next piece only the bytes it still lacks (the rest is not copied)
        view = memoryview(data)
        offset = 0
        while self._in:
            have = len(self._in)
            if have < 6:  # first the header, checked before anything more is kept
                take = min(6 - have, len(view) - offset)
                self._in += view[offset : offset + take]
                offset += take
                if len(self._in) < 6 or not self._header_ok(*PDU_HEADER.unpack_from(self._in, 0)):
                    return
                continue
            need = 6 + PDU_HEADER.unpack_from(self._in, 0)[1] - have
            take = min(need, len(view) - offset)
            self._in += view[offset : offset + take]
            offset += take
            if take < need:
                return
            pending, self._in = self._in, bytearray()  # views of it may be handed out
            if self._consume(pending) is None:
                return
        rest = view[offset:]
        pos = self._consume(rest)
        if pos is not None and pos < len(rest):
            self._in = bytearray(rest[pos:])

    def _header_ok(self, pdu_type: int, length: int) -> bool:
        """A PDU header we accept (known type, length within our limit); else the abort."""
        if pdu_type not in PDU_TYPES:
            error = PeerProtocolError(Violation.UNKNOWN_PDU_TYPE, f"peer sent an invalid PDU (type 0x{pdu_type:02x})")
            self._invalid(ABORT_UNRECOGNIZED_PDU, error)
            return False
        limit = self._receive_limit if pdu_type == P_DATA_TF else MAX_ASSOCIATE_PDU
        if length > limit:
            error = PeerProtocolError(
                Violation.PDU_TOO_LONG,
                f"peer sent a {PDU_NAMES[pdu_type]} PDU that is too long: PDU length {length} exceeds the maximum {limit}",
            )
            self._invalid(ABORT_INVALID_PARAMETER, error)
            return False
        return True

    def _consume(self, buf: bytes | bytearray | memoryview) -> int | None:
        """Handle the complete PDUs at the start of ``buf``; returns how many bytes they took
        (the rest is an incomplete PDU whose header, if there, was checked), or None once the
        connection refused a PDU or closed."""
        view = memoryview(buf)
        pos, end = 0, len(buf)
        while end - pos >= 6:
            if self.state == State.STA1:
                return None
            pdu_type, length = PDU_HEADER.unpack_from(buf, pos)
            if not self._header_ok(pdu_type, length):
                return None
            if end - pos < 6 + length:
                break
            if (
                pdu_type == P_DATA_TF
                and self.state == State.STA6
                and self._data_ctx is not None
                and length >= 6
                and _PDV_HEAD.unpack_from(buf, pos + 6) == (length - 4, self._data_ctx)
                and not buf[pos + 11] & 1
            ):
                # the common case, one data set fragment filling its PDU: the event directly,
                # without the PDU/PDV objects and the state table (same checks, same outcome)
                last = bool(buf[pos + 11] & 2)
                self._events.append(ev.DataReceived(self._data_ctx, view[pos + 12 : pos + 6 + length], last))
                if last:
                    self._data_ctx = None
                pos += 6 + length
                continue
            body = view[pos + 6 : pos + 6 + length]
            pos += 6 + length
            try:
                pdu = decode_pdu(pdu_type, body)
            except PDUError as exc:
                message = f"peer sent a malformed {PDU_NAMES[pdu_type]} PDU: {exc}"
                self._invalid(ABORT_INVALID_PARAMETER, PeerProtocolError(Violation.MALFORMED_PDU, message))
                return None
            self._handle(_EVENT_FOR_PDU[pdu_type], pdu)
        return None if self.state == State.STA1 else pos

    def timer_expired(self) -> None:
        """The ARTIM timer the driver runs while ``artim_running`` expired (Evt18)."""
        if self.artim_running:
            self._handle(Event.EVT18)

    def data_to_send(self) -> list[bytes | memoryview]:
        """Buffers to write to the transport, in order; the list is handed over."""
        out, self._out = self._out, []
        return out

    def next_event(self) -> ev.Event | None:
        """The next indication or confirmation for the user, or None."""
        return self._events.popleft() if self._events else None

    @property
    def is_established(self) -> bool:
        return self.state == State.STA6

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
        self._handle(Event.EVT1, rq)

    def accept(self, ac: AssociateAC) -> None:
        self._handle(Event.EVT7, ac)

    def reject(self, rj: AssociateRJ) -> None:
        self._handle(Event.EVT8, rj)

    def send_command(self, context_id: int, command: Command) -> None:
        """Send a command set as P-DATA-TF PDUs no larger than the peer accepts."""
        self._check_pdata(context_id)
        raw = memoryview(encode_command(command))
        step = self.max_fragment
        for start in range(0, len(raw), step):
            piece = raw[start : start + step]
            last = start + step >= len(raw)
            self._out.append(pdata_header(context_id, len(piece), True, last) + piece)

    def send_data(self, context_id: int, data: bytes | memoryview, last: bool) -> None:
        """Send (part of) a data set; ``data`` is not copied, keep it alive until written."""
        self._check_pdata(context_id)
        view = memoryview(data)
        step = self.max_fragment
        if not view:
            if last:
                self._out.append(pdata_header(context_id, 0, False, True))
            return
        out = self._out
        full = pdata_header(context_id, step, False, False)  # the same for every full fragment
        for start in range(0, len(view), step):
            piece = view[start : start + step]
            final = last and start + step >= len(view)
            out.append(full if len(piece) == step and not final else pdata_header(context_id, len(piece), False, final))
            out.append(piece)

    def release(self) -> None:
        """A-RELEASE request (Evt11)."""
        self._handle(Event.EVT11)

    def release_response(self) -> None:
        """A-RELEASE response (Evt14): grant the peer's release."""
        self._handle(Event.EVT14)

    def abort(self, source: int = 0, reason: int = 0) -> None:
        """A-ABORT request (Evt15); harmless once the association is already over.

        ``source`` 0 is the service user (the default); an acceptor enforcing one of its own
        limits sends 2 (service provider) with a PS3.8 table 9-26 ``reason``.
        """
        if self.state not in (State.STA1, State.STA2, State.STA13):
            self._handle(Event.EVT15, Abort(source, reason if source == 2 else 0))

    # ------------------------------------------------------------------ machinery

    def _handle(
        self, event: Event, pdu: PDU | None = None, reason: int = 0, error: PeerProtocolError | None = None
    ) -> None:
        """Run the action of the state table for ``event``; ``error`` says what was wrong with
        an invalid PDU (Evt19)."""
        action = TRANSITIONS.get((self.state, event))
        if action is None:
            raise LocalProtocolError(f"{event.name} is not allowed in {self.state.name}")
        getattr(self, _ACTION_METHODS[action])(pdu, reason, error)

    def _check_pdata(self, context_id: int) -> None:
        if (self.state, Event.EVT9) not in TRANSITIONS:
            raise LocalProtocolError(f"cannot send P-DATA in {self.state.name}")
        if context_id not in self.contexts:
            raise LocalProtocolError(f"presentation context {context_id} was not accepted")

    def _invalid(self, reason: int, error: PeerProtocolError) -> None:
        self._in = bytearray()  # not clear(): views of the old buffer may be alive
        self._handle(Event.EVT19, None, reason, error)

    def _send(self, pdu: PDU) -> None:
        self._out.append(encode(pdu))

    def _record_contexts(self, rq: AssociateRQ, ac: AssociateAC) -> None:
        # a repeated context ID counts once, first come first served (as in negotiation)
        proposed: dict[int, PresentationContextRQ] = {}
        for c in rq.contexts:
            proposed.setdefault(c.context_id, c)
        self.contexts = {}
        for c in ac.contexts:
            if c.result == 0 and c.context_id in proposed and c.context_id not in self.contexts:
                abstract = proposed[c.context_id].abstract_syntax
                self.contexts[c.context_id] = PresentationContext(c.context_id, abstract, c.transfer_syntax)

    def _receive_limit_from(self, sent: AssociateRQ | AssociateAC) -> None:
        self._receive_limit = sent.user_info.max_length or UNLIMITED_PDU_CAP

    def _ae_1(self, rq, reason, error):
        self.request_pdu = rq
        self._receive_limit_from(rq)
        self.state = State.STA4

    def _ae_2(self, pdu, reason, error):
        self._send(self.request_pdu)
        self.state = State.STA5

    def _ae_3(self, ac, reason, error):
        self.accept_pdu = ac
        self._record_contexts(self.request_pdu, ac)
        self.state = State.STA6
        self._events.append(ev.AssociationAccepted(ac))

    def _ae_4(self, rj, reason, error):
        self.should_close = True
        self.state = State.STA1
        self._events.append(ev.AssociationRejected(rj))

    def _ae_5(self, pdu, reason, error):
        self.artim_running = True
        self.state = State.STA2

    def _ae_6(self, rq, reason, error):
        self.artim_running = False
        self.request_pdu = rq
        self.state = State.STA3
        self._events.append(ev.AssociationRequested(rq))

    def _ae_7(self, ac, reason, error):
        self.accept_pdu = ac
        self._receive_limit_from(ac)
        self._record_contexts(self.request_pdu, ac)
        self._send(ac)
        self.state = State.STA6

    def _ae_8(self, rj, reason, error):
        self._send(rj)
        self.artim_running = True
        self.state = State.STA13

    def _dt_2(self, pdata: PDataTF, reason, error):
        try:
            for pdv in pdata.pdvs:
                self._receive_pdv(pdv)
        except PeerProtocolError as exc:
            self._provider_abort(ABORT_INVALID_PARAMETER, exc)

    _ar_6 = _dt_2

    def _receive_pdv(self, pdv) -> None:
        ctx = pdv.context_id
        if ctx not in self.contexts:
            message = f"peer sent a PDV on presentation context {ctx}, which was not accepted"
            raise PeerProtocolError(Violation.UNKNOWN_CONTEXT, message)
        if pdv.is_command:
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
            if pdv.is_last:
                try:
                    command = decode_command(self._command_buf)
                except ProtocolError as exc:
                    message = f"peer sent a malformed command set: {exc}"
                    raise PeerProtocolError(Violation.BAD_COMMAND_SET, message) from None
                self._command_buf = None
                if command.has_dataset:
                    self._data_ctx = ctx
                self._events.append(ev.CommandReceived(ctx, command))
        else:
            if self._data_ctx != ctx:
                message = "peer sent a data set fragment that no command announced"
                raise PeerProtocolError(Violation.DATA_WITHOUT_COMMAND, message)
            if pdv.is_last:
                self._data_ctx = None
            self._events.append(ev.DataReceived(ctx, memoryview(pdv.data), pdv.is_last))

    def _ar_1(self, pdu, reason, error):
        self._send(ReleaseRQ())
        self.state = State.STA7

    def _ar_2(self, pdu, reason, error):
        self.state = State.STA8
        self._events.append(ev.ReleaseRequested())

    def _ar_3(self, pdu, reason, error):
        self.should_close = True
        self.state = State.STA1
        self._events.append(ev.ReleaseConfirmed())

    def _ar_4(self, pdu, reason, error):
        self._send(ReleaseRP())
        self.artim_running = True
        self.state = State.STA13

    def _ar_5(self, pdu, reason, error):
        self.artim_running = False
        self.state = State.STA1

    def _ar_8(self, pdu, reason, error):
        self.state = State.STA9 if self.requestor else State.STA10
        self._events.append(ev.ReleaseRequested())

    def _ar_9(self, pdu, reason, error):
        self._send(ReleaseRP())
        self.state = State.STA11

    def _ar_10(self, pdu, reason, error):
        self.state = State.STA12
        self._events.append(ev.ReleaseConfirmed())

    def _aa_1(self, pdu, reason, error):
        by_peer_event = self.state == State.STA2
        reason = (reason or ABORT_UNEXPECTED_PDU) if by_peer_event else 0
        self._send(pdu if isinstance(pdu, Abort) else Abort(2 if by_peer_event else 0, reason))
        self.artim_running = True
        self.state = State.STA13
        if by_peer_event:
            error = error or _unexpected(pdu)
            self._abort_event(reason, error)

    def _aa_2(self, pdu, reason, error):
        self.artim_running = False
        self.should_close = True
        self.state = State.STA1

    def _aa_3(self, abort: Abort, reason, error):
        self.should_close = True
        self.state = State.STA1
        self._events.append(ev.Aborted(abort.source, abort.reason, True))

    def _aa_4(self, pdu, reason, error):
        self.artim_running = False
        self.state = State.STA1
        self._events.append(ev.Aborted(2, 0, False, "connection closed by peer"))

    def _aa_5(self, pdu, reason, error):
        self.artim_running = False
        self.state = State.STA1

    def _aa_6(self, pdu, reason, error):
        self.state = State.STA13

    def _aa_7(self, pdu, reason, error):
        self._send(Abort(2, reason or ABORT_UNEXPECTED_PDU))
        self.state = State.STA13

    def _aa_8(self, pdu, reason, error):
        self._provider_abort(reason or ABORT_UNEXPECTED_PDU, error or _unexpected(pdu))

    def _provider_abort(self, reason: int, error: PeerProtocolError) -> None:
        self._send(Abort(2, reason))
        self.artim_running = True
        self.state = State.STA13
        self._command_buf, self._data_ctx = None, None
        self._abort_event(reason, error)

    def _abort_event(self, reason: int, error: PeerProtocolError) -> None:
        """The A-P-ABORT indication for what the peer sent (kept as ``violation``)."""
        self.violation = error
        self._events.append(ev.Aborted(2, reason, False, str(error)))


def _unexpected(pdu: PDU | None) -> PeerProtocolError:
    """A well-formed PDU that the state machine does not allow where it arrived."""
    name = _PDU_CLASS_NAMES.get(type(pdu), "PDU")
    return PeerProtocolError(Violation.UNEXPECTED_PDU, f"peer sent an unexpected {name} PDU")
