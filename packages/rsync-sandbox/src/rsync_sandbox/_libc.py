"""ctypes bindings for the Linux system calls the sandbox needs.

Thin and typed: each function makes one call, turns a ``-1`` return into an `OSError`
carrying the C ``errno`` (so callers catch `PermissionError`, `FileNotFoundError`, ...
as usual), and otherwise returns the call's result. No policy lives here.

Calls that glibc does not wrap everywhere (``pivot_root``, ``capget``, ``seccomp``, the
three ``landlock_*`` calls) go through ``syscall(2)`` with per-architecture numbers; only
x86_64 and aarch64 are known, other machines get `SandboxUnavailable` from those calls.
Linux only: importing this module elsewhere works, but the calls raise `SandboxUnavailable`
where the C library lacks them.
"""

from __future__ import annotations

import ctypes
import os
import platform
from typing import TYPE_CHECKING, Any, Final

from rsync_sandbox.errors import SandboxUnavailable

if TYPE_CHECKING:
    from collections.abc import Sequence

# unshare(2) / clone(2) flags.
CLONE_NEWNS: Final = 0x00020000
CLONE_NEWPID: Final = 0x20000000

# mount(2) flags.
MS_RDONLY: Final = 1
MS_NOSUID: Final = 2
MS_NODEV: Final = 4
MS_NOEXEC: Final = 8
MS_REMOUNT: Final = 32
MS_NOATIME: Final = 1024
MS_NODIRATIME: Final = 2048
MS_BIND: Final = 4096
MS_REC: Final = 16384
MS_PRIVATE: Final = 1 << 18
MS_RELATIME: Final = 1 << 21

# umount2(2) flags.
MNT_DETACH: Final = 2
AT_FDCWD: Final = -100
AT_EMPTY_PATH: Final = 0x1000
OPEN_TREE_CLONE: Final = 1
OPEN_TREE_CLOEXEC: Final = 0o2000000  # O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH: Final = 0x4

# prctl(2) options.
PR_CAPBSET_READ: Final = 23
PR_CAPBSET_DROP: Final = 24
PR_GET_SECCOMP: Final = 21
PR_SET_SECCOMP: Final = 22
PR_SET_NO_NEW_PRIVS: Final = 38
PR_GET_NO_NEW_PRIVS: Final = 39

# seccomp(2) operations and flags.
SECCOMP_SET_MODE_FILTER: Final = 1
SECCOMP_FILTER_FLAG_TSYNC: Final = 1
SECCOMP_MODE_FILTER: Final = 2  # prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)

# landlock_create_ruleset(2) flags and landlock_add_rule(2) rule types.
LANDLOCK_CREATE_RULESET_VERSION: Final = 1 << 0
LANDLOCK_RULE_PATH_BENEATH: Final = 1

# capget(2): struct __user_cap_header_struct.version for 64-bit capability sets.
_LINUX_CAPABILITY_VERSION_3: Final = 0x20080522

# Syscall numbers glibc may not wrap. The landlock numbers are the same on every
# architecture with the unified syscall table (both listed here).
_SYSCALLS: Final[dict[str, dict[str, int]]] = {
    "x86_64": {
        "pivot_root": 155,
        "capget": 125,
        "capset": 126,
        "seccomp": 317,
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
        "open_tree": 428,
        "move_mount": 429,
    },
    "aarch64": {
        "pivot_root": 41,
        "capget": 90,
        "capset": 91,
        "seccomp": 277,
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
        "open_tree": 428,
        "move_mount": 429,
    },
}
_MACHINE_ALIASES: Final = {"amd64": "x86_64", "arm64": "aarch64"}

MACHINE: Final = _MACHINE_ALIASES.get(platform.machine().lower(), platform.machine().lower())

_libc: Any = ctypes.CDLL(None, use_errno=True)


def _bind(name: str, argtypes: tuple[Any, ...] | None, restype: Any = ctypes.c_int) -> Any:
    """Look up a libc function and declare its prototype; None when libc lacks it."""
    function = getattr(_libc, name, None)
    if function is not None:
        if argtypes is not None:
            function.argtypes = argtypes
        function.restype = restype
    return function


