"""The sandbox policy and `apply`, the one call that puts it in force.

How this works: `apply` runs the steps below in this order (the gokrazy/rsync order,
bind, confine, then run), each one skipped where the mode says so:

1. mode ``"off"``: nothing is confined; only the writable-module check runs.
2. Mount namespace (mode ``"namespace"``, or ``"auto"`` as root): an empty read-only
   root holding each module at ``/<name>/module`` and the extra read-only paths at their own
   path, entered with ``pivot_root`` (``chroot`` as a fallback); optionally a PID
   namespace (which forks: see `rsync_sandbox.namespaces`).
3. Privilege drop (as root, unless ``uid`` is None): empty bounding set, no groups,
   ``uid``/``gid``, then `verify_dropped` proves ``setuid(0)`` fails and no
   capabilities remain.
4. ``no_new_privs`` (always, except in mode ``"off"``).
5. Landlock (mode ``"landlock"``, or ``"auto"``): reading below the read-only modules
   and the extra paths, everything below the read-write modules, nothing elsewhere;
   then a self-check. With a mount namespace the rules go on ``/<name>``, the directory
   above each module's mount point, so that they also hold for a directory
   `rsync_sandbox.attach_module` binds there later.
6. Writable check: a read-only module the serving user could write to is refused
   (`SandboxViolation` naming the module and path).

In ``"auto"``, a missing kernel feature (`SandboxUnavailable`) becomes a warning in
the report; in ``"namespace"`` and ``"landlock"`` it is raised.

The caller must import every module and open every file it needs later *before*
calling `apply`: after a ``pivot_root`` the interpreter's files are gone, and Landlock
denies reading outside the allowed trees. Pass `python_runtime_paths()` as extra
read-only paths to keep lazy imports (and source lines in tracebacks) working.
Synchronous; call it in a single-threaded process, before any event loop.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal, get_args

from rsync_sandbox import landlock
from rsync_sandbox._process import ensure_single_threaded
from rsync_sandbox.errors import SandboxError, SandboxUnavailable
from rsync_sandbox.namespaces import confine_filesystem, validate_module_name
from rsync_sandbox.privileges import NOBODY, drop_privileges, set_no_new_privs, verify_dropped
from rsync_sandbox.writeprobe import refuse_writable

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "Mechanism",
    "Mode",
    "SandboxPolicy",
    "SandboxReport",
    "apply",
    "python_runtime_paths",
]

Mode = Literal["auto", "namespace", "landlock", "off"]
_MODES: Final = frozenset(get_args(Mode))


class Mechanism(StrEnum):
    """A confinement mechanism that `apply` can put in force."""

    MOUNT_NAMESPACE = "mount namespace"
    PID_NAMESPACE = "PID namespace"
    PIVOT_ROOT = "pivot_root"
    CHROOT = "chroot"
    PRIVILEGE_DROP = "privilege drop"
    NO_NEW_PRIVS = "no_new_privs"
    LANDLOCK = "Landlock"


def python_runtime_paths() -> tuple[str, ...]:
    """Return the paths the interpreter may read after confinement, for extra read-only use.

    These are ``sys.prefix``, ``sys.exec_prefix``, their ``base_`` counterparts and every
    existing absolute ``sys.path`` entry (site-packages, editable source trees), in
    order and without duplicates. With them, lazy imports and traceback source lines
    keep working inside the sandbox.
    """
    candidates = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix, *sys.path]
    seen: dict[str, None] = {}
    for path in candidates:
        if path and os.path.isabs(path) and os.path.exists(path):
            seen.setdefault(os.path.normpath(path), None)
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class SandboxPolicy:
    """What to confine the process to.

    Attributes:
        read_only: module name to host path, served read-only.
        read_write: module name to host path, served read-write.
        extra_read_only: other host paths the process may read after confinement (the
            Python installation: see `python_runtime_paths`; ``/etc/localtime``,
            ``/etc/passwd``, ...). Missing ones are skipped.
        uid: the user to become when started as root; None keeps root (for a client
            that must ``chown``), which voids the namespace's protection.
        gid: the group to become when started as root; None with ``uid`` None.
        mode: ``"auto"`` (as root: namespace, privilege drop and Landlock where
            available; otherwise Landlock where available), ``"namespace"`` (namespace
            and privilege drop, no Landlock), ``"landlock"`` (Landlock, plus privilege
            drop as root), or ``"off"``.
        pid_namespace: with a mount namespace, also enter a new PID namespace (forks).
        check_writable: refuse to start when a read-only module is writable by the
            serving user once confined (in every mode, ``"off"`` included).
        pending_read_only: names of read-only modules whose path does not exist yet:
            with a mount namespace each gets an empty mount point that Landlock lets
            the process read below, for `rsync_sandbox.attach_module` to fill later
            (without one they are left out).
        pending_read_write: the same for read-write modules.
        host_filesystem: serve from the host's file system, without a mount namespace
            even as root (a module with ``insecure links = yes`` has links that may lead
            anywhere on the host, which a namespace holding only the modules would cut).
            Privilege drop, ``no_new_privs`` and Landlock still apply. Refused with mode
            ``"namespace"``.
        extra_read_write: other host paths the process may write below (Landlock), for
            example ``/`` for a writable module with ``insecure links = yes``.

    Raises:
        SandboxError: on construction, for an unknown mode, an unusable module name, a
            name used twice, a relative path, or a uid/gid of 0 or given alone.
    """

    read_only: Mapping[str, str] = field(default_factory=dict, hash=False)
    read_write: Mapping[str, str] = field(default_factory=dict, hash=False)
    extra_read_only: tuple[str, ...] = ()
    uid: int | None = NOBODY
    gid: int | None = NOBODY
    mode: Mode = "auto"
    pid_namespace: bool = False
    check_writable: bool = True
    pending_read_only: tuple[str, ...] = ()
    pending_read_write: tuple[str, ...] = ()
    host_filesystem: bool = False
    extra_read_write: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            msg = f"sandbox mode {self.mode!r}: expected one of {sorted(_MODES)}"
            raise SandboxError(msg)
        both = sorted(set(self.read_only) & set(self.read_write))
        if both:
            msg = f"modules {both} are listed both read-only and read-write"
            raise SandboxError(msg)
        for name, path in (*self.read_only.items(), *self.read_write.items()):
            validate_module_name(name)
            if not os.path.isabs(path):
                msg = f"module {name!r} path {path!r}: expected an absolute path"
                raise SandboxError(msg)
        for path in (*self.extra_read_only, *self.extra_read_write):
            if not os.path.isabs(path):
                msg = f"extra path {path!r}: expected an absolute path"
                raise SandboxError(msg)
        if self.host_filesystem and self.mode == "namespace":
            msg = "sandbox mode 'namespace' cannot serve from the host file system"
            raise SandboxError(msg)
        if (self.uid is None) != (self.gid is None) or 0 in (self.uid, self.gid):
            msg = f"uid {self.uid} gid {self.gid}: expected both non-zero, or both None"
            raise SandboxError(msg)
        object.__setattr__(self, "read_only", MappingProxyType(dict(self.read_only)))
        object.__setattr__(self, "read_write", MappingProxyType(dict(self.read_write)))
        object.__setattr__(self, "extra_read_only", tuple(self.extra_read_only))
        object.__setattr__(self, "extra_read_write", tuple(self.extra_read_write))


@dataclass(frozen=True, slots=True)
class SandboxReport:
    """What `apply` put in force.

    Attributes:
        mechanisms: the mechanisms in force.
        description: one line for the start-up log.
        module_paths: module name to the path to serve it from from now on (inside the
            new root with a mount namespace, the host path otherwise).
        warnings: what the start-up log should also say, for example
            ``"Landlock unavailable: the process is not confined"``.
        landlock_abi: the Landlock ABI in force, or None.
        uid: the effective uid after `apply`.
        gid: the effective gid after `apply`.
    """

    mechanisms: frozenset[Mechanism]
    description: str
    module_paths: Mapping[str, str] = field(hash=False)
    warnings: tuple[str, ...]
    landlock_abi: int | None
    uid: int
    gid: int

    @property
    def confined(self) -> bool:
        """Whether the file system view is restricted (namespace or Landlock)."""
        return bool({Mechanism.MOUNT_NAMESPACE, Mechanism.LANDLOCK} & self.mechanisms)


def _describe(
    mechanisms: frozenset[Mechanism],
    module_paths: Mapping[str, str],
    landlock_abi: int | None,
) -> str:
    """One line for the start-up log."""
    if not ({Mechanism.MOUNT_NAMESPACE, Mechanism.LANDLOCK} & mechanisms):
        head = "sandbox: NOT confined"
    else:
        head = "sandbox: confined"
    parts: list[str] = []
    if Mechanism.MOUNT_NAMESPACE in mechanisms:
        how = "pivot_root" if Mechanism.PIVOT_ROOT in mechanisms else "chroot"
        pid = " + PID namespace" if Mechanism.PID_NAMESPACE in mechanisms else ""
        parts.append(f"mount namespace{pid} ({how}, {len(module_paths)} modules at the root)")
    if Mechanism.PRIVILEGE_DROP in mechanisms:
        parts.append(f"uid {os.geteuid()} gid {os.getegid()}")
    elif mechanisms:
        parts.append(f"uid {os.geteuid()} (not dropped)")
    if Mechanism.NO_NEW_PRIVS in mechanisms:
        parts.append("no_new_privs")
    if landlock_abi is not None:
        parts.append(f"Landlock ABI {landlock_abi}")
    return f"{head}: {', '.join(parts)}" if parts else f"{head} (mode off)"


def apply(policy: SandboxPolicy) -> SandboxReport:
    """Confine this process according to ``policy`` (irreversible).

    Call it in a single-threaded process, before any event loop starts, after importing
    every module and opening every file needed later (see the module docstring). With
    ``pid_namespace`` the calling process forks and only the child returns.

    rsync: the daemon's ``use chroot``, ``uid`` and ``gid`` handling in
    clientserver.c:rsync_module() (``chroot``, ``setgid``, ``setuid``), extended.

    Args:
        policy: what to confine to.

    Returns:
        What is in force, with the paths to serve each module from from now on.

    Raises:
        SandboxUnavailable: mode ``"namespace"`` or ``"landlock"`` and the kernel (or
            the privileges) lack the feature. In ``"auto"`` this is a warning instead.
        SandboxViolation: a self-check failed, or a read-only module is writable.
        SandboxError: the policy cannot be applied (threads, overlapping modules,
            missing paths, a failed call). The process may be half-confined: exit.
    """
    read_only_names = list(policy.read_only)
    read_write_names = list(policy.read_write)
    module_paths: dict[str, str] = {**policy.read_only, **policy.read_write}
    rule_paths = module_paths  # where Landlock's rules for each module go
    mechanisms: set[Mechanism] = set()
    warnings: list[str] = []
    landlock_abi: int | None = None
    if policy.mode == "off":
        warnings.append("sandbox off: the process is not confined")
    else:
        ensure_single_threaded()
        is_root = os.geteuid() == 0
        extras: tuple[str, ...] = policy.extra_read_only
        if not policy.host_filesystem and (
            policy.mode == "namespace" or (policy.mode == "auto" and is_root)
        ):
            try:
                result = confine_filesystem(
                    read_only=policy.read_only,
                    read_write=policy.read_write,
                    extra_read_only=policy.extra_read_only,
                    pid_namespace=policy.pid_namespace,
                    pending=(*policy.pending_read_only, *policy.pending_read_write),
                )
            except SandboxUnavailable as exc:
                if policy.mode == "namespace":
                    raise
                warnings.append(f"{exc}: serving from the host file system")
            else:
                mechanisms.add(Mechanism.MOUNT_NAMESPACE)
                mechanisms.add(Mechanism.PIVOT_ROOT if result.pivoted else Mechanism.CHROOT)
                if result.pid_namespace:
                    mechanisms.add(Mechanism.PID_NAMESPACE)
                module_paths = dict(result.module_paths)
                rule_paths = dict(result.rule_paths)
                read_only_names += [n for n in policy.pending_read_only if n in module_paths]
                read_write_names += [n for n in policy.pending_read_write if n in module_paths]
                extras = result.extra_paths
                warnings.extend(result.warnings)
        if is_root and policy.uid is not None and policy.gid is not None:
            drop_privileges(policy.uid, policy.gid)
            verify_dropped(policy.uid, policy.gid)
            mechanisms.add(Mechanism.PRIVILEGE_DROP)
        elif is_root:
            warnings.append("still running as root (uid None): mounts and Landlock can be undone")
        set_no_new_privs()
        mechanisms.add(Mechanism.NO_NEW_PRIVS)
        if policy.mode in ("auto", "landlock"):
            try:
                status = landlock.restrict(
                    read_only=[rule_paths[name] for name in read_only_names],
                    read_write=[
                        *(rule_paths[name] for name in read_write_names),
                        *policy.extra_read_write,
                    ],
                    optional_read_only=extras,
                )
            except SandboxUnavailable as exc:
                if policy.mode == "landlock":
                    raise
                if Mechanism.MOUNT_NAMESPACE in mechanisms:
                    warnings.append(f"{exc}: confined by the mount namespace only")
                else:
                    warnings.append(f"Landlock unavailable: the process is not confined ({exc})")
            else:
                mechanisms.add(Mechanism.LANDLOCK)
                landlock_abi = status.abi
                if status.verified_outside is None:
                    warnings.append("Landlock self-check skipped: '/' is an allowed path")
    if policy.check_writable:
        refuse_writable({name: module_paths[name] for name in read_only_names})
    frozen = frozenset(mechanisms)
    return SandboxReport(
        mechanisms=frozen,
        description=_describe(frozen, module_paths, landlock_abi),
        module_paths=MappingProxyType(module_paths),
        warnings=tuple(warnings),
        landlock_abi=landlock_abi,
        uid=os.geteuid(),
        gid=os.getegid(),
    )
