"""Byte streams over plain file descriptors (a remote shell's stdin and stdout).

anyio's file streams hand a raw file's ``write()`` to a worker thread and ignore how
many bytes it wrote; on a pipe a write can be partial, and the rest of the protocol
stream is then silently lost. These streams put the descriptors in non-blocking mode,
wait for readiness on the event loop, and write until every byte is out.
"""

from __future__ import annotations

import os

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream

__all__ = ["FdReceiveStream", "FdSendStream"]


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
