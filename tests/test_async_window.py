"""The asynchronous operations window (PS3.7 D.3.3.3): storescu keeps as many C-STOREs in flight
as the acceptor grants; our acceptors grant a window (``--async-window``); responses are matched to
requests by message ID, whatever their order; a granted window of one behaves as DCMTK does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from dimse.core import events as ev
from dimse.core.commands import response_to
from dimse.core.connection import Connection
from dimse.core.negotiation import AcceptorPolicy, build_request, negotiate
from dimse.net.association import Association, Timeouts
from dimse.store.sender import Dots, InFlight, Outcome, Progress, SendOptions, StoreWindow, send_file, start_file

from .conftest import ours, run, running
from .test_storescu import keep_into, pynetdicom_scp

LEE = "1.2.840.10008.1.2.1"


def make_files(folder: Path, count: int, size: int = 2048) -> list[Path]:
    """``count`` small CT objects with distinct pixel bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        ds = Dataset()
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, generate_uid()
        ds.PatientName, ds.InstanceNumber = "Window^Test", i + 1
        ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, size, 8, 8, 7
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = 1, "MONOCHROME2", 0
        ds.PixelData = bytes([i % 256]) * size
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = (
            CTImageStorage,
            ds.SOPInstanceUID,
        )
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"f{i:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def lines_about_stores(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "Store Request" in line or "Store Response" in line]


def assert_arrived_equal(files: list[Path], out: Path) -> None:
    received = {dcmread(p).SOPInstanceUID: dcmread(p) for p in out.iterdir()}
    assert len(received) == len(files)
    for path in files:
        original = dcmread(path)
        got = received[original.SOPInstanceUID]
        got.file_meta = original.file_meta
        assert got == original, path


def test_window_is_used_with_our_storescp(port, tmp_path):
    """our storescu -> our storescp, both with a window of 8: several requests go out before the
    first response, every file arrives equal, exit 0."""
    files = make_files(tmp_path / "in", 20)
    out = tmp_path / "out"
    out.mkdir()
    with running([ours("storescp"), "--async-window", "8", "-od", str(out), str(port)], port):
        result = run([ours("storescu"), "-v", "--async-window", "8", "127.0.0.1", str(port), *map(str, files)])
    assert result.returncode == 0, result.stderr
    stores = lines_about_stores(result.stderr)
    first_response = next(i for i, line in enumerate(stores) if "Received Store Response" in line)
    assert first_response > 1, stores[:4]  # MsgID 2 was sent before MsgID 1 was answered
    assert sum("Received Store Response (Success)" in line for line in stores) == len(files)
    assert_arrived_equal(files, out)


@pytest.mark.parametrize("granted", ["1", None])
def test_window_of_one_alternates_as_dcmtk(port, tmp_path, granted):
    """A storescp granting one operation (--async-window 1), or a storescu not proposing any: each
    request waits for its response, as in DCMTK."""
    files = make_files(tmp_path / "in", 5)
    out = tmp_path / "out"
    out.mkdir()
    scp_args = ["--async-window", granted] if granted else []
    scu_args = [] if granted else ["--async-window", "1"]
    with running([ours("storescp"), *scp_args, "-od", str(out), str(port)], port):
        result = run([ours("storescu"), "-v", *scu_args, "127.0.0.1", str(port), *map(str, files)])
    assert result.returncode == 0, result.stderr
    stores = lines_about_stores(result.stderr)
    assert [("Sending" in line) for line in stores] == [True, False] * len(files)
    assert_arrived_equal(files, out)


def test_pynetdicom_peer_gets_files_equal(tmp_path):
    """our storescu (proposing a window) -> pynetdicom's Storage SCP: all arrive equal, exit 0."""
    files = make_files(tmp_path / "in", 6)
    kept: list = []
    with pynetdicom_scp({CTImageStorage: [LEE]}, keep_into(kept)) as port:
        result = run([ours("storescu"), "127.0.0.1", str(port), *map(str, files)])
    assert result.returncode == 0, result.stderr
    assert len(kept) == len(files)
    for path, got in zip(files, kept, strict=True):
        original = dcmread(path)
        got.file_meta = original.file_meta
        assert got == original


