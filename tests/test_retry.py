"""storescu ``--retry``: transient failures go out again on a new association after a short
wait, permanent ones are tried once as DCMTK tries them; and the rules of
:mod:`dimse.store.retry` (what is transient, how long each wait is).

The sender is always our storescu (DCMTK's has no ``--retry``); DCMTK's storescu is run against
the same peer wherever its exit code and ``F:`` lines are the reference.  Peers, all on
loopback: a plain-socket SCP serving one association after another as each test's plan says
(rejecting, hanging up, answering, aborting with stores in flight), pynetdicom's Storage SCP
(statuses, a response that comes too late), DCMTK's storescp ``--refuse``, and our storescp and
DCMTK's killed and restarted in the middle of a run.  Every first wait is ``--retry-wait
0.05`` (then 0.1 s, 0.2 s ...), so no run waits long.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import random
import re
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple

import pytest
from pydicom import dcmread

from dimse.codes import (
    REASON_CALLED_AE,
    REASON_CONGESTION,
    REASON_LOCAL_LIMIT,
    REASON_NO_REASON,
    REJECT_PERMANENT,
    REJECT_TRANSIENT,
    SOURCE_PRESENTATION,
    SOURCE_USER,
)
from dimse.core.commands import Command
from dimse.core.negotiation import AcceptorPolicy, negotiate
from dimse.core.pdu import Abort, AssociateAC, AssociateRJ, PDataTF, encode
from dimse.errors import (
    AssociationAborted,
    AssociationRejected,
    NetworkTimeout,
    NoPresentationContext,
    PDUError,
    PeerRequestedRelease,
    UnknownHost,
)
from dimse.files.part10 import BadDicomFile, SourceChanged
from dimse.net.errors import (
    ConnectionFailed,
    ConnectionLost,
    InvalidRequest,
    PeerSilent,
    TLSCertificateRejected,
    TLSFailed,
)
from dimse.store.retry import JITTER, MAX_WAIT, RetryPolicy, transient_error, transient_status
from dimse.store.sender import Outcome

from .conftest import MR_SMALL, dcmtk, free_port, ours, run, running
from .corpus import EXPLICIT, IMPLICIT
from .rawpeer import WAIT, read_pdu
from .test_async_window import make_files
from .test_broken_peers import Peer
from .test_input_integrity import ct_copies
from .test_storescu import UNCOMPRESSED_TS, pynetdicom_scp

CT = "1.2.840.10008.5.1.4.1.1.2"
RETRY_WAIT = "0.05"  # the first wait of every retrying run here
TOOL_TIMEOUT = 30  # a hang fails the test; no run here takes more than a few seconds


# ---------------------------------------------------------------------------- helpers


def objects(tmp_path: Path, count: int) -> list[Path]:
    """``count`` small CT objects (distinct SOP Instance UIDs), in the order storescu sends them."""
    return make_files(tmp_path / "in", count, 256)


def instance_uids(files: list[Path]) -> list[str]:
    return [str(dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in files]


def storescu(*args: object) -> subprocess.CompletedProcess:
    """Our storescu."""
    return run([ours("storescu"), *map(str, args)], timeout=TOOL_TIMEOUT)


def dcmtk_storescu(*args: object) -> subprocess.CompletedProcess:
    """DCMTK's storescu: the reference for exit codes and F: lines."""
    return run([dcmtk("storescu"), *map(str, args)], timeout=TOOL_TIMEOUT)


def lines(stderr: str, prefix: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(prefix)]


class Retry(NamedTuple):
    """One ``I: Retrying n file(s) in x s (attempt k of N): reason`` line."""

    files: int
    attempt: int
    of: int
    reason: str


RETRYING = re.compile(r"^I: Retrying (\d+) file\(s\) in \d+\.\d s \(attempt (\d+) of (\d+)\): (.+)$")


def retries(stderr: str) -> list[Retry]:
    """The Retrying lines, parsed (a line of another shape fails the test)."""
    found = []
    for line in lines(stderr, "I: Retrying"):
        match = RETRYING.match(line)
        assert match, line
        found.append(Retry(int(match[1]), int(match[2]), int(match[3]), match[4]))
    return found


def report(path: Path) -> dict:
    return json.loads(path.read_text())


def attempts(path: Path) -> dict[str, int]:
    """``--report``: each file's name and the attempt that gave its final outcome."""
    return {Path(r["path"]).name: r["attempts"] for r in report(path)["files"]}


# ---------------------------------------------------------------------------- a plain-socket SCP

@dataclass(frozen=True)
class HangUp:
    """A plan's step: close the connection without answering the A-ASSOCIATE-RQ, after
    ``after`` seconds of silence."""

    after: float = 0.0


Script = Callable[[Peer, "RawSCP", int], None]


