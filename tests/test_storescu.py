"""storescu side by side with DCMTK's, against real receivers.

"DCMTK storescu" is /usr/bin/storescu; "our storescu" is this package's console script.
"""

from __future__ import annotations

import contextlib
import json
import shutil

import pytest
from pydicom import dcmread

from .conftest import CT_SMALL, MR_SMALL, SAMPLES, dcmtk, ours, run, running
from .recording import RecordingSCP, contexts
from .test_dcmtk import received, same_dataset

PROPOSE = [
    [],
    ["-R"],
    ["+C"],
    ["-R", "+C"],
    *[[opt] for opt in ("-x=", "-xe", "-xb", "-xi", "-xs", "-xy", "-xx", "-xv", "-xw", "-xt", "-xu")],
    *[[opt] for opt in ("-xm", "-xh", "-xn", "-xl", "-x2", "-x3", "-xo", "-x4", "-x5", "-xr", "-xd")],
    ["-R", "-xs", "+C"],
    ["-xb", "-xi", "-xr"],  # rightmost wins
]


@pytest.mark.parametrize("options", PROPOSE, ids=lambda o: " ".join(o) or "default")
def test_same_proposal_as_dcmtk(options):
    """DCMTK storescu and our storescu -> a recording SCP: the same A-ASSOCIATE-RQ contexts, same exit code."""
    files = [str(CT_SMALL), str(MR_SMALL)]
    with RecordingSCP() as scp:
        theirs = run([dcmtk("storescu"), *options, "127.0.0.1", str(scp.port), *files])
        mine = run([ours("storescu"), *options, "127.0.0.1", str(scp.port), *files])
    assert len(scp.requests) == 2
    assert contexts(scp.requests[1]) == contexts(scp.requests[0])
    assert (scp.requests[1].calling_ae, scp.requests[1].called_ae) == ("STORESCU", "ANY-SCP")
    assert scp.requests[1].user_info.max_length == scp.requests[0].user_info.max_length
    assert mine.returncode == theirs.returncode == 1
    assert mine.stderr == theirs.stderr


SAMPLES_BY_OPTION = {
    "-x=": ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "rtplan.dcm", "rtdose.dcm", "test-SR.dcm"],
    "-xb": ["MR_small_bigendian.dcm", "ExplVR_BigEnd.dcm", "rtdose_expb.dcm"],
    "-xs": ["SC_rgb_jpeg_gdcm.dcm"],
    "-xy": ["SC_rgb_jpeg_dcmtk.dcm"],
    "-xx": ["JPGExtended.dcm"],
    "-xv": ["MR_small_jp2klossless.dcm"],
    "-xw": ["JPEG2000.dcm"],
    "-xt": ["MR_small_jpeg_ls_lossless.dcm"],
    "-xu": ["JPEGLSNearLossless_16.dcm"],
    "-xr": ["MR_small_RLE.dcm", "SC_rgb_rle.dcm"],
    "-xd": ["image_dfl.dcm"],
}


@pytest.mark.parametrize("option", list(SAMPLES_BY_OPTION))
def test_samples_arrive_equal_at_dcmtk_storescp(port, tmp_path, option):
    """our storescu -R <option> -> DCMTK storescp +xa: every file arrives with an equal data set."""
    names = SAMPLES_BY_OPTION[option]
    with running([dcmtk("storescp"), "+xa", "-od", str(tmp_path), str(port)], port):
        result = run([ours("storescu"), "-R", option, "127.0.0.1", str(port), *[str(SAMPLES / n) for n in names]])
    assert result.returncode == 0, result.stderr
    for name in names:
        out = received(tmp_path, SAMPLES / name)
        assert same_dataset(out, SAMPLES / name), name
        if option not in ("-x=", "-xd"):
            assert dcmread(out).file_meta.TransferSyntaxUID == dcmread(SAMPLES / name).file_meta.TransferSyntaxUID


