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
    keep = ("file list", "total size", "configured to refuse", "link_stat", "recv ", "send ")
    out = []
    for line in log.splitlines():
        text = re.sub(r"^\S+ \S+ \[\d+\] ", "", line)
        if text.startswith(keep) or any(k in text for k in keep[:4]):
            out.append(re.sub(r"sent \d+ bytes  received \d+ bytes", "sent N  received N", text))
    return out


@pytest.mark.timeout(120)
def test_log_lines_of_transfers_and_refusals_are_rsyncs(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    """``building file list``, ``receiving file list``, the totals, a refusal, an error.

    rsync: flist.c (FLOG), log.c log_exit() (a daemon logs its totals after each
    transfer), rwrite() (a daemon logs what it tells the client: the refusal, the
    sender's link_stat error). pyrsyncd put ``[PEER MODULE]`` before the first and the
    refusal, logged the totals at -vv only and the errors it sent not at all.
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
        missing = daemon.url("m", "missing")
        assert run(real_rsync.argv("-r", missing, f"{tmp_path / name}/")).returncode == 23
        lines[name] = _rsyncs_lines(daemon.log())  # type: ignore[attr-defined]
    # rsync's daemon also logs the totals and exit line of the refused session
    real = list(lines["rsync"])
    after = next(i for i, line in enumerate(real) if "configured to refuse" in line) + 1
    assert real.pop(after) == "sent N  received N  total size 0"
    assert lines["ours"] == real
    assert "receiving file list" in real