# syscall(2) and prctl(2) are variadic: their arguments are passed as explicit ctypes values.
_syscall_fn = _bind("syscall", None, ctypes.c_long)
_setns_fn = _bind("setns", (ctypes.c_int, ctypes.c_int))
_prctl_fn = _bind("prctl", None)
_unshare_fn = _bind("unshare", (ctypes.c_int,))
_mount_fn = _bind(
    "mount", (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
)
_umount2_fn = _bind("umount2", (ctypes.c_char_p, ctypes.c_int))
_chroot_fn = _bind("chroot", (ctypes.c_char_p,))
_setgroups_fn = _bind("setgroups", (ctypes.c_size_t, ctypes.c_void_p))
_setresgid_fn = _bind("setresgid", (ctypes.c_uint, ctypes.c_uint, ctypes.c_uint))
_setresuid_fn = _bind("setresuid", (ctypes.c_uint, ctypes.c_uint, ctypes.c_uint))


def _need(function: Any, name: str) -> Any:
    """Return ``function``, or raise `SandboxUnavailable` if this libc lacks it."""
    if function is None:
        msg = f"{name}() is not available in this C library ({MACHINE}, not Linux?)"
        raise SandboxUnavailable(msg)
    return function


class LandlockRulesetAttr(ctypes.Structure):
    """``struct landlock_ruleset_attr`` (its size grows with the ABI: 8, 16, then 24 bytes)."""

    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class LandlockPathBeneathAttr(ctypes.Structure):
    """``struct landlock_path_beneath_attr`` (packed: 12 bytes)."""

    _pack_ = 1
    _fields_ = (
        ("allowed_access", ctypes.c_uint64),
        ("parent_fd", ctypes.c_int32),
    )


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def _check(result: int, name: str, path: str | None = None) -> int:
    """Return ``result``, or raise `OSError` from ``errno`` when it is -1."""
    if result == -1:
        err = ctypes.get_errno()
        if path is None:
            raise OSError(err, f"{name}: {os.strerror(err)}")
        raise OSError(err, f"{name}: {os.strerror(err)}", path)
    return result


def _path(path: str | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def syscall_number(name: str) -> int:
    """Return the number of system call ``name`` on this machine.

    Raises:
        SandboxUnavailable: the architecture is not one we know the numbers for.
    """
    try:
        return _SYSCALLS[MACHINE][name]
    except KeyError:
        msg = f"no syscall number for {name} on {MACHINE!r} (known: x86_64, aarch64)"
        raise SandboxUnavailable(msg) from None


def _syscall(name: str, *args: object) -> int:
    number = syscall_number(name)
    result: int = _need(_syscall_fn, "syscall")(ctypes.c_long(number), *args)
    return result


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces (``unshare`` 2)."""
    _check(_need(_unshare_fn, "unshare")(flags), "unshare")


def mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None
) -> None:
    """Mount a file system, bind or remount (``mount`` 2)."""
    _check(
        _need(_mount_fn, "mount")(_path(source), _path(target), _path(fstype), flags, _path(data)),
        "mount",
        target,
    )


def umount2(target: str, flags: int) -> None:
    """Unmount ``target`` (``umount2`` 2)."""
    _check(_need(_umount2_fn, "umount2")(_path(target), flags), "umount2", target)


def pivot_root(new_root: str, put_old: str) -> None:
    """Swap the root mount (``pivot_root`` 2, through ``syscall``: glibc has no wrapper)."""
    result = _syscall(
        "pivot_root",
        ctypes.c_char_p(os.fsencode(new_root)),
        ctypes.c_char_p(os.fsencode(put_old)),
    )
    _check(result, "pivot_root", new_root)


def chroot(path: str) -> None:
    """Change the root directory (``chroot`` 2)."""
    _check(_need(_chroot_fn, "chroot")(_path(path)), "chroot", path)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """Process control (``prctl`` 2); returns the call's non-negative result."""
    result: int = _need(_prctl_fn, "prctl")(
        ctypes.c_int(option),
        ctypes.c_ulong(arg2),
        ctypes.c_ulong(arg3),
        ctypes.c_ulong(arg4),
        ctypes.c_ulong(arg5),
    )
    return _check(result, "prctl")


def setgroups(groups: Sequence[int]) -> None:
    """Replace the supplementary group list; empty clears it (``setgroups`` 2)."""
    array = (ctypes.c_uint * max(len(groups), 1))(*groups)
    _check(_need(_setgroups_fn, "setgroups")(len(groups), array if groups else None), "setgroups")


def setresgid(rgid: int, egid: int, sgid: int) -> None:
    """Set real, effective and saved gid (``setresgid`` 2; glibc applies it to every thread)."""
    _check(_need(_setresgid_fn, "setresgid")(rgid, egid, sgid), "setresgid")


def setresuid(ruid: int, euid: int, suid: int) -> None:
    """Set real, effective and saved uid (``setresuid`` 2; glibc applies it to every thread)."""
    _check(_need(_setresuid_fn, "setresuid")(ruid, euid, suid), "setresuid")


def capget() -> tuple[int, int, int]:
    """Read the calling thread's capability sets (``capget`` 2).

    Returns:
        The 64-bit ``(effective, permitted, inheritable)`` capability sets.
    """
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_syscall("capget", ctypes.byref(header), ctypes.byref(data)), "capget")
    effective = data[0].effective | data[1].effective << 32
    permitted = data[0].permitted | data[1].permitted << 32
    inheritable = data[0].inheritable | data[1].inheritable << 32
    return effective, permitted, inheritable


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the calling thread's capability sets (``capset`` 2; 64-bit masks)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i, shift in enumerate((0, 32)):
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_syscall("capset", ctypes.byref(header), ctypes.byref(data)), "capset")


