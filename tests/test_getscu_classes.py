"""getscu beyond DCMTK: the study's SOP classes are learnt first (C-FINDs down to IMAGE level)
and what one C-GET association cannot hold (128 contexts) is fetched on further ones.

Two peers: DCMTK's dcmqrscp (test_movescu's archive, plus a study holding an instance of a
storage class outside DCMTK getscu's 120; dcmqrscp's C-FIND does not return SOP Class UIDs),
and pynetdicom's Q/R SCP serving 130 instances of 130 storage classes from memory.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from .conftest import CT_SMALL, dcmtk, free_port, ours, run
from .test_movescu import archive  # noqa: F401  (archive: the fixture)

#: a storage class dcmqrscp stores that DCMTK 3.6.7's getscu does not propose
FOREIGN = "1.2.840.10008.5.1.4.1.1.601.2"
STUDY = "1.2.826.0.1.3680043.8.498.15001"
SERIES = STUDY + ".1"


@pytest.fixture(scope="module")
def foreign_study(archive, tmp_path_factory):  # noqa: F811
    """A study in the archive: a CT image and an instance of class FOREIGN (stored with DCMTK's
    storescu -R, which proposes only the classes of its files); yields (archive, UIDs)."""
    folder = tmp_path_factory.mktemp("foreign")
    uids = []
    for name, sop_class in (("ct.dcm", "1.2.840.10008.5.1.4.1.1.2"), ("foreign.dcm", FOREIGN)):
        ds = dcmread(CT_SMALL)
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY, SERIES
        ds.save_as(folder / name)
        uids.append(str(ds.SOPInstanceUID))
    stored = run([dcmtk("storescu"), "-R", "-aec", "QRSCP", "127.0.0.1", str(archive.port), *map(str, folder.glob("*"))])
    assert stored.returncode == 0, stored.stderr
    return archive, uids


def _get(tool: str, port: int, out: Path, *extra: str):
    out.mkdir()
    args = [tool, "-aec", "QRSCP", "-od", str(out), *extra, "-S", "-k", "QueryRetrieveLevel=STUDY"]
    return run([*args, "-k", f"StudyInstanceUID={STUDY}", "127.0.0.1", str(port)], timeout=60)


def test_foreign_class_retrieved_where_dcmtk_fails(foreign_study, tmp_path):
    """A study with an instance of a class outside DCMTK's list: DCMTK's getscu gets the CT only
    (the other sub-operation fails: no context for it); ours gets both (dcmqrscp does not say
    the classes, so the missing instance is fetched again on an association proposing the rest
    of our classes) and exits 0."""
    qr, uids = foreign_study
    theirs = _get(dcmtk("getscu"), qr.port, tmp_path / "theirs")
    mine = _get(ours("getscu"), qr.port, tmp_path / "mine", "-v")
    assert sorted(p.name.split(".", 1)[1] for p in (tmp_path / "theirs").iterdir()) == [uids[0]]
    assert "Failures" in theirs.stderr or "Refused" in theirs.stderr
    assert sorted(p.name.split(".", 1)[1] for p in (tmp_path / "mine").iterdir()) == sorted(uids), mine.stderr
    assert "I: Retrieving 1 instance(s) on a further association" in mine.stderr
    assert mine.returncode == 0, mine.stderr
    for path in (tmp_path / "mine").iterdir():
        assert dcmread(path).SOPClassUID in ("1.2.840.10008.5.1.4.1.1.2", FOREIGN)


def test_no_study_classes_is_dcmtk(foreign_study, tmp_path):
    """--no-study-classes: DCMTK's behaviour and lines up to the release (one association, the
    foreign instance not retrieved); ours exits 1 where DCMTK exits 0 (a failed sub-operation,
    as in test_getscu).  DCMTK's release then fails ("DUL P-Data PDU arrived"), ours does not."""
    qr, uids = foreign_study
    theirs = _get(dcmtk("getscu"), qr.port, tmp_path / "theirs", "-v")
    mine = _get(ours("getscu"), qr.port, tmp_path / "mine", "-v", "--no-study-classes")
    upto = "I: Releasing Association\n"
    norm = [r.stderr.replace(str(tmp_path / n), "OUT").split(upto)[0] for r, n in ((theirs, "theirs"), (mine, "mine"))]
    assert norm[1] == norm[0] and "Number of Failed Suboperations    : 1" in norm[0]
    assert mine.stderr.endswith(upto)
    assert sorted(p.name.split(".", 1)[1] for p in (tmp_path / "mine").iterdir()) == [uids[0]]
    assert mine.returncode == 1 and theirs.returncode == 0


# ------------------------------------------------------------------ 130 classes


def _instances(count: int) -> list[Dataset]:
    """``count`` instances of as many storage classes, in two series of one study."""
    from dimse.dcmtk.sopclasses import STORAGE_CLASSES

    out = []
    for n, sop_class in enumerate(STORAGE_CLASSES[:count]):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, f"{STUDY}.9.{n + 1}"
        ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID = "P130", STUDY, f"{STUDY}.{n % 2 + 1}"
        ds.Modality = "OT"
        out.append(ds)
    return out


def _matches(ds: Dataset, query: Dataset) -> bool:
    for keyword in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        wanted = query.get(keyword)
        if wanted:
            values = [wanted] if isinstance(wanted, str) else list(wanted)
            if ds.get(keyword) not in values:
                return False
    return True


