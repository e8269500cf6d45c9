from __future__ import annotations

import dataclasses

import pytest

from rsync_delta.ops import MAX_LITERAL, BlockMatch, LiteralData


def test_ops_are_frozen_slotted_records() -> None:
    op = BlockMatch(3)
    assert op.count == 1
    assert BlockMatch(3, 2) == BlockMatch(3, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.index = 4  # type: ignore[misc]
    assert not hasattr(op, "__dict__")
    assert LiteralData(b"x").data == b"x"
    assert MAX_LITERAL == 32768


@pytest.mark.parametrize(("index", "count"), [(-1, 1), (0, 0), (0, -2)])
def test_block_match_validation(index: int, count: int) -> None:
    with pytest.raises(ValueError, match="BlockMatch"):
        BlockMatch(index, count)
