"""TLS options shared by the tools (DCMTK 3.7.0 names, spec section 12) and the SSL context
they ask for.

``role`` is ``client`` (storescu, echoscu), ``server`` (storescp) or ``both`` (movescu:
its C-MOVE association and its Storage SCP port use the same key, certificate and trust).
"""

from __future__ import annotations

import getpass
import logging
import ssl
import sys
from collections.abc import Callable
from typing import Any, Literal, TextIO

from ..net.tls import PROFILES, TLSSettings, TLSSetupError, make_context, suite_supported, supported_suites
from .options import CommandLine, CommandLineError, Parsed

#: which side(s) of TLS a tool plays
Role = Literal["client", "server", "both"]

_PROFILE_OPTIONS = {
    "--profile-8996": ("+pg", "8996"),
    "--profile-8996-mod": ("+pm", "8996-mod"),
    "--profile-bcp195-nd": ("+py", "bcp195-nd"),
    "--profile-bcp195": ("+px", "bcp195"),
    "--profile-bcp195-ex": ("+pz", "bcp195-ex"),
    "--profile-basic": ("+pb", "basic"),
    "--profile-aes": ("+pa", "aes"),
    "--profile-null": ("+pn", "null"),
}
_PASSWORD = ("--std-passwd", "--use-passwd", "--null-passwd")


def add_options(cmd: CommandLine, role: Role) -> None:
    """DCMTK 3.7.0's TLS option groups for ``role``; ``+cc``/``+ph`` are handled with --help."""
    cmd.group("transport layer security (TLS) options")
    _add_stack_and_keys(cmd, role)
    _add_authorities(cmd)
    _add_profiles_and_suites(cmd, role)
    if role in ("client", "both"):
        cmd.group("server name indication", 1)
        cmd.add(None, "--no-sni", "do not use SNI (default)")
        cmd.add(None, "--request-sni", "request server name s", "[s]erver name: string")
    cmd.group("pseudo random generator", 1)
    cmd.add("+rs", "--seed", "seed random generator with contents of f", "[f]ilename: string")
    cmd.add("+ws", "--write-seed", "write back modified seed (only with --seed)")
    cmd.add("+wf", "--write-seed-file", "write modified seed to file f", "[f]ilename: string (only with --seed)")
    cmd.group("peer authentication", 1)
    cmd.add("-rc", "--require-peer-cert", "verify peer certificate, fail if absent (default)")
    if role in ("server", "both"):
        cmd.add("-vc", "--verify-peer-cert", "verify peer certificate if present")
    cmd.add("-ic", "--ignore-peer-cert", "don't verify peer certificate")
    cmd.on_exclusive("--list-ciphers", list_ciphers)
    cmd.on_exclusive("--list-profiles", list_profiles)


def _add_stack_and_keys(cmd: CommandLine, role: Role) -> None:
    cmd.group("transport protocol stack", 1)
    cmd.add("-tls", "--disable-tls", "use normal TCP/IP connection (default)")
    cmd.add(
        "+tls",
        "--enable-tls",
        "use authenticated secure TLS connection",
        "[p]rivate key file, [c]ertificate file: string",
        "",
    )
    if role == "client":
        cmd.add("+tla", "--anonymous-tls", "use secure TLS connection without certificate")
    cmd.group("private key password (only with --enable-tls)", 1)
    cmd.add("+ps", "--std-passwd", "prompt user to type password on stdin (default)")
    cmd.add("+pw", "--use-passwd", "use specified password", "[p]assword: string ")
    cmd.add("-pw", "--null-passwd", "use empty string as password")
    cmd.group("key and certificate file format", 1)
    cmd.add("-pem", "--pem-keys", "read keys and certificates as PEM file (default)")
    cmd.add("-der", "--der-keys", "read keys and certificates as DER file")


def _add_authorities(cmd: CommandLine) -> None:
    cmd.group("certification authority", 1)
    cmd.add("+cf", "--add-cert-file", "add certificate file to list of certificates", "[f]ilename: string")
    cmd.add("+cd", "--add-cert-dir", "add certificates in d to list of certificates", "[d]irectory: string")
    cmd.add(
        "+crl",
        "--add-crl-file",
        "add certificate revocation list file\n(implies --enable-crl-vfy)",
        "[f]ilename: string",
    )
    cmd.add("+crv", "--enable-crl-vfy", "enable leaf CRL verification")
    cmd.add("+cra", "--enable-crl-all", "enable full chain CRL verification")


