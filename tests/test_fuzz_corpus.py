"""Replay the fuzz corpus (tests/fuzz_corpus/): every file through the PDU decoder and both
sides of a Connection; only PDUError may come out of the decoder, nothing out of the
connection, and whatever the connection writes is well-formed.
"""

from __future__ import annotations

import pytest

from .corpus import CORPUS, replay, seeds

FILES = sorted(CORPUS.iterdir())


def test_corpus_holds_every_seed():
    """The committed corpus matches the encoder (``python -m tests.corpus`` rewrites it)."""
    for name, data in seeds().items():
        assert (CORPUS / name).read_bytes() == data, name


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_corpus_file_replays_cleanly(path):
    replay(path.read_bytes())
