"""``--remove-source-files``: the sender removes what the receiver has safely, beside rsync.

The same transfer runs with rsync and with pyrsync from identical trees: what is left of
the source, the destination and the exit code must be equal. The receiving side reports
both the files it received and the ones that were already up to date (rsync removes
those too); directories stay. Covered: a local copy (also with ``-R`` and an absolute
path, and with ``-n``, which removes nothing), a pull and a push over a remote shell with
rsync or pyrsync on the far side.
"""

from __future__ import annotations

import os
import shutil
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

OLD = 1_600_000_000


def _setup(top: Path) -> None:
    shutil.rmtree(top, ignore_errors=True)
    (top / "src" / "d" / "e").mkdir(parents=True)
    (top / "dst").mkdir(parents=True)
    for name in ("a", "d/b", "d/e/c"):
        (top / "src" / name).write_text(name + "\n")
    (top / "src" / "link").symlink_to("a")
    os.utime(top / "src" / "a", (OLD, OLD))
    shutil.copy2(top / "src" / "a", top / "dst" / "a")  # already up to date
    for p in (top / "src" / "d" / "e", top / "src" / "d", top / "src", top / "dst"):
        os.utime(p, (OLD, OLD))


def _compare(
    real_rsync: RealRsync, tmp_path: Path, make_args: object, *, absolute: bool = False
) -> int:
    codes = []
    for who in ("real", "ours"):
        top = tmp_path / who
        _setup(top)
        assert callable(make_args)
        args = make_args(top)
        argv = real_rsync.argv(*args) if who == "real" else pyrsync_argv(*args)
        codes.append(run(argv, cwd=top).returncode)
        for d in (top / "dst", top / "src"):
            if d.exists():
                os.utime(d, (OLD, OLD))
    assert codes[1] == codes[0]
    assert_trees_equal(tmp_path / "real" / "src", tmp_path / "ours" / "src", times=False)
    if not absolute:  # else the destination holds the source's own path
        assert_trees_equal(tmp_path / "real" / "dst", tmp_path / "ours" / "dst", times=False)
    return codes[1]


@pytest.mark.parametrize(
    "args",
    [
        ["-a", "src/", "dst/"],
        ["-an", "src/", "dst/"],
        ["-r", "src/d", "dst/"],
        ["-aR", "src/./d/e/c", "dst/"],
        ["-aR", "ABS/src/d/b", "dst/"],
    ],
    ids=["archive", "dry-run", "no-times", "relative", "relative-absolute"],
)
def test_local_remove_source_files(real_rsync: RealRsync, tmp_path: Path, args: list[str]) -> None:
    code = _compare(
        real_rsync,
        tmp_path,
        lambda top: ["--remove-source-files", *(a.replace("ABS", str(top)) for a in args)],
        absolute=args[1].startswith("ABS"),
    )
    assert code == 0
    ours = tmp_path / "ours" / "src"
    assert (ours / "d").is_dir()
    if args[0] == "-a" and args[1] == "src/":
        assert not (ours / "a").exists()  # up to date at the destination: removed too
        assert not (ours / "d" / "e" / "c").exists()


@pytest.mark.parametrize("far", ["rsync", "pyrsync"])
@pytest.mark.parametrize("direction", ["pull", "push"])
def test_remote_remove_source_files(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    far: str,
    direction: str,
) -> None:
    if far == "rsync":
        shim = rsh_shim_factory([str(real_rsync.path)], name="real")
    else:
        shim = rsh_shim_factory([sys.executable, "-m", "rsync_daemon"], name="ours")

    def args(top: Path) -> list[str]:
        if direction == "pull":
            return ["-a", "--remove-source-files", "-e", str(shim), f"host:{top}/src/", "dst/"]
        return ["-a", "--remove-source-files", "-e", str(shim), "src/", f"host:{top}/dst/"]

    assert _compare(real_rsync, tmp_path, args) == 0
    assert not (tmp_path / "ours" / "src" / "d" / "b").exists()
