"""Per-module ``uid``/``gid`` and ``auth users`` ``:ro``/``:rw``, against the real rsync client.

rsync's daemon, started as root, becomes the module's user once the client has named the
module (rsync: clientserver.c rsync_module()); so does each pyrsyncd connection process,
which has been confined to its connection since before its first byte. Each scenario runs
beside rsync's own daemon on the same rsyncd.conf and expects the same outcome.
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
    pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root"),
]

DAEMONS = ("ours", "rsync")
NOBODY = 65534


@pytest.fixture
def start_conf(
    real_rsync: RealRsync, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str, str], int]]:
    """``start_conf(...)`` starts a daemon on an rsyncd.conf on loopback; returns its port."""
    daemons = ConfDaemons(real_rsync, tmp_path_factory.mktemp("users"))
    yield lambda body, daemon: daemons.start(daemon, body, head=True)
    daemons.stop_all()


def _rsync(
    real_rsync: RealRsync, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        real_rsync.argv(*args), capture_output=True, text=True, timeout=120, check=False, env=env
    )


def _private_module(tmp_path: Path, name: str) -> Path:
    """A module directory under a 0700 root-owned parent (``nobody`` cannot walk to it)."""
    parent = tmp_path / f"{name}-private"
    module = parent / "mod"
    module.mkdir(parents=True)
    os.chmod(parent, 0o700)
    return module


@pytest.mark.parametrize("daemon", DAEMONS)
def test_each_module_is_served_as_its_own_user(
    start_conf: Callable[[str, str], int], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    os.chmod(tmp_path, 0o755)  # noqa: S103 - the served user must reach it
    nobody = _private_module(tmp_path, "nobody")
    os.chown(nobody, NOBODY, NOBODY)
    rooted = _private_module(tmp_path, "root")
    secret = rooted / "secret"
    secret.write_text("root only\n")
    os.chmod(secret, 0o600)
    (nobody / "secret").write_text("root only\n")
    os.chmod(nobody / "secret", 0o600)
    port = start_conf(
        f"[nobody]\npath = {nobody}\nread only = no\nuid = {NOBODY}\ngid = {NOBODY}\n"
        f"[rooted]\npath = {rooted}\nuid = 0\ngid = 0\n",
        daemon,
    )
    src = tmp_path / "src"
    src.mkdir()
    (src / "pushed").write_text("pushed\n")
    url = f"rsync://{LOOPBACK}:{port}"
    # an upload to [nobody] is written by nobody: the connection switched
    push = _rsync(real_rsync, "-r", f"{src}/", f"{url}/nobody/")
    assert push.returncode == 0, push.stderr
    st = (nobody / "pushed").stat()
    assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY)
    # [rooted] keeps root: its 0600 root file is served
    dst = tmp_path / f"dst-{daemon}"
    pull = _rsync(real_rsync, "-r", f"{url}/rooted/", f"{dst}/")
    assert pull.returncode == 0, pull.stderr
    assert (dst / "secret").read_text() == "root only\n"
    # [nobody] cannot read root's 0600 file: rsync's message, exit 23
    dst2 = tmp_path / f"dst2-{daemon}"
    denied = _rsync(real_rsync, "-r", f"{url}/nobody/", f"{dst2}/")
    assert denied.returncode == 23, denied.stderr
    assert 'send_files failed to open "secret" (in nobody): Permission denied (13)' in (
        denied.stderr
    )
    assert (dst2 / "pushed").read_text() == "pushed\n"


@pytest.mark.parametrize("daemon", DAEMONS)
def test_a_gid_list_sets_the_supplementary_groups(
    start_conf: Callable[[str, str], int], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    """``gid = 65534, 4``: a directory writable only through group 4 takes the upload."""
    os.chmod(tmp_path, 0o755)  # noqa: S103 - the served user must reach it
    module = tmp_path / "mod"
    module.mkdir()
    os.chown(module, 0, 4)
    os.chmod(module, 0o770)  # noqa: S103 - the served user must reach it
    port = start_conf(
        f"[m]\npath = {module}\nread only = no\nuid = {NOBODY}\ngid = {NOBODY}, 4\n"
        f"[single]\npath = {module}\nread only = no\nuid = {NOBODY}\ngid = {NOBODY}\n",
        daemon,
    )
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("via group 4\n")
    url = f"rsync://{LOOPBACK}:{port}"
    refused = _rsync(real_rsync, "-r", f"{src}/", f"{url}/single/")
    assert refused.returncode != 0
    assert not (module / "f").exists()
    push = _rsync(real_rsync, "-r", f"{src}/", f"{url}/m/")
    assert push.returncode == 0, push.stderr
    st = (module / "f").stat()
    assert (st.st_uid, st.st_gid) == (NOBODY, NOBODY)


@pytest.mark.parametrize("daemon", DAEMONS)
def test_auth_users_ro_and_rw_change_read_only_for_that_user(
    start_conf: Callable[[str, str], int], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    os.chmod(tmp_path, 0o755)  # noqa: S103 - the served user must reach it
    module = tmp_path / "mod"
    module.mkdir()
    secrets = tmp_path / "secrets"
    secrets.write_text("reader:pw1\nwriter:pw2\n")
    os.chmod(secrets, 0o600)
    port = start_conf(
        f"[rw]\npath = {module}\nread only = no\nauth users = reader:ro, writer\n"
        f"secrets file = {secrets}\n"
        f"[ro]\npath = {module}\nread only = yes\nauth users = reader, writer:rw\n"
        f"secrets file = {secrets}\n",
        daemon,
    )
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("upload\n")
    url = f"{LOOPBACK}:{port}"
    reader = {**os.environ, "RSYNC_PASSWORD": "pw1"}
    writer = {**os.environ, "RSYNC_PASSWORD": "pw2"}
    denied = _rsync(real_rsync, "-r", f"{src}/", f"rsync://reader@{url}/rw/", env=reader)
    assert denied.returncode != 0
    assert "ERROR: module is read only" in denied.stderr
    assert not (module / "f").exists()
    allowed = _rsync(real_rsync, "-r", f"{src}/", f"rsync://writer@{url}/ro/", env=writer)
    assert allowed.returncode == 0, allowed.stderr
    assert (module / "f").read_text() == "upload\n"
    refused = _rsync(real_rsync, "-r", f"{src}/", f"rsync://reader@{url}/ro/", env=reader)
    assert refused.returncode != 0
    assert "ERROR: module is read only" in refused.stderr


@pytest.mark.parametrize("daemon", DAEMONS)
def test_an_unknown_group_fails_that_module_only(
    start_conf: Callable[[str, str], int], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    module = tmp_path / "mod"
    module.mkdir()
    (module / "f").write_text("f\n")
    port = start_conf(
        f"[good]\npath = {module}\n"
        f"[bad]\npath = {module}\nuid = {NOBODY}\ngid = nosuchgroup-d8\n"
        f"[badu]\npath = {module}\nuid = nosuchuser-d8\n",
        daemon,
    )
    url = f"rsync://{LOOPBACK}:{port}"
    bad = _rsync(real_rsync, "-r", f"{url}/bad/", f"{tmp_path / 'dst-bad'}/")
    assert bad.returncode == 5
    assert "@ERROR: invalid gid nosuchgroup-d8" in bad.stderr
    badu = _rsync(real_rsync, "-r", f"{url}/badu/", f"{tmp_path / 'dst-badu'}/")
    assert badu.returncode == 5
    assert "@ERROR: invalid uid nosuchuser-d8" in badu.stderr
    good = _rsync(real_rsync, "-r", f"{url}/good/", f"{tmp_path / 'dst'}/")
    assert good.returncode == 0, good.stderr
    assert (tmp_path / "dst" / "f").read_text() == "f\n"
