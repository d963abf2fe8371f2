"""TLS for DICOM associations (PS3.15 annex B): security profiles, cipher suites by their
RFC names, key and certificate loading (PEM or DER), and SSL contexts for either role.

Everything cryptographic is Python's ``ssl`` (OpenSSL); ``cryptography`` only reads keys
and certificates so that DER files, passwords and a key that does not match its
certificate each get their own clear error.
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Callable, Sequence

from ..core.record import FrozenRecord, Record

#: TLS 1.2 cipher suites DCMTK knows, RFC name -> OpenSSL name, weakest first
CIPHER_SUITES: dict[str, str] = {
    "TLS_RSA_WITH_NULL_SHA": "NULL-SHA",
    "TLS_RSA_WITH_NULL_SHA256": "NULL-SHA256",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA": "CAMELLIA128-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA": "CAMELLIA256-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA256": "AES256-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_DHE_DSS_WITH_AES_128_CBC_SHA": "DHE-DSS-AES128-SHA",
    "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA": "DHE-DSS-CAMELLIA128-SHA",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA": "DHE-RSA-AES128-SHA",
    "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA": "DHE-RSA-CAMELLIA128-SHA",
    "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256": "DHE-DSS-AES128-SHA256",
    "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256": "DHE-RSA-AES128-SHA256",
    "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256": "DHE-DSS-AES128-GCM-SHA256",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256": "DHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384": "ECDHE-ECDSA-AES256-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384": "ECDHE-RSA-AES256-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_DHE_DSS_WITH_AES_256_CBC_SHA": "DHE-DSS-AES256-SHA",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA": "DHE-RSA-AES256-SHA",
    "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA": "DHE-DSS-CAMELLIA256-SHA",
    "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA": "DHE-RSA-CAMELLIA256-SHA",
    "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256": "DHE-DSS-AES256-SHA256",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256": "DHE-RSA-AES256-SHA256",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "DHE-RSA-CHACHA20-POLY1305",
    "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384": "DHE-DSS-AES256-GCM-SHA384",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384": "DHE-RSA-AES256-GCM-SHA384",
}

_ECDHE_GCM = [
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
]
_BCP195_ND = [
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
]


class TLSSetupError(Exception):
    """The TLS layer cannot be created (bad key, certificate, profile or cipher suite).

    ``code`` is DCMTK's condition (``000b:0004`` ...); ``detail`` the library's reason."""

    def __init__(self, code: str, message: str, detail: str = "") -> None:
        super().__init__(f"{code} {message}")
        self.detail = detail


class Profile(FrozenRecord):
    """A DICOM TLS security profile as DCMTK names it: its suites and protocol versions;
    ``extensible``: extra suites (``+cs``) may be added; ``security_level``: the OpenSSL level
    its suites need (retired profiles need 0)."""

    __slots__ = ("name", "suites", "minimum", "maximum", "extensible", "security_level", "retired")
    name: str
    suites: tuple[str, ...]
    minimum: ssl.TLSVersion
    maximum: ssl.TLSVersion
    extensible: bool
    security_level: int | None
    retired: bool

    def __init__(  # noqa: PLR0913 (a profile's description)
        self,
        name: str,
        suites: tuple[str, ...],
        minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
        maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED,
        extensible: bool = True,
        security_level: int | None = None,
        retired: bool = False,
    ) -> None:
        for slot, value in zip(
            self.__slots__, (name, suites, minimum, maximum, extensible, security_level, retired), strict=True
        ):
            object.__setattr__(self, slot, value)


PROFILES: dict[str, Profile] = {
    "8996": Profile("BCP 195 RFC 8996 TLS Profile", tuple(_ECDHE_GCM)),
    "8996-mod": Profile(
        "Modified BCP 195 RFC 8996 TLS Profile",
        (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ),
        extensible=False,
    ),
    "bcp195-nd": Profile("Non-downgrading BCP 195 TLS Profile", tuple(_BCP195_ND), retired=True),
    "bcp195": Profile(
        "BCP 195 TLS Profile",
        (*_BCP195_ND, "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
        minimum=ssl.TLSVersion.TLSv1,
        security_level=0,
        retired=True,
    ),
    "bcp195-ex": Profile(
        "Extended BCP 195 TLS Profile",
        (*_BCP195_ND, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
        maximum=ssl.TLSVersion.TLSv1_2,
        extensible=False,
        retired=True,
    ),
    "basic": Profile(
        "Basic TLS Secure Transport Connection Profile",
        ("TLS_RSA_WITH_3DES_EDE_CBC_SHA",),
        minimum=ssl.TLSVersion.TLSv1,
        maximum=ssl.TLSVersion.TLSv1_2,
        security_level=0,
        retired=True,
    ),
    "aes": Profile(
        "AES TLS Secure Transport Connection Profile",
        ("TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
        minimum=ssl.TLSVersion.TLSv1,
        maximum=ssl.TLSVersion.TLSv1_2,
        security_level=0,
        retired=True,
    ),
    "null": Profile(
        "Authenticated unencrypted communication",
        ("TLS_RSA_WITH_NULL_SHA",),
        maximum=ssl.TLSVersion.TLSv1_2,
        security_level=0,
        retired=True,
    ),
}


@functools.cache
def suite_supported(name: str) -> bool:
    """Whether the local OpenSSL offers the TLS 1.2 suite ``name`` (RFC name)."""
    openssl = CIPHER_SUITES.get(name)
    if openssl is None:
        return False
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.set_ciphers(f"{openssl}:@SECLEVEL=0")
    except ssl.SSLError:
        return False
    return any(c["name"] == openssl for c in ctx.get_ciphers())


def supported_suites() -> list[str]:
    return [name for name in CIPHER_SUITES if suite_supported(name)]


class TLSSettings(Record):
    """What a tool's TLS options ask for; :func:`make_context` turns it into an SSLContext.

    ``key_file``/``cert_file``: our own key and certificate (None: anonymous client); ``der``:
    keys, certificates and CRLs are DER, not PEM; ``password``: a string, or a callable asked
    only when the key is encrypted; ``crl_check``: None, "leaf" or "chain"; ``verification``:
    "require" (-rc), "verify" (-vc, server only: check if present) or "ignore" (-ic);
    ``alpn``: the protocols offered/accepted ("dicom", as DCMTK 3.7.0)."""

    __slots__ = (
        "server",
        "key_file",
        "cert_file",
        "der",
        "password",
        "ca_files",
        "ca_dirs",
        "crl_files",
        "crl_check",
        "profile",
        "extra_suites",
        "verification",
        "dh_params",
        "alpn",
    )

    def __init__(  # noqa: PLR0913 (every TLS option of DCMTK's tools)
        self,
        server: bool = False,
        key_file: str | None = None,
        cert_file: str | None = None,
        der: bool = False,
        password: str | Callable[[], str] | None = None,
        ca_files: list[str] | None = None,
        ca_dirs: list[str] | None = None,
        crl_files: list[str] | None = None,
        crl_check: str | None = None,
        profile: str = "8996",
        extra_suites: list[str] | None = None,
        verification: str = "require",
        dh_params: str | None = None,
        alpn: Sequence[str] = ("dicom",),
    ) -> None:
        self.server = server
        self.key_file = key_file
        self.cert_file = cert_file
        self.der = der
        self.password = password
        self.ca_files: list[str] = [] if ca_files is None else ca_files
        self.ca_dirs: list[str] = [] if ca_dirs is None else ca_dirs
        self.crl_files: list[str] = [] if crl_files is None else crl_files
        self.crl_check = crl_check
        self.profile = profile
        self.extra_suites: list[str] = [] if extra_suites is None else extra_suites
        self.verification = verification
        self.dh_params = dh_params
        self.alpn = alpn


def make_context(settings: TLSSettings, warn: Callable[[str], None] = lambda _m: None) -> ssl.SSLContext:
    """An SSLContext for ``settings``; raises TLSSetupError with DCMTK's condition texts.

    Unreadable trusted certificates and directories only give a warning, as in DCMTK."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if settings.server else ssl.PROTOCOL_TLS_CLIENT)
    if not settings.server:
        ctx.check_hostname = False  # DICOM peers are identified by their certificate, not a host name
    _apply_profile(ctx, settings)
    ctx.verify_mode = {
        "require": ssl.CERT_REQUIRED,
        "verify": ssl.CERT_OPTIONAL if settings.server else ssl.CERT_REQUIRED,
        "ignore": ssl.CERT_NONE,
    }[settings.verification]
    for path in settings.ca_files:
        if not _load_trusted_file(ctx, path, settings.der):
            warn(f"unable to load certificate file '{path}', ignoring")
    for path in settings.ca_dirs:
        if not _load_trusted_dir(ctx, path, settings.der):
            warn(f"unable to load certificates from directory '{path}', ignoring")
    for path in settings.crl_files:
        if not _load_crl(ctx, path, settings.der):
            warn(f"unable to load CRL file '{path}', ignoring")
        elif settings.crl_check is None:
            settings.crl_check = "leaf"
    if settings.crl_check == "leaf":
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    elif settings.crl_check == "chain":
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN
    if settings.dh_params:
        try:
            ctx.load_dh_params(settings.dh_params)
        except (OSError, ssl.SSLError):
            warn(f"unable to load temporary DH parameter file '{settings.dh_params}', ignoring")
    if settings.key_file is not None and settings.cert_file is not None:
        _load_identity(ctx, settings)
    elif settings.server:
        raise TLSSetupError("000b:0004", "Unable to load private TLS key: none given")
    if settings.alpn:
        ctx.set_alpn_protocols(list(settings.alpn))
    return ctx


