# ruff: noqa: S311  (seeded test data, not cryptography)
from __future__ import annotations

import io
import random
import sys
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsync_delta.delta import MAX_CHAIN_LEN, DeltaGenerator, delta
from rsync_delta.errors import DeltaError
from rsync_delta.hashes import ChecksumRule
from rsync_delta.ops import MAX_LITERAL, BlockMatch, LiteralData, Op
from rsync_delta.patch import patch
from rsync_delta.rolling import weak_sum
from rsync_delta.signature import Signature, signature

XXH = ChecksumRule.plain("xxh128")

Token = tuple[str, Any]


def tokens(ops: list[Op]) -> list[Token]:
    """One ("B", index) per block, literal runs merged: rsync's token view of the ops."""
    out: list[Token] = []
    for op in ops:
        if isinstance(op, BlockMatch):
            out += [("B", op.index + k) for k in range(op.count)]
        elif out and out[-1][0] == "L":
            out[-1] = ("L", out[-1][1] + op.data)
        else:
            out.append(("L", op.data))
    return out


def reference_tokens(sig: Signature, rule: ChecksumRule, new: bytes) -> list[Token]:
    """match.c hash_search(), offset by offset: the semantics the fast code must keep."""
    count = sig.count
    if not count:
        return [("L", new)] if new else []
    blen, slen = sig.block_length, sig.strong_length
    lengths = [blen] * count
    lengths[-1] = sig.last_length
    weak = [int(w) for w in sig.weak]
    chains: dict[int, list[int]] = defaultdict(list)
    for i in reversed(range(count)):  # rsync's chain: highest index first
        chains[weak[i]].append(i)
    out: list[Token] = []
    want = offset = last = 0
    end = len(new) + 1 - lengths[-1]
    while offset < end:
        size = min(blen, len(new) - offset)
        window = new[offset : offset + size]
        key = weak_sum(window)
        digest = None
        found = -1
        for seen, i in enumerate(chains.get(key, []), 1):
            if seen > MAX_CHAIN_LEN:
                break
            if lengths[i] != size:
                continue
            if digest is None:
                digest = rule.block_sum(window)[:slen]
            if digest != sig.block_strong(i):
                continue
            if (
                i != want
                and want < count
                and weak[want] == key
                and lengths[want] == size
                and digest == sig.block_strong(want)
            ):
                i = want
            found = i
            break
        if found < 0:
            offset += 1
            continue
        if offset > last:
            out.append(("L", new[last:offset]))
        out.append(("B", found))
        want = found + 1
        offset += lengths[found]
        last = offset
    if last < len(new):
        out.append(("L", new[last:]))
    return out


def roundtrip(basis: bytes, new: bytes, sig: Signature, rule: ChecksumRule) -> list[Op]:
    ops = list(delta(sig, new, rule))
    out = io.BytesIO()
    assert patch(basis, ops, out, block_length=sig.block_length) == len(new)
    assert out.getvalue() == new
    for op in ops:
        if isinstance(op, LiteralData):
            assert 0 < len(op.data) <= MAX_LITERAL
    return ops


