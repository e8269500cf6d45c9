"""A ``--partial-dir`` basis updated in place (CF_INPLACE_PARTIAL_DIR, ``I`` in ``-e``).

rsync 3.2 and later negotiate it: the receiver writes the new data over the partial
file it resumes from, and renames that file into place, instead of copying it into a
temporary file. The sender must then never match a block behind the write offset.

The partial file here holds the source's blocks rotated by half, so that a sender that
matched behind the offset would read blocks already overwritten (and the file would fail
its checksum). In every seat, ours beside rsync in the same seat: the same content, the
same matched data (the sender's search as rsync's), the partial file's inode now the
file's (the update was in place), and no partial dir left.
"""

from __future__ import annotations

import os
import random
import re
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

BLOCK = 4096
BLOCKS = 256
T = 1_700_000_000


def _source(base: Path) -> tuple[Path, bytes]:
    src = base / "src"
    src.mkdir()
    rnd = random.Random(7)  # noqa: S311 - test data
    blocks = [rnd.randbytes(BLOCK) for _ in range(BLOCKS)]
    data = b"".join(blocks)
    (src / "big").write_bytes(data)
    os.utime(src / "big", (T, T))
    os.utime(src, (T, T))
    return src, b"".join(blocks[BLOCKS // 2 :] + blocks[: BLOCKS // 2])[: len(data) * 3 // 4]


def _interrupted(dest: Path, partial: bytes) -> int:
    """A destination holding only a partial file; returns its inode."""
    (dest / "pdir").mkdir(parents=True)
    (dest / "pdir" / "big").write_bytes(partial)
    os.utime(dest, (T, T))
    return (dest / "pdir" / "big").stat().st_ino


def _figures(out: str) -> tuple[int, int]:
    found = [re.search(rf"{what} data: ([\d,]+) bytes", out) for what in ("Literal", "Matched")]
    assert all(found), out
    lit, matched = (int(m.group(1).replace(",", "")) for m in found if m)
    return lit, matched


def _check(dest: Path, src: Path, inode: int) -> None:
    assert (dest / "big").read_bytes() == (src / "big").read_bytes()
    assert (dest / "big").stat().st_ino == inode  # the partial file itself, renamed
    assert not (dest / "pdir").exists()


def _flags(extra: tuple[str, ...]) -> list[str]:
    return ["-a", "--no-W", "--stats", "--partial-dir=pdir", *extra]


@pytest.mark.parametrize(
    "extra", [(), ("--delay-updates",), ("--whole-file",)], ids=["plain", "delay-updates", "W"]
)
@pytest.mark.parametrize("seat", ["pull", "local"])
def test_pyrsync_receiver_updates_the_partial_file(
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    seat: str,
    extra: tuple[str, ...],
) -> None:
    src, partial = _source(tmp_path)
    source = f"{src}/" if seat == "local" else real_daemon([DaemonModule("s", src)]).url("s") + "/"
    figures = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        inode = _interrupted(dest, partial)
        code, out, err = run([*argv, *_flags(extra), source, f"{dest}/"], timeout=120)
        assert code == 0, (who, err)
        figures[who] = _figures(out)
        _check(dest, src, inode)
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert figures["ours"] == figures["theirs"]
    if "--whole-file" not in extra:  # (a whole file goes into the partial file all the same)
        assert 0 < figures["ours"][1] < BLOCK * BLOCKS // 2  # only blocks ahead were matched


def test_pyrsyncd_receiver_updates_the_partial_file(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src, partial = _source(tmp_path)
    figures = {}
    for who, factory in (("ours", our_daemon), ("theirs", real_daemon)):
        dest = tmp_path / who
        inode = _interrupted(dest, partial)
        d = factory([DaemonModule("up", dest, read_only=False)])
        code, out, err = run(
            real_rsync.argv(*_flags(()), f"{src}/", d.url("up") + "/"), timeout=120
        )
        assert code == 0, (who, err)
        figures[who] = _figures(out)
        _check(dest, src, inode)
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert figures["ours"] == figures["theirs"]


def test_pyrsync_sender_matches_only_ahead_of_the_write_offset(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    """Our sender, pushing to rsync's daemon, which updates the partial file in place."""
    src, partial = _source(tmp_path)
    figures = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        inode = _interrupted(dest, partial)
        d = real_daemon([DaemonModule("up", dest, read_only=False)])
        code, out, err = run([*argv, *_flags(()), f"{src}/", d.url("up") + "/"], timeout=120)
        assert code == 0, (who, err)
        assert "failed verification" not in err, (who, err)
        figures[who] = _figures(out)
        _check(dest, src, inode)
    assert figures["ours"] == figures["theirs"]
