"""Shared fixtures: real peers (DCMTK binaries, our console scripts), free ports, sample data.

DCMTK's tools share names with ours: DCMTK's are looked up in /usr/bin (outside the venv),
ours beside the running interpreter.  A test that needs a missing peer fails under CI
(``CI=true``) and is skipped with the reason on a developer's machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
OUR_BIN = Path(sys.executable).parent
SAMPLES = Path(get_testdata_file("CT_small.dcm")).parent
CT_SMALL = SAMPLES / "CT_small.dcm"
MR_SMALL = SAMPLES / "MR_small.dcm"


def missing(reason: str) -> None:
    """Fail in CI, skip elsewhere."""
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def dcmtk(tool: str) -> str:
    """Path of DCMTK's ``tool`` (never ours)."""
    for folder in ("/usr/bin", "/usr/local/bin"):
        path = Path(folder) / tool
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which(
        tool, path=os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != OUR_BIN)
    )
    if found:
        return found
    missing(f"DCMTK's {tool} is not installed (apt-get install dcmtk)")
    raise AssertionError("unreachable")


def ours(tool: str) -> str:
    """Path of our console script ``tool`` in the running venv."""
    path = OUR_BIN / tool
    if not path.exists():
        missing(f"our {tool} console script is not installed in {OUR_BIN} (pip install -e .)")
    return str(path)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"server exited early with {proc.returncode}: {out}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} after {timeout} s")


@contextlib.contextmanager
def running(args: list[str], port: int, **kwargs):
    """Start a server process, wait for its port, stop it afterwards; yields the Popen."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    try:
        wait_for_port(port, proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run(args: list[str], timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)


def move_study_args(tool: str, aec: str, scp_port: int, listen: int, out: Path, *extra: str, tls=()) -> list[str]:
    """A movescu command line (ours or DCMTK's): Study Root, study 1.2.3 moved from ``aec`` on
    127.0.0.1:``scp_port`` to the tool's own Storage SCP on ``listen``, which writes to ``out``.
    ``tls`` options come first, ``extra`` ones after -od."""
    return [
        tool,
        *tls,
        "-S",
        "-aec",
        aec,
        "--port",
        str(listen),
        "-od",
        str(out),
        *extra,
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        "StudyInstanceUID=1.2.3",
        "127.0.0.1",
        str(scp_port),
    ]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(autouse=True, scope="session")
def _pynetdicom_responses_stay_with_their_sender():
    """Keep pynetdicom's reactor from taking a response its own sender waits for.

    pynetdicom's association thread polls its DIMSE queue without blocking while a ``send_c_*``
    call pauses it; the pause has a window (pynetdicom issue #875) in which the reactor takes the
    sender's response, logs "Received unexpected ... service message" and the sender waits out
    its DIMSE timeout.  Our peers answer fast enough to hit that window now and then.  The poll
    here takes only requests and leaves responses on the queue for the blocked sender: the
    test peer behaves as pynetdicom means it to, and nothing of ours is changed.
    """
    try:
        from pynetdicom.dimse import DIMSEServiceProvider
    except ImportError:
        yield
        return
    original = DIMSEServiceProvider.get_msg

    def get_msg(self, block: bool = False):
        if block:
            return original(self, block)
        pending = self.msg_queue
        with pending.mutex:
            for index, (context_id, message) in enumerate(pending.queue):
                if getattr(message, "Status", None) is None:
                    del pending.queue[index]
                    return context_id, message
        return None, None

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DIMSEServiceProvider, "get_msg", get_msg)
        yield
