"""Primitive integer and string codecs of the rsync protocol (no I/O).

Encoders append to a caller's ``bytearray``; decoders take a buffer and a position
and return ``(value, new_position)``, raising :class:`NeedMoreData` when the buffer
ends before the value does (the caller reads more and calls again), and
:class:`~rsync_wire.errors.RemoteProtocolError` when the bytes cannot be a valid
encoding.

How varint works (rsync: io.c write_varint/read_varint): the value's little-endian
bytes are sent lowest first, after a lead byte whose high 1-bits count the bytes
that follow and whose remaining low bits hold the most significant part. varlong
is the same scheme with a minimum width. The NDX codec keeps per-direction state
and lives in :class:`NdxEncoder`/:class:`NdxDecoder`.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Final

from rsync_wire.errors import RemoteProtocolError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "NdxDecoder",
    "NdxEncoder",
    "NeedMoreData",
    "decode_int16",
    "decode_int32",
    "decode_longint",
    "decode_uint8",
    "decode_varint",
    "decode_varlong",
    "decode_vstring",
    "encode_int16_into",
    "encode_int32_into",
    "encode_longint_into",
    "encode_varint_into",
    "encode_varlong_into",
    "encode_vstring_into",
]

Buf = bytes | bytearray | memoryview

_I16: Final = struct.Struct("<h")
_U16: Final = struct.Struct("<H")
_I32: Final = struct.Struct("<i")
_U32: Final = struct.Struct("<I")
_I64: Final = struct.Struct("<q")

# Number of bytes that follow a varint lead byte, indexed by the lead byte's top 5 bits... by
# the lead byte itself (256 entries; 5+ leading ones marks an invalid lead).
_EXTRA: Final = bytes(
    0
    if b < 0x80
    else 1
    if b < 0xC0
    else 2
    if b < 0xE0
    else 3
    if b < 0xF0
    else 4
    if b < 0xF8
    else 5
    if b < 0xFC
    else 6
    if b < 0xFE
    else 7
    if b < 0xFF
    else 8
    for b in range(256)
)


class NeedMoreData(Exception):  # noqa: N818 - a signal, not a failure
    """The buffer ended before the value: read more bytes and decode again.

    A decoder of a long value may hand back ``resume``: what it decoded so far, relative
    to the start position. The caller passes it back as ``resume=`` on the next call with
    the same start (``WireStream.decode`` does), so a value that arrives in many reads is
    decoded once, not once per read.
    """

    def __init__(self, resume: object = None) -> None:
        super().__init__()
        self.resume = resume


def _need(buf: Buf, end: int) -> None:
    if end > len(buf):
        raise NeedMoreData


# -- fixed width ---------------------------------------------------------------------------


def encode_int16_into(buf: bytearray, value: int) -> None:
    """Append a little-endian 16-bit integer (signed or unsigned bit pattern)."""
    buf += _U16.pack(value & 0xFFFF)


def decode_int16(buf: Buf, pos: int) -> tuple[int, int]:
    """Decode an unsigned little-endian 16-bit integer."""
    _need(buf, pos + 2)
    return _U16.unpack_from(buf, pos)[0], pos + 2


def decode_uint8(buf: Buf, pos: int) -> tuple[int, int]:
    """Decode one byte."""
    _need(buf, pos + 1)
    return buf[pos], pos + 1


def encode_int32_into(buf: bytearray, value: int) -> None:
    """Append a little-endian signed 32-bit integer.

    Raises:
        OverflowError: if the value does not fit in 32 bits (signed or unsigned).
    """
    if -0x80000000 <= value <= 0x7FFFFFFF:
        buf += _I32.pack(value)
    else:
        buf += _U32.pack(value)


def decode_int32(buf: Buf, pos: int) -> tuple[int, int]:
    """Decode a little-endian signed 32-bit integer."""
    _need(buf, pos + 4)
    return _I32.unpack_from(buf, pos)[0], pos + 4


def encode_longint_into(buf: bytearray, value: int) -> None:
    """Append an rsync ``longint``: 4 bytes if 0 <= value <= 2**31-1, else -1 and 8 bytes.

    rsync: io.c write_longint().
    """
    if 0 <= value <= 0x7FFFFFFF:
        buf += _I32.pack(value)
    else:
        buf += b"\xff\xff\xff\xff"
        buf += _I64.pack(value)


def decode_longint(buf: Buf, pos: int) -> tuple[int, int]:
    """Decode an rsync ``longint``.

    rsync: io.c read_longint().
    """
    value, pos = decode_int32(buf, pos)
    if value != -1:
        return value, pos
    _need(buf, pos + 8)
    return _I64.unpack_from(buf, pos)[0], pos + 8


# -- varint / varlong ----------------------------------------------------------------------


def encode_varint_into(buf: bytearray, value: int) -> None:
    """Append a ``varint`` (32-bit value, negative numbers as their two's complement).

    rsync: io.c write_varint().
    """
    _encode_var(buf, value & 0xFFFFFFFF, 1, 4)


def encode_varlong_into(buf: bytearray, value: int, min_bytes: int) -> None:
    """Append a ``varlong`` of at least ``min_bytes`` bytes (64-bit value).

    rsync: io.c write_varlong().
    """
    _encode_var(buf, value & 0xFFFFFFFFFFFFFFFF, min_bytes, 8)


def _encode_var(buf: bytearray, value: int, min_bytes: int, width: int) -> None:
    if value < 0x80 and min_bytes == 1:  # the common small case
        buf.append(value)
        return
    b = value.to_bytes(width, "little")
    n = max(min_bytes, (value.bit_length() + 7) // 8)
    extra = n - min_bytes
    top = b[n - 1]
    if top < (1 << (7 - extra)):
        lead = ((0xFF00 >> extra) & 0xFF) | top
        buf.append(lead)
        buf += b[: n - 1]
    else:
        extra += 1
        buf.append((0xFF00 >> extra) & 0xFF)
        buf += b[:n]


def decode_varint(buf: Buf, pos: int) -> tuple[int, int]:
    """Decode a ``varint`` into a signed 32-bit value.

    rsync: io.c read_varint().

    Raises:
        NeedMoreData: the buffer ends inside the value.
        RemoteProtocolError: the lead byte announces more than 4 following bytes.
    """
    _need(buf, pos + 1)
    lead = buf[pos]
    if lead < 0x80:
        return lead, pos + 1
    extra = _EXTRA[lead]
    if extra > 4:
        msg = f"invalid varint lead byte 0x{lead:02x} at offset {pos}"
        raise RemoteProtocolError(msg)
    end = pos + 1 + extra
    _need(buf, end)
    value = int.from_bytes(buf[pos + 1 : end], "little")
    if extra < 4:
        value |= (lead & ((1 << (7 - extra)) - 1)) << (8 * extra)
    if value >= 0x80000000:
        value -= 0x100000000
    return value, end


def decode_varlong(buf: Buf, pos: int, min_bytes: int) -> tuple[int, int]:
    """Decode a ``varlong`` written with at least ``min_bytes`` bytes (signed 64-bit).

    rsync: io.c read_varlong().

    Raises:
        NeedMoreData: the buffer ends inside the value.
        RemoteProtocolError: the encoding is longer than 9 bytes.
    """
    _need(buf, pos + min_bytes)
    lead = buf[pos]
    extra = _EXTRA[lead]
    if min_bytes + extra > 9:
        msg = f"invalid varlong lead byte 0x{lead:02x} at offset {pos}"
        raise RemoteProtocolError(msg)
    end = pos + min_bytes + extra
    _need(buf, end)
    nlow = min_bytes - 1 + extra
    value = int.from_bytes(buf[pos + 1 : end], "little")
    if nlow < 8:
        value |= (lead & ((1 << (7 - extra)) - 1)) << (8 * nlow)
    if value >= 1 << 63:
        value -= 1 << 64
    return value, end


# -- strings -------------------------------------------------------------------------------


def encode_vstring_into(buf: bytearray, data: bytes) -> None:
    """Append a ``vstring`` (1 or 2 length bytes, at most 0x7FFF bytes of data).

    Raises:
        ValueError: the string is longer than 0x7FFF bytes.
    """
    n = len(data)
    if n < 0x80:
        buf.append(n)
    elif n <= 0x7FFF:
        buf.append(0x80 | (n >> 8))
        buf.append(n & 0xFF)
    else:
        msg = f"vstring of {n} bytes is longer than 32767"
        raise ValueError(msg)
    buf += data


def decode_vstring(buf: Buf, pos: int) -> tuple[bytes, int]:
    """Decode a ``vstring``."""
    _need(buf, pos + 1)
    n = buf[pos]
    pos += 1
    if n & 0x80:
        _need(buf, pos + 1)
        n = ((n & 0x7F) << 8) | buf[pos]
        pos += 1
    _need(buf, pos + n)
    return bytes(buf[pos : pos + n]), pos + n


# -- file-list indexes ---------------------------------------------------------------------


class NdxEncoder:
    """Writes file-list indexes for one direction of one session.

    P < 30 sends a plain ``i32``; P >= 30 a delta code against the previous positive
    (or negative) value, whose registers are never reset during the session.

    rsync: io.c write_ndx().
    """

    __slots__ = ("_last_neg", "_last_pos", "_plain", "remap")

    def __init__(self, *, protocol: int) -> None:
        self._plain = protocol < 30
        self._last_pos = -1
        self._last_neg = 1
        # --iconv: a map between this side's sorted indexes and the order of transmission
        # the wire uses then (rsync's F_NDX, ``need_unsorted_flist``); applied by the stream
        self.remap: Callable[[int], int] | None = None

    def encode_into(self, buf: bytearray, ndx: int) -> None:
        """Append the encoding of ``ndx``."""
        if self._plain:
            buf += _I32.pack(ndx)
            return
        if ndx == -1:
            buf.append(0)
            return
        if ndx >= 0:
            v = ndx
            diff = v - self._last_pos
            self._last_pos = v
        else:
            buf.append(0xFF)
            v = -ndx
            diff = v - self._last_neg
            self._last_neg = v
        if 0 < diff < 0xFE:
            buf.append(diff)
        elif 0 <= diff <= 0x7FFF:
            buf += bytes((0xFE, diff >> 8, diff & 0xFF))
        else:
            buf += bytes((0xFE, 0x80 | (v >> 24), v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF))


class NdxDecoder:
    """Reads file-list indexes for one direction of one session (see :class:`NdxEncoder`).

    ``decode`` only commits its register update when the whole value was available, so it
    can be retried after :class:`NeedMoreData`.

    rsync: io.c read_ndx().
    """

    __slots__ = ("_last_neg", "_last_pos", "_plain", "remap")

    def __init__(self, *, protocol: int) -> None:
        self._plain = protocol < 30
        self._last_pos = -1
        self._last_neg = 1
        # --iconv: a map between this side's sorted indexes and the order of transmission
        # the wire uses then (rsync's F_NDX, ``need_unsorted_flist``); applied by the stream
        self.remap: Callable[[int], int] | None = None

    def decode(self, buf: Buf, pos: int) -> tuple[int, int]:
        """Decode one index at ``pos``; returns ``(ndx, new_pos)``."""
        if self._plain:
            return decode_int32(buf, pos)
        _need(buf, pos + 1)
        b = buf[pos]
        pos += 1
        if b == 0:
            return -1, pos
        neg = b == 0xFF
        if neg:
            _need(buf, pos + 1)
            b = buf[pos]
            pos += 1
        last = self._last_neg if neg else self._last_pos
        if b == 0xFE:
            _need(buf, pos + 2)
            x, y = buf[pos], buf[pos + 1]
            pos += 2
            if x & 0x80:
                _need(buf, pos + 2)
                v = ((x & 0x7F) << 24) | y | (buf[pos] << 8) | (buf[pos + 1] << 16)
                pos += 2
            else:
                v = last + ((x << 8) | y)
        else:
            v = last + b
        if v > 0x7FFFFFFF or v < 0:
            msg = f"file-list index {v} out of range"
            raise RemoteProtocolError(msg)
        if neg:
            self._last_neg = v
            return -v, pos
        self._last_pos = v
        return v, pos
