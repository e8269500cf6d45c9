"""``FilterList.trace``: the ``--debug=FILTER`` line rsync prints for the rule that decided.

rsync: exclude.c report_filter_result(), rule_text(), rule_detail().
"""

from __future__ import annotations

import pytest

from rsync_wire.proto.filters import FilterList


def _list(*rules: bytes, files: dict[bytes, bytes] | None = None) -> FilterList:
    store = files or {}
    flist = FilterList(read_file=store.get)
    for rule in rules:
        flist.add_filter(rule)
    return flist


@pytest.mark.parametrize(
    ("rule", "path", "is_dir", "line"),
    [
        (b"- *.o", b"d/x.o", False, "[sender] hiding file d/x.o because of pattern *.o"),
        (b"+ keep/", b"keep", True, "[sender] showing directory keep because of pattern keep/"),
        (b"- /a/b/", b"a/b", True, "[sender] hiding directory a/b because of pattern /a/b/"),
    ],
)
def test_sender_lines(rule: bytes, path: bytes, is_dir: bool, line: str) -> None:
    assert _list(rule).trace(path, is_dir=is_dir, who="sender") == line


def test_generator_protects_and_risks() -> None:
    flist = _list(b"R *.keep", b"- *.o")
    assert (
        flist.trace(b"r.o", is_dir=False, who="generator", for_sender=False)
        == "[generator] protecting file r.o because of pattern *.o"
    )
    assert (
        flist.trace(b"x.keep", is_dir=False, who="generator", for_sender=False)
        == "[generator] risking file x.keep because of pattern *.keep"
    )


def test_no_rule_no_line_and_the_same_verdict_as_match() -> None:
    flist = _list(b"- *.o", b"+ *.c", b"- *")
    assert flist.trace(b"x", is_dir=True, who="sender") == (
        "[sender] hiding directory x because of pattern *"
    )
    assert _list(b"- *.o").trace(b"x.c", is_dir=False, who="sender") is None
    # past the length where matching goes through an index, the trace still names the rule
    many = _list(*[b"- n%d" % i for i in range(100)], b"+ n50")
    assert many.trace(b"n50", is_dir=False, who="sender") == (
        "[sender] hiding file n50 because of pattern n50"
    )
    assert many.match(b"n50", is_dir=False) is not None


def test_rules_read_from_a_file_are_never_echoed() -> None:
    files = {b"rules": b"- sec[r]et/\n", b"sub/.pd": b"- hidden-*\n:e self-[x]\n"}
    flist = _list(b". rules", b": .pd", files=files)
    line = flist.trace(b"secret", is_dir=True, who="sender")
    assert (
        line
        == "[sender] hiding directory secret because of pattern <rule from a file read earlier>"
    )
    token = flist.enter_dir(b"sub", files.get)
    try:
        line = flist.trace(b"sub/hidden-1", is_dir=False, who="sender")
        assert line == (
            "[sender] hiding file sub/hidden-1 because of pattern "
            "<rule from a file read earlier> [per-dir .pd]"
        )
        # the exclude-self rule a ":e" in a file makes, and the list it names
        line = flist.trace(b"sub/self-x", is_dir=False, who="sender")
        assert line is not None
        assert "self-[x]" not in line
        assert line.endswith(" [per-dir .pd]")
    finally:
        flist.leave_dir(token)
    # the provenance the trace keeps is not part of the rule
    assert flist.rules[0] == _list(b"- sec[r]et/").rules[0]


def test_cvs_list() -> None:
    line = _list(b"-C").trace(b"x.o", is_dir=False, who="sender")
    assert line == "[sender] hiding file x.o because of pattern *.o [global CVS]"
