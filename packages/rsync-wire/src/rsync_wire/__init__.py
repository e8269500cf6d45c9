"""rsync_wire: the rsync protocol (27 to 32), sans-IO codecs and the transfer roles.

The public interface is ``__all__`` (listed in README.md, "Public interface"), plus the
module :mod:`rsync_wire.testing`; every other name is internal and may change between
versions. The names load on first use, so that importing one codec does not load the
roles.

- errors, each with rsync's exit code: :class:`RsyncError`, :class:`ExitCode`,
  :class:`ProtocolError`, :class:`LocalProtocolError`, :class:`RemoteProtocolError`,
  :class:`RemoteError`, :class:`UnsupportedError`, :class:`ConnectionLost`;
- the protocol range: :data:`PROTOCOL_VERSION`, :data:`MIN_PROTOCOL`;
- options: the one table (:data:`OPTIONS`, :class:`Option`, :class:`Arg`, :class:`Role`,
  :func:`by_long`, :func:`by_short`) and the options a session obeys
  (:class:`TransferOptions`);
- a session: :class:`Session` (what both sides agreed), :class:`WireStream` (the edge
  between a byte stream and the codecs), :class:`Root` (paths confined to a directory);
- the roles: :func:`run_server` (a server after its preamble), :func:`run_pull` (a
  client's receiving side), :func:`run_local_copy` (both sides in one process),
  :class:`ModuleContext` (what a daemon module imposes), :class:`ReceiveConfig`,
  :class:`ReceiveStats` and :class:`Reporter` (the receiving side's settings,
  statistics and events).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rsync_wire.errors import (
        ConnectionLost,
        ExitCode,
        LocalProtocolError,
        ProtocolError,
        RemoteError,
        RemoteProtocolError,
        RsyncError,
        UnsupportedError,
    )
    from rsync_wire.fs import Root
    from rsync_wire.proto.constants import MIN_PROTOCOL, PROTOCOL_VERSION
    from rsync_wire.proto.negotiate import Session
    from rsync_wire.proto.optable import OPTIONS, Arg, Option, Role, by_long, by_short
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.roles.client import run_pull
    from rsync_wire.roles.local import run_local_copy
    from rsync_wire.roles.module import ModuleContext
    from rsync_wire.roles.receive_state import ReceiveConfig, ReceiveStats, Reporter
    from rsync_wire.roles.server import run_server
    from rsync_wire.stream import WireStream

_HOMES = {
    "ConnectionLost": "rsync_wire.errors",
    "ExitCode": "rsync_wire.errors",
    "LocalProtocolError": "rsync_wire.errors",
    "ProtocolError": "rsync_wire.errors",
    "RemoteError": "rsync_wire.errors",
    "RemoteProtocolError": "rsync_wire.errors",
    "RsyncError": "rsync_wire.errors",
    "UnsupportedError": "rsync_wire.errors",
    "MIN_PROTOCOL": "rsync_wire.proto.constants",
    "PROTOCOL_VERSION": "rsync_wire.proto.constants",
    "OPTIONS": "rsync_wire.proto.optable",
    "Arg": "rsync_wire.proto.optable",
    "Option": "rsync_wire.proto.optable",
    "Role": "rsync_wire.proto.optable",
    "by_long": "rsync_wire.proto.optable",
    "by_short": "rsync_wire.proto.optable",
    "TransferOptions": "rsync_wire.proto.options",
    "Session": "rsync_wire.proto.negotiate",
    "WireStream": "rsync_wire.stream",
    "Root": "rsync_wire.fs",
    "run_server": "rsync_wire.roles.server",
    "run_pull": "rsync_wire.roles.client",
    "run_local_copy": "rsync_wire.roles.local",
    "ModuleContext": "rsync_wire.roles.module",
    "ReceiveConfig": "rsync_wire.roles.receive_state",
    "ReceiveStats": "rsync_wire.roles.receive_state",
    "Reporter": "rsync_wire.roles.receive_state",
}

__all__ = [
    "MIN_PROTOCOL",
    "OPTIONS",
    "PROTOCOL_VERSION",
    "Arg",
    "ConnectionLost",
    "ExitCode",
    "LocalProtocolError",
    "ModuleContext",
    "Option",
    "ProtocolError",
    "ReceiveConfig",
    "ReceiveStats",
    "RemoteError",
    "RemoteProtocolError",
    "Reporter",
    "Role",
    "Root",
    "RsyncError",
    "Session",
    "TransferOptions",
    "UnsupportedError",
    "WireStream",
    "by_long",
    "by_short",
    "run_local_copy",
    "run_pull",
    "run_server",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    import importlib

    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
