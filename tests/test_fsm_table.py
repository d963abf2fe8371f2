"""The state table of the core against PS3.8 table 9-10, pair by pair, and a Connection driven
through every transition it allows.

The standard is transcribed here on its own, not derived from ``dimse.core.fsm``: table 9-10
(the action of each state and event, "." where the event is not allowed) and tables 9-6 to
9-9 (the state each action leads to).
"""

from __future__ import annotations

import pytest

from dimse.core import events as ev
from dimse.core.commands import c_echo_rq, encode_command
from dimse.core.connection import _ACTIONS, Connection
from dimse.core.fsm import TRANSITIONS, Action, ByRole, Input, State, transitions_for
from dimse.core.negotiation import build_request, negotiate
from dimse.core.pdu import PDV, Abort, AssociateAC, AssociateRJ, PDataTF, ReleaseRP, ReleaseRQ, UserInformation, encode
from dimse.errors import LocalProtocolError

from .test_connection import POLICY, PROPOSED, drain, out, pair, transfer

# PS3.8 table 9-10: one row per event (Evt1 ... Evt19), one column per state (Sta1 ... Sta13)
TABLE_9_10 = """
         Sta1  Sta2  Sta3  Sta4  Sta5  Sta6  Sta7  Sta8  Sta9  Sta10 Sta11 Sta12 Sta13
Evt1     AE-1  .     .     .     .     .     .     .     .     .     .     .     .
Evt2     .     .     .     AE-2  .     .     .     .     .     .     .     .     .
Evt3     .     AA-1  AA-8  .     AE-3  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-6
Evt4     .     AA-1  AA-8  .     AE-4  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-6
Evt5     AE-5  .     .     .     .     .     .     .     .     .     .     .     .
Evt6     .     AE-6  AA-8  .     AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-7
Evt7     .     .     AE-7  .     .     .     .     .     .     .     .     .     .
Evt8     .     .     AE-8  .     .     .     .     .     .     .     .     .     .
Evt9     .     .     .     .     .     DT-1  .     AR-7  .     .     .     .     .
Evt10    .     AA-1  AA-8  .     AA-8  DT-2  AR-6  AA-8  AA-8  AA-8  AA-8  AA-8  AA-6
Evt11    .     .     .     .     .     AR-1  .     .     .     .     .     .     .
Evt12    .     AA-1  AA-8  .     AA-8  AR-2  AR-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-6
Evt13    .     AA-1  AA-8  .     AA-8  AA-8  AR-3  AA-8  AA-8  AR-10 AR-3  AA-8  AA-6
Evt14    .     .     .     .     .     .     .     AR-4  AR-9  .     .     AR-4  .
Evt15    .     .     AA-1  AA-2  AA-1  AA-1  AA-1  AA-1  AA-1  AA-1  AA-1  AA-1  .
Evt16    .     AA-2  AA-3  .     AA-3  AA-3  AA-3  AA-3  AA-3  AA-3  AA-3  AA-3  AA-2
Evt17    .     AA-5  AA-4  AA-4  AA-4  AA-4  AA-4  AA-4  AA-4  AA-4  AA-4  AA-4  AR-5
Evt18    .     AA-2  .     .     .     .     .     .     .     .     .     .     AA-2
Evt19    .     AA-1  AA-8  .     AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-8  AA-7
"""

# PS3.8 tables 9-6 to 9-9: the next state of each action, (requestor, acceptor) where it
# depends on the role.  AE-6 leads to Sta3 when the service provider finds the request
# acceptable, else to Sta13; the core hands every request to its user (who rejects with
# AE-8), so Sta3 is the one it must name.
NEXT_STATE: dict[str, int | tuple[int, int]] = {
    "AE-1": 4, "AE-2": 5, "AE-3": 6, "AE-4": 1, "AE-5": 2, "AE-6": 3, "AE-7": 6, "AE-8": 13,
    "DT-1": 6, "DT-2": 6,
    "AR-1": 7, "AR-2": 8, "AR-3": 1, "AR-4": 13, "AR-5": 1, "AR-6": 7, "AR-7": 8, "AR-8": (9, 10),
    "AR-9": 11, "AR-10": 12,
    "AA-1": 13, "AA-2": 1, "AA-3": 1, "AA-4": 1, "AA-5": 1, "AA-6": 13, "AA-7": 13, "AA-8": 13,
}  # fmt: skip

