"""storescu's ``--journal``: what a ``kill -9`` costs, and what the journal never confuses.

A kill at any moment loses only the stores in flight: a run given the same journal sends
every file the journal does not record as stored, and nothing it does.  A journal never
vouches for a file of another file set, nor for a file changed since; a torn last line is
ignored; a file that is no journal, or a journal path that cannot be written, stops the run
before anything is sent.  The receiver that counts is pynetdicom (a second implementation,
in a thread of this process: it grants an operations window of 1, never more) or our
storescp (window 16, storescu's default).  docs/scale.md quotes what these tests measure.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from .conftest import free_port, ours, run, wait_for_port

SC_IMAGE = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
#: below pydicom's UID root, for objects made up by these tests
UID_ROOT = "1.2.826.0.1.3680043.8.498.20261"
N_FILES = 2000
KILLS = 12
STORESCP_WINDOW = 16  # what our storescp grants and our storescu proposes by default
PYNETDICOM_WINDOW = 1  # pynetdicom answers any window request with (1, 1)


# ---------------------------------------------------------------------------- test data


def instance_uid(series: int, number: int) -> str:
    """Every UID of a series has the same length (a template's bytes are patched), and no
    component starts with 0."""
    return f"{UID_ROOT}.{series}.{1_000_000 + number}"


def template(series: int, patient: str) -> bytes:
    """A Part 10 file of a few hundred bytes: file meta, identifiers, no pixels."""
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = SC_IMAGE, instance_uid(series, 0)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = f"{UID_ROOT}.{series}.1", f"{UID_ROOT}.{series}.2"
    ds.PatientName, ds.PatientID, ds.Modality = patient, "JOURNAL", "OT"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SC_IMAGE
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def write_set(folder: Path, count: int, series: int, patient: str = "Journal^Test") -> dict[str, str]:
    """``count`` files ``f00000.dcm``... with distinct SOP Instance UIDs; {file name: UID}.
    One data set is encoded by pydicom; the others differ from it only in their UID."""
    folder.mkdir(parents=True, exist_ok=True)
    data = template(series, patient)
    placeholder = instance_uid(series, 0).encode()
    assert data.count(placeholder) == 2  # in the file meta and in the data set
    names = {}
    for number in range(count):
        uid = instance_uid(series, number)
        (folder / f"f{number:05d}.dcm").write_bytes(data.replace(placeholder, uid.encode()))
        names[f"f{number:05d}.dcm"] = uid
    return names


@pytest.fixture(scope="module")
def big_set(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """2,000 tiny files, made once for the module (they are only read)."""
    folder = tmp_path_factory.mktemp("big")
    names = write_set(folder, N_FILES, 1)
    last = pydicom.dcmread(folder / "f01999.dcm")
    assert last.SOPInstanceUID == names["f01999.dcm"] == last.file_meta.MediaStorageSOPInstanceUID
    return folder, names


# ---------------------------------------------------------------------------- receivers


@dataclass
class Counter:
    """What a receiver got: one SOP Instance UID per C-STORE, and the connections it saw."""

    stores: list[str] = field(default_factory=list)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.stores.clear()
            self.connections = 0

    def counts(self) -> collections.Counter:
        with self.lock:
            return collections.Counter(self.stores)


@contextlib.contextmanager
def pynetdicom_counter() -> Iterator[tuple[Counter, int, object]]:
    """pynetdicom as Storage SCP for Secondary Capture; yields what it saw, its port, its AE."""
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import Verification

    seen = Counter()

    def on_store(event):
        with seen.lock:
            seen.stores.append(event.request.AffectedSOPInstanceUID)
        return 0x0000

    def on_open(event):
        with seen.lock:
            seen.connections += 1

    ae = AE("COUNTER")
    ae.add_supported_context(SC_IMAGE)
    ae.add_supported_context(Verification)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    port = free_port()
    ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store), (evt.EVT_CONN_OPEN, on_open)]
    )
    try:
        yield seen, port, ae
    finally:
        ae.shutdown()


def settle(ae, timeout: float = 10.0) -> None:
    """Until pynetdicom has finished with every association (a killed peer's included)."""
    deadline = time.monotonic() + timeout
    while ae.active_associations and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not ae.active_associations, "pynetdicom still has associations open"


@pytest.fixture(scope="module")
def counter_scp() -> Iterator[tuple[Counter, int, object]]:
    with pynetdicom_counter() as scp:
        yield scp


@pytest.fixture
def receiver(counter_scp) -> Iterator[tuple[Counter, int]]:
    """The module's pynetdicom receiver, its counts cleared; waited for after the test."""
    seen, port, ae = counter_scp
    settle(ae)
    seen.clear()
    yield seen, port


STORED_LINE = re.compile(r"storing DICOM file: (.+)$")


def storescp_counts(log: str) -> collections.Counter:
    """Our storescp at ``-v``: one ``storing DICOM file: <dir>/SC.<uid>`` per complete store."""
    found = (STORED_LINE.search(line) for line in log.splitlines())
    return collections.Counter(Path(m[1]).name.removeprefix("SC.") for m in found if m)


@contextlib.contextmanager
def storescp_logging(out: Path, log: Path) -> Iterator[int]:
    """Our storescp at ``-v`` writing into ``out``, its log into the file ``log`` (a pipe
    would fill up); yields its port, stopped (its log complete) on leaving."""
    port = free_port()
    out.mkdir(exist_ok=True)
    with open(log, "w") as log_file:
        proc = subprocess.Popen(
            [ours("storescp"), "-v", "-od", str(out), str(port)], stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def received_files(folder: Path) -> set[str]:
    """The objects a receiver keeps in ``folder``: regular files, not its hidden temporary ones."""
    return {e.name for e in os.scandir(folder) if e.is_file() and not e.name.startswith(".")}


# ---------------------------------------------------------------------------- storescu


def storescu(port: int, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run([ours("storescu"), *args[:-1], "127.0.0.1", str(port), args[-1]], timeout=120, cwd=cwd)


def journal_lines(path: Path) -> list[dict]:
    """Every line of a journal, each of which must be whole JSON."""
    return [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


class LineWatch:
    """How many lines a journal has so far, read as it grows (cheap enough to poll)."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.lines = path, 0, 0

    def count(self) -> int:
        with contextlib.suppress(FileNotFoundError), open(self.path, "rb") as fp:
            fp.seek(self.offset)
            data = fp.read()
            self.offset += len(data)
            self.lines += data.count(b"\n")
        return self.lines


@dataclass
class Kill:
    """One kill point: when, how far the journal was, and the files that may have been in flight."""

    seconds: float
    journal_lines: int
    in_flight: list[str]


def kill_points(rng: random.Random, total: int, kills: int) -> list[int]:
    """One random journal length per equal slice of the run (the last 10% kept for the final run)."""
    width = int(total * 0.9) // kills
    return [k * width + rng.randrange(1, width) for k in range(kills)]


def kill_at(args: list[str], journal: Path, target: int, delay: float, log: Path) -> float:
    """Start storescu, wait until its journal has ``target`` lines and ``delay`` more seconds,
    kill -9 it; the seconds it ran."""
    watch = LineWatch(journal)
    with open(log, "ab") as out:
        started = time.monotonic()
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = started + 60
        while watch.count() < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"storescu ended before the kill ({proc.returncode}): {log.read_text()}"
    return time.monotonic() - started


def unjournaled(journal: Path, folder: Path, names: list[str]) -> list[str]:
    """The files, in the order storescu sends them, that the journal does not record as stored."""
    done = {entry["path"] for entry in journal_lines(journal) if entry["ok"]}
    return [name for name in names if str(folder / name) not in done]


def kill_and_resume(port: int, folder: Path, journal: Path, window: int, log: Path) -> tuple[list[Kill], int]:
    """``KILLS`` runs killed at random points, each resuming from the journal, then a run to
    the end; the kill points and the seed."""
    seed = int(os.environ.get("DIMSE_KILL_SEED") or random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    args = [ours("storescu"), "--journal", str(journal), "+sd", "127.0.0.1", str(port), str(folder)]
    names = sorted(p.name for p in folder.iterdir())
    kills = []
    for target in kill_points(rng, len(names), KILLS):
        seconds = kill_at(args, journal, target, rng.uniform(0, 0.02), log)
        lines = len(journal_lines(journal))
        kills.append(Kill(seconds, lines, unjournaled(journal, folder, names)[: window + 1]))
    final = run(args, timeout=120)
    assert final.returncode == 0, final.stdout + final.stderr
    return kills, seed


def report(receiver: str, seed: int, kills: list[Kill], duplicates: int, seconds: float) -> str:
    points = ", ".join(f"{k.journal_lines}@{k.seconds:.2f}s" for k in kills)
    return (
        f"{receiver}: seed {seed} (DIMSE_KILL_SEED), {len(kills)} kills at journal lines {points}; "
        f"{duplicates} duplicate store(s); {seconds:.1f} s"
    )


@pytest.mark.parametrize("receiver_kind", ["pynetdicom", "storescp"])
def test_kill_9_loses_only_the_stores_in_flight(receiver_kind, big_set, tmp_path):
    """SCU: our storescu with ``--journal``, killed ``KILLS`` times at random points spread
    over the run (a random journal length in each slice of the run, then up to 20 ms more),
    each time run again on the same journal, then to the end.  Every file arrives; a file
    arrives twice only if it was one of the first window + 1 files the journal lacked at a
    kill (those in flight); the final journal records each file once, as stored, as it is."""
    folder, uids = big_set
    journal, log = tmp_path / "journal.jsonl", tmp_path / "storescu.log"
    started = time.monotonic()
    if receiver_kind == "pynetdicom":
        window = PYNETDICOM_WINDOW
        with pynetdicom_counter() as (seen, port, ae):
            kills, seed = kill_and_resume(port, folder, journal, window, log)
            settle(ae)
            counts = seen.counts()
    else:
        window = STORESCP_WINDOW
        out, scp_log = tmp_path / "out", tmp_path / "storescp.log"
        with storescp_logging(out, scp_log) as port:
            kills, seed = kill_and_resume(port, folder, journal, window, log)
        counts = storescp_counts(scp_log.read_text(errors="replace"))
        assert received_files(out) == {f"SC.{uid}" for uid in uids.values()}
    duplicates = {uid: n - 1 for uid, n in counts.items() if n > 1}
    summary = report(receiver_kind, seed, kills, sum(duplicates.values()), time.monotonic() - started)
    print(summary)
    assert set(counts) == set(uids.values()), summary
    # a file arrives once more for each kill it was in flight at, at most
    in_flight = collections.Counter(uids[name] for kill in kills for name in kill.in_flight)
    assert all(extra <= in_flight[uid] for uid, extra in duplicates.items()), summary
    assert sum(duplicates.values()) <= len(kills) * (window + 1), summary
    entries = journal_lines(journal)
    assert sorted(e["path"] for e in entries) == sorted(str(folder / name) for name in uids), summary
    for entry in entries:
        stat = os.stat(entry["path"])
        assert entry["ok"] is True and entry["status"] == 0
        assert (entry["size"], entry["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns)
        assert entry["sop_instance"] == uids[Path(entry["path"]).name]


# ---------------------------------------------------------------------------- what a journal vouches for


def test_journal_of_another_folder_with_the_same_names_is_not_used(receiver, tmp_path):
    """Folders A and B hold files of the same names, other objects; each is sent from inside
    it (``.``: the same relative paths).  A's journal does not make B's run skip anything:
    all of B arrives; then each run again sends nothing."""
    seen, port = receiver
    a, b = write_set(tmp_path / "a", 4, 2, "Folder^A"), write_set(tmp_path / "b", 4, 3, "Folder^B")
    assert a.keys() == b.keys()
    journal = tmp_path / "journal.jsonl"
    for folder, sent in (("a", a), ("b", b)):
        result = storescu(port, "--journal", str(journal), "+sd", ".", cwd=tmp_path / folder)
        assert result.returncode == 0, result.stderr
        assert seen.counts() == collections.Counter(sent.values())
        seen.clear()
    for folder in ("a", "b"):
        assert storescu(port, "--journal", str(journal), "+sd", ".", cwd=tmp_path / folder).returncode == 0
    assert seen.stores == []


def test_file_changed_after_it_was_journaled_is_sent_again(receiver, tmp_path):
    """After a full run: one file rewritten with another size, one with the same bytes but
    another modification time.  The next run sends exactly those two."""
    seen, port = receiver
    folder = tmp_path / "set"
    uids = write_set(folder, 4, 4)
    journal = tmp_path / "journal.jsonl"
    assert storescu(port, "--journal", str(journal), "+sd", str(folder)).returncode == 0
    seen.clear()
    resized = folder / "f00000.dcm"
    ds = pydicom.dcmread(resized)
    ds.PatientName = "Changed^After^Journaling^Longer"
    ds.save_as(resized, enforce_file_format=True)
    touched = folder / "f00001.dcm"
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    result = storescu(port, "--journal", str(journal), "+sd", str(folder))
    assert result.returncode == 0, result.stderr
    assert sorted(seen.stores) == sorted([uids["f00000.dcm"], uids["f00001.dcm"]])


@pytest.mark.parametrize("files", [3, 1])
def test_torn_last_line_is_ignored(receiver, tmp_path, files):
    """A journal whose last line (or only line) was cut in the middle, as by a crash in the
    middle of a write: the file of that line is sent again, the others are not; every run
    after that works with the journal (nothing left to send) and every line of it is whole."""
    seen, port = receiver
    folder = tmp_path / "set"
    uids = write_set(folder, files, 5)
    journal = tmp_path / "journal.jsonl"
    assert storescu(port, "--journal", str(journal), "+sd", str(folder)).returncode == 0
    data = journal.read_bytes()
    last = data.rfind(b"\n", 0, len(data) - 1) + 1
    journal.write_bytes(data[: last + (len(data) - last) // 2])
    seen.clear()
    for expected in ([uids[max(uids)]], [], []):
        result = storescu(port, "--journal", str(journal), "+sd", str(folder))
        assert result.returncode == 0, result.stderr
        assert seen.stores == expected
        seen.clear()
    assert [Path(e["path"]).name for e in journal_lines(journal)] == sorted(uids)


NOT_JOURNALS = {
    "text": b"first line\nsecond line\n",
    "one line": b"a note without a newline",
    "json": json.dumps({"summary": {"files": 1}}, indent=2).encode(),
    "dicom": template(6, "Not^A^Journal"),
}


@pytest.mark.parametrize("kind", sorted(NOT_JOURNALS))
def test_file_that_is_no_journal_is_refused(receiver, tmp_path, kind):
    """``--journal`` naming a file that is no journal: one ``F:`` line, exit 1, no connection,
    and the file is left as it was (never appended to)."""
    seen, port = receiver
    folder = tmp_path / "set"
    write_set(folder, 2, 7)
    journal = tmp_path / "notes"
    journal.write_bytes(NOT_JOURNALS[kind])
    before = journal.stat()
    result = storescu(port, "--journal", str(journal), "+sd", str(folder))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"F: not a storescu journal: {journal} (line 1)"]
    assert journal.read_bytes() == NOT_JOURNALS[kind]
    assert journal.stat().st_mtime_ns == before.st_mtime_ns
    assert seen.connections == 0


@pytest.mark.parametrize("where", ["missing folder", "a folder", "below a file", "a fifo"])
def test_unwritable_journal_path_stops_before_sending(receiver, tmp_path, where):
    """A journal that cannot be read or created, or is no regular file (a FIFO would block
    the read, /dev/zero never end it): one ``F:`` line naming it, exit 1, no connection."""
    seen, port = receiver
    folder = tmp_path / "set"
    write_set(folder, 2, 8)
    (tmp_path / "file").write_text("x")
    os.mkfifo(tmp_path / "fifo")
    journal = {
        "missing folder": tmp_path / "missing" / "journal.jsonl",
        "a folder": tmp_path,
        "below a file": tmp_path / "file" / "journal.jsonl",
        "a fifo": tmp_path / "fifo",
    }[where]
    result = storescu(port, "--journal", str(journal), "+sd", str(folder))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("F: cannot ") and str(journal) in lines[0], lines
    assert seen.connections == 0
    assert not (tmp_path / "missing").exists()


def test_everything_already_stored_makes_no_association(receiver, tmp_path):
    """``--journal`` recording every file as stored: exit 0, and the receiver sees no
    connection at all (``-v`` says why)."""
    seen, port = receiver
    folder = tmp_path / "set"
    write_set(folder, 3, 9)
    journal = tmp_path / "journal.jsonl"
    assert storescu(port, "--journal", str(journal), "+sd", str(folder)).returncode == 0
    assert seen.connections == 1
    seen.clear()
    result = storescu(port, "-v", "--journal", str(journal), "+sd", str(folder))
    assert result.returncode == 0, result.stderr
    assert "I: skipping 3 file(s) recorded as stored in journal" in result.stderr
    assert "Requesting Association" not in result.stderr
    assert seen.connections == 0
    assert len(journal_lines(journal)) == 3


def test_renamed_files_are_skipped_when_resumed(receiver, tmp_path):
    """``+rn --journal`` over a folder, then the same command again: the second run finds the
    files under their ``.done`` names, and the journal (which names them so) makes it send
    nothing and rename nothing.  The journal used to name them as they were before the
    rename: every file went out again and became ``.done.done``."""
    seen, port = receiver
    folder = tmp_path / "set"
    uids = write_set(folder, 3, 10)
    journal = tmp_path / "journal.jsonl"
    assert storescu(port, "+rn", "--journal", str(journal), "+sd", str(folder)).returncode == 0
    assert sorted(seen.stores) == sorted(uids.values())
    seen.clear()
    result = storescu(port, "+rn", "--journal", str(journal), "+sd", str(folder))
    assert result.returncode == 0, result.stderr
    assert seen.stores == []
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{name}.done" for name in uids)
    assert {Path(line["path"]).name for line in journal_lines(journal)} == {f"{name}.done" for name in uids}