@pytest.mark.parametrize("name", ["MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_RLE.dcm"])
def test_compressed_file_arrives_decompressed(port, tmp_path, name):
    """our storescu -R (uncompressed proposal) -> DCMTK storescp: a lossless compressed file arrives
    decompressed with the same pixel values (DCMTK's storescu fails here)."""
    sample = SAMPLES / name
    with running([dcmtk("storescp"), "-od", str(tmp_path), str(port)], port):
        result = run([ours("storescu"), "-v", "-R", "127.0.0.1", str(port), str(sample)])
    assert result.returncode == 0, result.stderr
    assert "Converting transfer syntax" in result.stderr
    out = dcmread(received(tmp_path, sample))
    assert out.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert (out.pixel_array == dcmread(sample).pixel_array).all()


def test_lossy_file_is_not_decompressed_by_default(port, tmp_path):
    """our storescu (default +dls) -> DCMTK storescp: a lossy JPEG file fails as in DCMTK (exit 1);
    with +dly it is decompressed and arrives."""
    sample = SAMPLES / "JPEG2000.dcm"
    with running([dcmtk("storescp"), "-od", str(tmp_path), str(port)], port):
        refused = run([ours("storescu"), "-R", "127.0.0.1", str(port), str(sample)])
        theirs = run([dcmtk("storescu"), "-R", "127.0.0.1", str(port), str(sample)])
        allowed = run([ours("storescu"), "-R", "+dly", "127.0.0.1", str(port), str(sample)])
    assert refused.returncode == theirs.returncode == 1
    assert "E: Store SCU Failed: 0006:020e DIMSE Failed to send message" in refused.stderr
    assert allowed.returncode == 0, allowed.stderr
    assert dcmread(received(tmp_path, sample)).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"


BAD_INPUTS = [
    ("missing", ["/nonexistent/file.dcm"]),
    ("missing-nh", ["-nh", "/nonexistent/file.dcm", str(CT_SMALL)]),
    ("not-dicom", ["NOTDICOM"]),
    ("not-dicom-nh", ["-nh", "NOTDICOM", str(CT_SMALL)]),
    ("not-dicom-R", ["-R", "NOTDICOM"]),
    ("not-dicom-R-nh", ["-R", "-nh", "NOTDICOM", str(CT_SMALL)]),
    ("dir-without-sd", ["DIR"]),
    ("empty-dir", ["+sd", "EMPTY"]),
    ("dir-with-sd", ["+sd", "DIR"]),
    ("unknown-option", ["--bogus", str(CT_SMALL)]),
    ("no-files", []),
    ("pattern-without-sd", ["+sp", "*.dcm", str(CT_SMALL)]),
    ("bad-port", ["PORT=70000", str(CT_SMALL)]),
]


@pytest.mark.parametrize(("case", "args"), BAD_INPUTS, ids=[c for c, _ in BAD_INPUTS])
def test_bad_input_side_by_side(port, tmp_path, case, args):
    """DCMTK storescu and our storescu on the same bad input -> DCMTK storescp: same exit code, same
    fatal/error lines (file paths included), nothing traced back."""
    (tmp_path / "NOTDICOM").write_text("hello, this is not DICOM\n" * 20)
    (tmp_path / "DIR").mkdir()
    shutil.copy(CT_SMALL, tmp_path / "DIR" / "ct.dcm")
    (tmp_path / "EMPTY").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    target = str(port)
    if args and args[0].startswith("PORT="):
        target, args = args[0][5:], args[1:]
    with running([dcmtk("storescp"), "-od", str(out), str(port)], port):
        theirs = run([dcmtk("storescu"), "127.0.0.1", target, *args], cwd=tmp_path)
        mine = run([ours("storescu"), "127.0.0.1", target, *args], cwd=tmp_path)
    assert mine.returncode == theirs.returncode, (mine.stderr, theirs.stderr)
    assert "Traceback" not in mine.stderr

    def key_lines(text: str) -> list[str]:
        lines = [line for line in text.splitlines() if line[:2] in ("F:", "W:") or line.startswith("error:")]
        return [line for line in lines if "Dcm" not in line and "Bad DICOM file" not in line]

    assert key_lines(mine.stderr) == key_lines(theirs.stderr)


