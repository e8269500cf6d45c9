"""``-M--log-file=FILE``: a remote-shell server keeps its own log, as rsync's server does.

rsync's client asks the server for a log with ``-M--log-file=FILE`` (and
``-M--log-file-format=FMT``). The same commands run against rsync's server and against
ours (``pyrsync --server`` through the ``-e`` shim); after the time, the pid and the byte
counts are masked the two logs must be equal: "building file list" or "receiving file
list", the items in the log's format, deletions, and "sent ... total size N".
A daemon does not take a client's log file: it refuses it.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

T = 1_600_000_000
_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\d+\] ")


def _source(base: Path) -> Path:
    src = base / "src"
    (src / "d").mkdir(parents=True)
    (src / "a").write_text("a\n")
    (src / "d" / "b").write_text("b\n")
    os.symlink("a", src / "link")
    for path in (src / "a", src / "d" / "b", src / "d", src):
        os.utime(path, (T, T))
    os.utime(src / "link", (T, T), follow_symlinks=False)
    return src


def _masked(log: Path, base: Path) -> list[str]:
    out = []
    for line in log.read_text().splitlines():
        assert _PREFIX.match(line), line
        body = _PREFIX.sub("", line).replace(str(base), "BASE")
        out.append(re.sub(r"^sent \d+ bytes  received \d+ bytes", "sent N received N", body))
    return out


@pytest.mark.parametrize("client", ["rsync", "ours"])
@pytest.mark.parametrize("direction", ["pull", "push"])
@pytest.mark.parametrize("fmt", [None, "%o %n %l", ""])
def test_server_log_file_as_rsyncs(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    tmp_path: Path,
    client: str,
    direction: str,
    fmt: str | None,
) -> None:
    argv = real_rsync.argv() if client == "rsync" else pyrsync_argv()
    logs = []
    for server in ("theirs", "ours"):
        shim = (
            rsh_shim_factory(name=f"shim-{server}")
            if server == "theirs"
            else rsh_shim_factory([sys.executable, "-m", "rsync_daemon"], name=f"shim-{server}")
        )
        base = tmp_path / server
        src = _source(base)
        dest = base / "dest"
        dest.mkdir()
        os.utime(dest, (T, T))
        log = base / "log"
        extra = [f"-M--log-file={log}"]
        if fmt is not None:
            extra.append(f"-M--log-file-format={fmt}")
        where = (
            [f"host:{src}/", f"{dest}/"] if direction == "pull" else [f"{src}/", f"host:{dest}/"]
        )
        for step in (0, 1):
            if step:
                (src / "d" / "b").unlink()
                os.utime(src / "d", (T, T))
            code, _out, err = run([*argv, "-a", "--delete", "-e", shim, *extra, *where])
            assert code == 0, (server, err)
        logs.append(_masked(log, base))
    assert logs[0] == logs[1]


def test_a_daemon_refuses_a_clients_log_file(tmp_path: Path) -> None:
    conf = tmp_path / "rsyncd.conf"
    (tmp_path / "mod").mkdir()
    conf.write_text(f"use chroot = no\n[mod]\npath = {tmp_path}/mod\n")
    env = dict(
        os.environ, RSYNC_CONNECT_PROG=f"{sys.executable} -m rsync_daemon --config={conf} --daemon"
    )
    code, _out, err = run(
        [
            *pyrsync_argv(),
            "-a",
            f"-M--log-file={tmp_path}/log",
            "rsync://localhost/mod/",
            f"{tmp_path}/d/",
        ],
        env=env,
    )
    assert code != 0
    assert "--log-file" in err
    assert not (tmp_path / "log").exists()