#: a SOP class no one knows: the SCP below does not accept it, so its instance cannot come
PRIVATE = "1.2.826.0.1.3680043.8.498.15001.77"


def _with_private() -> list[Dataset]:
    instances = _instances(2)
    instances[1].SOPClassUID = PRIVATE
    return instances


@pytest.fixture
def wide_scp(request):
    """pynetdicom's Study Root Q/R SCP (C-FIND with SOP Class UIDs, C-GET) over 130 instances
    of 130 storage classes (or the instances ``request.param`` makes); yields its port."""
    pytest.importorskip("pynetdicom")
    from pynetdicom import AE, evt

    from dimse.dcmtk.sopclasses import STORAGE_CLASSES

    instances = getattr(request, "param", lambda: _instances(130))()
    levels = {"STUDY": ("StudyInstanceUID",), "SERIES": ("StudyInstanceUID", "SeriesInstanceUID")}
    levels["IMAGE"] = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")

    def handle_find(event):
        query = event.identifier
        seen = set()
        for ds in instances:
            keys = levels[query.QueryRetrieveLevel]
            row = tuple(ds.get(k) for k in keys)
            if _matches(ds, query) and row not in seen:
                seen.add(row)
                found = Dataset()
                found.QueryRetrieveLevel = query.QueryRetrieveLevel
                for keyword, value in zip(keys, row, strict=True):
                    setattr(found, keyword, value)
                yield 0xFF00, found

    def handle_get(event):
        chosen = [ds for ds in instances if _matches(ds, event.identifier)]
        yield len(chosen)
        for ds in chosen:
            yield 0xFF00, ds

    ae = AE(ae_title="QRSCP")
    ae.maximum_associations = 4
    ae.add_supported_context("1.2.840.10008.5.1.4.1.2.2.1")
    ae.add_supported_context("1.2.840.10008.5.1.4.1.2.2.3")
    for sop_class in STORAGE_CLASSES:
        ae.add_supported_context(sop_class, ExplicitVRLittleEndian, scu_role=True, scp_role=True)
    port = free_port()
    def no_delay(event):  # its C-STORE-RQ is written in two pieces: no 40 ms wait for our ACK
        event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    handlers = [(evt.EVT_C_FIND, handle_find), (evt.EVT_C_GET, handle_get), (evt.EVT_CONN_OPEN, no_delay)]
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=handlers)
    try:
        yield port
    finally:
        server.shutdown()


def test_more_than_128_classes_retrieved(wide_scp, tmp_path):
    """A study of 130 instances of 130 classes (more than one association can propose): ours
    learns the classes, gets 127 on the first association and the other 3 on a second, at
    IMAGE level; every instance is there and it exits 0."""
    mine = _get(ours("getscu"), wide_scp, tmp_path / "mine", "-v")
    got = sorted(p.name.split(".", 1)[1] for p in (tmp_path / "mine").iterdir())
    assert got == sorted(str(ds.SOPInstanceUID) for ds in _instances(130)), mine.stderr
    assert mine.stderr.count("I: Requesting Association") == 2
    assert "I: Retrieving 3 instance(s) on a further association" in mine.stderr
    assert mine.returncode == 0, mine.stderr


def test_more_than_128_classes_without_survey_names_the_missing(wide_scp, tmp_path):
    """--no-study-classes against the same study: DCMTK's 120 classes, the instances of the
    other classes are not retrieved; the run exits 1."""
    mine = _get(ours("getscu"), wide_scp, tmp_path / "mine", "--no-study-classes")
    assert 0 < len(list((tmp_path / "mine").iterdir())) < 130
    assert mine.returncode == 1


@pytest.mark.parametrize("wide_scp", [_with_private], indirect=True)
def test_instance_that_cannot_come_is_named(wide_scp, tmp_path):
    """An instance of a class the peer will not send on any context (it does not accept that
    context): the other instance is retrieved; the missing one is named with its class, and
    the run exits 1."""
    mine = _get(ours("getscu"), wide_scp, tmp_path / "mine")
    missing = _with_private()[1].SOPInstanceUID
    assert f"W: Sub-operation failed for SOP Instance {missing} ({PRIVATE}): SOP class unknown to getscu\n" in mine.stderr
    assert [p.name.split(".", 1)[1] for p in (tmp_path / "mine").iterdir()] == [_with_private()[0].SOPInstanceUID]
    assert mine.returncode == 1


@pytest.mark.parametrize("level", ["SERIES", "IMAGE"])
def test_survey_queries_coded_as_pydicom_codes_them(level):
    """The survey's C-FIND queries one level down (coded without pydicom) are byte for byte
    pydicom's coding of the same identifier; a value that is not ASCII is left to pydicom."""
    from dimse.files.part10 import encode_dataset
    from dimse.get import survey

    keys = {"PatientID": "P 1", "StudyInstanceUID": "1.2.3", **({"SeriesInstanceUID": "1.2.3.4"} if level == "IMAGE" else {})}
    query = survey._query(keys, level)
    assert isinstance(query, survey.KeyIdentifier)
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    setattr(ds, survey.UNIQUE[level], "")
    if level == "IMAGE":
        ds.SOPClassUID = ""
    for syntax in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1"):
        assert encode_dataset(query, syntax) == encode_dataset(ds, syntax)
    assert isinstance(survey._query({**keys, "PatientID": "Ünïcode"}, level), Dataset)
