"""Every performance workload of the project, ours against DCMTK 3.6.7 (and optionally pynetdicom).

One command, from the repository root:

    .venv/bin/python bench/run_all.py                       # default workloads, a few minutes
    .venv/bin/python bench/run_all.py --quick               # 10 % of the files, to try it out
    .venv/bin/python bench/run_all.py --pynetdicom          # add pynetdicom's tools (slow, bounded)
    .venv/bin/python bench/run_all.py --big-mb 2048         # add the one-object peak-memory runs

Workloads (loopback, TCP_NODELAY=1 everywhere but in defaults-small, receivers writing to disk):

- ``store-small`` / ``store-ct``: storescu of 2,000 x ~9 KB / 1,000 CT 512x512 to DCMTK's storescp,
  one association, default options;
- ``parallel-small`` / ``parallel-ct``: ``storescu --parallel N`` to a receiver serving several
  associations (DCMTK's ``storescp --fork``, and ours), and one association with the asynchronous
  operations window our storescp grants, against DCMTK's storescu (one association, it has no
  other mode) to ``storescp --fork``;
- ``move-ct``: the 1,000 CT moved from DCMTK's dcmqrscp into each movescu;
- ``get-ct``: the same study fetched with C-GET by DCMTK's getscu and by ours;
- ``receive-small`` / ``receive-ct``: DCMTK's storescu sending to DCMTK's storescp and to ours;
- ``receive-small-fsync``: the same as ``receive-small`` with ``--fsync`` on ours (each object on
  disk before its response; DCMTK's storescp has no such option and runs as in ``receive-small``);
- ``defaults-small``: 200 of the small files with DCMTK's tools left to their defaults (no
  ``TCP_NODELAY`` in the environment: DCMTK 3.6.7 then keeps Nagle's algorithm on): DCMTK's
  storescu into DCMTK's storescp, DCMTK's storescu into ours, ours into DCMTK's storescp;
- ``one-file``: 20 storescu calls in a row, one small file each, to DCMTK's storescp (a shell
  loop calling storescu once per file: start-up and association set-up dominate);
- ``version``: ``storescu --version`` 20 times in a row (start-up alone);
- ``big`` (``--big-mb``): one object of that size through our storescu, storescp and movescu, for
  peak memory.

Prints a table (seconds, files/s, MB/s, peak RSS of the measured tool, time ratio against the DCMTK
row of the same workload, measured in the same run) and writes it as JSON.  Times on a shared
2-core machine vary by tens of percent between runs: compare ratios within one run, or use
``--repeat`` (the median of the repeats is reported).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from common import free_port, make_files, wait_port

OUR_BIN = Path(sys.executable).parent
DCMTK = {
    tool: shutil.which(tool, path="/usr/bin") or tool
    for tool in ("storescu", "storescp", "movescu", "getscu", "dcmqrscp")
}
ENV = dict(os.environ, TCP_NODELAY="1")
#: the environment of a user who has not heard of TCP_NODELAY (the defaults-small rows)
DEFAULTS_ENV = {name: value for name, value in os.environ.items() if name != "TCP_NODELAY"}
#: files of the defaults-small rows (each costs DCMTK's pair ~90 ms there)
DEFAULTS_FILES = 200
GNU_TIME = shutil.which("time", path="/usr/bin")


@dataclass
class Row:
    workload: str
    tool: str
    seconds: float
    files: int
    megabytes: float
    peak_rss_mb: float
    exit: int
    arrived: int
    ratio_vs_dcmtk: float | None = None
    note: str = ""


def _rss_of(stderr: str) -> float:
    for line in reversed(stderr.strip().splitlines()):
        if line.startswith("MAXRSS "):
            return round(float(line.split()[1]) / 1024, 1)
    return float("nan")


def _timed_command(args: list[str]) -> list[str]:
    return [GNU_TIME, "-f", "MAXRSS %M", *args] if GNU_TIME else args


def timed(args: list[str], timeout: float, env: dict[str, str] = ENV) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS (MB, GNU time), exit code and stderr tail of one command."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            _timed_command(args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return timeout, float("nan"), -1, "timed out"
    seconds = time.perf_counter() - started
    return seconds, _rss_of(done.stderr), done.returncode, done.stderr[-300:]


class Receiver:
    """A server process under GNU time (its peak RSS is read when it is stopped)."""

    def __init__(self, args: list[str], port: int, env: dict[str, str] = ENV) -> None:
        self.proc = subprocess.Popen(
            _timed_command(args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        wait_port(port)

    def stop(self) -> float:
        """Stop the server (SIGTERM to the server itself, not to GNU time); its peak RSS in MB."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        pids = [int(p) for p in children.read_text().split()] if GNU_TIME and children.exists() else []
        for pid in pids or [self.proc.pid]:
            os.kill(pid, signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return _rss_of(err or "")


def storescp(tool: str, out: Path, port: int, fork: bool = False, extra: list[str] = ()) -> list[str]:
    """The receiver's command line; ``extra`` options are for ours only."""
    if tool == "dcmtk":
        return [DCMTK["storescp"], *(["--fork"] if fork else []), "-od", str(out), str(port)]
    return [str(OUR_BIN / "storescp"), *extra, "-od", str(out), str(port)]


def storescu_with(tool: str, folder: Path, extra: list[str], port: int) -> list[str]:
    return storescu(tool, folder, port, extra)


def storescu(tool: str, folder: Path, port: int, extra: list[str] = ()) -> list[str]:
    if tool == "pynetdicom":
        return [sys.executable, "-m", "pynetdicom", "storescu", "127.0.0.1", str(port), str(folder), "-r"]
    binary = DCMTK["storescu"] if tool == "dcmtk" else str(OUR_BIN / "storescu")
    return [binary, *extra, "+sd", "127.0.0.1", str(port), str(folder)]


def count(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if not p.name.startswith("."))


def store_run(
    workload: str,
    label: str,
    sender: list[str],
    receiver: str,
    fork: bool,
    data: tuple[Path, int, float],
    timeout: float,
    env: dict[str, str] = ENV,
) -> Row:
    """One sender against one fresh receiver; the sender's time and peak RSS."""
    folder, files, megabytes = data
    out = Path(tempfile.mkdtemp(prefix="bench-out-"))
    port = free_port()
    server = Receiver(storescp(receiver, out, port, fork), port, env)
    try:
        seconds, rss, code, err = timed(sender(port), timeout, env)
        arrived = count(out)
    finally:
        server.stop()
        shutil.rmtree(out, ignore_errors=True)
    return Row(workload, label, round(seconds, 3), files, megabytes, rss, code, arrived, note=err if code else "")


def receive_run(
    workload: str, receiver: str, data: tuple[Path, int, float], timeout: float, extra: list[str] = ()
) -> Row:
    """DCMTK's storescu into ``receiver``: the wall time of the transfer and the receiver's peak RSS."""
    folder, files, megabytes = data
    out = Path(tempfile.mkdtemp(prefix="bench-out-"))
    port = free_port()
    server = Receiver(storescp(receiver, out, port, extra=extra), port)
    try:
        seconds, _, code, err = timed(storescu("dcmtk", folder, port), timeout)
        arrived = count(out)
    finally:
        rss = server.stop()
        shutil.rmtree(out, ignore_errors=True)
    label = "DCMTK storescp" if receiver == "dcmtk" else " ".join(["dimse storescp", *extra])
    return Row(workload, label, round(seconds, 3), files, megabytes, rss, code, arrived, note=err if code else "")


#: how many calls the one-file and version rows make in a row
CALLS = 20


def calls_run(workload: str, label: str, commands: list[list[str]], receiver: bool, timeout: float) -> Row:
    """``commands`` one after another (to a fresh DCMTK storescp when ``receiver``): their total
    wall time and the largest peak RSS."""
    out = Path(tempfile.mkdtemp(prefix="bench-out-"))
    port = free_port()
    server = Receiver(storescp("dcmtk", out, port), port) if receiver else None
    total, peak, code, err = 0.0, 0.0, 0, ""
    try:
        for command in commands:
            seconds, rss, code, err = timed([part.replace("{port}", str(port)) for part in command], timeout)
            total, peak = total + seconds, max(peak, rss)
            if code:
                break
        arrived = count(out) if receiver else len(commands)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(out, ignore_errors=True)
    return Row(workload, label, round(total, 3), len(commands), 0.0, peak, code, arrived, note=err if code else "")


def move_runs(
    work: Path, data: tuple[Path, int, float], tools: list[str], timeout: float, repeat: int = 1, kind: str = "move"
) -> list[Row]:
    """The study moved from dcmqrscp into each movescu (each with its own Storage SCP), or with
    ``kind`` "get" fetched by each getscu (C-GET: on the same association); the tools take
    turns, ``repeat`` rounds (pynetdicom once), the median run of each is kept."""
    from pydicom import dcmread

    folder, files, megabytes = data
    study = dcmread(next(folder.iterdir()), stop_before_pixels=True).StudyInstanceUID
    qr_port = free_port()
    movers = {tool: (f"MOVE{i}", free_port()) for i, tool in enumerate(tools)}
    db = work / f"qr-db-{kind}"
    db.mkdir()
    hosts = "\n".join(f"m{i} = ({aet}, 127.0.0.1, {port})" for i, (aet, port) in enumerate(movers.values()))
    config = work / "qr.cfg"
    config.write_text(
        f"NetworkTCPPort = {qr_port}\nMaxPDUSize = 131072\nMaxAssociations = 16\n"
        f"HostTable BEGIN\n{hosts}\nHostTable END\nVendorTable BEGIN\nVendorTable END\n"
        f"AETable BEGIN\nQRSCP {db} RW (10, 100000mb) ANY\nAETable END\n"
    )
    archive = subprocess.Popen(
        [DCMTK["dcmqrscp"], "-c", str(config)], cwd=work, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    runs: dict[str, list[Row]] = {tool: [] for tool in tools}
    try:
        wait_port(qr_port)
        subprocess.run(
            [DCMTK["storescu"], "+sd", "-aec", "QRSCP", "127.0.0.1", str(qr_port), str(folder)], env=ENV, check=True
        )
        keys = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}"]
        for tool, (aet, port) in [
            item for r in range(repeat) for item in movers.items() if r == 0 or item[0] != "pynetdicom"
        ]:
            out = work / f"move-out-{tool}"
            out.mkdir()
            if kind == "get":
                binary = DCMTK["getscu"] if tool == "dcmtk" else str(OUR_BIN / "getscu")
                cmd = [binary, "-S", "-aet", aet, "-aec", "QRSCP", "-od", str(out), *keys]
            elif tool == "pynetdicom":
                cmd = [sys.executable, "-m", "pynetdicom", "movescu", "-aet", aet, "-aec", "QRSCP", "-aem", aet]
                cmd += ["--store", "--store-port", str(port), "--store-aet", aet, "-od", str(out), "-S", *keys]
            else:
                binary = DCMTK["movescu"] if tool == "dcmtk" else str(OUR_BIN / "movescu")
                cmd = [binary, "-S", "-aet", aet, "-aec", "QRSCP", "--port", str(port), "-od", str(out), *keys]
            seconds, rss, code, err = timed([*cmd, "127.0.0.1", str(qr_port)], timeout)
            row = Row(
                f"{kind}-ct", label_of(tool, f"{kind}scu"), round(seconds, 3), files, megabytes, rss, code, count(out)
            )
            row.note = err if code else ""
            runs[tool].append(row)
            shutil.rmtree(out, ignore_errors=True)
    finally:
        archive.terminate()
        archive.wait()
        shutil.rmtree(db, ignore_errors=True)
    return [sorted(r, key=lambda row: row.seconds)[len(r) // 2] for r in runs.values() if r]


def make_big(path: Path, megabytes: int) -> int:
    """One Part 10 file whose pixel data is ``megabytes`` MB, written in 16 MB pieces."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from dimse.files.part10 import meta_prefix

    sop_class, sop_instance = "1.2.840.10008.5.1.4.1.1.7", "1.2.826.0.1.3680043.10.1234.1"
    size = megabytes << 20

    def element(group: int, elem: int, vr: bytes, text: str) -> bytes:
        value = text.encode() + ((b"\0" if vr == b"UI" else b" ") if len(text) % 2 else b"")
        return group.to_bytes(2, "little") + elem.to_bytes(2, "little") + vr + len(value).to_bytes(2, "little") + value

    with path.open("wb") as fp:
        fp.write(meta_prefix(sop_class, sop_instance, "1.2.840.10008.1.2.1"))
        fp.write(element(8, 0x16, b"UI", sop_class))
        fp.write(element(8, 0x18, b"UI", sop_instance))
        fp.write(element(8, 0x60, b"CS", "OT"))
        fp.write(element(0x10, 0x10, b"PN", "Big^Object"))
        fp.write(element(0x10, 0x20, b"LO", "BIG"))
        fp.write(element(0x20, 0x0D, b"UI", sop_instance + ".1"))
        fp.write(element(0x20, 0x0E, b"UI", sop_instance + ".2"))
        fp.write(b"\xe0\x7f\x10\x00OB\0\0" + size.to_bytes(4, "little"))
        piece = bytes(range(256)) * (1 << 16)
        for _ in range(size // len(piece)):
            fp.write(piece)
        fp.write(piece[: size % len(piece)])
    return path.stat().st_size


def big_runs(work: Path, megabytes: int, timeout: float) -> list[Row]:
    """Peak RSS of our three tools moving one object of ``megabytes`` MB."""
    folder = work / "big"
    folder.mkdir()
    size = make_big(folder / "big.dcm", megabytes)
    data = (folder, 1, round(size / 1e6, 1))
    rows = [
        store_run("big", "dimse storescu", partial(storescu, "dimse", folder), "dcmtk", False, data, timeout),
        receive_run("big", "dimse", data, timeout),
    ]
    try:
        rows += move_runs(work, data, ["dimse"], timeout)
    except subprocess.CalledProcessError as exc:  # the archive must take the object first
        print(f"  (move skipped: DCMTK storescu into dcmqrscp exited {exc.returncode})", flush=True)
    for r in rows:
        r.workload = f"big-{megabytes}MB"
    return rows


def first_files(work: Path, data: tuple[Path, int, float], n: int) -> tuple[Path, int, float]:
    """A folder of the first ``n`` files of a data set (hard links), with its count and size."""
    folder, files, megabytes = data
    subset = work / f"{folder.name}-first-{n}"
    if not subset.exists():
        subset.mkdir()
        for path in sorted(folder.iterdir())[:n]:
            os.link(path, subset / path.name)
    taken = min(n, files)
    return subset, taken, round(megabytes * taken / files, 2)


def label_of(tool: str, name: str) -> str:
    return {"dcmtk": f"DCMTK {name}", "dimse": f"dimse {name}", "pynetdicom": f"pynetdicom {name}"}[tool]


def interleaved(makers: list, times: int) -> list[Row]:
    """For each of ``makers`` (the tools of one workload), the run with the median time of
    ``times`` runs; the tools take turns (DCMTK, ours, DCMTK, ours, ...), so a slow spell of
    the machine falls on both and not on one tool's three runs."""
    runs: list[list[Row]] = [[] for _ in makers]
    for _ in range(times):
        for index, make_row in enumerate(makers):
            runs[index].append(make_row())
    return [sorted(r, key=lambda row: row.seconds)[len(r) // 2] for r in runs]


def run_workloads(args: argparse.Namespace, work: Path) -> list[Row]:
    scale = 0.1 if args.quick else 1.0
    small_n, ct_n = max(1, int(args.small * scale)), max(1, int(args.ct * scale))
    rows: list[Row] = []
    datasets = {}
    for name, n, side in (("small", small_n, 64), ("ct", ct_n, 512)):
        folder = work / name
        size = make_files(folder, n, side, side)
        datasets[name] = (folder, n, round(size / 1e6, 1))
        print(f"{name}: {n} files, {size / 1e6:.1f} MB", flush=True)

    def emit(row: Row) -> None:
        rows.append(row)
        print(
            f"  {row.workload:<15} {row.tool:<34} {row.seconds:8.2f} s {row.peak_rss_mb:7.1f} MB "
            f"arrived {row.arrived}/{row.files} exit {row.exit}",
            flush=True,
        )

    wanted = tuple(args.only) if args.only else ("",)
    for name in ("small", "ct"):
        data = datasets[name]
        if not f"store-{name}".startswith(wanted):
            continue
        makers = []
        for tool in ("dcmtk", "dimse"):
            sender = partial(storescu, tool, data[0])
            makers.append(
                partial(
                    store_run, f"store-{name}", label_of(tool, "storescu"), sender, "dcmtk", False, data, args.timeout
                )
            )
        for row in interleaved(makers, args.repeat):
            emit(row)
        if args.pynetdicom:
            sender = partial(storescu, "pynetdicom", data[0])
            label = label_of("pynetdicom", "storescu")
            emit(store_run(f"store-{name}", label, sender, "dcmtk", False, data, args.pynetdicom_timeout))
    n = str(args.parallel)
    for name in ("small", "ct"):
        data = datasets[name]
        if not f"parallel-{name}".startswith(wanted):
            continue
        cases = [
            ("DCMTK storescu -> DCMTK storescp --fork", "dcmtk", [], "dcmtk"),
            (f"dimse storescu --parallel {n} -> DCMTK --fork", "dimse", ["--parallel", n], "dcmtk"),
            (f"dimse storescu --parallel {n} -> dimse storescp", "dimse", ["--parallel", n], "dimse"),
            ("dimse storescu (1 association, window 16) -> dimse storescp", "dimse", [], "dimse"),
        ]
        makers = [
            partial(
                store_run,
                f"parallel-{name}",
                label,
                partial(storescu_with, tool, data[0], extra),
                receiver,
                True,
                data,
                args.timeout,
            )
            for label, tool, extra, receiver in cases
        ]
        for row in interleaved(makers, args.repeat):
            emit(row)
    if "move-ct".startswith(wanted):
        movers = ["dcmtk", "dimse"] + (["pynetdicom"] if args.pynetdicom else [])
        for row in move_runs(work, datasets["ct"], movers, args.timeout, args.repeat):
            emit(row)
    if "get-ct".startswith(wanted):
        for row in move_runs(work, datasets["ct"], ["dcmtk", "dimse"], args.timeout, args.repeat, kind="get"):
            emit(row)
    for name in ("small", "ct"):
        if not f"receive-{name}".startswith(wanted):
            continue
        makers = [
            partial(receive_run, f"receive-{name}", receiver, datasets[name], args.timeout)
            for receiver in ("dcmtk", "dimse")
        ]
        for row in interleaved(makers, args.repeat):
            emit(row)
    if "receive-small-fsync".startswith(wanted):
        makers = [
            partial(receive_run, "receive-small-fsync", receiver, datasets["small"], args.timeout, extra)
            for receiver, extra in (("dcmtk", []), ("dimse", ["--fsync"]))
        ]
        for row in interleaved(makers, args.repeat):
            emit(row)
    if "defaults-small".startswith(wanted):
        data = first_files(work, datasets["small"], DEFAULTS_FILES)
        cases = [
            ("DCMTK storescu -> DCMTK storescp", "dcmtk", "dcmtk"),
            ("DCMTK storescu -> dimse storescp", "dcmtk", "dimse"),
            ("dimse storescu -> DCMTK storescp", "dimse", "dcmtk"),
        ]
        makers = [
            partial(
                store_run,
                "defaults-small",
                label,
                partial(storescu, tool, data[0]),
                receiver,
                False,
                data,
                args.timeout,
                DEFAULTS_ENV,
            )
            for label, tool, receiver in cases
        ]
        for row in interleaved(makers, args.repeat):
            emit(row)
    if "one-file".startswith(wanted):
        singles = sorted(datasets["small"][0].iterdir())[:CALLS]
        makers = []
        for tool in ("dcmtk", "dimse"):
            binary = DCMTK["storescu"] if tool == "dcmtk" else str(OUR_BIN / "storescu")
            commands = [[binary, "127.0.0.1", "{port}", str(f)] for f in singles]
            makers.append(partial(calls_run, "one-file", label_of(tool, "storescu"), commands, True, args.timeout))
        for row in interleaved(makers, args.repeat):
            emit(row)
    if "version".startswith(wanted):
        makers = []
        for tool in ("dcmtk", "dimse"):
            binary = DCMTK["storescu"] if tool == "dcmtk" else str(OUR_BIN / "storescu")
            commands = [[binary, "--version"]] * CALLS
            makers.append(
                partial(calls_run, "version", f"{label_of(tool, 'storescu')} --version", commands, False, args.timeout)
            )
        for row in interleaved(makers, args.repeat):
            emit(row)
    if args.big_mb:
        for row in big_runs(work, args.big_mb, max(args.timeout, 600)):
            emit(row)
    return rows


def with_ratios(rows: list[Row]) -> list[Row]:
    """Each row's time over the DCMTK row of its workload."""
    for row in rows:
        base = next((r.seconds for r in rows if r.workload == row.workload and r.tool.startswith("DCMTK")), None)
        row.ratio_vs_dcmtk = round(row.seconds / base, 2) if base and row.exit == 0 else None
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| workload | tool | seconds | files/s | MB/s | peak RSS MB | ratio vs DCMTK |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rate = f"{r.files / r.seconds:.0f}" if r.seconds else "-"
        mbs = f"{r.megabytes / r.seconds:.1f}" if r.seconds else "-"
        ratio = "-" if r.ratio_vs_dcmtk is None else f"{r.ratio_vs_dcmtk:.2f}"
        flag = "" if r.exit == 0 and r.arrived == r.files else f" (exit {r.exit}, arrived {r.arrived}/{r.files})"
        lines.append(
            f"| {r.workload} | {r.tool}{flag} | {r.seconds:.2f} | {rate} | {mbs} | {r.peak_rss_mb} | {ratio} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=2000, help="number of ~9 KB files (default 2000)")
    parser.add_argument("--ct", type=int, default=1000, help="number of 512x512 CT files (default 1000)")
    parser.add_argument("--parallel", type=int, default=2, help="associations for the parallel runs (default 2)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per row, median reported (default 1)")
    parser.add_argument("--quick", action="store_true", help="10 %% of the files")
    parser.add_argument("--pynetdicom", action="store_true", help="also pynetdicom's storescu and movescu (slow)")
    parser.add_argument("--pynetdicom-timeout", type=float, default=240, help="seconds per pynetdicom run (240)")
    parser.add_argument("--timeout", type=float, default=180, help="seconds per other run (180)")
    parser.add_argument("--big-mb", type=int, default=0, help="add one object of this many MB (peak memory)")
    parser.add_argument("--json", type=Path, default=Path("bench/results/all.json"))
    parser.add_argument(
        "--only", nargs="*", default=[], help="workloads whose names start so (store, parallel-ct, move, receive, ...)"
    )
    args = parser.parse_args()
    # what an installed package has: compiled bytecode (this environment may forbid writing it)
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "src" / "dimse"), quiet=1)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        rows = with_ratios(run_workloads(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    loop = "uvloop" if _has_uvloop() else "asyncio"
    print(f"\n(event loop of our tools: {loop}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f})\n")
    print(table(rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"event_loop": loop, "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    print(f"\nwritten to {args.json}; median of {args.repeat} run(s) per row")


def _has_uvloop() -> bool:
    """Whether our tools run on uvloop here (DIMSE_EVENT_LOOP=uvloop and uvloop importable)."""
    if os.environ.get("DIMSE_EVENT_LOOP", "").strip().lower() != "uvloop":
        return False
    probe = subprocess.run([sys.executable, "-c", "import uvloop"], capture_output=True)
    return probe.returncode == 0


if __name__ == "__main__":
    main()
