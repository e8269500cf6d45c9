"""``pyrsync``: rsync's command line for downloads.

The syntax follows rsync's (popt): long options with ``=VALUE`` or a separate value,
bundled short options (``-avz``, ``-e ssh``, ``-essh``), rsync's ``--no-OPTION``
negations, ``-a`` expanding to ``-rlptgoD``. Which options exist, their letters,
aliases, negations and arguments, and which this client implements, come from the one
option table (:mod:`rsync_wire.proto.optable`); this module only says what each does to
:class:`~rsync_client.options.ClientOptions`. Options rsync knows but this client does
not implement are refused with rsync's syntax-error exit code (1) and a message naming
them; unknown options get rsync's own "unknown option" message.

:func:`main` is the only place that turns errors into ``rsync error: ...`` lines
and exit codes.

rsync: options.c (long_options, parse_arguments()), main.c main().
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Final, NoReturn

from rsync_client.errors import describe_failure, failure_traceback
from rsync_client.options import ClientOptions, OptionError
from rsync_client.output import Output, rsync_error_line
from rsync_wire.errors import ExitCode, UnsupportedError
from rsync_wire.proto.constants import PROTOCOL_VERSION
from rsync_wire.proto.optable import OPTIONS, Arg, by_long, by_short, negations
from rsync_wire.proto.outlevels import (
    DEBUG_ITEMS,
    IMPLEMENTED_DEBUG,
    INFO_ITEMS,
    OutputLevels,
    unimplemented_debug,
)

__all__ = ["main", "parse_args"]

Apply = Callable[[ClientOptions, str | None], None]

_NEGATIONS: Final = negations()
_DEFAULTS: Final = ClientOptions()
_TRACEBACK_VERBOSITY: Final = 4  # -vvvv: rsync's debug levels; here, the traceback too


class _Spec:
    __slots__ = ("apply", "negate", "takes_arg")

    def __init__(self, apply: Apply, *, takes_arg: bool = False, negate: Apply | None = None):
        self.apply = apply
        self.takes_arg = takes_arg
        self.negate = negate


def _flag(field: str) -> _Spec:
    def apply(o: ClientOptions, _v: str | None) -> None:
        setattr(o, field, True)

    def negate(o: ClientOptions, _v: str | None) -> None:
        setattr(o, field, False)

    return _Spec(apply, negate=negate)


def _count(field: str) -> _Spec:
    def apply(o: ClientOptions, _v: str | None) -> None:
        setattr(o, field, getattr(o, field) + 1)

    def negate(o: ClientOptions, _v: str | None) -> None:
        setattr(o, field, 0)

    return _Spec(apply, negate=negate)


_INT_MIN: Final = -(2**31)
_INT_MAX: Final = 2**31 - 1


def popt_int(option: str, text: str | None) -> int:
    """An integer option's value as popt reads it (``strtol`` base 0, a C ``int``).

    Raises:
        OptionError: rsync's "invalid numeric value" or "number too large or too small".

    rsync: popt.c poptGetNextOpt() (POPT_ARG_INT).
    """
    t = (text or "").lstrip()
    body = t.lstrip("+-")
    try:
        if len(body) > 1 and body.startswith("0") and body[1] not in "xX":
            number = int(t, 8)  # strtol's octal: "010" is 8
        else:
            number = int(t, 0)
    except ValueError:
        msg = f"--{option}={text}: invalid numeric value"
        raise OptionError(msg) from None
    if not _INT_MIN <= number <= _INT_MAX:
        msg = f"--{option}={text}: number too large or too small"
        raise OptionError(msg)
    return number


def _int(field: str, *, minimum: int | None = None) -> _Spec:
    def apply(o: ClientOptions, v: str | None) -> None:
        number = popt_int(field.replace("_", "-"), v)
        if minimum is not None and number < minimum:
            msg = f"--{field.replace('_', '-')}={v} is invalid"
            raise OptionError(msg)
        setattr(o, field, number)

    def negate(o: ClientOptions, _v: str | None) -> None:
        setattr(o, field, getattr(_DEFAULTS, field))  # --no-timeout: back to the default

    return _Spec(apply, takes_arg=True, negate=negate)


def _backup_dir(o: ClientOptions, v: str | None) -> None:
    """``--backup-dir=DIR`` implies ``--backup`` (rsync: options.c)."""
    o.backup_dir = v
    o.backup = True


def _partial_dir(o: ClientOptions, v: str | None) -> None:
    """``--partial-dir=DIR`` (implies ``--partial``); a relative one lies in each file's dir."""
    o.partial_dir = v or None
    o.partial = True


def _alt_dest(kind: str) -> _Spec:
    """``--compare-dest``/``--copy-dest``/``--link-dest=DIR`` (one kind, at most 20 dirs)."""

    def apply(o: ClientOptions, v: str | None) -> None:
        if o.alt_dest is not None and o.alt_dest != kind:
            msg = f"ERROR: the --{kind} option conflicts with the --{o.alt_dest} option"
            raise OptionError(msg)
        if len(o.basis_dirs) >= 20:
            msg = f"ERROR: at most 20 --{kind} args may be specified"
            raise OptionError(msg)
        o.alt_dest = kind
        o.basis_dirs.append(v or "")

    return _Spec(apply, takes_arg=True)


def _str(field: str) -> _Spec:
    def apply(o: ClientOptions, v: str | None) -> None:
        setattr(o, field, v)

    return _Spec(apply, takes_arg=True)


def _size(field: str) -> _Spec:
    def apply(o: ClientOptions, v: str | None) -> None:
        assert v is not None  # noqa: S101
        setattr(o, field, parse_size(v, f"--{field.replace('_', '-')}"))

    return _Spec(apply, takes_arg=True)


def _filter(kind: str) -> _Spec:
    def apply(o: ClientOptions, v: str | None) -> None:
        if o.debug and OutputLevels.build(debug=o.debug).debug_gte("FILTER"):
            o.filters_debugged.append(len(o.filters))
        o.filters.append((kind, v or ""))

    return _Spec(apply, takes_arg=kind not in ("F",))


