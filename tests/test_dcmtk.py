"""Interoperability with DCMTK's real binaries, both roles.

Each test names who plays which role: "DCMTK storescp" is /usr/bin/storescp, "our storescp"
is the console script of this package in the running venv.
"""

from __future__ import annotations

import array
import asyncio

import pytest
from pydicom import dcmread

from dimse import AssociationAborted, NoPresentationContext, associate

from .conftest import CT_SMALL, MR_SMALL, SAMPLES, dcmtk, ours, run, running

LEE, LEI = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"
CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
MR_CLASS = "1.2.840.10008.5.1.4.1.1.4"


def same_dataset(a, b) -> bool:
    """Data sets equal, ignoring Data Set Trailing Padding (FFFC,FFFC), which DCMTK drops, and
    comparing OW pixel data word by word when one file is big endian."""
    first, second = dcmread(a), dcmread(b)
    for ds in (first, second):
        if 0xFFFCFFFC in ds:
            del ds[0xFFFCFFFC]
        if "PixelData" in ds and ds["PixelData"].is_undefined_length:
            ds["PixelData"].VR = "OB"  # DCMTK corrects encapsulated pixel data wrongly labelled OW
        elif "PixelData" in ds and ds["PixelData"].VR == "OW" and not ds.original_encoding[1]:
            words = array.array("H", ds.PixelData)
            words.byteswap()
            ds.PixelData = words.tobytes()
    return first == second


def received(folder, sample):
    uid = dcmread(sample).SOPInstanceUID
    matches = [p for p in folder.iterdir() if p.name.endswith("." + uid)]
    assert len(matches) == 1, f"expected one file for {uid} in {list(folder.iterdir())}"
    return matches[0]


# ----------------------------------------------------------------------------- our SCU -> DCMTK SCP


def test_our_echoscu_against_dcmtk_storescp(port, tmp_path):
    """our echoscu -> DCMTK storescp: exit 0 and DCMTK's verbose templates."""
    with running([dcmtk("storescp"), "-od", str(tmp_path), str(port)], port):
        result = run([ours("echoscu"), "-v", "127.0.0.1", str(port)])
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines == [
        "I: Requesting Association",
        "I: Association Accepted (Max Send PDV: 16372)",
        "I: Sending Echo Request (MsgID 1)",
        "I: Received Echo Response (Success)",
        "I: Releasing Association",
    ]


def test_our_echoscu_repeat_and_abort(port, tmp_path):
    """our echoscu --repeat 3 --abort -> DCMTK storescp: three echoes, then A-ABORT, exit 0."""
    with running([dcmtk("storescp"), "-v", "-od", str(tmp_path), str(port)], port) as scp:
        result = run([ours("echoscu"), "-v", "--repeat", "3", "--abort", "127.0.0.1", str(port)])
        scp.terminate()
        log = scp.communicate(timeout=10)[0]
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Received Echo Response (Success)") == 3
    assert "I: Aborting Association" in result.stderr
    assert log.count("Received Echo Request") == 3
    assert "Abort" in log


def test_our_api_stores_to_dcmtk_storescp(port, tmp_path):
    """our Association.store_file -> DCMTK storescp: what DCMTK wrote equals what was sent."""

    async def send():
        assoc = await associate(
            "127.0.0.1", port, [(CT_CLASS, [LEE]), (MR_CLASS, [LEE, LEI])], calling_ae="DIMSE", called_ae="STORESCP"
        )
        statuses = [(await assoc.store_file(f)).Status for f in (CT_SMALL, MR_SMALL)]
        await assoc.release()
        return statuses

    with running([dcmtk("storescp"), "-od", str(tmp_path), str(port)], port):
        assert asyncio.run(send()) == [0, 0]
    for sample in (CT_SMALL, MR_SMALL):
        assert same_dataset(received(tmp_path, sample), sample)


def test_max_pdu_4096_towards_dcmtk(port, tmp_path):
    """our API with max PDU 4096 both ways -> DCMTK storescp -pdu 4096: the CT crosses intact."""

    async def send():
        assoc = await associate("127.0.0.1", port, [(CT_CLASS, [LEE])], max_pdu=4096)
        assert assoc.conn.max_fragment == 4096 - 12
        status = (await assoc.store_file(CT_SMALL)).Status
        await assoc.release()
        return status

    with running([dcmtk("storescp"), "-pdu", "4096", "-od", str(tmp_path), str(port)], port):
        assert asyncio.run(send()) == 0
    assert same_dataset(received(tmp_path, CT_SMALL), CT_SMALL)


def test_no_acceptable_context_at_dcmtk(port, tmp_path):
    """our API proposing only an unknown SOP class -> DCMTK storescp: association without contexts."""

    async def attempt():
        assoc = await associate("127.0.0.1", port, [("1.2.3.4.5.6", [LEE])])
        try:
            assert assoc.contexts == {}
            with pytest.raises(NoPresentationContext):
                await assoc.store_file(CT_SMALL)
        finally:
            await assoc.release()

    with running([dcmtk("storescp"), "-od", str(tmp_path), str(port)], port):
        asyncio.run(attempt())
    assert list(tmp_path.iterdir()) == []


def test_peer_abort_during_store(port, tmp_path):
    """DCMTK storescp --abort-after aborts after the C-STORE-RQ: our API reports the peer abort."""

    async def send():
        assoc = await associate("127.0.0.1", port, [(CT_CLASS, [LEE])])
        with pytest.raises(AssociationAborted):
            await assoc.store_file(CT_SMALL)
        assert not assoc.is_established

    with running([dcmtk("storescp"), "--abort-after", "-od", str(tmp_path), str(port)], port):
        asyncio.run(send())


