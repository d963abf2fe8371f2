"""Durable receipt: ``--fsync`` answers a C-STORE only once the object is on disk, and a killed
receiver's temporary files are neither sent on by a directory scan nor kept by the next start.

The order of the system calls is read from ``strace -f`` of the real tool (our storescp, our
movescu's Storage SCP) receiving from DCMTK: for each object the temporary file is synced, then
renamed, then its folder synced, and only then is the C-STORE-RSP written to the socket.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from dimse.files import storage
from dimse.files.storage import PART_FOLDER, FileSink

from .big_transfer import make_big_file
from .conftest import CT_SMALL, dcmtk, free_port, missing, ours, run, running, wait_for_port
from .test_movescu import LEVELS, archive  # noqa: F401  (the dcmqrscp fixture, module-scoped here too)

#: (0000,0100) Command Field = 0x8001 (C-STORE-RSP), little endian, as ``strace -x`` prints it
STORE_RSP = r"\x00\x00\x00\x01\x02\x00\x00\x00\x01\x80"
SYNCS = ("fsync", "fdatasync")
SENDS = ("sendto", "sendmsg", "write", "writev")
TRACED = "fsync,fdatasync,rename,renameat,renameat2,sendto,sendmsg,write,writev"


def strace() -> str:
    path = shutil.which("strace", path="/usr/bin:/bin:/usr/local/bin")
    if path is None:
        missing("strace is not installed (apt-get install strace)")
    return str(path)


def traced(trace: Path, args: list[str]) -> list[str]:
    """``args`` under strace: the calls that matter, file descriptors shown with their paths."""
    return [strace(), "-f", "-y", "-x", "-s", "512", "-e", f"trace={TRACED}", "-o", str(trace), *args]


@dataclass
class Call:
    name: str
    args: str
    started: int  # line of the trace where the call began
    done: int  # line where it returned (another thread's calls may come in between)


def calls(trace: Path) -> list[Call]:
    """The system calls of an ``strace -f`` output, calls split by another thread joined."""
    found: list[Call] = []
    pending: dict[tuple[str, str], tuple[int, str]] = {}
    for index, line in enumerate(trace.read_text(errors="replace").splitlines()):
        pid, _, rest = line.partition(" ")
        rest = rest.lstrip()
        if resumed := re.match(r"<\.\.\. (\w+) resumed>(.*)", rest):
            started, head = pending.pop((pid, resumed[1]), (index, ""))
            found.append(Call(resumed[1], head + resumed[2], started, index))
        elif call := re.match(r"(\w+)\((.*)", rest):
            if rest.endswith("<unfinished ...>"):
                pending[(pid, call[1])] = (index, call[2])
            else:
                found.append(Call(call[1], call[2], index, index))
    return found


def check_order(trace: Path, out: Path, objects: int) -> None:
    """For each object: sync of its temporary file < its rename into ``out`` < sync of ``out``
    < the C-STORE-RSP on the socket."""
    folder = os.path.realpath(out)
    seen = calls(trace)
    file_syncs = [c for c in seen if c.name in SYNCS and f"/{PART_FOLDER}/" in c.args]
    folder_syncs = [c for c in seen if c.name in SYNCS and f"<{folder}>" in c.args]
    responses = [c for c in seen if c.name in SENDS and STORE_RSP in c.args]
    assert len(file_syncs) == len(folder_syncs) == len(responses) == objects, seen
    for synced, folder_synced, answered in zip(file_syncs, folder_syncs, responses, strict=True):
        temporary = re.search(r"<([^<>]*)>", synced.args)
        assert temporary is not None
        (renamed,) = [c for c in seen if c.name.startswith("rename") and f'"{temporary[1]}"' in c.args]
        assert synced.done < renamed.started and renamed.done < folder_synced.started
        assert folder_synced.done < answered.started, (folder_synced, answered)


def tracee(proc: subprocess.Popen) -> int:
    """The pid of the program strace started (signals go to it, not to strace)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        pids = children.read_text().split() if children.exists() else []
        if pids:
            return int(pids[0])
        time.sleep(0.02)
    raise AssertionError("strace started nothing")


def stop_traced(proc: subprocess.Popen) -> str:
    os.kill(tracee(proc), signal.SIGTERM)
    output, _ = proc.communicate(timeout=20)
    return output


