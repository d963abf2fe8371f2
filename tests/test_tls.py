"""TLS: our tools against DCMTK's TLS storescp/storescu and a pynetdicom TLS move SCP.

Certificates are made here with ``cryptography``: a CA, a server and a client certificate
signed by it, a second CA nobody trusts, an expired server certificate, an encrypted client
key, and DER copies.  Each test says which storescu/storescp runs (DCMTK's or ours).
"""

from __future__ import annotations

import datetime
import logging
import ssl
import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread

from dimse.files.storage import PART_FOLDER

from .conftest import CT_SMALL, MR_SMALL, free_port, move_study_args, ours, run, running
from .conftest import dcmtk as dcmtk_tool
from .test_dcmtk import same_dataset

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject, key, issuer, issuer_key, ca=False, days=(-1, 30)) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days[0]))
        .not_valid_after(now + datetime.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class PKI:
    """File paths of everything the tests need."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert("Test CA", ca_key, "Test CA", ca_key, ca=True)
        other_key = ec.generate_private_key(ec.SECP256R1())
        other = _cert("Other CA", other_key, "Other CA", other_key, ca=True)
        server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        client_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ca = self._pem("ca.pem", ca)
        self.ca_der = self._der("ca.der", ca)
        self.other_ca = self._pem("other-ca.pem", other)
        self.server_key = self._key("server.key", server_key)
        self.server_cert = self._pem("server.pem", _cert("localhost", server_key, "Test CA", ca_key))
        self.expired_cert = self._pem("expired.pem", _cert("localhost", server_key, "Test CA", ca_key, days=(-30, -1)))
        self.client_key = self._key("client.key", client_key)
        self.client_cert = self._pem("client.pem", _cert("client", client_key, "Test CA", ca_key))
        self.client_key_der = self._key("client.key.der", client_key, der=True)
        self.client_cert_der = self._der("client.der", _cert("client", client_key, "Test CA", ca_key))
        self.client_key_encrypted = self._key("client-enc.key", client_key, password=b"secret")
        revoked = _cert("localhost", server_key, "Test CA", ca_key)
        self.revoked_cert = self._pem("revoked.pem", revoked)
        now = datetime.datetime.now(datetime.UTC)
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(_name("Test CA"))
            .last_update(now - datetime.timedelta(days=1))
            .next_update(now + datetime.timedelta(days=30))
            .add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(revoked.serial_number)
                .revocation_date(now - datetime.timedelta(hours=1))
                .build()
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.crl = str(folder / "ca.crl")
        Path(self.crl).write_bytes(crl.public_bytes(serialization.Encoding.PEM))

    def _pem(self, name: str, cert: x509.Certificate) -> str:
        path = self.folder / name
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return str(path)

    def _der(self, name: str, cert: x509.Certificate) -> str:
        path = self.folder / name
        path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        return str(path)

    def _key(self, name: str, key, der: bool = False, password: bytes | None = None) -> str:
        path = self.folder / name
        encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.DER if der else serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL if not der else serialization.PrivateFormat.PKCS8,
                encryption,
            )
        )
        return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> PKI:
    return PKI(tmp_path_factory.mktemp("pki"))


def _storescp_args(tool: str, pki: PKI, port: int, out: Path, cert: str | None = None, *extra: str) -> list[str]:
    return [
        tool,
        "+tls",
        pki.server_key,
        cert or pki.server_cert,
        "+cf",
        pki.ca,
        *extra,
        "-od",
        str(out),
        str(port),
    ]


@pytest.fixture
def dcmtk_tls_scp(pki, tmp_path):
    """DCMTK's storescp with TLS (peer certificate required), as (port, output folder)."""
    port, out = free_port(), tmp_path / "received"
    out.mkdir()
    with running(_storescp_args(dcmtk_tool("storescp"), pki, port, out), port):
        yield port, out


def _ours_storescu(port: int, *options: str, files=(CT_SMALL,)) -> subprocess.CompletedProcess:
    return run([ours("storescu"), *options, "127.0.0.1", str(port), *map(str, files)])


def _same_dataset(received: Path, sent: Path) -> None:
    assert same_dataset(received, sent)


# ------------------------------------------------------------------ our storescu -> DCMTK storescp


def test_our_storescu_pem_to_dcmtk_storescp(pki, dcmtk_tls_scp):
    """Ours: storescu +tls (PEM) to DCMTK's storescp +tls; both certificates verified."""
    port, out = dcmtk_tls_scp
    done = _ours_storescu(
        port, "+tls", pki.client_key, pki.client_cert, "+cf", pki.ca, "-v", files=(CT_SMALL, MR_SMALL)
    )
    assert done.returncode == 0, done.stderr
    assert "Association Accepted" in done.stderr
    received = sorted(out.iterdir())
    assert len(received) == 2
    _same_dataset(out / f"CT.{dcmread(CT_SMALL).SOPInstanceUID}", CT_SMALL)


def test_our_storescu_der_to_dcmtk_storescp(pki, dcmtk_tls_scp):
    """Ours: storescu -der with DER key, certificate and trusted CA."""
    port, out = dcmtk_tls_scp
    done = _ours_storescu(port, "-der", "+tls", pki.client_key_der, pki.client_cert_der, "+cf", pki.ca_der)
    assert done.returncode == 0, done.stderr
    _same_dataset(next(out.iterdir()), CT_SMALL)


def test_encrypted_key_with_password_option_and_stdin(pki, dcmtk_tls_scp):
    """Ours: +pw gives the key's password; without it (+ps) the password is read from stdin."""
    port, out = dcmtk_tls_scp
    done = _ours_storescu(port, "+tls", pki.client_key_encrypted, pki.client_cert, "+pw", "secret", "+cf", pki.ca)
    assert done.returncode == 0, done.stderr
    piped = subprocess.run(
        [
            ours("storescu"),
            "+tls",
            pki.client_key_encrypted,
            pki.client_cert,
            "+cf",
            pki.ca,
            "127.0.0.1",
            str(port),
            str(CT_SMALL),
        ],
        input="secret\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.returncode == 0, piped.stderr


def test_verification_off_needs_no_trusted_certificate(pki, dcmtk_tls_scp):
    """Ours: -ic connects without +cf; the default (-rc) without +cf fails like DCMTK's."""
    port, out = dcmtk_tls_scp
    assert _ours_storescu(port, "+tls", pki.client_key, pki.client_cert, "-ic").returncode == 0
    done = _ours_storescu(port, "+tls", pki.client_key, pki.client_cert)
    assert done.returncode == 1
    assert done.stderr.startswith("F: Association Request Failed: 000b:0886 TLS error: certificate verify failed")
    assert len(done.stderr.strip().splitlines()) == 1


def test_wrong_ca_fails_with_a_clear_message(pki, dcmtk_tls_scp):
    """Ours and DCMTK's storescu trusting another CA: both exit 1 with 'certificate verify failed'."""
    port, _ = dcmtk_tls_scp
    args = ["+tls", pki.client_key, pki.client_cert, "+cf", pki.other_ca, "127.0.0.1", str(port), str(CT_SMALL)]
    theirs = run([dcmtk_tool("storescu"), *args])
    mine = run([ours("storescu"), *args])
    assert theirs.returncode == mine.returncode == 1
    assert "certificate verify failed" in theirs.stderr
    assert "certificate verify failed" in mine.stderr and "Traceback" not in mine.stderr
    assert len(mine.stderr.strip().splitlines()) == 1


def test_expired_server_certificate(pki, tmp_path):
    """DCMTK's storescp presents an expired certificate: our storescu refuses and says why."""
    port, out = free_port(), tmp_path / "received"
    out.mkdir()
    with running(_storescp_args(dcmtk_tool("storescp"), pki, port, out, pki.expired_cert), port):
        done = _ours_storescu(port, "+tls", pki.client_key, pki.client_cert, "+cf", pki.ca)
    assert done.returncode == 1
    assert "certificate has expired" in done.stderr
    assert not list(out.iterdir())


def test_revoked_server_certificate(pki, tmp_path):
    """Ours: +crl makes a revoked peer certificate fail; the same peer passes without the CRL."""
    port, out = free_port(), tmp_path / "received"
    out.mkdir()
    with running(_storescp_args(dcmtk_tool("storescp"), pki, port, out, pki.revoked_cert), port):
        refused = _ours_storescu(port, "+tls", pki.client_key, pki.client_cert, "+cf", pki.ca, "+crl", pki.crl)
        accepted = _ours_storescu(port, "+tls", pki.client_key, pki.client_cert, "+cf", pki.ca)
    assert refused.returncode == 1
    assert "certificate revoked" in refused.stderr
    assert accepted.returncode == 0, accepted.stderr


def test_peer_without_tls(pki, tmp_path):
    """Our storescu +tls to DCMTK's plain storescp: exit 1, one line, no hang."""
    port, out = free_port(), tmp_path / "received"
    out.mkdir()
    with running([dcmtk_tool("storescp"), "-od", str(out), str(port)], port):
        done = _ours_storescu(port, "+tls", pki.client_key, pki.client_cert, "+cf", pki.ca, "-to", "10")
    assert done.returncode == 1
    assert done.stderr.startswith("F: Association Request Failed:")
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("mismatch", id="key-and-certificate-do-not-match"),
        pytest.param("wrong-password", id="wrong-password"),
        pytest.param("missing-key", id="missing-key"),
    ],
)
def test_bad_key_material_as_dcmtk(pki, case):
    """DCMTK's and our storescu on a bad key: the same exit code (1) and the same F: line."""
    key, cert, extra = {
        "mismatch": (pki.client_key, pki.server_cert, []),
        "wrong-password": (pki.client_key_encrypted, pki.client_cert, ["+pw", "nope"]),
        "missing-key": ("no-such.key", pki.client_cert, []),
    }[case]
    args = ["+tls", key, cert, *extra, "+cf", pki.ca, "127.0.0.1", str(free_port()), str(CT_SMALL)]
    theirs, mine = run([dcmtk_tool("storescu"), *args]), run([ours("storescu"), *args])
    assert theirs.returncode == mine.returncode == 1
    fatal = [line for line in theirs.stderr.splitlines() if line.startswith("F: ")]
    assert fatal and fatal[-1] in mine.stderr.splitlines()


