"""Batch files: the stream-flags word, the replay script, the tee and the diversion.

The byte-level interop (rsync writes, we read, and the other way round) is tested in
tests-integration/test_batch.py; these pin the pieces rsync's batch.c defines exactly.
"""

from __future__ import annotations

import anyio
import pytest

from rsync_wire.errors import RsyncError
from rsync_wire.proto.options import TransferOptions
from rsync_wire.roles.batch import apply_stream_flags, shell_script, stream_flags
from rsync_wire.roles.local import memory_stream_pair
from rsync_wire.stream import WireStream


def _archive() -> TransferOptions:
    return TransferOptions(
        recursive=True,
        preserve_uid=True,
        preserve_gid=True,
        preserve_links=True,
        preserve_devices=True,
        preserve_specials=True,
        preserve_times=True,
        preserve_perms=True,
    )


def test_archive_flags_are_rsyncs() -> None:
    # rsync -a --write-batch: r, o, g, l, D and (from -r) the dirs bit: 0x9f
    assert stream_flags(_archive()) == 0x9F
    assert stream_flags(TransferOptions(compress=True, recursive=True)) == 0x181
    assert stream_flags(TransferOptions(append=2)) == 1 << 14


def test_reading_sets_what_the_batch_says() -> None:
    opts = TransferOptions()
    lines = apply_stream_flags(0x9F | 1 << 6, opts, protocol=32)
    assert opts.recursive
    assert opts.preserve_uid
    assert opts.preserve_links
    assert opts.preserve_devices
    assert opts.preserve_specials
    assert opts.always_checksum
    assert "Setting the --checksum (-c) option to match the batchfile." in lines
    cleared = TransferOptions(preserve_hard_links=1)
    assert apply_stream_flags(0, cleared, protocol=32) == [
        "Clearing the --hard-links (-H) option to match the batchfile."
    ]
    assert cleared.preserve_hard_links == 0


def test_flags_above_the_batchs_protocol_are_not_read() -> None:
    opts = TransferOptions()
    assert apply_stream_flags(1 << 8, opts, protocol=28) == []
    assert not opts.compress
    with pytest.raises(RsyncError, match="Please specify the --iconv option"):
        apply_stream_flags(1 << 9, TransferOptions(), protocol=30)


def test_replay_script_quotes_as_rsync() -> None:
    text = shell_script(
        ["rsync", "-av", "--write-batch=my batch", "--exclude=x", "src/", "it's/"],
        ["src/", "it's/"],
        [],
        protocol=32,
        dest="it's/",
    )
    assert text == b"'rsync' '-av' --read-batch='my batch' ${1:-'it'\\''s/'}\n"


def test_replay_script_option_prefix_with_metacharacters_is_quoted_whole() -> None:
    text = shell_script(
        ["rsync", "--only-write-batch=b", "--log-file=`id`.log", "--bad`x`=1", "s", "d"],
        ["s", "d"],
        [],
        protocol=32,
        dest="d",
    )
    assert text == b"'rsync' --read-batch='b' --log-file='`id`.log' '--bad`x`=1' ${1:-'d'}\n"


def test_replay_script_gives_the_filter_rules_back() -> None:
    text = shell_script(
        ["rsync", "-a", "--write-batch=B", "-f", "- a", "--exclude", "b", "s/", "d/"],
        ["s/", "d/"],
        [b"- a", b"- b"],
        protocol=32,
        dest="d/",
    )
    assert text == (
        b"'rsync' --filter='._-' '-a' --read-batch='B' ${1:-'d/'} <<'#E#'\n- a\n- b\n#E#\n"
    )
    old = shell_script(
        ["rsync", "--write-batch=B", "s", "d"], ["s", "d"], [b"- a"], protocol=28, dest="d"
    )
    assert old.startswith(b"'rsync' --exclude-from='-' --read-batch='B'")
    with pytest.raises(RsyncError, match="containing a newline"):
        shell_script(["rsync", "s", "d"], ["s", "d"], [b"- a\n#E#"], protocol=32, dest="d")


def test_tee_records_what_is_consumed_and_written() -> None:
    async def main() -> None:
        a, b = memory_stream_pair()
        left, right = WireStream(a, a), WireStream(b, b)
        seen_in: list[bytes] = []
        seen_out: list[bytes] = []
        left.write(b"before")
        left.tee_output(seen_out.append)
        left.write_int32(7)
        await left.flush()
        left.divert_output(seen_out.append)  # the data goes to the batch only
        left.write(b"DATA")
        await left.flush()
        left.divert_output(None)
        left.write(b"after")
        await left.flush()
        left.tee_output(None)
        assert await right.read_exact(6) == b"before"
        right.tee_input(seen_in.append)
        assert await right.read_int32() == 7
        assert await right.read_exact(5) == b"after"
        right.tee_input(None)
        assert b"".join(seen_out) == b"\x07\x00\x00\x00DATAafter"
        assert b"".join(seen_in) == b"\x07\x00\x00\x00after"
        await a.aclose()
        await b.aclose()

    anyio.run(main)
