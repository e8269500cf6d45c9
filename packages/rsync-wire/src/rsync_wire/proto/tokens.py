"""The delta token stream of one file, plain and compressed (no I/O).

:class:`TokenEncoder` turns a sender's sequence of literal runs and matched blocks into
the bytes rsync puts on the wire; :class:`TokenDecoder` turns those bytes back into
:class:`Literal`, :class:`BlockRef` and :class:`EndOfFile` events for a receiver. Both
are sans-IO: the encoder appends to a caller's ``bytearray``; the decoder reads a
caller's buffer at a position and raises :class:`NeedMoreData` to be retried. They do
not read files, compute checksums or parse the sum header (see :mod:`.sums`).
"""

# How this works
# ==============
#
# Plain stream (no compression): ``i32 n > 0`` and n literal bytes, ``i32 -(k+1)`` for
# basis block k, ``i32 0`` at the end. We write literal runs in pieces of at most
# CHUNK_SIZE (32 KiB): rsync 3.4.3 and its backports abort on anything longer. The
# decoder hands literal data out in pieces of at most CHUNK_SIZE too, so it never needs
# more than 32 KiB + 4 contiguous bytes and the events do not depend on how the input
# was split.
#
# Compressed stream (every method): a flag byte per item.
#
#   00            END_FLAG
#   20 i32        TOKEN_LONG      one block, absolute index
#   21 i32 u16    TOKENRUN_LONG   blocks i .. i+run
#   40-7f u8      DEFLATED_DATA   ((flag & 0x3f) << 8 | u8) bytes of compressor output
#   80-bf         TOKEN_REL       one block, index = last + (flag & 0x3f)
#   c0-ff u16     TOKENRUN_REL    blocks start .. start+run, start = last + (flag & 0x3f)
#
# ``last`` is the final index of the previous token or run of this file (0 at the
# start). The encoder holds one pending run (consecutive indexes, at most 65 536 blocks)
# and writes it when something else arrives; literal bytes go into the compressor and
# its output is framed in DEFLATED_DATA pieces of at most 16 383 bytes, full ones while
# data keeps coming, the rest when a token or the end needs the literal run finished.
# At any moment either a run or a literal run is pending, never both. The decoder rejects
# the flag bytes 01-1f and 22-3f, which rsync would read as TOKEN_LONG variants but never
# sends, and runs of zero additional blocks.
#
# zlib / zlibx: raw deflate (wbits -15, memLevel 8), a fresh stream per file. Finishing a
# literal run is a Z_SYNC_FLUSH whose trailing empty stored block's ``00 00 ff ff`` is
# not sent; the decoder feeds those four bytes back to the inflater when a non-data
# flag follows data. Old-style ``zlib`` also puts every matched block into the
# history (in pieces of <= 65 535 bytes; below protocol 31 every piece repeats the first
# 65 535 bytes of the block, rsync's kept "data-duplicating bug"). Only the last 32 KiB
# of history can ever be referenced (deflate's window), so both sides keep just the
# tail of those inserts (:func:`_insert_tail`) and apply it lazily, right before the
# next literal data:
#   - the encoder starts a new compressor primed with the last 32 KiB of the stream
#     (literal bytes plus inserts) as its preset dictionary. That emits nothing, the
#     stream is at a block boundary anyway after the sync flush, and it costs a hash
#     insert instead of compressing each block with a sync flush and discarding the
#     output (what rsync does with a stock zlib). The wire need only decode to the same
#     data; with the same zlib library our bytes were even identical to rsync's.
#   - the decoder feeds the inflater a synthetic stored block (``00``, u16 len,
#     u16 ~len, data) and discards its output, as rsync's receiver does.
# The receiver must call :meth:`TokenDecoder.see_block` with each matched block's bytes.
#
# zstd: one streaming context per session and direction (the frame header appears once);
# a literal run ends with a block flush (not a frame end). No history insert.
# lz4: each DEFLATED_DATA is an independent raw LZ4 block of at most 16 383 input bytes
# (halved until the output fits in 16 383). No history insert.
#
# Output bounds on the receiving side: one DEFLATED_DATA of 16 383 bytes can inflate to
# ~16 MiB (deflate) or far more (zstd RLE blocks). Instead of refusing such data (real
# rsync sends it for runs of zeros) the decoder streams it: zlib through
# ``decompress(max_length=...)``, zstd by feeding 1 KiB slices (<= ~32 MiB per slice in
# the worst case), both handed out as Literal events of at most MAX_EVENT_DATA bytes.

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING, Final, TypeAlias