def parse_size(text: str, option: str) -> int:
    """Rsync's size syntax: ``10``, ``1.5k``, ``2M``, ``1GB`` (powers of 1000), ``+1``/``-1``.

    rsync: options.c parse_size_arg().

    Raises:
        OptionError: an invalid size (exit code 1).
    """
    t = text.strip()
    adjust = 0
    if len(t) > 2 and t[-2:] in ("+1", "-1"):
        adjust = int(t[-2:])
        t = t[:-2]
    lower = t.lower()
    units = {"b": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
    base = 1024
    if lower.endswith("ib") and len(lower) > 2 and lower[-3] in units:
        lower = lower[:-2]
    elif lower.endswith("b") and len(lower) > 1 and lower[-2] in units and lower[-2] != "b":
        base = 1000
        lower = lower[:-1]
    power = 0
    if lower and lower[-1] in units:
        power = units[lower[-1]]
        lower = lower[:-1]
    try:
        number = float(lower)
    except ValueError:
        msg = f"{option}={text} is invalid"
        raise OptionError(msg) from None
    if not math.isfinite(number) or number * base**power >= 2**63:
        msg = f"{option}={text} is invalid"
        raise OptionError(msg)
    if number < 0:
        msg = f"{option}={text} is invalid"
        raise OptionError(msg)
    return int(number * base**power) + adjust


def _archive(o: ClientOptions, _v: str | None) -> None:
    o.recursive = o.links = o.perms = o.times = o.group = o.owner = True
    o.devices = o.specials = True


def _acls(o: ClientOptions, _v: str | None) -> None:
    o.acls = o.perms = True  # rsync: options.c, case 'A' (-A implies -p)


def _stop_at(o: ClientOptions, v: str | None) -> None:
    from rsync_client.stoptime import parse_time

    when = parse_time(v or "")
    if when is None:
        msg = f"invalid --stop-at format: {v}"
        raise OptionError(msg)
    if when <= time.time():
        msg = f"--stop-at time is not in the future: {v}"
        raise OptionError(msg)
    o.stop_at = when


def _stop_after(o: ClientOptions, v: str | None) -> None:
    from rsync_client.stoptime import parse_stop_after

    when = parse_stop_after(v or "")
    if when is None:
        msg = f"invalid --stop-after value: {v}"
        raise OptionError(msg)
    o.stop_at = when


def _recursive(o: ClientOptions, _v: str | None) -> None:
    o.recursive = o.explicit_recursive = True  # rsync: recurse = 2 (-a alone gives 1)


def _no_recursive(o: ClientOptions, _v: str | None) -> None:
    o.recursive = o.explicit_recursive = False


def _stderr(o: ClientOptions, v: str | None) -> None:
    """``--stderr=errors|all|client`` (any prefix): --msgs2stderr said another way.

    rsync: options.c (OPT_STDERR).
    """
    text = v or ""
    for mode, value in (("errors", None), ("all", True), ("client", False)):
        if text and mode.startswith(text):
            o.msgs2stderr = value
            return
    msg = f'--stderr mode "{text}" is not one of errors, all, or client'
    raise OptionError(msg)


def _old_dirs(o: ClientOptions, _v: str | None) -> None:
    o.old_dirs = True  # made -r with "- /*/*" once every option is read (rsync: options.c)


def _dirs(o: ClientOptions, _v: str | None) -> None:
    o.dirs, o.old_dirs = True, False  # each sets rsync's xfer_dirs: the last one wins


def _no_dirs(o: ClientOptions, _v: str | None) -> None:
    o.dirs = o.old_dirs = False


def _devices_specials(o: ClientOptions, _v: str | None) -> None:
    o.devices = o.specials = True


def _no_devices_specials(o: ClientOptions, _v: str | None) -> None:
    o.devices = o.specials = False


def _partial_progress(o: ClientOptions, _v: str | None) -> None:
    o.partial = True
    o.progress = True


def _compress(o: ClientOptions, _v: str | None) -> None:
    if o.compress:
        o.compress_choice = o.compress_choice or "zlibx"  # -zz: the new-style zlib
    o.compress = True


def _no_compress(o: ClientOptions, _v: str | None) -> None:
    o.compress = False
    o.compress_choice = None


def _compress_choice(o: ClientOptions, v: str | None) -> None:
    choice = (v or "").lower()
    if choice not in ("zlib", "zlibx", "zstd", "lz4", "none", "auto"):
        msg = f"Invalid compress choice: {v}"
        raise OptionError(msg)
    o.compress_choice = None if choice == "auto" else choice
    o.compress = choice != "none"


def _checksum_choice(o: ClientOptions, v: str | None) -> None:
    names = {"auto", "md4", "md5", "xxh64", "xxhash", "xxh3", "xxh128"}
    for part in (v or "").lower().split(","):
        if part not in names:
            msg = f"unknown checksum name: {part}"
            raise OptionError(msg)
    o.checksum_choice = v


_INFO_ITEMS: Final = tuple((item.name, item.help) for item in INFO_ITEMS)
_INFO_LEVELS: Final = (
    "0) NONREG",
    "1) COPY,DEL,FLIST,MISC,NAME,STATS,SYMSAFE",
    "2) BACKUP,MISC2,MOUNT,NAME2,REMOVE,SKIP",
)
_DEBUG_ITEMS: Final = tuple((item.name, item.help) for item in DEBUG_ITEMS)
_DEBUG_LEVELS: Final = (
    "2) BIND,CONNECT,CMD,DEL,DELTASUM,DUP,FILTER,FLIST,ICONV",
    "3) ACL,BACKUP,CONNECT2,DEL2,DELTASUM2,EXIT,FILTER2,FLIST2,FUZZY,GENR,OWN,RECV,SEND,TIME",
    "4) CMD2,DEL3,DELTASUM3,EXIT2,FLIST3,ICONV2,OWN2,PROTO,TIME2",
    "5) CHDIR,DELTASUM4,FLIST4,FUZZY2,HASH,HLINK",
)
_MAX_OUT_LEVEL: Final = 4  # rsync: MAX_OUT_LEVEL


def _output_help(kind: str) -> str:
    """Rsync's ``--info=help``/``--debug=help`` text (rsync: options.c output_item_help())."""
    items, levels = (_INFO_ITEMS, _INFO_LEVELS) if kind == "info" else (_DEBUG_ITEMS, _DEBUG_LEVELS)
    lines = ["Use OPT or OPT1 for level 1 output, OPT2 for level 2, etc.; OPT0 silences.", ""]
    lines += [f"{name:<10} {text}" for name, text in items]
    lines += [
        "",
        f"{'ALL':<10} Set all --{kind} options (e.g. all4)",
        f"{'NONE':<10} Silence all --{kind} options (same as all0)",
        f"{'HELP':<10} Output this help message",
        "",
        "Options added at each level of verbosity:",
        *levels,
    ]
    return "\n".join(lines) + "\n"


def _output_words(kind: str, text: str) -> list[tuple[str, int]]:
    """The words of ``--info``/``--debug``: ``(name, level)``, lower-case; ``all``/``none``.

    Raises:
        HelpRequested: a ``help`` word (its text, then exit 0).
        OptionError: rsync's "Unknown --info item" (exit 1).

    rsync: options.c parse_output_words().
    """
    names = {n.lower() for n, _ in (_INFO_ITEMS if kind == "info" else _DEBUG_ITEMS)}
    words = []
    for word in text.split(","):
        if not word:
            continue
        name = word if word[:1].isdigit() else word.rstrip("0123456789")
        digits = word[len(name) :]
        level = min(int(digits), _MAX_OUT_LEVEL) if digits.isdigit() else 1
        lower = name.lower()
        if lower == "help":
            raise HelpRequested(_output_help(kind))
        if lower == "none":
            lower, level = "all", 0
        if lower != "all" and lower not in names:
            err = OptionError(f'Unknown --{kind} item: "{name}"')
            err.bare = True
            raise err
        words.append((lower, level))
    return words


def _debug(o: ClientOptions, v: str | None) -> None:
    """``--debug=FLAGS``: the items pyrsync writes are taken; any other is refused by name.

    rsync: options.c (OPT_DEBUG).
    """
    words = [(name.upper(), level) for name, level in _output_words("debug", v or "")]
    missing = unimplemented_debug(words)
    if missing is not None:
        name, _level = missing
        most = IMPLEMENTED_DEBUG.get(name.upper(), 0)
        upto = f" beyond level {most}" if most else ""
        msg = f"pyrsync does not write --debug output for {name.lower()}{upto} (--debug={v})"
        raise OptionError(msg)
    o.debug.append(v or "")


def _info(o: ClientOptions, v: str | None) -> None:
    """``--info=FLAGS``: kept in order for the output levels (rsync_wire.proto.outlevels)."""
    for name, level in _output_words("info", v or ""):
        if name == "progress":  # not --progress: that one also shows names
            o.progress2 = level >= 2
            o.info_progress = level
        elif name == "stats":
            o.stats = level >= 2
        elif name == "name" and level > o.verbose:
            # names are shown as -v shows them; the -v count itself stays what was typed
            o.verbose_from_info += level - o.verbose
            o.verbose = level
    o.info.append(v or "")


def _bwlimit(o: ClientOptions, v: str | None) -> None:
    """``--bwlimit=RATE``: KiB per second by default, rounded to whole KiB as rsync does.

    rsync: options.c (OPT_BWLIMIT).
    """
    from rsync_wire.proto.args import ArgumentError, parse_bwlimit

    try:
        size = parse_bwlimit(v or "")
    except ArgumentError as exc:
        raise OptionError(str(exc)) from None
    o.bwlimit = (size + 512) // 1024


def _map(kind: str) -> Apply:
    """``--usermap``/``--groupmap``: once, not after a ``--chown`` (rsync: options.c)."""

    def apply(o: ClientOptions, v: str | None) -> None:
        which = 0 if kind == "user" else 1
        if getattr(o, f"{kind}map") is not None:
            if o.chown_maps[which]:
                msg = f"--{kind}map conflicts with prior --chown."
            else:
                msg = f"You can only specify --{kind}map once."
            raise OptionError(msg)
        setattr(o, f"{kind}map", v or "")
        setattr(o, "owner" if kind == "user" else "group", True)

    return apply


def _chown(o: ClientOptions, v: str | None) -> None:
    """``--chown=USER:GROUP``: ``--usermap=*:USER``, ``--groupmap=*:GROUP`` (rsync: options.c)."""
    text = v or ""
    user, colon, group = text.partition(":")
    made = list(o.chown_maps)
    for which, kind, value in ((0, "user", user), (1, "group", group if colon else "")):
        if not value:
            continue
        if getattr(o, f"{kind}map") is not None:
            if not o.chown_maps[which]:
                msg = f"--chown conflicts with prior --{kind}map."
            else:
                msg = f"You can only specify a {kind}-affecting --chown once."
            raise OptionError(msg)
        setattr(o, f"{kind}map", f"*:{value}")
        setattr(o, "owner" if kind == "user" else "group", True)
        made[which] = True
    o.chown_maps = (made[0], made[1])
    o.chown = text


def _chmod(o: ClientOptions, v: str | None) -> None:
    """``--chmod=RULES``: checked now, applied by the client's sender or receiver."""
    from rsync_wire.roles.chmod import ChmodError, option_rules

    try:
        option_rules([v or ""], umask=0)
    except ChmodError as exc:
        raise OptionError(str(exc)) from None
    o.chmod.append(v or "")


def _max_alloc(o: ClientOptions, v: str | None) -> None:
    """``--max-alloc=SIZE``: at least 1 MiB, 0 refused (rsync: options.c max_alloc_arg)."""
    from rsync_wire.proto.args import ArgumentError, parse_size_arg

    try:
        size = parse_size_arg(v or "", "B", "max-alloc", min_value=1 << 20, unlimited_0=True)
    except ArgumentError as exc:
        raise OptionError(str(exc)) from None
    if not size:
        msg = "max-alloc must be greater than zero"
        raise OptionError(msg)
    o.max_alloc = v
    o.alloc_limit = size


def _remote_option(o: ClientOptions, v: str | None) -> None:
    """``-M OPTION``: a word for the server's command line (rsync: options.c, case 'M')."""
    if not (v or "").startswith("-"):
        msg = f"Remote option must start with a dash: {v}"
        raise OptionError(msg)
    o.remote_option.append(v or "")


def _delete_mode(field: str) -> Apply:
    def apply(o: ClientOptions, _v: str | None) -> None:
        setattr(o, field, True)

    return apply


def _port(o: ClientOptions, v: str | None) -> None:
    o.port = popt_int("port", v)


def _protocol(o: ClientOptions, v: str | None) -> None:
    number = popt_int("protocol", v)
    if not 27 <= number <= PROTOCOL_VERSION:
        msg = f"--protocol must be between 27 and {PROTOCOL_VERSION}"
        raise OptionError(msg)
    o.protocol = number


def _human(o: ClientOptions, _v: str | None) -> None:
    o.human_readable = 2 if o.human_readable < 2 else 3


def _ignore(_o: ClientOptions, _v: str | None) -> None:
    pass


def _outbuf(o: ClientOptions, v: str | None) -> None:
    """``--outbuf=N|L|B`` (also U, F; only the first letter counts; rsync: options.c)."""
    mode = (v or "")[:1].upper()
    if mode not in ("N", "U", "L", "B", "F"):
        msg = "Invalid --outbuf setting -- specify N, L, or B."
        raise OptionError(msg)
    o.outbuf = mode


def _atimes(o: ClientOptions, _v: str | None) -> None:
    """``-U``; a second one implies ``--open-noatime`` (rsync: options.c, case 'U')."""
    o.atimes += 1
    if o.atimes > 1:
        o.open_noatime = True


def _whole(o: ClientOptions, _v: str | None) -> None:
    o.whole_file = True


def _no_whole(o: ClientOptions, _v: str | None) -> None:
    o.whole_file = False


# What each option the client implements does to ClientOptions, by its name in the option
# table (rsync_wire.proto.optable: the long name, else the letter). Which names, letters,
# aliases and negations exist, which take a value, and which are refused all come from
# the table; _check_table() keeps the two in step.
_APPLY: Final[dict[str, _Spec]] = {
    "verbose": _count("verbose"),
    "quiet": _flag("quiet"),
    "archive": _Spec(_archive),
    "recursive": _Spec(_recursive, negate=_no_recursive),
    "dirs": _Spec(_dirs, negate=_no_dirs),
    "old-dirs": _Spec(_old_dirs),
    "stderr": _Spec(_stderr, takes_arg=True),
    "fsync": _flag("fsync"),
    "qsort": _flag("qsort"),
    "links": _flag("links"),
    "copy-links": _flag("copy_links"),
    "copy-dirlinks": _flag("copy_dirlinks"),
    "perms": _flag("perms"),
    "executability": _flag("executability"),
    "times": _flag("times"),
    "xattrs": _count("xattrs"),
    "acls": _Spec(_acls, negate=lambda o, _v: setattr(o, "acls", False)),
    "fake-super": _flag("fake_super"),
    "atimes": _Spec(_atimes, negate=lambda o, _v: setattr(o, "atimes", 0)),
    "open-noatime": _flag("open_noatime"),
    "group": _flag("group"),
    "owner": _flag("owner"),
    "devices": _flag("devices"),
    "specials": _flag("specials"),
    "hard-links": _flag("hard_links"),
    "compress": _Spec(_compress, negate=_no_compress),
    "compress-choice": _Spec(_compress_choice, takes_arg=True),
    "old-compress": _Spec(lambda o, _v: _compress_choice(o, "zlib")),
    "new-compress": _Spec(lambda o, _v: _compress_choice(o, "zlibx")),
    "compress-level": _int("compress_level", minimum=-1),
    "checksum": _flag("checksum"),
    "checksum-choice": _Spec(_checksum_choice, takes_arg=True),
    "checksum-seed": _int("checksum_seed"),
    "ignore-times": _flag("ignore_times"),
    "size-only": _flag("size_only"),
    "update": _flag("update"),
    "backup": _flag("backup"),
    "inplace": _flag("inplace"),
    "temp-dir": _str("temp_dir"),
    "delay-updates": _flag("delay_updates"),
    "sparse": _flag("sparse"),
    "preallocate": _flag("preallocate"),
    "fuzzy": _count("fuzzy"),
    "partial-dir": _Spec(_partial_dir, takes_arg=True),
    "backup-dir": _Spec(_backup_dir, takes_arg=True),
    "compare-dest": _alt_dest("compare-dest"),
    "copy-dest": _alt_dest("copy-dest"),
    "link-dest": _alt_dest("link-dest"),
    "suffix": _str("suffix"),
    "dry-run": _flag("dry_run"),
    "whole-file": _Spec(_whole, negate=_no_whole),
    "omit-dir-times": _flag("omit_dir_times"),
    "omit-link-times": _flag("omit_link_times"),
    "partial": _flag("partial"),
    "progress": _flag("progress"),
    "delete": _Spec(_delete_mode("delete")),
    "delete-before": _Spec(_delete_mode("delete_before")),
    "delete-during": _Spec(_delete_mode("delete_during")),
    "delete-delay": _Spec(_delete_mode("delete_delay")),
    "delete-after": _Spec(_delete_mode("delete_after")),
    "delete-excluded": _flag("delete_excluded"),
    "force": _flag("force"),
    "max-delete": _int("max_delete"),
    "ignore-errors": _flag("ignore_errors"),
    "filter": _filter("filter"),
    "exclude": _filter("exclude"),
    "include": _filter("include"),
    "exclude-from": _filter("exclude-from"),
    "include-from": _filter("include-from"),
    "cvs-exclude": _flag("cvs_exclude"),
    "rsh": _str("rsh"),
    "rsync-path": _str("rsync_path"),
    "copy-as": _str("copy_as"),
    "iconv": _Spec(
        lambda o, v: setattr(o, "iconv", v),
        takes_arg=True,
        negate=lambda o, _v: setattr(o, "iconv", None),
    ),
    "port": _Spec(_port, takes_arg=True),
    "password-file": _str("password_file"),
    "protocol": _Spec(_protocol, takes_arg=True),
    "numeric-ids": _flag("numeric_ids"),
    "list-only": _flag("list_only"),
    "stats": _flag("stats"),
    "itemize-changes": _count("itemize_changes"),
    "info": _Spec(_info, takes_arg=True),
    "debug": _Spec(_debug, takes_arg=True),
    "timeout": _int("timeout", minimum=0),
    "chmod": _Spec(_chmod, takes_arg=True),
    "chown": _Spec(_chown, takes_arg=True),
    "safe-links": _flag("safe_links"),
    "out-format": _str("out_format"),
    "log-file": _str("log_file"),
    "log-file-format": _str("log_file_format"),
    "early-input": _str("early_input"),
    "secluded-args": _flag("protect_args"),
    "insecure-links": _flag("insecure_links"),
    "old-args": _Spec(
        lambda o, _v: setattr(o, "old_args", (o.old_args or 0) + 1),
        negate=lambda o, _v: setattr(o, "old_args", 0),
    ),
    "append": _Spec(
        lambda o, _v: setattr(o, "append", 1), negate=lambda o, _v: setattr(o, "append", 0)
    ),
    "append-verify": _Spec(lambda o, _v: setattr(o, "append", 2)),
    "copy-unsafe-links": _flag("copy_unsafe_links"),
    "munge-links": _flag("munge_links"),
    "usermap": _Spec(_map("user"), takes_arg=True),
    "groupmap": _Spec(_map("group"), takes_arg=True),
    "super": _Spec(
        lambda o, _v: setattr(o, "super", True), negate=lambda o, _v: setattr(o, "super", False)
    ),
    "max-alloc": _Spec(_max_alloc, takes_arg=True),
    "remote-option": _Spec(_remote_option, takes_arg=True),
    "bwlimit": _Spec(_bwlimit, takes_arg=True, negate=lambda o, _v: setattr(o, "bwlimit", 0)),
    "contimeout": _int("contimeout", minimum=0),
    "motd": _flag("motd"),
    "sandbox": _flag("sandbox"),
    "max-size": _size("max_size"),
    "min-size": _size("min_size"),
    "human-readable": _Spec(_human, negate=lambda o, _v: setattr(o, "human_readable", 0)),
    "ignore-existing": _flag("ignore_existing"),
    "existing": _flag("existing"),
    "block-size": _size("block_size"),
    "modify-window": _int("modify_window"),
    "8-bit-output": _flag("eight_bit_output"),
    "ipv4": _flag("ipv4"),
    "ipv6": _flag("ipv6"),
    "blocking-io": _Spec(_ignore, negate=_ignore),
    "files-from": _str("files_from"),
    "write-batch": _str("write_batch"),
    "only-write-batch": _str("only_write_batch"),
    "read-batch": _str("read_batch"),
    "confine-root": _str("confine_root"),
    "relative": _flag("relative"),
    "one-file-system": _count("one_file_system"),
    "implied-dirs": _flag("implied_dirs"),
    "keep-dirlinks": _flag("keep_dirlinks"),
    "mkpath": _flag("mkpath"),
    "remove-source-files": _flag("remove_source_files"),
    "prune-empty-dirs": _flag("prune_empty_dirs"),
    "delete-missing-args": _flag("delete_missing_args"),
    "stop-at": _Spec(_stop_at, takes_arg=True),
    "stop-after": _Spec(_stop_after, takes_arg=True),
    "ignore-missing-args": _flag("ignore_missing_args"),
    "from0": _flag("from0"),
    "inc-recursive": _flag("inc_recursive"),
    "address": _str("address"),
    "sockopts": _str("sockopts"),
    "outbuf": _Spec(_outbuf, takes_arg=True),
    "skip-compress": _str("skip_compress"),
    "compress-threads": _int("compress_threads"),
    "copy-devices": _Spec(lambda o, _v: setattr(o, "copy_devices", True)),
    "write-devices": _flag("write_devices"),
    "trust-sender": _Spec(lambda o, _v: setattr(o, "trust_sender", True)),
    "msgs2stderr": _flag("msgs2stderr"),
    "D": _Spec(_devices_specials, negate=_no_devices_specials),
    "P": _Spec(_partial_progress),
    "F": _filter("F"),
}


def _check_table() -> None:
    """The client's rules and the option table name the same options (a program error)."""
    implemented = {o.name for o in OPTIONS if o.client} - {"help", "version"}
    if implemented != set(_APPLY):
        msg = f"option table and client parser differ: {implemented ^ set(_APPLY)}"
        raise AssertionError(msg)
    for option in OPTIONS:
        spec = _APPLY.get(option.name)
        if spec is None:
            continue
        if spec.takes_arg != (option.arg is not Arg.NONE):
            msg = f"option table and client parser differ on the argument of {option.name}"
            raise AssertionError(msg)
        if option.negations and spec.negate is None:
            msg = f"the client cannot negate {option.name}"
            raise AssertionError(msg)


_check_table()


class HelpRequested(Exception):  # noqa: N818 - control flow, not an error
    """``--help`` or ``--version`` was given: print and exit 0."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


PLATFORM_REFUSALS: Final = {
    # Linux has no call that sets a file's creation time (rsync: options.c, built
    # without SUPPORT_CRTIMES)
    "crtimes": "This rsync does not support --crtimes (-N)",
}
"""Options this platform cannot carry out, refused in the words of rsync built here."""


def _unsupported(name: str) -> NoReturn:
    option = by_long(name)
    refusal = PLATFORM_REFUSALS.get(option.name if option is not None else name)
    if refusal is not None:
        raise OptionError(refusal)
    # "unknown option" is what scripts (and rsync's test suite) look for to tell that an
    # rsync program lacks an option; the rest says it is rsync's, not a typo.
    msg = f"--{name}: unknown option (an rsync option pyrsync does not implement)"
    raise OptionError(msg)


def parse_args(argv: Sequence[str]) -> tuple[ClientOptions, list[str]]:
    """Parse a ``pyrsync`` command line (without the program name).

    Returns:
        The options and the remaining arguments (sources and destination).

    Raises:
        OptionError: an unknown, unsupported or malformed option (exit code 1).
        HelpRequested: ``--help``/``-h`` alone or ``--version``.

    rsync: options.c parse_arguments().
    """
    args = list(argv)
    if args == ["-h"]:
        raise HelpRequested(usage())
    opts = ClientOptions()
    # rsync: options.c (RSYNC_ICONV, read before the options: --iconv and --no-iconv win)
    opts.iconv = os.environ.get("RSYNC_ICONV") or None
    rest: list[str] = []
    versions = 0  # -V: text; -VV: rsync's JSON report (after all options parsed, as rsync)
    i = 0
    n = len(args)
    while i < n:
        arg = args[i]
        i += 1
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            if name == "help":
                raise HelpRequested(usage())
            if name == "version":
                versions += 1
                continue
            option = by_long(name)
            negated = option is None and name in _NEGATIONS
            if negated:
                option = _NEGATIONS[name]
            if option is None:
                msg = f"--{name}: unknown option"
                raise OptionError(msg)
            if not option.client and not (negated and not option.default_on):
                _unsupported(name)  # e.g. --no-implied-dirs: a negation that changes behaviour
            if negated or option.arg is Arg.NONE:
                if eq:
                    msg = f"--{name}={value}: option does not take an argument"
                    raise OptionError(msg)
            elif not eq:
                if i >= n:
                    msg = f"--{name}: missing argument"
                    raise OptionError(msg)
                value = args[i]
                i += 1
            if not option.client:
                continue  # turning off what pyrsync never turns on changes nothing
            spec = _APPLY[option.name]
            if negated:
                assert spec.negate is not None  # noqa: S101 - _check_table() made sure
                spec.negate(opts, None)
            else:
                spec.apply(opts, value if option.arg is not Arg.NONE else None)
            continue
        if arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                letter = arg[j]
                j += 1
                if letter == "V":
                    versions += 1
                    continue
                option = by_short(letter)
                if option is None:
                    msg = f"-{letter}: unknown option"
                    raise OptionError(msg)
                if not option.client:
                    _unsupported(option.name)
                spec = _APPLY[option.name]
                if option.arg is not Arg.NONE:
                    value = arg[j:]
                    if not value:
                        if i >= n:
                            msg = f"-{letter}: missing argument"
                            raise OptionError(msg)
                        value = args[i]
                        i += 1
                    spec.apply(opts, value)
                    break
                spec.apply(opts, None)
            continue
        rest.append(arg)
    if versions:
        raise HelpRequested(version_text() if versions == 1 else version_json())
    _check(opts)
    return opts, rest


def _check(opts: ClientOptions) -> None:
    if opts.old_dirs:  # rsync: options.c (xfer_dirs >= 4), after every filter option
        opts.filters.append(("filter", "- /*/*"))
        opts.recursive = opts.dirs = True
        opts.old_dirs = False
    # rsync: options.c (old_style_args < 0: RSYNC_OLD_ARGS unless -s was given)
    if opts.old_args is None:
        env = os.environ.get("RSYNC_OLD_ARGS")
        if not opts.protect_args and env:
            opts.protect_args = False
            opts.old_args = _atoi(env)
        else:
            opts.old_args = 0
    elif opts.old_args:
        if opts.protect_args:
            msg = "--secluded-args conflicts with --old-args."
            raise OptionError(msg)
        opts.protect_args = False
    if opts.protect_args is None:
        # rsync: options.c (protect_args < 0: RSYNC_PROTECT_ARGS, else off)
        env = os.environ.get("RSYNC_PROTECT_ARGS")
        opts.protect_args = _atoi(env) != 0 if env else False
    if opts.iconv == "-":
        opts.iconv = None  # rsync: options.c (a client's --iconv=- turns conversion off)
    if opts.insecure_links and opts.confine_root is not None:
        msg = "--insecure-links cannot be combined with --confine-root"  # rsync: options.c
        raise OptionError(msg)
    env_alloc = os.environ.get("RSYNC_MAX_ALLOC")
    if opts.max_alloc is None and env_alloc:
        _max_alloc(opts, env_alloc)  # rsync: options.c (RSYNC_MAX_ALLOC)
    if opts.ipv4 and opts.ipv6:
        msg = "--ipv4 and --ipv6 are mutually exclusive"
        raise OptionError(msg)
    modes = sum((opts.delete_before, opts.delete_during, opts.delete_after, opts.delete_delay))
    if modes > 1:
        msg = "You may not combine multiple --delete-WHEN options."
        raise OptionError(msg)
    if opts.size_only and opts.checksum:
        pass  # rsync lets -c win
    if opts.temp_dir is not None and len(os.fsencode(opts.temp_dir)) >= 4096 - 10:
        msg = "the --temp-dir path is WAY too long."  # rsync: options.c (MAXPATHLEN - 10)
        raise OptionError(msg)
    for option, fmt in (("out-format", opts.out_format), ("log-file-format", opts.log_file_format)):
        if fmt is None:
            continue
        from rsync_client.logformat import log_format_has

        if any(log_format_has(fmt, c) for c in "bc"):
            msg = f"pyrsync does not support %b or %c in --{option}"
            raise OptionError(msg)
    if opts.append and opts.whole_file:
        msg = "--append cannot be used with --whole-file"  # rsync: options.c
        raise OptionError(msg)
    if opts.write_devices:
        opts.inplace = True  # rsync: options.c (write_devices implies inplace)
    if (opts.inplace or opts.append) and (opts.partial_dir or opts.delay_updates):
        # rsync: options.c (--delay-updates implies a partial dir)
        other = "delay-updates" if opts.delay_updates else "partial-dir"
        msg = f"--{'append' if opts.append else 'inplace'} cannot be used with --{other}"
        raise OptionError(msg)


def _atoi(text: str) -> int:
    """C's ``atoi``: the leading integer of ``text``, 0 when there is none."""
    t = text.lstrip()
    sign = -1 if t.startswith("-") else 1
    t = t.lstrip("+-")
    digits = len(t) - len(t.lstrip("0123456789"))
    return sign * int(t[:digits]) if digits else 0


def version_text() -> str:
    """What ``pyrsync --version`` prints: the protocol version it speaks, and its lists."""
    from rsync_client.capabilities import version_text as text

    return text()


def version_json() -> str:
    """What ``pyrsync -VV`` prints: rsync's JSON capability report (see capabilities.py)."""
    from rsync_client.capabilities import version_json as report

    return report()


def usage() -> str:
    """The ``--help`` text."""
    from importlib.metadata import version  # slow to import: only here

    return f"""pyrsync  version {version("rsync-client")}  protocol version {PROTOCOL_VERSION}

pyrsync downloads files from rsync servers with rsync's own command line.

Usage: pyrsync [OPTION]... [USER@]HOST:SRC [DEST]
  or   pyrsync [OPTION]... [USER@]HOST::SRC [DEST]
  or   pyrsync [OPTION]... rsync://[USER@]HOST[:PORT]/SRC [DEST]
  or   pyrsync [OPTION]... SRC [SRC]... DEST      (a local copy)
A single remote source without DEST lists the files instead of copying them.

Options
--verbose, -v            increase verbosity
--info=FLAGS             fine-grained informational verbosity (progress2, stats, name)
--quiet, -q              suppress non-error messages
--no-motd                suppress the daemon-mode MOTD
--no-sandbox             do not confine pyrsync (Landlock) to the destination
--checksum, -c           skip based on checksum, not mod-time & size
--archive, -a            archive mode is -rlptgoD (no -A,-X,-U,-N,-H)
--recursive, -r          recurse into directories
--dirs, -d               transfer directories without recursing
--links, -l              copy symlinks as symlinks
--copy-links, -L         transform symlink into referent file/dir
--copy-dirlinks, -k      transform symlink to a dir into referent dir
--insecure-links         follow attacker-owned symlinks in operator paths
--confine-root=DIR       refuse operator paths resolving outside DIR
--hard-links, -H         preserve hard links
--perms, -p              preserve permissions
--executability, -E      preserve executability
--owner, -o              preserve owner (super-user only)
--group, -g              preserve group
--devices                preserve device files (super-user only)
--specials               preserve special files
-D                       same as --devices --specials
--times, -t              preserve modification times
--omit-dir-times, -O     omit directories from --times
--omit-link-times, -J    omit symlinks from --times
--dry-run, -n            perform a trial run with no changes made
--whole-file, -W         copy files whole (w/o delta-xfer algorithm)
--checksum-choice=STR    choose the checksum algorithm (aka --cc)
--existing               skip creating new files on receiver
--ignore-existing        skip updating files that exist on receiver
--update, -u             skip files that are newer on the receiver
--delete                 delete extraneous files from dest dirs
--delete-before          receiver deletes before xfer, not during
--delete-during          receiver deletes during the transfer
--delete-delay           find deletions during, delete after
--delete-after           receiver deletes after transfer, not during
--delete-excluded        also delete excluded files from dest dirs
--ignore-errors          delete even if there are I/O errors
--force                  force deletion of dirs even if not empty
--max-delete=NUM         don't delete more than NUM files
--max-size=SIZE          don't transfer any file larger than SIZE
--min-size=SIZE          don't transfer any file smaller than SIZE
--partial                keep partially transferred files
--numeric-ids            don't map uid/gid values by user/group name
--timeout=SECONDS        set I/O timeout in seconds
--contimeout=SECONDS     set daemon connection timeout in seconds
--ignore-times, -I       don't skip files that match size and time
--size-only              skip files that match in size
--modify-window=NUM, -@  set the accuracy for mod-time comparisons
--compress, -z           compress file data during the transfer
--compress-choice=STR    choose the compression algorithm (aka --zc)
--compress-level=NUM     explicitly set compression level (aka --zl)
--compress-threads=NUM   explicitly set compression threads (aka --zt)
--cvs-exclude, -C        auto-ignore files in the same way CVS does
--filter=RULE, -f        add a file-filtering RULE
-F                       same as --filter='dir-merge /.rsync-filter'
--exclude=PATTERN        exclude files matching PATTERN
--exclude-from=FILE      read exclude patterns from FILE
--include=PATTERN        don't exclude files matching PATTERN
--include-from=FILE      read include patterns from FILE
--files-from=FILE        read list of source-file names from FILE
--from0, -0              all *-from/filter files are delimited by 0s
--rsh=COMMAND, -e        specify the remote shell to use
--rsync-path=PROGRAM     specify the rsync to run on remote machine
--port=PORT              specify double-colon alternate port number
--password-file=FILE     read daemon-access password from FILE
--protocol=NUM           force an older protocol version to be used
--stats                  give some file-transfer stats
--8-bit-output, -8       leave high-bit chars unescaped in output
--human-readable, -h     output numbers in a human-readable format
--progress               show progress during transfer
-P                       same as --partial --progress
--itemize-changes, -i    output a change-summary for all updates
--list-only              list the files instead of copying them
--ipv4, -4               prefer IPv4
--ipv6, -6               prefer IPv6
--version, -V            print the version + other info and exit
--help, -h (*)           show this help (* -h is help only on its own)
"""


# -- main -------------------------------------------------------------------------------------


async def _main(opts: ClientOptions, rest: list[str], output: Output) -> int:
    from rsync_client.progress import make_progress
    from rsync_client.session import run

    if opts.progress_level:
        output.progress_display = make_progress(opts, output)
    result = await run(opts, rest, output)
    if output.progress_display is not None:
        output.progress_display.close()
    if result.stats is not None:
        output.summary(result.stats, protocol=result.protocol, exit_code=result.exit_code)
    return result.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``pyrsync``; returns (and, as a console script, exits with) rsync's exit code.

    Every failure ends here as rsync ends: its message lines, ``rsync error: ... (code N)``
    and a non-zero exit code; the traceback only with ``-vvvv`` (rsync's debug levels).
    """
    args = sys.argv[1:] if argv is None else list(argv)
    verbose = 0
    output: Output | None = None
    try:
        options = args[: args.index("--")] if "--" in args else args
        if "--server" in options or "--daemon" in options:  # anywhere, as rsync's popt sees it
            return _exec_daemon(args)
        try:
            opts, rest = parse_args(args)
        except HelpRequested as req:
            sys.stdout.write(req.text)
            return 0
        verbose = opts.verbose
        if opts.outbuf is not None:
            _set_outbuf(opts.outbuf)
        if opts.write_batch is not None or opts.only_write_batch is not None:
            # the replay script repeats the command line (rsync: batch.c raw_argv)
            program = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c") else "pyrsync"
            opts.raw_argv = [program, *args]
            opts.cooked_args = list(rest)
        output = Output(opts)
        if opts.insecure_links:
            _insecure_links()
        elif opts.confine_root is not None and opts.confine_root.startswith("/"):
            from rsync_wire.fs import set_confine_root

            set_confine_root(opts.confine_root)  # rsync: syscall.c confinement_root()
        if opts.log_file is not None:
            _open_log(opts, output)
        if opts.iconv is not None:
            from rsync_wire.proto.charset import charset_for

            charset_for(opts.iconv, server=False)  # rsync: main.c setup_iconv(), before connecting
            with contextlib.suppress(UnsupportedError):
                # a local copy's receiving half, looked up now: its codec is imported before
                # the copy confines the process
                charset_for(opts.iconv, server=True)
        code = _run_with_signals(opts, rest, output)
        output.flush()
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        code = _fail(exc, output, verbose=verbose)
    if argv is None:
        _settle_stdout()
    return code


def _set_outbuf(mode: str) -> None:
    """``--outbuf``: standard output unbuffered, line- or block-buffered (rsync: setvbuf())."""
    stdout = sys.stdout
    if not isinstance(stdout, io.TextIOWrapper):
        return  # not the process's own standard output (an embedding program's)
    stdout.flush()
    stdout.reconfigure(line_buffering=mode == "L", write_through=mode in ("N", "U"))


def _insecure_links() -> None:
    """``--insecure-links``: the paths the user named follow any symlink (local only)."""
    from rsync_wire.fs import set_insecure_links

    set_insecure_links(on=True)


def _open_log(opts: ClientOptions, output: Output) -> None:
    """Open ``--log-file`` (a failure is reported and the run goes on without it)."""
    from rsync_client.logfile import open_log_file

    assert opts.log_file is not None  # noqa: S101 - the caller checked
    log, lines = open_log_file(opts.log_file, opts.log_file_format)
    if log is None:
        *errors, note = lines
        for line in errors:
            output.error(line)
        output.info(note)
    output.log = log


def _fail(exc: BaseException, output: Output | None, *, verbose: int) -> int:
    """Print rsync's lines for ``exc`` (the traceback too at ``-vvvv``); returns the code."""
    try:
        failure = describe_failure(exc)
        lines = list(failure.lines)
        code = failure.exit_code
        if verbose >= _TRACEBACK_VERBOSITY:
            lines.insert(0, failure_traceback(exc).rstrip("\n"))
    except Exception:  # noqa: BLE001 - the guard of the guard: never a traceback
        lines, code = [f"rsync: [Receiver] internal error: {type(exc).__name__}"], 15
    lines.append(rsync_error_line(code))
    if output is not None:
        printed = 0
        with contextlib.suppress(Exception):
            for line in lines:
                output.error(line)
                printed += 1
        with contextlib.suppress(Exception):
            output.flush()
        lines = lines[printed:]
    with contextlib.suppress(Exception):
        sys.stderr.write("".join(line + "\n" for line in lines))
        sys.stderr.flush()
    return code


def _exec_daemon(args: list[str]) -> int:  # noqa: RET503 - execv does not return
    """``pyrsync --server ...`` / ``pyrsync --daemon ...``: become pyrsyncd, as rsync does.

    Scripts and test suites written for rsync start ``rsync --server`` over a remote shell
    and ``rsync --daemon``; with rsync-daemon installed the same command lines reach the
    same code (the client never imports the daemon: it replaces itself with it).
    """
    import importlib.util

    if importlib.util.find_spec("rsync_daemon") is None:
        sys.stderr.write(
            f"pyrsync: {args[0]} needs the rsync-daemon package (pyrsyncd), "
            "which is not installed\n"
        )
        return int(ExitCode.SYNTAX)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "rsync_daemon", *args])  # noqa: S606


