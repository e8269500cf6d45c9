"""``rsync_wire.testing``: roles back to back in memory, at every protocol."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import anyio
import msgspec
import pytest

from rsync_wire.proto.constants import Msg
from rsync_wire.testing import ARCHIVE, PeerPair, copy_tree, memory_streams, peer_pair

if TYPE_CHECKING:
    from pathlib import Path

T = 1_500_000_000
PROTOCOLS = [27, 28, 29, 30, 31, 32]
SETUPS = [(p, False) for p in PROTOCOLS] + [(p, True) for p in (30, 31, 32)]


def _tree(root: Path) -> None:
    (root / "dir" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "small").write_bytes(b"small\n")
    (root / "dir" / "big").write_bytes(bytes(range(256)) * 3000)
    (root / "dir" / "deeper" / "leaf").write_bytes(b"leaf" * 100)
    (root / "run.sh").write_bytes(b"#!/bin/sh\n")
    (root / "run.sh").chmod(0o754)
    os.symlink("dir/big", root / "link")
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (T, T), follow_symlinks=False)
    os.utime(root, (T, T))


def _snapshot(root: Path) -> dict[str, tuple[str, int, int, bytes]]:
    """Every entry: its kind, permissions, mtime and content (or link target)."""
    seen = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            kind, data = "link", os.readlink(path).encode()
        elif stat.S_ISDIR(st.st_mode):
            kind, data = "dir", b""
        else:
            kind, data = "file", path.read_bytes()
        mtime = st.st_mtime_ns // 10**9 if kind != "link" else 0
        seen[str(path.relative_to(root))] = (kind, stat.S_IMODE(st.st_mode), mtime, data)
    return seen


@pytest.mark.parametrize(("protocol", "incremental"), SETUPS)
def test_copy_tree_then_a_delta_at_every_protocol(
    tmp_path: Path, protocol: int, incremental: bool
) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    _tree(src)
    stats = anyio.run(
        lambda: copy_tree(f"{src}/", dest, protocol=protocol, incremental=incremental)
    )
    assert _snapshot(dest) == _snapshot(src)
    assert stats.xferred_files == 4
    assert stats.literal_data == len(b"small\n") + 256 * 3000 + 400 + len(b"#!/bin/sh\n")
    # change one block of the big file: the receiving side rebuilds it from its own blocks
    big = bytearray((src / "dir" / "big").read_bytes())
    big[1000:1010] = b"0123456789"
    (src / "dir" / "big").write_bytes(big)
    os.utime(src / "dir" / "big", (T + 5, T + 5))
    (src / "small").unlink()
    options = msgspec.structs.replace(ARCHIVE, delete_mode="", whole_file=False)
    stats = anyio.run(
        lambda: copy_tree(
            f"{src}/", dest, protocol=protocol, incremental=incremental, options=options
        )
    )
    assert _snapshot(dest) == _snapshot(src)
    assert stats.xferred_files == 1
    assert stats.deleted_files == 1
    assert stats.matched_data > 256 * 3000 - 2 * 2048
    assert stats.literal_data < 2 * 2048


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_peer_pair_multiplexes_as_the_session_says(protocol: int) -> None:
    async def main() -> None:
        async with peer_pair(protocol=protocol) as pair:
            await exchange(pair)

    async def exchange(pair: PeerPair) -> None:
        assert pair.session.protocol == protocol
        messages: list[tuple[int, bytes]] = []
        pair.client.on_message = lambda code, payload: messages.append((code, bytes(payload)))
        pair.server.write_int32(123456)
        pair.server.queue_message(Msg.INFO, b"hello\n")
        pair.server.write_vstring(b"name")
        await pair.server.flush()
        assert await pair.client.read_int32() == 123456
        assert await pair.client.read_vstring() == b"name"
        assert messages == [(Msg.INFO, b"hello\n")]
        pair.client.write_int32(-1)
        await pair.client.flush()
        assert await pair.server.read_int32() == -1
        assert pair.client.mux_out == (protocol >= 30)

    anyio.run(main)


def test_memory_streams_carry_bytes_both_ways_and_end() -> None:
    async def main() -> None:
        a, b = memory_streams()
        await a.send(b"ping")
        assert await b.receive() == b"ping"
        await b.send(b"pong")
        assert await a.receive() == b"pong"
        await a.send_eof()
        with pytest.raises(anyio.EndOfStream):
            await b.receive()
        await a.aclose()
        await b.aclose()

    anyio.run(main)


@pytest.mark.parametrize(("protocol", "incremental"), SETUPS)
def test_sender_role_and_receiving_side_over_a_peer_pair(
    tmp_path: Path, protocol: int, incremental: bool
) -> None:
    """The two roles wired by hand over ``peer_pair``: a server sending a module's subtree
    with a filter of its own, and a client pulling it."""
    from rsync_wire.fs import Root
    from rsync_wire.proto.filters import FilterList, parse_rules
    from rsync_wire.roles.client import run_pull
    from rsync_wire.roles.receive_state import ReceiveConfig
    from rsync_wire.roles.sender import SenderRole

    src, dest = tmp_path / "src", tmp_path / "dest"
    _tree(src)
    (src / "dir" / "deeper" / "tool.sh").write_bytes(b"#!/bin/sh\n")
    rules = FilterList(protocol=protocol)
    for rule in parse_rules(b"- *.sh", protocol=protocol):
        rules.add_rule(rule)
    config = ReceiveConfig(filters=rules)

    async def main() -> int:
        async with peer_pair(protocol=protocol, incremental=incremental) as pair:
            root = Root(str(src))
            paths = [b"dir/", b"small", b"run.sh"]
            sender = SenderRole(pair.server, pair.session, ARCHIVE, root, paths)
            sent: list[int] = []

            async def serve() -> None:
                report = await sender.run()
                sent.append(report.exit_code)
                await pair.server.flush()

            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(serve)
                    stats = await run_pull(pair.client, pair.session, ARCHIVE, config, bytes(dest))
                    await pair.client.flush()
            finally:
                root.close()
            assert sent == [0]
            return stats.xferred_files

    assert anyio.run(main) == 3
    assert (dest / "big").read_bytes() == (src / "dir" / "big").read_bytes()
    assert (dest / "deeper" / "leaf").read_bytes() == b"leaf" * 100
    assert (dest / "small").read_bytes() == b"small\n"
    assert not (dest / "run.sh").exists()  # the client's rules apply
    assert not (dest / "deeper" / "tool.sh").exists()
