"""Batch files cross-applied: written by rsync and applied by pyrsync, and the other way round.

One program records a transfer with ``--write-batch`` (a local copy, a pull from rsync's
server over the ``-e`` shim, a push to it), onto a destination holding an older copy of
the tree, so that the batch carries deltas as well as new files; the other program
applies the batch with ``--read-batch`` to a second copy of that older tree. The result
must be the source tree. A batch applied to a tree that is already up to date changes
nothing and says it skips the files; ``--only-write-batch`` leaves the destination alone.
"""

from __future__ import annotations

import os
import random
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

T = 1_700_000_000
PYRSYNC = [sys.executable, "-m", "rsync_client"]


def _source(base: Path) -> Path:
    """A tree with a large file, small files, a symlink, and nested directories."""
    rnd = random.Random(11)  # noqa: S311 - test data
    src = base / "src"
    (src / "sub" / "deep").mkdir(parents=True)
    (src / "big").write_bytes(rnd.randbytes(300_000))
    (src / "small").write_text("small\n")
    (src / "sub" / "f").write_text("f\n" * 1000)
    (src / "sub" / "deep" / "g").write_bytes(rnd.randbytes(5000))
    (src / "new-only").write_text("only in the new tree\n")
    os.symlink("small", src / "link")
    for path in sorted(src.rglob("*"), reverse=True):
        os.utime(path, (T, T), follow_symlinks=False)
    return src


def _old_copy(src: Path, dest: Path) -> None:
    """An older copy of ``src``: ``big`` and ``sub/f`` changed in places, ``new-only`` absent."""
    shutil.copytree(src, dest, symlinks=True)
    (dest / "new-only").unlink()
    big = bytearray((dest / "big").read_bytes())
    big[1000:1100] = b"x" * 100
    big[200_000:200_050] = b"y" * 50
    (dest / "big").write_bytes(bytes(big))
    (dest / "sub" / "f").write_text("f\n" * 990 + "changed\n")
    os.utime(dest / "big", (T - 100, T - 100))
    os.utime(dest / "sub" / "f", (T - 100, T - 100))


def _argv(who: str, real_rsync: RealRsync) -> list[str]:
    return pyrsync_argv() if who == "ours" else real_rsync.argv()


PAIRS = [("ours", "theirs"), ("theirs", "ours"), ("ours", "ours")]


@pytest.mark.parametrize(("writer", "reader"), PAIRS)
def test_local_batch_cross_applied(
    writer: str, reader: str, real_rsync: RealRsync, tmp_path: Path
) -> None:
    src = _source(tmp_path)
    _old_copy(src, tmp_path / "first")
    _old_copy(src, tmp_path / "second")
    batch = tmp_path / "BATCH"
    code, _, err = run(
        [
            *_argv(writer, real_rsync),
            "-a",
            "--no-whole-file",
            f"--write-batch={batch}",
            f"{src}/",
            f"{tmp_path / 'first'}/",
        ],
        timeout=120,
    )
    assert code == 0, err
    assert_trees_equal(src, tmp_path / "first")
    code, out, err = run(
        [*_argv(reader, real_rsync), "-a", f"--read-batch={batch}", f"{tmp_path / 'second'}/"],
        timeout=120,
    )
    assert code == 0, (out, err)
    assert_trees_equal(src, tmp_path / "second")
    assert (tmp_path / "BATCH.sh").stat().st_mode & 0o700 == 0o700


@pytest.mark.parametrize(("writer", "reader"), PAIRS)
@pytest.mark.parametrize("direction", ["pull", "push"])
def test_remote_shell_batch_cross_applied(
    direction: str,
    writer: str,
    reader: str,
    real_rsync: RealRsync,
    rsh_shim: Path,
    tmp_path: Path,
) -> None:
    """The writer talks to rsync's own server over the ``-e`` shim."""
    src = _source(tmp_path)
    _old_copy(src, tmp_path / "first")
    _old_copy(src, tmp_path / "second")
    batch = tmp_path / "BATCH"
    ends = (
        [f"host:{src}/", f"{tmp_path / 'first'}/"]
        if direction == "pull"
        else [f"{src}/", f"host:{tmp_path / 'first'}/"]
    )
    code, _, err = run(
        [
            *_argv(writer, real_rsync),
            "-a",
            "--no-whole-file",
            "-e",
            str(rsh_shim),
            f"--rsync-path={real_rsync.path}",
            f"--write-batch={batch}",
            *ends,
        ],
        timeout=120,
    )
    assert code == 0, err
    assert_trees_equal(src, tmp_path / "first")
    code, out, err = run(
        [*_argv(reader, real_rsync), "-a", f"--read-batch={batch}", f"{tmp_path / 'second'}/"],
        timeout=120,
    )
    assert code == 0, (out, err)
    assert_trees_equal(src, tmp_path / "second")


