"""The harness against real tools only: librsync's rdiff round trip on a tree's files."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from harness.proc import run
from harness.trees import update_tree

if TYPE_CHECKING:
    from pathlib import Path

    from harness.trees import TreeFactory

pytestmark = pytest.mark.interop


def test_rdiff_round_trip(real_rdiff: Path, tree_factory: TreeFactory, tmp_path: Path) -> None:
    old, new = tree_factory("old", odd_names=False), tree_factory("new", odd_names=False)
    update_tree(new)
    basis, target = old / "sizes/1048583.bin", new / "sizes/1048583.bin"
    sig, delta, out = tmp_path / "sig", tmp_path / "delta", tmp_path / "out"
    run([real_rdiff, "signature", basis, sig], check=True)
    run([real_rdiff, "delta", sig, target, delta], check=True)
    run([real_rdiff, "patch", basis, delta, out], check=True)
    assert out.read_bytes() == target.read_bytes()
    assert delta.stat().st_size < 10_000, "most blocks should match the basis"
