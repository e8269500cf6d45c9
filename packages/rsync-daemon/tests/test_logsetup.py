"""Where log lines go: the log file with rsync's prefix, syslog, and the fallbacks."""

from __future__ import annotations

import logging
import os
import socket
from typing import TYPE_CHECKING

import pytest

from rsync_daemon import logsetup
from rsync_daemon.config import DaemonConfig, ModuleConfig

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in [*root.handlers, *logsetup._module_handlers.values()]:
        if handler not in handlers:
            handler.close()
    logsetup._module_handlers.clear()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_log_file_lines_have_rsyncs_prefix_and_escapes(tmp_path: Path) -> None:
    log_path = tmp_path / "d.log"
    config = DaemonConfig(log_file=str(log_path), source="rsyncd.conf")
    assert logsetup.setup_logging(0, config) == []
    logging.getLogger("rsync_daemon").info("hello\x1b[31m\nforged line %s", "x" * 20000)
    text = log_path.read_text()
    assert text.count("\n") == 1
    prefix, _, message = text.partition("] ")
    assert prefix.endswith(f"[{os.getpid()}")
    assert message.startswith("hello\\#033[31m\\#012forged line xxx")
    assert "more characters]" in message
    assert len(message) < logsetup.MAX_LINE + 100


def test_unopenable_log_file_falls_back_and_says_why(tmp_path: Path) -> None:
    config = DaemonConfig(log_file=str(tmp_path / "no" / "dir" / "x.log"), source="c")
    problems = logsetup.setup_logging(0, config)
    assert problems
    assert problems[0].startswith(f"failed to open log-file {tmp_path}/no/dir/x.log:")
    assert 'Ignoring "log file" setting.' in problems[0]
    assert config.log_file is None


def test_syslog_with_facility_and_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "log.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    monkeypatch.setattr(logsetup, "_SYSLOG_SOCKET", path)
    config = DaemonConfig(source="rsyncd.conf", syslog_facility="local3", syslog_tag="mytag")
    with server:
        assert logsetup.setup_logging(0, config) == []
        logging.getLogger("rsync_daemon").info("to syslog")
        data = server.recv(4096).decode()
    priority = (19 << 3) | 6  # local3, info
    assert data.startswith(f"<{priority}>mytag[{os.getpid()}]: to syslog")


def test_module_log_file(tmp_path: Path) -> None:
    daemon_log, module_log = tmp_path / "d.log", tmp_path / "m.log"
    mod = ModuleConfig(name="m", path=str(tmp_path), log_file=str(module_log))
    config = DaemonConfig(log_file=str(daemon_log), source="c", modules={"m": mod})
    assert logsetup.setup_logging(0, config) == []
    logging.getLogger("rsync_daemon").info("before")
    logsetup.use_module_log(mod)
    logging.getLogger("rsync_daemon").info("after")
    assert "before" in daemon_log.read_text()
    assert "after" not in daemon_log.read_text()
    assert "after" in module_log.read_text()


def test_log_file_keeps_bytes_as_rsync_writes_them(tmp_path: Path) -> None:
    """rsync's logit(): control bytes, C1 bytes and a literal ``\\#ddd`` escaped, others raw."""
    log_path = tmp_path / "d.log"
    config = DaemonConfig(log_file=str(log_path), source="rsyncd.conf")
    assert logsetup.setup_logging(0, config) == []
    name = b"lat\xe9 c1\xc2\x85 del\x7f lit\\#123 tab\t".decode("utf-8", "surrogateescape")
    logging.getLogger("rsync_wire.xferlog").info("send %s", name)
    line = log_path.read_bytes()
    assert line.endswith(b"] send lat\xe9 c1\xc2\\#205 del\x7f lit\\#134#123 tab\t\n"), line


def test_syslog_and_stderr_lines_are_valid_text_without_controls() -> None:
    name = b"lat\xe9 c1\xc2\x85 del\x7f nl\n".decode("utf-8", "surrogateescape")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "send %s", (name,), None)
    line = logsetup.RsyncFormatter("").format(record)
    assert line == "send lat\\#351 c1\\#205 del\\#177 nl\\#012"
