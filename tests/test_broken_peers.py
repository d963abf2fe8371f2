"""Storage and move SCPs that misbehave in one way each, against DCMTK's storescu / movescu
and ours side by side.

Each peer is a plain socket in a thread (tests/rawpeer.py) that accepts the association and
then follows a script.  Where DCMTK answers a broken peer well, ours must print the same
``E:``/``W:`` lines and exit with the same code (the last condition line may say in our words
what the peer sent, with DCMTK's code); where DCMTK is wrong, ours' documented behaviour is
asserted (docs/compatibility.md).
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from dimse.core.commands import (
    C_ECHO_RSP,
    Command,
    decode_command,
    encode_command,
    response_to,
)
from dimse.core.negotiation import AcceptorPolicy, build_request, negotiate
from dimse.core.pdu import Abort, AssociateAC, PDataTF, ReleaseRP, ReleaseRQ, encode

from .conftest import CT_SMALL, MR_SMALL, dcmtk, free_port, move_study_args, ours, run
from .corpus import CT, EXPLICIT, IMPLICIT, POLICY, pdv
from .rawpeer import WAIT, connect, read_pdu
from .test_hostile import send_data, start_store

MR = "1.2.840.10008.5.1.4.1.1.4"
MOVE_STUDY = "1.2.840.10008.5.1.4.1.2.2.2"
STORE_POLICY = AcceptorPolicy(
    transfer_syntaxes={**POLICY.transfer_syntaxes, MR: [EXPLICIT, IMPLICIT]}, max_pdu=POLICY.max_pdu
)
MOVE_POLICY = AcceptorPolicy(transfer_syntaxes={MOVE_STUDY: [EXPLICIT, IMPLICIT]})
TOOL_TIMEOUT = 30  # a hang fails the test; none of these runs takes more than a few seconds


# ---------------------------------------------------------------------------- the scripted peer


class Peer:
    """The SCP's side of an accepted association: requests in, raw bytes out."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.ended_by = ""  # how the tool ended the association: "abort", "release" or "close"

    def request(self) -> tuple[int, Command] | None:
        """The next request, its data set read and dropped; None once the tool ended the association."""
        command_set, command, context_id = bytearray(), None, 0
        while True:
            pdu = self._read()
            if not isinstance(pdu, PDataTF):
                self._ended(pdu)
                return None
            for item in pdu.pdvs:
                if item.is_command:
                    command_set += item.data
                    if item.is_last:
                        command, context_id = decode_command(command_set), item.context_id
                        if not command.has_dataset:
                            return context_id, command
                elif item.is_last:
                    return context_id, command

    def answer(self, context_id: int, rq: Command, status: int = 0, **elements) -> bytes:
        """The response to ``rq``, as a P-DATA-TF (for the script to send, alter or join)."""
        return pdv(context_id, encode_command(response_to(rq, status, **elements)), True)

    def send(self, raw: bytes) -> None:
        self.sock.sendall(raw)

    def wait_for_the_end(self) -> str:
        """Read until the tool aborts, releases (answered) or closes; how it ended."""
        while not self.ended_by:
            pdu = self._read()
            if not isinstance(pdu, PDataTF):
                self._ended(pdu)
        return self.ended_by

    def _read(self):
        try:
            return read_pdu(self.sock)
        except (ConnectionResetError, BrokenPipeError):
            return None

    def _ended(self, pdu) -> None:
        if isinstance(pdu, ReleaseRQ):
            self.sock.sendall(encode(ReleaseRP()))
            self.ended_by = "release"
        else:
            self.ended_by = "abort" if isinstance(pdu, Abort) else "close"


