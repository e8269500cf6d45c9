"""``pyrsyncd --log-format json``: one JSON object a line, each with its connection's peer and
module, while a pull with real rsync runs; a health check only at debug level."""

from __future__ import annotations

import json
import re
import socket
import time
from typing import TYPE_CHECKING, Any

from harness.daemon import DaemonModule, start_daemon
from harness.ourd import pyrsyncd_argv
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemon
    from harness.tools import RealRsync

FIELDS = ["time", "level", "logger", "message", "peer", "module", "pid"]


def _json_log(daemon: RealDaemon) -> list[dict[str, Any]]:
    """Every line pyrsyncd wrote on standard error, each parsed (fails on a line that is not)."""
    lines = daemon.service.output().splitlines()
    parsed = []
    for line in lines:
        obj = json.loads(line)  # raises on a line that is not one JSON object
        assert isinstance(obj, dict), line
        assert list(obj)[: len(FIELDS)] == FIELDS, line
        parsed.append(obj)
    return parsed


def _wait_for_done(daemon: RealDaemon, peer: str) -> list[dict[str, Any]]:
    """The log once the listener has logged the end of ``peer``'s connection process."""
    deadline = time.monotonic() + 60
    while True:
        lines = _json_log(daemon)
        if any(x["peer"] == peer and "exit_code" in x for x in lines):
            return lines
        assert time.monotonic() < deadline, f"no end of {peer} in {lines}"
        time.sleep(0.1)


def test_json_log_of_a_pull_and_a_health_check(real_rsync: RealRsync, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for i in range(5):
        (src / "sub" / f"f{i}").write_bytes(b"x" * 1000 * i)
    workdir = tmp_path / "d"
    workdir.mkdir()
    daemon = start_daemon(
        pyrsyncd_argv(),
        {"data": src},
        workdir=workdir,
        grace=2.0,
        daemon_args=["--log-format", "json", "-vv"],
    )
    try:
        with socket.create_connection((daemon.host, daemon.port)) as probe:
            probe_peer = "{}:{}".format(*probe.getsockname())  # a load balancer's TCP check
        lines = _wait_for_done(daemon, probe_peer)
        result = run(real_rsync.argv("-a", "-vv", daemon.url("data"), tmp_path / "dst"))
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "dst" / "sub" / "f4").read_bytes() == b"x" * 4000
        (access,) = [x for x in _json_log(daemon) if x["message"].startswith("rsync on data/")]
        pull_peer = access["peer"]
        lines = _wait_for_done(daemon, pull_peer)
        text_log = daemon.log_path.read_text()
    finally:
        daemon.stop()

    probe_lines = [x for x in lines if x["peer"] == probe_peer]
    assert any("closed before the greeting" in x["message"] for x in probe_lines), probe_lines
    assert {x["level"] for x in probe_lines} == {"DEBUG"}, probe_lines

    assert re.fullmatch(r"127\.0\.0\.1:\d+", pull_peer)
    assert access["module"] == "data"
    assert access["level"] == "INFO"
    pull_lines = [x for x in lines if x["peer"] == pull_peer]
    connection_pid = access["pid"]
    own = [x for x in pull_lines if x["pid"] == connection_pid]
    assert any(x["message"].startswith("connect from") for x in own), own
    chosen = next(i for i, x in enumerate(own) if x["module"] == "data")
    assert own[chosen:], own
    assert {x["module"] for x in own[chosen:]} == {"data"}, own  # every line from then on
    assert all(x["module"] is None for x in own[:chosen])  # before the client named it
    (done,) = [x for x in pull_lines if "exit_code" in x]
    assert done["exit_code"] == 0
    assert done["level"] == "INFO"
    # the roles say what rsync's server says at -vv: the file list and the end with stats
    wire = [x for x in own if x["logger"].startswith("rsync_wire")]
    assert any(re.search(r"file list: \d+ entries", x["message"]) for x in wire), wire
    assert any(x["message"].startswith("sent ") for x in wire), wire

    # rsync's own log file keeps rsync's lines
    assert text_log
    for line in text_log.splitlines():
        assert re.match(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\d+\] ", line), line


def test_json_log_of_a_push_names_the_module_in_the_receivers_lines(
    real_rsync: RealRsync, tmp_path: Path
) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    for i in range(3):
        (src / f"f{i}").write_bytes(b"y" * 100 * i)
    workdir = tmp_path / "d"
    workdir.mkdir()
    daemon = start_daemon(
        pyrsyncd_argv(),
        [DaemonModule("up", dest, read_only=False)],
        workdir=workdir,
        grace=2.0,
        daemon_args=["--log-format", "json", "-vv"],
    )
    try:
        result = run(real_rsync.argv("-a", f"{src}/", daemon.url("up")))
        assert result.returncode == 0, result.stderr
        (access,) = [x for x in _json_log(daemon) if x["message"].startswith("rsync to up/")]
        lines = _wait_for_done(daemon, access["peer"])
    finally:
        daemon.stop()
    assert (dest / "f2").read_bytes() == b"y" * 200
    own = [x for x in lines if x["peer"] == access["peer"] and x["pid"] == access["pid"]]
    received = [x for x in own if re.fullmatch(r"file list: \d+ entries received", x["message"])]
    assert [(x["module"], x["level"]) for x in received] == [("up", "DEBUG")], own
    (totals,) = [x for x in own if x["message"].startswith("sent ")]
    assert totals["module"] == "up"
    assert totals["bytes_received"] > 300  # the files' data came in
