"""The daemon's public API as documented, for mypy (test_typing.py); not run."""

from __future__ import annotations

from pathlib import Path
from typing import assert_type

import anyio

from rsync_daemon import (
    ConfigError,
    DaemonConfig,
    ModuleConfig,
    RunningDaemon,
    ServeError,
    async_serve,
    build_config,
    load_config,
    serve,
    start,
)


def blocking() -> None:
    code = serve({"pub": "/srv/pub", "data": Path("/srv/data")}, listen="127.0.0.1:8730")
    assert_type(code, int)
    upload = ModuleConfig(name="up", path="/srv/in", read_only=False, auth_users=["alice"])
    serve({"up": upload}, listen=["0.0.0.0:873", "[::]:873"], max_connections=5, verbose=1)


def background() -> None:
    try:
        with start({"pub": "/srv/pub"}, motd="hi", sandbox="landlock") as daemon:
            assert_type(daemon, RunningDaemon)
            assert_type(daemon.url("pub", "dir/"), str)
            assert_type(daemon.addresses, list[tuple[str, int]])
            assert_type(daemon.port, int)
            assert_type(daemon.returncode, int | None)
    except (ConfigError, ServeError, OSError):
        pass
    assert_type(build_config({"pub": "/srv"}, config="/etc/rsyncd.conf"), DaemonConfig)
    assert_type(load_config("/etc/pyrsyncd.toml"), DaemonConfig)


async def in_a_task_group() -> None:
    async with anyio.create_task_group() as tg:
        daemon: RunningDaemon = await tg.start(async_serve, {"pub": "/srv/pub"})
        assert_type(daemon.stop(), int)
