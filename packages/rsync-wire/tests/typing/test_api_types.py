"""rsync_wire's public names and rsync_wire.testing, checked by mypy and run as a test."""

from __future__ import annotations

from typing import TYPE_CHECKING, assert_type

import anyio

import rsync_wire
from rsync_wire import (
    MIN_PROTOCOL,
    OPTIONS,
    PROTOCOL_VERSION,
    ExitCode,
    Option,
    ReceiveStats,
    RsyncError,
    Session,
    TransferOptions,
    WireStream,
    by_long,
)
from rsync_wire.testing import PeerPair, copy_tree, peer_pair

if TYPE_CHECKING:
    from pathlib import Path


def test_public_names_and_testing_helpers(tmp_path: Path) -> None:
    assert (MIN_PROTOCOL, PROTOCOL_VERSION) == (27, 32)
    assert_type(OPTIONS, tuple[Option, ...])
    option = by_long("bwlimit")
    assert_type(option, Option | None)
    assert option is not None
    assert option.long == "bwlimit"
    assert RsyncError("x").exit_code is ExitCode.PROTOCOL
    assert_type(TransferOptions(sender=True).sender, bool)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_bytes(b"data")

    async def main() -> ReceiveStats:
        async with peer_pair(protocol=31) as pair:
            assert_type(pair, PeerPair)
            assert_type(pair.client, WireStream)
            assert_type(pair.session, Session)
        return await copy_tree(f"{tmp_path / 'src'}/", tmp_path / "dest", protocol=28)

    stats = anyio.run(main)
    assert_type(stats, ReceiveStats)
    assert stats.xferred_files == 1
    assert "WireStream" in rsync_wire.__all__
