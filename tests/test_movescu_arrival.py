"""movescu knows what should arrive: an archive may give the final C-MOVE response before it
has sent the objects (Orthanc with ``"SynchronousCMove": false``, a queueing archive).  Our
movescu keeps its Storage SCP listening until the announced objects are in or nothing came for
``--grace-time``, and says when what arrived is not what the archive reported.

The "late" archive here is pynetdicom: its C-MOVE sub-operations go to a storage SCP that
drops them, so its final response counts them as completed; the objects themselves are sent
to movescu only once the C-MOVE association has been released.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from .conftest import CT_SMALL, dcmtk, free_port, move_study_args, ours, run
from .test_orthanc import orthanc_archive

MOVE_STUDY = "1.2.840.10008.5.1.4.1.2.2.2"
CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"


def _cts(count: int) -> list:
    datasets = []
    for _ in range(count):
        ds = dcmread(CT_SMALL)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        datasets.append(ds)
    return datasets


def _send(datasets: list, port: int, outcome: dict) -> None:
    """The archive's late C-STOREs to movescu's Storage SCP (``outcome``: what came of them)."""
    from pynetdicom import AE

    ae = AE(ae_title="LATE-QR")
    ae.add_requested_context(CT_CLASS, ["1.2.840.10008.1.2.1"])
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    assoc = ae.associate("127.0.0.1", port, ae_title="MOVESCU")
    outcome["established"] = assoc.is_established
    if assoc.is_established:
        outcome["statuses"] = [assoc.send_c_store(ds).Status for ds in datasets]
        assoc.release()


@pytest.fixture
def late_archive():
    """A C-MOVE SCP that reports ``plan["announced"]`` objects completed, then (once the C-MOVE
    association is released) sends ``plan["sent"]`` of them to ``plan["listen"]``."""
    pytest.importorskip("pynetdicom")
    from pynetdicom import AE, evt

    plan: dict = {"announced": [], "sent": [], "listen": None, "outcome": {}}
    released = threading.Event()
    threads: list[threading.Thread] = []

    def on_move(event):
        sender = threading.Thread(target=lambda: released.wait(10) and _send(plan["sent"], plan["listen"], plan["outcome"]))
        sender.start()
        threads.append(sender)
        yield "127.0.0.1", sink_port
        yield len(plan["announced"])
        for ds in plan["announced"]:
            yield 0xFF00, ds

    sink = AE(ae_title="SINK")
    sink.add_supported_context(CT_CLASS, ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"])
    sink_server = sink.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, lambda e: 0)])
    sink_port = sink_server.socket.getsockname()[1]
    ae = AE(ae_title="LATE-QR")
    ae.add_supported_context(MOVE_STUDY)
    ae.add_requested_context(CT_CLASS, ["1.2.840.10008.1.2.1"])
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    handlers = [(evt.EVT_C_MOVE, on_move), (evt.EVT_RELEASED, lambda e: released.set())]
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    plan["port"] = server.socket.getsockname()[1]
    try:
        yield plan
    finally:
        released.set()
        for thread in threads:
            thread.join(15)
        server.shutdown()
        sink_server.shutdown()


def _movescu(tool: str, plan: dict, out: Path, *extra: str):
    plan["listen"] = free_port()
    return run(move_study_args(tool, "LATE-QR", plan["port"], plan["listen"], out, *extra), timeout=60)


def _summary(report: Path) -> dict:
    return json.loads(report.read_text())["summary"]


def test_objects_sent_after_the_final_response_all_arrive(late_archive, tmp_path):
    """Final Success (2 completed) first, the objects after the release: ours receives both and
    exits 0, no W: line; the report has 2 announced, 2 arrived."""
    datasets = _cts(2)
    late_archive["announced"] = late_archive["sent"] = datasets
    out, report = tmp_path / "od", tmp_path / "report.json"
    out.mkdir()
    done = _movescu(ours("movescu"), late_archive, out, "-v", "--grace-time", "5", "--report", str(report))
    assert done.returncode == 0, done.stderr
    assert "W:" not in done.stderr
    assert done.stderr.index("Received Final Move Response") < done.stderr.index("Sub-Association Received")
    assert sorted(p.name for p in out.iterdir()) == sorted(f"CT.{ds.SOPInstanceUID}" for ds in datasets)
    summary = _summary(report)
    assert (summary["completed"], summary["announced"], summary["arrived"], summary["exit_code"]) == (2, 2, 2, 0)
    assert late_archive["outcome"]["statuses"] == [0, 0]


def test_dcmtk_exits_before_late_objects_arrive(late_archive, tmp_path):
    """DCMTK's movescu against the same archive: exit 0 after the final response, nothing
    written -- the objects are sent to a movescu that is gone."""
    late_archive["announced"] = late_archive["sent"] = _cts(2)
    out = tmp_path / "od"
    out.mkdir()
    done = _movescu(dcmtk("movescu"), late_archive, out)
    assert done.returncode == 0, done.stderr
    assert list(out.iterdir()) == []
    assert not late_archive["outcome"].get("statuses")


def test_fewer_objects_than_reported(late_archive, tmp_path):
    """3 reported completed, 2 sent: after --grace-time 1 s of quiet, a W: line, exit 69
    (CMOVE_ERROR), the report says 3 announced, 2 arrived; the two are kept."""
    datasets = _cts(3)
    late_archive["announced"], late_archive["sent"] = datasets, datasets[:2]
    out, report = tmp_path / "od", tmp_path / "report.json"
    out.mkdir()
    done = _movescu(ours("movescu"), late_archive, out, "--grace-time", "1", "--report", str(report))
    assert done.returncode == 69, done.stderr
    assert done.stderr == "W: the archive reported 3 sub-operations completed, 2 objects arrived\n"
    assert len(list(out.iterdir())) == 2
    summary = _summary(report)
    assert (summary["completed"], summary["announced"], summary["arrived"], summary["exit_code"]) == (3, 3, 2, 69)


@pytest.fixture(scope="module")
def async_orthanc(tmp_path_factory):
    """Orthanc moving in a background job: its C-MOVE answers before the objects are sent."""
    with orthanc_archive(tmp_path_factory.mktemp("orthanc-async"), SynchronousCMove=False) as archive:
        yield archive


def test_asynchronous_orthanc_every_object_arrives(async_orthanc, tmp_path):
    """Ours against Orthanc with "SynchronousCMove": false: the three objects arrive, exit 0,
    the report's counts agree."""
    dicom_port, study, mover_port = async_orthanc
    out, report = tmp_path / "od", tmp_path / "report.json"
    out.mkdir()
    args = move_study_args(
        ours("movescu"), "ORTHANC", dicom_port, mover_port, out, "-aet", "MOVESCU", "--report", str(report)
    )
    done = run([a if a != "StudyInstanceUID=1.2.3" else f"StudyInstanceUID={study}" for a in args])
    assert done.returncode == 0, done.stderr
    assert len(list(out.iterdir())) == 3
    summary = _summary(report)
    assert (summary["announced"], summary["arrived"], summary["exit_code"]) == (3, 3, 0)
