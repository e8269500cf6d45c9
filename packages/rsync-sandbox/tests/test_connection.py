"""confine_connection: a connection process's own Landlock domain and seccomp filter.

The filter program is checked first without the kernel (a small classic-BPF interpreter
runs it on made-up calls: foreign architectures, x32, each argument rule). Then a child
interpreter confines itself and tries, for real, what a connection process must not do:
signal its parent or a sibling, create sockets, bind or connect the socket it holds,
create a user namespace, trace or read another process; and what it must still do:
file I/O, fork and exec (hooks), threads, its own children's signals, socketpair.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from rsync_sandbox import ConnectionReport, seccomp
from rsync_sandbox.landlock import AccessFs, AccessNet, LandlockStatus, Scope
from rsync_sandbox.seccomp import DENIED_SYSCALLS, SeccompStatus, SyscallPolicy

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import RunChild

X86_64 = 0xC000003E
I386 = 0x40000003
AARCH64 = 0xC00000B7
ALLOW = 0x7FFF0000
EPERM = 0x00050000 | errno.EPERM
ENOSYS = 0x00050000 | errno.ENOSYS


def run_filter(program: bytes, *, arch: int, nr: int, args: tuple[int, ...] = ()) -> int:
    """Run a seccomp BPF program on one call (the opcodes `build_filter` emits)."""
    import struct

    data = struct.pack("<iIQ6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    insns = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    acc = 0
    pc = 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == 0x20:  # ld [k]
            acc = struct.unpack_from("<I", data, k)[0]
        elif code == 0x54:  # and #k
            acc &= k
        elif code in (0x15, 0x35, 0x45):  # jeq, jge, jset
            taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += jt if taken else jf
        elif code == 0x06:  # ret #k
            return int(k)
        else:
            msg = f"unexpected opcode {code:#x}"
            raise AssertionError(msg)


@pytest.fixture
def x86_64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rsync_sandbox._libc.MACHINE", "x86_64")


def test_filter_denies_foreign_architectures_and_x32(x86_64: None) -> None:
    program, _ = seccomp.build_filter(SyscallPolicy())
    read = 0
    assert run_filter(program, arch=X86_64, nr=read) == ALLOW
    assert run_filter(program, arch=I386, nr=read) == EPERM
    assert run_filter(program, arch=AARCH64, nr=read) == EPERM
    assert run_filter(program, arch=X86_64, nr=0x40000000 | read) == EPERM


def test_filter_denies_each_listed_call_and_allows_others(x86_64: None) -> None:
    program, status = seccomp.build_filter(SyscallPolicy())
    numbers = seccomp._NUMBERS["x86_64"]
    assert set(status.denied) == set(DENIED_SYSCALLS) | {"clone3"}
    for name in DENIED_SYSCALLS:
        assert run_filter(program, arch=X86_64, nr=numbers[name]) == EPERM, name
    assert run_filter(program, arch=X86_64, nr=numbers["clone3"]) == ENOSYS
    # read, write, openat, execve, kill, wait4, getdents64, landlock_restrict_self
    for allowed in (0, 1, 257, 59, 62, 61, 217, 446):
        assert run_filter(program, arch=X86_64, nr=allowed) == ALLOW, allowed


def test_filter_checks_arguments(x86_64: None) -> None:
    numbers = seccomp._NUMBERS["x86_64"]
    program, _ = seccomp.build_filter(SyscallPolicy())

    def call(name: str, *args: int) -> int:
        return run_filter(program, arch=X86_64, nr=numbers[name], args=args)

    assert call("socket", socket.AF_INET, socket.SOCK_STREAM) == EPERM
    assert call("socket", socket.AF_UNIX, socket.SOCK_DGRAM) == EPERM
    assert call("socketpair", socket.AF_UNIX, socket.SOCK_STREAM) == ALLOW
    assert call("socketpair", socket.AF_INET, socket.SOCK_STREAM) == EPERM
    sigchld = int(signal.SIGCHLD)
    assert call("clone", 0x01200000 | sigchld) == ALLOW  # fork: CHILD_SETTID | CHILD_CLEARTID
    assert call("clone", 0x003D0F00) == ALLOW  # a thread
    assert call("clone", 0x10000000 | sigchld) == EPERM  # CLONE_NEWUSER
    assert call("clone", 0x40000000 | sigchld) == EPERM  # CLONE_NEWNET
    assert call("unshare", 0x00000200) == ALLOW  # CLONE_FS
    assert call("unshare", 0x00000080) == EPERM  # CLONE_NEWTIME
    assert call("unshare", 0x00020000) == EPERM  # CLONE_NEWNS
    assert call("prlimit64", 0, 7) == ALLOW  # its own RLIMIT_NOFILE
    assert call("prlimit64", 1, 7) == EPERM  # PID 1's
    assert call("setpriority", 0, 0, 10) == ALLOW  # nice(10)
    assert call("setpriority", 0, 1234, 19) == EPERM  # another process
    assert call("setpriority", 2, 0, 19) == EPERM  # PRIO_USER: every process of the uid
    assert call("ioprio_set", 1, 0, 0) == ALLOW  # itself
    assert call("ioprio_set", 1, 1234, 0) == EPERM
    assert call("ioprio_set", 3, 0, 0) == EPERM  # IOPRIO_WHO_USER
    assert call("ioctl", 0, 0x5412) == EPERM  # TIOCSTI
    assert call("ioctl", 0, 0x5401) == ALLOW  # TCGETS

    syslog_ok, _ = seccomp.build_filter(
        SyscallPolicy(unix_datagram=True, socket_families=frozenset({socket.AF_INET6}))
    )
    sock = numbers["socket"]
    dgram = socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
    assert run_filter(syslog_ok, arch=X86_64, nr=sock, args=(socket.AF_UNIX, dgram)) == ALLOW
    stream = (socket.AF_UNIX, socket.SOCK_STREAM)
    assert run_filter(syslog_ok, arch=X86_64, nr=sock, args=stream) == EPERM
    inet6 = (socket.AF_INET6, socket.SOCK_STREAM)
    assert run_filter(syslog_ok, arch=X86_64, nr=sock, args=inet6) == ALLOW
    inet = (socket.AF_INET, socket.SOCK_DGRAM)
    assert run_filter(syslog_ok, arch=X86_64, nr=sock, args=inet) == EPERM


def test_aarch64_program_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("rsync_sandbox._libc.MACHINE", "aarch64")
    program, status = seccomp.build_filter(SyscallPolicy())
    assert status.arch == "aarch64"
    assert "iopl" not in status.denied  # x86 only
    assert run_filter(program, arch=AARCH64, nr=117) == EPERM  # ptrace
    assert run_filter(program, arch=AARCH64, nr=0x40000000) == ALLOW  # no x32 rule here
    assert run_filter(program, arch=X86_64, nr=0) == EPERM


def test_unknown_machine_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    from rsync_sandbox import SandboxUnavailable

    monkeypatch.setattr("rsync_sandbox._libc.MACHINE", "riscv64")
    with pytest.raises(SandboxUnavailable, match="riscv64"):
        seccomp.build_filter(SyscallPolicy())


def test_report_describes_the_layers() -> None:
    status = LandlockStatus(
        abi=7,
        handled_access_fs=AccessFs(0),
        scoped=Scope.SIGNAL | Scope.ABSTRACT_UNIX_SOCKET,
        read_only=(),
        read_write=(),
        skipped=(),
        verified_outside=None,
        handled_access_net=AccessNet.BIND_TCP | AccessNet.CONNECT_TCP,
    )
    filt = SeccompStatus(arch="x86_64", denied=("a", "b"), restricted=("c",), instructions=9)
    report = ConnectionReport(landlock=status, seccomp=filt, warnings=())
    assert report.description == (
        "Landlock ABI 7 (signals, abstract sockets, no TCP bind/connect),"
        " seccomp (2 syscalls denied, 1 checked by argument)"
    )
    assert ConnectionReport(landlock=None, seccomp=None, warnings=()).description == (
        "not confined"
    )


# -- in a child: the real kernel ---------------------------------------------------------

CONFINED_BODY = """
import signal, socket, subprocess, threading
from rsync_sandbox import ConnectionPolicy, confine_connection, seccomp as sc

