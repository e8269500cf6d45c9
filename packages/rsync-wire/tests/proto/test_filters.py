"""Filter rules: matching vectors, parsing, the wire list, per-directory merges, daemon chains."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rsync_wire.errors import ExitCode, LocalProtocolError, RemoteProtocolError
from rsync_wire.proto.codec import NeedMoreData
from rsync_wire.proto.filters import (
    DEFAULT_CVSIGNORE,
    F_OPTION_RULES,
    MAX_RULE_TEXT,
    FilterAction,
    FilterError,
    FilterList,
    FilterRule,
    RuleFlag,
    cvs_exclude_rules,
    decode_filter_list,
    encode_filter_list_into,
    filter_list_is_sent,
    filter_rule_texts,
    parse_rule,
    parse_rules,
)

# -- matching: (rule, path, is_dir, excluded), checked against the man page ----------------

MATCH_VECTORS: list[tuple[bytes, bytes, bool, bool]] = [
    # "- *.o" excludes all names ending in .o, at any depth
    (b"- *.o", b"x.o", False, True),
    (b"- *.o", b"d/e/x.o", False, True),
    (b"- *.o", b"x.c", False, False),
    (b"- *.o", b"x.o/y", False, False),
    # "- /foo": foo in the transfer root only, file or directory
    (b"- /foo", b"foo", False, True),
    (b"- /foo", b"foo", True, True),
    (b"- /foo", b"d/foo", False, False),
    # "- foo/": any directory named foo, never a file
    (b"- foo/", b"foo", True, True),
    (b"- foo/", b"d/foo", True, True),
    (b"- foo/", b"foo", False, False),
    # "- foo/*/bar": bar two levels below a foo
    (b"- foo/*/bar", b"foo/x/bar", False, True),
    (b"- foo/*/bar", b"a/foo/x/bar", False, True),
    (b"- foo/*/bar", b"foo/bar", False, False),
    (b"- foo/*/bar", b"foo/x/y/bar", False, False),
    (b"- foo/*/bar", b"afoo/x/bar", False, False),
    # "- /foo/**/bar": two or more levels below a top-level foo (not foo/bar)
    (b"- /foo/**/bar", b"foo/x/bar", False, True),
    (b"- /foo/**/bar", b"foo/x/y/bar", False, True),
    (b"- /foo/**/bar", b"foo/bar", False, False),
    (b"- /foo/**/bar", b"d/foo/x/bar", False, False),
    # a non-anchored "**" pattern may start after any '/'
    (b"- foo/**/bar", b"d/foo/x/bar", False, True),
    (b"- foo/**/bar", b"dfoo/x/bar", False, False),
    # "**/foo" also matches foo at the top (a '/' is put in front)
    (b"- **/foo", b"foo", False, True),
    (b"- **/foo", b"a/b/foo", False, True),
    (b"- **/foo", b"a/xfoo", False, False),
    # "foo/bar" matches the last two elements
    (b"- foo/bar", b"foo/bar", False, True),
    (b"- foo/bar", b"x/foo/bar", False, True),
    (b"- foo/bar", b"xfoo/bar", False, False),
    (b"- foo/bar", b"bar", False, False),
    # "dir/***": the directory and everything in it, not a file of that name
    (b"- dir/***", b"dir", True, True),
    (b"- dir/***", b"dir/x", False, True),
    (b"- dir/***", b"dir/x/y", True, True),
    (b"- dir/***", b"a/dir/x", False, True),
    (b"- dir/***", b"dir", False, False),
    (b"- /dir/***", b"a/dir/x", False, False),
    # "a/**" does not match a itself
    (b"- a/**", b"a", True, False),
    (b"- a/**", b"a/b", False, True),
    # a pattern without '/' or '**' sees only the last element
    (b"- b", b"a/b", False, True),
    (b"- *", b"a/b", False, True),
    (b"- a*", b"a/b", False, False),
    (b"- ?", b"x/y", True, True),
    (b"- [a-c]*", b"d/car", False, True),
    (b"- [a-c]*", b"car/d", False, False),
    # "-! */": every non-directory
    (b"-! */", b"file", False, True),
    (b"-! */", b"dir", True, False),
    (b"-! *.c", b"x.c", False, False),
    (b"-! *.c", b"x.h", False, True),
    # backslash is an escape only in a wildcard pattern
    (b"- foo\\bar", b"foo\\bar", False, True),
    (b"- foo\\bar", b"foobar", False, False),
    (b"- foo\\bar*", b"foobarx", False, True),
    (b"- foo\\\\bar*", b"foo\\barx", False, True),
    (b"- \\[x]", b"[x]", False, True),
    (b"- [x]", b"[x]", False, False),
    # spaces belong to the pattern
    (b"- a b", b"a b", False, True),
    (b"- a ", b"a", False, False),
    (b"-_a_b", b"a_b", False, True),
    # include rules never exclude
    (b"+ *.o", b"x.o", False, False),
]


@pytest.mark.parametrize(("rule", "path", "is_dir", "excluded"), MATCH_VECTORS)
def test_match_vectors(rule: bytes, path: bytes, is_dir: bool, excluded: bool) -> None:
    flist = FilterList()
    flist.add_filter(rule)
    assert flist.excluded(path, is_dir=is_dir) is excluded


def test_first_match_wins() -> None:
    flist = FilterList()
    for rule in (b"+ */", b"+ *.c", b"- *"):
        flist.add_filter(rule)
    assert not flist.excluded(b"src", is_dir=True)
    assert not flist.excluded(b"src/a.c", is_dir=False)
    assert flist.excluded(b"src/a.h", is_dir=False)
    deciding = flist.match(b"src/a.h", is_dir=False)
    assert deciding is not None
    assert deciding.to_text() == b"- *"
    assert flist.match(b"x", is_dir=True) == parse_rule(b"+ */")


def test_empty_names_never_match() -> None:
    flist = FilterList()
    flist.add_filter(b"-! x")
    assert not flist.excluded(b"", is_dir=False)
    assert not flist.excluded(b"/", is_dir=False)
    assert flist.excluded(b"y", is_dir=False)


def test_leading_slash_in_name() -> None:
    flist = FilterList(root=b"/data")
    flist.add_filter(b"-/ /data/x")
    assert flist.excluded(b"x", is_dir=False)
    assert not flist.excluded(b"/x", is_dir=False)  # a name with '/' is already absolute
    assert flist.excluded(b"/data/x", is_dir=False)


def test_abs_path_modifier_uses_root() -> None:
    flist = FilterList(root=b"/home/me/src")
    flist.add_filter(b"-/ /home/me/src/a")
    flist.add_filter(b"-/ src/top")  # the last two elements of the absolute path
    assert flist.excluded(b"a", is_dir=False)
    assert not flist.excluded(b"b/a", is_dir=False)
    assert flist.excluded(b"top", is_dir=True)
    assert not flist.excluded(b"d/top", is_dir=True)
    flist.root = b"/other"
    assert not flist.excluded(b"a", is_dir=False)


def test_sides() -> None:
    flist = FilterList()
    for rule in (b"H hidden", b"P protected", b"S shown", b"R risked", b"- both"):
        flist.add_filter(rule)
    flist.add_filter(b"- *")
    assert flist.excluded(b"hidden", is_dir=False, for_sender=True)
    assert flist.excluded(b"hidden", is_dir=False, for_sender=False)  # falls to "- *"
    assert not flist.excluded(b"shown", is_dir=False, for_sender=True)
    assert flist.excluded(b"shown", is_dir=False, for_sender=False)
    assert flist.excluded(b"protected", is_dir=False, for_sender=False)
    assert not flist.excluded(b"risked", is_dir=False, for_sender=False)
    assert flist.excluded(b"risked", is_dir=False, for_sender=True)
    protect = flist.match(b"protected", is_dir=False, for_sender=False)
    assert protect is not None
    assert protect.receiver_side
    assert not protect.sender_side


def test_both_sides_modifier() -> None:
    flist = FilterList()
    flist.add_filter(b"-sr x")
    assert flist.excluded(b"x", is_dir=False, for_sender=True)
    assert flist.excluded(b"x", is_dir=False, for_sender=False)


def test_delete_excluded_makes_plain_rules_sender_side() -> None:
    flist = FilterList(delete_excluded=True)
    flist.add_filter(b"- *.o")
    flist.add_filter(b"P keep.o")
    (rule, protect) = flist.rules
    assert rule.sender_side
    assert not rule.receiver_side
    assert flist.excluded(b"a.o", is_dir=False, for_sender=True)
    assert not flist.excluded(b"a.o", is_dir=False, for_sender=False)
    assert flist.excluded(b"keep.o", is_dir=False, for_sender=False)
    assert protect.receiver_side
    assert not protect.sender_side


def test_perishable() -> None:
    flist = FilterList()
    flist.add_filter(b"-p *.o")
    assert flist.excluded(b"a.o", is_dir=False)
    assert not flist.excluded(b"a.o", is_dir=False, ignore_perishable=True)


def test_xattr_rules_only_match_xattr_names() -> None:
    flist = FilterList()
    flist.add_filter(b"-x user.*")
    flist.add_filter(b"- sec*")
    assert flist.excluded(b"user.foo", is_dir=False, xattr=True)
    assert not flist.excluded(b"user.foo", is_dir=False)
    assert not flist.excluded(b"security.x", is_dir=False, xattr=True)
    assert flist.excluded(b"secret", is_dir=False)


def test_clear() -> None:
    flist = FilterList()
    flist.add_filter(b"- *.o")
    flist.add_filter(b"!")
    flist.add_filter(b"- *.c")
    assert flist.rules == (parse_rule(b"- *.c"),)
    flist.add_exclude(b"!")
    assert not flist
    flist.add_exclude(b"!x")  # with old-style syntax "!x" is a pattern
    assert flist.excluded(b"!x", is_dir=False)


# -- parsing -------------------------------------------------------------------------------

PARSE_VECTORS: list[tuple[bytes, FilterAction | None, bytes]] = [
    (b"- *.o", None, b"- *.o"),
    (b"+ *.c", None, b"+ *.c"),
    (b"exclude *.o", None, b"- *.o"),
    (b"include *.c", None, b"+ *.c"),
    (b"exclude, *.o", None, b"- *.o"),
    (b"exclude,/! x", None, b"-/! x"),
    (b"-,s x", None, b"-s x"),
    (b"hide x", None, b"-s x"),
    (b"H x", None, b"-s x"),
    (b"show x", None, b"+s x"),
    (b"S x", None, b"+s x"),
    (b"protect x", None, b"-r x"),
    (b"P x", None, b"-r x"),
    (b"risk x", None, b"+r x"),
    (b"R x", None, b"+r x"),
    (b"-p x", None, b"-p x"),
    (b"-x user.*", None, b"-x user.*"),
    (b"-_x", None, b"- x"),
    (b"-  x", None, b"-  x"),  # the second space is part of the pattern
    (b"- x/", None, b"- x/"),
    (b"- /", None, b"- /"),  # a lone "/" is not a directory-only rule
    (b"merge file", None, b". file"),
    (b". file", None, b". file"),
    (b"merge,- file", None, b".- file"),
    (b"dir-merge .f", None, b": .f"),
    (b": .f", None, b": .f"),
    (b":n- .f", None, b":n- .f"),
    (b":e .f", None, b":e .f"),
    (b"dir-merge,nw+ .f", None, b":nw+ .f"),
    (b":C", None, b":C .cvsignore"),
    (b"-C", None, b"-C "),
    (b":s .f", None, b":s .f"),
    (b"clear", None, b"!"),
    (b"!", None, b"!"),
    # --exclude / --include syntax
    (b"*.o", FilterAction.EXCLUDE, b"- *.o"),
    (b"- *.o", FilterAction.EXCLUDE, b"- *.o"),
    (b"+ *.o", FilterAction.EXCLUDE, b"+ *.o"),
    (b"-s *.o", FilterAction.EXCLUDE, b"- -s *.o"),  # no modifiers in this syntax
    (b"*.c", FilterAction.INCLUDE, b"+ *.c"),
    (b"- *.c", FilterAction.INCLUDE, b"- *.c"),
    (b"!", FilterAction.INCLUDE, b"!"),
    (b"!x", FilterAction.INCLUDE, b"+ !x"),
    (b" x", FilterAction.EXCLUDE, b"-  x"),
]


@pytest.mark.parametrize(("text", "default_type", "expected"), PARSE_VECTORS)
def test_parse_vectors(text: bytes, default_type: FilterAction | None, expected: bytes) -> None:
    assert parse_rule(text, default_type=default_type).to_text() == expected


def test_parse_rule_record() -> None:
    rule = parse_rule(b"-/!p foo/bar/")
    assert rule.action is FilterAction.EXCLUDE
    assert rule.pattern == b"foo/bar"
    assert rule.dir_only
    assert rule.abs_path
    assert rule.negate
    assert rule.perishable
    assert not rule.anchored
    assert rule.matches_full_path
    assert rule.slash_cnt == 1
    assert not rule.has_wildcards
    star = parse_rule(b"+ /a/**/b***")
    assert star.action is FilterAction.INCLUDE
    assert star.anchored
    assert star.has_wildcards
    assert star.has_double_star
    assert star.flags & RuleFlag.WILD3_SUFFIX
    assert not star.flags & RuleFlag.WILD2_PREFIX
    assert parse_rule(b"- **/x").flags & RuleFlag.WILD2_PREFIX
    merge = parse_rule(b"dir-merge,n- .excl")
    assert merge.action is FilterAction.DIR_MERGE
    assert merge.no_inherit
    assert merge.merge_content is FilterAction.EXCLUDE
    assert parse_rule(b":+ .incl").merge_content is FilterAction.INCLUDE
    cvs = parse_rule(b":C")
    assert cvs.cvs_ignore
    assert cvs.word_split
    assert cvs.merge_content is None
    assert parse_rule(b":e .x").exclude_self
    assert parse_rule(b"!").action is FilterAction.CLEAR
    assert parse_rule(b". f").action is FilterAction.MERGE


def test_parse_rules_word_split() -> None:
    rules = parse_rules(b"  - a  + b\t- c/ ", word_split=True)
    assert [r.to_text() for r in rules] == [b"- a", b"+ b", b"- c/"]
    old = parse_rules(b"a - b", word_split=True, default_type=FilterAction.INCLUDE)
    assert [r.to_text() for r in old] == [b"+ a", b"- b"]
    assert parse_rules(b"") == []
    with pytest.raises(FilterError, match="Unknown filter rule: b"):
        parse_rules(b"- a b", word_split=True)


def test_parse_delete_excluded() -> None:
    assert parse_rule(b"- x", delete_excluded=True).to_text() == b"-s x"
    assert parse_rule(b"P x", delete_excluded=True).to_text() == b"-r x"
    assert parse_rule(b": .f", delete_excluded=True).to_text() == b": .f"


ERROR_VECTORS: list[tuple[bytes, str]] = [
    (b"x foo", "Unknown filter rule: x foo"),
    (b"excludes foo", "Unknown filter rule"),
    (b" - foo", "Unknown filter rule"),
    (b"-w x", "invalid modifier 'w' at position 1 in filter rule: -w x"),
    (b"+e x", "invalid modifier 'e' at position 1"),
    (b".! f", "invalid modifier '!'"),
    (b"Hs x", "invalid modifier 's'"),
    (b"PC", "invalid modifier 'C'"),
    (b":-+ f", "invalid modifier '+'"),
    (b"-", "unexpected end of filter rule: -"),
    (b"exclude", "unexpected end of filter rule"),
    (b"! x", "'!' rule has trailing characters: ! x"),
    (b"clear ", "'!' rule has trailing characters"),
    (b":", "unexpected end of filter rule: :"),  # only ":C" may omit the name
]


@pytest.mark.parametrize(("text", "message"), ERROR_VECTORS)
def test_parse_errors(text: bytes, message: str) -> None:
    with pytest.raises(FilterError, match=re.escape(message)) as info:
        parse_rule(text)
    assert info.value.exit_code is ExitCode.SYNTAX


def test_parse_empty_rule() -> None:
    with pytest.raises(FilterError):
        parse_rule(b"")


def test_parse_from_wire_old_protocol() -> None:
    assert parse_rule(b"- x", from_wire=True, protocol=28).to_text() == b"- x"
    assert parse_rule(b"+ x", from_wire=True, protocol=28).to_text() == b"+ x"
    assert parse_rule(b"x", from_wire=True, protocol=28).to_text() == b"- x"
    assert parse_rule(b"-s x", from_wire=True, protocol=28).pattern == b"-s x"
    assert parse_rule(b"!", from_wire=True, protocol=28).action is FilterAction.CLEAR
    assert parse_rule(b"-s x", from_wire=True, protocol=29).to_text() == b"-s x"


def test_nul_ends_the_rule() -> None:
    assert parse_rule(b"- a\0b").pattern == b"a"


# -- the wire list -------------------------------------------------------------------------


def _rules(*texts: bytes, delete_excluded: bool = False) -> FilterList:
    flist = FilterList(delete_excluded=delete_excluded)
    for text in texts:
        flist.add_filter(text)
    return flist


def _encode(
    flist: FilterList, *, protocol: int, sender: bool, delete_excluded: bool = False
) -> bytes:
    buf = bytearray()
    encode_filter_list_into(
        buf, flist, protocol=protocol, client_is_sender=sender, delete_excluded=delete_excluded
    )
    return bytes(buf)


def test_encode_vectors() -> None:
    assert _encode(FilterList(), protocol=32, sender=False).hex() == "00000000"
    assert (
        _encode(_rules(b"- *.o"), protocol=31, sender=False).hex()
        == "05000000" + b"- *.o".hex() + "00000000"
    )
    assert (
        _encode(_rules(b"exclude foo/"), protocol=31, sender=False).hex()
        == "06000000" + b"- foo/".hex() + "00000000"
    )


WIRE_TEXTS: list[tuple[tuple[bytes, ...], int, bool, list[bytes]]] = [
    # (rules, protocol, client_is_sender, texts sent)
    ((b"- *.o", b"+ *.c", b"- x/"), 32, False, [b"- *.o", b"+ *.c", b"- x/"]),
    ((b"exclude,/! x",), 32, False, [b"-/! x"]),
    ((b"H a", b"S b", b"P c", b"R d"), 32, False, [b"-s a", b"+s b"]),
    ((b"H a", b"S b", b"P c", b"R d"), 32, True, [b"-r c", b"+r d"]),
    ((b"-sr a",), 32, True, [b"-sr a"]),
    ((b": .rsync-filter", b":e .x"), 32, False, [b": .rsync-filter", b"- .x", b": .x"]),
    ((b"-p a",), 30, False, [b"-p a"]),
    ((b"-p a",), 29, False, [b"- a"]),
    ((b"-x user.*",), 32, False, [b"-x user.*"]),
    # protocol 28: old spelling
    ((b"- *.o", b"+ *.c", b"- - x", b"- + y"), 28, False, [b"*.o", b"+ *.c", b"- - x", b"- + y"]),
    ((b"H a",), 28, False, [b"a"]),
    ((b"P a",), 28, True, [b"a"]),
    # -C: expanded when the client sends (or below 29), else sent as is
    ((b"-C",), 29, False, [b"-C "]),
    ((b":C",), 29, False, [b":C .cvsignore"]),
]


@pytest.mark.parametrize(("rules", "protocol", "sender", "texts"), WIRE_TEXTS)
def test_rule_texts(
    rules: tuple[bytes, ...], protocol: int, sender: bool, texts: list[bytes]
) -> None:
    flist = _rules(*rules)
    assert filter_rule_texts(flist, protocol=protocol, client_is_sender=sender) == texts
    encoded = _encode(flist, protocol=protocol, sender=sender)
    assert decode_filter_list(encoded, 0) == (texts, len(encoded))


def test_cvs_rules_expanded() -> None:
    words = DEFAULT_CVSIGNORE.split()
    sent = filter_rule_texts(_rules(b"-C"), protocol=30, client_is_sender=True)
    assert sent == [b"-p " + w for w in words]
    old_list = FilterList(protocol=28)
    old_list.add_filter(b"-C")
    assert filter_rule_texts(old_list, protocol=28, client_is_sender=True) == words
    plain = filter_rule_texts([parse_rule(b"-C")], protocol=31, client_is_sender=True)
    assert plain == sent


def test_delete_excluded_on_the_wire() -> None:
    flist = _rules(b"- a", b"P b", b":- .x", b": .y", delete_excluded=True)
    pushed = filter_rule_texts(flist, protocol=32, client_is_sender=True, delete_excluded=True)
    assert pushed == [b"-r b", b": .y"]
    pulled = filter_rule_texts(flist, protocol=32, client_is_sender=False, delete_excluded=True)
    assert pulled == [b"-s a", b":- .x", b": .y"]


TOO_MODERN: list[tuple[bytes, int, bool]] = [
    (b": .f", 28, False),
    (b"-/ x", 28, False),
    (b"+! x", 28, True),
    (b"-p x", 29, True),
    (b"-p x", 28, True),
]


@pytest.mark.parametrize(("rule", "protocol", "sender"), TOO_MODERN)
def test_too_modern(rule: bytes, protocol: int, sender: bool) -> None:
    with pytest.raises(LocalProtocolError, match="too modern") as info:
        _encode(_rules(rule), protocol=protocol, sender=sender)
    assert info.value.exit_code is ExitCode.PROTOCOL


def test_decode_errors() -> None:
    good = bytes.fromhex("03000000") + b"- a" + bytes(4)
    for cut in range(len(good)):
        with pytest.raises(NeedMoreData):
            decode_filter_list(good[:cut], 0)
    assert decode_filter_list(b"xx" + good, 2) == ([b"- a"], len(good) + 2)
    with pytest.raises(RemoteProtocolError, match="length 5120"):
        decode_filter_list((MAX_RULE_TEXT + 1).to_bytes(4, "little") + b"x" * 6000, 0)
    with pytest.raises(RemoteProtocolError, match="length -1"):
        decode_filter_list(b"\xff\xff\xff\xff", 0)
    assert decode_filter_list(b"\x03\x00\x00\x00- \x00" + bytes(4), 0)[0] == [b"- "]
    longest = MAX_RULE_TEXT.to_bytes(4, "little") + b"- " + b"a" * (MAX_RULE_TEXT - 2) + bytes(4)
    assert len(decode_filter_list(longest, 0)[0][0]) == MAX_RULE_TEXT


_patterns = st.binary(min_size=1, max_size=40).filter(
    lambda p: b"\0" not in p and not p.endswith(b"/") and p != b"/"
)
_modifiers = st.sets(st.sampled_from("/!psrx")).map(lambda m: "".join(sorted(m)))


@st.composite
def _rule_texts(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["-", "+", ":"]))
    pattern = draw(_patterns)
    if kind == ":":
        mods = "".join(sorted(draw(st.sets(st.sampled_from("nwe")))))
        mods += draw(st.sampled_from(["", "-", "+"]))
    else:
        mods = draw(_modifiers)
    dir_only = draw(st.booleans()) and kind != ":"
    return f"{kind}{mods} ".encode() + pattern + (b"/" if dir_only else b"")


@settings(max_examples=300, deadline=None)
@given(st.lists(_rule_texts(), max_size=8), st.sampled_from([30, 31, 32]), st.booleans())
def test_wire_round_trip(texts: list[bytes], protocol: int, sender: bool) -> None:
    flist = FilterList(protocol=protocol)
    for text in texts:
        flist.add_filter(text)
    sent = filter_rule_texts(flist, protocol=protocol, client_is_sender=sender)
    encoded = _encode(flist, protocol=protocol, sender=sender)
    decoded, end = decode_filter_list(encoded, 0)
    assert end == len(encoded)
    assert decoded == sent
    # Split feeding: every strict prefix asks for more, the whole gives the same list.
    for cut in range(0, len(encoded), 7):
        with pytest.raises(NeedMoreData):
            decode_filter_list(encoded[:cut], 0)
    server = FilterList(protocol=protocol)
    server.add_received(decoded)
    # What the server parses is what the client meant, minus what stays local.
    again = filter_rule_texts(server, protocol=protocol, client_is_sender=sender)
    assert again == sent


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_decode_random_bytes(data: bytes) -> None:
    with contextlib.suppress(NeedMoreData, RemoteProtocolError):
        decode_filter_list(data, 0)


def test_add_received_refuses_merge_files() -> None:
    flist = FilterList()
    with pytest.raises(RemoteProtocolError):
        flist.add_received([b". /etc/passwd"])
    flist.add_received([b": .rsync-filter", b"- *.o", b"!", b"+ x"])
    assert flist.rules == (parse_rule(b"+ x"),)
    assert flist.has_per_dir_merge


def test_add_received_old_protocol() -> None:
    flist = FilterList(protocol=28)
    flist.add_received([b"*.o", b"+ *.c", b"- - x"])
    assert [r.to_text() for r in flist.rules] == [b"- *.o", b"+ *.c", b"- - x"]
    with pytest.raises(FilterError):
        FilterList().add_received([b"*.o"])


SENT_TABLE: list[tuple[dict[str, bool], int, bool]] = [
    ({"client_is_sender": False}, 32, True),
    ({"client_is_sender": True}, 32, False),
    ({"client_is_sender": True, "delete_mode": True}, 32, True),
    ({"client_is_sender": True, "delete_mode": True, "delete_excluded": True}, 29, True),
    ({"client_is_sender": True, "delete_mode": True, "delete_excluded": True}, 28, False),
    ({"client_is_sender": True, "prune_empty_dirs": True}, 28, True),
    ({"client_is_sender": False, "local": True}, 32, False),
]


@pytest.mark.parametrize(("opts", "protocol", "sent"), SENT_TABLE)
def test_filter_list_is_sent(opts: dict[str, bool], protocol: int, sent: bool) -> None:
    args = {
        "local": False,
        "delete_mode": False,
        "delete_excluded": False,
        "prune_empty_dirs": False,
    }
    args.update(opts)
    assert filter_list_is_sent(protocol=protocol, **args) is sent


def test_cvs_exclude_rules() -> None:
    assert cvs_exclude_rules(protocol=31, am_sender=True, am_server=False) == ((b":C", b"-C"), ())
    assert cvs_exclude_rules(protocol=28, am_sender=True, am_server=False) == ((b"-C",), (b":C",))
    assert cvs_exclude_rules(protocol=31, am_sender=False, am_server=False) == ((), (b":C", b"-C"))
    assert cvs_exclude_rules(protocol=31, am_sender=True, am_server=True) == ((b":C", b"-C"), ())
    assert cvs_exclude_rules(protocol=31, am_sender=False, am_server=True) == ((), ())
    assert cvs_exclude_rules(protocol=28, am_sender=False, am_server=True) == ((b":C",), ())
    assert cvs_exclude_rules(protocol=31, am_sender=False, am_server=True, local=True) == (
        (b":C", b"-C"),
        (),
    )


# -- merge files ---------------------------------------------------------------------------


class _fs:  # noqa: N801 - used like a function
    """An in-memory read_file callback that records what was asked for."""

    def __init__(self, files: dict[bytes, bytes]) -> None:
        self.files = files
        self.reads: list[bytes] = []

    def __call__(self, path: bytes) -> bytes | None:
        self.reads.append(path)
        return self.files.get(path)


def test_merge_file_read_at_build_time() -> None:
    read = _fs({b"rules": b"# c\n- *.o\n\n. more\n", b"more": b"+ keep.o\r\n- *.c\r\n"})
    flist = FilterList(read_file=read)
    flist.add_filter(b"merge rules")
    assert [r.to_text() for r in flist.rules] == [b"- *.o", b"+ keep.o", b"- *.c"]
    with pytest.raises(FilterError, match="failed to open exclude file nothere") as info:
        flist.add_filter(b". nothere")
    assert info.value.exit_code is ExitCode.FILEIO
    with pytest.raises(FilterError, match="failed to open include file x"):
        FilterList(read_file=read).add_filter(b".+ x")


def test_merge_modifiers_apply_to_contents() -> None:
    read = _fs({b"f": b"a\nb/\n", b"g": b"- x\n+ y\n"})
    flist = FilterList(read_file=read)
    flist.add_filter(b"merge,+p f")
    flist.add_filter(b".s g")
    assert [r.to_text() for r in flist.rules] == [b"+p a", b"+p b/", b"-s x", b"+s y"]
    with pytest.raises(FilterError, match="specified-side merge file"):
        FilterList(read_file=_fs({b"h": b"H x\n"})).add_filter(b".s h")


def test_merge_errors_do_not_echo_file_contents() -> None:
    flist = FilterList(read_file=_fs({b"secret": b"root:x:0:0\n"}))
    with pytest.raises(FilterError) as info:
        flist.add_filter(b". secret")
    assert "root" not in str(info.value)
    assert "secret line 1" in str(info.value)


def test_a_file_named_in_a_file_is_reported_by_where_it_was_named() -> None:
    """rsync 3.5: exclude.c rule_src_where(); the inner name is file content too."""
    files = {b"outer": b". inner\n", b"inner": b"root:x:0:0\n", b"gone": b". missing\n"}
    with pytest.raises(FilterError) as info:
        FilterList(read_file=_fs(files)).add_filter(b". outer")
    assert str(info.value) == "Unknown filter rule: <rule from a file named at outer line 1>"
    with pytest.raises(FilterError) as info:
        FilterList(read_file=_fs(files)).add_filter(b". gone")
    assert str(info.value) == "failed to open exclude file <rule from gone line 1>"
    assert info.value.exit_code is ExitCode.FILEIO


def test_a_per_dir_merge_named_in_a_file_is_read_earlier() -> None:
    """A deferred merge's naming file is long gone: rsync says "a file read earlier"."""
    flist = FilterList()
    flist.add_filter(b": .f")
    read = _fs({b".f": b": sub/.g\n", b"sub/.g": b"root:x:0:0\n"})
    token = flist.enter_dir(b"", read)
    with pytest.raises(FilterError) as info:
        flist.enter_dir(b"sub", read)
    flist.leave_dir(token)
    assert str(info.value) == "Unknown filter rule: <rule from a file read earlier>"
    flist = FilterList()
    flist.add_filter(b": .f")
    with pytest.raises(FilterError) as info:
        flist.enter_dir(b"", _fs({b".f": b"root:x:0:0\n"}))
    assert str(info.value) == "Unknown filter rule: <rule from /.f line 1>"