class RawSCP:
    """A CT storage SCP made of a plain socket, serving associations one after another in a
    thread: ``plan(n)`` gives the n-th (from 1) an A-ASSOCIATE-RJ, a :class:`HangUp`, or a
    script run once it is accepted (with an operations window of 16).  It counts the
    associations requested and keeps each C-STORE-RQ it read (association number, SOP
    Instance UID) and each instance it answered with success.  An error in a script fails
    the test."""

    def __init__(self, plan: Callable[[int], AssociateRJ | HangUp | Script]) -> None:
        self.plan = plan
        self.policy = AcceptorPolicy(transfer_syntaxes={CT: [EXPLICIT, IMPLICIT]}, async_ops=(16, 1))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.associations = 0
        self.requests: list[tuple[int, str]] = []
        self.stored: list[str] = []
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RawSCP:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(WAIT)
        self.listener.close()
        assert not self._thread.is_alive(), "the raw SCP did not finish"
        if self._error is not None:
            raise self._error

    def requested_in(self, association: int) -> list[str]:
        """The SOP Instance UIDs of the C-STORE-RQs read on the ``association``-th association."""
        return [uid for n, uid in self.requests if n == association]

    def take(self, peer: Peer, n: int) -> tuple[int, Command] | None:
        """The next C-STORE-RQ (its data set read and dropped), recorded; None once the tool
        ended the association."""
        got = peer.request()
        if got is not None:
            self.requests.append((n, got[1].AffectedSOPInstanceUID))
        return got

    def _serve(self) -> None:
        self.listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            try:
                with sock:
                    sock.settimeout(WAIT)
                    # no Nagle: a response it holds back for an acknowledgement would be
                    # thrown away by the reset of a close with requests unread (an abort script)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self._one(sock)
            except BaseException as exc:  # seen by the test in __exit__
                self._error = exc
                return

    def _one(self, sock: socket.socket) -> None:
        rq = read_pdu(sock)
        if rq is None:
            return
        self.associations += 1
        step = self.plan(self.associations)
        if isinstance(step, AssociateRJ):
            sock.sendall(encode(step))
        elif isinstance(step, HangUp):
            time.sleep(step.after)
        else:
            answer = negotiate(rq, self.policy)
            assert isinstance(answer, AssociateAC)
            sock.sendall(encode(answer))
            step(Peer(sock), self, self.associations)


def answer_all(peer: Peer, scp: RawSCP, n: int) -> None:
    """Answer every C-STORE-RQ with success until the tool ends the association."""
    while (got := scp.take(peer, n)) is not None:
        context_id, rq = got
        peer.send(peer.answer(context_id, rq))
        scp.stored.append(rq.AffectedSOPInstanceUID)


def abort_after(answered: int, held: int) -> Script:
    """Answer ``answered`` C-STORE-RQs, read ``held`` more and leave them unanswered (in
    flight), then send A-ABORT and close."""

    def script(peer: Peer, scp: RawSCP, n: int) -> None:
        for index in range(answered + held):
            got = scp.take(peer, n)
            assert got is not None, f"the tool ended the association after {index} stores"
            if index < answered:
                context_id, rq = got
                peer.send(peer.answer(context_id, rq))
                scp.stored.append(rq.AffectedSOPInstanceUID)
        peer.send(encode(Abort()))

    return script


# ---------------------------------------------------------------------------- a pynetdicom SCP


class Statuses:
    """A pynetdicom C-STORE handler: answers ``status`` to the first ``times`` requests (to
    all of them when ``times`` is None) and success after; sleeps ``delay`` seconds before
    answering the first.  Counts the requests and the successes per SOP Instance UID, and
    the associations they came on."""

    def __init__(self, status: int, times: int | None = None, delay: float = 0.0) -> None:
        self.status, self.times, self.delay = status, times, delay
        self.requests: Counter[str] = Counter()
        self.stored: Counter[str] = Counter()
        self._associations: list[object] = []  # kept alive, so that their ids stay distinct
        self._lock = threading.Lock()

    @property
    def associations(self) -> int:
        return len({id(a) for a in self._associations})

    def __call__(self, event) -> int:
        uid = str(event.request.AffectedSOPInstanceUID)
        with self._lock:
            count = self.requests.total()
            self.requests[uid] += 1
            self._associations.append(event.assoc)
        if count == 0 and self.delay:
            time.sleep(self.delay)
        status = self.status if self.times is None or count < self.times else 0
        if status == 0:
            with self._lock:
                self.stored[uid] += 1
        return status


@contextlib.contextmanager
def pynetdicom_peer(handler: Statuses) -> Iterator[int]:
    """pynetdicom serving CT Image Storage with ``handler``; yields its port."""
    with pynetdicom_scp({CT: UNCOMPRESSED_TS}, handler) as port:
        yield port


# ---------------------------------------------------------------------------- association failures


def test_transient_rejections_then_accepted(tmp_path):
    """our storescu --retry 3 -> a raw SCP rejecting its first two associations
    (rejected-transient: local limit exceeded, then temporary congestion), accepting the
    third: every file stored once, exit 0, the peer saw three associations, each rejection is
    three W: lines and a Retrying line, no F: line, and --report gives attempt 3 to every file."""
    files = objects(tmp_path, 5)
    plan = {
        1: AssociateRJ(REJECT_TRANSIENT, SOURCE_PRESENTATION, REASON_LOCAL_LIMIT),
        2: AssociateRJ(REJECT_TRANSIENT, SOURCE_PRESENTATION, REASON_CONGESTION),
    }
    out = tmp_path / "report.json"
    with RawSCP(lambda n: plan.get(n, answer_all)) as scp:
        done = storescu("-v", "--retry", 3, "--retry-wait", RETRY_WAIT, "--report", out, "127.0.0.1", scp.port, *files)
    assert done.returncode == 0, done.stderr
    assert scp.associations == 3
    assert sorted(scp.stored) == sorted(instance_uids(files))
    reason = "association rejected (transient)"
    assert retries(done.stderr) == [Retry(5, 2, 4, reason), Retry(5, 3, 4, reason)]
    assert lines(done.stderr, "W: ") == [
        "W: Association Rejected:",
        "W: Result: Rejected Transient, Source: Service Provider (Presentation Related)",
        "W: Reason: Local Limit Exceeded",
        "W: Association Rejected:",
        "W: Result: Rejected Transient, Source: Service Provider (Presentation Related)",
        "W: Reason: Temporary Congestion",
    ]
    assert lines(done.stderr, "F: ") == lines(done.stderr, "E: ") == []
    summary = report(out)["summary"]
    assert (summary["files"], summary["succeeded"], summary["exit_code"]) == (5, 5, 0)
    assert set(attempts(out).values()) == {3}


