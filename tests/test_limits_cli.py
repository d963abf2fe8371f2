"""The acceptor limits as command-line options of our storescp and movescu, with DCMTK's
echoscu and storescu as the peers."""

from __future__ import annotations

import asyncio

from dimse.net.association import associate

from .big_transfer import make_big_file
from .conftest import CT_SMALL, dcmtk, free_port, ours, run, running

VERIFICATION = "1.2.840.10008.1.1"


def test_storescp_max_associations(tmp_path):
    """Ours: storescp --max-associations 1 rejects DCMTK's echoscu while one association is
    open (transient, local limit exceeded), then serves it once that one is released."""
    port = free_port()
    with running([ours("storescp"), "--max-associations", "1", "-od", str(tmp_path), str(port)], port) as proc:

        async def hold_and_probe():
            assoc = await associate("127.0.0.1", port, [(VERIFICATION, ["1.2.840.10008.1.2"])])
            busy = await asyncio.to_thread(run, [dcmtk("echoscu"), "127.0.0.1", str(port)])
            await assoc.release()
            return busy

        busy = asyncio.run(hold_and_probe())
        free = run([dcmtk("echoscu"), "127.0.0.1", str(port)])
        proc.terminate()
        log = proc.communicate(timeout=10)[0]
    assert busy.returncode == 1
    assert "Association Rejected" in busy.stderr
    assert "Result: Rejected Transient" in busy.stderr
    assert "Reason: Local Limit Exceeded" in busy.stderr
    assert free.returncode == 0, free.stderr
    assert "Traceback" not in log


def test_storescp_max_dataset_size(tmp_path):
    """Ours: storescp --max-dataset-size 1 aborts DCMTK's storescu sending a 3 MB object and
    leaves nothing in -od; a small object still arrives."""
    big = tmp_path / "big.dcm"
    make_big_file(big, 3 * 1024 * 1024)
    out = tmp_path / "od"
    out.mkdir()
    port = free_port()
    with running([ours("storescp"), "--max-dataset-size", "1", "-od", str(out), str(port)], port) as proc:
        refused = run([dcmtk("storescu"), "127.0.0.1", str(port), str(big)])
        assert list(out.iterdir()) == []
        small = run([dcmtk("storescu"), "127.0.0.1", str(port), str(CT_SMALL)])
        proc.terminate()
        log = proc.communicate(timeout=10)[0]
    assert refused.returncode != 0
    assert small.returncode == 0, small.stderr
    assert len(list(out.iterdir())) == 1
    assert "Traceback" not in log


def test_limit_option_values_are_checked():
    """Ours: a limit below 1 is a command-line error (exit 1), as DCMTK checks its own numbers."""
    done = run([ours("storescp"), "--max-associations", "0", "104"])
    assert done.returncode == 1
    assert "error: Invalid value for option --max-associations" in done.stderr
    done = run([ours("movescu"), "--dataset-timeout", "0", "127.0.0.1", "104"])
    assert done.returncode == 1