@pytest.mark.parametrize("abort_option", ["--abort-after", "--abort-during"])
def test_peer_abort_mid_file_side_by_side(port, tmp_path, abort_option):
    """DCMTK storescp aborting during the store -> DCMTK storescu and ours: same exit code (10)."""
    with running([dcmtk("storescp"), abort_option, "-od", str(tmp_path), str(port)], port):
        theirs = run([dcmtk("storescu"), "127.0.0.1", str(port), str(CT_SMALL), str(MR_SMALL)])
        mine = run([ours("storescu"), "127.0.0.1", str(port), str(CT_SMALL), str(MR_SMALL)])
    assert mine.returncode == theirs.returncode == 10
    assert "I: Peer Aborted Association" not in mine.stderr  # INFO is off by default
    assert "E: 0006:0317 Peer aborted Association (or never connected)" in mine.stderr


def test_rename_and_report(port, tmp_path):
    """our storescu +rn --report -> DCMTK storescp: .done for sent files, .bad for a bad one, JSON records."""
    good = tmp_path / "ct.dcm"
    bad = tmp_path / "bad.dcm"
    shutil.copy(CT_SMALL, good)
    bad.write_bytes(b"\0" * 200)
    report = tmp_path / "report.json"
    out = tmp_path / "out"
    out.mkdir()
    with running([dcmtk("storescp"), "-od", str(out), str(port)], port):
        result = run(
            [ours("storescu"), "-nh", "+rn", "--report", str(report), "127.0.0.1", str(port), str(good), str(bad)]
        )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ct.dcm.done").exists() and not good.exists()
    assert (tmp_path / "bad.dcm.bad").exists() and not bad.exists()
    data = json.loads(report.read_text())
    assert data["summary"]["files"] == 2 and data["summary"]["succeeded"] == 1
    first = data["files"][0]
    assert first["status"] == 0 and first["sop_class"] == "1.2.840.10008.5.1.4.1.1.2"
    assert first["transfer_syntax"] == "1.2.840.10008.1.2.1" and first["bytes"] > 30000
    assert data["files"][1]["ok"] is False


def test_arguments_and_command_file_side_by_side(port, tmp_path):
    """--arguments with an @file: our storescu prints exactly what DCMTK's prints."""
    cmdfile = tmp_path / "cmd.txt"
    cmdfile.write_text('-v\n--aetitle "MY AE"  -aec\tOTHER\n')
    args = ["--arguments", f"@{cmdfile}", "127.0.0.1", str(port), str(CT_SMALL)]
    theirs = run([dcmtk("storescu"), *args])
    mine = run([ours("storescu"), *args])
    first = [line.replace(dcmtk("storescu"), "PROGRAM") for line in theirs.stderr.splitlines()[:2]]
    assert [line.replace(ours("storescu"), "PROGRAM") for line in mine.stderr.splitlines()[:2]] == first
    assert first[0].startswith("I: calling 'PROGRAM' with 9 arguments: '--arguments' '--verbose' '--aetitle' 'MY AE'")
    assert mine.returncode == theirs.returncode == 1


def test_more_than_128_contexts_use_several_associations(port, tmp_path):
    """our storescu -R with 70 SOP classes (140 contexts) -> our storescp -pm: two associations,
    every file stored; -ma fails as DCMTK does."""
    from pydicom.uid import generate_uid

    from dimse.dcmtk.sopclasses import STORAGE_CLASSES

    src = tmp_path / "in"
    src.mkdir()
    base = dcmread(CT_SMALL)
    for i, sop_class in enumerate(STORAGE_CLASSES[:70]):
        base.SOPClassUID = base.file_meta.MediaStorageSOPClassUID = sop_class
        base.SOPInstanceUID = base.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        base.save_as(src / f"f{i:03d}.dcm")
    out = tmp_path / "out"
    out.mkdir()
    with running([ours("storescp"), "-pm", "-v", "-od", str(out), str(port)], port) as scp:
        result = run([ours("storescu"), "-R", "+sd", "127.0.0.1", str(port), str(src)])
        refused = run([ours("storescu"), "-R", "-ma", "+sd", "127.0.0.1", str(port), str(src)])
        scp.terminate()
        log = scp.communicate(timeout=10)[0]
    assert result.returncode == 0, result.stderr
    assert len(list(out.iterdir())) == 70
    assert log.count("Association Received") == 2
    assert refused.returncode == 1
    assert "E: Too many presentation contexts" in refused.stderr


