"""The receiving side's whole-list shortcuts give what the per-entry rules give.

`_dedupe` and `_names_are_rels` look at a whole list at once (joined names, counts)
instead of one call per entry; for any list, including the odd names a sender may send
(`.`, `x/.`, `/abs` with -R, a directory named like a file, a name twice), they must
agree with `rsync_wire.proto.flist_sort.dedupe` and `_rel` exactly.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from rsync_wire.proto.flist import FileEntry
from rsync_wire.proto.flist_sort import dedupe, sort_file_list
from rsync_wire.roles.receiving import _dedupe, _names_are_rels, _rel

DIR = 0o40755
REG = 0o100644

_PART = st.sampled_from([b"a", b"b", b"ab", b".", b"c.d"])
_NAME = st.one_of(
    st.just(b"."),
    st.lists(_PART, min_size=1, max_size=3).map(b"/".join),
    st.lists(_PART, min_size=1, max_size=2).map(lambda p: b"/" + b"/".join(p)),
)
_ENTRY = st.builds(
    lambda name, is_dir: FileEntry(name=name, mode=DIR if is_dir or name == b"." else REG),
    _NAME,
    st.booleans(),
)


@given(st.lists(_ENTRY, max_size=12), st.sampled_from([28, 29, 30, 31]))
# -R: an absolute directory named like an absolute file that does not sort next to it
@example(
    [
        FileEntry(name=b"/b", mode=REG),
        FileEntry(name=b"/b", mode=DIR),
        FileEntry(name=b"/a/a", mode=REG),
    ],
    29,
)
def test_dedupe_shortcut_agrees_with_rsyncs_rule(entries: list[FileEntry], protocol: int) -> None:
    ordered = sort_file_list(entries, protocol=protocol)
    assert _dedupe(ordered, protocol=protocol) == dedupe(ordered, protocol=protocol)


@given(st.lists(_NAME, max_size=8))
def test_names_are_rels_agrees_with_rel(names: list[bytes]) -> None:
    assert _names_are_rels(names) == all(_rel(name) == name for name in names)


def test_dedupe_shortcut_finds_each_kind_of_duplicate() -> None:
    def cleared(spec: list[tuple[bytes, int]]) -> list[bool]:
        ordered = sort_file_list([FileEntry(name=n, mode=m) for n, m in spec], protocol=31)
        return _dedupe(ordered, protocol=31)

    assert cleared([(b"d/a", REG), (b"d/b", REG), (b"d/c", DIR)]) == [False] * 3
    assert cleared([(b"d/a", REG), (b"d/a", REG)]) == [False, True]
    # a directory named like a file: the directory is kept, wherever the file sorts
    assert cleared([(b"d/a", REG), (b"d/b", REG), (b"d/a", DIR)]) == [True, False, False]
