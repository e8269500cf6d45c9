"""Serve modules from Python code: ``serve(modules={"pub": "/srv/pub"}, listen=...)``.

What ``pyrsyncd --listen HOST:PORT --module NAME=PATH`` does, as a call:

- :func:`serve` blocks until the daemon ends (Ctrl-C, SIGTERM);
- :func:`start` returns a :class:`RunningDaemon` (a context manager) once the daemon is
  confined and serving, with its addresses, for tests and programs that go on working;
- :func:`async_serve` is the same for anyio programs: ``await tg.start(async_serve, ...)``
  reports the :class:`RunningDaemon`, and cancelling the task stops the daemon.

How this works, and how it differs from ``pyrsyncd``: the calling process builds and
checks the configuration (a bad module raises :class:`~rsync_daemon.errors.ConfigError`
here) and binds the listening sockets (an address in use raises ``OSError`` here; a port
below 1024 needs the caller to be root). The daemon itself runs in a child process, a
fresh interpreter that gets the sockets and the configuration and then runs pyrsyncd's
own sequence (:func:`rsync_daemon.supervisor.confine`, then
:func:`rsync_daemon.server.serve_forever`): the same confinement (namespaces and privilege
drop as root, Landlock, the per-connection sandbox), the same checks, the same fork per
connection. The calling process is never confined, and the child inherits none of its
open files. Unlike the command line there is no pid file, no detaching, no SSH listener
and no systemd or inetd sockets. The child is this interpreter (``sys.executable -P``) with
the caller's environment: ``rsync_daemon`` must be importable there without the current
directory (installed, or on ``PYTHONPATH``). The child does not outlive a normal exit of the calling
interpreter (it is stopped at exit), but a caller killed with SIGKILL leaves it serving.

rsync: clientserver.c daemon_main() (what ``rsync --daemon`` does at start-up).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import weakref
from typing import TYPE_CHECKING, Final

import anyio
import msgspec

from rsync_daemon.config import DaemonConfig, DaemonLogFormat, ModuleConfig, SandboxMode
from rsync_daemon.errors import ConfigError
from rsync_wire.errors import ExitCode, RsyncError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from types import TracebackType

    from anyio.abc import TaskStatus

__all__ = ["RunningDaemon", "ServeError", "async_serve", "build_config", "serve", "start"]

log = logging.getLogger("rsync_daemon")

_POLL: Final = 0.5  # seconds between looks at a starting child that says nothing
_STOP_GRACE: Final = 10.0  # seconds a stopping daemon gets before SIGKILL
_CHILD: Final = "from rsync_daemon.api import _child_main; _child_main()"


class ServeError(RsyncError):
    """The daemon could not start (its confinement failed or refused), or died starting."""

    exit_code = ExitCode.STARTCLIENT


ModuleSpec = str | os.PathLike[str] | ModuleConfig
"""A module: its path (served read-only, as ``--module NAME=PATH``), or a whole
:class:`~rsync_daemon.config.ModuleConfig` (``read_only=False`` for uploads, ``auth_users``,
``hosts_allow``...)."""


def build_config(
    modules: Mapping[str, ModuleSpec] | None = None,
    *,
    listen: str | Iterable[str] = "127.0.0.1:0",
    config: str | os.PathLike[str] | DaemonConfig | None = None,
    motd: str | None = None,
    max_connections: int | None = None,
    sandbox: SandboxMode | None = None,
    log_file: str | os.PathLike[str] | None = None,
    log_format: DaemonLogFormat | None = None,
) -> DaemonConfig:
    """The daemon's configuration from :func:`serve`'s arguments (checked, nothing bound).

    Modules are added to those of ``config`` (a TOML or rsyncd.conf file, or a
    :class:`DaemonConfig`); a module named here must have a usable path.

    Raises:
        ConfigError: a bad module name or path, a bad address, a bad file, or no module.
    """
    from rsync_daemon.config import (
        load_config,
        parse_listen,
        parse_module_flag,
        settle_module_paths,
    )

    if isinstance(config, DaemonConfig):
        cfg = msgspec.structs.replace(config, modules=dict(config.modules))
    else:
        cfg = load_config(config) if config is not None else DaemonConfig()
    named = set()
    for name, spec in (modules or {}).items():
        path = spec.path if isinstance(spec, ModuleConfig) else os.fspath(spec)
        mod = parse_module_flag(f"{name}={path}")  # the checks of --module NAME=PATH
        if isinstance(spec, ModuleConfig):
            mod = msgspec.structs.replace(spec, name=name, path=mod.path)
        cfg.modules[name] = mod
        named.add(name)
    cfg.listen = [parse_listen(v) for v in ([listen] if isinstance(listen, str) else listen)]
    if not cfg.listen:
        msg = "listen: no address to listen on"
        raise ConfigError(msg)
    if motd is not None:
        cfg.motd_text = motd.encode() if motd.endswith("\n") or not motd else f"{motd}\n".encode()
    if max_connections is not None:
        cfg.max_connections = max_connections
    if sandbox is not None:
        cfg.sandbox = sandbox
    if log_file is not None:
        cfg.log_file = os.fspath(log_file)
    if log_format is not None:
        cfg.daemon_log_format = log_format
    if not cfg.modules:
        msg = "no modules to serve: give modules={NAME: PATH} or a config file"
        raise ConfigError(msg)
    cfg.warnings.extend(settle_module_paths(cfg, required=named))
    return cfg


class _ChildRequest(msgspec.Struct, kw_only=True):
    """What the child process gets on its standard input."""

    config: DaemonConfig
    listeners: list[int]
    status: int
    verbose: int


class RunningDaemon:
    """A daemon started by :func:`start` or :func:`async_serve`; stop it with :meth:`stop`.

    Attributes:
        addresses: the ``(host, port)`` pairs it listens on (the real port for port 0).
        pid: the daemon's process id.
    """

    def __init__(self, process: subprocess.Popen[bytes], addresses: list[tuple[str, int]]):
        self._process = process
        self.addresses = addresses
        self.pid = process.pid

    @property
    def port(self) -> int:
        """The port of the first address."""
        return self.addresses[0][1]

    def url(self, module: str = "", path: str = "") -> str:
        """``rsync://HOST:PORT/MODULE/PATH`` for the first address (a wildcard: loopback)."""
        host, port = self.addresses[0]
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
        shown = f"[{host}]" if ":" in host else host
        tail = f"{module}/{path}" if module else ""
        return f"rsync://{shown}:{port}/{tail}"

    @property
    def returncode(self) -> int | None:
        """The daemon's exit code once it ended, else ``None``."""
        return self._process.poll()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the daemon to end; returns its exit code.

        Raises:
            subprocess.TimeoutExpired: still running after ``timeout`` seconds.
        """
        return self._process.wait(timeout)

    def stop(self) -> int:
        """Stop the daemon (SIGTERM: connections end, as with ``pyrsyncd``); its exit code.

        Waits for it; after a grace period it is killed.
        """
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(_STOP_GRACE)
            except subprocess.TimeoutExpired:
                self._process.kill()
        return self._process.wait()

    def __enter__(self) -> RunningDaemon:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


_running: weakref.WeakSet[RunningDaemon] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for daemon in list(_running):
        with contextlib.suppress(Exception):
            daemon.stop()


def _spawn(config: DaemonConfig, verbose: int) -> tuple[RunningDaemon, socket.socket]:
    """Bind, start the child with the sockets; returns it and the status socket to read."""
    from rsync_daemon.server import bind_listeners

    listeners = bind_listeners(config)
    status, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        addresses = [tuple(s.getsockname()[:2]) for s in listeners]
        request = _ChildRequest(
            config=config,
            listeners=[s.fileno() for s in listeners],
            status=child_end.fileno(),
            verbose=verbose,
        )
        process = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed program
            [sys.executable, "-P", "-c", _CHILD],  # -P: nothing imported from the cwd
            stdin=subprocess.PIPE,
            pass_fds=(*request.listeners, request.status),
        )
        assert process.stdin is not None  # noqa: S101 - stdin=PIPE
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(msgspec.json.encode(request))
        process.stdin.close()
    except BaseException:
        status.close()
        raise
    finally:
        child_end.close()
        for sock in listeners:
            sock.close()
    daemon = RunningDaemon(process, [(str(h), int(p)) for h, p in addresses])
    _running.add(daemon)
    return daemon, status


def _started(daemon: RunningDaemon, message: bytes | None) -> bool:
    """Judge the child's status message: True once serving; raises if it failed."""
    if message == b"ready":
        return True
    if message:
        daemon.stop()
        text = message.decode("utf-8", "replace").removeprefix("error: ")
        raise ServeError(text)
    code = daemon.returncode
    if code is None and message is None:
        return False  # still starting
    if code is None:
        code = daemon.stop()
    msg = f"the daemon exited with code {code} before serving (see its log)"
    raise ServeError(msg)


