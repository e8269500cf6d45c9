"""``-s``/``--secluded-args`` on the client: the paths never meet the remote shell.

Over a remote shell (a shim that runs the command through ``/bin/sh -c``, as sshd does)
the command line carries only ``--server``, ``--sender`` and the option letters; the
rest follows on the pipe, NUL-separated, before the version exchange. To a daemon the
first argument list stops at the same place and the rest follows as a second list. Names
with spaces, ``*`` and ``$`` arrive as typed. Ours and rsync run the same commands
against rsync's server (and ours against ours); the trees must be equal.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.compare import assert_trees_equal
from harness.proc import run
from harness.shim import shim_log

if TYPE_CHECKING:
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

T = 1_600_000_000
NAMES = ["a b", "c*d", "$HOME", "q'uote", "semi;colon"]


def _source(base: Path) -> Path:
    src = base / "sp dir"
    (src / "sub dir").mkdir(parents=True)
    for i, name in enumerate(NAMES):
        (src / name).write_text(f"{i}\n")
        (src / "sub dir" / name).write_text(f"sub {i}\n")
    for path in (*src.rglob("*"), src):
        os.utime(path, (T, T))
    return src


@pytest.mark.parametrize("server", ["rsync", "ours"])
@pytest.mark.parametrize("direction", ["pull", "push"])
@pytest.mark.parametrize("protocol", [32, 30, 29])
def test_secluded_args_over_a_remote_shell(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    server: str,
    direction: str,
    protocol: int,
) -> None:
    import sys

    shim = (
        rsh_shim_factory()
        if server == "rsync"
        else rsh_shim_factory([sys.executable, "-m", "rsync_daemon"])
    )
    src = _source(tmp_path)
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / f"to {who}"
        if direction == "pull":
            where = [f"host:{src}/a b", f"host:{src}/sub dir", f"{dest}/"]
        else:
            dest.mkdir()
            where = [f"{src}/a b", f"{src}/sub dir", f"host:{dest}/"]
        code, _out, err = run(
            [*argv, "-as", f"--protocol={protocol}", "-e", shim, *where], timeout=60
        )
        assert code == 0, (who, err)
    assert sorted(os.listdir(tmp_path / "to ours")) == ["a b", "sub dir"]
    assert_trees_equal(tmp_path / "to ours", tmp_path / "to theirs", times=True, perms=True)
    commands = shim_log(shim).read_text().splitlines()
    # the paths were not on any command line
    assert all("sub dir" not in line for line in commands), commands
    assert all(" -s" in line for line in commands), commands


@pytest.mark.parametrize("daemon", ["rsync", "ours"])
@pytest.mark.parametrize("direction", ["pull", "push"])
@pytest.mark.parametrize("protocol", [32, 29])
def test_secluded_args_to_a_daemon(
    real_rsync: RealRsync, tmp_path: Path, daemon: str, direction: str, protocol: int
) -> None:
    import sys

    src = _source(tmp_path)
    conf = tmp_path / "rsyncd.conf"
    conf.write_text(
        f"use chroot = no\nuid = {os.getuid()}\ngid = {os.getgid()}\n"
        f"[mod]\npath = {tmp_path}\nread only = no\n"
    )
    program = str(real_rsync.path) if daemon == "rsync" else f"{sys.executable} -m rsync_daemon"
    env = dict(os.environ, RSYNC_CONNECT_PROG=f"{program} --config={conf} --daemon")
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        if direction == "pull":
            dest = tmp_path / f"to {who}"
            where = ["rsync://localhost/mod/sp dir/a b", "rsync://localhost/mod/sp dir/sub dir"]
            where.append(f"{dest}/")
        else:
            dest = tmp_path / f"up {who}"
            where = [f"{src}/a b", f"{src}/sub dir", f"rsync://localhost/mod/up {who}/"]
        code, _out, err = run([*argv, "-as", f"--protocol={protocol}", *where], env=env, timeout=60)
        assert code == 0, (who, err)
    prefix = "to" if direction == "pull" else "up"
    assert sorted(os.listdir(tmp_path / f"{prefix} ours")) == ["a b", "sub dir"]
    assert_trees_equal(
        tmp_path / f"{prefix} ours", tmp_path / f"{prefix} theirs", times=True, perms=True
    )


def test_rsync_protect_args_in_the_environment(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    """``RSYNC_PROTECT_ARGS=1`` turns it on, as rsync reads it; ``--no-s`` off again."""
    shim = rsh_shim_factory()
    src = _source(tmp_path)
    env = dict(os.environ, RSYNC_PROTECT_ARGS="1")
    code, _out, err = run(
        [*pyrsync_argv(), "-a", "-e", shim, f"host:{src}/a b", f"{tmp_path}/d/"], env=env
    )
    assert code == 0, err
    assert (tmp_path / "d" / "a b").read_text() == "0\n"
    code, _out, _err = run(
        [*pyrsync_argv(), "-a", "--no-s", "-e", shim, f"host:{src}/a b", f"{tmp_path}/e/"], env=env
    )
    log = shim_log(shim).read_text().splitlines()
    assert " -s" in log[0]
    assert " -s" not in log[1]
