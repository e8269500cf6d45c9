"""A dry run into a destination that does not exist yet, with a basis directory.

rsync cannot enter a destination it did not make, so it finds a relative
``--link-dest``/``--copy-dest``/``--compare-dest`` as the real run would (one leading
``../`` taken against the parent): files that match the basis are then not "new" but
linked, copied or left out, and ``-i`` shows only what the real run would show. Its
warning for a missing basis dir names the absolute path. Ours and rsync run the same
commands; standard output and error must be equal.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

T = 1_600_000_000


def _trees(base: Path) -> None:
    src = base / "from"
    (src / "foo").mkdir(parents=True)
    (src / "foo" / "config").write_text("config\n")
    (src / "changed").write_text("new text\n")
    (src / "same").write_text("same\n")
    os.link(src / "foo" / "config", src / "foo" / "extra")  # a hard-link group (-H)
    os.symlink("same", src / "link")
    for path in (src / "foo" / "config", src / "changed", src / "same", src / "foo", src):
        os.utime(path, (T, T))
    os.utime(src / "link", (T, T), follow_symlinks=False)
    basis = base / "to"
    (basis / "foo").mkdir(parents=True)
    (basis / "foo" / "config").write_text("config\n")
    (basis / "changed").write_text("old\n")
    (basis / "same").write_text("same\n")
    os.link(basis / "foo" / "config", basis / "foo" / "extra")
    for path in (basis / "foo" / "config", basis / "same", basis / "foo", basis):
        os.utime(path, (T, T))


@pytest.mark.parametrize("kind", ["link-dest", "compare-dest", "copy-dest"])
@pytest.mark.parametrize("value", ["../to", "ABS", "../missing", "to"])
@pytest.mark.parametrize("verbosity", [["-i"], ["-vvi"]])
def test_dry_run_into_a_missing_destination(
    real_rsync: RealRsync, tmp_path: Path, kind: str, value: str, verbosity: list[str]
) -> None:
    results = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        base = tmp_path / who
        _trees(base)
        given = str(base / "to") if value == "ABS" else value
        code, out, err = run(
            [*argv, "-plrtH", "--no-i-r", "-n", *verbosity, f"--{kind}={given}", "from/", "to2/"],
            cwd=base,
        )
        lines = [ln for ln in out.splitlines() if not ln.startswith(("sent ", "total size"))]
        # -vv's lines of rsync's sender about its delta search: not this test's subject
        lines = [ln for ln in lines if not ln.startswith(("delta-transmission", "total: "))]
        results.append((code, lines, err.replace(str(base), "BASE")))
        assert not (base / "to2").exists()
    assert results[0] == results[1]
    assert results[0][0] == 0


@pytest.mark.parametrize("kind", ["link-dest", "compare-dest", "copy-dest"])
@pytest.mark.parametrize("verbosity", [["-vv"], ["-vvi"], ["-ii"]])
def test_hard_link_followers_from_a_basis_dir(
    real_rsync: RealRsync, tmp_path: Path, kind: str, verbosity: list[str]
) -> None:
    """A real run: a follower found linked in the basis says "is uptodate" at -vv."""
    results = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        base = tmp_path / who
        _trees(base)
        code, out, err = run(
            [*argv, "-plrtH", "--no-i-r", *verbosity, f"--{kind}={base / 'to'}", "from/", "to2/"],
            cwd=base,
        )
        lines = [ln for ln in out.splitlines() if not ln.startswith(("sent ", "total size"))]
        lines = [ln for ln in lines if not ln.startswith(("delta-transmission", "total: "))]
        results.append((code, lines, err.replace(str(base), "BASE")))
    assert results[0] == results[1]
