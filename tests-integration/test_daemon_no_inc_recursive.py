"""A server told ``--no-inc-recursive`` (by ``-M``, or a raw client) sends one list.

rsync's own clients never forward the option (they leave the ``i`` out of ``-e``), but
rsync's server accepts it, as pyrsyncd must: real rsync's client passes it with ``-M``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from harness.compare import assert_trees_equal
from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


@pytest.mark.timeout(120)
def test_dash_m_no_inc_recursive_as_rsyncs_daemon(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    (src / "d" / "e").mkdir(parents=True)
    (src / "d" / "e" / "f").write_text("data\n")
    outputs = []
    for name, factory in (("rsync", real_daemon), ("ours", our_daemon)):
        daemon = factory([DaemonModule("m", src)])
        dest = tmp_path / name
        code, out, err = run(
            real_rsync.argv("-av", "-M--no-inc-recursive", daemon.url("m") + "/", f"{dest}/")
        )
        assert code == 0, (name, err)
        assert_trees_equal(src, dest)
        outputs.append(out.splitlines()[0])
    # the server's answer decides: one list, announced as such by the client
    assert outputs == ["receiving file list ... done"] * 2
