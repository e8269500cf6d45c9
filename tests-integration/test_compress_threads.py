"""``--compress-threads``/``--zt``: zstd's worker threads, bounded in a daemon.

The sender compresses with that many zstd workers (rsync: token.c ZSTD_c_nbWorkers).
A daemon's client names the daemon sender's arguments, so pyrsyncd starts at most 8
whatever it asks (rsync: options.c MAX_DAEMON_COMPRESSION_THREADS). Each case checks
that the stream the workers make is one real rsync decodes.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/task/{p}/children") as f:
                kids = [int(k) for k in f.read().split()]
        except OSError:
            continue
        out += kids
        todo += kids
    return out


def _threads(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            m = re.search(r"^Threads:\s+(\d+)", f.read(), re.M)
    except OSError:
        return 0
    return int(m.group(1)) if m else 0


@pytest.mark.timeout(120)
def test_a_daemon_client_cannot_ask_for_more_than_8_workers(
    our_daemon: RealDaemonFactory, real_rsync: RealRsync, tmp_path: Path
) -> None:
    from harness.daemon import DaemonModule

    mod = tmp_path / "mod"
    mod.mkdir()
    data = os.urandom(8 << 20)
    (mod / "f").write_bytes(data)
    daemon = our_daemon([DaemonModule("m", mod)])
    dest = tmp_path / "dest"
    argv = real_rsync.argv(
        "-z", "--zc=zstd", "-M--compress-threads=256", "--bwlimit=2000", daemon.url("m", "f"), dest
    )
    client = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = 0
    while client.poll() is None:
        for pid in _descendants(daemon.service.pid):
            seen = max(seen, _threads(pid))
        time.sleep(0.02)
    _, err = client.communicate()
    assert client.returncode == 0, err
    assert dest.read_bytes() == data
    assert 2 < seen <= 9  # workers were made, and no more than 8 of them plus our own


@pytest.mark.parametrize("option", ["--compress-threads=3", "--zt=2"])
def test_a_pushing_client_compresses_with_workers(
    real_daemon: RealDaemonFactory, tmp_path: Path, option: str
) -> None:
    from harness.daemon import DaemonModule

    mod = tmp_path / "mod"
    mod.mkdir()
    src = tmp_path / "f"
    data = os.urandom(3 << 20) + bytes(1 << 20)
    src.write_bytes(data)
    daemon = real_daemon([DaemonModule("m", mod, read_only=False)])
    code, _, err = run(pyrsync_argv("-z", "--zc=zstd", option, src, daemon.url("m")))
    assert code == 0, err
    assert (mod / "f").read_bytes() == data
