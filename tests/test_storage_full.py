"""A receiver whose disk fills up: the object that does not fit is refused, the rest go on.

DCMTK's storescu sends to our storescp, which runs with a file size limit (RLIMIT_FSIZE) so a
write fails the way it does on a full disk.
"""

from __future__ import annotations

import resource

from pydicom import dcmread
from pydicom.uid import generate_uid

from .conftest import CT_SMALL, MR_SMALL, dcmtk, ours, run, running

LIMIT = 200_000  # bytes a file may have


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_object_larger_than_the_disk_allows_is_refused_and_the_association_goes_on(port, tmp_path):
    """DCMTK storescu -nh (CT, a 600 KB object, MR) -> our storescp limited to 200 KB files: the big
    object gets a failure status, no partial file is left, the CT and MR are stored whole on the
    same association, the server keeps serving."""
    big = dcmread(CT_SMALL)
    big.SOPInstanceUID = big.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    big.Rows, big.Columns = 512, 512 + 64
    big.PixelData = bytes(range(256)) * (big.Rows * big.Columns * 2 // 256)
    big_path = tmp_path / "big.dcm"
    big.save_as(big_path)
    out = tmp_path / "out"
    out.mkdir()
    with running([ours("storescp"), "-od", str(out), str(port)], port, preexec_fn=_limit_file_size) as scp:
        sent = run(
            [dcmtk("storescu"), "-v", "-nh", "127.0.0.1", str(port), str(CT_SMALL), str(big_path), str(MR_SMALL)]
        )
        again = run([dcmtk("echoscu"), "127.0.0.1", str(port)])
        scp.terminate()
        log = scp.communicate(timeout=10)[0]
    assert sent.returncode == 0, sent.stderr  # -nh: DCMTK's storescu goes on and exits 0
    assert sent.stderr.count("Received Store Response (Success)") == 2
    assert "Received Store Response (Refused: OutOfResources)" in sent.stderr
    assert sent.stderr.count("Releasing Association") == 1  # one association, released, not aborted
    assert again.returncode == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(f"{m}.{dcmread(f).SOPInstanceUID}" for m, f in (("CT", CT_SMALL), ("MR", MR_SMALL)))
    for name in names:
        assert dcmread(out / name).SOPInstanceUID == name.split(".", 1)[1]
    assert "cannot write DICOM file" in log and "Traceback" not in log