def _apply_profile(ctx: ssl.SSLContext, settings: TLSSettings) -> None:
    profile = PROFILES[settings.profile]
    if settings.extra_suites and not profile.extensible:
        raise TLSSetupError(
            "000b:0012", f"Additional ciphersuites not permitted with security profile '{profile.name}'"
        )
    suites = list(profile.suites)
    for name in settings.extra_suites:
        if not suite_supported(name):  # unknown names included
            raise TLSSetupError("000b:0011", f"Ciphersuite '{name}' not supported by the OpenSSL library in use")
        if name.endswith(("_NULL_SHA", "_NULL_SHA256")) and profile.name != PROFILES["null"].name:
            raise TLSSetupError(
                "000b:0012", f"Unencrypted ciphersuite '{name}' not permitted with security profile '{profile.name}'"
            )
        suites.append(name)
    available = [CIPHER_SUITES[s] for s in suites if suite_supported(s)]
    if not available:
        raise TLSSetupError(
            "000b:0013", f"security profile '{profile.name}' not supported by the OpenSSL library in use"
        )
    level = f":@SECLEVEL={profile.security_level}" if profile.security_level is not None else ""
    try:
        ctx.set_ciphers(":".join(available) + level)
        ctx.minimum_version = profile.minimum
        ctx.maximum_version = profile.maximum
    except (ssl.SSLError, ValueError) as exc:
        raise TLSSetupError(
            "000b:0013", f"security profile '{profile.name}' not supported by the OpenSSL library in use", str(exc)
        ) from None


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fp:
            return fp.read()
    except OSError:
        return None


