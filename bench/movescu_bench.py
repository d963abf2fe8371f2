"""movescu benchmark: a study of CT objects moved from DCMTK's dcmqrscp into each movescu.

Fills a dcmqrscp archive (loopback) with generated 512x512 CT objects using DCMTK's storescu,
then moves the study to DCMTK's movescu (TCP_NODELAY=1), ours and pynetdicom's, each with its
own Storage SCP writing to disk.  Prints seconds, objects/s, MB/s and peak RSS.

    .venv/bin/python bench/movescu_bench.py              # 1,000 CT objects
    .venv/bin/python bench/movescu_bench.py --ct 100 --skip pynetdicom
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pydicom import dcmread
from storescu_bench import OUR_BIN, add_ratios, free_port, make_files, report, timed, wait_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ct", type=int, default=1000)
    parser.add_argument("--skip", nargs="*", default=[])
    parser.add_argument("--json", type=Path, default=Path("bench/results/movescu.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-move-"))
    env = dict(os.environ, TCP_NODELAY="1")
    try:
        files = work / "in"
        size = make_files(files, args.ct, 512, 512)
        study = dcmread(next(files.iterdir()), stop_before_pixels=True).StudyInstanceUID
        qr_port = free_port()
        movers = {
            "dcmtk": ("DCMTKMOVE", free_port()),
            "dimse": ("MOVESCU", free_port()),
            "pynetdicom": ("PYNETMOVE", free_port()),
        }
        (work / "db").mkdir()
        hosts = "\n".join(f"{name} = ({aet}, 127.0.0.1, {port})" for name, (aet, port) in movers.items())
        (work / "qr.cfg").write_text(
            f"NetworkTCPPort = {qr_port}\nMaxPDUSize = 131072\nMaxAssociations = 16\n"
            f"HostTable BEGIN\n{hosts}\nHostTable END\nVendorTable BEGIN\nVendorTable END\n"
            f"AETable BEGIN\nQRSCP {work / 'db'} RW (10, 100000mb) ANY\nAETable END\n"
        )
        archive = subprocess.Popen(
            ["/usr/bin/dcmqrscp", "-c", str(work / "qr.cfg")],
            cwd=work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(qr_port)
            subprocess.run(
                ["/usr/bin/storescu", "+sd", "-aec", "QRSCP", "127.0.0.1", str(qr_port), str(files)],
                env=env,
                check=True,
            )
            print(f"archive: {args.ct} CT objects, {size / 1e6:.1f} MB", flush=True)
            keys = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}"]
            rows = []
            for name, (aet, port) in movers.items():
                if name in args.skip:
                    continue
                out = work / f"out-{name}"
                out.mkdir()
                if name == "pynetdicom":
                    cmd = [
                        sys.executable,
                        "-m",
                        "pynetdicom",
                        "movescu",
                        "-aet",
                        aet,
                        "-aec",
                        "QRSCP",
                        "-aem",
                        aet,
                        "--store",
                        "--store-port",
                        str(port),
                        "--store-aet",
                        aet,
                        "-od",
                        str(out),
                        "-S",
                        *keys,
                        "127.0.0.1",
                        str(qr_port),
                    ]
                else:
                    tool = "/usr/bin/movescu" if name == "dcmtk" else str(OUR_BIN / "movescu")
                    cmd = [
                        tool,
                        "-S",
                        "-aet",
                        aet,
                        "-aec",
                        "QRSCP",
                        "--port",
                        str(port),
                        "-od",
                        str(out),
                        *keys,
                        "127.0.0.1",
                        str(qr_port),
                    ]
                seconds, rss, code = timed(cmd, env)
                arrived = len(list(out.iterdir()))
                rows.append(
                    {
                        "sender": name,
                        "seconds": round(seconds, 3),
                        "objects_per_s": round(args.ct / seconds, 1),
                        "mb_per_s": round(size / seconds / 1e6, 1),
                        "peak_rss_mb": round(rss, 1),
                        "arrived": arrived,
                        "exit": code,
                    }
                )
                print(
                    f"  {name:<11} {seconds:8.2f} s  {args.ct / seconds:8.1f} obj/s  {size / seconds / 1e6:7.1f} MB/s  "
                    f"{rss:6.1f} MB  arrived {arrived}/{args.ct}  exit {code}",
                    flush=True,
                )
        finally:
            archive.terminate()
            archive.wait()
        add_ratios(rows)
        columns = {
            "receiver": "sender",
            "seconds": "seconds",
            "objects/s": "objects_per_s",
            "MB/s": "mb_per_s",
            "peak RSS MB": "peak_rss_mb",
            "time ratio vs DCMTK": "ratio_vs_dcmtk",
        }
        report(rows, columns, args.json)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
