"""Bounded cost of a sum header: --max-alloc and a table no larger than its file."""

from __future__ import annotations

import struct

import pytest

from rsync_wire.errors import AllocationLimitError, ExitCode
from rsync_wire.proto.options import DEFAULT_MAX_ALLOC
from rsync_wire.proto.sums import SumHead, check_sum_alloc, decode_sum_head


def test_count_2_31_is_refused_as_soon_as_the_count_is_read() -> None:
    four = struct.pack("<i", 2**31 - 1)
    with pytest.raises(AllocationLimitError) as info:
        decode_sum_head(four, 0, protocol=31, digest_size=16, max_alloc=DEFAULT_MAX_ALLOC)
    assert str(info.value) == "[sender] exceeded --max-alloc=1073741824 setting (file=sender.c)"
    assert info.value.exit_code == ExitCode.MALLOC


def test_without_max_alloc_the_header_is_only_range_checked() -> None:
    head, end = decode_sum_head(
        struct.pack("<iiii", 2**31 - 1, 700, 16, 0), 0, protocol=31, digest_size=16
    )
    assert (head.count, end) == (2**31 - 1, 16)


@pytest.mark.parametrize(
    ("count", "refused"),
    [
        (DEFAULT_MAX_ALLOC // 24 - 1, False),  # rsync: num >= max_alloc / sizeof(sum_buf)
        (DEFAULT_MAX_ALLOC // 24, True),
    ],
)
def test_the_limit_is_rsyncs(count: int, refused: bool) -> None:
    if refused:
        with pytest.raises(AllocationLimitError):
            check_sum_alloc(count, digest_size=16, max_alloc=DEFAULT_MAX_ALLOC)
    else:
        check_sum_alloc(count, digest_size=16, max_alloc=DEFAULT_MAX_ALLOC)


def test_a_smaller_max_alloc() -> None:
    with pytest.raises(AllocationLimitError, match="--max-alloc=1048576"):
        check_sum_alloc(50_000, digest_size=16, max_alloc=1 << 20)


def test_a_table_that_fits_its_file_is_kept_whole() -> None:
    head = SumHead(10, 700, 16, 300)
    assert head.within(9 * 700 + 300) == (head, 0)
    assert head.within(10 * 700) == (head, 0)


def test_a_table_larger_than_its_file_is_cut_to_the_file_plus_one_block() -> None:
    head = SumHead(1_000_000, 700, 16, 300)
    cut, skipped = head.within(7000)
    assert cut == SumHead(11, 700, 16, 0)
    assert skipped == (1_000_000 - 11) * 20
    cut0, skipped0 = head.within(0)
    assert cut0.count == 1
    assert skipped0 == (1_000_000 - 1) * 20


def test_an_empty_head_is_left_alone() -> None:
    assert SumHead.empty().within(0) == (SumHead.empty(), 0)