@contextlib.contextmanager
def pynetdicom_scp(contexts: dict[str, list[str]], on_store, ae_title: str = "PYNETDICOM-SCP", max_pdu: int = 16382):
    """A pynetdicom Storage SCP (a second implementation) on a free loopback port; yields the port."""
    pytest.importorskip("pynetdicom")
    from pynetdicom import AE, evt

    ae = AE(ae_title=ae_title)
    ae.maximum_pdu_size = max_pdu
    for uid, syntaxes in contexts.items():
        ae.add_supported_context(uid, syntaxes)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        yield server.socket.getsockname()[1]
    finally:
        server.shutdown()


def keep_into(kept: list):
    """A C-STORE handler that keeps each data set (with its file meta) in ``kept``."""

    def on_store(event):
        ds = event.dataset
        ds.file_meta = event.file_meta
        kept.append(ds)
        return 0

    return on_store


UNCOMPRESSED_TS = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"]
CT_CLASS, MR_CLASS = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"


@pytest.fixture
def status_scp():
    """A pynetdicom SCP that answers a chosen C-STORE status and counts what it received."""
    answer = {"status": 0, "received": 0}

    def on_store(event):
        answer["received"] += 1
        return answer["status"]

    with pynetdicom_scp({CT_CLASS: UNCOMPRESSED_TS, MR_CLASS: UNCOMPRESSED_TS}, on_store) as port:
        answer["port"] = port
        yield answer


@pytest.mark.parametrize(
    ("status", "no_halt", "expected_code", "expected_received"),
    [
        (0xA700, False, 167, 1),
        (0xA700, True, 0, 3),
        (0xC000, False, 192, 1),
        (0xC123, False, 193, 1),
        (0x0122, False, 1, 1),
        (0xB000, False, 0, 3),
        (0x0000, False, 0, 3),
    ],
)
def test_status_exit_codes_side_by_side(status_scp, status, no_halt, expected_code, expected_received):
    """pynetdicom SCP answering <status> -> DCMTK storescu and our storescu: the same exit code and
    halting (how many files the SCP received)."""
    status_scp["status"] = status
    files = [str(CT_SMALL), str(MR_SMALL), str(CT_SMALL)]
    args = (["-nh"] if no_halt else []) + ["127.0.0.1", str(status_scp["port"]), *files]
    status_scp["received"] = 0
    theirs = run([dcmtk("storescu"), *args])
    theirs_received = status_scp["received"]
    status_scp["received"] = 0
    mine = run([ours("storescu"), *args])
    assert (mine.returncode, status_scp["received"]) == (theirs.returncode, theirs_received)
    assert mine.returncode == expected_code
    assert status_scp["received"] == expected_received


@pytest.fixture
def keeping_scp():
    """A pynetdicom SCP accepting every storage class in every syntax, keeping what it gets."""
    pytest.importorskip("pynetdicom")
    from pynetdicom import ALL_TRANSFER_SYNTAXES
    from pynetdicom.sop_class import _STORAGE_CLASSES

    kept = []
    contexts = {uid: ALL_TRANSFER_SYNTAXES for uid in _STORAGE_CLASSES.values()}
    with pynetdicom_scp(contexts, keep_into(kept), max_pdu=0) as port:
        yield port, kept


@pytest.mark.parametrize("option", list(SAMPLES_BY_OPTION))
def test_samples_arrive_equal_at_pynetdicom(keeping_scp, option):
    """our storescu -R <option> -> pynetdicom SCP: every data set arrives equal, in the file's own syntax."""
    port, kept = keeping_scp
    names = SAMPLES_BY_OPTION[option]
    result = run([ours("storescu"), "-R", option, "127.0.0.1", str(port), *[str(SAMPLES / n) for n in names]])
    assert result.returncode == 0, result.stderr
    assert len(kept) == len(names)
    for name, got in zip(names, kept, strict=True):
        original = dcmread(SAMPLES / name)
        if option != "-x=":  # -x= proposes LEI only as a fallback the SCP need not pick
            assert got.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID, name
        got.file_meta = original.file_meta
        assert got == original, name