class ScriptedSCP:
    """One association on a port of its own, served by ``script(peer)`` in a thread; then what
    the tool sends is read to the end (``ended_by``).  An error in the script fails the test."""

    def __init__(self, script: Callable[[Peer], object], policy: AcceptorPolicy = STORE_POLICY) -> None:
        self.script, self.policy = script, policy
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.ended_by = ""
        self.result: object = None
        self._error: BaseException | None = None
        self._accepted = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ScriptedSCP:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if not self._accepted.is_set():  # the tool ended without connecting: stop waiting for it
            try:
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(WAIT)
        self.listener.close()
        assert not self._thread.is_alive(), "the scripted SCP did not finish"
        if self._error is not None:
            raise self._error

    def _serve(self) -> None:
        try:
            self.listener.settimeout(WAIT)
            sock, _ = self.listener.accept()
            self._accepted.set()
            with sock:
                sock.settimeout(WAIT)
                answer = negotiate(read_pdu(sock), self.policy)
                assert isinstance(answer, AssociateAC)
                sock.sendall(encode(answer))
                peer = Peer(sock)
                self.result = self.script(peer)
                self.ended_by = peer.wait_for_the_end()
        except BaseException as exc:  # seen by the test in __exit__
            self._error = exc


def error_lines(stderr: str) -> list[str]:
    """The ``F:``/``E:``/``W:`` lines, without DCMTK's data set parser's own (``DcmItem: ...``)."""
    return [line for line in stderr.splitlines() if line[:3] in ("F: ", "E: ", "W: ") and line[3:6] != "Dcm"]


CONDITION = re.compile(r"^([EFW]: (?:Store SCU Failed: )?[0-9a-f]{4}:[0-9a-f]{4}) ")


def codes_only(lines: list[str]) -> list[str]:
    """Each condition line cut after its code (``E: 0006:0321``): where ours words the reason."""
    return [m[1] if (m := CONDITION.match(line)) else line for line in lines]


def storescu_both(script: Callable[[Peer], object], files: list[Path], *options: str):
    """DCMTK's storescu and ours, each against its own copy of the scripted SCP."""
    results = {}
    for name, tool in (("dcmtk", dcmtk("storescu")), ("ours", ours("storescu"))):
        with ScriptedSCP(script) as scp:
            done = run([tool, *options, "127.0.0.1", str(scp.port), *map(str, files)], timeout=TOOL_TIMEOUT)
        results[name] = (done, scp)
    return results["dcmtk"], results["ours"]


# ---------------------------------------------------------------------------- storage SCPs


def dataset_announcing_response(peer: Peer) -> None:
    """A C-STORE-RSP whose Command Data Set Type says a data set follows (none ever does)."""
    ctx, rq = peer.request()
    rsp = response_to(rq, 0, has_dataset=True)
    peer.send(pdv(ctx, encode_command(rsp), True))


def response_to_another_message(peer: Peer) -> None:
    ctx, rq = peer.request()
    rsp = response_to(rq, 0)
    rsp.MessageIDBeingRespondedTo = rq.MessageID + 1
    peer.send(pdv(ctx, encode_command(rsp), True))


def echo_response_instead(peer: Peer) -> None:
    """A C-ECHO-RSP (right message ID) where the C-STORE-RSP is due."""
    ctx, rq = peer.request()
    rsp = response_to(rq, 0)
    rsp.CommandField = C_ECHO_RSP
    peer.send(pdv(ctx, encode_command(rsp), True))


def test_response_announcing_a_data_set_fails_at_once():
    """DCMTK: ``W: ... C-Store RSP: DataSetType != NULL`` and ``0006:0203 DIMSE Badly formed
    message``, exit 1, at once.  Ours waited for the data set until the socket timeout."""
    theirs, mine = storescu_both(dataset_announcing_response, [CT_SMALL])
    assert theirs[0].returncode == mine[0].returncode == 1
    assert error_lines(mine[0].stderr) == error_lines(theirs[0].stderr)
    assert "W: DIMSE Warning: (STORESCU,ANY-SCP): C-Store RSP: DataSetType != NULL" in mine[0].stderr
    assert mine[1].ended_by == "abort"


@pytest.mark.parametrize(
    ("script", "line"),
    [
        (response_to_another_message, "0006:0211 DIMSE: Unexpected Response MsgId: 2 (expected: 1)"),
        (echo_response_instead, "0006:0211 DIMSE: Unexpected Response Command Field: 0x8030"),
    ],
    ids=["message-id", "command-field"],
)
def test_response_to_something_else_gets_dcmtks_condition(script, line):
    """A response to another message, or another command's response: DCMTK's 0006:0211 line, exit 1."""
    theirs, mine = storescu_both(script, [CT_SMALL])
    assert theirs[0].returncode == mine[0].returncode == 1
    assert error_lines(mine[0].stderr) == error_lines(theirs[0].stderr)
    assert f"E: Store SCU Failed: {line}" in mine[0].stderr
    assert mine[1].ended_by == "abort"