held = socket.socket()  # like the accepted connection: open before confinement
held_unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
report = confine_connection(ConnectionPolicy())
numbers = sc._NUMBERS[_libc.MACHINE]

def raw(name, *args):
    result = _libc.raw_syscall(numbers[name], *args)
    return errno.errorcode.get(-result, "ok") if result < 0 else "ok"

def status_field(name):
    with open("/proc/self/status") as fh:
        return next(l.split(":")[1].strip() for l in fh if l.startswith(name + ":"))

child = os.fork()
if child == 0:
    signal.pause()
    os._exit(0)
os.kill(child, signal.SIGTERM)  # its own child: the same domain
_, wstatus = os.waitpid(child, 0)

thread_ran = []
t = threading.Thread(target=lambda: thread_ran.append(True))
t.start()
t.join()
a, b = socket.socketpair()
a.sendall(b"x")
os.makedirs(ARGS["rw"] + "/sub", exist_ok=True)
write_new(ARGS["rw"] + "/sub/file.txt")

emit(
    description=report.description,
    warnings=list(report.warnings),
    seccomp=status_field("Seccomp"),
    kill_parent=attempt(lambda: os.kill(os.getppid(), 0)),
    kill_sibling=attempt(lambda: os.kill(ARGS["sibling"], signal.SIGTERM)),
    kill_init=attempt(lambda: os.kill(1, 0)),
    own_child_signalled=os.WIFSIGNALED(wstatus),
    socket_inet=attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
    socket_inet6=attempt(lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)),
    socket_unix=attempt(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)),
    socket_netlink=attempt(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)),
    abstract_connect=attempt(lambda: held_unix.connect("\\0" + ARGS["abstract"])),
    bind_held=attempt(lambda: held.bind(("127.0.0.1", 0))),
    connect_held=attempt(lambda: held.connect(("127.0.0.1", ARGS["port"]))),
    unshare_user=attempt(lambda: _libc.unshare(0x10000000)),
    unshare_net=attempt(lambda: _libc.unshare(0x40000000)),
    setns=raw("setns", 0, 0),
    ptrace=raw("ptrace", 16, ARGS["sibling"], 0, 0),  # PTRACE_ATTACH
    process_vm_readv=raw("process_vm_readv", ARGS["sibling"], 0, 0, 0, 0, 0),
    prlimit_sibling=raw("prlimit64", ARGS["sibling"], 7, 0, 0),
    prlimit_self=raw("prlimit64", 0, 7, 0, 0),
    renice_parent=attempt(lambda: os.setpriority(os.PRIO_PROCESS, os.getppid(), 19)),
    renice_self=attempt(lambda: os.setpriority(os.PRIO_PROCESS, 0, 1)),
    bpf=raw("bpf", 0, 0, 0),
    mount=attempt(lambda: _libc.mount("none", "/", None, _libc.MS_REMOUNT, None)),
    chroot=attempt(lambda: _libc.chroot("/")),
    kexec=raw("kexec_load", 0, 0, 0, 0),
    clone3=raw("clone3", 0, 0),
    socketpair=b.recv(1).decode(),
    thread_ran=thread_ran == [True],
    exec_hook=subprocess.run([sys.executable, "-c", "print('hook')"], capture_output=True,
                             text=True).stdout.strip(),
    read_back=read(ARGS["rw"] + "/sub/file.txt"),
)
"""


@pytest.fixture
def sibling() -> Iterator[subprocess.Popen[bytes]]:
    """A process of the same user outside the child's domain (a sibling connection)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP listener on loopback that an unconfined process could connect to."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        yield sock
    finally:
        sock.close()