def start(
    modules: Mapping[str, ModuleSpec] | None = None,
    *,
    listen: str | Iterable[str] = "127.0.0.1:0",
    config: str | os.PathLike[str] | DaemonConfig | None = None,
    motd: str | None = None,
    max_connections: int | None = None,
    sandbox: SandboxMode | None = None,
    log_file: str | os.PathLike[str] | None = None,
    log_format: DaemonLogFormat | None = None,
    verbose: int = 0,
) -> RunningDaemon:
    """Start a daemon serving ``modules``; returns once it is confined and accepting.

    The daemon is a child process confined as ``pyrsyncd`` confines itself; this process
    is not confined (the module docstring says what differs from the command line).

    Args:
        modules: ``{name: path}`` (read-only, as ``--module NAME=PATH``) or
            ``{name: ModuleConfig(...)}``; added to those of ``config``.
        listen: ``HOST:PORT`` (or several); port 0 picks a free port
            (:attr:`RunningDaemon.addresses` tells which).
        config: a TOML or rsyncd.conf file (as ``pyrsyncd --config``), or a
            :class:`~rsync_daemon.config.DaemonConfig`, to start from.
        motd: text greeting every client.
        max_connections: connections served at once (0: no limit).
        sandbox: ``"auto"`` (default), ``"namespace"``, ``"landlock"`` or ``"off"``.
        log_file: where the daemon logs (default: standard error, as ``pyrsyncd``).
        log_format: ``"json"`` writes the daemon's own log on standard error (or syslog)
            as one JSON object a line (``pyrsyncd --log-format json``); a ``log_file``
            keeps rsync's lines. Default: the configuration's, else ``"text"``.
        verbose: the daemon's ``-v`` count (more log lines).

    Returns:
        The running daemon; use it as a context manager, or call :meth:`~RunningDaemon.stop`.

    Raises:
        ConfigError: a bad module, address or file.
        OSError: an address cannot be bound.
        ServeError: the daemon failed to start (its confinement failed or refused).
    """
    cfg = build_config(
        modules,
        listen=listen,
        config=config,
        motd=motd,
        max_connections=max_connections,
        sandbox=sandbox,
        log_file=log_file,
        log_format=log_format,
    )
    daemon, status = _spawn(cfg, verbose)
    with status:
        try:
            while True:
                readable, _, _ = select.select([status], [], [], _POLL)
                message = status.recv(4096) if readable else None
                if _started(daemon, message):
                    return daemon
        except BaseException:
            daemon.stop()
            raise


