"""movescu ``--verify``: the archive's instances are listed with C-FINDs before the move, those
that did not arrive are named (exit 69), ``--retry`` moves them again at IMAGE level, and
``--skip-existing`` leaves out what ``-od`` already holds (an interrupted retrieve resumes).

The archive that skips instances is a pynetdicom Q/R SCP over an in-memory study: its C-MOVE
leaves out the instances of ``plan["skip"]`` (once each) and reports only those it sent, so
its responses alone cannot tell movescu anything is missing.  One more run against DCMTK's
dcmqrscp shows ``--verify`` where everything arrives.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from .conftest import CT_SMALL, free_port, missing, move_study_args, ours, run
from .test_movescu import LEVELS, archive  # noqa: F401  (the dcmqrscp fixture)

FIND_STUDY = "1.2.840.10008.5.1.4.1.2.2.1"
MOVE_STUDY = "1.2.840.10008.5.1.4.1.2.2.2"
CT_CLASS = "1.2.840.10008.1.2.1"
CT_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.2"
UNIQUE = {"STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID", "IMAGE": "SOPInstanceUID"}


def _study() -> list[Dataset]:
    """Study 1.2.3: two series of two CT images each."""
    datasets = []
    for series in (1, 2):
        for image in (1, 2):
            ds = dcmread(CT_SMALL)
            ds.StudyInstanceUID = "1.2.3"
            ds.SeriesInstanceUID = f"1.2.3.{series}"
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.3.{series}.{image}"
            datasets.append(ds)
    return datasets


def _matches(query: Dataset, ds: Dataset) -> bool:
    """Single-value or UID-list matching on the unique keys the query gives."""
    for keyword in ("PatientID", *UNIQUE.values()):
        wanted = query.get(keyword)
        if wanted in (None, ""):
            continue
        values = [wanted] if isinstance(wanted, str) else list(wanted)
        if str(ds.get(keyword)) not in values:
            return False
    return True


@pytest.fixture
def skipping_archive():
    """A Study Root Q/R SCP over ``_study()``; its C-MOVEs send to ``plan["listen"]`` every
    matching instance except those in ``plan["skip"]`` (each skipped once), and record the
    SOP Instance UIDs each move sent in ``plan["moves"]``."""
    try:
        from pynetdicom import AE, evt
    except ImportError:
        missing("pynetdicom is not installed")
    study = _study()
    plan: dict = {"skip": set(), "moves": [], "listen": None, "find_fails": False}
    lock = threading.Lock()

    def on_find(event):
        query = event.identifier
        level = query.QueryRetrieveLevel
        if plan["find_fails"]:
            yield 0xC000, None
            return
        seen = set()
        for ds in study:
            key = str(ds.get(UNIQUE[level]))
            if _matches(query, ds) and key not in seen:
                seen.add(key)
                answer = Dataset()
                answer.QueryRetrieveLevel = level
                for element in query:
                    if element.keyword != "QueryRetrieveLevel":
                        setattr(answer, element.keyword, ds.get(element.keyword, ""))
                yield 0xFF00, answer

    def on_move(event):
        with lock:
            chosen = [ds for ds in study if _matches(event.identifier, ds)]
            sent = [ds for ds in chosen if ds.SOPInstanceUID not in plan["skip"]]
            plan["skip"] -= {ds.SOPInstanceUID for ds in chosen}
            plan["moves"].append([ds.SOPInstanceUID for ds in sent])
        yield "127.0.0.1", plan["listen"]
        yield len(sent)
        for ds in sent:
            yield 0xFF00, ds

    ae = AE(ae_title="SKIP-QR")
    ae.add_supported_context(FIND_STUDY)
    ae.add_supported_context(MOVE_STUDY)
    ae.add_requested_context(CT_SOP_CLASS, [CT_CLASS])
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    handlers = [(evt.EVT_C_FIND, on_find), (evt.EVT_C_MOVE, on_move)]
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    plan["port"] = server.socket.getsockname()[1]
    plan["uids"] = [ds.SOPInstanceUID for ds in study]
    try:
        yield plan
    finally:
        server.shutdown()


def _movescu(plan: dict, out: Path, *extra: str):
    plan["listen"] = free_port()
    return run(move_study_args(ours("movescu"), "SKIP-QR", plan["port"], plan["listen"], out, *extra), timeout=60)


def _names(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.is_file())


def test_verify_names_the_instance_the_archive_skipped(skipping_archive, tmp_path):
    """The archive leaves out 1.2.3.2.1 and reports 3 of 3 completed: the move alone looks
    fine; --verify names the missing instance on a W: line and exits 69."""
    skipping_archive["skip"] = {"1.2.3.2.1"}
    done = _movescu(skipping_archive, tmp_path, "--verify", "--grace-time", "2")
    assert done.returncode == 69, done.stderr
    assert done.stderr == "W: not received: 1.2.3.2.1\n"
    assert _names(tmp_path) == ["CT.1.2.3.1.1", "CT.1.2.3.1.2", "CT.1.2.3.2.2"]


def test_without_verify_the_skip_goes_unnoticed(skipping_archive, tmp_path):
    """The same archive without --verify: exit 0, nothing said (what --verify adds)."""
    skipping_archive["skip"] = {"1.2.3.2.1"}
    done = _movescu(skipping_archive, tmp_path, "--grace-time", "2")
    assert (done.returncode, done.stderr) == (0, "")
    assert len(_names(tmp_path)) == 3


def test_retry_fetches_the_missing_instance_at_image_level(skipping_archive, tmp_path):
    """--retry 1: the second move asks for the missing instance alone and gets it; exit 0."""
    skipping_archive["skip"] = {"1.2.3.2.1"}
    done = _movescu(skipping_archive, tmp_path, "-v", "--verify", "--retry", "1", "--retry-wait", "0")
    assert done.returncode == 0, done.stderr
    assert "W:" not in done.stderr
    assert "QueryRetrieveLevel" in done.stderr and "(0008,0052) CS [IMAGE]" in done.stderr
    assert skipping_archive["moves"] == [["1.2.3.1.1", "1.2.3.1.2", "1.2.3.2.2"], ["1.2.3.2.1"]]
    assert _names(tmp_path) == [f"CT.{uid}" for uid in skipping_archive["uids"]]


def test_skip_existing_resumes_a_half_received_study(skipping_archive, tmp_path):
    """A first run gets half the study (the archive skips two); a re-run with --verify
    --skip-existing requests only the other two; a third run requests nothing at all."""
    skipping_archive["skip"] = {"1.2.3.1.2", "1.2.3.2.2"}
    first = _movescu(skipping_archive, tmp_path)
    assert first.returncode == 0, first.stderr
    assert _names(tmp_path) == ["CT.1.2.3.1.1", "CT.1.2.3.2.1"]
    again = _movescu(skipping_archive, tmp_path, "--verify", "--skip-existing")
    assert (again.returncode, again.stderr) == (0, "")
    assert skipping_archive["moves"][1:] == [["1.2.3.1.2"], ["1.2.3.2.2"]]  # one IMAGE request per series
    assert _names(tmp_path) == [f"CT.{uid}" for uid in skipping_archive["uids"]]
    third = _movescu(skipping_archive, tmp_path, "-v", "--verify", "--skip-existing")
    assert third.returncode == 0, third.stderr
    assert "I: Every instance is already in the output directory: nothing to move" in third.stderr
    assert "Sending Move Request" not in third.stderr
    assert len(skipping_archive["moves"]) == 3


def test_verify_when_the_archive_cannot_be_listed(skipping_archive, tmp_path):
    """The archive's C-FIND fails: the move still happens, but movescu cannot vouch for it --
    a W: line and exit 69."""
    skipping_archive["find_fails"] = True
    done = _movescu(skipping_archive, tmp_path, "--verify")
    assert done.returncode == 69, done.stderr
    assert done.stderr == "W: cannot verify: the archive's instances could not be listed (C-FIND at IMAGE level)\n"
    assert len(_names(tmp_path)) == 4


@pytest.mark.parametrize(
    "args, line",
    [
        (["--skip-existing"], "--skip-existing only allowed with --verify"),
        (["--retry", "1"], "--retry only allowed with --verify"),
        (["--verify", "-aem", "ELSEWHERE"], "--verify only allowed when moving to movescu itself"),
    ],
)
def test_verify_companions_are_command_line_errors(args, line, tmp_path):
    """Options that need --verify (or that --verify cannot work with): exit 1, one clear line."""
    done = run(move_study_args(ours("movescu"), "QR", free_port(), free_port(), tmp_path, *args), timeout=30)
    assert done.returncode == 1, done.stderr
    assert line in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("level", list(LEVELS))
def test_verify_against_dcmqrscp_everything_arrives(archive, tmp_path, level):  # noqa: F811
    """dcmqrscp (which wants a find level by level) holds the study: --verify lists it, the
    move brings it all, exit 0 and no W: line."""
    done = run(
        [
            ours("movescu"), "-aet", "MOVESCU", "-aec", "QRSCP", "--port", str(archive.move_port),
            "-od", str(tmp_path), "-v", "--verify", *LEVELS[level], "127.0.0.1", str(archive.port),
        ],
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "W:" not in done.stderr
    assert _names(tmp_path), "nothing was moved"
    assert f"I: The archive holds {len(_names(tmp_path))} instance(s), 0 already in" in done.stderr
