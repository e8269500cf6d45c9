"""Multiplexed I/O framing (no I/O).

How this works: once multiplexing starts, every byte travels inside frames whose
4-byte little-endian header is ``((MPLEX_BASE + code) << 24) | length``. Code 0
(MSG_DATA) carries the protocol byte stream, split at arbitrary points; every
other code is an out-of-band message (text for the user, I/O-error bits, ...)
that may appear between any two data frames.

:func:`encode_frames_into` cuts protocol data into frames; :class:`Demultiplexer`
is fed raw bytes and splits them back into protocol bytes (appended to a caller's
buffer, without per-frame objects) and messages.

rsync: io.c (mplex_write, read_a_msg).
"""

from __future__ import annotations

import struct
from typing import Final

from rsync_wire.errors import StreamError
from rsync_wire.proto.constants import MAX_FRAME, MAX_MSG_TEXT, MPLEX_BASE, Msg

__all__ = ["DATA_FRAME_SIZE", "Demultiplexer", "encode_frames_into", "encode_message"]

_HDR: Final = struct.Struct("<I")
DATA_FRAME_SIZE: Final = 0x10000  # rsync's own writers stay at about 64 KiB per frame

# The codes rsync's io.c read_a_msg() knows; any other is an "unexpected tag".
_KNOWN_CODES: Final = frozenset(Msg)
# Codes only rsync's generator takes (from its own receiver, never over the wire): from a
# peer they are an "invalid multi-message".
_GENERATOR_CODES: Final = frozenset(
    {Msg.ERROR_SOCKET, Msg.LOG, Msg.CLIENT, Msg.ERROR_UTF8, Msg.REDO, Msg.STATS}
)
# The payload sizes rsync accepts for the messages that carry numbers.
_SIZES: Final[dict[int, tuple[int, ...]]] = {
    Msg.IO_ERROR: (4,),
    Msg.IO_TIMEOUT: (4,),
    Msg.NOOP: (0,),
    Msg.SUCCESS: (4,),
    Msg.NO_SEND: (4,),
    Msg.ERROR_EXIT: (0, 4),
}


def encode_frames_into(
    out: bytearray, data: bytes | bytearray | memoryview, *, frame_size: int = DATA_FRAME_SIZE
) -> None:
    """Append ``data`` to ``out`` as MSG_DATA frames of at most ``frame_size`` bytes."""
    view = memoryview(data)
    n = len(view)
    base = MPLEX_BASE << 24
    for start in range(0, n, frame_size):
        chunk = view[start : start + frame_size]
        out += _HDR.pack(base | len(chunk))
        out += chunk


def encode_message(code: Msg, payload: bytes = b"") -> bytes:
    """One non-data frame.

    Raises:
        ValueError: the payload is too long for a message that peers accept.
    """
    if len(payload) > MAX_MSG_TEXT:
        msg = f"message of {len(payload)} bytes exceeds {MAX_MSG_TEXT}"
        raise ValueError(msg)
    return _HDR.pack(((MPLEX_BASE + code) << 24) | len(payload)) + payload


class Demultiplexer:
    """Splits a multiplexed byte stream into protocol data and messages.

    Feed raw bytes with :meth:`receive_data`; :meth:`extract_into` appends every whole or
    partial MSG_DATA payload available to a caller's buffer and returns the messages that
    were complete, in order. Data that follows a message is only extracted after that
    message has been returned, so callers see data and messages in wire order.

    After a :class:`~rsync_wire.errors.StreamError` the object must not be used again.
    """

    __slots__ = ("_data_left", "_raw", "_raw_pos", "_server")

    def __init__(self, *, server: bool = False) -> None:
        """``server``: the reader is a server, which no peer may send MSG_IO_TIMEOUT."""
        self._server = server
        # what was received and not yet extracted starts at _raw_pos: a bytes object as the
        # connection gave it (kept without a copy), or a bytearray once pieces are joined
        self._raw: bytes | bytearray = b""
        self._raw_pos = 0
        self._data_left = 0  # bytes of the current MSG_DATA frame not yet extracted

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Add raw bytes read from the connection (bytes are kept, not copied)."""
        raw = self._raw
        if self._raw_pos == len(raw):  # all extracted: start over from ``data``
            self._raw = data if type(data) is bytes else bytearray(data)
            self._raw_pos = 0
            return
        if type(raw) is bytes:
            raw = self._raw = bytearray(memoryview(raw)[self._raw_pos :])
            self._raw_pos = 0
        raw += data

    @property
    def pending(self) -> int:
        """Raw bytes received but not yet extracted."""
        return len(self._raw) - self._raw_pos

    def extract_into(self, out: bytearray) -> list[tuple[int, bytes]]:
        """Move available protocol data into ``out``; return the complete messages.

        Stops after the first message so that the caller can act on it before reading data
        that comes after it.

        Raises:
            StreamError: an unknown or internal message code, a number message of the
                wrong size, or an oversized text (rsync's line, without the role).
        """
        raw = self._raw
        pos = self._raw_pos
        end = len(raw)
        messages: list[tuple[int, bytes]] = []
        while pos < end:
            if self._data_left:
                take = min(self._data_left, end - pos)
                out += memoryview(raw)[pos : pos + take]
                pos += take
                self._data_left -= take
                continue
            if end - pos < 4:
                break
            header = _HDR.unpack_from(raw, pos)[0]
            code = (header >> 24) - MPLEX_BASE
            length = header & MAX_FRAME
            if code == Msg.DATA:
                pos += 4
                self._data_left = length
                continue
            _check_message(code, length, server=self._server)
            if end - pos - 4 < length:
                break
            messages.append((code, bytes(raw[pos + 4 : pos + 4 + length])))
            pos += 4 + length
            break
        self._raw_pos = pos
        if pos > 0x100000 and pos * 2 > end and type(raw) is bytearray:
            del raw[:pos]
            self._raw_pos = 0
        return messages


def _check_message(code: int, length: int, *, server: bool) -> None:
    """Refuse a message frame that rsync's reader refuses, with rsync's words.

    Raises:
        StreamError: ``unexpected tag N`` (a code rsync does not know), ``invalid
            multi-message N:LEN`` (a generator's code, a number of the wrong size,
            MSG_IO_TIMEOUT to a server), ``multiplexing overflow N:LEN`` (text of 5120
            bytes or more).

    rsync: io.c read_a_msg().
    """
    if code not in _KNOWN_CODES:
        msg = f"unexpected tag {code}"
        raise StreamError(msg)
    sizes = _SIZES.get(code)
    if (
        code in _GENERATOR_CODES
        or (sizes is not None and length not in sizes)
        or (server and code == Msg.IO_TIMEOUT)
    ):
        msg = f"invalid multi-message {code}:{length}"
        raise StreamError(msg)
    if length > MAX_MSG_TEXT:
        msg = f"multiplexing overflow {code}:{length}"
        raise StreamError(msg)
