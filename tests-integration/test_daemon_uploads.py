"""Uploads to pyrsyncd: real rsync pushes, and the result equals a push to rsync's daemon.

Each scenario pushes the all-kinds tree with the real rsync 3.5 client to a ``read only
= no`` module of pyrsyncd and of rsync's own daemon, then pushes the updated tree on top,
and compares the two destinations, the itemized output and the exit codes. Further tests
check what a receiving daemon refuses: read-only modules, names its rules hide (never
written, never deleted), destinations outside the module, and options it does not
implement.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import TYPE_CHECKING

import pytest

from harness.compare import assert_trees_equal
from harness.daemon import DaemonModule
from harness.proc import run
from harness.tools import case_protocols
from harness.trees import update_tree

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemon, RealDaemonFactory
    from harness.tools import RealRsync
    from harness.trees import TreeFactory

pytestmark = pytest.mark.interop

IS_ROOT = os.geteuid() == 0

_RATE = re.compile(r"^sent .*$|^total size is .*$|[\d,.]+ bytes/sec", re.MULTILINE)


def _norm(out: str) -> str:
    """The client's output without the figures that depend on timing."""
    return _RATE.sub(b"", out)


def _push(real_rsync: RealRsync, args: list[str], src: Path, url: str) -> tuple[int, str, str]:
    code, out, err = run(real_rsync.argv(*args, str(src) + "/", url), timeout=120)
    return code, out, err


def _both(
    our_daemon: RealDaemonFactory, real_daemon: RealDaemonFactory, tmp_path: Path, **opts: str
) -> tuple[RealDaemon, RealDaemon, Path, Path]:
    ours_dir = tmp_path / "ours"
    theirs_dir = tmp_path / "theirs"
    ours_dir.mkdir()
    theirs_dir.mkdir()
    ours = our_daemon([DaemonModule("up", ours_dir, read_only=False, options=opts)])
    theirs = real_daemon([DaemonModule("up", theirs_dir, read_only=False, options=opts)])
    return ours, theirs, ours_dir, theirs_dir


CASES = {
    "a": ["-a"],
    "aH": ["-aH"],
    "az": ["-az"],
    "ac": ["-ac"],
    "delete-filters": ["-a", "--delete", "--exclude=*.tmp", "--exclude=/text/"],
}


@pytest.mark.parametrize(("case", "protocol"), case_protocols(CASES, [27, 29, 30, 32]))
def test_push_equals_rsyncs_daemon(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tree_factory: TreeFactory,
    tmp_path: Path,
    protocol: int,
    case: str,
) -> None:
    src = tree_factory("src", odd_names=True)
    ours, theirs, ours_dir, theirs_dir = _both(our_daemon, real_daemon, tmp_path)
    args = [*CASES[case], "-i", f"--protocol={protocol}"]
    for step in ("first", "update"):
        if step == "update":
            update_tree(src)
        got = _push(real_rsync, args, src.root, ours.url("up") + "/")
        want = _push(real_rsync, args, src.root, theirs.url("up") + "/")
        assert got[0] == want[0], (step, got[2], want[2])
        assert sorted(_norm(got[1]).splitlines()) == sorted(_norm(want[1]).splitlines()), step
        assert_trees_equal(
            ours_dir,
            theirs_dir,
            owners=IS_ROOT,
            hardlinks="H" in case,
            dir_times=True,
            symlink_times=True,
        )


