"""Hostile peers against our storescp: garbage, huge lengths, stalls, aborts mid data set,
UIDs that try to leave the output directory.  After each, an honest DCMTK echoscu must
still be served, and nothing partial may be left in -od.

The hostile side is a raw socket speaking bytes built with our own PDU encoder.
"""

from __future__ import annotations

import socket
import struct

import pytest

from dimse.core.commands import c_store_rq, decode_command, encode_command
from dimse.core.negotiation import build_request
from dimse.core.pdu import AssociateAC, encode, pdata_header
from dimse.files.part10 import read_part10_header
from dimse.files.storage import PART_FOLDER

from .conftest import CT_SMALL, dcmtk, ours, run, running
from .rawpeer import closed_by_peer, connect, read_pdu

CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
LEE = "1.2.840.10008.1.2.1"


def associate_raw(port: int) -> tuple[socket.socket, int]:
    sock = connect(port)
    sock.sendall(encode(build_request("HOSTILE", "STORESCP", [(CT_CLASS, [LEE])])))
    ac = read_pdu(sock)
    assert isinstance(ac, AssociateAC)
    ctx = next(c.context_id for c in ac.contexts if c.result == 0)
    return sock, ctx


def honest_echo_works(port: int) -> bool:
    return run([dcmtk("echoscu"), "127.0.0.1", str(port)], timeout=30).returncode == 0


@pytest.fixture
def scp(port, tmp_path):
    with running([ours("storescp"), "-ta", "2", "-ts", "3", "-od", str(tmp_path), str(port)], port) as proc:
        yield port, tmp_path, proc


GARBAGE = [
    b"\x00" * 64,
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x01\x00\xff\xff\xff\xff",  # A-ASSOCIATE-RQ claiming 4 GB
    b"\x04\x00\xff\xff\xff\xf0" + b"\x00" * 100,  # P-DATA-TF claiming 4 GB before association
    b"\x09\x00\x00\x00\x00\x04\x00\x00\x00\x00",  # unknown PDU type
    b"\x01\x00\x00\x00\x00\x10" + b"\xff" * 16,  # truncated associate body
]


@pytest.mark.parametrize("junk", GARBAGE, ids=range(len(GARBAGE)))
def test_garbage_then_echo(scp, junk):
    """Raw garbage -> our storescp: the connection is dropped (A-ABORT or close), the next echo works."""
    port, out, _ = scp
    sock = connect(port)
    sock.sendall(junk)
    assert closed_by_peer(sock)
    sock.close()
    assert honest_echo_works(port)


def test_huge_pdata_length_after_association(scp):
    """A P-DATA-TF claiming 4 GB inside an association -> A-ABORT, nothing allocated, next echo works."""
    port, out, _ = scp
    sock, _ = associate_raw(port)
    sock.sendall(b"\x04\x00\xff\xff\xff\xff")
    reply = read_pdu(sock)
    assert type(reply).__name__ == "Abort"
    assert reply.source == 2
    sock.close()
    assert honest_echo_works(port)


def test_silent_connection_is_closed_by_artim(scp):
    """A peer that connects and says nothing is dropped after the ACSE timeout (ARTIM), not kept forever."""
    port, out, _ = scp
    sock = connect(port)
    assert closed_by_peer(sock)
    assert honest_echo_works(port)


def test_stall_mid_pdu_is_dropped(scp):
    """A peer that stops in the middle of a PDU is dropped by the socket timeout."""
    port, out, _ = scp
    sock, ctx = associate_raw(port)
    sock.sendall(pdata_header(ctx, 1000, True, True) + b"\x00" * 10)
    assert closed_by_peer(sock)
    assert honest_echo_works(port)


def start_store(sock: socket.socket, ctx: int, sop_instance: str) -> bytes:
    """Send a C-STORE-RQ command; returns the CT's data set bytes for the caller to send."""
    header = read_part10_header(CT_SMALL)
    command = encode_command(c_store_rq(1, CT_CLASS, sop_instance))
    sock.sendall(pdata_header(ctx, len(command), True, True) + command)
    return CT_SMALL.read_bytes()[header.dataset_offset :]


def send_data(sock: socket.socket, ctx: int, data: bytes, complete: bool) -> None:
    """Data set fragments within the server's 16384-byte maximum PDU."""
    step = 16384 - 12
    for start in range(0, len(data), step):
        piece = data[start : start + step]
        last = complete and start + step >= len(data)
        sock.sendall(pdata_header(ctx, len(piece), False, last) + piece)


def test_abort_in_the_middle_of_a_data_set_leaves_no_file(scp):
    """Half a data set, then A-ABORT -> no file and no temporary file in -od."""
    port, out, _ = scp
    sock, ctx = associate_raw(port)
    data = start_store(sock, ctx, "1.2.3.4.5")
    send_data(sock, ctx, data[: len(data) // 2], complete=False)
    sock.sendall(bytes([7, 0, 0, 0, 0, 4, 0, 0, 0, 0]))  # A-ABORT
    sock.close()
    assert honest_echo_works(port)
    assert list(out.iterdir()) == []


def test_connection_drop_in_the_middle_of_a_data_set_leaves_no_file(scp):
    """Half a data set, then the TCP connection closes -> nothing in -od."""
    port, out, _ = scp
    sock, ctx = associate_raw(port)
    data = start_store(sock, ctx, "1.2.3.4.6")
    send_data(sock, ctx, data[: len(data) // 2], complete=False)
    sock.close()
    assert honest_echo_works(port)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("uid", ["../../x", "../escape", "1.2/3", "/etc/passwd", "..", ""])
def test_path_traversal_uid_is_refused(scp, uid):
    """A C-STORE whose SOP Instance UID is not a UID -> failure status, nothing written anywhere."""
    port, out, _ = scp
    sock, ctx = associate_raw(port)
    send_data(sock, ctx, start_store(sock, ctx, uid), complete=True)
    reply = read_pdu(sock)
    rsp = decode_command(reply.pdvs[0].data)
    assert rsp.Status == 0xC000
    sock.close()
    assert list(out.iterdir()) == []
    assert not (out.parent / "x").exists()
    assert not (out.parent / "escape").exists()
    assert honest_echo_works(port)


def test_many_connections_opened_and_dropped(scp):
    """100 connections opened and closed at once: the server survives and serves the next echo."""
    port, out, _ = scp
    socks = [connect(port) for _ in range(100)]
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    assert honest_echo_works(port)


def test_complete_raw_store_writes_file(scp):
    """Control for the tests above: the same raw client, completing the data set, gets a file."""
    port, out, _ = scp
    sock, ctx = associate_raw(port)
    send_data(sock, ctx, start_store(sock, ctx, "1.2.3.4.7"), complete=True)
    rsp = decode_command(read_pdu(sock).pdvs[0].data)
    assert rsp.Status == 0
    sock.close()
    assert [p.name for p in out.iterdir() if p.name != PART_FOLDER] == ["CT.1.2.3.4.7"]
