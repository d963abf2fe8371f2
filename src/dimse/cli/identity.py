"""User identity negotiation options (``--user``, ``--password``, ``--kerberos`` ...), spec section 11."""

from __future__ import annotations

from ..core.pdu import UserIdentityRQ
from .options import CommandLine, CommandLineError, Parsed

MAX_FIELD = 65535
_TYPES = {"--user": 1, "--kerberos": 3, "--saml": 4, "--jwt": 5}


class IdentityError(Exception):
    """A Kerberos/SAML/JWT file that cannot be used (exit 1, before any connection)."""


def add_options(cmd: CommandLine) -> None:
    cmd.group("user identity negotiation", 1)
    cmd.add("-usr", "--user", "authenticate using user name u", "[u]ser name: string")
    cmd.add("-pwd", "--password", "authenticate using password p", "[p]assword: string (only with --user)")
    cmd.add("-epw", "--empty-password", "send empty password (only with --user)")
    cmd.add("-kt", "--kerberos", "read kerberos ticket from file f", "[f]ilename: string")
    cmd.add(None, "--saml", "read SAML request from file f", "[f]ilename: string")
    cmd.add(None, "--jwt", "read JWT from file f", "[f]ilename: string")
    cmd.add("-rsp", "--pos-response", "expect positive response")


def check(parsed: Parsed) -> None:
    """DCMTK's dependency checks for these options."""
    mode = parsed.winner(*_TYPES)
    password = parsed.winner("--password", "--empty-password")
    if password and mode != "--user":
        raise CommandLineError(f"{password} only allowed with --user")
    if parsed.has("--pos-response") and mode is None:
        raise CommandLineError("--pos-response only allowed with --user, --kerberos, --saml or --jwt")


def request(parsed: Parsed, log) -> UserIdentityRQ | None:
    """The user identity sub-item to send, or None; files are read now."""
    mode = parsed.winner(*_TYPES)
    if mode is None:
        return None
    positive = parsed.has("--pos-response")
    value = parsed.value(mode) or ""
    if mode == "--user":
        password = parsed.winner("--password", "--empty-password")
        name = _field(value, "--user")
        if password is None:
            return UserIdentityRQ(1, name, b"", positive)
        secret = _field(parsed.value("--password", ""), "--password") if password == "--password" else b""
        return UserIdentityRQ(2, name, secret, positive)
    try:
        with open(value, "rb") as fp:
            data = fp.read(MAX_FIELD + 1)
    except OSError as exc:
        raise IdentityError(f"Unable to open Kerberos, SAML or JWT file: {exc.strerror or exc}") from None
    if not data:
        raise IdentityError("Unable to read Kerberos, SAML or JWT info from file: File empty?")
    if len(data) > MAX_FIELD:
        log.info("Kerberos, SAML or JWT file is larger than 65535 bytes, bytes after that position are ignored")
        data = data[:MAX_FIELD]
    return UserIdentityRQ(_TYPES[mode], data, b"", positive)


def _field(text: str, option: str) -> bytes:
    """A user name or password as sent: UTF-8, at most 65535 bytes (its length field has two)."""
    data = text.encode("utf-8", "surrogateescape")
    if len(data) > MAX_FIELD:
        raise CommandLineError(f"Invalid value for option {option}: longer than {MAX_FIELD} bytes")
    return data


def response_missing(rq: UserIdentityRQ | None, accepted) -> bool:
    """DCMTK's rule: only a user-name identity with --pos-response requires a response item."""
    return (
        rq is not None
        and rq.positive_response_requested
        and rq.identity_type in (1, 2)
        and accepted.user_info.user_identity_ac is None
    )
