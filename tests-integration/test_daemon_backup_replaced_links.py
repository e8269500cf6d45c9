"""``--backup`` in an upload keeps what a new symlink or fifo replaces.

rsync backs up whatever a transfer replaces, not only with regular files: an old
symlink goes to the backup directory (or gets its ``~``) before the new symlink takes
its name, and a file a fifo replaces likewise (rsync: generator.c atomic_create()).
rsync's own test suite (files-from-leak, filter-leak) relies on it. Run against rsync's
daemon and pyrsyncd with the real rsync client; both modules must end the same.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


def _snapshot(root: Path) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                out[rel] = ("dir", "")
            elif os.path.isfile(path):
                with open(path) as f:
                    out[rel] = ("file", f.read())
            else:
                out[rel] = ("other", oct(st.st_mode))
    return out


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "backup_args",
    [["-b", "--backup-dir=/backup"], ["-b"], ["-b", "--suffix=.old"], ["-b", "--backup-dir=bk"]],
)
def test_replaced_symlinks_and_fifos_are_backed_up(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    backup_args: list[str],
) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    os.symlink("new-target", src / "sub" / "link")
    os.mkfifo(src / "sub" / "fifo", 0o600)
    (src / "sub" / "plain").write_text("new\n")
    results = []
    for name, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        mod = tmp_path / name / "mod"
        (mod / "dest" / "sub").mkdir(parents=True)
        os.symlink("old-target", mod / "dest" / "sub" / "link")
        (mod / "dest" / "sub" / "fifo").write_text("old-fifo\n")  # a fifo replaces it
        (mod / "dest" / "sub" / "plain").write_text("old\n")
        os.utime(mod / "dest" / "sub" / "plain", (1_000_000_000, 1_000_000_000))
        options = {"use chroot": "no", "munge symlinks": "no"}
        daemon = factory([DaemonModule("m", mod, read_only=False, options=options)])
        code, _, err = run(
            real_rsync.argv(
                "-rlpt", "--specials", *backup_args, f"{src}/", daemon.url("m", "dest/")
            )
        )
        assert code == 0, err
        results.append(_snapshot(mod))
    assert results[0] == results[1]
    tree = results[1]
    assert tree["dest/sub/link"] == ("link", "new-target")
    kept = [rel for rel, item in tree.items() if item == ("link", "old-target")]
    assert len(kept) == 1, tree
    assert tree["dest/sub/fifo"][0] == "other"
    kept = [rel for rel, item in tree.items() if item == ("file", "old-fifo\n")]
    assert len(kept) == 1, tree