# ----------------------------------------------------------------------------- DCMTK SCU -> our SCP


def test_dcmtk_echoscu_against_our_storescp(port, tmp_path):
    """DCMTK echoscu -> our storescp: exit 0; ours logs DCMTK's templates."""
    with running([ours("storescp"), "-v", "-od", str(tmp_path), str(port)], port) as scp:
        result = run([dcmtk("echoscu"), "127.0.0.1", str(port)])
        scp.terminate()
        log = scp.communicate(timeout=10)[0]
    assert result.returncode == 0, result.stderr
    assert "I: Association Received" in log
    assert "I: Association Acknowledged (Max Send PDV: 16372)" in log
    assert "I: Received Echo Request (MsgID 1)" in log
    assert "I: Association Release" in log


UNCOMPRESSED_SAMPLES = [
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "rtplan.dcm",
    "rtdose.dcm",
    "test-SR.dcm",
    "waveform_ecg.dcm",
]


def test_dcmtk_storescu_against_our_storescp(port, tmp_path):
    """DCMTK storescu -> our storescp: every object arrives, data sets equal the originals."""
    files = [str(SAMPLES / name) for name in UNCOMPRESSED_SAMPLES]
    with running([ours("storescp"), "-od", str(tmp_path), str(port)], port):
        result = run([dcmtk("storescu"), "127.0.0.1", str(port), *files])
    assert result.returncode == 0, result.stderr
    for name in UNCOMPRESSED_SAMPLES:
        assert same_dataset(received(tmp_path, SAMPLES / name), SAMPLES / name), name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_dcmtk_storescu_compressed_with_accept_all(port, tmp_path):
    """DCMTK storescu -xs (JPEG lossless proposed) -> our storescp +xa: the file is kept compressed."""
    sample = SAMPLES / "SC_rgb_jpeg_gdcm.dcm"  # JPEG lossless SV1
    with running([ours("storescp"), "+xa", "-od", str(tmp_path), str(port)], port):
        result = run([dcmtk("storescu"), "-xs", "127.0.0.1", str(port), str(sample)])
    assert result.returncode == 0, result.stderr
    out = received(tmp_path, sample)
    assert dcmread(out).file_meta.TransferSyntaxUID == dcmread(sample).file_meta.TransferSyntaxUID
    assert dcmread(out).PixelData == dcmread(sample).PixelData


def test_dcmtk_storescu_max_pdu_4096_into_ours(port, tmp_path):
    """DCMTK storescu -pdu 4096 --max-send-pdu 4096 -> our storescp -pdu 4096: intact."""
    with running([ours("storescp"), "-pdu", "4096", "-od", str(tmp_path), str(port)], port):
        result = run([dcmtk("storescu"), "-pdu", "4096", "127.0.0.1", str(port), str(CT_SMALL)])
    assert result.returncode == 0, result.stderr
    assert same_dataset(received(tmp_path, CT_SMALL), CT_SMALL)


def test_bad_called_ae_rejected(port, tmp_path):
    """DCMTK echoscu -aec WRONG -> our storescp --check-called-aetitle: A-ASSOCIATE-RJ, reason called AE."""
    with running([ours("storescp"), "--check-called-aetitle", "-aet", "GOOD", "-od", str(tmp_path), str(port)], port):
        bad = run([dcmtk("echoscu"), "-aec", "WRONG", "127.0.0.1", str(port)])
        good = run([dcmtk("echoscu"), "-aec", "GOOD", "127.0.0.1", str(port)])
        ours_bad = run([ours("echoscu"), "-aec", "WRONG", "127.0.0.1", str(port)])
    assert bad.returncode == 1
    assert "Called AE Title Not Recognized" in bad.stderr
    assert "Rejected Permanent" in bad.stderr
    assert good.returncode == 0, good.stderr
    assert ours_bad.returncode == 1
    assert ours_bad.stderr.splitlines() == [
        "F: Association Rejected:",
        "F: Result: Rejected Permanent, Source: Service User",
        "F: Reason: Called AE Title Not Recognized",
    ]


def test_refuse_gives_dcmtk_reject_text(port, tmp_path):
    """our echoscu -> our storescp --refuse: DCMTK's three reject lines, exit 1."""
    with running([ours("storescp"), "--refuse", "-od", str(tmp_path), str(port)], port):
        result = run([ours("echoscu"), "127.0.0.1", str(port)])
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "F: Association Rejected:",
        "F: Result: Rejected Permanent, Source: Service User",
        "F: Reason: No Reason",
    ]


def test_dcmtk_echoscu_abort_then_our_storescp_keeps_serving(port, tmp_path):
    """DCMTK echoscu --abort -> our storescp; then a normal echo still succeeds."""
    with running([ours("storescp"), "-v", "-od", str(tmp_path), str(port)], port) as scp:
        aborted = run([dcmtk("echoscu"), "--abort", "127.0.0.1", str(port)])
        again = run([dcmtk("echoscu"), "127.0.0.1", str(port)])
        scp.terminate()
        log = scp.communicate(timeout=10)[0]
    assert aborted.returncode == 0
    assert again.returncode == 0
    assert "Association Aborted" in log
    assert "Association Release" in log


def test_echoscu_connection_refused_side_by_side(port):
    """our echoscu and DCMTK echoscu against a closed port: same line, same exit code 1."""
    theirs = run([dcmtk("echoscu"), "127.0.0.1", str(port)])
    mine = run([ours("echoscu"), "127.0.0.1", str(port)])
    assert mine.returncode == theirs.returncode == 1
    assert (
        mine.stderr
        == theirs.stderr
        == "F: Association Request Failed: 0006:031c TCP Initialization Error: Connection refused\n"
    )