def test_progress_bar_only_on_a_terminal(port, tmp_path):
    """our storescu with stderr on a pseudo-terminal draws a progress bar; piped, it prints nothing."""
    import os
    import subprocess

    primary, secondary = os.openpty()
    with running([dcmtk("storescp"), "-od", str(tmp_path), str(port)], port):
        proc = subprocess.run(
            [ours("storescu"), "127.0.0.1", str(port), str(CT_SMALL), str(MR_SMALL)],
            stderr=secondary,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
        os.close(secondary)
        chunks = []
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        os.close(primary)
        piped = run([ours("storescu"), "127.0.0.1", str(port), str(CT_SMALL)])
    screen = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0
    assert "B/s" in screen and "/47.9k" in screen  # rate and total bytes of the two files
    assert piped.returncode == 0 and piped.stderr == ""


@pytest.fixture
def compressed_only_scp():
    """A pynetdicom SCP that takes MR Image Storage in RLE Lossless or JPEG Baseline only."""
    kept = []
    with pynetdicom_scp({MR_CLASS: ["1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.50"]}, keep_into(kept)) as port:
        yield port, kept


def test_compression_where_a_codec_exists(compressed_only_scp):
    """our storescu -R -xr -> an SCP taking RLE only: the uncompressed MR arrives RLE-compressed,
    same pixels, same SOP Instance UID (lossless)."""
    port, kept = compressed_only_scp
    result = run([ours("storescu"), "-v", "-R", "-xr", "127.0.0.1", str(port), str(MR_SMALL)])
    assert result.returncode == 0, result.stderr
    assert "Converting transfer syntax: Little Endian Explicit -> RLE Lossless" in result.stderr
    (got,) = kept
    original = dcmread(MR_SMALL)
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"
    assert got.SOPInstanceUID == original.SOPInstanceUID
    assert (got.pixel_array == original.pixel_array).all()


def test_compression_without_a_codec_is_a_clear_error(compressed_only_scp):
    """our storescu -R -xy -> an SCP taking JPEG Baseline only: no encoder, a clear error, exit 1."""
    port, kept = compressed_only_scp
    result = run([ours("storescu"), "-R", "-xy", "127.0.0.1", str(port), str(MR_SMALL)])
    assert result.returncode == 1
    assert "W: cannot compress to JPEG Baseline" in result.stderr
    assert "E: Store SCU Failed: 0006:020e DIMSE Failed to send message" in result.stderr
    assert kept == []


def test_invent_mode_side_by_side(port, tmp_path):
    """our storescu +II +IR 2 (3 files) -> our storescp: new SOP Instance UIDs, a new series after
    two images, the same study; DCMTK's storescu does the same with its own UIDs."""
    out = tmp_path / "out"
    out.mkdir()
    files = [str(CT_SMALL)] * 3
    with running([ours("storescp"), "-od", str(out), str(port)], port):
        mine = run([ours("storescu"), "-v", "+II", "+IR", "2", "127.0.0.1", str(port), *files])
    assert mine.returncode == 0, mine.stderr
    got = [dcmread(p) for p in out.iterdir()]
    assert len(got) == 3
    assert len({d.SOPInstanceUID for d in got} | {dcmread(CT_SMALL).SOPInstanceUID}) == 4
    assert sorted(str(d.InstanceNumber) for d in got) == ["0", "0", "1"]
    series = {}
    for d in got:
        series.setdefault(d.SeriesInstanceUID, []).append(str(d.InstanceNumber))
    assert sorted(sorted(v) for v in series.values()) == [["0"], ["0", "1"]]  # new series after 2 images
    assert len({d.StudyInstanceUID for d in got}) == 1
    assert mine.stderr.count("I: Inventing Identifying Information (pa0, st0, se") == 3


def test_repeat_and_abort(port, tmp_path):
    """our storescu --repeat 3 --abort -> DCMTK storescp: three stores with message IDs 1..3, then A-ABORT."""
    with running([dcmtk("storescp"), "-v", "-od", str(tmp_path), str(port)], port) as scp:
        mine = run([ours("storescu"), "-v", "--repeat", "3", "--abort", "127.0.0.1", str(port), str(CT_SMALL)])
        scp.terminate()
        log = scp.communicate(timeout=10)[0]
    assert mine.returncode == 0, mine.stderr
    assert [line for line in mine.stderr.splitlines() if "Sending Store Request" in line] == [
        f"I: Sending Store Request (MsgID {n}, CT)" for n in (1, 2, 3)
    ]
    assert mine.stderr.rstrip().endswith("I: Sent 3 of 3 files (116610 bytes)")  # 3 x the data set
    assert "I: Aborting Association" in mine.stderr
    assert log.count("Received Store Request") == 3


@pytest.mark.parametrize(
    ("mode", "expected"),
    [([], 0), (["-f"], 0), (["+fo"], 1)],
    ids=["read-file", "read-dataset", "read-file-only"],
)
def test_read_modes_on_a_bare_data_set(port, tmp_path, mode, expected):
    """A file without meta header (pydicom's rtstruct.dcm): +f and -f send it, +fo refuses it, as DCMTK."""
    sample = SAMPLES / "rtstruct.dcm"
    out = tmp_path / "out"
    out.mkdir()
    with running([dcmtk("storescp"), "-od", str(out), str(port)], port):
        theirs = run([dcmtk("storescu"), *mode, "127.0.0.1", str(port), str(sample)])
        mine = run([ours("storescu"), *mode, "127.0.0.1", str(port), str(sample)])
    assert mine.returncode == theirs.returncode == expected, (mine.stderr, theirs.stderr)
    if expected == 0:
        assert len(list(out.iterdir())) == 1


def _no_uid_file(path):
    ds = dcmread(CT_SMALL)
    del ds.SOPInstanceUID
    del ds.file_meta.MediaStorageSOPInstanceUID
    ds.save_as(path)
    return path


ODD_FILES = {
    "truncated-mr": lambda tmp: SAMPLES / "MR_truncated.dcm",
    "truncated-rtplan": lambda tmp: SAMPLES / "rtplan_truncated.dcm",
    "no-sop-instance": lambda tmp: _no_uid_file(tmp / "nouid.dcm"),
    "empty": lambda tmp: (tmp / "empty.dcm").write_bytes(b"") or tmp / "empty.dcm",
}


@pytest.mark.parametrize("halt", [[], ["-nh"]], ids=["halt", "no-halt"])
@pytest.mark.parametrize("case", list(ODD_FILES))
def test_odd_files_side_by_side(port, tmp_path, case, halt):
    """Truncated, UID-less and empty files, then a good one -> DCMTK storescp: DCMTK storescu and ours
    give the same exit code and the receiver gets the same number of objects."""
    odd = ODD_FILES[case](tmp_path)
    counts = []
    codes = []
    for tool, name in ((dcmtk("storescu"), "theirs"), (ours("storescu"), "mine")):
        out = tmp_path / name
        out.mkdir()
        with running([dcmtk("storescp"), "-od", str(out), str(port)], port):
            result = run([tool, *halt, "127.0.0.1", str(port), str(odd), str(CT_SMALL)])
        assert "Traceback" not in result.stderr
        codes.append(result.returncode)
        counts.append(len(list(out.iterdir())))
    assert codes[1] == codes[0]
    assert counts[1] == counts[0]


def test_next_file_read_early_keeps_the_order_side_by_side(port, tmp_path):
    """Good, unreadable, missing, good, repeated -> DCMTK storescp, -v -nh: our storescu reads each
    next file while the receiver stores the current one, yet logs and sends in file order, with the
    same sequence of per-file lines as DCMTK's storescu and the same objects received."""
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"not DICOM at all" * 50)
    files = [str(CT_SMALL), str(bad), str(tmp_path / "gone.dcm"), str(MR_SMALL), str(CT_SMALL)]
    wanted = ("Sending file:", "Received Store Response", "Sending Store Request", "Bad DICOM file:", "No SOP Class")
    sequences, counts = [], []
    for tool, name in ((dcmtk("storescu"), "theirs"), (ours("storescu"), "mine")):
        out = tmp_path / name
        out.mkdir()
        with running([dcmtk("storescp"), "-od", str(out), str(port)], port):
            result = run([tool, "-v", "-nh", "127.0.0.1", str(port), *files])
        assert "Traceback" not in result.stderr
        lines = [line[3:] for line in result.stderr.splitlines() if line[1:3] == ": "]
        seen = [next(w for w in wanted if line.startswith(w)) for line in lines if line.startswith(wanted)]
        sequences.append(["unreadable" if w in wanted[3:] else w for w in seen])  # DCMTK's words differ there
        counts.append((result.returncode, len(list(out.iterdir()))))
    assert sequences[1] == sequences[0]
    assert counts[1] == counts[0] == (0, 2)  # -nh: the unreadable file does not fail the run