def test_merge_depth_limit() -> None:
    flist = FilterList(read_file=_fs({b"loop": b". loop\n"}))
    with pytest.raises(FilterError, match="depth limit") as info:
        flist.add_filter(b". loop")
    assert info.value.exit_code is ExitCode.FILEIO


def test_exclude_from_and_include_from() -> None:
    flist = FilterList()
    flist.add_exclude_from(b"*.o\r\n; comment\n# comment\n+ keep.o\n!x\n\n")
    flist.add_include_from(b"*.c\n- *.h")
    texts = [r.to_text() for r in flist.rules]
    assert texts == [b"- *.o", b"+ keep.o", b"- !x", b"+ *.c", b"- *.h"]
    nul = FilterList(from0=True)
    nul.add_exclude_from(b"a b\0#c\0\0d\n")
    assert [r.pattern for r in nul.rules] == [b"a b", b"d\n"]


def test_dir_merge_inheritance_and_anchoring() -> None:
    read = _fs(
        {
            b".f": b"- *.o\n- /top.txt\n",
            b"a/.f": b"+ keep.o\n- /x\n",
            b"a/b/.f": b"- y\n",
            b"c/.f": b"!\n- z\n",
        }
    )
    flist = FilterList()
    flist.add_filter(b": .f")
    flist.add_filter(b"- last")
    assert flist.has_per_dir_merge
    root = flist.enter_dir(b"", read)
    assert flist.excluded(b"q.o", is_dir=False)
    assert flist.excluded(b"top.txt", is_dir=False)
    a = flist.enter_dir(b"a", read)
    assert flist.excluded(b"a/q.o", is_dir=False)
    assert not flist.excluded(b"a/keep.o", is_dir=False)
    assert flist.excluded(b"a/x", is_dir=False)
    assert not flist.excluded(b"a/top.txt", is_dir=False)  # anchored at the root's directory
    b = flist.enter_dir(b"a/b", read)
    assert flist.excluded(b"a/b/y", is_dir=False)
    assert not flist.excluded(b"a/b/keep.o", is_dir=False)  # inherited from a/.f
    assert not flist.excluded(b"a/b/x", is_dir=False)  # "/x" stays anchored at a/
    flist.leave_dir(b)
    assert not flist.excluded(b"a/y", is_dir=False)
    flist.leave_dir(a)
    c = flist.enter_dir(b"c", read)
    assert not flist.excluded(b"c/q.o", is_dir=False)  # "!" dropped the inherited rules
    assert flist.excluded(b"c/z", is_dir=False)
    assert flist.excluded(b"c/last", is_dir=False)  # the global rules stay
    flist.leave_dir(c)
    flist.leave_dir(root)
    assert not flist.excluded(b"q.o", is_dir=False)
    assert flist.rules == (parse_rule(b": .f"), parse_rule(b"- last"))
    assert read.reads == [b".f", b"a/.f", b"a/b/.f", b"c/.f"]


