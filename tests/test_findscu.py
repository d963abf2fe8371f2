"""findscu against DCMTK's dcmqrscp (the C-FIND SCP), side by side with DCMTK's findscu.

"DCMTK findscu" is /usr/bin/findscu; "our findscu" is this package's console script.  Unless a
test says otherwise, both run with the same arguments against the same dcmqrscp (the archive
of tests/test_movescu.py: five objects of four patients/studies) and must print the same
stderr lines and exit with the same code.  Normalised: only the banner line at -d and the
lines DCMTK's libraries print at -d that ours has no counterpart for.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from . import test_movescu
from .conftest import CT_SMALL, MR_SMALL, dcmtk, free_port, ours, run

#: the module-scoped dcmqrscp archive of test_movescu (shared, not copied)
archive = test_movescu.archive

CT, MR = dcmread(CT_SMALL, stop_before_pixels=True), dcmread(MR_SMALL, stop_before_pixels=True)
FIND_FAILED = 69  # ours where DCMTK exits 0 (docs/compatibility.md)


def both(archive, args: list[str], files: list[str] = (), cwd: Path | None = None, host_args=None):
    """DCMTK's findscu, then ours, with the same arguments; returns (theirs, mine)."""
    where = host_args or ["127.0.0.1", str(archive.port)]
    common = ["-aec", "QRSCP", *args, *where, *files]
    theirs = run([dcmtk("findscu"), *common], timeout=30, cwd=cwd)
    mine = run([ours("findscu"), *common], timeout=30, cwd=cwd)
    return theirs, mine


def assert_same(theirs, mine, code: int = 0) -> None:
    assert (theirs.returncode, mine.returncode) == (code, code), (theirs.stderr, mine.stderr)
    assert mine.stderr.splitlines() == theirs.stderr.splitlines()
    assert mine.stdout == theirs.stdout == ""


QUERIES = {
    "study-wildcard": ["-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID", "-k", "PatientName=Compr*"],
    "patient": ["-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID", "-k", "PatientName"],
    "series": [
        "-S",
        "-k",
        "QueryRetrieveLevel=SERIES",
        "-k",
        f"StudyInstanceUID={MR.StudyInstanceUID}",
        "-k",
        "SeriesInstanceUID",
        "-k",
        "Modality",
    ],
    "image": [
        "-P",
        "-k",
        "QueryRetrieveLevel=IMAGE",
        "-k",
        f"PatientID={CT.PatientID}",
        "-k",
        f"StudyInstanceUID={CT.StudyInstanceUID}",
        "-k",
        f"SeriesInstanceUID={CT.SeriesInstanceUID}",
        "-k",
        "SOPInstanceUID",
    ],
    "psonly": ["-O", "-k", "QueryRetrieveLevel=STUDY", "-k", f"PatientID={MR.PatientID}", "-k", "StudyDate"],
    "no-match": ["-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "PatientName=Nobody*", "-k", "StudyInstanceUID"],
    "tag-keys": ["-S", "-k", "0008,0052=STUDY", "-k", "0010,0020", "-k", "0020,000d"],
}


@pytest.mark.parametrize("level", ["", "-v"])
@pytest.mark.parametrize("name", list(QUERIES))
def test_queries_side_by_side(archive, name, level):
    """Both findscus, default level and -v: the same response blocks, lines and exit code."""
    args = [level, *QUERIES[name]] if level else QUERIES[name]
    theirs, mine = both(archive, args)
    assert_same(theirs, mine)
    if name != "no-match":
        assert "I: Find Response: 1 (Pending)" in mine.stderr
    else:
        assert "Find Response:" not in mine.stderr and "(Pending)" not in mine.stderr


def test_debug_output_side_by_side(archive):
    """-d: the same I:/E: lines and the same "Response Identifiers" dumps (D: lines of DCMTK's
    own libraries that ours has no counterpart for are left out)."""
    theirs, mine = both(archive, ["-d", *QUERIES["study-wildcard"]])
    assert theirs.returncode == mine.returncode == 0

    def shown(text: str) -> list[str]:
        keep, block = [], False
        for line in text.splitlines():
            if line.startswith("D: Response Identifiers:"):
                block = True
            elif block and not (line.startswith("D: (") or line.startswith("D: #") or line == "D: "):
                block = False
            if not line.startswith("D: ") or block or "DIMSE Status" in line:
                keep.append(line)
        return keep

    assert shown(mine.stderr) == shown(theirs.stderr)
    assert "D: DIMSE Status                  : 0xff00: Pending: Matches are continuing" in mine.stderr


@pytest.mark.parametrize(
    "options",
    [["-sr"], ["-v", "-sr"], ["+sr", "-q"], ["-ll", "warn"], ["-ll", "info"], ["-q"]],
    ids=lambda o: " ".join(o),
)
def test_response_display_options_side_by_side(archive, options):
    """+sr/-sr/-q/-ll: when the identifier blocks reach the log, as DCMTK decides it."""
    theirs, mine = both(archive, [*options, *QUERIES["patient"]])
    assert_same(theirs, mine)


def test_query_files_side_by_side(archive, tmp_path):
    """Two query files (one overridden by -k): two requests, responses numbered across both,
    the file's own encoding and padding in the request dump."""
    files = []
    for i, patient in enumerate(("CompressedSamples^CT1", "CompressedSamples^MR1")):
        q = Dataset()
        q.QueryRetrieveLevel = "PATIENT"
        q.PatientName = patient
        q.PatientID = ""
        path = tmp_path / f"q{i}.dcm"
        q.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=False)
        files.append(str(path))
    theirs, mine = both(archive, ["-v", "-P", "-k", "PatientBirthDate"], files=files)
    assert_same(theirs, mine)
    assert "I: Sending Find Request (MsgID 2)" in mine.stderr
    assert "I: Find Response: 3 (Pending)" in mine.stderr
    assert "I: # Used TransferSyntax: Little Endian Implicit" in mine.stderr


