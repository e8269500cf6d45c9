"""``-m``/``--prune-empty-dirs``: directories without files are left out, beside rsync.

The same command runs with rsync and with pyrsync from identical trees; the itemized
lines, the destinations and the exit codes must be equal. The source has empty chains
(``a/b/c``), a chain holding only excluded files, and a file deep down (``e/f/x``);
a protect rule keeps a directory (and those above it). Local copies, a pull and a push
over a remote shell (the receiving side prunes; a pushing client forwards ``-m``).
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


def _source(base: Path) -> Path:
    src = base / "src"
    for d in ("a/b/c", "e/f", "g", "h/i"):
        (src / d).mkdir(parents=True)
    (src / "e" / "f" / "x").write_text("x\n")
    (src / "h" / "i" / "skip.o").write_text("o\n")
    for p in sorted(src.rglob("*"), reverse=True):
        os.utime(p, (OLD, OLD))
    os.utime(src, (OLD, OLD))
    return src


def _items(out: str) -> list[str]:
    return sorted(line for line in out.splitlines() if line[:1] in (">", "c", ".", "<"))


@pytest.mark.parametrize(
    "extra",
    [[], ["--exclude=*.o"], ["--exclude=*.o", "--filter=P b/"], ["--delete"]],
    ids=["plain", "excluded-files", "protected", "delete"],
)
def test_local_prune(real_rsync: RealRsync, tmp_path: Path, extra: list[str]) -> None:
    src = _source(tmp_path)
    results = []
    for who in ("real", "ours"):
        dest = tmp_path / who
        (dest / "g" / "old").mkdir(parents=True)  # an empty dir already there
        for d in (dest / "g" / "old", dest / "g"):  # the same times on both sides
            os.utime(d, (1_600_000_000, 1_600_000_000))
        args = ["-ai", "-m", *extra, f"{src}/", f"{dest}/"]
        argv = real_rsync.argv(*args) if who == "real" else pyrsync_argv(*args)
        r = run(argv)
        results.append((r.returncode, _items(r.stdout)))
    assert results[1] == results[0]
    assert results[1][0] == 0
    assert_trees_equal(tmp_path / "real", tmp_path / "ours", dir_times=True)


@pytest.mark.parametrize("far", ["rsync", "pyrsync"])
def test_remote_prune(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, far: str
) -> None:
    src = _source(tmp_path)
    if far == "rsync":
        shim = rsh_shim_factory([str(real_rsync.path)], name="real")
    else:
        shim = rsh_shim_factory([sys.executable, "-m", "rsync_daemon"], name="ours")
    for direction in ("pull", "push"):
        for who in ("real", "ours"):
            dest = tmp_path / direction / who
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            os.utime(dest, (OLD, OLD))
            if direction == "pull":
                args = ["-a", "-m", "--exclude=*.o", "-e", str(shim), f"host:{src}/", f"{dest}/"]
            else:
                args = ["-a", "-m", "--exclude=*.o", "-e", str(shim), f"{src}/", f"host:{dest}/"]
            argv = real_rsync.argv(*args) if who == "real" else pyrsync_argv(*args)
            assert run(argv).returncode == 0
        assert_trees_equal(tmp_path / direction / "real", tmp_path / direction / "ours")
        assert not (tmp_path / direction / "ours" / "a").exists()
        assert not (tmp_path / direction / "ours" / "h").exists()
