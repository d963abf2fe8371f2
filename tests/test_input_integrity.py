"""storescu's input files: nothing acknowledged that is not good, nothing lost that was.

Side by side with DCMTK's storescu (``/usr/bin/storescu``) and ours (the venv's), against the
same peer: files that vanish, change, are corrupt, endless or not files at all.  The peer is
pynetdicom (a Storage SCP whose handlers can touch the sender's files at a known moment) or
DCMTK's storescp.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from dimse import associate
from dimse.files.part10 import BadDicomFile
from dimse.files.storage import PART_FOLDER

from .conftest import CT_SMALL, dcmtk, ours, run, running
from .test_scan import with_stray_delimiter

pynetdicom = pytest.importorskip("pynetdicom")
from pynetdicom import AE, evt  # noqa: E402
from pynetdicom.sop_class import CTImageStorage  # noqa: E402

LEE, LEI = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"


def ct_copies(folder: Path, count: int, pixels: int = 0) -> list[Path]:
    """``count`` CT files with their own SOP Instance UIDs; ``pixels`` bytes of pixel data
    (0: CT_small's own)."""
    folder.mkdir(exist_ok=True)
    ds = dcmread(CT_SMALL)
    if pixels:
        ds.Rows, ds.Columns = pixels // 1024, 512
        ds.PixelData = bytes(pixels)
    paths = []
    for i in range(count):
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        path = folder / f"f{i}.dcm"
        ds.save_as(path)
        paths.append(path)
    return paths


@contextlib.contextmanager
def storage_scp(port: int, on_store=None, on_data=None) -> Iterator[list[str]]:
    """pynetdicom storing CT (LEE/LEI); yields the SOP Instance UIDs it stored.  ``on_store``
    runs before each response (with the number of objects stored so far), ``on_data`` on each
    P-DATA received."""
    stored: list[str] = []
    lock = threading.Lock()
    ae = AE("PYSCP")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_supported_context(CTImageStorage, [LEE, LEI])

    def store(event):
        with lock:
            stored.append(event.request.AffectedSOPInstanceUID)
            count = len(stored)
        if on_store is not None:
            on_store(count)
        return 0x0000

    handlers = [(evt.EVT_C_STORE, store)]
    if on_data is not None:
        handlers.append((evt.EVT_DATA_RECV, lambda event: on_data(len(event.data))))
    ae.start_server(("127.0.0.1", port), block=False, evt_handlers=handlers)
    try:
        yield stored
    finally:
        ae.shutdown()


def errors(stderr: str) -> list[str]:
    """The E:/F: lines, DCMTK's parser warnings (W: DcmItem ...) left out."""
    return [line for line in stderr.splitlines() if line.startswith(("E:", "F:"))]


def uid_of(path: Path) -> str:
    return str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)


@pytest.mark.parametrize("tool", ["dcmtk", "ours"])
def test_a_file_removed_before_its_turn_is_reported_and_the_rest_sent(port, tmp_path, tool):
    """DCMTK's storescu / ours, -nh: the peer removes f3 while storing f1; f3 is reported as
    DCMTK reports it (no such file) and every other file arrives, on the one association."""
    files = ct_copies(tmp_path / "in", 5)

    def remove_third(count: int) -> None:
        if count == 1:
            files[3].unlink()

    binary = dcmtk("storescu") if tool == "dcmtk" else ours("storescu")
    expected = [uid_of(p) for i, p in enumerate(files) if i != 3]
    with storage_scp(port, on_store=remove_third) as stored:
        result = run([binary, "-nh", "-aec", "PYSCP", "127.0.0.1", str(port), *map(str, files)])
    assert errors(result.stderr) == [f"E: Bad DICOM file: {files[3]}: No such file or directory"]
    assert result.returncode == 0
    assert stored == expected


