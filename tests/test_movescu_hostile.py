"""Hostile and misbehaving C-MOVE SCPs against our movescu (pynetdicom plays the move SCP).

A move SCP that sends UIDs like ``../../x``, one that leaves a sub-association open after the
final response, one that aborts in the middle of a data set: our movescu writes nothing outside
-od, leaves no partial file, and exits with a bounded delay.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from pathlib import Path

import pytest
from pydicom import dcmread

from dimse.core.negotiation import build_request
from dimse.core.pdu import encode, pdata_header

from .conftest import CT_SMALL, free_port, move_study_args, ours, run

MOVE_STUDY = "1.2.840.10008.5.1.4.1.2.2.2"
CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
PRIVATE_CLASS = "1.2.3.4.5.6.7.8.9"


@pytest.fixture
def move_scp():
    """A pynetdicom Study Root C-MOVE SCP whose behaviour each test sets (``plan``)."""
    pytest.importorskip("pynetdicom")
    from pynetdicom import AE, evt

    plan = {"datasets": [], "destination_port": None, "before": None}

    def on_move(event):
        if plan["before"] is not None:  # before pynetdicom opens its own sub-association
            plan["before"]()
        yield "127.0.0.1", plan["destination_port"]
        yield len(plan["datasets"])
        for ds in plan["datasets"]:
            yield 0xFF00, ds

    ae = AE(ae_title="HOSTILE-QR")
    ae.add_supported_context(MOVE_STUDY)
    ae.add_requested_context(CT_CLASS)
    ae.add_requested_context(PRIVATE_CLASS)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_MOVE, on_move)])
    plan["port"] = server.socket.getsockname()[1]
    try:
        yield plan
    finally:
        server.shutdown()


def movescu(plan, out, *extra):
    listen = free_port()
    plan["destination_port"] = listen
    return run(move_study_args(ours("movescu"), "HOSTILE-QR", plan["port"], listen, out, *extra), timeout=60)


@pytest.mark.parametrize("uid", ["../../x", "../escape", "1.2/3", ".."])
def test_path_traversal_uids_write_nothing_outside(move_scp, tmp_path, uid):
    """The move SCP stores an object whose SOP Instance UID is ``uid`` (plus a good one): the bad one is
    refused, nothing appears outside -od, the good one arrives."""
    out = tmp_path / "od"
    out.mkdir()
    bad = dcmread(CT_SMALL)
    bad.SOPInstanceUID = uid
    good = dcmread(CT_SMALL)
    move_scp["datasets"] = [bad, good]
    done = movescu(move_scp, out, "-v")
    assert "Traceback" not in done.stderr
    assert [p.name for p in out.iterdir()] == [f"CT.{good.SOPInstanceUID}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["od"]
    assert not (tmp_path.parent / "x").exists() and not (tmp_path.parent / "escape").exists()
    assert "refusing object" in done.stderr


def _hold_open(port: int, holder: list) -> None:
    """Open a storage sub-association to movescu and keep it open, saying nothing more."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(encode(build_request("LINGER", "MOVESCU", [(CT_CLASS, ["1.2.840.10008.1.2.1"])])))
    sock.recv(65536)
    holder.append(sock)


def test_open_sub_association_gets_a_grace_time(move_scp, tmp_path):
    """A sub-association left open after the final response: movescu aborts it after --grace-time
    and exits (DCMTK's movescu waits forever here)."""
    out = tmp_path / "od"
    out.mkdir()
    holder: list = []
    move_scp["datasets"] = [dcmread(CT_SMALL)]
    move_scp["before"] = lambda: _hold_open(move_scp["destination_port"], holder)
    started = time.monotonic()
    done = movescu(move_scp, out, "--grace-time", "1")
    elapsed = time.monotonic() - started
    for sock in holder:
        sock.close()
    assert holder, "the lingering sub-association was not opened"
    assert elapsed < 30
    assert "aborted 1 sub-association(s) still open 1 s after the move ended" in done.stderr
    assert done.returncode == 0
    assert len(list(out.iterdir())) == 1


def _abort_mid_dataset(port: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(encode(build_request("ABORTER", "MOVESCU", [(CT_CLASS, ["1.2.840.10008.1.2.1"])])))
    sock.recv(65536)
    from dimse.core.commands import c_store_rq, encode_command

    command = encode_command(c_store_rq(1, CT_CLASS, "1.2.3.4.5.6"))
    half = CT_SMALL.read_bytes()[400:8400]
    sock.sendall(pdata_header(1, len(command), True, True) + command + pdata_header(1, len(half), False, False) + half)
    sock.sendall(bytes([7, 0, 0, 0, 0, 4, 0, 0, 0, 0]))
    sock.close()


def test_abort_mid_transfer_leaves_no_file(move_scp, tmp_path):
    """A sub-association aborted in the middle of a data set: no file, no temporary file; the other
    object of the move arrives."""
    out = tmp_path / "od"
    out.mkdir()
    move_scp["datasets"] = [dcmread(CT_SMALL)]
    threads = []

    def before():
        t = threading.Thread(target=_abort_mid_dataset, args=(move_scp["destination_port"],))
        t.start()
        threads.append(t)
        t.join(10)

    move_scp["before"] = before
    done = movescu(move_scp, out)
    assert "Traceback" not in done.stderr
    assert [p.name for p in out.iterdir()] == [f"CT.{dcmread(CT_SMALL).SOPInstanceUID}"]


PREFERENCES = ["+x=", "+xe", "+xb", "+xs", "+xy", "+xx", "+xv", "+xw", "+xt", "+xu", "+xr", "+xd", "+xi", "+xa"]
PROPOSED = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
]


