"""What our receivers keep: only whole, well-formed data sets, readable by other users.

storescp and movescu's Storage SCP write a data set without decoding it; the acceptor walks its
structure as it streams (dimse.files.structure) and answers a broken one 0xC000, keeping nothing.
Senders: pynetdicom sending a file's data set bytes as they are (DCMTK's storescu decodes a
file before sending it, and refuses a broken one itself), and a raw socket cutting a data set
into tiny fragments.  Also: the mode of received files (the umask's, as DCMTK's), and a port
probe (connect, close) that must not log an error.
"""

from __future__ import annotations

import io
import socket
import stat
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.sequence import Sequence

import dimse
from dimse.core.commands import c_store_rq, decode_command, encode_command
from dimse.core.negotiation import build_request
from dimse.core.pdu import AssociateAC, encode
from dimse.files.part10 import BadDicomFile, read_part10_header
from dimse.files.scan import Garbled, Truncated, scan
from dimse.files.storage import PART_FOLDER, FileSink, NullSink, temporary_prefix
from dimse.files.structure import INFLATE_STEP, StructureChecker, Undeflatable, check, checker_for

from . import test_movescu_hostile as hostile
from .conftest import CT_SMALL, SAMPLES, dcmtk, free_port, move_study_args, ours, run, wait_for_port
from .corpus import pdv
from .rawpeer import connect, read_pdu

CT = "1.2.840.10008.5.1.4.1.1.2"
LEE, LEI, BEE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
ITEM_END = b"\xfe\xff\x0d\xe0\0\0\0\0"
PROBE_LINE = "connection from 127.0.0.1 closed before an association request"

move_scp = hostile.move_scp  # pynetdicom's C-MOVE SCP, whose plan each test sets


# ---------------------------------------------------------------------------- data sets


def dataset(uid: str, sequence: bool = True) -> Dataset:
    """A small CT object; ``sequence``: with an undefined-length sequence of one undefined-length item."""
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = CT, uid
    ds.Modality, ds.PatientName, ds.PatientID = "CT", "Integrity^Test", "INTEGRITY"
    if sequence:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "123", "DCM", "test"
        ds.ProcedureCodeSequence = Sequence([item])
        ds["ProcedureCodeSequence"].is_undefined_length = True
        item.is_undefined_length_sequence_item = True
    ds.BitsAllocated = 8
    ds.PixelData = bytes(range(256)) * 4
    return ds


def encoded(ds: Dataset, implicit: bool = False, little: bool = True) -> bytes:
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = implicit, little
    write_dataset(fp, ds)
    return fp.getvalue()


