"""Which files the generator asks for while a batch file is read (see rsync_wire.roles.batch).

rsync: receiver.c gen_wants_ndx(), we_want_redo(), no_batched_update().
"""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING, Protocol

import anyio

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["BatchWants", "Report"]


class Report(Protocol):
    """How a file the generator wanted and the batch lacked is reported."""

    def __call__(self, ndx: int, *, redo: bool) -> None:  # noqa: D102 - the class says it
        ...


class BatchWants:
    """Which files the generator asks for, so that the receiver skips the others.

    The generator calls :meth:`requested` for each file it would fetch and :meth:`done`
    for each end-of-list marker it writes; the receiver asks :meth:`wants` for each file
    the batch carries, in order, and :meth:`redo_wanted` in the redo phase.

    rsync: receiver.c gen_wants_ndx(), we_want_redo(), no_batched_update().
    """

    def __init__(self, *, inc: bool, report: Report) -> None:
        self.inc = inc
        self._report = report
        send: MemoryObjectSendStream[int]
        receive: MemoryObjectReceiveStream[int]
        send, receive = anyio.create_memory_object_stream[int](math.inf)
        self._send = send
        self._receive = receive
        self._next = -1
        self._done_cnt = 0
        self._eof = False
        self.redo: list[int] = []
        self._redo_next = -1

    def requested(self, ndx: int) -> None:
        """The generator asks for file ``ndx``."""
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._send.send_nowait(ndx)

    def done(self) -> None:
        """The generator wrote an end-of-list (or end-of-phase) marker."""
        self.requested(-1)

    def close(self) -> None:
        """The generator has finished."""
        self._send.close()

    async def wants(self, ndx: int, list_number: int) -> bool:
        """Whether the generator asked for ``ndx`` (of list ``list_number``)."""
        if self._eof:
            return False
        while self._next < ndx:
            if self.inc and list_number <= self._done_cnt - 1:
                return False
            if self._next >= 0:
                self._report(self._next, redo=False)
            try:
                self._next = await self._receive.receive()
            except anyio.EndOfStream:
                self._eof = True
                return False
            if self._next < 0:
                if self.inc:
                    self._done_cnt += 1
                    continue
                self._eof = True
                return False
        if self._next == ndx:
            self._next = -1
            return True
        return False

    def redo_wanted(self, ndx: int) -> bool:
        """Whether ``ndx`` failed its checksum and so is wanted again from the batch."""
        while self._redo_next < ndx:
            if self._redo_next >= 0:
                self._report(self._redo_next, redo=True)
            if not self.redo:
                self._redo_next = -1
                return False
            self._redo_next = self.redo.pop(0)
        if self._redo_next == ndx:
            self._redo_next = -1
            return True
        return False
