"""Long rule lists: the indexed lookup gives the answer of the rule-by-rule loop."""

from __future__ import annotations

import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsync_wire.errors import AllocationLimitError, RemoteProtocolError
from rsync_wire.proto.codec import NeedMoreData
from rsync_wire.proto.filters import FilterError, FilterList, FilterListReader, decode_filter_list

_WORDS = [b"a", b"b", b"ab", b"x.c", b"y.o", b"dir", b"sub", b"a.tmp", b"core", b"b.c"]

_prefixes = st.sampled_from(
    [b"- ", b"+ ", b"-! ", b"-p ", b"-s ", b"-r ", b"+/ ", b"-x ", b"P ", b"H ", b"-, "]
)


@st.composite
def _patterns(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=3))
    pat = b"/".join(parts)
    shape = draw(st.integers(0, 11))
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
    elif shape == 8:  # two star runs: no key, a candidate only by a piece of its text
        pat = b"*" + parts[0] + b"*"
    elif shape == 9:  # neither a prefix nor a suffix rule
        pat = parts[0][:1] + b"*" + parts[-1][-3:]
    return pat or b"a"


_rules = st.lists(st.tuples(_prefixes, _patterns()).map(b"".join), min_size=32, max_size=80)
_names = st.lists(
    st.lists(st.sampled_from([*_WORDS, b"*", b"a*", b"[ab]", b"?.c", b""]), min_size=1, max_size=4)
    .map(b"/".join)
    .filter(bool),
    max_size=20,
)


@settings(max_examples=120, deadline=None)
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
    texts = [b"- file%d" % i for i in range(50_000)]
    wire = b"".join(struct.pack("<i", len(t)) + t for t in texts) + b"\0\0\0\0"
    with pytest.raises(AllocationLimitError, match=r"exceeded --max-alloc=1048576"):
        decode_filter_list(wire, 0, max_alloc=1 << 20)
    got, _ = decode_filter_list(wire, 0, max_alloc=4 << 20)
    assert got == texts


def _wire(texts: list[bytes]) -> bytes:
    return b"".join(struct.pack("<i", len(t)) + t for t in texts) + b"\0\0\0\0"


def _read_in_pieces(flist: FilterList | None, wire: bytes, cuts: list[int], **kw: int) -> int:
    """Feed ``wire`` to a reader as a stream cut at ``cuts``; return the bytes it consumed."""
    reader = FilterListReader(flist, **kw)
    buf = bytearray()
    consumed = 0
    for start, stop in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        buf += wire[start:stop]
        while True:
            try:
                done, pos = reader.decode_some(buf, 0)
            except NeedMoreData:
                break
            consumed += pos
            del buf[:pos]  # what the stream drops: the reader never looks back
            if done:
                return consumed
    msg = "never complete"
    raise AssertionError(msg)


@settings(max_examples=100, deadline=None)
@given(rules=_rules, data=st.data(), protocol=st.sampled_from([28, 31]))
def test_the_streaming_reader_builds_the_list_add_received_builds(
    rules: list[bytes], data: st.DataObject, protocol: int
) -> None:
    wire = _wire(rules)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(wire) - 1), max_size=8)))
    streamed = FilterList(protocol=protocol)
    assert _read_in_pieces(streamed, wire, cuts, protocol=protocol) == len(wire)
    whole = FilterList(protocol=protocol)
    whole.add_received(rules, protocol=protocol)
    assert streamed.rules == whole.rules


@settings(max_examples=100, deadline=None)
@given(
    rules=_rules,
    names=_names,
    for_sender=st.booleans(),
    perishable=st.booleans(),
)
def test_rules_past_the_entry_cache_match_as_the_plain_loop(
    rules: list[bytes], names: list[bytes], for_sender: bool, perishable: bool
) -> None:
    """Past the first _CACHE_MAX rules, entries are made afresh for every match."""
    import rsync_wire.proto.filters.matching as filters_mod

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(filters_mod, "_CACHE_MAX", 3)
        fl = FilterList(protocol=31)
        fl.add_received(rules)
        plain = fl._main.entries()
        want = (1 << 16) if for_sender else (1 << 17)
        for name in names:
            for is_dir in (False, True):
                got = fl.match(
                    name, is_dir=is_dir, for_sender=for_sender, ignore_perishable=perishable
                )
                expected = fl._check(
                    plain,
                    name,
                    is_dir=is_dir,
                    want=want,
                    ignore_perishable=perishable,
                    xattr=False,
                    root_rel=b"",
                )
                assert got == expected, (name, is_dir)


def test_the_streaming_reader_refuses_what_decode_filter_list_refuses() -> None:
    with pytest.raises(RemoteProtocolError, match="out of range"):
        FilterListReader(FilterList()).decode_some(struct.pack("<i", -1) + b"x" * 8, 0)
    with pytest.raises(RemoteProtocolError, match="out of range"):
        FilterListReader(FilterList()).decode_some(struct.pack("<i", 5120) + b"x" * 5120, 0)
    with pytest.raises(RemoteProtocolError, match="merge-file rule"):
        FilterListReader(FilterList()).decode_some(_wire([b". /etc/passwd"]), 0)
    with pytest.raises(NeedMoreData):
        FilterListReader(FilterList()).decode_some(b"\x05\0\0\0- a", 0)
    texts = [b"- file%d" % i for i in range(50_000)]
    with pytest.raises(AllocationLimitError, match=r"exceeded --max-alloc=1048576"):
        _read_in_pieces(FilterList(), _wire(texts), [], max_alloc=1 << 20)
    # Dropping the rules (a refused transfer) still checks them and ends where the list does.
    wire = _wire([b"- a", b"+ b/"]) + b"next"
    assert _read_in_pieces(None, wire, [3, 9]) == len(wire) - 4


