"""Confinement allows what the command line asks for: ``-L`` on a local copy, beside real rsync.

Issue 9: with Landlock on, ``pyrsync -a --copy-links from/safe/ to/`` could not read a link
target outside the source ("Permission denied", exit 23), and a destination symlink left by
an earlier run was deleted and not replaced. The client now derives its rules from the
parsed command line (rsync_client.confine.landlock_rules); these tests run it confined
(``-vv`` says so) and compare with what real rsync makes of the same command.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.compare import assert_trees_equal
from harness.proc import run
from harness.tools import unavailable

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


@pytest.fixture(autouse=True)
def _landlock() -> None:
    from rsync_sandbox.landlock import abi_version

    try:
        abi_version()
    except OSError:
        unavailable("the kernel has no Landlock")


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    """``from/safe/`` with a link to a file and one to a directory outside it."""
    base = tmp_path / "from"
    safe = base / "safe"
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    safe.mkdir(parents=True)
    (outside / "target.txt").write_text("outside the source\n")
    (outside / "dir" / "inner.txt").write_text("inner\n")
    (safe / "plain.txt").write_text("plain\n")
    (safe / "to-file").symlink_to("../../outside/target.txt")
    (safe / "to-dir").symlink_to(outside / "dir")
    return safe, outside


def test_copy_links_reads_link_targets_outside_the_source(
    real_rsync: RealRsync, tmp_path: Path
) -> None:
    safe, _ = _layout(tmp_path)
    theirs = tmp_path / "theirs"
    ours = tmp_path / "ours"
    for d in (theirs, ours):
        d.mkdir()
    code, _out, err = run(real_rsync.argv("-a", "--copy-links", f"{safe}/", f"{theirs}/"))
    assert code == 0, err
    code, out, err = run(pyrsync_argv("-avvv", "--copy-links", f"{safe}/", f"{ours}/"))
    assert code == 0, err
    assert "confined with Landlock" in out
    assert "Permission denied" not in err
    assert (ours / "to-file").read_text() == "outside the source\n"
    assert not (ours / "to-file").is_symlink()
    assert_trees_equal(theirs, ours)


def test_copy_links_replaces_a_symlink_left_by_an_earlier_run(
    real_rsync: RealRsync, tmp_path: Path
) -> None:
    safe, _ = _layout(tmp_path)
    theirs = tmp_path / "theirs"
    ours = tmp_path / "ours"
    for dest in (theirs, ours):
        # an earlier run without -L left the links as links
        code, _out, err = run(real_rsync.argv("-a", f"{safe}/", f"{dest}/"))
        assert code == 0, err
        assert (dest / "to-file").is_symlink()
    code, _out, err = run(real_rsync.argv("-a", "-L", f"{safe}/", f"{theirs}/"))
    assert code == 0, err
    code, out, err = run(pyrsync_argv("-avvv", "-L", f"{safe}/", f"{ours}/"))
    assert code == 0, err
    assert "confined with Landlock" in out
    assert not (ours / "to-file").is_symlink()
    assert (ours / "to-file").read_text() == "outside the source\n"
    assert (ours / "to-dir" / "inner.txt").read_text() == "inner\n"
    assert_trees_equal(theirs, ours)


_WRITE_PROBE = r"""
import json, os, sys
from rsync_client.cli import parse_args
from rsync_client.confine import confine_client
args = sys.argv[1:-1]
outside = sys.argv[-1]
opts, rest = parse_args(args)
note = confine_client(opts, rest[:-1], rest[-1])
result = {"note": note}
def attempt(name, fn):
    try:
        fn()
        result[name] = "ok"
    except OSError as exc:
        result[name] = exc.errno
attempt("read_outside", lambda: open(os.path.join(outside, "target.txt")).read())
attempt("write_outside", lambda: open(os.path.join(outside, "evil"), "w").write("x"))
attempt("write_dest", lambda: open(os.path.join(rest[-1], "new"), "w").write("x"))
print(json.dumps(result))
"""


def test_copy_links_still_writes_only_below_the_destination(tmp_path: Path) -> None:
    safe, outside = _layout(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    code, out, err = run(
        [sys.executable, "-c", _WRITE_PROBE, "-a", "-L", f"{safe}/", str(dest), str(outside)]
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["note"].startswith("confined with Landlock"), result
    assert result["read_outside"] == "ok"  # -L: a link may point there
    assert result["write_outside"] == 13  # EACCES from Landlock
    assert result["write_dest"] == "ok"
    code, out, err = run(
        [sys.executable, "-c", _WRITE_PROBE, "-a", f"{safe}/", str(dest), str(outside)]
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["read_outside"] == 13  # without -L nothing outside the source is read
    assert result["write_outside"] == 13
    assert not (outside / "evil").exists()


def test_confined_pull_with_copy_links_and_exclude_from(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    module = tmp_path / "module"
    (module / "dir").mkdir(parents=True)
    (module / "dir" / "inner.txt").write_text("inner\n")
    (module / "plain.txt").write_text("plain\n")
    (module / "to-file").symlink_to("dir/inner.txt")
    (module / "to-dir").symlink_to("dir")
    (module / "escapes").symlink_to(tmp_path / "rules")  # the daemon refuses to follow it
    daemon = real_daemon({"mod": module})
    rules = tmp_path / "rules"
    rules.write_text("plain.txt\n")
    theirs = tmp_path / "theirs"
    ours = tmp_path / "ours"
    args = ["-a", "-L", f"--exclude-from={rules}", daemon.url("mod")]
    expected = run(real_rsync.argv(*args, f"{theirs}/"))
    code, out, err = run(pyrsync_argv("-vvv", *args, f"{ours}/"))
    assert code == expected.returncode, (expected.describe(), err)
    assert "confined with Landlock" in out
    assert not (ours / "plain.txt").exists()
    assert (ours / "to-file").read_text() == "inner\n"
    assert_trees_equal(theirs, ours)
    assert os.path.isdir(ours / "to-dir")


@pytest.mark.parametrize("option", ["-k", "--copy-dirlinks"])
def test_copy_dirlinks_follows_a_directory_link_outside_the_source(
    real_rsync: RealRsync, tmp_path: Path, option: str
) -> None:
    safe, _ = _layout(tmp_path)
    theirs = tmp_path / "theirs"
    ours = tmp_path / "ours"
    code, _out, err = run(real_rsync.argv("-a", option, f"{safe}/", f"{theirs}/"))
    assert code == 0, err
    code, out, err = run(pyrsync_argv("-avvv", option, f"{safe}/", f"{ours}/"))
    assert code == 0, err
    assert "confined with Landlock" in out
    assert (ours / "to-dir" / "inner.txt").read_text() == "inner\n"
    assert (ours / "to-file").is_symlink()  # only links to directories are followed
    assert_trees_equal(theirs, ours)


def test_copy_dirlinks_on_a_pull(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    module = tmp_path / "module"
    (module / "dir").mkdir(parents=True)
    (module / "dir" / "inner.txt").write_text("inner\n")
    (module / "to-dir").symlink_to("dir")
    (module / "to-file").symlink_to("dir/inner.txt")
    daemon = real_daemon({"mod": module})
    theirs = tmp_path / "theirs"
    ours = tmp_path / "ours"
    code, _out, err = run(real_rsync.argv("-ak", daemon.url("mod"), f"{theirs}/"))
    assert code == 0, err
    code, _out, err = run(pyrsync_argv("-ak", daemon.url("mod"), f"{ours}/"))
    assert code == 0, err
    assert (ours / "to-dir").is_dir()
    assert not (ours / "to-dir").is_symlink()
    assert_trees_equal(theirs, ours)