#: what a broken SCP sends (on the request's presentation context) where the C-STORE-RSP is
#: due, and the words of ours' last line
GARBAGE: dict[str, tuple[Callable[[int], bytes], str]] = {
    "random-pdata": (
        lambda ctx: b"\x04\x00\x00\x00\x00\x20" + random.Random(1).randbytes(32),
        "peer sent a malformed P-DATA-TF PDU",
    ),
    "random-command": (lambda ctx: pdv(ctx, random.Random(2).randbytes(40), True), "peer sent a malformed command set"),
    "not-a-pdu": (lambda ctx: b"\x17\x03\x03\x00\x28" + random.Random(3).randbytes(40), "peer sent an invalid PDU"),
    "huge-pdu": (lambda ctx: b"\x04\x00\xff\xff\xff\xf0" + bytes(64), "peer sent a P-DATA-TF PDU that is too long"),
    "unknown-context": (lambda ctx: pdv(2, bytes(20), True), "peer sent a PDV on presentation context 2"),
    "data-first": (lambda ctx: pdv(ctx, bytes(20), False), "peer sent a data set fragment that no command announced"),
}


def garbage_for_the_response(junk: Callable[[int], bytes]) -> Callable[[Peer], None]:
    def script(peer: Peer) -> None:
        ctx, _ = peer.request()
        peer.send(junk(ctx))

    return script


def garbage_with_the_first_response(junk: Callable[[int], bytes]) -> Callable[[Peer], None]:
    """The first store is answered, the garbage comes right behind the answer (one segment): ours
    found the association aborted when it sent the second file."""

    def script(peer: Peer) -> None:
        ctx, rq = peer.request()
        peer.send(peer.answer(ctx, rq) + junk(ctx))

    return script


@pytest.mark.parametrize("second", [False, True], ids=["instead-of-the-response", "after-the-first-response"])
@pytest.mark.parametrize("what", GARBAGE.keys())
def test_garbage_from_the_scp_is_told_as_dcmtk_does(what, second):
    """DCMTK's condition lines (``0006:020d DIMSE Failed to receive message`` / ``0006:020c DIMSE
    Read PDV failed`` / the DUL's code), exit 1; ours' last line says what the peer sent (it was
    ``cannot send P-DATA in STA13``, or a peer abort with exit 10)."""
    junk, said = GARBAGE[what]
    script = garbage_with_the_first_response(junk) if second else garbage_for_the_response(junk)
    theirs, mine = storescu_both(script, [CT_SMALL, MR_SMALL] if second else [CT_SMALL])
    assert theirs[0].returncode == mine[0].returncode == 1
    ours_lines = error_lines(mine[0].stderr)
    assert codes_only(ours_lines) == codes_only(error_lines(theirs[0].stderr))
    failed_file = MR_SMALL if second else CT_SMALL
    assert ours_lines[0] == f"E: Store Failed, file: {failed_file}:"
    assert [line for line in ours_lines if said in line], ours_lines
    assert "STA13" not in mine[0].stderr


def test_files_after_garbage_with_no_halt_say_why_they_were_not_sent():
    """-nh: the files after the broken response fail with DCMTK's send-failure code and the reason
    the association ended (not ``cannot send P-DATA in STA13``), then the release fails with
    DCMTK's line and exit 1.  DCMTK does not abort on a bad PDU: it goes on reading the garbage
    as PDUs, so its other lines depend on the bytes."""
    junk, _ = GARBAGE["not-a-pdu"]
    with ScriptedSCP(garbage_for_the_response(junk)) as scp:
        done = run([ours("storescu"), "-nh", "127.0.0.1", str(scp.port), str(CT_SMALL), str(CT_SMALL)])
    lines = error_lines(done.stderr)
    assert lines[4:] == [
        f"E: Store Failed, file: {CT_SMALL}:",
        "E: 0006:020e DIMSE Failed to send message",
        "E: 0006:0303 DUL Finite State Machine Error: association already aborted: peer sent an invalid PDU (type 0x17)",
        "E: Association Release Failed: 0006:0303 DUL Finite State Machine Error: No action defined, state 1 event 10",
    ]
    assert done.returncode == 1
    assert scp.ended_by == "abort"


