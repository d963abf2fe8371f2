"""A peer made of a plain socket, for tests that send what no real peer would."""

from __future__ import annotations

import socket

from dimse.core.pdu import PDU_HEADER, decode_pdu

WAIT = 20.0  # bound on any wait for the server: a hang fails, speed is never asserted


def connect(port: int, timeout: float = WAIT) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """``n`` bytes, or fewer if the peer closed first."""
    data = b""
    while len(data) < n:
        piece = sock.recv(n - len(data))
        if not piece:
            break
        data += piece
    return data


def read_pdu(sock: socket.socket):
    """The next PDU, decoded; None if the connection closed before a whole header."""
    header = recv_exact(sock, 6)
    if len(header) < 6:
        return None
    pdu_type, length = PDU_HEADER.unpack(header)
    return decode_pdu(pdu_type, recv_exact(sock, length))


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the server closed (or reset) the connection, whatever it sent before; False
    if it kept it open past the socket's timeout."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True
