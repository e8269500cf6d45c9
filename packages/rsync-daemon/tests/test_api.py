"""``rsync_daemon.serve``/``start``/``async_serve``: modules served from code, confined."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from typing import TYPE_CHECKING

import anyio
import pytest

from rsync_daemon import (
    ConfigError,
    DaemonConfig,
    ModuleConfig,
    RunningDaemon,
    ServeError,
    async_serve,
    build_config,
    start,
)

if TYPE_CHECKING:
    from pathlib import Path

    from rsync_daemon.config import SandboxMode


def _rsync() -> str:
    found = shutil.which("rsync")
    if found is None:
        pytest.skip("the real rsync is not installed")
    return found


def _pull(url: str, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_rsync(), "-a", url, f"{dest}/"], capture_output=True, text=True, check=False
    )


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/task/{current}/children") as fh:
                kids = [int(k) for k in fh.read().split()]
        except OSError:
            continue
        found += kids
        todo += kids
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


def _status(pid: int, field: str) -> str:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(f"{field}:"):
                return line.split(":", 1)[1].strip()
    return ""


@pytest.fixture
def module(tmp_path: Path) -> Path:
    root = tmp_path / "pub"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "file").write_bytes(b"data" * 1000)
    (root / "top").write_bytes(b"top")
    root.chmod(0o755)
    tmp_path.chmod(0o755)
    return root


def test_start_serves_a_module_confined_and_stops(module: Path, tmp_path: Path) -> None:
    secret = tmp_path / "caller-secret"
    secret.write_bytes(b"the caller's own file")
    with secret.open("rb") as held, start({"pub": module}, motd="hello from code") as daemon:
        # none of the caller's open files reaches the daemon (they would escape Landlock)
        fds = os.listdir(f"/proc/{daemon.pid}/fd")
        targets = {os.readlink(f"/proc/{daemon.pid}/fd/{fd}") for fd in fds}
        assert str(secret) not in targets
        assert held.fileno() >= 0
        assert isinstance(daemon, RunningDaemon)
        assert daemon.addresses[0][0] == "127.0.0.1"
        assert daemon.port > 0
        assert daemon.url("pub", "sub") == f"rsync://127.0.0.1:{daemon.port}/pub/sub"
        result = _pull(daemon.url("pub"), tmp_path / "copy")
        assert result.returncode == 0, result.stderr
        assert "hello from code" in result.stdout
        assert (tmp_path / "copy" / "sub" / "file").read_bytes() == b"data" * 1000
        # confined as pyrsyncd confines itself: no_new_privs in the serving process, and
        # as root a mount namespace of its own (the caller is left as it was)
        serving = [
            p for p in (daemon.pid, *_descendants(daemon.pid)) if _cmdline(p) not in ("", "?")
        ]
        assert any(_status(pid, "NoNewPrivs") == "1" for pid in serving)
        assert _status(os.getpid(), "NoNewPrivs") == "0"
        if os.geteuid() == 0:
            ours = os.readlink("/proc/self/ns/mnt")
            assert any(os.readlink(f"/proc/{pid}/ns/mnt") != ours for pid in serving)
        listing = _pull(daemon.url(), tmp_path / "unused")
        assert "pub" in listing.stdout
    assert daemon.returncode == 0
    with socket.socket() as probe:  # the port is closed with the daemon
        assert probe.connect_ex(("127.0.0.1", daemon.port)) != 0


@pytest.mark.parametrize("mode", ["landlock", "off"])
def test_other_sandbox_modes_serve(module: Path, tmp_path: Path, mode: SandboxMode) -> None:
    # as root without namespaces the daemon would serve as nobody, who cannot reach pytest's
    # private temporary directory: keep root (the modules stay read-only under Landlock)
    base = DaemonConfig(uid=0, gid=0) if os.geteuid() == 0 else None
    with start({"pub": module}, sandbox=mode, config=base) as daemon:
        result = _pull(daemon.url("pub"), tmp_path / "copy")
        assert result.returncode == 0, result.stderr
        serving = [daemon.pid, *_descendants(daemon.pid)]
        # the live processes (a connection process that just ended lingers as a zombie)
        flags = {pid: (_status(pid, "NoNewPrivs"), _cmdline(pid)) for pid in serving}
        flags = {pid: flag for pid, flag in flags.items() if flag[1] not in ("", "?")}
        confined = any(flag == "1" for flag, _ in flags.values())
        assert confined == (mode != "off"), flags
    assert (tmp_path / "copy" / "top").read_bytes() == b"top"


def test_uploads_to_a_module_config(module: Path, tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    incoming.chmod(0o777)
    spec = ModuleConfig(name="ignored", path=str(incoming), read_only=False, uid=os.geteuid())
    with start({"up": spec, "pub": str(module)}) as daemon:
        result = subprocess.run(
            [_rsync(), "-r", f"{module}/", daemon.url("up")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    assert (incoming / "sub" / "file").read_bytes() == b"data" * 1000


def test_bad_arguments_fail_in_the_caller(module: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'nope': path .* is not a directory"):
        start({"nope": tmp_path / "missing"})
    with pytest.raises(ConfigError, match="no modules to serve"):
        start({})
    with pytest.raises(ConfigError, match="port 70000 is out of range"):
        start({"pub": module}, listen="127.0.0.1:70000")
    with pytest.raises(ConfigError, match="--module"):
        start({"bad/name": module})
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            start({"pub": module}, listen=f"127.0.0.1:{port}")


@pytest.mark.skipif(os.geteuid() != 0, reason="the writable-module check runs as root")
def test_confinement_refusal_is_a_serve_error(tmp_path: Path) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    tmp_path.chmod(0o755)
    with pytest.raises(ServeError, match=r"read-only module 'open' .* is writable by uid 65534"):
        start({"open": open_dir})


def test_build_config_adds_to_a_config_file(module: Path, tmp_path: Path) -> None:
    conf = tmp_path / "rsyncd.conf"
    conf.write_text(f"max connections = 3\n[other]\npath = {module}\n")
    cfg = build_config({"pub": module}, config=conf, listen=["127.0.0.1:0", "[::1]:0"])
    assert set(cfg.modules) == {"other", "pub"}
    assert cfg.modules["other"].max_connections == 3
    assert cfg.listen == [("127.0.0.1", 0), ("::1", 0)]
    assert cfg.modules["pub"].read_only


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_async_serve_reports_the_daemon_and_stops_when_cancelled(
    module: Path, tmp_path: Path
) -> None:
    async with anyio.create_task_group() as tg:
        daemon: RunningDaemon = await tg.start(async_serve, {"pub": module})
        result = await anyio.to_thread.run_sync(_pull, daemon.url("pub"), tmp_path / "copy")
        assert result.returncode == 0, result.stderr
        tg.cancel_scope.cancel()
    assert (tmp_path / "copy" / "top").read_bytes() == b"top"
    assert daemon.returncode == 0
