"""Multiplexed framing (docs/protocol.md §7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rsync_wire.errors import ExitCode, StreamError
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


@pytest.mark.parametrize(
    ("code", "length", "server", "line"),
    [
        (11, 0, False, "unexpected tag 11"),
        (50, 0, False, "unexpected tag 50"),
        (248, 0, False, "unexpected tag 248"),
        (5, 4, False, "invalid multi-message 5:4"),  # the generator's codes
        (6, 4, False, "invalid multi-message 6:4"),
        (7, 4, False, "invalid multi-message 7:4"),
        (8, 4, False, "invalid multi-message 8:4"),
        (9, 4, False, "invalid multi-message 9:4"),
        (10, 8, False, "invalid multi-message 10:8"),
        (22, 3, False, "invalid multi-message 22:3"),  # numbers of the wrong size
        (33, 8, False, "invalid multi-message 33:8"),
        (33, 4, True, "invalid multi-message 33:4"),  # MSG_IO_TIMEOUT to a server
        (42, 1, False, "invalid multi-message 42:1"),
        (86, 3, False, "invalid multi-message 86:3"),
        (100, 20, False, "invalid multi-message 100:20"),
        (102, 0, False, "invalid multi-message 102:0"),
        (2, 5120, False, "multiplexing overflow 2:5120"),
        (101, 6000, False, "multiplexing overflow 101:6000"),
    ],
)
def test_bad_frames_are_refused_with_rsyncs_line(
    code: int, length: int, *, server: bool, line: str
) -> None:
    """rsync: io.c read_a_msg() (each exits with RERR_STREAMIO, 12)."""
    demux = Demultiplexer(server=server)
    demux.receive_data(((7 + code) << 24 | length).to_bytes(4, "little") + b"\0" * length)
    with pytest.raises(StreamError) as bad:
        demux.extract_into(bytearray())
    assert str(bad.value) == line
    assert bad.value.exit_code == ExitCode.STREAMIO
    assert bad.value.bare


@pytest.mark.parametrize(
    ("code", "length"),
    [(86, 0), (86, 4), (33, 4), (42, 0), (100, 4), (22, 4), (2, 5119), (101, 0)],
)
def test_frames_rsync_takes_pass(code: int, length: int) -> None:
    demux = Demultiplexer()
    demux.receive_data(((7 + code) << 24 | length).to_bytes(4, "little") + b"\0" * length)
    assert demux.extract_into(bytearray()) == [(code, b"\0" * length)]
