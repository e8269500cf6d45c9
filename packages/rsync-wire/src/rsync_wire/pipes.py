"""Byte streams over plain file descriptors (a remote shell's stdin and stdout, a socket).

anyio's file streams hand a raw file's ``write()`` to a worker thread and ignore how
many bytes it wrote; on a pipe a write can be partial, and the rest of the protocol
stream is then silently lost. These streams put the descriptors in non-blocking mode,
wait for readiness on the event loop, and write until every byte is out.

:class:`SocketByteStream` does the same for a connected TCP socket. anyio's own TCP
stream reads through an asyncio transport that it pauses between reads: every read
registers the socket with the event loop and removes it again (two ``epoll_ctl``, an
``epoll_wait``, a future and an event), even when the data is already there. Receiving a
256 MiB file took a thousand such rounds, a fifth of the receiving daemon's time. This
one reads first and waits only when nothing has come.
"""

from __future__ import annotations

import contextlib
import os
import socket

import anyio
import anyio.lowlevel
from anyio.abc import ByteReceiveStream, ByteSendStream, ByteStream

__all__ = ["FdReceiveStream", "FdSendStream", "SocketByteStream"]


class FdReceiveStream(ByteReceiveStream):
    """Reads a file descriptor (which it owns and closes)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_blocking(fd, False)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """Read what is available (at least one byte).

        Raises:
            anyio.EndOfStream: the writer closed its end.
        """
        while True:
            try:
                data = os.read(self._fd, max_bytes)
            except BlockingIOError:
                await anyio.wait_readable(self._fd)
                continue
            if not data:
                raise anyio.EndOfStream
            return data

    async def aclose(self) -> None:
        """Close the descriptor."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class FdSendStream(ByteSendStream):
    """Writes a file descriptor (which it owns and closes), every byte."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_blocking(fd, False)

    async def send(self, item: bytes) -> None:
        """Write all of ``item``.

        Raises:
            anyio.BrokenResourceError: the reader closed its end.
        """
        view = memoryview(item)
        while view:
            try:
                n = os.write(self._fd, view)
            except BlockingIOError:
                await anyio.wait_writable(self._fd)
                continue
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise anyio.BrokenResourceError from exc
            view = view[n:]

    async def aclose(self) -> None:
        """Close the descriptor."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class SocketByteStream(ByteStream):
    """Reads and writes a connected stream socket (which it owns and closes)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        sock.setblocking(False)  # noqa: FBT003 - the socket API
        self._quickack = False
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # as asyncio's transports (and so anyio's streams) have always set it
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._quickack = hasattr(socket, "TCP_QUICKACK")

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """Read what is available (at least one byte).

        Data already there is returned after one pass of the event loop, as anyio's
        stream does, so that the other tasks (the generator beside a receiver) keep up.

        Raises:
            anyio.EndOfStream: the peer closed its end.
            anyio.BrokenResourceError: the connection broke.
            anyio.ClosedResourceError: this stream was closed.
        """
        data = self.receive_ready(max_bytes)
        if data is not None:
            await anyio.lowlevel.checkpoint()
            return data
        while True:
            if self._quickack:
                self._ack_now()
            await anyio.wait_readable(self._sock)
            data = self.receive_ready(max_bytes)
            if data is not None:
                return data

    def _ack_now(self) -> None:
        """Acknowledge what has come before waiting for more (Linux ``TCP_QUICKACK``).

        A peer that does not set ``TCP_NODELAY`` (rsync's daemon and client do not) holds
        a small write back while its previous one is unacknowledged, and a receiver that
        has nothing to send delays its acknowledgement by up to 40 ms. In the exchanges
        of small messages (the checksum seed after the negotiation, the statistics at the
        end) each such round cost a pull 40 ms. Set before every wait, the option sends
        the pending acknowledgement at once (the kernel clears it again by itself).
        """
        try:
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            self._quickack = False

    def receive_ready(self, max_bytes: int = 65536) -> bytes | None:
        """What has come already, without waiting (None: nothing yet).

        A caller with a deadline (`rsync_wire.stream.WireStream`) sets one up only when
        it has to wait: a cancel scope per read cost more than the read.

        Raises:
            anyio.EndOfStream: the peer closed its end.
            anyio.BrokenResourceError: the connection broke.
            anyio.ClosedResourceError: this stream was closed.
        """
        try:
            data = self._sock.recv(max_bytes)
        except BlockingIOError:
            return None
        except OSError as exc:
            if self._sock.fileno() < 0:
                raise anyio.ClosedResourceError from exc
            raise anyio.BrokenResourceError from exc
        if not data:
            raise anyio.EndOfStream
        return data

    async def send(self, item: bytes) -> None:
        """Write all of ``item``.

        Raises:
            anyio.BrokenResourceError: the connection broke.
            anyio.ClosedResourceError: this stream was closed.
        """
        view = memoryview(item)
        waited = False
        while view:
            try:
                n = self._sock.send(view)
            except BlockingIOError:
                await anyio.wait_writable(self._sock)
                waited = True
                continue
            except OSError as exc:
                if self._sock.fileno() < 0:
                    raise anyio.ClosedResourceError from exc
                raise anyio.BrokenResourceError from exc
            view = view[n:]
        if not waited:
            await anyio.lowlevel.checkpoint()

    async def send_eof(self) -> None:
        """Shut down the sending direction (the peer reads an end of file)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    async def aclose(self) -> None:
        """Close the socket."""
        self._sock.close()
