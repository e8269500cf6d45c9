"""The PROXY protocol header (HAProxy, versions 1 and 2) a proxy sends before the greeting.

With ``proxy protocol = yes`` every connection must start with one, and only peers
listed in ``proxy protocol hosts`` may send it (an empty list trusts nobody, as in
rsync 3.5). The client's address it carries replaces the socket's peer address for
``hosts allow``/``hosts deny``, the log and ``RSYNC_HOST_ADDR``.

rsync: clientname.c read_proxy_protocol_header(); clientserver.c proxy_peer_allowed().
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from rsync_wire.stream import WireStream

__all__ = ["V2_SIGNATURE", "ProxyHeaderError", "parse_v1", "parse_v2", "read_proxy_header"]

V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
_V2_HEADER = 16
_V1_MAX = 107  # "PROXY" line including CRLF, as rsync's 108-byte buffer
_V2_MAX_BODY = 216  # rsync's union: two 108-byte UNIX paths


class ProxyHeaderError(ValueError):
    """The connection did not start with a valid PROXY header."""


def _valid_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        msg = f"invalid address {text!r} in PROXY header"
        raise ProxyHeaderError(msg) from None


def parse_v1(line: bytes) -> str | None:
    """The source address of a version-1 line (with its CRLF), or None for UNKNOWN.

    Raises:
        ProxyHeaderError: the line is malformed.
    """
    if not line.endswith(b"\r\n") or b"\r" in line[:-2] or b"\n" in line[:-2]:
        msg = "PROXY v1 line without CRLF"
        raise ProxyHeaderError(msg)
    parts = line[:-2].decode("ascii", "replace").split(" ")
    if parts[0] != "PROXY" or len(parts) < 2:
        msg = "not a PROXY v1 line"
        raise ProxyHeaderError(msg)
    if parts[1] == "UNKNOWN":
        return None
    if parts[1] not in ("TCP4", "TCP6") or len(parts) != 6:
        msg = f"unsupported PROXY v1 line {line[:-2]!r}"
        raise ProxyHeaderError(msg)
    src = _valid_ip(parts[2])
    _valid_ip(parts[3])
    for port in parts[4:6]:
        if not port.isdigit() or int(port) == 0:
            msg = f"invalid port {port!r} in PROXY header"
            raise ProxyHeaderError(msg)
    return src


def parse_v2(header: bytes, body: bytes) -> str | None:
    """The source address of a version-2 header, or None (LOCAL, or a family not carried).

    Raises:
        ProxyHeaderError: a wrong version or command, or a body of the wrong size.
    """
    ver, cmd, fam = header[12] >> 4, header[12] & 0x0F, header[13]
    if ver != 2:
        msg = f"PROXY v2 header of version {ver}"
        raise ProxyHeaderError(msg)
    if cmd == 0:  # LOCAL: the proxy's own connection (health check)
        return None
    if cmd != 1:
        msg = f"PROXY v2 command {cmd}"
        raise ProxyHeaderError(msg)
    if fam == 0x11:
        if len(body) != 12:
            msg = "PROXY v2 TCP4 body of the wrong size"
            raise ProxyHeaderError(msg)
        return str(ipaddress.IPv4Address(body[:4]))
    if fam == 0x21:
        if len(body) != 36:
            msg = "PROXY v2 TCP6 body of the wrong size"
            raise ProxyHeaderError(msg)
        addr = ipaddress.IPv6Address(body[:16])
        return str(addr.ipv4_mapped or addr)
    return None  # other families: served with the socket's address, as rsync does


async def read_proxy_header(ws: WireStream) -> str | None:
    """Read the header from the connection; returns the client's address (None: keep).

    Raises:
        ProxyHeaderError: no valid header.
    """
    head = await ws.read_exact(12)
    if head == V2_SIGNATURE:
        rest = await ws.read_exact(_V2_HEADER - 12)
        header = head + rest
        size = int.from_bytes(header[14:16], "big")
        if size > _V2_MAX_BODY:
            msg = f"PROXY v2 header of {size} bytes"
            raise ProxyHeaderError(msg)
        body = await ws.read_exact(size) if size else b""
        return parse_v2(header, body)
    if not head.startswith(b"PROXY"):
        msg = "no PROXY header"
        raise ProxyHeaderError(msg)
    line = bytearray(head)
    while not line.endswith(b"\n"):
        if len(line) >= _V1_MAX:
            msg = "PROXY v1 line too long"
            raise ProxyHeaderError(msg)
        line += await ws.read_exact(1)
    return parse_v1(bytes(line))
