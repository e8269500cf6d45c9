"""Log lines with their connection's peer and module, and the JSON process log."""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING

import anyio
import pytest

from rsync_daemon import logsetup
from rsync_daemon.api import build_config
from rsync_daemon.cli import _parser
from rsync_daemon.cli import build_config as cli_build_config
from rsync_daemon.config import DaemonConfig, ModuleConfig, load_config
from rsync_daemon.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

log = logging.getLogger("rsync_daemon.test")


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in [*root.handlers, *logsetup._module_handlers.values()]:
        if handler not in handlers:
            handler.close()
    logsetup._module_handlers.clear()
    logsetup._daemon_log[0] = None
    root.handlers[:] = handlers
    root.setLevel(level)


def _json_lines(text: str) -> list[dict[str, object]]:
    lines = text.splitlines()
    assert lines, "no log line"
    return [json.loads(line) for line in lines]


def test_json_line_has_the_fields_and_the_context(capsys: pytest.CaptureFixture[str]) -> None:
    assert logsetup.setup_logging(0, DaemonConfig(daemon_log_format="json")) == []
    log.info("before any connection")
    with logsetup.connection_context("192.0.2.7:4242"):
        log.info("greeting from %s", "client")
        logsetup.set_module("pub")
        log.warning("refused %d files", 3, extra={"files": 3, "path": os.sep})
    log.info("after")
    outside, greeting, refused, after = _json_lines(capsys.readouterr().err)
    assert outside["peer"] is None
    assert outside["module"] is None
    assert greeting["message"] == "greeting from client"
    assert greeting["peer"] == "192.0.2.7:4242"
    assert greeting["module"] is None
    assert greeting["level"] == "INFO"
    assert greeting["logger"] == "rsync_daemon.test"
    assert greeting["pid"] == os.getpid()
    assert str(greeting["time"]).endswith("Z")
    assert refused["module"] == "pub"
    assert refused["level"] == "WARNING"
    assert refused["files"] == 3
    assert refused["path"] == "/"
    assert list(refused)[:7] == ["time", "level", "logger", "message", "peer", "module", "pid"]
    assert after["peer"] is None  # the context ended with the connection
    assert after["module"] is None


def test_json_escapes_as_text_lines_and_keeps_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert logsetup.setup_logging(0, DaemonConfig(daemon_log_format="json")) == []
    name = b"latin\xe9\nforged".decode("utf-8", "surrogateescape")
    log.info("file %s", name)
    try:
        msg = "boom"
        raise ValueError(msg)  # noqa: TRY301 - a traceback to log
    except ValueError:
        log.exception("failed")
    text = capsys.readouterr().err
    first, second = _json_lines(text)
    assert first["message"] == "file latin\\#351\\#012forged"  # as on a text line
    assert second["message"] == "failed"
    assert "ValueError: boom" in str(second["exc"])


def test_extra_peer_wins_over_the_context(capsys: pytest.CaptureFixture[str]) -> None:
    assert logsetup.setup_logging(0, DaemonConfig(daemon_log_format="json")) == []
    with logsetup.connection_context("192.0.2.1:1"):
        log.info("child ended", extra={"peer": "192.0.2.9:9", "exit_code": 0})
    (line,) = _json_lines(capsys.readouterr().err)
    assert line["peer"] == "192.0.2.9:9"
    assert line["exit_code"] == 0


def test_concurrent_connections_keep_their_own_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert logsetup.setup_logging(0, DaemonConfig(daemon_log_format="json")) == []

    async def connection(peer: str, module: str, turns: list[anyio.Event]) -> None:
        logsetup.set_peer(peer)
        await turns[0].wait()
        logsetup.set_module(module)
        log.info("module %s", module)
        turns[1].set()

    async def main() -> None:
        a = [anyio.Event(), anyio.Event()]
        b = [anyio.Event(), anyio.Event()]
        async with anyio.create_task_group() as tg:
            tg.start_soon(connection, "192.0.2.1:1", "one", a)
            tg.start_soon(connection, "192.0.2.2:2", "two", b)
            b[0].set()  # the second connection picks its module first
            await b[1].wait()
            a[0].set()
        log.info("listener")

    anyio.run(main)
    lines = _json_lines(capsys.readouterr().err)
    assert [(x["message"], x["peer"], x["module"]) for x in lines] == [
        ("module two", "192.0.2.2:2", "two"),
        ("module one", "192.0.2.1:1", "one"),
        ("listener", None, None),
    ]


