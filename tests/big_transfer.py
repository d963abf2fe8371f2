"""Run in a subprocess by test_streaming: make a large object, send it through our SCU to our
SCP in the same process over loopback, print peak memory and the outcome as JSON."""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import sys
import time
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from dimse import Acceptor, AcceptorPolicy, associate, serve
from dimse.tools.storescp import StoreServices


def make_big_file(path: Path, pixel_bytes: int) -> None:
    """A Secondary Capture object whose pixel data is ``pixel_bytes`` of zeros (a sparse file)."""
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName = "Big^Object"
    ds.Rows, ds.Columns = 16384, 16384
    ds.NumberOfFrames = max(1, pixel_bytes // (16384 * 16384))
    ds.BitsAllocated, ds.SamplesPerPixel = 8, 1
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    with path.open("r+b") as fp:
        fp.seek(0, 2)
        fp.write(b"\xe0\x7f\x10\x00OB\x00\x00" + pixel_bytes.to_bytes(4, "little"))
        fp.truncate(fp.tell() + pixel_bytes)


async def transfer(source: Path, output: Path) -> dict:
    log = logging.getLogger("dimse.big")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    policy = AcceptorPolicy(any_abstract=[ExplicitVRLittleEndian], max_pdu=131072)
    services = StoreServices(output, ignore=False, verbose_pc=False, log=log, keep_list=True)
    server = await serve(Acceptor(policy, services), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        started = time.perf_counter()
        assoc = await associate(
            "127.0.0.1", port, [(SecondaryCaptureImageStorage, [ExplicitVRLittleEndian])], max_pdu=131072
        )
        status = (await assoc.store_file(source)).Status
        await assoc.release()
        seconds = time.perf_counter() - started
    services.tidy()
    return {"status": status, "seconds": seconds, "stored": [str(p) for p in services.stored]}


def peak_rss_mb() -> float:
    """This process's peak resident memory since exec (VmHWM; ru_maxrss would also count the
    pages of the parent that spawned us)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    source, output, size = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    make_big_file(source, size)
    result = asyncio.run(transfer(source, output))
    result["maxrss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
