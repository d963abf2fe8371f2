"""getscu against Orthanc (Debian's 1.10.1, a real C-GET SCP), side by side with DCMTK 3.6.7's.

"DCMTK getscu" is /usr/bin/getscu; "our getscu" is this package's console script.  One Orthanc
serves the module (test_orthanc's archive: a study of three CT images, plus a study holding an
instance of a class DCMTK's getscu does not propose).  Orthanc 1.10 serves C-GET and C-FIND
only to the modalities it knows (``DicomAlwaysAllowGet`` is false): GETSCU, both tools'
default calling AE title, is one; it checks the called AE title too.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from .conftest import CT_SMALL, dcmtk, free_port, ours, run
from .test_dcmtk import same_dataset
from .test_orthanc import orthanc_archive

#: a storage class Orthanc accepts that DCMTK 3.6.7's getscu does not propose
FOREIGN = "1.2.840.10008.5.1.4.1.1.601.2"
CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"


def settings(folder: Path) -> dict[str, object]:
    """Orthanc's configuration beyond test_orthanc's: GETSCU a known modality, the called AE
    title checked, its temporary files in its own folder."""
    return {
        "DicomCheckCalledAet": True,
        "DicomModalities": {"getscu": ["GETSCU", "127.0.0.1", free_port()]},
        "TemporaryDirectory": str(folder / "tmp"),
    }


@dataclasses.dataclass(frozen=True)
class Archive:
    port: int
    study: str
    folder: Path  # test_orthanc's ct0.dcm .. ct2.dcm, the objects Orthanc holds
    foreign_study: str
    foreign_uids: tuple[str, str]  # the CT, the FOREIGN instance

    def originals(self) -> dict[str, Path]:
        return {str(dcmread(p).SOPInstanceUID): p for p in self.folder.glob("*.dcm")}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """The module's Orthanc, with the foreign study (patient FOREIGN) stored by our storescu -R."""
    folder = tmp_path_factory.mktemp("orthanc")
    with orthanc_archive(folder, **settings(folder)) as (port, study, _):
        study_uid, series_uid = generate_uid(), generate_uid()
        uids = []
        for name, sop_class in (("foreign-ct.dcm", CT_CLASS), ("foreign.dcm", FOREIGN)):
            ds = dcmread(CT_SMALL)
            ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.PatientID = study_uid, series_uid, "FOREIGN"
            ds.save_as(folder / name)
            uids.append(str(ds.SOPInstanceUID))
        files = [str(folder / "foreign-ct.dcm"), str(folder / "foreign.dcm")]
        stored = run([ours("storescu"), "-R", "-aec", "ORTHANC", "127.0.0.1", str(port), *files])
        assert stored.returncode == 0, stored.stderr
        yield Archive(port, study, folder, study_uid, (uids[0], uids[1]))


def study_keys(study: str) -> list[str]:
    return ["-S", "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}"]


def levels(archive: Archive) -> dict[str, list[str]]:
    ct = dcmread(archive.folder / "ct0.dcm")
    study, series, image = (
        f"StudyInstanceUID={archive.study}",
        f"SeriesInstanceUID={ct.SeriesInstanceUID}",
        f"SOPInstanceUID={ct.SOPInstanceUID}",
    )
    return {
        "study": study_keys(archive.study),
        "series": ["-S", "-k", "QueryRetrieveLevel=SERIES", "-k", study, "-k", series],
        "image": ["-S", "-k", "QueryRetrieveLevel=IMAGE", "-k", study, "-k", series, "-k", image],
        "patient": ["-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", f"PatientID={ct.PatientID}"],
    }


def get_both(archive: Archive, tmp_path: Path, args: list[str], prepare=None) -> dict:
    """DCMTK's getscu and ours, the same arguments, each into its own -od (``prepare`` fills
    it first); {"theirs"/"mine": (CompletedProcess, folder, stderr with the folder as OUT)}."""
    results = {}
    for name, tool in (("theirs", dcmtk("getscu")), ("mine", ours("getscu"))):
        out = tmp_path / name
        out.mkdir()
        if prepare is not None:
            prepare(out)
        done = run([tool, "-aec", "ORTHANC", "-od", str(out), *args, "127.0.0.1", str(archive.port)], timeout=60)
        results[name] = (done, out, done.stderr.replace(str(out), "OUT"))
    return results


