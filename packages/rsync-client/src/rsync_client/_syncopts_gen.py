"""Write ``_syncopts.py``: the ``SyncOptions`` TypedDict, one key per client option.

The keyword arguments of :func:`rsync_client.sync` come from the one option table
(:mod:`rsync_wire.proto.optable`): every option some client role implements (that is,
``pyrsync`` accepts it) gets a key, its long name with ``_`` for ``-``, typed from the
kind of its argument. The same rules (:func:`key_for`, :func:`counted`, :func:`repeated`)
turn keyword arguments into a command line at run time (:mod:`rsync_client.api`), so
the types mypy checks and what the call does cannot drift apart; the test
``tests/test_syncopts.py`` fails when the generated file and the table disagree.

Regenerate with ``python -m rsync_client._syncopts_gen`` (from anywhere; it writes the
file beside this one).

Pure: :func:`render` returns the text; only :func:`main` writes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

from rsync_wire.proto.optable import OPTIONS, Arg, Option

__all__ = ["TARGET", "client_options", "counted", "key_for", "main", "render", "repeated"]

TARGET: Final = Path(__file__).with_name("_syncopts.py")
"""The generated file."""

_NOT_KEYWORDS: Final = frozenset({"help", "version"})
"""Client options that are not transfer options (they print and exit)."""

_CLIENT_COUNTS: Final = frozenset({"itemize-changes", "human-readable"})
"""Options the client counts (``-ii``, ``-hh``) though no server repeats them."""

_SPELLED: Final = {"8-bit-output": "eight_bit_output"}
"""Long names that are not Python identifiers once ``-`` is ``_``."""


def client_options() -> list[Option]:
    """The table's options that ``sync()`` takes: those ``pyrsync`` implements.

    Options with only a short letter (``-D``, ``-P``, ``-F``) have no keyword: they are
    ``devices``/``specials``, ``partial``/``progress`` and a ``filter`` rule.
    """
    return [o for o in OPTIONS if o.client and o.long and o.long not in _NOT_KEYWORDS]


def key_for(option: Option) -> str:
    """The keyword for an option: its long name with ``_`` for ``-``."""
    return _SPELLED.get(option.long, option.long.replace("-", "_"))


def counted(option: Option) -> bool:
    """Whether an option without argument may be given several times (``verbose=2``)."""
    return option.arg is Arg.NONE and (option.repeat > 1 or option.long in _CLIENT_COUNTS)


def repeated(option: Option) -> bool:
    """Whether a string option adds up when repeated (``exclude=["a", "b"]``).

    These are the filter rules, the basis directories, the ``--info``/``--debug``/
    ``--chmod`` lists and ``-M``.
    """
    return option.arg is Arg.STR and (
        option.sets in ("server_rules", "basis_dirs")
        or option.server == "list"
        or option.long == "remote-option"
    )


def _type(option: Option) -> str:
    if option.arg is Arg.NONE:
        return "bool | int" if counted(option) else "bool"
    if option.arg is Arg.INT:
        return "int"
    if option.arg is Arg.SIZE:
        return "int | str"
    return "StrArgs" if repeated(option) else "StrArg"


def _comment(option: Option) -> str:
    names = [f"--{option.long}"] + ([f"-{option.short}"] if option.short else [])
    text = ", ".join(names)
    if repeated(option):
        text += " (repeatable)"
    return text


_HEADER: Final = '''\
"""``SyncOptions``: the keyword arguments of ``sync()`` and ``async_sync()``.

GENERATED from the option table (rsync_wire.proto.optable) by
``python -m rsync_client._syncopts_gen``: do not edit. tests/test_syncopts.py fails when
this file and the table disagree.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeAlias, TypedDict

__all__ = ["StrArg", "StrArgs", "SyncOptions"]

StrArg: TypeAlias = str | os.PathLike[str]
"""A string option's value (a path may be given as a path object)."""

StrArgs: TypeAlias = StrArg | Sequence[StrArg]
"""A repeatable string option: one value, or several in command-line order."""


class SyncOptions(TypedDict, total=False):
    """rsync's long options with ``_`` for ``-``, as ``pyrsync`` takes them.

    ``True`` gives an option, ``False`` its ``--no-`` form (where rsync has one);
    counted options take a number (``verbose=2`` is ``-vv``); integer and size options
    take what the command line takes (``bwlimit="1.5M"``, ``max_size=1000``).
    """

'''


def render() -> str:
    """The text of ``_syncopts.py`` for the current option table."""
    lines = [f"    {key_for(o)}: {_type(o)}  # {_comment(o)}" for o in client_options()]
    return _HEADER + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the file (``--check``: only report whether it is current; exit 1 if not)."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
    if "--check" in args:
        return 0 if current == text else 1
    if current != text:
        TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