def test_peer_hanging_up_before_answering_is_retried(tmp_path):
    """our storescu --retry 1 -> a raw SCP closing its first connection without answering the
    A-ASSOCIATE-RQ (a receiver going down), accepting the second: exit 0, the file stored,
    one W: Association Request Failed line and one Retrying line."""
    files = objects(tmp_path, 1)
    with RawSCP(lambda n: HangUp() if n == 1 else answer_all) as scp:
        done = storescu("-v", "--retry", 1, "--retry-wait", RETRY_WAIT, "127.0.0.1", scp.port, *files)
    assert done.returncode == 0, done.stderr
    assert scp.associations == 2
    assert scp.stored == instance_uids(files)
    assert [r[:3] for r in retries(done.stderr)] == [(1, 2, 2)]
    assert len(lines(done.stderr, "W: Association Request Failed: ")) == 1


def test_acse_timeout_is_retried(tmp_path):
    """our storescu -ta 1 --retry 2 -> a raw SCP silent for 1.5 s after the first
    A-ASSOCIATE-RQ (then it hangs up), accepting the second: the ACSE timeout is one W: line
    and one Retrying line, then every file is stored, exit 0."""
    files = objects(tmp_path, 2)
    with RawSCP(lambda n: HangUp(1.5) if n == 1 else answer_all) as scp:
        done = storescu("-v", "-ta", 1, "--retry", 2, "--retry-wait", RETRY_WAIT, "127.0.0.1", scp.port, *files)
    assert done.returncode == 0, done.stderr
    assert sorted(scp.stored) == sorted(instance_uids(files))
    timeout = "0006:031a DUL network read timeout"
    assert lines(done.stderr, "W: ") == [f"W: Association Request Failed: {timeout}"]
    assert retries(done.stderr) == [Retry(2, 2, 3, timeout)]


def test_transient_rejection_exhausted_ends_as_dcmtk(tmp_path):
    """DCMTK's storescu, ours without --retry and ours with --retry 2 -> a raw SCP that always
    rejects transiently: exit 1 and the same F: lines from all three; the peer saw one
    association from each of the first two and three from the retrying one, whose first two
    rejections are the same lines at W:."""
    files = objects(tmp_path, 2)
    always = AssociateRJ(REJECT_TRANSIENT, SOURCE_PRESENTATION, REASON_LOCAL_LIMIT)
    runs, seen = {}, {}
    for name, tool, extra in (
        ("dcmtk", dcmtk_storescu, ()),
        ("once", storescu, ()),
        ("retry", storescu, ("--retry", 2, "--retry-wait", RETRY_WAIT)),
    ):
        with RawSCP(lambda n: always) as scp:
            runs[name] = tool(*extra, "127.0.0.1", scp.port, *files)
        seen[name] = scp.associations
    assert seen == {"dcmtk": 1, "once": 1, "retry": 3}
    fatal = lines(runs["dcmtk"].stderr, "F: ")
    assert fatal[0] == "F: Association Rejected:"
    assert {name: done.returncode for name, done in runs.items()} == {"dcmtk": 1, "once": 1, "retry": 1}
    assert lines(runs["once"].stderr, "F: ") == lines(runs["retry"].stderr, "F: ") == fatal
    assert lines(runs["once"].stderr, "W: ") == []
    assert lines(runs["retry"].stderr, "W: ") == ["W: " + line[3:] for line in fatal] * 2


@pytest.mark.parametrize("peer", ["raw", "dcmtk-storescp"])
def test_permanent_rejection_is_not_retried(tmp_path, peer):
    """our storescu --retry 3 and DCMTK's storescu -> a raw SCP rejecting permanently (called
    AE title not recognized) or DCMTK's storescp --refuse (permanent, no reason): one
    association each, the same exit code (1) and F: lines, no Retrying line."""
    files = objects(tmp_path, 2)
    results, seen = {}, {}
    for name, tool, extra in (
        ("dcmtk", dcmtk_storescu, ()),
        ("ours", storescu, ("-v", "--retry", 3, "--retry-wait", RETRY_WAIT)),
    ):
        if peer == "raw":
            with RawSCP(lambda n: AssociateRJ(REJECT_PERMANENT, SOURCE_USER, REASON_CALLED_AE)) as scp:
                results[name] = tool(*extra, "127.0.0.1", scp.port, *files)
            seen[name] = scp.associations
        else:
            port = free_port()
            with running([dcmtk("storescp"), "-v", "--refuse", str(port)], port) as scp_process:
                results[name] = tool(*extra, "127.0.0.1", port, *files)
            assert scp_process.stdout is not None
            logged = scp_process.stdout.read()
            # the port probe of running() is refused too, but that reject cannot be sent
            seen[name] = logged.count("Refusing Association") - logged.count("Association Reject Failed")
    assert seen == {"dcmtk": 1, "ours": 1}
    theirs, mine = results["dcmtk"], results["ours"]
    assert mine.returncode == theirs.returncode == 1
    assert lines(mine.stderr, "F: ") == lines(theirs.stderr, "F: ")
    assert "F: Result: Rejected Permanent, Source: Service User" in mine.stderr
    assert retries(mine.stderr) == []


