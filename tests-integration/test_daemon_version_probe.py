"""pyrsyncd's ``--version``, the log of a health check, and names in the transfer log beside
rsync's daemon."""

from __future__ import annotations

import re
import socket
import time
from typing import TYPE_CHECKING

from harness.daemon import DaemonModule
from harness.ourd import pyrsyncd_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemon, RealDaemonFactory
    from harness.tools import RealRsync


def test_version_prints_rsyncs_first_line_and_exits_0() -> None:
    for flag in ("--version", "-V"):
        result = run(pyrsyncd_argv(flag), check=True)
        first, *rest = result.stdout.splitlines()
        assert re.fullmatch(r"pyrsyncd  version \d+\.\d+\.\d+  protocol version 32", first), first
        assert "Daemon auth list:" in rest
        assert result.stderr == ""


def _wait_for(daemon: RealDaemon, text: str, count: int) -> str:
    deadline = time.monotonic() + 30
    while True:
        log = daemon.log()
        if log.count(text) >= count or time.monotonic() > deadline:
            return log
        time.sleep(0.1)


def test_health_check_is_not_a_warning(our_daemon: RealDaemonFactory, tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    daemon = our_daemon({"m": tmp_path / "m"})
    before = daemon.log()
    with socket.create_connection((daemon.host, daemon.port)) as sock:
        probe = "{}:{}".format(*sock.getsockname())  # connect, close: a load balancer's check
    # a client that speaks something else is still worth a warning
    with socket.create_connection((daemon.host, daemon.port)) as sock:
        client = "{}:{}".format(*sock.getsockname())
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):
            pass
    log = _wait_for(daemon, f"[{client}] done: exit", 1)
    assert "bad greeting: protocol startup error" in log, log
    # the probe logs at debug level only (each line of it at -vv: test_daemon_json_log.py)
    new = log.removeprefix(before)
    assert probe not in new, new
    assert new.count("connect from") == 1, new
    assert "unexpectedly closed" not in new


NAMES = {
    b"ctl\x01name": b"ctl\\#001name",
    b"del\x7fname": b"del\x7fname",
    b"latin\xe9": b"latin\xe9",
    b"c1-\xc2\x85": b"c1-\xc2\\#205",
    b"lit\\#123": b"lit\\#134#123",
    b"tab\tname": b"tab\tname",
    "utf-é".encode(): "utf-é".encode(),
}


def _names_logged(log_file: Path) -> list[bytes]:
    """The ``%f`` of each transfer line of a log written with ``log format = %o [%f]``."""
    pattern = re.compile(rb"\] send \[(.*)\]$", re.M)
    return sorted(m.group(1) for m in pattern.finditer(log_file.read_bytes()))


def test_transfer_log_escapes_names_as_rsyncs_daemon(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in NAMES:
        (src / name.decode("utf-8", "surrogateescape")).write_bytes(b"x")
    logged = {}
    for kind, factory in (("rsync", real_daemon), ("pyrsyncd", our_daemon)):
        log_file = tmp_path / f"{kind}-xfer.log"
        options = {"transfer logging": "yes", "log file": str(log_file), "log format": "%o [%f]"}
        daemon = factory([DaemonModule("m", src, options=options)])
        run(real_rsync.argv("-r", daemon.url("m"), str(tmp_path / f"dest-{kind}")), check=True)
        logged[kind] = _names_logged(log_file)
    assert logged["pyrsyncd"] == logged["rsync"]
    assert logged["rsync"] == sorted(NAMES.values())