@pytest.mark.parametrize(
    "options",
    [["-pem"], ["-ic"], ["+cf", "x.pem"], ["+pw", "x"], ["-pw"], ["+ws"]],
    ids=lambda o: " ".join(o),
)
def test_tls_options_need_tls_as_dcmtk(options):
    """A TLS option without +tls: DCMTK's and our storescu print the same error line, exit 1."""
    args = [*options, "127.0.0.1", "104", str(CT_SMALL)]
    theirs, mine = run([dcmtk_tool("storescu"), *args]), run([ours("storescu"), *args])
    assert theirs.returncode == mine.returncode == 1
    error = [line for line in theirs.stderr.splitlines() if line.startswith("error:")]
    assert error and error == [line for line in mine.stderr.splitlines() if line.startswith("error:")]


def test_cipher_not_allowed_with_extended_profile():
    """+pz with +cs is a command-line error in both storescus."""
    args = ["+tla", "+pz", "+cs", "TLS_RSA_WITH_AES_128_CBC_SHA", "127.0.0.1", "104", str(CT_SMALL)]
    theirs, mine = run([dcmtk_tool("storescu"), *args]), run([ours("storescu"), *args])
    assert theirs.returncode == mine.returncode == 1
    assert "error: --cipher not allowed with --profile-bcp195-ex" in mine.stderr


