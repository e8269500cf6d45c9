"""rsync's wildcard matcher: vectors, and the regex fast path against the ported algorithm."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsync_wire.proto.wildmatch import (
    _BAD,
    _dowild,
    _to_regex,
    _tokenize,
    compile_wildmatch,
    has_wildcards,
    wildmatch,
)

# (pattern, text, expected), checked by hand against lib/wildmatch.c's rules.
VECTORS: list[tuple[bytes, bytes, bool]] = [
    # literals
    (b"foo", b"foo", True),
    (b"foo", b"fo", False),
    (b"foo", b"foox", False),
    (b"", b"", True),
    (b"", b"a", False),
    # ? never matches '/'
    (b"f?o", b"fxo", True),
    (b"f?o", b"f/o", False),
    (b"???", b"ab", False),
    # * stays inside one path element, ** crosses '/'
    (b"*", b"", True),
    (b"*", b"abc", True),
    (b"*", b"a/b", False),
    (b"*.o", b"x.o", True),
    (b"*.o", b"d/x.o", False),
    (b"**", b"a/b/c", True),
    (b"**.o", b"d/x.o", True),
    (b"***", b"a/b", True),
    (b"a*", b"a/", False),
    (b"a**", b"a/", True),
    (b"a/*", b"a/b", True),
    (b"a/*", b"a/b/c", False),
    (b"a/**", b"a/b/c", True),
    (b"a/**", b"a/", True),
    (b"a/**", b"a", False),
    (b"a/**/b", b"a/b", False),
    (b"a/**/b", b"a/x/b", True),
    (b"a/**/b", b"a/x/y/b", True),
    (b"**/b", b"b", False),
    (b"**/b", b"/b", True),
    (b"*/b", b"x/b", True),
    (b"*a*b", b"xaxb", True),
    (b"*a*b", b"xa/b", False),
    (b"**a*b", b"a/ab", True),
    (b"**a*b", b"a/a/b", False),
    (b"*a**b", b"xa/q/b", True),
    (b"**/*a*b/**", b"x/yab/z", True),
    (b"**/*a*b/**", b"x/yab", False),
    # classes
    (b"[abc]", b"b", True),
    (b"[abc]", b"d", False),
    (b"[a-c]x", b"bx", True),
    (b"[c-a]", b"b", False),
    (b"[!a-c]", b"d", True),
    (b"[!a-c]", b"b", False),
    (b"[^a-c]", b"d", True),
    (b"[!a]", b"/", False),
    (b"[/]", b"/", False),
    (b"a[/]b", b"a/b", False),
    (b"[]]", b"]", True),
    (b"[]a]", b"a", True),
    (b"[!]]", b"]", False),
    (b"[!]]", b"x", True),
    (b"[a-]", b"-", True),
    (b"[-a]", b"-", True),
    (b"[a-c-e]", b"-", True),
    (b"[a-c-e]", b"d", False),
    (b"[\\]]", b"]", True),
    (b"[\\-]", b"-", True),
    (b"[a\\-c]", b"b", False),
    (b"[[:alpha:]]", b"Q", True),
    (b"[[:alpha:]]", b"1", False),
    (b"[[:digit:][:upper:]]", b"7", True),
    (b"[[:digit:][:upper:]]", b"U", True),
    (b"[[:digit:][:upper:]]", b"u", False),
    (b"[![:space:]]", b" ", False),
    (b"[[:punct:]]", b"/", False),
    (b"[[:punct:]]", b"!", True),
    (b"[[:xdigit:]]", b"f", True),
    (b"[[:blank:]]", b"\t", True),
    (b"[[:cntrl:]]", b"\x7f", True),
    (b"[[:graph:]]", b" ", False),
    (b"[[:print:]]", b" ", True),
    (b"[[:alnum:]]", b"\xe9", False),
    (b"[[:lower:]]", b"a", True),
    (b"[[:abc]", b"c", True),  # no ":]": the '[' is a plain member
    (b"[[:abc]", b"[", True),
    (b"[[:bogus:]]", b"b", False),  # unknown class: the pattern matches nothing
    (b"[", b"[", False),  # unterminated: nothing matches
    (b"a[", b"a[", False),
    (b"*[", b"x[", False),
    (b"[ab", b"a", False),
    (b"[\xe9]", b"\xe9", True),
    (b"[\x80-\xff]x", b"\xc3x", True),
    # backslash escapes
    (b"\\*", b"*", True),
    (b"\\*", b"a", False),
    (b"\\a", b"a", True),
    (b"a\\", b"a\\", False),  # a lone trailing backslash never matches
    (b"a\\", b"a", False),
    (b"\\[x]", b"[x]", True),
    (b"foo\\bar*", b"foobar", True),
    (b"foo\\\\bar*", b"foo\\barx", True),
]


def _regex_full(pattern: bytes, text: bytes, start: int = 0) -> bool:
    toks = _tokenize(pattern)
    if any(t[0] == _BAD for t in toks):
        return False
    return _to_regex(toks).fullmatch(text, start) is not None


@pytest.mark.parametrize(("pattern", "text", "expected"), VECTORS)
def test_vectors(pattern: bytes, text: bytes, expected: bool) -> None:
    wp = compile_wildmatch(pattern)
    assert wildmatch(pattern, text) is expected
    assert wp.match(text) is expected
    assert wp.match_interpreted(text) is expected
    assert _regex_full(pattern, text) is expected


@pytest.mark.parametrize(
    ("pattern", "text", "count", "expected"),
    [
        (b"b/c", b"a/b/c", 2, True),
        (b"b/c", b"b/c", 2, True),
        (b"b/c", b"c", 2, False),  # not enough elements
        (b"a/b/c", b"a/b/c", 3, True),
        (b"*/c", b"a/b/c", 2, True),
        (b"*/c", b"/c", 2, True),
        (b"x[/a]y", b"q/xay", 2, False),  # the class's '/' counts, the class cannot match it
    ],
)
def test_match_tail(pattern: bytes, text: bytes, count: int, expected: bool) -> None:
    assert compile_wildmatch(pattern).match_tail(text, count) is expected


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        (b"a/**/b", b"x/a/y/b", True),
        (b"a/**/b", b"xa/y/b", False),  # only after a '/'
        (b"a/**", b"q/r/a/s", True),
        (b"d*/**/z", b"d1/d2/d3/deep/z", True),
        (b"a/**b*c", b"x/a/b/c", False),
    ],
)
def test_match_any_start(pattern: bytes, text: bytes, expected: bool) -> None:
    assert compile_wildmatch(pattern).match_any_start(text) is expected


def test_has_wildcards() -> None:
    assert has_wildcards(b"a*")
    assert has_wildcards(b"a?")
    assert has_wildcards(b"a[")
    assert has_wildcards(b"\\[")  # an escaped bracket still makes it a wildcard pattern
    assert not has_wildcards(b"a\\b]")


def test_nul_in_text_is_a_plain_byte() -> None:
    assert not wildmatch(b"a", b"a\0")


def test_engines_chosen() -> None:
    assert compile_wildmatch(b"*.o").uses_regex
    assert compile_wildmatch(b"a/**/b").uses_regex
    assert not compile_wildmatch(b"**/x/*.c").uses_regex


def test_compile_is_cached() -> None:
    assert compile_wildmatch(b"cached*") is compile_wildmatch(b"cached*")


def test_hostile_patterns_stay_fast() -> None:
    cases = [
        (b"**a" * 12 + b"b", b"a" * 4000),
        (b"*a" * 12 + b"b", b"a" * 250),
        (b"*a*a*a*a*a*a*" + b"/" + b"*a" * 8 + b"b", (b"a" * 200 + b"/") * 10),
    ]
    start = time.monotonic()
    for pattern, text in cases:
        wp = compile_wildmatch(pattern)
        assert not wp.match(text)
        assert not wp.match_any_start(text)
    assert time.monotonic() - start < 5


# -- the regex translation gives the ported algorithm's answers ----------------------------

_PATTERN_BYTES = st.sampled_from([b"a", b"b", b"/", b"*", b"**", b"?", b"[", b"]", b"!", b"^"])
_PATTERN_BYTES |= st.sampled_from([b"-", b"\\", b"[:alpha:]", b"[:digit:]", b":", b"1"])
patterns = st.lists(_PATTERN_BYTES, max_size=10).map(b"".join)
texts = st.lists(
    st.sampled_from([b"a", b"b", b"/", b"-", b"]", b"[", b"1", b"!"]), max_size=10
).map(b"".join)


def _reference_any_start(pattern: bytes, text: bytes) -> bool:
    """rsync's where < 0 loop over the ported algorithm, abort codes included."""
    toks = _tokenize(pattern)
    start = 0
    while True:
        r = _dowild(toks, text, start)
        if r == 1:
            return True
        if r == -1:
            return False
        start = text.find(b"/", start) + 1
        if start == 0:
            return False


@settings(max_examples=1000, deadline=None)
@given(patterns, texts)
def test_regex_equals_interpreter(pattern: bytes, text: bytes) -> None:
    toks = _tokenize(pattern)
    expected = _dowild(toks, text, 0) == 1
    assert _regex_full(pattern, text) is expected
    assert compile_wildmatch(pattern).match(text) is expected


@settings(max_examples=800, deadline=None)
@given(patterns, texts)
def test_any_start_equals_reference(pattern: bytes, text: bytes) -> None:
    expected = _reference_any_start(pattern, text)
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == 0x2F]
    assert any(_regex_full(pattern, text, s) for s in starts) is expected
    assert compile_wildmatch(pattern).match_any_start(text) is expected
