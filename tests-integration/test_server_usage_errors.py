"""``pyrsync --server`` with arguments that do not parse: rsync's message and exit code 1.

rsync's server prints popt's complaint "on remote machine: OPTION: REASON" and its
closing "rsync error: syntax or usage error (code 1)" on standard error (which a remote
shell hands to the client) and exits 1; ours must say the same, not exit silently.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

BAD = [
    ["--server", "--bogus", "."],
    ["--server", "-vQ", "."],
    ["--server", "-vlogDtpr", "--timeout=abc", "."],
    ["--server", "--recursive=3", "."],
    ["--server", "--sender", "-vlogDtpr", "--no-such-thing=1", ".", "src/"],
]


def _masked(err: str) -> str:
    return re.sub(r" at \S+ \[server=\S+\]$", "", err.rstrip("\n"), flags=re.MULTILINE)


@pytest.mark.parametrize("argv", BAD, ids=lambda a: " ".join(a[1:]))
def test_a_bad_server_command_line_is_reported(real_rsync: RealRsync, argv: list[str]) -> None:
    results = []
    for program in (pyrsync_argv(), real_rsync.argv()):
        code, out, err = run([*program, *argv], stdin=b"")
        results.append((code, out, _masked(err)))
    assert results[0] == results[1]
    assert results[0][0] == 1
    assert "on remote machine: " in results[0][2]
    assert results[0][2].endswith("rsync error: syntax or usage error (code 1)")


def test_the_client_shows_the_servers_complaint(real_rsync: RealRsync, tmp_path: Path) -> None:
    """Over a remote shell the client shows what the server said, then its own error."""
    import sys

    from harness.shim import write_rsh_shim

    shim = write_rsh_shim(tmp_path / "shim", command=[sys.executable, "-m", "rsync_daemon"])
    (tmp_path / "src").mkdir()
    code, _out, err = run(
        [
            *real_rsync.argv(),
            "-a",
            "-e",
            shim,
            "-M--bogus",
            "host:" + str(tmp_path / "src"),
            tmp_path / "d",
        ]
    )
    assert code != 0
    assert "rsync: on remote machine: --bogus: unknown option" in err
