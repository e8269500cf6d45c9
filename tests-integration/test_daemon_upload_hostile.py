"""Hostile uploaders: a client that lists names leading out of the module writes nothing.

A raw socket plays the uploader: it speaks the daemon greeting and protocol 29 to a
``read only = no`` module of pyrsyncd and sends a hand-made file list (encoded with
rsync-wire's own encoder, which checks nothing). Each list must end the session with
rsync's message, leave everything outside the module alone, and the daemon must go on
serving the next client (real rsync, pushing).
"""

from __future__ import annotations

import contextlib
import socket
import stat
import time
from typing import TYPE_CHECKING

import pytest

from harness.daemon import DaemonModule
from harness.proc import run
from rsync_wire.proto.flist import FileEntry, FileListEncoder
from rsync_wire.proto.negotiate import Session
from rsync_wire.proto.options import TransferOptions

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

PROTOCOL = 29


def _file(
    name: bytes, *, mode: int = stat.S_IFREG | 0o644, target: bytes | None = None
) -> FileEntry:
    return FileEntry(
        name=name,
        mode=mode,
        size=0 if target is None else len(target),
        mtime=1_700_000_000,
        link_target=target,
    )


def _upload(host: str, port: int, entries: list[FileEntry], *, read_for: float = 10.0) -> bytes:
    """Push ``entries`` (no data) to module ``up`` as protocol 29; returns what the daemon said."""
    opts = TransferOptions(recursive=True, preserve_links=True)
    session = Session(protocol=PROTOCOL)
    listing = bytearray()
    encoder = FileListEncoder(session, opts)
    for entry in entries:
        encoder.encode_into(listing, entry)
    encoder.encode_end_into(listing)
    encoder.encode_io_error_into(listing, 0)
    with socket.create_connection((host, port), timeout=read_for) as sock:
        f = sock.makefile("rb")
        f.readline()  # the daemon's greeting
        sock.sendall(f"@RSYNCD: {PROTOCOL}.0\nup\n".encode())
        line = f.readline()
        while line.strip() != b"@RSYNCD: OK":  # the motd comes first
            if not line or line.startswith(b"@ERROR"):
                return line
            line = f.readline()
        sock.sendall(b"--server\n-rl\n.\nup/\n\n")  # below protocol 30: one per line
        f.read(4)  # the checksum seed
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(bytes(listing))
        chunks = []
        deadline = time.monotonic() + read_for
        while time.monotonic() < deadline:
            try:
                data = f.read1(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)


HOSTILE = {
    "dot-dot": [_file(b".", mode=stat.S_IFDIR | 0o755), _file(b"../escaped")],
    "absolute": [_file(b".", mode=stat.S_IFDIR | 0o755), _file(b"/tmp/escaped-abs")],
    "through-symlink": [
        _file(b".", mode=stat.S_IFDIR | 0o755),
        _file(b"l", mode=stat.S_IFLNK | 0o777, target=b"OUTSIDE"),
        _file(b"l/escaped"),
    ],
    "dot-dot-dir": [
        _file(b".", mode=stat.S_IFDIR | 0o755),
        _file(b"d/../../escaped-dir", mode=stat.S_IFDIR | 0o755),
    ],
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_upload_writes_nothing_outside(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path, case: str
) -> None:
    mod = tmp_path / "area" / "mod"
    mod.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    entries = [
        _file(e.name, mode=e.mode, target=str(outside).encode() if e.link_target else None)
        for e in HOSTILE[case]
    ]
    d = our_daemon([DaemonModule("up", mod, read_only=False)])
    said = _upload("127.0.0.1", d.port, entries)  # type: ignore[attr-defined]
    assert b"ABORTING due to" in said, said
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "area").iterdir()) == ["mod"]
    assert not (tmp_path / "escaped").exists()
    # the daemon still serves an honest upload
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok").write_text("fine\n")
    code, _, err = run(real_rsync.argv("-r", str(src) + "/", d.url("up") + "/"), timeout=60)  # type: ignore[attr-defined]
    assert code == 0, err
    assert (mod / "ok").read_text() == "fine\n"
