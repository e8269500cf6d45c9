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


class _Recording(socket.socket):
    """A real socket that remembers the options set on it."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.options: list[tuple[int, int, int]] = []

    def setsockopt(self, level: int, option: int, value: object, *rest: object) -> None:
        if isinstance(value, int):
            self.options.append((level, option, value))
        super().setsockopt(level, option, value, *rest)  # type: ignore[call-overload]


async def _receive_sent_later(stream: SocketByteStream, peer: socket.socket, data: bytes) -> bytes:
    """What ``stream`` reads when ``peer`` sends ``data`` only after the read began waiting."""

    async def later() -> None:
        await anyio.sleep(0.05)
        peer.sendall(data)

    got: list[bytes] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(later)
        got.append(await stream.receive(100))
    return got[0]


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="Linux only")
def test_tcp_read_that_waits_acknowledges_first() -> None:
    """A read that has to wait sends the pending acknowledgement first (TCP_QUICKACK).

    rsync does not set TCP_NODELAY: its next small write waits for our acknowledgement,
    which Linux would otherwise delay by up to 40 ms while we have nothing to send.
    """
    quickack = (socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    async def main() -> None:
        listener = socket.create_server(("127.0.0.1", 0))
        peer = socket.create_connection(listener.getsockname())
        accepted, _ = listener.accept()
        listener.close()
        ours = _Recording(fileno=accepted.detach())
        stream = SocketByteStream(ours)
        assert quickack not in ours.options  # only a wait asks for it
        peer.sendall(b"first")
        await anyio.wait_readable(ours)
        assert await stream.receive(100) == b"first"
        assert quickack not in ours.options  # the data was there: no wait, no option
        assert await _receive_sent_later(stream, peer, b"second") == b"second"
        assert quickack in ours.options
        peer.close()
        await stream.aclose()

    anyio.run(main)


def test_unix_socket_read_sets_no_tcp_option() -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        ours = _Recording(fileno=b.detach())
        stream = SocketByteStream(ours)
        assert await _receive_sent_later(stream, a, b"x") == b"x"
        assert ours.options == []
        a.close()
        await stream.aclose()

    anyio.run(main)
