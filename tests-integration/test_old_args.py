"""``--old-args`` (and ``RSYNC_OLD_ARGS``): remote names go to the remote shell unescaped.

``host:"one two"`` then names two files, split again by the remote shell, as before rsync
3.2.4; twice, the options are not escaped either. It conflicts with ``-s``. Ours and
rsync run the same commands through a shim that hands the command to ``/bin/sh -c``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("how", ["option", "twice", "env"])
def test_old_args_split_remote_names(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path, how: str
) -> None:
    shim = rsh_shim_factory()
    src = tmp_path / "src"
    src.mkdir()
    for name in ("one", "two", "one two"):
        (src / name).write_text(name)
    results = []
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dest = tmp_path / who
        dest.mkdir()
        extra = {"option": ["--old-args"], "twice": ["--old-args", "--old-args"], "env": []}[how]
        env = dict(os.environ, RSYNC_OLD_ARGS="1") if how == "env" else None
        code, out, err = run(
            [*argv, "-ai", *extra, "-e", shim, "host:one two", f"{dest}/"], cwd=src, env=env
        )
        results.append((code, out, err, sorted(os.listdir(dest))))
    assert results[0] == results[1]
    assert results[0][3] == ["one", "two"]


def test_without_old_args_the_name_stays_whole(
    rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    shim = rsh_shim_factory()
    src = tmp_path / "src"
    src.mkdir()
    for name in ("one", "two", "one two"):
        (src / name).write_text(name)
    code, _out, err = run(
        [*pyrsync_argv(), "-a", "-e", shim, "host:one two", f"{tmp_path}/d/"], cwd=src
    )
    assert code == 0, err
    assert os.listdir(tmp_path / "d") == ["one two"]


def test_old_args_conflicts_with_secluded_args(real_rsync: RealRsync, tmp_path: Path) -> None:
    results = []
    for argv in (pyrsync_argv(), real_rsync.argv()):
        code, out, err = run([*argv, "-s", "--old-args", "host:x", f"{tmp_path}/"])
        results.append((code, out, err.splitlines()[0]))
    assert results[0] == results[1]
    assert results[0][0] == 1
