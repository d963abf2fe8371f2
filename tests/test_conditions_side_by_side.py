"""Failure conditions side by side: DCMTK's binary (/usr/bin/<tool>, "DCMTK") and ours (the
console script in the venv, "ours") run with the same arguments; their F:/E: lines (or the
command-line ``error:`` line) and exit codes must be the same.

The peers are plain sockets: one that completes the TCP handshake and never answers (the
kernel accepts into the listen queue, nobody reads), and one whose accept queue is full
(``listen(0)`` plus one connection that fills it: Linux then drops further SYNs, so a
connect stays "in progress" until the tool's ``-to`` expires).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Iterator

import pytest

from .conftest import CT_SMALL, dcmtk, free_port, ours, run, running, wait_for_port

NO_SUCH_HOST = "no-such-host.invalid"
CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
STUDY_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
UNCOMPRESSED_TS = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"]

#: what each SCU needs after "peer port" besides options
TRAILING = {
    "storescu": [str(CT_SMALL)],
    "echoscu": [],
    "movescu": ["-k", "QueryRetrieveLevel=STUDY"],
}
LONG_AET, LONG_AEC, LONG_AEM = "ABCDEFGHIJKLMNOPQRST", "0123456789abcdefXYZ", "DESTINATION-1234-EXTRA"


def condition_lines(text: str) -> list[str]:
    """The F:/E: lines (movescu gives the reason of a failed request a line of its own) and a
    command-line ``error:`` line."""
    return [line for line in text.splitlines() if line.startswith(("F:", "E:", "error:"))]


def both(tool: str, args: list[str], timeout: float = 30):
    """(DCMTK's result, ours) for ``tool`` with ``args``."""
    return run([dcmtk(tool), *args], timeout=timeout), run([ours(tool), *args], timeout=timeout)


def assert_same_condition(theirs, mine, expected: list[str], code: int) -> None:
    assert condition_lines(theirs.stderr) == expected, theirs.stderr  # the premise: DCMTK says this
    assert theirs.returncode == code
    assert condition_lines(mine.stderr) == expected, mine.stderr
    assert mine.returncode == code


def request_failed(tool: str, reason: str) -> list[str]:
    if tool == "movescu":
        return ["F: Association Request Failed:", f"F: {reason}"]
    return [f"F: Association Request Failed: {reason}"]


REQUEST_FAILED_CODE = {"storescu": 1, "echoscu": 1, "movescu": 61}


@contextlib.contextmanager
def silent_peer() -> Iterator[int]:
    """A port whose connections are accepted by the kernel and never read nor answered."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@contextlib.contextmanager
def unaccepting_peer() -> Iterator[int]:
    """A port whose accept queue is full: a connect to it never completes."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):  # fills the queue
            yield port


@pytest.mark.parametrize("tool", list(TRAILING))
def test_unknown_host(tool):
    """DCMTK <tool> and our <tool> towards a name that does not resolve."""
    theirs, mine = both(tool, [NO_SUCH_HOST, "104", *TRAILING[tool]])
    reason = f"0006:0320 Attempt to connect to unknown host: {NO_SUCH_HOST}"
    assert_same_condition(theirs, mine, request_failed(tool, reason), REQUEST_FAILED_CODE[tool])


@pytest.mark.parametrize("tool", list(TRAILING))
def test_acse_timeout_peer_never_answers(tool):
    """DCMTK <tool> and our <tool> with ``-ta 1`` towards a peer that takes the connection and
    never answers the A-ASSOCIATE-RQ."""
    with silent_peer() as port:
        theirs, mine = both(tool, ["-ta", "1", "127.0.0.1", str(port), *TRAILING[tool]])
    reason = "0006:031a DUL network read timeout"
    assert_same_condition(theirs, mine, request_failed(tool, reason), REQUEST_FAILED_CODE[tool])


@pytest.mark.parametrize("tool", list(TRAILING))
def test_connect_timeout_peer_never_accepts(tool):
    """DCMTK <tool> and our <tool> with ``-to 1`` towards a port whose accept queue is full."""
    with unaccepting_peer() as port:
        theirs, mine = both(tool, ["-to", "1", "127.0.0.1", str(port), *TRAILING[tool]])
    reason = "0006:031c TCP Initialization Error: Operation now in progress (Timeout)"
    assert_same_condition(theirs, mine, request_failed(tool, reason), REQUEST_FAILED_CODE[tool])


@pytest.mark.parametrize(
    ("tool", "args", "expected", "code"),
    [
        ("storescp", [], "E: cannot create network: 0006:031c TCP Initialization Error: Address already in use", 1),
        (
            "movescu",
            ["-k", "QueryRetrieveLevel=STUDY", "127.0.0.1", "1", "--port"],
            "F: cannot create network: 0006:031c TCP Initialization Error: Address already in use",
            60,
        ),
    ],
    ids=["storescp", "movescu"],
)
def test_listen_port_in_use(tool, args, expected, code, tmp_path):
    """DCMTK <tool> and our <tool> asked to listen on a port another socket holds."""
    with silent_peer() as port:
        theirs, mine = both(tool, ["-od", str(tmp_path), *args, str(port)], timeout=15)
    assert_same_condition(theirs, mine, [expected], code)


# ----------------------------------------------------------------------------- option values

LATE_OPTION_CASES = [
    ("storescu", ["-pdu", "100"], "error: Invalid value for option --max-pdu (underflow: 100)"),
    ("storescu", ["--max-send-pdu", "100"], "error: Invalid value for option --max-send-pdu (underflow: 100)"),
    ("storescu", ["--max-send-pdu", "200000"], "error: Invalid value for option --max-send-pdu (overflow: 200000)"),
    ("storescu", ["--max-send-pdu", "-1"], "error: Invalid value for option --max-send-pdu (-1)"),
    ("storescu", ["-pdu", "0x1000"], "error: Invalid value for option --max-pdu (underflow: 0x1000)"),
    ("echoscu", ["-to", "0"], "error: Invalid value for option --timeout (underflow: 0)"),
    ("echoscu", ["-ta", "0"], "error: Invalid value for option --acse-timeout (underflow: 0)"),
    ("echoscu", ["-ts", "-2"], "error: Invalid value for option --socket-timeout (underflow: -2)"),
    ("echoscu", ["-td", "0"], "error: Invalid value for option --dimse-timeout (underflow: 0)"),
    ("movescu", ["-to", "0"], "error: Invalid value for option --timeout (underflow: 0)"),
    ("movescu", ["-td", "0"], "error: Invalid value for option --dimse-timeout (underflow: 0)"),
    ("movescu", ["--cancel", "-1"], "error: Invalid value for option --cancel (underflow: -1)"),
    ("movescu", ["--repeat", "-1"], "error: Invalid value for option --repeat (-1)"),
    ("movescu", ["-pdu", "0400000"], "error: Invalid value for option --max-pdu (overflow: 0400000)"),
]


@pytest.mark.parametrize(
    ("tool", "args", "expected"), LATE_OPTION_CASES, ids=[f"{t} {' '.join(a)}" for t, a, _ in LATE_OPTION_CASES]
)
def test_bad_option_value_before_any_work(tool, args, expected):
    """DCMTK <tool> and our <tool> at -v with one bad numeric option: DCMTK's error line and
    exit 1, and no I: line (nothing was done) -- wherever the option is used."""
    with silent_peer() as port:
        theirs, mine = both(tool, ["-v", *args, "127.0.0.1", str(port), *TRAILING[tool]], timeout=15)
    assert_same_condition(theirs, mine, [expected], 1)
    assert not [line for line in mine.stderr.splitlines() if line.startswith("I:")], mine.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-od", "/nonexistent", "-ta", "0"], "error: Invalid value for option --acse-timeout (underflow: 0)"),
        (["-pdu", "-1"], "error: Invalid value for option --max-pdu (-1)"),
        (["-v"], "error: Invalid parameter value 0x68 (underflow)"),  # the port parameter
    ],
    ids=["value before directory", "unsigned", "hex port"],
)
def test_storescp_bad_value_before_anything(args, expected):
    """DCMTK storescp and our storescp: the option error comes first (DCMTK refuses "0x68" as a
    port: it reads 0; we used to listen on port 104)."""
    port = "0x68" if expected.endswith("(underflow)") else str(free_port())
    theirs, mine = both("storescp", [*args, port], timeout=10)
    assert_same_condition(theirs, mine, [expected], 1)


