"""Confine one connection process to its own connection: `confine_connection`.

A daemon confines itself once (`rsync_sandbox.apply`: namespaces, privilege drop,
Landlock on the file system), and every connection process it forks inherits that. What
inheritance cannot give is separation *between* those processes and from the daemon:
they share one Landlock domain, one uid, one PID namespace. `confine_connection` adds,
in the connection process, before it reads a byte from its client:

1. Landlock (`rsync_sandbox.landlock.isolate`): a domain of the process's own, which
   denies TCP ``bind`` and ``connect`` on every port (ABI 4) and scopes signals and
   abstract UNIX sockets to that domain (ABI 6). It handles no file right: the file
   rules of the enclosing domain stay as they are, and keep applying (domains stack).
2. seccomp (`rsync_sandbox.seccomp.install`): ``EPERM`` for the calls a connection
   never needs (new sockets, namespaces, tracing, mounts, modules, ``kexec``,
   ``bpf``, keyrings, ``io_uring``, ...), while ``fork``, ``execve``, threads and
   ``socketpair(AF_UNIX)`` stay: hook commands may run, asyncio starts.

Both are irreversible and inherited by every child, across ``execve``. Each layer the
kernel lacks becomes a warning in the report (or `SandboxUnavailable` with
``required``); a self-check that fails raises `SandboxViolation`: the process must not
serve. Synchronous; call it in a single-threaded process, before the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass

from rsync_sandbox import landlock, seccomp
from rsync_sandbox._process import ensure_single_threaded
from rsync_sandbox.errors import SandboxUnavailable
from rsync_sandbox.landlock import AccessNet, LandlockStatus, Scope
from rsync_sandbox.privileges import set_no_new_privs
from rsync_sandbox.seccomp import SeccompStatus, SyscallPolicy

__all__ = [
    "ConnectionPolicy",
    "ConnectionReport",
    "confine_connection",
    "confine_reads",
    "confine_writes",
]


@dataclass(frozen=True, slots=True)
class ConnectionPolicy:
    """How to confine one connection process.

    Attributes:
        landlock: enter a Landlock domain of its own (network rules and scopes).
        tcp_bind: leave TCP ``bind`` allowed (Landlock).
        tcp_connect: leave TCP ``connect`` allowed (Landlock).
        scope_signals: signals stop at the domain's edge (Landlock ABI 6).
        scope_abstract_unix_sockets: so do abstract UNIX sockets (Landlock ABI 6).
        seccomp: install the system call filter.
        socket_families: address families ``socket`` may still create (seccomp).
        unix_datagram: allow ``socket(AF_UNIX, SOCK_DGRAM)``: syslog's ``/dev/log``.
        socketpair: allow ``socketpair(AF_UNIX, ...)`` (asyncio's event loop needs it).
        required: a layer the kernel lacks raises `SandboxUnavailable` instead of
            becoming a warning.
    """

    landlock: bool = True
    tcp_bind: bool = False
    tcp_connect: bool = False
    scope_signals: bool = True
    scope_abstract_unix_sockets: bool = True
    seccomp: bool = True
    socket_families: frozenset[int] = frozenset()
    unix_datagram: bool = False
    socketpair: bool = True
    required: bool = False

    def syscall_policy(self) -> SyscallPolicy:
        """The seccomp part of this policy."""
        return SyscallPolicy(
            socket_families=frozenset(self.socket_families),
            unix_datagram=self.unix_datagram,
            socketpair=self.socketpair,
        )


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    """What `confine_connection` put in force.

    Attributes:
        landlock: the process's own Landlock domain, or None.
        seccomp: the system call filter, or None.
        warnings: the layers that could not be applied, and why.
    """

    landlock: LandlockStatus | None
    seccomp: SeccompStatus | None
    warnings: tuple[str, ...]

    @property
    def confined(self) -> bool:
        """Whether any layer is in force."""
        return self.landlock is not None or self.seccomp is not None

    @property
    def description(self) -> str:
        """One line for the log: ``Landlock ABI 7 (signals, ...), seccomp (N ...)``."""
        parts: list[str] = []
        if self.landlock is not None:
            what: list[str] = []
            if Scope.SIGNAL in self.landlock.scoped:
                what.append("signals")
            if Scope.ABSTRACT_UNIX_SOCKET in self.landlock.scoped:
                what.append("abstract sockets")
            net = self.landlock.handled_access_net
            denied = [
                name
                for right, name in (
                    (AccessNet.BIND_TCP, "bind"),
                    (AccessNet.CONNECT_TCP, "connect"),
                )
                if right in net
            ]
            if denied:
                what.append(f"no TCP {'/'.join(denied)}")
            parts.append(f"Landlock ABI {self.landlock.abi} ({', '.join(what)})")
        if self.seccomp is not None:
            parts.append(
                f"seccomp ({len(self.seccomp.denied)} syscalls denied,"
                f" {len(self.seccomp.restricted)} checked by argument)"
            )
        return ", ".join(parts) if parts else "not confined"


def confine_connection(policy: ConnectionPolicy) -> ConnectionReport:
    """Confine this process to its own connection (irreversible; see the module docstring).

    Args:
        policy: what to put in force.

    Returns:
        What is in force, with a warning for each layer the kernel lacks.

    Raises:
        SandboxUnavailable: ``policy.required`` and the kernel lacks a layer.
        SandboxViolation: a self-check failed after a layer was applied: do not serve.
        SandboxError: the process has threads, or a call failed.
    """
    ensure_single_threaded()
    warnings: list[str] = []
    landlock_status: LandlockStatus | None = None
    seccomp_status: SeccompStatus | None = None
    set_no_new_privs()
    if policy.landlock:
        deny_net = AccessNet(0)
        if not policy.tcp_bind:
            deny_net |= AccessNet.BIND_TCP
        if not policy.tcp_connect:
            deny_net |= AccessNet.CONNECT_TCP
        scopes = Scope(0)
        if policy.scope_signals:
            scopes |= Scope.SIGNAL
        if policy.scope_abstract_unix_sockets:
            scopes |= Scope.ABSTRACT_UNIX_SOCKET
        try:
            landlock_status = landlock.isolate(deny_net=deny_net, scopes=scopes)
        except SandboxUnavailable as exc:
            if policy.required:
                raise
            warnings.append(str(exc))
        else:
            missing = _missing(landlock_status, deny_net, scopes)
            if missing:
                warnings.append(f"Landlock ABI {landlock_status.abi} lacks {missing}: not in force")
    if policy.seccomp:
        try:
            seccomp_status = seccomp.install(policy.syscall_policy())
        except SandboxUnavailable as exc:
            if policy.required:
                raise
            warnings.append(str(exc))
    return ConnectionReport(
        landlock=landlock_status, seccomp=seccomp_status, warnings=tuple(warnings)
    )


def _missing(status: LandlockStatus, deny_net: AccessNet, scopes: Scope) -> str:
    """What was asked of Landlock that this ABI does not know, in words."""
    missing: list[str] = []
    if deny_net & ~status.handled_access_net:
        missing.append("TCP rules (ABI 4)")
    if scopes & ~status.scoped:
        missing.append("signal and abstract-socket scopes (ABI 6)")
    return " and ".join(missing)


def confine_writes(writable: str | None) -> bool:
    """Leave writes possible only below ``writable`` (a module's path), or nowhere.

    A connection process calls it once its client has chosen a module, on top of
    `confine_connection`: an upload can change only that module, whatever else the daemon
    serves writable. Irreversible.

    Returns:
        Whether a Landlock layer was added (False: the kernel has no Landlock).

    Raises:
        SandboxError: the layer could not be added.
    """
    ensure_single_threaded()
    return bool(landlock.restrict_writes(writable))


def confine_reads(readable: str, optional: tuple[str, ...] = ()) -> bool:
    """Leave reading possible only below ``readable`` (a module's path) and ``optional``.

    For a daemon whose confinement had to let it read anywhere (it also serves a module
    with ``insecure links = yes``): a connection process serving any other module calls
    it once its client has chosen the module, on top of `confine_connection`. Irreversible.

    Returns:
        Whether a Landlock layer was added (False: the kernel has no Landlock).

    Raises:
        SandboxError: the layer could not be added.
    """
    ensure_single_threaded()
    return bool(landlock.restrict_reads((readable,), optional))
