"""Delta generation: find the basis blocks inside a new file, as rsync's sender does.

`DeltaGenerator` is fed the new file in pieces of any size and returns `Op`s in file
order; `delta()` is the one-shot form over bytes or a file object. No I/O of its own.

How this works
--------------
The result is the one rsync's ``hash_search`` defines: at each offset of the new file, a
block matches when the window starting there has the block's length, its weak sum and
the first ``strong_length`` bytes of its strong sum. Among matching blocks the one after
the previous match (``want``) wins, otherwise the first in rsync's hash chain (the highest
index; at most 1024 candidates with an equal weak sum are examined). After a match the
search continues after the matched window, otherwise one byte further. The short last
block only matches the window of its own length that ends the file.

The search takes two routes to that result:

* **Fast path.** In a mostly unchanged file, block ``want`` is usually right at the
  current offset. Strong-hash the next windows against blocks ``want, want+1, ...`` one
  by one until one differs, then check the weak sums of that whole run with one
  vectorised call (`rolling.block_weak_sums`). No rolling at all.
* **Rolling path.** Where the fast path fails, compute the weak sum at every offset of a
  stretch with numpy (`rolling.WindowSums`), keep the offsets whose sum passes a
  bitmap filter of the signature's sums and then an exact sorted lookup, and verify
  those candidates' strong sums in offset order; after a match the verification
  continues past the matched block (the sums stay valid). What is not matched becomes
  literal. Stretches start at max(4 KiB, block length) offsets and double while
  nothing matches, up to 256 Ki offsets (whose int64 temporaries still fit the CPU
  caches).

One deliberate difference: rsync only prefers ``want`` among the matches its chain walk
found, so where more than 1024 blocks share a weak sum it can give up before reaching
``want``; the fast path checks ``want`` directly and matches it. Either is a valid delta.
(Debian's rsync 3.5.0 build also skips ahead a block after some runs of false alarms, a
change that is not in upstream's match.c and is not copied here.)

Streaming: the generator keeps only the pending literal (< 32 KiB), the current window
and the unscanned input, so memory is bounded for any file size. Literal runs are cut
into `MAX_LITERAL` pieces counted from the start of each run, and consecutive block
matches are merged into `BlockMatch` runs of at most 16 MiB, so the ops do not depend on
how the input was split into `feed` calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from rsync_delta._io import Source, iter_chunks, remaining_length
from rsync_delta.errors import DeltaError
from rsync_delta.ops import MAX_LITERAL, BlockMatch, LiteralData, Op
from rsync_delta.rolling import WindowSums, block_weak_sums, weak_sum

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rsync_delta._types import Buffer
    from rsync_delta.hashes import ChecksumRule
    from rsync_delta.signature import Signature

__all__ = ["MAX_CHAIN_LEN", "DeltaGenerator", "delta"]

MAX_CHAIN_LEN: Final = 1024
"""Most blocks with an equal weak sum examined at one offset (rsync 3.5.0's cap).

rsync: match.c MAX_CHAIN_LEN
"""
_ROLL_MIN: Final = 4 << 10
_ROLL_MAX: Final = 256 << 10
_FAST_BATCH_BYTES: Final = 4 << 20
_RUN_BYTES: Final = 16 << 20
_READ_CHUNK: Final = 4 << 20
_HASH_MULT: Final = np.uint32(0x9E3779B1)


class _WeakIndex:
    """The signature's weak sums, indexed for vectorised candidate search.

    A bitmap over a multiplicative hash of each sum rejects most offsets with one table
    read; survivors are checked exactly against the sorted distinct sums. For each
    distinct sum the block indices are kept in rsync's hash-chain order (descending).
    Scratch arrays are reused between calls (see `rolling.WindowSums`).
    """

    __slots__ = (
        "_bits",
        "_ends",
        "_hash",
        "_hit",
        "_order",
        "_shift",
        "_starts",
        "_table",
        "_uniq",
    )

    def __init__(self, weak: npt.NDArray[np.uint32], max_keys: int) -> None:
        count = weak.size
        index = np.arange(count, dtype=np.int64)
        order = np.lexsort((-index, weak))
        sorted_weak = weak[order]
        uniq, starts = np.unique(sorted_weak, return_index=True)
        self._uniq = uniq.astype(np.uint32)
        self._starts = starts
        self._ends = np.append(starts[1:], count)
        self._order = order
        bits = min(25, max(16, count.bit_length() + 10))
        self._shift = np.uint32(32 - bits)
        hashed = (self._uniq * _HASH_MULT) >> self._shift
        table = np.zeros(1 << (bits - 3), dtype=np.uint8)
        np.bitwise_or.at(table, hashed >> 3, (np.uint8(1) << (hashed & 7).astype(np.uint8)))
        self._table = table
        self._hash = np.empty(max_keys, dtype=np.uint32)
        self._bits = np.empty(max_keys, dtype=np.uint32)
        self._hit = np.empty(max_keys, dtype=np.uint8)

    def candidates(self, keys: npt.NDArray[np.uint32]) -> npt.NDArray[np.intp]:
        """Return the positions in `keys` holding a weak sum of some block, ascending."""
        m = keys.size
        hashed = self._hash[:m]
        bit = self._bits[:m]
        hit = self._hit[:m]
        np.multiply(keys, _HASH_MULT, out=hashed)
        hashed >>= self._shift
        np.bitwise_and(hashed, 7, out=bit)
        hashed >>= 3
        np.take(self._table, hashed, out=hit)
        np.right_shift(hit, bit, out=hit, casting="unsafe")
        hit &= 1
        pos = np.flatnonzero(hit.view(np.bool_))
        if pos.size:
            sums = keys[pos]
            where = np.searchsorted(self._uniq, sums)
            where[where >= self._uniq.size] = 0
            pos = pos[self._uniq[where] == sums]
        return pos

    def chain(self, key: int) -> list[int]:
        """Return the blocks whose weak sum is `key`, in rsync's chain order."""
        where = int(np.searchsorted(self._uniq, key))
        if where >= self._uniq.size or int(self._uniq[where]) != key:
            return []
        lo = int(self._starts[where])
        hi = int(self._ends[where])
        chain: list[int] = self._order[lo:hi].tolist()
        return chain


class DeltaGenerator:
    """Incremental delta: feed the new file, get `BlockMatch`/`LiteralData` ops.

    Feeding the same bytes split at any boundaries gives the same ops. After `finish`
    (or after an exception) the generator is spent; create a new one per file.

    Attributes:
        matched_bytes: Bytes of the new file covered by block matches so far.
        literal_bytes: Bytes emitted as literal data so far.

    Args:
        signature: The basis file's block sums.
        rule: The checksum rule the signature was made with (for the strong sums).

    Raises:
        DeltaError: If the signature keeps more strong bytes than the rule's digest has.

    rsync: match.c match_sums(), hash_search()
    """

    def __init__(self, signature: Signature, rule: ChecksumRule) -> None:
        if signature.strong_length > rule.digest_size:
            msg = (
                f"signature keeps {signature.strong_length} strong bytes per block, but "
                f"{rule.name} digests have {rule.digest_size}"
            )
            raise DeltaError(msg)
        self._sig = signature
        self._blen = signature.block_length
        self._slen = signature.strong_length
        self._count = signature.count
        # A remainder equal to the block length (rsync accepts it) is a full last block.
        self._tail = signature.remainder if signature.remainder < self._blen else 0
        self._nfull = self._count - 1 if self._tail else self._count
        self._weak = signature.weak
        self._strong = signature.strong
        self._block_fn = rule._block_fn  # same package: one call less per block
        self._index: _WeakIndex | None = None
        self._sums: WindowSums | None = None
        self._buf = bytearray()
        self._base = 0  # file offset of _buf[0]
        self._pos = 0  # first offset not searched yet
        self._lit = 0  # start of the pending literal run (always <= _pos)
        self._want = 0  # the block expected next (rsync's want_i)
        self._run_start = 0
        self._run_count = 0
        self._run_cap = max(1, _RUN_BYTES // self._blen) if self._blen else 1
        self._fast_cap = max(1, _FAST_BATCH_BYTES // self._blen) if self._blen else 1
        self._roll_min = max(_ROLL_MIN, min(self._blen, _ROLL_MAX))
        self._roll_len = self._roll_min
        self._done = False
        self.matched_bytes = 0
        self.literal_bytes = 0
        # rsync's match.c counters (what --debug=deltasum reports): offsets whose weak sum
        # is some block's, strong sums compared in vain, and blocks matched
        self.hash_hits = 0
        self.false_alarms = 0
        self.matches = 0

    # -- public -----------------------------------------------------------------------

    def feed(self, data: Buffer) -> list[Op]:
        """Add the next bytes of the new file; return the ops that are now decided.

        Raises:
            DeltaError: After `finish`.
        """
        if self._done:
            msg = "feed() after finish()"
            raise DeltaError(msg)
        self._buf += data
        ops: list[Op] = []
        self._scan(ops)
        self._trim()
        return ops

    def finish(self) -> list[Op]:
        """Signal the end of the new file; return the remaining ops.

        Raises:
            DeltaError: If called twice.
        """
        if self._done:
            msg = "finish() called twice"
            raise DeltaError(msg)
        self._done = True
        ops: list[Op] = []
        self._scan(ops)
        end = self._base + len(self._buf)
        tail = self._tail
        if self._count and tail and self._pos <= end - tail:
            start = end - tail
            last = self._count - 1
            with memoryview(self._buf) as view:
                window = view[start - self._base :]
                if weak_sum(window) == int(self._weak[last]):
                    self.hash_hits += 1
                    if self._block_fn(window)[: self._slen] == self._sig.block_strong(last):
                        self._match(ops, start, last, 1, tail)
                    else:
                        self.false_alarms += 1
        self._literal(ops, end)
        self._flush_run(ops)
        self._buf = bytearray()
        self._base = end
        return ops

    # -- search -----------------------------------------------------------------------

    def _scan(self, ops: list[Op]) -> None:
        """Decide every offset whose full window is buffered."""
        blen = self._blen
        if not self._nfull:
            # No full-length block: only a short last block can match, and only at the
            # very end, which lies after every offset with a whole window buffered.
            end = self._base + len(self._buf)
            self._pos = max(self._pos, end - blen + 1) if blen else end
            self._flush_literal(ops)
            return
        while True:
            end = self._base + len(self._buf)
            if self._pos + blen > end:
                break
            if self._want < self._nfull and self._fast(ops):
                continue
            self._roll(ops, end)
            self._flush_literal(ops)
        self._flush_literal(ops)

    def _fast(self, ops: list[Op]) -> bool:
        """Match blocks want, want+1, ... right at the current offset; True if any did."""
        blen = self._blen
        slen = self._slen
        want = self._want
        off = self._pos - self._base
        limit = min((len(self._buf) - off) // blen, self._nfull - want, self._fast_cap)
        strong = self._strong
        block_fn = self._block_fn
        matched = 0
        with memoryview(self._buf) as view:
            for j in range(limit):
                o = off + j * blen
                s = (want + j) * slen
                if block_fn(view[o : o + blen])[:slen] != strong[s : s + slen]:
                    break
                matched += 1
            if not matched:
                return False
            sums = block_weak_sums(view[off : off + matched * blen], blen)
        same = sums == self._weak[want : want + matched]
        if not same.all():
            matched = int(np.argmin(same))
            if not matched:
                return False
        self.hash_hits += matched
        self._match(ops, self._pos, want, matched, matched * blen)
        return True

    def _roll(self, ops: list[Op], end: int) -> None:
        """Search a stretch offset by offset, with the weak sums of all of it at once.

        Offsets whose weak sum belongs to no block cannot match; the others are verified
        in order. A match moves the search past the matched block, where the sums already
        computed stay valid, so the stretch is finished before the fast path resumes.
        """
        blen = self._blen
        pos = self._pos
        stop = min(end - blen, pos + self._roll_len - 1)
        index = self._index
        sums = self._sums
        if index is None or sums is None:
            sums = self._sums = WindowSums(blen, _ROLL_MAX)
            index = self._index = _WeakIndex(self._weak, _ROLL_MAX)
        matched = False
        off = pos - self._base
        with memoryview(self._buf) as view:
            x = np.frombuffer(view[off : stop - self._base + blen], dtype=np.int8)
            keys = sums.compute(x)
            for rel in index.candidates(keys).tolist():
                offset = pos + rel
                if offset < self._pos:
                    continue  # inside the block matched last
                block = self._verify(view, offset, int(keys[rel]))
                if block >= 0:
                    self._match(ops, offset, block, 1, blen)
                    matched = True
        self._pos = max(self._pos, stop + 1)
        self._roll_len = self._roll_min if matched else min(_ROLL_MAX, 2 * self._roll_len)

    def _verify(self, view: memoryview, offset: int, key: int) -> int:
        """Return the block matching the full window at `offset`, or -1.

        rsync: match.c hash_search() (the chain walk and the want_i preference)
        """
        assert self._index is not None  # noqa: S101  (built by _roll before use)
        blen = self._blen
        slen = self._slen
        strong = self._strong
        digest: bytes | None = None
        self.hash_hits += 1
        for seen, block in enumerate(self._index.chain(key)):
            if seen >= MAX_CHAIN_LEN:
                break
            if block >= self._nfull:
                continue  # the short last block never fits a full window
            if digest is None:
                o = offset - self._base
                digest = self._block_fn(view[o : o + blen])[:slen]
            if digest != strong[block * slen : block * slen + slen]:
                self.false_alarms += 1
                continue
            want = self._want
            if (
                block != want
                and want < self._nfull
                and int(self._weak[want]) == key
                and digest == strong[want * slen : want * slen + slen]
            ):
                block = want
            return block
        return -1

    # -- output -----------------------------------------------------------------------

    def _match(self, ops: list[Op], offset: int, block: int, count: int, nbytes: int) -> None:
        """Record `count` blocks from `block` matched at `offset` (`nbytes` in all)."""
        self._literal(ops, offset)
        self.matches += count
        cap = self._run_cap
        while count:
            if self._run_count and block == self._run_start + self._run_count:
                take = min(count, cap - self._run_count)
                if take:
                    self._run_count += take
                    block += take
                    count -= take
                    continue
            self._flush_run(ops)
            take = min(count, cap)
            self._run_start = block
            self._run_count = take
            block += take
            count -= take
        self.matched_bytes += nbytes
        self._pos = self._lit = offset + nbytes
        self._want = block

    def _literal(self, ops: list[Op], upto: int) -> None:
        """Emit the pending literal up to `upto`, in pieces of at most MAX_LITERAL."""
        lit = self._lit
        if upto <= lit:
            return
        self._flush_run(ops)
        base = self._base
        with memoryview(self._buf) as view:
            for start in range(lit, upto, MAX_LITERAL):
                stop = min(start + MAX_LITERAL, upto)
                ops.append(LiteralData(bytes(view[start - base : stop - base])))
        self.literal_bytes += upto - lit
        self._lit = upto

    def _flush_literal(self, ops: list[Op]) -> None:
        """Emit the whole MAX_LITERAL pieces of the pending literal."""
        whole = (self._pos - self._lit) // MAX_LITERAL * MAX_LITERAL
        if whole:
            self._literal(ops, self._lit + whole)

    def _flush_run(self, ops: list[Op]) -> None:
        if self._run_count:
            ops.append(BlockMatch(self._run_start, self._run_count))
            self._run_count = 0

    def _trim(self) -> None:
        """Drop buffered bytes before the pending literal."""
        drop = self._lit - self._base
        if drop:
            del self._buf[:drop]
            self._base = self._lit


def delta(signature: Signature, new: Source, rule: ChecksumRule) -> Iterator[Op]:
    """Yield the ops that turn the basis of `signature` into `new`.

    Args:
        signature: The basis file's block sums.
        new: The new file: bytes, or a binary file object read to EOF in 4 MiB chunks.
        rule: The checksum rule the signature was made with.

    Yields:
        `BlockMatch` and `LiteralData` ops in file order.

    Raises:
        DeltaError: If the signature and the rule do not fit together.
        OSError: Reading `new` failed.

    rsync: match.c match_sums()
    """
    gen = DeltaGenerator(signature, rule)
    for chunk in iter_chunks(new, _READ_CHUNK, size_hint=remaining_length(new)):
        yield from gen.feed(chunk)
    yield from gen.finish()
