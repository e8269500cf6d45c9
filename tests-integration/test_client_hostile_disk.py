"""A full disk while pyrsync receives: rsync's error, exit 11, the old file kept.

A small tmpfs is mounted for the destination (root only; skipped otherwise). Whether the
sender is real rsync's daemon or our own sender in a local copy, the receiver must stop
with rsync's ``write failed on "PATH": No space left on device (28)`` and exit 11, remove
its temporary file and leave the old file as it was. Each case runs several times: the
error used to lose a race to ``anyio.BrokenResourceError`` now and then.

rsync: receiver.c receive_data(), fileio.c write_file().
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

ROUNDS = 6
OLD = b"the old content\n" * 64


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], check=False
    )
    if mounted.returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.fixture
def big_source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "big").write_bytes(os.urandom(3 << 20))
    return src


def _check(result: object, disk: Path) -> None:
    stderr = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == 11, result.describe()  # type: ignore[attr-defined]
    assert f'write failed on "{disk}/big": No space left on device (28)' in stderr, stderr
    assert "Traceback" not in stderr
    assert "BrokenResourceError" not in stderr
    assert sorted(p.name for p in disk.iterdir()) == ["big"], "temporary file left behind"
    assert hashlib.sha256((disk / "big").read_bytes()).digest() == hashlib.sha256(OLD).digest()


def test_local_copy_onto_a_full_disk(small_disk: Path, big_source: Path) -> None:
    for _ in range(ROUNDS):
        (small_disk / "big").write_bytes(OLD)
        result = run(pyrsync_argv("-r", f"{big_source}/", f"{small_disk}/"), timeout=60)
        _check(result, small_disk)


def test_daemon_pull_onto_a_full_disk(
    small_disk: Path, big_source: Path, real_daemon: RealDaemonFactory
) -> None:
    daemon = real_daemon({"src": big_source})
    for _ in range(ROUNDS):
        (small_disk / "big").write_bytes(OLD)
        result = run(pyrsync_argv("-r", daemon.url("src"), f"{small_disk}/"), timeout=60)
        _check(result, small_disk)


def test_real_rsync_says_the_same(
    small_disk: Path, big_source: Path, real_rsync: RealRsync
) -> None:
    (small_disk / "big").write_bytes(OLD)
    result = run([str(real_rsync.path), "-r", f"{big_source}/", f"{small_disk}/"], timeout=60)
    assert result.returncode == 11
    assert f'write failed on "{small_disk}/big": No space left on device (28)' in result.stderr


def _no_inodes_output(stderr: str) -> list[str]:
    masked = re.sub(r"/\.([a-z])\.[A-Za-z0-9]{6}\"", r'/.\1.XXXXXX"', stderr)
    # sorted: rsync's generator and receiver are two processes writing to one stderr
    return sorted(line for line in masked.splitlines() if not line.startswith("rsync error:"))


def test_out_of_inodes_mkdir_and_mkstemp_as_rsync(tmp_path: Path, real_rsync: RealRsync) -> None:
    """mkdir and mkstemp failing with ENOSPC: per-file errors, exit 23, as rsync."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    src = tmp_path / "src"
    for d in ("d1/d2", "e1"):
        (src / d).mkdir(parents=True)
    (src / "d1" / "f").write_text("a\n")
    (src / "d1" / "d2" / "g").write_text("b\n")
    (src / "e1" / "h").write_text("c\n")
    outputs = []
    for argv in (pyrsync_argv("-r"), [str(real_rsync.path), "-r"]):
        mnt = tmp_path / f"ino{len(outputs)}"
        mnt.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=3", "tmpfs", str(mnt)], check=True
        )
        try:
            result = run([*argv, f"{src}/", f"{mnt}/"], timeout=60)
        finally:
            subprocess.run(["umount", "-l", str(mnt)], check=False)
        assert result.returncode == 23, result.describe()
        outputs.append(_no_inodes_output(result.stderr.replace(str(mnt), "MNT")))
    assert outputs[0] == outputs[1]
