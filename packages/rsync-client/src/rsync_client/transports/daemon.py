"""``rsync://host/module/path`` and ``host::module/path``: the daemon's text preamble.

Over a TCP connection (direct, tunnelled through ``$RSYNC_PROXY``, or the socket pair of
a ``$RSYNC_CONNECT_PROG`` program: see :func:`connect_daemon`), or a remote shell running
``rsync --server --daemon``, the client sends its greeting, reads the daemon's (and the
MOTD), names the module (or asks for the module list), answers an authentication
challenge, and sends its arguments: NUL-separated from protocol 30 on, newline-separated
before.
After that the binary protocol starts, without the version exchange of the
remote-shell mode (the greetings carried the versions).

rsync: clientserver.c start_socket_client(), start_inband_exchange(),
exchange_protocols(); authenticate.c auth_client().
"""

from __future__ import annotations

import getpass
import os
import socket
from typing import TYPE_CHECKING, Any, Final

import anyio

from rsync_client.safeopen import (
    UNTRUSTED_SYMLINK_MESSAGE,
    UntrustedSymlinkError,
    open_no_attacker_symlinks,
)
from rsync_client.transports.connect_prog import expand_connect_prog, open_connect_prog
from rsync_client.transports.proxy import establish_proxy_connection, parse_proxy
from rsync_wire.errors import ConnectionLost, ExitCode, RsyncError
from rsync_wire.idn import idn_to_ascii
from rsync_wire.pipes import SocketByteStream
from rsync_wire.proto.constants import AUTH_DIGESTS, DEFAULT_PORT
from rsync_wire.proto.handshake import (
    Accepted,
    AuthRequested,
    DaemonClient,
    ListingDone,
    Motd,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import ByteStream

    from rsync_wire.stream import WireStream

__all__ = ["DaemonReply", "connect_daemon", "daemon_preamble", "read_password"]


class DaemonReply:
    """What the preamble ended with.

    Attributes:
        protocol: the negotiated protocol (``None`` when the listing ended the session).
        listing_done: the daemon ended with ``@RSYNCD: EXIT`` (module list printed).
    """

    def __init__(self, protocol: int | None, *, listing_done: bool) -> None:
        self.protocol = protocol
        self.listing_done = listing_done


async def connect_daemon(
    host: str,
    port: int | None,
    *,
    contimeout: int = 0,
    family: int = 0,
    bind_address: str | None = None,
    sockopts: str | None = None,
) -> ByteStream:
    """Open the connection to a daemon: TCP, or ``$RSYNC_CONNECT_PROG``, or ``$RSYNC_PROXY``.

    Over TCP each address of the host is tried in turn, as rsync does.

    Args:
        host: the daemon's host name or address.
        port: the port (``None``, zero or negative: the default, 873).
        contimeout: ``--contimeout`` in seconds (0: none).
        family: ``socket.AF_INET`` for ``-4``, ``AF_INET6`` for ``-6``, 0 for either.
        bind_address: ``--address``: the local address each socket binds to first (an
            address it cannot bind to is skipped, as rsync's try_bind_local()).
        sockopts: ``--sockopts``: rsync's socket option list, set before connecting.

    Raises:
        RsyncError: exit code 10 (socket I/O) when the name does not resolve or no address
            accepts, with rsync's line for each address tried; 35 on ``--contimeout``.

    rsync: socket.c open_socket_out_wrapped(), open_socket_out().
    """
    if port is None or port <= 0:
        port = DEFAULT_PORT  # rsync: a zero or negative --port means the default
    prog = os.environ.get("RSYNC_CONNECT_PROG")
    if prog:
        return await open_connect_prog(expand_connect_prog(prog, host))
    host = idn_to_ascii(host) or host  # the resolver speaks ASCII (rsync: socket.c)
    proxy = os.environ.get("RSYNC_PROXY")
    if proxy:
        spec = parse_proxy(proxy)
        stream = await _connect_tcp(
            spec.host,
            _service_port(spec.host, spec.port),
            contimeout,
            family,
            _Local(bind_address, sockopts),
        )
        try:
            await establish_proxy_connection(stream, host, port, spec.user, spec.password)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            raise
        return stream
    return await _connect_tcp(host, port, contimeout, family, _Local(bind_address, sockopts))


class _Local:
    """``--address`` and ``--sockopts``: what is done to a socket before it connects."""

    def __init__(self, bind_address: str | None, sockopts: str | None) -> None:
        self.bind_address = bind_address
        self.sockopts = sockopts

    @property
    def wanted(self) -> bool:
        return bool(self.bind_address or self.sockopts)


_NO_LOCAL: Final = _Local(None, None)


def _say(line: str) -> None:
    """A complaint of set_socket_options(): a line on stderr (rsync's rprintf(FERROR))."""
    import sys

    sys.stderr.write(line + "\n")
    sys.stderr.flush()


async def _connect_socket(
    local: _Local, family: int, sockaddr: tuple[Any, ...]
) -> ByteStream | None:
    """One socket: bound, its options set, connected (``None``: it could not bind).

    Raises:
        OSError: the connection failed.

    rsync: socket.c open_socket_out() (try_bind_local(), set_socket_options()).
    """
    from rsync_wire.sockopts import apply_socket_options

    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if local.bind_address:
            try:
                infos = socket.getaddrinfo(
                    local.bind_address, 0, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
                )
                for info in infos:
                    try:
                        sock.bind(info[4])
                        break
                    except OSError:
                        continue
                else:
                    sock.close()
                    return None
            except OSError:
                sock.close()
                return None
        if local.sockopts:
            apply_socket_options(sock, local.sockopts, _say)
        sock.setblocking(False)  # noqa: FBT003 - the socket API
        try:
            sock.connect(sockaddr)
        except BlockingIOError:
            await anyio.wait_writable(sock)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err)) from None
        # read and written directly: anyio's TCP stream costs an event-loop round per read
        return SocketByteStream(sock)
    except BaseException:
        sock.close()
        raise


