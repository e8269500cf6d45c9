"""``--iconv``: which charset a side converts names with, and the conversions (no I/O).

How this works: with ``--iconv`` the wire carries every name (file-list names, symlink
targets when both sides agree on ``CF_SYMLINK_ICONV``, messages) in UTF-8, whatever either
side stores. ``--iconv=LOCAL,REMOTE`` gives the client ``LOCAL`` and the server ``REMOTE``
(the client forwards only ``--iconv=REMOTE``); ``--iconv=CHARSET`` gives both the same;
``.`` or an empty half is the locale's charset. Each side converts what it sends from its
charset to UTF-8 and what it receives from UTF-8 to its charset. rsync uses iconv(3); this
module uses Python's codecs, under the names iconv knows (``ISO-8859-1``, ``LATIN1``,
``UTF-8``...), and reports a charset neither knows with rsync's ``iconv_open()`` words.

rsync: rsync.c setup_iconv(), iconvbufs(); options.c server_options() (``--iconv``).
"""

from __future__ import annotations

import codecs
import locale
from typing import Final

from rsync_wire.errors import UnsupportedError

__all__ = [
    "Charset",
    "ConvertError",
    "IconvOpenError",
    "charset_for",
    "charset_line",
    "iconv_for_side",
    "remote_iconv",
    "setup_iconv",
    "to_wire_args",
]

UTF8_CHARSET: Final = "UTF-8"  # rsync: rsync.h UTF8_CHARSET
_EILSEQ_TEXT: Final = "Invalid or incomplete multibyte or wide character"  # strerror(EILSEQ)
_EINVAL_TEXT: Final = "Invalid argument"  # strerror(EINVAL): a sequence cut at the end


class IconvOpenError(UnsupportedError):
    """A charset neither Python nor this module knows (rsync's message has no prefix)."""

    bare = True


class ConvertError(ValueError):
    """A name that does not convert; ``str()`` is the C library's text for the errno."""


def _codec(name: str) -> codecs.CodecInfo | None:
    base = name.split("//", 1)[0]  # iconv's //TRANSLIT and //IGNORE suffixes
    try:
        info = codecs.lookup(base)
    except LookupError:
        return None
    # codecs that are not charsets (base64, rot13, zlib...) are not iconv's either
    if not getattr(info, "_is_text_encoding", True):
        return None
    return info


class Charset:
    """One side's conversions between its charset and the wire's UTF-8.

    Attributes:
        name: the charset as given (``""``: the locale's).
    """

    __slots__ = ("_codec", "_ignore", "name")

    def __init__(self, name: str, info: codecs.CodecInfo) -> None:
        self.name = name
        self._codec = info
        self._ignore = "//IGNORE" in name.upper()

    def to_wire(self, data: bytes) -> bytes:
        """A local name in UTF-8 (rsync's ``ic_send``).

        Raises:
            ConvertError: ``data`` is not valid in this charset.
        """
        return _convert(data, self._codec, _UTF8, ignore=self._ignore)

    def from_wire(self, data: bytes) -> bytes:
        """A UTF-8 name from the wire in this charset (rsync's ``ic_recv``).

        Raises:
            ConvertError: ``data`` is not UTF-8, or names a character this charset lacks.
        """
        return _convert(data, _UTF8, self._codec, ignore=self._ignore)

    def from_wire_lenient(self, data: bytes) -> bytes:
        """Like :meth:`from_wire`, but bytes that do not convert pass as they are.

        rsync: rsync.c iconvbufs() with ``ICB_INCLUDE_BAD | ICB_INCLUDE_INCOMPLETE``.
        """
        return _lenient(data, _UTF8, self._codec)

    def show_from_wire(self, data: bytes) -> str:
        r"""A UTF-8 name as rsync shows it here: converted, and ``\#ooo`` for what does not.

        rsync: log.c rwrite() (``is_utf8``: filtered_fwrite() through ``ic_recv``).
        """
        out: list[str] = []
        for ch in data.decode("utf-8", "surrogateescape"):
            code = ord(ch)
            if 0xDC80 <= code <= 0xDCFF:
                out.append(f"\\#{code - 0xDC00:03o}")
                continue
            try:
                local = self._codec.encode(ch, "strict")[0]
            except UnicodeEncodeError:
                out.extend(f"\\#{b:03o}" for b in ch.encode("utf-8"))
                continue
            if ch.isascii() and (ch.isprintable() or ch == "\t"):
                out.append(ch)
            else:
                out.append(local.decode("utf-8", "surrogateescape"))
        return "".join(out)

    def to_wire_lenient(self, data: bytes) -> bytes:
        """Like :meth:`to_wire`, but bytes that do not convert pass as they are."""
        return _lenient(data, self._codec, _UTF8)


_UTF8: Final = codecs.lookup("utf-8")


