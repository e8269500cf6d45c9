"""Drives :class:`~rsync_wire.proto.negotiate.Negotiation` over a connection, for either side.

rsync: compat.c setup_protocol().
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from rsync_wire.proto.negotiate import Negotiation, Session
    from rsync_wire.stream import WireStream

__all__ = ["negotiate"]


async def negotiate(
    ws: WireStream, machine: Negotiation, check: Callable[[int], None] | None = None
) -> Session:
    """Write what the machine has to say, read what it expects, until it holds the session.

    ``check`` sees the protocol once it is agreed, before anything else is read (rsync:
    compat.c setup_protocol() refuses options the protocol cannot carry there).
    """
    checked = False
    while True:
        if check is not None and not checked and machine.protocol is not None:
            checked = True
            check(machine.protocol)
        data = machine.data_to_send()
        if data:
            ws.write(data)
            await ws.flush()
        decoder = machine.expecting
        if decoder is None:
            break
        machine.receive(await ws.decode(decoder))
    if machine.session is None:  # it expects nothing more only once it is done
        msg = "negotiation stopped before the session was agreed"
        raise RuntimeError(msg)
    return machine.session
