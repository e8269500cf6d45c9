"""Byte vectors of the primitive codecs (docs/protocol.md §3, §9.17); Hypothesis round trips."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rsync_wire.errors import RemoteProtocolError
from rsync_wire.proto.codec import (
    NdxDecoder,
    NdxEncoder,
    NeedMoreData,
    decode_int32,
    decode_longint,
    decode_varint,
    decode_varlong,
    decode_vstring,
    encode_int32_into,
    encode_longint_into,
    encode_varint_into,
    encode_varlong_into,
    encode_vstring_into,
)

VARINT = [
    (0, "00"),
    (5, "05"),
    (0x7F, "7f"),
    (0x80, "8080"),
    (200, "80c8"),
    (300, "812c"),
    (0x2C01, "ac01"),
    (0x3FFF, "bfff"),
    (0x4000, "c00040"),
    (70000, "c17011"),
    (0x02C5E840, "e240e8c5"),
    (0x386A64BC, "f0bc646a38"),
    (-1, "f0ffffffff"),
]

VARLONG = [
    (3, 6, "000600"),
    (3, 4096, "000010"),
    (3, 600000, "09c027"),
    (3, 0x1286, "008612"),
    (4, 0x5FEE6600, "5f0066ee"),
    (4, 0x6B08D454, "6b54d408"),
    (4, 2**32, "8100000000"),
]


@pytest.mark.parametrize(("value", "hexbytes"), VARINT)
def test_varint_vectors(value: int, hexbytes: str) -> None:
    buf = bytearray()
    encode_varint_into(buf, value)
    assert buf.hex() == hexbytes
    assert decode_varint(bytes.fromhex(hexbytes), 0) == (value, len(buf))


@pytest.mark.parametrize(("width", "value", "hexbytes"), VARLONG)
def test_varlong_vectors(width: int, value: int, hexbytes: str) -> None:
    buf = bytearray()
    encode_varlong_into(buf, value, width)
    assert buf.hex() == hexbytes
    assert decode_varlong(bytes.fromhex(hexbytes), 0, width) == (value, len(buf))


@pytest.mark.parametrize(
    ("value", "hexbytes"),
    [
        (0, "00000000"),
        (0x7FFFFFFF, "ffffff7f"),
        (2**32, "ffffffff0000000001000000"),
        (-5, "fffffffffbffffffffffffff"),
    ],
)
def test_longint_vectors(value: int, hexbytes: str) -> None:
    buf = bytearray()
    encode_longint_into(buf, value)
    assert buf.hex() == hexbytes
    assert decode_longint(bytes(buf), 0) == (value, len(buf))


def test_vstring_lengths() -> None:
    for n in (0, 1, 0x7F, 0x80, 0x7FFF):
        buf = bytearray()
        encode_vstring_into(buf, b"x" * n)
        assert len(buf) == n + (1 if n < 0x80 else 2)
        assert decode_vstring(bytes(buf), 0) == (b"x" * n, len(buf))
    with pytest.raises(ValueError, match="longer"):
        encode_vstring_into(bytearray(), b"x" * 0x8000)


def test_ndx_vectors_from_the_notes() -> None:
    enc = NdxEncoder(protocol=30)
    buf = bytearray()
    for n in (0, 2, 5):
        enc.encode_into(buf, n)
    assert buf.hex() == "010203"
    for n, expect in ((-2, "ff01"), (-102, "ff64"), (-2, "fffe80020000"), (-3, "ff01")):
        out = bytearray()
        enc.encode_into(out, n)
        assert out.hex() == expect
    done = bytearray()
    enc.encode_into(done, -1)
    assert done.hex() == "00"


def test_ndx_below_30_is_a_plain_int() -> None:
    buf = bytearray()
    NdxEncoder(protocol=29).encode_into(buf, 7)
    assert buf.hex() == "07000000"
    assert NdxDecoder(protocol=29).decode(bytes(buf), 0) == (7, 4)


@given(st.lists(st.integers(min_value=-(2**31) + 1, max_value=2**31 - 1), max_size=50))
def test_ndx_round_trip_and_retry(values: list[int]) -> None:
    enc = NdxEncoder(protocol=31)
    buf = bytearray()
    for v in values:
        enc.encode_into(buf, v)
    dec = NdxDecoder(protocol=31)
    pos = 0
    out = []
    data = bytes(buf)
    while pos < len(data):
        # every prefix that ends inside a value asks for more without consuming anything
        for cut in range(pos + 1, len(data)):
            probe = copy.copy(dec)
            try:
                probe.decode(data[:cut], pos)
            except NeedMoreData:
                # nothing was committed: the real decoder still reads the whole value
                assert (probe._last_pos, probe._last_neg) == (dec._last_pos, dec._last_neg)
                continue
            break
        value, pos = dec.decode(data, pos)
        out.append(value)
    assert out == values


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_varint_round_trip(value: int) -> None:
    buf = bytearray()
    encode_varint_into(buf, value)
    assert decode_varint(bytes(buf), 0) == (value, len(buf))
    with pytest.raises(NeedMoreData):
        decode_varint(bytes(buf[:-1]), 0)


@given(st.integers(min_value=0, max_value=2**62), st.sampled_from([3, 4]))
def test_varlong_round_trip(value: int, width: int) -> None:
    buf = bytearray()
    encode_varlong_into(buf, value, width)
    assert decode_varlong(bytes(buf), 0, width) == (value, len(buf))


def test_bad_lead_bytes_are_remote_errors() -> None:
    with pytest.raises(RemoteProtocolError):
        decode_varint(b"\xf8\x00\x00\x00\x00\x00", 0)
    with pytest.raises(RemoteProtocolError):
        decode_varlong(b"\xff" + b"\x00" * 12, 0, 4)


def test_int32_signed() -> None:
    buf = bytearray()
    encode_int32_into(buf, -2)
    assert buf.hex() == "feffffff"
    assert decode_int32(bytes(buf), 0) == (-2, 4)
