"""The README's first command: the built-in demo must run and check itself."""

from __future__ import annotations

import re
import sys

from .conftest import run


def test_demo_sends_the_samples_and_every_data_set_arrives_equal():
    """python -m dimse demo: our SCU -> our SCP in one process, pydicom's sample files."""
    done = run([sys.executable, "-m", "dimse", "demo"], timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    match = re.search(r"received data set equal to the one sent: (\d+) of (\d+)", done.stdout)
    assert match and match.group(1) == match.group(2) and int(match.group(1)) > 40
    assert "refused MR_truncated.dcm" in done.stdout  # a broken sample is refused, not sent half
    # what a first-time user must be told, and never pydicom's API hints
    assert re.search(r"\d+ files make \d+ objects: some of pydicom's samples share a SOP Instance UID", done.stdout)
    assert "is removed now; run with -od DIR to keep them" in done.stdout
    assert "force=True" not in done.stdout + done.stderr
    assert done.stderr == ""
