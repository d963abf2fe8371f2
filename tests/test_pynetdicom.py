"""Interoperability with pynetdicom, a second and independent DICOM network implementation.

pynetdicom is only ever a test peer here: it plays the SCP our ``echoscu`` and our Python API
talk to, and the SCU that talks to our ``storescp`` console script and to our in-process
:class:`dimse.Acceptor`.  Each test's docstring says which implementation plays which role.

Everything runs on 127.0.0.1 with short timeouts on both sides, so a misbehaving peer fails
a test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pynetdicom import AE, _config, build_role, evt
from pynetdicom.pdu import A_ASSOCIATE_RJ, P_DATA_TF
from pynetdicom.pdu_primitives import (
    AsynchronousOperationsWindowNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentityNegotiation,
)
from pynetdicom.sop_class import (
    BasicTextSRStorage,
    ComprehensiveSRStorage,
    CTImageStorage,
    MRImageStorage,
    PatientRootQueryRetrieveInformationModelFind,
    SecondaryCaptureImageStorage,
    SegmentationStorage,
    TwelveLeadECGWaveformStorage,
    Verification,
)

from dimse import Acceptor, AcceptorPolicy, AssociationRejected, Services, Timeouts, associate, serve
from dimse.uids import IMPLEMENTATION_CLASS_UID

from .conftest import CT_SMALL, MR_SMALL, SAMPLES, ours, run, running

TIMEOUT = 10
LEI = "1.2.840.10008.1.2"
LEE = "1.2.840.10008.1.2.1"
BEE = "1.2.840.10008.1.2.2"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
UNKNOWN_SOP_CLASS = "1.2.826.0.1.3680043.8.498.1.999"  # a well-formed UID no storage SCP knows

#: uncompressed samples with distinct SOP Instance UIDs, and the file name prefix DCMTK's
#: storescp (and so ours) gives each SOP class
UNCOMPRESSED_SAMPLES = {
    "CT_small.dcm": "CT",  # explicit VR little endian
    "MR_small_implicit.dcm": "MR",  # implicit VR little endian
    "SC_rgb_small_odd_big_endian.dcm": "SC",  # explicit VR big endian
    "reportsi.dcm": "SRt",
    "test-SR.dcm": "SRc",
    "liver_1frame.dcm": "SG",
    "waveform_ecg.dcm": "TLE",  # ~290 kB: many PDUs
}
JPEG_SAMPLE = SAMPLES / "SC_rgb_jpeg_dcmtk.dcm"
#: samples in compressed (and deflated) syntaxes with distinct SOP Instance UIDs -> file prefix
COMPRESSED_SAMPLES = {
    "SC_rgb_jpeg_dcmtk.dcm": "SC",  # JPEG Baseline
    "JPEG-lossy.dcm": "SC",  # JPEG Extended
    "SC_rgb_jpeg_gdcm.dcm": "SC",  # JPEG Lossless SV1
    "MR_small_jpeg_ls_lossless.dcm": "MR",  # JPEG-LS lossless
    "GDCMJ2K_TextGBR.dcm": "SC",  # JPEG 2000 lossless
    "JPEG2000.dcm": "SC",  # JPEG 2000
    "rtdose_rle.dcm": "RD",  # RLE lossless
    "image_dfl.dcm": "SC",  # deflated explicit VR little endian
}


# ---------------------------------------------------------------------------- helpers


def pynetdicom_ae(ae_title: str = "PYNETDICOM", max_pdu: int | None = None) -> AE:
    """A pynetdicom AE with short timeouts."""
    ae = AE(ae_title=ae_title)
    ae.acse_timeout = TIMEOUT
    ae.dimse_timeout = TIMEOUT
    ae.network_timeout = TIMEOUT
    ae.connection_timeout = TIMEOUT
    if max_pdu is not None:
        ae.maximum_pdu_size = max_pdu
    return ae


def our_timeouts() -> Timeouts:
    return Timeouts(connect=TIMEOUT, acse=TIMEOUT, dimse=TIMEOUT, socket=TIMEOUT)


def dataset_differences(got: Dataset, expected: Dataset) -> list[str]:
    """Tags (and why) where two data sets differ; file meta information is not compared."""
    problems = []
    for tag in sorted(set(got.keys()) | set(expected.keys())):
        if tag not in got:
            problems.append(f"{tag} missing")
        elif tag not in expected:
            problems.append(f"{tag} unexpected")
        elif got[tag] != expected[tag]:
            problems.append(f"{tag}: {got[tag]!r} != {expected[tag]!r}")
    return problems


def assert_same_dataset(got: Dataset, expected: Dataset) -> None:
    assert len(expected) > 10, "comparison against a (nearly) empty data set proves nothing"
    assert dataset_differences(got, expected) == []
    assert got == expected


def dataset_bytes(path: Path) -> bytes:
    """The encoded data set of a Part 10 file: what follows the file meta group."""
    raw = path.read_bytes()
    assert raw[128:132] == b"DICM", f"{path} is not a Part 10 file"
    tag, vr, length = struct.unpack("<I2sH", raw[132:140])
    assert (tag, vr, length) == (0x00000002, b"UL", 4), "no (0002,0000) group length first"
    (group_length,) = struct.unpack("<I", raw[140:144])
    return raw[144 + group_length :]


def stored_files(directory: Path) -> list[str]:
    """Names in ``directory``, hidden (temporary) files included."""
    return sorted(p.name for p in directory.iterdir())


@contextlib.contextmanager
def established(ae: AE, port: int, **kwargs) -> Iterator:
    """A pynetdicom association that must be established; aborted if a test leaves it open."""
    assoc = ae.associate("127.0.0.1", port, **kwargs)
    try:
        assert assoc.is_established, "pynetdicom could not establish the association"
        yield assoc
    finally:
        if assoc.is_established:
            assoc.abort()


def storescp(directory: Path, port: int, *options: str):
    """Our storescp console script writing into ``directory``."""
    return running([ours("storescp"), *options, "-od", str(directory), str(port)], port)


# ---------------------------------------------------------------------------- pynetdicom as SCP


@dataclass
class Seen:
    """What pynetdicom's SCP saw (filled in by its handler threads)."""

    echoes: list[dict] = field(default_factory=list)
    stores: list[dict] = field(default_factory=list)
    p_data_sizes: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextlib.contextmanager
