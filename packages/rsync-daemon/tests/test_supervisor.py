from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import pytest

from rsync_daemon.config import DaemonConfig, ModuleConfig
from rsync_daemon.errors import ConfigError
from rsync_daemon.supervisor import SYSTEM_FILES, extra_read_only_paths, serving_ids

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


def test_serving_ids_refuses_group_root_for_another_user() -> None:
    with pytest.raises(ConfigError, match="gid 0 with uid 1000"):
        serving_ids(DaemonConfig(uid=1000, gid=0))


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
