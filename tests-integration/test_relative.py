"""``-R``/``--relative``, ``--no-implied-dirs`` and ``-K``/``--keep-dirlinks``, beside rsync.

Each scenario runs the same command line twice from identical starting trees, once with
real rsync and once with pyrsync in the same seat; the resulting trees (modes and times of
directories included), the itemized lines and the exit codes must be equal:

* local copies: a path's implied directories carry the source's modes; with
  ``--no-implied-dirs`` they are made with the default mode, and an existing destination
  symlink on the way is followed; ``/./`` marks where the named part starts, a leading
  ``./`` sends the current directory's attributes too; a ``..`` in the named part is
  refused with rsync's words (exit 1);
* ``-K`` keeps a destination symlink to a directory the sender has as a directory;
* a pull and a push over a remote shell, rsync or pyrsync on the far side;
* a pull of ``a/b`` (one entry in the first list, directories below it): the list reader
  and the receiver share the NDX decoder's state.
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
    """``base/a/b/c/file`` (b is mode 0750), ``base/a/b/x``, ``base/a/top``."""
    a = base / "a"
    (a / "b" / "c").mkdir(parents=True)
    (a / "b" / "c" / "file").write_text("data\n")
    (a / "b" / "x").write_text("x\n")
    (a / "top").write_text("top\n")
    (a / "b").chmod(0o750)
    for i, p in enumerate((a / "b" / "c" / "file", a / "b" / "c", a / "b", a)):
        os.utime(p, (OLD + i, OLD + i))
    return a


def _items(out: str) -> list[str]:
    """The itemized lines, sorted (rsync recurses incrementally where we do not).

    The name of an absolute ``-R`` path is shown without its leading slash: rsync's local
    copy prints the sender's names (``/tmp/``), its receiver and ours the destination's.
    """
    return sorted(
        line[:12] + line[12:].lstrip("/")
        for line in out.splitlines()
        if line[:1] in (">", "<", "c", "h", ".", "*") and not line.startswith("created ")
    )


def _same_root_time(real: Path, ours: Path) -> None:
    """The destinations' own times, where the transfer does not set them (made now)."""
    for dest in (real, ours):
        os.utime(dest, (OLD, OLD))


def _fixed_times(dest: Path) -> None:
    """What ``prepare`` made gets one old time on both sides (mkdir times differ by run)."""
    for root, dirs, files in os.walk(dest):
        for name in dirs + files:
            os.utime(os.path.join(root, name), (OLD, OLD), follow_symlinks=False)
    os.utime(dest, (OLD, OLD))


def _both(
    real_rsync: RealRsync,
    tmp_path: Path,
    args: list[str],
    *,
    cwd: Path,
    prepare: object = None,
) -> tuple[Path, Path, tuple[int, str, str], tuple[int, str, str]]:
    """Run ``args`` + DEST/ with rsync (DEST real/) and pyrsync (DEST ours/)."""
    results = []
    dests = []
    for who in ("real", "ours"):
        dest = tmp_path / who
        if dest.exists():
            shutil.rmtree(dest)
        if callable(prepare):
            prepare(dest)
            _fixed_times(dest)
        argv = (
            real_rsync.argv(*args, f"{dest}/") if who == "real" else pyrsync_argv(*args, f"{dest}/")
        )
        r = run(argv, cwd=cwd)
        results.append((r.returncode, r.stdout, r.stderr))
        dests.append(dest)
    real, ours = results
    assert ours[0] == real[0], (real, ours)
    assert _items(ours[1]) == _items(real[1]), (real[1], ours[1])
    return dests[0], dests[1], real, ours


@pytest.mark.parametrize(
    "extra",
    [[], ["--no-implied-dirs"]],
    ids=["implied", "no-implied"],
)
def test_local_relative_implied_dirs(
    real_rsync: RealRsync, tmp_path: Path, extra: list[str]
) -> None:
    """``-R b/c/file``: b and c made with the source's modes, or the default ones."""
    a = _source(tmp_path / "src")
    real, ours, _, _ = _both(real_rsync, tmp_path, ["-aRi", *extra, "b/c/file"], cwd=a)
    _same_root_time(real, ours)
    assert_trees_equal(real, ours, dir_times=not extra)
    want = 0o755 if extra else 0o750
    assert (ours / "b").stat().st_mode & 0o777 == want


