"""Strong checksums and rsync's rules for seeding them, in one table.

The registry `HASHES` maps the wire names (``md4``, ``md5``, ``sha1``, ``xxh64``,
``xxh3``, ``xxh128``) to their digest sizes and constructors. `ChecksumRule` encodes
which hash a session uses and how the checksum seed enters each of the three sums
rsync computes (docs/protocol.md §11.4):

==========================  =======================  ==================  ==============
protocol / choice           block sum                whole-file sum      ``-c`` sum
==========================  =======================  ==================  ==============
27-29                       MD4(data + seed*)        MD4(seed + data)    MD4(file)
>= 30, none, no seed fix    MD5(data + seed*)        MD5(data)           MD5(file)
>= 30, none, seed fix       MD5(seed* + data)        MD5(data)           MD5(file)
negotiated md5              MD5(seed* + data)        MD5(data)           MD5(file)
negotiated md4              MD4(data + seed*)        MD4(data)           MD4(file)
negotiated sha1             SHA1(seed* + data)       SHA1(data)          SHA1(file)
negotiated xxh64/xxh3/128   XXH(data, seed64)        XXH(data, 0)        XXH(file, 0)
==========================  =======================  ==================  ==============

``seed`` is the 4-byte little-endian seed; ``seed*`` is omitted when the seed is 0;
``seed64`` is the seed sign-extended to 64 bits. XXH64 and XXH3-64 digests are their
64-bit value little-endian; XXH3-128 is the low 64 bits little-endian, then the high 64
bits little-endian (the reverse of xxHash's canonical form). Protocols before 27 (the MD4
"tail bug" variants) are not supported: rsync 3.x peers here speak 27 or later.

MD4 comes from hashlib when its OpenSSL still offers it, otherwise from pycryptodome,
whose per-call cost is high (a few microseconds), so MD4 block sums of small blocks are
slow; XXH3-128 is the fast choice. No I/O here.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal, cast

import xxhash

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from rsync_delta._types import Buffer, Hasher

__all__ = ["HASHES", "ChecksumRule", "HashInfo", "new_hasher"]

_U64: Final = (1 << 64) - 1
_SEED: Final = struct.Struct("<i")


_md4_new: Callable[[], Hasher] | None = None


def _new_md4() -> Hasher:
    """Return a fresh MD4 state: hashlib's if OpenSSL still offers MD4, else pycryptodome's.

    The choice is made on first use, so that pycryptodome is only imported when needed.
    """
    global _md4_new  # resolved on first use
    if _md4_new is None:
        try:
            hashlib.new("md4")  # noqa: S324  (rsync protocols 27-29 need MD4)
        except ValueError:
            from Crypto.Hash import MD4  # only when OpenSSL lacks MD4

            def crypto_md4() -> Hasher:
                return cast("Hasher", MD4.new())  # noqa: S303  (protocols 27-29 need MD4)

            _md4_new = crypto_md4
        else:
            _md4_new = partial(hashlib.new, "md4")
    assert _md4_new is not None  # noqa: S101  (set just above)
    return _md4_new()


class _XxhHasher:
    """An xxhash state that returns rsync's little-endian byte order."""

    __slots__ = ("_size", "_state")

    def __init__(self, state: xxhash.xxh64 | xxhash.xxh3_64 | xxhash.xxh3_128, size: int) -> None:
        self._state = state
        self._size = size

    def update(self, data: Buffer, /) -> None:
        self._state.update(data)

    def digest(self) -> bytes:
        value: int = self._state.intdigest()
        return value.to_bytes(self._size, "little")

    def copy(self) -> _XxhHasher:
        """An independent hasher in the same state (cheaper than building a new one)."""
        return _XxhHasher(self._state.copy(), self._size)


@dataclass(frozen=True, slots=True)
class HashInfo:
    """A strong hash rsync can negotiate.

    Attributes:
        name: The wire name (as in rsync's checksum negotiation).
        digest_size: Bytes in a full digest.
    """

    name: str
    digest_size: int


HASHES: Final[Mapping[str, HashInfo]] = MappingProxyType(
    {
        "md4": HashInfo("md4", 16),
        "md5": HashInfo("md5", 16),
        "sha1": HashInfo("sha1", 20),
        "xxh64": HashInfo("xxh64", 8),
        "xxh3": HashInfo("xxh3", 8),
        "xxh128": HashInfo("xxh128", 16),
    }
)
"""The supported strong hashes by wire name (``xxhash`` is accepted as an alias of xxh64).

rsync: checksum.c valid_checksums_items[]
"""

