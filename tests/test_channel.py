"""The protocol object under an association (dimse.net.channel), over real loopback sockets.

A plain socket client sends; the Channel side reads the way the driver does (each read's view
used up before the next read).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket

import pytest

from dimse.net.channel import FIRST_BUFFER, MAX_BUFFER, Channel


async def _pair() -> tuple[Channel, socket.socket, asyncio.AbstractServer]:
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[Channel] = loop.create_future()
    server = await loop.create_server(lambda: Channel(accepted.set_result), "127.0.0.1", 0)
    client = socket.create_connection(server.sockets[0].getsockname())
    client.setblocking(False)
    return await asyncio.wait_for(accepted, 10), client, server


async def _send(client: socket.socket, data: bytes, seed: int) -> None:
    """Send ``data`` in pieces of random sizes, with pauses now and then."""
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    view = memoryview(data)
    while view:
        size = rng.choice([1, 7, 4096, 65536, 300_000])
        await loop.sock_sendall(client, view[:size])
        view = view[size:]
        if rng.random() < 0.05:
            await asyncio.sleep(0.001)
    client.shutdown(socket.SHUT_WR)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bytes_arrive_whole_and_in_order_whatever_the_pace(seed):
    """12 MB sent in pieces of 1 byte to 300 KB, read by a consumer that sometimes dawdles
    (so the buffer fills, reading pauses, the buffer grows and is compacted): what is read is
    exactly what was sent, and the buffer never grows past MAX_BUFFER."""
    data = random.Random(seed).randbytes(12 << 20)

    async def scenario() -> tuple[str, int]:
        channel, client, server = await _pair()
        sender = asyncio.create_task(_send(client, data, seed))
        digest, rng, total, biggest = hashlib.sha256(), random.Random(seed + 100), 0, 0
        while True:
            chunk = await asyncio.wait_for(channel.read(), 10)
            if not chunk:
                break
            digest.update(chunk)
            total += len(chunk)
            biggest = max(biggest, len(channel._buffer))
            if rng.random() < 0.2:
                await asyncio.sleep(0.002)  # the peer keeps sending meanwhile
        await sender
        client.close()
        server.close()
        assert total == len(data)
        return digest.hexdigest(), biggest

    got, biggest = asyncio.run(scenario())
    assert got == hashlib.sha256(data).hexdigest()
    assert FIRST_BUFFER < biggest <= MAX_BUFFER


def test_small_exchange_keeps_the_first_buffer():
    """Short messages back and forth never grow the buffer (an idle or chatty connection holds
    FIRST_BUFFER bytes only)."""

    async def scenario() -> int:
        channel, client, server = await _pair()
        loop = asyncio.get_running_loop()
        for i in range(200):
            await loop.sock_sendall(client, bytes([i % 256]) * 170)
            got = 0
            while got < 170:
                got += len(await asyncio.wait_for(channel.read(), 10))
        client.close()
        server.close()
        return len(channel._buffer)

    assert asyncio.run(scenario()) == FIRST_BUFFER


def test_failed_read_raises_in_the_waiting_reader_and_after():
    """fail_read (the driver's timeout) wakes the read that waits, and every later read raises too."""

    async def scenario() -> None:
        channel, client, server = await _pair()
        reading = asyncio.create_task(channel.read())
        await asyncio.sleep(0.05)
        channel.fail_read(TimeoutError("read timed out"))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reading, 10)
        with pytest.raises(TimeoutError):
            await channel.read()
        client.close()
        server.close()

    asyncio.run(scenario())


def test_peer_close_reads_as_empty_and_reset_as_an_error():
    """An orderly close reads as b'' (after the bytes sent before it); a reset raises OSError."""

    async def scenario() -> None:
        channel, client, server = await _pair()
        client.sendall(b"last words")
        client.shutdown(socket.SHUT_WR)
        got = b""
        while chunk := await asyncio.wait_for(channel.read(), 10):
            got += bytes(chunk)
        assert got == b"last words"
        client.close()

        channel, client, server2 = await _pair()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        client.close()  # RST
        with pytest.raises(OSError):
            while await asyncio.wait_for(channel.read(), 10):
                pass
        server.close()
        server2.close()

    asyncio.run(scenario())
