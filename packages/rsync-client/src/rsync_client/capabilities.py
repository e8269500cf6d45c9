"""What ``pyrsync -V`` and ``-VV`` report: capabilities, optimizations and algorithm lists.

rsync prints one list of capability words (``64-bit files``, ``symtimes``, ``no ACLs``,
``optional secluded-args`` ...) as text for ``-V`` and turns the same words into its JSON
report for ``-VV``: ``"file_bits": 64``, ``"symtimes": true``, ``"ACLs": false``,
``"secluded_args": "optional"``. Scripts and rsync's own test suite read that report to
decide what to run, so every word here is measured, not assumed: a capability tied to an
option is claimed only when the command line accepts the option (pyrsync refuses every
option it does not implement), and one tied to the platform only when Python offers the
call pyrsync makes for it.

rsync: usage.c print_rsync_version(), print_info_flags(), output_nno_list().
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
from typing import Final, TypeAlias

from rsync_wire.proto.constants import (
    AUTH_DIGESTS,
    CHECKSUM_NAMES_CLIENT,
    COMPRESS_NAMES_CLIENT,
    PROTOCOL_VERSION,
)
from rsync_wire.proto.optable import CLIENT_ROLES, by_long

__all__ = [
    "algorithm_lists",
    "capability_words",
    "optimization_words",
    "render_json",
    "render_text",
    "version_json",
    "version_text",
]

SUBPROTOCOL_VERSION: Final = 0
_LINE_BUF: Final = 75  # rsync: usage.c print_info_flags() line_buf
# Aliases the command line accepts besides the list's names (shown in parentheses by -V).
_CHECKSUM_ALIASES: Final = {"xxh64": "xxhash"}


def _accepts(*args: str) -> bool:
    """Whether pyrsync's client implements every option of ``args`` in some role.

    The option table says so (the command line refuses what no client role implements,
    and a test holds the two together); reading the table, not the parser, keeps this
    module below :mod:`rsync_client.cli`, which prints the report.
    """
    for arg in args:
        option = by_long(arg.removeprefix("--").split("=", 1)[0])
        if option is None or not option.roles & CLIENT_ROLES:
            return False
    return True


def _word(name: str, *, have: bool) -> str:
    return name if have else f"no {name}"


def capability_words() -> list[str]:
    """Rsync's capability words, in rsync's order, each measured for this pyrsync.

    rsync: usage.c print_info_flags() (``*Capabilities``).
    """
    hard_links = _accepts("--hard-links")
    link_nofollow = os.link in os.supports_follow_symlinks
    return [
        # Python's offsets, inode numbers, times and the wire's varlongs are 64-bit.
        "64-bit files",
        "64-bit inums",
        "64-bit timestamps",
        "64-bit long ints",
        _word("socketpairs", have=hasattr(socket, "socketpair")),
        _word("symlinks", have=_accepts("--links")),
        # Symlink times are set with utimensat(AT_SYMLINK_NOFOLLOW).
        _word("symtimes", have=os.utime in os.supports_follow_symlinks),
        _word("hardlinks", have=hard_links),
        # -H links devices, FIFOs, sockets and symlinks too, with linkat() not following.
        _word("hardlink-specials", have=hard_links and link_nofollow),
        _word("hardlink-symlinks", have=hard_links and link_nofollow),
        _word("IPv6", have=socket.has_ipv6 and _accepts("--ipv6")),
        _word("atimes", have=_accepts("--atimes")),
        _word("batchfiles", have=_accepts("--write-batch=b") and _accepts("--read-batch=b")),
        _word("inplace", have=_accepts("--inplace")),
        _word("append", have=_accepts("--append")),
        _word("ACLs", have=_accepts("--acls")),
        # ACLs are read and set through a descriptor, or a no-follow call under the
        # parent's descriptor, never by path (rsync: lib/acl.c; "ACL_at" in -VV)
        *(["ACL-at"] if _accepts("--acls") else []),
        _word("xattrs", have=_accepts("--xattrs")),
        "optional secluded-args" if _accepts("--secluded-args") else "no secluded-args",
        _word("iconv", have=_accepts("--iconv=UTF-8")),
        _word("prealloc", have=_accepts("--preallocate")),
        _word("stop-at", have=_accepts("--stop-at=2999-12-31T23:59")),
        _word("crtimes", have=_accepts("--crtimes")),
        # A daemon's host goes to the resolver, a proxy and daemon-over-rsh as A-labels
        # (rsync_wire.idn), as rsync built with libidn2 does
        "IDN",
    ]


def optimization_words() -> list[str]:
    """Rsync's optimization words: pure Python has no SIMD or assembler code paths.

    ``openssl-crypto`` is measured: MD5 (and SHA for daemon authentication) come from
    hashlib, which uses OpenSSL when CPython was built with it.

    rsync: usage.c print_info_flags() (``*Optimizations``).
    """
    # _hashlib (OpenSSL) objects are of type HASH; the built-in fallbacks are not.
    openssl = type(hashlib.new("md5", usedforsecurity=False)).__name__ == "HASH"
    return ["no SIMD-roll", "no asm-roll", _word("openssl-crypto", have=openssl), "no asm-MD5"]


Lists: TypeAlias = list[tuple[str, list[str]]]
"""Titled algorithm lists: names, and ``(alias)`` entries that only ``-V`` shows."""


def algorithm_lists() -> Lists:
    """The checksum, compression and daemon-auth names pyrsync takes, best first.

    rsync: usage.c output_nno_list().
    """
    checksums: list[str] = []
    for name in CHECKSUM_NAMES_CLIENT:
        checksums.append(name)
        if name in _CHECKSUM_ALIASES:
            checksums.append(f"({_CHECKSUM_ALIASES[name]})")
    compress = [*COMPRESS_NAMES_CLIENT, "none"]  # --compress-choice=none turns -z off
    return [
        ("Checksum list", checksums),
        ("Compress list", compress),
        ("Daemon auth list", list(AUTH_DIGESTS)),
    ]


def _json_item(word: str, *, comma: bool) -> str:
    """One ``"key": value`` of the JSON report, derived from a word as rsync derives it."""
    import json  # -VV only: -V does without it

    head, space, rest = word.partition(" ")
    if not space:
        key, value = word, "true"
    elif head == "no":
        key, value = rest, "false"
    elif head[:1].isdigit():  # "64-bit files" -> "file_bits": 64
        key, value = rest[:-1] + "_bits", head.split("-", 1)[0]
    else:  # "optional secluded-args" -> "secluded_args": "optional"
        key, value = rest, json.dumps(head)
    key = key.replace(" ", "_").replace("-", "_")
    return f' "{key}": {value}' + ("," if comma else "")


def _flow(items: list[str], indent: str) -> list[str]:
    """Items joined into lines as rsync fills its 75-byte line buffer."""
    lines: list[str] = []
    line = ""
    for item in items:
        if line and len(line) + len(item) >= _LINE_BUF:
            lines.append(indent + line)
            line = ""
        line += item
    if line:
        lines.append(indent + line)
    return lines


def render_text(
    first_line: str, about: list[str], sections: list[tuple[str, list[str]]], lists: Lists
) -> str:
    """``-V``: the version line, ``about`` lines, then each word section and the lists.

    rsync: usage.c print_rsync_version(), print_info_flags(), output_nno_list().
    """
    out = [first_line, *about]
    for title, words in sections:
        out.append(f"{title}:")
        items = [f" {w}" + ("," if k < len(words) - 1 else "") for k, w in enumerate(words)]
        out += _flow(items, "   ")
    for title, names in lists:
        out.append(f"{title}:")
        out.append("    " + " ".join(names))
    return "\n".join(out) + "\n"


def render_json(
    head: list[tuple[str, str]],
    sections: list[tuple[str, list[str]]],
    lists: Lists,
    tail: list[tuple[str, str]] | None = None,
) -> str:
    """``-VV``: rsync's JSON report, laid out line for line as rsync prints it.

    rsync: usage.c print_rsync_version() with ``FNONE``.
    """
    import json  # -VV only: -V does without it

    parts = ["{" + ",".join(f'\n  "{k}": {json.dumps(v)}' for k, v in head)]
    for k, (title, words) in enumerate(sections):
        if k:
            parts.append("  }")
        parts.append(f',\n  "{title[0].lower()}{title[1:]}": {{\n')
        items = [_json_item(w, comma=j < len(words) - 1) for j, w in enumerate(words)]
        parts.append("".join(line + "\n" for line in _flow(items, "   ")))
    if sections:
        parts.append("  }")
    for title, names in lists:
        key = title.replace(" ", "_").lower()
        plain = [n for n in names if not n.startswith("(")]
        parts.append(f',\n  "{key}": [\n    ' + ", ".join(f'"{n}"' for n in plain) + "\n  ]")
    parts += [f',\n  "{k}": {json.dumps(v)}' for k, v in tail or ()]
    parts.append("\n}\n")
    return "".join(parts)


def _version(dist: str) -> str:
    """The installed version of ``dist``, as ``importlib.metadata.version`` finds it.

    Read straight from the first ``<name>-<version>.dist-info`` on ``sys.path`` (what
    importlib.metadata finds first too), so that ``--version`` does not load
    importlib.metadata (about 40 ms); importlib.metadata answers when there is none.
    """
    prefix = dist.replace("-", "_") + "-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith(prefix) and name.endswith(".dist-info"):
                try:
                    with open(os.path.join(entry, name, "METADATA"), encoding="utf-8") as fh:
                        for line in fh:
                            if line.startswith("Version:"):
                                return line.split(":", 1)[1].strip()
                            if not line.strip():
                                break  # the end of the headers
                except OSError:
                    pass
    from importlib.metadata import version

    return version(dist)


def _sections() -> list[tuple[str, list[str]]]:
    return [("Capabilities", capability_words()), ("Optimizations", optimization_words())]


def version_text() -> str:
    """What ``pyrsync -V`` / ``--version`` prints."""
    ours = _version("rsync-client")
    return render_text(
        f"pyrsync  version {ours}  protocol version {PROTOCOL_VERSION}",
        [
            "A Python rsync client, wire-compatible with rsync 3.x (protocols 27 to "
            f"{PROTOCOL_VERSION}).",
        ],
        _sections(),
        algorithm_lists(),
    )


def version_json() -> str:
    """What ``pyrsync -VV`` prints: rsync's JSON report, with pyrsync's own values."""
    head = [
        ("program", "pyrsync"),
        ("version", _version("rsync-client")),
        ("protocol", f"{PROTOCOL_VERSION}.{SUBPROTOCOL_VERSION}"),
    ]
    return render_json(head, _sections(), algorithm_lists())
