"""pyrsyncd started the ways systemd and inetd start daemons, and its systemd units.

- Socket activation (``Accept=no``): the listening socket at descriptor 3 with
  ``LISTEN_FDS``/``LISTEN_PID``; a socket named ``anonssh`` (``LISTEN_FDNAMES``) speaks SSH.
- One process per connection (``Accept=yes``): the connection at descriptor 3, or on
  standard input (inetd, ``StandardInput=socket``; ``--inetd``, and ``--daemon`` as rsync).

Each runs twice: under ``systemd-socket-activate`` (package systemd; skipped where it is
missing) and under ``harness/activate.py``, a small stand-in that does the same, so the
daemon's side is always tested. Real rsync downloads, and the confinement line is logged.
The units in deploy/systemd are checked with ``systemd-analyze`` where it exists.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.compare import assert_trees_equal
from harness.daemon import daemon_ready
from harness.ourd import LOOPBACK, pyrsyncd_argv
from harness.proc import run, start_service
from harness.tools import find_tool, require_tool

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from harness.proc import Service
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

HERE = Path(__file__).resolve().parent
ACTIVATE = HERE / "harness" / "activate.py"
UNITS = HERE.parent / "deploy" / "systemd"
LAUNCHERS = ["helper", "systemd-socket-activate"]


def _tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub/b.bin").write_bytes(os.urandom(100_000))
    for dirpath, _dirs, files in os.walk(root):
        os.chmod(dirpath, 0o755)  # noqa: S103 - readable by the serving user on purpose
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o644)
    return root


def _launcher_argv(
    launcher: str, mode: str, port: int, command: list[str], fdname: str | None = None
) -> list[str]:
    """The command that hands ``command`` a socket on ``port`` the way ``mode`` says."""
    if launcher == "helper":
        extra = [f"--fdname={fdname}"] if fdname else []
        return [sys.executable, str(ACTIVATE), mode, f"{LOOPBACK}:{port}", *extra, "--", *command]
    tool = find_tool("systemd-socket-activate")
    if tool is None:
        pytest.skip("systemd-socket-activate (package systemd) is not installed; the helper runs")
    flags = {"listen": [], "accept": ["--accept"], "inetd": ["--accept", "--inetd"]}[mode]
    if fdname:
        flags.append(f"--fdname={fdname}")
    return [str(tool), "-l", f"{LOOPBACK}:{port}", *flags, *command]


@pytest.fixture
def activated(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., tuple[Service, int]]]:
    """Factory: ``activated(launcher, mode, *pyrsyncd_args, fdname=None, ready=...)``."""
    started: list[Service] = []

    def start(
        launcher: str,
        mode: str,
        *args: str,
        fdname: str | None = None,
        ready: Callable[[int], bool] | None = None,
    ) -> tuple[Service, int]:
        out = tmp_path_factory.mktemp("activated") / "out.log"
        command = pyrsyncd_argv(*args)
        service, port = start_service(
            lambda port: _launcher_argv(launcher, mode, port, command, fdname),
            output=out,
            ready=lambda _s, port: (ready or (lambda p: daemon_ready(LOOPBACK, p)))(port),
        )
        started.append(service)
        return service, port

    yield start
    for service in started:
        service.stop(grace=2.0)


def _pull(rsync: RealRsync, port: int, src: Path, dest: Path, *args: str) -> None:
    result = run(rsync.argv("-a", *args, f"rsync://{LOOPBACK}:{port}/src/", str(dest)), timeout=60)
    assert result.returncode == 0, result.describe()
    assert_trees_equal(src, dest)


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_listening_socket_from_systemd(
    real_rsync: RealRsync,
    activated: Callable[..., tuple[Service, int]],
    tmp_path: Path,
    launcher: str,
) -> None:
    src = _tree(tmp_path / "src")
    service, port = activated(launcher, "listen", "--module", f"src={src}")
    _pull(real_rsync, port, src, tmp_path / "dest")
    _pull(real_rsync, port, src, tmp_path / "dest29", "--protocol=29")
    log = service.output()
    assert re.search(rf"listening on {LOOPBACK}:{port} \(from systemd\)", log), log
    assert "sandbox: confined" in log
    assert log.count("connect") >= 2  # one process per connection, as with --listen


@pytest.mark.parametrize("launcher", LAUNCHERS)
@pytest.mark.parametrize("mode", ["accept", "inetd"])
def test_one_process_per_connection(
    real_rsync: RealRsync,
    activated: Callable[..., tuple[Service, int]],
    tmp_path: Path,
    launcher: str,
    mode: str,
) -> None:
    """``Accept=yes``: the connection at fd 3 (accept) or on standard input (inetd)."""
    src = _tree(tmp_path / "src")
    flag = "--inetd" if mode == "inetd" else "--daemon"
    # a client on standard input may share the daemon's stderr: its log goes to a file
    log_file = tmp_path / "pyrsyncd.log"
    _service, port = activated(
        launcher, mode, flag, "--module", f"src={src}", f"--log-file={log_file}"
    )
    _pull(real_rsync, port, src, tmp_path / "dest")
    log = log_file.read_text()
    assert "connect (inetd)" in log, log
    assert "sandbox: confined" in log
    assert "listening on" not in log


def test_one_connection_process_ends_on_sigterm(
    activated: Callable[..., tuple[Service, int]], tmp_path: Path
) -> None:
    """As root the serving process is PID 1 of its namespace, which ignores signals it has
    no handler for: pyrsyncd installs one, so a stop request still ends the connection."""
    import signal
    import time

    from harness.confinement import connection_process, descendants, open_daemon_connection
    from harness.proc import port_accepts

    src = _tree(tmp_path / "src")
    service, port = activated(
        "helper",
        "inetd",
        "--inetd",
        "--module",
        f"src={src}",
        ready=lambda p: port_accepts(LOOPBACK, p),
    )
    with open_daemon_connection(LOOPBACK, port) as sock:
        serving = connection_process(service.pid, sock)
        # the process the launcher exec'd: as root the waiter, else the same process
        daemon = next(p for p in descendants(service.pid) if serving in (p, *descendants(p)))
        os.kill(daemon, signal.SIGTERM)
        sock.settimeout(10)
        started = time.monotonic()
        assert sock.recv(100) == b""  # the connection ends
        assert time.monotonic() - started < 10


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_rsync_daemon_mode_with_a_socket_on_stdin(
    real_rsync: RealRsync,
    activated: Callable[..., tuple[Service, int]],
    tmp_path: Path,
    launcher: str,
) -> None:
    """rsync's own inetd behaviour: ``--daemon`` with a socket on stdin serves that client."""
    src = _tree(tmp_path / "src")
    config = tmp_path / "rsyncd.conf"
    log_file = tmp_path / "pyrsyncd.log"
    config.write_text(f"log file = {log_file}\n[src]\n    path = {src}\n")
    service, port = activated(launcher, "inetd", "--daemon", f"--config={config}")
    _pull(real_rsync, port, src, tmp_path / "dest")
    assert "connect (inetd)" in log_file.read_text()
    assert "connect (inetd)" not in service.output()  # stderr may be the client's


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_anonssh_socket_from_systemd(
    real_rsync: RealRsync,
    activated: Callable[..., tuple[Service, int]],
    tmp_path: Path,
    launcher: str,
) -> None:
    from harness.proc import port_accepts

    ssh = require_tool("ssh")
    src = _tree(tmp_path / "src")
    service, port = activated(
        launcher,
        "listen",
        "--module",
        f"src={src}",
        "--anonssh-host-key",
        str(tmp_path / "host_key"),
        fdname="anonssh",
        ready=lambda p: port_accepts(LOOPBACK, p),
    )
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
        ]
    )
    dest = tmp_path / "dest"
    result = run(
        real_rsync.argv("-a", "-e", rsh, f"rsync://{LOOPBACK}/src/", str(dest)), timeout=60
    )
    assert result.returncode == 0, f"{result.describe()}\n{service.output()}"
    assert_trees_equal(src, dest)
    assert re.search(rf"listening on ssh {LOOPBACK}:{port} \(from systemd\)", service.output())