@pytest.fixture
def abstract_listener() -> Iterator[str]:
    """An abstract UNIX socket outside the child's domain."""
    name = f"rsync-sandbox-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind("\0" + name)
    sock.listen(1)
    try:
        yield name
    finally:
        sock.close()


def test_connection_process_is_confined_to_itself(
    run_child: RunChild,
    tree: dict[str, str],
    need_landlock: int,
    sibling: subprocess.Popen[bytes],
    listener: socket.socket,
    abstract_listener: str,
) -> None:
    if need_landlock < 6:
        pytest.skip(f"Landlock ABI {need_landlock}: no scopes (ABI 6)")
    rw = tree["rw"]
    child = run_child(
        CONFINED_BODY,
        rw=rw,
        sibling=sibling.pid,
        port=listener.getsockname()[1],
        abstract=abstract_listener,
    )
    assert child.returncode == 0, child.stderr
    data = child.data
    assert data["warnings"] == []
    assert data["description"].startswith(
        f"Landlock ABI {need_landlock} (signals, abstract sockets, no TCP bind/connect), seccomp ("
    )
    assert data["seccomp"] == "2"
    # Landlock scopes: nothing outside the domain can be signalled; its own child can.
    assert data["kill_parent"] == "EPERM"
    assert data["kill_sibling"] == "EPERM"
    assert data["kill_init"] == "EPERM"
    assert data["own_child_signalled"] is True
    assert sibling.poll() is None, "the sibling was killed"
    # seccomp: no new sockets of any family; socketpair (asyncio) still works.
    for key in ("socket_inet", "socket_inet6", "socket_unix", "socket_netlink"):
        assert data[key] == "EPERM", key
    assert data["socketpair"] == "x"
    # Landlock: the socket it already holds cannot be bound nor connected; abstract
    # sockets outside the domain are out of reach.
    assert data["bind_held"] == "EACCES"
    assert data["connect_held"] == "EACCES"
    assert data["abstract_connect"] == "EPERM"
    # seccomp: namespaces, tracing, other processes' memory, the kernel.
    for key in ("unshare_user", "unshare_net", "setns", "ptrace", "process_vm_readv"):
        assert data[key] == "EPERM", key
    # seccomp: limits and priority of itself only.
    assert data["prlimit_sibling"] == "EPERM"
    assert data["renice_parent"] == "EPERM"
    assert data["prlimit_self"] == "ok"
    assert data["renice_self"] == "ok"
    for key in ("bpf", "mount", "chroot", "kexec"):
        assert data[key] == "EPERM", key
    assert data["clone3"] == "ENOSYS"
    # What serving (and a hook) needs still works.
    assert data["thread_ran"] is True
    assert data["exec_hook"] == "hook"
    assert data["read_back"] == "new"


