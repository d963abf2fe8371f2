"""getscu against DCMTK's dcmqrscp (the C-GET SCP), side by side with DCMTK's getscu.

"DCMTK getscu" is /usr/bin/getscu; "our getscu" is this package's console script.  The archive
is test_movescu's dcmqrscp (filled with DCMTK's storescu); a C-GET needs no host table entry.
The hostile peer is pynetdicom's C-GET SCP.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from .conftest import CT_SMALL, MR_SMALL, dcmtk, free_port, ours, run
from .test_dcmtk import same_dataset
from .test_movescu import LEVELS, OBJECTS, archive  # noqa: F401  (archive: the fixture)

_MR = dcmread(MR_SMALL, stop_before_pixels=True)
_CT = dcmread(CT_SMALL, stop_before_pixels=True)
GETS = {
    **LEVELS,
    "image": [
        "-S",
        "-k",
        "QueryRetrieveLevel=IMAGE",
        "-k",
        f"StudyInstanceUID={_MR.StudyInstanceUID}",
        "-k",
        f"SeriesInstanceUID={_MR.SeriesInstanceUID}",
        "-k",
        f"SOPInstanceUID={_MR.SOPInstanceUID}",
    ],
    "patient-ct": ["-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", f"PatientID={_CT.PatientID}"],
}


def get_both(archive, tmp_path: Path, args: list[str], files=(), od: bool = True):  # noqa: F811
    """The same command line with DCMTK's getscu and ours, each into its own -od; returns
    {"theirs"/"mine": (CompletedProcess, folder)}."""
    results = {}
    for name, tool in (("theirs", dcmtk("getscu")), ("mine", ours("getscu"))):
        out = tmp_path / name
        out.mkdir()
        where = ["-od", str(out)] if od else []
        done = run([tool, "-aec", "QRSCP", *where, *args, "127.0.0.1", str(archive.port), *files], timeout=60)
        results[name] = (done, out)
    return results


def _same_files(their_out: Path, my_out: Path) -> list[str]:
    """Same names, and each of our data sets equal to the original object."""
    names = sorted(p.name for p in my_out.iterdir())
    assert names == sorted(p.name for p in their_out.iterdir())
    originals = {str(dcmread(p).SOPInstanceUID): p for p in OBJECTS}
    for path in my_out.iterdir():
        assert same_dataset(path, originals[path.name.split(".", 1)[1]]), path.name
        assert same_dataset(path, their_out / path.name), path.name
    return names


@pytest.mark.parametrize("level", list(GETS))
def test_get_levels_side_by_side(archive, tmp_path, level):  # noqa: F811
    """DCMTK getscu and ours, patient/study/series/image level, -P and -S: exit 0, the same
    file names (<modality>.<SOP Instance UID>), data sets equal to the originals."""
    results = get_both(archive, tmp_path, GETS[level])
    (theirs, their_out), (mine, my_out) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 0, (mine.stderr, theirs.stderr)
    assert mine.stderr == theirs.stderr == ""
    assert _same_files(their_out, my_out), "nothing was retrieved"


def test_two_query_files_ct_and_mr(archive, tmp_path):  # noqa: F811
    """our getscu, two query files (a CT study, an MR study) on one association, -v: a CT and an
    MR object, data sets equal to the originals; the first C-GET's lines are DCMTK getscu's.
    (DCMTK 3.6.7's getscu crashes after the last of several query files: its lines are
    compared, not its exit code.)"""
    files = []
    for name, ds in (("ct.dcm", _CT), ("mr.dcm", _MR)):
        q = Dataset()
        q.QueryRetrieveLevel = "STUDY"
        q.StudyInstanceUID = ds.StudyInstanceUID
        q.save_as(tmp_path / name, implicit_vr=True, little_endian=True, enforce_file_format=False)
        files.append(str(tmp_path / name))
    results = get_both(archive, tmp_path, ["-v", "-S"], files=files)
    (theirs, _), (mine, my_out) = results["theirs"], results["mine"]
    assert mine.returncode == 0, mine.stderr
    originals = {str(dcmread(p).SOPInstanceUID): p for p in OBJECTS}
    names = sorted(p.name for p in my_out.iterdir())
    assert [n.split(".")[0] for n in names] == ["CT", "MR"]
    for path in my_out.iterdir():
        assert same_dataset(path, originals[path.name.split(".", 1)[1]]), path.name
    first_get = theirs.stderr.split("I: Received C-GET Response (Success)\n")[0]
    assert first_get and mine.stderr.startswith(first_get)
    assert "I: Sending C-GET Request (MsgID 2)" in mine.stderr


@pytest.mark.parametrize(
    "extra",
    [["-v"], ["-v", "--repeat", "2"], ["-v", "--abort"], ["-v", "+xb"], ["-v", "-xi"]],
    ids=["verbose", "repeat", "abort", "prefer-big", "propose-implicit"],
)
def test_verbose_lines_side_by_side(archive, tmp_path, extra):  # noqa: F811
    """DCMTK getscu and ours at -v: the same lines (the -od path normalised), the same files."""
    results = get_both(archive, tmp_path, [*extra, *GETS["series"]])
    (theirs, their_out), (mine, my_out) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 0
    assert mine.stderr.replace(str(my_out), "OUT") == theirs.stderr.replace(str(their_out), "OUT")
    assert mine.stderr.startswith("I: Requesting Association\nI: Association Accepted (Max Send PDV: 16372)\n")
    _same_files(their_out, my_out)


def test_rightmost_key_wins_side_by_side(archive, tmp_path):  # noqa: F811
    """DCMTK getscu and ours, the study UID given twice (a bad one first): the rightmost wins in
    both, the same -v lines and files."""
    args = ["-v", "-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=1.2.3.999",
            "-k", f"StudyInstanceUID={_MR.StudyInstanceUID}"]
    results = get_both(archive, tmp_path, args)
    (theirs, their_out), (mine, my_out) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 0
    assert mine.stderr.replace(str(my_out), "OUT") == theirs.stderr.replace(str(their_out), "OUT")
    assert _same_files(their_out, my_out)


def test_no_matches_side_by_side(archive, tmp_path):  # noqa: F811
    """DCMTK getscu and ours, a study that is not there, -v: exit 0, no files, the same lines."""
    results = get_both(archive, tmp_path, ["-v", "-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=1.2.3"])
    (theirs, their_out), (mine, my_out) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 0
    assert mine.stderr == theirs.stderr
    assert "I:   Number of Completed Suboperations : 0" in mine.stderr
    assert not list(my_out.iterdir()) and not list(their_out.iterdir())


def test_ignore_receives_nothing_to_disk(archive, tmp_path):  # noqa: F811
    """DCMTK getscu and ours, --ignore (no -od): exit 0, same lines, nothing written."""
    results = get_both(archive, tmp_path, ["-v", "--ignore", *GETS["study"]], od=False)
    (theirs, _), (mine, _) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 0
    assert mine.stderr == theirs.stderr
    assert "I: Sending C-STORE Response (Success)" in mine.stderr


def test_failed_get_status(archive, tmp_path):  # noqa: F811
    """DCMTK getscu and ours, no QueryRetrieveLevel: dcmqrscp answers an error status; the same
    lines; DCMTK exits 0, ours 1 (a documented deviation)."""
    results = get_both(archive, tmp_path, ["-k", "PatientID=1"])
    (theirs, _), (mine, _) = results["theirs"], results["mine"]
    assert mine.stderr == theirs.stderr == "E: DIMSE status is: Error: DataSetDoesNotMatchSOPClass\n"
    assert theirs.returncode == 0 and mine.returncode == 1


def test_refused_association_side_by_side(archive):  # noqa: F811
    """DCMTK getscu and ours, a called AE title dcmqrscp does not know: exit 1, the same line."""
    args = ["-aec", "NOBODY", "-k", "QueryRetrieveLevel=STUDY", "127.0.0.1", str(archive.port)]
    theirs, mine = run([dcmtk("getscu"), *args]), run([ours("getscu"), *args])
    assert mine.returncode == theirs.returncode == 1
    assert mine.stderr == theirs.stderr == "F: Could not negotiate association: DUL Association Rejected\n"


def test_connection_refused_side_by_side(tmp_path):
    """DCMTK getscu and ours, nothing listening: exit 1, the same line, -v too."""
    port = str(free_port())
    for extra in ([], ["-v"]):
        args = [*extra, "-od", str(tmp_path), "-k", "QueryRetrieveLevel=STUDY", "127.0.0.1", port]
        theirs, mine = run([dcmtk("getscu"), *args]), run([ours("getscu"), *args])
        assert mine.returncode == theirs.returncode == 1
        assert mine.stderr == theirs.stderr
        assert mine.stderr.endswith("F: Could not negotiate association: TCP Initialization Error: Connection refused\n")


@pytest.mark.parametrize(
    "args",
    [[], ["-od", "/nonexistent/folder", "-k", "PatientID=1"], ["-pdu", "100", "-k", "PatientID=1"]],
    ids=["no-query", "missing-od", "bad-pdu"],
)
def test_command_line_errors_side_by_side(args):
    """DCMTK getscu and ours: exit 1 and the same error lines, before any network work."""
    theirs = run([dcmtk("getscu"), *args, "127.0.0.1", "1"])
    mine = run([ours("getscu"), *args, "127.0.0.1", "1"])
    assert mine.returncode == theirs.returncode == 1
    assert [x for x in mine.stderr.splitlines() if x.startswith(("error:", "F:"))] == [
        x for x in theirs.stderr.splitlines() if x.startswith(("error:", "F:"))
    ]


def test_bad_key(archive):  # noqa: F811
    """DCMTK getscu and ours, -k NoSuch=1: both exit 1 (DCMTK after sending an empty identifier
    fails; ours at the command line, movescu's message)."""
    args = ["-aec", "QRSCP", "-k", "NoSuch=1", "127.0.0.1", str(archive.port)]
    theirs, mine = run([dcmtk("getscu"), *args]), run([ours("getscu"), *args])
    assert mine.returncode == theirs.returncode == 1
    assert "error: bad key format or dictionary name not found in dictionary: NoSuch" in mine.stderr


def test_python_m_dimse_getscu():
    """``python -m dimse getscu --help`` is our getscu."""
    import sys

    done = run([sys.executable, "-m", "dimse", "getscu", "--help"])
    assert done.returncode == 0 and "getscu: DICOM retrieve (C-GET) SCU" in done.stdout
    assert "--prefer-uncompr" in done.stdout and "--propose-implicit" in done.stdout


# ------------------------------------------------------------------ a hostile C-GET SCP


@pytest.fixture
def hostile_get_scp():
    """pynetdicom's C-GET SCP (Study Root) sending CT_small's data set twice: first as
    ``../../x``, then under its own UID; yields its port."""
    pytest.importorskip("pynetdicom")
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import CTImageStorage, StudyRootQueryRetrieveInformationModelGet

    good = dcmread(CT_SMALL)

    def handle_get(event):
        evil = dcmread(CT_SMALL)
        evil.SOPInstanceUID = "../../x"
        evil.file_meta.MediaStorageSOPInstanceUID = "../../x"
        yield 2
        for ds in (evil, good):
            yield 0xFF00, ds

    ae = AE(ae_title="HOSTILE-GET")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_supported_context(CTImageStorage, scu_role=True, scp_role=True)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_GET, handle_get)])
    try:
        yield port
    finally:
        server.shutdown()


def test_hostile_sop_instance_uid_refused(hostile_get_scp, tmp_path):
    """our getscu against pynetdicom's C-GET SCP sending a C-STORE whose SOP Instance UID is
    ``../../x``: that object is refused, nothing is written outside -od, the good one is kept,
    and the run exits 1 (a sub-operation failed)."""
    out = tmp_path / "a" / "b" / "od"
    out.mkdir(parents=True)
    args = ["-v", "-S", "-od", str(out), "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=1.2.3"]
    mine = run([ours("getscu"), *args, "127.0.0.1", str(hostile_get_scp)], timeout=30)
    assert "refusing object" in mine.stderr, mine.stderr
    assert "I: Sending C-STORE Response (Error: CannotUnderstand)" in mine.stderr
    assert [p.name for p in out.iterdir()] == [f"CT.{_CT.SOPInstanceUID}"]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [f"CT.{_CT.SOPInstanceUID}"]
    assert mine.returncode == 1