def test_extract_files_side_by_side(archive, tmp_path):
    """-X -od: the same file names, and data sets equal to DCMTK's (the meta header differs:
    ours names the C-FIND class and our implementation)."""
    out = {}
    for name, tool in (("theirs", dcmtk("findscu")), ("mine", ours("findscu"))):
        folder = tmp_path / name
        folder.mkdir()
        done = run([tool, "-v", "-X", "-od", str(folder), "-aec", "QRSCP", *QUERIES["study-wildcard"], "127.0.0.1", str(archive.port)])
        assert done.returncode == 0, done.stderr
        out[name] = (folder, done.stderr.replace(str(folder), "OUT").splitlines())
    assert out["mine"][1] == out["theirs"][1]
    names = sorted(p.name for p in out["mine"][0].iterdir())
    assert names == sorted(p.name for p in out["theirs"][0].iterdir()) == ["rsp0001.dcm", "rsp0002.dcm"]
    for name in names:
        a, b = dcmread(out["mine"][0] / name), dcmread(out["theirs"][0] / name)
        assert a.file_meta.TransferSyntaxUID == b.file_meta.TransferSyntaxUID
        assert Dataset(a) == Dataset(b)


def test_extract_limit_side_by_side(archive, tmp_path):
    """-X -Xlo 1: one file, then DCMTK's line about the limit, once."""
    args = ["-v", "-X", "-Xlo", "1", *QUERIES["study-wildcard"]]
    theirs, mine = both(archive, args, cwd=tmp_path)
    assert_same(theirs, mine)
    assert mine.stderr.count("Maximum number of responses already written") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rsp0001.dcm"]


def test_cancel_after_first_response(archive):
    """--cancel 1: C-CANCEL after the first pending response; the same lines up to it (how many
    more dcmqrscp sends before it reads the cancel is its own timing, and so is its final
    status: Success when it had sent every match before reading the cancel, else Cancel)."""
    theirs, mine = both(archive, ["-v", "--cancel", "1", *QUERIES["study-wildcard"]])
    assert theirs.returncode == mine.returncode == 0
    line = "I: Sending Cancel Request (MsgID 1, PresID 1)"
    upto = [x.split(line)[0].splitlines() for x in (theirs.stderr, mine.stderr)]
    assert line in mine.stderr and upto[0] == upto[1]
    final = {"I: Received Final Find Response (Success)",
             "I: Received Final Find Response (Cancel: MatchingTerminatedDueToCancelRequest)"}
    last = mine.stderr.splitlines()[-2:]
    assert last[0] in final and last[1] == "I: Releasing Association", last


