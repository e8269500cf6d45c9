from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from rsync_daemon.anonssh import default_host_key_path, is_daemon_command, load_host_key

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("command", "allowed"),
    [
        ("rsync --server --daemon .", True),
        ("/usr/bin/rsync --server --daemon .", True),
        ("pyrsyncd --server --daemon .", True),
        ("'rsync' '--server' '--daemon' '.'", True),
        (None, False),  # a login shell
        ("", False),
        ("id", False),
        ("rsync --server --sender -vlogDtpre.iLsfxCIvu . /etc/", False),
        ("rsync --server --daemon . extra", False),
        ("rsync --server --daemon", False),
        ("rsync --daemon --server .", False),
        ("rsync --server --daemon .; id", False),
        ("rsync --server --daemon '.", False),  # does not even split
    ],
)
def test_is_daemon_command(command: str | None, allowed: bool) -> None:
    assert is_daemon_command(command) is allowed


def test_host_key_is_generated_once(tmp_path: Path) -> None:
    path = tmp_path / "state" / "key"
    first = load_host_key(str(path))
    assert (path.stat().st_mode & 0o777) == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert path.with_suffix(".pub").exists()
    again = load_host_key(str(path))
    assert again.export_public_key() == first.export_public_key()
    assert [p.name for p in path.parent.iterdir() if ".tmp" in p.name] == []


def test_default_host_key_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/x:/other")
    assert default_host_key_path() == "/var/lib/x/ssh_host_ed25519_key"
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("XDG_STATE_HOME", "/xdg")
    expected = (
        "/var/lib/pyrsyncd/ssh_host_ed25519_key"
        if os.geteuid() == 0
        else "/xdg/pyrsyncd/ssh_host_ed25519_key"
    )
    assert default_host_key_path() == expected
