"""SocketByteStream: every byte through a socket whose buffers fill, EOF and breakage."""

from __future__ import annotations

import os
import socket

import anyio
import pytest

from rsync_wire.pipes import SocketByteStream


def _pair() -> tuple[SocketByteStream, SocketByteStream]:
    a, b = socket.socketpair()
    for s in (a, b):  # small buffers: sends are partial and reads wait
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return SocketByteStream(a), SocketByteStream(b)


def test_large_send_arrives_whole_then_eof() -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)

    async def main() -> bytes:
        left, right = _pair()
        got = bytearray()

        async def writer() -> None:
            await left.send(data)
            await left.send_eof()

        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            while True:
                try:
                    got += await right.receive(65536)
                except anyio.EndOfStream:
                    break
        await left.aclose()
        await right.aclose()
        return bytes(got)

    assert anyio.run(main) == data


def test_send_to_a_closed_peer_is_broken() -> None:
    async def main() -> None:
        left, right = _pair()
        await right.aclose()
        with pytest.raises(anyio.BrokenResourceError):
            await left.send(b"x" * (4 * 1024 * 1024))  # more than any buffer holds
        await left.aclose()

    anyio.run(main)


def test_closed_stream_cannot_be_used() -> None:
    async def main() -> None:
        left, right = _pair()
        await left.aclose()
        await left.aclose()  # twice is fine (the connection closes it when done)
        with pytest.raises(anyio.ClosedResourceError):
            await left.receive()
        with pytest.raises(anyio.ClosedResourceError):
            await left.send(b"x")
        await right.aclose()

    anyio.run(main)


def test_receive_ready_never_waits() -> None:
    async def main() -> None:
        left, right = _pair()
        assert right.receive_ready(100) is None  # nothing yet
        await left.send(b"abc")
        await anyio.wait_readable(right._sock)
        assert right.receive_ready(100) == b"abc"
        await left.send_eof()
        await anyio.wait_readable(right._sock)
        with pytest.raises(anyio.EndOfStream):
            right.receive_ready(100)
        await left.aclose()
        await right.aclose()

    anyio.run(main)
