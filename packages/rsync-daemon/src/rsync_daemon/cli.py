"""``pyrsyncd``: the daemon's command line.

Forms:
  pyrsyncd --listen HOST:PORT --module NAME=PATH [--module ...]
  pyrsyncd --config FILE            (TOML when it ends in .toml, else rsyncd.conf)
  pyrsyncd --daemon [--no-detach] [--config=FILE] [--address=ADDR] [--port=PORT]
  pyrsyncd --anonssh-listen HOST:PORT ...   (the daemon protocol over anonymous SSH)
  pyrsyncd --inetd ...              (one client on standard input; also --daemon when
                                     standard input is a socket, as rsync does)
  pyrsyncd --server [--sender] ...  (what a client runs over SSH)

Sockets passed by systemd (LISTEN_FDS) replace --listen. The daemon confines itself
before it reads a byte from a client (see rsync_daemon.supervisor); --no-sandbox turns
that off.
"""

from __future__ import annotations

import signal

# This module is the program's entry point: a Ctrl-C while it loads ends it quietly, and
# main() then installs handlers that exit with rsync's code 20 (no KeyboardInterrupt
# traceback at any point of the start-up).
signal.signal(signal.SIGINT, signal.SIG_DFL)

import argparse  # noqa: E402 - after the handler, on purpose
import contextlib  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

from rsync_daemon.errors import ConfigError  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rsync_daemon.anonssh import SshSettings
    from rsync_daemon.config import DaemonConfig

__all__ = ["main"]

log = logging.getLogger("rsync_daemon")

ALL_ADDRESSES = "0.0.0.0"  # noqa: S104 - rsync's daemon listens on every address by default
SANDBOX_MODES = ("auto", "namespace", "landlock", "off")  # rsync_daemon.config.SANDBOX_MODES
DAEMON_LOG_FORMATS = ("text", "json")  # rsync_daemon.config.DAEMON_LOG_FORMATS
SIGNAL_EXIT = 20  # rsync: errcode.h RERR_SIGNAL


