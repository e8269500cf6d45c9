"""rsyncd.conf directives of pyrsyncd, against the real rsync 3.5 client, beside rsync's daemon.

Each scenario writes one rsyncd.conf, starts pyrsyncd on it (and, where the outcome
should be the same, rsync's own daemon on the same file) and runs the real rsync client:
connection limits, exec hooks, write only, &include/&merge and [global], hosts deny that
does not resolve, the PROXY header, refused symlinks, a missing module path, a log file
that cannot be opened, and an interrupted start.
"""

from __future__ import annotations

import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.daemon import LOOPBACK, daemon_ready
from harness.ourd import pyrsyncd_argv
from harness.proc import Service, start_service

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from harness.tools import RealRsync

GREETING = b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n"
DAEMONS = ("ours", "rsync")


@dataclass
class Running:
    """A daemon started on one rsyncd.conf."""

    port: int
    workdir: Path
    service: Service

    def url(self, module: str, path: str = "") -> str:
        return f"rsync://{LOOPBACK}:{self.port}/{module}/{path}"


def _head(workdir: Path) -> str:
    """Global lines every scenario shares (root keeps root, as the harness does)."""
    lines = [
        "use chroot = no",
        "reverse lookup = no",
        f"log file = {workdir / 'rsyncd.log'}",
        f"lock file = {workdir / 'rsyncd.lock'}",
        f"pid file = {workdir / 'rsyncd.pid'}",
    ]
    if os.geteuid() == 0:
        lines += ["uid = root", "gid = root"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def start_conf(
    real_rsync: RealRsync, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Running]]:
    """``start_conf(body, daemon="ours"|"rsync", ready=None)`` starts a daemon on a conf."""
    started: list[Service] = []

    def start(
        body: str,
        *,
        daemon: str = "ours",
        ready: Callable[[Service, int], bool] | None = None,
        head: bool = True,
    ) -> Running:
        workdir = tmp_path_factory.mktemp(f"conf-{daemon}")
        conf = workdir / "rsyncd.conf"
        conf.write_text((_head(workdir) if head else "") + textwrap.dedent(body))
        program = pyrsyncd_argv() if daemon == "ours" else real_rsync.argv()
        service, port = start_service(
            lambda port: [
                *program,
                "--daemon",
                "--no-detach",
                f"--config={conf}",
                f"--port={port}",
                f"--address={LOOPBACK}",
            ],
            output=workdir / "out",
            ready=ready or (lambda _s, port: daemon_ready(LOOPBACK, port)),
        )
        started.append(service)
        return Running(port=port, workdir=workdir, service=service)

    yield start
    for service in started:
        service.stop(grace=2.0)


