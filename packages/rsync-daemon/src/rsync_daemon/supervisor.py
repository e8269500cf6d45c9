"""Bind, then confine, then serve: the daemon's security sequence.

How this works (bind before confining, confine before the event loop; gokrazy/rsync's order):

1. The caller has read the configuration, opened the log file and bound every
   listening socket (as root where the port needs it), or received them from systemd.
2. `prepare` imports everything a connection process will need later (the sender, the
   delta engine and numpy, the compressors, MD4, the event loop's backend, asyncssh for
   the SSH listener), initialises the C library's user database and time zone, and
   reads every secrets file into memory: after the next steps these files are out of
   reach.
3. As root with a serving user other than root, `check_modules_not_writable` forks a
   probe that becomes that user and tries to write to each read-only module. A module
   it can write to is a misconfiguration: start-up stops, naming the module and path.
4. `confine` builds a `rsync_sandbox.SandboxPolicy` and applies it. As root: a mount
   namespace and a PID namespace, every module bound at ``/<name>/module`` of an
   otherwise empty root (read-only, or read-write for a ``read only = no`` module; plus the
   Python installation, ``/etc/passwd``, ``/etc/group`` and ``/etc/localtime``,
   read-only), ``pivot_root``, the switch to uid/gid 65534 (or
   the configured ``uid``/``gid``), ``no_new_privs``, the self-checks, and Landlock
   on top. Without root: ``no_new_privs`` and Landlock (reading the modules and the
   same extra paths, writing only inside ``read only = no`` modules). The module
   paths in the configuration change to where the modules are now.
5. Only then does the accept loop (`rsync_daemon.server.serve_forever`) read from the
   network; each connection process it forks inherits the confinement.

This module does not bind sockets or parse the protocol; it decides what to confine
to and reports what is in force, in one start-up log line.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import grp
import importlib
import logging
import os
import pwd
import signal
import sys
import time
from typing import TYPE_CHECKING, Final

from rsync_daemon.auth import may_write, preload_secrets
from rsync_daemon.config import insecure_links_modules
from rsync_daemon.errors import ConfigError
from rsync_daemon.hostpaths import SYSTEM_FILES, extra_read_only_paths
from rsync_daemon.logsetup import adopt_host_pid
from rsync_sandbox import (
    NOBODY,
    Mechanism,
    SandboxError,
    SandboxPolicy,
    SandboxReport,
    SandboxUnavailable,
    SandboxViolation,
    abi_version,
    apply,
    check_writable,
    find_writable,
    keep_capabilities,
)
from rsync_wire.errors import ExitCode
from rsync_wire.roles.server_options import module_refusals, refusal_set

if TYPE_CHECKING:
    import socket

    from rsync_daemon.anonssh import SshSettings
    from rsync_daemon.config import DaemonConfig, ModuleConfig
    from rsync_sandbox import Mode

__all__ = [
    "SYSTEM_FILES",
    "check_modules_not_writable",
    "confine",
    "extra_read_only_paths",
    "may_write",
    "module_ids",
    "open_daemon_files",
    "per_module_users",
    "prepare",
    "run_daemon",
    "serving_ids",
]

log = logging.getLogger("rsync_daemon")

# Imported before confinement: a connection process must never need a file that is gone.
# (The Python installation stays readable too, see `extra_read_only_paths`, so a lazy
# import someone adds later still works; this list keeps the common paths fast and
# independent of that.)
_PRELOAD: Final = (
    "anyio._backends._asyncio",
    "anyio.streams.file",
    "anyio.streams.memory",
    "rsync_daemon.connection",
    "rsync_wire.roles.server",
    "rsync_wire.roles.sender",
    "rsync_wire.roles.scan",
    "rsync_wire.roles.daemon_glob",
    "rsync_wire.proto.tokens",
    "rsync_delta.delta",
    "rsync_delta.signature",
    "numpy",
    "Crypto.Hash.MD4",
    "Crypto.Hash.MD5",
    "fnmatch",
    "resource",
    "encodings.ascii",
    "encodings.latin_1",
    "encodings.idna",
)

_BLAS_THREADS: Final = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def prepare(config: DaemonConfig, *, ssh: bool = False) -> None:
    """Load now whatever the connection processes would otherwise load after confinement.

    Args:
        config: the configuration (its secrets files are read into memory).
        ssh: also load asyncssh and its crypto back end (the SSH listener).
    """
    # numpy's BLAS starts worker threads when it loads, and the sandbox must be applied
    # single-threaded (unshare and Landlock act on the calling thread). The daemon uses
    # no BLAS routine, so one thread loses nothing.
    for var in _BLAS_THREADS:
        os.environ[var] = "1"
    for name in _PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    if ssh:
        importlib.import_module("rsync_daemon.anonssh")
    # glibc reads nsswitch.conf and loads its NSS modules on the first lookup, and no
    # longer reloads them once the root has changed; the time zone is read once.
    time.localtime()
    with contextlib.suppress(KeyError):
        pwd.getpwuid(0)
    with contextlib.suppress(KeyError):
        grp.getgrgid(0)
    for mod in config.modules.values():
        if mod.secrets_file:
            preload_secrets(mod.secrets_file)
        # what the module refuses, matched against every option once, not per connection
        refusal_set(module_refusals(mod.refuse_options, charset=mod.charset))


def open_daemon_files(config: DaemonConfig) -> None:
    """Open what connections need from the host before confinement hides it.

    The motd is read now (through trusted symlinks only: rsync 3.5 refuses a planted
    one, and so do we, with a warning in the log); each module's lock file is opened
    (`rsync_daemon.locks`); and the helper that runs the operator's ``early exec``,
    ``pre-xfer exec`` and ``post-xfer exec`` commands and resolves host names is
    started (`rsync_daemon.hooks`). Safe to call more than once.
    """
    from rsync_daemon import hooks, locks
    from rsync_daemon.safeopen import read_trusted

    if config.motd_file and not config.motd_text:
        try:
            config.motd_text = read_trusted(config.motd_file, limit=64 * 1024)
        except OSError as exc:
            log.warning("cannot read motd file %s: %s", config.motd_file, exc.strerror)
    for problem in locks.open_lock_files(config):
        log.warning("%s", problem)
    hooks.start_helper(config)


def module_ids(config: DaemonConfig, mod: ModuleConfig) -> tuple[int, int, tuple[int, ...]]:
    """The uid, gid and groups a module is served as by a daemon started as root.

    The module's own ``uid``/``gid``, else the daemon's, else 65534 (``nobody``), as
    rsync's daemon run as root (clientserver.c rsync_module(): NOBODY_USER,
    NOBODY_GROUP); the groups are rsync's whole ``gid`` list (``[gid]`` by default).
    """
    uid = mod.uid if mod.uid is not None else config.uid if config.uid is not None else NOBODY
    gid = mod.gid if mod.gid is not None else config.gid if config.gid is not None else NOBODY
    return uid, gid, tuple(mod.groups) or (gid,)


def serving_ids(config: DaemonConfig) -> tuple[int | None, int | None]:
    """The uid and gid to serve as when running as root; ``(None, None)`` keeps root.

    The default is 65534/65534 (``nobody``), as gokrazy/rsync and rsync's own daemon
    (its ``uid``/``gid`` defaults) do. ``uid = root`` (0) keeps root: the namespace and
    Landlock still apply, but a process that is root could undo the mounts.

    Modules served as different users (their own ``uid``/``gid``, several groups, or
    ``gid = *``), or as a user whose group is root, also keep root: each connection
    process then becomes its module's user once the client has named the module
    (`rsync_daemon.connection`, rsync_sandbox.switch_user), as rsync's daemon does.
    """
    ids = {module_ids(config, mod) for mod in config.modules.values() if not mod.id_error}
    if not ids:
        uid = NOBODY if config.uid is None else config.uid
        gid = NOBODY if config.gid is None else config.gid
        ids = {(uid, gid, (gid,))}
    if len(ids) > 1:
        return None, None
    ((uid, gid, groups),) = ids
    if uid == 0 or gid == 0 or groups != (gid,):
        return None, None
    return uid, gid


def per_module_users(config: DaemonConfig) -> bool:
    """Whether, as root, connection processes become their module's user (`serving_ids`)."""
    ids = {module_ids(config, mod) for mod in config.modules.values() if not mod.id_error}
    if not ids or serving_ids(config) != (None, None):
        return False
    return len(ids) > 1 or next(iter(ids))[0] != 0


