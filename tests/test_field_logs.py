"""storescu's log as scripts read it: quiet where DCMTK is quiet, DCMTK's words and order.

DCMTK's storescu (``/usr/bin/storescu``) and ours (the venv's) side by side against DCMTK's
storescp, on the same files.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from .conftest import CT_SMALL, MR_SMALL, SAMPLES, dcmtk, ours, run, running

CLASSES = {
    "inventory": "1.2.840.10008.5.1.4.1.1.201.1",  # newer than DCMTK 3.6.7: "unknown SOP class"
    "commitment": "1.2.840.10008.1.20.1",  # not storage: DCMTK's UID name
    "private": "1.2.3.4.5",
    "ion-record": "1.2.840.10008.5.1.4.1.1.481.9",  # a modality prefix (RTi)
}


def with_class(folder: Path, name: str, sop_class: str) -> str:
    ds = dcmread(CT_SMALL)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    path = folder / f"{name}.dcm"
    ds.save_as(path)
    return str(path)


def test_names_of_classes_without_a_context_as_dcmtk_prints_them(port, tmp_path):
    """DCMTK's storescu and ours, -nh, files of classes the default proposal lacks: the same
    ``No presentation context for: (<label>) <uid>`` lines."""
    files = [with_class(tmp_path, name, uid) for name, uid in CLASSES.items()]
    lines = {}
    with running([dcmtk("storescp"), "-od", str(tmp_path), str(port)], port):
        for tool in ("dcmtk", "ours"):
            binary = dcmtk("storescu") if tool == "dcmtk" else ours("storescu")
            result = run([binary, "-nh", "127.0.0.1", str(port), *files])
            lines[tool] = [line for line in result.stderr.splitlines() if line.startswith("E:")]
    assert len(lines["dcmtk"]) == len(CLASSES)
    assert lines["ours"] == lines["dcmtk"]
    assert "E: No presentation context for: (unknown SOP class) 1.2.840.10008.5.1.4.1.1.201.1" in lines["ours"]


def _shape(stderr: str) -> list[str]:
    """The log's lines with what differs by design blanked: invented values, and 3.6.7's
    "Converting transfer syntax" line for an unchanged syntax (3.7.0 and ours leave it out)."""
    shape = []
    for line in stderr.splitlines():
        if "Converting transfer syntax" in line or line.startswith("I: Sent "):
            continue
        shape.append(re.sub(r"=.*", "=", line))
    return shape


def test_invent_mode_lines_stay_in_file_order(port, tmp_path):
    """DCMTK's storescu and ours, +II -v, three files: each file's ``Inventing ...`` block comes
    after ``Sending file`` and after the previous file's response, as in DCMTK's log."""
    files = [str(CT_SMALL), str(MR_SMALL), str(CT_SMALL)]
    shapes = {}
    with running([dcmtk("storescp"), "-od", str(tmp_path), str(port)], port):
        for tool in ("dcmtk", "ours"):
            binary = dcmtk("storescu") if tool == "dcmtk" else ours("storescu")
            result = run([binary, "-v", "+II", "127.0.0.1", str(port), *files])
            assert result.returncode == 0, result.stderr
            shapes[tool] = _shape(result.stderr)
    assert shapes["ours"] == shapes["dcmtk"]
    assert shapes["ours"].count("I: Received Store Response (Success)") == 3


@pytest.mark.parametrize("level", [[], ["-q"], ["-v"]])
def test_no_python_warning_reaches_the_terminal(port, tmp_path, level):
    """Ours: pydicom's rtdose.dcm (an invalid UI value) re-encoded for the peer (-xb): nothing
    on stderr but our own log lines, at any level; the value's warning is a D: line at -d."""
    sample = str(SAMPLES / "rtdose.dcm")
    with running([dcmtk("storescp"), "-od", str(tmp_path), str(port)], port):
        result = run([ours("storescu"), *level, "-xb", "127.0.0.1", str(port), sample])
        debug = run([ours("storescu"), "-d", "-xb", "127.0.0.1", str(port), sample])
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "warn" not in result.stderr
    assert all(line[:3] in ("I: ", "D: ") for line in result.stderr.splitlines())
    assert re.search(r"^D: UserWarning: Invalid value for VR UI", debug.stderr, re.M)
