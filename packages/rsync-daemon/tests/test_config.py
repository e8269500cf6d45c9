"""Configuration: flags, TOML and rsyncd.conf, and the one-line errors that name file and line."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from rsync_daemon.acl import host_allowed
from rsync_daemon.auth import lookup_secret
from rsync_daemon.config import (
    load_config,
    load_rsyncd_conf,
    load_toml,
    parse_listen,
    parse_module_flag,
)
from rsync_daemon.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path


def test_listen_forms() -> None:
    assert parse_listen("127.0.0.1:8730") == ("127.0.0.1", 8730)
    assert parse_listen("[::1]:873") == ("::1", 873)
    assert parse_listen(":0") == ("0.0.0.0", 0)  # noqa: S104 - what rsync binds by default
    with pytest.raises(ConfigError, match="out of range"):
        parse_listen("h:70000")


def test_module_flag(tmp_path: Path) -> None:
    mod = parse_module_flag(f"pub={tmp_path}")
    assert (mod.name, mod.path, mod.read_only) == ("pub", str(tmp_path), True)
    for bad in ("pub", "=x", "a/b=/x", "#x=/y"):
        with pytest.raises(ConfigError):
            parse_module_flag(bad)


def test_toml(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    cfg = tmp_path / "d.toml"
    cfg.write_text(
        'listen = ["127.0.0.1:8730", "[::1]:8731"]\n'
        "timeout = 30\n"
        "[modules.pub]\n"
        'path = "data"\n'
        'comment = "public files"\n'
        "list = false\n"
        "timeout = 300\n"
    )
    conf = load_toml(cfg)
    assert conf.listen == [("127.0.0.1", 8730), ("::1", 8731)]
    assert conf.timeout == 30
    mod = conf.modules["pub"]
    assert (mod.path, mod.comment, mod.listed, mod.timeout) == (
        str(tmp_path / "data"),
        "public files",
        False,
        300,
    )


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("[modules.pub]\npath = 3\n", r"d\.toml:1: module 'pub': 'path' expects str"),
        ("[modules.pub]\ncomment = 'x'\n", "has no 'path'"),
        ("listen = 5\n", r"d\.toml:1: 'listen' expects"),
        ("bogus = 1\n", r"d\.toml:1: unknown key 'bogus'"),
        ("[modules.pub\n", r"d\.toml: .*line 1"),
        ("[modules.pub]\npath='x'\nlist='yes'\n", "'list' expects bool"),
    ],
)
def test_toml_errors_name_file_and_line(tmp_path: Path, text: str, expect: str) -> None:
    cfg = tmp_path / "d.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=expect):
        load_toml(cfg)


def test_rsyncd_conf(tmp_path: Path) -> None:
    cfg = tmp_path / "rsyncd.conf"
    cfg.write_text(
        "# comment\n"
        "port = 8730\n"
        "address = 127.0.0.1\n"
        "use chroot = no\n"
        "read only = yes\n"
        "[pub]\n"
        f"    path = {tmp_path}\n"
        "    comment = public \\\n"
        "      files\n"
        "    exclude = *.tmp secret/\n"
        "    list = no\n"
        "[rw]\n"
        f"    path = {tmp_path}\n"
        "    read only = false\n"
    )
    conf = load_config(cfg)
    assert conf.listen == [("127.0.0.1", 8730)]
    assert conf.modules["pub"].exclude == ["*.tmp", "secret/"]
    assert conf.modules["pub"].comment == "public files"
    assert conf.modules["pub"].listed is False
    assert conf.modules["rw"].read_only is False


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("[pub]\npath = /x\nfrobnicate = 1\n", r"rsyncd\.conf:3: unknown parameter 'frobnicate'"),
        ("[pub]\nlist = maybe\npath=/x\n", r"rsyncd\.conf:2: 'list' expects yes or no"),
        ("[pub\n", r"rsyncd\.conf:1: expected \[module\]"),
        ("[pub]\ncomment = x\n", r"rsyncd\.conf:1: module \[pub\] has no 'path'"),
        ("just words\n", r"rsyncd\.conf:1: expected 'parameter = value'"),
    ],
)
def test_rsyncd_conf_errors(tmp_path: Path, text: str, expect: str) -> None:
    cfg = tmp_path / "rsyncd.conf"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=expect):
        load_rsyncd_conf(cfg)


def test_cli_reports_a_bad_config_in_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[modules.pub]\npath = 3\n")
    proc = subprocess.run(
        [sys.executable, "-m", "rsync_daemon", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"pyrsyncd: {cfg}:1:")
    proc = subprocess.run(
        [sys.executable, "-m", "rsync_daemon", "--module", "pub=/no/such/dir"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "is not a directory" in proc.stderr


def test_hosts_allow_and_deny() -> None:
    assert host_allowed("10.1.2.3", None, ["10.0.0.0/8"], [])
    assert not host_allowed("192.168.1.1", None, ["10.0.0.0/8"], [])
    assert not host_allowed("192.168.1.1", None, [], ["192.168.*"])
    assert host_allowed("127.0.0.1", None, ["127.0.0.1"], ["*"])
    assert host_allowed("1.2.3.4", None, [], [])


def test_secrets(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.write_text("alice:s3cret\n#bob:nope\n")
    secrets.chmod(0o600)
    assert lookup_secret(str(secrets), "alice", ["alice"]) == b"s3cret"
    assert lookup_secret(str(secrets), "bob", ["alice", "bob"]) is None
    assert lookup_secret(str(secrets), "alice", ["alice:deny"]) is None
    secrets.chmod(0o644)  # readable by others: refused, as rsync's strict modes do
    assert lookup_secret(str(secrets), "alice", ["alice"]) is None
