"""A recording SCP: accepts one connection, keeps the A-ASSOCIATE-RQ, answers A-ASSOCIATE-RJ.

Used to compare what two SCUs propose, byte for byte, without anything else happening.
"""

from __future__ import annotations

import socket
import threading

from dimse.core.pdu import PDU_HEADER, AssociateRJ, AssociateRQ, decode_pdu, encode


class RecordingSCP:
    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(30)
        self.port = self.sock.getsockname()[1]
        self.requests: list[AssociateRQ] = []
        self.raw: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    header = conn.recv(6, socket.MSG_WAITALL)
                    pdu_type, length = PDU_HEADER.unpack(header)
                    body = conn.recv(length, socket.MSG_WAITALL)
                except (OSError, ValueError):
                    continue
                self.raw.append(header + body)
                self.requests.append(decode_pdu(pdu_type, body))
                conn.sendall(encode(AssociateRJ(1, 1, 1)))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RecordingSCP:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def contexts(rq: AssociateRQ) -> list[tuple[int, str, list[str]]]:
    return [(c.context_id, c.abstract_syntax, c.transfer_syntaxes) for c in rq.contexts]
