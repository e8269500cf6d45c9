"""Which member of a hard-link group is transferred, and in which order the others link.

rsync's generator takes the members in list order: the first one found at the
destination (or in a basis directory) is updated, the later ones wait for it; a missing
one waits unless it is the last. When the transfer ends the waiting members are linked
from the leader's chain: those after it in list order, then those before it, latest first.
pyrsync's local copy is compared line by line with real rsync's on the same trees.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

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


def _first_differs(_src: Path, dest: Path) -> None:
    (dest / "a").mkdir(parents=True)
    (dest / "a" / "x").write_text("other\n")


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


@pytest.mark.parametrize("args", [("-iH", "-rlpt"), ("-vvH", "-rlpt")], ids=["i", "vv"])
@pytest.mark.parametrize("scene", list(SCENES))
def test_hard_link_groups_as_rsync(
    tmp_path: Path, real_rsync: RealRsync, scene: str, args: tuple[str, ...]
) -> None:
    src = _source(tmp_path)
    outputs = []
    for program in ("rsync", "pyrsync"):
        dest = tmp_path / program / "dest"
        dest.parent.mkdir()
        SCENES[scene](src, dest)
        _fixed_dir_times(src, dest)
        tail = [*args, f"{src}/", "dest"]
        # rsync's choice with incremental recursion depends on how far its receiver has
        # read ahead (timing); pyrsync keeps one list with -H, as rsync does with --no-i-r
        argv = real_rsync.argv("--no-i-r", *tail) if program == "rsync" else pyrsync_argv(*tail)
        result = run(argv, cwd=dest.parent)
        assert result.returncode == 0, result.describe()
        outputs.append(
            [line for line in result.stdout.splitlines() if line and not line.startswith(_FRAME)]
        )
        groups = {os.stat(dest / n).st_ino for n in ("a/x", "a/y", "b/z", "c/w")}
        assert len(groups) == 1, f"{program}: a/x's group is not one inode"
    # rsync's generator (links, "is uptodate") and receiver (transferred names) print at
    # once, so only the generator's lines keep their order: the links, in chain order
    assert sorted(outputs[1]) == sorted(outputs[0])
    links = [[line for line in out if " => " in line] for out in outputs]
    assert links[1] == links[0]
