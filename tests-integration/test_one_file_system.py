"""``-x``/``--one-file-system`` (and ``-xx``) as rsync 3.5 does it, in every seat.

The sender does not descend into a directory on another filesystem (``-x`` lists the
mount point as an empty directory, ``-xx`` leaves it out); the receiver's ``--delete``
neither deletes a mount point nor deletes inside one ("cannot delete mount point: X"
with ``--info=mount``). The second filesystem is a tmpfs mounted in the tree; the tests
skip when this machine does not let them mount one. Each run of pyrsync is compared
with rsync's in the same seat: local copies, pyrsync pushing to and pulling from
``rsync --server`` over the ``-e`` shim, and real rsync pushing to and pulling from
pyrsync's server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.compare import assert_trees_equal
from harness.proc import run

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

OLD = 1_600_000_000
MODES = ["local", "push", "pull", "push-to-ours", "pull-from-ours"]


@pytest.fixture
def mount_tmpfs() -> Iterator[Callable[[Path], None]]:
    """``mount_tmpfs(dir)``: a tmpfs on ``dir``, unmounted after the test."""
    mounted: list[Path] = []

    def mount(where: Path) -> None:
        where.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(where)

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", str(where)], check=False)


def _fix_times(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            os.utime(os.path.join(dirpath, name), (OLD, OLD), follow_symlinks=False)
        os.utime(dirpath, (OLD, OLD))


def _source(base: Path, mount: Callable[[Path], None]) -> Path:
    src = base / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "f").write_text("on the source's filesystem\n")
    (src / "sub").mkdir()
    (src / "sub" / "g").write_text("g\n")
    mount(src / "sub" / "mnt")
    (src / "sub" / "mnt" / "inner").write_text("on another filesystem\n")
    (src / "sub" / "mnt" / "deep").mkdir()
    (src / "sub" / "mnt" / "deep" / "x").write_text("x\n")
    _fix_times(src)
    return src


def _argv(
    mode: str, who: str, real_rsync: RealRsync, shims: dict[str, Path], src: Path, dest: Path
) -> list[str]:
    client = pyrsync_argv() if who == "ours" else real_rsync.argv()
    if mode == "local":
        return [*client, f"{src}/", f"{dest}/"]
    if mode == "push":
        return [*client, "-e", str(shims["theirs"]), f"{src}/", f"host:{dest}/"]
    if mode == "pull":
        return [*client, "-e", str(shims["theirs"]), f"host:{src}/", f"{dest}/"]
    shim = shims[who]  # real rsync as the client of pyrsync's server, or of rsync's
    if mode == "push-to-ours":
        return [*real_rsync.argv(), "-e", str(shim), f"{src}/", f"host:{dest}/"]
    return [*real_rsync.argv(), "-e", str(shim), f"host:{src}/", f"{dest}/"]


def _shims(factory: ShimFactory) -> dict[str, Path]:
    return {
        "ours": factory([sys.executable, "-m", "rsync_client"], name="ours"),
        "theirs": factory(name="theirs"),
    }


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("xs", ["-x", "-xx"])
def test_sender_stays_on_one_filesystem(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    mount_tmpfs: Callable[[Path], None],
    tmp_path: Path,
    mode: str,
    xs: str,
) -> None:
    src = _source(tmp_path, mount_tmpfs)
    shims = _shims(rsh_shim_factory)
    for who in ("ours", "theirs"):
        dest = tmp_path / who
        argv = _argv(mode, who, real_rsync, shims, src, dest)
        code, _out, err = run([*argv[:-2], "-a", xs, *argv[-2:]], timeout=60)
        assert code == 0, (who, err)
    ours = tmp_path / "ours"
    assert_trees_equal(ours, tmp_path / "theirs")
    assert (ours / "a" / "f").is_file()
    assert (ours / "sub" / "g").is_file()
    if xs == "-x":
        assert (ours / "sub" / "mnt").is_dir()
        assert not any((ours / "sub" / "mnt").iterdir())
    else:
        assert not (ours / "sub" / "mnt").exists()


def _dest(dest: Path, mount: Callable[[Path], None]) -> None:
    (dest / "a").mkdir(parents=True)
    (dest / "stale").write_text("deleted\n")
    (dest / "a" / "stale").write_text("deleted\n")
    mount(dest / "gone")  # not in the source: a mount point is never deleted
    (dest / "gone" / "kept").write_text("kept\n")
    mount(dest / "a" / "same")  # in the source too: nothing deleted inside it
    (dest / "a" / "same" / "kept").write_text("kept\n")
    _fix_times(dest)


@pytest.mark.parametrize("mode", ["local", "pull", "push-to-ours"])
@pytest.mark.parametrize("xs", ["-x", "-xx"])
def test_delete_leaves_mount_points(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    mount_tmpfs: Callable[[Path], None],
    tmp_path: Path,
    mode: str,
    xs: str,
) -> None:
    src = tmp_path / "src"
    (src / "a" / "same").mkdir(parents=True)
    (src / "a" / "same" / "new").write_text("new\n")
    (src / "top").write_text("top\n")
    _fix_times(src)
    shims = _shims(rsh_shim_factory)
    said = []
    for who in ("ours", "theirs"):
        dest = tmp_path / who
        _dest(dest, mount_tmpfs)
        argv = _argv(mode, who, real_rsync, shims, src, dest)
        code, out, err = run(
            [*argv[:-2], "-a", xs, "--delete", "--info=mount", *argv[-2:]], timeout=60
        )
        assert code == 0, (who, err)
        said.append(sorted(line for line in out.splitlines() if "mount" in line))
    ours = tmp_path / "ours"
    assert_trees_equal(ours, tmp_path / "theirs", exclude=["gone", "a/same"])
    assert sorted(p.name for p in (ours / "a" / "same").iterdir()) == ["kept", "new"]
    assert [p.name for p in (ours / "gone").iterdir()] == ["kept"]
    assert not (ours / "stale").exists()
    assert not (ours / "a" / "stale").exists()
    if mode == "local":  # a server's messages reach its client only with some -v
        assert said[0] == said[1]
        expect = "skipping mount-point dir" if xs == "-xx" else "cannot delete mount point"
        assert said[0]
        assert all(expect in line for line in said[0])