def serve(
    modules: Mapping[str, ModuleSpec] | None = None,
    *,
    listen: str | Iterable[str] = "127.0.0.1:873",
    config: str | os.PathLike[str] | DaemonConfig | None = None,
    motd: str | None = None,
    max_connections: int | None = None,
    sandbox: SandboxMode | None = None,
    log_file: str | os.PathLike[str] | None = None,
    log_format: DaemonLogFormat | None = None,
    verbose: int = 0,
) -> int:
    """Serve ``modules`` until the daemon ends; returns its exit code.

    The arguments are :func:`start`'s (here ``listen`` defaults to rsync's port on
    loopback). Ctrl-C or SIGTERM to the daemon stops it (a ``KeyboardInterrupt`` in the
    caller stops it too, then propagates).

    Raises:
        ConfigError: a bad module, address or file.
        OSError: an address cannot be bound.
        ServeError: the daemon failed to start.
    """
    with start(
        modules,
        listen=listen,
        config=config,
        motd=motd,
        max_connections=max_connections,
        sandbox=sandbox,
        log_file=log_file,
        log_format=log_format,
        verbose=verbose,
    ) as daemon:
        return daemon.wait()


async def async_serve(
    modules: Mapping[str, ModuleSpec] | None = None,
    *,
    listen: str | Iterable[str] = "127.0.0.1:0",
    config: str | os.PathLike[str] | DaemonConfig | None = None,
    motd: str | None = None,
    max_connections: int | None = None,
    sandbox: SandboxMode | None = None,
    log_file: str | os.PathLike[str] | None = None,
    log_format: DaemonLogFormat | None = None,
    verbose: int = 0,
    task_status: TaskStatus[RunningDaemon] = anyio.TASK_STATUS_IGNORED,
) -> int:
    """Serve ``modules`` until cancelled (the daemon is then stopped); its exit code.

    ``daemon = await task_group.start(async_serve, {...})`` returns once the daemon is
    confined and accepting (see :func:`start` for the arguments and errors).
    """
    cfg = build_config(
        modules,
        listen=listen,
        config=config,
        motd=motd,
        max_connections=max_connections,
        sandbox=sandbox,
        log_file=log_file,
        log_format=log_format,
    )
    daemon, status = _spawn(cfg, verbose)
    try:
        with status:
            while True:
                message = None
                with anyio.move_on_after(_POLL):
                    await anyio.wait_readable(status)
                    message = status.recv(4096)
                if _started(daemon, message):
                    break
        task_status.started(daemon)
        return await anyio.to_thread.run_sync(daemon.wait, abandon_on_cancel=True)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(daemon.stop)


