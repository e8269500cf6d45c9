"""A forwarded ``--max-alloc=0`` is refused by pyrsyncd, as rsync 3.5's daemon refuses it.

``--max-alloc`` caps what one allocation may take (the defence behind CVE-2024-12084 and
its kin); 0 would lift the cap. rsync 3.5's source refuses 0 in the client and in the
server alike ("max-alloc must be greater than zero", options.c), since a modified or older
client still sends it. The installed rsync 3.5.0 client forwards it as "no limit", which
is what a hostile client does: pyrsyncd must refuse the session, say why, and serve the
next client. (The installed 3.5.0 daemon still takes 0, so this is not run beside it.)
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest

from harness.daemon import DaemonModule

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

MESSAGE = "max-alloc must be greater than zero"


def _rsync(real_rsync: RealRsync, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        real_rsync.argv(*args), capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("spelling", ["--max-alloc=0", "-M--max-alloc=0k"])
def test_a_forwarded_zero_is_refused_both_ways(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path, spelling: str
) -> None:
    mod = tmp_path / "mod"
    mod.mkdir()
    (mod / "f").write_text("served\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "up").write_text("upload\n")
    daemon = our_daemon([DaemonModule(name="mod", path=mod, read_only=False)])
    url = f"rsync://{daemon.host}:{daemon.port}/mod/"
    pulled = _rsync(real_rsync, spelling, "-r", url, f"{tmp_path / 'dst'}/")
    # rsync's daemon: exit 4 (RERR_UNSUPPORTED), or 10 when its close resets the socket
    assert pulled.returncode in (4, 10), pulled.stderr
    assert MESSAGE in pulled.stderr
    assert not (tmp_path / "dst" / "f").exists()
    pushed = _rsync(real_rsync, spelling, "-r", f"{src}/", url)
    assert pushed.returncode == 4, pushed.stderr
    assert MESSAGE in pushed.stderr
    assert not (mod / "up").exists()
    assert MESSAGE in daemon.log()
    again = _rsync(real_rsync, "-r", url, f"{tmp_path / 'dst2'}/")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "dst2" / "f").read_text() == "served\n"