def test_peer_refusing_everything_side_by_side(port, tmp_path):
    """our storescp --refuse -> DCMTK storescu and ours: the same three fatal lines, exit 1."""
    with running([ours("storescp"), "--refuse", "-od", str(tmp_path), str(port)], port):
        theirs = run([dcmtk("storescu"), "127.0.0.1", str(port), str(CT_SMALL)])
        mine = run([ours("storescu"), "127.0.0.1", str(port), str(CT_SMALL)])
    assert mine.returncode == theirs.returncode == 1
    assert mine.stderr == theirs.stderr


def test_file_not_matching_its_meta_header_is_re_encoded(port, tmp_path):
    """SC_rgb_jpeg.dcm holds implicit VR data behind an explicit VR meta header: our storescu decodes
    and re-encodes it instead of streaming broken bytes; DCMTK storescp receives a valid object."""
    sample = SAMPLES / "SC_rgb_jpeg.dcm"
    with running([dcmtk("storescp"), "+xa", "-od", str(tmp_path), str(port)], port):
        mine = run([ours("storescu"), "-R", "-xy", "127.0.0.1", str(port), str(sample)])
    assert mine.returncode == 0, mine.stderr
    assert "Traceback" not in mine.stderr
    assert dcmread(received(tmp_path, sample)).PixelData == dcmread(sample).PixelData


