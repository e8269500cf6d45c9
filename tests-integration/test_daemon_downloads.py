"""Real rsync clients downloading from pyrsyncd, compared with rsync's own daemon.

Every scenario runs the real rsync 3.5 client against pyrsyncd and checks the copy against
the source with everything the protocol version carries; most also run against
``rsync --daemon`` on the same tree and require the client's itemized output to be the same
(which means the file lists agree entry for entry).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import pytest

from harness.compare import assert_trees_equal
from harness.proc import run
from harness.stats import parse_stats
from harness.tools import case_protocols
from harness.trees import HUGE_SPARSE, update_tree

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync
    from harness.trees import TreeFactory

pytestmark = pytest.mark.interop

ROOT = os.geteuid() == 0
PROTOCOLS = [27, 28, 29, 30, 31, 32]
OPTION_SETS = {
    "a": ["-a"],
    "aH": ["-aH"],
    "az": ["-az"],
    "ac": ["-ac"],
    "delete": ["-a", "--delete"],
    "filters": ["-a", "--exclude=*.bin", "--include=keep/", "--exclude=/names", "-f", "- ?.txt"],
}


def _itemized(out: str) -> list[str]:
    """The itemize lines of ``rsync -i`` output, sorted (directory times vary in order)."""
    return sorted(line for line in out.splitlines() if re.match(r"^[<>ch.*][fdLDS]", line))


def _pull(rsync: RealRsync, url: str, dest: Path, *args: str) -> tuple[int, str, str]:
    code, out, err = run(rsync.argv(*args, url, str(dest)), timeout=120)
    return code, out, err


def _compare(src: Path, dest: Path, *, protocol: int, flags: list[str]) -> None:
    __tracebackhide__ = True
    exclude: list[str] = [HUGE_SPARSE]
    if protocol < 30:
        # 32-bit mtimes: these two cannot travel (compared with rsync's own result instead)
        exclude += ["times/post-2106.txt", "times/pre-1970.txt"]
    hardlinks = "-aH" in flags
    if "--exclude=*.bin" in flags:
        return  # checked against rsync's own result instead
    assert_trees_equal(
        src,
        dest,
        owners=ROOT,
        hardlinks=hardlinks,
        symlink_times=True,
        dir_times=True,
        time_precision_ns=1 if protocol >= 31 else 10**9,
        exclude=exclude,
    )


@pytest.mark.parametrize(
    ("option_set", "protocol"),
    case_protocols(OPTION_SETS, PROTOCOLS),
)
def test_download_matches_rsync_daemon(
    real_rsync: RealRsync,
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    tree_factory: TreeFactory,
    tmp_path: Path,
    protocol: int,
    option_set: str,
) -> None:
    tree = tree_factory()
    ours = our_daemon({"src": tree.root})
    theirs = real_daemon({"src": tree.root})
    flags = [*OPTION_SETS[option_set], f"--protocol={protocol}", "-i", "--exclude=" + HUGE_SPARSE]
    dest_ours, dest_theirs = tmp_path / "ours", tmp_path / "theirs"
    if option_set == "delete":
        for d in (dest_ours, dest_theirs):
            (d / "stale/dir").mkdir(parents=True)
            (d / "stale/dir/file").write_text("old")
            (d / "extra.txt").write_text("old")
    for step in ("initial", "updated"):
        if step == "updated":
            update_tree(tree.root)  # then the same pull again: deltas, deletions, new files
        code, out, err = _pull(real_rsync, ours.url("src"), dest_ours, *flags)
        assert code == 0, f"{step}: {err}\n{ours.log()}"
        code2, out2, err2 = _pull(real_rsync, theirs.url("src"), dest_theirs, *flags)
        assert code2 == 0, f"{step}: {err2}"
        if step == "initial" or "--delete" in flags:
            _compare(tree.root, dest_ours, protocol=protocol, flags=flags)
        assert _itemized(out) == _itemized(out2), step
        assert_trees_equal(
            dest_theirs,
            dest_ours,
            owners=ROOT,
            hardlinks=True,
            symlink_times=True,
            dir_times=True,
            time_precision_ns=1,
        )


@pytest.mark.parametrize(
    ("compress", "protocol"),
    [("", p) for p in PROTOCOLS]
    + case_protocols(["-z", "--zc=zlibx", "--zc=lz4", "--zc=zstd"], PROTOCOLS),
)
def test_delta_update_matches_blocks(
    real_rsync: RealRsync,
    our_daemon: RealDaemonFactory,
    tree_factory: TreeFactory,
    tmp_path: Path,
    protocol: int,
    compress: str,
) -> None:
    """After an update, rsync's --stats shows matched data: our block search agrees with rsync."""
    tree = tree_factory(odd_names=False, specials=False, devices=False)
    ours = our_daemon({"src": tree.root})
    dest = tmp_path / "dest"
    base = ["-a", f"--protocol={protocol}", "--exclude=" + HUGE_SPARSE]
    if compress:
        base.append(compress)
    code, _, err = _pull(real_rsync, ours.url("src"), dest, *base)
    assert code == 0, err
    update_tree(tree.root)
    code, out, err = _pull(
        real_rsync, ours.url("src"), dest, *base, "--stats", "--no-W", "--delete"
    )
    assert code == 0, f"{err}\n{ours.log()}"
    stats = parse_stats(out)
    assert stats["Matched data"] > 1_000_000, out
    assert stats["Literal data"] < 300_000, out
    _compare(tree.root, dest, protocol=protocol, flags=base)