class ReversingAcceptor:
    """A scripted acceptor (sans-IO core over a plain socket) granting a window of ``window``: it
    reads ``window`` C-STOREs, then answers them in reverse order, status 0xB000 for odd IDs."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn, contextlib.suppress(OSError):
            core = Connection(requestor=False)
            core.connection_made()
            policy = AcceptorPolicy(transfer_syntaxes={CTImageStorage: [LEE]}, async_ops=(self.window, 1))
            requests = []
            while True:
                event = core.next_event()
                if event is None:
                    data = conn.recv(65536)
                    core.receive_data(data)
                    if not data:
                        return
                elif isinstance(event, ev.AssociationRequested):
                    core.accept(negotiate(event.request, policy))
                elif isinstance(event, ev.CommandReceived):
                    requests.append(event)
                elif isinstance(event, ev.DataReceived) and event.last and len(requests) == self.window:
                    for rq in reversed(requests):
                        status = 0xB000 if rq.command.MessageID % 2 else 0x0000
                        core.send_command(rq.context_id, response_to(rq.command, status))
                    requests.clear()
                elif isinstance(event, ev.ReleaseRequested):
                    core.release_response()
                for chunk in core.data_to_send():
                    conn.sendall(chunk)
                if core.should_close:
                    return


def test_responses_out_of_order_are_matched_by_message_id(tmp_path):
    """Four C-STOREs outstanding, answered in reverse order: each outcome gets its own status."""
    files = make_files(tmp_path / "in", 4)
    peer = ReversingAcceptor(window=4)

    async def scenario() -> list:
        rq = build_request("SCU", "ANY-SCP", [(CTImageStorage, [LEE])], async_ops=(8, 1))
        assoc = await Association.request("127.0.0.1", peer.port, rq, Timeouts(acse=10, dimse=10, socket=10))
        assert assoc.operations_window == 4  # what the acceptor granted, not what we proposed
        window = StoreWindow(assoc, assoc.operations_window, logging.getLogger("test"), Dots(False))
        outcomes = []
        for path in files:
            outcomes += await window.submit(str(path), SendOptions())
        assert len(window.outstanding) == 4
        outcomes += await window.finish()
        await assoc.release()
        return outcomes

    outcomes = asyncio.run(scenario())
    by_path = {o.path: o.status for o in outcomes}
    assert by_path == {str(p): (0xB000 if i % 2 == 0 else 0x0000) for i, p in enumerate(files)}


def test_no_window_item_means_one(tmp_path):
    """An acceptor that does not answer the window item (DCMTK): one operation at a time."""
    files = make_files(tmp_path / "in", 1)
    assert files
    peer_policy = AcceptorPolicy(transfer_syntaxes={CTImageStorage: [LEE]})
    rq = build_request("SCU", "ANY-SCP", [(CTImageStorage, [LEE])])
    ac = negotiate(rq, peer_policy)
    assert ac.user_info.async_ops is None
    rq = build_request("SCU", "ANY-SCP", [(CTImageStorage, [LEE])], async_ops=(16, 1))
    assert negotiate(rq, peer_policy).user_info.async_ops == (1, 1)
    assert negotiate(
        rq, AcceptorPolicy(transfer_syntaxes={CTImageStorage: [LEE]}, async_ops=(4, 1))
    ).user_info.async_ops == (4, 1)


def test_start_file_leaves_the_response_to_come_send_file_waits_for_it(tmp_path):
    """start_file gives the store in flight (its response read later, as the window does);
    send_file gives the finished Outcome: which one does not depend on a flag."""
    files = make_files(tmp_path / "in", 2)
    peer = ReversingAcceptor(window=1)  # answers each C-STORE at once: 0xB000 for odd message IDs
    log = logging.getLogger("test")

    async def scenario() -> tuple[object, int, object]:
        rq = build_request("SCU", "ANY-SCP", [(CTImageStorage, [LEE])], async_ops=(2, 1))
        assoc = await Association.request("127.0.0.1", peer.port, rq, Timeouts(acse=10, dimse=10, socket=10))
        try:
            started = await start_file(assoc, str(files[0]), SendOptions(), log, Progress(Dots(False)))
            assert isinstance(started, InFlight)
            rsp = await assoc.store_response([started.message_id])
            finished = await send_file(assoc, str(files[1]), SendOptions(), log, Progress(Dots(False)))
        finally:
            await assoc.release()
        return started, rsp.Status, finished

    started, first_status, finished = asyncio.run(scenario())
    assert isinstance(started, InFlight) and started.outcome.status is None and first_status == 0xB000
    assert isinstance(finished, Outcome) and finished.status == 0x0000 and finished.ok
