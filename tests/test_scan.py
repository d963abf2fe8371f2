"""The structural check run before a file is streamed unchanged (dimse.files.scan)."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom import dcmread

from dimse.files.part10 import CORRUPTED, BadDicomFile, decode_dataset, read_part10_header, read_sop_uids
from dimse.files.scan import Garbled, Truncated, scan
from dimse.files.source import open_source

from .conftest import CT_SMALL, SAMPLES

EXPECTED_FAILURES = {
    "MR_truncated.dcm": BadDicomFile,
    "rtplan_truncated.dcm": BadDicomFile,
    "SC_rgb_jpeg.dcm": Garbled,  # implicit VR data behind an explicit VR meta header
}


def part10_samples():
    for path in sorted(SAMPLES.glob("*.dcm")):
        try:
            read_part10_header(path)
        except BadDicomFile:
            continue
        yield path


@pytest.mark.parametrize("path", list(part10_samples()), ids=lambda p: p.name)
def test_scan_agrees_with_pydicom_on_every_sample(path):
    header = read_part10_header(path)
    if path.name in EXPECTED_FAILURES:
        with pytest.raises(EXPECTED_FAILURES[path.name]):
            read_sop_uids(header)
        return
    ds = dcmread(path, force=True)
    assert read_sop_uids(header) == (str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", "")))


def test_every_cut_inside_an_element_is_refused():
    """CT_small cut anywhere inside its Pixel Data (or inside an element header): never whole.
    (A cut exactly between two elements leaves a shorter but well-formed data set.)"""
    data = CT_SMALL.read_bytes()
    start = read_part10_header(CT_SMALL).dataset_offset
    pixels = data.index(b"\xe0\x7f\x10\x00OW")
    for cut in [*range(pixels + 1, pixels + 12), *range(pixels + 12, len(data) - 16, 997)]:
        with pytest.raises((Truncated, Garbled)):
            scan(io.BytesIO(data[:cut]), start, cut - start, False, True)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.booleans(), st.booleans())
def test_random_bytes_raise_only_our_errors(data, implicit, little):
    try:
        scan(io.BytesIO(data), 0, len(data), implicit, little)
    except (Truncated, Garbled):
        pass


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.dcm")), ids=lambda p: p.name)
def test_meta_header_as_pydicom_reads_it(path):
    """read_part10_header (quick path, pydicom fallback) gives pydicom's UIDs and data set offset."""
    from pydicom.filereader import _read_file_meta_info, read_preamble

    try:
        with path.open("rb") as fp:
            read_preamble(fp, False)
            meta = _read_file_meta_info(fp)
            offset = fp.tell()
    except Exception:
        with pytest.raises(BadDicomFile):
            read_part10_header(path)
        return
    keywords = ("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID", "TransferSyntaxUID")
    expected = tuple(str(meta.get(k, "") or "").rstrip("\0 ") for k in keywords)
    if "" in expected:
        with pytest.raises(BadDicomFile):
            read_part10_header(path)
        return
    header = read_part10_header(path)
    assert (header.sop_class, header.sop_instance, header.transfer_syntax, header.dataset_offset) == (*expected, offset)


