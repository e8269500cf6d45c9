r"""rsync's ``\#ooo`` escapes: how a name (or a whole line) is made safe to show.

rsync writes every message through one filter, whether it goes to a terminal or to a
log file, so that a hostile file name cannot move the cursor, clear a screen or forge a
log line. The rules (rsync: log.c filtered_fwrite(), rwrite(), logit()):

- always: a control byte below 0x20 other than tab, and the backslash of a literal
  ``\#`` followed by three digits (so that an escape read back is never ambiguous: a
  name ``a\#123`` shows as ``a\#134#123``);
- on a terminal: a byte that does not begin a valid sequence of the locale's charset
  (rsync converts the text with iconv from the locale's charset to itself and escapes
  each byte iconv refuses; with ``-8`` there is no such check);
- in a daemon's log file: the bytes 0x80 to 0x9f (the C1 controls, byte by byte, even
  inside a UTF-8 sequence), the rest as they are.

Everything else passes unchanged: DEL (0x7f) and valid UTF-8 (C1 controls written as
UTF-8 included) reach the terminal as rsync writes them.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["escape_text"]

_LITERAL: Final = r"\\(?=#[0-9]{3})"
_TEXT: Final = re.compile(r"[\x00-\x08\x0a-\x1f\udc80-\udcff]|" + _LITERAL)
_BYTES: Final = re.compile(rb"[\x00-\x08\x0a-\x1f]|\\(?=#[0-9]{3})")
_BYTES_C1: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x80-\x9f]|\\(?=#[0-9]{3})")


def _octal_text(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\#{code - 0xDC00 if code >= 0xDC80 else code:03o}"


def _octal_bytes(m: re.Match[bytes]) -> bytes:
    return b"\\#%03o" % m.group()[0]


def escape_text(data: bytes, *, charset: str | None = "utf-8", c1: bool = False) -> str:
    r"""``data`` as rsync shows it, with the bytes it would not write as ``\#ooo``.

    Args:
        data: the raw bytes (a file name, a message, a log line).
        charset: the charset of the terminal (the locale's): a byte that does not begin a
            valid sequence in it is escaped. ``None``: no check (rsync's ``-8``, a log file).
        c1: escape the bytes 0x80 to 0x9f as well (the rule of rsync's daemon log file;
            only with ``charset=None``).

    Returns:
        The text. Bytes that pass unescaped but are not valid UTF-8 (``charset=None``) are
        lone surrogates (``surrogateescape``): write them with that error handler to get
        the original bytes back, as rsync writes them.

    rsync: log.c filtered_fwrite() (and the iconv check of rwrite(), logit()).
    """
    if charset is not None and c1:
        msg = "c1 escapes apply to raw bytes (charset=None), as in rsync's log file"
        raise ValueError(msg)
    if charset is None:
        pattern = _BYTES_C1 if c1 else _BYTES
        if pattern.search(data) is not None:
            data = pattern.sub(_octal_bytes, data)
        return data.decode("utf-8", "surrogateescape")
    try:
        text = data.decode(charset, "surrogateescape")
    except LookupError:  # a charset Python does not know: only ASCII is safe
        text = data.decode("ascii", "surrogateescape")
    if _TEXT.search(text) is None:
        return text
    return _TEXT.sub(_octal_text, text)
