"""RSYNC_CONNECT_PROG's command and socket pair, and RSYNC_PROXY's request and answers.

The pure parts against tables taken from rsync's socket.c; the socket pair and a program
on it for real (``/bin/sh``); the proxy exchange against a small CONNECT proxy on a
loopback socket. The whole path against real rsync and pyrsyncd daemons is in
tests-integration/test_client_connect_prog.py.
"""

from __future__ import annotations

import base64
import socket
from typing import TYPE_CHECKING

import anyio
import pytest
from anyio.abc import SocketStream

from rsync_client.transports.connect_prog import (
    expand_connect_prog,
    open_connect_prog,
    socketpair_tcp,
)
from rsync_client.transports.proxy import (
    ProxySpec,
    check_status_line,
    connect_request,
    establish_proxy_connection,
    parse_proxy,
)
from rsync_wire.errors import ExitCode, RsyncError

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    ("template", "host", "command"),
    [
        ("nc %H 873", "example.org", "nc 'example.org' 873"),
        ("echo %% %H%%", "h", "echo % 'h'%"),
        ("x %s %x %", "h", "x %s %x %"),  # other escapes and a final % pass through
        ("%H%H", "a", "'a''a'"),
        ("ssh gw nc %H 873", "fe80::1%eth0", "ssh gw nc 'fe80::1%eth0' 873"),
        ("p %H", "a+b~c:-rf", "p 'a+b~c:-rf'"),  # allowed mid-word
    ],
)
def test_connect_prog_expansion(template: str, host: str, command: str) -> None:
    assert expand_connect_prog(template, host) == command


@pytest.mark.parametrize(
    "host",
    [
        "",
        "-oProxyCommand=x",
        "+x",
        "~root",
        "%self",
        "a;b",
        "a b",
        "a'b",
        "a$(id)",
        "a`id`",
        "a\nb",
        "a/b",
        "\u010di\u010dku.example",  # not ASCII: rsync's set is ASCII only
    ],
)
def test_connect_prog_refuses_shell_active_hosts(host: str) -> None:
    with pytest.raises(RsyncError, match="unsafe host characters for RSYNC_CONNECT_PROG") as info:
        expand_connect_prog("prog %H", host)
    assert info.value.exit_code == ExitCode.SOCKETIO


def test_connect_prog_without_percent_is_not_checked() -> None:
    assert expand_connect_prog("rsync --daemon", "a;b") == "rsync --daemon"


def test_socketpair_tcp_is_a_loopback_tcp_pair() -> None:
    ours, theirs = socketpair_tcp()
    with ours, theirs:
        assert ours.family == socket.AF_INET
        assert ours.type == socket.SOCK_STREAM
        assert ours.getpeername() == theirs.getsockname()
        assert theirs.getpeername() == ours.getsockname()
        assert ours.getsockname()[0] == "127.0.0.1"
        theirs.sendall(b"ping")
        assert ours.recv(4) == b"ping"


async def test_program_speaks_on_its_stdin_and_stdout() -> None:
    # The program reads what we send, answers on stdout, sees a TCP socket on stdin.
    script = (
        'read line; echo "got $line"; '
        "python3 -c 'import socket,sys; s=socket.socket(fileno=0); "
        "print(s.getpeername()[0]); s.detach()'"
    )
    stream = await open_connect_prog(script)
    await stream.send(b"hello\n")
    data = b""
    with anyio.fail_after(30):
        while data.count(b"\n") < 2:
            data += await stream.receive()
    assert data == b"got hello\n127.0.0.1\n"
    await stream.aclose()
    assert stream.process.returncode == 0


@pytest.fixture
def echo_shell(tmp_path: Path) -> Path:
    """A "shell" that prints the arguments it got."""
    shell = tmp_path / "myshell"
    shell.write_text('#!/bin/sh\necho "shell: $1 $2"\n')
    shell.chmod(0o700)
    return shell


async def test_program_uses_rsync_shell(echo_shell: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RSYNC_SHELL", str(echo_shell))
    stream = await open_connect_prog("the command")
    data = b""
    with anyio.fail_after(30):
        while not data.endswith(b"\n"):
            data += await stream.receive()
    await stream.aclose()
    assert data == b"shell: -c the command\n"


@pytest.mark.parametrize(
    ("value", "spec"),
    [
        ("proxy.example:3128", ProxySpec("proxy.example", "3128", None, None)),
        ("u:p@proxy:8080", ProxySpec("proxy", "8080", "u", "p")),
        ("u:p@ss:w@rd@proxy:8080", ProxySpec("proxy", "8080", "u", "p@ss:w@rd")),
        ("proxy:http", ProxySpec("proxy", "http", None, None)),
        ("proxy:80:90", ProxySpec("proxy", "80:90", None, None)),
        ("proxy:12345678901", ProxySpec("proxy", "123456789", None, None)),  # rsync's portbuf
    ],
)
def test_parse_proxy(value: str, spec: ProxySpec) -> None:
    assert parse_proxy(value) == spec


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("proxy", "invalid proxy specification: should be HOST:PORT"),
        ("user@proxy:1", "invalid proxy specification: should be USER:PASS@HOST:PORT"),
        ("u:p@proxy", "invalid proxy specification: should be HOST:PORT"),
    ],
)
def test_parse_proxy_refuses(value: str, message: str) -> None:
    with pytest.raises(RsyncError, match=message) as info:
        parse_proxy(value)
    assert info.value.exit_code == ExitCode.SOCKETIO


