"""movescu against DCMTK's dcmqrscp (the C-MOVE SCP), side by side with DCMTK's movescu.

"DCMTK movescu" is /usr/bin/movescu; "our movescu" is this package's console script.  The
archive is a dcmqrscp started by the test, filled with DCMTK's storescu.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from pydicom import dcmread

from .conftest import CT_SMALL, MR_SMALL, SAMPLES, dcmtk, free_port, ours, run, running
from .test_dcmtk import same_dataset

OBJECTS = [CT_SMALL, MR_SMALL, SAMPLES / "MR_small_bigendian.dcm", SAMPLES / "rtplan.dcm", SAMPLES / "test-SR.dcm"]


@dataclasses.dataclass
class Archive:
    port: int
    move_port: int
    third_port: int
    folder: Path


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """dcmqrscp on loopback knowing MOVESCU (our listener), DCMTKMOVE and STORESCP as destinations."""
    folder = tmp_path_factory.mktemp("qr")
    (folder / "db").mkdir()
    port, move_port, dcmtk_port, third_port = (free_port() for _ in range(4))
    config = folder / "qr.cfg"
    config.write_text(
        f"""NetworkTCPPort  = {port}
MaxPDUSize      = 16384
MaxAssociations = 16
HostTable BEGIN
movescu   = (MOVESCU, 127.0.0.1, {move_port})
dcmtkmove = (DCMTKMOVE, 127.0.0.1, {dcmtk_port})
third     = (STORESCP, 127.0.0.1, {third_port})
HostTable END
VendorTable BEGIN
VendorTable END
AETable BEGIN
QRSCP  {folder / "db"}  RW (200, 1024mb)  ANY
AETable END
"""
    )
    with running([dcmtk("dcmqrscp"), "-c", str(config)], port, cwd=folder):
        stored = run([dcmtk("storescu"), "-aec", "QRSCP", "127.0.0.1", str(port), *map(str, OBJECTS)])
        assert stored.returncode == 0, stored.stderr
        archive = Archive(port, move_port, third_port, folder)
        archive.dcmtk_port = dcmtk_port
        yield archive


def move_both(archive: Archive, tmp_path: Path, args: list[str], files: list[str] = ()):
    """The same move with DCMTK's movescu (as DCMTKMOVE) and ours (as MOVESCU), each into its own -od."""
    results = {}
    for name, tool, aet, listen in (
        ("theirs", dcmtk("movescu"), "DCMTKMOVE", archive.dcmtk_port),
        ("mine", ours("movescu"), "MOVESCU", archive.move_port),
    ):
        if name == "theirs" and "--report" in args:
            continue  # not a DCMTK option
        out = tmp_path / name
        out.mkdir()
        done = run(
            [
                tool,
                "-aet",
                aet,
                "-aec",
                "QRSCP",
                "--port",
                str(listen),
                "-od",
                str(out),
                *args,
                "127.0.0.1",
                str(archive.port),
                *files,
            ],
            timeout=60,
        )
        results[name] = (done, out)
    return results


LEVELS = {
    "patient": ["-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", f"PatientID={dcmread(MR_SMALL).PatientID}"],
    "study": ["-S", "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={dcmread(CT_SMALL).StudyInstanceUID}"],
    "series": [
        "-S",
        "-k",
        "QueryRetrieveLevel=SERIES",
        "-k",
        f"StudyInstanceUID={dcmread(MR_SMALL).StudyInstanceUID}",
        "-k",
        f"SeriesInstanceUID={dcmread(MR_SMALL).SeriesInstanceUID}",
    ],
}


@pytest.mark.parametrize("level", list(LEVELS))
def test_move_levels_side_by_side(archive, tmp_path, level):
    """dcmqrscp moving to DCMTK movescu and to ours: same exit code, same file names, data sets
    equal to the originals."""
    results = move_both(archive, tmp_path, LEVELS[level])
    (theirs, their_out), (mine, my_out) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 0, (mine.stderr, theirs.stderr)
    names = sorted(p.name for p in my_out.iterdir())
    assert names == sorted(p.name for p in their_out.iterdir())
    assert names, "nothing was moved"
    originals = {str(dcmread(p).SOPInstanceUID): p for p in OBJECTS}
    for path in my_out.iterdir():
        uid = path.name.split(".", 1)[1]
        assert same_dataset(path, originals[uid]), path.name


