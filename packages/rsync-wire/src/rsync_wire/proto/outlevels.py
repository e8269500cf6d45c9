"""rsync's output levels: each ``--info`` and ``--debug`` item with its level (no I/O).

rsync decides every optional line it prints by asking one table, ``INFO_GTE(BACKUP, 1)``
or ``DEBUG_GTE(DEL, 2)``, never the ``-v`` count itself. ``-v`` only fills that table: each
``-v`` adds one row of items (level 0 is what no ``-v`` gives), and the ``--info``/
``--debug`` words the user typed beat whatever ``-v`` implied, in any order, the later
word beating the earlier one. A daemon's ``max verbosity`` then caps every item at what
that many ``-v`` would give.

:class:`OutputLevels` is that table; the client builds it from its command line and
the roles ask it (through ``ReceiveConfig.out`` and the like). :func:`output_words`
splits a word list as rsync does (``name2``, ``all``, ``none``).

Where an item is printed is rsync's too: the ``where`` bits say on which side the item
matters, and a client forwards to its server only the ``--info`` items the user set that
the server's side uses (rsync does not forward ``--debug`` at all; the server's debug
levels come from ``-v`` alone).

rsync: options.c info_words[], debug_words[], info_verbosity[], debug_verbosity[],
parse_output_words(), set_output_verbosity(), limit_output_verbosity(),
make_output_option().
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final, NamedTuple

import msgspec

if TYPE_CHECKING:
    from rsync_wire.proto.negotiate import Session

__all__ = [
    "DEBUG_ITEMS",
    "DEBUG_VERBOSITY",
    "IMPLEMENTED_DEBUG",
    "INFO_ITEMS",
    "INFO_VERBOSITY",
    "MAX_OUT_LEVEL",
    "MAX_VERBOSITY",
    "Item",
    "OutputLevels",
    "UnknownWord",
    "Where",
    "forwarded_info",
    "nstr_lines",
    "output_words",
    "unimplemented_debug",
]


class Where(enum.Flag):
    """On which side an item's lines are printed (rsync: options.c ``W_*``)."""

    CLI = enum.auto()  # the client
    SRV = enum.auto()  # the server
    SND = enum.auto()  # the sending side
    REC = enum.auto()  # the receiving side


class Item(NamedTuple):
    """One ``--info`` or ``--debug`` item: its name, where it is used, its help text."""

    name: str
    where: Where
    help: str


_C, _S, _SND, _REC = Where.CLI, Where.SRV, Where.SND, Where.REC

INFO_ITEMS: Final = (
    Item("BACKUP", _REC, "Mention files backed up"),
    Item("COPY", _REC, "Mention files copied locally on the receiving side"),
    Item("DEL", _REC, "Mention deletions on the receiving side"),
    Item("FLIST", _C, "Mention file-list receiving/sending (levels 1-2)"),
    Item("MISC", _SND | _REC, "Mention miscellaneous information (levels 1-2)"),
    Item("MOUNT", _SND | _REC, "Mention mounts that were found or skipped"),
    Item("NAME", _SND | _REC, "Mention 1) updated file/dir names, 2) unchanged names"),
    Item("NONREG", _REC, "Mention skipped non-regular files (default 1, 0 disables)"),
    Item("PROGRESS", _C, "Mention 1) per-file progress or 2) total transfer progress"),
    Item("REMOVE", _SND, "Mention files removed on the sending side"),
    Item("SKIP", _REC, "Mention files skipped due to transfer overrides (levels 1-2)"),
    Item("STATS", _C | _S, "Mention statistics at end of run (levels 1-3)"),
    Item("SYMSAFE", _SND | _REC, "Mention symlinks that are unsafe"),
)
"""rsync: options.c info_words[] (in its order: the order of ``--info=help``)."""