def pynetdicom_scp(
    port: int, max_pdu: int | None = None, echo_status: int | None = 0x0000, require_called_aet: bool = False
) -> Iterator[Seen]:
    """pynetdicom serving Verification and CT/MR Image Storage as ``PYSCP``; yields what it saw.

    ``echo_status`` is what it answers a C-ECHO with; ``None`` makes it abort instead.
    """
    seen = Seen()
    ae = pynetdicom_ae("PYSCP", max_pdu)
    ae.require_called_aet = require_called_aet
    for sop_class in (Verification, CTImageStorage, MRImageStorage):
        ae.add_supported_context(sop_class, [LEE, LEI, BEE])

    def peer(event) -> dict:
        rq = event.assoc.requestor
        return {
            "calling_ae": rq.ae_title,
            "called_ae": event.assoc.acceptor.ae_title,
            "max_pdu": rq.maximum_length,
            "implementation_class_uid": rq.implementation_class_uid,
        }

    def on_echo(event):
        with seen.lock:
            seen.echoes.append({**peer(event), "message_id": event.request.MessageID})
        if echo_status is None:
            event.assoc.abort()
        return echo_status

    def on_store(event):
        ds = event.dataset  # decoded here, in the transfer syntax of the context
        with seen.lock:
            seen.stores.append(
                {
                    **peer(event),
                    "dataset": ds,
                    "transfer_syntax": event.context.transfer_syntax,
                    "sop_class": event.request.AffectedSOPClassUID,
                    "sop_instance": event.request.AffectedSOPInstanceUID,
                }
            )
        return 0x0000

    def on_pdu_recv(event):
        pdu = event.pdu
        if isinstance(pdu, P_DATA_TF):
            with seen.lock:
                seen.p_data_sizes.append(pdu.pdu_length)

    handlers = [(evt.EVT_C_ECHO, on_echo), (evt.EVT_C_STORE, on_store), (evt.EVT_PDU_RECV, on_pdu_recv)]
    try:
        ae.start_server(("127.0.0.1", port), block=False, evt_handlers=handlers)
        yield seen
    finally:
        ae.shutdown()