async def _connect_tcp(
    host: str, port: int, contimeout: int, family: int, local: _Local | None = None
) -> ByteStream:
    """TCP to ``host``: each address in turn, rsync's line for each that fails.

    rsync: socket.c open_socket_out().
    """
    # rsync hands the port to getaddrinfo() as a decimal string, whose C library keeps
    # its low 16 bits: "rsync://host:99999/" connects to port 34463, as rsync does.
    wire_port = port & 0xFFFF
    failures: list[str] = []
    unbound = 0
    try:
        with anyio.fail_after(contimeout or None):
            try:
                infos = await anyio.getaddrinfo(
                    host, wire_port, family=family, type=socket.SOCK_STREAM
                )
            except socket.gaierror as exc:
                # gai_strerror()'s text ("Name or service not known"), not strerror(-2)
                msg = f"rsync: getaddrinfo: {host} {port}: {exc.strerror or exc}"
                raise RsyncError(msg, exit_code=ExitCode.SOCKETIO) from None
            for ai_family, _type, _proto, _name, sockaddr in infos:
                address = str(sockaddr[0])
                try:
                    stream = await _connect_socket(local or _NO_LOCAL, ai_family, sockaddr)
                except OSError as exc:
                    cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
                    err = cause.errno or 0
                    reason = os.strerror(err) if err else str(cause)
                    failures.append(
                        f"rsync: [Receiver] failed to connect to {host} ({address}): "
                        f"{reason} ({err})"
                    )
                    continue
                if stream is None:
                    unbound += 1
                    continue  # no binding to --address: no line (rsync's)
                return stream
    except TimeoutError:
        msg = f"rsync: failed to connect to {host}: connection timed out (after {contimeout}s)"
        raise RsyncError(msg, exit_code=ExitCode.CONTIMEOUT) from None
    msg = "\n".join(failures) or f"rsync: getaddrinfo: {host} {port}: no address"
    if unbound and not failures:
        msg = ""  # no address could be bound to --address: rsync says nothing more
    raise RsyncError(msg, exit_code=ExitCode.SOCKETIO)