def test_dir_merge_no_inherit_and_exclude_self() -> None:
    read = _fs({b".f": b"- x\n", b"d/.f": b"- y\n"})
    flist = FilterList()
    flist.add_filter(b":ne .f")
    assert [r.to_text() for r in flist.rules] == [b"- .f", b":n .f"]
    with flist.in_dir(b".", read):
        assert flist.excluded(b"x", is_dir=False)
        assert flist.excluded(b".f", is_dir=False)
        with flist.in_dir(b"d", read):
            assert not flist.excluded(b"d/x", is_dir=False)
            assert flist.excluded(b"d/y", is_dir=False)
            assert flist.excluded(b"d/.f", is_dir=False)
        with flist.in_dir(b"e", read):
            assert not flist.excluded(b"e/x", is_dir=False)


def test_dir_merge_nested_and_deduplicated() -> None:
    read = _fs({b".f": b": .g\n: .f\n- f1\n", b".g": b"- g1\n", b"d/.g": b"- g2\n"})
    flist = FilterList()
    flist.add_filter(b": .f")
    with flist.in_dir(b"", read):
        assert flist.excluded(b"f1", is_dir=False)
        assert flist.excluded(b"g1", is_dir=False)
        with flist.in_dir(b"d", read):
            assert flist.excluded(b"d/g1", is_dir=False)
            assert flist.excluded(b"d/g2", is_dir=False)
    assert not flist.excluded(b"g1", is_dir=False)
    with flist.in_dir(b"", _fs({})):
        assert not flist.excluded(b"g1", is_dir=False)