STORAGE_CONTEXTS = [(Verification, [LEE, LEI]), (CTImageStorage, [LEE, LEI]), (MRImageStorage, [LEE, LEI])]


def run_scu(port: int, work, contexts=STORAGE_CONTEXTS, **kwargs):
    """Associate with our API, run ``await work(assoc)``, release; returns what work returned."""

    async def main():
        assoc = await associate(
            "127.0.0.1", port, contexts, calling_ae="DIMSESCU", called_ae="PYSCP", timeouts=our_timeouts(), **kwargs
        )
        try:
            result = await work(assoc)
        except BaseException:
            await assoc.abort()
            raise
        await assoc.release()
        assert not assoc.is_established
        return result

    return asyncio.run(main())


def test_our_echoscu_against_pynetdicom_scp(port):
    """SCU: our ``echoscu`` console script; SCP: pynetdicom.  Exit 0, and pynetdicom saw our
    AE titles and one C-ECHO per ``--repeat``."""
    with pynetdicom_scp(port) as seen:
        done = run(
            [ours("echoscu"), "-to", "10", "-aet", "OURECHO", "-aec", "PYSCP", "--repeat", "3", "127.0.0.1", str(port)],
            timeout=30,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(seen.echoes) == 3
    assert {(e["calling_ae"], e["called_ae"]) for e in seen.echoes} == {("OURECHO", "PYSCP")}
    assert len({e["message_id"] for e in seen.echoes}) == 3, "message IDs must differ"


@pytest.mark.parametrize("echo_status", [0x0122, None], ids=["failure-status", "peer-abort"])
def test_our_echoscu_reports_echo_failure_from_pynetdicom(port, echo_status):
    """SCU: our ``echoscu``; SCP: pynetdicom answering the C-ECHO with a failure status, or
    aborting the association instead of answering.  Our echoscu exits 70, with no traceback."""
    with pynetdicom_scp(port, echo_status=echo_status) as seen:
        done = run([ours("echoscu"), "-to", "10", "-ta", "10", "-td", "10", "127.0.0.1", str(port)], timeout=30)
    assert len(seen.echoes) == 1
    assert done.returncode == 70, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_pynetdicom_scp_rejects_our_called_ae_title(port):
    """SCU: our ``echoscu`` and our Python API, calling ``WRONG``; SCP: pynetdicom requiring
    its own AE title ``PYSCP``.  echoscu exits 1; ``associate`` raises AssociationRejected
    with result 1 (permanent), source 1 (service user), reason 7 (called AE title)."""

    async def attempt() -> None:
        await associate("127.0.0.1", port, [(Verification, [LEE])], called_ae="WRONG", timeouts=our_timeouts())

    with pynetdicom_scp(port, require_called_aet=True) as seen:
        done = run([ours("echoscu"), "-to", "10", "-aec", "WRONG", "127.0.0.1", str(port)], timeout=30)
        with pytest.raises(AssociationRejected) as rejected:
            asyncio.run(attempt())
        good = run([ours("echoscu"), "-to", "10", "-aec", "PYSCP", "127.0.0.1", str(port)], timeout=30)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (rejected.value.result, rejected.value.source, rejected.value.reason) == (1, 1, 7)
    assert good.returncode == 0, good.stdout + good.stderr
    assert len(seen.echoes) == 1


def test_our_api_stores_files_to_pynetdicom(port):
    """SCU: our Python API (``associate`` + ``echo`` + ``store_file``); SCP: pynetdicom.
    CT and MR arrive with status 0 and pynetdicom decodes exactly the files' data sets."""

    async def work(assoc):
        echo = await assoc.echo()
        return echo.Status, (await assoc.store_file(CT_SMALL)).Status, (await assoc.store_file(MR_SMALL)).Status

    with pynetdicom_scp(port) as seen:
        statuses = run_scu(port, work)
    assert statuses == (0, 0, 0)
    assert len(seen.echoes) == 1
    assert [s["sop_class"] for s in seen.stores] == [CTImageStorage, MRImageStorage]
    for store, path in zip(seen.stores, (CT_SMALL, MR_SMALL), strict=True):
        expected = pydicom.dcmread(path)
        assert store["calling_ae"] == "DIMSESCU"
        assert store["transfer_syntax"] == LEE  # the files' own syntax: streamed unchanged
        assert store["sop_instance"] == expected.SOPInstanceUID
        assert_same_dataset(store["dataset"], expected)


def test_our_api_stores_datasets_to_pynetdicom(port):
    """SCU: our Python API (``store_dataset``); SCP: pynetdicom.  A data set read by pydicom,
    and one stripped of its file meta information, arrive unchanged."""
    ct = pydicom.dcmread(CT_SMALL)
    bare_mr = pydicom.dcmread(MR_SMALL)
    del bare_mr.file_meta

    async def work(assoc):
        return (await assoc.store_dataset(ct)).Status, (await assoc.store_dataset(bare_mr)).Status

    with pynetdicom_scp(port) as seen:
        statuses = run_scu(port, work)
    assert statuses == (0, 0)
    assert len(seen.stores) == 2
    assert_same_dataset(seen.stores[0]["dataset"], pydicom.dcmread(CT_SMALL))
    assert_same_dataset(seen.stores[1]["dataset"], pydicom.dcmread(MR_SMALL))


def test_our_api_converts_to_the_only_accepted_syntax(port):
    """SCU: our Python API proposing MR Image Storage in implicit VR only; SCP: pynetdicom.
    The explicit-VR MR file is re-encoded by us and pynetdicom decodes the same data set."""

    async def work(assoc):
        return (await assoc.store_file(MR_SMALL)).Status

    with pynetdicom_scp(port) as seen:
        status = run_scu(port, work, contexts=[(MRImageStorage, [LEI])])
    assert status == 0
    assert [s["transfer_syntax"] for s in seen.stores] == [LEI]
    assert_same_dataset(seen.stores[0]["dataset"], pydicom.dcmread(MR_SMALL))


@pytest.mark.parametrize(
    ("source", "accepted", "same_pixels_in_target_order"),
    [
        ("MR_small_bigendian.dcm", LEE, "MR_small.dcm"),
        ("MR_small.dcm", BEE, "MR_small_bigendian.dcm"),
    ],
    ids=["big-to-little", "little-to-big"],
)
def test_our_api_converts_between_byte_orders(port, source, accepted, same_pixels_in_target_order):
    """SCU: our Python API whose only accepted MR context has the other byte order than the
    file; SCP: pynetdicom.  We must re-encode the data set, pixel data included: what
    pynetdicom receives has the pixel bytes of the same image stored in the target order."""

    async def work(assoc):
        return (await assoc.store_file(SAMPLES / source)).Status

    with pynetdicom_scp(port) as seen:
        status = run_scu(port, work, contexts=[(MRImageStorage, [accepted])])
    assert status == 0
    assert [s["transfer_syntax"] for s in seen.stores] == [accepted]
    expected = pydicom.dcmread(SAMPLES / source)
    expected.PixelData = pydicom.dcmread(SAMPLES / same_pixels_in_target_order).PixelData
    assert_same_dataset(seen.stores[0]["dataset"], expected)


def test_max_pdu_4096_in_both_directions(port):
    """SCU: our Python API with max_pdu=4096; SCP: pynetdicom with maximum_pdu_size=4096.
    Each side learns the other's limit, every P-DATA-TF we send fits in 4096 bytes, and the
    CT (about 39 kB, so ten or more PDUs) arrives intact.

    The Maximum Length item bounds the PDU length field of a P-DATA-TF (PS3.8 D.1), which
    excludes the 6-byte PDU header: that is what is compared with 4096 here.
    """
    ct_size = CT_SMALL.stat().st_size

    async def work(assoc):
        peer_limit = assoc.conn.max_fragment  # largest PDV value we will send
        return peer_limit, (await assoc.store_file(CT_SMALL)).Status

    with pynetdicom_scp(port, max_pdu=4096) as seen:
        peer_limit, status = run_scu(port, work, max_pdu=4096)
    assert status == 0
    assert 0 < peer_limit <= 4096
    assert seen.stores[0]["max_pdu"] == 4096, "pynetdicom did not see our maximum length"
    assert max(seen.p_data_sizes) <= 4096
    assert len(seen.p_data_sizes) >= ct_size // 4096
    assert_same_dataset(seen.stores[0]["dataset"], pydicom.dcmread(CT_SMALL))


# ---------------------------------------------------------------------------- pynetdicom as SCU, our storescp


def test_pynetdicom_echoes_and_stores_to_our_storescp(port, tmp_path):
    """SCU: pynetdicom; SCP: our ``storescp`` console script.  C-ECHO and C-STORE of
    uncompressed samples in all three native syntaxes succeed; each file written in -od is
    named ``<modality>.<SOP Instance UID>`` and reads back as the original data set."""
    ae = pynetdicom_ae()
    ae.add_requested_context(Verification)
    originals = {}
    for name in UNCOMPRESSED_SAMPLES:
        ds = pydicom.dcmread(SAMPLES / name)
        originals[name] = ds
        ae.add_requested_context(ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])
    assert {ds.SOPClassUID for ds in originals.values()} == {
        CTImageStorage,
        MRImageStorage,
        SecondaryCaptureImageStorage,
        BasicTextSRStorage,
        ComprehensiveSRStorage,
        SegmentationStorage,
        TwelveLeadECGWaveformStorage,
    }

    with storescp(tmp_path, port) as proc:
        with established(ae, port) as assoc:
            assert len(assoc.accepted_contexts) == 1 + len(UNCOMPRESSED_SAMPLES)
            assert assoc.send_c_echo().Status == 0
            statuses = {name: assoc.send_c_store(SAMPLES / name).get("Status") for name in UNCOMPRESSED_SAMPLES}
            assoc.release()
            assert assoc.is_released
        assert proc.poll() is None, "storescp exited"

    assert statuses == dict.fromkeys(UNCOMPRESSED_SAMPLES, 0)
    expected_names = {
        f"{prefix}.{originals[name].SOPInstanceUID}": name for name, prefix in UNCOMPRESSED_SAMPLES.items()
    }
    assert stored_files(tmp_path) == sorted(expected_names)
    for stored_name, name in expected_names.items():
        original = originals[name]
        stored = pydicom.dcmread(tmp_path / stored_name)
        assert stored.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert stored.file_meta.MediaStorageSOPClassUID == original.SOPClassUID
        assert stored.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
        assert stored.file_meta.get("SourceApplicationEntityTitle") == "PYNETDICOM"
        assert_same_dataset(stored, original)


