"""Daemon-mode text handshake: greetings, module selection and authentication (no I/O).

Both peers send ``@RSYNCD: <version>.<sub>[ <digest>...]`` at once; the client then
names a module (or asks for the listing), the server may challenge it, and answers
``@RSYNCD: OK`` or ``@ERROR: ...``; after OK the client sends its arguments.
:class:`DaemonClient` and :class:`DaemonServer` are the two sides as sans-IO machines:
lines in, events out, bytes to send; the functions below format and parse single lines
and compute authentication responses. Reading, writing and every policy decision (which
module, who may log in) are the caller's. Randomness for challenges is a parameter.

rsync: clientserver.c (exchange_protocols, start_inband_exchange, rsync_module),
authenticate.c.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import TYPE_CHECKING, Final

import msgspec

from rsync_wire.errors import ExitCode, RemoteError, RemoteProtocolError, RsyncError
from rsync_wire.proto.args import MAX_DAEMON_ARGS
from rsync_wire.proto.constants import AUTH_DIGESTS, MIN_PROTOCOL, PROTOCOL_VERSION

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "Accepted",
    "Arguments",
    "AuthRequested",
    "AuthResponse",
    "DaemonClient",
    "DaemonServer",
    "EarlyInput",
    "Greeting",
    "HandshakeError",
    "ListRequested",
    "ListingDone",
    "ModuleRequested",
    "Motd",
    "auth_response",
    "choose_auth_digest",
    "daemon_protocol",
    "encode_secluded_args",
    "format_greeting",
    "format_module_line",
    "make_challenge",
    "parse_greeting",
    "verify_response",
]

GREETING_PREFIX: Final = b"@RSYNCD: "
_GREETING_RE: Final = re.compile(rb"^@RSYNCD: (\d+)(?:\.(\d+))?(?: (.*))?$")


class Greeting(msgspec.Struct, frozen=True):
    """A peer's parsed greeting line.

    Attributes:
        version: the peer's protocol version.
        subprotocol: the pre-release number (0 for releases).
        digests: the daemon-auth digests it listed, or ``None`` when it sent no list.
    """

    version: int
    subprotocol: int
    digests: tuple[str, ...] | None


def format_greeting(protocol: int, digests: Sequence[str] = AUTH_DIGESTS) -> bytes:
    """Our greeting line, with the digest list (mandatory from protocol 32)."""
    line = f"@RSYNCD: {protocol}.0"
    if digests:
        line += " " + " ".join(digests)
    return line.encode("ascii") + b"\n"


def parse_greeting(line: bytes) -> Greeting:
    """Parse a peer's greeting line (without its newline).

    rsync: clientserver.c exchange_protocols().

    Raises:
        RemoteProtocolError: not a greeting, a missing subprotocol at 30+, or a missing digest
            list at 32+ (the message is the text rsync puts after ``@ERROR: ``).
    """
    m = _GREETING_RE.match(line)
    if m is None:
        msg = "protocol startup error"
        raise RemoteProtocolError(msg)
    version = _int32(m.group(1))
    if m.group(2) is None:
        if version >= 30:
            msg = f"your client omitted the subprotocol value: {line.decode('ascii', 'replace')}"
            raise RemoteProtocolError(msg)
        sub = 0
    else:
        sub = _int32(m.group(2))
    rest = m.group(3)
    digests: tuple[str, ...] | None
    if rest is None:
        if version >= 32:
            msg = f"your client omitted the digest name list: {line.decode('ascii', 'replace')}"
            raise RemoteProtocolError(msg)
        digests = None
    else:
        digests = tuple(rest.decode("ascii", "replace").lower().split())
    return Greeting(version, sub, digests)


def _int32(digits: bytes) -> int:
    """A greeting number; one that does not fit an ``int`` (rsync's sscanf ``%d``) is refused.

    Checked on the digits, before ``int()``: Python refuses to convert more than 4,300
    digits, and a hostile greeting can carry 5,000.
    """
    stripped = digits.lstrip(b"0") or b"0"
    if len(stripped) > 10 or int(stripped) > 0x7FFFFFFF:
        shown = digits[:20].decode("ascii") + ("..." if len(digits) > 20 else "")
        msg = f"protocol startup error: version number {shown} is out of range"
        raise RemoteProtocolError(msg)
    return int(stripped)


def daemon_protocol(ours: int, peer: Greeting) -> int:
    """The session's protocol after the greetings.

    rsync: compat.c / clientserver.c (remote_sub handling).
    """
    if ours > peer.version:
        return peer.version - (1 if peer.subprotocol else 0)
    if ours == peer.version and peer.subprotocol:
        return ours - 1
    return ours


def choose_auth_digest(ours: Sequence[str], peer: Greeting, *, protocol: int) -> str | None:
    """The daemon-auth digest, or ``None`` when there is no common one.

    Without a list from the peer, protocol 30+ implies ``md5`` and older ones the legacy
    MD4 (returned as ``"md4-legacy"``).
    """
    if peer.digests is None:
        return "md5" if protocol >= 30 else "md4-legacy"
    for name in ours:
        if name in peer.digests:
            return name
    return None


def _digest(name: str, data: bytes) -> bytes:
    if name == "md4-legacy":
        from Crypto.Hash import MD4

        # Protocol < 30 peers only speak MD4.
        return bytes(MD4.new(b"\0\0\0\0" + data).digest())  # noqa: S303
    if name == "md4":
        from Crypto.Hash import MD4

        return bytes(MD4.new(data).digest())  # noqa: S303 - chosen from the peer's list
    # Daemon auth needs the digest the peer speaks; the old ones are what old peers have.
    return hashlib.new(name, data).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def make_challenge(digest: str, random_bytes: bytes) -> str:
    """A challenge string: the unpadded base64 of a digest over caller-supplied random bytes."""
    return _b64(_digest(digest, random_bytes))


def auth_response(digest: str, password: bytes, challenge: str) -> str:
    """The client's response: base64 (no padding) of H(password || challenge).

    rsync: authenticate.c generate_hash().
    """
    return _b64(_digest(digest, password + challenge.encode("ascii")))


def verify_response(digest: str, password: bytes, challenge: str, response: str) -> bool:
    """Compare a client's response in constant time."""
    return hmac.compare_digest(auth_response(digest, password, challenge), response)


def format_module_line(name: str, comment: str) -> bytes:
    """One line of the module listing: the name padded to 15 columns, a TAB, the comment."""
    return f"{name:<15}\t{comment}\n".encode()


# -- the two sides as machines ---------------------------------------------------------------

MAX_EARLY_INPUT: Final = 5120  # rsync: clientserver.c BIGPATHBUFLEN
MAX_ARG_LENGTH: Final = 8192  # one argument of the daemon's list (rsync: io.c read_args())


class Motd(msgspec.Struct, frozen=True):
    """A line of the daemon's message of the day (or of the module listing)."""

    text: str


class AuthRequested(msgspec.Struct, frozen=True):
    """The module wants a login: answer with :meth:`DaemonClient.authenticate`."""

    challenge: str
    digest: str


class Accepted(msgspec.Struct, frozen=True):
    """``@RSYNCD: OK``: send the arguments with :meth:`DaemonClient.send_args`."""

    protocol: int


class ListingDone(msgspec.Struct, frozen=True):
    """``@RSYNCD: EXIT``: the module listing is complete."""


class EarlyInput(msgspec.Struct, frozen=True):
    """The client announced ``count`` bytes of ``--early-input``: read them raw."""

    count: int


class ListRequested(msgspec.Struct, frozen=True):
    """The client asked for the module listing (an empty line or ``#list``)."""


class ModuleRequested(msgspec.Struct, frozen=True):
    """The client named a module (``request`` is the whole line, ``name`` its first part)."""

    name: str
    request: str


class AuthResponse(msgspec.Struct, frozen=True):
    """The client's login line: a user and its response (either may be empty)."""

    user: str
    response: str


class Arguments(msgspec.Struct, frozen=True):
    """The client's complete argument list."""

    argv: list[bytes]


class HandshakeError(RemoteProtocolError):
    """The server refused the client; the ``@ERROR`` line is queued for it.

    Raised by :class:`DaemonServer` on input that breaks the handshake's rules; the
    caller sends what :meth:`DaemonServer.data_to_send` holds and ends the connection
    with :attr:`exit_code`.
    """


def _text(line: bytes) -> str:
    return line.decode("utf-8", "backslashreplace")


def encode_secluded_args(args: Sequence[str]) -> bytes:
    """``-s``: the arguments after the cut, NUL-separated behind the arg0 ``rsync``.

    An empty argument goes as ``.``; an empty one ends the list.

    rsync: rsync.c send_protected_args().
    """
    out = bytearray(b"rsync\0")
    for arg in args:
        out += (arg.encode("utf-8", "surrogateescape") or b".") + b"\0"
    out += b"\0"
    return bytes(out)


class DaemonClient:
    """The client's side of the daemon handshake.

    Write :meth:`data_to_send`, hand each line read to :meth:`receive_line`, act on its
    event: :class:`Motd` (show it), :class:`AuthRequested` (:meth:`authenticate`),
    :class:`Accepted` (:meth:`send_args`) or :class:`ListingDone`. An ``@ERROR`` line
    raises :class:`~rsync_wire.errors.RemoteError`; a line that is not a greeting raises
    :class:`~rsync_wire.errors.RsyncError`, both with rsync's exit code 5.

    rsync: clientserver.c start_inband_exchange(), authenticate.c auth_client().
    """

    def __init__(
        self,
        module: str,
        *,
        ours: int = PROTOCOL_VERSION,
        digests: Sequence[str] = AUTH_DIGESTS,
        early_input: bytes = b"",
    ) -> None:
        self.module = module
        self.ours = ours
        self.digests = tuple(digests)
        self.protocol: int | None = None
        self.greeting: Greeting | None = None
        self._early_input = early_input
        self._out = bytearray(format_greeting(ours, digests))
        self._state = "greeting"

    def data_to_send(self) -> bytes:
        """The bytes to write now (then flush)."""
        data = bytes(self._out)
        self._out.clear()
        return data

    @property
    def waiting(self) -> bool:
        """Whether the machine waits for a line from the server."""
        return self._state in ("greeting", "reply")

    def receive_line(self, line: bytes) -> Motd | AuthRequested | Accepted | ListingDone | None:
        """Hand over one line from the server (without its newline); the event it makes."""
        if self._state == "greeting":
            self._greeting(line)
            return None
        if self._state != "reply":
            msg = f"no line expected from the server now ({self._state})"
            raise RuntimeError(msg)
        if line.startswith(b"@RSYNCD: AUTHREQD "):
            greeting, protocol = self.greeting, self.protocol
            if greeting is None or protocol is None:  # pragma: no cover - set by _greeting
                raise RuntimeError(self._state)
            digest = choose_auth_digest(self.digests, greeting, protocol=protocol)
            if digest is None:
                msg = "rsync: no common daemon-auth digest with the server"
                raise RsyncError(msg, exit_code=ExitCode.STARTCLIENT)
            self._state = "auth"
            return AuthRequested(line[18:].decode("ascii", "replace"), digest)
        if line == b"@RSYNCD: OK":
            self._state = "args"
            return Accepted(self.protocol or 0)
        if line == b"@RSYNCD: EXIT":
            self._state = "done"
            return ListingDone()
        if line.startswith(b"@ERROR"):
            self._state = "done"
            raise RemoteError(_text(line), exit_code=ExitCode.STARTCLIENT)
        return Motd(_text(line))

    def authenticate(self, user: str, digest: str, password: bytes, challenge: str) -> None:
        """Answer an :class:`AuthRequested`."""
        self._expect("auth")
        response = auth_response(digest, password, challenge)
        self._out += f"{user} {response}\n".encode()
        self._state = "reply"

    def send_args(self, args: Sequence[str], *, secluded: Sequence[str] | None = None) -> None:
        """Send the argument list after :class:`Accepted`.

        NUL-terminated from protocol 30, newline-terminated before; an empty one ends it.
        With ``secluded`` (``-s``), ``args`` is only what precedes rsync's cut (``--server``
        and the option letters) and ``secluded`` the rest (``.`` and the paths included):
        they follow as a second, NUL-separated list behind a new arg0 (below protocol 30
        rsync's first list carries them too, after a ``(null)``).

        rsync: clientserver.c start_inband_exchange(), rsync.c send_protected_args().
        """
        self._expect("args")
        end = b"\0" if (self.protocol or 0) >= 30 else b"\n"
        first = list(args)
        if secluded is not None and end == b"\n":
            first += ["(null)", *secluded]  # rsync prints the whole vector, its NULL too
        for arg in first:
            self._out += arg.encode("utf-8", "surrogateescape") + end
        self._out += end
        if secluded is not None:
            self._out += encode_secluded_args(secluded)
        self._state = "done"

    def _expect(self, state: str) -> None:
        if self._state != state:
            msg = f"the handshake is at {self._state!r}, not {state!r}"
            raise RuntimeError(msg)

    def _greeting(self, line: bytes) -> None:
        try:
            greeting = parse_greeting(line)
        except RsyncError:
            text = _text(line)
            if not text.startswith("@RSYNCD: "):
                msg = f'rsync: server sent "{text}" rather than greeting'
            elif " " not in text[9:] and text[9:11].isdigit() and int(text[9:11]) >= 32:
                msg = f"rsync: the server omitted the digest name list: {text}"
            else:
                msg = f"rsync: the server omitted the subprotocol value: {text}"
            raise RsyncError(msg, exit_code=ExitCode.STARTCLIENT) from None
        self.greeting = greeting
        self.protocol = daemon_protocol(self.ours, greeting)
        if self._early_input:
            self._out += b"#early_input=%d\n" % len(self._early_input) + self._early_input
        self._out += self.module.encode("utf-8", "surrogateescape") + b"\n"
        self._state = "reply"


class DaemonServer:
    """The daemon's side of the handshake, up to the client's arguments.

    Write :meth:`data_to_send`; hand each line to :meth:`receive_line` and act on its
    event: the client's :class:`Greeting`, :class:`EarlyInput` (read the bytes, then
    :meth:`receive_early_input`), :class:`ListRequested` (:meth:`list_modules`),
    :class:`ModuleRequested` (decide, then :meth:`refuse`, :meth:`challenge` or
    :meth:`accept`), :class:`AuthResponse`. After :meth:`accept`, read arguments up to
    :attr:`arg_end` each and hand them to :meth:`receive_arg` until it returns
    :class:`Arguments`. Input that breaks the rules queues rsync's ``@ERROR`` line and
    raises :class:`HandshakeError`.

    rsync: clientserver.c start_daemon(), rsync_module(), io.c read_args().
    """

    def __init__(
        self,
        *,
        ours: int = PROTOCOL_VERSION,
        motd: bytes = b"",
        digests: Sequence[str] = AUTH_DIGESTS,
    ) -> None:
        self.ours = ours
        self.protocol = ours
        self.greeting: Greeting | None = None
        self._out = bytearray(format_greeting(ours, digests))
        if motd:
            self._out += motd[: 64 * 1024].rstrip(b"\n") + b"\n\n"
        self._state = "greeting"
        self.early_input = b""
        self._argv: list[bytes] = []
        self._first: list[bytes] | None = None

    def data_to_send(self) -> bytes:
        """The bytes to write now (then flush)."""
        data = bytes(self._out)
        self._out.clear()
        return data

    def _expect(self, *states: str) -> None:
        if self._state not in states:
            msg = f"the handshake is at {self._state!r}, not {' or '.join(states)}"
            raise RuntimeError(msg)

    def _refuse(self, message: str, code: ExitCode) -> HandshakeError:
        self.refuse(message)
        return HandshakeError(message, exit_code=code)

    def receive_line(
        self, line: bytes
    ) -> Greeting | EarlyInput | ListRequested | ModuleRequested | AuthResponse:
        """Hand over one line from the client (without its newline); the event it makes."""
        self._expect("greeting", "request", "auth")
        if self._state == "greeting":
            try:
                greeting = parse_greeting(line)
            except RemoteProtocolError as exc:
                raise self._refuse(str(exc), ExitCode.PROTOCOL) from None
            protocol = daemon_protocol(self.ours, greeting)
            if protocol < MIN_PROTOCOL:
                message = (
                    f"protocol version mismatch: we speak {MIN_PROTOCOL} to {self.ours}, "
                    f"client speaks {greeting.version}"
                )
                raise self._refuse(message, ExitCode.PROTOCOL)
            self.greeting, self.protocol = greeting, protocol
            self._state = "request"
            return greeting
        text = line.decode("utf-8", "surrogateescape")
        if self._state == "auth":
            user, _, response = text.partition(" ")
            self._state = "decide"
            return AuthResponse(user, response)
        if text.startswith("#early_input="):
            try:
                count = int(text.split("=", 1)[1])
            except ValueError:
                count = -1
            if not 0 < count <= MAX_EARLY_INPUT:
                message = "invalid early_input length"
                raise self._refuse(message, ExitCode.PROTOCOL)
            self._state = "early"
            return EarlyInput(count)
        if text in ("", "#list"):
            self._state = "listing"
            return ListRequested()
        if text.startswith("#"):
            message = f"Unknown command '{text}'"
            raise self._refuse(message, ExitCode.STARTCLIENT)
        self._state = "decide"
        return ModuleRequested(text.split("/", 1)[0], text)

    def receive_early_input(self, data: bytes) -> None:
        """The bytes an :class:`EarlyInput` announced; the module line follows."""
        self._expect("early")
        self.early_input = data
        self._state = "request"

    def list_modules(self, modules: Sequence[tuple[str, str]]) -> None:
        """Answer a :class:`ListRequested` with ``(name, comment)`` pairs; the end."""
        self._expect("listing")
        for name, comment in modules:
            self._out += format_module_line(name, comment)
        self._out += b"@RSYNCD: EXIT\n"
        self._state = "done"

    def refuse(self, message: str) -> None:
        """Send ``@ERROR: message``; the handshake ends.

        rsync sends a second ``@ERROR`` line in one case (a login refused before its
        challenge, then "auth failed on module"), so a refusal may follow a refusal.
        """
        self._expect("greeting", "request", "early", "listing", "decide", "auth", "refused")
        self._out += f"@ERROR: {message}\n".encode("utf-8", "backslashreplace")
        self._state = "refused"

    def challenge(self, digest: str, random_bytes: bytes) -> str:
        """Ask for a login with a fresh challenge; the client's :class:`AuthResponse` follows."""
        self._expect("decide")
        text = make_challenge(digest, random_bytes)
        self._out += f"@RSYNCD: AUTHREQD {text}\n".encode("ascii")
        self._state = "auth"
        return text

    def accept(self) -> None:
        """``@RSYNCD: OK``: the client's arguments follow."""
        self._expect("decide")
        self._out += b"@RSYNCD: OK\n"
        self._state = "args"

    @property
    def arg_end(self) -> bytes:
        """What ends each argument now: NUL from protocol 30 (and for secluded args)."""
        return b"\0" if self.protocol >= 30 or self._first is not None else b"\n"

    def receive_arg(self, arg: bytes) -> Arguments | None:
        """One argument (without its terminator); the whole list once an empty one ends it.

        Raises:
            HandshakeError: too many arguments (rsync: io.c read_args()).
        """
        self._expect("args")
        if arg:
            if len(self._argv) >= MAX_DAEMON_ARGS - 2:
                self._state = "done"
                msg = "too many daemon arguments"
                raise HandshakeError(msg, exit_code=ExitCode.PROTOCOL)
            self._argv.append(arg)
            return None
        argv, self._argv = self._argv, []
        if self._first is not None:
            # rsync: clientserver.c rsync_module() (the secluded list replaces what follows
            # "." -- or "(null)" below protocol 30 -- in the first, without its arg0)
            first = self._first
            cut = next((i for i, a in enumerate(first) if a in (b".", b"(null)")), len(first))
            argv = first[:cut] + argv[1:]
        self._state = "done"
        return Arguments(argv)

    def expect_secluded_args(self, first: Arguments) -> None:
        """The first list asked for ``-s`` (``--secluded-args``): a NUL-separated one follows."""
        self._expect("done")
        self._first = first.argv
        self._state = "args"