def same_files(archive: Archive, their_out: Path, my_out: Path) -> list[str]:
    """Same names, and each of our data sets equal to the original and to DCMTK's."""
    names = sorted(p.name for p in my_out.iterdir())
    assert names == sorted(p.name for p in their_out.iterdir())
    originals = archive.originals()
    for name in names:
        assert same_dataset(my_out / name, originals[name.split(".", 1)[1]]), name
        assert same_dataset(my_out / name, their_out / name), name
    return names


@pytest.mark.parametrize("level", ["study", "series", "image", "patient"])
def test_levels_side_by_side(archive, tmp_path, level):
    """DCMTK getscu and ours -v, study/series/image level (-S) and patient level (-P): exit 0,
    the same lines, the same files, data sets equal to the originals."""
    results = get_both(archive, tmp_path, ["-v", *levels(archive)[level]])
    (theirs, their_out, their_lines), (mine, my_out, my_lines) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 0, (mine.stderr, theirs.stderr)
    assert my_lines == their_lines
    assert len(same_files(archive, their_out, my_out)) == (1 if level == "image" else 3)


@pytest.mark.parametrize(
    "extra", [["--repeat", "2"], ["--abort"], ["+xb"], ["-xi"]], ids=["repeat", "abort", "big", "xi"]
)
def test_options_side_by_side(archive, tmp_path, extra):
    """DCMTK getscu and ours -v with --repeat 2, --abort, +xb, -xi: the same lines and files."""
    results = get_both(archive, tmp_path, ["-v", *extra, *study_keys(archive.study)])
    (theirs, their_out, their_lines), (mine, my_out, my_lines) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 0
    assert my_lines == their_lines
    assert their_lines.count("I: Sending C-GET Request") == (2 if "--repeat" in extra else 1)
    assert len(same_files(archive, their_out, my_out)) == 3


def test_no_match_side_by_side(archive, tmp_path):
    """DCMTK getscu and ours, a study Orthanc does not hold: Orthanc answers Failed
    (UnableToProcess); the same lines, no files; DCMTK exits 0, ours 1 (a failed C-GET)."""
    results = get_both(archive, tmp_path, ["-v", *study_keys("1.2.3.4")])
    (theirs, their_out, their_lines), (mine, my_out, my_lines) = results["theirs"], results["mine"]
    assert my_lines == their_lines
    assert "E: DIMSE status is: Failed: UnableToProcess\n" in my_lines
    assert not list(my_out.iterdir()) and not list(their_out.iterdir())
    assert theirs.returncode == 0 and mine.returncode == 1


def test_foreign_class_retrieved_where_dcmtk_fails(archive, tmp_path):
    """A study with an instance of a class outside DCMTK getscu's list: DCMTK's getscu does not
    get it (Orthanc ends the C-GET at that sub-operation: Failed, UnableToProcess) and exits 0;
    ours proposes the classes its C-FIND found, gets both and exits 0."""
    results = get_both(archive, tmp_path, ["-v", *study_keys(archive.foreign_study)])
    (theirs, their_out, their_lines), (mine, my_out, _) = results["theirs"], results["mine"]
    got = {
        name: sorted(p.name.split(".", 1)[1] for p in out.iterdir())
        for name, out in (("theirs", their_out), ("mine", my_out))
    }
    assert archive.foreign_uids[1] not in got["theirs"]
    assert "I:   Number of Failed Suboperations    : 1" in their_lines
    assert got["mine"] == sorted(archive.foreign_uids), mine.stderr
    assert "I:   Number of Completed Suboperations : 2" in mine.stderr
    assert mine.returncode == theirs.returncode == 0
    originals = archive.originals()
    for path in my_out.iterdir():
        assert same_dataset(path, originals[path.name.split(".", 1)[1]])


def test_no_study_classes_reads_orthancs_failed_response(archive, tmp_path):
    """Ours --no-study-classes (DCMTK's 120 classes) and DCMTK getscu on the foreign study:
    the same lines (the failed response read, the report, the release); ours exits 1 where
    DCMTK exits 0."""
    args = ["-aec", "ORTHANC", "-v", *study_keys(archive.foreign_study), "127.0.0.1", str(archive.port)]
    theirs = run([dcmtk("getscu"), *args], cwd=tmp_path)
    mine = run([ours("getscu"), "--no-study-classes", *args], cwd=tmp_path)
    assert mine.stderr == theirs.stderr
    assert theirs.returncode == 0 and mine.returncode == 1


