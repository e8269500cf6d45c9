"""The anonymous SSH listener: the daemon protocol inside SSH, without accounts.

``rsync -e 'ssh -p PORT' rsync://host/module/`` logs in over SSH, runs
``rsync --server --daemon .`` there, and speaks the daemon protocol over the channel
(daemon over a remote shell, docs/protocol.md §5.7). This listener gives that
encryption to clients without giving anyone an account: any client is let in (with an
``authorized_keys`` file configured, only the keys listed there), the only request
honoured is an exec of exactly that command, and what runs is `handle_connection`, in
this process, never a shell or another program.

How this works: the supervisor accepts the TCP connection and forks, as for a plain
daemon connection, so a crash or a hostile client ends only its own process, which is
already confined, and which confines itself to its own connection before the SSH
handshake (rsync_daemon.conn_sandbox: asyncssh needs no new socket, only asyncio's
``socketpair``). The connection process runs asyncssh on the accepted socket under
anyio's asyncio backend (asyncssh is built on asyncio), and bridges the channel's
stdin/stdout to anyio byte streams. The host key is generated on first start (Ed25519)
and kept; keys are loaded before confinement.

Not here: the protocol (rsync_daemon.connection), the accept loop (rsync_daemon.server).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import anyio
import anyio.abc

with warnings.catch_warnings():
    # cryptography 51 deprecates DSA, which asyncssh still names at import time; the
    # daemon never offers or accepts DSA keys, so the warning would only be noise on
    # every start
    warnings.filterwarnings("ignore", message="DSA is deprecated", module="asyncssh")
    import asyncssh

from rsync_daemon.connection import handle_connection
from rsync_wire.errors import ExitCode

if TYPE_CHECKING:
    import socket

    from rsync_daemon.config import DaemonConfig

__all__ = [
    "DAEMON_COMMAND",
    "SshSettings",
    "default_host_key_path",
    "is_daemon_command",
    "load_host_key",
    "load_settings",
    "serve_ssh_socket",
]

log = logging.getLogger("rsync_daemon")

DAEMON_COMMAND: Final = ("--server", "--daemon", ".")
"""What follows the program name in the command a stock client sends (rsync: main.c
do_cmd() with ``daemon_connection``)."""

_HOST_KEY_NAME: Final = "ssh_host_ed25519_key"
_LOGIN_TIMEOUT: Final = 60.0
_CLOSE_TIMEOUT: Final = 10.0
_REFUSED: Final = (
    b"pyrsyncd: this SSH server only serves rsync daemon modules: "
    b"rsync -e 'ssh -p PORT' rsync://HOST/MODULE/\n"
)


@dataclass(frozen=True)
class SshSettings:
    """The SSH listener's keys, loaded before confinement.

    Attributes:
        host_key: the server's private host key.
        host_key_path: where it is kept.
        authorized_keys: the client keys allowed in, or None for any client.
        authorized_keys_path: the file they came from.
    """

    host_key: asyncssh.SSHKey
    host_key_path: str
    authorized_keys: asyncssh.SSHAuthorizedKeys | None = None
    authorized_keys_path: str | None = None


def default_host_key_path() -> str:
    """Where the host key lives unless configured.

    ``$STATE_DIRECTORY`` (systemd's ``StateDirectory=``), else ``/var/lib/pyrsyncd`` as
    root, else ``${XDG_STATE_HOME:-~/.local/state}/pyrsyncd``.
    """
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    if not state:
        if os.geteuid() == 0:
            state = "/var/lib/pyrsyncd"
        else:
            base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
            state = os.path.join(base, "pyrsyncd")
    return os.path.join(state, _HOST_KEY_NAME)


def load_host_key(path: str) -> asyncssh.SSHKey:
    """Read the host key at ``path``, generating an Ed25519 key there when it is missing.

    The new key is written with mode 0600 (its directory is created with 0700), through
    a temporary name and a rename, so that a crash never leaves half a key.

    Raises:
        OSError: the key cannot be read or written.
        asyncssh.KeyImportError: the file is not a private key.
    """
    try:
        return asyncssh.read_private_key(path)
    except FileNotFoundError:
        pass
    key = asyncssh.generate_private_key("ssh-ed25519", comment="pyrsyncd host key")
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.export_private_key())
        os.link(tmp, path)  # fails if another process created the key meanwhile
    except FileExistsError:
        return asyncssh.read_private_key(path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    with contextlib.suppress(OSError), open(path + ".pub", "wb") as pub:
        pub.write(key.export_public_key())
    log.info("generated SSH host key %s", path)
    return key


def load_settings(config: DaemonConfig) -> SshSettings:
    """Load (or create) the host key and the authorized keys the configuration names.

    Raises:
        OSError: a key file cannot be read or written.
        ValueError: a key file does not parse (asyncssh's KeyImportError).
    """
    path = config.anonssh_host_key or default_host_key_path()
    host_key = load_host_key(path)
    authorized = None
    if config.anonssh_authorized_keys:
        authorized = asyncssh.read_authorized_keys(config.anonssh_authorized_keys)
    return SshSettings(
        host_key=host_key,
        host_key_path=path,
        authorized_keys=authorized,
        authorized_keys_path=config.anonssh_authorized_keys,
    )


def is_daemon_command(command: str | None) -> bool:
    """Whether ``command`` is the daemon-over-SSH command a stock rsync client sends.

    That is ``PROGRAM --server --daemon .``, whatever the program (``rsync``, or the
    client's ``--rsync-path``); anything else (a shell, other options) is refused.
    """
    if command is None:
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return len(words) == len(DAEMON_COMMAND) + 1 and tuple(words[1:]) == DAEMON_COMMAND


class _ChannelReceive(anyio.abc.ByteReceiveStream):
    """The channel's stdin as an anyio byte stream."""

    def __init__(self, reader: asyncssh.SSHReader[bytes]) -> None:
        self._reader = reader

    async def receive(self, max_bytes: int = 65536) -> bytes:
        try:
            data = await self._reader.read(max_bytes)
        except (asyncssh.Error, OSError) as exc:
            raise anyio.BrokenResourceError from exc
        if not data:
            raise anyio.EndOfStream
        return data

    async def aclose(self) -> None:
        return None


class _ChannelSend(anyio.abc.ByteSendStream):
    """The channel's stdout as an anyio byte stream."""

    def __init__(self, writer: asyncssh.SSHWriter[bytes]) -> None:
        self._writer = writer

    async def send(self, item: bytes) -> None:
        try:
            self._writer.write(item)
            await self._writer.drain()
        except (asyncssh.Error, OSError) as exc:
            raise anyio.BrokenResourceError from exc

    async def aclose(self) -> None:
        with contextlib.suppress(asyncssh.Error, OSError):
            self._writer.write_eof()


class _Server(asyncssh.SSHServer):
    """Authentication: nobody needs a key unless an authorized_keys file is configured.

    Forwarding of any kind is refused (asyncssh's defaults, restated here on purpose).
    """

    def __init__(self, settings: SshSettings, peer: str) -> None:
        self._settings = settings
        self._peer = peer

    def _refuse(self, what: str) -> bool:
        log.warning("[%s] ssh: refused %s", self._peer, what)
        return False

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        return self._refuse(f"forwarding to {dest_host}:{dest_port} ({orig_host}:{orig_port})")

    def server_requested(self, listen_host: str, listen_port: int) -> bool:
        return self._refuse(f"remote forwarding from {listen_host}:{listen_port}")

    def unix_connection_requested(self, dest_path: str) -> bool:
        return self._refuse(f"forwarding to {dest_path}")

    def unix_server_requested(self, listen_path: str) -> bool:
        return self._refuse(f"remote forwarding from {listen_path}")

    def tun_requested(self, unit: int | None) -> bool:
        return self._refuse(f"tunnel (tun {unit})")

    def tap_requested(self, unit: int | None) -> bool:
        return self._refuse(f"tunnel (tap {unit})")

    def begin_auth(self, username: str) -> bool:
        if self._settings.authorized_keys is None:
            log.info("[%s] ssh: anonymous login as %r", self._peer, username)
            return False
        return True

    def public_key_auth_supported(self) -> bool:
        return self._settings.authorized_keys is not None

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def host_based_auth_supported(self) -> bool:
        return False


class _Session:
    """Runs the one daemon session a connection may carry, and remembers its exit code."""

    def __init__(self, config: DaemonConfig, peer: str) -> None:
        self.config = config
        self.peer = peer
        self.code: int | None = None
        self.started = anyio.Event()
        self.done = anyio.Event()

    async def __call__(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        if self.started.is_set():
            process.stderr.write(b"pyrsyncd: one session per connection\n")
            process.exit(int(ExitCode.STARTCLIENT))
            return
        self.started.set()
        try:
            if process.subsystem is not None or not is_daemon_command(process.command):
                log.warning(
                    "[%s] ssh: refused %s",
                    self.peer,
                    f"subsystem {process.subsystem!r}"
                    if process.subsystem is not None
                    else f"command {process.command!r}",
                )
                process.stderr.write(_REFUSED)
                self.code = int(ExitCode.STARTCLIENT)
            else:
                self.code = await handle_connection(
                    _ChannelReceive(process.stdin),
                    _ChannelSend(process.stdout),
                    self.config,
                    peer=self.peer,
                )
            with contextlib.suppress(asyncssh.Error, OSError):
                process.exit(self.code)
        finally:
            self.done.set()


async def _serve(
    sock: socket.socket, config: DaemonConfig, peer: str, settings: SshSettings
) -> int:
    session = _Session(config, peer)
    try:
        conn = await asyncssh.run_server(
            sock,
            server_factory=lambda: _Server(settings, peer),
            server_host_keys=[settings.host_key],
            authorized_client_keys=settings.authorized_keys,
            process_factory=session,
            encoding=None,
            allow_pty=False,
            agent_forwarding=False,
            x11_forwarding=False,
            gss_host=None,
            x509_trusted_certs=None,
            login_timeout=_LOGIN_TIMEOUT,
        )
    except (asyncssh.Error, OSError, TimeoutError) as exc:
        log.warning("[%s] ssh: %s", peer, str(exc) or type(exc).__name__)
        return int(ExitCode.STARTCLIENT)
    try:
        closed = anyio.Event()

        async def wait_closed() -> None:
            await conn.wait_closed()
            closed.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_closed)
            with anyio.move_on_after(_LOGIN_TIMEOUT):
                await _first(session.started, closed)
            if session.started.is_set():
                await _first(session.done, closed)
                with anyio.move_on_after(_CLOSE_TIMEOUT):
                    await closed.wait()  # the client leaves after the exit status
            tg.cancel_scope.cancel()
    finally:
        conn.close()
    if session.code is None:
        log.info("[%s] ssh: closed without a session", peer)
        return 0
    return session.code


async def _first(*events: anyio.Event) -> None:
    """Return as soon as one of ``events`` is set."""
    async with anyio.create_task_group() as tg:

        async def wait(event: anyio.Event) -> None:
            await event.wait()
            tg.cancel_scope.cancel()

        for event in events:
            tg.start_soon(wait, event)


def serve_ssh_socket(
    conn: socket.socket, config: DaemonConfig, peer: str, settings: SshSettings
) -> int:
    """Serve one accepted SSH connection to its end in this process; returns the exit code.

    Runs anyio on its asyncio backend, which asyncssh needs.
    """
    conn.setblocking(False)  # noqa: FBT003 - the socket API
    return anyio.run(_serve, conn, config, peer, settings, backend="asyncio")
