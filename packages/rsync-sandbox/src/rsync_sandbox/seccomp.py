"""seccomp: deny the system calls a confined process never needs, with ``EPERM``.

How this works:

1. `build_filter` writes a classic BPF program (the kernel's seccomp filter language)
   from a `SyscallPolicy`: allow by default, and answer ``EPERM`` for

   - every call of another architecture than this process's own (``AUDIT_ARCH``: the
     i386 entry on x86_64, AArch32 on aarch64), and on x86_64 every x32 call
     (numbers with bit 30 set);
   - each call of `DENIED_SYSCALLS` this machine has: namespaces (``setns``), tracing
     and other processes' memory (``ptrace``, ``process_vm_*``, ``kcmp``,
     ``pidfd_getfd``, ``migrate_pages``, ``move_pages``), kernel and machine state
     (modules, ``kexec``, ``reboot``, ``swapon``, clocks, host name, ``bpf``,
     ``perf_event_open``, the kernel log), mounts (``mount``, the new mount API,
     ``pivot_root``, ``chroot``), keyrings, ``userfaultfd``, file handles
     (``open_by_handle_at``), ``io_uring`` (whose operations seccomp cannot see);
   - ``socket`` unless its family is one the policy allows (or it is a UNIX datagram
     socket and the policy allows those: syslog's ``/dev/log``), ``socketpair``
     unless it is ``AF_UNIX`` and the policy allows it (asyncio's self-pipe is one);
   - ``clone`` and ``unshare`` with any ``CLONE_NEW*`` flag (a plain ``fork``, a
     thread, ``posix_spawn`` stay allowed: hooks may run programs);
   - ``ioctl`` ``TIOCSTI`` and ``TIOCLINUX`` (typing into a terminal);
   - ``prlimit64``, ``setpriority`` and ``ioprio_set`` on anything but the calling
     process (pid 0): no changing the limits or priority of the daemon or a sibling of
     the same uid (Landlock does not cover these).

   ``clone3`` answers ``ENOSYS``: its flags sit in memory a filter cannot read, and
   glibc then falls back to ``clone``, which the filter can check.
2. `install` sets ``no_new_privs`` (required without CAP_SYS_ADMIN) and loads the
   program with ``seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC)``, so
   that every thread of the process gets it; where ``seccomp(2)`` is missing or denied
   (systemd's ``@system-service`` set leaves it out), with ``prctl(PR_SET_SECCOMP)`` in a
   single-threaded process. The filter is irreversible and inherited by children,
   across ``execve``.
3. `verify` checks that the process is in filter mode and that a denied call (``setns``
   on a bad descriptor, which would otherwise fail with ``EBADF``) answers ``EPERM``.

Denials return an error rather than kill the process, so that Python reports them as a
`PermissionError` and the connection ends with a message. Only x86_64 and aarch64 are
known; elsewhere `build_filter` raises `SandboxUnavailable`.

No libseccomp: this package is standard library and ctypes only, the program is small
and fixed, and building it here keeps the result the same on every host (no C library
that may be missing or of another version).
"""

from __future__ import annotations

import ctypes
import errno
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from rsync_sandbox import _libc
from rsync_sandbox._process import ensure_single_threaded
from rsync_sandbox.errors import SandboxError, SandboxUnavailable, SandboxViolation
from rsync_sandbox.privileges import set_no_new_privs

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "DENIED_SYSCALLS",
    "SeccompStatus",
    "SyscallPolicy",
    "build_filter",
    "filter_mode",
    "install",
    "verify",
]

DENIED_SYSCALLS: Final = (
    # namespaces (unshare and clone are checked by flag, clone3 answers ENOSYS)
    "setns",
    # other processes
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "kcmp",
    "pidfd_getfd",
    "migrate_pages",
    "move_pages",
    # the kernel and the machine
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "bpf",
    "perf_event_open",
    "fanotify_init",
    "syslog",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
    "quotactl",
    "quotactl_fd",
    "vhangup",
    "iopl",
    "ioperm",
    "modify_ldt",
    "uselib",
    "lookup_dcookie",
    # mounts and roots
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "open_tree_attr",
    "mount_setattr",
    # keyrings
    "keyctl",
    "add_key",
    "request_key",
    # memory and file-handle tricks, io_uring
    "userfaultfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
)
"""What the filter denies outright (names this machine lacks are skipped)."""

