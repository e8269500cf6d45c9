"""``--files-from=:NAME`` in a daemon module: the list is read inside the module only.

A symlink in the module that leads outside it (here one owned by root, which rsync 3.5's
ownership walk would otherwise trust) names no list: the secret it points to is never
read or sent, and the client is told once why, as rsync's daemon tells it.
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

MARKER = "NO_ONE_SHOULD_README"


def test_a_list_behind_a_symlink_out_of_the_module_is_refused(
    our_daemon: RealDaemonFactory,
    real_daemon: RealDaemonFactory,
    real_rsync: RealRsync,
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(MARKER + "\n")
    base = tmp_path / "base"
    (base / "sub").mkdir(parents=True)
    (base / "sub" / "list").symlink_to(secret)
    (base / MARKER).write_text("named by the secret\n")
    for who, factory in (("ours", our_daemon), ("theirs", real_daemon)):
        dest = tmp_path / who
        dest.mkdir()
        d = factory([DaemonModule("m", base)])
        code, out, err = run(
            real_rsync.argv("-a", "--files-from=:sub/list", d.url("m") + "/", f"{dest}/"),
            timeout=60,
        )
        assert code != 0, who
        assert MARKER not in out + err, who
        assert not list(dest.iterdir()), who
        lines = [ln for ln in err.splitlines() if "files-from" in ln]
        assert len(lines) == 1, (who, err)
        assert lines[0].startswith("rsync: failed to open files-from file sub/list: "), (who, err)
