"""Daemon greetings and authentication (docs/protocol.md §5.1, §5.4)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from rsync_wire.errors import RemoteError, RemoteProtocolError, RsyncError
from rsync_wire.proto.args import MAX_DAEMON_ARGS
from rsync_wire.proto.handshake import (
    Accepted,
    Arguments,
    AuthRequested,
    AuthResponse,
    DaemonClient,
    DaemonServer,
    EarlyInput,
    Greeting,
    HandshakeError,
    ListingDone,
    ListRequested,
    ModuleRequested,
    Motd,
    auth_response,
    choose_auth_digest,
    daemon_protocol,
    format_greeting,
    format_module_line,
    parse_greeting,
    verify_response,
)


def test_our_greeting_carries_the_digest_list() -> None:
    assert format_greeting(32) == b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4\n"


@pytest.mark.parametrize(
    ("line", "version", "digests"),
    [
        (
            b"@RSYNCD: 32.0 sha512 sha256 sha1 md5 md4",
            32,
            ("sha512", "sha256", "sha1", "md5", "md4"),
        ),
        (b"@RSYNCD: 31.0", 31, None),
        (b"@RSYNCD: 29", 29, None),
        (b"@RSYNCD: 31.0 ", 31, ()),  # a trailing space: an empty list, not a missing one
    ],
)
def test_parse_greeting(line: bytes, version: int, digests: tuple[str, ...] | None) -> None:
    g = parse_greeting(line)
    assert (g.version, g.digests) == (version, digests)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"HELLO", "protocol startup error"),
        (b"@RSYNCD: 30", "omitted the subprotocol"),
        (b"@RSYNCD: 32.0", "omitted the digest name list"),
    ],
)
def test_bad_greetings(line: bytes, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        parse_greeting(line)


def test_negotiated_protocol() -> None:
    assert daemon_protocol(32, parse_greeting(b"@RSYNCD: 29")) == 29
    assert daemon_protocol(32, parse_greeting(b"@RSYNCD: 32.0 md5")) == 32
    assert daemon_protocol(31, parse_greeting(b"@RSYNCD: 32.1 md5")) == 31


def test_digest_choice_follows_the_notes() -> None:
    ours = ("sha512", "sha256", "sha1", "md5", "md4")
    assert (
        choose_auth_digest(ours, parse_greeting(b"@RSYNCD: 32.0 sha1 md5"), protocol=32) == "sha1"
    )
    assert choose_auth_digest(ours, parse_greeting(b"@RSYNCD: 30.0"), protocol=30) == "md5"
    assert choose_auth_digest(ours, parse_greeting(b"@RSYNCD: 29"), protocol=29) == "md4-legacy"
    assert choose_auth_digest(ours, parse_greeting(b"@RSYNCD: 31.0 "), protocol=31) is None


def test_auth_response_is_unpadded_base64_of_password_then_challenge() -> None:
    challenge = "9gRX15abcdefghijklmnop"
    expect = base64.b64encode(hashlib.md5(b"s3cret" + challenge.encode()).digest())  # noqa: S324
    assert auth_response("md5", b"s3cret", challenge) == expect.decode().rstrip("=")
    assert verify_response("sha512", b"pw", "ch", auth_response("sha512", b"pw", "ch"))
    assert not verify_response("sha512", b"pw", "ch", auth_response("sha512", b"px", "ch"))


def test_module_line_layout() -> None:
    assert format_module_line("pub", "public module") == b"pub            \tpublic module\n"


# -- the two machines back to back -----------------------------------------------------------


def _lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


ServerEvent = Greeting | EarlyInput | ListRequested | ModuleRequested | AuthResponse


def _greet(client: DaemonClient, server: DaemonServer) -> tuple[ServerEvent, list[object]]:
    """Greetings both ways; the server's event for the module line, the client's for the MOTD."""
    hello = server.data_to_send()
    up = client.data_to_send()
    greeting, *motd = _lines(hello)
    assert client.receive_line(greeting) is None
    shown: list[object] = [client.receive_line(line) for line in motd]
    up += client.data_to_send()
    first, _, rest = up.partition(b"\n")
    assert isinstance(server.receive_line(first), Greeting)
    event = server.receive_line(rest.split(b"\n", 1)[0])
    if isinstance(event, EarlyInput):
        body = rest.split(b"\n", 1)[1]
        server.receive_early_input(body[: event.count])
        event = server.receive_line(body[event.count :].rstrip(b"\n"))
    return event, shown


@pytest.mark.parametrize("protocol", [27, 29, 30, 31, 32])
def test_a_module_with_a_login_then_the_arguments(protocol: int) -> None:
    client = DaemonClient("src/sub", ours=protocol)
    server = DaemonServer(motd=b"Welcome\nto the mirror\n")
    event, shown = _greet(client, server)
    assert event == ModuleRequested("src", "src/sub")
    assert shown == [Motd("Welcome"), Motd("to the mirror"), Motd("")]
    challenge = server.challenge("sha512", b"random bytes")
    [asked] = [client.receive_line(line) for line in _lines(server.data_to_send())]
    assert isinstance(asked, AuthRequested)
    assert asked.challenge == challenge
    assert asked.digest == "sha512"  # the strongest of the server's list
    client.authenticate("alice", asked.digest, b"s3cret", asked.challenge)
    login = server.receive_line(_lines(client.data_to_send())[0])
    assert isinstance(login, AuthResponse)
    assert login.user == "alice"
    assert verify_response(asked.digest, b"s3cret", challenge, login.response)
    server.accept()
    [ok] = _lines(server.data_to_send())
    assert client.receive_line(ok) == Accepted(protocol)
    client.send_args(["--server", "--sender", "-r", ".", "src/sub"])
    wire = client.data_to_send()
    end = server.arg_end
    assert end == (b"\0" if protocol >= 30 else b"\n")
    events = [server.receive_arg(arg) for arg in wire.split(end)[:-1]]
    assert events[-1] == Arguments([b"--server", b"--sender", b"-r", b".", b"src/sub"])


def test_the_module_listing() -> None:
    client, server = DaemonClient(""), DaemonServer()
    assert _greet(client, server) == (ListRequested(), [])
    server.list_modules([("src", "sources"), ("a-long-module-name", "")])
    events = [client.receive_line(line) for line in _lines(server.data_to_send())]
    assert events == [Motd("src            \tsources"), Motd("a-long-module-name\t"), ListingDone()]
    assert not client.waiting


def test_early_input_comes_before_the_module_line() -> None:
    client = DaemonClient("src", early_input=b"token\nwith lines\n")
    server = DaemonServer()
    assert _greet(client, server) == (ModuleRequested("src", "src"), [])
    assert server.early_input == b"token\nwith lines\n"


@pytest.mark.parametrize("count", [b"0", b"5121", b"-1", b"x"])
def test_a_bad_early_input_length_is_refused(count: bytes) -> None:
    server = DaemonServer()
    server.data_to_send()
    server.receive_line(b"@RSYNCD: 32.0 md5")
    with pytest.raises(HandshakeError, match="invalid early_input length"):
        server.receive_line(b"#early_input=" + count)
    assert server.data_to_send() == b"@ERROR: invalid early_input length\n"


def test_an_error_line_ends_the_client() -> None:
    client = DaemonClient("nope")
    client.receive_line(b"@RSYNCD: 32.0 sha512 md5")
    with pytest.raises(RemoteError, match="Unknown module 'nope'") as info:
        client.receive_line(b"@ERROR: Unknown module 'nope'")
    assert info.value.exit_code == 5


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"HTTP/1.0 200 OK", 'server sent "HTTP/1.0 200 OK" rather than greeting'),
        (b"@RSYNCD: 32.0", "omitted the digest name list"),
        (b"@RSYNCD: 31", "omitted the subprotocol value"),
    ],
)
def test_the_client_names_a_bad_greeting(line: bytes, message: str) -> None:
    with pytest.raises(RsyncError, match=message) as info:
        DaemonClient("m").receive_line(line)
    assert info.value.exit_code == 5


def test_the_server_refuses_an_old_client_and_a_bad_greeting() -> None:
    server = DaemonServer()
    with pytest.raises(HandshakeError, match="we speak 27 to 32, client speaks 26"):
        server.receive_line(b"@RSYNCD: 26")
    assert server.data_to_send().endswith(
        b"@ERROR: protocol version mismatch: we speak 27 to 32, client speaks 26\n"
    )
    server = DaemonServer()
    with pytest.raises(HandshakeError, match="protocol startup error") as info:
        server.receive_line(b"GET / HTTP/1.1")
    assert info.value.exit_code == 2


def test_a_login_refusal_may_follow_a_refusal() -> None:
    server = DaemonServer()
    server.receive_line(b"@RSYNCD: 32.0 md5")
    server.receive_line(b"mod")
    server.data_to_send()
    server.refuse("your client does not support one of our daemon-auth checksums: md5")
    server.refuse("auth failed on module mod")
    assert server.data_to_send().count(b"@ERROR: ") == 2
    with pytest.raises(RuntimeError):
        server.accept()


def test_secluded_arguments_replace_the_paths_of_the_first_list() -> None:
    server = DaemonServer(ours=29)
    server.receive_line(b"@RSYNCD: 29")
    server.receive_line(b"mod")
    server.accept()
    first = None
    for arg in [b"--server", b"-s", b"(null)", b"mod/x", b""]:
        first = server.receive_arg(arg)
    assert first == Arguments([b"--server", b"-s", b"(null)", b"mod/x"])
    server.expect_secluded_args(first)
    assert server.arg_end == b"\0"  # NUL-separated whatever the protocol
    result = None
    for arg in [b"rsync", b"-r", b".", b"mod/a b", b""]:
        result = server.receive_arg(arg)
    assert result == Arguments([b"--server", b"-s", b"-r", b".", b"mod/a b"])


def test_too_many_arguments_are_refused() -> None:
    server = DaemonServer()
    server.receive_line(b"@RSYNCD: 32.0 md5")
    server.receive_line(b"mod")
    server.accept()
    for _ in range(MAX_DAEMON_ARGS - 2):  # arg0 and the terminator are counted by rsync
        assert server.receive_arg(b"-v") is None
    with pytest.raises(HandshakeError, match="too many daemon arguments"):
        server.receive_arg(b"-v")
