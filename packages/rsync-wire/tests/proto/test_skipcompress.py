"""Which files go at level 0 (dont compress, --skip-compress), and that a file's own level
is invisible to the receiving decoder."""

from __future__ import annotations

import os

import pytest

from rsync_wire.proto.skipcompress import SKIP_LEVEL, SkipCompress
from rsync_wire.proto.tokens import BlockRef, EndOfFile, Literal, TokenDecoder, TokenEncoder


@pytest.mark.parametrize(
    ("name", "matched"),
    [
        (b"a.gz", True),
        (b"dir/A.GZ", True),  # case-insensitive, last component only
        (b"a.tar.gz", True),
        (b"a.mp3", True),
        (b"gz", False),
        (b".gz", False),  # a leading dot is no suffix (rsync: s == fname)
        (b"a.gz.txt", False),
        (b"a.", False),
        (b"a.txt", False),
    ],
)
def test_default_list_outside_a_daemon(name: bytes, matched: bool) -> None:
    assert SkipCompress().matches(name) is matched


def test_skip_compress_replaces_the_default_list_outside_a_daemon() -> None:
    skip = SkipCompress("dat/mp[34]/[x")
    assert skip.matches(b"f.DAT")
    assert skip.matches(b"f.mp3")
    assert skip.matches(b"f.mp4")
    assert not skip.matches(b"f.mp5")
    assert skip.matches(b"f.[x")  # no closing bracket: literal
    assert not skip.matches(b"f.gz")  # the default list is gone
    assert SkipCompress("").empty  # an empty list: nothing matches


def test_a_daemon_adds_the_clients_suffixes_to_its_modules_list() -> None:
    skip = SkipCompress("dat", ["*.Bin", "secret*", "*.a?c"], daemon=True)
    assert skip.matches(b"x.dat")
    assert skip.matches(b"x.bin")
    assert skip.matches(b"d/SECRET-1.txt")  # a wildcard pattern, case-insensitive
    assert skip.matches(b"x.abc")  # "*.a?c" is a pattern, not a suffix
    assert not skip.matches(b"x.gz")  # the module's list replaces the default one
    assert SkipCompress(None, None, daemon=True).matches(b"x.gz")  # unset: the default


def test_a_lone_star_matches_everything() -> None:
    skip = SkipCompress(None, ["*.x", "*", "ignored"], daemon=True)
    assert skip.matches(b"anything")
    assert skip.level(b"anything") == SKIP_LEVEL
    assert SkipCompress(None, ["*.x"], daemon=True).level(b"f.txt") is None


def test_many_classes_cost_no_expansion() -> None:
    skip = SkipCompress("[ab]" * 16 + "/" + "[cd]" * 40)
    assert skip.matches(b"f." + b"ab" * 4)  # cut at 32 characters: eight classes
    assert not skip.matches(b"f." + b"c" * 40)


@pytest.mark.parametrize("method", ["zlib", "zlibx"])
@pytest.mark.parametrize("protocol", [29, 31])
def test_a_level_0_file_between_compressed_ones_decodes(method: str, protocol: int) -> None:
    text = b"all work and no play makes jack a dull boy\n" * 3000
    block = os.urandom(700)
    enc = TokenEncoder(method, protocol=protocol)
    dec = TokenDecoder(method, protocol=protocol)
    sizes = []
    for level in (None, 0, None, 0):
        out = bytearray()
        enc.begin_file(level)
        enc.literal_into(out, text[:50_000])
        enc.block_into(out, 0, block)
        enc.literal_into(out, text[50_000:])
        enc.end_into(out)
        sizes.append(len(out))
        dec.begin_file(block_count=1)
        got = bytearray()
        pos = 0
        while True:
            ev, pos = dec.decode(bytes(out), pos)
            if isinstance(ev, Literal):
                got += ev.data
            elif isinstance(ev, BlockRef):
                got += block
                dec.see_block(block)
            elif isinstance(ev, EndOfFile):
                break
        assert pos == len(out)
        assert bytes(got) == text[:50_000] + block + text[50_000:]
    # stored blocks: the literal bytes plus a little framing; level 6 squeezes them
    assert sizes[1] == sizes[3] >= len(text)
    assert sizes[0] == sizes[2] < len(text) // 20