@pytest.mark.parametrize(
    "args",
    [
        ["-aRi", "SRC/./b/c"],
        ["-aRi", "SRC/./b/", "SRC/./top"],
        ["-aRi", "./b/c/file"],
        ["-aRi", "--delete", "./b/"],
        ["-aRi", "SRC/b/c/file"],
    ],
    ids=["anchor", "anchor-two", "dot-prefix", "dot-delete", "absolute"],
)
def test_local_relative_paths(real_rsync: RealRsync, tmp_path: Path, args: list[str]) -> None:
    """``/./`` cuts the path; ``./`` sends the directory itself; absolute paths from /."""
    a = _source(tmp_path / "src")
    args = [x.replace("SRC", str(a)) for x in args]

    def prepare(dest: Path) -> None:
        (dest / "b").mkdir(parents=True)
        (dest / "b" / "stale").write_text("old\n")

    real, ours, _, _ = _both(real_rsync, tmp_path, args, cwd=a, prepare=prepare)
    if not args[1].startswith("./"):
        _same_root_time(real, ours)  # else "." is sent, with the source directory's times
    # an absolute path implies /tmp, whose time moves while the tests run
    assert_trees_equal(real, ours, dir_times=not args[-1].startswith("/"))


def test_local_relative_dotdot_is_refused(real_rsync: RealRsync, tmp_path: Path) -> None:
    """A ``..`` in the part of the path that names the files: rsync's error, exit 1."""
    a = _source(tmp_path / "src")
    _, ours, _, mine = _both(real_rsync, tmp_path, ["-aR", "b/../b/x"], cwd=a)
    assert mine[0] == 1
    assert 'found ".." dir in relative path: b/../b/x' in mine[2]
    assert not (ours / "b").exists()


def test_no_implied_dirs_follows_a_destination_symlink(
    real_rsync: RealRsync, tmp_path: Path
) -> None:
    """``--no-implied-dirs`` writes through an existing symlink on the way; -R replaces it."""
    src = tmp_path / "src"
    (src / "path").mkdir(parents=True)
    (src / "path" / "file").write_text("NEW\n")

    def prepare(dest: Path) -> None:
        (dest / "real").mkdir(parents=True)
        (dest / "link").symlink_to("/")  # out of the tree: never followed by either
        (dest / "path").symlink_to("real")

    for extra in (["--no-implied-dirs"], []):
        real, ours, _, _ = _both(
            real_rsync,
            tmp_path,
            ["-aRi", *extra, f"{src}/./path/file"],
            cwd=tmp_path,
            prepare=prepare,
        )
        assert_trees_equal(real, ours)
        assert (ours / "path").is_symlink() == bool(extra)


@pytest.mark.parametrize("kind", ["dir", "file"])
def test_keep_dirlinks(real_rsync: RealRsync, tmp_path: Path, kind: str) -> None:
    """``-K``: a destination symlink to a directory stays when the sender has a directory."""
    src = tmp_path / "src"
    src.mkdir()
    if kind == "dir":
        (src / "d" / "e").mkdir(parents=True)
        (src / "d" / "f").write_text("X\n")
        (src / "d" / "e" / "g").write_text("Y\n")
    else:
        (src / "d").write_text("FILE\n")

    def prepare(dest: Path) -> None:
        (dest / "target").mkdir(parents=True)
        (dest / "d").symlink_to("target")

    real, ours, _, _ = _both(
        real_rsync, tmp_path, ["-aKi", f"{src}/"], cwd=tmp_path, prepare=prepare
    )
    assert_trees_equal(real, ours)
    assert (ours / "d").is_symlink() == (kind == "dir")


@pytest.mark.parametrize("far", ["rsync", "pyrsync"])
@pytest.mark.parametrize("extra", [[], ["--no-implied-dirs"]], ids=["implied", "no-implied"])
def test_remote_relative_pull_and_push(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    far: str,
    extra: list[str],
) -> None:
    """-R over a remote shell, both directions, rsync or pyrsync serving."""
    a = _source(tmp_path / "src")
    if far == "rsync":
        shim = rsh_shim_factory([str(real_rsync.path)], name="real")
    else:
        shim = rsh_shim_factory([sys.executable, "-m", "rsync_daemon"], name="ours")
    for direction in ("pull", "push"):
        results = []
        for who in ("real", "ours"):
            dest = tmp_path / f"{direction}-{who}"
            if direction == "pull":
                tail = [f"host:{a}/./b/c", f"host:{a}/./top", f"{dest}/"]
            else:
                tail = [f"{a}/./b/c", f"{a}/./top", f"host:{dest}/"]
            args = ["-aRi", *extra, "-e", str(shim), *tail]
            argv = real_rsync.argv(*args) if who == "real" else pyrsync_argv(*args)
            r = run(argv, cwd=tmp_path)
            results.append((r.returncode, _items(r.stdout), r.stderr))
        assert results[1][:2] == results[0][:2], results
        _same_root_time(tmp_path / f"{direction}-real", tmp_path / f"{direction}-ours")
        assert_trees_equal(
            tmp_path / f"{direction}-real", tmp_path / f"{direction}-ours", dir_times=not extra
        )