_ALIASES: Final = {"xxhash": "xxh64"}


def _canonical(name: str) -> str:
    name = _ALIASES.get(name.lower(), name.lower())
    if name not in HASHES:
        msg = f"unknown checksum {name!r}; expected one of {', '.join(HASHES)}"
        raise ValueError(msg)
    return name


def new_hasher(name: str, *, seed: int = 0) -> Hasher:
    """Return an incremental hasher for `name` with no rsync seed rule applied.

    Args:
        name: A wire name from `HASHES` (or ``xxhash``).
        seed: xxHash seed (sign-extended to 64 bits); must be 0 for the other hashes.

    Returns:
        An object with ``update(data)`` and ``digest()`` (rsync's byte order).

    Raises:
        ValueError: Unknown name, or a seed for a hash that takes none.
    """
    name = _canonical(name)
    seed64 = seed & _U64
    if name == "xxh64":
        return _XxhHasher(xxhash.xxh64(seed=seed64), 8)
    if name == "xxh3":
        return _XxhHasher(xxhash.xxh3_64(seed=seed64), 8)
    if name == "xxh128":
        return _XxhHasher(xxhash.xxh3_128(seed=seed64), 16)
    if seed:
        msg = f"{name} takes no seed"
        raise ValueError(msg)
    if name == "md4":
        return _new_md4()
    return hashlib.new(name)


class _SeededHasher:
    """Feeds a fixed prefix first (the 4 seed bytes of protocol 27-29's whole-file MD4)."""

    __slots__ = ("_inner",)

    def __init__(self, inner: Hasher, prefix: bytes) -> None:
        self._inner = inner
        inner.update(prefix)

    def update(self, data: Buffer, /) -> None:
        self._inner.update(data)

    def digest(self) -> bytes:
        return self._inner.digest()


BlockSeed = Literal["none", "append", "prepend", "xxh"]


def _block_function(name: str, seed: int, placement: BlockSeed) -> Callable[[Buffer], bytes]:
    """Build the fastest one-call block-sum function for a (hash, seed rule) pair."""
    seed64 = seed & _U64
    seed_bytes = _SEED.pack(seed)
    if name == "xxh128":
        h128 = xxhash.xxh3_128_intdigest
        return lambda data: h128(data, seed64).to_bytes(16, "little")
    if name == "xxh3":
        h3 = xxhash.xxh3_64_intdigest
        return lambda data: h3(data, seed64).to_bytes(8, "little")
    if name == "xxh64":
        h64 = xxhash.xxh64_intdigest
        return lambda data: h64(data, seed64).to_bytes(8, "little")
    make: Callable[[], Hasher]
    if name == "md4":
        make = _new_md4
    else:
        algo = name

        def make() -> Hasher:
            return hashlib.new(algo)

    if name == "md5":
        md5 = hashlib.md5
        if placement == "none" or not seed:
            return lambda data: md5(data).digest()
        if placement == "prepend":

            def md5_prepend(data: Buffer) -> bytes:
                h = md5(seed_bytes)
                h.update(data)
                return h.digest()

            return md5_prepend

    def generic(data: Buffer) -> bytes:
        h = make()
        if placement == "prepend" and seed:
            h.update(seed_bytes)
        h.update(data)
        if placement == "append" and seed:
            h.update(seed_bytes)
        return h.digest()

    return generic


