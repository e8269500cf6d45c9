"""pyrsyncd over SSH: its anonymous SSH listener, and behind a real sshd.

- ``pyrsyncd --anonssh-listen``: a real ``ssh`` client (started by real rsync for
  ``rsync -e 'ssh -p PORT' rsync://host/module/``) without an account; only the daemon
  command runs; the host key is generated once and kept; an authorized_keys file limits who
  may connect.
- A real OpenSSH sshd with ``--rsync-path=pyrsyncd``: remote-shell mode (``host:path``, the
  server runs as the logged-in user) and the daemon over a remote shell
  (``rsync://host/module/``, modules from ``$XDG_CONFIG_HOME/pyrsyncd.toml``), each at the
  default protocol and at 29.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.compare import assert_trees_equal
from harness.ourd import LOOPBACK, pyrsyncd_argv
from harness.proc import port_accepts, run, start_service
from harness.tools import require_tool

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from harness.proc import Service
    from harness.sshd import Sshd
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

PROTOCOLS = [None, 29]
REFUSAL = "only serves rsync daemon modules"


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


def _protocol_args(protocol: int | None) -> list[str]:
    return [] if protocol is None else [f"--protocol={protocol}"]


# -- the anonymous SSH listener -------------------------------------------------------------


def _ssh_command(ssh: Path, port: int, *options: str) -> list[str]:
    """An ssh client command for the listener: no config, no host-key prompts, no agent."""
    return [
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
        "ConnectTimeout=10",
        "-o",
        "IdentityAgent=none",
        *options,
    ]


@pytest.fixture
def anon_daemon(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., tuple[Service, int]]]:
    """Factory: ``pyrsyncd --anonssh-listen 127.0.0.1:PORT ARGS...``; stopped after the test."""
    started: list[Service] = []

    def start(*args: str) -> tuple[Service, int]:
        out = tmp_path_factory.mktemp("anonssh") / "pyrsyncd.out"
        service, port = start_service(
            lambda port: pyrsyncd_argv("--anonssh-listen", f"{LOOPBACK}:{port}", *args),
            output=out,
            ready=lambda _s, port: port_accepts(LOOPBACK, port),
        )
        started.append(service)
        return service, port

    yield start
    for service in started:
        service.stop(grace=2.0)


@pytest.fixture(scope="module")
def ssh_client() -> Path:
    return require_tool("ssh")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_anonymous_ssh_download(
    real_rsync: RealRsync,
    ssh_client: Path,
    anon_daemon: Callable[..., tuple[Service, int]],
    tmp_path: Path,
    protocol: int | None,
) -> None:
    src = _tree(tmp_path / "src")
    key = tmp_path / "state/host_key"
    daemon, port = anon_daemon("--module", f"mod={src}", "--anonssh-host-key", str(key))
    dest = tmp_path / "dest"
    rsh = shlex.join(_ssh_command(ssh_client, port))
    result = run(
        real_rsync.argv(
            "-a", "-e", rsh, *_protocol_args(protocol), f"rsync://{LOOPBACK}/mod/", str(dest)
        ),
        timeout=60,
    )
    assert result.returncode == 0, f"{result.describe()}\n{daemon.output()}"
    assert_trees_equal(src, dest, symlink_times=True)
    assert (key.stat().st_mode & 0o777) == 0o600
    log = daemon.output()
    assert "generated SSH host key" in log
    assert "connect (ssh)" in log
    assert "sandbox: confined" in log


@pytest.mark.parametrize(
    "command",
    [
        ["id"],
        ["rsync", "--server", "--sender", "-vlogDtpre.iLsfxCIvu", ".", "/etc/"],
        ["rsync", "--server", "--daemon", ".", "extra"],
        [],  # a login shell
    ],
)
def test_anonymous_ssh_runs_nothing_else(
    ssh_client: Path,
    anon_daemon: Callable[..., tuple[Service, int]],
    tmp_path: Path,
    command: list[str],
) -> None:
    src = _tree(tmp_path / "src")
    daemon, port = anon_daemon(
        "--module", f"mod={src}", "--anonssh-host-key", str(tmp_path / "key")
    )
    result = run([*_ssh_command(ssh_client, port, "-T"), LOOPBACK, *command], timeout=60)
    assert result.returncode != 0, result.describe()
    assert REFUSAL in result.stderr, result.describe()
    assert "uid=" not in result.stdout
    assert "ssh: refused" in daemon.output()


def test_anonymous_ssh_refuses_forwarding(
    ssh_client: Path,
    anon_daemon: Callable[..., tuple[Service, int]],
    tmp_path: Path,
) -> None:
    src = _tree(tmp_path / "src")
    daemon, port = anon_daemon(
        "--module", f"mod={src}", "--anonssh-host-key", str(tmp_path / "key")
    )
    result = run(
        [*_ssh_command(ssh_client, port, "-W", f"{LOOPBACK}:{port}"), LOOPBACK],
        stdin=b"",
        timeout=60,
    )
    assert result.returncode != 0, result.describe()
    assert "SSH-" not in result.stdout  # nothing was relayed
    assert f"ssh: refused forwarding to {LOOPBACK}:{port}" in daemon.output()


def test_anonymous_ssh_keeps_its_host_key(
    real_rsync: RealRsync,
    ssh_client: Path,
    anon_daemon: Callable[..., tuple[Service, int]],
    tmp_path: Path,
) -> None:
    """A second start reuses the key: a client that learned it the first time still agrees."""
    src = _tree(tmp_path / "src")
    key = tmp_path / "state/host_key"
    known = tmp_path / "known_hosts"
    first, port = anon_daemon("--module", f"mod={src}", "--anonssh-host-key", str(key))
    learn = [
        "-o",
        f"UserKnownHostsFile={known}",
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        "HostKeyAlias=pyrsyncd-test",
    ]
    rsh = shlex.join(_ssh_command(ssh_client, port, *learn))
    url = f"rsync://{LOOPBACK}/mod/"
    run(real_rsync.argv("-a", "-e", rsh, url, str(tmp_path / "d1")), timeout=60).check()
    key_bytes = key.read_bytes()
    first.stop(grace=2.0)
    second, port2 = anon_daemon("--module", f"mod={src}", "--anonssh-host-key", str(key))
    strict = [
        "-o",
        f"UserKnownHostsFile={known}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "HostKeyAlias=pyrsyncd-test",
    ]
    rsh = shlex.join(_ssh_command(ssh_client, port2, *strict))
    result = run(real_rsync.argv("-a", "-e", rsh, url, str(tmp_path / "d2")), timeout=60)
    assert result.returncode == 0, f"{result.describe()}\n{second.output()}"
    assert key.read_bytes() == key_bytes
    assert "generated SSH host key" not in second.output()


def test_anonymous_ssh_with_authorized_keys(
    real_rsync: RealRsync,
    ssh_client: Path,
    anon_daemon: Callable[..., tuple[Service, int]],
    tmp_path: Path,
) -> None:
    keygen = require_tool("ssh-keygen")
    for name in ("allowed", "other"):
        run(
            [str(keygen), "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)], timeout=30
        ).check()
    authorized = tmp_path / "authorized_keys"
    authorized.write_bytes((tmp_path / "allowed.pub").read_bytes())
    src = _tree(tmp_path / "src")
    daemon, port = anon_daemon(
        "--module",
        f"mod={src}",
        "--anonssh-host-key",
        str(tmp_path / "host_key"),
        "--anonssh-authorized-keys",
        str(authorized),
    )
    url = f"rsync://{LOOPBACK}/mod/"

    def pull(*identity: str) -> int:
        rsh = shlex.join(_ssh_command(ssh_client, port, "-o", "IdentitiesOnly=yes", *identity))
        dest = tmp_path / f"dest-{len(identity)}-{identity[-1:]!s}".replace("/", "_")
        return run(real_rsync.argv("-a", "-e", rsh, url, str(dest)), timeout=60).returncode

    assert pull("-i", str(tmp_path / "allowed")) == 0, daemon.output()
    assert pull("-i", str(tmp_path / "other")) != 0
    assert pull() != 0  # no key at all


# -- behind a real sshd ----------------------------------------------------------------------


def _pyrsyncd() -> Path:
    """The installed ``pyrsyncd`` script of this environment (an absolute path for sshd)."""
    path = Path(sys.executable).with_name("pyrsyncd")
    if not path.exists():
        pytest.fail(f"{path} is missing: is rsync-daemon installed in this environment?")
    return path


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sshd_remote_shell_pull(
    real_rsync: RealRsync, sshd: Sshd, tmp_path: Path, protocol: int | None
) -> None:
    src = _tree(tmp_path / "src")
    dest = tmp_path / "dest"
    result = run(
        real_rsync.argv(
            "-a",
            "-e",
            sshd.rsh,
            f"--rsync-path={_pyrsyncd()}",
            *_protocol_args(protocol),
            sshd.remote(f"{src}/"),
            str(dest),
        ),
        timeout=60,
    )
    assert result.returncode == 0, f"{result.describe()}\n{sshd.log()}"
    assert_trees_equal(src, dest, symlink_times=True)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sshd_remote_shell_push(
    real_rsync: RealRsync, sshd: Sshd, tmp_path: Path, protocol: int | None
) -> None:
    """``rsync -e ssh --rsync-path=pyrsyncd SRC host:DEST`` uploads through real sshd."""
    src = _tree(tmp_path / "src")
    target = tmp_path / "target"
    result = run(
        real_rsync.argv(
            "-a",
            "-e",
            sshd.rsh,
            f"--rsync-path={_pyrsyncd()}",
            *_protocol_args(protocol),
            f"{src}/",
            sshd.remote(target),
        ),
        timeout=60,
    )
    assert result.returncode == 0, f"{result.describe()}\n{sshd.log()}"
    assert_trees_equal(src, target, symlink_times=True)


def _write_wrapper(path: Path, config_home: Path, program: Sequence[str | Path]) -> Path:
    """A ``--rsync-path`` program that points XDG_CONFIG_HOME at ``config_home`` first."""
    command = shlex.join(str(p) for p in program)
    path.write_text(
        f'#!/bin/sh\nXDG_CONFIG_HOME={shlex.quote(str(config_home))} exec {command} "$@"\n'
    )
    path.chmod(0o755)
    return path


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sshd_daemon_over_remote_shell(
    real_rsync: RealRsync, sshd: Sshd, tmp_path: Path, protocol: int | None
) -> None:
    src = _tree(tmp_path / "src")
    config_home = tmp_path / "config"
    config_home.mkdir()
    (config_home / "pyrsyncd.toml").write_text(
        f'[modules.mod]\npath = "{src}"\ncomment = "over ssh"\n'
    )
    wrapper = _write_wrapper(tmp_path / "pyrsyncd-wrapper", config_home, [_pyrsyncd()])
    common = ["-e", sshd.rsh, f"--rsync-path={wrapper}", *_protocol_args(protocol)]
    listing = run(real_rsync.argv(*common, f"rsync://{LOOPBACK}/"), timeout=60)
    assert listing.returncode == 0, f"{listing.describe()}\n{sshd.log()}"
    assert "over ssh" in listing.stdout
    dest = tmp_path / "dest"
    result = run(real_rsync.argv("-a", *common, f"rsync://{LOOPBACK}/mod/", str(dest)), timeout=60)
    assert result.returncode == 0, f"{result.describe()}\n{sshd.log()}"
    assert_trees_equal(src, dest, symlink_times=True)
    unknown = run(real_rsync.argv("-a", *common, f"rsync://{LOOPBACK}/nope/", str(dest)))
    assert unknown.returncode == 5, unknown.describe()
    assert "Unknown module 'nope'" in unknown.stderr
