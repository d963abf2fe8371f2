"""Orthanc (Debian's ``orthanc``), an archive no one here wrote, as the peer of our tools.

Orthanc answers a C-MOVE with a pending response before each sub-operation and a final
response without the Number of Remaining Sub-operations (PS3.7 allows leaving it out there).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from .conftest import CT_SMALL, dcmtk, free_port, missing, move_study_args, ours, run, wait_for_port

ORTHANC = "/usr/sbin/Orthanc"


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    """A fresh Orthanc holding one study of three CT images (sent by our storescu); yields
    (DICOM port, study UID, port of its 'mover' modality, AE MOVESCU)."""
    with orthanc_archive(tmp_path_factory.mktemp("orthanc")) as archive:
        yield archive


@contextlib.contextmanager
def orthanc_archive(folder: Path, **settings: object):
    """The ``orthanc`` fixture's archive in ``folder``, ``settings`` added to its
    configuration (e.g. ``SynchronousCMove=False``)."""
    if not Path(ORTHANC).exists() and not shutil.which("Orthanc"):
        missing("Orthanc is not installed (apt-get install orthanc)")
    dicom_port, http_port, mover_port = free_port(), free_port(), free_port()
    config = {
        "Name": "dimse-test",
        "StorageDirectory": str(folder / "db"),
        "IndexDirectory": str(folder / "db"),
        "DicomAet": "ORTHANC",
        "DicomPort": dicom_port,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "DicomModalities": {"mover": ["MOVESCU", "127.0.0.1", mover_port]},
        "DicomCheckCalledAet": False,
        **settings,
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    proc = subprocess.Popen(
        [ORTHANC if Path(ORTHANC).exists() else "Orthanc", str(folder / "orthanc.json")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(dicom_port, proc, timeout=30)
        study = generate_uid()
        ds = dcmread(CT_SMALL)
        ds.StudyInstanceUID = study
        files = []
        for i in range(3):
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.save_as(folder / f"ct{i}.dcm")
            files.append(str(folder / f"ct{i}.dcm"))
        sent = run([ours("storescu"), "-aec", "ORTHANC", "127.0.0.1", str(dicom_port), *files])
        assert sent.returncode == 0, sent.stderr
        yield dicom_port, study, mover_port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _move_args(tool: str, orthanc, out: Path, *extra: str) -> list[str]:
    dicom_port, study, mover_port = orthanc
    args = move_study_args(tool, "ORTHANC", dicom_port, mover_port, out, "-aet", "MOVESCU", "-aem", "MOVESCU", *extra)
    return [a if a != "StudyInstanceUID=1.2.3" else f"StudyInstanceUID={study}" for a in args]


def test_remaining_count_after_a_final_response_without_one(orthanc, tmp_path):
    """Ours against Orthanc: the last pending response says 1 remaining, the final response
    gives no count; our summary and report say 0 remaining, 3 completed."""
    out = tmp_path / "ours"
    out.mkdir()
    report = tmp_path / "report.json"
    result = run(_move_args(ours("movescu"), orthanc, out, "-v", "--report", str(report)))
    assert result.returncode == 0, result.stderr
    assert "I: Sub-operations: 3 completed, 0 failed, 0 warning, 0 remaining" in result.stderr
    assert json.loads(report.read_text())["summary"]["remaining"] == 0
    assert len(list(out.iterdir())) == 3


def test_move_from_orthanc_side_by_side(orthanc, tmp_path):
    """DCMTK's movescu and ours against Orthanc: both exit 0 with the same three files."""
    names = {}
    for tool in ("dcmtk", "ours"):
        out = tmp_path / tool
        out.mkdir()
        binary = dcmtk("movescu") if tool == "dcmtk" else ours("movescu")
        result = run(_move_args(binary, orthanc, out))
        assert result.returncode == 0, f"{tool}: {result.stderr}"
        assert result.stderr == "", f"{tool} is not quiet: {result.stderr}"
        names[tool] = sorted(p.name for p in out.iterdir())
    assert names["ours"] == names["dcmtk"] and len(names["ours"]) == 3