def _rsync(
    real_rsync: RealRsync, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        real_rsync.argv(*args),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def _tree(tmp_path: Path, name: str = "src") -> Path:
    src = tmp_path / name
    src.mkdir()
    (src / "file").write_text("content\n")
    return src


class _Refused(Exception):  # noqa: N818 - a refusal, not an error of the test
    """The daemon answered @ERROR."""


def _hold_module(port: int, module: str) -> socket.socket:
    """A client that got ``@RSYNCD: OK`` for ``module`` and then says nothing."""
    sock = socket.create_connection((LOOPBACK, port), timeout=30)
    stream = sock.makefile("rb")
    sock.sendall(GREETING + module.encode() + b"\n")
    while True:
        line = stream.readline()
        assert line, "daemon closed before @RSYNCD: OK"
        if line.startswith(b"@ERROR"):
            sock.close()
            raise _Refused(line.decode())
        if line == b"@RSYNCD: OK\n":
            return sock


def _until(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` until it holds (the daemon reaps a process asynchronously)."""
    deadline = time.monotonic() + 30
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"never: {what}")
        time.sleep(0.1)


# -- max connections -------------------------------------------------------------------------


@pytest.mark.parametrize("daemon", DAEMONS)
def test_module_max_connections_refuses_with_rsyncs_message(
    start_conf: Callable[..., Running], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    src = _tree(tmp_path)
    running = start_conf(f"[m]\npath = {src}\nmax connections = 1\n", daemon=daemon)
    holder = _hold_module(running.port, "m")
    try:
        proc = _rsync(real_rsync, "-r", running.url("m"), str(tmp_path / "dst"))
        assert proc.returncode == 5, proc.stderr
        assert "@ERROR: max connections (1) reached -- try again later" in proc.stderr
    finally:
        holder.close()

    def frees() -> bool:
        return _rsync(real_rsync, "-r", running.url("m"), str(tmp_path / "dst")).returncode == 0

    _until(frees, "the slot is free once the holder is gone")
    assert (tmp_path / "dst" / "file").read_text() == "content\n"


@pytest.mark.parametrize("daemon", DAEMONS)
def test_negative_max_connections_disables_the_module(
    start_conf: Callable[..., Running], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    """rsync: connection.c claim_connection() finds no slot below a negative limit.

    rsyncd.conf(5): "A negative value disables the module". pyrsyncd served it unlimited.
    """
    src = _tree(tmp_path)
    lock = tmp_path / "lock"
    running = start_conf(
        f"[m]\npath = {src}\nmax connections = -1\nlock file = {lock}\n", daemon=daemon
    )
    proc = _rsync(real_rsync, "-r", running.url("m"), str(tmp_path / "dst"))
    assert proc.returncode == 5, proc.stderr
    assert "@ERROR: max connections (-1) reached -- try again later" in proc.stderr
    assert not (tmp_path / "dst").exists()


def test_global_limit_answers_after_the_greeting(tmp_path: Path, real_rsync: RealRsync) -> None:
    """TOML ``max_connections``: the client reads rsync's @ERROR and exits 5, not 12."""
    src = _tree(tmp_path)
    conf = tmp_path / "d.toml"
    conf.write_text(f'max_connections = 1\nsandbox = "off"\n[modules.m]\npath = "{src}"\n')
    service, port = start_service(
        lambda port: [*pyrsyncd_argv(), "--config", str(conf), "--listen", f"{LOOPBACK}:{port}"],
        output=tmp_path / "out",
        ready=lambda _s, port: daemon_ready(LOOPBACK, port),
    )
    try:
        holders: list[socket.socket] = []

        def hold() -> bool:  # the probe's process may not have ended yet: then retry
            try:
                holders.append(_hold_module(port, "m"))
            except _Refused:
                return False
            return True

        _until(hold, "one connection holds the only place")
        holder = holders[0]
        try:
            url = f"rsync://{LOOPBACK}:{port}/m/"
            proc = _rsync(real_rsync, "-r", url, str(tmp_path / "dst"))
            assert proc.returncode == 5, proc.stderr
            assert "@ERROR: max connections (1) reached -- try again later" in proc.stderr
            assert "Broken pipe" not in proc.stderr
        finally:
            holder.close()
    finally:
        service.stop(grace=2.0)


# -- exec hooks ------------------------------------------------------------------------------


@pytest.mark.parametrize("daemon", DAEMONS)
def test_failing_pre_xfer_exec_refuses_the_transfer(
    start_conf: Callable[..., Running], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    src = _tree(tmp_path)
    running = start_conf(
        f"[m]\npath = {src}\npre-xfer exec = echo refused for $RSYNC_REQUEST; exit 3\n",
        daemon=daemon,
    )
    proc = _rsync(real_rsync, "-r", running.url("m"), str(tmp_path / "dst"))
    assert proc.returncode != 0
    assert "pre-xfer exec returned failure (768):" in proc.stderr
    assert "refused for m/" in proc.stderr
    assert not (tmp_path / "dst" / "file").exists()


def _hook_envs(
    start_conf: Callable[..., Running], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The RSYNC_* environment of ``pre-xfer exec`` and ``post-xfer exec`` for one pull."""
    src = tmp_path / f"src-{daemon}"
    src.mkdir()
    (src / "file").write_text("x\n")
    pre, post = tmp_path / f"pre-{daemon}.env", tmp_path / f"post-{daemon}.env"
    running = start_conf(
        f"[m]\npath = {src}\n"
        f"pre-xfer exec = env > {pre}\n"
        f"post-xfer exec = env > {post}.tmp; mv {post}.tmp {post}\n",
        daemon=daemon,
    )
    proc = _rsync(real_rsync, "-rt", running.url("m", "file"), str(tmp_path / f"dst-{daemon}"))
    assert proc.returncode == 0, proc.stderr
    _until(post.exists, "post-xfer exec ran")

    def rsync_vars(path: Path) -> dict[str, str]:
        env = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        return {k: v.replace(str(src), "SRC") for k, v in env.items() if k.startswith("RSYNC_")}

    return rsync_vars(pre), rsync_vars(post)


def test_exec_hooks_get_rsyncs_environment(
    start_conf: Callable[..., Running], real_rsync: RealRsync, tmp_path: Path
) -> None:
    ours_pre, ours_post = _hook_envs(start_conf, real_rsync, tmp_path, "ours")
    theirs_pre, theirs_post = _hook_envs(start_conf, real_rsync, tmp_path, "rsync")
    assert ours_post["RSYNC_EXIT_STATUS"] == "0"
    assert ours_post["RSYNC_MODULE_PATH"] == "SRC"
    assert ours_post["RSYNC_HOST_ADDR"] == LOOPBACK
    assert ours_pre["RSYNC_REQUEST"] == "m/file"
    for env in (ours_pre, ours_post, theirs_pre, theirs_post):
        assert int(env.pop("RSYNC_PID")) > 0
    assert ours_post == theirs_post
    assert ours_pre == theirs_pre


# -- write only, max verbosity, sections and directives --------------------------------------


@pytest.mark.parametrize("daemon", DAEMONS)
def test_write_only_module_refuses_downloads(
    start_conf: Callable[..., Running], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    src = _tree(tmp_path)
    running = start_conf(f"[w]\npath = {src}\nwrite only = yes\n", daemon=daemon)
    proc = _rsync(real_rsync, "-r", running.url("w"), str(tmp_path / "dst"))
    assert proc.returncode == 1, proc.stderr
    assert "ERROR: module is write only" in proc.stderr
    assert not (tmp_path / "dst" / "file").exists()


def test_rsync_testsuite_conf_with_max_verbosity_serves(
    start_conf: Callable[..., Running], real_rsync: RealRsync, tmp_path: Path
) -> None:
    """The global section rsync's own test suite writes (rsyncfns.write_daemon_conf)."""
    src = _tree(tmp_path)
    ids = "uid = 0\ngid = 0\n" if os.geteuid() == 0 else ""
    running = start_conf(
        f"pid file = {tmp_path / 'p.pid'}\nuse chroot = no\n"
        "hosts allow = localhost 127.0.0.0/8\n"
        f"log file = {tmp_path / 'l.log'}\nmax verbosity = 4\n{ids}\n"
        "socket options = SO_KEEPALIVE, TCP_NODELAY\n"
        f"[test-from]\n\tpath = {src}\n\tread only = yes\n\tcomment = r/o\n",
        head=False,
    )
    proc = _rsync(real_rsync, "-rv", running.url("test-from"), str(tmp_path / "dst"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "dst" / "file").read_text() == "content\n"


@pytest.mark.parametrize("daemon", DAEMONS)
def test_include_merge_and_global_sections(
    start_conf: Callable[..., Running],
    real_rsync: RealRsync,
    tmp_path_factory: pytest.TempPathFactory,
    daemon: str,
) -> None:
    base = tmp_path_factory.mktemp(f"sections-{daemon}")
    src = _tree(base)
    (base / "inc").mkdir()
    (base / "inc" / "defaults.inc").write_text("comment = merged default\n")
    (base / "conf.d").mkdir()
    (base / "conf.d" / "a.conf").write_text(f"comment = only in a.conf\n[a]\npath = {src}\n")
    (base / "conf.d" / "b.conf").write_text(f"[b]\npath = {src}\n")
    running = start_conf(
        f"""\
        &merge {base / "inc"}
        &include {base / "conf.d"}
        [c]
        path = {src}
        [global]
        comment = after c
        [d]
        path = {src}
        [global]
        list = no
        [hidden]
        path = {src}
        """,
        daemon=daemon,
    )
    proc = _rsync(real_rsync, f"rsync://{LOOPBACK}:{running.port}/")
    assert proc.returncode == 0, proc.stderr
    listing = [" ".join(line.split()) for line in proc.stdout.splitlines()]
    assert listing == ["a only in a.conf", "b merged default", "c merged default", "d after c"]


# -- hosts deny, proxy protocol ---------------------------------------------------------------


@pytest.mark.parametrize("daemon", DAEMONS)
def test_hosts_deny_that_does_not_resolve_fails_closed(
    start_conf: Callable[..., Running], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    src = _tree(tmp_path)
    running = start_conf(f"[m]\npath = {src}\nhosts deny = no-such-host.invalid\n", daemon=daemon)
    proc = _rsync(real_rsync, "-r", running.url("m"), str(tmp_path / "dst"))
    assert proc.returncode == 5, proc.stderr
    assert "@ERROR: access denied to m from UNDETERMINED (127.0.0.1)" in proc.stderr


RELAY = """\
import os, socket, sys, threading
host, port, header = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
sock = socket.create_connection((host, port))
sock.sendall(header)
def up():
    while True:
        data = os.read(0, 65536)
        if not data:
            sock.shutdown(socket.SHUT_WR)
            return
        sock.sendall(data)
threading.Thread(target=up, daemon=True).start()
while True:
    data = sock.recv(65536)
    if not data:
        break
    os.write(1, data)
"""


def _proxy_ready(_service: Service, port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
            sock.sendall(b"PROXY UNKNOWN\r\n" + GREETING + b"\n")
            data = b""
            while b"@RSYNCD: EXIT" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    return False
                data += chunk
            return True
    except OSError:
        return False


def _v2(src: str) -> bytes:
    body = socket.inet_aton(src) + socket.inet_aton(LOOPBACK) + (1234).to_bytes(2, "big")
    body += (873).to_bytes(2, "big")
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + len(body).to_bytes(2, "big") + body


@pytest.mark.parametrize("daemon", DAEMONS)
def test_proxy_protocol_header_gives_the_client_address(
    start_conf: Callable[..., Running], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    src = _tree(tmp_path)
    relay = tmp_path / "relay.py"
    relay.write_text(RELAY)
    running = start_conf(
        "proxy protocol = yes\nproxy protocol hosts = 127.0.0.0/8\n"
        f"[m]\npath = {src}\nhosts allow = 10.0.0.0/8\n",
        daemon=daemon,
        ready=_proxy_ready,
    )

    def pull(header: bytes, dst: str) -> subprocess.CompletedProcess[str]:
        prog = f"{sys.executable} {relay} {LOOPBACK} {running.port} {header.hex()}"
        env = {**os.environ, "RSYNC_CONNECT_PROG": prog}
        return _rsync(real_rsync, "-r", f"rsync://{LOOPBACK}/m/", str(tmp_path / dst), env=env)

    proc = pull(b"PROXY TCP4 10.1.2.3 127.0.0.1 1234 873\r\n", "v1")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "v1" / "file").exists()
    proc = pull(_v2("10.9.8.7"), "v2")
    assert proc.returncode == 0, proc.stderr
    proc = pull(b"PROXY TCP4 192.0.2.1 127.0.0.1 1234 873\r\n", "denied")
    assert proc.returncode == 5
    assert "@ERROR: access denied to m from UNDETERMINED (192.0.2.1)" in proc.stderr
    proc = pull(b"", "nohdr")  # no header: the daemon closes
    assert proc.returncode != 0
    assert not (tmp_path / "nohdr" / "file").exists()


# -- symlinks the operator did not mean, missing paths ---------------------------------------


def _untrusted_uid() -> int:
    if os.geteuid() != 0:
        pytest.skip("planting a symlink owned by another user needs root")
    return pwd.getpwnam("nobody").pw_uid


@pytest.mark.parametrize("daemon", DAEMONS)
def test_planted_motd_and_module_path_symlinks_are_refused(
    start_conf: Callable[..., Running],
    real_rsync: RealRsync,
    tmp_path_factory: pytest.TempPathFactory,
    daemon: str,
) -> None:
    nobody = _untrusted_uid()
    base = tmp_path_factory.mktemp(f"plant-{daemon}")
    secret = base / "secret"
    secret.write_text("MOTD_LEAK_MARKER\n")
    secret.chmod(0o600)
    (base / "motd").symlink_to(secret)
    os.lchown(base / "motd", nobody, nobody)
    escape = base / "escape"
    escape.mkdir()
    (escape / "escape_canary").write_text("x\n")
    (base / "plant").symlink_to(escape)
    os.lchown(base / "plant", nobody, nobody)
    good = _tree(base, "good")
    running = start_conf(
        f"motd file = {base / 'motd'}\n[p]\npath = {base / 'plant'}\n[good]\npath = {good}\n",
        daemon=daemon,
    )
    proc = _rsync(real_rsync, "-r", running.url("p"), str(base / "dst"))
    assert "MOTD_LEAK_MARKER" not in proc.stdout + proc.stderr
    assert proc.returncode == 5, proc.stderr
    assert "@ERROR: chdir failed" in proc.stderr
    assert not (base / "dst" / "escape_canary").exists()
    proc = _rsync(real_rsync, "-r", running.url("good"), str(base / "dst2"))
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("daemon", DAEMONS)
def test_missing_module_path_answers_that_client_only(
    start_conf: Callable[..., Running], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    src = _tree(tmp_path)
    running = start_conf(
        f"[later]\npath = {tmp_path / 'not-yet'}\n[m]\npath = {src}\n", daemon=daemon
    )
    proc = _rsync(real_rsync, "-r", running.url("later"), str(tmp_path / "dst"))
    assert proc.returncode == 5
    assert "@ERROR: chdir failed" in proc.stderr
    proc = _rsync(real_rsync, "-r", running.url("m"), str(tmp_path / "dst"))
    assert proc.returncode == 0, proc.stderr


# -- start-up ------------------------------------------------------------------------------


def test_log_file_that_cannot_be_opened_still_starts(
    start_conf: Callable[..., Running], real_rsync: RealRsync, tmp_path: Path
) -> None:
    src = _tree(tmp_path)
    running = start_conf(
        f"log file = {tmp_path / 'no' / 'such' / 'dir' / 'x.log'}\n[m]\npath = {src}\n"
    )
    proc = _rsync(real_rsync, "-r", running.url("m"), str(tmp_path / "dst"))
    assert proc.returncode == 0, proc.stderr
    output = running.service.output()
    assert "failed to open log-file" in output
    assert "Traceback" not in output


def test_too_many_arguments_reach_the_client(
    start_conf: Callable[..., Running], tmp_path: Path
) -> None:
    src = _tree(tmp_path)
    running = start_conf(f"[m]\npath = {src}\n")
    sock = _hold_module(running.port, "m")
    with sock:
        sock.sendall(b"--server\0--sender\0" + b"-r\0" * 16000 + b".\0m/\0\0")
        received = b""
        sock.settimeout(30)
        while b"too many daemon arguments" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    assert b"too many daemon arguments" in received


@pytest.mark.parametrize("delay", [0.05, 0.1, 0.3, 0.6, 1.0])
def test_ctrl_c_at_start_up_prints_no_traceback(tmp_path: Path, delay: float) -> None:
    """SIGINT at points of the start-up (imports, configuration, binding, confinement).

    The program is the ``pyrsyncd`` script, as ``hatch run serve`` runs it. The interrupt
    is sent once the interpreter has imported the ``rsync_daemon`` package (seen on
    ``-X importtime``'s standard error): before that the interpreter itself is starting,
    which takes long only in the coverage-instrumented test environment.
    """
    script = Path(sys.executable).with_name("pyrsyncd")
    if not script.exists():
        pytest.skip("the pyrsyncd script is not installed in this environment")
    tmp_path.chmod(0o755)  # the confined daemon can read it: start-up goes all the way
    argv = [str(script), "--listen", f"{LOOPBACK}:0", "--module", f"m={tmp_path}"]
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    with subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        assert proc.stderr is not None
        seen: list[str] = []
        for line in proc.stderr:
            seen.append(line)
            # "import time: self | cumulative | rsync_daemon", indented by its depth
            if re.search(r"\|\s*rsync_daemon$", line.rstrip()):
                break
        else:
            pytest.fail("the daemon ended before it imported rsync_daemon:\n" + "".join(seen))
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        try:
            rest = proc.communicate(timeout=60)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail(f"SIGINT {delay} s after the import did not end the daemon")
    err = "".join(seen) + rest
    # RERR_SIGNAL while starting, killed by it while importing, 0 once it serves
    assert proc.returncode in (20, -signal.SIGINT, 0), err
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err


# -- transfer logging, reverse lookup ----------------------------------------------------------


def _transfer_log(
    start_conf: Callable[..., Running],
    real_rsync: RealRsync,
    tmp_path: Path,
    daemon: str,
    log_format: str = "",
) -> list[str]:
    src = tmp_path / f"src-{daemon}"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "file").write_text("12345\n")
    fmt = f"log format = {log_format}\n" if log_format else ""  # else rsync's default
    running = start_conf(
        f"[m]\npath = {src}\ntransfer logging = yes\n{fmt}",
        daemon=daemon,
    )
    proc = _rsync(real_rsync, "-r", running.url("m"), str(tmp_path / f"dst-{daemon}"))
    assert proc.returncode == 0, proc.stderr
    log_path = running.workdir / "rsyncd.log"

    def logged() -> bool:
        return " send " in log_path.read_text()

    _until(logged, "the transfer line is in the log file")
    lines = [line.split("] ", 1) for line in log_path.read_text().splitlines()]
    return [rest for _prefix, rest in lines if rest.startswith("send ")]


def test_transfer_logging_writes_rsyncs_lines(
    start_conf: Callable[..., Running], real_rsync: RealRsync, tmp_path: Path
) -> None:
    ours = _transfer_log(start_conf, real_rsync, tmp_path, "ours")
    theirs = _transfer_log(start_conf, real_rsync, tmp_path, "rsync")
    assert ours == ["send UNDETERMINED [127.0.0.1] m () sub/file 6"]
    assert ours == theirs


def test_transfer_log_shows_the_configured_module_path(
    start_conf: Callable[..., Running], real_rsync: RealRsync, tmp_path: Path
) -> None:
    # %P is the path of rsyncd.conf, not where the daemon's sandbox put the module
    fmt = "%o %m %P %f %l"
    ours = _transfer_log(start_conf, real_rsync, tmp_path, "ours", fmt)
    theirs = _transfer_log(start_conf, real_rsync, tmp_path, "rsync", fmt)
    assert ours == [f"send m {tmp_path / 'src-ours'} sub/file 6"]
    assert theirs == [f"send m {tmp_path / 'src-rsync'} sub/file 6"]


@pytest.mark.parametrize("daemon", DAEMONS)
def test_reverse_lookup_names_the_client(
    start_conf: Callable[..., Running], real_rsync: RealRsync, tmp_path: Path, daemon: str
) -> None:
    src = _tree(tmp_path)
    name = socket.getnameinfo((LOOPBACK, 0), socket.NI_NAMEREQD)[0]
    running = start_conf(
        f"reverse lookup = yes\n[m]\npath = {src}\nhosts deny = {LOOPBACK}\n", daemon=daemon
    )
    proc = _rsync(real_rsync, "-r", running.url("m"), str(tmp_path / "dst"))
    assert proc.returncode == 5
    assert f"@ERROR: access denied to m from {name} ({LOOPBACK})" in proc.stderr