@pytest.mark.slow
def test_huge_sparse_file(
    real_rsync: RealRsync, our_daemon: RealDaemonFactory, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    """A sparse file above 4 GiB: 64-bit lengths at every layer."""
    tree = tree_factory(huge_sparse=True, odd_names=False)
    ours = our_daemon({"src": tree.root})
    dest = tmp_path / "dest"
    code, _, err = _pull(real_rsync, ours.url("src", "sparse/"), dest, "-aS")
    assert code == 0, err
    assert_trees_equal(tree.root / "sparse", dest)


@pytest.mark.parametrize("protocol", [29, 31, 32])
@pytest.mark.parametrize(
    "flags",
    [
        ["-aF"],
        ["-a", "--filter=: .rsync-filter", "--exclude=*.tmp"],
        ["-a", "-C"],
        ["-r", "--exclude=deep/"],
    ],
    ids=["F", "dir-merge", "cvs", "exclude-dir"],
)
def test_deep_tree_with_merge_rules(
    real_rsync: RealRsync,
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    tmp_path: Path,
    protocol: int,
    flags: list[str],
) -> None:
    """Per-directory merge files at several depths, many small directories (sub-lists)."""
    src = tmp_path / "src"
    for d in range(30):
        sub = src / f"d{d:02}" / "mid" / ("deep" if d % 3 == 0 else "leaf")
        sub.mkdir(parents=True)
        for f in ("a.txt", "b.tmp", "core", "x.o", "keep.c"):
            (sub / f).write_text(f"{d} {f}\n")
        if d % 4 == 0:
            (src / f"d{d:02}" / ".rsync-filter").write_text("- *.c\n")
        if d % 5 == 0:
            (sub / ".rsync-filter").write_text("- a.txt\n+ *.tmp\n")
    (src / ".rsync-filter").write_text("- x.o\n")
    (src / "top.tmp").write_text("top\n")
    ours = our_daemon({"src": src})
    theirs = real_daemon({"src": src})
    args = [*flags, f"--protocol={protocol}", "-i"]
    code, out, err = _pull(real_rsync, ours.url("src"), tmp_path / "ours", *args)
    assert code == 0, f"{err}\n{ours.log()}"
    code2, out2, err2 = _pull(real_rsync, theirs.url("src"), tmp_path / "theirs", *args)
    assert code2 == 0, err2
    assert _itemized(out) == _itemized(out2)
    archive = any(f.startswith("-a") for f in flags)  # without -t, times are the copy's own
    assert_trees_equal(
        tmp_path / "theirs", tmp_path / "ours", times=archive, perms=archive, dir_times=archive
    )