def test_parallel_associations(port, tmp_path):
    """our storescu --parallel 3 -> our storescp: three associations at once, every file stored once."""
    src = tmp_path / "in"
    src.mkdir()
    base = dcmread(CT_SMALL)
    from pydicom.uid import generate_uid

    for i in range(9):
        base.SOPInstanceUID = base.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        base.save_as(src / f"f{i}.dcm")
    out = tmp_path / "out"
    out.mkdir()
    with running([ours("storescp"), "-v", "-od", str(out), str(port)], port) as scp:
        result = run([ours("storescu"), "-v", "--parallel", "3", "+sd", "127.0.0.1", str(port), str(src)])
        scp.terminate()
        log = scp.communicate(timeout=10)[0]
    assert result.returncode == 0, result.stderr
    assert len(list(out.iterdir())) == 9
    assert log.count("Association Received") == 3
    assert result.stderr.count("I: Requesting Association") == 3
    assert "I: Sent 9 of 9 files" in result.stderr


@pytest.mark.parametrize(
    "status",
    [0x0001, 0x0107, 0x0116, 0xB006, 0xB007, 0xA701, 0xA7FF, 0xA900, 0xA9AB, 0xC000, 0xCFFF, 0x0110, 0x0211, 0xFE00],
    ids=lambda s: f"{s:04x}",
)
@pytest.mark.parametrize("verbosity", [[], ["-v"]], ids=["default", "verbose"])
def test_status_lines_side_by_side(status_scp, status, verbosity):
    """pynetdicom SCP answering <status> (warnings outside 0xBxxx, out-of-resources variants,
    refused, cannot understand, other failures, cancel) -> DCMTK storescu and our storescu, -nh,
    default and -v: the same stderr lines (status texts), the same exit code.  At -v two lines
    differ by design (docs/compatibility.md): 3.6.7's "Converting transfer syntax: X -> X" for
    an unchanged syntax, and our "Sent n of m files" summary."""
    status_scp["status"] = status
    args = [*verbosity, "-nh", "127.0.0.1", str(status_scp["port"]), str(CT_SMALL), str(MR_SMALL)]
    theirs = run([dcmtk("storescu"), *args])
    mine = run([ours("storescu"), *args])

    def shown(stderr: str) -> list[str]:
        return [line for line in stderr.splitlines() if "Converting transfer syntax" not in line
                and not line.startswith("I: Sent ")]

    assert shown(mine.stderr) == shown(theirs.stderr)
    assert ("Converting transfer syntax" in mine.stderr) is False
    assert mine.returncode == theirs.returncode
