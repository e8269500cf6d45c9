"""Decode token streams written by the real rsync, taken from its batch files.

``rsync --only-write-batch=FILE`` records, after a small header, every byte the sending
side writes: file list, then per file the echoed index and sum header, the token stream
and the whole-file checksum. What batch mode showed (rsync 3.5.0):

* the batch holds the *compressed* token stream when ``-z`` is given (the stream-flags
  word has bit 8, ``--compress``, set);
* only old-style ``zlib`` is possible: ``--write-batch`` makes rsync negotiate from the
  list "zlib" (man page: "batch mode is not compatible with newer compression choices
  such as zstd or lz4"), so ``--compress-choice=zlibx/zstd/lz4`` is refused by the
  receiving side and no batch is written. zlibx, zstd and lz4 interop is left to the
  end-to-end tests against a real peer.
* the whole-file checksum after the stream is MD5 (protocol >= 30) or MD4 of the
  little-endian seed followed by the data (below 30).

We do not parse the file list here: the sum header of each file is found by its known
(count, block length) or, for whole-file transfers, the all-zero header; every candidate
position is tried and must either fail with a protocol error or rebuild the file exactly.

The other direction: our encoder re-encodes the decoded operations, the result replaces
rsync's token streams inside the batch file, and ``rsync --read-batch`` must rebuild the
files from it (it verifies each file's checksum). Plain streams come out byte-identical
to rsync's; zlib streams decode to the same data (with the system zlib here they were
identical for the delta cases; whole-file pieces differ because rsync also emits a
partial DEFLATED_DATA after every 32 KiB of input).
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import shutil
import struct
import subprocess
from typing import TYPE_CHECKING

import pytest
from Crypto.Hash import MD4

from rsync_wire.errors import RemoteProtocolError
from rsync_wire.proto.codec import NeedMoreData, decode_varint
from rsync_wire.proto.tokens import BlockRef, EndOfFile, Literal, TokenDecoder, TokenEncoder

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.interop

PROTOCOLS = range(27, 33)


@pytest.fixture(scope="module")
def real_rsync() -> str:
    path = shutil.which("rsync")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("the real rsync is required when CI is set")
        pytest.skip("rsync is not installed")
    return path


def rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible test data, not secrets


def text(n: int, seed: int) -> bytes:
    r = rng(seed)
    words = [b"rsync", b"delta", b"token", b"block", b"stream", b"zlib", b"history"]
    out = bytearray()
    while len(out) < n:
        out += b" ".join(r.choice(words) for _ in range(r.randint(3, 12))) + b"\n"
    return bytes(out[:n])


def block_length(size: int) -> int:
    """rsync's default block size (docs/protocol.md §11.2) for the sizes used here."""
    return 700 if size <= 490_000 else max(700, math.isqrt(size) // 8 * 8)


class FileCase:
    def __init__(self, name: str, basis: bytes, new: bytes, blength: int | None) -> None:
        self.name = name
        self.basis = basis
        self.new = new
        self.blength = blength  # None: whole-file transfer (all-zero sum header)
        if blength:
            self.count = -(-len(basis) // blength)
            self.blocks = [basis[i : i + blength] for i in range(0, len(basis), blength)]
        else:
            self.count = 0
            self.blocks = []


def scenario(name: str) -> tuple[list[FileCase], list[str]]:
    r = rng(len(name))
    if name == "dup-bug":
        # 100 000-byte blocks (> 65 535): literal bytes that only the zlib history can
        # match, in the region the protocol's insert rule keeps in the window (§12.3).
        b = r.randbytes(300_000)
        new = b[:100_000] + b[85_000:95_000] + b[20_000:30_000] + b[100_000:]
        return [FileCase("f", b, new, 100_000)], ["-B", "100000"]
    if name == "mixed":
        a = text(150_000, 1) + r.randbytes(150_000)
        new_a = a[150_000:200_000] + text(40_000, 2) + a[:50_000] + bytes(40_000) + a[250_000:]
        b = r.randbytes(600_000)  # §10.12: 10 bytes changed at offset 300 000
        new_b = b[:300_000] + bytes(10) + b[300_010:]
        return [
            FileCase("a", a, new_a, block_length(len(a))),
            FileCase("b", b, new_b, block_length(len(b))),
        ], []
    assert name == "whole"
    new = text(100_000, 3) + r.randbytes(70_000) + bytes(50_000)
    return [FileCase("w", b"old contents", new, None)], ["-W"]


def write_batch(
    rsync: str, tmp: Path, files: list[FileCase], args: list[str], protocol: int, zlib: bool
) -> bytes:
    src, dst = tmp / "src", tmp / "dst"
    src.mkdir()
    dst.mkdir()
    for f in files:
        (dst / f.name).write_bytes(f.basis)
        (src / f.name).write_bytes(f.new)
    batch = tmp / "batch"
    cmd = [rsync, "-a", "-I", f"--protocol={protocol}", f"--only-write-batch={batch}", *args]
    if "-W" not in args:
        cmd.append("--no-whole-file")
    if zlib:
        cmd.append("-z")
    subprocess.run([*cmd, f"{src}/", f"{dst}/"], check=True, capture_output=True, timeout=60)
    assert (dst / files[0].name).read_bytes() == files[0].basis  # batch only
    return batch.read_bytes()


def batch_header(data: bytes) -> tuple[int, int, int]:
    """(stream flags, protocol, seed) — rsync: batch.c write_stream_flags(), io.c
    start_write_batch()."""
    flags, protocol = struct.unpack_from("<ii", data, 0)
    pos = 8
    if protocol >= 30:
        _, pos = decode_varint(data, pos)  # compat flags
    (seed,) = struct.unpack_from("<i", data, pos)
    return flags, protocol, seed


def decode_file(
    data: bytes, pos: int, f: FileCase, dec: TokenDecoder
) -> tuple[bytes, int, list[object]]:
    dec.begin_file(block_count=f.count)
    out = bytearray()
    events: list[object] = []
    while True:
        ev, pos = dec.decode(data, pos)
        events.append(ev)
        if isinstance(ev, Literal):
            out += ev.data
        elif isinstance(ev, BlockRef):
            for i in range(ev.index, ev.index + ev.count):
                out += f.blocks[i]
                dec.see_block(f.blocks[i])
        else:
            assert isinstance(ev, EndOfFile)
            return bytes(out), pos, events


def find_and_decode(
    data: bytes, start: int, f: FileCase, method: str, protocol: int
) -> tuple[int, int, list[object]]:
    """Try every position of the file's sum header; returns (stream start, end, events)."""
    head = struct.pack("<ii", f.count, f.blength or 0) + (b"" if f.blength else bytes(8))
    at = data.find(head, start)
    while at >= 0:
        pos = at + 16
        dec = TokenDecoder(method, protocol=protocol)
        try:
            out, end, events = decode_file(data, pos, f, dec)
        except (NeedMoreData, RemoteProtocolError):
            pass
        else:
            if out == f.new:
                return pos, end, events
        at = data.find(head, at + 1)
    pytest.fail(f"no token stream in the batch rebuilds {f.name}")


def decode_batch(
    data: bytes, files: list[FileCase], method: str, protocol: int
) -> list[tuple[int, int, list[object]]]:
    """Locate and decode every file's stream, then decode them again, in order, with one
    decoder for the whole session (as a receiver does: per-file resets)."""
    found = []
    pos = 0
    for f in files:
        start, pos, events = find_and_decode(data, pos, f, method, protocol)
        found.append((start, pos, events))
    session = TokenDecoder(method, protocol=protocol)
    for f, (start, end, events) in zip(files, found, strict=True):
        out, pos, again = decode_file(data, start, f, session)
        assert (out, pos, again) == (f.new, end, events)
    return found


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("method", ["none", "zlib"])
@pytest.mark.parametrize("name", ["dup-bug", "mixed", "whole"])
def test_decode_real_rsync_batch(
    real_rsync: str, tmp_path: Path, name: str, method: str, protocol: int
) -> None:
    files, args = scenario(name)
    data = write_batch(real_rsync, tmp_path, files, args, protocol, method == "zlib")
    flags, got_protocol, seed = batch_header(data)
    assert got_protocol == protocol
    assert bool(flags & (1 << 8)) == (method == "zlib")  # --compress recorded in the batch
    for f, (start, pos, events) in zip(
        files, decode_batch(data, files, method, protocol), strict=True
    ):
        # The whole-file checksum follows the stream: we consumed exactly its bytes.
        if protocol >= 30:
            digest = hashlib.md5(f.new).digest()  # noqa: S324 - rsync's transfer checksum
        else:
            digest = MD4.new(struct.pack("<i", seed) + f.new).digest()  # noqa: S303 - ditto
        assert data[pos : pos + 16] == digest
        if f.blength:
            assert any(isinstance(e, BlockRef) for e in events)
        if method == "zlib":
            assert pos - start < len(f.new) // 2 or f.blength  # compressed literal data
        if name == "dup-bug" and method == "zlib":
            # The literal half that came from the history decodes only with the insert
            # rule of this protocol (pieces repeat the block's start below 31).
            other = 31 if protocol < 31 else 30
            try:
                wrong, _, _ = decode_file(data, start, f, TokenDecoder("zlib", protocol=other))
            except RemoteProtocolError:
                wrong = b""
            assert wrong != f.new
            assert pos - start < 12_000  # half of the 20 000 literal bytes were matched
        if f.name == "b" and method == "zlib":
            # §10.12 / §12.6: blocks 0..389, the changed block as a 768-byte stored block,
            # blocks 391..781, END.
            assert data[start : start + 5].hex() == "c085014306"
            assert data[start + 5 : start + 10].hex() == "000003fffc"
            assert data[pos - 4 : pos].hex() == "c2860100"
            assert events == [BlockRef(0, 390), Literal(f.new[299_520:300_288]), *events[2:]]
            assert events[2:] == [BlockRef(391, 391), EndOfFile()]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("method", ["none", "zlib"])
@pytest.mark.parametrize("name", ["dup-bug", "mixed", "whole"])
def test_real_rsync_reads_our_token_streams(
    real_rsync: str, tmp_path: Path, name: str, method: str, protocol: int
) -> None:
    files, args = scenario(name)
    data = write_batch(real_rsync, tmp_path, files, args, protocol, method == "zlib")
    spliced = bytearray()
    last = 0
    enc = TokenEncoder(method, protocol=protocol)  # one per session, as a sender has
    for f, (start, end, events) in zip(
        files, decode_batch(data, files, method, protocol), strict=True
    ):
        spliced += data[last:start]
        enc.begin_file()
        for ev in events:
            if isinstance(ev, Literal):
                enc.literal_into(spliced, ev.data)
            elif isinstance(ev, BlockRef):
                for i in range(ev.index, ev.index + ev.count):
                    enc.block_into(spliced, i, memoryview(f.blocks[i]))
            else:
                enc.end_into(spliced)
        last = end
    spliced += data[last:]
    if method == "none":
        assert bytes(spliced) == data
    batch = tmp_path / "ours"
    batch.write_bytes(spliced)
    dst = tmp_path / "dst2"
    dst.mkdir()
    for f in files:
        (dst / f.name).write_bytes(f.basis)
    cmd = [real_rsync, "-a", "-I", f"--protocol={protocol}", f"--read-batch={batch}", *args]
    if "-W" not in args:
        cmd.append("--no-whole-file")
    if method == "zlib":
        cmd.append("-z")
    # A stream rsync cannot verify would make it retry and wait: bound the run.
    run = subprocess.run([*cmd, f"{dst}/"], capture_output=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    for f in files:
        assert (dst / f.name).read_bytes() == f.new, f.name


@pytest.mark.parametrize("choice", ["zlibx", "zstd", "lz4"])
def test_batch_mode_refuses_newer_compression(real_rsync: str, tmp_path: Path, choice: str) -> None:
    files, args = scenario("mixed")
    with pytest.raises(subprocess.CalledProcessError) as err:
        write_batch(real_rsync, tmp_path, files, [*args, f"--compress-choice={choice}"], 32, True)
    assert b"refused" in err.value.stderr
