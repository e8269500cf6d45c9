"""``--mkpath``: the missing directories of the destination path, beside rsync.

The same command runs with rsync and with pyrsync from identical trees; the destinations,
the exit codes and rsync's "created N directories for PATH" lines must be equal: a single
file to a new name below missing directories, a directory's contents into a missing path,
the same with ``-n`` (nothing made, the count still said), a path with a file in the way
(an error), and a push to a receiving server (rsync or pyrsync) over a remote shell.
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


def _created(out: str) -> list[str]:
    """rsync's "created" lines and the item lines (a single file under a new name is
    shown by its own name, as rsync's log_item() shows f_name())."""
    return [
        line
        for line in out.splitlines()
        if line.startswith(("created ", ">f", "cd", ".d")) or line in ("text", "new")
    ]


@pytest.mark.parametrize(
    ("flags", "src", "dest"),
    [
        (["-av"], "from/text", "to/foo/bar/new"),
        (["-ai"], "from/", "to/a/b/c"),
        (["-ai"], "from/", "to/a/b/c/"),
        (["-ain"], "from/text", "to/x/new"),
        (["-ain"], "from/", "to/x/y"),
        (["-a"], "from/text", "to/plain/new"),
        (["-av"], "from/text", "to/blocked/x/new"),
    ],
    ids=["file", "contents", "contents-slash", "dry-file", "dry-contents", "quiet", "blocked"],
)
def test_local_mkpath(
    real_rsync: RealRsync, tmp_path: Path, flags: list[str], src: str, dest: str
) -> None:
    results = []
    for who in ("real", "ours"):
        top = tmp_path / who
        (top / "from" / "sub").mkdir(parents=True)
        (top / "from" / "text").write_text("text\n")
        (top / "from" / "sub" / "f").write_text("f\n")
        (top / "to").mkdir()
        (top / "to" / "blocked").write_text("a file in the way\n")
        for p in (
            top / "from" / "text",
            top / "from" / "sub" / "f",
            top / "from" / "sub",
            top / "from",
            top / "to" / "blocked",
        ):
            os.utime(p, (OLD, OLD))
        args = [*flags, "--mkpath", src, dest]
        argv = real_rsync.argv(*args) if who == "real" else pyrsync_argv(*args)
        r = run(argv, cwd=top)
        results.append((r.returncode, _created(r.stdout)))
        os.utime(top / "to", (OLD, OLD))
    assert results[1] == results[0]
    assert_trees_equal(tmp_path / "real" / "to", tmp_path / "ours" / "to")
    if "blocked" in dest:
        assert results[1][0] != 0
    elif "-ain" in flags:
        assert not any((tmp_path / "ours" / "to").glob("x"))
    else:
        assert results[1][0] == 0


@pytest.mark.parametrize("far", ["rsync", "pyrsync"])
def test_push_mkpath(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, far: str
) -> None:
    """The client forwards --mkpath to the receiving server."""
    src = tmp_path / "from"
    src.mkdir()
    (src / "text").write_text("text\n")
    if far == "rsync":
        shim = rsh_shim_factory([str(real_rsync.path)], name="real")
    else:
        shim = rsh_shim_factory([sys.executable, "-m", "rsync_daemon"], name="ours")
    for who in ("real", "ours"):
        dest = tmp_path / who
        shutil.rmtree(dest, ignore_errors=True)
        args = ["-a", "--mkpath", "-e", str(shim), f"{src}/", f"host:{dest}/deep/er"]
        argv = real_rsync.argv(*args) if who == "real" else pyrsync_argv(*args)
        assert run(argv).returncode == 0
    assert_trees_equal(tmp_path / "real", tmp_path / "ours")
    assert (tmp_path / "ours" / "deep" / "er" / "text").is_file()
