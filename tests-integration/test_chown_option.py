"""--chown, --usermap, --groupmap, --super/--no-super: owners as rsync sets them.

The receiver maps the sender's ids (by number, range, name or name pattern; the first
rule wins), whether it is our client (a pull, a local copy) or our server (a push from
real rsync to ``pyrsync --server``). Each scenario runs with ours and with rsync in the
same seat from the same source; the owners in the two destinations must be equal.
``--no-super`` makes root receive as a normal user (no owners set). Maps rsync rejects
give rsync's messages and exit code 1; an unknown target name only a message.

Needs root (to give files owners).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import mask_error_location, pyrsync_argv
from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(os.geteuid() != 0, reason="giving files owners needs root"),
]

MAPS = [
    ["--chown=5555:5556"],
    ["--chown=:5556"],
    ["--chown=4444"],
    ["--usermap=5000:7,0-10:8,*:9"],
    ["--groupmap=5002-5003:11,root:12"],
    ["--numeric-ids", "--groupmap=*:13"],
    ["--usermap=[r]oo*:14", "--groupmap=5003:15"],
    ["--no-super"],
    ["--super"],
]


def _source(base: Path) -> Path:
    src = base / "src"
    (src / "d").mkdir(parents=True)
    for name, uid, gid in (("a", 5000, 5002), ("b", 0, 0), ("d/c", 5001, 5003), ("d", 3, 4)):
        path = src / name
        if not path.exists():
            path.write_text(name + "\n")
        os.chown(path, uid, gid)
    return src


def _owners(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_uid, st.st_gid)
    return out


@pytest.mark.parametrize("args", MAPS, ids=" ".join)
@pytest.mark.parametrize("mode", ["local", "pull", "push-to-ours"])
def test_owners_are_rsyncs(
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    mode: str,
    args: list[str],
) -> None:
    src = _source(tmp_path)
    ours_server = rsh_shim_factory([sys.executable, "-m", "rsync_client"], name="ours")
    rsync_server = rsh_shim_factory(name="theirs")
    url = real_daemon([DaemonModule("src", src)]).url("src") + "/" if mode == "pull" else ""
    for who in ("ours", "theirs"):
        dest = tmp_path / who
        if mode == "push-to-ours":  # real rsync's client, the server ours or rsync's
            shim = ours_server if who == "ours" else rsync_server
            argv = [*real_rsync.argv(), "-e", str(shim), f"{src}/", f"host:{dest}/"]
        else:
            client = pyrsync_argv() if who == "ours" else real_rsync.argv()
            argv = [*client, url or f"{src}/", f"{dest}/"]
        code, _out, err = run([*argv[:-2], "-a", *args, *argv[-2:]], timeout=60)
        assert code == 0, (who, err)
    assert _owners(tmp_path / "ours") == _owners(tmp_path / "theirs")


@pytest.mark.parametrize(
    "args",
    [
        ["--usermap=x"],
        ["--groupmap=5:"],
        ["--usermap=1-2-3:0"],
        ["--usermap=5x:0"],
        ["--usermap=99999999999:0"],
        ["--chown=1", "--usermap=2:3"],
        ["--usermap=2:3", "--chown=1"],
        ["--groupmap=2:3", "--groupmap=3:4"],
        ["--chown=:1", "--chown=:2"],
    ],
    ids=" ".join,
)
def test_bad_maps_are_refused_as_rsync_refuses_them(
    real_rsync: RealRsync, tmp_path: Path, args: list[str]
) -> None:
    src = _source(tmp_path)
    results = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        code, _out, err = run([*argv, "-a", *args, f"{src}/", f"{tmp_path / who}/"])
        results.append((code, mask_error_location(err).splitlines()[0]))
    assert results[0] == results[1]
    assert results[0][0] == 1


def test_an_unknown_target_name_is_only_a_message(real_rsync: RealRsync, tmp_path: Path) -> None:
    src = _source(tmp_path)
    results = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        code, _out, err = run(
            [*argv, "-a", "--usermap=5000:no-such-user-here", f"{src}/", f"{dest}/"]
        )
        results.append((code, err.strip()))
    assert results[0] == results[1] == (0, "Unknown --usermap name on receiver: no-such-user-here")
    assert _owners(tmp_path / "ours") == _owners(tmp_path / "theirs")
