"""pyrsync reaching daemons through RSYNC_CONNECT_PROG and RSYNC_PROXY, beside real rsync.

RSYNC_CONNECT_PROG is how rsync's own test suite runs its daemon: ``rsync --config=CONF
--daemon`` started by the client on a socket pair, serving that one connection. Here the
daemon is real rsync or pyrsyncd, started that way by pyrsync; the command's ``%H``
expansion and its refusals are compared with real rsync's. RSYNC_PROXY goes through a
small HTTP CONNECT proxy written here (anyio, on 127.0.0.1) to a daemon on TCP, and the
requests pyrsync and real rsync send it are compared byte for byte.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import anyio.from_thread
import pytest
from anyio.abc import SocketAttribute

from harness.client import mask_error_location, pyrsync_argv
from harness.compare import assert_trees_equal
from harness.daemon import normalize_modules, render_rsyncd_conf
from harness.ourd import pyrsyncd_argv
from harness.proc import run

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from anyio.abc import SocketStream

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync
    from harness.trees import TreeFactory

pytestmark = pytest.mark.interop

ROOT = os.geteuid() == 0


def assert_copied(src: os.PathLike[str], dest: os.PathLike[str]) -> None:
    __tracebackhide__ = True
    assert_trees_equal(src, dest, owners=ROOT, hardlinks=True, symlink_times=True, dir_times=True)


def write_conf(directory: Path, modules: dict[str, Path]) -> Path:
    """An rsyncd.conf for ``modules`` (the harness's, as the TCP daemon fixtures use)."""
    conf = directory / "rsyncd.conf"
    conf.write_text(
        render_rsyncd_conf(
            normalize_modules(modules),
            log_file=directory / "rsyncd.log",
            lock_file=directory / "rsyncd.lock",
        )
    )
    return conf


def daemon_command(program: str, real_rsync: RealRsync, conf: Path) -> str:
    """``PROGRAM --config=CONF --daemon`` as a shell command, for real rsync or pyrsyncd."""
    argv = [str(real_rsync.path)] if program == "rsync" else pyrsyncd_argv()
    return shlex.join([*argv, f"--config={conf}", "--daemon"])


def with_env(**values: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(values)
    return env


# -- RSYNC_CONNECT_PROG -----------------------------------------------------------------------


@pytest.mark.parametrize("program", ["rsync", "pyrsyncd"])
def test_pull_through_connect_prog(
    program: str,
    real_rsync: RealRsync,
    tree_factory: TreeFactory,
    tmp_path: Path,
) -> None:
    tree = tree_factory()
    conf = write_conf(tmp_path, {"src": tree.root})
    env = with_env(RSYNC_CONNECT_PROG=daemon_command(program, real_rsync, conf))
    dest = tmp_path / "dest"
    run(pyrsync_argv("-aH", "rsync://localhost/src/", dest), env=env, check=True, timeout=120)
    assert_copied(tree, dest)
    # host::module works the same way, and a second run finds nothing to do
    result = run(pyrsync_argv("-aHi", "localhost::src/", dest), env=env, check=True, timeout=120)
    assert result.stdout == ""


@pytest.mark.parametrize("program", ["rsync", "pyrsyncd"])
def test_module_listing_through_connect_prog(
    program: str, real_rsync: RealRsync, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    conf = write_conf(tmp_path, {"alpha": tmp_path / "a", "beta": tmp_path / "b"})
    env = with_env(RSYNC_CONNECT_PROG=daemon_command(program, real_rsync, conf))
    ours = run(pyrsync_argv("rsync://localhost/"), env=env, check=True, timeout=60)
    theirs = run(real_rsync.argv("rsync://localhost/"), env=env, check=True, timeout=60)
    assert ours.stdout == theirs.stdout
    assert [line.split()[0] for line in ours.stdout.splitlines()] == ["alpha", "beta"]


def test_percent_expansion_matches_rsync(
    real_rsync: RealRsync, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    tree = tree_factory(odd_names=False, specials=False)
    conf = write_conf(tmp_path, {"src": tree.root})
    daemon = daemon_command("rsync", real_rsync, conf)
    seen: dict[str, str] = {}
    for name, argv in (("rsync", real_rsync.argv), ("pyrsync", pyrsync_argv)):
        out = tmp_path / f"{name}.out"
        # printf gets "[%s]" (%% is one %), then the quoted host and a literal %
        prog = f'printf "[%%s]" %H %% %x >{shlex.quote(str(out))}; exec {daemon}'
        for host in ("localhost", "127.0.0.1", "a+b~c.example"):
            dest = tmp_path / name / host
            run(argv("-r", f"rsync://{host}/src/", dest), env=with_env(RSYNC_CONNECT_PROG=prog))
            seen[f"{name} {host}"] = out.read_text()
    for host in ("localhost", "127.0.0.1", "a+b~c.example"):
        assert seen[f"pyrsync {host}"] == seen[f"rsync {host}"]
    assert seen["pyrsync localhost"] == "[localhost][%][%x]"


@pytest.mark.parametrize(
    "host",
    ["localhost;touch${IFS}SENTINEL;#", "a'b", "-oProxyCommand=x", "~root", "%self"],
)
def test_shell_active_host_is_refused_as_rsync_refuses_it(
    host: str, real_rsync: RealRsync, tmp_path: Path
) -> None:
    sentinel = tmp_path / "pwned"
    env = with_env(RSYNC_CONNECT_PROG=f"printf %s %H >/dev/null; touch {sentinel}")
    url = f"rsync://{host.replace('SENTINEL', str(sentinel))}/mod/"
    ours = run(pyrsync_argv(url, tmp_path / "out"), env=env)
    theirs = run(real_rsync.argv(url, tmp_path / "out"), env=env)
    assert not sentinel.exists()
    assert ours.returncode == theirs.returncode == 10
    refusal = "unsafe host characters for RSYNC_CONNECT_PROG"
    assert refusal in ours.stderr
    assert refusal in theirs.stderr


def test_failing_program_is_a_clear_error(tmp_path: Path) -> None:
    result = run(
        pyrsync_argv("rsync://localhost/mod/", tmp_path / "out"),
        env=with_env(RSYNC_CONNECT_PROG="echo no daemon here >&2; exit 3"),
        timeout=60,
    )
    assert result.returncode == 5, result.describe()
    assert "no daemon here" in result.stderr
    assert "rsync: did not see server greeting" in result.stderr
    assert "Traceback" not in result.stderr


def test_program_that_lingers_is_stopped(real_rsync: RealRsync, tmp_path: Path) -> None:
    # The program keeps running after the connection closes: pyrsync stops it.
    (tmp_path / "m").mkdir()
    conf = write_conf(tmp_path, {"m": tmp_path / "m"})
    daemon = daemon_command("rsync", real_rsync, conf)
    pidfile = tmp_path / "pid"
    prog = f"echo $$ >{pidfile}; {daemon}; trap '' HUP; while :; do sleep 1; done"
    result = run(pyrsync_argv("rsync://localhost/"), env=with_env(RSYNC_CONNECT_PROG=prog))
    assert result.returncode == 0, result.describe()
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# -- RSYNC_PROXY ------------------------------------------------------------------------------


@dataclass
class ConnectProxy:
    """A small HTTP CONNECT proxy: records each request; relays, or answers ``refuse``."""

    port: int = 0
    refuse: bytes | None = None
    requests: list[bytes] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    async def handle(self, client: SocketStream) -> None:
        try:
            async with client:
                await self._serve(client)
        except Exception as exc:  # noqa: BLE001 - reported by the test, not the listener
            self.errors.append(exc)

    async def _serve(self, client: SocketStream) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await client.receive()
            head += chunk
        self.requests.append(head)
        if self.refuse is not None:
            await client.send(self.refuse)
            return
        target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
        host, _, port = target.rpartition(":")
        async with await anyio.connect_tcp(host, int(port)) as upstream:
            # The daemon's greeting goes out in the same segment as the proxy's answer:
            # the client must not read it as part of the header.
            greeting = await upstream.receive()
            await client.send(
                b"HTTP/1.1 200 Connection established\r\nProxy-Agent: test\r\n\r\n" + greeting
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(_pump, client, upstream)
                tg.start_soon(_pump, upstream, client)


async def _pump(src: SocketStream, dst: SocketStream) -> None:
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        async for data in src:
            await dst.send(data)
        await dst.send_eof()


@pytest.fixture
def connect_proxy() -> Iterator[Callable[..., ConnectProxy]]:
    """Factory: ``connect_proxy(refuse=None)`` starts a proxy on 127.0.0.1 (stopped after)."""
    with anyio.from_thread.start_blocking_portal() as portal:
        futures = []

        def start(refuse: bytes | None = None) -> ConnectProxy:
            proxy = ConnectProxy(refuse=refuse)
            listener = portal.call(lambda: anyio.create_tcp_listener(local_host="127.0.0.1"))
            proxy.port = listener.extra(SocketAttribute.local_port)  # noqa: S610 - anyio
            futures.append((portal.start_task_soon(listener.serve, proxy.handle), listener))
            return proxy

        yield start
        for future, listener in futures:
            future.cancel()
            portal.call(listener.aclose)


@pytest.mark.parametrize("which", ["real", "ours"])
@pytest.mark.parametrize("auth", ["", "user:p@ss:w0rd@"])
def test_pull_through_proxy(
    which: str,
    auth: str,
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    connect_proxy: Callable[..., ConnectProxy],
    real_rsync: RealRsync,
    tree_factory: TreeFactory,
    tmp_path: Path,
) -> None:
    tree = tree_factory()
    daemon = (real_daemon if which == "real" else our_daemon)({"src": tree.root})
    proxy = connect_proxy()
    env = with_env(RSYNC_PROXY=f"{auth}127.0.0.1:{proxy.port}")
    dest = tmp_path / "dest"
    run(pyrsync_argv("-aH", daemon.url("src"), dest), env=env, check=True, timeout=120)
    assert_copied(tree, dest)
    run(real_rsync.argv("-aH", daemon.url("src"), tmp_path / "d2"), env=env, check=True)
    assert not proxy.errors
    ours, theirs = proxy.requests
    assert ours == theirs  # the same CONNECT line and Proxy-Authorization header
    assert ours.startswith(f"CONNECT 127.0.0.1:{daemon.port} HTTP/1.0\r\n".encode())
    assert (b"Proxy-Authorization: Basic dXNlcjpwQHNzOncwcmQ=" in ours) == bool(auth)


def test_proxy_refusal(
    connect_proxy: Callable[..., ConnectProxy], real_rsync: RealRsync, tmp_path: Path
) -> None:
    proxy = connect_proxy(refuse=b"HTTP/1.0 407 Proxy Authentication Required\r\n\r\n")
    env = with_env(RSYNC_PROXY=f"127.0.0.1:{proxy.port}")
    url = "rsync://daemon.invalid/mod/"
    ours = run(pyrsync_argv(url, tmp_path / "out"), env=env, timeout=60)
    theirs = run(real_rsync.argv(url, tmp_path / "out"), env=env, timeout=60)
    assert ours.returncode == theirs.returncode == 10
    line = "bad response from proxy -- HTTP/1.0 407 Proxy Authentication Required"
    assert line in ours.stderr
    assert line in theirs.stderr
    assert proxy.requests == [b"CONNECT daemon.invalid:873 HTTP/1.0\r\n\r\n"] * 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("noport", "invalid proxy specification: should be HOST:PORT"),
        ("user@127.0.0.1:1", "invalid proxy specification: should be USER:PASS@HOST:PORT"),
    ],
)
def test_bad_proxy_specification(
    spec: str, message: str, real_rsync: RealRsync, tmp_path: Path
) -> None:
    env = with_env(RSYNC_PROXY=spec)
    ours = run(pyrsync_argv("rsync://h/mod/", tmp_path / "out"), env=env, timeout=60)
    theirs = run(real_rsync.argv("rsync://h/mod/", tmp_path / "out"), env=env, timeout=60)
    assert ours.returncode == theirs.returncode == 10
    assert message in mask_error_location(ours.stderr)
    assert message in theirs.stderr
