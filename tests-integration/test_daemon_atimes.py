"""``--atimes`` (-U) from pyrsyncd: the file list carries each file's access time.

A download with -U gets the module's access times (directories excepted, as rsync's
sender leaves them out), and a listing with -U shows them in its extra column, as
from rsync's daemon. Uploads with -U stay refused (the receiver does not set atimes).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

ATIME = 1_200_000_000
MTIME = 1_300_000_000


def _module(tmp_path: Path) -> Path:
    mod = tmp_path / "mod"
    (mod / "d").mkdir(parents=True)
    for rel in ("f", "d/g"):
        (mod / rel).write_text(f"{rel}\n")
        os.utime(mod / rel, (ATIME, MTIME))
    return mod


@pytest.mark.timeout(120)
@pytest.mark.parametrize("extra", [[], ["--protocol=30"], ["--no-inc-recursive"]])
def test_download_with_atimes_carries_access_times(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    extra: list[str],
) -> None:
    listings = []
    for name, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        mod = _module(tmp_path / name)  # reading a file may update its atime (relatime)
        daemon = factory([DaemonModule("m", mod)])
        code, out, err = run(real_rsync.argv("-rU", *extra, daemon.url("m", "f*")))
        assert code == 0, err
        listings.append(out)
        dest = tmp_path / f"dest-{name}"
        code, _, err = run(real_rsync.argv("-rtU", *extra, daemon.url("m"), f"{dest}/"))
        assert code == 0, err
        for rel in ("f", "d/g"):
            st = os.stat(dest / rel)
            assert (int(st.st_atime), int(st.st_mtime)) == (ATIME, MTIME), (name, rel)
    assert listings[0] == listings[1]
    assert "2008/01/10" in listings[1]  # the access time's column


@pytest.mark.timeout(120)
def test_upload_with_atimes_sets_them(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    """An upload with -U: pyrsyncd's receiver gives each file the sender's access time."""
    src = _module(tmp_path)
    up = tmp_path / "up"
    up.mkdir()
    daemon = our_daemon([DaemonModule("m", up, read_only=False)])
    code, _, err = run(real_rsync.argv("-rtU", f"{src}/", daemon.url("m")))
    assert code == 0, err
    for rel in ("f", "d/g"):
        st = os.stat(up / rel)
        assert (int(st.st_atime), int(st.st_mtime)) == (ATIME, MTIME), rel