def test_list_ciphers_is_a_subset_of_dcmtk_names():
    """+cc prints suites by their RFC names (all known to DCMTK's list too) and exits 0."""
    theirs, mine = run([dcmtk_tool("storescu"), "+cc"]), run([ours("storescu"), "+cc"])
    assert mine.returncode == 0
    names = {line.strip() for line in mine.stdout.splitlines() if line.startswith("  TLS_")}
    known = {line.strip() for line in theirs.stdout.splitlines() + theirs.stderr.splitlines() if "TLS_" in line}
    assert "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" in names
    assert names - {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", "TLS_RSA_WITH_NULL_SHA256"} <= known


@pytest.mark.parametrize("profile", ["+pg", "+py", "+pz", "+px"])
def test_profiles_interoperate_with_dcmtk(pki, dcmtk_tls_scp, profile):
    """Ours: each current profile negotiates with DCMTK 3.6.7's default-profile storescp."""
    port, _ = dcmtk_tls_scp
    done = _ours_storescu(port, "+tls", pki.client_key, pki.client_cert, "+cf", pki.ca, profile)
    assert done.returncode == 0, done.stderr


def test_unencrypted_profile_is_refused_by_dcmtk(pki, dcmtk_tls_scp):
    """Ours with +pn against a storescp that only speaks encrypted suites: a clear TLS error."""
    port, _ = dcmtk_tls_scp
    done = _ours_storescu(port, "+tls", pki.client_key, pki.client_cert, "+cf", pki.ca, "+pn")
    assert done.returncode == 1
    assert "TLS error" in done.stderr or "not supported" in done.stderr


# ------------------------------------------------------------------ DCMTK storescu -> our storescp


@pytest.fixture
def our_tls_scp(pki, tmp_path):
    port, out = free_port(), tmp_path / "received"
    out.mkdir()
    with running(_storescp_args(ours("storescp"), pki, port, out), port) as proc:
        yield port, out, proc


def test_dcmtk_storescu_to_our_storescp(pki, our_tls_scp):
    """DCMTK's storescu +tls to our storescp +tls: the object arrives equal; an anonymous
    client and a plain one are refused with one log line each, and the server keeps serving."""
    port, out, proc = our_tls_scp
    dcmtk = dcmtk_tool("storescu")
    anonymous = run([dcmtk, "+tla", "-ic", "127.0.0.1", str(port), str(MR_SMALL)])
    plain = run([dcmtk, "127.0.0.1", str(port), str(MR_SMALL)])
    done = run([dcmtk, "+tls", pki.client_key, pki.client_cert, "+cf", pki.ca, "127.0.0.1", str(port), str(CT_SMALL)])
    assert anonymous.returncode == plain.returncode == 1
    assert done.returncode == 0, done.stderr
    name = f"CT.{dcmread(CT_SMALL).SOPInstanceUID}"
    assert [p.name for p in out.iterdir() if p.name != PART_FOLDER] == [name]
    _same_dataset(out / name, CT_SMALL)
    proc.terminate()
    log = proc.communicate(timeout=10)[0]
    assert log.count("Receiving Association failed") == 2
    assert "peer did not return a certificate" in log
    assert "Traceback" not in log


def test_our_storescp_optional_client_certificate(pki, tmp_path):
    """Ours: storescp -vc takes an anonymous TLS client (DCMTK's storescu +tla)."""
    port, out = free_port(), tmp_path / "received"
    out.mkdir()
    with running(_storescp_args(ours("storescp"), pki, port, out, None, "-vc"), port):
        done = run([dcmtk_tool("storescu"), "+tla", "+cf", pki.ca, "127.0.0.1", str(port), str(CT_SMALL)])
    assert done.returncode == 0, done.stderr
    assert len(list(out.iterdir())) == 1


def test_server_key_errors(pki, tmp_path):
    """Ours: storescp with a certificate that does not match its key exits 1 with DCMTK's text."""
    done = run([ours("storescp"), "+tls", pki.client_key, pki.server_cert, str(free_port())], timeout=30)
    assert done.returncode == 1
    assert (
        f"F: 000b:0006 Private key '{pki.client_key}' and certificate '{pki.server_cert}' do not match" in done.stderr
    )


# ------------------------------------------------------------------ movescu: TLS both ways


@pytest.fixture
def tls_move_scp(pki):
    """A pynetdicom TLS C-MOVE SCP; its handler has DCMTK's storescu +tls send the objects to
    the move destination (our movescu's TLS port) before answering."""
    pytest.importorskip("pynetdicom")
    from pynetdicom import AE, evt

    plan = {"destination_port": None, "sender": None}

    def on_move(event):
        plan["sender"] = run(
            [
                dcmtk_tool("storescu"),
                "+tls",
                pki.client_key,
                pki.client_cert,
                "+cf",
                pki.ca,
                "-aec",
                "MOVESCU",
                "127.0.0.1",
                str(plan["destination_port"]),
                str(CT_SMALL),
                str(MR_SMALL),
            ]
        )
        yield "127.0.0.1", plan["destination_port"]
        yield 0

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(pki.server_cert, pki.server_key)
    ae = AE(ae_title="TLS-QR")
    ae.add_supported_context("1.2.840.10008.5.1.4.1.2.2.2")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_MOVE, on_move)], ssl_context=context
    )
    plan["port"] = server.socket.getsockname()[1]
    try:
        yield plan
    finally:
        server.shutdown()


