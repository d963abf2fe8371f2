"""Property: whatever bytes one connection sends, our acceptor answers an echo on the next.

The acceptor runs in-process (an asyncio server on loopback); the garbage is random bytes,
or a valid A-ASSOCIATE-RQ / P-DATA-TF stream with bytes flipped, inserted or cut.
"""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dimse import Acceptor, AcceptorPolicy, Services, Timeouts, associate, serve
from dimse.core.commands import c_echo_rq, encode_command
from dimse.core.negotiation import build_request
from dimse.core.pdu import encode, pdata_header
from dimse.uids import VERIFICATION

LEI = "1.2.840.10008.1.2"
VALID = encode(build_request("FUZZ", "ANY-SCP", [(VERIFICATION, [LEI])])) + (
    pdata_header(1, len(encode_command(c_echo_rq(1))), True, True) + encode_command(c_echo_rq(1))
)


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(VALID)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[pos:]
    return bytes(data)


class Recording(Services):
    def __init__(self) -> None:
        self.endings: list[str] = []
        self.done = asyncio.Event()

    def association_ended(self, assoc, how: str) -> None:
        self.endings.append(how)
        if len(self.endings) == 2:
            self.done.set()


async def _garbage_then_echo(junk: bytes) -> tuple[int, list[str]]:
    policy = AcceptorPolicy(transfer_syntaxes={VERIFICATION: [LEI]})
    services = Recording()
    acceptor = Acceptor(policy, services, Timeouts(acse=2, socket=2))
    server = await serve(acceptor, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(junk)
        await writer.drain()
        writer.close()
        assoc = await associate("127.0.0.1", port, [(VERIFICATION, [LEI])], timeouts=Timeouts(acse=5, dimse=5))
        status = (await assoc.echo()).Status
        await assoc.release()
        await asyncio.wait_for(services.done.wait(), 10)
    return status, services.endings


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=600), mutated()))
def test_acceptor_survives_garbage(junk):
    status, endings = asyncio.run(_garbage_then_echo(junk))
    assert status == 0
    assert "released" in endings
    assert not [how for how in endings if how.startswith("internal error")], endings