def _add_profiles_and_suites(cmd: CommandLine, role: Role) -> None:
    cmd.group("security profile", 1)
    cmd.add("+ph", "--list-profiles", "list supported TLS profiles and exit", exclusive=True)
    for long, (short, key) in _PROFILE_OPTIONS.items():
        profile = PROFILES[key]
        note = " (default)" if key == "8996" else " (retired)" if profile.retired else ""
        cmd.add(short, long, profile.name + note)
    cmd.group("ciphersuite", 1)
    cmd.add("+cc", "--list-ciphers", "show list of supported TLS ciphersuites and exit", exclusive=True)
    cmd.add(
        "+cs",
        "--cipher",
        "add ciphersuite to list of negotiated suites\n(not with --profile-bcp195-ex or --profile-8996-mod)",
        "[c]iphersuite name: string",
    )
    if role in ("server", "both"):
        cmd.add("+dp", "--dhparam", "read DH parameters for DH/DSS ciphersuites", "[f]ilename: string")


def list_ciphers(out: TextIO) -> None:
    """``+cc``: the suites the local OpenSSL offers, by their RFC names."""
    out.write("Supported TLS ciphersuites are:\n")
    for name in supported_suites():
        out.write(f"  {name}\n")


def list_profiles(out: TextIO) -> None:
    """``+ph``: the profiles whose suites the local OpenSSL offers (e.g. no 3DES: no +pb)."""
    out.write("Supported TLS security profiles are:\n")
    for long, (short, key) in _PROFILE_OPTIONS.items():
        if any(suite_supported(s) for s in PROFILES[key].suites):
            out.write(f"  {short:<4} {long:<20} {PROFILES[key].name}\n")


def enabled(parsed: Parsed) -> bool:
    """Whether ``+tls`` or ``+tla`` wins over ``-tls``."""
    return parsed.winner("--disable-tls", "--enable-tls", "--anonymous-tls") in ("--enable-tls", "--anonymous-tls")


def check(parsed: Parsed, role: Role) -> None:
    """DCMTK's dependency checks: TLS options only with TLS enabled."""
    mode = parsed.winner("--disable-tls", "--enable-tls", "--anonymous-tls")
    tls_on = mode in ("--enable-tls", "--anonymous-tls")
    needs = "--enable-tls or --anonymous-tls" if role == "client" else "--enable-tls"
    password = parsed.winner(*_PASSWORD)
    if password and password != "--std-passwd" and mode != "--enable-tls":
        raise CommandLineError(f"{password} only allowed with --enable-tls")
    dependent = (
        "--pem-keys",
        "--der-keys",
        "--add-cert-file",
        "--add-cert-dir",
        "--add-crl-file",
        "--enable-crl-vfy",
        "--enable-crl-all",
        *_PROFILE_OPTIONS,
        "--cipher",
        "--dhparam",
        "--request-sni",
        "--seed",
        "--write-seed",
        "--write-seed-file",
        "--require-peer-cert",
        "--verify-peer-cert",
        "--ignore-peer-cert",
    )
    if not tls_on:
        for name in dependent:
            if parsed.has(name):
                raise CommandLineError(f"{name} only allowed with {needs}")
    if parsed.has("--cipher") and parsed.winner(*_PROFILE_OPTIONS) in ("--profile-bcp195-ex", "--profile-8996-mod"):
        raise CommandLineError(f"--cipher not allowed with {parsed.winner(*_PROFILE_OPTIONS)}")
    for name in ("--write-seed", "--write-seed-file"):
        if parsed.has(name) and not parsed.has("--seed"):
            raise CommandLineError(f"{name} only allowed with --seed")


def _prompt() -> str:
    """``+ps``: the key's password from the terminal, or one line of standard input."""
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass("Enter PEM pass phrase:")
    line = sys.stdin.readline() if sys.stdin is not None else ""
    return line.rstrip("\r\n")


class _AskedOnce:
    """A password source that asks (the terminal, stdin) at most once: movescu builds two
    contexts from one key, and the user types the password once."""

    def __init__(self, ask: Callable[[], str]) -> None:
        self._ask = ask
        self._answer: str | None = None

    def __call__(self) -> str:
        if self._answer is None:
            self._answer = self._ask()
        return self._answer


