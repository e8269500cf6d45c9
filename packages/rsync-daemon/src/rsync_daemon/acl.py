"""``hosts allow`` / ``hosts deny`` matching.

rsync: access.c allow_access(): with only an allow list, everything else is denied;
with only a deny list, everything else is allowed; with both, allow wins, then deny,
then the default is allow.
"""

from __future__ import annotations

import fnmatch
import ipaddress

__all__ = ["host_allowed"]


def _match(pattern: str, addr: str, host: str | None) -> bool:
    try:
        net = ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        pass
    else:
        try:
            return ipaddress.ip_address(addr) in net
        except ValueError:
            return False
    if fnmatch.fnmatchcase(addr, pattern):
        return True
    return host is not None and fnmatch.fnmatchcase(host.lower(), pattern.lower())


def host_allowed(addr: str, host: str | None, allow: list[str], deny: list[str]) -> bool:
    """Whether a client at ``addr`` (resolved name ``host``) may use a module."""
    if allow and any(_match(p, addr, host) for p in allow):
        return True
    if deny and any(_match(p, addr, host) for p in deny):
        return False
    return not allow
