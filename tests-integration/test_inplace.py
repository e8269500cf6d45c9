"""``--inplace``: the destination file itself is rewritten (same inode), with rsync's result.

A 4 MiB file with scattered changes, one that grew, one that shrank and a new one are
transferred with ``--inplace --no-whole-file``: pulled by pyrsync from rsync's daemon and
uploaded by rsync to pyrsyncd, each beside rsync in the same seat. The trees and the
itemized lines must equal rsync's, and every file that existed must keep its inode.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.compare import assert_trees_equal
from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

SIZE = 4 << 20
OLD_T = 1_600_000_000


def _source(base: Path, rng: random.Random) -> tuple[Path, bytes]:
    src = base / "src"
    src.mkdir()
    data = rng.randbytes(SIZE)
    (src / "big").write_bytes(data)
    (src / "grew").write_bytes(data[:100_000] + rng.randbytes(50_000))
    (src / "shrank").write_bytes(data[:30_000])
    (src / "new").write_bytes(rng.randbytes(10_000))
    os.utime(src, (OLD_T + 100, OLD_T + 100))
    return src, data


def _old(dest: Path, data: bytes, rng: random.Random) -> dict[str, int]:
    dest.mkdir(parents=True)
    old = bytearray(data)
    for _ in range(16):
        at = rng.randrange(0, SIZE - 4096)
        old[at : at + 4096] = rng.randbytes(4096)
    (dest / "big").write_bytes(old)
    (dest / "grew").write_bytes(data[:100_000])
    (dest / "shrank").write_bytes(data[:90_000])
    inodes = {}
    for name in ("big", "grew", "shrank"):
        os.utime(dest / name, (OLD_T, OLD_T))
        inodes[name] = (dest / name).stat().st_ino
    os.utime(dest, (OLD_T, OLD_T))
    return inodes


def _lines(out: str) -> list[str]:
    return sorted(ln for ln in out.splitlines() if ln and not ln.startswith(("sent ", "total ")))


def test_pull_inplace_equals_rsyncs(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    src, data = _source(tmp_path, random.Random(7))  # noqa: S311 - test data
    d = real_daemon([DaemonModule("src", src)])
    outs = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        inodes = _old(dest, data, random.Random(8))  # noqa: S311 - test data
        code, out, err = run(
            [*argv, "-ai", "--inplace", "--no-whole-file", d.url("src") + "/", str(dest) + "/"],
            timeout=120,
        )
        assert code == 0, (who, err)
        outs.append(_lines(out))
        for name, ino in inodes.items():
            assert (dest / name).stat().st_ino == ino, (who, name)
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert (tmp_path / "ours" / "big").read_bytes() == data
    assert outs[0] == outs[1]


def test_upload_inplace_equals_rsyncs(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src, data = _source(tmp_path, random.Random(7))  # noqa: S311 - test data
    outs = []
    for who, factory in (("ours", our_daemon), ("theirs", real_daemon)):
        dest = tmp_path / who
        inodes = _old(dest, data, random.Random(8))  # noqa: S311 - test data
        d = factory([DaemonModule("up", dest, read_only=False)])
        code, out, err = run(
            real_rsync.argv(
                "-ai", "--inplace", "--no-whole-file", str(src) + "/", d.url("up") + "/"
            ),
            timeout=120,
        )
        assert code == 0, (who, err)
        outs.append(_lines(out))
        for name, ino in inodes.items():
            assert (dest / name).stat().st_ino == ino, (who, name)
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert outs[0] == outs[1]


def test_local_inplace_keeps_the_inode(tmp_path: Path) -> None:
    src, data = _source(tmp_path, random.Random(7))  # noqa: S311 - test data
    dest = tmp_path / "dest"
    inodes = _old(dest, data, random.Random(8))  # noqa: S311 - test data
    code, _, err = run(pyrsync_argv("-a", "--inplace", f"{src}/", f"{dest}/"), timeout=120)
    assert code == 0, err
    assert_trees_equal(src, dest)
    for name, ino in inodes.items():
        assert (dest / name).stat().st_ino == ino, name
