"""The PROXY header parsers, hosts allow/deny with names, and strict modes, as rsync 3.5."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest

from rsync_daemon.acl import UNDETERMINED, host_allowed
from rsync_daemon.auth import lookup_secret
from rsync_daemon.proxy import V2_SIGNATURE, ProxyHeaderError, parse_v1, parse_v2

if TYPE_CHECKING:
    from pathlib import Path


def _v2(cmd: int, fam: int, body: bytes) -> tuple[bytes, bytes]:
    return V2_SIGNATURE + bytes([0x20 | cmd, fam]) + len(body).to_bytes(2, "big"), body


def test_v1() -> None:
    assert parse_v1(b"PROXY TCP4 10.1.2.3 127.0.0.1 1234 873\r\n") == "10.1.2.3"
    assert parse_v1(b"PROXY TCP6 fd00::1 ::1 1234 873\r\n") == "fd00::1"
    assert parse_v1(b"PROXY UNKNOWN\r\n") is None
    for bad in (
        b"PROXY TCP4 10.1.2.3 127.0.0.1 1234 873\n",
        b"PROXY TCP4 10.1.2 127.0.0.1 1234 873\r\n",
        b"PROXY TCP4 10.1.2.3 127.0.0.1 0 873\r\n",
        b"PROXY UDP4 10.1.2.3 127.0.0.1 1 2\r\n",
        b"PROXY TCP4 10.1.2.3 127.0.0.1 1234\r\n",
    ):
        with pytest.raises(ProxyHeaderError):
            parse_v1(bad)


def test_v2() -> None:
    ip4 = socket.inet_aton("10.9.8.7") + socket.inet_aton("127.0.0.1") + b"\x04\xd2\x03\x69"
    assert parse_v2(*_v2(1, 0x11, ip4)) == "10.9.8.7"
    ip6 = socket.inet_pton(socket.AF_INET6, "fd00::2") + bytes(16) + b"\x04\xd2\x03\x69"
    assert parse_v2(*_v2(1, 0x21, ip6)) == "fd00::2"
    assert parse_v2(*_v2(0, 0x00, b"")) is None  # LOCAL
    assert parse_v2(*_v2(1, 0x31, bytes(216))) is None  # UNIX: the socket's address stays
    with pytest.raises(ProxyHeaderError):
        parse_v2(*_v2(1, 0x11, ip4[:-1]))
    with pytest.raises(ProxyHeaderError):
        parse_v2(*_v2(2, 0x11, ip4))
    header, body = _v2(1, 0x11, ip4)
    with pytest.raises(ProxyHeaderError):
        parse_v2(header[:12] + b"\x11" + header[13:], body)  # version 1


def test_host_names_and_fail_closed_deny() -> None:
    resolve = {"good.example": ["10.0.0.5"], "bad.example": ["10.0.0.6"]}.get

    def lookup(name: str) -> list[str]:
        return resolve(name) or []

    # forward lookup of a name token, compared with the client's address
    assert host_allowed("10.0.0.5", UNDETERMINED, ["good.example"], [], resolve=lookup)
    assert not host_allowed("10.0.0.6", UNDETERMINED, ["good.example"], [], resolve=lookup)
    assert not host_allowed("10.0.0.5", UNDETERMINED, ["good.example"], [], forward=False)
    # the reverse-looked-up name against a wildcard, without case
    assert not host_allowed("10.0.0.7", "Host.Example", [], ["*.example"], resolve=lookup)
    # a deny name that does not resolve denies; an allow name that does not resolve does not
    assert not host_allowed("10.0.0.7", UNDETERMINED, [], ["gone.invalid"], resolve=lookup)
    assert not host_allowed("10.0.0.7", UNDETERMINED, [], ["gone.invalid"], resolve=None)
    assert not host_allowed("10.0.0.7", UNDETERMINED, ["gone.invalid"], [], resolve=lookup)
    assert host_allowed("10.0.0.7", UNDETERMINED, [], ["bad.example"], resolve=lookup)
    # addresses, networks, masks and wildcards need no lookup
    assert host_allowed("192.168.1.9", None, ["192.168.1.0/255.255.255.0"], [])
    assert host_allowed("::ffff:10.1.1.1", None, ["10.0.0.0/8"], [])
    assert host_allowed("10.1.1.1", None, ["10.0.0.0/8"], ["10.1.*"])  # allow wins


@pytest.mark.parametrize(
    ("mode", "strict", "accepted"),
    [
        (0o600, True, True),
        (0o640, True, True),
        (0o660, True, True),
        (0o601, True, True),
        (0o604, True, False),
        (0o602, True, False),
        (0o604, False, True),
    ],
)
def test_strict_modes_as_rsync(tmp_path: Path, mode: int, strict: bool, accepted: bool) -> None:
    secrets = tmp_path / "secrets"
    secrets.write_text("alice:pw\n")
    secrets.chmod(mode)
    found = lookup_secret(str(secrets), "alice", ["alice"], strict=strict)
    assert (found == b"pw") is accepted
