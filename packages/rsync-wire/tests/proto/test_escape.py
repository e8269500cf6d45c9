r"""rsync's ``\#ooo`` escapes, with the outputs of rsync 3.5.0 for the same names.

The expected texts were read from rsync's own output: ``rsync -v`` in a UTF-8 locale and in
the C locale, and a daemon's log file with ``transfer logging``.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rsync_wire.proto.escape import escape_text

NAMES = [
    # raw name, rsync -v in C.UTF-8, rsync -v in C, rsync's daemon log file
    (b"a\x01b", "a\\#001b", "a\\#001b", b"a\\#001b"),
    (b"back\\x", "back\\x", "back\\x", b"back\\x"),
    (b"c1\xc2\x85", "c1\x85", "c1\\#302\\#205", b"c1\xc2\\#205"),
    (b"del\x7f", "del\x7f", "del\x7f", b"del\x7f"),
    (b"lat\xe9", "lat\\#351", "lat\\#351", b"lat\xe9"),
    (b"lit\\#123x", "lit\\#134#123x", "lit\\#134#123x", b"lit\\#134#123x"),
    (b"nl\nx", "nl\\#012x", "nl\\#012x", b"nl\\#012x"),
    (b"tab\tx", "tab\tx", "tab\tx", b"tab\tx"),
    ("utf_é".encode(), "utf_é", "utf_\\#303\\#251", "utf_é".encode()),
]


@pytest.mark.parametrize(("raw", "utf8", "ascii_", "logged"), NAMES)
def test_as_rsync_shows_and_logs_them(raw: bytes, utf8: str, ascii_: str, logged: bytes) -> None:
    assert escape_text(raw, charset="utf-8") == utf8
    assert escape_text(raw, charset="ascii") == ascii_
    assert escape_text(raw, charset=None, c1=True).encode("utf-8", "surrogateescape") == logged


def test_literal_escape_needs_three_digits_and_eight_bit_passes_bytes() -> None:
    assert escape_text(b"\\#12") == "\\#12"
    assert escape_text(b"\\#1234") == "\\#134#1234"
    assert escape_text(b"\\\\#123") == "\\\\#134#123"
    assert escape_text(b"x\xe9\x01", charset=None) == "x\udce9\\#001"


def test_c1_is_for_raw_bytes_only() -> None:
    with pytest.raises(ValueError, match="c1"):
        escape_text(b"x", charset="utf-8", c1=True)


@given(st.binary(max_size=64))
def test_output_is_safe_and_reversible_text(data: bytes) -> None:
    text = escape_text(data)
    assert not any(ord(ch) < 0x20 and ch != "\t" for ch in text)
    assert all(not 0xDC80 <= ord(ch) <= 0xDCFF for ch in text)
    text.encode("utf-8")  # valid text: never a lone surrogate
    # every escape stands for one byte, so the raw name can be read back
    back = bytearray()
    i = 0
    raw = text.encode("utf-8")
    while i < len(raw):
        if raw[i : i + 2] == b"\\#" and raw[i + 2 : i + 5].isdigit():
            back.append(int(raw[i + 2 : i + 5], 8))
            i += 5
        else:
            back.append(raw[i])
            i += 1
    assert bytes(back) == data
