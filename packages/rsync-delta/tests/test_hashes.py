# ruff: noqa: S324  (rsync's protocol hashes are the subject under test)
from __future__ import annotations

import hashlib
import struct

import pytest
import xxhash

from rsync_delta.hashes import HASHES, ChecksumRule, new_hasher

PRIME32 = 2654435761
PRIME64 = 11400714785074694797


def sanity_buffer(n: int) -> bytes:
    """xxHash's self-test input (xsum_sanity_check.c): byteGen = PRIME32, *= PRIME64."""
    out = bytearray(n)
    gen = PRIME32
    for i in range(n):
        out[i] = gen >> 56
        gen = (gen * PRIME64) & ((1 << 64) - 1)
    return bytes(out)


RFC1320 = [  # MD4 test suite, RFC 1320 appendix A.5
    (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"),
    (b"a", "bde52cb31de33e46245e05fbdbd6fb24"),
    (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
    (b"message digest", "d9130a8164549fe818874806e1c7014b"),
    (b"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"),
    (
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "043f8582f241db351ce627e153e7f0e4",
    ),
    (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"),
]
RFC1321 = [  # MD5 test suite, RFC 1321 appendix A.5
    (b"", "d41d8cd98f00b204e9800998ecf8427e"),
    (b"a", "0cc175b9c0f1b6a831c399e269772661"),
    (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
    (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
    (b"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
    (
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "d174ab98d277d9f5a5611c2c9f419d9f",
    ),
    (b"1234567890" * 8, "57edf4a22be3c955ac49da2e2107b67a"),
]
# xxHash's own sanity vectors (length of the sanity buffer, seed, result).
XXH64 = [
    (0, 0, 0xEF46DB3751D8E999),
    (0, PRIME32, 0xAC75FDA2929B17EF),
    (1, 0, 0xE934A84ADB052768),
    (14, PRIME32, 0xC3BD6BF63DEB6DF0),
    (222, 0, 0xB641AE8CB691C174),
]
XXH3 = [
    (0, 0, 0x2D06800538D394C2),
    (6, PRIME64, 0x84589C116AB59AB9),
    (195, 0, 0xCD94217EE362EC3A),
    (2367, PRIME64, 0xD2DB3415B942B42A),
]
XXH128 = [  # (len, seed, low64, high64)
    (0, 0, 0x6001C324468D497F, 0x99AA06D3014798D8),
    (6, PRIME32, 0x269D8F70BE98856E, 0x5A865B5389ABD2B1),
    (222, PRIME32, 0xAE995BB8AF917A8D, 0x91820016621E97F1),
    (2367, 0, 0xCB37AEB9E5D361ED, 0xE89C0F6FF369B427),
]


def test_registry() -> None:
    assert {name: info.digest_size for name, info in HASHES.items()} == {
        "md4": 16,
        "md5": 16,
        "sha1": 20,
        "xxh64": 8,
        "xxh3": 8,
        "xxh128": 16,
    }
    with pytest.raises(TypeError):
        HASHES["x"] = HASHES["md4"]  # type: ignore[index]


@pytest.mark.parametrize(("data", "hexdigest"), RFC1320)
def test_md4_rfc1320(data: bytes, hexdigest: str) -> None:
    h = new_hasher("md4")
    h.update(data)
    assert h.digest().hex() == hexdigest
    assert ChecksumRule.plain("md4").block_sum(data).hex() == hexdigest


@pytest.mark.parametrize(("data", "hexdigest"), RFC1321)
def test_md5_rfc1321(data: bytes, hexdigest: str) -> None:
    h = new_hasher("md5")
    h.update(data)
    assert h.digest().hex() == hexdigest
    assert ChecksumRule.plain("md5").block_sum(data).hex() == hexdigest


@pytest.mark.parametrize(("length", "seed", "value"), XXH64)
def test_xxh64_vectors_little_endian(length: int, seed: int, value: int) -> None:
    data = sanity_buffer(length)
    h = new_hasher("xxh64", seed=seed)
    h.update(data)
    assert h.digest() == value.to_bytes(8, "little")


@pytest.mark.parametrize(("length", "seed", "value"), XXH3)
def test_xxh3_vectors_little_endian(length: int, seed: int, value: int) -> None:
    h = new_hasher("xxh3", seed=seed)
    h.update(sanity_buffer(length))
    assert h.digest() == value.to_bytes(8, "little")


@pytest.mark.parametrize(("length", "seed", "low", "high"), XXH128)
def test_xxh128_vectors_low_half_first(length: int, seed: int, low: int, high: int) -> None:
    h = new_hasher("xxh128", seed=seed)
    h.update(sanity_buffer(length))
    assert h.digest() == low.to_bytes(8, "little") + high.to_bytes(8, "little")


def test_xxh128_matches_rsync_capture() -> None:
    # Protocol notes 10.6: whole-file sum rsync sent for "hello\n" with xxh128.
    rule = ChecksumRule.for_session(protocol=32, negotiated="xxh128", seed=0, seed_fix=True)
    h = rule.file_hasher()
    h.update(b"hello\n")
    assert h.digest().hex() == "9ce4c8f135b4105a6df569e0c786ba6b"
    assert rule.block_sum(b"hello\n").hex() == "9ce4c8f135b4105a6df569e0c786ba6b"


DATA = b"hello rsync delta\n"


@pytest.mark.parametrize(
    ("seed", "expected"),
    [
        # Whole-file sums of DATA in batch files written by rsync 3.5.0 --protocol=29
        # --checksum-seed=SEED: MD4(seed LE ++ data).
        (12345, "f822e84abccc354346148a2d83696e98"),
        (-7, "0948cefd6afe8834cce0e3b7957282be"),
    ],
)
def test_protocol29_whole_file_md4_matches_rsync(seed: int, expected: str) -> None:
    rule = ChecksumRule.for_session(protocol=29, negotiated=None, seed=seed, seed_fix=False)
    h = rule.file_hasher()
    h.update(DATA)
    assert h.digest().hex() == expected


def test_protocol30_whole_file_md5_has_no_seed() -> None:
    # rsync 3.5.0 --protocol=30 --checksum-seed=12345 sent MD5(data).
    rule = ChecksumRule.for_session(protocol=30, negotiated=None, seed=12345, seed_fix=False)
    h = rule.file_hasher()
    h.update(DATA)
    assert h.digest().hex() == "9e459a177da29e654e2c99d610a9dc2c"
    assert h.digest() == hashlib.md5(DATA).digest()


def md4(data: bytes) -> bytes:
    h = new_hasher("md4")
    h.update(data)
    return h.digest()


SEED = struct.pack("<i", -123456)


@pytest.mark.parametrize(
    ("protocol", "negotiated", "seed_fix", "block", "whole"),
    [
        (27, None, False, lambda d: md4(d + SEED), lambda d: md4(SEED + d)),
        (29, None, True, lambda d: md4(d + SEED), lambda d: md4(SEED + d)),
        (
            30,
            None,
            False,
            lambda d: hashlib.md5(d + SEED).digest(),
            lambda d: hashlib.md5(d).digest(),
        ),
        (
            31,
            None,
            True,
            lambda d: hashlib.md5(SEED + d).digest(),
            lambda d: hashlib.md5(d).digest(),
        ),
        (
            31,
            "md5",
            False,
            lambda d: hashlib.md5(SEED + d).digest(),
            lambda d: hashlib.md5(d).digest(),
        ),
        (31, "md4", True, lambda d: md4(d + SEED), md4),
        (
            31,
            "sha1",
            True,
            lambda d: hashlib.sha1(SEED + d).digest(),
            lambda d: hashlib.sha1(d).digest(),
        ),
        (
            31,
            "xxh64",
            True,
            lambda d: xxhash.xxh64_intdigest(d, 2**64 - 123456).to_bytes(8, "little"),
            lambda d: xxhash.xxh64_intdigest(d).to_bytes(8, "little"),
        ),
        (
            32,
            "xxh3",
            True,
            lambda d: xxhash.xxh3_64_intdigest(d, 2**64 - 123456).to_bytes(8, "little"),
            lambda d: xxhash.xxh3_64_intdigest(d).to_bytes(8, "little"),
        ),
        (
            32,
            "xxh128",
            True,
            lambda d: xxhash.xxh3_128_intdigest(d, 2**64 - 123456).to_bytes(16, "little"),
            lambda d: xxhash.xxh3_128_intdigest(d).to_bytes(16, "little"),
        ),
    ],
)
def test_seed_table(protocol, negotiated, seed_fix, block, whole) -> None:  # type: ignore[no-untyped-def]
    """Protocol notes 11.4, row by row, with the seed -123456 (sign-extended for xxHash)."""
    rule = ChecksumRule.for_session(
        protocol=protocol, negotiated=negotiated, seed=-123456, seed_fix=seed_fix
    )
    for data in (b"", b"x", DATA, bytes(range(256)) * 3):
        assert rule.block_sum(data) == block(data)
        h = rule.file_hasher()
        h.update(data[:5])
        h.update(data[5:])
        assert h.digest() == whole(data)
        c = rule.checksum_hasher()
        c.update(data)
        plain = new_hasher(rule.name)
        plain.update(data)
        assert c.digest() == plain.digest()
    assert rule.digest_size == HASHES[rule.name].digest_size


@pytest.mark.parametrize("negotiated", [None, "md4", "md5", "sha1"])
def test_zero_seed_leaves_block_sums_unseeded(negotiated: str | None) -> None:
    rule = ChecksumRule.for_session(protocol=31, negotiated=negotiated, seed=0, seed_fix=False)
    h = new_hasher(rule.name)
    h.update(DATA)
    assert rule.block_sum(DATA) == h.digest()


def test_zero_seed_still_prefixes_protocol29_whole_file() -> None:
    rule = ChecksumRule.for_session(protocol=28, negotiated=None, seed=0, seed_fix=False)
    assert rule.block_sum(DATA) == md4(DATA)
    h = rule.file_hasher()
    h.update(DATA)
    assert h.digest() == md4(b"\0\0\0\0" + DATA)


def test_xxh_zero_seed_is_unseeded_hash() -> None:
    rule = ChecksumRule.for_session(protocol=31, negotiated="xxh64", seed=0, seed_fix=True)
    assert rule.block_sum(DATA) == xxhash.xxh64_intdigest(DATA).to_bytes(8, "little")


def test_unsigned_seed_is_read_as_int32() -> None:
    a = ChecksumRule.for_session(protocol=31, negotiated="xxh64", seed=2**32 - 5, seed_fix=True)
    b = ChecksumRule.for_session(protocol=31, negotiated="xxh64", seed=-5, seed_fix=True)
    assert a == b
    assert a.seed == -5
    assert a.block_sum(DATA) == b.block_sum(DATA)


def test_rule_validation() -> None:
    with pytest.raises(ValueError, match="not supported"):
        ChecksumRule.for_session(protocol=26, negotiated=None, seed=0, seed_fix=False)
    with pytest.raises(ValueError, match="negotiates no checksum"):
        ChecksumRule.for_session(protocol=29, negotiated="md5", seed=0, seed_fix=False)
    with pytest.raises(ValueError, match="unknown checksum"):
        ChecksumRule.for_session(protocol=31, negotiated="blake3", seed=0, seed_fix=False)
    with pytest.raises(ValueError, match="none"):
        ChecksumRule.for_session(protocol=31, negotiated="none", seed=0, seed_fix=False)
    with pytest.raises(ValueError, match="32 bits"):
        ChecksumRule("md5", 1 << 40)
    with pytest.raises(ValueError, match="xxHash"):
        ChecksumRule("md5", 1, "xxh")
    with pytest.raises(ValueError, match="seed"):
        new_hasher("md5", seed=3)
    auto = ChecksumRule.for_session(protocol=31, negotiated="auto", seed=1, seed_fix=True)
    assert auto.name == "md5"
    assert auto.block_seed == "prepend"
    alias = ChecksumRule.for_session(protocol=31, negotiated="xxhash", seed=0, seed_fix=True)
    assert alias.name == "xxh64"


def test_plain_rules() -> None:
    for name in HASHES:
        rule = ChecksumRule.plain(name)
        h = new_hasher(name)
        h.update(DATA)
        assert rule.block_sum(DATA) == h.digest()
        f = rule.file_hasher()
        f.update(DATA)
        assert f.digest() == h.digest()