def test_movescu_tls_outgoing_and_storage_scp(pki, tls_move_scp, tmp_path):
    """Ours: movescu +tls asks a TLS move SCP; DCMTK's storescu +tls delivers to our TLS Storage SCP."""
    listen = free_port()
    tls_move_scp["destination_port"] = listen
    out = tmp_path / "od"
    out.mkdir()
    tls = ["+tls", pki.client_key, pki.client_cert, "+cf", pki.ca]
    done = run(move_study_args(ours("movescu"), "TLS-QR", tls_move_scp["port"], listen, out, tls=tls), timeout=90)
    assert done.returncode == 0, done.stderr
    sender = tls_move_scp["sender"]
    assert sender is not None and sender.returncode == 0, sender.stderr if sender else None
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([f"CT.{dcmread(CT_SMALL).SOPInstanceUID}", f"MR.{dcmread(MR_SMALL).SOPInstanceUID}"])
    _same_dataset(out / f"CT.{dcmread(CT_SMALL).SOPInstanceUID}", CT_SMALL)


def test_movescu_tls_layer_failure_exit_code(pki):
    """Ours: movescu with a key that does not match its certificate exits 70 (DCMTK 3.7.0's code)."""
    done = run(
        [ours("movescu"), "+tls", pki.client_key, pki.server_cert, "-k", "QueryRetrieveLevel=STUDY", "127.0.0.1", "104"]
    )
    assert done.returncode == 70
    assert "do not match" in done.stderr


