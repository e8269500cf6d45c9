"""The sender's file data: never past the size it was given, --append, --inplace.

``SenderRole._send_data`` writes one file's tokens and checksum; these tests decode them
with the receiver's token decoder and rebuild the file the way a receiver does, including
in place (writing over the basis as it goes), which is where a block copied from behind
the write offset would corrupt the result.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

import anyio

from rsync_delta.hashes import ChecksumRule
from rsync_delta.signature import signature
from rsync_wire.fs import Root
from rsync_wire.proto.negotiate import Session
from rsync_wire.proto.options import TransferOptions
from rsync_wire.proto.sums import SumHead
from rsync_wire.proto.tokens import BlockRef, EndOfFile, Literal, TokenDecoder
from rsync_wire.roles.local import memory_stream_pair
from rsync_wire.roles.sender import SenderRole
from rsync_wire.stream import WireStream

if TYPE_CHECKING:
    from pathlib import Path

SESSION = Session(protocol=31, checksum="md5", seed=7)
RULE = ChecksumRule.for_session(protocol=31, negotiated=None, seed=7, seed_fix=False)


async def _send_async(
    tmp_path: Path,
    data: bytes,
    *,
    size: int,
    basis: bytes | None = None,
    block_length: int = 700,
    append: int = 0,
    updating: bool = False,
) -> tuple[list[object], bytes]:
    """Run _send_data over ``data`` (a file of that content); return events and checksum."""
    (tmp_path / "f").write_bytes(data)
    a, b = memory_stream_pair()
    ws = WireStream(a, a)
    root = Root(str(tmp_path))
    role = SenderRole(ws, SESSION, TransferOptions(), root, [b"f"])
    if basis is None:
        head, weak, strong = SumHead.empty(), None, b""
    else:
        sig = signature(basis, rule=RULE, block_length=block_length, strong_length=16)
        head = SumHead(sig.count, sig.block_length, sig.strong_length, sig.remainder)
        weak, strong = sig.weak, sig.strong
    received = bytearray()

    async def drain() -> None:
        try:
            while True:
                received.extend(await b.receive())
        except anyio.EndOfStream:
            pass

    fd = os.open(tmp_path / "f", os.O_RDONLY)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(drain)
            digest = await role._send_data(
                fd, size, head, weak, strong, append=append, updating=updating
            )
            await ws.flush()
            await a.send_eof()
    finally:
        os.close(fd)
        root.close()
        await a.aclose()
        await b.aclose()
    decoder = TokenDecoder(None, protocol=31)
    decoder.begin_file(block_count=head.count)
    events: list[object] = []
    pos = 0
    while True:
        event, pos = decoder.decode(received, pos)
        events.append(event)
        if isinstance(event, EndOfFile):
            break
    assert bytes(received[pos:]) == digest
    return events, digest


def _send(tmp_path: Path, data: bytes, **kwargs: object) -> tuple[list[object], bytes]:
    return anyio.run(lambda: _send_async(tmp_path, data, **kwargs))  # type: ignore[arg-type]


def _rebuild(events: list[object], basis: bytes, blen: int, *, in_place: bool) -> bytes:
    out = bytearray(basis) if in_place else bytearray()
    at = 0
    for event in events:
        if isinstance(event, Literal):
            chunk = bytes(event.data)
        elif isinstance(event, BlockRef):
            chunk = bytes((out if in_place else basis)[event.index * blen :][:blen])
            chunk = chunk[: len(basis) - event.index * blen]
        else:
            continue
        if in_place:
            out[at : at + len(chunk)] = chunk
        else:
            out += chunk
        at += len(chunk)
    return bytes(out[:at])


def _md5(data: bytes) -> bytes:
    h = RULE.file_hasher()
    h.update(data)
    return bytes(h.digest())


def test_whole_file_stops_at_the_size_given(tmp_path: Path) -> None:
    data = os.urandom(50_000)
    events, digest = _send(tmp_path, data, size=20_000)
    assert _rebuild(events, b"", 1, in_place=False) == data[:20_000]
    assert digest == _md5(data[:20_000])


def test_delta_stops_at_the_size_given(tmp_path: Path) -> None:
    """A file that grew after it was opened is sent at the size it had then."""
    data = os.urandom(600_000)
    events, digest = _send(tmp_path, data, size=300_000, basis=data[:200_000])
    assert _rebuild(events, data[:200_000], 700, in_place=False) == data[:300_000]
    assert digest == _md5(data[:300_000])
    assert any(isinstance(e, BlockRef) for e in events)


def test_append_sends_only_the_tail(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    kept = data[:3_000]
    events, digest = _send(tmp_path, data, size=10_000, basis=kept, append=1)
    assert not any(isinstance(e, BlockRef) for e in events)
    assert _rebuild(events, b"", 1, in_place=False) == data[3_000:]
    assert digest == _md5(data[3_000:])


def test_append_verify_checksums_the_whole_file(tmp_path: Path) -> None:
    data = os.urandom(10_000)
    events, digest = _send(tmp_path, data, size=10_000, basis=data[:3_000], append=2)
    assert _rebuild(events, b"", 1, in_place=False) == data[3_000:]
    assert digest == _md5(data)


def test_inplace_never_copies_an_overwritten_block(tmp_path: Path) -> None:
    rng = random.Random(5)  # noqa: S311 - test data, not secrets
    blocks = [rng.randbytes(700) for _ in range(40)]
    basis = b"".join(blocks)
    new = b"".join(blocks[20:] + blocks[:20])  # every block moved
    for updating in (False, True):
        events, _ = _send(tmp_path, new, size=len(new), basis=basis, updating=updating)
        rebuilt = _rebuild(events, basis, 700, in_place=True)
        # without the rule the first half's blocks are copied from where the second half
        # was already written; with it the result is right
        assert (rebuilt == new) is updating
        assert _rebuild(events, basis, 700, in_place=False) == new


def test_a_file_that_shrank_is_padded_and_its_checksum_spoiled(tmp_path: Path) -> None:
    """rsync's map_ptr(): zeros where the file ended early, and a checksum that fails."""
    data = os.urandom(5_000)
    events, digest = _send(tmp_path, data, size=8_000)
    assert _rebuild(events, b"", 1, in_place=False) == data + bytes(3_000)
    assert digest != _md5(data + bytes(3_000))
    assert digest == bytes(16)
