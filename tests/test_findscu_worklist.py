"""findscu's sequence keys: a modality worklist query against DCMTK's wlmscpfs, side by side.

"DCMTK findscu" is /usr/bin/findscu; "our findscu" is this package's console script.  Both run
with the same arguments (``-W``, the default model) against one wlmscpfs serving the worklist
below.  wlmscpfs answers the called AE title from the folder of that name: it is "QRSCP" so
that ``test_findscu.both`` (which calls that title) drives both tools here too.  Nothing is
normalised: the identifier dumps print the sequences' items, nested, as DCMTK's do.

The path reader itself (``move.keys``) is tested at the end without a peer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from dimse.cli.options import CommandLineError
from dimse.move.identifier import KeyIdentifier
from dimse.move.keys import BadPath, apply_keys, apply_paths, parse_keys, parse_path

from .conftest import dcmtk, free_port, ours, run, running
from .test_findscu import FIND_FAILED, assert_same, both

WORKLIST_CLASS = "1.2.840.10008.5.1.4.31"
#: (PatientName, PatientID, Modality, ScheduledProcedureStepStartDate, ScheduledStationAETitle)
ITEMS = [
    ("DOE^JOHN", "P1", "CT", "20240105", "CTSCANNER"),
    ("DOE^JANE", "P2", "MR", "20240110", "MRSCANNER"),
    ("SMITH^ANN", "P3", "CT", "20240120", "CTSCANNER"),
    ("JONES^BOB", "P4", "US", "20240112", "USROOM"),
]


@dataclass
class Worklist:
    port: int
    folder: Path


def _item(number: int, name: str, patient: str, modality: str, date: str, station: str) -> Dataset:
    """One worklist entry (a .wl file for wlmscpfs)."""
    step = Dataset()
    step.Modality = modality
    step.ScheduledStationAETitle = station
    step.ScheduledProcedureStepStartDate = date
    step.ScheduledProcedureStepStartTime = "0900"
    step.ScheduledPerformingPhysicianName = "WHO^DR"
    step.ScheduledProcedureStepDescription = f"{modality} step {number}"
    step.ScheduledProcedureStepID = f"SPS{number}"
    code = Dataset()
    code.CodeValue = f"P-{modality}"
    code.CodingSchemeDesignator = "99LOCAL"
    code.CodeMeaning = f"{modality} protocol"
    step.ScheduledProtocolCodeSequence = Sequence([code])
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = name
    ds.PatientID = patient
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.AccessionNumber = f"ACC{number}"
    ds.RequestedProcedureID = f"RP{number}"
    ds.RequestedProcedureDescription = f"procedure {number}"
    ds.StudyInstanceUID = f"1.2.826.0.1.3680043.2.1143.{number}"
    ds.ScheduledProcedureStepSequence = Sequence([step])
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = WORKLIST_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = f"{ds.StudyInstanceUID}.1"
    return ds


@pytest.fixture(scope="module")
def worklist(tmp_path_factory):
    """wlmscpfs on loopback, its AE folder QRSCP holding the four ITEMS."""
    folder = tmp_path_factory.mktemp("wl")
    entries = folder / "QRSCP"
    entries.mkdir()
    (entries / "lockfile").touch()
    for number, fields in enumerate(ITEMS, 1):
        _item(number, *fields).save_as(entries / f"item{number}.wl", enforce_file_format=True)
    port = free_port()
    with running([dcmtk("wlmscpfs"), "-q", "-dfp", str(folder), str(port)], port):
        yield Worklist(port, folder)


SPS = "ScheduledProcedureStepSequence"
#: name -> (-k keys, the PatientIDs that must come back)
QUERIES = {
    "modality": (
        [f"{SPS}[0].Modality=CT", "PatientName", "PatientID", "AccessionNumber", f"{SPS}[0].ScheduledStationAETitle"],
        {"P1", "P3"},
    ),
    "date-range": (
        ["(0040,0100)[0].(0040,0002)=20240108-20240115", "PatientID", "(0040,0100)[0].(0008,0060)"],
        {"P2", "P4"},
    ),
    "name-wildcard": (["PatientName=DOE*", "PatientID", SPS, "StudyInstanceUID", "RequestedProcedureID"], {"P1", "P2"}),
    "tag-path-station": (["0040,0100[0].0040,0001=MRSCANNER", "0010,0020", "0040,0100[0].0040,0009"], {"P2"}),
    "nested": ([f"{SPS}[0].ScheduledProtocolCodeSequence[0].CodeValue", f"{SPS}[0].Modality=US", "PatientID"], {"P4"}),
    "rightmost-wins": (["PatientName=NOBODY", "PatientName=SMITH*", "PatientID", f"{SPS}[0].Modality"], {"P3"}),
    "no-match": ([f"{SPS}[0].Modality=NM", "PatientName", "PatientID"], set()),
}


def _args(keys: list[str]) -> list[str]:
    return [arg for key in keys for arg in ("-k", key)]


def _extract(worklist: Worklist, tmp_path: Path, keys: list[str]) -> dict[str, tuple[object, Path]]:
    """DCMTK's and our findscu with -X into their own folders: name -> (run, folder)."""
    out = {}
    for name, tool in (("theirs", dcmtk("findscu")), ("mine", ours("findscu"))):
        folder = tmp_path / name
        folder.mkdir()
        done = run([tool, "-X", "-od", str(folder), "-aec", "QRSCP", *_args(keys), "127.0.0.1", str(worklist.port)])
        out[name] = (done, folder)
    return out