def _convert(data: bytes, src: codecs.CodecInfo, dst: codecs.CodecInfo, *, ignore: bool) -> bytes:
    if src.name == dst.name and src.name != "utf-8":  # iconv checks UTF-8 even to itself
        return data
    if data.isascii() and src.name in _ASCII_SAFE and dst.name in _ASCII_SAFE:
        return data
    errors = "ignore" if ignore else "strict"
    try:
        text, _ = src.decode(data, errors)
    except UnicodeDecodeError as exc:
        cut = exc.reason == "unexpected end of data"
        raise ConvertError(_EINVAL_TEXT if cut else _EILSEQ_TEXT) from None
    try:
        out, _ = dst.encode(text, errors)
    except UnicodeEncodeError:
        raise ConvertError(_EILSEQ_TEXT) from None
    return out


def _lenient(data: bytes, src: codecs.CodecInfo, dst: codecs.CodecInfo) -> bytes:
    """Convert what converts; copy every other byte as it is (rsync's ICB_INCLUDE_BAD)."""
    if data.isascii() and src.name in _ASCII_SAFE and dst.name in _ASCII_SAFE:
        return data
    text = src.decode(data, "surrogateescape")[0]
    out = bytearray()
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(code - 0xDC00)
            continue
        try:
            out += dst.encode(ch, "strict")[0]
        except UnicodeEncodeError:
            out += src.encode(ch, "strict")[0]
    return bytes(out)


# charsets in which ASCII bytes stand for themselves (the common fast path)
_ASCII_SAFE: Final = frozenset(
    {"utf-8", "latin-1", "iso8859-1", "iso8859-15", "cp1252", "ascii"}
    | {f"iso8859-{n}" for n in range(2, 17)}
)


def setup_iconv(option: str, *, server: bool, locale_charset: str) -> Charset:
    """This side's :class:`Charset` for an ``--iconv`` value.

    Args:
        option: the option's value (``LOCAL,REMOTE``, ``CHARSET`` or ``.``).
        server: this side is the server (it takes the half after the comma).
        locale_charset: the locale's charset (``nl_langinfo(CODESET)``), for ``.`` and
            an empty half.

    Raises:
        UnsupportedError: a charset Python does not know, with rsync's message (exit 4).

    rsync: rsync.c setup_iconv().
    """
    name = iconv_for_side(option, server=server)
    charset = locale_charset if name in ("", ".") else name
    info = _codec(charset)
    if info is None:
        msg = f'iconv_open("{UTF8_CHARSET}", "{charset}") failed'
        raise IconvOpenError(msg)
    return Charset(charset, info)


def iconv_for_side(option: str, *, server: bool) -> str:
    """The half of ``--iconv=LOCAL,REMOTE`` this side uses (the whole value without a comma).

    rsync: rsync.c setup_iconv() (``am_server``: after the comma, else before it).
    """
    local, comma, remote = option.partition(",")
    if not comma:
        return option
    return remote if server else local


def remote_iconv(option: str) -> str:
    """What a client forwards: ``--iconv=REMOTE`` (the whole value without a comma).

    rsync: options.c server_options().
    """
    _, comma, remote = option.partition(",")
    return remote if comma else option


def to_wire_args(args: list[str], option: str | None) -> list[str]:
    """``-s`` with ``--iconv``: the client's secluded arguments in UTF-8.

    Bytes that do not convert go as they are.

    rsync: rsync.c send_protected_args() (``ic_send``, ICB_INCLUDE_BAD).
    """
    conv = charset_for(option, server=False)
    if conv is None:
        return args
    return [
        conv.to_wire_lenient(a.encode("utf-8", "surrogateescape")).decode(
            "utf-8", "surrogateescape"
        )
        for a in args
    ]


def locale_codeset() -> str:
    """The locale's charset as ``nl_langinfo(CODESET)`` names it (rsync: default_charset())."""
    try:
        return locale.nl_langinfo(locale.CODESET) or "ANSI_X3.4-1968"
    except (AttributeError, ValueError):  # pragma: no cover - not on Linux
        return "ANSI_X3.4-1968"


def charset_line(option: str, *, server: bool, who: str) -> str:
    """``--debug=ICONV``'s line for the charset a side converts names with.

    ``[sender] charset: utf8``: the side's half of ``--iconv``, the locale's codeset for
    ``.`` or an empty half.

    rsync: rsync.c setup_iconv().
    """
    name = iconv_for_side(option, server=server)
    if name in ("", "."):
        name = locale_codeset()
    return f"[{who}] charset: {name or '[LOCALE]'}"


def charset_for(option: str | None, *, server: bool) -> Charset | None:
    """This side's :class:`Charset` for ``--iconv`` (``None`` without it); see setup_iconv()."""
    if option is None:
        return None
    return setup_iconv(option, server=server, locale_charset=locale_codeset())
