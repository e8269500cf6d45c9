"""``--safe-links``, ``--copy-unsafe-links``, ``--munge-links``: symlinks as rsync treats them.

A source tree with safe links (inside the transfer) and unsafe ones (absolute, climbing
out, ``..`` in the middle, ending in ``/..``) is copied by ours and by rsync in the same
seat (a local copy, a pull from ``rsync --server``, real rsync pushing to
``pyrsync --server``); the destination trees must be equal, and with ``-v`` so must the
"ignoring unsafe symlink" lines. With ``--backup --safe-links`` an unsafe link being
replaced is not kept (rsync: backup.c make_backup()); a safe one is.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.compare import assert_trees_equal
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

LINKS = {
    "links/same": "file",
    "links/up": "../files/f1",
    "links/escape": "../../outside/x",
    "links/abs": "/etc/passwd",
    "links/middle": "sub/../../files/f1",
    "links/dotdot": "sub/../file",
    "links/sub/deep": "../../files/f2",
    "top": "files/f1",
    "top-escape": "../outside/x",
}


def _source(base: Path) -> Path:
    (base / "outside").mkdir()
    (base / "outside" / "x").write_text("outside\n")
    src = base / "src"
    (src / "files").mkdir(parents=True)
    (src / "links" / "sub").mkdir(parents=True)
    (src / "files" / "f1").write_text("one\n")
    (src / "files" / "f2").write_text("two\n")
    (src / "links" / "file").write_text("plain\n")
    for name, target in LINKS.items():
        os.symlink(target, src / name)
    return src


def _ignoring(out: str) -> list[str]:
    return sorted(ln for ln in out.splitlines() if "unsafe symlink" in ln)


@pytest.mark.parametrize(
    "args",
    [["--safe-links"], ["--copy-unsafe-links"], ["--munge-links"], ["--safe-links", "-L"]],
    ids=" ".join,
)
@pytest.mark.parametrize("mode", ["local", "pull", "push-to-ours"])
def test_links_as_rsync(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    mode: str,
    args: list[str],
) -> None:
    src = _source(tmp_path)
    ours_server = rsh_shim_factory([sys.executable, "-m", "rsync_client"], name="ours")
    rsync_server = rsh_shim_factory(name="theirs")
    lines = []
    for who in ("ours", "theirs"):
        dest = tmp_path / who
        if mode == "push-to-ours":
            shim = ours_server if who == "ours" else rsync_server
            argv = [*real_rsync.argv(), "-e", str(shim), f"{src}/", f"host:{dest}/"]
        elif mode == "pull":
            client = pyrsync_argv() if who == "ours" else real_rsync.argv()
            argv = [*client, "-e", str(rsync_server), f"host:{src}/", f"{dest}/"]
        else:
            client = pyrsync_argv() if who == "ours" else real_rsync.argv()
            argv = [*client, f"{src}/", f"{dest}/"]
        code, out, err = run([*argv[:-2], "-av", *args, *argv[-2:]], timeout=60)
        assert code == 0, (who, err)
        lines.append(_ignoring(out))
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    assert lines[0] == lines[1]
    if args == ["--safe-links"]:
        assert not os.path.lexists(tmp_path / "ours" / "links" / "escape")
        assert os.path.islink(tmp_path / "ours" / "links" / "up")
    if args == ["--munge-links"] and mode == "pull":  # only a receiving client munges
        assert os.readlink(tmp_path / "ours" / "top").startswith("/rsyncd-munged/")


@pytest.mark.parametrize("target", ["../../sensitive", "keep.txt"])
def test_backup_keeps_only_safe_links(real_rsync: RealRsync, tmp_path: Path, target: str) -> None:
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        src = tmp_path / who / "src"
        dest = tmp_path / who / "dest"
        src.mkdir(parents=True)
        dest.mkdir()
        (src / "keep.txt").write_text("source\n")
        (src / "link").write_text("replacement\n")
        os.symlink(target, dest / "link")
        for path in (src / "keep.txt", src / "link", dest / "link"):
            os.utime(path, (1_600_000_000, 1_600_000_000), follow_symlinks=False)
        code, _out, err = run(
            [*argv, "-a", "--backup", "--suffix=.bak", "--safe-links", f"{src}/", f"{dest}/"],
            timeout=60,
        )
        assert code == 0, (who, err)
    assert_trees_equal(tmp_path / "ours", tmp_path / "theirs")
    kept = os.path.lexists(tmp_path / "ours" / "dest" / "link.bak")
    assert kept == (target == "keep.txt")
