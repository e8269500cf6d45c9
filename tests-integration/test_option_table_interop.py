"""What the one option table changed on the wire, checked against the real rsync.

- ``-u`` in a push reaches the receiving server (rsync's client always sends it): a file
  newer on the receiver stays, with rsync's daemon and with ours as the receiver.
- A receiving pyrsyncd refuses by name what it parses but does not do (``--fsync``,
  ``--mkpath``...), instead of accepting and ignoring it.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.daemon import DaemonModule
from harness.proc import run
from rsync_wire.proto.optable import OPTIONS, by_long, by_short, negations

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

OLD = 1_600_000_000
NEW = 1_700_000_000


def _trees(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("from the sender\n")
    os.utime(src / "f", (OLD, OLD))
    (src / "g").write_text("new file\n")
    up = tmp_path / "up"
    up.mkdir()
    return src, up


def _newer_on_receiver(dest: Path) -> None:
    dest.mkdir()
    (dest / "f").write_text("newer on the receiver\n")
    os.utime(dest / "f", (NEW, NEW))


@pytest.mark.parametrize("receiver", ["real_daemon", "our_daemon"])
def test_push_with_update_keeps_what_is_newer_on_the_receiver(
    request: pytest.FixtureRequest, real_rsync: RealRsync, tmp_path: Path, receiver: str
) -> None:
    src, up = _trees(tmp_path)
    daemon = request.getfixturevalue(receiver)([DaemonModule("up", up, read_only=False)])
    for who in ("real", "ours"):
        _newer_on_receiver(up / who)
        argv = real_rsync.argv if who == "real" else pyrsync_argv
        result = run(argv("-rtu", f"{src}/", daemon.url("up", who)), timeout=60)
        assert result.returncode == 0, (who, result.stderr)
        assert (up / who / "f").read_text() == "newer on the receiver\n", who
        assert (up / who / "g").read_text() == "new file\n", who


def test_an_upload_with_fsync_is_received(
    real_rsync: RealRsync, our_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    """rsync's client forwards --fsync to a receiving daemon, which syncs each file."""
    src, up = _trees(tmp_path)
    daemon = our_daemon([DaemonModule("up", up, read_only=False)])
    result = run(real_rsync.argv("-rt", "--fsync", f"{src}/", daemon.url("up", "d")), timeout=60)
    assert result.returncode == 0, result.stderr
    assert (up / "d" / "g").read_text() == "new file\n"


_HELP_LINE = re.compile(r"^(--[^ ,=]+|-[^-\s])(?:[ =][^,]*)?(?:, (-[^\s,=]+|--[^\s,=]+))?")


def test_the_table_knows_every_option_of_rsyncs_help(real_rsync: RealRsync) -> None:
    """One record per option of rsync's manual (its --help lists them all)."""
    result = run(real_rsync.argv("--help"))
    longs: set[str] = set()
    shorts: set[str] = set()
    for line in result.stdout.splitlines():
        m = _HELP_LINE.match(line)
        for name in m.groups() if m else ():
            if name and name.startswith("--"):
                longs.add(name[2:])
            elif name:
                shorts.add(name[1:])
    assert len(longs) > 100
    longs.discard("no-OPTION")  # the manual's way of saying "negations"
    assert sorted(n for n in longs if by_long(n) is None and n not in negations()) == []
    assert sorted(s for s in shorts if by_short(s) is None) == []
    # and the table has nothing rsync lacks, but the daemon's, hidden and pyrsync's own
    extra = {o.long for o in OPTIONS if o.long} - longs
    assert extra == {
        "config", "daemon", "detach", "dparam", "server", "sender",  # rsync's daemon
        "implied-dirs", "motd", "msgs2stderr", "new-compress", "old-compress", "qsort",
        "sandbox",  # pyrsync's Landlock confinement of the client
    }  # fmt: skip
