"""A real OpenSSH sshd on a loopback port, with throwaway host and client keys.

The server accepts exactly one key, for the user running the tests (root in CI, where it
needs the privilege-separation directory /run/sshd, created here when missing). Everything it
writes lives in a temporary directory: config, keys, authorized_keys, pid file and log.

Not here: the skip-or-fail policy for missing binaries (see ``tools``).
"""

from __future__ import annotations

import os
import pwd
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from harness.proc import Service, port_accepts, run, start_service

if TYPE_CHECKING:
    from pathlib import Path

LOOPBACK: Final = "127.0.0.1"
PRIVSEP_DIR: Final = "/run/sshd"


class SshdError(AssertionError):
    """The sshd could not be set up, or a login to it failed."""


@dataclass
class Sshd:
    """A running sshd and how to reach it (see ``start_sshd``)."""

    host: str
    port: int
    user: str
    ssh: Path
    client_key: Path
    workdir: Path
    log_path: Path
    service: Service

    def ssh_options(self) -> list[str]:
        """Return the ssh client options: port, key, no host-key checks, no user config."""
        return [
            "-F",
            "/dev/null",
            "-p",
            str(self.port),
            "-i",
            str(self.client_key),
            "-o",
            "IdentitiesOnly=yes",
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
        ]

    @property
    def rsh(self) -> str:
        """The ``-e`` argument for rsync: ``ssh -p PORT -i KEY -o ...``."""
        return shlex.join([str(self.ssh), *self.ssh_options()])

    def ssh_argv(self, *command: str) -> list[str]:
        """Return an ssh command line running ``command`` on this server."""
        return [str(self.ssh), *self.ssh_options(), f"{self.user}@{self.host}", *command]

    def remote(self, path: str | os.PathLike[str]) -> str:
        """Return ``user@host:path`` for rsync's remote-shell syntax."""
        return f"{self.user}@{self.host}:{os.fspath(path)}"

    def log(self) -> str:
        """Return what sshd logged so far."""
        return self.service.output()

    def stop(self) -> None:
        """Stop the server and its session processes."""
        self.service.stop()


def _keygen(ssh_keygen: Path, path: Path, comment: str) -> None:
    run(
        [ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
        timeout=30,
        check=True,
    )


def render_sshd_config(*, port: int, host: str, workdir: Path, host_key: Path) -> str:
    """Return an sshd_config allowing only public-key logins of keys in workdir."""
    root_login = "prohibit-password"
    lines = [
        "# Written by tests-integration/harness/sshd.py",
        f"ListenAddress {host}",
        f"Port {port}",
        f"HostKey {host_key}",
        f"PidFile {workdir / 'sshd.pid'}",
        f"AuthorizedKeysFile {workdir / 'authorized_keys'}",
        f"PermitRootLogin {root_login}",
        "PubkeyAuthentication yes",
        "AuthenticationMethods publickey",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "HostbasedAuthentication no",
        "StrictModes no",
        "UsePAM no",
        "UseDNS no",
        "PrintMotd no",
        "PrintLastLog no",
        "X11Forwarding no",
        "AllowAgentForwarding no",
        "AllowTcpForwarding no",
        "PermitUserEnvironment no",
        "MaxStartups 100:30:200",
        "MaxSessions 50",
        "LoginGraceTime 30",
        "LogLevel INFO",
        "Subsystem sftp internal-sftp",
    ]
    return "\n".join(lines) + "\n"


def _prepare_privsep_dir() -> None:
    """As root, sshd wants /run/sshd (owned by root, not group/world-writable) to exist."""
    if os.geteuid() != 0:
        return
    os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)


def start_sshd(*, sshd: Path, ssh: Path, ssh_keygen: Path, workdir: Path) -> Sshd:
    """Start ``sshd -D -e -f CONFIG`` on a free loopback port and check that a login works.

    Args:
        sshd: absolute path of sshd (it re-executes itself and insists on one).
        ssh: the client.
        ssh_keygen: makes the throwaway keys.
        workdir: an empty directory, readable by the server.

    Returns:
        The running server; log in as the user running the tests.

    Raises:
        SshdError: the server did not start, or the test login failed.
    """
    user = pwd.getpwuid(os.geteuid()).pw_name
    host_key = workdir / "ssh_host_ed25519_key"
    client_key = workdir / "id_ed25519"
    _keygen(ssh_keygen, host_key, "pyrsync-test-host")
    _keygen(ssh_keygen, client_key, "pyrsync-test-client")
    authorized = workdir / "authorized_keys"
    authorized.write_bytes(client_key.with_suffix(".pub").read_bytes())
    authorized.chmod(0o600)
    _prepare_privsep_dir()

    def argv(port: int) -> list[str]:
        config = workdir / "sshd_config"
        config.write_text(
            render_sshd_config(port=port, host=LOOPBACK, workdir=workdir, host_key=host_key)
        )
        return [str(sshd), "-D", "-e", "-f", str(config)]

    service, port = start_service(
        argv,
        output=workdir / "sshd.log",
        ready=lambda _service, port: port_accepts(LOOPBACK, port),
    )
    server = Sshd(
        host=LOOPBACK,
        port=port,
        user=user,
        ssh=ssh,
        client_key=client_key,
        workdir=workdir,
        log_path=workdir / "sshd.log",
        service=service,
    )
    probe = run(server.ssh_argv("echo", "pyrsync-sshd-ok"), timeout=30)
    if probe.returncode != 0 or "pyrsync-sshd-ok" not in probe.stdout:
        server.stop()
        msg = f"test login to sshd failed:\n{probe.describe()}\n--- sshd log ---\n{server.log()}"
        raise SshdError(msg)
    return server
