"""``RSYNC_PROXY``: reach a daemon through an HTTP proxy with ``CONNECT``.

``RSYNC_PROXY=[USER:PASS@]HOST:PORT`` makes rsync connect to the proxy instead of the
daemon, send ``CONNECT host:port HTTP/1.0`` (with ``Proxy-Authorization: Basic`` when a
user and password are given), accept any ``2xx`` answer, skip the answer's header lines,
and speak the daemon protocol over the same connection from there on.

The parsing and the request are pure functions (tested without a socket); reading the
answer goes byte by byte, as rsync's does, so that no byte of the daemon's greeting is
read into a buffer the session never sees.

rsync: socket.c open_socket_out(), establish_proxy_connection().
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Final, NamedTuple

import anyio

from rsync_wire.errors import ExitCode, RsyncError

if TYPE_CHECKING:
    from anyio.abc import ByteStream

__all__ = [
    "ProxySpec",
    "check_status_line",
    "connect_request",
    "establish_proxy_connection",
    "parse_proxy",
]

_BUF_SIZE: Final = 1024  # rsync: socket.c PROXY_BUF_SIZE


class ProxySpec(NamedTuple):
    """A parsed ``RSYNC_PROXY``."""

    host: str
    port: str
    """As given: a number or a service name, as rsync passes it to ``getaddrinfo``."""
    user: str | None
    password: str | None


def _fail(text: str) -> RsyncError:
    return RsyncError(f"rsync: {text}", exit_code=ExitCode.SOCKETIO)


def parse_proxy(value: str) -> ProxySpec:
    """Split ``[USER:PASS@]HOST:PORT`` as rsync does.

    The last ``@`` ends the credentials and the first ``:`` before it ends the user, so a
    password may hold ``:`` and ``@``; the first ``:`` after it ends the host.

    Raises:
        RsyncError: no ``:`` where one is needed (exit code 10).

    rsync: socket.c open_socket_out().
    """
    value = value[: _BUF_SIZE - 1]
    user = password = None
    at = value.rfind("@")
    if at >= 0:
        creds, hostport = value[:at], value[at + 1 :]
        if ":" not in creds:
            msg = "invalid proxy specification: should be USER:PASS@HOST:PORT"
            raise _fail(msg)
        user, _, password = creds.partition(":")
    else:
        hostport = value
    if ":" not in hostport:
        msg = "invalid proxy specification: should be HOST:PORT"
        raise _fail(msg)
    host, _, port = hostport.partition(":")
    return ProxySpec(host, port[:9], user, password)


def connect_request(host: str, port: int, user: str | None, password: str | None) -> bytes:
    """The ``CONNECT`` request for ``host:port`` (with basic authentication if given).

    Raises:
        RsyncError: a control character in the host (it could smuggle a header into the
            request), or credentials or a request too long for rsync's buffer (exit
            code 10).

    rsync: socket.c establish_proxy_connection().
    """
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in host):
        msg = "invalid control character in proxy CONNECT host"
        raise _fail(msg)
    auth = ""
    if user is not None and password is not None:
        creds = f"{user}:{password}".encode("utf-8", "surrogateescape")[:_BUF_SIZE]
        if (len(creds) * 8 + 5) // 6 >= _BUF_SIZE - 3:
            msg = "authentication information is too long"
            raise _fail(msg)
        auth = "\r\nProxy-Authorization: Basic " + base64.b64encode(creds).decode("ascii")
    request = f"CONNECT {host}:{port} HTTP/1.0{auth}\r\n\r\n".encode("utf-8", "surrogateescape")
    if len(request) >= _BUF_SIZE:
        msg = "proxy CONNECT request too long"
        raise _fail(msg)
    return request


def check_status_line(line: bytes) -> None:
    """Accept ``HTTP/<version> 2xx ...``; anything else is the proxy's refusal.

    Raises:
        RsyncError: ``bad response from proxy -- LINE`` (exit code 10).

    rsync: socket.c establish_proxy_connection().
    """
    ok = line.startswith(b"HTTP/")
    if ok:
        rest = line[5:].lstrip(b"0123456789.").lstrip(b" ")
        ok = rest.startswith(b"2")
    if not ok:
        text = line.decode("utf-8", "backslashreplace")
        msg = f"bad response from proxy -- {text}"
        raise _fail(msg)


async def _read_line(stream: ByteStream, too_long: str) -> bytes:
    """One line of the proxy's answer, without its line end (LF or CR LF)."""
    line = bytearray()
    while True:
        try:
            byte = await stream.receive(1)
        except OSError as exc:
            msg = f"failed to read from proxy: {exc.strerror or exc} ({exc.errno})"
            raise _fail(msg) from None
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            msg = "failed to read from proxy: the connection was closed"
            raise _fail(msg) from None
        if byte == b"\n":
            break
        line += byte
        if len(line) >= _BUF_SIZE - 1:
            raise _fail(too_long)
    if line.endswith(b"\r"):
        del line[-1]
    return bytes(line)


async def establish_proxy_connection(
    stream: ByteStream, host: str, port: int, user: str | None, password: str | None
) -> None:
    """Ask the proxy on ``stream`` for a tunnel to ``host:port``; returns once it is open.

    Raises:
        RsyncError: the request cannot be made, the proxy refuses it or closes the
            connection (exit code 10).

    rsync: socket.c establish_proxy_connection().
    """
    request = connect_request(host, port, user, password)
    try:
        await stream.send(request)
    except OSError as exc:
        msg = f"failed to write to proxy: {exc.strerror or exc} ({exc.errno})"
        raise _fail(msg) from None
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        msg = "failed to write to proxy: the connection was closed"
        raise _fail(msg) from None
    check_status_line(await _read_line(stream, "proxy response line too long"))
    while await _read_line(stream, "proxy response header line too long"):
        pass