def ct_files(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    ds = dcmread(CT_SMALL)
    paths = []
    for i in range(count):
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.save_as(folder / f"f{i}.dcm")
        paths.append(folder / f"f{i}.dcm")
    return paths


def received(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir())


# ------------------------------------------------------------------------------ --fsync


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "default"])
def test_storescp_answers_after_the_object_is_on_disk(tmp_path, port, fsync):
    """Our storescp receiving two objects from DCMTK's storescu: with --fsync each response is
    written after its file was synced, renamed and its folder synced; without it nothing is
    synced (the default path is what it was), and the objects arrive either way."""
    files = ct_files(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    trace = tmp_path / "trace"
    args = [ours("storescp"), *(["--fsync"] if fsync else []), "-od", str(out), str(port)]
    proc = subprocess.Popen(traced(trace, args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, proc, timeout=30)
        sent = run([dcmtk("storescu"), "127.0.0.1", str(port), *map(str, files)])
    finally:
        log = stop_traced(proc)
    assert sent.returncode == 0, sent.stderr
    assert received(out) == sorted(f"CT.{dcmread(f).SOPInstanceUID}" for f in files), log
    if fsync:
        check_order(trace, out, 2)
    else:
        seen = calls(trace)
        assert not [c for c in seen if c.name in SYNCS]
        assert len([c for c in seen if c.name in SENDS and STORE_RSP in c.args]) == 2


@pytest.mark.parametrize("options", [[], ["+ti"]], ids=["as-received", "re-encoded"])
def test_movescu_answers_after_the_object_is_on_disk(archive, tmp_path, options):  # noqa: F811
    """Our movescu --fsync moving a study from DCMTK's dcmqrscp: its Storage SCP answers the
    C-STORE after the object (as received, or re-encoded with +ti) is on disk."""
    out = tmp_path / "out"
    out.mkdir()
    trace = tmp_path / "trace"
    args = [ours("movescu"), "--fsync", *options, "-aet", "MOVESCU", "-aec", "QRSCP", "--port"]
    args += [str(archive.move_port), "-od", str(out), *LEVELS["study"], "127.0.0.1", str(archive.port)]
    done = run(traced(trace, args), timeout=60)
    assert done.returncode == 0, done.stderr
    assert received(out) == [f"CT.{dcmread(CT_SMALL).SOPInstanceUID}"]
    check_order(trace, out, 1)


# ------------------------------------------------------------------ temporary files


def test_temporary_file_is_in_the_hidden_folder_named_for_the_process(tmp_path):
    """The temporary file is ``.dimse-part/<host>-<pid>-<name>``; a commit leaves the folder
    (the next object needs it), a discard that empties it removes it."""
    kept, dropped = FileSink(str(tmp_path / "CT.1.2.3")), FileSink(str(tmp_path / "CT.1.2.4"))
    part = tmp_path / PART_FOLDER
    host = storage.temporary_prefix().split("-")[0]
    assert "-" not in host and sorted(os.listdir(part)) == [f"{host}-{os.getpid()}-CT.1.2.{i}" for i in (3, 4)]
    kept.write(b"data")
    kept.commit()
    assert received(tmp_path) == [PART_FOLDER, "CT.1.2.3"] and (tmp_path / "CT.1.2.3").read_bytes() == b"data"
    dropped.discard()
    assert received(tmp_path) == ["CT.1.2.3"]


def test_a_taken_temporary_name_gets_a_random_one_with_the_same_start_and_mode(tmp_path):
    """The same object arriving twice at once in one process: the second temporary file has a
    random name that still starts with ``<host>-<pid>-<name>`` (the start-up sweep knows it) and
    the mode of received files (mkstemp makes 0600)."""
    first, second = FileSink(str(tmp_path / "CT.1.2.3")), FileSink(str(tmp_path / "CT.1.2.3"))
    try:
        names = sorted(os.listdir(tmp_path / PART_FOLDER))
        expected = storage.temporary_prefix() + "CT.1.2.3"
        assert names[0] == expected and names[1].startswith(expected + ".") and len(names) == 2
        assert (tmp_path / PART_FOLDER / names[1]).stat().st_mode & 0o777 == storage.FILE_MODE
    finally:
        first.discard()
        second.discard()
    assert received(tmp_path) == []


def test_movescu_removes_what_a_dead_receiver_left(archive, tmp_path):  # noqa: F811
    """Our movescu --port on an output folder with a dead process's temporary file (and one of a
    live process): the dead one's is removed, with a W: line, before the move; the live one stays."""
    out = tmp_path / "out"
    (out / PART_FOLDER).mkdir(parents=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    host = storage.temporary_prefix().split("-")[0]
    dead, live = (out / PART_FOLDER / f"{host}-{pid}-CT.1.2.3" for pid in (gone.pid, os.getpid()))
    dead.write_bytes(b"half")
    live.write_bytes(b"being received")
    args = [ours("movescu"), "-aet", "MOVESCU", "-aec", "QRSCP", "--port", str(archive.move_port), "-od", str(out)]
    done = run([*args, *LEVELS["study"], "127.0.0.1", str(archive.port)])
    assert done.returncode == 0, done.stderr
    line = f"W: removed 1 temporary file(s) left by stopped receivers in {out / PART_FOLDER}"
    assert line in done.stderr.splitlines(), done.stderr
    assert received(out / PART_FOLDER) == [live.name]
    assert received(out) == [PART_FOLDER, f"CT.{dcmread(CT_SMALL).SOPInstanceUID}"]


def test_storescp_ignore_and_a_clean_stop_leave_no_temporary_folder(tmp_path, port):
    """--ignore writes nothing, not even the temporary folder; a storescp stopped with SIGTERM
    removes its empty temporary folder: the output folder holds the received files only."""
    for extra in (["--ignore"], []):
        out = tmp_path / f"out{len(extra)}"
        out.mkdir()
        with running([ours("storescp"), *extra, "-od", str(out), str(port)], port) as proc:
            sent = run([dcmtk("storescu"), "127.0.0.1", str(port), str(CT_SMALL)])
            assert sent.returncode == 0, sent.stderr
            assert (out / PART_FOLDER).exists() is not bool(extra)
            proc.terminate()
            proc.wait(timeout=10)
        assert received(out) == ([] if extra else [f"CT.{dcmread(CT_SMALL).SOPInstanceUID}"])


def _kill_while_receiving(out: Path, port: int, big: Path) -> tuple[int, Path]:
    """Our storescp killed (SIGKILL) while DCMTK's storescu sends it ``big``: the pid it had
    and the temporary file it left."""
    scp = subprocess.Popen([ours("storescp"), "-od", str(out), str(port)], stdout=subprocess.DEVNULL)
    sender = None
    try:
        wait_for_port(port, scp)
        sender = subprocess.Popen([dcmtk("storescu"), "127.0.0.1", str(port), str(big)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not list((out / PART_FOLDER).glob("*")) and time.monotonic() < deadline:
            time.sleep(0.002)
        sender.send_signal(signal.SIGSTOP)  # the data set stays incomplete
        scp.kill()
        scp.wait(timeout=10)
    finally:
        if sender is not None:
            sender.kill()
            sender.send_signal(signal.SIGCONT)
            sender.wait(timeout=10)
        if scp.poll() is None:
            scp.kill()
            scp.wait()
    (left,) = (out / PART_FOLDER).iterdir()
    return scp.pid, left


def test_a_killed_storescp_leaves_nothing_that_is_sent_on_or_kept(tmp_path, port):
    """kill -9 of our storescp in the middle of a 50 MB data set: its temporary file is in
    .dimse-part, named for it; neither our storescu +sd +r nor DCMTK's storescu +sd of the output
    folder sends it (the complete object beside it is sent); a storescp started again on the
    folder removes it and says so, and leaves the files of a live process and of another host."""
    out = tmp_path / "out"
    out.mkdir()
    big = tmp_path / "big.dcm"
    make_big_file(big, 50 << 20)
    with running([ours("storescp"), "-od", str(out), str(port)], port):
        assert run([dcmtk("storescu"), "127.0.0.1", str(port), str(CT_SMALL)]).returncode == 0
    complete = f"CT.{dcmread(CT_SMALL).SOPInstanceUID}"
    pid, left = _kill_while_receiving(out, port, big)
    assert left.name.startswith(f"{storage.temporary_prefix().split('-')[0]}-{pid}-SC.")
    assert left.name.endswith(str(dcmread(big, stop_before_pixels=True).SOPInstanceUID))
    assert received(out) == [PART_FOLDER, complete]

    for name, sender in (("ours", [ours("storescu"), "+sd", "+r"]), ("dcmtk", [dcmtk("storescu"), "+sd"])):
        copy = tmp_path / f"copy-{name}"
        copy.mkdir()
        other = free_port()
        with running([dcmtk("storescp"), "-od", str(copy), str(other)], other):
            sent = run([*sender, "127.0.0.1", str(other), str(out)])
        assert sent.returncode == 0, sent.stderr
        assert received(copy) == [complete], name

    live = out / PART_FOLDER / f"{storage.temporary_prefix().split('-')[0]}-{os.getpid()}-CT.1.2.3"
    foreign = out / PART_FOLDER / "otherhost-999999999-CT.1.2.4"
    live.write_bytes(b"being received")
    foreign.write_bytes(b"who knows")
    with running([ours("storescp"), "-od", str(out), str(port)], port) as proc:
        assert not left.exists()
        proc.terminate()
        log, _ = proc.communicate(timeout=10)
    folder = out / PART_FOLDER
    assert f"W: removed 1 temporary file(s) left by stopped receivers in {folder}" in log.splitlines(), log
    assert sorted(p.name for p in folder.iterdir()) == sorted([live.name, foreign.name])