@pytest.mark.parametrize("tool", ["dcmtk", "ours"])
def test_a_file_removed_before_its_turn_halts_as_dcmtk_does(port, tmp_path, tool):
    """Without -nh: the same two lines as DCMTK's, exit 1, nothing after the missing file."""
    files = ct_copies(tmp_path / "in", 4)

    def remove_third(count: int) -> None:
        if count == 1:
            files[2].unlink()

    binary = dcmtk("storescu") if tool == "dcmtk" else ours("storescu")
    with storage_scp(port, on_store=remove_third) as stored:
        result = run([binary, "-aec", "PYSCP", "127.0.0.1", str(port), *map(str, files)])
    assert errors(result.stderr) == [
        f"E: Bad DICOM file: {files[2]}: No such file or directory",
        "E: Store SCU Failed: 0001:0012 No such file or directory",
    ]
    assert result.returncode == 1
    assert stored == [uid_of(files[0]), uid_of(files[1])]


@pytest.mark.parametrize("tool", ["dcmtk", "ours"])
def test_two_paths_to_one_file_under_rename(port, tmp_path, tool):
    """+rn with one file named twice: the first store renames it, the second finds it gone
    (DCMTK's lines); the good file is renamed .done, never .bad, and -nh goes on."""
    files = ct_copies(tmp_path / "in", 2)
    binary = dcmtk("storescu") if tool == "dcmtk" else ours("storescu")
    args = [binary, "-nh", "+rn", "-aec", "PYSCP", "127.0.0.1", str(port), str(files[0]), str(files[0]), str(files[1])]
    with storage_scp(port) as stored:
        result = run(args)
    assert errors(result.stderr) == [f"E: Bad DICOM file: {files[0]}: No such file or directory"]
    assert f"W: cannot rename file '{files[0]}' to '{files[0]}.bad'" in result.stderr
    assert result.returncode == 0
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["f0.dcm.done", "f1.dcm.done"]
    assert len(stored) == 2


@pytest.mark.parametrize("halt", [True, False])
def test_a_file_truncated_while_it_is_sent_aborts_only_its_association(port, tmp_path, halt):
    """Ours: f1 (16 MB) is cut short by the peer's side while its data set is on the wire.
    Its association is aborted (the peer must not take half a data set for a whole one) and
    it is reported; with -nh the files after it go out on a new association."""
    small = ct_copies(tmp_path / "a", 1)
    big = ct_copies(tmp_path / "b", 1, pixels=16 << 20)[0]
    rest = ct_copies(tmp_path / "c", 2)
    received = [0]

    def cut_when_big_is_under_way(size: int) -> None:
        received[0] += size
        if received[0] > (1 << 20) and big.stat().st_size > 4096:
            os.truncate(big, 4096)

    args = [ours("storescu"), "-v", "-aec", "PYSCP", "127.0.0.1", str(port), str(small[0]), str(big), *map(str, rest)]
    if not halt:
        args.insert(1, "-nh")
    with storage_scp(port, on_data=cut_when_big_is_under_way) as stored:
        result = run(args)
    assert f"E: Store Failed, file: {big}:" in result.stderr
    assert re.search(r"E: 0001:000a I/O suspension or premature end of stream \(the file ended \d+ bytes early", result.stderr)
    assert "Traceback" not in result.stderr
    assert uid_of(big) not in stored if big.stat().st_size > 1000 else True
    if halt:
        assert result.returncode == 1
        assert "E: Store SCU Failed: 0001:000a I/O suspension or premature end of stream" in result.stderr
        assert stored == [uid_of(small[0])]
    else:
        assert result.returncode == 0, result.stderr
        assert result.stderr.count("I: Requesting Association") == 2
        assert stored == [uid_of(small[0]), *map(uid_of, rest)]


CORRUPT_CASES = ["truncated", "flipped-length", "text", "dev-zero", "no-meta-fo"]


