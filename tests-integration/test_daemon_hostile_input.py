"""Hostile daemon clients (issue 8, bounded cost): each gets a clean error, the log line
stays short, and the daemon keeps serving the next client.

Raw sockets play the hostile client; real rsync plays the well-behaved one afterwards.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from typing import TYPE_CHECKING

import pytest

from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

GREETING = b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n"


def _exchange(host: str, port: int, payload: bytes, *, read_for: float = 10.0) -> bytes:
    """Send ``payload``, then read until the daemon closes (or ``read_for`` passes)."""
    with socket.create_connection((host, port), timeout=read_for) as sock:
        # The daemon may stop reading once it has refused.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(payload)
        chunks = []
        deadline = time.monotonic() + read_for
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


@pytest.fixture
def module(tmp_path: Path) -> Path:
    mod = tmp_path / "mod"
    mod.mkdir()
    (mod / "keep.txt").write_text("kept\n")
    (mod / "drop.o").write_text("dropped\n")
    return mod


def _still_serves(daemon: object, real_rsync: RealRsync, dest: Path) -> None:
    url = daemon.url("mod")  # type: ignore[attr-defined]
    code, _, err = run(real_rsync.argv("-r", url, str(dest)))
    assert code == 0, err
    assert (dest / "keep.txt").read_text() == "kept\n"


def _longest_log_line(daemon: object) -> int:
    log = daemon.log()  # type: ignore[attr-defined]
    return max((len(line) for line in log.splitlines()), default=0)


@pytest.mark.timeout(120)
def test_a_5000_digit_protocol_version(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, module: Path, tmp_path: Path
) -> None:
    daemon = our_daemon({"mod": module})
    reply = _exchange(daemon.host, daemon.port, b"@RSYNCD: " + b"9" * 5000 + b".0 md5\n")
    assert reply.startswith(GREETING)
    assert b"@ERROR: protocol startup error" in reply, reply[:300]
    assert "Traceback" not in daemon.log()
    _still_serves(daemon, real_rsync, tmp_path / "d")


@pytest.mark.timeout(120)
def test_long_arguments_in_one_read(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, module: Path, tmp_path: Path
) -> None:
    daemon = our_daemon({"mod": module})
    args = b"--server\0--sender\0" + (b"x" * 60_000 + b"\0") * 300 + b".\0mod/\0\0"
    reply = _exchange(daemon.host, daemon.port, GREETING + b"mod\n" + args)
    assert reply.startswith(GREETING)
    assert len(reply) < 10_000
    assert _longest_log_line(daemon) < 8192
    assert "Traceback" not in daemon.log()
    _still_serves(daemon, real_rsync, tmp_path / "d")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("option", "message"),
    [
        (b"--max-size=nan", b"--max-size=nan is invalid"),
        (b"--max-size=1e400", b"--max-size=1e400 is invalid"),
        (b"--bwlimit=1e308G", b"--bwlimit=1e308G is invalid"),
        (
            b"--checksum-seed=99999999999999999999",
            b"--checksum-seed=99999999999999999999: number too large or too small",
        ),
        (b"--timeout=huge", b"--timeout=huge: invalid numeric value"),
        (b"--block-size=999999999", b"--block-size=999999999 is too large (max: 128.00K)"),
        (b"--protocol=99999999999", b"number too large or too small"),
        (b"--max-alloc=5", b"--max-alloc=5 is too small"),
        (b"--max-alloc=0", b"max-alloc must be greater than zero"),
    ],
)
def test_absurd_option_values_get_rsyncs_message(
    our_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    module: Path,
    tmp_path: Path,
    option: bytes,
    message: bytes,
) -> None:
    daemon = our_daemon({"mod": module})
    args = b"--server\0--sender\0-r\0" + option + b"\0.\0mod/\0\0"
    reply = _exchange(daemon.host, daemon.port, GREETING + b"mod\n" + args)
    assert b"@RSYNCD: OK" in reply
    assert message in reply, reply[-300:]
    log = daemon.log()
    assert message.decode() in log
    assert "Traceback" not in log
    _still_serves(daemon, real_rsync, tmp_path / "d")


@pytest.mark.timeout(300)
def test_a_long_rule_list_is_honoured(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, module: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    with rules.open("w") as f:
        for i in range(100_000):
            f.write(
                ("file%d.dat", "*.x%d", "dir%d/", "/top/a%d/b")[i % 4].replace("%d", str(i)) + "\n"
            )
        f.write("*.o\n")
    daemon = our_daemon({"mod": module})
    dest = tmp_path / "d"
    code, _, err = run(
        real_rsync.argv("-r", f"--exclude-from={rules}", daemon.url("mod"), str(dest)),
        timeout=240,
    )
    assert code == 0, err
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt"]


@pytest.mark.timeout(600)
def test_a_million_rules_fit_in_64_mib(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, module: Path, tmp_path: Path
) -> None:
    """1,000,000 rules from a hostile client: the connection process stays under 64 MiB.

    rsync's daemon holds the same list in about 84 MB. The rules are honoured: the list
    ends with one that hides drop.o.
    """
    from rsync_wire.proto.mux import Demultiplexer

    daemon = our_daemon({"mod": module})
    shapes = (b"- file%d.dat", b"- *.x%d", b"- dir%d/", b"- /top/a%d/b")
    with socket.create_connection((daemon.host, daemon.port), timeout=300) as sock:
        sock.sendall(b"@RSYNCD: 29.0\nmod\n")
        raw = b""
        while raw.count(b"\n") < 2:
            raw += sock.recv(4096)
        assert b"@RSYNCD: OK\n" in raw, raw
        sock.sendall(b"--server\n--sender\n-r\n.\nmod/\n\n")
        batch = bytearray()
        for i in range(1_000_000):
            rule = shapes[i % 4] % i
            batch += struct.pack("<i", len(rule)) + rule
            if len(batch) > 1 << 20:
                sock.sendall(batch)
                batch.clear()
        batch += struct.pack("<i", 5) + b"- *.o" + b"\0\0\0\0"
        sock.sendall(batch)
        rest = raw.split(b"@RSYNCD: OK\n", 1)[1]
        while len(rest) < 4:
            rest += sock.recv(4096)
        demux = Demultiplexer()
        demux.receive_data(rest[4:])
        data = bytearray()
        while b"keep.txt" not in data:
            chunk = sock.recv(65536)
            assert chunk, "the daemon closed before sending the file list"
            demux.receive_data(chunk)
            demux.extract_into(data)
        assert b"drop.o" not in data
    deadline = time.monotonic() + 60
    while "peak RSS" not in daemon.log().split("module mod", 1)[-1] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _peak_rss_mib(daemon.log()) < 64
    _still_serves(daemon, real_rsync, tmp_path / "d")


def _pull_until_sum_head(host: str, port: int, sock: socket.socket) -> tuple[int, bytearray]:
    """Play a protocol-29 client up to the first transfer request; return (ndx, input).

    Returns the index of ``keep.txt`` and the demultiplexed bytes left over.
    """
    from rsync_wire.proto.flist import EndOfList, FileListDecoder
    from rsync_wire.proto.mux import Demultiplexer
    from rsync_wire.proto.negotiate import Session
    from rsync_wire.proto.options import TransferOptions

    sock.sendall(b"@RSYNCD: 29.0\nmod\n")
    raw = b""
    while raw.count(b"\n") < 2:
        raw += sock.recv(4096)
    assert b"@RSYNCD: OK\n" in raw, raw
    sock.sendall(b"--server\n--sender\n-r\n.\nmod/\n\n")
    sock.sendall(b"\0\0\0\0")  # an empty filter list
    rest = raw.split(b"@RSYNCD: OK\n", 1)[1]
    while len(rest) < 4:
        rest += sock.recv(4096)
    demux = Demultiplexer()
    demux.receive_data(rest[4:])  # after the seed, the server's output is multiplexed
    data = bytearray()
    dec = FileListDecoder(Session(protocol=29, compat_flags=0), TransferOptions(recursive=True))
    pos = 0
    names: list[bytes] = []
    while True:
        demux.extract_into(data)
        try:
            item, pos = dec.decode(data, pos)
        except Exception:  # noqa: BLE001 - NeedMoreData: read more
            demux.receive_data(sock.recv(65536))
            continue
        if isinstance(item, EndOfList):
            break
        names.append(item.name)
    return names.index(b"keep.txt"), data[pos:]


def _peak_rss_mib(log: str) -> float:
    peaks = [
        float(line.rsplit("peak RSS", 1)[1].split()[0])
        for line in log.splitlines()
        if "peak RSS" in line
    ]
    return max(peaks)


@pytest.mark.timeout(120)
def test_a_checksum_count_of_2_31_is_refused_at_once(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, module: Path, tmp_path: Path
) -> None:
    daemon = our_daemon({"mod": module})
    with socket.create_connection((daemon.host, daemon.port), timeout=30) as sock:
        ndx, _ = _pull_until_sum_head(daemon.host, daemon.port, sock)
        request = struct.pack("<iHiiii", ndx, 0x8000, 2**31 - 1, 700, 16, 0)
        sock.sendall(request)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert b"exceeded --max-alloc=1073741824 setting" in reply, reply[-300:]
    _still_serves(daemon, real_rsync, tmp_path / "d")
    assert "exceeded --max-alloc" in daemon.log()


@pytest.mark.timeout(120)
def test_a_table_larger_than_its_file_costs_no_memory(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, module: Path, tmp_path: Path
) -> None:
    """2,000,000 block sums (40 MB) for a 5-byte file: the sender keeps what it can use."""
    from rsync_wire.proto.mux import Demultiplexer

    daemon = our_daemon({"mod": module})
    count = 2_000_000
    with socket.create_connection((daemon.host, daemon.port), timeout=30) as sock:
        ndx, _ = _pull_until_sum_head(daemon.host, daemon.port, sock)
        sock.sendall(struct.pack("<iHiiii", ndx, 0x8000, count, 700, 16, 0))
        row = struct.pack("<i", 12345) + b"s" * 16
        for _ in range(count // 100_000):
            sock.sendall(row * 100_000)
        demux = Demultiplexer()
        data = bytearray()
        while b"kept\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, "the daemon closed before sending the file"
            demux.receive_data(chunk)
            demux.extract_into(data)
    deadline = time.monotonic() + 20
    while "peak RSS" not in daemon.log().split("module mod", 1)[-1] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _peak_rss_mib(daemon.log()) < 64
    _still_serves(daemon, real_rsync, tmp_path / "d")