def test_pynetdicom_stores_compressed_to_our_storescp_accept_all(port, tmp_path, monkeypatch):
    """SCU: pynetdicom proposing each sample only in its own compressed (or deflated) syntax,
    streaming the file's data set as it is; SCP: our ``storescp +xa``.  Every context is
    accepted in the proposed syntax, and every stored data set is byte-identical to the
    original's, under a file meta group naming that syntax."""
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    originals = {name: pydicom.dcmread(SAMPLES / name, stop_before_pixels=True) for name in COMPRESSED_SAMPLES}
    ae = pynetdicom_ae()
    for ds in originals.values():
        ae.add_requested_context(ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])

    with storescp(tmp_path, port, "+xa"):
        with established(ae, port) as assoc:
            accepted = [cx.transfer_syntax[0] for cx in assoc.accepted_contexts]
            statuses = {name: assoc.send_c_store(SAMPLES / name).get("Status") for name in COMPRESSED_SAMPLES}
            assoc.release()

    assert accepted == [ds.file_meta.TransferSyntaxUID for ds in originals.values()]
    assert JPEG_BASELINE in accepted
    assert statuses == dict.fromkeys(COMPRESSED_SAMPLES, 0)
    expected_names = {f"{prefix}.{originals[name].SOPInstanceUID}": name for name, prefix in COMPRESSED_SAMPLES.items()}
    assert stored_files(tmp_path) == sorted(expected_names)
    for stored_name, name in expected_names.items():
        stored = tmp_path / stored_name
        assert pydicom.dcmread(stored, stop_before_pixels=True).file_meta.TransferSyntaxUID == (
            originals[name].file_meta.TransferSyntaxUID
        )
        assert dataset_bytes(stored) == dataset_bytes(SAMPLES / name), f"{name} was not stored byte for byte"