import msgspec

from rsync_wire.errors import LocalProtocolError, RemoteProtocolError, UnsupportedError
from rsync_wire.proto.codec import NeedMoreData, decode_int32
from rsync_wire.proto.constants import CHUNK_SIZE, MAX_DATA_COUNT

if TYPE_CHECKING:
    import zstandard

__all__ = [
    "COMPRESSIONS",
    "MAX_EVENT_DATA",
    "MAX_PLAIN_LITERAL",
    "BlockRef",
    "EndOfFile",
    "Literal",
    "TokenDecoder",
    "TokenEncoder",
    "TokenEvent",
]

Buf: TypeAlias = bytes | bytearray | memoryview

# Flag bytes of the compressed stream (rsync: token.c).
END_FLAG: Final = 0x00  # END_FLAG
TOKEN_LONG: Final = 0x20  # TOKEN_LONG
TOKENRUN_LONG: Final = 0x21  # TOKENRUN_LONG
DEFLATED_DATA: Final = 0x40  # DEFLATED_DATA
TOKEN_REL: Final = 0x80  # TOKEN_REL
TOKENRUN_REL: Final = 0xC0  # TOKENRUN_REL

MAX_TOKEN_INDEX: Final = 0x7FFFFFFE  # MAX_TOKEN_INDEX
MAX_RUN: Final = 0xFFFF  # additional blocks in one run (16-bit count)

COMPRESSIONS: Final = ("none", "zlib", "zlibx", "zstd", "lz4")
MAX_PLAIN_LITERAL: Final = 1 << 20
"""Largest plain literal token accepted by default.

We send at most 32 KiB; rsync 3.5.0 accepts any length and older gokrazy/rsync and
acrosync send 64-256 KiB. The data is streamed in 32 KiB pieces whatever the length,
so this is a sanity bound against garbage, not a memory bound; raise it with
``TokenDecoder(max_literal=...)`` if a peer needs more."""
MAX_EVENT_DATA: Final = 256 * 1024
"""Most bytes of decompressed data in one :class:`Literal` event."""

ZLIB_LEVEL: Final = 6  # rsync's default for zlib and zlibx
ZSTD_LEVEL: Final = 3  # ZSTD_CLEVEL_DEFAULT

