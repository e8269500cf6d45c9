"""New directories under a setgid parent keep the bit and the group, as rsync's do.

Without ``-p`` a new directory gets the source's mode less the umask and without the
special bits, except that rsync keeps the setgid bit the kernel gave a directory made
under a setgid parent (rsync: rsync.c set_file_attrs(), ``inherit``). With ``-p`` the
source's mode wins. Ours and rsync copy the same source into the same kind of parent
(a local copy, a pull, and real rsync pushing to ``pyrsync --server``); the modes and
groups of the two destinations must be equal.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


@pytest.fixture(autouse=True)
def _umask_077() -> Iterator[None]:
    old = os.umask(0o077)
    yield
    os.umask(old)


def _source(base: Path) -> Path:
    src = base / "src"
    (src / "dir" / "blah").mkdir(parents=True)
    (src / "file").write_text("File!\n")
    (src / "program").write_text("#!/bin/sh\n")
    os.chmod(src / "dir", 0o2764)
    os.chmod(src / "file", 0o664)
    os.chmod(src / "program", 0o775)  # noqa: S103 - a test tree
    return src


def _parent(path: Path, *, setgid: bool) -> Path:
    path.mkdir()
    others = [g for g in os.getgroups() if g != os.getgid()]
    if setgid and (others or os.geteuid() == 0):
        os.chown(path, -1, others[0] if others else 4321)
    os.chmod(path, 0o2760 if setgid else 0o700)
    return path


def _modes(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_mode, st.st_gid)
    return out


@pytest.mark.parametrize("perms", [[], ["-p"]], ids=["no-p", "p"])
@pytest.mark.parametrize("setgid", [True, False], ids=["setgid", "plain"])
@pytest.mark.parametrize("mode", ["local", "pull", "push-to-ours"])
def test_new_dirs_under_a_setgid_parent_are_rsyncs(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    mode: str,
    perms: list[str],
    *,
    setgid: bool,
) -> None:
    src = _source(tmp_path)
    if not os.stat(src / "dir").st_mode & 0o2000:
        pytest.skip("this filesystem drops a directory's setgid bit")
    ours_server = rsh_shim_factory([sys.executable, "-m", "rsync_client"], name="ours")
    rsync_server = rsh_shim_factory(name="theirs")
    for who in ("ours", "theirs"):
        parent = _parent(tmp_path / who, setgid=setgid)
        dest = parent / "to"
        sources = [str(src / "dir"), str(src / "file"), str(src / "program")]
        if mode == "push-to-ours":
            shim = ours_server if who == "ours" else rsync_server
            argv = [*real_rsync.argv(), "-e", str(shim), *sources, f"host:{dest}/"]
        elif mode == "pull":
            client = pyrsync_argv() if who == "ours" else real_rsync.argv()
            argv = [*client, "-e", str(rsync_server), *(f"host:{s}" for s in sources), f"{dest}/"]
        else:
            client = pyrsync_argv() if who == "ours" else real_rsync.argv()
            argv = [*client, *sources, f"{dest}/"]
        code, _out, err = run([*argv[:-1], "-r", *perms, argv[-1]], timeout=60)
        assert code == 0, (who, err)
    assert _modes(tmp_path / "ours") == _modes(tmp_path / "theirs")
    if setgid and not perms:
        assert os.stat(tmp_path / "ours" / "to" / "dir" / "blah").st_mode & 0o2000