def test_cancel(archive, tmp_path):
    """--cancel 1: DCMTK's getscu has no such option (exit 1); ours sends a C-CANCEL after the
    first pending response, Orthanc ends the C-GET with Cancel, ours exits 0 with fewer than
    the study's three objects, each equal to its original."""
    results = get_both(archive, tmp_path, ["-v", "--cancel", "1", *study_keys(archive.study)])
    (theirs, _, their_lines), (mine, my_out, my_lines) = results["theirs"], results["mine"]
    assert theirs.returncode == 1 and "error: Unknown option --cancel" in their_lines
    assert "I: Sending Cancel Request (MsgID 1, PresID 1)\n" in my_lines
    assert "I: Received C-GET Response (Cancel: SubOperationsTerminatedDueToCancelIndication)\n" in my_lines
    assert mine.returncode == 0
    names = [p.name for p in my_out.iterdir()]
    assert 1 <= len(names) < 3
    originals = archive.originals()
    assert all(same_dataset(my_out / n, originals[n.split(".", 1)[1]]) for n in names)


def test_refused_called_ae_side_by_side(archive, tmp_path):
    """DCMTK getscu and ours -v, a called AE title Orthanc (DicomCheckCalledAet) rejects: exit
    1, the same lines, nothing written."""
    results = get_both(archive, tmp_path, ["-v", "-aec", "NOT-ORTHANC", *study_keys(archive.study)])
    (theirs, _, their_lines), (mine, my_out, my_lines) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 1
    assert (
        my_lines
        == their_lines
        == "I: Requesting Association\nF: Could not negotiate association: DUL Association Rejected\n"
    )
    assert not list(my_out.iterdir())


def test_get_from_unknown_calling_ae_side_by_side(archive, tmp_path):
    """DCMTK getscu and ours -v, calling AE title STRANGER (no modality of Orthanc's): Orthanc
    accepts the association, then aborts it at the C-GET; exit 1, the same lines."""
    results = get_both(archive, tmp_path, ["-v", "-aet", "STRANGER", *study_keys(archive.study)])
    (theirs, _, their_lines), (mine, _, my_lines) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 1
    assert my_lines == their_lines
    assert my_lines.endswith(
        "I: Sending C-GET Request (MsgID 1)\n"
        "E: Failed receiving DIMSE command: 0006:0317 Peer aborted Association (or never connected)\n"
    )


def test_existing_file_side_by_side(archive, tmp_path):
    """DCMTK getscu and ours, -od already holding a file of the name one object gets: both warn
    with the same line, overwrite it, exit 0; the same files."""
    uid = str(dcmread(archive.folder / "ct1.dcm").SOPInstanceUID)
    results = get_both(archive, tmp_path, study_keys(archive.study), lambda out: (out / f"CT.{uid}").write_text("old"))
    (theirs, their_out, their_lines), (mine, my_out, my_lines) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 0
    assert my_lines == their_lines == f"W: DICOM file already exists, overwriting: OUT/CT.{uid}\n"
    assert len(same_files(archive, their_out, my_out)) == 3


def test_bit_preserving_same_objects(archive, tmp_path):
    """DCMTK getscu and ours +B -v: the same lines; each object DCMTK wrote has its data set
    equal in ours (the same name: the SOP Instance UID)."""
    results = get_both(archive, tmp_path, ["-v", "+B", *study_keys(archive.study)])
    (theirs, their_out, their_lines), (mine, my_out, my_lines) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 0
    assert my_lines == their_lines
    mine_by_uid = {p.name: p for p in my_out.iterdir()}
    assert sorted(mine_by_uid) == sorted(p.name for p in their_out.iterdir())
    for path in their_out.iterdir():
        assert same_dataset(mine_by_uid[path.name], path)


def test_bit_preserving_names(archive, tmp_path):
    """DCMTK getscu and ours +B: the same file names (the SOP Instance UID alone); run again
    into the same folder, the files are replaced without a warning, as DCMTK's are."""
    results = get_both(archive, tmp_path, ["+B", *study_keys(archive.study)])
    names = sorted(p.name for p in results["mine"][1].iterdir())
    assert names and names == sorted(p.name for p in results["theirs"][1].iterdir())
    assert all(not name.startswith("CT.") for name in names)
    again = run([ours("getscu"), "-aec", "ORTHANC", "+B", "-od", str(results["mine"][1]), *study_keys(archive.study),
                 "127.0.0.1", str(archive.port)], timeout=60)
    assert again.returncode == 0 and again.stderr == "", again.stderr


