"""storescu's ``--shard i/n``: n processes given the same files send each file exactly once.

The first test runs the GNU parallel command of docs/scale.md (4 shards of our storescu,
each with its own journal, into one of our storescp).  A file's shard is the documented
hash, computed here independently: the first 8 bytes of SHA-256 of its SOP Instance UID
(else of ``path:<path as given>``), big-endian, modulo n.
"""

from __future__ import annotations

import collections
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from .conftest import free_port, missing, ours, run
from .test_journal import received_files, storescp_counts, storescp_logging, write_set


def shard_of(key: str, count: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % count


def gnu_parallel() -> str:
    """Debian's GNU parallel (the ``parallel`` package; CI installs it)."""
    path = shutil.which("parallel")
    if path is None:
        missing("GNU parallel is not installed (apt-get install parallel)")
        raise AssertionError("unreachable")
    return path


def sent_files(stderr: str) -> list[str]:
    """What a storescu at ``-v`` sent, in order."""
    return [line[len(SENDING) :] for line in stderr.splitlines() if line.startswith(SENDING)]


SENDING = "I: Sending file: "


def test_gnu_parallel_sends_each_file_once(tmp_path):
    """``parallel -j 4 storescu ... --shard {}/4 --journal shard-{}.journal ... ::: 0 1 2 3``
    into one storescp: the receiver gets every file exactly once; the four journals split
    the files into four non-empty disjoint sets, each the files whose hash says so."""
    folder, out = tmp_path / "export", tmp_path / "out"
    uids = write_set(folder, 200, 20)
    with storescp_logging(out, tmp_path / "storescp.log") as port:
        shard = ["--shard", "{}/4", "--journal", f"{tmp_path}/shard-{{}}.journal"]
        storescu = [ours("storescu"), "-nh", "--retry", "3", *shard, "+sd", "+r", "127.0.0.1", str(port), str(folder)]
        result = run([gnu_parallel(), "-j", "4", *storescu, ":::", "0", "1", "2", "3"], timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = storescp_counts((tmp_path / "storescp.log").read_text(errors="replace"))
    assert counts == collections.Counter(uids.values())
    assert received_files(out) == {f"SC.{uid}" for uid in uids.values()}
    shards: list[set[str]] = []
    for index in range(4):
        entries = [json.loads(line) for line in (tmp_path / f"shard-{index}.journal").read_text().splitlines()]
        assert all(entry["ok"] for entry in entries)
        assert all(shard_of(entry["sop_instance"], 4) == index for entry in entries)
        shards.append({Path(entry["path"]).name for entry in entries})
        assert len(shards[-1]) == len(entries) > 0
    assert sum(len(s) for s in shards) == len(uids)
    assert set().union(*shards) == set(uids)


def test_shard_0_of_1_is_no_option(tmp_path):
    """``--shard 0/1`` sends the same files in the same order as no ``--shard``: the whole
    ``-v`` output is the same."""
    folder = tmp_path / "set"
    write_set(folder, 12, 21)
    with storescp_logging(tmp_path / "out", tmp_path / "storescp.log") as port:
        args = ["-v", "+sd", "127.0.0.1", str(port), str(folder)]
        plain = run([ours("storescu"), *args])
        sharded = run([ours("storescu"), "--shard", "0/1", *args])
    assert plain.returncode == sharded.returncode == 0, plain.stderr + sharded.stderr
    assert len(sent_files(plain.stderr)) == 12
    assert sharded.stderr == plain.stderr


@pytest.mark.parametrize("value", ["4/4", "x", "1/0", "-1/4", "1/4/2", "1", ""])
def test_bad_shard_value_is_one_error_line(tmp_path, value):
    """A bad ``--shard``: exit 1 before anything else, with the banner and one ``error:``
    line, as every bad option value (the banner of ``--repeat 0``'s error, DCMTK's words)."""
    file = tmp_path / "set"
    write_set(file, 1, 22)
    target = ["127.0.0.1", str(free_port()), str(file / "f00000.dcm")]
    result = run([ours("storescu"), "--shard", value, *target])
    reference = run([ours("storescu"), "--repeat", "0", *target])
    assert result.returncode == reference.returncode == 1
    assert result.stdout == ""
    lines, reference_lines = result.stderr.splitlines(), reference.stderr.splitlines()
    assert lines[:-1] == reference_lines[:-1]
    assert [line for line in lines if line.startswith("error:")] == [lines[-1]]
    assert lines[-1].startswith(f"error: Invalid value for option --shard ({value})")


def test_shard_without_files_exits_0(tmp_path):
    """One file, four shards: one sends it, the three others exit 0 without an association."""
    folder = tmp_path / "set"
    uids = write_set(folder, 1, 23)
    with storescp_logging(tmp_path / "out", tmp_path / "storescp.log") as port:
        results = [
            run([ours("storescu"), "-v", "--shard", f"{i}/4", "+sd", "127.0.0.1", str(port), str(folder)])
            for i in range(4)
        ]
    assert [r.returncode for r in results] == [0, 0, 0, 0]
    senders = [i for i, r in enumerate(results) if "Requesting Association" in r.stderr]
    assert senders == [shard_of(uids["f00000.dcm"], 4)]
    for i, r in enumerate(results):
        if i not in senders:
            assert f"I: no input files in shard {i}/4" in r.stderr
    counts = storescp_counts((tmp_path / "storescp.log").read_text(errors="replace"))
    assert counts == collections.Counter(uids.values())


def test_unreadable_file_falls_to_one_shard_by_its_path(tmp_path):
    """A file that is no DICOM among 8 that are: it belongs to the shard of
    ``path:<path>``, which alone reports it; every DICOM file arrives once (``-nh``)."""
    folder = tmp_path / "set"
    uids = write_set(folder, 8, 24)
    junk = folder / "notes.txt"
    junk.write_text("this is not a DICOM file\n")
    with storescp_logging(tmp_path / "out", tmp_path / "storescp.log") as port:
        results = [
            run([ours("storescu"), "-nh", "--shard", f"{i}/4", "+sd", "127.0.0.1", str(port), str(folder)])
            for i in range(4)
        ]
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    reporting = [i for i, r in enumerate(results) if str(junk) in r.stderr]
    assert reporting == [shard_of(f"path:{junk}", 4)]
    assert f"E: Bad DICOM file: {junk}" in results[reporting[0]].stderr
    counts = storescp_counts((tmp_path / "storescp.log").read_text(errors="replace"))
    assert counts == collections.Counter(uids.values())