def test_dir_merge_sides_and_perishable() -> None:
    read = _fs({b".f": b"- a\n", b".g": b"- b\n"})
    flist = FilterList()
    flist.add_filter(b":s .f")
    flist.add_filter(b":p .g")
    with flist.in_dir(b"", read):
        assert flist.excluded(b"a", is_dir=False, for_sender=True)
        assert not flist.excluded(b"a", is_dir=False, for_sender=False)
        assert flist.excluded(b"b", is_dir=False)
        assert not flist.excluded(b"b", is_dir=False, ignore_perishable=True)


def test_dir_merge_cvsignore() -> None:
    read = _fs({b".cvsignore": b"a b\n! c", b"d/.cvsignore": b"x"})
    flist = FilterList()
    flist.add_filter(b":C")
    with flist.in_dir(b"", read):
        assert not flist.excluded(b"a", is_dir=False)  # "!" cleared a and b
        assert flist.excluded(b"c", is_dir=False)
        with flist.in_dir(b"d", read):
            assert not flist.excluded(b"d/c", is_dir=False)  # :C is not inherited
            assert flist.excluded(b"d/x", is_dir=False)


def test_parent_dir_scan() -> None:
    files = {
        b"/.rsync-filter": b"- r1\n",
        b"/srv/.rsync-filter": b"- r2\n- /data/r3\n- /r4\n",
        b"/srv/data/.rsync-filter": b"not read by the scan, but as the root's own file",
        b".rsync-filter": b"- r5\n",
        b"sub/.rsync-filter": b"- r6\n",
    }
    read = _fs(files)
    flist = FilterList(root=b"/srv/data")
    for rule in F_OPTION_RULES:
        flist.add_filter(rule)
    with flist.in_dir(
        b".", _fs({k: v for k, v in files.items() if k != b"/srv/data/.rsync-filter"})
    ):
        for name in (b"r1", b"r2", b"r3", b"r5", b".rsync-filter"):
            assert flist.excluded(name, is_dir=False), name
        assert not flist.excluded(b"r4", is_dir=False)  # anchored at /srv, not at the root
        assert not flist.excluded(b"data/r3", is_dir=False)
        assert not flist.excluded(b"x/r3", is_dir=False)
        with flist.in_dir(b"sub", read):
            assert flist.excluded(b"sub/r6", is_dir=False)
            assert flist.excluded(b"sub/r1", is_dir=False)
    assert read.reads == [b"sub/.rsync-filter"]


