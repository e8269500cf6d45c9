"""``hosts allow`` / ``hosts deny`` matching.

rsync: access.c allow_access(): with only an allow list, everything else is denied;
with only a deny list, everything else is allowed; with both, allow wins, then deny,
then the default is allow. A token matches the client's address (an address, a
network ``addr/bits`` or ``addr/mask``, or a wildcard), or its host name from the
reverse lookup (a wildcard, compared without case); with ``forward lookup`` on, a
plain host name token is also resolved and compared with the client's address. A
*deny* token that does not resolve counts as a match (fail closed), as in rsync 3.5;
an allow token that does not resolve does not match. A non-ASCII token is compared in
its IDNA A-label form (rsync_wire.idn).
"""

from __future__ import annotations

import fnmatch
import ipaddress
from typing import TYPE_CHECKING

from rsync_wire.idn import idn_to_ascii

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["UNDETERMINED", "host_allowed"]

UNDETERMINED = "UNDETERMINED"
"""The host name when no reverse lookup was made (rsync: undetermined_hostname)."""


def _match_address(pattern: str, addr: str) -> bool:
    if "/" in pattern or _is_address(pattern):
        net: ipaddress.IPv4Network | ipaddress.IPv6Network | None
        try:
            net = ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            net = _masked(pattern)
        if net is None:
            return False
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        mapped = getattr(ip, "ipv4_mapped", None)
        return ip in net or (mapped is not None and mapped in net)
    return fnmatch.fnmatchcase(addr, pattern)


def _masked(pattern: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """``addr/mask`` with a dotted mask, as rsync accepts."""
    base, _, mask = pattern.partition("/")
    try:
        bits = bin(int(ipaddress.ip_address(mask))).count("1")
        return ipaddress.ip_network(f"{base}/{bits}", strict=False)
    except ValueError:
        return None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_plain_hostname(token: str) -> bool:
    """Rsync skips forward lookups of addresses and wildcards."""
    return bool(token.strip(".0123456789")) and not any(c in token for c in ":/*?[")


def _match(
    pattern: str,
    addr: str,
    host: str | None,
    *,
    deny: bool,
    resolve: Callable[[str], list[str] | None] | None,
    forward: bool,
) -> bool:
    pattern = pattern.lower()
    if _match_address(pattern, addr):
        return True
    if not host:
        return False
    # the peer's name comes from DNS as ASCII: a non-ASCII token is compared as A-labels
    pattern = idn_to_ascii(pattern) or pattern
    if fnmatch.fnmatchcase(host.lower(), pattern):
        return True
    if not forward or not _is_plain_hostname(pattern):
        return False
    found = resolve(pattern) if resolve is not None else None
    if not found:
        return deny  # cannot prove the client is not that host: a deny token fails closed
    return addr in found


def host_allowed(
    addr: str,
    host: str | None,
    allow: list[str],
    deny: list[str],
    *,
    resolve: Callable[[str], list[str] | None] | None = None,
    forward: bool = True,
) -> bool:
    """Whether a client at ``addr`` (host name ``host``) may use a module.

    Args:
        addr: the client's address.
        host: its host name from the reverse lookup, `UNDETERMINED` when none was
            made, or None (no host name matching at all).
        allow: the ``hosts allow`` tokens.
        deny: the ``hosts deny`` tokens.
        resolve: turns a host name into its addresses (empty: it does not resolve;
            None: cannot tell); without it, plain host name tokens cannot be checked.
        forward: the module's ``forward lookup``.
    """
    if allow and any(
        _match(p, addr, host, deny=False, resolve=resolve, forward=forward) for p in allow
    ):
        return True
    if allow and not deny:
        return False
    return not (
        deny
        and any(_match(p, addr, host, deny=True, resolve=resolve, forward=forward) for p in deny)
    )
