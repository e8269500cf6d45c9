"""What pyrsyncd's log shows of a session, as rsync's daemon shows it.

The log says ``building file list`` when a download's sender starts its list and
``receiving file list`` when an upload's receiver reads one (rsync logs both, FLOG;
rsync's own test suite reads the second to know a crafted list was reached).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


@pytest.mark.timeout(120)
def test_log_names_the_file_list_of_each_direction(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("data\n")
    for name, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        mod = tmp_path / f"mod-{name}"
        mod.mkdir()
        daemon = factory([DaemonModule("m", mod, read_only=False)])
        code, _, err = run(real_rsync.argv("-r", f"{src}/", daemon.url("m")))
        assert code == 0, err
        back = tmp_path / f"back-{name}"
        code, _, err = run(real_rsync.argv("-r", daemon.url("m"), f"{back}/"))
        assert code == 0, err
        log = daemon.log()  # type: ignore[attr-defined]
        receiving = log.index("receiving file list")
        assert log.index("building file list", receiving) > receiving, (name, log)