# ------------------------------------------------------------------ Orthanc killed mid-retrieve


def _orthanc_pid(folder: Path) -> int:
    """The process id of the Orthanc serving ``folder`` (its command line names its config)."""
    config = str(folder / "orthanc.json").encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if config in (entry / "cmdline").read_bytes().split(b"\0"):
                    return int(entry.name)
            except OSError:
                continue
    raise AssertionError(f"no Orthanc for {folder}")


def _kill(pid: int) -> None:
    """SIGKILL ``pid`` and wait (bounded) until it is gone: its sockets are closed then."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.01)


def _killed_mid_retrieve(tool: str, folder: Path, big: Path) -> tuple[int, str, list[str]]:
    """``tool`` -v against an Orthanc of its own whose study holds ``big`` alone: the tool is
    paused at its first C-STORE request, Orthanc is killed with most of the 32 MB data set
    still unsent, the tool resumes; its exit code, its lines, its -od's files."""
    folder.mkdir()
    with orthanc_archive(folder, **settings(folder)) as (port, _, _):
        stored = run([ours("storescu"), "-aec", "ORTHANC", "127.0.0.1", str(port), str(big)])
        assert stored.returncode == 0, stored.stderr
        out = folder / "od"
        out.mkdir()
        args = [
            "-v",
            "-aec",
            "ORTHANC",
            "-od",
            str(out),
            *study_keys(dcmread(big, stop_before_pixels=True).StudyInstanceUID),
        ]
        proc = subprocess.Popen([tool, *args, "127.0.0.1", str(port)], stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stderr is not None
            lines = []
            for line in proc.stderr:
                lines.append(line)
                if line.startswith("I: Received C-STORE Request"):
                    os.kill(proc.pid, signal.SIGSTOP)
                    _kill(_orthanc_pid(folder))
                    os.kill(proc.pid, signal.SIGCONT)
                    break
            lines += proc.stderr.readlines()
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait()
    return code, "".join(lines).replace(str(out), "OUT"), sorted(p.name for p in out.iterdir())


def _outline(lines: str) -> list[str]:
    """The lines without the reasons' continuation lines, the context number and the reason
    of a data set that did not come, and our lines naming the instances that did not come."""
    kept = [line for line in lines.splitlines() if not line.startswith(("E: 0006:", "E: 0001:", "W: SOP Instance"))]
    return [re.sub(r"presentation context \d+: .*", "presentation context N: ...", line) for line in kept]


def test_orthanc_killed_mid_retrieve_side_by_side(tmp_path):
    """DCMTK getscu and ours, Orthanc killed while a data set is on its way: both say the data
    set did not come, answer "cannot understand", fail to send that answer, exit 1 and keep no
    file.  (DCMTK's reason is ``0006:020c DIMSE Read PDV failed`` / ``0006:0310 DUL network
    closed``, ours ``0006:0317 connection closed by peer``; its failed answer ``0006:031d TCP
    I/O Error (Broken pipe)``, ours ``0006:0303 ... association is over``.)"""
    ds = dcmread(CT_SMALL)
    ds.StudyInstanceUID = generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Rows = ds.Columns = 4096
    ds.PixelData = bytes(2 * 4096 * 4096)
    ds.save_as(tmp_path / "big.dcm")
    theirs = _killed_mid_retrieve(dcmtk("getscu"), tmp_path / "theirs", tmp_path / "big.dcm")
    mine = _killed_mid_retrieve(ours("getscu"), tmp_path / "mine", tmp_path / "big.dcm")
    assert mine[0] == theirs[0] == 1
    assert _outline(mine[1]) == _outline(theirs[1])
    assert _outline(mine[1])[-3:] == [
        "E: Unable to receive dataset on presentation context N: ...",
        "I: Sending C-STORE Response (Error: CannotUnderstand)",
        "E: Failed sending C-STORE response: 0006:020e DIMSE Failed to send message",
    ]
    assert mine[2] == theirs[2] == []