def test_movescu_asks_the_key_password_once_for_both_sides(pki, monkeypatch):
    """movescu's client and server contexts come from one key: +ps asks for its password once,
    and each side gets its own settings (neither context is built from the other's)."""
    from dimse.cli import tls
    from dimse.tools import movescu

    asked = []
    monkeypatch.setattr(tls, "_prompt", lambda: asked.append(1) or "secret")
    real = tls.make_context  # whatever make_context does with the settings it is given
    monkeypatch.setattr(tls, "make_context", lambda settings, warn: real(settings.replace(), warn))
    args = ["+tls", pki.client_key_encrypted, pki.client_cert, "+cf", pki.ca, "-k", "PatientID=1", "127.0.0.1", "104"]
    contexts = tls.TLSContexts(movescu.command_line().parse(args), "both", logging.getLogger("dimse.test"))
    assert asked == [1]
    assert contexts.client is not None and contexts.server is not None
    assert contexts.client.verify_mode == contexts.server.verify_mode == ssl.CERT_REQUIRED
    assert not contexts.client.check_hostname  # a client context, the other a server one


# ------------------------------------------------------------------ echoscu, SNI


def test_echoscu_over_tls(pki, our_tls_scp):
    """Ours and DCMTK's echoscu +tls against our storescp +tls."""
    port, _, _ = our_tls_scp
    args = ["+tls", pki.client_key, pki.client_cert, "+cf", pki.ca, "127.0.0.1", str(port)]
    assert run([ours("echoscu"), *args]).returncode == 0
    assert run([dcmtk_tool("echoscu"), *args]).returncode == 0


