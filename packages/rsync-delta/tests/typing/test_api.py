"""The public API's types, checked by mypy (assert_type) and run as a smoke test."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import assert_type

import numpy as np
import numpy.typing as npt

import rsync_delta
from rsync_delta import (
    HASHES,
    MAX_LITERAL,
    BlockMatch,
    ChecksumRule,
    DeltaError,
    DeltaGenerator,
    HashInfo,
    LiteralData,
    Op,
    Patcher,
    PatchError,
    RollingChecksum,
    Signature,
    SignatureError,
    apply_patch,
    block_length_for,
    block_weak_sums,
    delta,
    new_hasher,
    patch,
    signature,
    strong_length_for,
    weak_sum,
    weak_sums_at_every_offset,
)


def test_public_api_types() -> None:
    rule = ChecksumRule.for_session(protocol=31, negotiated="xxh128", seed=1, seed_fix=True)
    assert_type(rule, ChecksumRule)
    assert_type(rule.block_sum(b"x"), bytes)
    assert_type(rule.digest_size, int)
    assert_type(HASHES["md5"], HashInfo)
    h = rule.file_hasher()
    h.update(b"x")
    assert_type(h.digest(), bytes)
    assert_type(new_hasher("md4").digest(), bytes)
    assert_type(weak_sum(b"abc"), int)
    assert_type(block_weak_sums(b"abc", 2), npt.NDArray[np.uint32])
    assert_type(weak_sums_at_every_offset(b"abc", 2), npt.NDArray[np.uint32])
    roll = RollingChecksum(b"ab")
    roll.roll(97, 99)
    assert_type(roll.value, int)
    assert_type(block_length_for(10, protocol=31), int)
    assert_type(strong_length_for(10, 700, protocol=31, digest_size=16), int)
    sig = signature(b"hello world", rule=rule)
    assert_type(sig, Signature)
    assert_type(sig.weak, npt.NDArray[np.uint32])
    assert_type(sig.strong, bytes)
    assert_type(sig.count, int)
    same = Signature.from_sums(
        block_length=sig.block_length,
        strong_length=sig.strong_length,
        remainder=sig.remainder,
        weak=sig.weak,
        strong=sig.strong,
    )
    assert same == sig
    ops = delta(sig, b"hello there world", rule)
    assert_type(ops, Iterator[Op])
    gen = DeltaGenerator(sig, rule)
    assert_type(gen.feed(b"hello"), list[Op])
    assert_type(gen.finish(), list[Op])
    out = io.BytesIO()
    assert_type(patch(b"hello world", list(ops), out, block_length=sig.block_length), int)
    assert apply_patch is patch
    assert_type(Patcher(b"", block_length=1), Patcher)
    op: Op = BlockMatch(0)
    assert isinstance(op, BlockMatch | LiteralData)
    assert MAX_LITERAL == 32768
    assert issubclass(SignatureError, DeltaError)
    assert issubclass(PatchError, DeltaError)


def test_all_names_resolve() -> None:
    for name in rsync_delta.__all__:
        assert getattr(rsync_delta, name) is not None
    assert set(rsync_delta.__all__) <= set(dir(rsync_delta))
