"""roles/basis.py: the receiver checks the basis type and name the sender echoes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from rsync_wire.fs_write import DestTree
from rsync_wire.proto.negotiate import Session
from rsync_wire.proto.options import TransferOptions
from rsync_wire.roles.altdest import BasisDirs
from rsync_wire.roles.basis import BasisError, basis_of
from rsync_wire.roles.receive_state import NullReporter, ReceiveConfig, ReceiveStats, Shared

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[DestTree]:
    (tmp_path / "d").mkdir()
    t = DestTree(tmp_path)
    yield t
    t.close()


def _shared(tree: DestTree, **opts: object) -> Shared:
    return Shared(
        None,  # type: ignore[arg-type]  # no connection: only the basis rules are used
        Session(protocol=31),
        TransferOptions(**opts),  # type: ignore[arg-type]
        ReceiveConfig(),
        tree,
        NullReporter(),
        ReceiveStats(),
    )


def test_the_file_itself_and_a_fuzzy_match(tree: DestTree) -> None:
    sh = _shared(tree, fuzzy=1)
    assert basis_of(sh, b"d/new", 0x80, None) is None
    assert basis_of(sh, b"d/new", 0x83, b"old") == (tree, b"d/old")


def test_a_fuzzy_basis_nobody_asked_for_is_refused(tree: DestTree) -> None:
    with pytest.raises(BasisError, match="refusing malicious fuzzy operation for old"):
        basis_of(_shared(tree), b"d/new", 0x83, b"old")


@pytest.mark.parametrize("xname", [b"..", b".", b"", b"../", None])
def test_a_fuzzy_name_must_name_something(tree: DestTree, xname: bytes | None) -> None:
    with pytest.raises(BasisError):
        basis_of(_shared(tree, fuzzy=1), b"d/new", 0x83, xname)


@pytest.mark.parametrize(
    ("xname", "confined"),
    [
        (b"../x", b"d/x"),
        (b"../../etc/shadow", b"d/etc/shadow"),
        (b"/x", b"d/x"),
        (b"a/b", b"d/a/b"),
    ],
)
def test_a_fuzzy_name_stays_below_the_directory(
    tree: DestTree, xname: bytes, confined: bytes
) -> None:
    # the sender's name is sanitized, as rsync 3.5's receiver does on every side
    assert basis_of(_shared(tree, fuzzy=1), b"d/new", 0x83, xname) == (tree, confined)


def test_a_basis_dir_match_needs_no_fuzzy_and_stays_in_that_dir(
    tree: DestTree, tmp_path: Path
) -> None:
    (tmp_path / "link").mkdir()
    sh = _shared(tree)
    other = DestTree(tmp_path / "link")
    try:
        sh.basis = BasisDirs("link-dest", [other])
        # FNAMECMP_FUZZY + 1: the first --link-dest directory, the name sanitized
        assert basis_of(sh, b"new", 0x84, b"../secret") == (other, b"secret")
    finally:
        other.close()


@pytest.mark.parametrize("kind", [0x00, 0x13, 0x81, 0x82, 0x84, 0xFF])
def test_types_this_side_never_sends_are_refused(tree: DestTree, kind: int) -> None:
    # no basis dirs, no partial dir, no backups, -y without -yy
    with pytest.raises(BasisError):
        basis_of(_shared(tree, fuzzy=1), b"d/new", kind, b"old")


def test_the_partial_dir(tree: DestTree) -> None:
    assert basis_of(_shared(tree, delay_updates=True), b"d/f", 0x81, None) == (
        tree,
        b"d/.~tmp~/f",
    )