POLICY_BODY = """
import socket
from rsync_sandbox import ConnectionPolicy, confine_connection
report = confine_connection(ConnectionPolicy(
    landlock=False, socket_families=frozenset({socket.AF_INET}), unix_datagram=True))
emit(
    landlock=report.landlock is not None,
    inet=attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()),
    inet6=attempt(lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)),
    unix_dgram=attempt(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).close()),
    unix_stream=attempt(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)),
    kill_parent=attempt(lambda: os.kill(os.getppid(), 0)),
)
"""


def test_policy_opens_what_it_names(run_child: RunChild) -> None:
    child = run_child(POLICY_BODY)
    assert child.returncode == 0, child.stderr
    assert child.data == {
        "landlock": False,
        "inet": "ok",
        "inet6": "EPERM",
        "unix_dgram": "ok",
        "unix_stream": "EPERM",
        "kill_parent": "ok",  # no Landlock domain asked: the scope is not there
    }


def test_refuses_a_threaded_process(run_child: RunChild) -> None:
    child = run_child(
        """
        import threading
        from rsync_sandbox import ConnectionPolicy, confine_connection
        stop = threading.Event()
        threading.Thread(target=stop.wait).start()
        try:
            confine_connection(ConnectionPolicy())
        except SandboxError as exc:
            emit(error=str(exc))
        stop.set()
        """
    )
    assert "single-threaded" in child.data["error"]