ROLES = {"requestor": True, "acceptor": False}


def standard() -> dict[tuple[int, int], str]:
    """(state, event) -> action, for every pair table 9-10 allows."""
    header, *rows = TABLE_9_10.strip().splitlines()
    states = [int(col.removeprefix("Sta")) for col in header.split()]
    assert states == list(range(1, 14))
    allowed = {}
    for row in rows:
        name, *cells = row.split()
        assert len(cells) == 13, row
        for state, cell in zip(states, cells, strict=True):
            if cell != ".":
                allowed[(state, int(name.removeprefix("Evt")))] = cell
    assert {event for _, event in allowed} == set(range(1, 20))
    return allowed


def expected_next(action: str, requestor: bool) -> int:
    nxt = NEXT_STATE[action]
    return (nxt[0] if requestor else nxt[1]) if isinstance(nxt, tuple) else nxt


# ---------------------------------------------------------------------------- the table as data


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("event", range(1, 20))
def test_every_pair_of_table_9_10(event, role):
    """Each of the 13 states for this event: the standard's action and next state, or absent."""
    ours = transitions_for(ROLES[role])
    allowed = standard()
    for state in range(1, 14):
        action = allowed.get((state, event))
        found = ours.get((State(state), Input(event)))
        if action is None:
            assert found is None, f"Sta{state} Evt{event}: not allowed by PS3.8, the table has {found}"
        else:
            assert found == (action, expected_next(action, ROLES[role])), f"Sta{state} Evt{event}"


def test_the_table_names_a_next_state_for_every_transition():
    """Every entry is (action, next state); only AR-8's next state depends on the role."""
    assert len(TRANSITIONS) == len(standard())
    for (state, event), (action, next_state) in TRANSITIONS.items():
        assert isinstance(action, Action)
        if action == Action.AR_8:
            assert next_state == ByRole(requestor=State.STA9, acceptor=State.STA10)
        else:
            assert isinstance(next_state, State), (state, event)


def test_every_action_has_its_method():
    assert set(_ACTIONS) == set(Action)
    assert {action for action, _ in TRANSITIONS.values()} == set(Action)


# ---------------------------------------------------------------------------- driving a Connection

#: the states a Connection of each role can be brought to
REACHABLE = {
    True: {1, 4, 5, 6, 7, 8, 9, 11, 13},
    False: {1, 2, 3, 6, 7, 8, 10, 12, 13},
}


def reach_as(state: int, requestor: bool) -> Connection:
    """A connection of the given role in ``state``, its output and events so far dropped."""
    if state in (1, 2, 4, 5):
        conn = Connection(requestor=requestor)
        if state in (4, 5):
            conn.request(build_request("A", "B", PROPOSED))  # AE-1
        if state in (2, 5):
            conn.connection_made()  # AE-5 (acceptor) or AE-2 (requestor)
        out(conn)
        assert conn.state == state
        return conn
    if state == 3:
        return _requested_acceptor()
    req, acc = pair()
    me, peer = (req, acc) if requestor else (acc, req)
    if state == 7:
        me.release()
    elif state == 8:
        peer.release()
        transfer(peer, me)
    elif state in (9, 10, 11, 12):
        me.release()
        peer.release()
        transfer(me, peer)
        transfer(peer, me)
        if state in (11, 12):
            req.release_response()  # the requestor answers first (AR-9)
            transfer(req, acc)
    elif state == 13:
        me.abort()
    out(me)
    drain(me)
    assert me.state == state
    return me


def _requested_acceptor() -> Connection:
    req, acc = Connection(requestor=True), Connection(requestor=False)
    acc.connection_made()
    req.request(build_request("A", "B", PROPOSED))
    req.connection_made()
    transfer(req, acc)
    drain(acc)
    return acc


