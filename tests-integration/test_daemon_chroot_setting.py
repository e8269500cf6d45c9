"""``daemon chroot``: module paths and the files a connection reads are inside it.

rsync chroots each connection process to ``daemon chroot`` before it reads the module's
path, motd, secrets and ``exclude from`` files. pyrsyncd reads them below that directory
(``..`` stops at its top). Against the real rsync client, beside rsync's own daemon.
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
    pytest.mark.skipif(os.geteuid() != 0, reason="rsync's daemon chroot needs root"),
]


@pytest.fixture
def start_conf(
    real_rsync: RealRsync, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str, str], int]]:
    """``start_conf(...)`` starts a daemon on an rsyncd.conf on loopback; returns its port."""
    daemons = ConfDaemons(real_rsync, tmp_path_factory.mktemp("dchroot"))
    yield lambda body, daemon: daemons.start(daemon, body, head=False)
    daemons.stop_all()


@pytest.mark.parametrize("daemon", ["ours", "rsync"])
def test_module_paths_and_files_are_inside_the_daemon_chroot(
    start_conf: Callable[[str, str], int], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    jail = tmp_path / "jail"
    (jail / "modroot").mkdir(parents=True)
    (jail / "modroot" / "kept").write_text("inside\n")
    (jail / "modroot" / "skip.tmp").write_text("excluded\n")
    (jail / "etc").mkdir()
    (jail / "etc" / "excl").write_text("*.tmp\n")
    (jail / "motd").write_text("hello from the jail\n")
    # the same names on the host, outside the jail, must not be what is served
    port = start_conf(
        f"""\
        use chroot = no
        reverse lookup = no
        uid = 0
        gid = 0
        log file = {tmp_path / f"rsyncd-{daemon}.log"}
        daemon chroot = {jail}
        motd file = /motd
        [m]
        path = /../modroot
        exclude from = /etc/excl
        """,
        daemon,
    )
    dst = tmp_path / f"dst-{daemon}"
    proc = subprocess.run(
        real_rsync.argv("-r", f"rsync://{LOOPBACK}:{port}/m/", f"{dst}/"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "hello from the jail" in proc.stdout
    assert sorted(p.name for p in dst.iterdir()) == ["kept"]
