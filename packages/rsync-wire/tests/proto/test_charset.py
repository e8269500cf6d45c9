"""``--iconv``'s charset choice and conversions (rsync: rsync.c setup_iconv(), iconvbufs())."""

from __future__ import annotations

import pytest

from rsync_wire.proto.charset import (
    ConvertError,
    IconvOpenError,
    iconv_for_side,
    remote_iconv,
    setup_iconv,
    to_wire_args,
)


@pytest.mark.parametrize(
    ("option", "client", "server", "forwarded"),
    [
        ("UTF-8,ISO-8859-1", "UTF-8", "ISO-8859-1", "ISO-8859-1"),
        ("LATIN1", "LATIN1", "LATIN1", "LATIN1"),
        (".", ".", ".", "."),
        (",UTF-8", "", "UTF-8", "UTF-8"),
    ],
)
def test_sides_and_what_the_client_forwards(
    option: str, client: str, server: str, forwarded: str
) -> None:
    assert iconv_for_side(option, server=False) == client
    assert iconv_for_side(option, server=True) == server
    assert remote_iconv(option) == forwarded


def test_dot_and_an_empty_half_are_the_locale_charset() -> None:
    assert setup_iconv(".", server=False, locale_charset="ISO-8859-1").name == "ISO-8859-1"
    assert setup_iconv(",x", server=False, locale_charset="UTF-8").name == "UTF-8"


@pytest.mark.parametrize("name", ["BOGUS", "base64", "rot13"])
def test_unknown_charsets_fail_with_rsyncs_words(name: str) -> None:
    with pytest.raises(IconvOpenError, match=rf'^iconv_open\("UTF-8", "{name}"\) failed$'):
        setup_iconv(name, server=False, locale_charset="UTF-8")


@pytest.mark.parametrize(
    ("charset", "local", "wire"),
    [
        ("ISO-8859-1", b"caf\xe9", "café".encode()),
        ("LATIN1", b"\xfc", "ü".encode()),
        ("UTF-8", "naïve".encode(), "naïve".encode()),
        ("CP1252", b"\x80", "€".encode()),
        ("ISO-8859-1", b"plain", b"plain"),
    ],
)
def test_names_to_and_from_the_wire(charset: str, local: bytes, wire: bytes) -> None:
    conv = setup_iconv(charset, server=False, locale_charset="UTF-8")
    assert conv.to_wire(local) == wire
    assert conv.from_wire(wire) == local


@pytest.mark.parametrize(
    ("charset", "wire", "reason"),
    [
        ("ISO-8859-1", "€".encode(), "Invalid or incomplete multibyte or wide character"),
        ("ISO-8859-1", b"\xff", "Invalid or incomplete multibyte or wide character"),
        ("UTF-8", b"\xc3", "Invalid argument"),  # cut in the middle of a character
    ],
)
def test_what_does_not_convert(charset: str, wire: bytes, reason: str) -> None:
    conv = setup_iconv(charset, server=False, locale_charset="UTF-8")
    with pytest.raises(ConvertError, match=f"^{reason}$"):
        conv.from_wire(wire)


def test_utf8_is_checked_even_to_itself() -> None:
    conv = setup_iconv("UTF-8", server=False, locale_charset="UTF-8")
    with pytest.raises(ConvertError):
        conv.to_wire(b"bad-\xff")


def test_lenient_conversions_keep_what_does_not_convert() -> None:
    latin = setup_iconv("ISO-8859-1", server=True, locale_charset="UTF-8")
    assert latin.from_wire_lenient("é-€".encode()) == b"\xe9-" + "€".encode()
    utf8 = setup_iconv("UTF-8", server=True, locale_charset="UTF-8")
    assert utf8.to_wire_lenient(b"a\xffb") == b"a\xffb"


def test_secluded_arguments_go_in_utf8() -> None:
    assert to_wire_args(["caf\udce9"], "ISO-8859-1,UTF-8") == ["café"]
    assert to_wire_args(["x"], None) == ["x"]