def test_enter_dir_without_merge_rules_reads_nothing() -> None:
    read = _fs({})
    flist = FilterList()
    flist.add_filter(b"- x")
    token = flist.enter_dir(b"a", read)
    flist.leave_dir(token)
    assert read.reads == []


def test_dir_merge_syntax_error_is_fatal() -> None:
    flist = FilterList()
    flist.add_filter(b": .f")
    with pytest.raises(FilterError, match="line 2"):
        flist.enter_dir(b"", _fs({b".f": b"- ok\nbogus\n"}))


# -- CVS -----------------------------------------------------------------------------------


def test_cvs_global_list() -> None:
    flist = FilterList(protocol=30, home_cvsignore=b"*.tmp\n", cvsignore_env=b"*.log ! *.x")
    flist.add_filter(b"+ core")
    flist.add_filter(b"-C")
    assert not flist.excluded(b"core", is_dir=False)  # earlier rule wins
    assert not flist.excluded(b"a.o", is_dir=False)  # "!" in $CVSIGNORE cleared the list
    assert flist.excluded(b"a.x", is_dir=False)
    flist = FilterList(protocol=30, home_cvsignore=b"*.tmp\n")
    flist.add_filter(b"-C")
    for name in (b"a.o", b"RCS", b"x~", b"#x", b".#x", b"a.tmp", b"core"):
        assert flist.excluded(name, is_dir=False), name
    assert flist.excluded(b".git", is_dir=True)
    assert not flist.excluded(b".git", is_dir=False)
    assert not flist.excluded(b"a.c", is_dir=False)
    assert not flist.excluded(b"a.o", is_dir=False, ignore_perishable=True)
    cvs = flist.cvs_rules
    assert cvs is not None
    assert cvs[0].perishable
    assert cvs[-1].pattern == b"*.tmp"
    assert not cvs[-1].perishable
    assert not FilterList(protocol=29).cvs_rules


