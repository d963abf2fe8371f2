"""Data sets stream: a 1 GB object crosses the core file to file with bounded memory."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from dimse.files.part10 import read_part10_header

SIZE = 1 << 30


def digest(path: Path, offset: int) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fp:
        fp.seek(offset)
        while chunk := fp.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def test_one_gigabyte_object_with_bounded_memory(tmp_path):
    """our SCU -> our SCP (one process, loopback): 1 GB arrives intact, peak RSS under 100 MB."""
    source, output = tmp_path / "big.dcm", tmp_path / "out"
    output.mkdir()
    script = Path(__file__).with_name("big_transfer.py")
    done = subprocess.run(
        [sys.executable, str(script), str(source), str(output), str(SIZE)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == 0
    assert result["maxrss_mb"] < 100, result
    (stored,) = [Path(p) for p in result["stored"]]
    sent, got = read_part10_header(source), read_part10_header(stored)
    assert got.dataset_length == sent.dataset_length > SIZE
    assert digest(stored, got.dataset_offset) == digest(source, sent.dataset_offset)
    assert list(output.iterdir()) == [stored], "temporary files left behind"


def test_file_sink_gathers_small_pieces_into_large_writes(tmp_path, monkeypatch):
    """FileSink (our receivers' file writer): 64 pieces of 16 KB handed over as views of one
    reused buffer (as the socket reader hands them) are copied, written in WRITE_SIZE writes
    after the meta header prefix, and the file holds every byte in order; a piece of
    WRITE_SIZE with nothing gathered goes out as it is."""
    import os

    from dimse.files import storage

    writes: list[int] = []
    real_writev = os.writev
    monkeypatch.setattr(storage.os, "writev", lambda fd, bufs: writes.append(sum(map(len, bufs))) or real_writev(fd, bufs))
    sink = storage.FileSink(tmp_path / "obj", prefix=b"META")
    shared = bytearray(16384)
    expected = bytearray(b"META")
    for n in range(64):
        shared[:] = bytes([n]) * len(shared)
        sink.write(memoryview(shared))
        expected += shared
    sink.commit()
    assert (tmp_path / "obj").read_bytes() == bytes(expected)
    assert len(writes) <= 5 and max(writes) >= storage.WRITE_SIZE, writes
    writes.clear()
    big = storage.FileSink(tmp_path / "big")
    big.write(b"x" * storage.WRITE_SIZE)
    assert writes == [storage.WRITE_SIZE]
    big.commit()
    assert (tmp_path / "big").stat().st_size == storage.WRITE_SIZE
