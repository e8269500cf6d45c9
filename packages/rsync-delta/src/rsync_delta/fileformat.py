"""The CLI's signature and delta file formats (version 1), read and written.

These formats are this package's own (rsync has no files for them; its sums and
tokens only exist on the wire). All integers are little-endian.

Signature file::

    offset  size  field
    0       4     magic b"RSDS"
    4       1     format version, 1
    5       1     checksum id (1 md4, 2 md5, 3 sha1, 4 xxh64, 5 xxh3, 6 xxh128)
    6       2     reserved, 0
    8       4     block length (u32, >= 1)
    12      4     strong length (u32, bytes of each block's strong sum kept)
    16      8     basis file length (u64)
    24      4*N   weak sums (u32), N = ceil(file length / block length)
    ...     S*N   strong sums, S = strong length bytes per block, block after block
    ...     8     XXH64 (seed 0) of all the bytes before it (u64)

Delta file::

    0       4     magic b"RSDD"
    4       1     format version, 1
    5       1     checksum id (as above; names the whole-file sum at the end)
    6       2     reserved, 0
    8       4     block length (u32) of the signature the delta was made from
    12      8     basis file length (u64) that signature describes
    20      ...   ops, each starting with a tag byte:
                    0x01 literal: u32 length (1..32768), then that many bytes
                    0x02 copy:    u32 first block, u32 block count (>= 1)
                    0x00 end:     u64 new file length, then the whole-file sum of the
                                  new file (digest size bytes), then end of file

The checksums are unseeded (`ChecksumRule.plain`); the whole-file sum uses rsync's byte
order (XXH3-128: low 64 bits LE, then high 64 bits LE). Readers reject a wrong magic,
an unknown version or checksum id, nonzero reserved bytes, truncation, trailing bytes and
(signature) a wrong XXH64; a patch checks the basis length before and the new file's
length and sum after.
"""

from __future__ import annotations

import struct
from typing import IO, TYPE_CHECKING, Final

import xxhash

from rsync_delta.errors import PatchError, SignatureError
from rsync_delta.hashes import HASHES, ChecksumRule
from rsync_delta.ops import MAX_LITERAL, BlockMatch, LiteralData
from rsync_delta.patch import patch_stream

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from rsync_delta._io import Source
    from rsync_delta._types import Hasher
    from rsync_delta.ops import Op
    from rsync_delta.signature import Signature

__all__ = [
    "CHECKSUM_IDS",
    "DELTA_MAGIC",
    "FORMAT_VERSION",
    "SIGNATURE_MAGIC",
    "DeltaReader",
    "DeltaWriter",
    "read_signature",
    "write_signature",
]

SIGNATURE_MAGIC: Final = b"RSDS"
DELTA_MAGIC: Final = b"RSDD"
FORMAT_VERSION: Final = 1
CHECKSUM_IDS: Final = {"md4": 1, "md5": 2, "sha1": 3, "xxh64": 4, "xxh3": 5, "xxh128": 6}
"""Checksum id byte of each wire name."""
_NAMES: Final = {v: k for k, v in CHECKSUM_IDS.items()}

_SIG_HEAD: Final = struct.Struct("<4sBBHIIQ")
_DELTA_HEAD: Final = struct.Struct("<4sBBHIQ")
_LITERAL: Final = struct.Struct("<BI")
_COPY: Final = struct.Struct("<BII")
_END: Final = struct.Struct("<BQ")
_U32: Final = struct.Struct("<I")
_U64: Final = struct.Struct("<Q")
_COPY_FIELDS: Final = struct.Struct("<II")
_TAG_END: Final = 0
_TAG_LITERAL: Final = 1
_TAG_COPY: Final = 2
_U32_MAX: Final = (1 << 32) - 1
_WRITE_BATCH: Final = 1 << 20