DEBUG_ITEMS: Final = (
    Item("ACL", _SND | _REC, "Debug extra ACL info"),
    Item("BACKUP", _REC, "Debug backup actions (levels 1-2)"),
    Item("BIND", _C, "Debug socket bind actions"),
    Item("CHDIR", _C | _S, "Debug when the current directory changes"),
    Item("CONNECT", _C, "Debug connection events (levels 1-2)"),
    Item("CMD", _C, "Debug commands+options that are issued (levels 1-2)"),
    Item("DEL", _REC, "Debug delete actions (levels 1-3)"),
    Item("DELTASUM", _SND | _REC, "Debug delta-transfer checksumming (levels 1-4)"),
    Item("DUP", _REC, "Debug weeding of duplicate names"),
    Item("EXIT", _C | _S, "Debug exit events (levels 1-3)"),
    Item("FILTER", _SND | _REC, "Debug filter actions (levels 1-3)"),
    Item("FLIST", _SND | _REC, "Debug file-list operations (levels 1-4)"),
    Item("FUZZY", _REC, "Debug fuzzy scoring (levels 1-2)"),
    Item("GENR", _REC, "Debug generator functions"),
    Item("HASH", _SND | _REC, "Debug hashtable code"),
    Item("HLINK", _SND | _REC, "Debug hard-link actions (levels 1-3)"),
    Item("ICONV", _C | _S, "Debug iconv character conversions (levels 1-2)"),
    Item("IO", _C | _S, "Debug I/O routines (levels 1-4)"),
    Item("NSTR", _C | _S, "Debug negotiation strings"),
    Item("OWN", _REC, "Debug ownership changes in users & groups (levels 1-2)"),
    Item("PROTO", _C | _S, "Debug protocol information"),
    Item("RECV", _REC, "Debug receiver functions"),
    Item("SEND", _SND, "Debug sender functions"),
    Item("TIME", _REC, "Debug setting of modified times (levels 1-2)"),
)
"""rsync: options.c debug_words[]."""

INFO_VERBOSITY: Final = (
    "NONREG",
    "COPY,DEL,FLIST,MISC,NAME,STATS,SYMSAFE",
    "BACKUP,MISC2,MOUNT,NAME2,REMOVE,SKIP",
)
"""The ``--info`` items each ``-v`` adds (row 0: without ``-v``; rsync: info_verbosity[])."""

DEBUG_VERBOSITY: Final = (
    "",
    "",
    "BIND,CMD,CONNECT,DEL,DELTASUM,DUP,FILTER,FLIST,ICONV",
    "ACL,BACKUP,CONNECT2,DELTASUM2,DEL2,EXIT,FILTER2,FLIST2,FUZZY,GENR,OWN,RECV,SEND,TIME",
    "CMD2,DELTASUM3,DEL3,EXIT2,FLIST3,ICONV2,OWN2,PROTO,TIME2",
    "CHDIR,DELTASUM4,FLIST4,FUZZY2,HASH,HLINK",
)
"""The ``--debug`` items each ``-v`` adds (rsync: debug_verbosity[])."""

MAX_VERBOSITY: Final = len(DEBUG_VERBOSITY) - 1
MAX_OUT_LEVEL: Final = 4  # the largest N of any wordN (rsync: MAX_OUT_LEVEL)

IMPLEMENTED_DEBUG: Final = {
    "BACKUP": 1,  # make_backup: RENAME/COPY/SYMLINK/DEVICE (rsync: backup.c)
    # "opening connection using:", "sending daemon args:", "protected args:", "Running
    # socket program:" (pipe.c, clientserver.c, rsync.c, socket.c)
    "CMD": 1,
    "CONNECT": 1,  # "opening tcp connection to H port P", "connection via http proxy" (socket.c)
    "DEL": 3,  # deleting in, delete_in_dir, delete_item, delete_dir_contents (delete.c)
    "DELTASUM": 1,  # the sender's "total: matches=..." (match.c match_report())
    "DUP": 1,  # "removing duplicate name N from file list (I)" (flist.c flist_sort_and_clean)
    # rsync's other FLIST1 line tells of its C pointer array growing: nothing pyrsync has
    # which rule decided for a name: the sender's and the generator's (exclude.c
    # report_filter_result()); the receiver's level-3 lines and FILTER2 are not written
    "FILTER": 1,
    "FLIST": 1,  # "delta-transmission enabled/disabled ..." (generator.c generate_files)
    "FUZZY": 2,  # "fuzzy basis selected for", 2: each candidate's distance (generator.c)
    "HLINK": 3,  # 1: followers' first members, 2: leaders, 3: dev:inode (flist.c, hlink.c)
    "NSTR": 1,  # the negotiated checksum and compressor (compat.c, checksum.c)
}
"""The ``--debug`` items pyrsync writes, with the highest level it writes of each.

A word asking for more (another item, or a higher level) is refused by the client, by
name: pyrsync does not print lines it cannot make truthfully.
"""