@pytest.mark.parametrize("writer", ["ours", "theirs"])
def test_reapplied_batch_skips_and_changes_nothing(
    writer: str, real_rsync: RealRsync, tmp_path: Path
) -> None:
    src = _source(tmp_path)
    batch = tmp_path / "BATCH"
    _old_copy(src, tmp_path / "a")
    code, _, err = run(
        [
            *_argv(writer, real_rsync),
            "-a",
            "--no-whole-file",
            f"--write-batch={batch}",
            f"{src}/",
            f"{tmp_path}/a/",
        ],
        timeout=120,
    )
    assert code == 0, err
    outs = []
    for who in ("ours", "theirs"):
        dest = tmp_path / who
        _old_copy(src, dest)  # the batch holds deltas against this...
        run([*real_rsync.argv(), "-a", f"{src}/", f"{dest}/"], timeout=60).check()  # ...now new
        code, out, err = run(
            [*_argv(who, real_rsync), "-a", f"--read-batch={batch}", f"{dest}/"], timeout=120
        )
        assert code == 0, (who, err)
        assert_trees_equal(src, dest)
        outs.append(sorted(ln for ln in out.splitlines() if ln.startswith("(Skipping")))
    assert outs[0] == outs[1]
    assert '(Skipping batched update for "big")' in outs[0]


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() and not p.is_symlink() else None
        for p in root.rglob("*")
    }


@pytest.mark.parametrize("server", ["rsync", "pyrsync"])
@pytest.mark.parametrize("direction", ["pull", "push"])
@pytest.mark.parametrize("writer", ["ours", "theirs"])
def test_only_write_batch_over_a_remote_shell(
    writer: str,
    direction: str,
    server: str,
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
) -> None:
    """The destination keeps its old files; the batch (deltas against them) applies elsewhere.

    In a push the data goes to the batch only (the receiving server is told
    ``--only-write-batch=X``); in a pull the server sends it and the client drops it.
    """
    if writer == "theirs" and server == "rsync":
        pytest.skip("rsync on both ends: nothing of ours runs")
    src = _source(tmp_path)
    _old_copy(src, tmp_path / "first")
    _old_copy(src, tmp_path / "second")
    before = _snapshot(tmp_path / "first")
    shim = rsh_shim_factory(None if server == "rsync" else PYRSYNC, name=f"to-{server}")
    ends = (
        [f"host:{src}/", f"{tmp_path / 'first'}/"]
        if direction == "pull"
        else [f"{src}/", f"host:{tmp_path / 'first'}/"]
    )
    batch = tmp_path / "BATCH"
    code, _, err = run(
        [
            *_argv(writer, real_rsync),
            "-a",
            "--no-whole-file",
            "-e",
            str(shim),
            f"--only-write-batch={batch}",
            *ends,
        ],
        timeout=120,
    )
    assert code == 0, err
    assert _snapshot(tmp_path / "first") == before
    for reader in ("ours", "theirs"):
        dest = tmp_path / f"applied-{reader}"
        shutil.copytree(tmp_path / "second", dest, symlinks=True)
        code, out, err = run(
            [*_argv(reader, real_rsync), "-a", f"--read-batch={batch}", f"{dest}/"], timeout=120
        )
        assert code == 0, (reader, out, err)
        assert_trees_equal(src, dest)


def test_only_write_batch_leaves_the_destination(real_rsync: RealRsync, tmp_path: Path) -> None:
    src = _source(tmp_path)
    batch = tmp_path / "BATCH"
    missing = tmp_path / "missing"
    code, _, err = run(
        [*pyrsync_argv(), "-a", f"--only-write-batch={batch}", f"{src}/", f"{missing}/"],
        timeout=120,
    )
    assert code == 0, err
    assert not missing.exists()
    code, _, err = run(
        [*real_rsync.argv(), "-a", f"--read-batch={batch}", f"{tmp_path / 'applied'}/"],
        timeout=120,
    )
    assert code == 0, err
    assert_trees_equal(src, tmp_path / "applied")


def test_replay_script_is_rsyncs(real_rsync: RealRsync, tmp_path: Path) -> None:
    """``FILE.sh`` holds rsync's command line (the program's name aside), filters included."""
    src = _source(tmp_path)
    scripts = []
    for who in ("ours", "theirs"):
        batch = tmp_path / f"B-{who}"
        code, _, err = run(
            [
                *_argv(who, real_rsync),
                "-a",
                "--exclude=sm*",
                "--info=name0",
                f"--write-batch={batch}",
                f"{src}/",
                f"{tmp_path / who}/",
            ],
            timeout=120,
        )
        assert code == 0, err
        text = (tmp_path / f"B-{who}.sh").read_text()
        _, _, rest = text.partition(" ")
        scripts.append(rest.replace(f"B-{who}", "B").replace(f"/{who}/", "/X/"))
    assert scripts[0] == scripts[1]
    assert "<<'#E#'\n- sm*\n#E#" in scripts[0]


def test_read_batch_refusals(tmp_path: Path) -> None:
    code, _, err = run([*pyrsync_argv(), f"--read-batch={tmp_path}/nope", f"{tmp_path}/d/"])
    assert code == 11, err
    assert "Batch file" in err
    assert "open error: No such file or directory" in err
    os.mkfifo(tmp_path / "fifo")  # refused, never waited on
    code, _, err = run(
        [*pyrsync_argv(), f"--read-batch={tmp_path}/fifo", f"{tmp_path}/d/"], timeout=30
    )
    assert code == 11, err
    assert "is not a regular file" in err
    (tmp_path / "x").write_bytes(b"\x9f\0\0\0 \0\0\0")
    code, _, err = run([*pyrsync_argv(), f"--read-batch={tmp_path}/x", "host:dest/"])
    assert code == 1, err
    assert "remote destination is not allowed with --read-batch" in err
    code, _, err = run([*pyrsync_argv(), "--read-batch=x", "--write-batch=y", "a", "b"])
    assert code == 1, err
    assert "--write-batch and --read-batch can not be used together" in err