def test_verbose_log_matches_dcmtk(archive, tmp_path):
    """The study move at -v: our stderr has DCMTK's lines (sub-association lines may interleave)."""
    results = move_both(archive, tmp_path, ["-v", *LEVELS["study"]])
    theirs, mine = results["theirs"][0].stderr.splitlines(), results["mine"][0].stderr.splitlines()
    summary = [line for line in mine if line.startswith("I: Sub-operations:")]
    assert summary == [
        "I: Sub-operations: 1 completed, 0 failed, 0 warning, 0 remaining; received 1 objects (38732 bytes)"
    ]
    mine = [line for line in mine if line not in summary]  # our one addition
    assert sorted(mine) == sorted(theirs)
    assert mine[:3] == [
        "I: Requesting Association",
        "I: Association Accepted (Max Send PDV: 16372)",
        "I: Sending Move Request (MsgID 1)",
    ]


def test_third_party_move(archive, tmp_path):
    """our movescu -aem STORESCP (no listener) -> dcmqrscp -> DCMTK storescp: the objects arrive there."""
    out = tmp_path / "third"
    out.mkdir()
    with running([dcmtk("storescp"), "-aet", "STORESCP", "-od", str(out), str(archive.third_port)], archive.third_port):
        done = run(
            [ours("movescu"), "-aec", "QRSCP", "-aem", "STORESCP", *LEVELS["patient"], "127.0.0.1", str(archive.port)]
        )
    assert done.returncode == 0, done.stderr
    (only,) = out.iterdir()  # MR_small and its big endian twin share one SOP Instance UID
    assert only.name == f"MR.{dcmread(MR_SMALL).SOPInstanceUID}"


def test_unknown_destination_side_by_side(archive, tmp_path):
    """-aem NOBODY: dcmqrscp answers Move Destination Unknown; both movescus exit 69 with the same warning."""
    results = move_both(archive, tmp_path, ["-aem", "NOBODY", *LEVELS["study"]])
    (theirs, _), (mine, _) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 69
    assert "W: Move response with error status (Refused: MoveDestinationUnknown)" in mine.stderr
    assert mine.stderr == theirs.stderr


def test_cancel_after_first_pending(archive, tmp_path):
    """--cancel 1 on a patient move of several objects: C-CANCEL sent, same exit code as DCMTK."""
    args = [
        "-v",
        "--cancel",
        "1",
        "-P",
        "-k",
        "QueryRetrieveLevel=PATIENT",
        "-k",
        f"PatientID={dcmread(MR_SMALL).PatientID}",
    ]
    results = move_both(archive, tmp_path, args)
    (theirs, _), (mine, _) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode
    assert "I: Sending Cancel Request (MsgID 1, PresID 3)" in mine.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["-k", "NoSuchKeyword=1"],
        ["-k", "0011,1234=x"],
        ["-k", "0028,0010=abc"],
        ["QUERY:/nonexistent/query.dcm"],
        ["-od", "/tmp", "-k", "PatientID=1"],
        ["+te", "+xa", "-k", "PatientID=1"],
        ["+tb", "+xs", "-k", "PatientID=1"],
        ["+B", "+ti", "-k", "PatientID=1"],
        ["+B", "-g", "-k", "PatientID=1"],
        ["+te", "+cl", "5", "-k", "PatientID=1"],
        ["-F", "+p", "8", "8", "-k", "PatientID=1"],
    ],
    ids=[
        "no-query",
        "bad-keyword",
        "unknown-tag",
        "bad-value",
        "missing-file",
        "od-without-port",
        "te-xa",
        "tb-xs",
        "B-ti",
        "B-g",
        "te-cl",
        "F-p",
    ],
)
def test_command_line_errors_side_by_side(args):
    """Bad -k, missing query, -od without --port: DCMTK's error line and exit code 1."""
    options = [a for a in args if not a.startswith("QUERY:")]
    files = [a[6:] for a in args if a.startswith("QUERY:")]
    theirs = run([dcmtk("movescu"), *options, "127.0.0.1", "1", *files])
    mine = run([ours("movescu"), *options, "127.0.0.1", "1", *files])
    assert mine.returncode == theirs.returncode == 1
    assert [x for x in mine.stderr.splitlines() if x.startswith("error:")] == [
        x for x in theirs.stderr.splitlines() if x.startswith("error:")
    ]


