"""``--protocol=N`` in a local copy: both of our roles speak N, as rsync's two processes do.

rsync's local copy forks a server and the two negotiate like any pair (rsync: main.c
local_server, compat.c setup_protocol()): ``--protocol=29`` means no incremental
recursion ("building file list" rather than "sending incremental file list"), protocol
29's file list and transfer, and compat.c's refusals of what a protocol below 29 cannot
carry. -A and -X still travel below 30 there (``local_server`` exempts them). Each case
runs rsync 3.5 and pyrsync with the same arguments into the same place and compares.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest

from harness.client import normalize_output, pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

MTIME = 1_300_000_000
LONG = b"L" * 100  # over 32 bytes: sent as a digest, the receiver asks for the value


def _source(root: Path) -> Path:
    (root / "d" / "e").mkdir(parents=True)
    (root / "a").write_bytes(b"a\n")
    (root / "d" / "b").write_bytes(b"bb\n")
    (root / "d" / "e" / "c").write_bytes(b"ccc\n")
    os.setxattr(root / "a", "user.long", LONG)
    os.setxattr(root / "a", "user.short", b"s")
    os.setxattr(root / "d", "user.dir", b"dv")
    os.setxattr(root / "d" / "b", "user.long", LONG + b"b")
    for dirpath, dirnames, filenames in os.walk(root, topdown=False):
        for name in [*dirnames, *filenames]:
            os.utime(os.path.join(dirpath, name), (MTIME, MTIME))
    os.utime(root, (MTIME, MTIME))
    return root


def _xattrs(root: Path) -> dict[str, dict[str, bytes]]:
    out: dict[str, dict[str, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = {
                n: os.getxattr(path, n) for n in os.listxattr(path) if n.startswith("user.")
            }
    return out


def _both(
    real_rsync: RealRsync, tmp_path: Path, *args: str
) -> dict[str, tuple[int, str, dict[str, dict[str, bytes]] | None]]:
    """Run rsync, then pyrsync, with ``args`` into ``tmp_path/dest`` from ``tmp_path``."""
    src = tmp_path / "src"
    if not src.exists():
        _source(src)
    results = {}
    for who in ("rsync", "ours"):
        argv = [*args, "src/", "dest/"]
        code, out, err = run(
            real_rsync.argv(*argv) if who == "rsync" else pyrsync_argv(*argv), cwd=tmp_path
        )
        dest = tmp_path / "dest"
        results[who] = (code, normalize_output(out + err), _xattrs(dest) if dest.exists() else None)
        if dest.exists():
            shutil.rmtree(dest)
    assert _xattrs(src)["a"]["user.long"] == LONG
    return results


@pytest.mark.timeout(120)
@pytest.mark.parametrize("proto", ["29", "31"])
def test_file_list_mode_follows_protocol(real_rsync: RealRsync, tmp_path: Path, proto: str) -> None:
    """Protocol 29 has no incremental recursion: rsync says so, and so must we."""
    results = _both(real_rsync, tmp_path, f"--protocol={proto}", "-rv")
    first = "building file list ... done" if proto == "29" else "sending incremental file list"
    assert results["rsync"][1].splitlines()[0] == first
    assert results["ours"][:2] == results["rsync"][:2]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("opts", ["-aXi", "-aAXHi", "-aXi --no-inc-recursive"])
def test_xattrs_at_protocol_29(real_rsync: RealRsync, tmp_path: Path, opts: str) -> None:
    """-X and -A below protocol 30 work in a local copy (rsync: compat.c, local_server)."""
    results = _both(real_rsync, tmp_path, "--protocol=29", *opts.split())
    assert results["rsync"][0] == 0, results["rsync"][1]
    assert results["ours"] == results["rsync"]
    assert results["ours"][2] == _xattrs(tmp_path / "src")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "opts",
    [
        "-rm",
        "-r --link-dest=/tmp/no1 --link-dest=/tmp/no2",
        "-r --copy-dest=/tmp/no1 --inplace",
        "-r --fuzzy",
    ],
)
def test_refused_below_29(real_rsync: RealRsync, tmp_path: Path, opts: str) -> None:
    """What protocol 28 cannot carry is refused with rsync's words, exit 2, nothing copied.

    rsync prints the refusal once per process (its sender and its receiver); we have one.
    """
    results = _both(real_rsync, tmp_path, "--protocol=28", *opts.split())
    assert results["rsync"][0] == results["ours"][0] == 2
    assert results["rsync"][2] is results["ours"][2] is None
    lines = set(results["rsync"][1].splitlines())
    ours = results["ours"][1].splitlines()
    assert ours[0] in lines
    assert "requires protocol 29 or higher (negotiated 28)." in ours[0]
    accepted = _both(real_rsync, tmp_path, "--protocol=29", *opts.split())
    assert accepted["ours"][0] == accepted["rsync"][0] == 0


@pytest.mark.timeout(120)
def test_pull_below_29_logs_missing_data(
    real_rsync: RealRsync, rsh_shim: Path, tmp_path: Path
) -> None:
    """Below 29 no iflags travel: a received file is itemized ``>f?????????``, as rsync's.

    rsync: rsync.c read_ndx_and_attrs() (ITEM_TRANSFER | ITEM_MISSING_DATA).
    """
    _source(tmp_path / "src")
    outs = {}
    for who in ("rsync", "ours"):
        argv = ["--protocol=28", "-ai", "-e", rsh_shim, "--rsync-path", real_rsync.path]
        argv += [f"localhost:{tmp_path}/src/", "dest/"]
        code, out, err = run(
            real_rsync.argv(*argv) if who == "rsync" else pyrsync_argv(*argv), cwd=tmp_path
        )
        assert (code, err) == (0, ""), who
        outs[who] = out
        shutil.rmtree(tmp_path / "dest")
    assert ">f????????? d/b" in outs["rsync"].splitlines()
    assert outs["ours"] == outs["rsync"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("proto", "shown"), [("29", ".L..T...... l -> a"), ("31", ".L..t...... l -> a")]
)
def test_symlink_time_itemized(
    real_rsync: RealRsync, tmp_path: Path, proto: str, shown: str
) -> None:
    """Below 30 the sending side (which logs a local copy) cannot know that the receiver
    sets symlink times: a symlink's time change shows ``T`` (rsync: compat.c
    receiver_symlink_times)."""
    src = _source(tmp_path / "src")
    os.symlink("a", src / "l")
    os.utime(src / "l", (MTIME, MTIME), follow_symlinks=False)
    os.utime(src, (MTIME, MTIME))
    outs = {}
    for who in ("rsync", "ours"):
        prog = real_rsync.argv if who == "rsync" else pyrsync_argv
        code, _, err = run(prog(f"--protocol={proto}", "-rl", "src/", "dest/"), cwd=tmp_path)
        assert (code, err) == (0, ""), who
        code, out, err = run(prog(f"--protocol={proto}", "-irlt", "src/", "dest/"), cwd=tmp_path)
        assert (code, err) == (0, ""), who
        outs[who] = out
        shutil.rmtree(tmp_path / "dest")
    assert shown in outs["rsync"].splitlines()
    assert outs["ours"] == outs["rsync"]