# System call numbers, from the kernel's tables (x86_64: arch/x86/entry/syscalls/
# syscall_64.tbl; aarch64: include/uapi/asm-generic/unistd.h).
_NUMBERS: Final[dict[str, dict[str, int]]] = {
    "x86_64": {
        "ioctl": 16,
        "socket": 41,
        "socketpair": 53,
        "clone": 56,
        "ptrace": 101,
        "syslog": 103,
        "uselib": 134,
        "vhangup": 153,
        "modify_ldt": 154,
        "pivot_root": 155,
        "adjtimex": 159,
        "chroot": 161,
        "acct": 163,
        "settimeofday": 164,
        "mount": 165,
        "umount2": 166,
        "swapon": 167,
        "swapoff": 168,
        "reboot": 169,
        "sethostname": 170,
        "setdomainname": 171,
        "iopl": 172,
        "ioperm": 173,
        "init_module": 175,
        "delete_module": 176,
        "quotactl": 179,
        "lookup_dcookie": 212,
        "clock_settime": 227,
        "kexec_load": 246,
        "add_key": 248,
        "request_key": 249,
        "keyctl": 250,
        "unshare": 272,
        "perf_event_open": 298,
        "fanotify_init": 300,
        "name_to_handle_at": 303,
        "open_by_handle_at": 304,
        "clock_adjtime": 305,
        "setns": 308,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "kcmp": 312,
        "finit_module": 313,
        "kexec_file_load": 320,
        "bpf": 321,
        "userfaultfd": 323,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "clone3": 435,
        "pidfd_getfd": 438,
        "process_madvise": 440,
        "mount_setattr": 442,
        "quotactl_fd": 443,
        "open_tree_attr": 467,
        "seccomp": 317,
        "setpriority": 141,
        "ioprio_set": 251,
        "migrate_pages": 256,
        "move_pages": 279,
        "prlimit64": 302,
    },
    "aarch64": {
        "lookup_dcookie": 18,
        "ioctl": 29,
        "umount2": 39,
        "mount": 40,
        "pivot_root": 41,
        "chroot": 51,
        "vhangup": 58,
        "quotactl": 60,
        "acct": 89,
        "unshare": 97,
        "kexec_load": 104,
        "init_module": 105,
        "delete_module": 106,
        "clock_settime": 112,
        "syslog": 116,
        "ptrace": 117,
        "reboot": 142,
        "sethostname": 161,
        "setdomainname": 162,
        "settimeofday": 170,
        "adjtimex": 171,
        "socket": 198,
        "socketpair": 199,
        "add_key": 217,
        "request_key": 218,
        "keyctl": 219,
        "clone": 220,
        "swapon": 224,
        "swapoff": 225,
        "perf_event_open": 241,
        "fanotify_init": 262,
        "name_to_handle_at": 264,
        "open_by_handle_at": 265,
        "clock_adjtime": 266,
        "setns": 268,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "kcmp": 272,
        "finit_module": 273,
        "kexec_file_load": 294,
        "bpf": 280,
        "userfaultfd": 282,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "clone3": 435,
        "pidfd_getfd": 438,
        "process_madvise": 440,
        "mount_setattr": 442,
        "quotactl_fd": 443,
        "open_tree_attr": 467,
        "seccomp": 277,
        "ioprio_set": 30,
        "setpriority": 140,
        "migrate_pages": 238,
        "move_pages": 239,
        "prlimit64": 261,
    },
}

_AUDIT_ARCH: Final = {
    "x86_64": 0xC000003E,  # AUDIT_ARCH_X86_64
    "aarch64": 0xC00000B7,  # AUDIT_ARCH_AARCH64
}
_X32_SYSCALL_BIT: Final = 0x40000000  # __X32_SYSCALL_BIT