def random_bytes(seed: int, n: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


# -- vectors from real rsync ------------------------------------------------------------


def test_matches_rsync_token_stream_simple() -> None:
    # rsync 3.5.0 (--debug=deltasum2, --checksum-seed=12345, xxh128, protocol 32) sending
    # `new` against `basis`: match block 0, 700 literal bytes, match the short block 2.
    rng = random.Random(42)
    new = bytes(rng.getrandbits(8) for _ in range(2000))
    basis = bytearray(new)
    basis[1000:1010] = b"X" * 10
    rule = ChecksumRule.for_session(protocol=32, negotiated="xxh128", seed=12345, seed_fix=True)
    sig = signature(bytes(basis), rule=rule, protocol=32)
    assert (sig.block_length, sig.strong_length, sig.remainder) == (700, 2, 600)
    ops = roundtrip(bytes(basis), new, sig, rule)
    assert ops == [BlockMatch(0), LiteralData(new[700:1400]), BlockMatch(2)]


def test_matches_rsync_chain_order_and_want() -> None:
    # rsync 3.5.0 with --block-size=8: equal blocks resolve to the expected next block
    # (want_i) when it matches, otherwise to the highest index of the hash chain.
    x, y, z = bytes(range(10, 18)), bytes(range(50, 58)), bytes(range(200, 205))
    basis = x + x + x + y + z
    new = x + y + x + x + b"!" + x + z
    rule = ChecksumRule.for_session(protocol=32, negotiated="xxh128", seed=0, seed_fix=True)
    sig = signature(basis, rule=rule, block_length=8)
    ops = roundtrip(basis, new, sig, rule)
    assert tokens(ops) == [
        ("B", 0),
        ("B", 3),
        ("B", 2),
        ("B", 2),
        ("L", b"!"),
        ("B", 2),
        ("B", 4),
    ]


# -- the search semantics, against the offset-by-offset reference -----------------------

alphabets = st.sampled_from([b"ab", b"abc", b"\x00\x80\xff", bytes(range(256))])


@st.composite
def basis_and_new(draw: st.DrawFn) -> tuple[bytes, bytes]:
    alphabet = draw(alphabets)
    unit = draw(st.sampled_from([1, 3, 8]))
    n = draw(st.integers(0, 1500))
    rng = random.Random(draw(st.integers(0, 2**32)))
    basis = bytes(alphabet[rng.randrange(len(alphabet))] for _ in range(n // unit + 1))
    basis = bytes(b for b in basis for _ in range(unit))[:n]
    new = bytearray(basis)
    for _ in range(draw(st.integers(0, 6))):
        pos = rng.randint(0, len(new))
        size = rng.randint(1, 120)
        kind = rng.choice("idrc")
        if kind == "i":
            new[pos:pos] = bytes(alphabet[rng.randrange(len(alphabet))] for _ in range(size))
        elif kind == "d":
            del new[pos : pos + size]
        elif kind == "r":
            new[pos : pos + size] = bytes(
                alphabet[rng.randrange(len(alphabet))] for _ in range(size)
            )
        else:
            src = rng.randint(0, len(new))
            new[pos:pos] = new[src : src + size]
    return basis, bytes(new)


@given(
    basis_and_new(),
    st.integers(1, 64),
    st.integers(0, 3),
    st.sampled_from(["xxh128", "md5", "md4"]),
)
@settings(max_examples=150)
def test_same_tokens_as_reference(
    files: tuple[bytes, bytes], blen: int, slen: int, checksum: str
) -> None:
    basis, new = files
    rule = ChecksumRule.for_session(protocol=31, negotiated=checksum, seed=77, seed_fix=True)
    sig = signature(basis, rule=rule, block_length=blen, strong_length=slen)
    ops = list(delta(sig, new, rule))
    assert tokens(ops) == reference_tokens(sig, rule, new)
    if slen >= 2:  # with 0 or 1 strong bytes, false matches are expected
        out = io.BytesIO()
        patch(basis, ops, out, block_length=blen)
        assert out.getvalue() == new


# -- round trips ------------------------------------------------------------------------


@given(basis_and_new(), st.sampled_from([None, 1, 2, 7, 16, 100, 700]))
@settings(max_examples=120)
def test_roundtrip_edits(files: tuple[bytes, bytes], blen: int | None) -> None:
    basis, new = files
    sig = signature(basis, rule=XXH, block_length=blen, strong_length=16)
    roundtrip(basis, new, sig, XXH)


@given(st.binary(max_size=5000), st.binary(max_size=5000), st.integers(1, 300))
def test_roundtrip_unrelated(basis: bytes, new: bytes, blen: int) -> None:
    sig = signature(basis, rule=XXH, block_length=blen, strong_length=16)
    roundtrip(basis, new, sig, XXH)


@pytest.mark.parametrize(
    ("basis_len", "new_len"),
    [(0, 0), (0, 10), (10, 0), (5, 5), (699, 699), (700, 700), (701, 701), (1400, 1400)],
)
def test_empty_short_and_exact_multiples(basis_len: int, new_len: int) -> None:
    basis = random_bytes(1, basis_len)
    new = basis[:new_len] if new_len <= basis_len else random_bytes(2, new_len)
    sig = signature(basis, rule=XXH)
    ops = roundtrip(basis, new, sig, XXH)
    if new_len == basis_len and basis_len:
        assert all(isinstance(op, BlockMatch) for op in ops)
        assert sum(op.count for op in ops if isinstance(op, BlockMatch)) == sig.count


def test_short_last_block_only_matches_at_the_end() -> None:
    basis = random_bytes(3, 1000)  # blocks [0, 700) and the short [700, 1000)
    tail = basis[700:]
    sig = signature(basis, rule=XXH)
    # The tail in the middle of the new file is not a match ...
    ops = roundtrip(basis, new := tail + b"x" * 50, sig, XXH)
    assert tokens(ops) == [("L", new)]
    # ... but at the very end it is.
    ops = roundtrip(basis, new := b"x" * 50 + tail, sig, XXH)
    assert tokens(ops) == [("L", b"x" * 50), ("B", 1)]


def test_both_weak_and_strong_must_match() -> None:
    basis = random_bytes(4, 2100)
    good = signature(basis, rule=XXH, block_length=700, strong_length=16)
    bad_weak = Signature.from_sums(
        block_length=700,
        strong_length=16,
        remainder=0,
        weak=good.weak ^ np.uint32(1),
        strong=good.strong,
    )
    flipped = bytes(b ^ 1 for b in good.strong)
    bad_strong = Signature.from_sums(
        block_length=700, strong_length=16, remainder=0, weak=good.weak, strong=flipped
    )
    assert tokens(list(delta(good, basis, XXH))) == [("B", 0), ("B", 1), ("B", 2)]
    assert tokens(list(delta(bad_weak, basis, XXH))) == [("L", basis)]
    assert tokens(list(delta(bad_strong, basis, XXH))) == [("L", basis)]


def test_zero_strong_length_matches_on_weak_alone() -> None:
    basis = random_bytes(5, 1400)
    sig = signature(basis, rule=XXH, block_length=700, strong_length=0)
    assert sig.strong == b""
    assert tokens(list(delta(sig, basis, XXH))) == [("B", 0), ("B", 1)]


def null_blocks(count: int) -> list[bytes]:
    """Distinct 8-byte blocks with one weak sum: v = (1,-1,-1,1) shifted keeps s1 and s2."""
    out = []
    for k in range(count):
        block = [64] * 8
        digits = [(k // 5**j) % 5 for j in range(5)]
        for shift, d in enumerate(digits):
            for t, v in enumerate((1, -1, -1, 1)):
                block[shift + t] += d * v
        out.append(bytes(block))
    assert len(set(out)) == count
    assert len({weak_sum(b) for b in out}) == 1
    return out


@pytest.mark.parametrize(("count", "matched"), [(1000, True), (MAX_CHAIN_LEN + 50, False)])
def test_chain_walk_is_capped(count: int, matched: bool) -> None:
    blocks = null_blocks(count)
    basis = b"".join(blocks)
    # Block 0 comes last in the chain; a leading byte keeps `want` (block 0) off the
    # fast path, so only the chain walk can find it.
    new = b"!" + blocks[0]
    sig = signature(basis, rule=XXH, block_length=8, strong_length=16)
    toks = tokens(list(delta(sig, new, XXH)))
    assert toks == reference_tokens(sig, XXH, new)
    assert toks == ([("L", b"!"), ("B", 0)] if matched else [("L", new)])


# -- streaming --------------------------------------------------------------------------


@given(basis_and_new(), st.integers(1, 50), st.lists(st.integers(1, 400), min_size=1))
@settings(max_examples=100)
def test_split_feeding_gives_the_same_ops(
    files: tuple[bytes, bytes], blen: int, cuts: list[int]
) -> None:
    basis, new = files
    sig = signature(basis, rule=XXH, block_length=blen, strong_length=4)
    whole = DeltaGenerator(sig, XXH)
    expected = whole.feed(new) + whole.finish()
    gen = DeltaGenerator(sig, XXH)
    ops: list[Op] = []
    pos = 0
    i = 0
    while pos < len(new):
        step = cuts[i % len(cuts)]
        ops += gen.feed(new[pos : pos + step])
        pos += step
        i += 1
    ops += gen.feed(b"")
    ops += gen.finish()
    assert ops == expected
    assert gen.matched_bytes + gen.literal_bytes == len(new)


def test_literal_runs_are_cut_at_32k() -> None:
    new = random_bytes(6, 3 * MAX_LITERAL + 1696)
    sig = signature(b"", rule=XXH)
    ops = list(delta(sig, new, XXH))
    assert [len(op.data) for op in ops if isinstance(op, LiteralData)] == [32768] * 3 + [1696]
    # The same cut points from the start of each run, whatever the feed sizes.
    gen = DeltaGenerator(sig, XXH)
    fed = [op for k in range(0, len(new), 5000) for op in gen.feed(new[k : k + 5000])]
    assert fed + gen.finish() == ops


def test_mostly_unchanged_file_is_mostly_matched() -> None:
    basis = random_bytes(7, 4 << 20)
    new = bytearray(basis)
    rng = random.Random(7)
    for _ in range(20):
        pos = rng.randrange(len(new) - 5000)
        new[pos : pos + rng.randint(1, 3000)] = random_bytes(rng.randrange(1000), 2000)
    new[1000:1000] = b"inserted"
    del new[2_000_000:2_000_300]
    sig = signature(basis, rule=XXH)
    gen = DeltaGenerator(sig, XXH)
    ops = gen.feed(bytes(new)) + gen.finish()
    out = io.BytesIO()
    patch(basis, ops, out, block_length=sig.block_length)
    assert out.getvalue() == new
    assert gen.matched_bytes > len(new) * 0.95
    assert gen.literal_bytes < 200_000
    assert len(ops) < 200  # consecutive blocks travel as runs


def test_runs_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    # `rsync_delta.delta` names the function; the module is only reachable this way.
    monkeypatch.setattr(sys.modules["rsync_delta.delta"], "_RUN_BYTES", 3 * 64)
    basis = random_bytes(8, 64 * 10)
    sig = signature(basis, rule=XXH, block_length=64)
    ops = list(delta(sig, basis, XXH))
    assert ops == [BlockMatch(0, 3), BlockMatch(3, 3), BlockMatch(6, 3), BlockMatch(9, 1)]


def test_misuse() -> None:
    sig = signature(b"abc", rule=XXH, strong_length=16)
    with pytest.raises(DeltaError, match="digests have 8"):
        DeltaGenerator(sig, ChecksumRule.plain("xxh64"))
    gen = DeltaGenerator(sig, XXH)
    assert gen.finish() == []
    with pytest.raises(DeltaError, match="after finish"):
        gen.feed(b"x")
    with pytest.raises(DeltaError, match="twice"):
        gen.finish()


def test_delta_reads_file_objects() -> None:
    basis = random_bytes(9, 100_000)
    new = basis[:50_000] + b"new" + basis[50_000:]
    sig = signature(io.BytesIO(basis), rule=XXH)
    assert list(delta(sig, io.BytesIO(new), XXH)) == list(delta(sig, new, XXH))


def test_remainder_equal_to_block_length_is_a_full_block() -> None:
    # rsync accepts remainder == blength (io.c read_sum_head); the last block is then an
    # ordinary full block, which may match anywhere.
    basis = random_bytes(10, 1400)
    sums = signature(basis, rule=XXH, block_length=700, strong_length=16)
    sig = Signature.from_sums(
        block_length=700, strong_length=16, remainder=700, weak=sums.weak, strong=sums.strong
    )
    assert sig.file_length == 1400
    new = basis[700:] + b"x" + basis[:700]
    ops = list(delta(sig, new, XXH))
    assert tokens(ops) == reference_tokens(sig, XXH, new) == [("B", 1), ("L", b"x"), ("B", 0)]


def test_no_basis_header_gives_literals() -> None:
    # The all-zero sum header rsync's generator sends for a missing basis.
    sig = Signature.from_sums(block_length=0, strong_length=0, remainder=0, weak=[], strong=b"")
    new = random_bytes(11, 70_000)
    ops = roundtrip(b"", new, sig, XXH)
    assert [len(op.data) for op in ops if isinstance(op, LiteralData)] == [32768, 32768, 4464]