def _run_with_signals(opts: ClientOptions, rest: list[str], output: Output) -> int:
    import anyio  # here: --version and --help do without it

    got_signal: list[int] = []

    async def runner() -> int:
        async with anyio.create_task_group() as tg:
            result: list[int] = []

            async def watch() -> None:
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGHUP) as signals:
                    async for signum in signals:
                        got_signal.append(signum)
                        tg.cancel_scope.cancel()
                        return

            async def work() -> None:
                if opts.stop_at is None:
                    result.append(await _main(opts, rest, output))
                else:
                    # rsync: io.c perform_io() ("stopping at requested limit", exit 30)
                    deadline = anyio.current_time() + (opts.stop_at - time.time())
                    with anyio.move_on_at(deadline):
                        result.append(await _main(opts, rest, output))
                    if not result:
                        output.error("stopping at requested limit")
                        result.append(int(ExitCode.TIMEOUT))
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            tg.start_soon(work)
        if got_signal:
            return int(ExitCode.SIGNAL)
        return result[0] if result else int(ExitCode.SIGNAL)

    code: int
    try:
        code = anyio.run(runner)
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        return _fail(exc, output, verbose=opts.verbose)
    if code:
        output.error(rsync_error_line(code))
    return code


def _settle_stdout() -> None:
    """Flush standard output; if its reader is gone, silence it for the exit.

    Otherwise Python's own flush at exit prints "Exception ignored ... BrokenPipeError"
    after rsync's last line (``pyrsync -v ... | head``).
    """
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


def run_main() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run_main()
