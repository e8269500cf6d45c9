from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import pytest

from rsync_daemon.config import DaemonConfig, ModuleConfig
from rsync_daemon.supervisor import (
    SYSTEM_FILES,
    extra_read_only_paths,
    module_ids,
    per_module_users,
    serving_ids,
)

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("uid", "gid", "expected"),
    [
        (None, None, (65534, 65534)),
        (1000, None, (1000, 65534)),
        (1000, 100, (1000, 100)),
        (0, None, (None, None)),  # uid = root: stay root
        (0, 0, (None, None)),
    ],
)
def test_serving_ids(uid: int | None, gid: int | None, expected: tuple[int, int]) -> None:
    assert serving_ids(DaemonConfig(uid=uid, gid=gid)) == expected


def test_group_root_for_another_user_is_switched_to_per_connection() -> None:
    cfg = DaemonConfig(uid=1000, gid=0, modules={"m": ModuleConfig(name="m", path="/m")})
    assert serving_ids(cfg) == (None, None)
    assert per_module_users(cfg)


def test_one_user_for_every_module_is_the_daemon_s() -> None:
    mods = {n: ModuleConfig(name=n, path="/m", uid=7, gid=8, groups=[8]) for n in "ab"}
    cfg = DaemonConfig(uid=0, gid=0, modules=mods)
    assert serving_ids(cfg) == (7, 8)
    assert not per_module_users(cfg)


def test_modules_with_their_own_users_keep_root_until_a_module_is_named() -> None:
    mods = {
        "a": ModuleConfig(name="a", path="/a", uid=7),
        "b": ModuleConfig(name="b", path="/b"),
        "c": ModuleConfig(name="c", path="/c", uid=0, gid=5, groups=[5, 6]),
    }
    cfg = DaemonConfig(gid=9, modules=mods)
    assert serving_ids(cfg) == (None, None)
    assert per_module_users(cfg)
    assert module_ids(cfg, mods["a"]) == (7, 9, (9,))
    assert module_ids(cfg, mods["b"]) == (65534, 9, (9,))
    assert module_ids(cfg, mods["c"]) == (0, 5, (5, 6))


def test_root_everywhere_is_not_a_switch() -> None:
    cfg = DaemonConfig(uid=0, gid=0, modules={"m": ModuleConfig(name="m", path="/m")})
    assert serving_ids(cfg) == (None, None)
    assert not per_module_users(cfg)


def test_extra_paths_leave_out_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under ``python -m`` sys.path[0] is the directory the daemon started in."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), "/", *sys.path])
    motd = tmp_path / "motd"
    config = DaemonConfig(
        motd_file=str(motd), modules={"m": ModuleConfig(name="m", path=str(tmp_path))}
    )
    paths = extra_read_only_paths(config)
    assert str(tmp_path) not in paths
    assert "/" not in paths
    assert os.path.normpath(sys.base_prefix) in paths
    assert set(SYSTEM_FILES) <= set(paths)
    assert str(motd) not in paths  # read before confinement instead (open_daemon_files)