# ----------------------------------------------------------------------------- AE titles


def _ae_lines(log: str) -> list[str]:
    """storescp's calling/called AE lines (not the empty ones of the fixture's port probe)."""
    names = ("D: Calling Application Name:", "D: Called Application Name:")
    return [line for line in log.splitlines() if line.startswith(names) and line.split(":", 2)[2].strip()]


@pytest.mark.parametrize("tool", ["storescu", "echoscu"])
def test_long_ae_titles_cut_to_16(tool, tmp_path):
    """DCMTK <tool> then our <tool> with 20-character -aet/-aec -> DCMTK storescp -d: both go on
    (exit 0, no warning) and storescp sees the first 16 characters of each."""
    port = free_port()
    args = ["-aet", LONG_AET, "-aec", LONG_AEC, "127.0.0.1", str(port), *TRAILING[tool]]
    out, log_file = tmp_path / "out", tmp_path / "storescp.log"
    out.mkdir()
    with log_file.open("w") as sink:  # -d says too much for a pipe nobody reads meanwhile
        scp = subprocess.Popen([dcmtk("storescp"), "-d", "-od", str(out), str(port)], stdout=sink, stderr=sink)
        try:
            wait_for_port(port, scp)
            theirs = run([dcmtk(tool), *args])
            mine = run([ours(tool), *args])
        finally:
            scp.terminate()
            scp.wait(timeout=10)
    log = log_file.read_text()
    for result in (theirs, mine):
        assert result.returncode == 0, result.stderr
        assert not [line for line in result.stderr.splitlines() if line[:2] in ("W:", "E:", "F:")], result.stderr
    expected = [
        f"D: Calling Application Name:    {LONG_AET[:16]}",
        f"D: Called Application Name:     {LONG_AEC[:16]}",
    ]
    assert _ae_lines(log) == expected * 4  # request and negotiated parameters, per association
    if tool == "storescu":
        assert len(list(out.iterdir())) == 1  # DCMTK's and our copy of the same object