def test_files_a_window_never_sent_after_garbage_are_each_reported(tmp_path):
    """Ours, -nh, to a scripted SCP granting an operations window of 16: four stores go out, the
    garbage comes instead of the first response.  Every file of the run gets its record in
    --report, failed, and its DCMTK lines (the ones the window had not sent yet fail as they do
    one at a time); exit 1.  (Files waiting for room in the window were once silently dropped.)"""
    junk, _ = GARBAGE["not-a-pdu"]

    def script(peer: Peer) -> None:
        requests = [peer.request() for _ in range(2)]
        peer.send(junk(requests[0][0]))

    files = [str(CT_SMALL)] * 6
    report = tmp_path / "report.json"
    policy = AcceptorPolicy(transfer_syntaxes=STORE_POLICY.transfer_syntaxes, max_pdu=POLICY.max_pdu, async_ops=(2, 1))
    with ScriptedSCP(script, policy) as scp:
        done = run([ours("storescu"), "-nh", "--report", str(report), "127.0.0.1", str(scp.port), *files])
    records = json.loads(report.read_text())["files"]
    assert [r["path"] for r in records] == files
    assert not any(r["ok"] for r in records)
    assert error_lines(done.stderr).count(f"E: Store Failed, file: {CT_SMALL}:") == 6
    assert done.returncode == 1


def test_abort_right_behind_the_first_response_is_a_peer_abort():
    """An A-ABORT in the same segment as the first response: DCMTK's peer-abort line and exit 10."""
    theirs, mine = storescu_both(garbage_with_the_first_response(lambda ctx: encode(Abort(0, 0))), [CT_SMALL, MR_SMALL])
    assert theirs[0].returncode == mine[0].returncode == 10
    assert error_lines(mine[0].stderr) == error_lines(theirs[0].stderr)
    assert "0006:0317 Peer aborted Association (or never connected)" in mine[0].stderr


def accept_and_never_answer(peer: Peer) -> None:
    peer.request()


def test_scp_that_never_answers_ends_with_the_socket_timeout_as_a_peer_abort():
    """No -td: DCMTK's wait is ended by the socket timeout (-ts, 60 s by default; 1 s here), which
    its upper layer reports as a peer abort: ``0006:0317 Peer aborted Association``, exit 10."""
    theirs, mine = storescu_both(accept_and_never_answer, [CT_SMALL], "-ts", "1")
    assert theirs[0].returncode == mine[0].returncode == 10
    assert error_lines(mine[0].stderr) == error_lines(theirs[0].stderr)
    assert error_lines(mine[0].stderr)[-1] == "E: 0006:0317 Peer aborted Association (or never connected)"
    assert mine[1].ended_by == "abort"  # ours tells the peer (DCMTK just closes)


def test_dimse_timeout_not_the_socket_timeout_bounds_the_wait_with_td():
    """-td 2 -ts 1: the DIMSE timeout bounds the wait for the response (DCMTK's non-blocking
    mode), so both fail with 0006:0207 after 2 s, exit 1."""
    theirs, mine = storescu_both(accept_and_never_answer, [CT_SMALL], "-td", "2", "-ts", "1")
    assert theirs[0].returncode == mine[0].returncode == 1
    assert error_lines(mine[0].stderr) == error_lines(theirs[0].stderr)
    assert "0006:0207 DIMSE No data available (timeout in non-blocking mode)" in mine[0].stderr


def half_a_response(peer: Peer) -> None:
    ctx, rq = peer.request()
    peer.send(peer.answer(ctx, rq)[:20])


def test_scp_stopping_in_the_middle_of_a_response():
    """Half a PDU, then silence past -ts: DCMTK's ``020d``/``020c``/``0006:0310`` lines, exit 1."""
    theirs, mine = storescu_both(half_a_response, [CT_SMALL], "-ts", "1")
    assert theirs[0].returncode == mine[0].returncode == 1
    ours_lines = error_lines(mine[0].stderr)
    assert codes_only(ours_lines) == codes_only(error_lines(theirs[0].stderr))
    assert "E: 0006:0310 peer sent part of a PDU, then nothing for 1 s" in ours_lines