# ---------------------------------------------------------------------------- negotiation as pynetdicom sees it


def test_storescp_rejects_wrong_called_ae_title(port, tmp_path):
    """SCU: pynetdicom; SCP: our ``storescp --check-called-aetitle -aet GOOD``.  Calling
    ``BAD`` is rejected permanent / service-user / called AE title not recognised (1, 1, 7),
    both in the A-ASSOCIATE-RJ PDU pynetdicom decodes and in its reject primitive; calling
    ``GOOD`` is then accepted by the same server.

    pynetdicom 3.0.4 has a race: when the rejection arrives (and its reader thread closes the
    socket) before its requesting thread checks that the socket is connected, that thread
    reports an abort instead of the rejection.  The decoded PDU is checked on every attempt;
    the reject primitive on the first attempt pynetdicom reports as a rejection.
    """
    ae = pynetdicom_ae()
    ae.add_requested_context(Verification)
    with storescp(tmp_path, port, "--check-called-aetitle", "-aet", "GOOD"):
        for _attempt in range(3):
            received = []
            assoc = ae.associate(
                "127.0.0.1",
                port,
                ae_title="BAD",
                evt_handlers=[(evt.EVT_PDU_RECV, lambda e, into=received: into.append(e.pdu))],
            )
            assert not assoc.is_established
            assert [type(pdu) for pdu in received] == [A_ASSOCIATE_RJ]
            assert (received[0].result, received[0].source, received[0].reason_diagnostic) == (1, 1, 7)
            if assoc.is_rejected:
                break
            assert assoc.is_aborted  # pynetdicom's race, see above
        else:
            pytest.fail("pynetdicom never reported the rejection as one")
        rj = assoc.acceptor.primitive
        assert (rj.result, rj.result_source, rj.diagnostic) == (1, 1, 7)

        with established(ae, port, ae_title="GOOD") as good:
            assert good.send_c_echo().Status == 0
            good.release()


