"""Each connection process confines itself to its own connection before serving it.

How this works: the daemon as a whole is confined once (rsync_daemon.supervisor: mount
and PID namespaces, privilege drop, Landlock on the modules), and every process serving
one connection inherits that. On top, each such process calls
`confine_connection_process` before it reads the client's first byte, which applies
`rsync_sandbox.confine_connection` with the policy `connection_policy` derives from the
configuration:

- a Landlock domain of the process's own: no TCP ``bind`` or ``connect``, and signals and
  abstract UNIX sockets scoped to it (it cannot signal the daemon, PID 1 of its
  namespace, nor a sibling connection); the daemon's file rules keep applying;
- a seccomp filter: no new sockets (but UNIX datagram ones while a syslog handler is
  configured: it reconnects to ``/dev/log`` after an error), no namespaces, tracing,
  mounts, ``kexec``, ``bpf``, keyrings, ... (``EPERM``); ``fork``/``execve`` stay, so
  that hook commands (``pre-xfer exec``) still run, confined alike.

Where: the listener's forked child (rsync_daemon.server), a connection handed over by
inetd or systemd (rsync_daemon.inetd, anonymous SSH included), ``--server`` over a remote
shell, plain or ``--daemon`` (rsync_daemon.stdio). Mode ``off`` applies nothing, mode
``namespace`` the seccomp filter only (that mode means no Landlock). A layer the kernel
lacks is logged once at start-up by `announce` (a probe process applies the policy and
reports), and skipped quietly in each connection; a failed self-check refuses the
connection.

What the policy keeps out also binds what runs after it: a DNS lookup in the connection
process (``reverse lookup``, host names in ``hosts allow``) needs ``socket(AF_INET*)``, and
a hook command that talks to the network needs sockets and TCP ``connect``. Such a
feature either does its lookups before `confine_connection_process` (the peer's address is
known at ``accept``) or opens exactly what it needs in `connection_policy`
(``ConnectionPolicy.socket_families``, ``tcp_connect``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Any

from rsync_daemon.config import insecure_links_modules
from rsync_daemon.hostpaths import extra_read_only_paths
from rsync_sandbox import (
    ConnectionPolicy,
    SandboxError,
    confine_connection,
    confine_reads,
    confine_writes,
)
from rsync_wire.errors import ExitCode

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rsync_daemon.config import DaemonConfig, ModuleConfig
    from rsync_sandbox import Mode

__all__ = ["announce", "confine_connection_process", "connection_policy"]

log = logging.getLogger("rsync_daemon")

_PREFIX = "sandbox: connection processes"


def _syslog_in_use() -> bool:
    """Whether a logging handler writes to a local syslog socket (``/dev/log``)."""
    handlers_module = sys.modules.get("logging.handlers")
    if handlers_module is None:
        return False
    syslog_handler = handlers_module.SysLogHandler
    loggers = [logging.getLogger(), log]
    return any(
        isinstance(handler, syslog_handler) and getattr(handler, "unixsocket", False)
        for logger in loggers
        for handler in logger.handlers
    )


def connection_policy(mode: Mode) -> ConnectionPolicy | None:
    """What a connection process confines itself to under sandbox ``mode``; None for off.

    Args:
        mode: the daemon's sandbox mode (``auto``, ``namespace``, ``landlock``, ``off``).
    """
    if mode == "off":
        return None
    return ConnectionPolicy(landlock=mode != "namespace", unix_datagram=_syslog_in_use())


def confine_connection_process(
    config: DaemonConfig | None, peer: str, *, announce_here: bool = False
) -> int | None:
    """Confine this connection process (irreversible); None when it may serve.

    Call it in the process that serves the connection, single-threaded, before anything
    reads from the client.

    Args:
        config: the configuration (its sandbox mode), or None for ``--server`` over a
            remote shell (mode ``auto``).
        peer: the client, for log lines.
        announce_here: this process is the only one (inetd, remote shell): log what is
            in force as the listener's start-up does (warnings included).

    Returns:
        None when confined as the policy asks (or the policy asks nothing); otherwise the
        exit code to end the connection with (the reason is logged).
    """
    policy = connection_policy(config.sandbox if config is not None else "auto")
    if policy is None:
        return None
    try:
        report = confine_connection(policy)
    except SandboxError as exc:
        log.error("[%s] %s: cannot confine this one, refused: %s", peer, _PREFIX, exc)  # noqa: TRY400
        return int(ExitCode.STARTCLIENT)
    if announce_here:
        _log_lines(report.description, report.warnings)
    else:
        log.debug("[%s] %s: %s", peer, _PREFIX, report.description)
    return None


def confine_module_writes(
    config: DaemonConfig | None,
    peer: str,
    writable: str | None,
    *,
    module: ModuleConfig | None = None,
) -> int | None:
    """Once the module is known: writes only inside it (uploads), or nowhere; None to serve.

    When the daemon also serves a module with ``insecure links = yes`` (and so may read
    anywhere: rsync_daemon.supervisor), reading is narrowed back to ``module`` too. A
    connection to such a module itself follows its links wherever they lead: an upload
    to it is not confined to its path.

    Returns:
        None when in force (or the sandbox is off, or the kernel has no Landlock);
        otherwise the exit code to end the connection with (the reason is logged).
    """
    policy = connection_policy(config.sandbox if config is not None else "auto")
    if policy is None or not policy.landlock:
        return None
    if module is not None and config is not None and insecure_links_modules(config):
        if module.follows_any_link:
            if writable is not None:
                return None  # writes follow the module's links (the administrator's choice)
        else:
            try:
                confine_reads(module.path, extra_read_only_paths(config))
            except SandboxError as exc:
                log.error(  # noqa: TRY400 - the reason is the message, not a traceback
                    "[%s] %s: cannot confine reads to the module, refused: %s", peer, _PREFIX, exc
                )
                return int(ExitCode.STARTCLIENT)
    if threading.active_count() > 1:
        # An anonymous SSH connection runs asyncssh's threads; a Landlock layer added now
        # would bind this thread only. The layers from before the first byte still hold.
        log.warning(
            "[%s] %s: writes not confined to the module (the process has threads)", peer, _PREFIX
        )
        return None
    try:
        confine_writes(writable)
    except SandboxError as exc:
        log.error("[%s] %s: cannot confine writes to the module, refused: %s", peer, _PREFIX, exc)  # noqa: TRY400
        return int(ExitCode.STARTCLIENT)
    return None


def _log_lines(description: str, warnings: Sequence[str]) -> None:
    """The start-up lines: what is in force (info), then each missing layer (warning)."""
    log.info("%s: %s", _PREFIX, description)
    for warning in warnings:
        log.warning("%s: %s", _PREFIX, warning)


def announce(config: DaemonConfig, *, fork: bool = True) -> None:
    """Log at start-up what every connection process will confine itself to.

    A probe process applies the same policy as a connection process would, reports what
    is in force and exits; nothing changes in this process.

    Raises:
        SandboxError: the probe's confinement failed (a self-check or a call): every
            connection would be refused, so the daemon does not start.
    """
    policy = connection_policy(config.sandbox)
    if policy is None:
        return
    if not fork:
        log.warning("%s: not confined on their own (--no-fork serves in this process)", _PREFIX)
        return
    read_fd, write_fd = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    pid = os.fork()
    if pid == 0:  # the probe: confine, report, exit
        result: dict[str, Any] = {"error": "the probe did not finish"}
        try:
            os.close(read_fd)
            report = confine_connection(policy)
            result = {"description": report.description, "warnings": list(report.warnings)}
        except BaseException as exc:  # noqa: BLE001 - reported to the parent below
            result = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            with contextlib.suppress(OSError):
                os.write(write_fd, json.dumps(result).encode())
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        text = pipe.read().decode("utf-8", "replace")
    os.waitpid(pid, 0)
    answer: dict[str, Any]
    try:
        answer = json.loads(text)
    except ValueError:
        answer = {"error": f"the probe process ended without a report ({text!r})"}
    if "error" in answer:
        msg = f"connection processes cannot confine themselves: {answer['error']}"
        raise SandboxError(msg)
    _log_lines(str(answer["description"]), [str(w) for w in answer["warnings"]])
