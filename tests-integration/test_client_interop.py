"""pyrsync against the real rsync: daemon at every protocol, ssh, local copies; trees compared."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.compare import assert_trees_equal
from harness.proc import run
from harness.stats import parse_stats
from harness.trees import update_tree

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.shim import ShimFactory
    from harness.sshd import Sshd
    from harness.tools import RealRsync
    from harness.trees import TreeFactory

pytestmark = pytest.mark.interop

ROOT = os.geteuid() == 0


# Protocols below 30 carry 32-bit unsigned mtimes: these two cannot survive (nor with rsync).
OLD_PROTOCOL_TIMES = ("times/post-2106.txt", "times/pre-1970.txt")


def assert_copied(
    src: os.PathLike[str],
    dest: os.PathLike[str],
    *,
    hardlinks: bool = True,
    protocol: int = 32,
    exclude: tuple[str, ...] = (),
) -> None:
    __tracebackhide__ = True
    if protocol < 30:
        exclude = (*exclude, *OLD_PROTOCOL_TIMES)
    assert_trees_equal(
        src,
        dest,
        owners=ROOT,
        hardlinks=hardlinks,
        symlink_times=True,
        dir_times=True,
        exclude=exclude,
    )


@pytest.mark.parametrize("protocol", [27, 28, 29, 30, 31, 32])
def test_daemon_pull_then_delta(
    protocol: int, real_daemon: RealDaemonFactory, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    tree = tree_factory()
    daemon = real_daemon({"src": tree.root})
    dest = tmp_path / "dest"
    proto = [] if protocol == 32 else [f"--protocol={protocol}"]
    run(pyrsync_argv("-aH", *proto, daemon.url("src"), dest), check=True)
    assert_copied(tree, dest, protocol=protocol)

    update_tree(tree)
    result = run(
        pyrsync_argv("-aH", "--delete", "--stats", *proto, daemon.url("src"), dest), check=True
    )
    assert_copied(tree, dest, protocol=protocol)
    stats = parse_stats(result.stdout)
    assert stats["Matched data"] > 1_000_000, result.stdout
    assert stats["Literal data"] < 200_000, result.stdout
    if protocol >= 31:
        assert stats["Number of deleted files"] >= 3, result.stdout


OPTION_SETS = {
    "z": ["-aH", "-z"],
    "zz": ["-aH", "-zz"],
    "zstd": ["-aH", "--zc=zstd"],
    "lz4": ["-aH", "--zc=lz4"],
    "zlib": ["-aH", "--zc=zlib"],
    "c": ["-aHc"],
    "md5": ["-aH", "--checksum-choice=md5"],
    "W": ["-aHW"],
    "delete-before": ["-aH", "--delete-before"],
    "delete-after": ["-aH", "--delete-after"],
}


@pytest.mark.parametrize("name", sorted(OPTION_SETS))
def test_option_sets_against_daemon(
    name: str, real_daemon: RealDaemonFactory, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    flags = OPTION_SETS[name]
    tree = tree_factory()
    daemon = real_daemon({"src": tree.root})
    dest = tmp_path / "dest"
    run(pyrsync_argv(*flags, daemon.url("src"), dest), check=True)
    assert_copied(tree, dest)
    update_tree(tree)
    result = run(pyrsync_argv(*flags, "--delete", "--stats", daemon.url("src"), dest), check=True)
    assert_copied(tree, dest)
    stats = parse_stats(result.stdout)
    if name != "W":
        assert stats["Matched data"] > 1_000_000, result.stdout


@pytest.mark.parametrize("protocol", [29, 32])
def test_compression_at_old_and_new_protocols(
    protocol: int, real_daemon: RealDaemonFactory, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    tree = tree_factory(odd_names=False)
    daemon = real_daemon({"src": tree.root})
    dest = tmp_path / "dest"
    args = ["-az", "--delete", f"--protocol={protocol}", daemon.url("src"), dest]
    run(pyrsync_argv(*args), check=True)
    update_tree(tree)
    run(pyrsync_argv(*args), check=True)
    assert_copied(tree, dest, protocol=protocol, hardlinks=False)


def test_pull_over_real_sshd(
    real_rsync: RealRsync, sshd: Sshd, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    tree = tree_factory()
    dest = tmp_path / "dest"
    ssh = ["-e", sshd.rsh, f"--rsync-path={real_rsync.path}"]
    run(pyrsync_argv("-aH", *ssh, sshd.remote(tree.slash), dest), check=True)
    assert_copied(tree, dest)
    update_tree(tree)
    result = run(
        pyrsync_argv("-aHz", "--delete", "--stats", *ssh, sshd.remote(tree.slash), dest), check=True
    )
    assert_copied(tree, dest)
    assert parse_stats(result.stdout)["Matched data"] > 1_000_000, result.stdout


def test_pull_through_shim_at_protocol_27(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tree_factory: TreeFactory,
    tmp_path: Path,
) -> None:
    tree = tree_factory()
    shim = rsh_shim_factory([real_rsync.path], name="as-rsync")
    dest = tmp_path / "dest with space"
    args = ["-aH", "--protocol=27", "-e", str(shim), f"someone@host:{tree.slash}", dest]
    run(pyrsync_argv(*args), check=True)
    assert_copied(tree, dest, protocol=27)


def test_daemon_over_remote_shell(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    rsh_shim_factory: ShimFactory,
    tree_factory: TreeFactory,
    tmp_path: Path,
) -> None:
    tree = tree_factory(odd_names=False)
    daemon = real_daemon({"src": tree.root})  # only for its rsyncd.conf
    shim = rsh_shim_factory()
    dest = tmp_path / "dest"
    rsync_path = f"{real_rsync.path} --config={daemon.config_path}"
    run(
        pyrsync_argv(
            "-a", "-e", str(shim), f"--rsync-path={rsync_path}", "rsync://localhost/src/", dest
        ),
        check=True,
    )
    assert_copied(tree, dest, hardlinks=False)


def test_local_copy_and_update(tree_factory: TreeFactory, tmp_path: Path) -> None:
    tree = tree_factory()
    dest = tmp_path / "dest"
    run(pyrsync_argv("-aH", tree.slash, dest), check=True)
    assert_copied(tree, dest)
    update_tree(tree)
    run(pyrsync_argv("-aH", "--delete", tree.slash, dest), check=True)
    assert_copied(tree, dest)
    result = run(pyrsync_argv("-aH", "--delete", "--no-W", "--stats", tree.slash, dest), check=True)
    assert parse_stats(result.stdout)["Number of regular files transferred"] == 0


def test_filters_and_delete_excluded(
    real_daemon: RealDaemonFactory, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    tree = tree_factory()
    daemon = real_daemon({"src": tree.root})
    dest = tmp_path / "dest"
    flags = ["-a", "--exclude=*.bin", "--include=keep/", "--exclude=/names", "-f", "- ?.txt"]
    run(pyrsync_argv(*flags, daemon.url("src"), dest), check=True)
    assert not list(dest.rglob("*.bin"))
    assert not (dest / "names").exists()
    assert (dest / "text" / "lorem.txt").exists()
    # excluded files in the destination are protected from --delete ...
    (dest / "local.bin").write_bytes(b"mine")
    run(pyrsync_argv(*flags, "--delete", daemon.url("src"), dest), check=True)
    assert (dest / "local.bin").exists()
    # ... unless --delete-excluded
    run(pyrsync_argv(*flags, "--delete-excluded", daemon.url("src"), dest), check=True)
    assert not (dest / "local.bin").exists()
    assert_trees_equal(tree, dest, exclude=("*.bin", "names", "sizes/*.bin"), owners=ROOT)


def test_dry_run_changes_nothing(
    real_daemon: RealDaemonFactory, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    from harness.compare import scan

    tree = tree_factory()
    daemon = real_daemon({"src": tree.root})
    dest = tmp_path / "dest"
    run(pyrsync_argv("-an", daemon.url("src"), dest), check=True)
    assert not dest.exists()
    run(pyrsync_argv("-a", daemon.url("src"), dest), check=True)
    (dest / "extra").write_text("x")
    update_tree(tree)
    before = {k: (v.st_mode, v.st_size, v.st_mtime_ns) for k, v in scan(dest).items()}
    result = run(pyrsync_argv("-ain", "--delete", daemon.url("src"), dest), check=True)
    after = {k: (v.st_mode, v.st_size, v.st_mtime_ns) for k, v in scan(dest).items()}
    assert before == after
    assert "*deleting   extra" in result.stdout


def test_files_from(
    real_daemon: RealDaemonFactory, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    tree = tree_factory(odd_names=False)
    daemon = real_daemon({"src": tree.root})
    listing = tmp_path / "list"
    listing.write_text("nested/top.txt\nmodes/0755.sh\n")
    dest = tmp_path / "dest"
    run(pyrsync_argv("-a", f"--files-from={listing}", daemon.url("src"), dest), check=True)
    assert (dest / "nested" / "top.txt").read_bytes() == (tree / "nested" / "top.txt").read_bytes()
    assert (dest / "modes" / "0755.sh").exists()
    assert not (dest / "text").exists()


def test_python_api(
    real_daemon: RealDaemonFactory, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    from rsync_client import SyncError, sync

    tree = tree_factory()
    daemon = real_daemon({"src": tree.root})
    dest = tmp_path / "dest"
    stats = sync(daemon.url("src"), str(dest), archive=True, hard_links=True)
    assert stats.transferred_files > 10
    assert_copied(tree, dest)
    update_tree(tree)
    stats = sync(daemon.url("src"), str(dest), archive=True, hard_links=True, delete=True)
    assert stats.matched_data > 1_000_000
    assert stats.deleted_files >= 3
    with pytest.raises(SyncError) as info:
        sync(daemon.url("nosuch"), str(dest), archive=True)
    assert info.value.code == 5


def _temp_has_data(directory: Path, prefix: str) -> bool:
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith(prefix):
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_size > 0:
                        return True
    return False


@pytest.mark.parametrize(
    ("signum", "partial"), [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGTERM, True)]
)
def test_interrupted_transfer(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    signum: int,
    partial: bool,
) -> None:
    """Ctrl-C or SIGTERM mid-file: exit 20, no temporary file, no half file under its name
    (unless --partial keeps what arrived)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(3 << 20))
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "big.bin").write_bytes(b"old complete version\n")
    shim = rsh_shim_factory([real_rsync.path, "--bwlimit=1000"], name="slow-rsync")
    argv = pyrsync_argv(
        "-a",
        *(["--partial"] if partial else []),
        "-e",
        str(shim),
        f"host:{src}/",
        tmp_path / "dest",
    )
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        # Signal once data has arrived (a non-empty temporary file), however slow the start.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if _temp_has_data(tmp_path / "dest", ".big.bin."):
                break
            time.sleep(0.05)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 20, err
    names = sorted(p.name for p in (tmp_path / "dest").iterdir())
    assert names == ["big.bin"], names
    kept = (tmp_path / "dest" / "big.bin").read_bytes()
    if partial:
        assert 0 < len(kept) < 3 << 20
        assert kept == (src / "big.bin").read_bytes()[: len(kept)]
    else:
        assert kept == b"old complete version\n"
