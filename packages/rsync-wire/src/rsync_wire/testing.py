"""Helpers for tests: two roles back to back in memory, without a process or a socket.

- :func:`memory_streams`: two connected anyio byte streams (what a socket pair would be).
- :func:`peer_pair`: a client and a server :class:`~rsync_wire.stream.WireStream` over
  such a pair, with the session both sides agreed on at a chosen protocol and the
  multiplexing switched on as that session has it, ready for a role on each end.
- :func:`copy_tree`: our sender (as a server) and our receiving side (generator and
  receiver, as a client) copying a directory over a pair: the code of a pull from a
  remote server, in one process.

Use them to test a role against ours (or a scripted peer) at every protocol from 27 to
32::

    from rsync_wire.testing import copy_tree

    stats = anyio.run(lambda: copy_tree(src, dest, protocol=29))

rsync: main.c local_server (rsync forks a server process; here it is a task).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import msgspec

from rsync_wire.proto.negotiate import Session
from rsync_wire.proto.options import TransferOptions
from rsync_wire.roles.local import local_session, memory_stream_pair, run_local_copy
from rsync_wire.roles.receive_state import ReceiveConfig
from rsync_wire.stream import WireStream

if TYPE_CHECKING:
    from anyio.abc import ByteStream

    from rsync_wire.roles.receive_state import ReceiveStats, Reporter

__all__ = ["PeerPair", "copy_tree", "memory_streams", "peer_pair"]

ARCHIVE = TransferOptions(
    sender=True,
    recursive=True,
    preserve_links=True,
    preserve_perms=True,
    preserve_times=True,
    preserve_gid=True,
    preserve_specials=True,
)
"""``-rlptg --specials`` for a pull: ``-a`` without what needs root (owners, devices)."""


def memory_streams(buffers: int = 16) -> tuple[ByteStream, ByteStream]:
    """Two connected in-memory byte streams; each direction holds ``buffers`` chunks."""
    return memory_stream_pair(buffers)


class PeerPair(msgspec.Struct, frozen=True, kw_only=True):
    """Both ends of a session in memory (see :func:`peer_pair`).

    Attributes:
        client: the client's stream (it reads multiplexed data, as a puller does).
        server: the server's stream.
        session: what the two agreed on (protocol, checksum, compat flags).
    """

    client: WireStream
    server: WireStream
    session: Session

    async def aclose(self) -> None:
        """Close both ends."""
        await self.client.aclose()
        await self.server.aclose()

    async def __aenter__(self) -> PeerPair:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def peer_pair(
    *, protocol: int = 32, incremental: bool = False, capabilities: str = ".LfxCvu"
) -> PeerPair:
    """A client and a server stream over memory, multiplexed as a session at ``protocol``.

    Use it as ``async with peer_pair(...) as pair:`` (or call ``pair.aclose()``).

    The server always multiplexes what it writes; the client multiplexes too where the
    session says so (protocol 30 and later, as rsync's ``need_messages_from_generator``).

    Args:
        protocol: the protocol both speak (27 to 32).
        incremental: offer incremental recursion (protocol 30 and later).
        capabilities: the client's ``-e`` capability letters (``i`` is added for
            ``incremental``).
    """
    letters = capabilities + ("i" if incremental and "i" not in capabilities else "")
    session = local_session(letters, protocol=protocol)
    client_end, server_end = memory_stream_pair()
    client = WireStream(client_end, client_end)
    server = WireStream(server_end, server_end)
    server.start_mux_out()
    client.start_mux_in()
    if session.mux_from_client:
        server.start_mux_in()
        client.start_mux_out()
    return PeerPair(client=client, server=server, session=session)


async def copy_tree(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    protocol: int = 32,
    incremental: bool = False,
    options: TransferOptions = ARCHIVE,
    config: ReceiveConfig | None = None,
    reporter: Reporter | None = None,
) -> ReceiveStats:
    """Copy ``source`` to ``dest`` with our sender and our receiving side, in memory.

    Args:
        source: the source; a trailing ``/`` copies its contents, as with rsync.
        dest: the destination directory.
        protocol: the protocol both sides speak.
        incremental: incremental recursion (protocol 30 and later).
        options: the transfer options (``sender`` is set: the server sends).
        config: the receiving side's settings.
        reporter: receives the receiving side's events (items, deletions, messages).

    Returns:
        What the receiving side counted.

    Raises:
        RsyncError: the session failed.
    """
    opts = msgspec.structs.replace(options, sender=True)
    return await run_local_copy(
        [os.fsencode(source)],
        os.fsencode(dest),
        opts,
        config or ReceiveConfig(),
        reporter,
        capabilities=".LfxCvu" + ("i" if incremental else ""),
        protocol=protocol,
    )