OLDER_KERNEL_BODY = """
from rsync_sandbox import ConnectionPolicy, confine_connection, seccomp
# What an older kernel answers: Landlock ABI ARGS["abi"]; with ARGS["no_seccomp"], a
# machine whose system call numbers seccomp does not know, so no filter.
landlock.abi_version = lambda: ARGS["abi"]
if ARGS["no_seccomp"]:
    del seccomp._NUMBERS[_libc.MACHINE]
report = confine_connection(ConnectionPolicy())
emit(
    description=report.description,
    warnings=list(report.warnings),
    kill_parent=attempt(lambda: os.kill(os.getppid(), 0)),
    bind=attempt(lambda: __import__("socket").socket().bind(("127.0.0.1", 0))),
)
"""


@pytest.mark.parametrize(
    ("abi", "no_seccomp", "description", "warning", "kill_parent", "bind"),
    [
        (
            3,
            False,
            "seccomp (58 syscalls denied, 8 checked by argument)",
            "Landlock ABI 3 has no network rules (ABI 4) nor scopes (ABI 6)",
            "ok",
            "EPERM",  # seccomp: no new socket
        ),
        (
            5,
            True,
            "Landlock ABI 5 (no TCP bind/connect)",
            "Landlock ABI 5 lacks signal and abstract-socket scopes (ABI 6): not in force",
            "ok",
            "EACCES",  # Landlock: the socket is created, binding it is denied
        ),
    ],
    ids=["abi3", "abi5-no-seccomp"],
)
def test_older_kernels_fall_back_with_a_warning(
    run_child: RunChild,
    need_landlock: int,
    abi: int,
    no_seccomp: bool,
    description: str,
    warning: str,
    kill_parent: str,
    bind: str,
) -> None:
    if need_landlock < abi:
        pytest.skip(f"the kernel's Landlock ABI is {need_landlock}")
    child = run_child(OLDER_KERNEL_BODY, abi=abi, no_seccomp=no_seccomp)
    assert child.returncode == 0, child.stderr
    assert child.data["description"] == description
    assert any(warning in w for w in child.data["warnings"]), child.data["warnings"]
    if no_seccomp:
        assert any("seccomp: no system call table" in w for w in child.data["warnings"])
    assert child.data["kill_parent"] == kill_parent
    assert child.data["bind"] == bind


def test_filter_loads_where_seccomp_itself_is_denied(run_child: RunChild) -> None:
    """As under systemd's ``SystemCallFilter=@system-service``, which leaves seccomp(2) out:
    the filter is then loaded with prctl(PR_SET_SECCOMP), on top of the one in force."""
    child = run_child(
        """
        from rsync_sandbox import ConnectionPolicy, confine_connection, seccomp
        seccomp.install(seccomp.SyscallPolicy(denied=("seccomp",), socketpair=True))
        report = confine_connection(ConnectionPolicy(landlock=False))
        with open("/proc/self/status") as fh:
            status = dict(line.rstrip("\\n").split(":\\t", 1) for line in fh if ":\\t" in line)
        emit(
            seccomp=report.seccomp is not None,
            warnings=list(report.warnings),
            filters=status["Seccomp_filters"],
            socket=attempt(lambda: __import__("socket").socket()),
        )
        """
    )
    assert child.returncode == 0, child.stderr
    assert child.data == {"seccomp": True, "warnings": [], "filters": "2", "socket": "EPERM"}
