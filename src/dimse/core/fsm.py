"""The DICOM upper layer state machine of PS3.8 table 9-10, as data.

``TRANSITIONS[(state, event)]`` names the action to run; the actions themselves (what to
send, what to tell the user, which timer to start) live in :mod:`dimse.connection`.  A pair
missing from the table is a local usage error for user primitives; for events coming from
the peer every state that has a transport is covered, so a peer can never make the machine
raise.
"""

from __future__ import annotations

from enum import IntEnum


class State(IntEnum):
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


class Event(IntEnum):
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


S, E = State, Event
_ESTABLISHED_AND_RELEASING = [S(n) for n in range(6, 13)]  # Sta6 .. Sta12


def _build() -> dict[tuple[State, Event], str]:
    t: dict[tuple[State, Event], str] = {
        (S.STA1, E.EVT1): "AE-1",
        (S.STA4, E.EVT2): "AE-2",
        (S.STA5, E.EVT3): "AE-3",
        (S.STA5, E.EVT4): "AE-4",
        (S.STA1, E.EVT5): "AE-5",
        (S.STA2, E.EVT6): "AE-6",
        (S.STA3, E.EVT7): "AE-7",
        (S.STA3, E.EVT8): "AE-8",
        (S.STA6, E.EVT9): "DT-1",
        (S.STA8, E.EVT9): "AR-7",
        (S.STA6, E.EVT10): "DT-2",
        (S.STA7, E.EVT10): "AR-6",
        (S.STA6, E.EVT11): "AR-1",
        (S.STA6, E.EVT12): "AR-2",
        (S.STA7, E.EVT12): "AR-8",
        (S.STA7, E.EVT13): "AR-3",
        (S.STA10, E.EVT13): "AR-10",
        (S.STA11, E.EVT13): "AR-3",
        (S.STA8, E.EVT14): "AR-4",
        (S.STA9, E.EVT14): "AR-9",
        (S.STA12, E.EVT14): "AR-4",
        (S.STA4, E.EVT15): "AA-2",
        (S.STA2, E.EVT16): "AA-2",
        (S.STA13, E.EVT16): "AA-2",
        (S.STA2, E.EVT17): "AA-5",
        (S.STA13, E.EVT17): "AR-5",
        (S.STA2, E.EVT18): "AA-2",
        (S.STA13, E.EVT18): "AA-2",
    }
    # PDUs that are not allowed where they arrive
    for evt in (E.EVT3, E.EVT4, E.EVT6, E.EVT10, E.EVT12, E.EVT13, E.EVT19):
        t.setdefault((S.STA2, evt), "AE-6" if evt == E.EVT6 else "AA-1")
        t.setdefault((S.STA3, evt), "AA-8")
        t.setdefault((S.STA5, evt), "AA-8")
        for sta in _ESTABLISHED_AND_RELEASING:
            t.setdefault((sta, evt), "AA-8")
        t.setdefault((S.STA13, evt), "AA-7" if evt in (E.EVT6, E.EVT19) else "AA-6")
    for sta in [S.STA3, S.STA5, *_ESTABLISHED_AND_RELEASING]:
        t[(sta, E.EVT15)] = "AA-1"
        t[(sta, E.EVT16)] = "AA-3"
        t[(sta, E.EVT17)] = "AA-4"
    t[(S.STA4, E.EVT17)] = "AA-4"
    return t


TRANSITIONS: dict[tuple[State, Event], str] = _build()