def _read_exact(f: IO[bytes], n: int, what: str, error: type[Exception]) -> bytes:
    if n <= _WRITE_BATCH:
        data = f.read(n)
    else:
        # A header may claim gigabytes: read what is there, in pieces, instead of asking
        # read() for a buffer of the claimed size (a MemoryError before any check).
        parts = bytearray()
        while len(parts) < n:
            piece = f.read(min(_WRITE_BATCH, n - len(parts)))
            if not piece:
                break
            parts += piece
        data = bytes(parts)
    if len(data) != n:
        msg = f"truncated {what}: expected {n} bytes, got {len(data)}"
        raise error(msg)
    return data


def _checksum_name(ident: int, error: type[Exception]) -> str:
    name = _NAMES.get(ident)
    if name is None:
        msg = f"unknown checksum id {ident}"
        raise error(msg)
    return name


def _check_magic(
    magic: bytes, version: int, reserved: int, *, expected: bytes, error: type[Exception]
) -> None:
    if magic != expected:
        kind = {SIGNATURE_MAGIC: "signature", DELTA_MAGIC: "delta"}.get(magic)
        hint = f" (this is a {kind} file)" if kind else ""
        msg = f"bad magic {magic!r}, expected {expected!r}{hint}"
        raise error(msg)
    if version != FORMAT_VERSION:
        msg = f"unsupported format version {version}, expected {FORMAT_VERSION}"
        raise error(msg)
    if reserved:
        msg = f"reserved header field is {reserved}, expected 0"
        raise error(msg)


def write_signature(f: IO[bytes], sig: Signature, *, checksum: str) -> None:
    """Write `sig` in signature file format version 1.

    Args:
        f: Binary file object to write to.
        sig: The signature (made with ``ChecksumRule.plain(checksum)``).
        checksum: Wire name of its strong hash.

    Raises:
        ValueError: Unknown checksum, or a block or strong length that does not fit.
    """
    ident = CHECKSUM_IDS.get(checksum)
    if ident is None:
        msg = f"unknown checksum {checksum!r}"
        raise ValueError(msg)
    if not 0 < sig.block_length <= _U32_MAX:
        msg = f"block length {sig.block_length} does not fit the format"
        raise ValueError(msg)
    head = _SIG_HEAD.pack(
        SIGNATURE_MAGIC,
        FORMAT_VERSION,
        ident,
        0,
        sig.block_length,
        sig.strong_length,
        sig.file_length,
    )
    digest = xxhash.xxh64()
    weak = sig.weak.astype("<u4").tobytes()
    for part in (head, weak, sig.strong):
        digest.update(part)
        f.write(part)
    f.write(_U64.pack(digest.intdigest()))