# BPF instruction codes (linux/bpf_common.h, linux/filter.h).
_LD_W_ABS: Final = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_ALU_AND_K: Final = 0x04 | 0x50 | 0x00  # BPF_ALU | BPF_AND | BPF_K
_JEQ_K: Final = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K: Final = 0x05 | 0x30 | 0x00  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K: Final = 0x05 | 0x40 | 0x00  # BPF_JMP | BPF_JSET | BPF_K
_RET_K: Final = 0x06 | 0x00  # BPF_RET | BPF_K

# Return values (linux/seccomp.h).
_RET_ALLOW: Final = 0x7FFF0000  # SECCOMP_RET_ALLOW
_RET_ERRNO: Final = 0x00050000  # SECCOMP_RET_ERRNO

# Offsets in struct seccomp_data: nr, arch, instruction_pointer, args[6] (little endian:
# the low 32 bits of an argument come first; every argument checked here is an int).
_OFF_NR: Final = 0
_OFF_ARCH: Final = 4


def _arg(index: int) -> int:
    return 16 + 8 * index


AF_UNIX: Final = 1
_SOCK_TYPE_MASK: Final = 0xF
_SOCK_DGRAM: Final = 2

# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
_CLONE_NEW: Final = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
_CLONE_NEW_ALL: Final = _CLONE_NEW | 0x20000000 | 0x40000000
# unshare also knows CLONE_NEWTIME (0x80, which clone reads as part of the exit signal).
_UNSHARE_NEW: Final = _CLONE_NEW_ALL | 0x00000080

_PRIO_PROCESS: Final = 0
_IOPRIO_WHO_PROCESS: Final = 1
_TIOCSTI: Final = 0x5412
_TIOCLINUX: Final = 0x541C

_MAX_JUMP: Final = 255


@dataclass(frozen=True, slots=True)
class SyscallPolicy:
    """What the filter lets through besides the calls it does not name.

    Attributes:
        socket_families: address families ``socket`` may still create (``AF_INET`` for
            a resolver, say); empty denies every new socket but the next one.
        unix_datagram: also allow ``socket(AF_UNIX, SOCK_DGRAM)`` (syslog's
            ``/dev/log``, which a logging handler reconnects to after an error).
        socketpair: allow ``socketpair(AF_UNIX, ...)`` (asyncio's self-pipe needs it).
        denied: the calls to deny outright.
    """

    socket_families: frozenset[int] = frozenset()
    unix_datagram: bool = False
    socketpair: bool = True
    denied: tuple[str, ...] = DENIED_SYSCALLS


@dataclass(frozen=True, slots=True)
class SeccompStatus:
    """The filter `install` put in force.

    Attributes:
        arch: the machine (``x86_64``, ``aarch64``).
        denied: the calls denied outright (``EPERM``), with ``clone3`` (``ENOSYS``).
        restricted: the calls checked by argument (``socket``, ``clone``, ...).
        instructions: the program's length.
    """

    arch: str
    denied: tuple[str, ...]
    restricted: tuple[str, ...]
    instructions: int


class _SockFilter(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


_INSN: Final = struct.Struct("=HBBI")


class _Program:
    """A tiny assembler: instructions with jumps to labels, resolved by `assemble`."""

    def __init__(self) -> None:
        self._insns: list[tuple[int, str | None, str | None, int]] = []
        self._labels: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._insns)

    def label(self, name: str) -> None:
        self._labels[name] = len(self._insns)

    def load(self, offset: int) -> None:
        self._insns.append((_LD_W_ABS, None, None, offset))

    def and_(self, mask: int) -> None:
        self._insns.append((_ALU_AND_K, None, None, mask))

    def jump(self, code: int, k: int, true: str | None, false: str | None = None) -> None:
        """Jump to ``true`` if the test holds, else to ``false`` (None: the next one)."""
        self._insns.append((code, true, false, k))

    def ret(self, value: int) -> None:
        self._insns.append((_RET_K, None, None, value))

    def assemble(self) -> list[tuple[int, int, int, int]]:
        out: list[tuple[int, int, int, int]] = []
        for index, (code, true, false, k) in enumerate(self._insns):
            offsets = []
            for target in (true, false):
                offset = 0 if target is None else self._labels[target] - index - 1
                if not 0 <= offset <= _MAX_JUMP:
                    msg = f"seccomp filter: jump of {offset} at {index} is out of range"
                    raise SandboxError(msg)
                offsets.append(offset)
            out.append((code, offsets[0], offsets[1], k))
        return out


