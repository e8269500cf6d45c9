"""rsync_daemon: ``pyrsyncd``, an rsync daemon that confines itself, and its Python API.

Serve modules from code::

    from rsync_daemon import start

    with start({"pub": "/srv/pub"}, listen="127.0.0.1:0") as daemon:
        print(daemon.url("pub"))  # rsync://127.0.0.1:PORT/pub/

The public interface is ``__all__`` (see README.md); every other module is internal and
may change between versions:

- :func:`serve` (blocking), :func:`start` (a :class:`RunningDaemon`), :func:`async_serve`
  (anyio): run the daemon, confined as ``pyrsyncd`` confines itself;
- :func:`build_config`, :func:`load_config`, :class:`DaemonConfig`, :class:`ModuleConfig`:
  its configuration (flags, TOML or rsyncd.conf);
- :class:`ConfigError`, :class:`ServeError`: what stops it from starting;
- :func:`main`: the ``pyrsyncd`` command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rsync_daemon.api import (
        RunningDaemon,
        ServeError,
        async_serve,
        build_config,
        serve,
        start,
    )
    from rsync_daemon.cli import main
    from rsync_daemon.config import DaemonConfig, ModuleConfig, load_config
    from rsync_daemon.errors import ConfigError

__all__ = [
    "ConfigError",
    "DaemonConfig",
    "ModuleConfig",
    "RunningDaemon",
    "ServeError",
    "async_serve",
    "build_config",
    "load_config",
    "main",
    "serve",
    "start",
]

_HOMES = {
    "ConfigError": "rsync_daemon.errors",
    "DaemonConfig": "rsync_daemon.config",
    "ModuleConfig": "rsync_daemon.config",
    "load_config": "rsync_daemon.config",
    "main": "rsync_daemon.cli",
}


def __getattr__(name: str) -> Any:
    # Loaded on first use: ``python -m rsync_daemon`` imports this package first, and the
    # command line installs its signal handlers before anything heavy loads.
    if name in __all__:
        import importlib

        return getattr(importlib.import_module(_HOMES.get(name, "rsync_daemon.api")), name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