# ---------------------------------------------------------------------------- move SCPs


def counts(remaining: int = 0, completed: int = 0, failed: int = 0) -> dict[str, int]:
    """The sub-operation counts of a C-MOVE-RSP."""
    return {
        "NumberOfRemainingSuboperations": remaining,
        "NumberOfCompletedSuboperations": completed,
        "NumberOfFailedSuboperations": failed,
        "NumberOfWarningSuboperations": 0,
    }


def store_on_a_sub_association(port: int, uid: str) -> int | None:
    """What a move SCP does for each object: a new association to the destination, CT_small
    stored as ``uid``, release; the C-STORE-RSP status (None: refused, or no answer in time)."""
    try:
        with connect(port, timeout=3) as sock:
            sock.sendall(encode(build_request("HOSTILE-QR", "MOVESCU", [(CT, [EXPLICIT])])))
            ac = read_pdu(sock)
            if not isinstance(ac, AssociateAC):
                return None
            ctx = next(c.context_id for c in ac.contexts if c.result == 0)
            send_data(sock, ctx, start_store(sock, ctx, uid), complete=True)
            status = decode_command(read_pdu(sock).pdvs[0].data).Status
            sock.sendall(encode(ReleaseRQ()))
            read_pdu(sock)
            return status
    except OSError:  # TimeoutError too: the destination never answered
        return None


def movescu_both(make_script: Callable[[int], Callable[[Peer], object]], tmp_path: Path, *options: str):
    """DCMTK's movescu and ours, each against its own copy of the scripted move SCP; the script
    is made for the port each tool listens on (``--port``).  name -> (done, scp, -od folder)."""
    results = {}
    for name, tool in (("dcmtk", dcmtk("movescu")), ("ours", ours("movescu"))):
        listen, out = free_port(), tmp_path / name / "od"
        out.mkdir(parents=True)
        with ScriptedSCP(make_script(listen), MOVE_POLICY) as scp:
            done = run(move_study_args(tool, "HOSTILE-QR", scp.port, listen, out, *options), timeout=TOOL_TIMEOUT)
        results[name] = (done, scp, out)
    return results["dcmtk"], results["ours"]


def sub_association_after_the_final_response(listen: int) -> Callable[[Peer], int | None]:
    def script(peer: Peer) -> int | None:
        ctx, rq = peer.request()
        peer.send(peer.answer(ctx, rq, 0x0000, **counts(completed=1)))
        return store_on_a_sub_association(listen, "1.2.3.4.5.6.7")

    return script


def test_sub_association_opened_after_the_final_response_is_served(tmp_path):
    """The move SCP answers first and stores afterwards.  Ours serves the sub-association while
    it releases, stores the object and exits 0; DCMTK has stopped listening, its release is not
    answered in time (-ta 1 here, 30 s by default) and it exits 67 with nothing stored."""
    (theirs, theirs_scp, theirs_od), (mine, mine_scp, mine_od) = movescu_both(
        sub_association_after_the_final_response, tmp_path, "-ta", "1"
    )
    assert mine_scp.result == 0x0000
    assert [p.name for p in mine_od.iterdir()] == ["CT.1.2.3.4.5.6.7"]
    assert mine.returncode == 0, mine.stderr
    assert theirs.returncode == 67 and theirs_scp.result is None and list(theirs_od.iterdir()) == []


TRAVERSAL = "../../../../tmp/x"


def traversal_uid(listen: int) -> Callable[[Peer], int | None]:
    def script(peer: Peer) -> int | None:
        ctx, rq = peer.request()
        status = store_on_a_sub_association(listen, TRAVERSAL)
        peer.send(peer.answer(ctx, rq, 0x0000, **counts(completed=1)))
        return status

    return script