@settings(max_examples=200, deadline=None)
@given(
    rules=st.lists(
        st.one_of(
            st.tuples(_prefixes, _patterns()).map(b"".join),
            st.sampled_from([b"- ", b"+ ", b"- a\0b", b"+ " + b"x" * 300, b"- \0", b"!"]),
        ),
        min_size=1,
        max_size=60,
    ),
    data=st.data(),
    delete_excluded=st.booleans(),
)
def test_the_bulk_reader_reads_what_the_rule_loop_reads(
    rules: list[bytes], data: st.DataObject, delete_excluded: bool
) -> None:
    """Runs of "- PAT" rules are read in bulk; around NULs, long rules, rules without a
    pattern and other kinds, the result (or the error) is the one rule-by-rule reading gives."""
    wire = _wire(rules)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(wire) - 1), max_size=4)))
    one = FilterList(protocol=31, delete_excluded=delete_excluded)
    try:
        one.add_received([r.split(b"\0", 1)[0] for r in rules])
    except FilterError as exc:
        with pytest.raises(FilterError, match=re.escape(str(exc))):
            _read_in_pieces(FilterList(protocol=31, delete_excluded=delete_excluded), wire, cuts)
        return
    bulk = FilterList(protocol=31, delete_excluded=delete_excluded)
    assert _read_in_pieces(bulk, wire, cuts, protocol=31) == len(wire)
    assert bulk.rules == one.rules


def test_a_long_list_costs_bytes_not_objects() -> None:
    """100,000 received rules hold about their text, not ~700 bytes of objects each."""
    import tracemalloc

    texts = [
        (b"- file%d.dat", b"- *.x%d", b"- dir%d/", b"- /top/a%d/b")[i % 4] % i
        for i in range(100_000)
    ]
    wire = _wire(texts)
    tracemalloc.start()
    try:
        fl = FilterList(protocol=31)
        _read_in_pieces(fl, wire, list(range(65536, len(wire), 65536)))
        assert fl.excluded(b"sub/file76.dat", is_dir=False)
        assert fl.excluded(b"dir42", is_dir=True)
        assert not fl.excluded(b"dir42", is_dir=False)
        assert fl.excluded(b"a/b.x1", is_dir=False)
        assert fl.excluded(b"top/a3/b", is_dir=False)
        assert not fl.excluded(b"x/top/a3/b", is_dir=False)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    text_bytes = sum(len(t) for t in texts)
    assert held < text_bytes + 12 * len(texts), (held, text_bytes)


def test_every_record_gives_back_its_flags_and_pattern() -> None:
    """_Packed's records, plain or coded: past 252 distinct flag sets a record's flags are
    escaped (in bytes that are never NUL, which ends a record)."""
    from rsync_wire.proto.filters.matching import _Packed
    from rsync_wire.proto.filters.parse import _make_raw

    packed = _Packed()
    added = [((i % 300) << 8, b"p%d" % i if i % 7 else b"") for i in range(600)]
    for text in (b"a", b"d/", b"*.o", b"x*/", b"/a/b", b"**/c", b"/", b"//", b"a//"):
        fl, pat, _ = _make_raw(text, 0, 0, b"")
        added.append((fl, pat))
        fl, pat, _ = _make_raw(text, 1 << 5, 0, b"")  # an include
        added.append((fl, pat))
    for flags, pattern in added:
        packed.append(flags, pattern)
    assert [packed.flags_pattern(off) for off in packed.offsets()] == added
    assert len(packed) == len(added)
    assert 0x2D in packed.blob  # some of them plain


def test_many_wildcards_without_a_key_find_the_first_that_matches() -> None:
    # 20,000 rules with two star runs each: none has a key, so each is filed under a
    # 3-byte piece of its text and tried only for names that contain it.
    rules = [b"- *zz%dq*.bak" % i for i in range(20_000)]
    rules[12_345] = b"+ *keep*"
    rules.insert(15_000, b"- *keep*.bak")  # after the include: never the answer for keep
    rules.append(b"- *.bak*")
    fl = FilterList(protocol=31)
    fl.add_received(rules)
    plain = fl._main.entries()
    for name in (b"d/zz17q1.bak", b"zz19999q.bak", b"a/keep1.bak", b"x.bak", b"x.bak~", b"f1"):
        got = fl.match(name, is_dir=False)
        want = fl._check(
            plain,
            name,
            is_dir=False,
            want=None,
            ignore_perishable=False,
            xattr=False,
            root_rel=b"",
        )
        assert got == want, name
    assert fl.match(b"a/keep1.bak", is_dir=False) is not None
    assert fl.excluded(b"d/zz17q1.bak", is_dir=False)
    assert not fl.excluded(b"a/keep1.bak", is_dir=False)
    assert not fl.excluded(b"f1", is_dir=False)


def test_copies_of_one_rule_are_indexed_once() -> None:
    """A hundred thousand copies of one rule (read in bulk) do not pile up in the table's
    slots: past a few, a copy is dropped; the first copy still decides."""
    texts = [b"- same", b"+ same/"] * 50_000 + [b"+ same", b"- other"]
    fl = FilterList(protocol=31)
    _read_in_pieces(fl, _wire(texts), [65536])
    assert fl.match(b"d/same", is_dir=False) is fl.match(b"same", is_dir=True)
    assert fl.excluded(b"same", is_dir=True)
    assert fl.excluded(b"other", is_dir=False)
    assert not fl.excluded(b"samex", is_dir=False)
    index = fl._index
    assert index is not None
    assert sum(1 for slot in index.table if slot) <= 20
