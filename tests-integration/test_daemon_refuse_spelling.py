"""A refused option is named as the client wrote it, as rsync's daemon names it.

rsync's option table has one entry per spelling (``--compress-threads`` and ``--zt``,
``--delete-during`` and ``--del``); ``refuse options`` disables every entry with the same
effect, and the refusal names the entry the client's word matched. pyrsyncd keeps one row
per option, so it has to remember the spelling (rsync: options.c create_refuse_error()).
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
@pytest.mark.parametrize(
    ("written", "named"),
    [
        ("-M--zt=2", "--zt"),
        ("-M--compress-threads=2", "--compress-threads"),
        ("-M--delete-during", "--delete-during"),
        ("-M--del", "--del"),
    ],
)
def test_the_refusal_names_the_spelling_the_client_used(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
    written: str,
    named: str,
) -> None:
    mod = tmp_path / "mod"
    mod.mkdir()
    (mod / "f").write_text("data\n")
    module = DaemonModule("m", mod, options={"refuse options": "compress-threads delete-during"})
    codes = {}
    for name, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        daemon = factory([module])
        dest = tmp_path / f"dest-{name}"
        code, _, err = run(real_rsync.argv("-a", written, daemon.url("m") + "/", f"{dest}/"))
        line = f"rsync: The server is configured to refuse {named}\n"
        assert line in err, (name, err)
        assert f"configured to refuse {named}\n" in daemon.log(), (name, daemon.log())
        codes[name] = code
        assert not (dest / "f").exists()
    # a refused download: the daemon's code never reaches the client, which reports the
    # reset (rsync: cleanup.c _exit_cleanup(), a sender does not flush its exit)
    assert codes == {"rsync": 10, "ours": 10}
