"""``--partial-dir``: an earlier run's partial file is the next run's basis, then goes away.

A destination holds, in ``.rsync-partial/``, the first half of a file (what an
interrupted run keeps there). The next run must use it (the literal data is about half
the file), leave the complete file and neither the partial file nor its directory, and
give the tree rsync gives: pulled by pyrsync from rsync's daemon, and uploaded by rsync
to pyrsyncd, each beside rsync in the same seat. A partial directory is never deleted
by ``--delete``.
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

SIZE = 2 << 20
T = 1_700_000_000


def _source(base: Path) -> tuple[Path, bytes]:
    src = base / "src"
    src.mkdir()
    data = random.Random(3).randbytes(SIZE)  # noqa: S311 - test data
    (src / "big").write_bytes(data)
    (src / "small").write_text("small\n")
    (src / "sub").mkdir()
    (src / "sub" / "f").write_text("f\n")
    os.utime(src / "sub", (T, T))
    os.utime(src, (T, T))
    return src, data


def _interrupted(dest: Path, data: bytes) -> None:
    (dest / ".rsync-partial").mkdir(parents=True)
    (dest / ".rsync-partial" / "big").write_bytes(data[: SIZE // 2])
    # a partial dir in a directory that stays is kept; one in a deleted directory goes
    (dest / "sub" / ".rsync-partial").mkdir(parents=True)
    (dest / "sub" / ".rsync-partial" / "x").write_text("kept\n")
    os.utime(dest / "sub" / ".rsync-partial" / "x", (T, T))
    (dest / "gone" / ".rsync-partial").mkdir(parents=True)
    (dest / "gone" / ".rsync-partial" / "y").write_text("goes\n")
    os.utime(dest, (T - 5, T - 5))


def _literal(out: str) -> int:
    m = re.search(r"Literal data: ([\d,]+) bytes", out)
    assert m, out
    return int(m.group(1).replace(",", ""))


def test_pull_resumes_from_the_partial_dir(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    src, data = _source(tmp_path)
    d = real_daemon([DaemonModule("src", src)])
    literal = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        _interrupted(dest, data)
        code, out, err = run(
            [*argv, "-a", "--delete", "--stats", "--partial-dir=.rsync-partial",
             d.url("src") + "/", str(dest) + "/"],
            timeout=120,
        )  # fmt: skip
        assert code == 0, (who, err)
        literal[who] = _literal(out)
        assert (dest / "big").read_bytes() == data
        assert not (dest / ".rsync-partial").exists()
        assert (dest / "sub" / ".rsync-partial" / "x").exists(), who
        assert not (dest / "gone").exists(), who
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert literal["ours"] < SIZE * 3 // 4  # the partial half was the basis


def test_upload_resumes_from_the_partial_dir(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src, data = _source(tmp_path)
    for who, factory in (("ours", our_daemon), ("theirs", real_daemon)):
        dest = tmp_path / who
        _interrupted(dest, data)
        d = factory([DaemonModule("up", dest, read_only=False)])
        code, out, err = run(
            real_rsync.argv("-a", "--delete", "--stats", "--partial-dir=.rsync-partial",
                            str(src) + "/", d.url("up") + "/"),
            timeout=120,
        )  # fmt: skip
        assert code == 0, (who, err)
        assert _literal(out) < SIZE * 3 // 4, who
        assert (dest / "big").read_bytes() == data
        assert not (dest / ".rsync-partial").exists()
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")


@pytest.mark.parametrize("where", ["pull", "local"])
def test_an_absolute_partial_dir_is_the_basis_and_stays(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path, where: str
) -> None:
    """``--partial-dir=/abs``: one directory for every file's partial data, outside the tree.

    The partial file there is the basis (half the data is matched), it goes away once the
    file is complete, and the directory itself stays, as rsync's does.
    """
    src, data = _source(tmp_path)
    source = (
        f"{src}/" if where == "local" else real_daemon([DaemonModule("src", src)]).url("src") + "/"
    )
    literal = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who / "dst"
        pdir = tmp_path / who / "partial"
        pdir.mkdir(parents=True)
        (pdir / "big").write_bytes(data[: SIZE // 2])
        code, out, err = run(
            [*argv, "-a", "--no-W", "--stats", f"--partial-dir={pdir}", source, f"{dest}/"],
            timeout=120,
        )
        assert code == 0, (who, err)
        literal[who] = _literal(out)
        assert (dest / "big").read_bytes() == data
        assert pdir.is_dir()
        assert not (pdir / "big").exists()
    assert_trees_equal(tmp_path / "ours" / "dst", tmp_path / "theirs" / "dst")
    assert literal["ours"] == literal["theirs"]
    assert literal["ours"] < SIZE * 3 // 4
