"""Multiplexed framing (docs/protocol.md §7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rsync_wire.errors import RemoteProtocolError
from rsync_wire.proto.constants import Msg
from rsync_wire.proto.mux import Demultiplexer, encode_frames_into, encode_message


def test_frame_header_layout() -> None:
    out = bytearray()
    encode_frames_into(out, b"\x00\x00\x00\x00")
    assert out.hex() == "04000007" + "00000000"  # the notes' empty filter list frame
    assert encode_message(Msg.INFO, b"hi\n").hex() == "03000009" + b"hi\n".hex()


def test_large_data_is_cut_into_frames() -> None:
    out = bytearray()
    encode_frames_into(out, b"x" * 200_000, frame_size=65536)
    demux = Demultiplexer()
    demux.receive_data(out)
    data = bytearray()
    assert demux.extract_into(data) == []
    assert data == b"x" * 200_000


def test_messages_keep_their_place_in_the_stream() -> None:
    stream = bytearray()
    encode_frames_into(stream, b"abc")
    stream += encode_message(Msg.WARNING, b"careful\n")
    encode_frames_into(stream, b"def")
    demux = Demultiplexer()
    demux.receive_data(stream)
    data = bytearray()
    assert demux.extract_into(data) == [(Msg.WARNING, b"careful\n")]
    assert data == b"abc"
    assert demux.extract_into(data) == []
    assert data == b"abcdef"


@given(st.binary(max_size=3000), st.lists(st.integers(min_value=1, max_value=700), max_size=30))
def test_split_feeding_gives_the_same_bytes(payload: bytes, cuts: list[int]) -> None:
    stream = bytearray()
    encode_frames_into(stream, payload, frame_size=97)
    stream += encode_message(Msg.INFO, b"note")
    demux = Demultiplexer()
    data = bytearray()
    messages = []
    pos = 0
    for c in [*cuts, len(stream)]:
        demux.receive_data(bytes(stream[pos : pos + c]))
        pos += c
        while True:
            got = demux.extract_into(data)
            messages += got
            if not got:
                break
    assert bytes(data) == payload
    assert messages == [(Msg.INFO, b"note")]


@pytest.mark.parametrize("code", [5, 6, 7, 8, 9, 10, 11, 99])
def test_internal_or_unknown_codes_are_refused(code: int) -> None:
    demux = Demultiplexer()
    demux.receive_data(((7 + code) << 24 | 0).to_bytes(4, "little"))
    with pytest.raises(RemoteProtocolError):
        demux.extract_into(bytearray())


def test_oversized_message_is_refused() -> None:
    demux = Demultiplexer()
    demux.receive_data(((7 + Msg.INFO) << 24 | 6000).to_bytes(4, "little") + b"x" * 6000)
    with pytest.raises(RemoteProtocolError, match="overflow"):
        demux.extract_into(bytearray())