_TOP_USED: Final = {"BACKUP": 1, "NSTR": 2}
"""Where rsync's help text and its code disagree: the highest level its code asks a
client about (``DEBUG_GTE(BACKUP, 1)`` only; ``DEBUG_GTE(NSTR, 2)`` for the name lists)."""

_DEFAULT, _USER, _LIMIT = 0, 2, 3  # rsync: DEFAULT_PRIORITY, USER_PRIORITY, LIMIT_PRIORITY


class UnknownWord(ValueError):  # noqa: N818 - rsync's own wording: "Unknown --info item"
    """A word that names no item (rsync: ``Unknown --info item: "WORD"``, exit 1)."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f'Unknown --{kind} item: "{name}"')
        self.kind = kind
        self.name = name


def output_words(kind: str, text: str) -> list[tuple[str, int]]:
    """The words of ``--info=TEXT``/``--debug=TEXT`` as ``(NAME, level)``, upper-case.

    ``all`` keeps its name (``ALL``), ``none`` becomes ``("ALL", 0)``, ``help`` is
    returned as ``("HELP", 1)`` for the caller to act on. A level above 4 is 4.

    Raises:
        UnknownWord: a word that names no item.

    rsync: options.c parse_output_words().
    """
    items = INFO_ITEMS if kind == "info" else DEBUG_ITEMS
    names = {item.name for item in items}
    words = []
    for word in text.split(","):
        if not word:
            continue
        name = word if word[:1].isdigit() else word.rstrip("0123456789")
        digits = word[len(name) :]
        level = min(int(digits), MAX_OUT_LEVEL) if digits.isdigit() else 1
        upper = name.upper()
        if upper == "NONE":
            upper, level = "ALL", 0
        elif upper not in ("ALL", "HELP") and upper not in names:
            raise UnknownWord(kind, name)
        words.append((upper, level))
    return words


class OutputLevels(msgspec.Struct, kw_only=True):
    """The level of every ``--info`` and ``--debug`` item, and who set it.

    Build it with :meth:`build`; ask it with :meth:`info_gte` and :meth:`debug_gte`.
    """

    info: dict[str, int] = msgspec.field(default_factory=dict)
    debug: dict[str, int] = msgspec.field(default_factory=dict)
    user_info: dict[str, int] = msgspec.field(default_factory=dict)  # set by --info words

    @classmethod
    def build(
        cls,
        *,
        verbose: int = 0,
        info: list[str] | tuple[str, ...] = (),
        debug: list[str] | tuple[str, ...] = (),
        stats: bool = False,
    ) -> OutputLevels:
        """The levels a command line gives: its ``--info``/``--debug`` words, then ``-v``.

        Words that name no item are skipped (as a server skips them; a client refuses
        them while parsing).

        Args:
            verbose: the number of ``-v``.
            info: the ``--info`` values, in order (each may hold several words).
            debug: the ``--debug`` values, in order.
            stats: ``--stats`` (``STATS2``, or ``STATS3`` with ``-vv``).

        rsync: options.c parse_arguments() (OPT_INFO, OPT_DEBUG, then
        set_output_verbosity() and the ``do_stats`` words at the default priority).
        """
        out = cls()
        prio: dict[tuple[str, str], int] = {}
        for value in info:
            out._apply("info", value, _USER, prio)
        for value in debug:
            out._apply("debug", value, _USER, prio)
        for row in range(min(verbose, MAX_VERBOSITY) + 1):
            out._apply("info", INFO_VERBOSITY[row] if row < len(INFO_VERBOSITY) else "", 0, prio)
            out._apply("debug", DEBUG_VERBOSITY[row], _DEFAULT, prio)
        if stats:
            out._apply("info", "stats3" if verbose > 1 else "stats2", _DEFAULT, prio)
        return out

    def _apply(self, kind: str, text: str, priority: int, prio: dict[tuple[str, str], int]) -> None:
        table = self.info if kind == "info" else self.debug
        items = INFO_ITEMS if kind == "info" else DEBUG_ITEMS
        try:
            words = output_words(kind, text)
        except UnknownWord:
            words = [w for part in text.split(",") for w in _known(kind, part)]
        for name, level in words:
            if name == "HELP":
                continue
            targets = [item.name for item in items] if name == "ALL" else [name]
            for target in targets:
                if priority >= prio.get((kind, target), _DEFAULT):
                    prio[kind, target] = priority
                    table[target] = level
                    if kind == "info" and priority == _USER:
                        self.user_info[target] = level

    def info_gte(self, item: str, level: int = 1) -> bool:
        """``INFO_GTE(item, level)``."""
        return self.info.get(item, 0) >= level

    def debug_gte(self, item: str, level: int = 1) -> bool:
        """``DEBUG_GTE(item, level)``."""
        return self.debug.get(item, 0) >= level

    def limit(self, verbose: int) -> None:
        """Cap every item at what ``verbose`` ``-v`` give (a daemon's ``max verbosity``).

        rsync: options.c limit_output_verbosity().
        """
        if verbose > MAX_VERBOSITY:
            return
        cap = OutputLevels.build(verbose=max(verbose, 0))
        for table, limits in ((self.info, cap.info), (self.debug, cap.debug)):
            for name in list(table):
                table[name] = min(table[name], limits.get(name, 0))


def _known(kind: str, word: str) -> list[tuple[str, int]]:
    try:
        return output_words(kind, word)
    except UnknownWord:
        return []


def forwarded_info(user_words: list[str], *, client_sends: bool) -> str | None:
    """The ``--info=...`` word a client sends its server, or ``None``.

    Only the items the user set (not those ``-v`` implied) that the server's side uses:
    the receiving side's items in a push, the sending side's in a pull, and those of any
    server. With five or more items at one level, that level is written as ``ALL``
    (``ALLn``, ``NONE``) and only the others follow.

    rsync: options.c server_options(), make_output_option().
    """
    levels = OutputLevels.build(info=user_words)
    where = Where.SRV | (Where.REC if client_sends else Where.SND)
    chosen = [
        (item.name, levels.user_info[item.name])
        for item in INFO_ITEMS
        if item.name in levels.user_info and item.where & where
    ]
    if not chosen:
        return None
    counts: dict[int, int] = {}
    best, most = -1, 0
    for _name, level in chosen:
        counts[level] = counts.get(level, 0) + 1
        if counts[level] > most:
            best, most = level, counts[level]
    skipped = len([i for i in INFO_ITEMS if i.where & where]) != len(chosen)
    parts = []
    if skipped or most < 5:
        best = -1
    else:
        parts.append("NONE" if best == 0 else "ALL" if best == 1 else f"ALL{best}")
    for name, level in chosen:
        if level != best:
            parts.append(name if level == 1 else f"{name}{level}")
    return "--info=" + ",".join(parts)


def _missing(name: str, level: int) -> bool:
    """Whether pyrsync writes less of item ``name`` than rsync does at ``level``."""
    help_text = next(item.help for item in DEBUG_ITEMS if item.name == name)
    top = int(help_text[-2]) if help_text.endswith(")") and "levels 1-" in help_text else 1
    top = _TOP_USED.get(name, top)
    return IMPLEMENTED_DEBUG.get(name, 0) < min(level, top)


def unimplemented_debug(words: list[tuple[str, int]]) -> tuple[str, int] | None:
    """The first ``--debug`` word pyrsync cannot honour, as ``(name, level)``, or ``None``.

    ``ALL`` at a level above 0 asks for every item, so it names the first one pyrsync
    does not write.
    """
    for name, level in words:
        if level <= 0 or name == "HELP":
            continue
        for target in [item.name for item in DEBUG_ITEMS] if name == "ALL" else [name]:
            if _missing(target, level):
                return target, level
    return None


def nstr_lines(
    session: Session, *, checksum_choice: str | None, compress_choice: str | None
) -> list[str]:
    """What ``--debug=NSTR`` prints on a client once the session is agreed.

    The checksum, then the compressor with its effective level; "negotiated" when the
    name came from the two sides' name lists rather than from ``--checksum-choice`` or
    ``--compress-choice``.

    rsync: checksum.c parse_checksum_choice(), compat.c parse_compress_choice().
    """
    from rsync_wire.proto.tokens import TokenEncoder

    by_lists = session.varint_flist_flags
    chosen = (checksum_choice or "").split(",")[0].lower() not in ("", "auto")
    checksum = session.checksum if session.protocol >= 30 or chosen else "md4"
    negotiated = " negotiated" if by_lists and not chosen else ""
    lines = [f"Client{negotiated} checksum: {checksum}"]
    if session.compression is not None:
        level = TokenEncoder(
            session.compression, protocol=session.protocol, level=session.compress_level
        ).level
        negotiated = " negotiated" if by_lists and compress_choice is None else ""
        lines.append(f"Client{negotiated} compress: {session.compression} (level {level})")
    return lines