# -- daemon chains -------------------------------------------------------------------------


def test_daemon_config() -> None:
    flist = FilterList.from_daemon_config(
        filter="- /private H hidden P protected",
        include_from=b"keep.o\n",
        include=b"*/",
        exclude_from=b"*.o\n- x\n",
        exclude="secret/ a/b",
    )
    texts = [r.to_text() for r in flist.rules]
    assert texts == [
        b"-/ /private",
        b"-r protected",
        b"+ keep.o",
        b"+ */",
        b"- *.o",
        b"- x",
        b"- secret/***",
        b"-/ a/b",
    ]
    assert flist.excluded(b"private", is_dir=True)
    assert flist.excluded(b"protected", is_dir=False, for_sender=True)  # sides ignored
    assert not flist.excluded(b"hidden", is_dir=False)  # sender-only rules are dropped
    assert not flist.excluded(b"secret", is_dir=False)
    assert not flist.excluded(b"z/secret", is_dir=True)  # "+ */" comes first
    assert flist.excluded(b"z/secret/f", is_dir=False)
    assert flist.excluded(b"a/b", is_dir=False)
    assert flist.excluded(b"z/a/b", is_dir=False)  # unanchored: the last two elements


def test_daemon_root_in_subdirectory() -> None:
    # Patterns with a slash see the path from the module root, whatever the transfer root.
    flist = FilterList.from_daemon_config(exclude=b"/sub/deep sub/x", root=b"/sub")
    assert flist.excluded(b"deep", is_dir=True)
    assert not flist.excluded(b"sub/deep", is_dir=True)
    assert flist.excluded(b"x", is_dir=False)
    assert not flist.excluded(b"y/x", is_dir=False)
    top = FilterList.from_daemon_config(exclude=b"sub/x")
    assert not top.excluded(b"x", is_dir=False)
    assert top.excluded(b"sub/x", is_dir=False)


