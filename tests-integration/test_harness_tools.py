"""The harness's own tests: tool discovery and policy, run(), ports, --stats parsing."""

from __future__ import annotations

import socket
import time

import pytest

from harness.proc import CommandTimeoutError, free_port, port_accepts, run
from harness.stats import parse_stats
from harness.tools import find_tool, parse_rsync_version, require_tool, unavailable

RSYNC_3_5 = """\
rsync  version 3.5.0  protocol version 32
Copyright (C) 1996-2026 by Andrew Tridgell, Wayne Davison, and others.
Web site: https://rsync.samba.org/
Capabilities:
    64-bit files, 64-bit inums, 64-bit timestamps, 64-bit long ints,
    socketpairs, symlinks, symtimes, hardlinks, hardlink-specials,
    hardlink-symlinks, IPv6, atimes, batchfiles, inplace, append, ACLs,
    ACL-at, xattrs, optional secluded-args, iconv, prealloc, stop-at,
    no crtimes
Optimizations:
    SIMD-roll, no asm-roll, openssl-crypto, no asm-MD5
Checksum list:
    xxh128 xxh3 xxh64 (xxhash) md5 md4 sha1 none
Compress list:
    zstd lz4 zlibx zlib none
Daemon auth list:
    sha512 sha256 sha1 md5 md4

rsync comes with ABSOLUTELY NO WARRANTY.  This is free software, and you
"""

RSYNC_3_1 = """\
rsync  version 3.1.3  protocol version 31
Copyright (C) 1996-2018 by Andrew Tridgell, Wayne Davison, and others.
Web site: http://rsync.samba.org/
Capabilities:
    64-bit files, 64-bit inums, 64-bit timestamps, 64-bit long ints,
    socketpairs, hardlinks, symlinks, IPv6, batchfiles, inplace,
    append, ACLs, xattrs, iconv, symtimes, prealloc

rsync comes with ABSOLUTELY NO WARRANTY.  This is free software, and you
"""

OPENRSYNC = "openrsync: protocol version 29\nrsync version 2.6.9 compatible\n"


class TestParseVersion:
    def test_rsync_3_5(self) -> None:
        info = parse_rsync_version(RSYNC_3_5)
        assert (info.version, info.version_info, info.protocol) == ("3.5.0", (3, 5, 0), 32)
        assert info.has("symtimes")
        assert info.has("no crtimes")
        assert not info.has("crtimes")
        assert info.checksums == ("xxh128", "xxh3", "xxh64", "md5", "md4", "sha1", "none")
        assert info.compressions == ("zstd", "lz4", "zlibx", "zlib", "none")
        assert info.daemon_auth == ("sha512", "sha256", "sha1", "md5", "md4")
        assert "SIMD-roll" not in info.capabilities

    def test_rsync_3_1(self) -> None:
        info = parse_rsync_version(RSYNC_3_1)
        assert (info.version, info.protocol) == ("3.1.3", 31)
        assert info.has("prealloc")
        assert info.checksums == ()

    def test_openrsync(self) -> None:
        info = parse_rsync_version(OPENRSYNC)
        assert (info.version, info.protocol) == ("", 29)

    def test_garbage(self) -> None:
        with pytest.raises(ValueError, match="no protocol version"):
            parse_rsync_version("hello\n")


class TestPolicy:
    def test_skips_locally(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("CI", raising=False)
        with pytest.raises(pytest.skip.Exception, match="no such tool"):
            unavailable("no such tool")

    @pytest.mark.parametrize("value", ["true", "1", "yes"])
    def test_fails_in_ci(self, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.fail.Exception, match=r"no such tool.*CI is set"):
            unavailable("no such tool")

    @pytest.mark.parametrize("value", ["", "0", "false"])
    def test_ci_unset_values(self, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
        monkeypatch.setenv("CI", value)
        with pytest.raises(pytest.skip.Exception):
            require_tool("pyrsync-no-such-tool-xyz")

    def test_override(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PYRSYNC_IT_SOME_TOOL", "/bin/sh")
        assert str(find_tool("some-tool")) == "/bin/sh"

    def test_finds_in_sbin(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PATH", "/nonexistent")
        assert find_tool("sh", extra_dirs=["/bin"]) is not None


class TestRun:
    def test_output_and_unpacking(self) -> None:
        code, out, err = run(["sh", "-c", "echo out; echo err >&2; exit 3"])
        assert (code, out, err) == (3, "out\n", "err\n")

    def test_check(self) -> None:
        result = run(["sh", "-c", "echo why >&2; exit 2"])
        with pytest.raises(AssertionError, match=r"exit code 2(.|\n)*why"):
            result.check()
        assert result.check(2) is result

    def test_stdin_and_undecodable_output(self) -> None:
        result = run(["cat"], stdin=b"\xff\xfe ok")
        assert result.stdout == "\\xff\\xfe ok"

    def test_timeout_kills_the_whole_group(self) -> None:
        start = time.monotonic()
        # The grandchild keeps stdout open: only killing the group ends communicate().
        with pytest.raises(CommandTimeoutError, match=r"timed out after 0\.5 s"):
            run(["sh", "-c", "echo started; sleep 60 & sleep 60"], timeout=0.5)
        assert time.monotonic() - start < 10


def test_free_port() -> None:
    port = free_port()
    assert 1024 <= port < 65536
    assert not port_accepts("127.0.0.1", port)
    with socket.create_server(("127.0.0.1", port)):
        assert port_accepts("127.0.0.1", port)


def test_parse_stats() -> None:
    text = """
Number of files: 84 (reg: 60, dir: 16, link: 8)
Number of created files: 5 (reg: 4, dir: 1)
Total file size: 4,502,758 bytes
Literal data: 106,965 bytes
Matched data: 1.242.025 bytes
File list generation time: 0.001 seconds
Total bytes sent: 8168

sent 8,168 bytes  received 114,922 bytes  246,180.00 bytes/sec
total size is 4,502,758  speedup is 36.58
"""
    assert parse_stats(text) == {
        "Number of files": 84,
        "Number of created files": 5,
        "Total file size": 4502758,
        "Literal data": 106965,
        "Matched data": 1242025,
        "Total bytes sent": 8168,
    }