def _record_acceptance(port: int, record: list) -> None:
    """Propose CT storage in every syntax, one context per syntax and one with all of them."""
    import asyncio

    from dimse import associate

    async def propose():
        contexts = [(CT_CLASS, [ts]) for ts in PROPOSED] + [(CT_CLASS, list(reversed(PROPOSED)))]
        assoc = await associate("127.0.0.1", port, contexts, calling_ae="RECORDER", called_ae="ANY")
        answer = [
            (c.context_id, c.result, c.transfer_syntax if c.result == 0 else "") for c in assoc.conn.accept_pdu.contexts
        ]
        await assoc.release()
        return answer

    try:
        record.append(asyncio.run(propose()))
    except Exception as exc:  # seen by the test as a missing answer, with the reason
        record.append(f"{type(exc).__name__}: {exc}")


@pytest.mark.parametrize("preference", PREFERENCES)
def test_accepted_syntax_as_dcmtk_movescu(move_scp, tmp_path, preference):
    """During a move, a recording requestor proposes CT storage in many syntaxes to DCMTK's movescu and
    to ours, both started with <preference>: the same contexts are accepted with the same syntaxes."""
    import subprocess

    answers = {}
    move_scp["datasets"] = [dcmread(CT_SMALL)]  # with no sub-operation the handler is not run on
    for name, tool in (("theirs", "/usr/bin/movescu"), ("mine", ours("movescu"))):
        if name == "theirs" and not Path(tool).exists():
            pytest.skip("DCMTK's movescu is not installed")
        listen = free_port()
        move_scp["destination_port"] = listen
        record: list = []
        move_scp["before"] = functools.partial(_record_acceptance, listen, record)
        out = tmp_path / name
        out.mkdir()
        subprocess.run(
            move_study_args(tool, "HOSTILE-QR", move_scp["port"], listen, out, preference),
            capture_output=True,
            timeout=60,
        )
        assert record, f"{name}: the recording requestor did not get an answer"
        answers[name] = record[0]
    assert answers["mine"] == answers["theirs"]


@pytest.mark.parametrize(
    ("allow", "deny", "arrives"),
    [
        ("", "movescu: ALL\n", False),
        ("movescu: 127.0.0.1\n", "ALL: ALL\n", True),
        ("", "movescu: 127.0.0.0/255.0.0.0\n", False),
        ("", "ALL: ALL EXCEPT 127.\n", True),
        ("storescp: ALL\n", "movescu: [::1], 127.0.0.1/8\n", False),
    ],
)
def test_host_access_control(move_scp, tmp_path, monkeypatch, allow, deny, arrives):
    """+ac with allow/deny files: a denied move SCP's sub-association is dropped, nothing stored."""
    (tmp_path / "allow").write_text(allow)
    (tmp_path / "deny").write_text(deny)
    monkeypatch.setenv("DIMSE_HOSTS_ALLOW", str(tmp_path / "allow"))
    monkeypatch.setenv("DIMSE_HOSTS_DENY", str(tmp_path / "deny"))
    out = tmp_path / "od"
    out.mkdir()
    move_scp["datasets"] = [dcmread(CT_SMALL)]
    done = movescu(move_scp, out, "+ac", "-dhl")
    assert "Traceback" not in done.stderr
    assert (len(list(out.iterdir())) == 1) is arrives
    assert ("Access control: refused connection from 127.0.0.1" in done.stderr) is not arrives


@pytest.mark.parametrize("promiscuous", [False, True])
def test_unknown_storage_class_only_when_asked(move_scp, tmp_path, promiscuous):
    """An object of a SOP class outside DCMTK's list: refused at negotiation, stored with -pm."""
    out = tmp_path / "od"
    out.mkdir()
    odd = dcmread(CT_SMALL)
    odd.SOPClassUID = odd.file_meta.MediaStorageSOPClassUID = PRIVATE_CLASS
    move_scp["datasets"] = [odd]
    done = movescu(move_scp, out, *(["-pm"] if promiscuous else []))
    assert "Traceback" not in done.stderr
    assert [p.name for p in out.iterdir()] == ([f"OT.{odd.SOPInstanceUID}"] if promiscuous else [])
