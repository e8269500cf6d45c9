"""A module whose path is created after the daemon started, against the real rsync client.

rsync reads its configuration for each connection, so such a module is served as soon as
its path exists. pyrsyncd confines itself once, before the first connection: a missing
module path gets an empty mount point in its namespace, and the helper process started
before confinement binds the path there once a client asks for the module and the path
exists (checked through trusted symbolic links only). Run beside rsync's own daemon.
"""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING

import pytest

from harness.confd import ConfDaemons
from harness.daemon import LOOPBACK

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = [
    pytest.mark.interop,
    pytest.mark.privileged,
    pytest.mark.skipif(os.geteuid() != 0, reason="the mount namespace needs root"),
]


@pytest.fixture
def start_conf(
    real_rsync: RealRsync, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str, str], int]]:
    """``start_conf(...)`` starts a daemon on an rsyncd.conf on loopback; returns its port."""
    daemons = ConfDaemons(real_rsync, tmp_path_factory.mktemp("late"))
    yield lambda body, daemon: daemons.start(daemon, body, head=True)
    daemons.stop_all()


def _rsync(real_rsync: RealRsync, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        real_rsync.argv(*args), capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("daemon", ["ours", "rsync"])
def test_a_module_path_created_later_is_served(
    start_conf: Callable[[str, str], int], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    ro = tmp_path / "ro"
    rw = tmp_path / "rw"
    port = start_conf(f"[ro]\npath = {ro}\n[rw]\npath = {rw}\nread only = no\n", daemon)
    url = f"rsync://{LOOPBACK}:{port}"
    before = _rsync(real_rsync, "-r", f"{url}/ro/", f"{tmp_path / 'dst0'}/")
    assert before.returncode == 5
    assert "@ERROR: chdir failed" in before.stderr
    ro.mkdir()
    (ro / "f").write_text("late\n")
    pulled = _rsync(real_rsync, "-r", f"{url}/ro/", f"{tmp_path / 'dst'}/")
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "dst" / "f").read_text() == "late\n"
    again = _rsync(real_rsync, "-r", f"{url}/ro/", f"{tmp_path / 'dst2'}/")
    assert again.returncode == 0, again.stderr
    # still read-only: an upload is refused and writes nothing
    src = tmp_path / "src"
    src.mkdir()
    (src / "up").write_text("upload\n")
    refused = _rsync(real_rsync, "-r", f"{src}/", f"{url}/ro/")
    assert refused.returncode != 0
    assert "module is read only" in refused.stderr
    assert not (ro / "up").exists()
    # a writable one takes uploads once it exists
    rw.mkdir()
    pushed = _rsync(real_rsync, "-r", f"{src}/", f"{url}/rw/")
    assert pushed.returncode == 0, pushed.stderr
    assert (rw / "up").read_text() == "upload\n"


def test_a_late_path_through_another_users_symlink_stays_refused(
    start_conf: Callable[[str, str], int], real_rsync: RealRsync, tmp_path: Path
) -> None:
    """The late path is checked as at start-up: a symlink owned by another user is refused."""
    target = tmp_path / "target"
    target.mkdir()
    (target / "f").write_text("behind a planted link\n")
    link = tmp_path / "mod"
    port = start_conf(f"[m]\npath = {link}\n", "ours")
    link.symlink_to(target)
    os.lchown(link, 65534, 65534)
    url = f"rsync://{LOOPBACK}:{port}"
    proc = _rsync(real_rsync, "-r", f"{url}/m/", f"{tmp_path / 'dst'}/")
    assert proc.returncode == 5
    assert "@ERROR: chdir failed" in proc.stderr
    assert not (tmp_path / "dst" / "f").exists()
