"""What pyrsyncd's log shows of a session, as rsync's daemon shows it.

The log says ``building file list`` when a download's sender starts its list and
``receiving file list`` when an upload's receiver reads one (rsync logs both, FLOG;
rsync's own test suite reads the second to know a crafted list was reached).
"""

from __future__ import annotations

import re
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


def _rsyncs_lines(log: str) -> list[str]:
    """The lines of a transfer rsync's daemon writes, without time, pid and byte counts."""
    keep = ("file list", "total size", "configured to refuse", "recv ", "send ")
    out = []
    for line in log.splitlines():
        text = re.sub(r"^\S+ \S+ \[\d+\] ", "", line)
        if text.startswith(keep) or any(k in text for k in keep[:3]):
            out.append(re.sub(r"sent \d+ bytes  received \d+ bytes", "sent N  received N", text))
    return out


@pytest.mark.timeout(120)
def test_log_lines_of_transfers_and_refusals_are_rsyncs(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    """``building file list``, ``receiving file list``, the totals and a refusal, as rsync.

    rsync: flist.c (FLOG), log.c log_exit() (a daemon logs its totals after each
    transfer), clientserver.c rsync_module() (the refusal's line goes to the log too).
    pyrsyncd put ``[PEER MODULE]`` before the first and the refusal, and logged the
    totals at -vv only.
    """
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("data\n")
    lines = {}
    for name, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        mod = tmp_path / f"mod-{name}"
        mod.mkdir()
        daemon = factory(
            [
                DaemonModule("m", mod, read_only=False),
                DaemonModule("noz", mod, options={"refuse options": "compress"}),
            ]
        )
        assert run(real_rsync.argv("-r", f"{src}/", daemon.url("m"))).returncode == 0
        assert run(real_rsync.argv("-r", daemon.url("m"), f"{tmp_path / name}/")).returncode == 0
        assert (
            run(real_rsync.argv("-rz", daemon.url("noz"), f"{tmp_path / name}/")).returncode == 10
        )
        lines[name] = _rsyncs_lines(daemon.log())  # type: ignore[attr-defined]
    # rsync's daemon also logs the totals and exit line of the refused session
    real = [line for line in lines["rsync"] if "total size 0" not in line]
    assert lines["ours"] == real
    assert "receiving file list" in real
