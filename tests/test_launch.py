"""The console scripts' fast path (dimse.launch): ``--help``, ``-h``, ``--version`` and no
arguments answered from dimse._usage without importing the tool, the same text as the tool
itself prints (``python -m dimse <tool>`` goes through the tool's own command line)."""

from __future__ import annotations

import subprocess
import sys

import pydicom
import pytest

from dimse import launch
from dimse._usage import USAGE

from .conftest import ours, run


def test_usage_texts_are_the_tools_own():
    """dimse/_usage.py is what the tools' command-line definitions print today (else: run
    ``python -m dimse.launch --write-usage``)."""
    assert USAGE == launch.usage_texts()


@pytest.mark.parametrize("tool", launch.TOOLS)
@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--version"], []], ids=["help", "h", "version", "none"])
def test_console_script_prints_what_the_tool_prints(tool, args):
    """our console script (fast path) and ``python -m dimse <tool>`` (the tool's command line):
    the same stdout, nothing on stderr, exit 0."""
    fast = run([ours(tool), *args])
    full = run([sys.executable, "-m", "dimse", tool, *args])
    assert fast.returncode == full.returncode == 0
    assert fast.stdout == full.stdout and fast.stdout.startswith(f"$dimse: {tool} v")
    assert fast.stderr == full.stderr == ""


def test_version_loads_neither_asyncio_nor_pydicom():
    """``storescu --version`` through dimse.launch imports no network stack, asyncio or pydicom,
    and names pydicom's installed version."""
    code = (
        "import sys; sys.argv = ['storescu', '--version']\n"
        "from dimse.launch import storescu\n"
        "assert storescu() == 0\n"
        "heavy = [m for m in ('asyncio', 'pydicom', 'ssl', 'dimse.net', 'dimse.tools') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(f"pydicom {pydicom.__version__}\n")
    assert launch.pydicom_version() == pydicom.__version__


def test_other_command_lines_run_the_tool():
    """our storescu through the launcher: a syntax error is the tool's (DCMTK's three lines, exit 1)."""
    done = run([ours("storescu"), "--no-such-option", "host", "104"])
    assert done.returncode == 1
    assert "error: Unknown option --no-such-option" in done.stderr