def test_meta_prefix_is_what_pydicom_writes():
    """datasets.meta_prefix (coded directly, for speed) gives the bytes of pydicom's file meta
    writer, with and without a Source AE Title, for UIDs and titles of odd and even length."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info

    from dimse.files.part10 import meta_prefix
    from dimse.uids import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

    for sop_class, instance, syntax, ae in [
        ("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4", "1.2.840.10008.1.2.1", ""),
        ("1.2.840.10008.5.1.4.1.1.4", "1.2.3.45", "1.2.840.10008.1.2", "STORESCU"),
        ("1.2.840.10008.5.1.4.1.1.7", "1.2.3", "1.2.840.10008.1.2.4.50", "ODD"),
    ]:
        meta = FileMetaDataset()
        meta.FileMetaInformationVersion = b"\x00\x01"
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = instance
        meta.TransferSyntaxUID = syntax
        meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
        if ae:
            meta.SourceApplicationEntityTitle = ae
        fp = DicomBytesIO()
        fp.write(bytes(128) + b"DICM")
        write_file_meta_info(fp, meta, enforce_standard=True)
        assert meta_prefix(sop_class, instance, syntax, ae) == fp.getvalue()


LEI, LEE = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"


def with_stray_delimiter(folder) -> str:
    """CT_small with an item delimiter after its first element: well-formed to pydicom's
    forced reading, not to DCMTK (nor to us)."""
    data = CT_SMALL.read_bytes()
    start = read_part10_header(CT_SMALL).dataset_offset
    first_end = start + 8 + int.from_bytes(data[start + 6 : start + 8], "little")
    path = folder / "stray.dcm"
    path.write_bytes(data[:first_end] + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" + data[first_end:])
    return str(path)


def test_source_of_a_whole_file_is_its_bytes_on_disk():
    """Opened once, not decoded: the data set as it is (from memory: a small file was read
    whole with its header), its data set's UIDs; closed once sent."""
    header = read_part10_header(CT_SMALL)
    ds = dcmread(CT_SMALL)
    with open_source(CT_SMALL) as source:
        assert (source.sop_class, source.sop_instance) == (ds.SOPClassUID, ds.SOPInstanceUID)
        assert source.transfer_syntax == header.transfer_syntax == LEE
        payload = source.payload(LEE)
        assert bytes(payload) == CT_SMALL.read_bytes()[header.dataset_offset :]
        assert source.dataset is None
        handle = source.fp
    assert handle.closed and source.fp is None


def test_source_is_coded_again_only_without_a_codec():
    """Another native syntax: decoded and encoded (the same data set); a compressed one: None
    (a codec's work, storescu's transcoder)."""
    with open_source(CT_SMALL) as source:
        implicit = source.payload(LEI)
        assert isinstance(implicit, bytes) and source.dataset is not None
        assert source.payload(JPEG_BASELINE) is None
    assert decode_dataset(implicit, LEI) == dcmread(CT_SMALL)


def test_source_refuses_a_broken_structure_in_dcmtks_words(tmp_path):
    with pytest.raises(BadDicomFile) as caught:
        open_source(with_stray_delimiter(tmp_path))
    assert caught.value.condition == CORRUPTED
    assert caught.value.detail == "DcmItem: item delimiter outside an item"


def test_source_of_a_bare_data_set_is_checked_then_decoded(tmp_path):
    """No meta header: with +f (the default) checked in the encoding its first element shows,
    then decoded; with +fo refused."""
    data = CT_SMALL.read_bytes()
    bare = tmp_path / "bare.dcm"
    bare.write_bytes(data[read_part10_header(CT_SMALL).dataset_offset :])
    with open_source(bare) as source:
        assert source.dataset is not None and source.region is None
        assert source.sop_instance == dcmread(CT_SMALL).SOPInstanceUID
    with pytest.raises(BadDicomFile):
        open_source(bare, allow_dataset=False)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(bare.read_bytes()[:-100])
    with pytest.raises(BadDicomFile, match="premature end"):
        open_source(cut)


@pytest.mark.parametrize("implicit", [True, False], ids=["implicit", "explicit"])
def test_top_level_values_are_pydicom_s(implicit):
    """top_level_values (the survey's reader of C-FIND identifiers) finds the same top-level
    values as pydicom, skips a sequence holding the same tags, and refuses truncated bytes."""
    from pydicom.dataset import Dataset

    from dimse.files.part10 import encode_dataset
    from dimse.files.scan import top_level_values

    ds = Dataset()
    ds.PatientID = "ID 7"
    ds.StudyInstanceUID = "1.2.3.4"
    item = Dataset()
    item.SOPClassUID = "9.9.9"
    ds.ReferencedSOPSequence = [item]
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    syntax = "1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1"
    data = encode_dataset(ds, syntax)
    tags = frozenset({0x00100020, 0x0020000D, 0x00080016, 0x0020000E})
    found = top_level_values(data, implicit, True, tags)
    assert found is not None
    assert {t: v.rstrip(b"\0 ") for t, v in found.items()} == {
        0x00100020: b"ID 7", 0x0020000D: b"1.2.3.4", 0x00080016: b"1.2.840.10008.5.1.4.1.1.2"
    }
    assert top_level_values(data[:-3], implicit, True, tags) is None
