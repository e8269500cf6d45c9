"""``--ignore-missing-args`` and ``--delete-missing-args``, beside rsync.

A source argument that does not exist is an error (exit 23) by default; with
``--ignore-missing-args`` it is skipped; with ``--delete-missing-args`` the sender lists
it with mode 0 and the receiving side deletes what has that name (a file, or a directory
with ``--delete``/``--force`` semantics as rsync's delete_item()). The same command runs with
rsync and with pyrsync: itemized lines, exit codes and destinations must be equal, for
arguments and for ``--files-from`` names, locally and over a remote shell both ways.
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
    (top / "src").mkdir(parents=True)
    (top / "dst" / "ghostdir").mkdir(parents=True)
    (top / "src" / "keep").write_text("new\n")
    (top / "dst" / "keep").write_text("old, longer\n")
    (top / "dst" / "ghost").write_text("g\n")
    (top / "dst" / "ghostdir" / "inner").write_text("i\n")
    (top / "list").write_text("keep\nghost\nghostdir\n")
    for p in (top / "src" / "keep", top / "dst" / "ghost", top / "dst" / "ghostdir" / "inner"):
        os.utime(p, (OLD, OLD))
    # A fixed time for the file a dry run leaves alone: the two runs are set up
    # at different moments, and a second boundary between them is not a difference.
    os.utime(top / "dst" / "keep", (OLD + 3600, OLD + 3600))


def _items(out: str) -> list[str]:
    return sorted(line for line in out.splitlines() if line[:1] in (">", "c", ".", "*", "<"))


def _compare(real_rsync: RealRsync, tmp_path: Path, make_args: object) -> int:
    results = []
    for who in ("real", "ours"):
        top = tmp_path / who
        _setup(top)
        assert callable(make_args)
        args = make_args(top)
        argv = real_rsync.argv(*args) if who == "real" else pyrsync_argv(*args)
        r = run(argv, cwd=top)
        results.append((r.returncode, _items(r.stdout)))
        os.utime(top / "dst", (OLD, OLD))
    assert results[1] == results[0]
    assert_trees_equal(tmp_path / "real" / "dst", tmp_path / "ours" / "dst")
    return results[1][0]


@pytest.mark.parametrize(
    ("flags", "code"),
    [
        ([], 23),
        (["--ignore-missing-args"], 0),
        (["--delete-missing-args"], 0),
        (["--delete-missing-args", "--delete"], 0),
        (["--delete-missing-args", "--ignore-missing-args"], 0),
        (["--delete-missing-args", "-n"], 0),
    ],
    ids=["default", "ignore", "delete", "delete-recursive", "both", "dry-run"],
)
@pytest.mark.parametrize("how", ["args", "files-from"])
def test_local_missing_args(
    real_rsync: RealRsync, tmp_path: Path, flags: list[str], code: int, how: str
) -> None:
    def args(top: Path) -> list[str]:
        if how == "args":
            return ["-ai", *flags, "src/keep", "src/ghost", "src/ghostdir", "dst/"]
        return ["-ai", *flags, "--files-from=list", "src/", "dst/"]

    assert _compare(real_rsync, tmp_path, args) == code


@pytest.mark.parametrize("far", ["rsync", "pyrsync"])
@pytest.mark.parametrize("flag", ["--ignore-missing-args", "--delete-missing-args"])
def test_remote_missing_args(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    far: str,
    flag: str,
) -> None:
    if far == "rsync":
        shim = rsh_shim_factory([str(real_rsync.path)], name="real")
    else:
        shim = rsh_shim_factory([sys.executable, "-m", "rsync_daemon"], name="ours")
    for direction in ("pull", "push"):

        def args(top: Path, direction: str = direction) -> list[str]:
            names = ["keep", "ghost", "ghostdir"]
            if direction == "pull":
                srcs = [f"host:{top}/src/{n}" for n in names]
                return ["-ai", "--delete", flag, "-e", str(shim), *srcs, "dst/"]
            return (
                ["-ai", "--delete", flag, "-e", str(shim)]
                + [f"src/{n}" for n in names]
                + [f"host:{top}/dst/"]
            )

        assert _compare(real_rsync, tmp_path, args) == 0
        gone = flag == "--delete-missing-args"
        assert (tmp_path / "ours" / "dst" / "ghost").exists() != gone
