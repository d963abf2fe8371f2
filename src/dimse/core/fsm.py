"""The DICOM upper layer state machine of PS3.8 section 9.2, as data.

``TRANSITIONS[(state, input)]`` is a :class:`Transition`: the action to carry out (table 9-10)
and the state that follows it (tables 9-6 to 9-9).  Only AR-8's next state depends on who
requested the association, so that entry names one state per role (:class:`ByRole`);
:func:`transitions_for` gives the table of one role with every next state a plain
:class:`State`.  What the actions do (send, queue events, run the ARTIM timer) lives in
:mod:`dimse.core.connection`, which sets the next state itself before it acts.

A pair missing from the table is a local usage error for user primitives; for inputs coming
from the peer every state that has a transport is covered, so a peer can never make the
machine raise.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import NamedTuple

from .record import FrozenRecord


class State(IntEnum):
    """PS3.8 tables 9-1 to 9-5."""

    STA1 = 1  # idle
    STA2 = 2  # transport open, awaiting A-ASSOCIATE-RQ PDU
    STA3 = 3  # awaiting local A-ASSOCIATE response primitive
    STA4 = 4  # awaiting transport connection opening to complete
    STA5 = 5  # awaiting A-ASSOCIATE-AC or -RJ PDU
    STA6 = 6  # association established, ready for data transfer
    STA7 = 7  # awaiting A-RELEASE-RP PDU
    STA8 = 8  # awaiting local A-RELEASE response primitive
    STA9 = 9  # release collision requestor side: awaiting A-RELEASE response primitive
    STA10 = 10  # release collision acceptor side: awaiting A-RELEASE-RP PDU
    STA11 = 11  # release collision requestor side: awaiting A-RELEASE-RP PDU
    STA12 = 12  # release collision acceptor side: awaiting A-RELEASE response primitive
    STA13 = 13  # awaiting transport connection close indication


class Input(IntEnum):
    """What drives the machine (PS3.8 calls them events; the name Event is taken by what a
    Connection tells its user, :mod:`dimse.core.events`)."""

    EVT1 = 1  # A-ASSOCIATE request (local user)
    EVT2 = 2  # transport connect confirmation (local transport service)
    EVT3 = 3  # A-ASSOCIATE-AC PDU received
    EVT4 = 4  # A-ASSOCIATE-RJ PDU received
    EVT5 = 5  # transport connection indication
    EVT6 = 6  # A-ASSOCIATE-RQ PDU received
    EVT7 = 7  # A-ASSOCIATE response primitive (accept)
    EVT8 = 8  # A-ASSOCIATE response primitive (reject)
    EVT9 = 9  # P-DATA request primitive
    EVT10 = 10  # P-DATA-TF PDU received
    EVT11 = 11  # A-RELEASE request primitive
    EVT12 = 12  # A-RELEASE-RQ PDU received
    EVT13 = 13  # A-RELEASE-RP PDU received
    EVT14 = 14  # A-RELEASE response primitive
    EVT15 = 15  # A-ABORT request primitive
    EVT16 = 16  # A-ABORT PDU received
    EVT17 = 17  # transport connection closed indication
    EVT18 = 18  # ARTIM timer expired
    EVT19 = 19  # unrecognized or invalid PDU received


class Action(StrEnum):
    """PS3.8 tables 9-6 to 9-9, by their names in the standard."""

    AE_1 = "AE-1"  # the request is kept; the driver opens the transport
    AE_2 = "AE-2"  # send A-ASSOCIATE-RQ
    AE_3 = "AE-3"  # A-ASSOCIATE confirmation (accept)
    AE_4 = "AE-4"  # A-ASSOCIATE confirmation (reject), close the transport
    AE_5 = "AE-5"  # transport accepted, start ARTIM
    AE_6 = "AE-6"  # stop ARTIM, A-ASSOCIATE indication
    AE_7 = "AE-7"  # send A-ASSOCIATE-AC
    AE_8 = "AE-8"  # send A-ASSOCIATE-RJ, start ARTIM
    DT_1 = "DT-1"  # send P-DATA-TF
    DT_2 = "DT-2"  # P-DATA indication
    AR_1 = "AR-1"  # send A-RELEASE-RQ
    AR_2 = "AR-2"  # A-RELEASE indication
    AR_3 = "AR-3"  # A-RELEASE confirmation, close the transport
    AR_4 = "AR-4"  # send A-RELEASE-RP, start ARTIM
    AR_5 = "AR-5"  # stop ARTIM
    AR_6 = "AR-6"  # P-DATA indication while awaiting A-RELEASE-RP
    AR_7 = "AR-7"  # send P-DATA-TF while awaiting the local A-RELEASE response
    AR_8 = "AR-8"  # A-RELEASE indication (release collision)
    AR_9 = "AR-9"  # send A-RELEASE-RP (collision, requestor side)
    AR_10 = "AR-10"  # A-RELEASE confirmation (collision, acceptor side)
    AA_1 = "AA-1"  # send A-ABORT, start ARTIM
    AA_2 = "AA-2"  # stop ARTIM, close the transport
    AA_3 = "AA-3"  # A-ABORT or A-P-ABORT indication, close the transport
    AA_4 = "AA-4"  # A-P-ABORT indication
    AA_5 = "AA-5"  # stop ARTIM
    AA_6 = "AA-6"  # ignore the PDU
    AA_7 = "AA-7"  # send A-ABORT
    AA_8 = "AA-8"  # send A-ABORT (service provider), A-P-ABORT indication, start ARTIM


class ByRole(FrozenRecord):
    """A next state that depends on the role: AR-8 leads the requestor to Sta9, the acceptor
    to Sta10 (PS3.8 table 9-8)."""

    __slots__ = ("requestor", "acceptor")
    requestor: State
    acceptor: State

    def __init__(self, requestor: State, acceptor: State) -> None:
        object.__setattr__(self, "requestor", requestor)
        object.__setattr__(self, "acceptor", acceptor)


class Transition(NamedTuple):
    """One entry of the table: what to do, and where that leads."""

    action: Action
    next_state: State | ByRole

    def resolved(self, requestor: bool) -> tuple[Action, State]:
        """This transition for one role: its action and a plain next state."""
        nxt = self.next_state
        if isinstance(nxt, ByRole):
            nxt = nxt.requestor if requestor else nxt.acceptor
        return self.action, nxt


S, Evt, A = State, Input, Action

#: the state each action leads to (PS3.8 tables 9-6 to 9-9).  AE-6 goes to Sta3 always: the
#: Connection hands every A-ASSOCIATE-RQ to its user, whose reject is then AE-8 (to Sta13),
#: rather than refusing one itself (the standard's other branch of AE-6).
NEXT_STATE: dict[Action, State | ByRole] = {
    A.AE_1: S.STA4,
    A.AE_2: S.STA5,
    A.AE_3: S.STA6,
    A.AE_4: S.STA1,
    A.AE_5: S.STA2,
    A.AE_6: S.STA3,
    A.AE_7: S.STA6,
    A.AE_8: S.STA13,
    A.DT_1: S.STA6,
    A.DT_2: S.STA6,
    A.AR_1: S.STA7,
    A.AR_2: S.STA8,
    A.AR_3: S.STA1,
    A.AR_4: S.STA13,
    A.AR_5: S.STA1,
    A.AR_6: S.STA7,
    A.AR_7: S.STA8,
    A.AR_8: ByRole(requestor=S.STA9, acceptor=S.STA10),
    A.AR_9: S.STA11,
    A.AR_10: S.STA12,
    A.AA_1: S.STA13,
    A.AA_2: S.STA1,
    A.AA_3: S.STA1,
    A.AA_4: S.STA1,
    A.AA_5: S.STA1,
    A.AA_6: S.STA13,
    A.AA_7: S.STA13,
    A.AA_8: S.STA13,
}

_ESTABLISHED_AND_RELEASING = [S(n) for n in range(6, 13)]  # Sta6 .. Sta12
#: inputs that are a PDU arriving (Evt19: one that is not valid)
_PDU_INPUTS = (Evt.EVT3, Evt.EVT4, Evt.EVT6, Evt.EVT10, Evt.EVT12, Evt.EVT13, Evt.EVT19)


def _actions() -> dict[tuple[State, Input], Action]:
    """The action of every allowed (state, input) pair: PS3.8 table 9-10."""
    t: dict[tuple[State, Input], Action] = {
        (S.STA1, Evt.EVT1): A.AE_1,
        (S.STA4, Evt.EVT2): A.AE_2,
        (S.STA5, Evt.EVT3): A.AE_3,
        (S.STA5, Evt.EVT4): A.AE_4,
        (S.STA1, Evt.EVT5): A.AE_5,
        (S.STA2, Evt.EVT6): A.AE_6,
        (S.STA3, Evt.EVT7): A.AE_7,
        (S.STA3, Evt.EVT8): A.AE_8,
        (S.STA6, Evt.EVT9): A.DT_1,
        (S.STA8, Evt.EVT9): A.AR_7,
        (S.STA6, Evt.EVT10): A.DT_2,
        (S.STA7, Evt.EVT10): A.AR_6,
        (S.STA6, Evt.EVT11): A.AR_1,
        (S.STA6, Evt.EVT12): A.AR_2,
        (S.STA7, Evt.EVT12): A.AR_8,
        (S.STA7, Evt.EVT13): A.AR_3,
        (S.STA10, Evt.EVT13): A.AR_10,
        (S.STA11, Evt.EVT13): A.AR_3,
        (S.STA8, Evt.EVT14): A.AR_4,
        (S.STA9, Evt.EVT14): A.AR_9,
        (S.STA12, Evt.EVT14): A.AR_4,
        (S.STA4, Evt.EVT15): A.AA_2,
        (S.STA2, Evt.EVT16): A.AA_2,
        (S.STA13, Evt.EVT16): A.AA_2,
        (S.STA2, Evt.EVT17): A.AA_5,
        (S.STA13, Evt.EVT17): A.AR_5,
        (S.STA2, Evt.EVT18): A.AA_2,
        (S.STA13, Evt.EVT18): A.AA_2,
    }
    # PDUs that are not allowed where they arrive
    for evt in _PDU_INPUTS:
        t.setdefault((S.STA2, evt), A.AA_1)
        t.setdefault((S.STA3, evt), A.AA_8)
        t.setdefault((S.STA5, evt), A.AA_8)
        for sta in _ESTABLISHED_AND_RELEASING:
            t.setdefault((sta, evt), A.AA_8)
        t.setdefault((S.STA13, evt), A.AA_7 if evt in (Evt.EVT6, Evt.EVT19) else A.AA_6)
    for sta in [S.STA3, S.STA5, *_ESTABLISHED_AND_RELEASING]:
        t[(sta, Evt.EVT15)] = A.AA_1
        t[(sta, Evt.EVT16)] = A.AA_3
        t[(sta, Evt.EVT17)] = A.AA_4
    t[(S.STA4, Evt.EVT17)] = A.AA_4
    return t


TRANSITIONS: dict[tuple[State, Input], Transition] = {
    key: Transition(action, NEXT_STATE[action]) for key, action in _actions().items()
}


def transitions_for(requestor: bool) -> dict[tuple[State, Input], tuple[Action, State]]:
    """The table as one role sees it: (state, input) -> (action, next state)."""
    return {key: transition.resolved(requestor) for key, transition in TRANSITIONS.items()}