_WINDOW: Final = 32768  # deflate history that later data can refer to
_INSERT_PIECE: Final = 0xFFFF  # rsync inserts matched blocks in pieces of this size
_ZSTD_SLICE: Final = 1024  # compressed bytes fed to zstd per call (bounds output)
_LZ4_OUT: Final = max(CHUNK_SIZE + CHUNK_SIZE // 255 + 16, MAX_DATA_COUNT + 2)  # rsync's dbuf
_SYNC_TRAILER: Final = b"\x00\x00\xff\xff"
_PROBE: Final = b"\x00\x01\x00\xfe\xffX"  # a stored block holding b"X"

_I32: Final = struct.Struct("<i")


# -- events --------------------------------------------------------------------------------


class Literal(msgspec.Struct, frozen=True, gc=False):
    """Literal file data to append to the output.

    ``data`` may be empty when a compressed piece did not complete any output yet (a
    zstd block spanning several DEFLATED_DATA pieces); write nothing then.
    """

    data: bytes


class BlockRef(msgspec.Struct, frozen=True, gc=False):
    """Copy basis blocks ``index`` .. ``index + count - 1`` (a run when ``count > 1``).

    With old-style zlib the receiver then calls :meth:`TokenDecoder.see_block` once per
    block, in order, with that block's bytes.
    """

    index: int
    count: int = 1


class EndOfFile(msgspec.Struct, frozen=True, gc=False):
    """The file's token stream ended; the whole-file checksum follows on the wire."""


TokenEvent: TypeAlias = Literal | BlockRef | EndOfFile


# -- shared helpers --------------------------------------------------------------------------


def _method(compression: str | None) -> str:
    name = "none" if compression is None else compression
    if name not in COMPRESSIONS:
        msg = f"unknown compression {compression!r} (expected one of {', '.join(COMPRESSIONS)})"
        raise UnsupportedError(msg)
    return name


def _insert_tail(block: Buf, *, duplicate_bug: bool) -> bytes:
    """The last <= 32 KiB of what rsync inserts into the zlib history for one block.

    rsync inserts a matched block in pieces of at most 65 535 bytes; with
    ``duplicate_bug`` (protocol < 31) every piece is taken from the block's start.

    rsync: token.c send_deflated_token() and see_deflate_token().
    """
    mv = memoryview(block).cast("B")
    n = len(mv)
    if not duplicate_bug or n <= _INSERT_PIECE:
        return bytes(mv[max(0, n - _WINDOW) :])
    # Pieces: block[:65535] repeated, then block[:r] for the remainder r.
    r = n % _INSERT_PIECE
    if r == 0:
        return bytes(mv[_INSERT_PIECE - _WINDOW : _INSERT_PIECE])
    if r >= _WINDOW:
        return bytes(mv[r - _WINDOW : r])
    return bytes(mv[_INSERT_PIECE - (_WINDOW - r) : _INSERT_PIECE]) + bytes(mv[:r])


def _frame_into(buf: bytearray, data: Buf) -> None:
    """Append ``data`` as DEFLATED_DATA pieces of at most MAX_DATA_COUNT bytes."""
    with memoryview(data) as mv:
        n = len(mv)
        for i in range(0, n, MAX_DATA_COUNT):
            k = min(MAX_DATA_COUNT, n - i)
            buf.append(DEFLATED_DATA | (k >> 8))
            buf.append(k & 0xFF)
            buf += mv[i : i + k]


# zstandard and lz4 are imported where a session has negotiated them (start-up cost).


def _codec_errors() -> tuple[type[Exception], ...]:
    """What the compression libraries raise for corrupt input."""
    import lz4.block  # type: ignore[import-untyped]  # lz4 ships no type information
    import zstandard

    return (zlib.error, zstandard.ZstdError, lz4.block.LZ4BlockError)


def _lz4_compress(data: Buf) -> bytes:
    import lz4.block

    out: bytes = lz4.block.compress(data, mode="default", store_size=False)
    return out


# -- encoder -----------------------------------------------------------------------------------


class TokenEncoder:
    """Writes the token streams of one session direction (sender side).

    Per file: :meth:`begin_file`, then any sequence of :meth:`literal_into` and
    :meth:`block_into`, then :meth:`end_into`. A zstd context lives for the whole
    session, so use one encoder per session and direction.

    Args:
        compression: ``None`` or ``"none"`` for the plain stream, else ``"zlib"``,
            ``"zlibx"``, ``"zstd"`` or ``"lz4"``.
        protocol: the negotiated protocol (decides zlib's duplicate-insert rule).
        level: compression level; ``None`` (or -1 for zlib, 0 for zstd) means the
            method's default (6, 3). zlib level 0 (``dont compress = *``) sends stored
            blocks. Ignored for lz4 and plain.
        threads: zstd only: worker threads (``--compress-threads``; 0: compress in
            this thread).

    Raises:
        UnsupportedError: unknown compression name.

    rsync: token.c send_token() and its simple/deflated/zstd/compressed variants.
    """

    __slots__ = (
        "_file_level",
        "_hist",
        "_hist_dirty",
        "_in_file",
        "_last_run_end",
        "_level",
        "_lz_in",
        "_method",
        "_pending_lit",
        "_protocol",
        "_run_last",
        "_run_start",
        "_zc",
        "_zout",
        "_zs",
    )

    def __init__(
        self,
        compression: str | None = None,
        *,
        protocol: int,
        level: int | None = None,
        threads: int = 0,
    ):
        self._method = _method(compression)
        self._protocol = protocol
        self._in_file = False
        self._run_start = -1  # first index of the pending run, -1 when none
        self._run_last = -1
        self._last_run_end = 0
        self._pending_lit = False  # literal bytes went in since the last flush
        self._zout = bytearray()  # compressor output not yet framed
        self._lz_in = bytearray()  # lz4 input waiting for a full piece
        self._hist = bytearray()  # zlib: tail of the uncompressed stream
        self._hist_dirty = False  # zlib: blocks were inserted since the last literal
        self._zc: zlib._Compress | None = None  # zlib, zlibx: this file's compressor
        self._zs: zstandard.ZstdCompressionObj | None = None  # zstd: the session's
        if self._method in ("zlib", "zlibx"):
            self._level = ZLIB_LEVEL if level is None or level < 0 else min(level, 9)
        elif self._method == "zstd":
            self._level = ZSTD_LEVEL if not level else min(level, 22)
            import zstandard

            # --compress-threads: zstd's own worker threads (rsync: ZSTD_c_nbWorkers)
            self._zs = zstandard.ZstdCompressor(level=self._level, threads=threads).compressobj()
        else:
            self._level = 0
        self._file_level = self._level  # zlib, zlibx: the level of the current file

    @property
    def compression(self) -> str:
        """The method's name (``"none"`` for the plain stream)."""
        return self._method

    @property
    def level(self) -> int:
        """The effective compression level."""
        return self._level

    def begin_file(self, level: int | None = None) -> None:
        """Start a file's token stream.

        Args:
            level: this file's zlib level (``zlib``, ``zlibx``), for example 0 for a
                file matching ``dont compress`` (`rsync_wire.proto.skipcompress`);
                None: the session's. Both ends start a fresh deflate stream for each
                file, so a file's level is invisible to the receiver. zstd keeps one
                stream and one level for the session, and lz4 has none: ignored.

        Raises:
            LocalProtocolError: the previous file was not ended with :meth:`end_into`.
        """
        if self._in_file:
            msg = "begin_file() called before end_into() finished the previous file"
            raise LocalProtocolError(msg)
        self._in_file = True
        self._run_start = -1
        self._last_run_end = 0
        self._pending_lit = False
        if self._method in ("zlib", "zlibx"):
            self._file_level = self._level if level is None else max(0, min(level, 9))
            self._zc = None  # created on the file's first literal byte
            self._hist.clear()
            self._hist_dirty = False

    def _check_in_file(self) -> None:
        if not self._in_file:
            msg = "token written outside a file: call begin_file() first"
            raise LocalProtocolError(msg)

    def literal_into(self, buf: bytearray, data: Buf) -> None:
        """Append literal (unmatched) file data.

        Plain: ``i32`` length plus data per 32 KiB piece. Compressed: the data goes
        through the compressor; full DEFLATED_DATA pieces are written as they fill and
        the rest when the next token or the end finishes the literal run.

        Args:
            buf: the output buffer.
            data: the bytes (any length; a memoryview avoids copies).

        Raises:
            LocalProtocolError: outside :meth:`begin_file` ... :meth:`end_into`.
        """
        self._check_in_file()
        mv = memoryview(data).cast("B")
        n = len(mv)
        if n == 0:
            return
        method = self._method
        if method == "none":
            pack = _I32.pack
            for i in range(0, n, CHUNK_SIZE):
                k = min(CHUNK_SIZE, n - i)
                buf += pack(k)
                buf += mv[i : i + k]
            return
        self._flush_run(buf)
        self._pending_lit = True
        if method == "lz4":
            self._lz4_literal(buf, mv)
            return
        if method == "zstd":
            assert self._zs is not None  # noqa: S101 - set in __init__
            self._zout += self._zs.compress(mv)
        else:
            comp = self._zlib_compressor()
            self._zout += comp.compress(mv)
            if method == "zlib":
                self._remember(mv)
        zout = self._zout
        full = len(zout) - len(zout) % MAX_DATA_COUNT
        if full:
            _frame_into(buf, memoryview(zout)[:full])
            del zout[:full]

    def _zlib_compressor(self) -> zlib._Compress:
        comp = self._zc
        if comp is None or self._hist_dirty:
            self._hist_dirty = False
            if self._hist:
                # Prime with the history the receiver has; see "How this works".
                comp = zlib.compressobj(
                    self._file_level,
                    zlib.DEFLATED,
                    -15,
                    8,
                    zlib.Z_DEFAULT_STRATEGY,
                    bytes(self._hist[-_WINDOW:]),
                )
            else:
                comp = zlib.compressobj(self._file_level, zlib.DEFLATED, -15, 8)
            self._zc = comp
        return comp

    def _remember(self, data: memoryview) -> None:
        """Keep the last 32 KiB of the uncompressed stream (old-style zlib only)."""
        hist = self._hist
        if len(data) >= _WINDOW:
            hist[:] = data[-_WINDOW:]
            return
        hist += data
        if len(hist) > 4 * _WINDOW:
            del hist[:-_WINDOW]

    def _lz4_literal(self, buf: bytearray, mv: memoryview) -> None:
        pending = self._lz_in
        while True:
            if pending:
                take = MAX_DATA_COUNT - len(pending)
                pending += mv[:take]
                mv = mv[take:]
                if len(pending) < MAX_DATA_COUNT:
                    return
                done = self._lz4_pieces(buf, bytes(pending), final=False)
                del pending[:done]
                continue
            done = self._lz4_pieces(buf, mv, final=False)
            pending += mv[done:]
            return

    @staticmethod
    def _lz4_pieces(buf: bytearray, data: Buf, *, final: bool) -> int:
        """Compress full pieces of ``data`` (and the rest if ``final``); returns bytes used.

        rsync: token.c send_compressed_token() (halve the input until the output fits).
        """
        mv = memoryview(data)
        n = len(mv)
        pos = 0
        while n - pos >= MAX_DATA_COUNT or (final and pos < n):
            take = min(MAX_DATA_COUNT, n - pos)
            out = _lz4_compress(mv[pos : pos + take])
            while len(out) > MAX_DATA_COUNT:
                take //= 2
                out = _lz4_compress(mv[pos : pos + take])
            buf.append(DEFLATED_DATA | (len(out) >> 8))
            buf.append(len(out) & 0xFF)
            buf += out
            pos += take
        return pos

    def block_into(self, buf: bytearray, index: int, block_data: Buf | None = None) -> None:
        """Append a reference to basis block ``index``.

        Compressed streams coalesce consecutive indexes into runs, so the bytes for a
        block may appear only with the next call.

        Args:
            buf: the output buffer.
            index: the block number (0-based, < the sum header's count).
            block_data: the matched basis bytes; required for old-style ``zlib`` (they
                enter the compressor's history), ignored otherwise.

        Raises:
            LocalProtocolError: outside a file, a negative or too large index, or
                ``block_data`` missing for ``zlib``.
        """
        self._check_in_file()
        if not 0 <= index <= MAX_TOKEN_INDEX:
            msg = f"block index {index} out of range 0..{MAX_TOKEN_INDEX}"
            raise LocalProtocolError(msg)
        method = self._method
        if method == "none":
            buf += _I32.pack(-(index + 1))
            return
        if self._pending_lit:
            self._flush_literal(buf)
        start = self._run_start
        if start >= 0 and index == self._run_last + 1 and index <= start + MAX_RUN:
            self._run_last = index
        else:
            self._flush_run(buf)
            self._run_start = self._run_last = index
        if method == "zlib":
            if block_data is None:
                msg = "old-style zlib needs the matched block's data for its history"
                raise LocalProtocolError(msg)
            self._hist += _insert_tail(block_data, duplicate_bug=self._protocol < 31)
            if len(self._hist) > 4 * _WINDOW:
                del self._hist[:-_WINDOW]
            self._hist_dirty = True

    def end_into(self, buf: bytearray) -> None:
        """Finish the file: flush pending data and run, then the end marker.

        Raises:
            LocalProtocolError: no file was begun.
        """
        self._check_in_file()
        if self._method == "none":
            buf += b"\x00\x00\x00\x00"
        else:
            self._flush_run(buf)
            if self._pending_lit:
                self._flush_literal(buf)
            buf.append(END_FLAG)
        self._in_file = False
        if self._method in ("zlib", "zlibx"):
            self._zc = None
            self._hist.clear()

    def _flush_run(self, buf: bytearray) -> None:
        start = self._run_start
        if start < 0:
            return
        run = self._run_last - start
        rel = start - self._last_run_end
        if 0 <= rel <= 0x3F:
            buf.append((TOKENRUN_REL if run else TOKEN_REL) | rel)
        else:
            buf.append(TOKENRUN_LONG if run else TOKEN_LONG)
            buf += _I32.pack(start)
        if run:
            buf.append(run & 0xFF)
            buf.append(run >> 8)
        self._last_run_end = self._run_last
        self._run_start = -1

    def _flush_literal(self, buf: bytearray) -> None:
        self._pending_lit = False
        method = self._method
        if method == "lz4":
            self._lz4_pieces(buf, bytes(self._lz_in), final=True)
            self._lz_in.clear()
            return
        zout = self._zout
        if method == "zstd":
            assert self._zs is not None  # noqa: S101 - set in __init__
            import zstandard

            zout += self._zs.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
        else:
            assert self._zc is not None  # noqa: S101 - the pending literal created it
            tail = self._zc.flush(zlib.Z_SYNC_FLUSH)
            if not tail.endswith(_SYNC_TRAILER):
                msg = f"zlib sync flush ended with {tail[-4:].hex()}, not 0000ffff"
                raise LocalProtocolError(msg)
            zout += tail
            del zout[-4:]
        if zout:
            _frame_into(buf, zout)
            zout.clear()


# -- decoder -----------------------------------------------------------------------------------


def _take(buf: Buf, start: int, end: int) -> bytes:
    if isinstance(buf, bytes):
        return buf[start:end]
    with memoryview(buf) as mv:
        return bytes(mv[start:end])


class TokenDecoder:
    """Reads the token streams of one session direction (receiver side).

    Per file: :meth:`begin_file` with the block count of the echoed sum header, then
    :meth:`decode` until it returns :class:`EndOfFile`. With old-style ``zlib`` call
    :meth:`see_block` after each :class:`BlockRef` for each of its blocks, in order.

    :meth:`decode` is retryable: on :class:`NeedMoreData` nothing was consumed, so call it
    again at the same position once more bytes are there. Events do not depend on how
    the input was split. After a :class:`RemoteProtocolError` the decoder is unusable
    and every further call raises :class:`LocalProtocolError`.

    Args:
        compression: as for :class:`TokenEncoder`.
        protocol: the negotiated protocol (decides zlib's duplicate-insert rule).
        max_literal: the largest plain literal token accepted (default
            :data:`MAX_PLAIN_LITERAL`).

    Raises:
        UnsupportedError: unknown compression name.

    rsync: token.c recv_token(), see_token() and their variants.
    """

    __slots__ = (
        "_count",
        "_error",
        "_hist_pending",
        "_in_file",
        "_inf",
        "_inflated",
        "_last",
        "_max_literal",
        "_method",
        "_more",
        "_out",
        "_out_pos",
        "_protocol",
        "_residue",
        "_tail",
        "_zin",
        "_zin_pos",
        "_zstd",
    )

    def __init__(
        self,
        compression: str | None = None,
        *,
        protocol: int,
        max_literal: int = MAX_PLAIN_LITERAL,
    ) -> None:
        self._method = _method(compression)
        self._protocol = protocol
        self._max_literal = max_literal
        self._error = False
        self._in_file = False
        self._count = 0
        self._last = 0
        self._residue = 0  # plain: literal bytes still to come in the current token
        self._inf: zlib._Decompress | None = None
        self._tail = b""  # zlib: input not yet inflated (output limit reached)
        self._more = False  # zlib: the last call filled its output, more may be pending
        self._inflated = False  # zlib: data since the last token (trailer to restore)
        self._hist_pending = bytearray()  # zlib: block inserts not yet fed to the inflater
        self._out = b""  # zstd: decompressed bytes not yet handed out
        self._out_pos = 0
        self._zin = b""  # zstd: compressed bytes not yet fed
        self._zin_pos = 0
        self._zstd: zstandard.ZstdDecompressionObj | None = None
        if self._method == "zstd":
            import zstandard

            self._zstd = zstandard.ZstdDecompressor().decompressobj(read_across_frames=True)

    @property
    def compression(self) -> str:
        """The method's name (``"none"`` for the plain stream)."""
        return self._method

    def begin_file(self, *, block_count: int) -> None:
        """Start a file's token stream.

        Args:
            block_count: the ``count`` of the file's sum header; block references must
                stay below it (0 for a whole-file transfer).

        Raises:
            LocalProtocolError: the previous file has not ended, the decoder failed
                before, or ``block_count`` is negative.
        """
        self._check_usable()
        if self._in_file:
            msg = "begin_file() called before the previous file's EndOfFile"
            raise LocalProtocolError(msg)
        if block_count < 0:
            msg = f"negative block count {block_count}"
            raise LocalProtocolError(msg)
        self._in_file = True
        self._count = block_count
        self._last = 0
        self._residue = 0
        if self._method in ("zlib", "zlibx"):
            self._inf = zlib.decompressobj(-15)
            self._tail = b""
            self._more = False
            self._inflated = False
            self._hist_pending.clear()

    def _check_usable(self) -> None:
        if self._error:
            msg = "token decoder used after a protocol error"
            raise LocalProtocolError(msg)

    def see_block(self, block_data: Buf) -> None:
        """Give old-style zlib the bytes of a block the receiver just copied.

        A no-op for every other method, so a receiver may call it unconditionally.

        Args:
            block_data: the basis bytes of one matched block.

        Raises:
            LocalProtocolError: outside a file, or after an error.

        rsync: token.c see_deflate_token().
        """
        if self._method != "zlib":
            return
        self._check_usable()
        if not self._in_file:
            msg = "see_block() outside a file"
            raise LocalProtocolError(msg)
        pending = self._hist_pending
        pending += _insert_tail(block_data, duplicate_bug=self._protocol < 31)
        if len(pending) > 4 * _WINDOW:
            del pending[:-_WINDOW]

    def decode(self, buf: Buf, pos: int) -> tuple[TokenEvent, int]:
        """Decode the next event at ``pos``.

        Returns:
            ``(event, new_pos)``. Decompressed output is handed out in several
            :class:`Literal` events (at most :data:`MAX_EVENT_DATA` bytes each) whose
            ``new_pos`` may equal ``pos``.

        Raises:
            NeedMoreData: the next item is incomplete; nothing was consumed.
            RemoteProtocolError: invalid flag, length or block index, or corrupt
                compressed data.
            LocalProtocolError: no file was begun, or the decoder failed before.
        """
        self._check_usable()
        if not self._in_file:
            msg = "decode() outside a file: call begin_file() first"
            raise LocalProtocolError(msg)
        try:
            if self._method == "none":
                return self._decode_plain(buf, pos)
            return self._decode_compressed(buf, pos)
        except RemoteProtocolError:
            self._error = True
            raise
        except _codec_errors() as exc:
            self._error = True
            msg = f"corrupt {self._method} data in token stream near offset {pos}: {exc}"
            raise RemoteProtocolError(msg) from exc

    # -- plain ---------------------------------------------------------------------------------

    def _decode_plain(self, buf: Buf, pos: int) -> tuple[TokenEvent, int]:
        residue = self._residue
        if residue:
            k = min(residue, CHUNK_SIZE)
            if pos + k > len(buf):
                raise NeedMoreData
            self._residue = residue - k
            return Literal(_take(buf, pos, pos + k)), pos + k
        p = pos + 4
        if p > len(buf):
            raise NeedMoreData
        value = _I32.unpack_from(buf, pos)[0]  # decode_int32(), inline: once per token
        if value > 0:
            if value > self._max_literal:
                msg = (
                    f"literal token of {value} bytes at offset {pos} is longer than "
                    f"the accepted {self._max_literal}"
                )
                raise RemoteProtocolError(msg)
            k = min(value, CHUNK_SIZE)
            if p + k > len(buf):
                raise NeedMoreData
            self._residue = value - k
            return Literal(_take(buf, p, p + k)), p + k
        if value == 0:
            self._in_file = False
            return EndOfFile(), p
        index = -(value + 1)
        self._check_index(index, 0, pos)
        return BlockRef(index), p

    def _check_index(self, index: int, run: int, pos: int) -> None:
        if index + run >= self._count:
            what = f"blocks {index}..{index + run}" if run else f"block {index}"
            msg = f"{what} at offset {pos} beyond the file's {self._count} blocks"
            raise RemoteProtocolError(msg)

    # -- compressed ------------------------------------------------------------------------------

    def _decode_compressed(self, buf: Buf, pos: int) -> tuple[TokenEvent, int]:
        event = self._pending_output()
        if event is not None:
            return event, pos
        if pos >= len(buf):
            raise NeedMoreData
        flag = buf[pos]
        if flag & 0xC0 == DEFLATED_DATA:
            if pos + 2 > len(buf):
                raise NeedMoreData
            n = ((flag & 0x3F) << 8) | buf[pos + 1]
            end = pos + 2 + n
            if end > len(buf):
                raise NeedMoreData
            return Literal(self._payload(_take(buf, pos + 2, end), pos)), end
        if flag == END_FLAG:
            self._restore_sync(pos)
            self._in_file = False
            return EndOfFile(), pos + 1
        p = pos + 1
        if flag & TOKEN_REL:
            index = self._last + (flag & 0x3F)
            has_run = bool(flag & 0x40)
        elif flag in (TOKEN_LONG, TOKENRUN_LONG):
            index, p = decode_int32(buf, p)
            if index < 0:
                msg = f"negative block index {index} at offset {pos}"
                raise RemoteProtocolError(msg)
            has_run = flag == TOKENRUN_LONG
        else:
            msg = f"invalid flag byte 0x{flag:02x} in compressed token stream at offset {pos}"
            raise RemoteProtocolError(msg)
        run = 0
        if has_run:
            if p + 2 > len(buf):
                raise NeedMoreData
            run = buf[p] | (buf[p + 1] << 8)
            p += 2
            if run == 0:
                msg = f"empty token run at offset {pos}"
                raise RemoteProtocolError(msg)
        self._check_index(index, run, pos)
        self._restore_sync(pos)
        self._last = index + run
        return BlockRef(index, run + 1), p

    def _restore_sync(self, pos: int) -> None:
        """Give the inflater the ``00 00 ff ff`` the sender stripped after its data."""
        if not self._inflated:
            return
        self._inflated = False
        inf = self._inf
        assert inf is not None  # noqa: S101 - zlib methods create it in begin_file
        # Python's zlib has no inflateSyncPoint(): check instead that a copy of the
        # inflater then reads a one-byte stored block as such.
        if inf.decompress(_SYNC_TRAILER) or inf.eof or inf.copy().decompress(_PROBE) != b"X":
            msg = f"deflate stream not at a sync point before the flag at offset {pos}"
            raise RemoteProtocolError(msg)

    def _payload(self, data: bytes, pos: int) -> bytes:
        """Feed one DEFLATED_DATA payload; returns the first output (maybe empty)."""
        method = self._method
        if method == "zstd":
            self._zin = data
            self._zin_pos = 0
            return self._zstd_step()
        if not data:
            msg = f"empty DEFLATED_DATA at offset {pos}"
            raise RemoteProtocolError(msg)
        if method == "lz4":
            import lz4.block

            out: bytes = lz4.block.decompress(data, uncompressed_size=_LZ4_OUT)
            return out
        inf = self._inf
        assert inf is not None  # noqa: S101 - zlib methods create it in begin_file
        if self._hist_pending:
            self._feed_history(inf, pos)
        self._inflated = True
        return self._inflate(inf, data, pos)

    def _inflate(self, inf: zlib._Decompress, data: bytes, pos: int) -> bytes:
        out = inf.decompress(data, MAX_EVENT_DATA)
        if inf.eof:
            msg = f"deflate stream ended (final block) in the token stream near offset {pos}"
            raise RemoteProtocolError(msg)
        self._tail = inf.unconsumed_tail
        self._more = len(out) == MAX_EVENT_DATA
        return out

    def _feed_history(self, inf: zlib._Decompress, pos: int) -> None:
        """Insert the pending matched-block bytes as a stored block (output discarded)."""
        data = bytes(self._hist_pending[-_WINDOW:])
        self._hist_pending.clear()
        n = len(data)
        header = bytes((0, n & 0xFF, n >> 8, ~n & 0xFF, (~n >> 8) & 0xFF))
        if inf.decompress(header + data) != data or inf.eof:
            msg = f"deflate stream not at a block boundary for a matched block near offset {pos}"
            raise RemoteProtocolError(msg)

    def _pending_output(self) -> Literal | None:
        """Next piece of output still held from an earlier payload, if any."""
        if self._more:
            inf = self._inf
            assert inf is not None  # noqa: S101 - only zlib sets _more
            out = self._inflate(inf, self._tail, -1)
            return Literal(out) if out else None
        if self._out_pos < len(self._out):
            start = self._out_pos
            end = start + MAX_EVENT_DATA
            self._out_pos = end
            if end >= len(self._out):
                out = self._out[start:]
                self._out = b""
                self._out_pos = 0
                return Literal(out)
            return Literal(self._out[start:end])
        if self._zin_pos < len(self._zin):
            out = self._zstd_step()
            return Literal(out) if out else None
        return None

    def _zstd_step(self) -> bytes:
        """Feed zstd slices until some output or the payload's end; at most one event."""
        dctx = self._zstd
        assert dctx is not None  # noqa: S101 - zstd only
        zin = self._zin
        pos = self._zin_pos
        chunks: list[bytes] = []
        total = 0
        while pos < len(zin) and total < MAX_EVENT_DATA:
            piece = zin[pos : pos + _ZSTD_SLICE]
            pos += len(piece)
            out = dctx.decompress(piece)
            if out:
                chunks.append(out)
                total += len(out)
        if pos >= len(zin):
            self._zin = b""
            pos = 0
        self._zin_pos = pos
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if len(data) > MAX_EVENT_DATA:
            self._out = data
            self._out_pos = MAX_EVENT_DATA
            return data[:MAX_EVENT_DATA]
        return data
