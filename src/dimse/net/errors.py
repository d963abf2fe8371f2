"""What the network layer raises, all in the one family of :class:`~dimse.errors.DimseError`.

A failure that Python reports as a built-in error (a refused connection, a TLS alert, a bad
address) is raised as a DimseError that is *also* that built-in type, with the same errno,
text and TLS attributes: ``except DimseError`` catches everything the network can do, and every
``except OSError`` (``ssl.SSLError``, ``ValueError``) written before keeps working.
"""

from __future__ import annotations

import ssl

from ..errors import AssociationAborted, DimseError, LocalProtocolError, NetworkTimeout


class ConnectionFailed(DimseError, OSError):
    """The TCP connection to the peer could not be made (refused, unreachable, reset)."""


class TLSFailed(ConnectionFailed, ssl.SSLError):
    """The TLS handshake failed, or the peer's TLS layer ended the connection with an alert."""


class TLSCertificateRejected(TLSFailed, ssl.SSLCertVerificationError):
    """The peer's certificate did not verify."""


class ConnectionLost(DimseError, ConnectionResetError):
    """The connection went away while we were sending."""


class ListenFailed(DimseError, OSError):
    """The port to serve on could not be opened (in use, no permission)."""


class InvalidRequest(DimseError, ValueError):
    """An association that cannot be requested as asked: a NUL in a host name, a port out of
    range, more presentation contexts than PS3.8 allows."""


class PortOutOfRange(InvalidRequest, OverflowError):
    """A port outside 0-65535 (``socket`` reports it as an OverflowError)."""


class PeerSilent(NetworkTimeout, AssociationAborted):
    """Nothing arrived within the socket timeout (-ts) while the next PDU of an established
    association was awaited.  DCMTK's upper layer reports this as the peer aborting the
    association, and so do DCMTK's tools; it is both a NetworkTimeout (kind READ) and an
    AssociationAborted, and the association has been aborted."""


class PeerStalled(NetworkTimeout):
    """The peer sent part of a PDU and then nothing within the socket timeout (-ts)."""


class AssociationOver(LocalProtocolError):
    """Something was to be sent on an association that had already ended (the reason it
    ended was reported before)."""


class ReleaseAfterEnd(LocalProtocolError):
    """A release was asked of an association that had already ended (aborted, by either
    side): there is nothing to release, as DCMTK's upper layer says too."""


_SSL_ATTRIBUTES = ("reason", "library", "verify_code", "verify_message")


def _same_os_error(cls: type[OSError], exc: OSError) -> OSError:
    """``exc`` as a ``cls``: the same errno, text and file name (and TLS details)."""
    args = exc.args if exc.errno is None else (exc.errno, exc.strerror, *((exc.filename,) if exc.filename else ()))
    wrapped = cls(*args)
    for name in _SSL_ATTRIBUTES:
        if hasattr(exc, name):
            setattr(wrapped, name, getattr(exc, name))
    return wrapped


def connection_failed(exc: OSError) -> OSError:
    """The error to raise for ``exc``, met while connecting (a DimseError and an OSError)."""
    if isinstance(exc, DimseError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _same_os_error(TLSCertificateRejected, exc)
    if isinstance(exc, ssl.SSLError):
        return _same_os_error(TLSFailed, exc)
    return _same_os_error(ConnectionFailed, exc)


def connection_lost(exc: OSError) -> OSError:
    """The error to raise for ``exc``, met while sending on an open connection."""
    return exc if isinstance(exc, DimseError) else _same_os_error(ConnectionLost, exc)


def listen_failed(exc: OSError) -> OSError:
    """The error to raise for ``exc``, met while opening a port to serve on."""
    return exc if isinstance(exc, DimseError) else _same_os_error(ListenFailed, exc)


def invalid_request(exc: ValueError | OverflowError) -> InvalidRequest:
    """The error to raise for arguments refused outright (by the socket layer, by PS3.8)."""
    if isinstance(exc, OverflowError):
        return PortOutOfRange(*exc.args)
    return InvalidRequest(*exc.args)