def corrupt_input(kind: str, folder: Path) -> str:
    folder.mkdir(exist_ok=True)
    data = CT_SMALL.read_bytes()
    if kind == "truncated":
        path = folder / "cut.dcm"
        path.write_bytes(data[: len(data) // 2])
    elif kind == "flipped-length":  # one bit of the length of (0020,0052) Frame of Reference UID
        path = folder / "flipped.dcm"
        at = data.index(b"\x20\x00\x52\x00UI")
        path.write_bytes(data[: at + 6] + bytes([data[at + 6] ^ 0x10]) + data[at + 7 :])
    elif kind == "text":
        path = folder / "notes.txt"
        path.write_text("hello, this is not a DICOM file\n" * 20)
    elif kind == "dev-zero":
        return "/dev/zero"
    else:
        start = data.index(b"\x08\x00\x05\x00")  # the data set after the meta group
        path = folder / "bare.dcm"
        path.write_bytes(data[start:])
    return str(path)


@pytest.mark.parametrize("kind", CORRUPT_CASES)
def test_bad_input_gets_dcmtk_lines_and_exit_code(port, tmp_path, kind):
    """DCMTK's storescu and ours on the same bad input, to DCMTK's storescp: the same E: lines
    and exit code; nothing stored; the good file after it arrives with -nh."""
    bad = corrupt_input(kind, tmp_path / "in")
    read_mode = ["+fo"] if kind == "no-meta-fo" else []
    outcome = {}
    for tool in ("dcmtk", "ours"):
        out = tmp_path / f"out-{tool}"
        out.mkdir()
        binary = dcmtk("storescu") if tool == "dcmtk" else ours("storescu")
        with running([dcmtk("storescp"), "-od", str(out), str(port)], port):
            halted = run([binary, *read_mode, "127.0.0.1", str(port), bad], timeout=20)
            goes_on = run([binary, *read_mode, "-nh", "127.0.0.1", str(port), bad, str(CT_SMALL)], timeout=20)
        outcome[tool] = (errors(halted.stderr), halted.returncode, errors(goes_on.stderr), goes_on.returncode)
        assert len(list(out.iterdir())) == 1, f"{tool}: only the good file is stored"
    assert outcome["ours"] == outcome["dcmtk"]
    assert any("Bad DICOM file" in line for line in outcome["ours"][0])


def test_truncated_while_in_an_operations_window_resends_what_was_in_flight(port, tmp_path):
    """Ours -> our storescp, which grants a window of 16: f0 and f1 go out without waiting, then
    the 32 MB f2, cut short on disk as soon as it starts arriving (its temporary file appears).
    f2's association is aborted; with -nh every other file arrives (what was in flight is sent
    again on the new association)."""
    first = ct_copies(tmp_path / "a", 2)
    big = ct_copies(tmp_path / "b", 1, pixels=32 << 20)[0]
    last = ct_copies(tmp_path / "c", 1)
    out = tmp_path / "out"
    out.mkdir()
    name = f"*-CT.{uid_of(big)}"  # storescp's temporary file: f2 is on the wire
    done = threading.Event()

    def cut_when_it_arrives() -> None:
        while not done.is_set():
            if any((out / PART_FOLDER).glob(name)):
                os.truncate(big, 4096)
                return
            done.wait(0.005)

    watcher = threading.Thread(target=cut_when_it_arrives)
    files = [*map(str, first), str(big), *map(str, last)]
    with running([ours("storescp"), "-od", str(out), str(port)], port):
        watcher.start()
        try:
            result = run([ours("storescu"), "-v", "-nh", "127.0.0.1", str(port), *files])
        finally:
            done.set()
            watcher.join()
    assert result.returncode == 0, result.stderr
    assert f"E: Store Failed, file: {big}:" in result.stderr
    assert result.stderr.count("I: Requesting Association") == 2
    stored = sorted(p.name for p in out.iterdir())
    assert stored == sorted(f"CT.{uid_of(Path(f))}" for f in [*first, *last])


def test_store_file_refuses_what_storescu_refuses(port, tmp_path):
    """The API's store_file and storescu read a file the one way (files.source): a data set
    broken inside is refused by both in the same words before anything of it is sent, and the
    association goes on."""
    broken = with_stray_delimiter(tmp_path)

    async def api() -> tuple[BadDicomFile, int]:
        assoc = await associate("127.0.0.1", port, [(CTImageStorage, [LEE, LEI])], called_ae="PYSCP")
        try:
            with pytest.raises(BadDicomFile) as caught:
                await assoc.store_file(broken)
            status = (await assoc.store_file(CT_SMALL)).Status
        finally:
            await assoc.release()
        return caught.value, status

    with storage_scp(port) as stored:
        refused, status = asyncio.run(api())
        result = run([ours("storescu"), "-aec", "PYSCP", "127.0.0.1", str(port), broken])
    assert status == 0 and stored == [uid_of(CT_SMALL)]
    assert f"E: Bad DICOM file: {broken}: {refused}" in result.stderr
    assert refused.condition_line == "0001:0006 Corrupted data"
