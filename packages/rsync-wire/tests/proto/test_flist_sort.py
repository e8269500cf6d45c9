"""File-list order and duplicate removal (docs/protocol.md §9.15, §9.16), also against rsync."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rsync_wire.proto.flist import FileEntry
from rsync_wire.proto.flist_sort import (
    dedupe,
    file_list_sort_key,
    invert_order,
    sort_file_list,
    sort_order,
    sort_order_of,
)

if TYPE_CHECKING:
    from pathlib import Path

DIR = 0o40755
REG = 0o100644


def _entries(spec: str) -> list[FileEntry]:
    """'name' is a file, 'name/' a directory (the top '.' is always a directory)."""
    out = []
    for word in spec.split():
        is_dir = word.endswith("/") or word == "."
        out.append(FileEntry(name=word.rstrip("/").encode() or b".", mode=DIR if is_dir else REG))
    return out


def _names(entries: list[FileEntry]) -> list[str]:
    return [e.name.decode() + ("/" if e.is_dir and e.name != b"." else "") for e in entries]


# -- §9.15 examples -----------------------------------------------------------------------------

TREE = "dir/o f1link fifo . chr dir/ dir/f1b blk f1"


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [
        (32, ". blk chr f1 f1link fifo dir/ dir/f1b dir/o"),
        (29, ". blk chr f1 f1link fifo dir/ dir/f1b dir/o"),
        (28, ". blk chr dir/ dir/f1b dir/o f1 f1link fifo"),
        (27, ". blk chr dir/ dir/f1b dir/o f1 f1link fifo"),
    ],
)
def test_notes_example(protocol: int, expected: str) -> None:
    assert _names(sort_file_list(_entries(TREE), protocol=protocol)) == expected.split()


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [(28, "!bang -dash . abc.txt sub/ sub/x"), (32, ". !bang -dash abc.txt sub/ sub/x")],
)
def test_oc_rsync_example(protocol: int, expected: str) -> None:
    tree = _entries("sub/x abc.txt sub/ -dash . !bang")
    assert _names(sort_file_list(tree, protocol=protocol)) == expected.split()


def test_directories_compare_as_if_slash_terminated() -> None:
    tree = _entries("a/ a/z a-b/ a-b/y a-b a.txt")
    p32 = ["a-b", "a.txt", "a-b/", "a-b/y", "a/", "a/z"]
    p28 = ["a/", "a-b/", "a-b", "a-b/y", "a.txt", "a/z"]
    assert _names(sort_file_list(tree, protocol=32)) == p32
    assert _names(sort_file_list(tree, protocol=28)) == p28


def test_keys() -> None:
    key = file_list_sort_key
    assert key(b".", is_dir=True, protocol=32) == (b"", b"")
    assert key(b"x/.", is_dir=True, protocol=32) == key(b"x", is_dir=True, protocol=32)
    assert key(b"x/y", is_dir=False, protocol=30) == (b"x/", b"y")
    assert key(b"x/y", is_dir=True, protocol=29) == (b"x/y/", b"")
    assert key(b"x/y", is_dir=True, protocol=28) == (b"x/y", b"")
    assert key(b"/abs", is_dir=False, protocol=31) == (b"/", b"abs")


def test_sort_is_stable_and_order_maps() -> None:
    tree = _entries("b a . b a/ c")
    order = sort_order(tree, protocol=32)
    assert order == [2, 1, 0, 3, 5, 4]  # ".", "a", "b"(0), "b"(3), "c", "a/"
    inverse = invert_order(order)
    assert [order[i] for i in inverse] == list(range(len(tree)))
    assert sort_file_list(tree, protocol=32) == [tree[i] for i in order]


_NAMES = st.lists(
    st.tuples(
        st.lists(st.sampled_from([b"a", b"b", b"a.b", b"a-b", b"."]), min_size=1, max_size=3),
        st.booleans(),
    ),
    max_size=20,
)


@pytest.mark.parametrize("protocol", [28, 29, 32])
@given(spec=_NAMES)
def test_sort_order_of_parallel_lists_is_sort_order(
    protocol: int, spec: list[tuple[list[bytes], bool]]
) -> None:
    """The sender's names-and-modes form orders as the entries' form (ties included)."""
    entries = [
        FileEntry(name=b"/".join(parts), mode=DIR if is_dir else REG) for parts, is_dir in spec
    ]
    names = [e.name for e in entries]
    modes = [e.mode for e in entries]
    assert sort_order_of(names, modes, protocol=protocol) == sort_order(entries, protocol=protocol)


@given(st.permutations(list(range(12))))
def test_invert_order_roundtrip(perm: list[int]) -> None:
    inv = invert_order(perm)
    assert invert_order(inv) == perm
    assert all(perm[inv[j]] == j for j in range(len(perm)))


# -- §9.16 duplicates -----------------------------------------------------------------------------

# Two arguments a/ and b/: a has dir "dup", file "d"; b has file "dup", dir "d"; both have "f"
# and dir "same". Sorted lists and tombstones as rsync 3.5.0 printed them (--debug=FLIST3).
DUP_TREE = ". f same/ dup/ d same/x . f same/ dup d/ same/y"


@pytest.mark.parametrize(
    ("protocol", "expected_sorted", "expected_kept"),
    [
        (
            28,
            ". . d d/ dup/ dup f f same/ same/ same/x same/y",
            ". - - d/ dup/ - f - same/ - same/x same/y",
        ),
        (
            29,
            ". . d dup f f d/ dup/ same/ same/ same/x same/y",
            ". - - - f - d/ dup/ same/ - same/x same/y",
        ),
        (
            32,
            ". . d dup f f d/ dup/ same/ same/ same/x same/y",
            ". - - - f - d/ dup/ same/ - same/x same/y",
        ),
    ],
)
def test_dedupe_rsync_example(protocol: int, expected_sorted: str, expected_kept: str) -> None:
    ordered = sort_file_list(_entries(DUP_TREE), protocol=protocol)
    assert _names(ordered) == expected_sorted.split()
    mask = dedupe(ordered, protocol=protocol)
    assert ["-" if c else n for n, c in zip(_names(ordered), mask, strict=True)] == (
        expected_kept.split()
    )


def test_dedupe_never_compacts() -> None:
    ordered = sort_file_list(_entries("x x x/ y"), protocol=32)
    mask = dedupe(ordered, protocol=32)
    assert len(mask) == len(ordered)
    assert mask == [True, True, False, False]  # x, x (dup), y, x/ (wins over the file x)
    assert dedupe([], protocol=32) == []


# -- against rsync's own sorted lists ------------------------------------------------------------

RSYNC = shutil.which("rsync")
_CHARS = "!-.0A_a~ b"


def _need_rsync() -> str:
    if RSYNC is None:
        if os.environ.get("CI"):
            pytest.fail("rsync is not installed (required in CI)")
        pytest.skip("rsync is not installed")
    return RSYNC


def _random_tree(root: Path, rnd: random.Random, depth: int = 0) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(rnd.randint(1, 6)):
        name = "".join(rnd.choice(_CHARS) for _ in range(rnd.randint(1, 3)))
        if name in (".", "..") or (root / name).exists():
            continue
        if depth < 2 and rnd.random() < 0.4:
            _random_tree(root / name, rnd, depth + 1)
        else:
            (root / name).write_bytes(b"")


def _rsync_lists(
    cwd: Path, args: list[str], protocol: int
) -> tuple[list[FileEntry], list[str], list[str]]:
    """Transmission order (from make_file), and the sender's and receiver's sorted lists."""
    out = subprocess.run(
        [
            _need_rsync(),
            *("-r", "-n", "--no-inc-recursive", "--debug=FLIST3", f"--protocol={protocol}"),
            *args,
            "dst/",
        ],
        cwd=cwd,
        capture_output=True,
        check=True,
    ).stdout.decode()
    sent = []
    arg = -1
    for m in re.finditer(r"^\[sender\] make_file\((.*),\*,\d+\)$", out, re.M):
        name = m.group(1)
        if name == ".":
            arg += 1
        is_dir = os.path.isdir(os.path.join(cwd, args[arg], name))
        sent.append(FileEntry(name=name.encode(), mode=DIR if is_dir else REG))
    sender = re.findall(r"^\[sender\] i=\d+ \S+ (.*) mode=0", out, re.M)
    receiver = re.findall(r"^\[Receiver\] i=\d+ \S* ?(.*) mode=0", out, re.M)
    return sent, sender, receiver


@pytest.mark.interop
@pytest.mark.parametrize("seed", range(6))
def test_sort_and_dedupe_match_rsync(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)  # noqa: S311 - a reproducible tree, not a secret
    args = []
    for k in range(1 + seed % 3):  # one to three overlapping source directories
        _random_tree(tmp_path / f"s{k}", random.Random(rnd.randrange(4)))  # noqa: S311
        args.append(f"s{k}/")
    for protocol in (27, 28, 29, 30, 32):
        sent, sender, receiver = _rsync_lists(tmp_path, args, protocol)
        ordered = sort_file_list(sent, protocol=protocol)
        names = [n if n != "." else "./" for n in _names(ordered)]
        assert names == sender, f"sort differs at protocol {protocol}"
        mask = dedupe(ordered, protocol=protocol)
        kept = ["" if c else n for n, c in zip(names, mask, strict=True)]
        assert kept == receiver, f"tombstones differ at protocol {protocol}"
