"""Daemon-mode text handshake: greetings, module selection and authentication (no I/O).

Both peers send ``@RSYNCD: <version>.<sub>[ <digest>...]`` at once; the client then
names a module (or asks for the listing), the server may challenge it, and answers
``@RSYNCD: OK`` or ``@ERROR: ...``. These functions format and parse those lines
and compute authentication responses; reading and writing them is the caller's job.
Randomness for challenges is a parameter.

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

from rsync_wire.errors import RemoteProtocolError
from rsync_wire.proto.constants import AUTH_DIGESTS

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "Greeting",
    "auth_response",
    "choose_auth_digest",
    "daemon_protocol",
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
