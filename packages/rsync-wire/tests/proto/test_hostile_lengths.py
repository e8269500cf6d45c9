"""Lengths checked when they are read: lines, NUL-terminated arguments, greetings, options."""

from __future__ import annotations

import anyio
import pytest

from rsync_wire.errors import LOG_TEXT_LIMIT, RemoteProtocolError, RsyncError, clip_text
from rsync_wire.proto.args import ArgumentError, parse_server_args, parse_size_arg
from rsync_wire.proto.handshake import parse_greeting
from rsync_wire.roles.local import memory_stream_pair
from rsync_wire.stream import WireStream


async def _read(data: bytes, *, nul: bool, limit: int, count: int = 1) -> list[bytes]:
    ours, peer = memory_stream_pair()
    await peer.send(data)
    async with ours, peer:
        ws = WireStream(ours, ours)
        if nul:
            return [await ws.read_until_nul(limit=limit) for _ in range(count)]
        return [await ws.read_line(limit=limit) for _ in range(count)]


def test_an_argument_that_arrives_in_one_read_still_meets_the_limit() -> None:
    with pytest.raises(RemoteProtocolError, match="longer than 8192"):
        anyio.run(lambda: _read(b"x" * 60_000 + b"\0", nul=True, limit=8192))


def test_an_argument_at_the_limit_passes() -> None:
    got = anyio.run(lambda: _read(b"x" * 8192 + b"\0rest\0", nul=True, limit=8192, count=2))
    assert got == [b"x" * 8192, b"rest"]


def test_a_line_that_arrives_in_one_read_still_meets_the_limit() -> None:
    with pytest.raises(RemoteProtocolError, match="longer than 5120"):
        anyio.run(lambda: _read(b"y" * 60_000 + b"\n", nul=False, limit=5120))


def test_a_line_at_the_limit_passes() -> None:
    got = anyio.run(lambda: _read(b"y" * 5119 + b"\r\nnext\n", nul=False, limit=5120, count=2))
    assert got == [b"y" * 5119, b"next"]


def test_a_5000_digit_protocol_version_is_a_protocol_error() -> None:
    with pytest.raises(RemoteProtocolError, match="out of range") as info:
        parse_greeting(b"@RSYNCD: " + b"9" * 5000 + b".0 md5")
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("line", [b"@RSYNCD: 2147483648.0", b"@RSYNCD: 32." + b"1" * 11])
def test_greeting_numbers_beyond_int_are_refused(line: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_greeting(line)


def test_greeting_numbers_with_leading_zeros() -> None:
    assert parse_greeting(b"@RSYNCD: 000000000000000031.0").version == 31


def test_error_messages_and_log_text_are_cut() -> None:
    assert clip_text("a" * 10, 20) == "a" * 10
    assert clip_text("a" * 30, 20) == "a" * 20 + "... [10 more characters]"
    err = RsyncError("z" * 10_000_000)
    assert len(str(err)) < 5 * LOG_TEXT_LIMIT


# (option, rsync 3.5.0's message after "rsync: "), checked against /usr/bin/rsync
_REFUSED = [
    ("--timeout=huge", "on remote machine: --timeout=huge: invalid numeric value"),
    (
        "--timeout=99999999999",
        "on remote machine: --timeout=99999999999: number too large or too small",
    ),
    (
        "--checksum-seed=99999999999999999999",
        "on remote machine: --checksum-seed=99999999999999999999: number too large or too small",
    ),
    ("--max-size=nan", "--max-size=nan is invalid"),
    ("--max-size=inf", "--max-size=inf is invalid"),
    ("--max-size=1e400", "--max-size=1e400 is invalid"),
    ("--max-size=-inf", "--max-size=-inf is too large"),
    ("--max-size=+nan", "--max-size=+nan is invalid"),
    ("--max-size=8192P", "--max-size=8192P is too large"),
    ("--min-size=-5", "--min-size=-5 is too large"),
    ("--bwlimit=1e308G", "--bwlimit=1e308G is invalid"),
    ("--block-size=999999999", "--block-size=999999999 is too large (max: 128.00K)"),
    ("-B999999999", "--block-size=999999999 is too large (max: 128.00K)"),
    ("--max-alloc=5", "--max-alloc=5 is too small (min: 1.00M or 0 for unlimited)"),
    ("--max-alloc=1e400", "--max-alloc=1e400 is invalid"),
    ("--max-alloc=0", "max-alloc must be greater than zero"),
    ("--max-alloc=0k", "max-alloc must be greater than zero"),
    ("--modify-window=x", "on remote machine: --modify-window=x: invalid numeric value"),
    (
        "--protocol=99999999999",
        "on remote machine: --protocol=99999999999: number too large or too small",
    ),
]


@pytest.mark.parametrize(("option", "message"), _REFUSED)
def test_absurd_option_values_get_rsyncs_message(option: str, message: str) -> None:
    with pytest.raises(ArgumentError) as info:
        parse_server_args(["--server", option, "."])
    assert str(info.value) == message


def test_a_5000_digit_size_is_too_large_and_the_message_is_cut() -> None:
    # rsync cuts the whole message (the argument first) at its 200-byte buffer
    with pytest.raises(ArgumentError, match=r"^--max-size=9+") as info:
        parse_server_args(["--server", "--max-size=" + "9" * 5000, "."])
    assert len(str(info.value)) < 5 * LOG_TEXT_LIMIT


@pytest.mark.parametrize(
    ("text", "value"),
    [("1.5G+1", 1610612737), ("5.K", 5120), ("", 0), (".", 0), ("1-1", 0), ("10kb", 10_000)],
)
def test_sizes_rsync_accepts(text: str, value: int) -> None:
    assert parse_size_arg(text, "b", "max-size", min_value=0) == value


@pytest.mark.parametrize("value", [29, 5, 33])
def test_protocol_option_is_taken_and_checked_after_the_exchange(value: int) -> None:
    # rsync's server announces it and checks the range against the agreed protocol
    # (compat.c setup_protocol()); tests-integration/test_server_protocol_option.py
    parsed = parse_server_args(["--server", f"--protocol={value}", "."])
    assert parsed.options.protocol == value
    assert parsed.options.refused == []


def test_too_many_daemon_arguments() -> None:
    with pytest.raises(ArgumentError, match="too many daemon arguments"):
        parse_server_args(["-v"] * 20_000)