@contextlib.contextmanager
def pynetdicom_acceptor(handlers: list, contexts: dict[str, list[str]], max_pdu: int = 16384) -> Iterator[int]:
    """A pynetdicom AE serving ``contexts`` with ``handlers`` (pynetdicom events) on a free port."""
    pytest.importorskip("pynetdicom")
    from pynetdicom import AE

    ae = AE(ae_title="PYNETDICOM")
    ae.maximum_pdu_size = max_pdu
    for uid, syntaxes in contexts.items():
        ae.add_supported_context(uid, syntaxes)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    try:
        yield server.socket.getsockname()[1]
    finally:
        server.shutdown()


def test_movescu_long_ae_titles_cut_to_16():
    """DCMTK movescu then our movescu with long -aet/-aec/-aem -> a pynetdicom C-MOVE SCP that
    knows no destination: the SCP sees the 16-character cuts, both exit 69 (error status)."""
    from pynetdicom import evt

    seen: list[tuple[str, str, str]] = []

    def on_move(event):
        destination = event.move_destination
        destination = destination.decode() if isinstance(destination, bytes) else destination
        requestor = event.assoc.requestor.primitive
        seen.append((requestor.calling_ae_title, requestor.called_ae_title, destination.strip()))
        yield None, None  # unknown destination: 0xA801

    with pynetdicom_acceptor([(evt.EVT_C_MOVE, on_move)], {STUDY_MOVE: UNCOMPRESSED_TS}) as port:
        args = ["-S", "-aet", LONG_AET, "-aec", LONG_AEC, "-aem", LONG_AEM, "127.0.0.1", str(port)]
        theirs, mine = both("movescu", [*args, "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID=1.2.3"])
    assert (theirs.returncode, mine.returncode) == (69, 69), (theirs.stderr, mine.stderr)
    assert seen == [(LONG_AET[:16], LONG_AEC[:16], LONG_AEM[:16])] * 2


def test_storescp_long_ae_title_cut_to_16(tmp_path):
    """DCMTK storescp and our storescp take a 20-character -aet and serve (DCMTK echoscu gets
    exit 0 from both); ours with --check-called-aetitle accepts a call to its 16-character cut."""
    for server in (
        [dcmtk("storescp"), "-aet", LONG_AET],
        [ours("storescp"), "-aet", LONG_AET],
        [ours("storescp"), "-aet", LONG_AET, "--check-called-aetitle"],
    ):
        port = free_port()
        with running([*server, "-od", str(tmp_path), str(port)], port):
            echo = run([dcmtk("echoscu"), "-aec", LONG_AET[:16], "127.0.0.1", str(port)])
        assert echo.returncode == 0, (server, echo.stderr)


# ----------------------------------------------------------------------------- --max-send-pdu


def test_max_send_pdu_logs_peer_figure_and_sends_small_fragments():
    """DCMTK storescu then our storescu with --max-send-pdu 4096 -> pynetdicom SCP (max PDU
    16384): both log "Max Send PDV: 16372" (the peer's figure) and no P-DATA-TF they send is
    longer than 4096 bytes; the largest is 4096 for both."""
    from pynetdicom import evt

    sizes: list[int] = []

    def on_pdu(event):
        if type(event.pdu).__name__ == "P_DATA_TF":
            sizes.append(len(event.pdu))

    largest = {}
    with pynetdicom_acceptor(
        [(evt.EVT_PDU_RECV, on_pdu), (evt.EVT_C_STORE, lambda event: 0)], {CT_CLASS: UNCOMPRESSED_TS}
    ) as port:
        results = {}
        for name, tool in (("theirs", dcmtk("storescu")), ("mine", ours("storescu"))):
            sizes.clear()
            results[name] = run([tool, "-v", "--max-send-pdu", "4096", "127.0.0.1", str(port), str(CT_SMALL)])
            largest[name] = max(sizes)
    for name, result in results.items():
        assert result.returncode == 0, result.stderr
        assert "I: Association Accepted (Max Send PDV: 16372)" in result.stderr.splitlines(), (name, result.stderr)
    assert largest == {"theirs": 4096, "mine": 4096}
