"""Each pyrsyncd connection process is confined to its own connection (issue 8 item 7).

Seen from outside: a live connection process of the listening daemon, of an inetd-style
daemon, of the anonymous SSH listener and of ``--server`` over a remote shell runs under a
seccomp filter (``/proc/PID/status``: ``Seccomp: 2``) that the daemon itself does not
have, and the start-up log says which layers the connection processes get.

Seen from inside: a script runs the daemon's own sequence (``supervisor.confine``, then in
a forked child ``conn_sandbox.confine_connection_process``, exactly what the listener's
child does) and tries what a connection process must not do: signal the daemon (PID 1 of
its namespace as root) or a sibling connection, create sockets, bind or connect the socket
it holds, reach a TCP service on the host, create a user namespace, trace a sibling. The
daemon's file rules still hold there, and serving still works: real rsync pulls (``-z``,
``--delete``, listings, authentication) from the confined daemon.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.compare import assert_trees_equal
from harness.confinement import connection_process, descendants, open_daemon_connection, wait_for
from harness.daemon import DaemonModule, daemon_ready
from harness.ourd import LOOPBACK, pyrsyncd_argv
from harness.proc import port_accepts, run, start_service
from harness.tools import find_tool, require_tool, unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

    from harness.daemon import RealDaemonFactory
    from harness.proc import RunResult, Service
    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

ROOT = os.geteuid() == 0
AS_NOBODY = {"uid": "65534", "gid": "65534"} if ROOT else {}
HERE = Path(__file__).resolve().parent
ACTIVATE = HERE / "harness" / "activate.py"


def _landlock_abi() -> int | None:
    from rsync_sandbox import SandboxUnavailable, abi_version

    try:
        return abi_version()
    except SandboxUnavailable:
        return None


ABI = _landlock_abi()
SCOPES = ABI is not None and ABI >= 6
START_UP_LINE = re.compile(
    r"sandbox: connection processes: Landlock ABI \d+ \(signals, abstract sockets,"
    r" no TCP bind/connect\), seccomp \(\d+ syscalls denied, \d+ checked by argument\)"
)


@pytest.fixture
def need_scopes() -> None:
    if not SCOPES:
        pytest.skip(f"Landlock ABI {ABI}: signal and socket scopes need ABI 6")


def _tree(root: Path) -> Path:
    """Files every user can read (the daemon serves as 65534 when the tests run as root)."""
    (root / "sub/deeper").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub/b.txt").write_text("beta\n" * 5000)
    (root / "sub/deeper/c.bin").write_bytes(os.urandom(300_000))
    (root / "link").symlink_to("a.txt")
    for dirpath, _dirs, files in os.walk(root):
        os.chmod(dirpath, 0o755)  # noqa: S103 - readable by the serving user on purpose
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o644)
    return root


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as fh:
        return {k: v.strip() for k, _, v in (line.partition(":") for line in fh)}


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rpartition(")")[2].split()[1])


# -- from outside: live connection processes -----------------------------------------------


def test_live_connection_process_runs_under_its_own_filter(
    need_scopes: None, our_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    src = _tree(tmp_path / "src")
    daemon = our_daemon({"src": src}, global_options=AS_NOBODY)
    log = daemon.log()
    assert START_UP_LINE.search(log), log
    with open_daemon_connection(daemon.host, daemon.port) as client:
        pid = connection_process(daemon.service.pid, client)
        # it confines itself just after the greeting: it can be found a moment before
        wait_for(lambda: _filtered(pid))
        status = _status(pid)
        assert int(status["Seccomp_filters"]) == 1
        assert status["NoNewPrivs"] == "1"
        # The daemon that accepted it (PID 1 of its namespace as root) has no filter.
        assert _status(_parent(pid))["Seccomp"] == "0"
        with open_daemon_connection(daemon.host, daemon.port) as other:
            sibling = connection_process(daemon.service.pid, other)
            assert sibling != pid
            wait_for(lambda: _filtered(sibling))


def test_inetd_connection_process_is_confined(
    need_scopes: None,
    real_rsync: RealRsync,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
) -> None:
    """``--inetd``: one process per connection, started with the socket on stdin."""
    src = _tree(tmp_path / "src")
    out = tmp_path_factory.mktemp("inetd") / "out.log"
    # a client on standard input may share the daemon's stderr: its log goes to a file
    log_file = out.with_name("pyrsyncd.log")
    command = pyrsyncd_argv("--inetd", "--module", f"src={src}", f"--log-file={log_file}")
    service, port = start_service(
        lambda port: [sys.executable, str(ACTIVATE), "inetd", f"{LOOPBACK}:{port}", "--", *command],
        output=out,
        # Each probe would start a whole daemon process: accepting is ready enough.
        ready=lambda _s, port: port_accepts(LOOPBACK, port),
    )
    try:
        dest = tmp_path / "dest"
        run(
            real_rsync.argv("-az", f"rsync://{LOOPBACK}:{port}/src/", str(dest)), timeout=60
        ).check()
        assert_trees_equal(src, dest, symlink_times=True)
        with open_daemon_connection(LOOPBACK, port) as client:
            pid = connection_process(service.pid, client)
            wait_for(lambda: _filtered(pid))  # confined once the client has spoken
        log = log_file.read_text()
        assert START_UP_LINE.search(log), log
    finally:
        service.stop(grace=2.0)


def test_anonymous_ssh_connection_process_is_confined(
    need_scopes: None,
    real_rsync: RealRsync,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
) -> None:
    """The anonymous SSH listener: the process behind an SSH connection has its filter
    before the SSH handshake, and real rsync over ``ssh`` still downloads."""
    ssh = require_tool("ssh")
    src = _tree(tmp_path / "src")
    out = tmp_path_factory.mktemp("anonssh") / "out.log"
    key = tmp_path / "host_key"
    service, port = start_service(
        lambda port: pyrsyncd_argv(
            "--anonssh-listen",
            f"{LOOPBACK}:{port}",
            "--module",
            f"mod={src}",
            "--anonssh-host-key",
            str(key),
        ),
        output=out,
        ready=lambda _s, port: port_accepts(LOOPBACK, port),
    )
    try:
        with socket.create_connection((LOOPBACK, port), timeout=30) as client:
            banner = client.makefile("rb").readline()
            assert banner.startswith(b"SSH-2.0-"), banner
            pid = connection_process(service.pid, client)
            assert _status(pid)["Seccomp"] == "2"
        rsh = shlex.join(
            [
                str(ssh),
                "-F",
                "/dev/null",
                "-p",
                str(port),
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "IdentityAgent=none",
            ]
        )
        dest = tmp_path / "dest"
        result = run(
            real_rsync.argv("-az", "-e", rsh, f"rsync://{LOOPBACK}/mod/", str(dest)), timeout=60
        )
        assert result.returncode == 0, f"{result.describe()}\n{service.output()}"
        assert_trees_equal(src, dest, symlink_times=True)
        assert START_UP_LINE.search(service.output()), service.output()
    finally:
        service.stop(grace=2.0)


def _server_process(client_pid: int) -> int | None:
    """The ``pyrsyncd --server`` a client started through the shim, once it runs."""
    for pid in descendants(client_pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if b"rsync_daemon" in argv and b"--server" in argv:
            return pid
    return None


def test_remote_shell_server_is_confined(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tmp_path: Path
) -> None:
    """``pyrsyncd --server`` started over a remote shell: the same filter, and it serves."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(4_000_000))
    shim = rsh_shim_factory(pyrsyncd_argv())
    # Slowed down so that the server is still there to be looked at; killed afterwards.
    client = subprocess.Popen(
        real_rsync.argv("-a", "--bwlimit=100", "-e", str(shim), f"localhost:{src}/", "slow/"),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        server = wait_for(lambda: _server_process(client.pid), timeout=30)
        status = wait_for(lambda: _filtered(server), timeout=30)
        assert status == server
    finally:
        client.kill()
        client.wait()
    dest = tmp_path / "dest"
    run(real_rsync.argv("-az", "-e", str(shim), f"localhost:{src}/", str(dest)), timeout=60).check()
    assert_trees_equal(src, dest)


def _filtered(pid: int) -> int | None:
    """``pid`` once its filter is in force (it confines itself before reading)."""
    try:
        return pid if _status(pid)["Seccomp"] == "2" else None
    except OSError:
        return None


# -- from inside: what a connection process can no longer do --------------------------------

_CONNECTION_VIEW = """
    import errno, json, os, signal, socket, sys
    from rsync_daemon.config import DaemonConfig, ModuleConfig
    from rsync_daemon.conn_sandbox import confine_connection_process
    from rsync_daemon.supervisor import confine
    from rsync_sandbox import _libc, seccomp

    module, outside, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    config = DaemonConfig(modules={"mod": ModuleConfig(name="mod", path=module)})
    if len(sys.argv) > 4:
        config.uid = config.gid = int(sys.argv[4])
    confine(config, mode="auto")  # the daemon, before its accept loop
    served = config.modules["mod"].path

    go_r, go_w = os.pipe()
    sibling = os.fork()  # another connection process, confined alike, waiting
    if sibling == 0:
        os.close(go_w)
        if confine_connection_process(config, "127.0.0.1:2") is None:
            os.read(go_r, 1)
        os._exit(0)

    held = socket.socket()  # like the accepted connection: open before confinement
    out_r, out_w = os.pipe()
    conn = os.fork()
    if conn == 0:  # the connection process under test
        os.close(out_r)
        result = {"refused": confine_connection_process(config, "127.0.0.1:1")}
        number = seccomp._NUMBERS[_libc.MACHINE]

        def attempt(what, call):
            try:
                call()
            except OSError as exc:
                result[what] = errno.errorcode[exc.errno]
            else:
                result[what] = "ok"

        def raw(what, name, *args):
            code = _libc.raw_syscall(number[name], *args)
            result[what] = errno.errorcode[-code] if code < 0 else "ok"

        attempt("signal the daemon", lambda: os.kill(os.getppid(), 0))
        attempt("signal pid 1", lambda: os.kill(1, 0))
        attempt("signal a sibling", lambda: os.kill(sibling, signal.SIGTERM))
        up_r, up_w = os.pipe()
        child = os.fork()
        if child == 0:  # says it is up first: a signal right after fork would be lost
            os.write(up_w, b"u")
            signal.pause()
            os._exit(0)
        os.read(up_r, 1)
        attempt("signal its own child", lambda: os.kill(child, signal.SIGTERM))
        try:  # never wait for a child the signal did not end (the assertion will say)
            os.kill(child, signal.SIGKILL)
        except OSError:
            pass
        os.waitpid(child, 0)
        attempt("new TCP socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        attempt("new UNIX socket", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        attempt("bind the held socket", lambda: held.bind(("127.0.0.1", 0)))
        attempt("connect to a host service", lambda: held.connect(("127.0.0.1", port)))
        attempt("user namespace", lambda: _libc.unshare(0x10000000))
        raw("ptrace a sibling", "ptrace", 16, sibling, 0, 0)
        raw("read a sibling's memory", "process_vm_readv", sibling, 0, 0, 0, 0, 0)
        attempt("read the module", lambda: open(os.path.join(served, "a.txt")).read())
        attempt("read outside", lambda: open(outside).read())
        attempt("list the root", lambda: os.listdir("/"))
        a, b = socket.socketpair()
        a.sendall(b"x")
        result["socketpair"] = b.recv(1).decode()
        os.write(out_w, json.dumps(result).encode())
        os._exit(0)
    os.close(out_w)
    with os.fdopen(out_r, "rb") as fh:
        result = json.loads(fh.read() or b"{}")
    os.waitpid(conn, 0)
    result["sibling alive"] = os.waitpid(sibling, os.WNOHANG) == (0, 0)
    os.write(go_w, b"x")
    os.waitpid(sibling, 0)
    print(json.dumps(result))
"""


@pytest.fixture
def host_service() -> Iterator[int]:
    """A TCP service on loopback: a connection process must not reach it."""
    sock = socket.socket()
    sock.bind((LOOPBACK, 0))
    sock.listen(1)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def _unprivileged_prefix() -> list[str]:
    """Run as uid 65534 when the tests are root (nothing otherwise), as test_confinement does:
    with CAP_DAC_READ_SEARCH where the interpreter lives out of nobody's reach (/root)."""
    if not ROOT:
        return []
    setpriv = find_tool("setpriv")
    if setpriv is None:
        unavailable("setpriv (util-linux) is needed to run the daemon as uid 65534")
    prefix = [str(setpriv), "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = run([*prefix, sys.executable, "-c", "import rsync_daemon.supervisor"], timeout=60)
    if probe.returncode != 0:
        prefix += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    return prefix


@pytest.mark.parametrize("start", ["as-root", "unprivileged"])
def test_connection_process_view(
    need_scopes: None, tmp_path: Path, host_service: int, start: str
) -> None:
    """As root: namespaces, then uid 65534, then Landlock; unprivileged: Landlock only."""
    if start == "as-root" and not ROOT:
        unavailable("needs root (namespaces, privilege drop); CI runs as root")
    namespaces = start == "as-root"
    src = _tree(tmp_path / "src")
    outside = tmp_path / "outside.txt"
    outside.write_text("SECRET\n")
    outside.chmod(0o644)
    args = [str(src), str(outside), str(host_service)]
    prefix = [] if namespaces else _unprivileged_prefix()
    result = run(
        [
            *prefix,
            sys.executable,
            "-c",
            textwrap.dedent(_CONNECTION_VIEW),
            *args,
            *(["65534"] if namespaces else []),
        ],
        timeout=180,  # a loaded machine; it takes about 3 s
    )
    assert result.returncode == 0, result.describe()
    view = json.loads(result.stdout.strip().splitlines()[-1])
    assert view.pop("refused") is None
    assert view == {
        # Landlock scopes: the daemon and siblings are out of reach, its own child is not.
        "signal the daemon": "EPERM",
        "signal pid 1": "EPERM",
        "signal a sibling": "EPERM",
        "signal its own child": "ok",
        "sibling alive": True,
        # seccomp: no new sockets; Landlock: no TCP bind or connect with the one it holds.
        "new TCP socket": "EPERM",
        "new UNIX socket": "EPERM",
        "bind the held socket": "EACCES",
        "connect to a host service": "EACCES",
        # seccomp: namespaces, tracing, other processes' memory.
        "user namespace": "EPERM",
        "ptrace a sibling": "EPERM",
        "read a sibling's memory": "EPERM",
        # The daemon's file rules still apply on top; serving still works.
        "read the module": "ok",
        "read outside": "ENOENT" if namespaces else "EACCES",
        "list the root": "EACCES",
        "socketpair": "x",
    }, result.stderr


# -- serving still works ---------------------------------------------------------------------


def test_real_rsync_transfers_from_confined_connections(
    real_rsync: RealRsync, our_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    src = _tree(tmp_path / "src")
    secrets = tmp_path / "secrets"
    secrets.write_text("alice:s3cret\n")
    secrets.chmod(0o600)
    daemon = our_daemon(
        [
            DaemonModule("src", src, comment="the tree"),
            DaemonModule("sec", src, options={"auth users": "alice", "secrets file": str(secrets)}),
        ],
        global_options=AS_NOBODY,
    )

    def pull(*args: str, env: dict[str, str] | None = None) -> RunResult:
        return run(real_rsync.argv(*args), timeout=60, env=env).check()

    pull("-a", daemon.url("src"), str(tmp_path / "plain"))
    assert_trees_equal(src, tmp_path / "plain", symlink_times=True)
    pull("-az", daemon.url("src"), str(tmp_path / "z"))
    assert_trees_equal(src, tmp_path / "z", symlink_times=True)
    mirror = tmp_path / "mirror"
    (mirror / "sub").mkdir(parents=True)
    (mirror / "stale.txt").write_text("old\n")
    (mirror / "sub/stale.bin").write_bytes(b"old")
    pull("-a", "--delete", daemon.url("src"), str(mirror))
    assert_trees_equal(src, mirror, symlink_times=True)
    modules = run(real_rsync.argv(f"rsync://{daemon.host}:{daemon.port}/"), timeout=60).check()
    assert re.search(r"^src\s+the tree$", modules.stdout, re.MULTILINE), modules.stdout
    listing = run(real_rsync.argv(daemon.url("src", "sub/")), timeout=60).check()
    assert "b.txt" in listing.stdout
    assert "deeper" in listing.stdout
    url = f"rsync://alice@{daemon.host}:{daemon.port}/sec/"
    pull("-a", url, str(tmp_path / "auth"), env={**os.environ, "RSYNC_PASSWORD": "s3cret"})
    assert_trees_equal(src, tmp_path / "auth", symlink_times=True)
    bad = run(
        real_rsync.argv("-a", url, str(tmp_path / "bad")),
        timeout=60,
        env={**os.environ, "RSYNC_PASSWORD": "wrong"},
    )
    assert bad.returncode == 5, bad.describe()
    log = daemon.log()
    assert START_UP_LINE.search(log) or ABI is None or ABI < 6, log
    assert "cannot confine" not in log
    assert "Traceback" not in log


def test_no_sandbox_confines_no_connection(
    real_rsync: RealRsync, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """``--no-sandbox`` (debugging) leaves connection processes as they were, and says so."""
    src = _tree(tmp_path / "src")
    out = tmp_path_factory.mktemp("nosandbox") / "out.log"
    service: Service
    service, port = start_service(
        lambda port: pyrsyncd_argv(
            "--listen", f"{LOOPBACK}:{port}", "--module", f"src={src}", "--no-sandbox"
        ),
        output=out,
        ready=lambda _s, port: daemon_ready(LOOPBACK, port),
    )
    try:
        with open_daemon_connection(LOOPBACK, port) as client:
            pid = connection_process(service.pid, client)
            assert _status(pid)["Seccomp"] == "0"
        assert "sandbox: off (--no-sandbox): NOT confined" in service.output()
        assert "connection processes:" not in service.output()
    finally:
        service.stop(grace=2.0)
