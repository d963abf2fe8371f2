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