def read_signature(f: IO[bytes]) -> tuple[Signature, ChecksumRule]:
    """Read a signature file.

    Args:
        f: Binary file object positioned at the start of the file.

    Returns:
        The signature and the (unseeded) checksum rule it was made with.

    Raises:
        SignatureError: Wrong magic or version, unknown checksum, inconsistent header,
            truncation, trailing bytes or a failed integrity check.
    """
    import numpy as np  # lazy: `rsync-delta patch` never needs numpy

    from rsync_delta.signature import Signature  # lazy, as above

    head = _read_exact(f, _SIG_HEAD.size, "signature header", SignatureError)
    magic, version, ident, reserved, blen, slen, flen = _SIG_HEAD.unpack(head)
    _check_magic(magic, version, reserved, expected=SIGNATURE_MAGIC, error=SignatureError)
    name = _checksum_name(ident, SignatureError)
    if blen < 1:
        msg = f"invalid block length {blen}"
        raise SignatureError(msg)
    if slen > HASHES[name].digest_size:
        msg = f"strong length {slen} exceeds the {HASHES[name].digest_size}-byte {name} digest"
        raise SignatureError(msg)
    count = -(-flen // blen)
    if count >= 1 << 31:
        msg = f"basis of {flen} bytes has too many blocks of {blen} bytes"
        raise SignatureError(msg)
    weak = _read_exact(f, 4 * count, "signature weak sums", SignatureError)
    strong = _read_exact(f, slen * count, "signature strong sums", SignatureError)
    check = _read_exact(f, 8, "signature checksum", SignatureError)
    if f.read(1):
        msg = "trailing bytes after the signature"
        raise SignatureError(msg)
    digest = xxhash.xxh64(head)
    digest.update(weak)
    digest.update(strong)
    if _U64.unpack(check)[0] != digest.intdigest():
        msg = "signature integrity check failed (corrupt file)"
        raise SignatureError(msg)
    sig = Signature(
        blen, slen, flen % blen, np.frombuffer(weak, dtype="<u4").astype(np.uint32), strong
    )
    return sig, ChecksumRule.plain(name)


class DeltaWriter:
    """Writes a delta file: header now, ops as they come, then the end record.

    Args:
        f: Binary file object to write to.
        checksum: Wire name of the whole-file sum's hash.
        block_length: Block length of the signature the delta is made from.
        basis_length: File length that signature describes.

    Raises:
        ValueError: Unknown checksum or a block length that does not fit.
    """

    def __init__(self, f: IO[bytes], *, checksum: str, block_length: int, basis_length: int):
        ident = CHECKSUM_IDS.get(checksum)
        if ident is None:
            msg = f"unknown checksum {checksum!r}"
            raise ValueError(msg)
        if not 0 < block_length <= _U32_MAX:
            msg = f"block length {block_length} does not fit the format"
            raise ValueError(msg)
        self._f = f
        self._digest_size = HASHES[checksum].digest_size
        self._pending = bytearray(
            _DELTA_HEAD.pack(DELTA_MAGIC, FORMAT_VERSION, ident, 0, block_length, basis_length)
        )

    def write(self, ops: Iterable[Op]) -> None:
        """Append ops (literals must be 1..MAX_LITERAL bytes)."""
        pending = self._pending
        for op in ops:
            if isinstance(op, LiteralData):
                n = len(op.data)
                if not 0 < n <= MAX_LITERAL:
                    msg = f"literal of {n} bytes (the format takes 1..{MAX_LITERAL})"
                    raise ValueError(msg)
                pending += _LITERAL.pack(_TAG_LITERAL, n)
                pending += op.data
            else:
                pending += _COPY.pack(_TAG_COPY, op.index, op.count)
            if len(pending) >= _WRITE_BATCH:
                self._f.write(pending)
                pending.clear()

    def finish(self, new_length: int, digest: bytes) -> None:
        """Write the end record: the new file's length and whole-file sum."""
        if len(digest) != self._digest_size:
            msg = f"whole-file sum of {len(digest)} bytes, expected {self._digest_size}"
            raise ValueError(msg)
        self._pending += _END.pack(_TAG_END, new_length)
        self._pending += digest
        self._f.write(self._pending)
        self._pending.clear()


class DeltaReader:
    """Reads a delta file: the header on construction, then `ops()`, then the trailer.

    Attributes:
        checksum: Wire name of the whole-file sum's hash.
        rule: The matching unseeded `ChecksumRule`.
        block_length: Block length of the signature the delta was made from.
        basis_length: File length that signature describes.
        new_length: The new file's length (after `ops()` is exhausted).
        digest: The new file's whole-file sum (after `ops()` is exhausted).

    Raises:
        PatchError: Wrong magic or version, unknown checksum or a truncated header.
    """

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        head = _read_exact(f, _DELTA_HEAD.size, "delta header", PatchError)
        magic, version, ident, reserved, blen, basis_length = _DELTA_HEAD.unpack(head)
        _check_magic(magic, version, reserved, expected=DELTA_MAGIC, error=PatchError)
        self.checksum = _checksum_name(ident, PatchError)
        self.rule = ChecksumRule.plain(self.checksum)
        if blen < 1:
            msg = f"invalid block length {blen} in the delta header"
            raise PatchError(msg)
        self.block_length: int = blen
        self.basis_length: int = basis_length
        self.new_length: int | None = None
        self.digest: bytes | None = None

    def ops(self) -> Iterator[Op]:
        """Yield the ops; afterwards `new_length` and `digest` are set.

        Raises:
            PatchError: An unknown tag, an invalid literal length or count, truncation,
                or bytes after the end record.
        """
        for item in self.items():
            if isinstance(item, int):
                data = bytearray(item)
                with memoryview(data) as view:
                    self.read_literal(view)
                yield LiteralData(bytes(data))
            else:
                yield item

    def items(self) -> Iterator[BlockMatch | int]:
        """Yield copy ops, and the length of each literal whose bytes come next.

        After an int n, the caller must take exactly n bytes with `read_literal` before
        asking for the next item. Afterwards `new_length` and `digest` are set.

        Raises:
            PatchError: As `ops`.
        """
        f = self._f
        read = f.read
        what = {_TAG_LITERAL: "literal length", _TAG_COPY: "copy op", _TAG_END: "end record"}
        while True:
            # Every op has at least 4 bytes after its tag: read both in one call.
            head = read(5)
            if len(head) < 5:
                if not head:
                    msg = "truncated delta: no end record"
                    raise PatchError(msg)
                if head[0] not in what:
                    msg = f"unknown op tag {head[0]:#04x} in delta"
                    raise PatchError(msg)
                msg = f"truncated {what[head[0]]}: expected more than {len(head) - 1} bytes"
                raise PatchError(msg)
            kind = head[0]
            if kind == _TAG_LITERAL:
                (n,) = _U32.unpack_from(head, 1)
                if not 0 < n <= MAX_LITERAL:
                    msg = f"invalid literal length {n} (1..{MAX_LITERAL})"
                    raise PatchError(msg)
                yield n
            elif kind == _TAG_COPY:
                rest = _read_exact(f, 4, "copy op", PatchError)
                index, count = _COPY_FIELDS.unpack(head[1:] + rest)
                if not count:
                    msg = f"copy of 0 blocks at block {index}"
                    raise PatchError(msg)
                yield BlockMatch(index, count)
            elif kind == _TAG_END:
                rest = _read_exact(f, 4, "end record", PatchError)
                (self.new_length,) = _U64.unpack(head[1:] + rest)
                size = HASHES[self.checksum].digest_size
                self.digest = _read_exact(f, size, "whole-file sum", PatchError)
                if read(1):
                    msg = "trailing bytes after the delta's end record"
                    raise PatchError(msg)
                return
            else:
                msg = f"unknown op tag {kind:#04x} in delta"
                raise PatchError(msg)

    def read_literal(self, into: memoryview) -> None:
        """Fill `into` with the next literal bytes (see `items`).

        Raises:
            PatchError: The delta ends first.
        """
        f = self._f
        readinto = getattr(f, "readinto", None)
        size = into.nbytes
        got = 0
        while got < size:
            if readinto is not None:
                n = readinto(into[got:])
            else:
                data = f.read(size - got)
                n = len(data)
                into[got : got + n] = data
            if not n:
                msg = f"truncated literal data: expected {size} bytes, got {got}"
                raise PatchError(msg)
            got += n

    def patch(self, basis: Source, out: IO[bytes], *, hasher: Hasher | None = None) -> int:
        """Apply this delta to `basis`, writing the new file to `out`.

        Literal bytes go from the delta file straight into the output buffers. The
        caller checks `new_length` and `digest` against what was written (and `hasher`).

        Returns:
            The number of bytes written.

        Raises:
            PatchError: A bad delta or a block out of range.
            OSError: Reading or writing failed.
        """
        return patch_stream(
            basis,
            self.items(),
            self.read_literal,
            out,
            block_length=self.block_length,
            hasher=hasher,
        )
