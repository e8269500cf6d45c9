"""What a receiving pyrsyncd says when it cannot write, beside rsync's daemon.

Both daemons drop to ``nobody`` and are given a module directory only root may write: every
write of an upload fails, and each failure reaches the client as rsync's daemon words it,
the name relative to the module followed by ``(in MODULE)`` (rsync: util1.c full_fname()).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import pytest

from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(os.geteuid() != 0, reason="the daemons switch to nobody as root only"),
]

_TEMP = re.compile(rb'"(\.[^"/]+)\.[A-Za-z0-9_]{6}"')


def _lines(stderr: str) -> list[str]:
    masked = _TEMP.sub(rb'"\1.XXXXXX"', stderr.encode("utf-8", "surrogateescape"))
    return sorted(masked.decode("utf-8", "surrogateescape").splitlines())


def test_write_errors_name_the_module_as_rsyncs_daemon(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "file").write_text("data\n")
    (src / "sub" / "inner").write_text("inner\n")
    results = []
    for name, factory in (("theirs", real_daemon), ("ours", our_daemon)):
        dest = tmp_path / name
        dest.mkdir(mode=0o755)
        daemon = factory(
            [DaemonModule("up", dest, read_only=False)],
            global_options={"uid": "nobody", "gid": "nogroup"},
        )
        code, _, err = run(real_rsync.argv("-r", f"{src}/", daemon.url("up")), timeout=60)
        results.append((code, _lines(err)))
        assert sorted(p.name for p in dest.iterdir()) == []
    (their_code, theirs), (our_code, ours) = results
    assert our_code == their_code == 23
    assert any("(in up) failed: Permission denied" in line for line in theirs), theirs
    assert ours == theirs