@pytest.mark.parametrize("name", list(QUERIES))
def test_worklist_extracted_files_side_by_side(worklist, tmp_path, name):
    """Both findscus, -X: the same exit code and stderr, the same rsp*.dcm files, their data
    sets equal (sequences included), and the worklist entries the keys select."""
    keys, expected = QUERIES[name]
    out = _extract(worklist, tmp_path, keys)
    (theirs, their_folder), (mine, my_folder) = out["theirs"], out["mine"]
    assert_same(theirs, mine)
    names = sorted(p.name for p in my_folder.iterdir())
    assert names == sorted(p.name for p in their_folder.iterdir())
    found = set()
    for file_name in names:
        a, b = dcmread(my_folder / file_name), dcmread(their_folder / file_name)
        assert Dataset(a) == Dataset(b)
        found.add(a.PatientID)
    assert found == expected


@pytest.mark.parametrize("level", ["", "-v"])
@pytest.mark.parametrize("name", ["modality", "nested", "no-match"])
def test_worklist_log_side_by_side(worklist, name, level):
    """Both findscus at the default level and -v: the same stderr, byte for byte (the request
    and response blocks with the sequences' items and their lengths), and exit code."""
    args = [*([level] if level else []), *_args(QUERIES[name][0])]
    theirs, mine = both(worklist, args)
    assert (theirs.returncode, mine.returncode) == (0, 0), mine.stderr
    assert mine.stderr == theirs.stderr
    responses = len(QUERIES[name][1])
    assert mine.stderr.count("(Pending)") == responses
    if name == "nested":  # each response's nested sequence, its length as received
        assert mine.stderr.count("I:     (0040,0008) SQ (Sequence with explicit length #=1)      #  20, 1") == responses
    if level:  # the request's path: built in memory, so its lengths are 0
        assert "I: (0040,0100) SQ (Sequence with explicit length #=1)      #   0, 1 Sched" in mine.stderr


@pytest.mark.parametrize(("proposal", "length"), [([], 46), (["-xi"], 42)], ids=["explicit", "implicit"])
def test_worklist_repeat_side_by_side(worklist, proposal, length):
    """Both findscus, -v --repeat 2, a nested path and an empty sequence, explicit or implicit
    VR on the wire: the same stderr; the second request dump shows the identifier as sent
    (values padded, sequence and item lengths as encoded in the association's transfer syntax,
    which its header names) where the first shows DCMTK's in-memory 0s."""
    keys = [*QUERIES["nested"][0], "ReferencedStudySequence"]
    theirs, mine = both(worklist, ["-v", *proposal, "--repeat", "2", *_args(keys)])
    assert (theirs.returncode, mine.returncode) == (0, 0), mine.stderr
    assert mine.stderr == theirs.stderr
    first, second = mine.stderr.split("Sending Find Request (MsgID 2)")
    line = "I: (0040,0100) SQ (Sequence with explicit length #=1)      # {:>3}, 1 ScheduledProcedureStepSequence"
    assert line.format(0) in first and line.format(length) in second


def test_worklist_json_lines_match_dcmtk_files(worklist, tmp_path):
    """--json (ours only): one DICOM JSON object per response, equal to pydicom's JSON of the
    files DCMTK's findscu -X wrote for the same worklist query; the sequence values are there."""
    keys = QUERIES["modality"][0]
    theirs = _extract(worklist, tmp_path, keys)["theirs"][1]
    mine = run([ours("findscu"), "--json", "-aec", "QRSCP", *_args(keys), "127.0.0.1", str(worklist.port)])
    assert mine.returncode == 0 and mine.stderr == ""
    lines = [json.loads(line) for line in mine.stdout.splitlines()]
    assert lines == [dcmread(p).to_json_dict() for p in sorted(theirs.glob("rsp*.dcm"))]
    steps = [Dataset.from_json(line).ScheduledProcedureStepSequence[0] for line in lines]
    assert [(s.Modality, s.ScheduledStationAETitle) for s in steps] == [("CT", "CTSCANNER")] * 2


BAD_PATHS = [
    f"{SPS}[x].Modality=CT",
    f"{SPS}[-1].Modality=CT",
    f"{SPS}[*].Modality=CT",
    f"{SPS}.Modality=CT",
    f"{SPS}[0].NoSuchKeyword=1",
    "PatientName[0].Modality=CT",
    f"{SPS}[0]=CT",
    "(0040,0100)[0].(0008,0060",
    f"{SPS}[0].Rows=abc",
    "=CT",
]