def test_storescp_unsupported_abstract_syntax_only(port, tmp_path):
    """SCU: pynetdicom proposing only a SOP class our storescp does not know; SCP: our
    ``storescp``.  Like DCMTK's, ours accepts the association with the context refused as
    abstract syntax not supported (3); pynetdicom, left with no context, aborts it.  The
    server goes on serving."""
    ae = pynetdicom_ae()
    ae.add_requested_context(UNKNOWN_SOP_CLASS, [LEE])
    with storescp(tmp_path, port) as proc:
        assoc = ae.associate("127.0.0.1", port)
        assert not assoc.is_established
        assert not assoc.is_rejected
        assert assoc.is_aborted  # by pynetdicom: "No accepted presentation contexts"
        assert assoc.accepted_contexts == []
        assert [(cx.abstract_syntax, cx.result) for cx in assoc.rejected_contexts] == [(UNKNOWN_SOP_CLASS, 3)]

        echo_ae = pynetdicom_ae()
        echo_ae.add_requested_context(Verification)
        with established(echo_ae, port) as again:
            assert again.send_c_echo().Status == 0
            again.release()
        assert proc.poll() is None
    assert stored_files(tmp_path) == []


def test_storescp_negotiates_mixed_proposal(port, tmp_path):
    """SCU: pynetdicom proposing Verification, an unknown SOP class and JPEG-only Secondary
    Capture; SCP: our ``storescp`` without ``+xa``.  Only Verification is accepted; the others
    come back as abstract syntax not supported (3) and transfer syntaxes not supported (4)."""
    ae = pynetdicom_ae()
    ae.add_requested_context(Verification, [LEI])
    ae.add_requested_context(UNKNOWN_SOP_CLASS, [LEE])
    ae.add_requested_context(SecondaryCaptureImageStorage, [JPEG_BASELINE])
    with storescp(tmp_path, port):
        with established(ae, port) as assoc:
            assert [(cx.abstract_syntax, cx.transfer_syntax[0]) for cx in assoc.accepted_contexts] == [
                (Verification, LEI)
            ]
            results = {cx.abstract_syntax: cx.result for cx in assoc.rejected_contexts}
            assert results == {UNKNOWN_SOP_CLASS: 3, SecondaryCaptureImageStorage: 4}
            assert assoc.send_c_echo().Status == 0
            with pytest.raises(ValueError):
                assoc.send_c_store(JPEG_SAMPLE)  # pynetdicom itself refuses: no context
            assoc.release()