def test_read_only_module_refuses(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    mod = tmp_path / "ro"
    mod.mkdir()
    d = our_daemon([DaemonModule("ro", mod)])
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    code, _, err = _push(real_rsync, ["-a"], src, d.url("ro") + "/")
    assert code == 5 or code == 1, err
    assert "ERROR: module is read only" in err
    assert list(mod.iterdir()) == []


def test_module_rules_hide_names_from_uploads(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    """A name the module's rules hide is neither written nor deleted, as rsync's daemon does."""
    opts = {"exclude": "/secret/ *.key"}
    ours, theirs, ours_dir, theirs_dir = _both(our_daemon, real_daemon, tmp_path, **opts)
    for base in (ours_dir, theirs_dir):
        (base / "secret").mkdir()
        (base / "secret" / "keep").write_text("operator's\n")
        (base / "old.key").write_text("operator's key\n")
    src = tmp_path / "src"
    (src / "secret").mkdir(parents=True)
    (src / "secret" / "planted").write_text("x")
    (src / "new.key").write_text("x")
    (src / "ok").write_text("fine\n")
    results = []
    for d in (ours, theirs):
        code, _, err = _push(real_rsync, ["-av", "--delete"], src, d.url("up") + "/")
        results.append((code, err))
    assert results[0][0] == results[1][0] == 23, results
    for base in (ours_dir, theirs_dir):
        assert (base / "secret" / "keep").read_text() == "operator's\n"
        assert not (base / "secret" / "planted").exists()
        assert not (base / "new.key").exists()
        assert (base / "old.key").exists()
        assert (base / "ok").read_text() == "fine\n"
    assert 'ERROR: daemon refused to receive file "new.key"' in results[0][1]
    assert 'ERROR: daemon refused to receive directory "secret"' in results[0][1]


def test_excluded_destination_refused(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    mod = tmp_path / "mod"
    mod.mkdir()
    d = our_daemon([DaemonModule("up", mod, read_only=False, options={"exclude": "/private/"})])
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    code, _, err = _push(real_rsync, ["-a"], src, d.url("up", "private") + "/")
    assert code == 3, err
    assert 'ERROR: daemon has excluded destination "private/"' in err
    assert list(mod.iterdir()) == []


@pytest.mark.parametrize("dest", ["../../escape", "/abs/escape", "link/escape"])
def test_destination_stays_in_module(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path, dest: str
) -> None:
    """``..``, absolute destinations and a symlink out of the module all land inside it."""
    mod = tmp_path / "area" / "mod"
    mod.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (mod / "link").symlink_to(outside)
    d = our_daemon([DaemonModule("up", mod, read_only=False)])
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    before = sorted(p.name for p in tmp_path.iterdir())
    run(real_rsync.argv("-r", str(src) + "/", d.url("up", dest) + "/"), timeout=60)
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert sorted(p.name for p in (tmp_path / "area").iterdir()) == ["mod"]


def test_unimplemented_option_refused_by_name(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    mod = tmp_path / "mod"
    mod.mkdir()
    # -A is implemented now: the module refuses it (no forwarded option is unimplemented)
    options = {"refuse options": "acls"}
    d = our_daemon([DaemonModule("up", mod, read_only=False, options=options)])
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    code, _, err = _push(real_rsync, ["-a", "--acls"], src, d.url("up") + "/")
    assert code != 0
    assert "The server is configured to refuse --acls (-A)" in err, err
    assert list(mod.iterdir()) == []


def test_upload_over_remote_shell(
    real_rsync: RealRsync, rsh_shim: Path, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    """``rsync -e SHIM --rsync-path=pyrsyncd SRC host:DEST`` equals the same push to rsync."""
    from harness.ourd import pyrsyncd_argv

    src = tree_factory("src", odd_names=True)
    ours = tmp_path / "ours"
    theirs = tmp_path / "theirs"
    rsync_path = " ".join(pyrsyncd_argv())
    for step in ("first", "update"):
        if step == "update":
            update_tree(src)
        got = tuple(
            run(
                real_rsync.argv(
                    "-ai",
                    "--delete",
                    "-e",
                    str(rsh_shim),
                    f"--rsync-path={rsync_path}",
                    str(src.root) + "/",
                    f"localhost:{ours}/",
                ),
                timeout=120,
            )
        )
        want = tuple(
            run(
                real_rsync.argv(
                    "-ai",
                    "--delete",
                    "-e",
                    str(rsh_shim),
                    str(src.root) + "/",
                    f"localhost:{theirs}/",
                ),
                timeout=120,
            )
        )
        assert got[0] == want[0], got[2]
        got_lines = _norm(str(got[1]).replace(str(ours), "DEST")).splitlines()
        want_lines = _norm(str(want[1]).replace(str(theirs), "DEST")).splitlines()
        assert sorted(got_lines) == sorted(want_lines)
        assert_trees_equal(ours, theirs, owners=IS_ROOT, dir_times=True)
    shutil.rmtree(ours)


@pytest.mark.parametrize("munge", ["yes", "no"])
def test_uploaded_symlinks_munged_or_sanitized_as_rsyncs(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    munge: str,
) -> None:
    """``munge symlinks`` stores ``/rsyncd-munged/TARGET``; without it (and without chroot)
    a target loses its leading ``/`` and the ``..`` that would climb out of the module."""
    ours, theirs, ours_dir, theirs_dir = _both(
        our_daemon, real_daemon, tmp_path, **{"munge symlinks": munge}
    )
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "abs").symlink_to("/etc/passwd")
    (src / "d" / "up").symlink_to("../../../outside")
    (src / "d" / "fine").symlink_to("../abs")
    for d in (ours, theirs):
        code, _, err = _push(real_rsync, ["-rl"], src, d.url("up") + "/")
        assert code == 0, err
    for rel in ("abs", "d/up", "d/fine"):
        assert os.readlink(ours_dir / rel) == os.readlink(theirs_dir / rel), rel
    if munge == "yes":
        assert os.readlink(ours_dir / "abs") == "/rsyncd-munged//etc/passwd"
