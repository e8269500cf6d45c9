"""Which member of a hard-link group is transferred, and in which order the others link.

rsync's generator takes the members in list order: the first one found at the
destination (or in a basis directory) is updated, the later ones wait for it; a missing
one waits unless it is the last. When the transfer ends the waiting members are linked
from the leader's chain: those after it in list order, then those before it, latest first.
pyrsync's local copy is compared line by line with real rsync's on the same trees, with
one list (``--no-i-r``) and incrementally: with a small tree both generators wait for the
last list before they start (rsync: generator.c generate_files(), ``MIN_FILECNT_LOOKAHEAD``),
so both know every member.

A larger tree (more than one read-ahead) shows that the transfer stays incremental with
``-H``: groups spanning many sub-lists, one member at the destination already; which member
leads then depends on how far each side has read ahead, so only the trees are compared
(and the groups' inodes), pulling from rsync's daemon and pushing to pyrsyncd.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.compare import assert_trees_equal
from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

OLD = 1_577_836_800  # 2020-01-01
# the lines around the per-file ones (the file-list and statistics lines are tested
# elsewhere; rsync's -vv "delta-transmission disabled" and "total: matches=" lines are not
# printed by pyrsync yet)
_FRAME = ("sending ", "building ", "created directory", "delta-transmission", "total", "sent ")


def _source(root: Path) -> Path:
    src = root / "src"
    for d in ("a", "b", "c"):
        (src / d).mkdir(parents=True)
    (src / "a" / "x").write_text("one\n")
    for name in ("a/y", "b/z", "c/w"):
        os.link(src / "a" / "x", src / name)
    (src / "b" / "p").write_text("two\n")
    for name in ("a/q", "b/o"):
        os.link(src / "b" / "p", src / name)
    (src / "top").write_text("3\n")
    os.link(src / "top", src / "a" / "top2")
    return src


def _separate_copies(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest)  # copies: every member its own inode
    for name in ("a/x", "a/y"):
        os.utime(dest / name, (OLD, OLD))


def _middle_only(_src: Path, dest: Path) -> None:
    (dest / "b").mkdir(parents=True)
    (dest / "b" / "z").write_text("one\n")
    # one time, older than the source's: made in the source's second it would be up to
    # date for one program and not for the other
    os.utime(dest / "b" / "z", (OLD, OLD))


def _first_differs(_src: Path, dest: Path) -> None:
    (dest / "a").mkdir(parents=True)
    (dest / "a" / "x").write_text("other\n")
    os.utime(dest / "a" / "x", (OLD, OLD))  # (as in _middle_only)


def _fixed_dir_times(*roots: Path) -> None:
    """Give every directory one time: rsync compares whole seconds, so a scene made a
    second later than the source (a loaded machine) would show its directories as changed
    in one program's run and not in the other's."""
    for root in roots:
        if root.exists():
            for path in (root, *(p for p in root.rglob("*") if p.is_dir())):
                os.utime(path, (OLD, OLD))


SCENES: dict[str, Callable[[Path, Path], None]] = {
    "new": lambda _src, _dest: None,
    "separate-copies": _separate_copies,
    "middle-member-only": _middle_only,
    "first-member-differs": _first_differs,
}


@pytest.mark.parametrize("lists", [("--no-i-r",), ()], ids=["one-list", "incremental"])
@pytest.mark.parametrize("args", [("-iH", "-rlpt"), ("-vvH", "-rlpt")], ids=["i", "vv"])
@pytest.mark.parametrize("scene", list(SCENES))
def test_hard_link_groups_as_rsync(
    tmp_path: Path,
    real_rsync: RealRsync,
    scene: str,
    args: tuple[str, ...],
    lists: tuple[str, ...],
) -> None:
    src = _source(tmp_path)
    outputs = []
    for program in ("rsync", "pyrsync"):
        dest = tmp_path / program / "dest"
        dest.parent.mkdir()
        SCENES[scene](src, dest)
        _fixed_dir_times(src, dest)
        tail = [*lists, *args, f"{src}/", "dest"]
        argv = real_rsync.argv(*tail) if program == "rsync" else pyrsync_argv(*tail)
        result = run(argv, cwd=dest.parent)
        assert result.returncode == 0, result.describe()
        if lists:
            assert "incremental file list" not in result.stdout
        elif "-vvH" in args:
            assert "sending incremental file list" in result.stdout  # a local copy
        outputs.append(
            [line for line in result.stdout.splitlines() if line and not line.startswith(_FRAME)]
        )
        groups = {os.stat(dest / n).st_ino for n in ("a/x", "a/y", "b/z", "c/w")}
        assert len(groups) == 1, f"{program}: a/x's group is not one inode"
    # rsync's generator (links, "is uptodate") and receiver (transferred names) print at
    # once, so only the generator's lines keep their order: each leader's links, in chain
    # order (the groups' leaders finish in an order that depends on timing)
    assert sorted(outputs[1]) == sorted(outputs[0])
    assert _links_by_leader(outputs[1]) == _links_by_leader(outputs[0])


@pytest.mark.parametrize(
    "skip", ["--existing", "--ignore-existing", "--min-size=3", "--max-size=3"]
)
@pytest.mark.parametrize("scene", ["new", "middle-member-only"])
def test_skipped_members_incrementally_as_rsync(
    tmp_path: Path, real_rsync: RealRsync, scene: str, skip: str
) -> None:
    """Skipped members: who waited for them goes on its own (rsync: handle_skipped_hlink())."""
    src = _source(tmp_path)
    outputs = []
    for program in ("rsync", "pyrsync"):
        dest = tmp_path / program / "dest"
        dest.parent.mkdir()
        SCENES[scene](src, dest)
        _fixed_dir_times(src, dest)
        tail = ["-iH", "-rlpt", skip, f"{src}/", "dest"]
        argv = real_rsync.argv(*tail) if program == "rsync" else pyrsync_argv(*tail)
        result = run(argv, cwd=dest.parent, timeout=60)
        assert result.returncode == 0, result.describe()
        outputs.append(sorted(line for line in result.stdout.splitlines() if line))
    assert outputs[1] == outputs[0]
    assert_trees_equal(tmp_path / "rsync" / "dest", tmp_path / "pyrsync" / "dest", hardlinks=True)


def _links_by_leader(lines: list[str]) -> dict[str, list[str]]:
    links: dict[str, list[str]] = {}
    for line in lines:
        if " => " in line:
            links.setdefault(line.rpartition(" => ")[2], []).append(line)
    return links


_DIRS = 40
_PER_DIR = 30  # 1,200 files and more in 41 lists: more than one read-ahead (500 entries)
# hard-link groups: the members' names; "old" is at the destination before the run
_GROUPS = {
    "early": ["top-early", "d03/early", "d21/early", "d39/early"],
    "span": [f"d{k:02}/span" for k in range(1, _DIRS, 3)],
    "old": ["d02/old", "d17/old", "d33/old"],
    "pairs": [],
}


def _big_source(root: Path) -> Path:
    """Directories in sub-lists of their own, groups across them, pairs within them."""
    src = root / "src"
    src.mkdir()
    (src / "top-plain").write_text("plain\n")
    for d in range(_DIRS):
        sub = src / f"d{d:02}"
        sub.mkdir()
        for k in range(_PER_DIR):
            (sub / f"f{k:02}").write_text(f"{d} {k}\n")
        os.link(sub / "f00", sub / "pair")  # a group within one list
    for group, names in _GROUPS.items():
        if names:
            (src / names[0]).write_text(f"{group} group\n")
            for name in names[1:]:
                os.link(src / names[0], src / name)
    os.link(src / "d05" / "f01", src / "d36" / "from-d05")  # a pair across distant lists
    _fixed_dir_times(src)
    return src


def _big_destination(dest: Path) -> None:
    """A member of the "old" group is there, with other contents; a copy of one pair too."""
    (dest / "d17").mkdir(parents=True)
    (dest / "d17" / "old").write_text("older contents\n")
    os.utime(dest / "d17" / "old", (OLD, OLD))
    (dest / "d36").mkdir()
    (dest / "d36" / "from-d05").write_text("5 1\n")
    _fixed_dir_times(dest)


def _assert_groups_linked(dest: Path) -> None:
    for names in (*(n for n in _GROUPS.values() if n), ["d05/f01", "d36/from-d05"]):
        inodes = {os.stat(dest / name).st_ino for name in names}
        assert len(inodes) == 1, f"{dest}: {names} are {len(inodes)} inodes"


def test_incremental_pull_with_hard_links_as_rsync(
    tmp_path: Path, real_rsync: RealRsync, real_daemon: RealDaemonFactory
) -> None:
    """pyrsync pulling with -H recurses incrementally and gives rsync's tree."""
    src = _big_source(tmp_path)
    daemon = real_daemon({"src": src})
    for program in ("rsync", "pyrsync"):
        dest = tmp_path / program / "dest"
        _big_destination(dest)
        tail = ["-rlptHv", daemon.url("src"), "dest"]
        argv = real_rsync.argv(*tail) if program == "rsync" else pyrsync_argv(*tail)
        result = run(argv, cwd=dest.parent, timeout=300)
        assert result.returncode == 0, result.describe()
        assert result.stdout.startswith("receiving incremental file list\n"), result.stdout[:200]
        _assert_groups_linked(dest)
    assert_trees_equal(src, tmp_path / "pyrsync" / "dest", hardlinks=True)
    assert_trees_equal(tmp_path / "rsync" / "dest", tmp_path / "pyrsync" / "dest", hardlinks=True)


def test_incremental_push_with_hard_links_to_pyrsyncd_as_rsyncd(
    tmp_path: Path,
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
) -> None:
    """rsync pushing with -H to pyrsyncd (incremental) gives what it gives pushing to rsyncd."""
    src = _big_source(tmp_path)
    for name, factory in (("rsyncd", real_daemon), ("pyrsyncd", our_daemon)):
        up = tmp_path / name
        _big_destination(up / "dest")
        daemon = factory([DaemonModule("up", up, read_only=False)])
        result = run(real_rsync.argv("-rlptHv", f"{src}/", daemon.url("up", "dest")), timeout=300)
        assert result.returncode == 0, result.describe()
        # rsync's client sends incrementally only when the receiving server takes it
        # (compat.c, CF_INC_RECURSE)
        assert result.stdout.startswith("sending incremental file list\n"), result.stdout[:200]
        _assert_groups_linked(up / "dest")
    assert_trees_equal(src, tmp_path / "pyrsyncd" / "dest", hardlinks=True)
    assert_trees_equal(tmp_path / "rsyncd" / "dest", tmp_path / "pyrsyncd" / "dest", hardlinks=True)
