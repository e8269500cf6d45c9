"""What this server does with each option a client can send it, and its refusals.

:data:`SERVER_OPTIONS` is the server's view of the one option table
(:mod:`rsync_wire.proto.optable`): every option a server parses into a field, with
rsync's long and short names, how to tell from the parsed options that the client used
it, and whether this server implements it as a sender and as a receiver (the table's
roles). From it come both refusals:

* an option the server does not implement is refused by name, in rsync's words ("The
  server does not support --acls (-A)"; a daemon says "The server is configured to
  refuse", as rsync's does for what it was built without);
* a module's ``refuse options`` are matched against the names with rsync's rules
  (wildcards, ``!`` exceptions, ``a``/``archive`` for its parts, ``delete`` for every
  ``--delete-*``, exact-only names), and the first refused option used is named.

Options that only a receiver acts on (``--backup``, ``--partial``...) are listed too,
with what the server does with them when it receives an upload; a sending server has
nothing to do for them, as rsync's has not. This module only decides; no I/O.

rsync: options.c set_refuse_options(), parse_one_refuse_match(), create_refuse_error().
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final, NamedTuple

from rsync_wire.proto.optable import OPTIONS, Option, Role
from rsync_wire.proto.options import TransferOptions
from rsync_wire.proto.wildmatch import wildmatch

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "SERVER_OPTIONS",
    "ServerOption",
    "module_refusals",
    "refusal_set",
    "refused_by_module",
    "unimplemented",
]


class ServerOption(NamedTuple):
    """One option as the server sees it.

    Attributes:
        long: rsync's long name (without ``--``).
        short: its short letter, or ``""``.
        used: whether the parsed options show the client used it.
        implemented: whether this server, as a sender, does what it asks (or has nothing
            to do for it).
        exact: matched by a ``refuse options`` pattern only by its exact name, never by a
            wildcard (rsync's ``a=`` options).
        also: further names that refer to the same setting (rsync's same_refuse_action).
        receives: whether this server, as a receiver (an upload), does what it asks;
            ``None``: as ``implemented``.
    """

    long: str
    short: str
    used: Callable[[TransferOptions], bool]
    implemented: bool = True
    exact: bool = False
    also: tuple[str, ...] = ()
    receives: bool | None = None
    unsupported_use: Callable[[TransferOptions], bool] | None = None

    def works(self, *, receiving: bool) -> bool:
        """Whether this server does what the option asks, in the role it plays."""
        if receiving and self.receives is not None:
            return self.receives
        return self.implemented

    def refused(self, opts: TransferOptions, *, receiving: bool) -> bool:
        """Whether the client used it in a way this server does not implement."""
        if self.unsupported_use is not None and self.unsupported_use(opts):
            return True
        return not self.works(receiving=receiving) and self.used(opts)


def _used(option: Option) -> Callable[[TransferOptions], bool]:
    """Whether a server's parsed options show the client used ``option``."""
    if option.used is not None:
        return option.used
    if option.server == "rule":
        return lambda o: any(name == option.long for name, _ in o.server_rules)
    field = option.sets
    default = getattr(_DEFAULTS, field)
    return lambda o: getattr(o, field) != default


def _in_use(option: Option) -> Callable[[TransferOptions], bool]:
    used = _used(option)
    other = option.unsupported_use
    if other is None:
        return used
    return lambda o: used(o) or other(o)


def _server_options() -> tuple[ServerOption, ...]:
    """The server's view of :data:`~rsync_wire.proto.optable.OPTIONS`.

    Every option a server parses into a field, in the order clients write them; what
    it implements as a sender and as a receiver comes from the table's roles.
    """
    rows = []
    for option in OPTIONS:
        if not option.long or option.server in ("", *_PARSER_REFUSES):
            continue  # -D, -P: by --devices/--specials, --partial; refusals: by the parser
        names = tuple(dict.fromkeys((option.long, *option.aliases, option.wire_name)))
        if option.default_on:  # what a client uses is the negation (--no-implied-dirs)
            names = option.negations
        rows.append(
            ServerOption(
                names[0],
                option.short,
                _in_use(option),
                implemented=bool(option.roles & Role.SERVER_SENDER),
                exact=option.exact,
                also=names[1:] + option.refuse_also,
                receives=bool(option.roles & Role.SERVER_RECEIVER),
                unsupported_use=option.unsupported_use,
            )
        )
    return tuple(rows)


_DEFAULTS: Final = TransferOptions()
_PARSER_REFUSES: Final = ("refuse", "refuse_value", "protocol")  # listed in options.refused
SERVER_OPTIONS: Final[tuple[ServerOption, ...]] = _server_options()
"""Every option the server acts on (see the module docstring)."""


def refuse_message(option: ServerOption, *, daemon: bool, spelled: Iterable[str] = ()) -> str:
    """Rsync's words for a refused option (without the ``rsync: `` prefix).

    rsync names the entry of its option table that the client's word matched: an alias
    written by the client (``--zt``, ``--del``) is named as written, and has no letter;
    ``spelled`` is the client's long names in order (`ServerArgs.spelled`).

    rsync: options.c create_refuse_error().
    """
    names = (option.long, *option.also)
    written = next((name for name in spelled if name in names), option.long)
    text = "The server is configured to refuse" if daemon else "The server does not support"
    text += f" --{written}"
    if option.short and written == option.long:
        text += f" (-{option.short})"
    return text


def unimplemented(opts: TransferOptions, *, receiving: bool = False) -> ServerOption | None:
    """The first option the client used that this server does not implement in its role."""
    for option in SERVER_OPTIONS:
        if option.refused(opts, receiving=receiving):
            return option
    return None


def _matches(pattern: str, option: ServerOption) -> bool:
    names = (option.long, *option.also)
    if option.short:
        names += (option.short,)
    return any(wildmatch(pattern.encode(), name.encode()) for name in names)


def module_refusals(refuse_options: Iterable[str], *, charset: str | None) -> tuple[str, ...]:
    """The words of a module's ``refuse options``, as `refused_by_module` takes them.

    A module without ``charset`` refuses ``--iconv`` too (rsync: options.c
    set_refuse_options()).
    """
    words = [w for p in refuse_options for w in p.split()]
    return (*words, *([] if charset else ["iconv"]))


def refused_by_module(opts: TransferOptions, words: tuple[str, ...]) -> ServerOption | None:
    """The first option the client used that the module's ``refuse options`` refuse.

    ``words`` come from `module_refusals`.
    """
    on, delete_refused = refusal_set(words)
    for k in on:
        if SERVER_OPTIONS[k].used(opts):
            return SERVER_OPTIONS[k]
    if delete_refused and opts.delete_mode is not None:
        return next(o for o in SERVER_OPTIONS if o.long == "delete")
    return None


@functools.lru_cache(maxsize=256)
def refusal_set(words: tuple[str, ...]) -> tuple[tuple[int, ...], bool]:
    """Which of `SERVER_OPTIONS` ``words`` refuse (indexes, in order), and whether ``delete``.

    Patterns apply in order, a later one overriding an earlier one: a plain pattern
    refuses, ``!pattern`` accepts again. Wildcards (``*?[``) never touch exact-only
    options. ``a`` or ``archive`` stands for ``[ardlptgoD]``, and ``delete`` refuses every
    deletion mode. Cached: a daemon works it out for each module before it forks its
    connection processes.

    rsync: options.c set_refuse_options(), parse_one_refuse_match().
    """
    refused: dict[int, bool] = {}
    for word in words:
        negated = word.startswith("!") and len(word) > 1
        ref = word[1:] if negated else word
        wild = any(c in ref for c in "*?[")
        if ref in ("a", "archive"):
            ref, wild = "[ardlptgoD]", True
        for k, option in enumerate(SERVER_OPTIONS):
            if option.exact and wild:
                continue
            if _matches(ref, option):
                refused[k] = not negated
    on = tuple(k for k in range(len(SERVER_OPTIONS)) if refused.get(k))
    return on, any(SERVER_OPTIONS[k].long == "delete" for k in on)
