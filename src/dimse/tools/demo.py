"""The built-in demo: a storage SCP and an SCU in one process, over a real loopback association.

It sends the sample DICOM files that pydicom ships, prints what was sent and what was
received, and checks that every received data set equals the one sent.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian

from ..codes import Status
from ..core.negotiation import MAX_CONTEXTS, AcceptorPolicy
from ..dcmtk.uid_names import ts_description
from ..errors import DimseError
from ..files.part10 import BadDicomFile, read_any, read_part10_header
from ..net.association import associate
from ..net.server import Acceptor, serve
from ..scp.services import StoreServices
from ..uids import UNCOMPRESSED


def sample_files() -> list[Path]:
    """The Part 10 files bundled with pydicom (its ``test_files`` folder; nothing is downloaded)."""
    folder = Path(str(get_testdata_file("CT_small.dcm"))).parent
    return sorted(p for p in folder.glob("*.dcm") if p.is_file())


#: one file to send: path, SOP Instance UID, transfer syntax, SOP Class UID
Sendable = tuple[Path, str, str, str]


def _plan(files: list[Path]) -> tuple[list[Sendable], list[tuple[Path, str]]]:
    sendable: list[Sendable] = []
    skipped: list[tuple[Path, str]] = []
    for path in files:
        try:
            header = read_part10_header(path)
            sendable.append((path, header.sop_instance, header.transfer_syntax, header.sop_class))
            continue
        except BadDicomFile as exc:
            reason = str(exc)
        try:  # not a complete Part 10 file: store_file decodes it and sends the data set
            ds = read_any(path)
            sendable.append((path, str(ds.SOPInstanceUID), ExplicitVRLittleEndian, str(ds.SOPClassUID)))
        except (BadDicomFile, AttributeError):
            skipped.append((path, reason))
    return sendable, skipped


@dataclass
class _Sent:
    """What the SCU part of the demo did."""

    sent: list[Sendable] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)
    failures: int = 0
    total: int = 0


async def run_demo(files: list[Path], output: Path, out: TextIO = sys.stdout) -> int:
    sendable, skipped = _plan(files)
    pairs = sorted({(sop, ts) for _, _, ts, sop in sendable})[:MAX_CONTEXTS]
    all_ts = sorted({ts for _, ts in pairs} | set(UNCOMPRESSED))
    policy = AcceptorPolicy(ae_title="DEMO-SCP", any_abstract=all_ts, max_pdu=131072)
    services = StoreServices(output, ignore=False, verbose_pc=False, log=_quiet_logger(), keep_list=True)
    server = await serve(Acceptor(policy, services), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"storage SCP listening on 127.0.0.1:{port}, writing to {output}", file=out)
    started = time.perf_counter()
    async with server:
        done = await _send(port, pairs, sendable, out)
    services.tidy()
    elapsed = time.perf_counter() - started
    stored = services.stored or []
    mismatches = _compare(done.sent, stored)
    distinct = len(set(stored))
    print(
        f"\nsent {len(done.sent)} files ({done.total / 1e6:.1f} MB) in {elapsed:.2f} s; "
        f"received {len(stored)} files ({distinct} distinct objects); "
        f"received data set equal to the one sent: {distinct - len(mismatches)} of {distinct}",
        file=out,
    )
    for path, reason in done.refused:
        print(f"refused {path.name}: {reason}", file=out)
    for path, reason in skipped:
        print(f"skipped {path.name}: {reason}", file=out)
    for name in mismatches:
        print(f"MISMATCH {name}", file=out)
    if distinct < len(stored):
        print(
            f"\n{len(stored)} files make {distinct} objects: some of pydicom's samples share a SOP Instance"
            " UID, and a later file with the same UID replaces the earlier one (as in any archive).",
            file=out,
        )
    return 1 if done.failures or mismatches or not done.sent else 0


async def _send(port: int, pairs: list[tuple[str, str]], sendable: list[Sendable], out: TextIO) -> _Sent:
    """One association to the demo's SCP sending every file, a table line per file."""
    done = _Sent()
    assoc = await associate(
        "127.0.0.1", port, [(sop, [ts]) for sop, ts in pairs], calling_ae="DEMO-SCU", called_ae="DEMO-SCP"
    )
    print(f"association accepted: {len(assoc.contexts)} presentation contexts\n", file=out)
    print(f"{'file':<42} {'transfer syntax':<44} {'bytes':>9}  status", file=out)
    for entry in sendable:
        path, _uid, ts, _sop = entry
        size = path.stat().st_size
        try:
            rsp = await assoc.store_file(path)
            status: int = rsp.get("Status", Status.CANNOT_UNDERSTAND)
            text = "Success" if status == Status.SUCCESS else f"0x{status:04x}"
            done.failures += status != Status.SUCCESS
            done.total += size
            done.sent.append(entry)
        except BadDicomFile as exc:  # a broken sample file is refused before anything is sent
            text = "refused (not sent)"
            done.refused.append((path, f"{exc} ({exc.detail})" if exc.detail else str(exc)))
        except DimseError as exc:
            text, done.failures = f"failed: {exc}", done.failures + 1
        print(f"{path.name[:42]:<42} {ts_description(ts)[:44]:<44} {size:>9}  {text}", file=out)
    await assoc.release()
    return done


def _compare(sendable: list[Sendable], stored: list[str]) -> list[str]:
    """Names of received files whose data set differs from the last file sent with that UID."""
    last_sent = {uid: path for path, uid, _, _ in sendable}
    bad = []
    for path in sorted(set(stored)):
        received = dcmread(path)
        sent = last_sent.get(str(received.file_meta.MediaStorageSOPInstanceUID))
        if sent is None or read_any(sent) != received:
            bad.append(os.path.basename(path))
    return bad


def _quiet_logger() -> logging.Logger:
    log = logging.getLogger("dimse.demo.scp")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    return log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dimse demo", description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="files to send (default: pydicom's samples)")
    parser.add_argument("-od", "--output-directory", type=Path, help="keep received files here")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # pydicom's notes on odd sample files are not the demo's point
    files = args.files or sample_files()
    if args.output_directory:
        args.output_directory.mkdir(parents=True, exist_ok=True)
        return asyncio.run(run_demo(files, args.output_directory))
    with tempfile.TemporaryDirectory(prefix="dimse-demo-") as tmp:
        code = asyncio.run(run_demo(files, Path(tmp)))
    print(f"{tmp} (the received files) is removed now; run with -od DIR to keep them.")
    return code


if __name__ == "__main__":
    sys.exit(main())