@pytest.mark.parametrize("sni", [None, "pacs.example.org"])
def test_server_name_indication(pki, sni):
    """Ours: no SNI by default (as DCMTK); --request-sni sends the given name."""
    import socket
    import threading

    seen: list = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.sni_callback = lambda _sock, name, _ctx: seen.append(name)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_once() -> None:
        conn, _ = listener.accept()
        with conn:
            try:
                context.wrap_socket(conn, server_side=True).close()
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    extra = ["--request-sni", sni] if sni else []
    done = run([ours("echoscu"), "+tla", "-ic", *extra, "-ta", "5", "127.0.0.1", str(port)], timeout=30)
    thread.join(10)
    listener.close()
    assert done.returncode == 1  # not a DICOM peer
    assert seen == [sni]


def test_tls_server_survives_garbage_and_stalled_handshakes(pki, tmp_path):
    """Ours: storescp +tls -ta 2 gets garbage instead of a ClientHello and a client that never
    starts its handshake: both connections are closed (the stalled one by the ACSE timeout), each
    with one log line, and a TLS echo from DCMTK's echoscu is served afterwards."""
    import socket
    import time

    port, out = free_port(), tmp_path / "received"
    out.mkdir()
    with running(_storescp_args(ours("storescp"), pki, port, out, None, "-ta", "2"), port) as proc:
        with socket.create_connection(("127.0.0.1", port)) as garbage:
            garbage.sendall(b"\x16\x03\x01\xff\xff" + b"\x00" * 64)
            garbage.settimeout(10)
            assert garbage.recv(4096) is not None  # an alert or the close, not a hang
        stalled = socket.create_connection(("127.0.0.1", port))
        stalled.settimeout(15)
        started = time.monotonic()
        assert stalled.recv(1) == b""  # closed by the server
        assert time.monotonic() - started < 12
        stalled.close()
        echo = run(
            [dcmtk_tool("echoscu"), "+tls", pki.client_key, pki.client_cert, "+cf", pki.ca, "127.0.0.1", str(port)]
        )
        proc.terminate()
        log = proc.communicate(timeout=10)[0]
    assert echo.returncode == 0, echo.stderr
    assert log.count("Receiving Association failed") == 2, log
    assert "Traceback" not in log


def test_dcmtk_storescu_with_nagle_into_our_tls_storescp(pki, our_tls_scp, tmp_path):
    """DCMTK's storescu +tls left to its defaults (Nagle on) sends 30 small files to our
    storescp +tls: all arrive, and our storescp leaves no acknowledgement to the kernel's
    delayed-ACK timer (as over plain TCP: tests/test_quick_ack.py)."""
    from .test_quick_ack import DEFAULT_ENV, FEW, delayed_acks, write_small

    port, out, _ = our_tls_scp
    files = write_small(tmp_path / "small", 30)
    before = delayed_acks()
    done = run(
        [dcmtk_tool("storescu"), "+tls", pki.client_key, pki.client_cert, "+cf", pki.ca]
        + ["127.0.0.1", str(port), *map(str, files)],
        env=DEFAULT_ENV,
    )
    after = delayed_acks()
    assert done.returncode == 0, done.stderr
    assert sum(1 for p in out.iterdir() if p.name != PART_FOLDER) == 30
    assert after - before < FEW, f"{after - before} delayed acknowledgements for 30 objects"