def deflate(raw: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = packer.compress(raw) + packer.flush()
    return data + b"\0" * (len(data) % 2)  # PS3.5 A.5: an even length


def _pixel_header(raw: bytes) -> int:
    return raw.index(b"\xe0\x7f\x10\x00OB")


def _longer_pixels(raw: bytes) -> bytes:
    at = _pixel_header(raw) + 8
    return raw[:at] + struct.pack("<L", struct.unpack_from("<L", raw, at)[0] + 1000) + raw[at + 4 :]


def broken(uid: str) -> dict[str, tuple[str, bytes]]:
    """Data sets whose first elements are fine and which no reader can decode: name -> (syntax, bytes)."""
    raw = encoded(dataset(uid))
    seq_end = raw.rindex(b"\xfe\xff\xdd\xe0")
    first_item = raw.index(b"\xfe\xff\x00\xe0")
    deflated = deflate(raw)
    return {
        "length-past-end": (LEE, _longer_pixels(raw)),
        "sequence-without-delimiter": (LEE, raw[:seq_end] + raw[seq_end + 8 :]),
        "ends-inside-a-sequence": (LEE, raw[:seq_end]),
        "item-delimiter-between-items": (LEE, raw[:seq_end] + ITEM_END + raw[seq_end:]),
        "item-delimiter-for-an-item": (LEE, raw[:first_item] + ITEM_END[:4] + raw[first_item + 4 :]),
        # DCMTK takes this one (and drops the delimiter when it writes the data set again); as it
        # is stored byte for byte here, a reader would stop at the delimiter: refused
        "item-delimiter-at-the-top-level": (LEE, raw[: seq_end + 8] + ITEM_END + raw[seq_end + 8 :]),
        "implicit-vr-on-an-explicit-context": (LEE, encoded(dataset(uid), implicit=True)),
        "deflate-garbage": (DEFLATED, bytes(range(7, 250)) * 4),
        "deflate-truncated": (DEFLATED, deflated[: len(deflated) // 2 & ~1]),
        "deflate-of-a-broken-data-set": (DEFLATED, deflate(_longer_pixels(raw))),
    }


def sound(uid: str) -> dict[str, tuple[str, bytes]]:
    """Data sets that look odd but are read by DCMTK and pydicom alike: they are kept."""
    raw = encoded(dataset(uid))
    name = raw.index(b"\x10\x00\x10\x00PN")
    deflated = deflate(raw)
    return {
        "explicit": (LEE, raw),
        "implicit": (LEI, encoded(dataset(uid), implicit=True)),
        "big-endian": (BEE, encoded(dataset(uid), little=False)),
        "deflated": (DEFLATED, deflated),
        "deflated-with-bytes-after-its-end": (DEFLATED, deflated + b"\0\0\0\0"),
        "non-standard-vr-further-in": (LEE, raw[: name + 4] + b"p?" + raw[name + 6 :]),  # DCMTK: a warning
    }


def part10(path: Path, syntax: str, uid: str, raw: bytes) -> Path:
    """A Part 10 file (meta group by pydicom) around the data set bytes ``raw``, as they are."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID, meta.TransferSyntaxUID = CT, uid, syntax
    fp = DicomBytesIO()
    fp.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(fp, meta, enforce_standard=True)
    path.write_bytes(fp.getvalue() + raw)
    return path


# ---------------------------------------------------------------------------- senders


@pytest.fixture
def raw_store(monkeypatch):
    """``raw_store(port, files, called)``: pynetdicom sends each file's data set bytes unchanged
    (its chunked mode) on one association; returns the statuses (None: no response)."""
    pynetdicom = pytest.importorskip("pynetdicom")
    monkeypatch.setattr(pynetdicom._config, "STORE_SEND_CHUNKED_DATASET", True)
    return send_files


def send_files(port: int, files: list[Path], called: str = "ANY-SCP") -> list[int | None]:
    from pynetdicom import AE

    ae = AE(ae_title="INTEGRITY")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    for syntax in (LEE, LEI, BEE, DEFLATED):
        ae.add_requested_context(CT, [syntax])
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    assert assoc.is_established, "no association"
    statuses: list[int | None] = []
    try:
        for path in files:
            rsp = assoc.send_c_store(path)
            statuses.append(rsp.Status if "Status" in rsp else None)
    finally:
        if assoc.is_established:
            assoc.release()
    return statuses


class Server:
    """One of our tools (or DCMTK's) listening, its log in a file."""

    def __init__(self, args: list[str], port: int, log: Path, umask: int | None = None) -> None:
        self.log = log
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, umask=-1 if umask is None else umask
            )
        wait_for_port(port, self.proc)

    def stop(self) -> str:
        """Stop it; returns everything it logged."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.log.read_text()


@pytest.fixture
def storescp(tmp_path):
    """``storescp(*options, tool=None, umask=None)``: a storescp (ours unless ``tool``) writing to a
    fresh -od; yields (port, output folder, Server)."""
    started: list[Server] = []

    def start(*options: str, tool: str | None = None, umask: int | None = None):
        port = free_port()
        out = tmp_path / f"od{len(started)}"
        out.mkdir()
        server = Server(
            [tool or ours("storescp"), *options, "-od", str(out), str(port)],
            port,
            out.parent / f"{out.name}.log",
            umask,
        )
        started.append(server)
        return port, out, server

    yield start
    for server in started:
        server.stop()


def leftovers(out: Path) -> list[str]:
    """Temporary files left in ``out`` (there must never be any)."""
    temporary = out / PART_FOLDER
    return [p.name for p in temporary.iterdir()] if temporary.is_dir() else []


# ---------------------------------------------------------------------------- storescp


BROKEN = list(broken("1.2.3"))


@pytest.mark.parametrize("case", BROKEN)
def test_storescp_refuses_a_broken_data_set_and_stores_the_next(raw_store, storescp, tmp_path, case):
    """A broken data set: 0xC000, an E: line naming the peer and what is wrong, no file (nor .part);
    the good object after it on the same association is stored."""
    port, out, server = storescp("+xd")
    syntax, raw = broken("1.2.3.1")[case]
    bad = part10(tmp_path / "bad.dcm", syntax, "1.2.3.1", raw)
    good = part10(tmp_path / "good.dcm", LEE, "1.2.3.2", encoded(dataset("1.2.3.2")))
    assert raw_store(port, [bad, good]) == [0xC000, 0x0000]
    log = server.stop()
    assert sorted(p.name for p in out.iterdir()) == ["CT.1.2.3.2"]
    assert dcmread(out / "CT.1.2.3.2").SOPInstanceUID == "1.2.3.2"
    refusal = [line for line in log.splitlines() if "refusing object" in line]
    assert len(refusal) == 1 and refusal[0].startswith("E: Peer 127.0.0.1:"), log
    assert "cannot understand data set: " in refusal[0]
    assert "Traceback" not in log


@pytest.mark.parametrize("case", list(sound("1.2.3")))
def test_storescp_keeps_what_other_readers_read(raw_store, storescp, tmp_path, case):
    """No false alarm: odd data sets that DCMTK reads are stored byte for byte."""
    port, out, server = storescp("+xd")
    syntax, raw = sound("1.2.3.5")[case]
    sent = part10(tmp_path / "sent.dcm", syntax, "1.2.3.5", raw)
    assert raw_store(port, [sent]) == [0x0000]
    assert "refusing" not in server.stop()
    stored = out / "CT.1.2.3.5"
    assert stored.read_bytes().endswith(raw)
    dump = run([dcmtk("dcmdump"), "+P", "PatientID", str(stored)])
    assert dump.returncode == 0 and "[INTEGRITY]" in dump.stdout, dump.stdout + dump.stderr


def test_storescp_refuses_broken_data_sets_one_after_another(raw_store, storescp, tmp_path):
    """Every broken case and a good object after each, all on one association."""
    port, out, server = storescp("+xd")
    files = []
    for i, (syntax, raw) in enumerate(broken("1.2.4").values()):
        files.append(part10(tmp_path / f"bad{i}.dcm", syntax, f"1.2.4.{i}", raw))
        good = f"1.2.5.{i}"
        files.append(part10(tmp_path / f"good{i}.dcm", LEE, good, encoded(dataset(good))))
    assert raw_store(port, files) == [0xC000, 0x0000] * len(BROKEN)
    assert server.stop().count("refusing object") == len(BROKEN)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"CT.1.2.5.{i}" for i in range(len(BROKEN)))


def _raw_store(port: int, uid: str, data: bytes, step: int) -> int:
    """A C-STORE over a raw socket, the data set in fragments of ``step`` bytes; the status."""
    with connect(port) as sock:
        sock.sendall(encode(build_request("RAW", "ANY-SCP", [(CT, [LEE])])))
        ac = read_pdu(sock)
        assert isinstance(ac, AssociateAC) and ac.contexts[0].result == 0
        ctx = ac.contexts[0].context_id
        sock.sendall(pdv(ctx, encode_command(c_store_rq(1, CT, uid)), True))
        for start in range(0, len(data), step):
            sock.sendall(pdv(ctx, data[start : start + step], False, start + step >= len(data)))
        return decode_command(bytes(read_pdu(sock).pdvs[0].data)).Status


@pytest.mark.parametrize("step", [1, 7, 4096])
def test_storescp_judges_a_data_set_whatever_its_fragments(storescp, step):
    """Headers cut across fragments (down to one byte per PDV): the same verdicts."""
    port, out, server = storescp()
    assert _raw_store(port, "1.2.6.1", broken("1.2.6.1")["sequence-without-delimiter"][1], step) == 0xC000
    assert _raw_store(port, "1.2.6.2", broken("1.2.6.2")["length-past-end"][1], step) == 0xC000
    assert _raw_store(port, "1.2.6.3", encoded(dataset("1.2.6.3")), step) == 0x0000
    server.stop()
    assert sorted(p.name for p in out.iterdir()) == ["CT.1.2.6.3"]


def test_storescp_ignore_does_not_check(raw_store, storescp, tmp_path):
    """--ignore receives and forgets without walking the data set (as DCMTK's --ignore does not
    parse it): even a broken one is answered Success, nothing is written."""
    port, out, server = storescp("--ignore")
    syntax, raw = broken("1.2.7.1")["length-past-end"]
    assert raw_store(port, [part10(tmp_path / "bad.dcm", syntax, "1.2.7.1", raw)]) == [0x0000]
    assert "refusing" not in server.stop()
    assert list(out.iterdir()) == []


def test_storescp_takes_dcmtks_deflated_stream(storescp):
    """DCMTK's storescu compressing with its own zlib settings (-xd): inflated, walked and kept."""
    port, out, server = storescp("+xd")
    done = run([dcmtk("storescu"), "-xd", "127.0.0.1", str(port), str(CT_SMALL)])
    assert done.returncode == 0, done.stderr
    assert "refusing" not in server.stop()
    (stored,) = out.iterdir()
    assert read_part10_header(stored).transfer_syntax == DEFLATED
    assert dcmread(stored).SOPInstanceUID == dcmread(CT_SMALL).SOPInstanceUID


# ---------------------------------------------------------------------------- movescu's Storage SCP


def _during_move(plan: dict, files: list[Path], statuses: list) -> None:
    """Before the move SCP's own sub-association: our files sent to movescu's port."""
    plan["before"] = lambda: statuses.extend(send_files(plan["destination_port"], files, "MOVESCU"))


def test_movescu_refuses_a_broken_data_set(raw_store, move_scp, tmp_path):
    """movescu's Storage SCP: the same check, the same answer (0xC000, nothing kept); the object
    after it and the moved object arrive."""
    out = tmp_path / "od"
    out.mkdir()
    syntax, raw = broken("1.2.8.1")["sequence-without-delimiter"]
    bad = part10(tmp_path / "bad.dcm", syntax, "1.2.8.1", raw)
    good = part10(tmp_path / "good.dcm", LEE, "1.2.8.2", encoded(dataset("1.2.8.2")))
    statuses: list = []
    _during_move(move_scp, [bad, good], statuses)
    move_scp["datasets"] = [dcmread(CT_SMALL)]
    done = hostile.movescu(move_scp, out)
    assert statuses == [0xC000, 0x0000]
    assert sorted(p.name for p in out.iterdir()) == sorted(["CT.1.2.8.2", f"CT.{dcmread(CT_SMALL).SOPInstanceUID}"])
    assert "E: Peer 127.0.0.1:" in done.stderr and "cannot understand data set: " in done.stderr
    assert "Traceback" not in done.stderr
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------------------- file modes


UMASKS = [pytest.param(0o022, 0o644, id="umask-022"), pytest.param(0o077, 0o600, id="umask-077")]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("umask", "expected"), UMASKS)
def test_storescp_file_mode_follows_the_umask_as_dcmtks(storescp, umask, expected):
    """Under umask 022 a received file is 0644 (another user's importer can read it), under 077
    0600: what DCMTK's storescp writes under the same umask."""
    modes = {}
    for tool in (dcmtk("storescp"), None):
        port, out, server = storescp(tool=tool, umask=umask)
        done = run([dcmtk("storescu"), "127.0.0.1", str(port), str(CT_SMALL)])
        assert done.returncode == 0, done.stderr
        server.stop()
        (stored,) = out.iterdir()
        modes[tool or "ours"] = _mode(stored)
    assert modes == {dcmtk("storescp"): expected, "ours": expected}


@pytest.mark.parametrize(("umask", "expected"), UMASKS)
def test_storescp_file_mode_when_the_temporary_name_is_taken(storescp, umask, expected):
    """The temporary name already there (the same object arriving twice at once): the random
    temporary file (mkstemp makes 0600) is given the umask's mode too; the other one is left alone."""
    port, out, server = storescp(umask=umask)
    uid = str(dcmread(CT_SMALL).SOPInstanceUID)
    host = temporary_prefix().split("-")[0]
    taken = out / PART_FOLDER / f"{host}-{server.proc.pid}-CT.{uid}"  # the name storescp tries first
    taken.parent.mkdir()
    taken.write_bytes(b"someone else's")
    done = run([dcmtk("storescu"), "127.0.0.1", str(port), str(CT_SMALL)])
    assert done.returncode == 0, done.stderr
    server.stop()
    assert _mode(out / f"CT.{uid}") == expected
    assert taken.read_bytes() == b"someone else's"
    assert sorted(p.name for p in out.iterdir()) == sorted([f"CT.{uid}", PART_FOLDER])
    assert [p.name for p in taken.parent.iterdir()] == [taken.name]


@pytest.mark.parametrize(("umask", "expected"), UMASKS)
@pytest.mark.parametrize("options", [[], ["+te"], ["+td"]], ids=["as-received", "re-encoded", "deflated"])
def test_movescu_file_mode_follows_the_umask(move_scp, tmp_path, options, umask, expected):
    """movescu's objects, written as received or re-encoded (+te, +td: a second temporary file)."""
    out = tmp_path / "od"
    out.mkdir()
    move_scp["datasets"] = [dcmread(CT_SMALL)]
    listen = free_port()
    move_scp["destination_port"] = listen
    args = move_study_args(ours("movescu"), "HOSTILE-QR", move_scp["port"], listen, out, *options)
    done = run(args, umask=umask)
    assert done.returncode == 0, done.stderr
    (stored,) = out.iterdir()
    assert _mode(stored) == expected
    if options == ["+td"]:
        assert read_part10_header(stored).transfer_syntax == DEFLATED


# ---------------------------------------------------------------------------- port probes


def _probe(port: int, data: bytes = b"") -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)


@pytest.mark.parametrize("tool", ["dcmtk", "ours"])
def test_port_probe_is_not_an_error(storescp, tool):
    """connect + close, then a real echo and store: at the default level nothing is logged about
    the probe (as DCMTK's storescp); the association after it works."""
    port, out, server = storescp(tool=dcmtk("storescp") if tool == "dcmtk" else None)
    _probe(port)
    echo = run([dcmtk("echoscu"), "127.0.0.1", str(port)])
    assert echo.returncode == 0, echo.stderr
    assert run([dcmtk("storescu"), "127.0.0.1", str(port), str(CT_SMALL)]).returncode == 0
    assert server.stop() == ""
    assert len(list(out.iterdir())) == 1


def test_port_probe_is_logged_in_debug_mode(storescp):
    port, _, server = storescp("-d")
    _probe(port)
    assert run([dcmtk("echoscu"), "127.0.0.1", str(port)]).returncode == 0
    log = server.stop()
    assert f"I: {PROBE_LINE}" in log
    assert "E:" not in log


def test_request_cut_short_is_still_an_error(storescp):
    """Not a probe: the first bytes of an A-ASSOCIATE-RQ, then close (DCMTK: E: ... DUL network closed)."""
    port, _, server = storescp()
    _probe(port, bytes([1, 0, 0, 0, 0, 0xCD, 0, 1]))
    assert run([dcmtk("echoscu"), "127.0.0.1", str(port)]).returncode == 0
    log = server.stop()
    assert log.startswith("E: ") and PROBE_LINE not in log


@pytest.mark.parametrize("level", [[], ["-d"]], ids=["default", "debug"])
def test_movescu_port_probe(move_scp, tmp_path, level):
    """The same on movescu's Storage SCP port, probed during the move."""
    out = tmp_path / "od"
    out.mkdir()
    move_scp["datasets"] = [dcmread(CT_SMALL)]
    move_scp["before"] = lambda: _probe(move_scp["destination_port"])
    done = hostile.movescu(move_scp, out, *level)
    assert done.returncode == 0, done.stderr
    assert len(list(out.iterdir())) == 1
    if level:
        assert f"I: {PROBE_LINE}" in done.stderr
    else:
        assert done.stderr == ""


# ---------------------------------------------------------------------------- the checker itself


def _verdict(error) -> type | None:
    return None if error is None else type(error)


def scan_verdict(data: bytes, implicit: bool, little: bool) -> type | None:
    try:
        scan(io.BytesIO(data), 0, len(data), implicit, little)
    except (Truncated, Garbled) as exc:
        return type(exc)
    return None


def fed(data: bytes, cuts: list[int], **encoding) -> type | None:
    """The checker's verdict on ``data`` fed in pieces cut at ``cuts``."""
    checker = StructureChecker(**encoding)
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        checker.feed(memoryview(bytearray(data[start:cut])))  # writable views, as the channel's
        start = cut
    return _verdict(checker.close())


def _samples() -> list[tuple[str, str, bytes]]:
    """(name, transfer syntax, data set bytes) of pydicom's bundled Part 10 files."""
    found = []
    for path in sorted(SAMPLES.glob("*.dcm")):
        try:
            header = read_part10_header(path)
        except BadDicomFile:
            continue
        data = path.read_bytes()[header.dataset_offset : header.dataset_offset + header.dataset_length]
        found.append((path.name, header.transfer_syntax, data))
    return found


SAMPLE_SETS = _samples()
NATIVE = [s for s in SAMPLE_SETS if s[1] != DEFLATED]
SMALL = [s for s in NATIVE if len(s[2]) < 20_000]


def _encoding(syntax: str) -> dict:
    return {"implicit": syntax == LEI, "little": syntax != BEE}


@pytest.mark.parametrize(("name", "syntax", "data"), NATIVE, ids=[s[0] for s in NATIVE])
def test_checker_agrees_with_scan_on_pydicoms_files(name, syntax, data):
    """Every bundled file (the truncated and garbled ones too): scan's verdict, whole or in pieces."""
    encoding = _encoding(syntax)
    expected = scan_verdict(data, **encoding)
    assert fed(data, [], **encoding) is expected
    assert fed(data, list(range(0, len(data), 1000)), **encoding) is expected
    assert fed(data, list(range(0, min(len(data), 3000))), **encoding) is expected  # byte by byte at first


def test_deflated_sample_passes_and_its_truncations_do_not():
    (data,) = [s[2] for s in SAMPLE_SETS if s[1] == DEFLATED]
    assert check(data, DEFLATED) is None
    for cut in range(1, len(data) - 2, max(1, len(data) // 50)):
        assert isinstance(check(data[:cut], DEFLATED), Undeflatable | Truncated | Garbled), cut


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_split_gives_scans_verdict(data):
    """Random bytes, or a bundled file's data set damaged at random (cut, bytes overwritten or
    inserted, a delimiter or undefined length planted): for any split into pieces the checker
    says what scan says on the whole."""
    if data.draw(st.booleans(), "random"):
        raw, encoding = (
            data.draw(st.binary(max_size=400), "bytes"),
            _encoding(data.draw(st.sampled_from([LEE, LEI, BEE]))),
        )
    else:
        _, syntax, raw = data.draw(st.sampled_from(SMALL), "sample")
        raw, encoding = bytearray(raw), _encoding(syntax)
        for _ in range(data.draw(st.integers(0, 3), "damages")):
            at = data.draw(st.integers(0, len(raw)), "at")
            how = data.draw(st.sampled_from(["cut", "overwrite", "insert", "plant"]), "how")
            if how == "cut":
                del raw[at:]
            elif how == "overwrite":
                raw[at : at + 4] = data.draw(st.binary(min_size=1, max_size=4))
            elif how == "insert":
                raw[at:at] = data.draw(st.binary(min_size=1, max_size=12))
            else:
                planted = [b"\xff\xff\xff\xff", b"\xfe\xff\x00\xe0", b"\xfe\xff\x0d\xe0", b"\xfe\xff\xdd\xe0"]
                raw[at : at + 4] = data.draw(st.sampled_from(planted))
        raw = bytes(raw)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=40), "cuts")
    assert fed(raw, cuts, **encoding) is fed(raw, [], **encoding) is scan_verdict(raw, **encoding)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_deflated_verdict_does_not_depend_on_the_split(data):
    syntax, raw = data.draw(st.sampled_from(list(broken("1.2.9").values()) + list(sound("1.2.9").values())))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=20)))
    checker, whole = checker_for(syntax), check(raw, syntax)
    start = 0
    for cut in [*cuts, len(raw)]:
        checker.feed(raw[start:cut])
        start = cut
    assert _verdict(checker.close()) is _verdict(whole)