def settings(parsed: Parsed, role: Role) -> TLSSettings | None:
    """What the options ask for (None: plain TCP)."""
    if not enabled(parsed):
        return None
    key_cert = (
        parsed.values("--enable-tls") if parsed.winner("--enable-tls", "--anonymous-tls") == "--enable-tls" else None
    )
    password = parsed.winner(*_PASSWORD)
    profile = _PROFILE_OPTIONS.get(parsed.winner(*_PROFILE_OPTIONS) or "", ("", "8996"))[1]
    verification = {"--verify-peer-cert": "verify", "--ignore-peer-cert": "ignore"}.get(
        parsed.winner("--require-peer-cert", "--verify-peer-cert", "--ignore-peer-cert") or "", "require"
    )
    crl = {"--enable-crl-vfy": "leaf", "--enable-crl-all": "chain"}.get(
        parsed.winner("--enable-crl-vfy", "--enable-crl-all") or "", None
    )
    return TLSSettings(
        server=role == "server",
        key_file=key_cert[0] if key_cert else None,
        cert_file=key_cert[1] if key_cert else None,
        der=parsed.winner("--pem-keys", "--der-keys") == "--der-keys",
        password=(
            parsed.value("--use-passwd")
            if password == "--use-passwd"
            else ""
            if password == "--null-passwd"
            else _AskedOnce(_prompt)
        ),
        ca_files=[v[0] for v in parsed.all_values("--add-cert-file")],
        ca_dirs=[v[0] for v in parsed.all_values("--add-cert-dir")],
        crl_files=[v[0] for v in parsed.all_values("--add-crl-file")],
        crl_check=crl,
        profile=profile,
        extra_suites=[v[0] for v in parsed.all_values("--cipher")],
        verification=verification,
        dh_params=parsed.value("--dhparam"),
    )


class TLSContexts:
    """The SSL contexts a run uses, built once at start-up, and the seed file work."""

    def __init__(self, parsed: Parsed, role: Role, log: logging.Logger) -> None:
        self.client: ssl.SSLContext | None = None
        self.server: ssl.SSLContext | None = None
        self.server_hostname = parsed.value("--request-sni")  # None: no SNI (DCMTK's default)
        self._seed_target = parsed.value("--write-seed-file") or (
            parsed.value("--seed") if parsed.has("--write-seed") else None
        )
        self._log = log
        base = settings(parsed, role)
        if base is None:
            return
        _read_seed(parsed.value("--seed"), log)
        # each side gets its own copy of the settings (make_context may complete them); the
        # password source is shared and asks once
        if role in ("client", "both"):
            self.client = make_context(base.replace(server=False), log.warning)
        if role in ("server", "both"):
            self.server = make_context(base.replace(server=True), log.warning)

    @property
    def request_options(self) -> dict[str, Any]:
        """``Association.request`` keyword arguments for our outgoing associations."""
        return {"ssl": self.client, "server_hostname": self.server_hostname}

    @property
    def enabled(self) -> bool:
        return self.client is not None or self.server is not None

    def finish(self) -> None:
        """``+ws``/``+wf``: write fresh random bytes back as the seed, as DCMTK does at exit."""
        target = self._seed_target
        if not target or not self.enabled:
            return
        try:
            with open(target, "wb") as fp:
                fp.write(ssl.RAND_bytes(1024))
        except OSError:
            self._log.warning("cannot write random seed file '%s', ignoring", target)


def _read_seed(path: str | None, log: logging.Logger) -> None:
    """``+rs``: mix the file's bytes into OpenSSL's random generator, as DCMTK does."""
    if not path:
        return
    try:
        with open(path, "rb") as fp:
            ssl.RAND_add(fp.read(1 << 16), 0.0)
    except OSError:
        log.warning("unable to read random seed file '%s', ignoring", path)


def contexts(parsed: Parsed, role: Role, log: logging.Logger) -> TLSContexts | None:
    """The run's TLS contexts; None after logging DCMTK's error (the tool then exits 1)."""
    try:
        return TLSContexts(parsed, role, log)
    except TLSSetupError as exc:
        if exc.detail:
            log.error("OpenSSL error: %s", exc.detail)
        log.critical("%s", exc)
        return None


__all__ = [
    "Role",
    "TLSContexts",
    "add_options",
    "check",
    "contexts",
    "enabled",
    "list_ciphers",
    "list_profiles",
    "settings",
]
