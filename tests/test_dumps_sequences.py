"""Data set dumps with sequences: ours against DCMTK's dcmdump, element line for element line.

"dcmdump" is /usr/bin/dcmdump; "ours" is ``find.output.dump_identifier`` (the findscu response
dump: ``wire_view`` then ``dcmtk.dumps.dump_dataset``).  dcmdump and DCMTK's network tools share
dcmdata's print code; what differs is compared away by running dcmdump with ``-dc`` (the network
tools keep values as received: padding, odd lengths) and ``+L`` (they do not shorten long
values), and by comparing from the ``# Dicom-Data-Set`` line on (dcmdump first prints the
``# Dicom-File-Format`` header and the file meta group).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dimse.find.output import dump_identifier, padded_view
from dimse.move.keys import apply_paths, parse_path

from .conftest import SAMPLES, dcmtk

#: pydicom's bundled files with sequences: what each brings
BUNDLED = {
    "rtplan.dcm": "implicit VR, explicit lengths, three levels",
    "reportsi.dcm": "undefined lengths, empty sequences",
    "test-SR.dcm": "explicit VR, lengths above 999, text with line breaks, empty sequences",
    "nested_priv_SQ.dcm": "unknown tags (??), an odd length, undefined lengths",
    "UN_sequence.dcm": "a UN sequence of undefined length read as SQ",
    "badVR.dcm": "a value pydicom cannot parse (IS 1A)",
}


def _data_set_block(text: str) -> str:
    return text[text.index("# Dicom-Data-Set") :]


def _dcmdump(path: Path) -> str:
    done = subprocess.run([dcmtk("dcmdump"), "-dc", "+L", str(path)], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return _data_set_block(done.stdout.decode("latin-1"))


def _ours(path: Path) -> str:
    ds = dcmread(path, force=True)
    return _data_set_block(dump_identifier(ds, ds.file_meta.TransferSyntaxUID, raw=True))


@pytest.mark.parametrize("name", list(BUNDLED))
def test_bundled_file_like_dcmdump(name):
    """dcmdump and ours on a bundled file: the same data set block, byte for byte."""
    path = SAMPLES / name
    theirs = _dcmdump(path)
    assert _ours(path) == theirs
    assert "  (fffe,e000) na (Item with " in theirs  # items are there to compare


def _mixed(implicit: bool) -> Dataset:
    """A data set with an empty sequence, an empty item, an undefined length item in an
    explicit length sequence, odd-length UN bytes, binary and numeric values and a long one."""
    inner = Dataset()
    inner.CodeValue = "ABC"
    inner.CodeMeaning = "x" * 90
    inner.is_undefined_length_sequence_item = True
    item = Dataset()
    item.Rows = 512
    item.FrameIncrementPointer = [0x00181063, 0x00185050]
    item.add_new(0x00091001, "UN", b"\x01\x02\x03")
    item.add_new(0x00091002, "OB", b"\x00\xff")
    item.add_new(0x00091003, "OW", b"\x01\x02\x03\x04")
    item.add_new(0x00091004, "FL", [0.5, 255.0])
    item.ConceptNameCodeSequence = Sequence([inner, Dataset()])
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.31"
    ds.SOPInstanceUID = "1.2.3"  # written with a NUL pad
    ds.ImageType = ["ORIGINAL", "PRIMARY", "X"]
    ds.ReferencedStudySequence = Sequence([])
    ds.ContentSequence = Sequence([Dataset(), item])
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    return ds


@pytest.mark.parametrize("implicit", [False, True])
def test_empty_item_and_mixed_values_like_dcmdump(tmp_path, implicit):
    """dcmdump and ours on a file pydicom writes (explicit and implicit VR): the same block;
    ours twice over one data set gives the same (the dump leaves it as read)."""
    path = tmp_path / "mixed.dcm"
    with pytest.warns(UserWarning, match="exceeds the maximum length"):
        _mixed(implicit).save_as(path, enforce_file_format=True)
    theirs = _dcmdump(path)
    ds = dcmread(path)
    ours = _data_set_block(dump_identifier(ds, ds.file_meta.TransferSyntaxUID, raw=True))
    assert ours == theirs
    assert _data_set_block(dump_identifier(ds, ds.file_meta.TransferSyntaxUID, raw=True)) == ours
    assert "  (fffe,e000) na (Item with explicit length #=0)          #   0, 1 Item\n" in theirs


def test_sent_request_lengths_follow_the_transfer_syntax():
    """padded_view (findscu --repeat): sequence and item lengths as encoded, an SQ header 12
    bytes in explicit VR and 8 in implicit; DCMTK's findscu printed 38/30 and 34/26 for this
    key with -v --repeat 2 (explicit, -xi), checked when written."""
    keys = apply_paths(
        Dataset(), [parse_path("ScheduledProcedureStepSequence[0].ScheduledProtocolCodeSequence[0].CodeValue=X")]
    )
    for syntax, lengths in ((ExplicitVRLittleEndian, ("38", "30")), (ImplicitVRLittleEndian, ("34", "26"))):
        lines = dump_identifier(padded_view(keys, syntax), syntax, raw=False).splitlines()
        assert lines[3].endswith(f"#  {lengths[0]}, 1 ScheduledProcedureStepSequence")
        assert lines[4] == f"  (fffe,e000) na (Item with explicit length #=1)          #  {lengths[1]}, 1 Item"
        assert lines[7].endswith("#   2, 1 CodeValue") and "[X ]" in lines[7]