def _load_trusted_file(ctx: ssl.SSLContext, path: str, der: bool) -> bool:
    """Certificates (and, in PEM, CRLs) from ``path``; False if none could be loaded."""
    try:
        if der:
            with open(path, "rb") as fp:
                ctx.load_verify_locations(cadata=fp.read())
        else:
            ctx.load_verify_locations(cafile=path)
    except (ssl.SSLError, ValueError, OSError):
        return False
    return True


def _load_trusted_dir(ctx: ssl.SSLContext, path: str, der: bool) -> bool:
    """Every certificate file in ``path`` (not only hashed names), so a plain folder works too."""
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return False
    for name in names:
        full = os.path.join(path, name)
        if os.path.isfile(full):
            _load_trusted_file(ctx, full, der)
    return True


def _load_crl(ctx: ssl.SSLContext, path: str, der: bool) -> bool:
    """A CRL file; OpenSSL reads only PEM ones from a file, so a DER one goes through a
    temporary PEM copy."""
    if not der:
        return _load_trusted_file(ctx, path, der=False)
    data = _read(path)
    if not data:
        return False
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        data = x509.load_der_x509_crl(data).public_bytes(Encoding.PEM)
    except ValueError:
        return False
    import tempfile  # here, not at start-up: only a DER CRL needs it

    with tempfile.TemporaryDirectory(prefix="dimse-tls-") as tmp:
        pem = os.path.join(tmp, "crl.pem")
        with open(pem, "wb") as fp:
            fp.write(data)
        try:
            ctx.load_verify_locations(cafile=pem)
        except (ssl.SSLError, OSError):
            return False
    return True


