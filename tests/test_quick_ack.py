"""DCMTK's tools left to their defaults keep Nagle's algorithm on (no ``TCP_NODELAY`` in their
environment): each PDU they write in pieces waits for the acknowledgement of its first piece,
which a receiver's kernel delays up to 40 ms.  Our tools acknowledge before they wait
(``TCP_QUICKACK``), so no delayed acknowledgement is left to fire.

The measure is the kernel's count of delayed acknowledgements sent by their timer
(``TcpExt DelayedACKs`` in /proc/net/netstat, per network namespace): without the
acknowledgements each object of these runs adds at least one; with them, next to none.  No
timing is asserted.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from .conftest import dcmtk, free_port, ours, run, running

FILES = 40
#: far below one per object: other traffic of the machine may add a few
FEW = 10
#: DCMTK's tools as a user runs them who has never set TCP_NODELAY
DEFAULT_ENV = {name: value for name, value in os.environ.items() if name != "TCP_NODELAY"}
STUDY = "1.2.826.0.1.3680043.10.1234.77"


def delayed_acks() -> int:
    """The kernel's count of acknowledgements its delayed-ACK timer sent."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        pytest.skip("no /proc/net/netstat (not Linux): the kernel's delayed-ACK count is not readable")
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=True))["DelayedACKs"])
    pytest.skip("the kernel does not count delayed acknowledgements (TcpExt DelayedACKs)")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def small_files(tmp_path_factory) -> list[Path]:
    """FILES small secondary-capture objects of one study, written by pydicom."""
    return write_small(tmp_path_factory.mktemp("small"), FILES)


def write_small(folder: Path, count: int) -> list[Path]:
    """``count`` small secondary-capture objects of one study in ``folder``, written by pydicom."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        ds = Dataset()
        ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY, STUDY + ".1"
        ds.PatientName, ds.PatientID, ds.Modality, ds.InstanceNumber = "Nagle^Test", "NAGLE", "OT", i + 1
        ds.Rows, ds.Columns, ds.BitsAllocated, ds.SamplesPerPixel = 32, 128, 16, 1
        ds.PixelData = bytes(8192)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = (
            ds.SOPClassUID,
            ds.SOPInstanceUID,
        )
        path = folder / f"f{i:03}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def stored(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_file())


def test_dcmtk_storescu_with_nagle_into_our_storescp(tmp_path, small_files):
    """DCMTK's storescu (Nagle on) sends to our storescp: every object arrives and our
    storescp leaves no acknowledgement to the delayed-ACK timer."""
    port, out = free_port(), tmp_path / "out"
    out.mkdir()
    with running([ours("storescp"), "-od", str(out), str(port)], port, env=DEFAULT_ENV):
        before = delayed_acks()
        done = run([dcmtk("storescu"), "127.0.0.1", str(port), *map(str, small_files)], env=DEFAULT_ENV)
        after = delayed_acks()
    assert done.returncode == 0, done.stderr
    assert stored(out) == FILES
    assert after - before < FEW, f"{after - before} delayed acknowledgements for {FILES} objects"


def test_our_storescu_into_dcmtk_storescp_with_nagle(tmp_path, small_files):
    """Our storescu sends to DCMTK's storescp (Nagle on for its responses): every object
    arrives and our storescu leaves no acknowledgement to the delayed-ACK timer."""
    port, out = free_port(), tmp_path / "out"
    out.mkdir()
    with running([dcmtk("storescp"), "-od", str(out), str(port)], port, env=DEFAULT_ENV):
        before = delayed_acks()
        done = run([ours("storescu"), "127.0.0.1", str(port), *map(str, small_files)], env=DEFAULT_ENV)
        after = delayed_acks()
    assert done.returncode == 0, done.stderr
    assert stored(out) == FILES
    assert after - before < FEW, f"{after - before} delayed acknowledgements for {FILES} objects"


def test_our_movescu_from_dcmqrscp_with_nagle(tmp_path, small_files):
    """Our movescu moves the study from DCMTK's dcmqrscp (Nagle on: its C-MOVE responses and
    its C-STOREs to our Storage SCP): every object arrives, no delayed acknowledgement is left."""
    qr_port, move_port, out, db = free_port(), free_port(), tmp_path / "out", tmp_path / "db"
    out.mkdir()
    db.mkdir()
    config = tmp_path / "qr.cfg"
    config.write_text(
        f"NetworkTCPPort = {qr_port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n"
        f"HostTable BEGIN\nmover = (MOVESCU, 127.0.0.1, {move_port})\nHostTable END\n"
        f"VendorTable BEGIN\nVendorTable END\nAETable BEGIN\nQRSCP {db} RW (200, 1024mb) ANY\nAETable END\n"
    )
    with running([dcmtk("dcmqrscp"), "-c", str(config)], qr_port, cwd=tmp_path, env=DEFAULT_ENV):
        filled = run([dcmtk("storescu"), "-aec", "QRSCP", "127.0.0.1", str(qr_port), *map(str, small_files)])
        assert filled.returncode == 0, filled.stderr
        before = delayed_acks()
        done = run(
            [ours("movescu"), "-S", "-aet", "MOVESCU", "-aec", "QRSCP", "--port", str(move_port), "-od", str(out)]
            + ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={STUDY}", "127.0.0.1", str(qr_port)],
            env=DEFAULT_ENV,
        )
        after = delayed_acks()
    assert done.returncode == 0, done.stderr
    assert stored(out) == FILES
    assert after - before < FEW, f"{after - before} delayed acknowledgements for {FILES} objects"
