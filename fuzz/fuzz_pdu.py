"""Coverage-guided fuzzing of the PDU decoder and the state machine with atheris.

Not part of the test suite and not a dependency: run it by hand when atheris is installed
(``pip install atheris``).  From the repository root::

    mkdir -p /tmp/fuzz-work
    .venv/bin/python fuzz/fuzz_pdu.py /tmp/fuzz-work tests/fuzz_corpus -max_len=20000 -max_total_time=300

libFuzzer writes new inputs to the first folder, so keep the repository's corpus second.
A crash is saved as ``crash-<sha1>`` in the current folder; once the defect is fixed, copy
the file to ``tests/fuzz_corpus/crash-<what>.bin`` so the test suite replays it for good.
Each input goes through ``tests.corpus.replay``: the decoder and both sides of a Connection.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

with atheris.instrument_imports(include=["dimse", "tests.corpus"]):
    from tests.corpus import replay


def test_one_input(data: bytes) -> None:
    """One input, whole and in pieces of a size taken from its length; any exception but
    PDUError inside is a finding."""
    replay(data, steps=(1 << 20, 1 + len(data) % 61))


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