def test_storescp_answers_extended_negotiation(port, tmp_path):
    """SCU: pynetdicom proposing SCP/SCU role selection, an asynchronous operations window,
    user identity and SOP class extended negotiation; SCP: our ``storescp``.  We grant only
    the SCU role, grant the window as asked up to our ``--async-window`` (16) while performing
    one operation at a time (5/1), ignore the rest, and the association works."""
    ae = pynetdicom_ae()
    ae.add_requested_context(Verification)
    ae.add_requested_context(CTImageStorage, [LEE])
    window = AsynchronousOperationsWindowNegotiation()
    window.maximum_number_operations_invoked = 5
    window.maximum_number_operations_performed = 5
    identity = UserIdentityNegotiation()
    identity.user_identity_type = 1
    identity.primary_field = b"alice"
    identity.positive_response_requested = False
    sop_ext = SOPClassExtendedNegotiation()
    sop_ext.sop_class_uid = CTImageStorage
    sop_ext.service_class_application_information = b"\x01"
    ext_neg = [build_role(CTImageStorage, scu_role=True, scp_role=True), window, identity, sop_ext]

    with storescp(tmp_path, port):
        with established(ae, port, ext_neg=ext_neg) as assoc:
            roles = {cx.abstract_syntax: (cx.as_scu, cx.as_scp) for cx in assoc.accepted_contexts}
            window_answer = assoc.acceptor.asynchronous_operations
            assert assoc.send_c_store(CT_SMALL).Status == 0
            assoc.release()
    assert roles == {Verification: (True, False), CTImageStorage: (True, False)}
    assert window_answer == (5, 1)
    assert stored_files(tmp_path) == [f"CT.{pydicom.dcmread(CT_SMALL).SOPInstanceUID}"]


def test_promiscuous_storescp_refuses_unknown_operation(port, tmp_path):
    """SCU: pynetdicom sending a C-FIND; SCP: our ``storescp -pm``, which accepts the
    Patient Root FIND context but serves only C-ECHO and C-STORE.  pynetdicom gets the
    final status 0x0211 (unrecognised operation) and the association goes on working."""
    ae = pynetdicom_ae()
    ae.add_requested_context(Verification)
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelFind)
    query = Dataset()
    query.QueryRetrieveLevel = "PATIENT"
    query.PatientID = "*"
    with storescp(tmp_path, port, "-pm"):
        with established(ae, port) as assoc:
            responses = [
                status.get("Status")
                for status, _ in assoc.send_c_find(query, PatientRootQueryRetrieveInformationModelFind)
            ]
            assert assoc.is_established
            assert assoc.send_c_echo().Status == 0
            assoc.release()
    assert responses == [0x0211]


def test_storescp_survives_pynetdicom_abort(port, tmp_path):
    """SCU: pynetdicom, which stores one object and then aborts; SCP: our ``storescp``.
    The completed object stays stored, no temporary file is left, and a new pynetdicom
    association's C-ECHO succeeds."""
    ae = pynetdicom_ae()
    ae.add_requested_context(Verification)
    ae.add_requested_context(CTImageStorage, [LEE])
    with storescp(tmp_path, port) as proc:
        with established(ae, port) as assoc:
            assert assoc.send_c_store(CT_SMALL).Status == 0
            assoc.abort()
            assert assoc.is_aborted
        with established(ae, port) as again:
            assert again.send_c_echo().Status == 0
            again.release()
            assert again.is_released
        assert proc.poll() is None
    ct = pydicom.dcmread(CT_SMALL)
    assert stored_files(tmp_path) == [f"CT.{ct.SOPInstanceUID}"]
    assert_same_dataset(pydicom.dcmread(tmp_path / f"CT.{ct.SOPInstanceUID}"), ct)


