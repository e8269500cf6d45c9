"""Files named on the command line are not read through another user's symlink (rsync 3.5).

rsync test excludefrom-symlink: ``--exclude-from``, ``--include-from``, ``--files-from`` and
``--filter='. FILE'`` must refuse a planted symlink, at the leaf or at a parent component,
when it is owned by neither root nor the user running rsync. pyrsync refuses them with
rsync's lines and exit codes, and still follows a symlink the user owns.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

from harness.client import mask_error_location, pyrsync_argv
from harness.proc import run
from harness.tools import unavailable

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.proc import RunResult
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

NOBODY = 65534


@pytest.fixture
def plants(tmp_path: Path) -> dict[str, Path]:
    """A source with a canary, and exclude lists reached through planted symlinks."""
    if os.geteuid() != 0:
        unavailable("planting a symlink owned by another user needs root")
    src = tmp_path / "src"
    src.mkdir()
    (src / "canary_file").write_text("would-be-transferred\n")
    (src / "other_file").write_text("noise\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "exclude_list").write_text("canary_file\n")
    planted = tmp_path / "plants"
    planted.mkdir()
    leaf = planted / "leaf"
    leaf.symlink_to(outside / "exclude_list")
    os.lchown(leaf, NOBODY, NOBODY)
    parent = planted / "parent"
    parent.symlink_to(outside)
    os.lchown(parent, NOBODY, NOBODY)
    mine = planted / "mine"
    mine.symlink_to(outside / "exclude_list")
    return {
        "src": src,
        "leaf": leaf,
        "parent": parent / "exclude_list",
        "mine": mine,
        "tmp": tmp_path,
    }


def _both(real_rsync: RealRsync, tmp: Path, *args: object) -> tuple[RunResult, RunResult]:
    results = []
    for name, argv in (("theirs", real_rsync.argv), ("ours", pyrsync_argv)):
        dest = tmp / name
        shutil.rmtree(dest, ignore_errors=True)
        results.append(run(argv(*(str(a) for a in args), f"{dest}/")))
    return results[0], results[1]


def _same_lines(theirs: RunResult, ours: RunResult) -> None:
    assert ours.returncode == theirs.returncode, (theirs.describe(), ours.describe())
    assert "Traceback" not in ours.stderr
    assert mask_error_location(ours.stderr) == mask_error_location(theirs.stderr)


@pytest.mark.parametrize("where", ["leaf", "parent"])
@pytest.mark.parametrize(
    "option", ["--exclude-from=", "--include-from=", "--filter=. ", "--files-from="]
)
def test_planted_symlink_is_refused_as_rsync_refuses_it(
    real_rsync: RealRsync, plants: dict[str, Path], option: str, where: str
) -> None:
    tmp = plants["tmp"]
    theirs, ours = _both(real_rsync, tmp, "-a", f"{option}{plants[where]}", f"{plants['src']}/")
    _same_lines(theirs, ours)
    assert ours.returncode == (1 if option == "--files-from=" else 11)
    assert ours.stderr.startswith("refusing to follow a symlink owned by an untrusted user")
    assert "Too many levels of symbolic links" in ours.stderr
    assert not (tmp / "ours" / "other_file").exists()  # nothing was transferred


def test_own_symlink_is_followed_and_missing_file_reported(
    real_rsync: RealRsync, plants: dict[str, Path]
) -> None:
    tmp = plants["tmp"]
    theirs, ours = _both(real_rsync, tmp, "-a", f"--exclude-from={plants['mine']}", plants["src"])
    assert (theirs.returncode, ours.returncode) == (0, 0), ours.describe()
    assert sorted(p.name for p in (tmp / "ours" / "src").iterdir()) == ["other_file"]
    for option in ("--exclude-from=", "--files-from="):
        theirs, ours = _both(real_rsync, tmp, "-a", f"{option}{tmp}/missing", plants["src"])
        _same_lines(theirs, ours)


def test_planted_symlink_refused_before_a_daemon_pull(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, plants: dict[str, Path]
) -> None:
    daemon = real_daemon({"mod": plants["src"]})
    tmp = plants["tmp"]
    for option in ("--exclude-from=", "--files-from="):
        theirs, ours = _both(real_rsync, tmp, "-a", f"{option}{plants['leaf']}", daemon.url("mod"))
        _same_lines(theirs, ours)
    theirs, ours = _both(
        real_rsync, tmp, "-a", f"--exclude-from={plants['mine']}", daemon.url("mod")
    )
    assert (theirs.returncode, ours.returncode) == (0, 0), ours.describe()
    assert sorted(p.name for p in (tmp / "ours").iterdir()) == ["other_file"]