@dataclass(frozen=True, slots=True)
class ChecksumRule:
    """Which strong hash a session uses and where its seed goes (docs/protocol.md §11.4).

    Build it with `for_session` (or `plain` for standalone use); the constructor is for
    tests and for callers that know exactly what they want.

    Attributes:
        name: Wire name of the hash (``md4``, ``md5``, ``sha1``, ``xxh64``, ``xxh3``,
            ``xxh128``).
        seed: The session's checksum seed (a signed 32-bit value).
        block_seed: Where the seed enters block sums: ``append`` (after the data),
            ``prepend`` (before), ``xxh`` (as the xxHash seed) or ``none``. For
            ``append``/``prepend`` the seed is left out when it is 0.
        file_seed_prefix: Whether the whole-file sum starts with the 4 seed bytes (even a
            zero seed): protocol 27-29's MD4.
        protocol: Protocol version the rule was made for.

    rsync: checksum.c get_checksum2(), sum_init(), file_checksum(); compat.c
        (proper_seed_order)
    """

    name: str
    seed: int = 0
    block_seed: BlockSeed = "none"
    file_seed_prefix: bool = False
    protocol: int = 31
    _block_fn: Callable[[Buffer], bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        canonical = _canonical(self.name)
        seed = self.seed
        if 1 << 31 <= seed < 1 << 32:
            seed -= 1 << 32  # the same 32 bits, read as rsync's signed int
        if not -(1 << 31) <= seed < 1 << 31:
            msg = f"checksum seed {self.seed} does not fit in 32 bits"
            raise ValueError(msg)
        if self.block_seed == "xxh" and not canonical.startswith("xxh"):
            msg = f"block_seed 'xxh' needs an xxHash, not {canonical}"
            raise ValueError(msg)
        if canonical.startswith("xxh") and self.block_seed not in ("xxh", "none"):
            msg = f"xxHash block sums take the seed as the hash seed, not {self.block_seed!r}"
            raise ValueError(msg)
        object.__setattr__(self, "name", canonical)
        object.__setattr__(self, "seed", seed)
        fn_seed = seed if self.block_seed != "none" else 0
        object.__setattr__(self, "_block_fn", _block_function(canonical, fn_seed, self.block_seed))

    @classmethod
    def for_session(
        cls, *, protocol: int, negotiated: str | None, seed: int, seed_fix: bool
    ) -> ChecksumRule:
        """Return the rule rsync applies for this protocol, negotiated name and seed.

        Args:
            protocol: The session's protocol version (27 or later).
            negotiated: The checksum name negotiated (protocol >= 30 with negotiated
                strings), or None when nothing was negotiated.
            seed: The session's checksum seed (signed 32-bit; 0 is allowed).
            seed_fix: Whether CF_CHKSUM_SEED_FIX was in the compat flags.

        Returns:
            The rule.

        Raises:
            ValueError: Protocol below 27, a negotiated name below protocol 30, or an
                unknown name.

        rsync: checksum.c parse_csum_name(), get_checksum2(), sum_init()
        """
        if protocol < 27:
            msg = f"protocol {protocol} is not supported (27 or later)"
            raise ValueError(msg)
        if negotiated is not None and negotiated.lower() == "auto":
            negotiated = None
        if negotiated is not None and negotiated.lower() == "none":
            msg = "checksum 'none' has no block sums (rsync then sends whole files)"
            raise ValueError(msg)
        if protocol < 30:
            if negotiated is not None:
                msg = f"protocol {protocol} negotiates no checksum, got {negotiated!r}"
                raise ValueError(msg)
            return cls("md4", seed, "append", file_seed_prefix=True, protocol=protocol)
        if negotiated is None:
            return cls("md5", seed, "prepend" if seed_fix else "append", protocol=protocol)
        name = _canonical(negotiated)
        if name.startswith("xxh"):
            return cls(name, seed, "xxh", protocol=protocol)
        if name == "md4":
            return cls("md4", seed, "append", protocol=protocol)
        # md5 (negotiation implies a 3.2+ peer, which always sends the seed-fix flag; and
        # OpenSSL's digests, which rsync uses for md5 and sha1, put the seed first).
        return cls(name, seed, "prepend", protocol=protocol)

    @classmethod
    def plain(cls, name: str) -> ChecksumRule:
        """Return an unseeded rule for `name`, as the standalone CLI uses."""
        canonical = _canonical(name)
        return cls(canonical, 0, "xxh" if canonical.startswith("xxh") else "none")

    @property
    def digest_size(self) -> int:
        """Bytes in a full digest of this rule's hash."""
        return HASHES[self.name].digest_size

    def block_sum(self, data: Buffer) -> bytes:
        """Return the full strong sum of one block (senders truncate to s2length).

        rsync: checksum.c get_checksum2()
        """
        return self._block_fn(data)

    def file_hasher(self) -> Hasher:
        """Return a hasher for the whole-file sum sent after a file's tokens.

        rsync: checksum.c sum_init(xfer_sum_nni, checksum_seed)
        """
        if self.file_seed_prefix:
            return _SeededHasher(new_hasher(self.name), _SEED.pack(self.seed))
        return new_hasher(self.name)

    def checksum_hasher(self) -> Hasher:
        """Return a hasher for ``--checksum`` file-list sums (never seeded).

        rsync: checksum.c file_checksum()
        """
        return new_hasher(self.name)