def _numbers() -> tuple[str, dict[str, int]]:
    machine = _libc.MACHINE
    try:
        return machine, _NUMBERS[machine]
    except KeyError:
        msg = f"seccomp: no system call table for {machine!r} (known: x86_64, aarch64)"
        raise SandboxUnavailable(msg) from None


def build_filter(policy: SyscallPolicy) -> tuple[bytes, SeccompStatus]:
    """Return the BPF program for ``policy`` (packed ``struct sock_filter`` array).

    Raises:
        SandboxUnavailable: this machine's system call numbers are unknown.
    """
    arch, numbers = _numbers()
    eperm = _RET_ERRNO | errno.EPERM
    prog = _Program()
    prog.load(_OFF_ARCH)
    prog.jump(_JEQ_K, _AUDIT_ARCH[arch], None, "deny")
    prog.load(_OFF_NR)
    if arch == "x86_64":
        prog.jump(_JGE_K, _X32_SYSCALL_BIT, "deny")
    prog.jump(_JEQ_K, numbers["clone3"], "enosys")
    restricted = (
        "socket",
        "socketpair",
        "clone",
        "unshare",
        "ioctl",
        "prlimit64",
        "setpriority",
        "ioprio_set",
    )
    for name in restricted:
        prog.jump(_JEQ_K, numbers[name], name)
    denied = tuple(name for name in dict.fromkeys(policy.denied) if name in numbers)
    for name in denied:
        prog.jump(_JEQ_K, numbers[name], "deny")
    prog.ret(_RET_ALLOW)

    prog.label("socket")
    prog.load(_arg(0))
    for family in sorted(policy.socket_families):
        prog.jump(_JEQ_K, family, "allow")
    if policy.unix_datagram and AF_UNIX not in policy.socket_families:
        prog.jump(_JEQ_K, AF_UNIX, None, "deny")
        prog.load(_arg(1))
        prog.and_(_SOCK_TYPE_MASK)
        prog.jump(_JEQ_K, _SOCK_DGRAM, "allow")
    prog.ret(eperm)

    prog.label("socketpair")
    if policy.socketpair:
        prog.load(_arg(0))
        prog.jump(_JEQ_K, AF_UNIX, "allow")
    prog.ret(eperm)

    prog.label("clone")
    prog.load(_arg(0))
    prog.jump(_JSET_K, _CLONE_NEW_ALL, "deny", "allow")

    prog.label("unshare")
    prog.load(_arg(0))
    prog.jump(_JSET_K, _UNSHARE_NEW, "deny", "allow")

    # Limits and priorities of this process only (pid/who 0): not the daemon's, not a
    # sibling's of the same uid, not every process of the uid (PRIO_USER).
    prog.label("prlimit64")
    prog.load(_arg(0))
    prog.jump(_JEQ_K, 0, "allow", "deny")

    prog.label("setpriority")
    prog.load(_arg(0))
    prog.jump(_JEQ_K, _PRIO_PROCESS, None, "deny")
    prog.load(_arg(1))
    prog.jump(_JEQ_K, 0, "allow", "deny")

    prog.label("ioprio_set")
    prog.load(_arg(0))
    prog.jump(_JEQ_K, _IOPRIO_WHO_PROCESS, None, "deny")
    prog.load(_arg(1))
    prog.jump(_JEQ_K, 0, "allow", "deny")

    prog.label("ioctl")
    prog.load(_arg(1))
    prog.jump(_JEQ_K, _TIOCSTI, "deny")
    prog.jump(_JEQ_K, _TIOCLINUX, "deny")

    prog.label("allow")
    prog.ret(_RET_ALLOW)
    prog.label("deny")
    prog.ret(eperm)
    prog.label("enosys")
    prog.ret(_RET_ERRNO | errno.ENOSYS)

    code = b"".join(_INSN.pack(*insn) for insn in prog.assemble())
    status = SeccompStatus(
        arch=arch,
        denied=(*denied, "clone3"),
        restricted=restricted,
        instructions=len(prog),
    )
    return code, status