# ---------------------------------------------------------------------------- our in-process Acceptor


class MemorySink:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, piece) -> None:
        self.data.extend(piece)

    def commit(self) -> None:
        pass

    def discard(self) -> None:
        self.data.clear()


class RecordingServices(Services):
    """Keeps every received data set in memory; called on the acceptor's event loop thread."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, bytes]] = []
        self.echoes = 0
        self.ended: list[str] = []
        self.all_ended = threading.Event()

    async def echo(self, assoc, command) -> int:
        self.echoes += 1
        return 0

    def store_sink(self, assoc, ctx, command):
        return MemorySink()

    def store_done(self, assoc, ctx, command, sink) -> int:
        self.received.append((ctx.transfer_syntax, command.AffectedSOPInstanceUID, bytes(sink.data)))
        return 0

    def association_ended(self, assoc, how: str) -> None:
        self.ended.append(how)
        self.all_ended.set()


@contextlib.contextmanager
def in_process_acceptor(acceptor: Acceptor) -> Iterator[int]:
    """Serve ``acceptor`` on 127.0.0.1 from an event loop in a background thread; yields the port."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="dimse-acceptor", daemon=True)
    thread.start()
    try:
        server = asyncio.run_coroutine_threadsafe(serve(acceptor, "127.0.0.1", 0), loop).result(TIMEOUT)
        try:
            yield server.sockets[0].getsockname()[1]
        finally:

            async def close() -> None:
                server.close()
                await server.wait_closed()

            asyncio.run_coroutine_threadsafe(close(), loop).result(TIMEOUT)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(TIMEOUT)
        loop.close()


def test_in_process_acceptor_receives_from_pynetdicom_with_4096_pdus():
    """SCU: pynetdicom with maximum PDU size 4096; SCP: our in-process ``Acceptor`` (policy
    max_pdu 4096) run by ``serve`` on a background event loop.  Both limits are exchanged,
    pynetdicom's P-DATA-TF PDUs respect ours, and the CT data set arrives intact."""
    services = RecordingServices()
    policy = AcceptorPolicy(
        ae_title="INPROC",
        transfer_syntaxes={Verification: [LEE, LEI], CTImageStorage: [LEE, LEI]},
        check_called_ae=True,
        max_pdu=4096,
    )
    sent_sizes: list[int] = []

    def on_pdu_sent(event):
        if isinstance(event.pdu, P_DATA_TF):
            sent_sizes.append(event.pdu.pdu_length)

    ae = pynetdicom_ae(max_pdu=4096)
    ae.add_requested_context(Verification)
    ae.add_requested_context(CTImageStorage, [LEE])
    with in_process_acceptor(Acceptor(policy, services, our_timeouts())) as port:
        with established(
            ae, port, ae_title="INPROC", max_pdu=4096, evt_handlers=[(evt.EVT_PDU_SENT, on_pdu_sent)]
        ) as assoc:
            assert assoc.acceptor.maximum_length == 4096
            assert assoc.acceptor.ae_title == "INPROC"
            assert assoc.acceptor.implementation_class_uid == IMPLEMENTATION_CLASS_UID
            assert assoc.send_c_echo().Status == 0
            assert assoc.send_c_store(CT_SMALL).Status == 0
            assoc.release()
        assert services.all_ended.wait(TIMEOUT)

    assert services.ended == ["released"]
    assert services.echoes == 1
    assert max(sent_sizes) <= 4096
    assert len(sent_sizes) >= CT_SMALL.stat().st_size // 4096
    expected = pydicom.dcmread(CT_SMALL)
    [(ts, sop_instance, data)] = services.received
    assert (ts, sop_instance) == (LEE, expected.SOPInstanceUID)
    assert_same_dataset(read_dataset(io.BytesIO(data), False, True), expected)
