"""The structural check run before a file is streamed unchanged (dimse.scan)."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom import dcmread

from dimse.datasets import BadDicomFile, read_part10_header, read_sop_uids
from dimse.scan import Garbled, Truncated, scan

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