def _answer(conn: Connection) -> AssociateAC:
    """An A-ASSOCIATE-AC: the acceptor's answer to the request the connection knows, if any."""
    if conn.request_pdu is not None:
        answer = negotiate(conn.request_pdu, POLICY)
        assert isinstance(answer, AssociateAC)
        return answer
    return AssociateAC("B", "A", [], UserInformation())


def _echo() -> bytes:
    """A P-DATA-TF with a whole C-ECHO-RQ on context 1 (accepted in every association here)."""
    return encode(PDataTF([PDV(1, True, True, encode_command(c_echo_rq(7)))]))


def apply(conn: Connection, event: int) -> None:
    """Feed ``event`` to ``conn`` the way a driver or a peer would."""
    peer_pdus = {
        3: lambda: encode(_answer(conn)),
        4: lambda: encode(AssociateRJ(1, 1, 1)),
        6: lambda: encode(build_request("A", "B", PROPOSED)),
        10: _echo,
        12: lambda: encode(ReleaseRQ()),
        13: lambda: encode(ReleaseRP()),
        16: lambda: encode(Abort(0, 0)),
        17: lambda: b"",
        19: lambda: bytes.fromhex("09 00 00000004 00000000"),  # no such PDU type
    }
    if event in peer_pdus:
        conn.receive_data(peer_pdus[event]())
        return
    primitives = {
        1: lambda: conn.request(build_request("A", "B", PROPOSED)),
        2: conn.connection_made,
        5: conn.connection_made,
        7: lambda: conn.accept(_answer(conn)),
        8: lambda: conn.reject(AssociateRJ(1, 1, 1)),
        9: lambda: conn.send_command(1, c_echo_rq(1)),
        11: conn.release,
        14: conn.release_response,
        15: conn.abort,
        18: conn.timer_expired,
    }
    primitives[event]()


def _drivable(state: int, event: int, requestor: bool) -> bool:
    """Whether a Connection of this role can meet this event in this state: the transport
    comes up as Evt2 for a requestor and as Evt5 for an acceptor."""
    if state not in REACHABLE[requestor]:
        return False
    return not ((event == 2 and not requestor) or (event == 5 and requestor))


CASES = [
    pytest.param(state, event, requestor, id=f"{role}-Sta{state}-Evt{event}")
    for role, requestor in ROLES.items()
    for state in range(1, 14)
    for event in range(1, 20)
    if _drivable(state, event, requestor)
]


@pytest.mark.parametrize(("state", "event", "requestor"), CASES)
def test_driving_a_connection_ends_in_the_tables_next_state(state, event, requestor):
    """Allowed: the Connection ends in the next state of the table (and of the standard).
    Not allowed: a local primitive raises LocalProtocolError, anything else is ignored, and
    either way the state stays and nothing is sent."""
    conn = reach_as(state, requestor)
    transition = transitions_for(requestor).get((State(state), Input(event)))
    if transition is None:
        try:
            apply(conn, event)
        except LocalProtocolError:
            pass
        assert conn.state == state
        assert out(conn) == b""
        return
    action, next_state = transition
    apply(conn, event)
    assert conn.state == next_state == expected_next(str(action), requestor)


def test_invalid_pdv_in_a_pdata_tf_is_the_invalid_pdu_of_the_state_it_left():
    """DT-2 leads to Sta6 again, then finds a PDV on a context never accepted: that is an
    invalid PDU in Sta6 (Evt19, AA-8), so the connection ends in Sta13 with an A-P-ABORT."""
    req, acc = pair()
    acc.receive_data(encode(PDataTF([PDV(1, True, True, encode_command(c_echo_rq(1))), PDV(9, True, True, b"x")])))
    assert acc.state == State.STA13 and acc.artim_running
    events = drain(acc)
    assert [type(e) for e in events] == [ev.CommandReceived, ev.Aborted]
    assert (events[1].source, events[1].reason, events[1].by_peer) == (2, 6, False)


def test_a_primitive_whose_pdu_cannot_be_encoded_leaves_the_state():
    """The next state is set before the action; an action that fails puts the old one back."""
    acc = _requested_acceptor()
    with pytest.raises(ValueError):
        acc.reject(AssociateRJ(1, 1, 300))  # not a byte
    assert acc.state == State.STA3 and not acc.artim_running
    assert out(acc) == b""
