"""Long rule lists: the indexed lookup gives the answer of the rule-by-rule loop."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsync_wire.errors import AllocationLimitError
from rsync_wire.proto.codec import NeedMoreData
from rsync_wire.proto.filters import FilterList, decode_filter_list

_WORDS = [b"a", b"b", b"ab", b"x.c", b"y.o", b"dir", b"sub", b"a.tmp", b"core", b"b.c"]

_prefixes = st.sampled_from(
    [b"- ", b"+ ", b"-! ", b"-p ", b"-s ", b"-r ", b"+/ ", b"-x ", b"P ", b"H ", b"-, "]
)


@st.composite
def _patterns(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=3))
    pat = b"/".join(parts)
    shape = draw(st.integers(0, 9))
    if shape == 1:
        pat = b"*" + pat.rsplit(b"/", 1)[-1][1:]
    elif shape == 2:
        pat = pat.rsplit(b"/", 1)[-1][:-1] + b"*"
    elif shape == 3:
        pat = b"/" + pat
    elif shape == 4:
        pat += b"/"
    elif shape == 5:
        pat += b"/***"
    elif shape == 6:
        pat = b"**/" + pat
    elif shape == 7:
        pat = pat.replace(b"a", b"?", 1)
    return pat or b"a"


_rules = st.lists(st.tuples(_prefixes, _patterns()).map(b"".join), min_size=32, max_size=80)
_names = st.lists(
    st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4).map(b"/".join), max_size=20
)


@settings(max_examples=300, deadline=None)
@given(
    rules=_rules,
    names=_names,
    delete_excluded=st.booleans(),
    for_sender=st.booleans(),
    perishable=st.booleans(),
)
def test_indexed_and_plain_lookup_agree(
    rules: list[bytes],
    names: list[bytes],
    delete_excluded: bool,
    for_sender: bool,
    perishable: bool,
) -> None:
    fl = FilterList(protocol=31, delete_excluded=delete_excluded)
    fl.add_received(rules)
    plain = fl._main.entries()
    want = (1 << 16) if for_sender else (1 << 17)
    for name in names:
        for is_dir in (False, True):
            for lead in (b"", b"/"):
                got = fl.match(
                    lead + name,
                    is_dir=is_dir,
                    for_sender=for_sender,
                    ignore_perishable=perishable,
                )
                expected = fl._check(
                    plain,
                    lead + name,
                    is_dir=is_dir,
                    want=want,
                    ignore_perishable=perishable,
                    xattr=False,
                    root_rel=b"",
                )
                assert got is expected, (lead + name, is_dir)


@settings(max_examples=100, deadline=None)
@given(pattern=_patterns(), delete_excluded=st.booleans(), protocol=st.sampled_from([28, 31]))
def test_the_short_form_gives_the_rule_of_the_general_parser(
    pattern: bytes, delete_excluded: bool, protocol: int
) -> None:
    for sign in (b"-", b"+"):
        fast = FilterList(protocol=protocol, delete_excluded=delete_excluded)
        fast.add_received([sign + b" " + pattern])
        slow = FilterList(protocol=protocol, delete_excluded=delete_excluded)
        slow.add_received([sign + b", " + pattern] if protocol >= 29 else [sign + b" " + pattern])
        assert fast.rules == slow.rules


def test_a_list_that_arrives_in_pieces_is_decoded_once() -> None:
    texts = [b"- file%d" % i for i in range(1000)]
    wire = b"".join(struct.pack("<i", len(t)) + t for t in texts) + b"\0\0\0\0"
    buf = bytearray()
    resume: object = None
    calls = 0
    for k in range(0, len(wire), 100):
        buf += wire[k : k + 100]
        calls += 1
        try:
            got, end = decode_filter_list(buf, 0, resume=resume)
        except NeedMoreData as exc:
            resume = exc.resume
            continue
        assert got == texts
        assert end == len(wire)
        break
    else:
        msg = "never complete"
        raise AssertionError(msg)
    assert calls == (len(wire) + 99) // 100


def test_a_rule_list_past_max_alloc_is_refused() -> None:
    texts = [b"- file%d" % i for i in range(5000)]
    wire = b"".join(struct.pack("<i", len(t)) + t for t in texts) + b"\0\0\0\0"
    with pytest.raises(AllocationLimitError, match=r"exceeded --max-alloc=1048576"):
        decode_filter_list(wire, 0, max_alloc=1 << 20)
    got, _ = decode_filter_list(wire, 0, max_alloc=4 << 20)
    assert got == texts