def test_refused_connection_exhausted_exits_as_without_retry(tmp_path):
    """our storescu --retry 2, our storescu and DCMTK's storescu -> a closed port: exit 1 and
    ``F: Association Request Failed: 0006:031c TCP Initialization Error: Connection refused``
    from all three; the retrying run tried three times (the same line at W: twice, and two
    Retrying lines, attempts 2 and 3 of 3)."""
    files = objects(tmp_path, 1)
    port = free_port()
    retried = storescu("-v", "--retry", 2, "--retry-wait", RETRY_WAIT, "127.0.0.1", port, *files)
    once = storescu("127.0.0.1", port, *files)
    theirs = dcmtk_storescu("127.0.0.1", port, *files)
    fatal = ["F: Association Request Failed: 0006:031c TCP Initialization Error: Connection refused"]
    assert lines(theirs.stderr, "F: ") == lines(once.stderr, "F: ") == lines(retried.stderr, "F: ") == fatal
    assert theirs.returncode == once.returncode == retried.returncode == 1
    assert lines(retried.stderr, "W: ") == ["W: " + fatal[0][3:]] * 2
    reason = "0006:031c TCP Initialization Error: Connection refused"
    assert retries(retried.stderr) == [Retry(1, 2, 3, reason), Retry(1, 3, 3, reason)]


# ---------------------------------------------------------------------------- a receiver restarted


def throttled_stderr(proc: subprocess.Popen) -> IO[str]:
    """``proc``'s stderr, its pipe shrunk to one page: the tool cannot log (and so cannot
    send) many files ahead of what the test has read."""
    assert proc.stderr is not None
    fcntl.fcntl(proc.stderr.fileno(), fcntl.F_SETPIPE_SZ, 4096)
    return proc.stderr


def read_until(stream: IO[str], text: str, count: int) -> list[str]:
    """Lines of ``stream`` up to the ``count``-th one containing ``text``."""
    got, seen = [], 0
    for line in stream:
        got.append(line)
        seen += text in line
        if seen >= count:
            return got
    raise AssertionError(f"the tool ended before {count} lines with {text!r}:\n{''.join(got)}")


def received_uids(folder: Path) -> set[str]:
    """The SOP Instance UIDs of the objects a storescp wrote to ``folder`` (its hidden folder of
    partial files is not looked at)."""
    return {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in folder.iterdir() if p.is_file()}


RESTART_CASES = {
    # receiver, storescu's options, number of files (DCMTK's storescp takes ~45 ms a file)
    "ours-window-halt": ("ours", (), 200),
    "ours-window-nh": ("ours", ("-nh",), 200),
    "ours-no-window-nh": ("ours", ("--async-window", "1", "-nh"), 200),
    "ours-parallel-2": ("ours", ("--parallel", "2"), 200),
    "dcmtk-halt": ("dcmtk", (), 40),
}


