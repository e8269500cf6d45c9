"""``--backup``, ``--suffix`` and ``--backup-dir`` keep what a transfer replaces or deletes.

Each scenario runs twice from the same starting point, once with ours and once with
rsync in the same seat, and the two destinations (backups included) must be equal:

* pull: pyrsync (the receiver) from rsync's daemon, beside rsync pulling the same;
* upload: real rsync pushing to pyrsyncd, beside rsync pushing to rsync's daemon.
"""

from __future__ import annotations

import os
import shutil
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
    src = base / "src"
    (src / "d").mkdir(parents=True)
    (src / "a").write_text("new a\n")
    (src / "d" / "b").write_text("new b\n")
    (src / "d" / "c").write_text("c\n")
    return src


def _old_dest(dest: Path) -> None:
    (dest / "d").mkdir(parents=True)
    (dest / "a").write_text("old a\n")
    (dest / "d" / "b").write_text("old b, longer\n")
    (dest / "x").write_text("deleted x\n")
    (dest / "d" / "y").write_text("deleted y\n")
    (dest / "kept~").write_text("an earlier backup\n")
    for p in (dest / "a", dest / "d" / "b", dest / "x", dest / "d" / "y", dest / "kept~"):
        os.utime(p, (OLD, OLD))


VARIANTS = {
    "suffix": ["--backup"],
    # the user's rule comes before rsync's implied "P *~": old backups are deleted
    "suffix-risked": ["--backup", "--filter=R *~"],
    "own-suffix": ["--backup", "--suffix=.bak"],
    "backup-dir": ["--backup-dir=bk"],
    "backup-dir-suffix": ["--backup-dir=bk/deeper", "--suffix=.old"],
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_pull_backups_equal_rsyncs(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path, variant: str
) -> None:
    src = _source(tmp_path)
    d = real_daemon([DaemonModule("src", src)])
    dests = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        _old_dest(dest)
        code, _, err = run(
            [*argv, "-a", "--delete", *VARIANTS[variant], d.url("src") + "/", str(dest) + "/"],
            timeout=60,
        )
        assert code == 0, (who, err)
        dests.append(dest)
    assert_trees_equal(dests[0], dests[1])
    if variant == "suffix":
        assert (dests[0] / "kept~").exists()  # the implied "P *~" protects earlier backups
    if variant == "suffix-risked":
        assert not (dests[0] / "kept~").exists()


def test_pull_backup_dir_outside_the_destination(
    real_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    src = _source(tmp_path)
    d = real_daemon([DaemonModule("src", src)])
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who / "dest"
        _old_dest(dest)
        bk = tmp_path / who / "bk"
        code, _, err = run(
            [*argv, "-a", "--delete", f"--backup-dir={bk}", d.url("src") + "/", str(dest) + "/"],
            timeout=60,
        )
        assert code == 0, (who, err)
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert (tmp_path / "ours" / "bk" / "d" / "y").read_text() == "deleted y\n"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_upload_backups_equal_rsyncs(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    variant: str,
) -> None:
    src = _source(tmp_path)
    dests = []
    for who, factory in (("ours", our_daemon), ("theirs", real_daemon)):
        dest = tmp_path / who
        _old_dest(dest)
        d = factory([DaemonModule("up", dest, read_only=False)])
        code, _, err = run(
            real_rsync.argv(
                "-a", "--delete", *VARIANTS[variant], str(src) + "/", d.url("up") + "/"
            ),
            timeout=60,
        )
        assert code == 0, (who, err)
        dests.append(dest)
    assert_trees_equal(dests[0], dests[1])
    shutil.rmtree(tmp_path / "src")
