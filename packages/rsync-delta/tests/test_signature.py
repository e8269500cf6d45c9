from __future__ import annotations

import io
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rsync_delta.errors import SignatureError
from rsync_delta.hashes import ChecksumRule
from rsync_delta.rolling import weak_sum
from rsync_delta.signature import Signature, signature

XXH = ChecksumRule.plain("xxh128")
MD5 = ChecksumRule.for_session(protocol=31, negotiated=None, seed=99, seed_fix=True)


def random_bytes(seed: int, n: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def test_signature_fields_and_sums() -> None:
    data = random_bytes(1, 2000)
    sig = signature(data, rule=MD5)
    assert (sig.block_length, sig.strong_length, sig.remainder, sig.count) == (700, 2, 600, 3)
    assert sig.file_length == 2000
    assert sig.last_length == 600
    blocks = [data[0:700], data[700:1400], data[1400:]]
    assert sig.weak.tolist() == [weak_sum(b) for b in blocks]
    assert sig.strong == b"".join(MD5.block_sum(b)[:2] for b in blocks)
    assert sig.block_strong(2) == MD5.block_sum(blocks[2])[:2]


def test_exact_multiple_and_empty() -> None:
    sig = signature(random_bytes(2, 1400), rule=XXH)
    assert (sig.count, sig.remainder, sig.last_length, sig.file_length) == (2, 0, 700, 1400)
    empty = signature(b"", rule=XXH)
    assert (empty.count, empty.remainder, empty.file_length, empty.strong) == (0, 0, 0, b"")
    assert empty.block_length == 700


def test_explicit_lengths_and_limits() -> None:
    sig = signature(b"abcdefgh", rule=XXH, block_length=3, strong_length=16)
    assert (sig.count, sig.remainder, len(sig.strong)) == (3, 2, 48)
    with pytest.raises(ValueError, match="strong length"):
        signature(b"abc", rule=ChecksumRule.plain("xxh64"), strong_length=9)
    with pytest.raises(ValueError, match="out of range"):
        signature(b"abc", rule=XXH, block_length=1 << 20)
    big = signature(b"abc", rule=XXH, block_length=1 << 20, protocol=29)
    assert big.block_length == 1 << 20


@given(st.binary(max_size=20_000), st.integers(1, 3000))
def test_file_objects_and_bytes_agree(data: bytes, blen: int) -> None:
    a = signature(data, rule=XXH, block_length=blen)
    b = signature(io.BytesIO(data), rule=XXH, block_length=blen)
    assert a == b


def test_reads_from_the_current_position(tmp_path: os.PathLike[str]) -> None:
    data = random_bytes(3, 50_000)
    path = os.path.join(tmp_path, "f")
    with open(path, "wb") as f:
        f.write(b"skip" + data)
    with open(path, "rb") as f:
        f.seek(4)
        assert signature(f, rule=XXH) == signature(data, rule=XXH)


class Pipe(io.RawIOBase):
    """An unseekable stream that returns short reads."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = min(len(buf), 777, len(self._data))
        buf[:n] = self._data[:n]
        self._data = self._data[n:]
        return n


def test_unseekable_input_needs_explicit_lengths() -> None:
    data = random_bytes(4, 10_000)
    with pytest.raises(ValueError, match="unseekable"):
        signature(Pipe(data), rule=XXH)
    sig = signature(Pipe(data), rule=XXH, block_length=700, strong_length=16)
    assert sig == signature(data, rule=XXH, block_length=700, strong_length=16)


def test_from_sums_and_wire_layout() -> None:
    sig = signature(random_bytes(5, 5000), rule=MD5, strong_length=5)
    packed = sig.packed()
    assert len(packed) == sig.count * (4 + 5)
    assert packed[:4] == int(sig.weak[0]).to_bytes(4, "little")
    again = Signature.from_packed(packed, block_length=700, strong_length=5, remainder=100)
    assert again == sig
    signed = sig.weak.view(np.int32)
    assert (
        Signature.from_sums(
            block_length=700, strong_length=5, remainder=100, weak=signed, strong=sig.strong
        )
        == sig
    )
    as_ints = [int(w) - (1 << 32) if w >= 1 << 31 else int(w) for w in sig.weak]
    assert (
        Signature.from_sums(
            block_length=700, strong_length=5, remainder=100, weak=as_ints, strong=sig.strong
        )
        == sig
    )


def test_weak_array_is_a_read_only_view() -> None:
    weak = np.array([1, 2], dtype=np.uint32)
    sig = Signature.from_sums(block_length=4, strong_length=0, remainder=0, weak=weak, strong=b"")
    assert weak.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        sig.weak[0] = 5


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"block_length": 0, "weak": [1]}, "block length"),
        ({"block_length": -1}, "block length"),
        ({"strong_length": 65}, "strong length"),
        ({"remainder": 701}, "remainder"),
        ({"remainder": -1}, "remainder"),
        ({"remainder": 5, "weak": []}, "remainder"),
        ({"strong": b"x"}, "strong sums hold"),
        ({"weak": [1 << 32]}, "32 bits"),
        ({"weak": [1.5]}, "integers"),
    ],
)
def test_inconsistent_sums_are_rejected(fields: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "block_length": 700,
        "strong_length": 0,
        "remainder": 0,
        "weak": [1, 2],
        "strong": b"",
    }
    args.update(fields)
    with pytest.raises(SignatureError, match=message):
        Signature.from_sums(**args)  # type: ignore[arg-type]


def test_from_packed_rejects_partial_records() -> None:
    with pytest.raises(SignatureError, match="multiple"):
        Signature.from_packed(b"12345", block_length=700, strong_length=2, remainder=0)


def test_equality_and_repr() -> None:
    a = signature(b"hello world", rule=XXH)
    assert a != signature(b"hello world!", rule=XXH)
    assert a != "not a signature"
    assert "count=1" in repr(a)
    with pytest.raises(TypeError):
        hash(a)