def filter_mode() -> bool:
    """Whether this thread runs under a seccomp filter (``PR_GET_SECCOMP`` is 2)."""
    return _libc.prctl(_libc.PR_GET_SECCOMP) == 2


def install(policy: SyscallPolicy) -> SeccompStatus:
    """Deny, in this process and its future children, what ``policy`` leaves out.

    Irreversible. Sets ``no_new_privs`` first. Every thread of the process gets the
    filter (``SECCOMP_FILTER_FLAG_TSYNC``).

    Raises:
        SandboxUnavailable: the kernel lacks seccomp filters, or the machine is unknown.
        SandboxError: the kernel refused the program.
        SandboxViolation: the self-check failed afterwards.
    """
    code, status = build_filter(policy)
    count = len(code) // _INSN.size
    insns = (_SockFilter * count).from_buffer_copy(code)
    fprog = _SockFprog(count, insns)
    set_no_new_privs()
    try:
        _libc.seccomp(
            _libc.SECCOMP_SET_MODE_FILTER, _libc.SECCOMP_FILTER_FLAG_TSYNC, ctypes.byref(fprog)
        )
    except OSError as exc:
        if exc.errno not in (errno.ENOSYS, errno.EPERM, errno.EACCES):
            msg = f"seccomp(SECCOMP_SET_MODE_FILTER) failed: {exc}"
            raise SandboxError(msg) from exc
        _install_with_prctl(fprog, exc)
    verify(probes=[name for name in ("setns",) if name in status.denied])
    return status


def _install_with_prctl(fprog: _SockFprog, cause: OSError) -> None:
    """Load the filter with ``prctl(PR_SET_SECCOMP)``: for this thread only.

    ``seccomp(2)`` itself may be missing (before Linux 3.17) or denied by a filter already
    in force: systemd's ``SystemCallFilter=@system-service`` leaves it out, but allows
    ``prctl``. Without ``TSYNC`` the process must have one thread.

    Raises:
        SandboxUnavailable: the kernel has no seccomp filters.
        SandboxError: the process has threads, or the kernel refused the program.
    """
    ensure_single_threaded()
    try:
        _libc.prctl(_libc.PR_SET_SECCOMP, _libc.SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            msg = f"seccomp filters unavailable: {cause}; prctl(PR_SET_SECCOMP): {exc}"
            raise SandboxUnavailable(msg) from exc
        msg = f"seccomp: {cause}; prctl(PR_SET_SECCOMP) failed: {exc}"
        raise SandboxError(msg) from exc


def verify(probes: Iterable[str] = ("setns",)) -> None:
    """Check that a seccomp filter is in force and denies each call in ``probes``.

    Each probe is called with ``(-1, 0)``: ``setns(-1, 0)`` fails with ``EBADF`` when
    nothing stops it, so the probe changes nothing either way.

    Raises:
        SandboxViolation: no filter, or the probe was not denied with ``EPERM``.
    """
    if not filter_mode():
        msg = "seccomp: the process is not in filter mode after installing the filter"
        raise SandboxViolation(msg)
    _, numbers = _numbers()
    for name in probes:
        result = _libc.raw_syscall(numbers[name], -1, 0)
        if result != -errno.EPERM:
            msg = f"seccomp: {name} was not denied (result {result}, expected -EPERM)"
            raise SandboxViolation(msg)