def test_connect_request() -> None:
    assert connect_request("h", 873, None, None) == b"CONNECT h:873 HTTP/1.0\r\n\r\n"
    auth = base64.b64encode(b"u:p@ss").decode()
    assert connect_request("h", 873, "u", "p@ss") == (
        f"CONNECT h:873 HTTP/1.0\r\nProxy-Authorization: Basic {auth}\r\n\r\n".encode()
    )


@pytest.mark.parametrize("host", ["h\r\nX-Evil: 1", "h\x00", "h\x7f", "\t"])
def test_connect_request_refuses_control_characters(host: str) -> None:
    with pytest.raises(RsyncError, match="invalid control character in proxy CONNECT host"):
        connect_request(host, 873, None, None)


def test_connect_request_limits() -> None:
    with pytest.raises(RsyncError, match="authentication information is too long"):
        connect_request("h", 873, "u", "p" * 800)
    with pytest.raises(RsyncError, match="proxy CONNECT request too long"):
        connect_request("h" * 1010, 873, None, None)


@pytest.mark.parametrize(
    "line", [b"HTTP/1.0 200 OK", b"HTTP/1.1 200 Connection established", b"HTTP/2 204", b"HTTP/ 2"]
)
def test_status_accepted(line: bytes) -> None:
    check_status_line(line)


@pytest.mark.parametrize(
    "line", [b"HTTP/1.0 407 Proxy Authentication Required", b"SSH-2.0-OpenSSH", b"", b"HTTP/1.0"]
)
def test_status_refused(line: bytes) -> None:
    with pytest.raises(RsyncError, match="bad response from proxy -- ") as info:
        check_status_line(line)
    assert info.value.exit_code == ExitCode.SOCKETIO


async def _proxy_exchange(answer: bytes) -> tuple[bytes, bytes | RsyncError]:
    """Run the CONNECT exchange against a proxy that answers ``answer`` (then ``@RSYNCD``).

    Returns the request the proxy read and what our side reads next, or the error.
    """
    ours, theirs = socket.socketpair()
    request = b""
    result: bytes | RsyncError
    async with (
        await SocketStream.from_socket(ours) as client,
        await SocketStream.from_socket(theirs) as proxy,
    ):

        async def serve() -> None:
            nonlocal request
            while not request.endswith(b"\r\n\r\n"):
                request += await proxy.receive()
            await proxy.send(answer + b"@RSYNCD: 32.0 sha512\n")
            await proxy.send_eof()

        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            try:
                await establish_proxy_connection(client, "daemon.example", 873, "u", "p")
            except RsyncError as exc:
                result = exc
            else:
                result = b""
                with anyio.fail_after(30):
                    while not result.endswith(b"\n"):
                        result += await client.receive()
    return request, result


async def test_proxy_exchange_leaves_the_greeting_unread() -> None:
    answer = b"HTTP/1.1 200 Connection established\r\nProxy-Agent: t\r\nVia: x\r\n\r\n"
    request, after = await _proxy_exchange(answer)
    auth = base64.b64encode(b"u:p").decode()
    want = f"CONNECT daemon.example:873 HTTP/1.0\r\nProxy-Authorization: Basic {auth}\r\n\r\n"
    assert request == want.encode()
    assert after == b"@RSYNCD: 32.0 sha512\n"
    # bare LF line ends are accepted too, as rsync accepts them
    _, after = await _proxy_exchange(b"HTTP/1.0 200 OK\nX: y\n\n")
    assert after == b"@RSYNCD: 32.0 sha512\n"


async def test_proxy_refusal_and_eof() -> None:
    _, error = await _proxy_exchange(b"HTTP/1.0 403 Forbidden\r\n\r\n")
    assert isinstance(error, RsyncError)
    assert str(error) == "rsync: bad response from proxy -- HTTP/1.0 403 Forbidden"
    _, error = await _proxy_exchange(b"HTTP/1.0 200 OK\r\nX: y")
    assert isinstance(error, RsyncError)
    assert "failed to read from proxy" in str(error)
    _, error = await _proxy_exchange(b"HTTP/1.0 200 " + b"x" * 2000 + b"\r\n\r\n")
    assert isinstance(error, RsyncError)
    assert str(error) == "rsync: proxy response line too long"
