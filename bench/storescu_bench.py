"""storescu benchmark: our storescu against DCMTK's and pynetdicom's, same receiver, same files.

The receiver is DCMTK's storescp writing to disk on loopback.  DCMTK's ends run with
TCP_NODELAY=1 (their fastest setting).  For each workload and sender it prints wall time,
files/s, MB/s and peak RSS, with the time ratio against DCMTK, and writes the table as JSON.

    .venv/bin/python bench/storescu_bench.py                 # 2,000 x 10 KB and 1,000 CT 512x512
    .venv/bin/python bench/storescu_bench.py --small 200 --ct 100 --skip pynetdicom
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

OUR_BIN = Path(sys.executable).parent


def make_files(folder: Path, count: int, rows: int, cols: int) -> int:
    """``count`` CT objects of rows x cols 16-bit pixels; returns the total size in bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    pixels = bytes(range(256)) * (rows * cols * 2 // 256 + 1)
    study, series = generate_uid(), generate_uid()
    total = 0
    for i in range(count):
        ds = Dataset()
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.PatientName, ds.PatientID, ds.Modality = "Bench^Mark", "BENCH", "CT"
        ds.InstanceNumber = i + 1
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.PixelData = pixels[: rows * cols * 2]
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"img{i:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        total += path.stat().st_size
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int) -> None:
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"receiver did not start on {port}")


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) and exit code of one command.

    Peak memory comes from GNU time (``/usr/bin/time -f %M``): the rusage of a child of this
    Python process would also count this process's own pages (ru_maxrss survives exec).
    """
    gnu_time = shutil.which("time", path="/usr/bin")
    command = [gnu_time, "-f", "MAXRSS %M", *args] if gnu_time else args
    started = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    lines = done.stderr.strip().splitlines()
    rss = float(lines[-1].split()[1]) / 1024 if lines and lines[-1].startswith("MAXRSS") else float("nan")
    if done.returncode != 0:
        print(f"  ! {args[0]} exited {done.returncode}: {done.stderr[-500:]}", file=sys.stderr)
    return seconds, rss, done.returncode


def add_ratios(rows: list[dict]) -> None:
    """Set each row's ``ratio_vs_dcmtk``: its time against the DCMTK row's (None without one)."""
    base = next((r["seconds"] for r in rows if r["sender"] == "dcmtk"), None)
    for r in rows:
        r["ratio_vs_dcmtk"] = round(r["seconds"] / base, 2) if base else None


def report(rows: list[dict], columns: dict[str, str], path: Path) -> None:
    """Print ``rows`` as a Markdown table (column title -> row key) and write them to ``path`` as JSON."""
    print("\n| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(str(r[key]) for key in columns.values()) + " |")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=2) + "\n")


def senders(skip: set[str]) -> dict[str, list[str]]:
    tools = {
        "dcmtk": [shutil.which("storescu", path="/usr/bin") or "storescu"],
        "dimse": [str(OUR_BIN / "storescu")],
        "pynetdicom": [sys.executable, "-m", "pynetdicom", "storescu"],
    }
    return {name: cmd for name, cmd in tools.items() if name not in skip}


def run_workload(name: str, folder: Path, size: int, count: int, skip: set[str]) -> list[dict]:
    rows = []
    for sender, cmd in senders(skip).items():
        out = Path(tempfile.mkdtemp(prefix="bench-out-"))
        port = free_port()
        env = dict(os.environ, TCP_NODELAY="1")
        receiver = subprocess.Popen(
            ["/usr/bin/storescp", "-od", str(out), str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(port)
            files = sorted(str(p) for p in folder.iterdir())
            if sender == "pynetdicom":
                args = [*cmd, "127.0.0.1", str(port), str(folder), "-r"]
            else:
                args = [*cmd, "+sd", "127.0.0.1", str(port), str(folder)]
            seconds, rss, code = timed(args, env)
            arrived = len(list(out.iterdir()))
        finally:
            receiver.terminate()
            receiver.wait()
            shutil.rmtree(out, ignore_errors=True)
        rows.append(
            {
                "workload": name,
                "sender": sender,
                "files": len(files),
                "arrived": arrived,
                "exit": code,
                "seconds": round(seconds, 3),
                "files_per_s": round(count / seconds, 1),
                "mb_per_s": round(size / seconds / 1e6, 1),
                "peak_rss_mb": round(rss, 1),
            }
        )
        print(
            f"  {name:<10} {sender:<11} {seconds:8.2f} s  {count / seconds:8.1f} files/s  "
            f"{size / seconds / 1e6:7.1f} MB/s  {rss:6.1f} MB  arrived {arrived}/{len(files)}",
            flush=True,
        )
    add_ratios(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=2000, help="number of ~10 KB files")
    parser.add_argument("--ct", type=int, default=1000, help="number of 512x512 CT files")
    parser.add_argument("--skip", nargs="*", default=[], help="senders to leave out (dcmtk, dimse, pynetdicom)")
    parser.add_argument("--json", type=Path, default=Path("bench/results/storescu.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-in-"))
    try:
        rows = []
        workloads = [("small", args.small, 64, 64), ("ct512", args.ct, 512, 512)]
        for name, count, r, c in workloads:
            if count <= 0:
                continue
            folder = work / name
            size = make_files(folder, count, r, c)
            print(f"{name}: {count} files, {size / 1e6:.1f} MB", flush=True)
            rows += run_workload(name, folder, size, count, set(args.skip))
        columns = {
            "workload": "workload",
            "sender": "sender",
            "seconds": "seconds",
            "files/s": "files_per_s",
            "MB/s": "mb_per_s",
            "peak RSS MB": "peak_rss_mb",
            "time ratio vs DCMTK": "ratio_vs_dcmtk",
        }
        report(rows, columns, args.json)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