def _service_port(host: str, service: str) -> int:
    """A port given as text (``RSYNC_PROXY``'s): a number or a service name."""
    if service.isdigit():
        return int(service)
    try:
        return socket.getservbyname(service, "tcp")
    except OSError:
        msg = f"rsync: getaddrinfo: {host} {service}: Servname not supported for ai_socktype"
        raise RsyncError(msg, exit_code=ExitCode.SOCKETIO) from None


def read_password(password_file: str | None) -> bytes:
    """The daemon password: ``--password-file`` (first line), ``$RSYNC_PASSWORD``, or a prompt.

    Raises:
        RsyncError: exit code 1 for a password file others can read, or one not owned by
            root when running as root; 10 when it cannot be read.

    rsync: authenticate.c getpassf(), auth_client().
    """
    if password_file is not None:
        if password_file == "-":  # noqa: S105 - "read it from stdin", not a password
            import sys

            return sys.stdin.buffer.readline().rstrip(b"\r\n")
        try:
            # a symlink on the way that another user planted would send that user's
            # choice of file as the password (rsync 3.5 refuses it)
            fd = open_no_attacker_symlinks(password_file, os.O_RDONLY)
        except OSError as exc:
            refusal = (
                UNTRUSTED_SYMLINK_MESSAGE + "\n" if isinstance(exc, UntrustedSymlinkError) else ""
            )
            msg = (
                f"{refusal}rsync: could not open password file {password_file}: "
                f"{exc.strerror} ({exc.errno})"
            )
            raise RsyncError(msg, exit_code=ExitCode.SYNTAX) from None
        try:
            st = os.fstat(fd)
            if st.st_mode & 0o006:
                msg = "ERROR: password file must not be other-accessible"
                raise RsyncError(msg, exit_code=ExitCode.SYNTAX)
            if os.geteuid() == 0 and st.st_uid != 0:
                msg = "ERROR: password file must be owned by root when running as root"
                raise RsyncError(msg, exit_code=ExitCode.SYNTAX)
            data = os.read(fd, 4096)
        finally:
            os.close(fd)
        return data.split(b"\n", 1)[0].rstrip(b"\r")
    env = os.environ.get("RSYNC_PASSWORD")
    if env is not None:
        return os.fsencode(env)
    return _prompt_password()


def _prompt_password() -> bytes:
    """Ask for the password as the C library's getpass() does.

    On the controlling terminal, without echo; with no terminal (a cron job, a pipe,
    ``setsid``), the prompt goes to standard error and the password is the first line of
    standard input, empty at its end: the daemon then refuses it ("auth failed"), which
    is what rsync's users see, never a traceback.

    rsync: authenticate.c auth_client() (getpass()).
    """
    import sys

    try:
        tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        tty = -1
    if tty >= 0:
        os.close(tty)
        try:
            return getpass.getpass("Password: ").encode()
        except EOFError:
            return b""
    sys.stderr.write("Password: ")
    sys.stderr.flush()
    try:
        line = sys.stdin.buffer.readline()
    except (OSError, ValueError, AttributeError):  # closed or missing standard input
        line = b""
    return line.rstrip(b"\r\n")


EARLY_INPUT_MAX: Final = 5120
"""The most ``--early-input`` may hold (rsync: BIGPATHBUFLEN, the line buffer it goes through)."""


