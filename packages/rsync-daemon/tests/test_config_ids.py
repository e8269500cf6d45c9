from __future__ import annotations

import grp
import pwd
from typing import TYPE_CHECKING

import pytest

from rsync_daemon.config import load_rsyncd_conf, load_toml, resolve_group, resolve_user
from rsync_daemon.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path


ROOT_NAME = pwd.getpwuid(0).pw_name
ROOT_GROUP = grp.getgrgid(0).gr_name


@pytest.mark.parametrize(
    ("value", "expected"), [("0", 0), (0, 0), ("65534", 65534), (ROOT_NAME, 0), (" 12 ", 12)]
)
def test_resolve_user(value: str | int, expected: int) -> None:
    assert resolve_user(value, where="x") == expected


def test_resolve_group_by_name() -> None:
    assert resolve_group(ROOT_GROUP, where="x") == 0


@pytest.mark.parametrize("value", ["no-such-user-pyrsyncd", -1, True])
def test_resolve_user_rejects(value: str | int) -> None:
    with pytest.raises(ConfigError, match=r"^x: .*uid"):
        resolve_user(value, where="x")


def _conf(tmp_path: Path, text: str) -> Path:
    (tmp_path / "m").mkdir(exist_ok=True)
    path = tmp_path / "rsyncd.conf"
    path.write_text(text)
    return path


def test_rsyncd_conf_global_uid_gid(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(_conf(tmp_path, "uid = 65534\ngid = 65534\n[m]\npath = m\n"))
    assert (cfg.uid, cfg.gid) == (65534, 65534)


def test_rsyncd_conf_defaults_to_none(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(_conf(tmp_path, "[m]\npath = m\n"))
    assert (cfg.uid, cfg.gid) == (None, None)


def test_rsyncd_conf_module_uid_is_the_module_s(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(_conf(tmp_path, "uid = 65534\n[m]\npath = m\n[n]\npath = m\nuid = 0\n"))
    assert cfg.uid == 65534
    assert (cfg.modules["m"].uid, cfg.modules["n"].uid) == (65534, 0)


def test_rsyncd_conf_module_without_uid_has_none(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(_conf(tmp_path, "[m]\npath = m\n[n]\npath = m\nuid = 1\n"))
    assert cfg.uid is None
    assert (cfg.modules["m"].uid, cfg.modules["n"].uid) == (None, 1)


def test_rsyncd_conf_unknown_user_fails_its_modules_only(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(
        _conf(tmp_path, "uid = nosuchuser-x\n[m]\npath = m\n[n]\npath = m\nuid = 0\n")
    )
    assert cfg.uid is None
    assert cfg.modules["m"].id_error == "invalid uid nosuchuser-x"
    assert cfg.modules["n"].id_error == ""
    assert any("rsyncd.conf:1: uid 'nosuchuser-x': no such user" in w for w in cfg.warnings)


def test_toml_keys(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    path = tmp_path / "d.toml"
    path.write_text(
        f'uid = "{ROOT_NAME}"\ngid = 65534\nsandbox = "landlock"\n'
        'anonssh_listen = "127.0.0.1:2222"\nanonssh_host_key = "keys/host"\n'
        'anonssh_authorized_keys = "/etc/ak"\n[modules.m]\npath = "m"\n'
    )
    cfg = load_toml(path)
    assert (cfg.uid, cfg.gid, cfg.sandbox) == (0, 65534, "landlock")
    assert cfg.anonssh_listen == [("127.0.0.1", 2222)]
    assert cfg.anonssh_host_key == str(tmp_path / "keys/host")
    assert cfg.anonssh_authorized_keys == "/etc/ak"


def test_toml_bad_sandbox(tmp_path: Path) -> None:
    path = tmp_path / "d.toml"
    path.write_text('sandbox = "chroot"\n')
    with pytest.raises(ConfigError, match=r"d.toml:1: 'sandbox' expects one of auto"):
        load_toml(path)