def test_text_format_is_rsyncs_line_without_the_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert logsetup.setup_logging(0, DaemonConfig()) == []
    with logsetup.connection_context("192.0.2.7:4242"):
        logsetup.set_module("pub")
        log.info("hello")
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(f" pyrsyncd[{os.getpid()}]: hello")
    assert "{" not in line


def test_log_file_keeps_rsyncs_lines_and_json_goes_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_path = tmp_path / "d.log"
    mod_log = tmp_path / "m.log"
    mod = ModuleConfig(name="m", path=str(tmp_path), log_file=str(mod_log))
    config = DaemonConfig(
        log_file=str(log_path), source="x.conf", daemon_log_format="json", modules={"m": mod}
    )
    assert logsetup.setup_logging(0, config) == []
    with logsetup.connection_context("192.0.2.7:4242"):
        log.info("daemon line")
        logsetup.set_module("m")
        logsetup.use_module_log(mod)
        log.info("module line")
    prefix, _, message = log_path.read_text().rstrip("\n").partition("] ")
    assert prefix.endswith(f"[{os.getpid()}")
    assert message == "daemon line"
    assert mod_log.read_text().rstrip("\n").endswith(f"[{os.getpid()}] module line")
    daemon_line, module_line = _json_lines(capsys.readouterr().err)
    assert (daemon_line["message"], daemon_line["module"]) == ("daemon line", None)
    assert (module_line["message"], module_line["module"]) == ("module line", "m")


def test_json_to_syslog_keeps_the_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    path = str(tmp_path / "log.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    monkeypatch.setattr(logsetup, "_SYSLOG_SOCKET", path)
    config = DaemonConfig(source="rsyncd.conf", syslog_tag="mytag", daemon_log_format="json")
    with server:
        assert logsetup.setup_logging(0, config) == []
        with logsetup.connection_context("192.0.2.3:3"):
            log.info("to syslog")
        data = server.recv(4096).decode()
    prefix, _, body = data.partition(": ")
    assert prefix.endswith(f"mytag[{os.getpid()}]")
    obj = json.loads(body.rstrip("\x00\n"))
    assert (obj["message"], obj["peer"]) == ("to syslog", "192.0.2.3:3")


def test_config_toml_rsyncd_conf_cli_and_api_set_the_format(tmp_path: Path) -> None:
    toml = tmp_path / "d.toml"
    toml.write_text(f'daemon_log_format = "json"\n[modules.m]\npath = "{tmp_path}"\n')
    assert load_config(toml).daemon_log_format == "json"
    conf = tmp_path / "rsyncd.conf"
    conf.write_text(f"daemon log format = JSON\n[m]\npath = {tmp_path}\n")
    assert load_config(conf).daemon_log_format == "json"
    assert build_config({"m": tmp_path}, log_format="json").daemon_log_format == "json"
    assert build_config({"m": tmp_path}).daemon_log_format == "text"
    ns = _parser().parse_args(["--module", f"m={tmp_path}", "--log-format", "json"])
    assert cli_build_config(ns).daemon_log_format == "json"
    ns = _parser().parse_args(["--config", str(toml), "--log-format", "text"])
    assert cli_build_config(ns).daemon_log_format == "text"  # the flag wins


def test_bad_format_is_a_config_error(tmp_path: Path) -> None:
    toml = tmp_path / "d.toml"
    toml.write_text('daemon_log_format = "xml"\n')
    with pytest.raises(ConfigError, match=r"d\.toml:1: 'daemon_log_format' expects one of"):
        load_config(toml)
    conf = tmp_path / "rsyncd.conf"
    conf.write_text(f"daemon log format = xml\n[m]\npath = {tmp_path}\n")
    with pytest.raises(ConfigError, match=r"rsyncd\.conf:1: 'daemon log format' expects"):
        load_config(conf)
    conf.write_text(f"[m]\npath = {tmp_path}\ndaemon log format = json\n")
    with pytest.raises(ConfigError, match="is a global parameter"):
        load_config(conf)
