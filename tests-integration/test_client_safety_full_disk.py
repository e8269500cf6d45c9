"""A full destination ends as rsync ends: "No space left on device (28)", exit code 11.

Issue 9: a full disk sometimes ended in ``anyio.BrokenResourceError`` (the broken pipe the
failed write caused in a sibling task) instead of the write's own error. The destination
here is a 1 MiB tmpfs (root only); each transport runs several times, because which task
fails second is a race.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest

from harness.client import mask_error_location, pyrsync_argv
from harness.proc import run
from harness.tools import unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.proc import RunResult
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

RUNS = 4


@pytest.fixture
def full(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        unavailable("mounting a small tmpfs needs root")
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs: {done.stderr.decode(errors='replace')}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def big_source(tmp_path: Path) -> Path:
    """About 4.4 MB: small files first (they fit), then files that cannot."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(12):
        (src / f"a{i:02}").write_bytes(os.urandom(60_000))
    (src / "big").write_bytes(os.urandom(3_000_000))
    (src / "sub").mkdir()
    for i in range(10):
        (src / "sub" / f"z{i}").write_bytes(os.urandom(60_000))
    return src


def _empty(directory: Path) -> None:
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _last_error(result: RunResult) -> str:
    """The client's own last ``rsync error:`` line (the remote sender's may come later)."""
    lines = [
        ln
        for ln in result.stderr.splitlines()
        if ln.startswith("rsync error:") and "[sender=" not in ln
    ]
    return mask_error_location(lines[-1]) if lines else ""


def _check(theirs: RunResult, ours: RunResult) -> None:
    assert theirs.returncode == 11, theirs.describe()
    assert ours.returncode == 11, ours.describe()
    assert "Traceback" not in ours.stderr, ours.describe()
    assert "BrokenResource" not in ours.stderr, ours.describe()
    assert "No space left on device (28)" in ours.stderr, ours.describe()
    assert 'write failed on "' in ours.stderr, ours.describe()  # rsync names the file
    assert _last_error(ours) == _last_error(theirs)


def _compare(real_rsync: RealRsync, full: Path, *args: object) -> list[RunResult]:
    ours_all = []
    for _ in range(RUNS):
        _empty(full)
        theirs = run(real_rsync.argv(*(str(a) for a in args), f"{full}/"), timeout=120)
        _empty(full)
        ours = run(pyrsync_argv(*args, f"{full}/"), timeout=120)
        _check(theirs, ours)
        ours_all.append(ours)
    return ours_all


def test_full_disk_daemon_pull(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, big_source: Path, full: Path
) -> None:
    daemon = real_daemon({"src": big_source})
    _compare(real_rsync, full, "-a", daemon.url("src"))


def test_full_disk_remote_shell_pull(
    real_rsync: RealRsync, rsh_shim: Path, big_source: Path, full: Path
) -> None:
    _compare(real_rsync, full, "-a", "-e", rsh_shim, f"host:{big_source}/")


def test_full_disk_local_copy(real_rsync: RealRsync, big_source: Path, full: Path) -> None:
    _compare(real_rsync, full, "-a", f"{big_source}/")


def test_full_disk_names_the_file(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, big_source: Path, full: Path
) -> None:
    daemon = real_daemon({"src": big_source})
    ours = _compare(real_rsync, full, "-a", daemon.url("src"))
    for result in ours:
        lines = [ln for ln in result.stderr.splitlines() if "write failed on" in ln]
        assert lines, result.describe()
        assert lines[0].startswith(f'rsync: [receiver] write failed on "{full}/'), lines
        assert lines[0].endswith('": No space left on device (28)'), lines
