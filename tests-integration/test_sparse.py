"""``-S``/``--sparse``: holes where the received data has runs of zeros, as rsync leaves them.

Files with long and short runs of zeros (inside, at the start, at the end, only zeros)
are transferred with ``-S``: pulled by pyrsync from rsync's daemon, uploaded by rsync to
pyrsyncd, each beside rsync in the same seat, and rewritten in place (``--inplace``, over
files that had no holes, where holes must be punched out). The trees must be equal and
every file must take the same disk blocks as rsync's copy; a file of zeros takes none.
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

OLD = 1_600_000_000


def _source(base: Path) -> Path:
    rng = random.Random(21)  # noqa: S311 - test data
    src = base / "src"
    src.mkdir()
    (src / "mixed").write_bytes(
        rng.randbytes(10_000) + bytes(100_000) + rng.randbytes(5_000) + bytes(500)
        + rng.randbytes(3_000) + bytes(20_000)
    )  # fmt: skip
    (src / "leading").write_bytes(bytes(70_000) + rng.randbytes(9_000))
    (src / "zeros").write_bytes(bytes(300_000))
    (src / "short").write_bytes(bytes(500))
    (src / "dense").write_bytes(rng.randbytes(40_000))
    (src / "big").write_bytes(
        b"".join(rng.randbytes(30_000) + bytes(rng.randrange(1, 200_000)) for _ in range(40))
    )
    os.utime(src, (OLD + 50, OLD + 50))
    return src


def _old_dense(dest: Path, src: Path) -> None:
    """Every file of ``src`` there already, changed a little and with no holes."""
    dest.mkdir(parents=True)
    for f in src.iterdir():
        data = bytearray(f.read_bytes())
        if len(data) > 20_000:
            data[15_000:15_100] = b"\xff" * 100
        (dest / f.name).write_bytes(bytes(data) or b"x")
        os.utime(dest / f.name, (OLD, OLD))
    os.utime(dest, (OLD, OLD))


def _blocks(root: Path) -> dict[str, int]:
    return {f.name: f.stat().st_blocks for f in sorted(root.iterdir())}


@pytest.mark.parametrize("mode", ["new", "inplace", "inplace-whole"])
def test_pull_sparse_equals_rsyncs(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path, mode: str
) -> None:
    src = _source(tmp_path)
    d = real_daemon([DaemonModule("src", src)])
    extra = {"new": [], "inplace": ["--inplace", "--no-W"], "inplace-whole": ["--inplace", "-W"]}
    blocks = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        if mode != "new":
            _old_dense(dest, src)
        code, _, err = run(
            [*argv, "-aS", *extra[mode], d.url("src") + "/", str(dest) + "/"], timeout=120
        )
        assert code == 0, (who, err)
        blocks.append(_blocks(dest))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert_trees_equal(src, tmp_path / "ours")
    assert blocks[0] == blocks[1]
    assert blocks[0]["zeros"] <= (8 if mode == "inplace" else 0)


def test_upload_sparse_equals_rsyncs(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src = _source(tmp_path)
    blocks = []
    for who, factory in (("ours", our_daemon), ("theirs", real_daemon)):
        dest = tmp_path / who
        dest.mkdir()
        d = factory([DaemonModule("up", dest, read_only=False)])
        code, _, err = run(real_rsync.argv("-aS", f"{src}/", d.url("up") + "/"), timeout=120)
        assert code == 0, (who, err)
        blocks.append(_blocks(dest))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert blocks[0] == blocks[1]
    assert blocks[0]["zeros"] == 0


def test_local_sparse_equals_rsyncs(real_rsync: RealRsync, tmp_path: Path) -> None:
    src = _source(tmp_path)
    blocks = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        code, _, err = run([*argv, "-aS", f"{src}/", f"{dest}/"], timeout=120)
        assert code == 0, (who, err)
        blocks.append(_blocks(dest))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert blocks[0] == blocks[1]


def test_push_sparse_equals_rsyncs(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    """pyrsync pushing ``-S --inplace --no-W`` to rsync's daemon, beside rsync pushing it."""
    src = _source(tmp_path)
    blocks = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        _old_dense(dest, src)
        d = real_daemon([DaemonModule("up", dest, read_only=False)])
        code, _, err = run(
            [*argv, "-aS", "--inplace", "--no-W", f"{src}/", d.url("up") + "/"], timeout=120
        )
        assert code == 0, (who, err)
        blocks.append(_blocks(dest))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert blocks[0] == blocks[1]