@pytest.mark.parametrize("extra", [["--repeat", "2"], ["--repeat", "2", "--abort"], ["--abort"]])
def test_repeat_and_abort_side_by_side(archive, extra):
    """--repeat 2 (the second request dump shows DCMTK's padding, responses numbered on) and --abort."""
    theirs, mine = both(archive, ["-v", *extra, *QUERIES["patient"]])
    assert_same(theirs, mine)
    assert mine.stderr.splitlines()[-1] == ("I: Aborting Association" if "--abort" in extra else "I: Releasing Association")


def test_error_status(archive):
    """No QueryRetrieveLevel: dcmqrscp answers an error status; the same lines, and ours exits 69
    (DCMTK 0)."""
    theirs, mine = both(archive, ["-v", "-S", "-k", "PatientName"])
    assert mine.stderr == theirs.stderr
    assert "I: Received Final Find Response (Error: DataSetDoesNotMatchSOPClass)" in mine.stderr
    assert (theirs.returncode, mine.returncode) == (0, FIND_FAILED)


@pytest.mark.parametrize("key", ["NoSuchKeyword=1", "0011,1234=x", "0028,0010=abc"])
def test_bad_key_side_by_side(archive, key):
    """A bad -k: after the association, DCMTK's two error lines and an abort; ours exits 69 (DCMTK 0)."""
    theirs, mine = both(archive, ["-v", "-S", "-k", key])
    assert mine.stderr == theirs.stderr
    assert f"E: Bad override key/path: {key}" in mine.stderr
    assert (theirs.returncode, mine.returncode) == (0, FIND_FAILED)


def test_unreadable_query_file_side_by_side(archive, tmp_path):
    """A query file that is no DICOM: DCMTK's lines; ours exits 69 (DCMTK 0)."""
    bad = tmp_path / "bad.dcm"
    bad.write_text("hello\n")
    theirs, mine = both(archive, ["-v", "-S"], files=[str(bad)])
    assert mine.stderr == theirs.stderr
    assert (theirs.returncode, mine.returncode) == (0, FIND_FAILED)


def test_rejected_association_side_by_side(archive):
    """-aec WRONG: dcmqrscp rejects the called AE title; same lines, both exit 2."""
    common = ["-v", "-aec", "WRONG", *QUERIES["patient"], "127.0.0.1", str(archive.port)]
    theirs, mine = run([dcmtk("findscu"), *common]), run([ours("findscu"), *common])
    assert_same(theirs, mine, 2)
    assert "E: Reason: Called AE Title Not Recognized" in mine.stderr


def test_worklist_against_qr_archive(archive):
    """-W (the default model) to dcmqrscp, which has no worklist: no acceptable context, exit 2."""
    theirs, mine = both(archive, ["-k", "PatientName"])
    assert_same(theirs, mine, 2)
    assert mine.stderr == "E: No Acceptable Presentation Contexts\n"


def test_connection_refused_side_by_side():
    """Nothing listening: DCMTK's one error line, both exit 2."""
    port = free_port()
    common = ["-S", "-k", "QueryRetrieveLevel=STUDY", "127.0.0.1", str(port)]
    theirs, mine = run([dcmtk("findscu"), *common]), run([ours("findscu"), *common])
    assert_same(theirs, mine, 2)
    assert mine.stderr == "E: Association Request Failed: 0006:031c TCP Initialization Error: Connection refused\n"


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["QUERY:/nonexistent/query.dcm"],
        ["-k", "PatientID", "--repeat", "0"],
        ["-k", "PatientID", "--cancel", "-1"],
        ["-k", "PatientID", "+cl", "5"],
        ["-k", "PatientID", "-xd", "+cl", "10"],
        ["-k", "PatientID", "-Xlo", "2"],
        ["-k", "PatientID", "-X", "-Xlo", "0"],
        ["-k", "PatientID", "-to", "0"],
    ],
    ids=["no-query", "missing-file", "repeat-0", "cancel-neg", "cl-without-xd", "cl-range", "Xlo-alone", "Xlo-0", "to-0"],
)
def test_command_line_errors_side_by_side(args):
    """DCMTK's error line and exit code 1 (no network work)."""
    options = [a for a in args if not a.startswith("QUERY:")]
    files = [a[6:] for a in args if a.startswith("QUERY:")]
    theirs = run([dcmtk("findscu"), *options, "127.0.0.1", "1", *files])
    mine = run([ours("findscu"), *options, "127.0.0.1", "1", *files])
    assert theirs.returncode == mine.returncode == 1
    errors = [[x for x in p.stderr.splitlines() if x.startswith("error:")] for p in (theirs, mine)]
    assert errors[1] == errors[0] and errors[0]


