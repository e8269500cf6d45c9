"""Which files a sender compresses as little as possible (``dont compress``, ``--skip-compress``).

rsync reads two lists (rsync: token.c init_set_compression(), set_compression()):

* ``--skip-compress=gz/jpg/mp[34]``: file suffixes separated by ``/``, compared without
  regard to case; ``[...]`` is a set of letters (``[foo`` and ``[]`` keep a literal
  ``[``), ``*`` and ``?`` are plain characters; each suffix is cut at 32 characters.
* a space-separated list of case-insensitive wildcard patterns: a daemon module's
  ``dont compress``, else (no module) :data:`DEFAULT_DONT_COMPRESS`, but not when the
  client gave ``--skip-compress`` (its suffixes replace the list). A ``*.SUFFIX`` word
  whose suffix has no ``.``, ``?`` or ``*`` is a suffix as above; a lone ``*`` matches
  every file; any other word is matched against the file's last name component.

A daemon uses the client's suffixes *and* its module's list.

How rsync 3.5 differs: it parses both lists but, since 3.2.4, only acts on a lone ``*``
(the whole session then goes at the lowest level); its per-file code is disabled,
saying no algorithm can change its level mid-stream. For zlib that is not so: both
ends reset the deflate stream at each file (send_deflated_token() deflateReset,
recv_deflated_token() inflateReset), so a file can start at its own level with no
``deflateParams`` at all, and the receiver cannot tell. pyrsync does what both manuals
describe: a matching file goes at level 0 (stored deflate blocks) with ``zlib`` and
``zlibx``. zstd keeps one stream for the session (rsync sets its level once) and lz4 has
no levels: they compress every file alike, as rsync does.

This module only decides; :class:`~rsync_wire.proto.tokens.TokenEncoder` takes the level.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from rsync_wire.proto.wildmatch import compile_wildmatch

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rsync_wire.proto.wildmatch import WildPattern

__all__ = ["DEFAULT_DONT_COMPRESS", "SKIP_LEVEL", "SkipCompress"]

SKIP_LEVEL: Final = 0
"""zlib's "no compression" level, what a matching file gets (rsync: Z_NO_COMPRESSION)."""

DEFAULT_DONT_COMPRESS: Final = (
    "*.3g2 *.3gp *.7z *.aac *.ace *.apk *.avi *.bz2 *.deb *.dmg *.ear *.f4v *.flac *.flv"
    " *.gpg *.gz *.iso *.jar *.jpeg *.jpg *.lrz *.lz *.lz4 *.lzma *.lzo *.m1a *.m1v *.m2a"
    " *.m2ts *.m2v *.m4a *.m4b *.m4p *.m4r *.m4v *.mka *.mkv *.mov *.mp1 *.mp2 *.mp3 *.mp4"
    " *.mpa *.mpeg *.mpg *.mpv *.mts *.odb *.odf *.odg *.odi *.odm *.odp *.ods *.odt *.oga"
    " *.ogg *.ogm *.ogv *.ogx *.opus *.otg *.oth *.otp *.ots *.ott *.oxt *.png *.qt *.rar"
    " *.rpm *.rz *.rzip *.spx *.squashfs *.sxc *.sxd *.sxg *.sxm *.sxw *.sz *.tbz *.tbz2"
    " *.tgz *.tlz *.ts *.txz *.tzo *.vob *.war *.webm *.webp *.xz *.z *.zip *.zst"
)
"""rsync 3.5's list of file suffixes not worth compressing (its manual, ``--skip-compress``)."""

_MAX_SUFFIX: Final = 32  # rsync: add_nocompress_suffixes() cuts longer ones


def _suffix_regex(suffix: bytes) -> bytes:
    """One suffix as a regular expression: letters literal, ``[set]`` a class.

    rsync: token.c add_suffix() (a ``[`` with a ``]`` further on, not right after it,
    opens a set; anything else is literal).
    """
    out: list[bytes] = []
    i, n = 0, len(suffix)
    while i < n:
        c = suffix[i : i + 1]
        end = suffix.find(b"]", i + 1) if c == b"[" else -1
        if end > i + 1:
            members = sorted(set(suffix[i + 1 : end]))
            out.append(b"[" + b"".join(re.escape(bytes([m])) for m in members) + b"]")
            i = end + 1
            continue
        out.append(re.escape(c))
        i += 1
    return b"".join(out)


class SkipCompress:
    """The files a sender sends at :data:`SKIP_LEVEL`; see the module docstring.

    Args:
        skip_compress: the ``--skip-compress`` value, or None when not given.
        dont_compress: a daemon module's ``dont compress`` words; None outside a daemon
            (the default list applies unless ``skip_compress`` was given) or when the
            module does not set it (the default list).
        daemon: the sender is a daemon's module.
    """

    __slots__ = ("_all", "_patterns", "_suffixes")

    def __init__(
        self,
        skip_compress: str | None = None,
        dont_compress: Sequence[str] | None = None,
        *,
        daemon: bool = False,
    ) -> None:
        given = (skip_compress or "").encode("utf-8", "surrogateescape").split(b"/")
        suffixes = [_suffix_regex(w.lower()[:_MAX_SUFFIX]) for w in given if w]
        if skip_compress is not None and not daemon:
            words: Sequence[str] = ()
        elif dont_compress is None:
            words = DEFAULT_DONT_COMPRESS.split()
        else:
            words = [w for item in dont_compress for w in item.split(" ") if w]
        self._all = False
        self._patterns: list[WildPattern] = []
        for text in words:
            word = text.encode("utf-8", "surrogateescape").lower()
            if word == b"*":
                self._all = True
                break
            tail = word[2:]
            if word.startswith(b"*.") and tail and not any(c in tail for c in b".?*"):
                suffixes.append(_suffix_regex(tail))
            else:
                self._patterns.append(compile_wildmatch(word))
        self._suffixes = re.compile(b"|".join(suffixes)) if suffixes else None

    @property
    def empty(self) -> bool:
        """Whether no file ever matches."""
        return not self._all and not self._patterns and self._suffixes is None

    def matches(self, name: bytes) -> bool:
        """Whether the file ``name`` (a path; only its last component counts) matches."""
        if self._all:
            return True
        base = name[name.rfind(b"/") + 1 :].lower()
        if any(p.match(base) for p in self._patterns):
            return True
        if self._suffixes is None:
            return False
        dot = base.rfind(b".")
        if dot <= 0 or dot == len(base) - 1:
            return False
        return self._suffixes.fullmatch(base, dot + 1) is not None

    def level(self, name: bytes) -> int | None:
        """The level for file ``name``: :data:`SKIP_LEVEL` when it matches, else None."""
        return SKIP_LEVEL if self.matches(name) else None