def _load_identity(ctx: ssl.SSLContext, settings: TLSSettings) -> None:
    """Our key and certificate chain, each checked on its own for a clear error, then
    handed to OpenSSL through a private temporary folder (the key stays encrypted there)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key_path, cert_path = settings.key_file or "", settings.cert_file or ""
    key_data = _read(key_path)
    if key_data is None:
        raise TLSSetupError("000b:0004", f"Unable to load private TLS key from '{key_path}'", "cannot read file")
    load_key = serialization.load_der_private_key if settings.der else serialization.load_pem_private_key
    try:
        try:
            key = load_key(key_data, None)
        except TypeError:  # encrypted: now (and only now) ask for the password
            password = settings.password() if callable(settings.password) else settings.password
            settings.password = password  # asked once, even when two contexts are built
            key = load_key(key_data, (password or "").encode("utf-8"))
    except (ValueError, TypeError) as exc:
        raise TLSSetupError("000b:0004", f"Unable to load private TLS key from '{key_path}'", str(exc)) from None
    cert_data = _read(cert_path)
    try:
        if cert_data is None:
            raise ValueError("cannot read file")
        certs = (
            [x509.load_der_x509_certificate(cert_data)] if settings.der else x509.load_pem_x509_certificates(cert_data)
        )
    except ValueError as exc:
        raise TLSSetupError("000b:0005", f"Unable to load certificate from '{cert_path}'", str(exc)) from None
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, spki) != certs[0].public_key().public_bytes(
        serialization.Encoding.DER, spki
    ):
        raise TLSSetupError("000b:0006", f"Private key '{key_path}' and certificate '{cert_path}' do not match")
    import secrets  # here, not at start-up (with tempfile ~15 ms): only an encrypted key needs them
    import tempfile

    secret = secrets.token_bytes(32)
    with tempfile.TemporaryDirectory(prefix="dimse-tls-") as tmp:
        key_pem, chain_pem = os.path.join(tmp, "key.pem"), os.path.join(tmp, "chain.pem")
        fd = os.open(key_pem, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fp:
            fp.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(secret),
                )
            )
        with open(chain_pem, "wb") as fp:
            fp.write(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
        try:
            ctx.load_cert_chain(chain_pem, key_pem, password=secret)
        except ssl.SSLError as exc:
            raise TLSSetupError(
                "000b:0006", f"Private key '{key_path}' and certificate '{cert_path}' do not match", str(exc)
            ) from None


def describe_error(exc: BaseException) -> str | None:
    """DCMTK-style text for a TLS failure (``000b:0886 TLS error: ...``), None if not one."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"000b:0886 TLS error: certificate verify failed ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        reason = (exc.reason or exc.strerror or str(exc)).replace("_", " ").lower()
        hint = " (is the peer using TLS?)" if "wrong version" in reason or "eof" in reason else ""
        return f"000b:0886 TLS error: {reason}{hint}"
    return None