def test_missing_output_directory_side_by_side():
    """-X -od to nowhere: DCMTK's fatal line before any connection, exit 1."""
    common = ["-X", "-od", "/nonexistent/dir", "-k", "PatientID", "127.0.0.1", "1"]
    theirs, mine = run([dcmtk("findscu"), *common]), run([ours("findscu"), *common])
    assert_same(theirs, mine, 1)
    assert mine.stderr == "F: specified output directory does not exist\n"


def test_json_lines_match_dcmtk_extracted_files(archive, tmp_path):
    """--json (ours only, beyond DCMTK): one valid DICOM JSON object per response on stdout,
    equal to pydicom's JSON of the files DCMTK's findscu -X wrote for the same query; the
    identifier blocks leave the log as with -X."""
    done = run([dcmtk("findscu"), "-X", "-aec", "QRSCP", *QUERIES["study-wildcard"], "127.0.0.1", str(archive.port)], cwd=tmp_path)
    assert done.returncode == 0
    mine = run([ours("findscu"), "--json", "-aec", "QRSCP", *QUERIES["study-wildcard"], "127.0.0.1", str(archive.port)])
    assert mine.returncode == 0 and mine.stderr == ""
    lines = mine.stdout.splitlines()
    expected = [dcmread(p).to_json_dict() for p in sorted(tmp_path.glob("rsp*.dcm"))]
    assert [json.loads(line) for line in lines] == expected
    assert len(lines) == 2
    assert {str(Dataset.from_json(line).PatientName) for line in lines} == {"CompressedSamples^CT1", "CompressedSamples^MR1"}


def test_python_m_dimse_findscu(archive):
    """``python -m dimse findscu`` is the same tool (ours only)."""
    import sys

    common = ["-aec", "QRSCP", *QUERIES["patient"], "127.0.0.1", str(archive.port)]
    via_m = run([sys.executable, "-m", "dimse", "findscu", *common])
    script = run([ours("findscu"), *common])
    assert via_m.returncode == script.returncode == 0
    assert via_m.stderr == script.stderr and "Find Response: 1 (Pending)" in via_m.stderr


def test_worklist_model_proposed_to_pynetdicom(tmp_path):
    """-W (ours only; dcmqrscp has no worklist): the Modality Worklist FIND class is proposed
    and a pynetdicom worklist SCP's identifiers come back."""
    pynetdicom = pytest.importorskip("pynetdicom")
    from pynetdicom.sop_class import ModalityWorklistInformationFind

    seen = []

    def handle_find(event):
        seen.append(event.request.AffectedSOPClassUID)
        item = Dataset()
        item.PatientName = "WORK^LIST"
        item.PatientID = "WL1"
        yield 0xFF00, item

    ae = pynetdicom.AE(ae_title="WLSCP")
    ae.add_supported_context(ModalityWorklistInformationFind)
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(pynetdicom.evt.EVT_C_FIND, handle_find)]
    )
    try:
        mine = run([ours("findscu"), "--json", "-k", "PatientName", "-k", "PatientID", "127.0.0.1", str(port)])
    finally:
        server.shutdown()
    assert mine.returncode == 0, mine.stderr
    assert seen == [ModalityWorklistInformationFind]
    assert Dataset.from_json(mine.stdout.splitlines()[0]).PatientID == "WL1"


def test_query_file_is_not_changed(archive, tmp_path):
    """A query file with -k overrides is read, never written (ours only)."""
    q = Dataset()
    q.QueryRetrieveLevel = "PATIENT"
    q.PatientID = "X"
    path = tmp_path / "q.dcm"
    q.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=False)
    before = path.read_bytes()
    mine = run([ours("findscu"), "-P", "-aec", "QRSCP", "-k", f"PatientID={MR.PatientID}", "127.0.0.1", str(archive.port), str(path)])
    assert mine.returncode == 0 and f"[{MR.PatientID}]" in mine.stderr
    assert path.read_bytes() == before

