"""storescu user identity negotiation against a pynetdicom SCP that checks credentials."""

from __future__ import annotations

import contextlib

import pytest

from .conftest import CT_SMALL, dcmtk, ours, run

CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"


@contextlib.contextmanager
def identity_scp(response: bytes | None):
    """pynetdicom SCP recording (type, primary, secondary, positive) and answering ``response``."""
    pytest.importorskip("pynetdicom")
    from pynetdicom import AE, evt

    seen = []

    def on_user_id(event):
        seen.append((event.user_id_type, event.primary_field, event.secondary_field))
        return True, response

    ae = AE(ae_title="ANY-SCP")
    ae.add_supported_context(CT_CLASS, ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"])
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    handlers = [(evt.EVT_USER_ID, on_user_id), (evt.EVT_C_STORE, lambda event: 0)]
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    try:
        yield server.socket.getsockname()[1], seen
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--user", "alice"], (1, b"alice", None)),
        (["--user", "alice", "--password", "s3cr\u00e9t"], (2, b"alice", "s3cr\u00e9t".encode())),
        (["--user", "bob", "--empty-password"], (2, b"bob", b"")),
        (["--kerberos", "FILE"], (3, b"\x00\x01ticket\xff", None)),
        (["--saml", "FILE"], (4, b"\x00\x01ticket\xff", None)),
        (["--jwt", "FILE"], (5, b"\x00\x01ticket\xff", None)),
    ],
    ids=["user", "password", "empty-password", "kerberos", "saml", "jwt"],
)
def test_identity_arrives_byte_exact(tmp_path, args, expected):
    """our storescu with each identity type -> pynetdicom: the fields arrive as given."""
    blob = tmp_path / "blob"
    blob.write_bytes(b"\x00\x01ticket\xff")
    args = [str(blob) if a == "FILE" else a for a in args]
    with identity_scp(b"welcome") as (port, seen):
        done = run([ours("storescu"), *args, "127.0.0.1", str(port), str(CT_SMALL)])
    assert done.returncode == 0, done.stderr
    (got,) = seen
    assert got[0] == expected[0] and got[1] == expected[1]
    if expected[2] is not None:
        assert got[2] == expected[2]


@contextlib.contextmanager
def our_acceptor(answer):
    """Our own acceptor (in a thread) whose identity check answers ``answer``."""
    import asyncio
    import threading

    from dimse import Acceptor, AcceptorPolicy, Services, serve

    policy = AcceptorPolicy(transfer_syntaxes={CT_CLASS: ["1.2.840.10008.1.2.1"]}, identity=lambda rq: answer)
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(serve(Acceptor(policy, Services()), "127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.mark.parametrize(("answer", "code"), [(b"", 0), (True, 1), (False, 1)], ids=["answered", "silent", "refused"])
def test_positive_response_side_by_side(answer, code):
    """--user --pos-response against our acceptor: with a response item the store goes on; without
    one DCMTK's storescu and ours stop with the same two lines and exit 1; refused: both exit 1."""
    with our_acceptor(answer) as port:
        theirs = run([dcmtk("storescu"), "--user", "u", "--pos-response", "127.0.0.1", str(port), str(CT_SMALL)])
        mine = run([ours("storescu"), "--user", "u", "--pos-response", "127.0.0.1", str(port), str(CT_SMALL)])
    assert mine.returncode == theirs.returncode == code
    if answer is True:
        assert (
            mine.stderr
            == theirs.stderr
            == (
                "E: User Identity Negotiation failed: Positive response requested but none received\n"
                "F: 0006:0108 ASC User Identification Negotiation failed\n"
            )
        )


@pytest.mark.parametrize(
    "args",
    [["--password", "p"], ["--empty-password"], ["--pos-response"], ["--kerberos", "/nonexistent"], ["--jwt", "EMPTY"]],
    ids=["password-alone", "empty-alone", "pos-alone", "missing-file", "empty-file"],
)
def test_identity_errors_side_by_side(tmp_path, args):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    args = [str(empty) if a == "EMPTY" else a for a in args]
    theirs = run([dcmtk("storescu"), *args, "127.0.0.1", "1", str(CT_SMALL)])
    mine = run([ours("storescu"), *args, "127.0.0.1", "1", str(CT_SMALL)])
    assert mine.returncode == theirs.returncode == 1
    key = [x for x in theirs.stderr.splitlines() if x.startswith(("error:", "E:"))]
    # 3.6.7 still says "--user, --kerberos or --saml"; the 3.7.0 text (ours) names --jwt too
    key = [x.replace("--kerberos or --saml", "--kerberos, --saml or --jwt") for x in key]
    assert [x for x in mine.stderr.splitlines() if x.startswith(("error:", "E:"))] == key


@pytest.mark.parametrize("option", ["--user", "--password"])
def test_identity_field_longer_than_its_length_field_is_refused(option):
    """ours: a user name or password over 65535 bytes (the sub-item's length fields have two
    bytes) is a command-line error naming the option, exit 1; it once escaped as
    ``F: internal error: 'H' format requires 0 <= number <= 65535``."""
    long = "u" * 70_000
    args = ["--user", long] if option == "--user" else ["--user", "u", "--password", long]
    done = run([ours("storescu"), *args, "127.0.0.1", "9", str(CT_SMALL)])
    assert done.returncode == 1
    assert f"Invalid value for option {option}: longer than 65535 bytes" in done.stderr
    assert "internal error" not in done.stderr