def _child_main() -> None:
    """The daemon process (started by :func:`start`): confine, say so, serve; exits.

    rsync: clientserver.c daemon_main().
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # the caller's Ctrl-C: end quietly
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    request = msgspec.json.decode(sys.stdin.buffer.read(), type=_ChildRequest)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    status = socket.socket(fileno=request.status)
    listeners = [socket.socket(fileno=fd) for fd in request.listeners]
    for sock in (status, *listeners):
        sock.set_inheritable(False)
    sys.exit(_run_child(request.config, listeners, status, request.verbose))


def _run_child(
    config: DaemonConfig, listeners: list[socket.socket], status: socket.socket, verbose: int
) -> int:
    from rsync_daemon.logsetup import setup_logging
    from rsync_daemon.server import format_peer, serve_forever
    from rsync_daemon.supervisor import confine
    from rsync_sandbox import SandboxError

    try:
        for problem in setup_logging(verbose, config):
            log.warning("%s", problem)
        for warning in config.warnings:
            log.warning("%s", warning)
        for sock in listeners:
            shown = format_peer(sock.getsockname())
            log.info("listening on %s, modules: %s", shown, ", ".join(config.modules))
        confine(config, mode=config.sandbox)
    except (ConfigError, SandboxError) as exc:
        log.error("cannot start: %s", exc)  # noqa: TRY400 - the message is the report
        with contextlib.suppress(OSError):
            status.send(f"error: cannot start: {exc}".encode())
        return int(ConfigError.exit_code)
    except Exception as exc:
        log.exception("cannot start")
        with contextlib.suppress(OSError):
            status.send(f"error: cannot start: {type(exc).__name__}: {exc}".encode())
        return int(ExitCode.CRASHED)
    with contextlib.suppress(OSError):
        status.send(b"ready")
    status.close()
    return serve_forever(config, listeners)
