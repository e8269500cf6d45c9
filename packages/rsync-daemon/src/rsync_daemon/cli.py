"""``pyrsyncd``: the daemon's command line.

Forms:
  pyrsyncd --listen HOST:PORT --module NAME=PATH [--module ...]
  pyrsyncd --config FILE            (TOML when it ends in .toml, else rsyncd.conf)
  pyrsyncd --daemon [--no-detach] [--config=FILE] [--address=ADDR] [--port=PORT]
  pyrsyncd --server [--sender] ...  (what a client runs over SSH)
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

from rsync_daemon.config import DaemonConfig, load_config, parse_listen, parse_module_flag
from rsync_daemon.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]

log = logging.getLogger("rsync_daemon")

ALL_ADDRESSES = "0.0.0.0"  # noqa: S104 - rsync's daemon listens on every address by default


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pyrsyncd",
        description="An rsync daemon, wire-compatible with rsync 3.x clients (protocols 27-32).",
    )
    p.add_argument(
        "--listen",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="address to listen on (repeatable; port 0 picks a free port)",
    )
    p.add_argument(
        "--module",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="serve PATH read-only as module NAME (repeatable)",
    )
    p.add_argument("--config", metavar="FILE", help="TOML (.toml) or rsyncd.conf configuration")
    p.add_argument("--daemon", action="store_true", help="rsync-compatible daemon mode")
    p.add_argument("--no-detach", action="store_true", help="stay in the foreground (--daemon)")
    p.add_argument("--address", help="address to bind (rsync compatible)")
    p.add_argument("--port", type=int, help="port to bind (rsync compatible)")
    p.add_argument("--log-file", help="append log lines to this file instead of stderr")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log more")
    p.add_argument(
        "--no-fork",
        action="store_true",
        help="serve connections one at a time in the listener process (debugging)",
    )
    return p


def _setup_logging(verbose: int, log_file: str | None) -> None:
    handler: logging.Handler
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s pyrsyncd[%(process)d]: %(message)s", "%Y/%m/%d %H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def build_config(ns: argparse.Namespace) -> DaemonConfig:
    """Merge the configuration file and the flags into one configuration.

    Raises:
        ConfigError: bad values, or nothing to serve.
    """
    config = load_config(ns.config) if ns.config else DaemonConfig()
    if ns.daemon and not ns.config and not ns.module and os.path.exists("/etc/rsyncd.conf"):
        config = load_config("/etc/rsyncd.conf")
    for text in ns.module:
        mod = parse_module_flag(text)
        config.modules[mod.name] = mod
    if ns.listen:
        config.listen = [parse_listen(v) for v in ns.listen]
    if ns.address is not None or ns.port is not None:
        default_host = config.listen[0][0] if config.listen else ALL_ADDRESSES
        host = ns.address if ns.address is not None else default_host
        port = ns.port if ns.port is not None else (config.listen[0][1] if config.listen else 873)
        config.listen = [(host, port)]
    if not config.listen:
        config.listen = [(ALL_ADDRESSES, 873)]
    if not config.modules:
        msg = "no modules to serve: give --module NAME=PATH or --config FILE"
        raise ConfigError(msg)
    for mod in config.modules.values():
        if not os.path.isdir(mod.path):
            where = f"{config.source}: " if config.source else ""
            msg = f"{where}module {mod.name!r}: path {mod.path!r} is not a directory"
            raise ConfigError(msg)
    if ns.log_file:
        config.log_file = ns.log_file
    return config


def _detach() -> None:
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(devnull, fd)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the daemon; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--server" in args:
        from rsync_daemon.stdio import main_server

        return main_server(args)
    ns = _parser().parse_args(args)
    try:
        config = build_config(ns)
    except ConfigError as exc:
        return int(exc.exit_code)
    _setup_logging(ns.verbose, config.log_file)
    from rsync_daemon.server import bind_listeners, serve_forever

    try:
        listeners = bind_listeners(config)
    except OSError:
        return 10
    if ns.daemon and not ns.no_detach:
        _detach()
    if config.pid_file:
        with open(config.pid_file, "w") as fh:
            fh.write(f"{os.getpid()}\n")
    for sock in listeners:
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        log.info("listening on %s, modules: %s", shown, ", ".join(config.modules))
    return serve_forever(config, listeners, fork=not ns.no_fork)


if __name__ == "__main__":
    sys.exit(main())