def test_sop_instance_uid_that_is_a_path_is_refused(tmp_path):
    """A SOP Instance UID ``../../../../tmp/x``: ours answers 0xC000 and writes nothing, in -od or
    where the path leads; DCMTK stores it under a name made of the path (``CT..._.._.._.._tmp_x``)."""
    target = (tmp_path / "ours" / "od" / f"CT.{TRAVERSAL}").resolve()
    there_before = target.exists()
    (theirs, theirs_scp, theirs_od), (mine, mine_scp, mine_od) = movescu_both(traversal_uid, tmp_path)
    assert mine_scp.result == 0xC000
    assert list(mine_od.iterdir()) == []
    assert target.exists() == there_before
    assert "E: refusing object: SOP Instance UID is not a valid UID: '../../../../tmp/x'" in mine.stderr
    # the archive still counts it completed: what arrived is less than what it reported
    assert "W: the archive reported 1 sub-operations completed, 0 objects arrived" in mine.stderr
    assert mine.returncode == 69
    assert [p.name for p in theirs_od.iterdir() if "tmp_x" in p.name], "DCMTK wrote no file named after the path"


def many_pending_responses(listen: int) -> Callable[[Peer], None]:
    def script(peer: Peer) -> None:
        ctx, rq = peer.request()
        peer.send(peer.answer(ctx, rq, 0xFF00, **counts(remaining=1)) * 10_000)  # one write: ~0.1 s
        peer.send(peer.answer(ctx, rq, 0x0000, **counts()))

    return script


def test_ten_thousand_pending_responses(tmp_path):
    """10,000 pending C-MOVE-RSPs sent at once, then the final one: each one logged, exit 0 (as DCMTK)."""
    (theirs, *_), (mine, *_) = movescu_both(many_pending_responses, tmp_path, "-v")
    for done in (theirs, mine):
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stderr.count("I: Received Move Response ") == 10_000
        assert "I: Received Move Response 10000 (Pending)" in done.stderr
        assert "I: Received Final Move Response (Success)" in done.stderr


def no_final_response(listen: int) -> Callable[[Peer], None]:
    def script(peer: Peer) -> None:
        ctx, rq = peer.request()
        peer.send(peer.answer(ctx, rq, 0xFF00, **counts(remaining=1)))

    return script


def test_dimse_timeout_ends_a_move_that_never_ends(tmp_path):
    """-td 1 and a move SCP that never sends the final response: the same lines; ours exits 69,
    DCMTK 0 (docs/compatibility.md: a failed move never exits 0).  Against an SCP that does not
    close the connection after our A-ABORT, DCMTK also waits 30 s more (35 s with -td 5)."""
    (theirs, *_), (mine, mine_scp, _) = movescu_both(no_final_response, tmp_path, "-td", "1")
    assert error_lines(mine.stderr) == error_lines(theirs.stderr)
    assert "E: Move SCU Failed: 0006:0207 DIMSE No data available (timeout in non-blocking mode)" in mine.stderr
    assert (theirs.returncode, mine.returncode) == (0, 69)
    assert mine_scp.ended_by == "abort"


def move_response_to_another_message(listen: int) -> Callable[[Peer], None]:
    def script(peer: Peer) -> None:
        ctx, rq = peer.request()
        rq.MessageID += 1
        peer.send(peer.answer(ctx, rq, 0x0000, **counts()))

    return script


def not_a_pdu_for_the_move_response(listen: int) -> Callable[[Peer], None]:
    def script(peer: Peer) -> None:
        peer.request()
        peer.send(GARBAGE["not-a-pdu"][0](1))

    return script


@pytest.mark.parametrize(
    "make_script", [move_response_to_another_message, not_a_pdu_for_the_move_response], ids=["message-id", "not-a-pdu"]
)
def test_broken_move_responses_get_dcmtks_conditions(tmp_path, make_script):
    """The response checks serve movescu too: DCMTK's condition codes (``Move Request Failed`` /
    ``Move SCU Failed``); ours exits 69 where DCMTK exits 0."""
    (theirs, *_), (mine, *_) = movescu_both(make_script, tmp_path)
    assert codes_only(error_lines(mine.stderr)) == codes_only(error_lines(theirs.stderr))
    assert error_lines(mine.stderr)[0].startswith("E: Move Request Failed: 0006:02")
    assert (theirs.returncode, mine.returncode) == (0, 69)