def _interrupted(_signum: int, _frame: object) -> None:
    """Ctrl-C or SIGTERM before the daemon serves: end quietly, as rsync does (code 20)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(SIGNAL_EXIT)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pyrsyncd",
        usage=(
            "%(prog)s --daemon [OPTION]...\n"
            "       %(prog)s --listen HOST:PORT --module NAME=PATH [OPTION]..."
        ),
        description=(
            f"pyrsyncd {_version()}: an rsync daemon, wire-compatible with rsync 3.x clients\n"
            "(protocols 27-32). It reads rsyncd.conf(5), and takes the options of\n"
            "rsync --daemon listed below (--daemon, --config, --no-detach, --address,\n"
            "--port, --log-file, -v) and its own."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See also the rsyncd.conf(5) manpage, and docs/ in the pyrsync sources.",
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
    p.add_argument(
        "--protocol", type=int, metavar="N", help="speak at most protocol N (27 to 32), as rsync"
    )
    p.add_argument("--log-file", help="append log lines to this file instead of stderr")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log more")
    p.add_argument(
        "--log-format",
        choices=DAEMON_LOG_FORMATS,
        help="the daemon's own log on stderr or syslog: text (rsync's lines, default) or json "
        "(one object a line: time, level, logger, message, peer, module, pid); "
        "a log file keeps rsync's lines",
    )
    p.add_argument(
        "-V", "--version", action="store_true", help="print the version and what it speaks, exit"
    )
    p.add_argument(
        "--no-fork",
        action="store_true",
        help="serve connections one at a time in the listener process (debugging)",
    )
    p.add_argument(
        "--anonssh-listen",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="also serve the modules over SSH, to any client without an account (repeatable)",
    )
    p.add_argument(
        "--anonssh-host-key",
        metavar="FILE",
        help="SSH host key, generated when missing (default: in the state directory)",
    )
    p.add_argument(
        "--anonssh-authorized-keys",
        metavar="FILE",
        help="let only the keys in this authorized_keys file use the SSH listener",
    )
    p.add_argument(
        "--inetd",
        action="store_true",
        help="serve the one client connected on standard input (inetd, systemd Accept=yes)",
    )
    p.add_argument(
        "--sandbox",
        choices=SANDBOX_MODES,
        help="confinement: auto (default), namespace (root), landlock, or off",
    )
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="do not confine the daemon (debugging; logged)",
    )
    return p


def build_config(ns: argparse.Namespace) -> DaemonConfig:
    """Merge the configuration file and the flags into one configuration.

    Raises:
        ConfigError: bad values, or nothing to serve.
    """
    from rsync_daemon.config import (
        DaemonConfig,
        check_protocol_option,
        load_config,
        parse_listen,
        parse_module_flag,
        settle_module_paths,
    )

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
    if ns.anonssh_listen:
        config.anonssh_listen = [parse_listen(v, default_port=22) for v in ns.anonssh_listen]
    if ns.anonssh_host_key:
        config.anonssh_host_key = os.path.abspath(ns.anonssh_host_key)
    if ns.anonssh_authorized_keys:
        config.anonssh_authorized_keys = os.path.abspath(ns.anonssh_authorized_keys)
    if ns.no_sandbox:
        config.sandbox = "off"
    elif ns.sandbox:
        config.sandbox = ns.sandbox
    if not config.listen and not config.anonssh_listen:
        config.listen = [(ALL_ADDRESSES, 873)]
    if not config.modules:
        msg = "no modules to serve: give --module NAME=PATH or --config FILE"
        raise ConfigError(msg)
    flagged = {parse_module_flag(text).name for text in ns.module}
    config.warnings.extend(settle_module_paths(config, required=flagged))
    if ns.log_file:
        config.log_file = ns.log_file
    if ns.protocol is not None:
        config.protocol = check_protocol_option(ns.protocol)
    if ns.log_format:
        config.daemon_log_format = ns.log_format
    return config


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rsync-daemon")
    except PackageNotFoundError:
        return "unknown"


def version_text() -> str:
    """What ``pyrsyncd --version`` prints: rsync's first line, then what the daemon speaks.

    rsync: usage.c print_rsync_version() (its first line and its algorithm lists).
    """
    from rsync_wire.proto.constants import (
        AUTH_DIGESTS,
        CHECKSUM_NAMES_SERVER,
        COMPRESS_NAMES_SERVER,
        MIN_PROTOCOL,
        PROTOCOL_VERSION,
    )

    lists = (
        ("Checksum list", CHECKSUM_NAMES_SERVER),
        ("Compress list", COMPRESS_NAMES_SERVER),
        ("Daemon auth list", AUTH_DIGESTS),
    )
    lines = [
        f"pyrsyncd  version {_version()}  protocol version {PROTOCOL_VERSION}",
        f"An rsync daemon in Python, wire-compatible with rsync 3.x clients (protocols "
        f"{MIN_PROTOCOL} to {PROTOCOL_VERSION}).",
    ]
    for title, names in lists:
        lines += [f"{title}:", "    " + " ".join(names)]
    return "\n".join(lines) + "\n"


def _detach() -> None:
    """Become a background daemon; standard input, output and error go to /dev/null.

    The launcher's pipes must not stay open (a caller reading them would wait forever);
    from here on the log (file or syslog) is where messages go.

    rsync: socket.c become_daemon().
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def _fail(message: str) -> None:
    """Report a start-up error: in the log (when it is set up), and always on stderr."""
    handlers = logging.getLogger().handlers
    to_stderr = any(getattr(h, "stream", None) is sys.stderr for h in handlers)
    if handlers:
        log.error("%s", message)
    if not to_stderr:
        sys.stderr.write(f"pyrsyncd: {message}\n")
        sys.stderr.flush()