def landlock_create_ruleset(attr: LandlockRulesetAttr | None, size: int, flags: int) -> int:
    """Create a Landlock ruleset fd, or return the ABI version with the VERSION flag."""
    pointer = ctypes.byref(attr) if attr is not None else ctypes.c_void_p(None)
    result = _syscall(
        "landlock_create_ruleset", pointer, ctypes.c_size_t(size), ctypes.c_uint32(flags)
    )
    return _check(result, "landlock_create_ruleset")


def landlock_add_rule(ruleset_fd: int, attr: LandlockPathBeneathAttr) -> None:
    """Add a ``LANDLOCK_RULE_PATH_BENEATH`` rule to a ruleset."""
    result = _syscall(
        "landlock_add_rule",
        ctypes.c_int(ruleset_fd),
        ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
        ctypes.byref(attr),
        ctypes.c_uint32(0),
    )
    _check(result, "landlock_add_rule")


def landlock_restrict_self(ruleset_fd: int, flags: int = 0) -> None:
    """Enforce a Landlock ruleset on this thread and its future children."""
    result = _syscall("landlock_restrict_self", ctypes.c_int(ruleset_fd), ctypes.c_uint32(flags))
    _check(result, "landlock_restrict_self")


def seccomp(operation: int, flags: int, args: Any) -> int:
    """Install a seccomp filter or query seccomp (``seccomp`` 2, through ``syscall``).

    Args:
        operation: ``SECCOMP_SET_MODE_FILTER`` and the like.
        flags: ``SECCOMP_FILTER_FLAG_*``.
        args: a ctypes pointer to the operation's argument (a ``struct sock_fprog``).
    """
    result = _syscall("seccomp", ctypes.c_uint(operation), ctypes.c_uint(flags), args)
    return _check(result, "seccomp")


def setns(fd: int, nstype: int) -> None:
    """Enter the namespace behind ``fd`` (``setns`` 2)."""
    _check(_need(_setns_fn, "setns")(fd, nstype), "setns")


def open_tree(dirfd: int, path: str, flags: int) -> int:
    """A detached copy of the mount at ``path`` with ``OPEN_TREE_CLONE`` (``open_tree`` 2)."""
    result = _syscall(
        "open_tree", ctypes.c_long(dirfd), _path(path), ctypes.c_long(flags & 0xFFFFFFFF)
    )
    return _check(int(result), "open_tree", path)


def move_mount(from_fd: int, from_path: str, to_fd: int, to_path: str, flags: int) -> None:
    """Attach a mount, for example a detached one from `open_tree` (``move_mount`` 2)."""
    result = _syscall(
        "move_mount",
        ctypes.c_long(from_fd),
        _path(from_path),
        ctypes.c_long(to_fd),
        _path(to_path),
        ctypes.c_long(flags),
    )
    _check(int(result), "move_mount", to_path)


def raw_syscall(number: int, *args: int) -> int:
    """Make system call ``number`` with integer arguments; return its result or ``-errno``.

    For probes whose failure is the expected outcome (a self-check that a call is denied).
    """
    result: int = _need(_syscall_fn, "syscall")(
        ctypes.c_long(number), *(ctypes.c_long(a) for a in args)
    )
    return -ctypes.get_errno() if result == -1 else result