@pytest.mark.parametrize("key", BAD_PATHS)
def test_bad_path_side_by_side(worklist, key):
    """A bad path: after the association, DCMTK's two error lines and an abort, nothing sent;
    ours exits 69 where DCMTK exits 0 (documented for any bad -k)."""
    theirs, mine = both(worklist, ["-v", "-k", "PatientID", "-k", key])
    assert mine.stderr == theirs.stderr
    assert f"E: Bad override key/path: {key}\n" in mine.stderr and "Sending Find Request" not in mine.stderr
    assert (theirs.returncode, mine.returncode) == (0, FIND_FAILED)


# ------------------------------------------------------------------------- the path reader


def test_path_builds_the_items_up_to_the_one_named():
    """``Seq[1].Seq[0].Leaf=v``: an empty item 0, then item 1 holding the nested path."""
    key = parse_path(f"{SPS}[1].ScheduledProtocolCodeSequence[0].CodeValue=X")
    assert key.tag == 0x00400100 and key.VR == "SQ" and len(key.value) == 2
    assert len(key.value[0]) == 0
    assert key.value[1].ScheduledProtocolCodeSequence[0].CodeValue == "X"
    only_item = parse_path("(0040,0100)[2]")
    assert [len(item) for item in only_item.value] == [0, 0, 0]
    assert parse_path(SPS).value == Sequence() and parse_path(f"{SPS}[0].Modality").value[0]["Modality"].value is None
    assert parse_path("ScheduledProcedureStepSequence[ +1 ]xModality=CT").value[1].Modality == "CT"  # DCMTK's sscanf


def test_paths_apply_in_order_and_keep_what_is_there():
    """findscu's order: the rightmost key wins, items found are kept, the keys are unchanged
    (the next query file gets the same)."""
    texts = [f"{SPS}[0].Modality=CT", f"{SPS}[0].Modality=MR", f"{SPS}[1]", SPS, "PatientName=A"]
    keys = [parse_path(text) for text in texts]
    query = Dataset()
    query.PatientName = "B"
    query.ScheduledProcedureStepSequence = Sequence([Dataset()])
    query.ScheduledProcedureStepSequence[0].ScheduledStationAETitle = "KEPT"
    first = apply_paths(query, keys)
    steps = first.ScheduledProcedureStepSequence
    assert (first.PatientName, len(steps)) == ("A", 2)
    assert (steps[0].Modality, steps[0].ScheduledStationAETitle) == ("MR", "KEPT")
    again = apply_paths(Dataset(), keys)
    assert len(again.ScheduledProcedureStepSequence) == 2 and "ScheduledStationAETitle" not in again[SPS].value[0]


def test_movescu_keys_leftmost_wins_and_paths_merge():
    """movescu's order: right to left with replace (the leftmost wins); paths merge into one
    item; top-level keys keep movescu's reading, fast path included."""
    keys = parse_keys(["PatientID=1", "PatientID=2", f"{SPS}[0].Modality=CT", f"{SPS}[0].ScheduledStationAETitle="])
    ds = apply_keys(Dataset(), keys)
    assert ds.PatientID == "1"
    assert (ds[SPS].value[0].Modality, ds[SPS].value[0]["ScheduledStationAETitle"].value) == ("CT", None)
    with pytest.raises(CommandLineError, match=r"^bad key format or .* dictionary: \(0010,0010\)$"):
        parse_keys(["(0010,0010)=X"])  # DCMTK's movescu has no (gggg,eeee) form
    with pytest.raises(BadPath, match=r"^bad override key/path: .*: Unable to parse item number .*: \[x\]$"):
        parse_keys([f"{SPS}[x]"])
    assert KeyIdentifier.parse(["0008,0060[0].Modality=CT"]) is None  # a path, not Modality
    assert KeyIdentifier.parse(["0008,0060=CT"]) is not None


@pytest.mark.parametrize(
    ("key", "condition"),
    [
        (f"{SPS}[0].Modality[0].X=1", "0001:0019 Invalid Path: Non-sequence tag found with rest path following"),
        ("(0040,0100)xyz", "0001:0019 Unable to parse item number at beginning of path: xyz"),
        (f"{SPS}[0].Modality]=CT", "0001:0019 Unable to parse tag/dictionary name at beginning of path: Modality]"),
        ("PatientName*=x", "0001:0019 Item wildcard '*' found in path but wildcards disabled"),
        ("(0040,0100)[0].(0040,0008)=x", "0001:0019 Cannot insert value into path ending with item or sequence"),
        (f"{SPS}[70000]", "0001:0019 Item number above 65535 at beginning of path: [70000]"),
    ],
)
def test_path_conditions(key, condition):
    """DCMTK 3.6.7's condition texts for bad paths (checked against its findscu when written;
    the item limit is ours)."""
    with pytest.raises(BadPath) as caught:
        parse_path(key)
    assert caught.value.condition == condition