def test_listen_fds_for_another_process_are_ignored(
    real_rsync: RealRsync, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``LISTEN_PID`` names another process: the daemon binds its own --listen address."""
    src = _tree(tmp_path / "src")
    env = {**os.environ, "LISTEN_FDS": "1", "LISTEN_PID": "1"}
    service, port = start_service(
        lambda port: pyrsyncd_argv("--listen", f"{LOOPBACK}:{port}", "--module", f"src={src}"),
        output=tmp_path_factory.mktemp("ignored") / "out.log",
        ready=lambda _s, port: daemon_ready(LOOPBACK, port),
        env=env,
    )
    try:
        _pull(real_rsync, port, src, tmp_path / "dest")
        assert "(from systemd)" not in service.output()
    finally:
        service.stop(grace=2.0)


# -- the unit files ------------------------------------------------------------------------


def test_units_exist_and_use_the_flags() -> None:
    service = (UNITS / "pyrsyncd.service").read_text()
    accept = (UNITS / "pyrsyncd-accept@.service").read_text()
    assert "DynamicUser=yes" in service
    assert "CapabilityBoundingSet=\n" in service
    assert "Accept=yes" in (UNITS / "pyrsyncd-accept.socket").read_text()
    assert "--inetd" in accept
    assert "StandardInput=socket" in accept
    assert "FileDescriptorName=anonssh" in (UNITS / "pyrsyncd-anonssh.socket").read_text()
    assert "landlock_restrict_self" in service


@pytest.mark.parametrize("unit", ["pyrsyncd.service", "pyrsyncd-accept@.service"])
def test_unit_exposure_level(unit: str, tmp_path: Path) -> None:
    """``systemd-analyze security --offline=true``: the exposure level stays below 1.0."""
    analyze = find_tool("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze (package systemd) is not installed")
    path = UNITS / unit
    if unit.endswith("@.service"):  # a template is analysed as one of its instances
        path = tmp_path / unit.replace("@.", "@test.")
        path.write_text((UNITS / unit).read_text())
    result = run([str(analyze), "security", "--offline=true", str(path)], timeout=60)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.describe()
    assert float(match.group(1)) <= 1.0, result.stdout