def test_inflating_is_bounded_whatever_the_ratio():
    """64 MB of zeros in one element, deflated to ~64 KB: walked INFLATE_STEP bytes at a time
    at most, never held whole."""
    size = 64 << 20
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [packer.compress(b"\xe0\x7f\x10\x00OB\0\0" + struct.pack("<L", size))]
    zeros = bytes(1 << 20)
    parts += [packer.compress(zeros) for _ in range(size // len(zeros))]
    stream = b"".join(parts) + packer.flush()
    biggest = 0

    class Watched(StructureChecker):
        def _walk_piece(self, piece) -> None:
            nonlocal biggest
            biggest = max(biggest, len(piece))
            super()._walk_piece(piece)

    checker = Watched(deflated=True)
    for start in range(0, len(stream), 16384):
        assert checker.feed(stream[start : start + 16384])
    assert checker.close() is None
    assert 0 < biggest <= INFLATE_STEP


def test_private_transfer_syntax_is_not_judged():
    assert checker_for("1.2.840.113619.5.2") is None  # GE's implicit big endian: not ours to read
    assert checker_for("1.2.840.10008.1.2.4.50") is not None  # encapsulated: explicit VR little endian


def test_our_sinks_have_what_the_acceptor_uses(tmp_path):
    """dimse.Sink names what the acceptor calls on a store_sink's result; FileSink and NullSink
    have all of it, and say whether the data set is walked on its way (a NullSink's is not)."""
    assert "Sink" in dimse.__all__
    kept = FileSink(str(tmp_path / "kept"))
    try:
        for sink in (kept, NullSink()):
            assert all(callable(getattr(sink, name)) for name in ("write", "commit", "discard"))
        assert kept.check_structure is True and NullSink().check_structure is False
    finally:
        kept.discard()
    assert list(tmp_path.iterdir()) == []