def read_early_input(path: str, *, who: str) -> bytes:
    """The contents of the ``--early-input`` file, for the daemon's ``early exec`` script.

    Args:
        path: the file as the user named it (no symlink another user planted is followed).
        who: the client's role in rsync's messages (``Receiver`` or ``sender``).

    Raises:
        RsyncError: rsync's messages and exit code 5 when it cannot be read or is too big.

    rsync: clientserver.c start_inband_exchange() (EARLY_INPUT_CMD).
    """
    try:
        fd = open_no_attacker_symlinks(path, os.O_RDONLY)
    except OSError as exc:
        refusal = UNTRUSTED_SYMLINK_MESSAGE + "\n" if isinstance(exc, UntrustedSymlinkError) else ""
        msg = f"{refusal}rsync: [{who}] failed to open {path}: {exc.strerror} ({exc.errno})"
        raise RsyncError(msg, exit_code=ExitCode.STARTCLIENT) from None
    with os.fdopen(fd, "rb") as f:
        if os.fstat(f.fileno()).st_size > EARLY_INPUT_MAX:
            msg = f"{path} is > {EARLY_INPUT_MAX} bytes."
            err = RsyncError(msg, exit_code=ExitCode.STARTCLIENT)
            err.bare = True  # type: ignore[attr-defined]
            raise err
        return f.read(EARLY_INPUT_MAX + 1)[:EARLY_INPUT_MAX]


def _user(user: str | None) -> str:
    return user or os.environ.get("USER") or os.environ.get("LOGNAME") or "nobody"


async def daemon_preamble(
    ws: WireStream,
    module: str,
    *,
    our_protocol: int,
    user: str | None,
    password_file: str | None,
    build_args: Callable[[int], list[str]],
    show: Callable[[str], None],
    show_motd: bool = True,
    early_input: bytes = b"",
    secluded: bool = False,
    show_args: Callable[[str, list[str]], None] | None = None,
    iconv: str | None = None,
) -> DaemonReply:
    """Greetings, module, authentication and arguments; returns the negotiated protocol.

    Args:
        ws: the connection (not multiplexed).
        module: the module name, or ``""`` to ask for the module list.
        our_protocol: the protocol we announce.
        user: the user for authentication (default ``$USER``).
        password_file: ``--password-file``.
        build_args: builds the argument vector (``--server ... . paths``) for a protocol.
        show: prints a line of MOTD or module listing.
        show_motd: ``--no-motd`` turns MOTD (and listing) lines off.
        early_input: ``--early-input``: sent after the greeting, before the module name
            (see :func:`read_early_input`).
        secluded: ``-s``: the arguments after the option letters go as a second list.
        show_args: ``--debug=CMD``: shows the argument lists sent (a prefix and words).
        iconv: ``--iconv``: the secluded arguments go in UTF-8.

    Raises:
        RemoteError: ``@ERROR`` from the daemon (exit code 5).
        RsyncError: no greeting (exit code 5), or a failure to read the password.

    rsync: clientserver.c start_inband_exchange().
    """
    machine = DaemonClient(module, ours=our_protocol, digests=AUTH_DIGESTS, early_input=early_input)
    event: Motd | AuthRequested | Accepted | ListingDone | None = None
    while not isinstance(event, Accepted):
        ws.write(machine.data_to_send())
        await ws.flush()
        try:
            line = await ws.read_line()
        except ConnectionLost:
            if machine.protocol is None:
                msg = "rsync: did not see server greeting"
            else:
                msg = "rsync: didn't get server startup line"
            raise RsyncError(msg, exit_code=ExitCode.STARTCLIENT) from None
        event = machine.receive_line(line)
        if isinstance(event, AuthRequested):
            password = read_password(password_file)
            machine.authenticate(_user(user), event.digest, password, event.challenge)
        elif isinstance(event, ListingDone):
            return DaemonReply(None, listing_done=True)
        elif isinstance(event, Motd) and show_motd:
            show(event.text)
    protocol = event.protocol
    args = build_args(protocol)
    if secluded:
        from rsync_client.runsetup import secluded_split

        head, rest = secluded_split(args)
        if show_args is not None:  # rsync: clientserver.c, rsync.c send_protected_args()
            show_args("sending daemon args:", head)
            show_args("protected args:", rest)
        from rsync_wire.proto.charset import to_wire_args

        machine.send_args(head, secluded=to_wire_args(rest, iconv))
    else:
        if show_args is not None:
            show_args("sending daemon args:", args)
        machine.send_args(args)
    ws.write(machine.data_to_send())
    await ws.flush()
    return DaemonReply(protocol, listing_done=False)