@pytest.mark.parametrize("case", list(RESTART_CASES))
def test_receiver_killed_and_restarted_mid_run(tmp_path, case):
    """our storescu --retry 8 -> our storescp (granting 16 outstanding C-STOREs, or used one
    at a time with --async-window 1; halting or -nh) or DCMTK's storescp, killed (SIGKILL)
    once storescu has logged ten responses and started again on the same port: every file
    ends stored at the receiver, exit 0, the log has Retrying lines and --report says every
    file succeeded, some at a later attempt.  storescu's stderr pipe is one page, so it is
    still sending when the receiver dies."""
    receiver, options, count = RESTART_CASES[case]
    files = objects(tmp_path, count)
    out = tmp_path / "out"
    out.mkdir()
    port = free_port()
    tool = dcmtk("storescp") if receiver == "dcmtk" else ours("storescp")
    server = [tool, "-od", str(out), str(port)]
    report_path = tmp_path / "report.json"
    sender_args = [ours("storescu"), "-v", *options, "--retry", "8", "--retry-wait", RETRY_WAIT]
    sender_args += ["--report", str(report_path), "127.0.0.1", str(port), *map(str, files)]
    with running(server, port) as first:
        sender = subprocess.Popen(sender_args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            head = read_until(throttled_stderr(sender), "Received Store Response", 10)
            first.kill()
            first.wait()
            with running(server, port):
                _, rest = sender.communicate(timeout=TOOL_TIMEOUT)
        finally:
            if sender.poll() is None:
                sender.kill()
                sender.wait()
    stderr = "".join(head) + rest
    assert sender.returncode == 0, stderr
    assert retries(stderr), stderr
    assert received_uids(out) == set(instance_uids(files))
    summary = report(report_path)["summary"]
    assert (summary["files"], summary["succeeded"]) == (count, count)
    assert max(attempts(report_path).values()) >= 2


# ---------------------------------------------------------------------------- peer aborts


@pytest.mark.parametrize("window", ["16", "1"])
@pytest.mark.parametrize("halt", [True, False], ids=["halt", "nh"])
def test_stores_in_flight_when_the_peer_aborts_are_sent_again(tmp_path, window, halt):
    """our storescu --retry 2 (--async-window 16 or 1; halting or -nh) -> a raw SCP whose first
    association answers three stores, reads more (five with a window, else one) without
    answering and aborts; the second answers everything.  Exactly the files not answered go
    out again, in order, on the second association (with a window, one more than fits was
    waiting for room when the abort came); each file is answered with success once, exit 0,
    one Retrying line, and --report gives attempt 1 to the three answered first, 2 to the rest."""
    files = objects(tmp_path, 30)
    uids = instance_uids(files)
    held = 5 if window == "16" else 1
    out = tmp_path / "report.json"
    first = abort_after(3, held)
    halting = () if halt else ("-nh",)
    with RawSCP(lambda n: first if n == 1 else answer_all) as scp:
        done = storescu(
            "-v", *halting, "--async-window", window, "--retry", 2, "--retry-wait", RETRY_WAIT,
            "--report", out, "127.0.0.1", scp.port, *files,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert scp.associations == 2
    assert scp.requested_in(1) == uids[: 3 + held]
    assert scp.requested_in(2) == uids[3:]
    assert sorted(scp.stored) == sorted(uids)
    assert attempts(out) == {f.name: 1 if i < 3 else 2 for i, f in enumerate(files)}
    assert [r[:3] for r in retries(done.stderr)] == [(27, 2, 3)]
    assert lines(done.stderr, "F: ") == []


@pytest.mark.parametrize("halt", [True, False], ids=["halt", "nh"])
def test_peer_aborts_exhausted_exit_as_without_retry(tmp_path, halt):
    """our storescu --retry 2 and our storescu (--async-window 1; halting or -nh) -> a raw SCP
    aborting every association on its first C-STORE: the same exit code (10 halting, 1 with
    -nh: DCMTK's with -nh too) and the same last lines; the retrying one used three
    associations, the other one."""
    files = objects(tmp_path, 3)
    halting = () if halt else ("-nh",)
    runs, seen = {}, {}
    for name, tool, extra in (
        ("once", storescu, ("--async-window", 1)),
        ("retry", storescu, ("--async-window", 1, "--retry", 2, "--retry-wait", RETRY_WAIT)),
        ("dcmtk", dcmtk_storescu, ()),
    ):
        with RawSCP(lambda n: abort_after(0, 1)) as scp:
            runs[name] = tool("-v", *halting, *extra, "127.0.0.1", scp.port, *files)
        seen[name] = scp.associations
    assert seen == {"once": 1, "retry": 3, "dcmtk": 1}
    once, retried = runs["once"], runs["retry"]
    assert retried.returncode == once.returncode == (10 if halt else 1)
    if not halt:  # halting, DCMTK's exit code after a peer abort is undefined (spec 4.1; 165 seen here)
        assert runs["dcmtk"].returncode == 1
    assert [r[:3] for r in retries(retried.stderr)] == [(3, 2, 3), (3, 3, 3)]
    final_attempt = retried.stderr.rsplit("I: Retrying", 1)[1].split("\n", 1)[1]
    assert failure_lines(final_attempt) == failure_lines(once.stderr)
    assert "I: Peer Aborted Association" in failure_lines(once.stderr)
    if not halt:  # as DCMTK, the files after the abort are each tried and fail
        assert failure_lines(once.stderr)[-1].startswith("E: 0006:0303")


def failure_lines(stderr: str) -> list[str]:
    """The E:/F:/W: lines and the INFO lines about the association's end."""
    return [line for line in stderr.splitlines() if line[:2] in ("E:", "F:", "W:") or "Abort" in line]


# ---------------------------------------------------------------------------- statuses


def fail_third(peer: Peer, scp: RawSCP, n: int) -> None:
    """Answer every C-STORE-RQ with success but the third, answered 0xC000."""
    index = 0
    while (got := scp.take(peer, n)) is not None:
        context_id, rq = got
        peer.send(peer.answer(context_id, rq, 0xC000 if index == 2 else 0))
        index += 1


@pytest.mark.parametrize("extra", [(), ("--retry", "2", "--retry-wait", RETRY_WAIT)], ids=["once", "retry"])
def test_halting_failure_is_not_undone_by_stores_in_flight(tmp_path, extra):
    """our storescu (an operations window of 16; with and without --retry 2) and DCMTK's
    storescu -> a raw SCP answering 0xC000 to the third C-STORE only: exit 192 (0xC0) from
    both, one association, no Retrying line.  Ours had more stores in flight when the
    failure came; their successes used to reset the halt, and ours exited 0."""
    files = objects(tmp_path, 30)
    results, asked = {}, {}
    for name, tool, options in (("ours", storescu, extra), ("dcmtk", dcmtk_storescu, ())):
        with RawSCP(lambda n: fail_third) as scp:
            results[name] = tool("-v", *options, "127.0.0.1", scp.port, *files)
        assert scp.associations == 1
        asked[name] = len(scp.requests)
    assert results["ours"].returncode == results["dcmtk"].returncode == 0xC0
    assert asked["dcmtk"] == 3 < asked["ours"] < len(files)  # ours stopped sending at the failure
    assert retries(results["ours"].stderr) == []



@pytest.mark.parametrize("halt", [True, False], ids=["halt", "nh"])
def test_out_of_resources_then_recovering(tmp_path, halt):
    """our storescu --retry 5 (halting or -nh) -> pynetdicom answering 0xA700 to its first three
    C-STOREs, then success: every file stored exactly once, exit 0; after each 0xA700 the
    files left wait for a new association (three Retrying lines naming the status), so
    --report gives attempt 4 to every file."""
    files = objects(tmp_path, 6)
    uids = instance_uids(files)
    handler = Statuses(0xA700, times=3)
    out = tmp_path / "report.json"
    halting = () if halt else ("-nh",)
    with pynetdicom_peer(handler) as port:
        done = storescu("-v", *halting, "--retry", 5, "--retry-wait", RETRY_WAIT, "--report", out, "127.0.0.1", port, *files)
    assert done.returncode == 0, done.stderr
    assert handler.stored == Counter(uids)
    assert handler.requests == Counter(uids) + Counter({uids[0]: 3})
    assert handler.associations == 4
    assert retries(done.stderr) == [Retry(6, k, 6, "status A700H") for k in (2, 3, 4)]
    assert set(attempts(out).values()) == {4}
    assert report(out)["summary"]["succeeded"] == 6


def test_out_of_resources_exhausted_exits_as_without_retry(tmp_path):
    """our storescu --retry 2, our storescu and DCMTK's storescu (halting) -> pynetdicom always
    answering 0xA700: exit 167 (0xA7) from all three; the retrying run asked three times for
    the first file and never for the second, and --report gives that file attempt 3 and its
    status."""
    files = objects(tmp_path, 2)
    uids = instance_uids(files)
    out = tmp_path / "report.json"
    handler = Statuses(0xA700)
    with pynetdicom_peer(handler) as port:
        retried = storescu("--retry", 2, "--retry-wait", RETRY_WAIT, "--report", out, "127.0.0.1", port, *files)
        asked = Counter(handler.requests)
        once = storescu("127.0.0.1", port, *files)
        theirs = dcmtk_storescu("127.0.0.1", port, *files)
    assert theirs.returncode == once.returncode == retried.returncode == 0xA7
    assert asked == Counter({uids[0]: 3})
    assert [(r["status"], r["attempts"], r["ok"]) for r in report(out)["files"]] == [(0xA700, 3, False)]


def test_out_of_resources_beside_a_file_changed_under_us_is_retried(tmp_path):
    """our storescu -nh --async-window 2 --retry 2 -> a raw SCP that reads two small CT files,
    answers the first 0xA700 and cuts the third (32 MB) short on disk while it is on the wire;
    the second association answers everything.  The changed file is reported failed, and the
    other two go out again and are stored, exit 0.  The file answered 0xA700 came back with
    the changed one and used to be dropped: never sent again, missing from --report."""
    small = objects(tmp_path, 2)
    big = ct_copies(tmp_path / "big", 1, pixels=32 << 20)[0]

    def first(peer: Peer, scp: RawSCP, n: int) -> None:
        got = [scp.take(peer, n) for _ in small]
        assert None not in got
        context_id, rq = got[0]  # type: ignore[misc]
        peer.send(peer.answer(context_id, rq, 0xA700))
        pieces = 0
        while isinstance(read_pdu(peer.sock), PDataTF):  # the big file's, until we abort
            pieces += 1
            if pieces == 3:
                os.truncate(big, 4096)

    out = tmp_path / "report.json"
    with RawSCP(lambda n: first if n == 1 else answer_all) as scp:
        done = storescu(
            "-v", "-nh", "--async-window", 2, "--retry", 2, "--retry-wait", RETRY_WAIT,
            "--report", out, "127.0.0.1", scp.port, *small, big,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "E: 0001:000a I/O suspension or premature end of stream" in done.stderr
    assert sorted(scp.stored) == sorted(instance_uids(small))
    assert [r[:3] for r in retries(done.stderr)] == [(2, 2, 3)]
    outcomes = {Path(r["path"]).parent.name + "/" + Path(r["path"]).name: r["ok"] for r in report(out)["files"]}
    assert outcomes == {**{f"in/{f.name}": True for f in small}, f"big/{big.name}": False}


@pytest.mark.parametrize(("status", "halt"), [(0xA900, False), (0xC000, False), (0xC000, True)])
def test_failure_statuses_are_not_retried(tmp_path, status, halt):
    """our storescu --retry 3 and DCMTK's storescu -> pynetdicom answering 0xA900 or 0xC000:
    one request per file (-nh: every file; halting: the first only), no Retrying line,
    attempt 1 in --report, and DCMTK's exit code."""
    files = objects(tmp_path, 3)
    uids = instance_uids(files)
    out = tmp_path / "report.json"
    halting = () if halt else ("-nh",)
    handler = Statuses(status)
    with pynetdicom_peer(handler) as port:
        mine = storescu("-v", *halting, "--retry", 3, "--retry-wait", RETRY_WAIT, "--report", out, "127.0.0.1", port, *files)
        asked = Counter(handler.requests)
        theirs = dcmtk_storescu(*halting, "127.0.0.1", port, *files)
    assert asked == Counter(uids[:1] if halt else uids)
    assert retries(mine.stderr) == []
    assert mine.returncode == theirs.returncode == ((status >> 8) if halt else 0)
    assert set(attempts(out).values()) == {1}


def test_bad_file_and_missing_context_are_not_retried(tmp_path):
    """our storescu -nh --retry 3 -> a raw SCP taking CT only, given a CT, a file that is not
    DICOM and an MR object (no presentation context): one association, the CT stored, no
    Retrying line, attempt 1 for all three, and the exit code ours and DCMTK's storescu give
    without --retry."""
    ct = objects(tmp_path, 1)[0]
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not DICOM at all" * 20)
    files = [ct, junk, MR_SMALL]
    out = tmp_path / "report.json"
    results = {}
    for name, tool, extra in (
        ("retry", storescu, ("-v", "--retry", 3, "--retry-wait", RETRY_WAIT, "--report", out)),
        ("once", storescu, ()),
        ("dcmtk", dcmtk_storescu, ()),
    ):
        with RawSCP(lambda n: answer_all) as scp:
            results[name] = tool("-nh", *extra, "127.0.0.1", scp.port, *files)
        assert scp.associations == 1, name
        assert scp.stored == instance_uids([ct]), name
    codes = {name: done.returncode for name, done in results.items()}
    assert codes == dict.fromkeys(results, results["dcmtk"].returncode)
    assert retries(results["retry"].stderr) == []
    assert attempts(out) == {ct.name: 1, junk.name: 1, MR_SMALL.name: 1}
    assert {Path(r["path"]).name: r["ok"] for r in report(out)["files"]} == {
        ct.name: True,
        junk.name: False,
        MR_SMALL.name: False,
    }


# ---------------------------------------------------------------------------- a response too late


def test_dimse_timeout_is_retried(tmp_path):
    """our storescu -td 1 --retry 2 -> pynetdicom whose handler sleeps past the DIMSE timeout
    on the first C-STORE only: that association is aborted, the files go out again on a
    second, every file is stored, exit 0, and the Retrying line gives DCMTK's timeout
    condition as the reason."""
    files = objects(tmp_path, 3)
    uids = instance_uids(files)
    out = tmp_path / "report.json"
    handler = Statuses(0, delay=2.0)
    with pynetdicom_peer(handler) as port:
        done = storescu("-v", "-td", 1, "--retry", 2, "--retry-wait", RETRY_WAIT, "--report", out, "127.0.0.1", port, *files)
    assert done.returncode == 0, done.stderr
    assert handler.associations == 2
    assert set(handler.stored) == set(uids)
    assert handler.requests == Counter(uids) + Counter(uids[:1])
    timeout = "0006:0207 DIMSE No data available (timeout in non-blocking mode)"
    assert retries(done.stderr) == [Retry(3, 2, 3, timeout)]
    assert "I: Aborting Association" in done.stderr.split("I: Retrying")[0]
    assert attempts(out) == {f.name: 2 for f in files}
    assert lines(done.stderr, "F: ") == []


# ---------------------------------------------------------------------------- dimse.store.retry


@pytest.mark.parametrize(
    "exc",
    [
        AssociationRejected(REJECT_TRANSIENT, SOURCE_PRESENTATION, REASON_LOCAL_LIMIT),
        AssociationRejected(REJECT_TRANSIENT, SOURCE_USER, REASON_NO_REASON),
        ConnectionFailed(errno.ECONNREFUSED, "Connection refused"),
        ConnectionFailed(errno.ECONNRESET, "Connection reset by peer"),
        ConnectionLost(errno.EPIPE, "Broken pipe"),
        AssociationAborted("peer aborted", by_peer=True),
        PeerSilent("network receive timed out", NetworkTimeout.READ),
        NetworkTimeout("timeout waiting for DIMSE response", NetworkTimeout.DIMSE),
        NetworkTimeout("connect timed out", NetworkTimeout.CONNECT),
        PeerRequestedRelease("Peer requested release (Aborting)"),
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        TimeoutError("timed out"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_transient_errors(exc):
    assert transient_error(exc)


@pytest.mark.parametrize(
    "exc",
    [
        AssociationRejected(REJECT_PERMANENT, SOURCE_USER, REASON_CALLED_AE),
        AssociationRejected(REJECT_PERMANENT, SOURCE_USER, REASON_NO_REASON),
        UnknownHost("no.such.host", socket.EAI_NONAME, "Name or service not known"),
        TLSFailed(1, "handshake failure"),
        TLSCertificateRejected(1, "certificate verify failed"),
        ssl.SSLError(1, "bad record mac"),
        InvalidRequest("port out of range"),
        PDUError("bad PDU"),
        NoPresentationContext("no presentation context"),
        BadDicomFile("not DICOM"),
        SourceChanged("I/O suspension or premature end of stream"),
        ValueError("anything else"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_permanent_errors(exc):
    assert not transient_error(exc)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(0xA700, True), (0xA701, True), (0xA7FF, True), (0xA900, False), (0xC000, False), (0xA800, False),
     (0x0000, False), (0xB000, False), (0x0122, False), (None, False)],
)  # fmt: skip
def test_transient_status(status, expected):
    assert transient_status(status) is expected


def test_outcome_retryable():
    """A store is worth another attempt when it failed transiently or the peer answered
    0xA7xx; not after success, 0xA9xx/0xCxxx or a permanent error."""
    assert Outcome("f", status=0xA702).retryable
    assert Outcome("f", error="0006:0317 Peer aborted Association (or never connected)", transient=True).retryable
    assert not Outcome("f", status=0).retryable
    assert not Outcome("f", status=0xA900).retryable
    assert not Outcome("f", status=0xC000).retryable
    assert not Outcome("f", error="0001:000a I/O suspension or premature end of stream").retryable


class Fixed(random.Random):
    """A random source whose every draw is ``value``."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def test_waits_double_from_the_first():
    policy = RetryPolicy(retries=5, first_wait=0.5)
    assert [policy.wait(k, Fixed(0.0)) for k in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_waits_are_capped():
    """The base wait stops at MAX_WAIT (300 s); the jitter comes on top of the cap."""
    policy = RetryPolicy(retries=20, first_wait=10.0)
    assert [policy.wait(k, Fixed(0.0)) for k in (5, 6, 7, 20)] == [160.0, MAX_WAIT, MAX_WAIT, MAX_WAIT]
    assert policy.wait(20, Fixed(1.0)) == MAX_WAIT * (1 + JITTER)


def test_waits_are_jittered_within_bounds():
    """Each wait lies in [base, base * 1.25]; drawn from a real random source they differ."""
    policy = RetryPolicy(retries=12, first_wait=1.0)
    rng = random.Random(7)
    for attempt in range(1, 13):
        base = min(MAX_WAIT, 2.0 ** (attempt - 1))
        draws = [policy.wait(attempt, rng) for _ in range(50)]
        assert all(base <= w <= base * (1 + JITTER) for w in draws), (attempt, min(draws), max(draws))
        assert len(set(draws)) > 1
    assert policy.wait(1, Fixed(1.0)) == 1.0 + JITTER


def test_no_first_wait_means_no_wait():
    assert RetryPolicy(retries=3, first_wait=0.0).wait(3, random.Random(1)) == 0.0


def test_far_attempts_do_not_overflow():
    """The wait after attempt 2000 is the cap (a library caller may count that far); it raised
    OverflowError once the doubling passed 2 ** 1024."""
    assert MAX_WAIT <= RetryPolicy(retries=5000, first_wait=1.0).wait(2000) <= MAX_WAIT * (1 + JITTER)


@pytest.mark.parametrize(
    ("option", "value", "word"),
    [("--retry", "-1", "underflow"), ("--retry", "1001", "overflow"), ("--retry-wait", "301", "overflow"),
     ("--retry-wait", "soon", "soon")],
)  # fmt: skip
def test_bad_retry_values(tmp_path, option, value, word):
    """our storescu: a bad --retry / --retry-wait value is one error line and exit 1, before
    any connection (nothing listens on the port)."""
    done = storescu(option, value, "127.0.0.1", free_port(), objects(tmp_path, 1)[0])
    assert done.returncode == 1
    errors = lines(done.stderr, "error: ")
    assert len(errors) == 1 and errors[0].startswith(f"error: Invalid value for option {option} ({word}")
    assert "Traceback" not in done.stderr


def test_attempts_count_again_after_progress(tmp_path):
    """our storescu --retry 1 -> a raw SCP whose first four associations each answer two stores
    and abort: every abort follows progress, so the one retry allowed is counted again each
    time and all ten files end stored on the fifth association, exit 0 (a budget for the run
    would have ended it at the second abort); --report counts each file's own attempts."""
    files = objects(tmp_path, 10)
    out = tmp_path / "report.json"
    with RawSCP(lambda n: abort_after(2, 0) if n <= 4 else answer_all) as scp:
        done = storescu("-v", "--retry", 1, "--retry-wait", RETRY_WAIT, "--report", out, "127.0.0.1", scp.port, *files)
    assert done.returncode == 0, done.stderr
    assert scp.associations == 5
    # a response racing the abort may be lost with it: that file is stored twice, never missed
    assert set(scp.stored) == set(instance_uids(files))
    assert [r[1:3] for r in retries(done.stderr)] == [(2, 2)] * 4
    tried = attempts(out)
    assert tried[files[0].name] == 1 and max(tried.values()) >= 4


def test_file_set_aside_when_the_run_halts_is_reported(tmp_path):
    """our storescu --retry 2 (halting, a window of 16) -> a raw SCP answering 0xA700 to the
    first store and 0xC000 to the second: the run halts (exit 0xC0); the first file, set aside
    to be tried again, is in --report with its 0xA700, not lost from it."""
    files = objects(tmp_path, 5)

    def script(peer: Peer, scp: RawSCP, n: int) -> None:
        index = 0
        while (got := scp.take(peer, n)) is not None:
            context_id, rq = got
            peer.send(peer.answer(context_id, rq, {0: 0xA700, 1: 0xC000}.get(index, 0)))
            index += 1

    out = tmp_path / "report.json"
    with RawSCP(lambda n: script) as scp:
        done = storescu("--retry", 2, "--retry-wait", RETRY_WAIT, "--report", out, "127.0.0.1", scp.port, *files)
    assert done.returncode == 0xC0, done.stderr
    statuses = {Path(r["path"]).name: r["status"] for r in report(out)["files"]}
    assert statuses[files[0].name] == 0xA700
    assert statuses[files[1].name] == 0xC000


@pytest.mark.parametrize("window", ["16", "1"])
def test_no_halt_after_a_peer_abort_reports_every_file(tmp_path, window):
    """our storescu -nh (no --retry) and DCMTK's storescu -nh -> a raw SCP answering two stores,
    then aborting: as DCMTK does, each file left is tried and fails (a Store Failed line each),
    exit 1; ours also has every file in --report (the files after the abort were once left out)."""
    files = objects(tmp_path, 6)
    out = tmp_path / "report.json"
    with RawSCP(lambda n: abort_after(2, 0)) as scp:
        done = storescu("-nh", "--async-window", window, "--report", out, "127.0.0.1", scp.port, *files)
    with RawSCP(lambda n: abort_after(2, 0)) as scp:
        theirs = dcmtk_storescu("-nh", "127.0.0.1", scp.port, *files)
    assert done.returncode == theirs.returncode == 1
    records = report(out)["files"]
    assert [Path(r["path"]).name for r in records] == [f.name for f in files]
    # the answers to the first two race the abort with a window: one may be lost with it
    assert [r["ok"] for r in records][2:] == [False] * 4
    assert records[0]["ok"] or window == "16"
    for f in files[2:]:
        assert f"E: Store Failed, file: {f}:" in done.stderr
        assert f"E: Store Failed, file: {f}:" in theirs.stderr