def _load_ssh(config: DaemonConfig) -> SshSettings:
    """The SSH listener's keys (raises OSError, or ValueError for a key that does not parse)."""
    from rsync_daemon.anonssh import load_settings

    return load_settings(config)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the daemon; returns the process exit code."""
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return SIGNAL_EXIT


def _main(argv: Sequence[str] | None) -> int:
    from rsync_sandbox import SandboxError

    args = list(sys.argv[1:] if argv is None else argv)
    if "--server" in args:
        from rsync_daemon.stdio import main_server

        return main_server(args)
    ns = _parser().parse_args(args)
    if ns.version:
        sys.stdout.write(version_text())
        return 0
    # A launcher (some inetd, a shell) may have left SIGCHLD ignored, which makes the
    # kernel reap our children before we can wait for them.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        config = build_config(ns)
    except ConfigError as exc:
        _fail(str(exc))
        return int(exc.exit_code)
    from rsync_daemon.server import bind_listeners, format_peer
    from rsync_daemon.supervisor import run_daemon
    from rsync_daemon.systemd import SSH_FD_NAME, listen_fds, stdin_socket

    mode = config.sandbox
    try:
        activated = listen_fds()
    except (OSError, ValueError) as exc:
        _fail(f"LISTEN_FDS: {exc}")
        return 10
    connections = [a for a in activated if not a.listening]
    on_stdin = False
    if not activated and (ns.inetd or ns.daemon):
        sock = stdin_socket()
        if sock is not None:
            from rsync_daemon.systemd import ActivatedSocket, is_listening

            entry = ActivatedSocket(sock=sock, name="", listening=is_listening(sock))
            activated = [entry]
            connections = [] if entry.listening else [entry]
            on_stdin = not entry.listening
        elif ns.inetd:
            _fail("--inetd: standard input is not a socket")
            return 1
    # A client on standard input (inetd, RSYNC_CONNECT_PROG) may share our standard
    # error: the log never goes there, as rsync's syslog (rsync: log.c log_init()).
    from rsync_daemon.logsetup import setup_logging

    for problem in setup_logging(ns.verbose, config, stderr=not on_stdin):
        if not on_stdin:
            sys.stderr.write(f"pyrsyncd: {problem}\n")
        log.warning("%s", problem)
    for warning in config.warnings:
        log.warning("%s", warning)
    ssh: SshSettings | None = None
    ssh_wanted = bool(config.anonssh_listen) or any(a.name == SSH_FD_NAME for a in activated)
    if ssh_wanted:
        try:
            ssh = _load_ssh(config)
        except (OSError, ValueError) as exc:
            _fail(f"SSH listener: {exc}")
            return 1
    if connections:
        from rsync_daemon.inetd import serve_connection

        conn = connections[0]
        try:
            return serve_connection(
                config, conn.sock, mode=mode, ssh=ssh if conn.name == SSH_FD_NAME else None
            )
        except (ConfigError, SandboxError) as exc:
            _fail(f"cannot start: {exc}")
            return int(ConfigError.exit_code)
    if activated:
        listeners = [a.sock for a in activated if a.name != SSH_FD_NAME]
        ssh_listeners = [a.sock for a in activated if a.name == SSH_FD_NAME]
    else:
        try:
            listeners = bind_listeners(config)
            ssh_listeners = bind_listeners(config, config.anonssh_listen)
        except OSError as exc:
            _fail(str(exc))
            return 10
    if ns.daemon and not ns.no_detach and not activated:
        _detach()
    for sock in [*listeners, *ssh_listeners]:
        shown = format_peer(sock.getsockname())
        what = "ssh " if sock in ssh_listeners else ""
        origin = " (from systemd)" if activated else ""
        log.info("listening on %s%s%s, modules: %s", what, shown, origin, ", ".join(config.modules))
        if not what and not activated:  # rsync's own start-up line, which scripts look for
            log.info(
                "pyrsyncd version %s starting, listening on port %d",
                _version(),
                sock.getsockname()[1],
            )
    if config.pid_file:
        from rsync_daemon.safeopen import open_trusted

        try:
            fd = open_trusted(config.pid_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            _fail(f"failed to create pid file {config.pid_file}: {exc.strerror}")
            return 1
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
    try:
        return run_daemon(
            config,
            listeners,
            mode=mode,
            fork=not ns.no_fork,
            ssh_listeners=ssh_listeners,
            ssh=ssh,
        )
    except (ConfigError, SandboxError) as exc:
        _fail(f"cannot start: {exc}")
        return int(ConfigError.exit_code)


if __name__ == "__main__":
    sys.exit(main())
