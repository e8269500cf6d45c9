"""The secrets file is read for each login, as rsync's daemon reads it, against real rsync.

A password changed in the file, or a mode that ``strict modes`` refuses, takes effect for
the next login without a restart. pyrsyncd's helper process (started before confinement)
reads the file for each login; the copy read at start-up is only the fallback.
"""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

import pytest

from harness.confd import ConfDaemons
from harness.daemon import LOOPBACK

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


@pytest.fixture
def daemons(
    real_rsync: RealRsync, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConfDaemons]:
    started = ConfDaemons(real_rsync, tmp_path_factory.mktemp("secrets"))
    yield started
    started.stop_all()


@pytest.mark.parametrize("daemon", ["ours", "rsync"])
def test_password_and_mode_changes_apply_to_the_next_login(
    daemons: ConfDaemons, real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    module = tmp_path / "mod"
    module.mkdir()
    (module / "f").write_text("f\n")
    secrets = tmp_path / "secrets"
    secrets.write_text("user:first\n")
    os.chmod(secrets, 0o600)
    port = daemons.start(
        daemon, f"[m]\npath = {module}\nauth users = user\nsecrets file = {secrets}\n"
    )

    def login(password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            real_rsync.argv("--list-only", f"rsync://user@{LOOPBACK}:{port}/m/"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "RSYNC_PASSWORD": password},
        )

    assert login("first").returncode == 0
    secrets.write_text("user:second\n")
    old = login("first")
    assert old.returncode == 5
    assert "@ERROR: auth failed on module m" in old.stderr
    assert login("second").returncode == 0
    os.chmod(secrets, 0o644)
    refused = login("second")
    assert refused.returncode == 5
    assert "@ERROR: auth failed on module m" in refused.stderr