@pytest.mark.parametrize("far", ["rsync", "pyrsync"])
def test_remote_relative_pull_of_an_absolute_path(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, far: str
) -> None:
    """``-R host:/abs/path``: the sender lists ``/tmp`` with its slash, and the receiver
    takes it as the parent of what it asked for (rsync matches names without one leading
    slash: exclude.c rule_matches()); it used to be rejected as unrequested (exit 4)."""
    a = _source(tmp_path / "src")
    if far == "rsync":
        shim = rsh_shim_factory([str(real_rsync.path)], name="real")
    else:
        shim = rsh_shim_factory([sys.executable, "-m", "rsync_daemon"], name="ours")
    results = []
    for who in ("real", "ours"):
        args = ["-aRi", "-e", str(shim), f"host:{a}/b/c", f"{tmp_path / who}/"]
        argv = real_rsync.argv(*args) if who == "real" else pyrsync_argv(*args)
        r = run(argv, cwd=tmp_path)
        results.append((r.returncode, _items(r.stdout)))
    assert results[1] == results[0]
    assert results[0][0] == 0
    assert (tmp_path / "ours" / str(a / "b" / "c" / "file").lstrip("/")).read_text() == "data\n"
    _same_root_time(tmp_path / "real", tmp_path / "ours")
    assert_trees_equal(tmp_path / "real", tmp_path / "ours")


def test_pull_of_a_dir_with_subdirs_one_entry_first_list(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    """``-r host:a/b dest/``: the first list holds only b, the lists below follow."""
    a = _source(tmp_path / "src")
    shim = rsh_shim_factory([str(real_rsync.path)], name="real")
    for who in ("real", "ours"):
        args = ["-ai", "-e", str(shim), f"host:{a}/b", f"{tmp_path / who}/"]
        argv = real_rsync.argv(*args) if who == "real" else pyrsync_argv(*args)
        assert run(argv, cwd=tmp_path).returncode == 0
    _same_root_time(tmp_path / "real", tmp_path / "ours")
    assert_trees_equal(tmp_path / "real", tmp_path / "ours", dir_times=True)
    local = tmp_path / "local"
    assert run(pyrsync_argv("-a", f"{a}/b", f"{local}/")).returncode == 0
    _same_root_time(tmp_path / "real", local)
    assert_trees_equal(tmp_path / "real", local, dir_times=True)


@pytest.mark.parametrize(
    "far", [None, "rsync", "pyrsync"], ids=["local", "push-rsync", "push-ours"]
)
def test_relative_stays_incremental_in_rsyncs_order(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, far: str | None
) -> None:
    """-R with several levels keeps incremental recursion: rsync's lines, in rsync's order.

    Each sub-list holds one level of the named paths (a/, then a/b/ and a/d/, ...), which
    the receiving side checks; the lines come in the order the lists are sent.
    """
    src = tmp_path / "src"
    for rel, text in (("a/b/c/f", "1"), ("a/b/c/sub/f2", "2"), ("a/d/g", "3"), ("x/h", "4")):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    (src / "a" / "top").write_text("not named")
    args = ["-aRiv", "a/b/c", "a/d/g", "x"]
    out = {}
    for who in ("real", "ours"):
        dest = tmp_path / who
        if far is None:
            target = f"{dest}/"
            extra: list[str] = []
        else:
            shim = rsh_shim_factory(
                [str(real_rsync.path)]
                if far == "rsync"
                else [sys.executable, "-m", "rsync_daemon"],
                name=far,
            )
            target = f"lh:{dest}/"
            extra = ["-e", str(shim)]
        argv = (
            real_rsync.argv(*extra, *args, target)
            if who == "real"
            else pyrsync_argv(*extra, *args, target)
        )
        r = run(argv, cwd=src)
        assert r.returncode == 0, r.stderr
        out[who] = [
            line
            for line in r.stdout.splitlines()
            if line and not line.startswith(("created directory", "sent ", "total size"))
        ]
    assert out["ours"] == out["real"]
    assert out["ours"][0] == "sending incremental file list"
    assert_trees_equal(tmp_path / "real", tmp_path / "ours")
    assert not (tmp_path / "ours" / "a" / "top").exists()
