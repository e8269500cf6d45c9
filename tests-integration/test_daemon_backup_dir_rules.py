"""An upload's ``--backup-dir`` into what a module's rules hide is refused, as by rsync.

rsync checks the (``..``-collapsed) backup directory of a receiving daemon against the
module's filter once the options are parsed: "Your options have been rejected by the
server.", exit 4, nothing written. Against the real rsync client, beside rsync's daemon.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from harness.confd import ConfDaemons
from harness.daemon import LOOPBACK

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


@pytest.fixture
def start_module_daemon(
    real_rsync: RealRsync, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str, str], int]]:
    """``start_module_daemon(daemon, body)`` starts a daemon on loopback; returns its port."""
    daemons = ConfDaemons(real_rsync, tmp_path_factory.mktemp("bdir"))
    yield lambda daemon, body: daemons.start(daemon, body, head=True)
    daemons.stop_all()


@pytest.mark.parametrize("daemon", ["ours", "rsync"])
@pytest.mark.parametrize(
    "backup_dir", ["../secret", "sub/../../secret", "/secret/deeper", "/public/../secret/"]
)
def test_backup_dir_in_an_excluded_subtree_is_rejected(
    tmp_path: Path,
    real_rsync: RealRsync,
    start_module_daemon: Callable[[str, str], int],
    daemon: str,
    backup_dir: str,
) -> None:
    module = tmp_path / "mod"
    (module / "secret").mkdir(parents=True)
    (module / "secret" / "f").write_text("secret\n")
    (module / "public").mkdir()
    (module / "public" / "f").write_text("old\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("newer content\n")
    port = start_module_daemon(
        daemon, f"[m]\npath = {module}\nread only = no\nexclude = /secret/\n"
    )
    proc = subprocess.run(
        real_rsync.argv(
            "-r",
            "--backup",
            f"--backup-dir={backup_dir}",
            f"{src}/",
            f"rsync://{LOOPBACK}:{port}/m/public/",
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 4, proc.stderr
    assert "Your options have been rejected by the server." in proc.stderr
    assert (module / "public" / "f").read_text() == "old\n"
    assert sorted(p.name for p in (module / "secret").iterdir()) == ["f"]
    assert (module / "secret" / "f").read_text() == "secret\n"


@pytest.mark.parametrize("daemon", ["ours", "rsync"])
def test_backup_dir_outside_the_rules_is_used(
    tmp_path: Path,
    real_rsync: RealRsync,
    start_module_daemon: Callable[[str, str], int],
    daemon: str,
) -> None:
    module = tmp_path / "mod"
    (module / "public").mkdir(parents=True)
    (module / "public" / "f").write_text("old\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("newer content\n")
    port = start_module_daemon(
        daemon, f"[m]\npath = {module}\nread only = no\nexclude = /secret/\n"
    )
    proc = subprocess.run(
        real_rsync.argv(
            "-r",
            "--backup",
            "--backup-dir=/kept",
            f"{src}/",
            f"rsync://{LOOPBACK}:{port}/m/public/",
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (module / "public" / "f").read_text() == "newer content\n"
    assert (module / "kept" / "f").read_text() == "old\n"