def test_keys_leftmost_wins_and_query_file(archive, tmp_path):
    """A query file plus -k overrides (leftmost of duplicates wins): the identifier DCMTK would send."""
    query = tmp_path / "q.dcm"
    ds = dcmread(CT_SMALL, stop_before_pixels=True)
    from pydicom.dataset import Dataset

    q = Dataset()
    q.QueryRetrieveLevel = "PATIENT"
    q.PatientID = "WRONG"
    q.save_as(query, implicit_vr=True, little_endian=True, enforce_file_format=False)
    args = ["-v", "-P", "-k", f"PatientID={ds.PatientID}", "-k", "PatientID=ALSO-WRONG"]
    results = move_both(archive, tmp_path, args, files=[str(query)])
    (theirs, their_out), (mine, my_out) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 0
    dump = [x for x in mine.stderr.splitlines() if x.startswith("I: (0010,0020)")]
    assert dump == [x for x in theirs.stderr.splitlines() if x.startswith("I: (0010,0020)")]
    assert f"[{ds.PatientID}]" in dump[0]
    assert sorted(p.name for p in my_out.iterdir()) == sorted(p.name for p in their_out.iterdir())


def test_no_listener_fails_the_move_but_never_hangs(archive, tmp_path):
    """Moving to ourselves without --port: dcmqrscp cannot connect; ours exits non-zero (DCMTK: 0
    unless the SCP reports a failure) and does not hang."""
    started = time.monotonic()
    mine = run([ours("movescu"), "-aec", "QRSCP", *LEVELS["study"], "127.0.0.1", str(archive.port)], timeout=60)
    assert time.monotonic() - started < 60
    assert mine.returncode in (68, 69)


def test_report_and_progress(archive, tmp_path):
    """--report: the JSON summary has the sub-operation counts and every received object."""
    import json

    report = tmp_path / "report.json"
    results = move_both(archive, tmp_path, ["--report", str(report), *LEVELS["patient"]])
    mine, my_out = results["mine"]
    assert mine.returncode == 0
    data = json.loads(report.read_text())
    assert data["summary"]["completed"] == 1 and data["summary"]["failed"] == 0  # one instance for this patient
    assert data["summary"]["final_statuses"] == [0] and data["summary"]["exit_code"] == 0
    assert len(data["files"]) == 1
    assert {Path(f["path"]).parent for f in data["files"]} == {my_out}
    assert all(f["bytes"] > 0 and f["status"] == 0 for f in data["files"])


def test_write_dataset_without_meta(archive, tmp_path):
    """-F: our movescu writes the bare data set, as DCMTK's does; pydicom reads both the same."""
    results = move_both(archive, tmp_path, ["-F", *LEVELS["study"]])
    (theirs, their_out), (mine, my_out) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 0
    (path,) = my_out.iterdir()
    (their_path,) = their_out.iterdir()
    assert path.name == their_path.name
    assert path.read_bytes()[128:132] != b"DICM" and their_path.read_bytes()[128:132] != b"DICM"
    assert dcmread(path, force=True).SOPInstanceUID == dcmread(CT_SMALL).SOPInstanceUID


REENCODE = [
    ["+te"],
    ["+tb"],
    ["+ti"],
    ["+td", "+cl", "9"],
    ["-g"],
    ["+g"],
    ["-e", "+ti"],
    ["+p", "1024", "0"],
    ["-F", "+ti"],
]


@pytest.mark.parametrize("options", REENCODE, ids=lambda o: " ".join(o))
def test_reencoding_output_options_side_by_side(archive, tmp_path, options):
    """The study move with re-encoding output options: our file has the transfer syntax, group
    lengths, sequence lengths and padding DCMTK's has, and the same data set."""
    results = move_both(archive, tmp_path, [*options, *LEVELS["study"]])
    (theirs, their_out), (mine, my_out) = results["theirs"], results["mine"]
    assert mine.returncode == theirs.returncode == 0, (mine.stderr, theirs.stderr)
    (their_path,), (my_path,) = list(their_out.iterdir()), list(my_out.iterdir())
    assert my_path.name == their_path.name
    a, b = dcmread(my_path, force=True), dcmread(their_path, force=True)
    if "-F" not in options:
        assert a.file_meta.TransferSyntaxUID == b.file_meta.TransferSyntaxUID
    assert {t for t in a.keys() if t & 0xFFFF == 0} == {t for t in b.keys() if t & 0xFFFF == 0}, "group lengths"
    if "+p" in options:
        assert my_path.stat().st_size % 1024 == 0 and their_path.stat().st_size % 1024 == 0
    for ds in (a, b):
        _strip_group_lengths(ds)  # ours are top-level only; DCMTK's +g also fills sequence items
    assert a == b


def _strip_group_lengths(ds) -> None:
    for tag in [t for t in ds.keys() if t & 0xFFFF == 0 or t == 0xFFFCFFFC]:
        del ds[tag]
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                _strip_group_lengths(item)