def check_modules_not_writable(
    config: DaemonConfig, uid: int, gid: int, *, only: set[str] | None = None
) -> None:
    """As root: refuse to start when the serving user could write to a read-only module.

    A probe process opens every module (as root: the directories above a module need
    not be open to the serving user), becomes ``uid``/``gid`` without supplementary
    groups, changes into each module in turn and runs `rsync_sandbox.check_writable`
    there (mount flags, permissions and a real create-and-remove). This happens before
    any mount hides a misconfiguration that would matter the day confinement fails.

    rsync: none (gokrazy/rsync's canUnexpectedlyWriteTo(), done per module).

    Raises:
        SandboxViolation: a read-only module is writable by the serving user; the
            message names every such module and its path.
        SandboxError: the probe could not run.
    """
    modules = {
        name: mod.path
        for name, mod in config.modules.items()
        if not may_write(mod) and not mod.unavailable and (only is None or name in only)
    }
    if not modules:
        return
    read_fd, write_fd = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    pid = os.fork()
    if pid == 0:  # the probe: become the serving user, look, report, exit
        code = 3
        try:
            os.close(read_fd)
            fds = {
                name: os.open(path, os.O_RDONLY | os.O_DIRECTORY) for name, path in modules.items()
            }
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            writable: list[str] = []
            for name, fd in fds.items():
                try:
                    os.fchdir(fd)
                except PermissionError:
                    continue  # the serving user cannot even enter it
                if check_writable(".").writable:
                    writable.append(name)
            os.write(write_fd, "\0".join(writable).encode("utf-8", "surrogateescape"))
            code = 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent below
            with contextlib.suppress(OSError):
                os.write(write_fd, f"{type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        text = pipe.read().decode("utf-8", "surrogateescape")
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        msg = f"cannot check whether uid {uid} can write to the modules: {text}"
        raise SandboxError(msg)
    if text:
        found = ", ".join(f"{name!r} at {modules[name]!r}" for name in text.split("\0"))
        msg = (
            f"read-only module {found} is writable by uid {uid} gid {gid}, the user the daemon"
            " serves as: make it read-only for that user, or set another uid/gid"
        )
        raise SandboxViolation(msg)


def confine(
    config: DaemonConfig,
    *,
    mode: Mode,
    pid_namespace: bool = True,
    ssh: bool = False,
) -> SandboxReport:
    """Confine this process to the modules (irreversible); see the module docstring.

    Call it single-threaded, after binding and before reading any byte from a client.
    The module paths in ``config`` are rewritten to where the modules are afterwards.

    Args:
        config: the daemon's configuration.
        mode: ``auto``, ``namespace``, ``landlock`` or ``off`` (rsync_sandbox modes).
        pid_namespace: as root, also enter a PID namespace (the caller then continues
            as PID 1 in a child; the original process only waits).
        ssh: the SSH listener is on (load asyncssh first).

    Returns:
        What is in force; already logged (one line, then any warnings).

    Raises:
        ConfigError: the uid/gid settings cannot be used.
        SandboxError: confinement failed or a check refused (SandboxViolation names
            the module and path); the caller must exit.
    """
    open_daemon_files(config)
    prepare(config, ssh=ssh)
    is_root = os.geteuid() == 0
    uid, gid = serving_ids(config) if is_root else (NOBODY, NOBODY)
    if is_root:
        # each connection process switches to these once its client named the module
        # (a no-op where the whole daemon already serves as that user)
        for mod in config.modules.values():
            mod.uid, mod.gid, groups = module_ids(config, mod)
            mod.groups = list(groups)
    # A module is writable only when it says "read only = no" (it receives uploads);
    # every other one is bound read-only, and nothing else on the host is writable.
    # A module path removed since start-up (the port already answers) is served later,
    # like one that was missing (rsync_daemon.hooks "attach"), not a failed start.
    for mod in config.modules.values():
        if not mod.unavailable and not os.path.isdir(mod.path):
            mod.unavailable = f"chdir {mod.path} failed: No such file or directory"
            log.warning("module %r: %s (clients get: chdir failed)", mod.name, mod.unavailable)
    served = {name: mod for name, mod in config.modules.items() if not mod.unavailable}
    read_only = {name: mod.path for name, mod in served.items() if not may_write(mod)}
    read_write = {name: mod.path for name, mod in served.items() if may_write(mod)}
    check_writable, warnings = (False, []) if mode == "off" else _checks(config, mode, uid, gid)
    # a module whose path is missing gets an empty mount point, filled by the helper
    # once the path exists (rsync_daemon.hooks, "attach")
    pending = {name: mod for name, mod in config.modules.items() if mod.unavailable}
    host_filesystem, extra_rw = _insecure_links_view(config, mode, warnings)
    policy = SandboxPolicy(
        read_only=read_only,
        read_write=read_write,
        pending_read_only=tuple(n for n, mod in pending.items() if not may_write(mod)),
        pending_read_write=tuple(n for n, mod in pending.items() if may_write(mod)),
        extra_read_only=(
            (*extra_read_only_paths(config), *(("/",) if host_filesystem else ()))
            if mode != "off"
            else ()
        ),
        extra_read_write=extra_rw,
        host_filesystem=host_filesystem,
        uid=uid,
        gid=gid,
        mode=mode,
        pid_namespace=pid_namespace and is_root,
        check_writable=check_writable,
    )
    report = apply(policy)
    # root only to become each module's user: nothing but setuid/setgid/setpcap, unless
    # a module is served as root itself
    if (
        is_root
        and mode != "off"
        and per_module_users(config)
        and all(module_ids(config, mod)[0] != 0 for mod in config.modules.values())
    ):
        keep_capabilities()
        warnings.append("capabilities limited to setuid, setgid and setpcap until then")
        # without CAP_SYS_ADMIN the mounts cannot be undone: apply()'s warning is moot
        report = _without_root_warning(report)
    if Mechanism.PID_NAMESPACE in report.mechanisms:
        _exit_on_signals()
        adopt_host_pid()
    for name, path in report.module_paths.items():
        mod = config.modules[name]
        mod.shown_path = mod.shown_path or mod.path
        mod.path = path
    _module_paths_per_connection(config, report, host_filesystem=host_filesystem)
    if mode == "off":
        log.warning(
            "sandbox: off (--no-sandbox): NOT confined, serving as uid %d gid %d",
            report.uid,
            report.gid,
        )
        return report
    log.info("%s", report.description)
    for warning in (*warnings, *report.warnings):
        log.warning("sandbox: %s", warning)
    return report


def _module_paths_per_connection(
    config: DaemonConfig, report: SandboxReport, *, host_filesystem: bool
) -> None:
    """How connections reach their module path as it is now (rsync looks it up each time).

    With a mount namespace each module sits on a mount point of its own, bound anew for a
    connection when its path names another directory by then. With Landlock alone the
    rules hold for the directories there now: a connection whose module path names
    another one by then is refused with a log line that says why; but not when the daemon
    reads the whole host (``insecure links``), where a connection narrows its reads to its
    module's path as it is then.
    """
    from rsync_daemon import hooks

    if Mechanism.MOUNT_NAMESPACE in report.mechanisms:
        hooks.set_mounted_modules(set(report.module_paths))
    elif Mechanism.LANDLOCK in report.mechanisms and not host_filesystem:
        dirs: dict[str, tuple[int, int]] = {}
        for name, mod in config.modules.items():
            if mod.unavailable:
                continue
            with contextlib.suppress(OSError):
                st = os.stat(mod.path)
                dirs[name] = (st.st_dev, st.st_ino)
        hooks.set_pinned_modules(dirs)


def _insecure_links_view(
    config: DaemonConfig, mode: Mode, warnings: list[str]
) -> tuple[bool, tuple[str, ...]]:
    """What ``insecure links = yes`` needs of the daemon's confinement, and the warning.

    Such a module's links may lead anywhere on the host, as rsync's did before 3.5: the
    daemon then serves from the host's file system (no mount namespace), may read
    anywhere and, for a writable one, write anywhere its user may. Every connection to
    another module narrows itself back to that module once the client has named it
    (rsync_daemon.conn_sandbox).

    Returns:
        (serve from the host file system, paths writable besides the modules).

    Raises:
        ConfigError: with ``--sandbox=namespace``, which cannot serve such a module.
    """
    opened = insecure_links_modules(config)
    if not opened or mode == "off":
        return False, ()
    names = ("modules " if len(opened) > 1 else "module ") + ", ".join(repr(m.name) for m in opened)
    if mode == "namespace":
        msg = (
            f"{names}: 'insecure links = yes' follows links anywhere on the host,"
            " which --sandbox=namespace cannot serve"
        )
        raise ConfigError(msg)
    writable = any(may_write(m) for m in opened)
    warnings.append(
        f"{names}: insecure links = yes: their symlinks are followed wherever they lead;"
        " the daemon serves from the host file system and may read"
        + (" and write" if writable else "")
        + " anywhere its user may (connections to other modules stay confined to theirs)"
    )
    return True, ("/",) if writable else ()


def _without_root_warning(report: SandboxReport) -> SandboxReport:
    """``report`` without the warning that a root process could undo the mounts."""
    kept = tuple(w for w in report.warnings if not w.startswith("still running as root"))
    return dataclasses.replace(report, warnings=kept)


def _checks(
    config: DaemonConfig, mode: Mode, uid: int | None, gid: int | None
) -> tuple[bool, list[str]]:
    """The checks before confinement; returns (check writable afterwards, warnings).

    Raises:
        SandboxViolation: as root, the serving user can write to a read-only module.
    """
    if os.geteuid() == 0:
        if per_module_users(config):
            by_user: dict[tuple[int, int], set[str]] = {}
            for name, mod in config.modules.items():
                m_uid, m_gid, _ = module_ids(config, mod)
                if m_uid != 0:
                    by_user.setdefault((m_uid, m_gid), set()).add(name)
            for (m_uid, m_gid), names in by_user.items():
                check_modules_not_writable(config, m_uid, m_gid, only=names)
            return True, [
                "serving as root until a connection has named its module, then as that"
                " module's uid/gid (modules with their own users)"
            ]
        if uid is None or gid is None:
            return True, ["serving as root (uid = root in the configuration)"]
        check_modules_not_writable(config, uid, gid)
        return True, []
    if mode != "auto" or _landlock_available():
        return True, []
    # Without root and without Landlock nothing could stop writes, and a user's modules
    # are usually their own: say so rather than refuse to serve them at all.
    warnings = [
        f"module {name!r} at {mod.path!r} is writable by this user (uid {os.geteuid()}) and"
        " nothing stops the daemon from writing to it"
        for name, mod in config.modules.items()
        if mod.read_only and not mod.unavailable and find_writable([mod.path], probe=False)
    ]
    return False, warnings


_PR_SET_PDEATHSIG: Final = 1


def _exit_on_signals() -> None:
    """Make this process end on SIGTERM, SIGINT and SIGHUP although it is PID 1.

    The first process of a PID namespace ignores every signal it has no handler for;
    the waiter outside forwards them here. The accept loop installs its own handlers for
    SIGTERM and SIGINT afterwards; a lone connection (inetd, SSH) keeps these.

    rsync: main.c sigterm_handler() (exit code RERR_SIGNAL).
    """

    def stop(_signum: int, _frame: object) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(int(ExitCode.SIGNAL))

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    # The waiter outside the namespace is the daemon to the world (its pid file, its
    # init system). SIGKILL cannot be forwarded: without this, `kill -9` of the daemon
    # left this process serving, and holding the port, as an orphan.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def _landlock_available() -> bool:
    try:
        abi_version()
    except SandboxUnavailable:
        return False
    return True


def run_daemon(
    config: DaemonConfig,
    listeners: list[socket.socket],
    *,
    mode: Mode,
    fork: bool = True,
    ssh_listeners: list[socket.socket] | None = None,
    ssh: SshSettings | None = None,
) -> int:
    """Confine, then accept connections until SIGTERM; returns the exit code.

    Raises:
        ConfigError: the uid/gid settings cannot be used.
        SandboxError: confinement failed or refused to start (nothing was served).

    Args:
        config: the configuration (module paths are rewritten by `confine`).
        listeners: bound, listening rsync daemon sockets.
        mode: the sandbox mode.
        fork: one process per connection (off only for debugging).
        ssh_listeners: bound, listening sockets of the anonymous SSH listener.
        ssh: the SSH listener's keys (loaded before confinement).
    """
    from rsync_daemon.server import serve_forever

    confine(config, mode=mode, ssh=bool(ssh_listeners))
    return serve_forever(
        config,
        listeners,
        fork=fork,
        ssh_listeners=ssh_listeners or [],
        ssh=ssh,
    )