def test_daemon_config_errors() -> None:
    with pytest.raises(FilterError, match="Unknown filter rule: b"):
        FilterList.from_daemon_config(filter="P /a b")


def test_rule_record_is_frozen_and_hashable() -> None:
    rule = parse_rule(b"- x")
    assert hash(rule) == hash(FilterRule(flags=RuleFlag(0), pattern=b"x", slash_cnt=0))
    with pytest.raises(AttributeError):
        rule.pattern = b"y"  # type: ignore[misc]


_PATTERN_PARTS = st.sampled_from(
    [b"a", b"b/", b"/", b"*", b"**", b"***", b"?", b"[ab]", b"x.o", b"\\*"]
)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(
        st.one_of(
            st.tuples(
                st.sampled_from([b"- ", b"+ "]), st.lists(_PATTERN_PARTS, min_size=1, max_size=5)
            ).map(lambda t: t[0] + b"".join(t[1])),
            st.sampled_from([b"!", b": .rules", b"-/ x", b"P keep", b"- ", b"+ /"]),
        ),
        max_size=12,
    ),
    delete_excluded=st.booleans(),
    path=st.sampled_from([b"a", b"b/a", b"x.o", b"d/x.o", b"ab", b"a/b/c", b"*"]),
    is_dir=st.booleans(),
)
def test_a_received_list_read_at_once_equals_one_rule_at_a_time(
    texts: list[bytes], delete_excluded: bool, path: bytes, is_dir: bool
) -> None:
    """The reader's batch path (add_received_texts) finishes "- PAT"/"+ PAT" rules itself;
    it must give the rules, and the matches, that the general path gives rule by rule."""
    from rsync_wire.proto.filters.wire import FilterListReader

    one = FilterList(delete_excluded=delete_excluded)
    try:
        for text in texts:
            one.add_received([text])
    except FilterError:
        return
    buf = bytearray()
    for text in texts:
        buf += len(text).to_bytes(4, "little") + text
    buf += bytes(4)
    batch = FilterList(delete_excluded=delete_excluded)
    done, pos = FilterListReader(batch, protocol=31).decode_some(buf, 0) if texts else (True, 4)
    assert done
    assert pos == len(buf)
    assert batch.rules == one.rules
    assert batch.excluded(path, is_dir=is_dir) == one.excluded(path, is_dir=is_dir)
