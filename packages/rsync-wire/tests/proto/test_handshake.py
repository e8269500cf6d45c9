"""Daemon greetings and authentication (docs/protocol.md §5.1, §5.4)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from rsync_wire.errors import RemoteProtocolError
from rsync_wire.proto.handshake import (
    auth_response,
    choose_auth_digest,
    daemon_protocol,
    format_greeting,
    format_module_line,
    parse_greeting,
    verify_response,
)


def test_our_greeting_carries_the_digest_list() -> None:
    assert format_greeting(32) == b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n"


@pytest.mark.parametrize(
    ("line", "version", "digests"),
    [
        (
            b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4",
            32,
            ("sha512", "sha256", "sha1", "md5", "md4"),
        ),
        (b"@RSYNCD: 31.0", 31, None),
        (b"@RSYNCD: 29", 29, None),
        (b"@RSYNCD: 31.0 ", 31, ()),  # a trailing space: an empty list, not a missing one
    ],
)
def test_parse_greeting(line: bytes, version: int, digests: tuple[str, ...] | None) -> None:
    g = parse_greeting(line)
    assert (g.version, g.digests) == (version, digests)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"HELLO", "protocol startup error"),
        (b"@RSYNCD: 30", "omitted the subprotocol"),
        (b"@RSYNCD: 32.0", "omitted the digest name list"),
    ],
)
def test_bad_greetings(line: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        parse_greeting(line)


def test_negotiated_protocol() -> None:
    assert daemon_protocol(32, parse_greeting(b"@RSYNCD: 29")) == 29
    assert daemon_protocol(32, parse_greeting(b"@RSYNCD: 32.0 md5")) == 32
    assert daemon_protocol(31, parse_greeting(b"@RSYNCD: 32.1 md5")) == 31


def test_digest_choice_follows_the_notes() -> None:
    ours = ("sha512", "sha256", "sha1", "md5", "md4")
    assert (
        choose_auth_digest(ours, parse_greeting(b"@RSYNCD: 32.0 sha1 md5"), protocol=32) == "sha1"
    )
    assert choose_auth_digest(ours, parse_greeting(b"@RSYNCD: 30.0"), protocol=30) == "md5"
    assert choose_auth_digest(ours, parse_greeting(b"@RSYNCD: 29"), protocol=29) == "md4-legacy"
    assert choose_auth_digest(ours, parse_greeting(b"@RSYNCD: 31.0 "), protocol=31) is None


def test_auth_response_is_unpadded_base64_of_password_then_challenge() -> None:
    challenge = "9gRX15abcdefghijklmnop"
    expect = base64.b64encode(hashlib.md5(b"s3cret" + challenge.encode()).digest())  # noqa: S324
    assert auth_response("md5", b"s3cret", challenge) == expect.decode().rstrip("=")
    assert verify_response("sha512", b"pw", "ch", auth_response("sha512", b"pw", "ch"))
    assert not verify_response("sha512", b"pw", "ch", auth_response("sha512", b"px", "ch"))


def test_module_line_layout() -> None:
    assert format_module_line("pub", "public module") == b"pub            \tpublic module\n"
