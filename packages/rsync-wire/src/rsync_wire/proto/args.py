"""Parse and build the ``--server`` argument vector (no I/O).

A client turns its options into the argument vector of docs/protocol.md §4.1
(the short-option cluster, ``-e.<capabilities>``, long options, ``.``, paths); a
server parses that vector back into :class:`~rsync_wire.proto.options.TransferOptions`.
Both directions live here so that they stay each other's inverse.

rsync: options.c server_options() (building) and parse_arguments() (parsing).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Final

from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.proto.constants import MIN_PROTOCOL, PROTOCOL_VERSION
from rsync_wire.proto.options import DEFAULT_MAX_ALLOC, TransferOptions

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "DEFAULT_MAX_ALLOC",
    "MAX_DAEMON_ARGS",
    "ArgumentError",
    "ServerArgs",
    "build_server_args",
    "parse_bwlimit",
    "parse_max_alloc",
    "parse_server_args",
    "parse_size_arg",
]


class ArgumentError(RsyncError):
    """An argument vector that does not parse (unknown option, missing value)."""

    exit_code = ExitCode.SYNTAX


class ServerArgs:
    """The result of parsing a ``--server`` argument vector.

    Attributes:
        options: the parsed options.
        paths: the arguments after the ``.`` placeholder.
    """

    __slots__ = ("options", "paths")

    def __init__(self, options: TransferOptions, paths: list[bytes]) -> None:
        self.options = options
        self.paths = paths


# Short letters without a value: letter -> (field, kind). kind "flag" sets True, "count"
# increments.
_SHORT: Final[dict[str, tuple[str, str]]] = {
    "s": ("protect_args", "flag"),
    "v": ("verbose", "count"),
    "q": ("quiet", "flag"),
    "b": ("backup", "flag"),
    "u": ("update_only", "flag"),
    "n": ("dry_run", "flag"),
    "l": ("preserve_links", "flag"),
    "d": ("dirs", "flag"),
    "K": ("keep_dirlinks", "flag"),
    "m": ("prune_empty_dirs", "flag"),
    "O": ("omit_dir_times", "flag"),
    "J": ("omit_link_times", "flag"),
    "y": ("fuzzy", "count"),
    "L": ("copy_links", "flag"),
    "k": ("copy_dirlinks", "flag"),
    "W": ("whole_file", "flag"),
    "H": ("preserve_hard_links", "count"),
    "o": ("preserve_uid", "flag"),
    "g": ("preserve_gid", "flag"),
    "D": ("preserve_devices", "devices"),
    "t": ("preserve_times", "flag"),
    "U": ("preserve_atimes", "count"),
    "N": ("preserve_crtimes", "flag"),
    "p": ("preserve_perms", "flag"),
    "E": ("preserve_executability", "flag"),
    "A": ("preserve_acls", "flag"),
    "X": ("preserve_xattrs", "count"),
    "r": ("recursive", "flag"),
    "c": ("always_checksum", "flag"),
    "C": ("cvs_exclude", "flag"),
    "I": ("ignore_times", "flag"),
    "R": ("relative", "flag"),
    "x": ("one_file_system", "count"),
    "S": ("sparse", "flag"),
    "z": ("compress", "flag"),
    "i": ("verbose", "ignore"),  # --itemize-changes is never sent, but be lenient
    "P": ("partial", "flag"),
    "F": ("verbose", "ignore"),  # -F becomes filter rules on the client side
}

# Long options: name -> (field, kind). Kinds: flag, noflag (sets False), int, str, list,
# count, delete (sets delete_mode to the value in field), ignore, ignore_value.
_LONG: Final[dict[str, tuple[str, str]]] = {
    "server": ("server", "flag"),
    "sender": ("sender", "flag"),
    "daemon": ("daemon", "flag"),
    "list-only": ("list_only", "flag"),
    "no-r": ("recursive", "noflag"),
    "no-recursive": ("recursive", "noflag"),
    "no-W": ("whole_file", "false"),
    "no-whole-file": ("whole_file", "false"),
    "whole-file": ("whole_file", "flag"),
    "compress-level": ("compress_level", "int"),
    "compress-threads": ("compress_threads", "int"),
    "zt": ("compress_threads", "int"),
    "specials": ("preserve_specials", "flag"),
    "no-specials": ("preserve_specials", "noflag"),
    "devices": ("preserve_devices", "flag"),
    "no-devices": ("preserve_devices", "noflag"),
    "log-format": ("log_format", "str"),
    "out-format": ("log_format", "str"),
    "msgs2stderr": ("msgs2stderr", "flag"),
    "no-msgs2stderr": ("msgs2stderr", "false"),
    "block-size": ("block_size", "blocksize"),
    "timeout": ("timeout", "int"),
    "contimeout": ("timeout", "ignore_value"),
    "bwlimit": ("bwlimit", "bwlimit"),
    "backup-dir": ("backup_dir", "str"),
    "suffix": ("suffix", "str"),
    "checksum-choice": ("checksum_choice", "str"),
    "cc": ("checksum_choice", "str"),
    "new-compress": ("compress_choice", "const:zlibx"),
    "old-compress": ("compress_choice", "const:zlib"),
    "compress-choice": ("compress_choice", "str"),
    "zc": ("compress_choice", "str"),
    "max-delete": ("max_delete", "int"),
    "min-size": ("min_size", "size"),
    "max-size": ("max_size", "size"),
    "delete": ("", "delete"),
    "del": ("during", "delete"),
    "delete-before": ("before", "delete"),
    "delete-during": ("during", "delete"),
    "delete-delay": ("delay", "delete"),
    "delete-after": ("after", "delete"),
    "delete-excluded": ("delete_excluded", "flag"),
    "force": ("force", "flag"),
    "super": ("verbose", "ignore"),
    "size-only": ("size_only", "flag"),
    "stats": ("stats", "flag"),
    "partial-dir": ("partial_dir", "str"),
    "delay-updates": ("delay_updates", "flag"),
    "partial": ("partial", "flag"),
    "ignore-existing": ("ignore_existing", "flag"),
    "existing": ("existing_only", "flag"),
    "ignore-non-existing": ("existing_only", "flag"),
    "temp-dir": ("temp_dir", "str"),
    "fsync": ("verbose", "ignore"),
    "inplace": ("inplace", "flag"),
    "append": ("append", "count"),
    "append-verify": ("append", "const:2"),
    "skip-compress": ("skip_compress", "str"),
    "ignore-missing-args": ("ignore_missing_args", "flag"),
    "delete-missing-args": ("delete_missing_args", "flag"),
    "max-alloc": ("max_alloc", "alloc"),
    "checksum-seed": ("checksum_seed", "int"),
    "protocol": ("protocol", "protocol"),
    "ignore-errors": ("ignore_errors", "flag"),
    "copy-unsafe-links": ("copy_unsafe_links", "flag"),
    "safe-links": ("safe_links", "flag"),
    "numeric-ids": ("numeric_ids", "flag"),
    "use-qsort": ("qsort", "flag"),
    "info": ("info", "list"),
    "debug": ("debug", "list"),
    "files-from": ("files_from", "str"),
    "from0": ("from0", "flag"),
    "no-relative": ("relative", "noflag"),
    "no-R": ("relative", "noflag"),
    "relative": ("relative", "flag"),
    "no-implied-dirs": ("implied_dirs", "noflag"),
    "open-noatime": ("open_noatime", "flag"),
    "modify-window": ("modify_window", "int"),
    "iconv": ("iconv", "str"),
    "protect-args": ("protect_args", "flag"),
    "secluded-args": ("protect_args", "flag"),
    "remove-source-files": ("remove_source_files", "flag"),
    "remove-sent-files": ("remove_source_files", "flag"),
    "copy-devices": ("verbose", "refuse"),
    "write-devices": ("verbose", "refuse"),
    "only-write-batch": ("verbose", "refuse"),
    "compare-dest": ("basis_dirs", "altdest"),
    "copy-dest": ("basis_dirs", "altdest"),
    "link-dest": ("basis_dirs", "altdest"),
    "usermap": ("verbose", "refuse_value"),
    "groupmap": ("verbose", "refuse_value"),
    "preallocate": ("verbose", "ignore"),
    "mkpath": ("verbose", "ignore"),
    "no-inc-recursive": ("verbose", "ignore"),
    "omit-dir-times": ("omit_dir_times", "flag"),
    "omit-link-times": ("omit_link_times", "flag"),
    "numeric-ids-only": ("numeric_ids", "flag"),
}

# The long names of the short flags above (a client sends the short form; -M passes on
# whatever the user typed, and rsync's server parser knows both).
_LONG_OF_SHORT: Final[dict[str, str]] = {
    "verbose": "v",
    "quiet": "q",
    "backup": "b",
    "update": "u",
    "dry-run": "n",
    "links": "l",
    "dirs": "d",
    "keep-dirlinks": "K",
    "prune-empty-dirs": "m",
    "fuzzy": "y",
    "copy-links": "L",
    "copy-dirlinks": "k",
    "hard-links": "H",
    "owner": "o",
    "group": "g",
    "times": "t",
    "atimes": "U",
    "crtimes": "N",
    "perms": "p",
    "executability": "E",
    "acls": "A",
    "xattrs": "X",
    "recursive": "r",
    "checksum": "c",
    "cvs-exclude": "C",
    "ignore-times": "I",
    "one-file-system": "x",
    "sparse": "S",
    "compress": "z",
    "itemize-changes": "i",
}

# Filter options a server applies as its own rules, before the client's list (rsync:
# options.c parse_arguments(), OPT_FILTER/OPT_EXCLUDE/OPT_INCLUDE): kept in order as
# (option name, value) in TransferOptions.server_rules.
_RULE_OPTIONS: Final = frozenset({"filter", "exclude", "include", "exclude-from", "include-from"})

# Short letters that take a value: -B2048, -B 2048, -e.iLsfx, -T dir, -@N, -M opt, -f rule
_SHORT_VALUE: Final = {
    "B": "block_size",
    "e": "capabilities",
    "T": "temp_dir",
    "@": "modify_window",
    "f": "server_rules",
}


def _unescape(value: str) -> str:
    """Remove the backslashes a client puts before shell and wildcard characters (3.5.0 rule)."""
    if "\\" not in value:
        return value
    out = []
    it = iter(value)
    for ch in it:
        if ch == "\\":
            out.append(next(it, "\\"))
        else:
            out.append(ch)
    return "".join(out)


_SIZE_MAX_HALF: Final = (1 << 63) - 1  # SIZE_MAX / 2 on a 64-bit host
_INT_MAX: Final = 0x7FFFFFFF
_UNIT_REPS: Final = {"b": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}
_NUMBER_PREFIX: Final = re.compile(r"[0-9]*(?:\.[0-9]*)?")
_STRTOD: Final = re.compile(
    r"[ \t\n\v\f\r]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan)",
    re.IGNORECASE,
)
_POPT_INT: Final = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]+")
MAX_DAEMON_ARGS: Final = 16000  # MAX_DAEMON_ARGS (argv[0] included): more is refused


def _big_num_human(num: int) -> str:
    """Rsync's do_big_num(num, 3, NULL): 1024-based units with two decimals."""
    if -1024 < num < 1024:
        return str(num)
    value = abs(num) / 1024
    unit = "K"
    for next_unit in "MGTP":
        if value < 1024:
            break
        value /= 1024
        unit = next_unit
    return f"{'-' if num < 0 else ''}{value:.2f}{unit}"


def _strtod(text: str) -> float:
    """C's ``strtod(text, NULL)``: the longest leading number, 0.0 when there is none."""
    m = _STRTOD.match(text)
    return float(m.group()) if m is not None else 0.0


def parse_size_arg(
    text: str,
    default_suffix: str,
    name: str,
    *,
    min_value: int,
    max_value: int = -1,
    unlimited_0: bool = False,
) -> int:
    """Parse a size the way rsync 3.5 does (``--max-size``, ``--bwlimit``, ``-B``, ...).

    A number (with an optional fraction) and an optional unit ``B K M G T P`` (1024-based,
    ``KB`` 1000-based, ``KiB`` 1024-based), then an optional ``+1``/``-1``. Nothing else:
    ``nan``, ``inf``, ``1e400`` or a sign in front are invalid; a value that overflows is
    too large.

    Args:
        text: the option's value.
        default_suffix: the unit of a bare number (``"b"`` for sizes, ``"K"`` for
            ``--bwlimit``).
        name: the option name, for messages.
        min_value: the smallest accepted value.
        max_value: the largest accepted value (-1: ``SIZE_MAX / 2``).
        unlimited_0: 0 is accepted below ``min_value`` (it means "no limit").

    Returns:
        The size in bytes.

    Raises:
        ArgumentError: with rsync's message (``--max-size=nan is invalid``).

    rsync: options.c parse_size_arg().
    """
    size_max = max_value if max_value >= 0 else _SIZE_MAX_HALF
    number = _NUMBER_PREFIX.match(text)
    pos = number.end() if number is not None else 0
    min_max = ""
    limit = -1
    err = "invalid"

    def failure() -> ArgumentError:
        msg = f"--{name}={text} is {err}"
        if min_max and limit >= 0:
            unlimited = " or 0 for unlimited" if unlimited_0 and min_max == "min" else ""
            msg += f" ({min_max}: {_big_num_human(limit)}{unlimited})"
        # rsync: snprintf() into its 200-byte err_buf, the newline included.
        return ArgumentError(msg[:198])

    rest = text[pos:]
    if rest and rest[0] not in "+-":
        suffix, rest = rest[0], rest[1:]
    else:
        suffix = default_suffix
    reps = _UNIT_REPS.get(suffix.lower())
    if reps is None:
        raise failure()
    if rest[:1] in ("b", "B"):
        mult, rest = 1000, rest[1:]
    elif not rest or rest[0] in "+-":
        mult = 1024
    elif rest[:2].lower() == "ib":
        mult, rest = 1024, rest[2:]
    else:
        raise failure()
    size = 1
    for _ in range(reps):
        if size > size_max // mult:
            err, min_max, limit = "too large", "max", max_value
            raise failure()
        size *= mult
    dsize = _strtod(text)
    if math.isnan(dsize):  # only "+nan"/"-nan" get here; rsync ends with "invalid" too
        raise failure()
    if (
        dsize < 0
        or math.isinf(dsize)
        or dsize > size_max / size
        or (max_value < 0 and dsize >= size_max / size)
    ):
        err, min_max, limit = "too large", "max", max_value
        raise failure()
    size = int(dsize * size)
    if rest[:2] in ("+1", "-1") and pos > 0:
        if rest[0] == "+":
            if size == size_max:
                err, min_max, limit = "too large", "max", max_value
                raise failure()
            size += 1
        else:
            size -= 1
        rest = rest[2:]
    if rest:
        raise failure()
    if size < 0 or (max_value >= 0 and size > max_value):
        err, min_max, limit = "too large", "max", max_value
        raise failure()
    if size < min_value and (not unlimited_0 or size != 0):
        err, min_max, limit = "too small", "min", min_value
        raise failure()
    return size


def parse_bwlimit(text: str) -> int:
    """``--bwlimit`` in bytes per second: a plain number is KiB/s; K, M, G suffixes as rsync.

    Returns 0 for "no limit".

    Raises:
        ArgumentError: not a rate, or below 512 bytes per second (rsync's message).

    rsync: options.c (OPT_BWLIMIT).
    """
    return parse_size_arg(text, "K", "bwlimit", min_value=512, unlimited_0=True)


def parse_max_alloc(text: str | None) -> int:
    """``--max-alloc`` in bytes (``None``: rsync's 1 GiB default; 0: no limit).

    Raises:
        ArgumentError: not a size, or below 1 MiB (rsync's message).

    rsync: options.c (max_alloc_arg).
    """
    if text is None:
        return DEFAULT_MAX_ALLOC
    size = parse_size_arg(text, "B", "max-alloc", min_value=1 << 20, unlimited_0=True)
    return size or _SIZE_MAX_HALF


def _popt_int(shown: str, value: str) -> int:
    """An ``int`` option as popt parses it (``strtol``, then the ``int`` range).

    Raises:
        ArgumentError: with popt's words ("invalid numeric value", "number too large or
            too small"), prefixed as rsync's server does.
    """
    if _POPT_INT.fullmatch(value) is None:
        msg = f"on remote machine: {shown}: invalid numeric value"
        raise ArgumentError(msg)
    digits = value.strip().lstrip("+-").lstrip("0")
    if len(digits) > 10 or not -_INT_MAX - 1 <= int(value) <= _INT_MAX:
        msg = f"on remote machine: {shown}: number too large or too small"
        raise ArgumentError(msg)
    return int(value)


def _set(
    opts: TransferOptions,
    field: str,
    kind: str,
    value: str | None,
    name: str,
    *,
    shown: str,
    max_blength: int,
) -> None:
    if kind == "flag":
        setattr(opts, field, True)
    elif kind == "noflag" or kind == "false":
        setattr(opts, field, False)
    elif kind == "count":
        setattr(opts, field, getattr(opts, field) + 1)
    elif kind == "devices":
        opts.preserve_devices = True
        opts.preserve_specials = True
    elif kind == "ignore" or kind == "ignore_value":
        pass
    elif kind == "altdest":
        # rsync: options.c (OPT_LINK_DEST & co; a sender has no use for them)
        if opts.alt_dest is not None and opts.alt_dest != name:
            msg = f"ERROR: the --{name} option conflicts with the --{opts.alt_dest} option"
            raise ArgumentError(msg)
        if len(opts.basis_dirs) >= 20:
            msg = f"ERROR: at most 20 --{name} args may be specified"
            raise ArgumentError(msg)
        opts.alt_dest = name
        opts.basis_dirs.append(value or "")
    elif kind in ("refuse", "refuse_value"):
        opts.refused.append(name)
    elif kind.startswith("const:"):
        const = kind[6:]
        setattr(opts, field, int(const) if const.isdigit() else const)
    elif kind == "delete":
        if field or opts.delete_mode is None:
            opts.delete_mode = field
    elif value is None:  # pragma: no cover - the caller gives every valued kind a value
        msg = f"option {shown} requires an argument"
        raise ArgumentError(msg)
    elif kind == "int":
        setattr(opts, field, _popt_int(shown, value))
    elif kind == "size":
        setattr(opts, field, parse_size_arg(value, "b", name, min_value=0))
    elif kind == "blocksize":
        opts.block_size = parse_size_arg(value, "b", name, min_value=0, max_value=max_blength)
    elif kind == "bwlimit":
        parse_bwlimit(value)  # rsync refuses a bad rate while parsing; keep the text
        opts.bwlimit = value
    elif kind == "alloc":
        opts.alloc_limit = parse_max_alloc(value)
        opts.max_alloc = value
    elif kind == "protocol":
        _check_protocol_option(_popt_int(shown, value))
        opts.refused.append(name)  # a server does not switch protocols on request
    elif kind == "str":
        setattr(opts, field, value)
    elif kind == "rule":
        opts.server_rules.append((name, value))
    elif kind == "list":
        getattr(opts, field).extend(v for v in value.split(",") if v)
    else:  # pragma: no cover - table error
        msg = f"bad option table kind {kind}"
        raise AssertionError(msg)


def _check_protocol_option(protocol: int) -> None:
    """rsync: compat.c setup_protocol() (the checks of a ``--protocol`` value)."""
    if protocol < MIN_PROTOCOL:
        msg = f"--protocol must be at least {MIN_PROTOCOL} on the Server."
        raise ArgumentError(msg, exit_code=ExitCode.PROTOCOL)
    if protocol > PROTOCOL_VERSION:
        msg = f"--protocol must be no more than {PROTOCOL_VERSION} on the Server."
        raise ArgumentError(msg, exit_code=ExitCode.PROTOCOL)


_TAKES_VALUE: Final = frozenset(
    {
        "int",
        "str",
        "list",
        "size",
        "blocksize",
        "bwlimit",
        "alloc",
        "protocol",
        "ignore_value",
        "refuse_value",
        "rule",
        "altdest",
    }
)


def parse_server_args(argv: Sequence[str | bytes], *, protocol: int | None = None) -> ServerArgs:
    """Parse a ``--server`` argument vector (without the program name).

    Everything before the lone ``.`` is an option; everything after it is a path. Option
    values lose the backslash escapes clients add (rsync 3.5.0 behaviour). Options that we
    recognise but do not implement are listed in ``options.refused`` for the caller to
    refuse with a message naming them. Every value is checked here, with rsync's messages
    (``--max-size=nan is invalid``, ``--timeout=x: invalid numeric value``), so that what
    parses is in range.

    Args:
        argv: the arguments.
        protocol: the protocol agreed in a daemon greeting (it sets the largest block
            size); ``None`` (remote shell: not known yet) means ours, as rsync's parser.

    Raises:
        ArgumentError: an unknown option, a missing value or a value out of range.
    """
    if len(argv) > MAX_DAEMON_ARGS - 2:  # rsync: io.c read_args()
        msg = "too many daemon arguments"
        raise ArgumentError(msg, exit_code=ExitCode.PROTOCOL)
    max_blength = (1 << 29) if (protocol or PROTOCOL_VERSION) < 30 else (1 << 17)
    args = [a.decode("utf-8", "surrogateescape") if isinstance(a, bytes) else a for a in argv]
    opts = TransferOptions()
    paths: list[bytes] = []
    i = 0
    n = len(args)
    while i < n:
        arg = args[i]
        i += 1
        if arg == ".":
            paths = [a.encode("utf-8", "surrogateescape") for a in args[i:]]
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            spec = _LONG.get(name)
            if spec is None and name in _LONG_OF_SHORT:
                spec = _SHORT[_LONG_OF_SHORT[name]]
            if spec is None and name in _RULE_OPTIONS:
                spec = ("server_rules", "rule")
            if spec is None:
                msg = f"unknown option: --{name}"
                raise ArgumentError(msg)
            field, kind = spec
            val: str | None = None
            if kind in _TAKES_VALUE:
                if eq:
                    val = value
                elif i < n:
                    val = args[i]
                    i += 1
                else:
                    msg = f"option --{name} requires an argument"
                    raise ArgumentError(msg)
                val = _unescape(val)
            elif eq:
                msg = f"option --{name} does not take an argument"
                raise ArgumentError(msg)
            shown = f"--{name}={value}" if eq else f"--{name}"
            _set(opts, field, kind, val, name, shown=shown, max_blength=max_blength)
            continue
        if arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                letter = arg[j]
                j += 1
                if letter in _SHORT_VALUE:
                    value = arg[j:]
                    if not value and letter != "e":
                        if i >= n:
                            msg = f"option -{letter} requires an argument"
                            raise ArgumentError(msg)
                        value = args[i]
                        i += 1
                    field = _SHORT_VALUE[letter]
                    if field == "block_size":
                        opts.block_size = parse_size_arg(
                            value, "b", "block-size", min_value=0, max_value=max_blength
                        )
                    elif field == "modify_window":
                        opts.modify_window = _popt_int(f"-{letter}", value)
                    elif field == "server_rules":
                        opts.server_rules.append(("filter", _unescape(value)))
                    else:
                        setattr(opts, field, value)
                    break
                spec = _SHORT.get(letter)
                if spec is None:
                    msg = f"unknown option: -{letter}"
                    raise ArgumentError(msg)
                _set(
                    opts,
                    spec[0],
                    spec[1],
                    None,
                    letter,
                    shown=f"-{letter}",
                    max_blength=max_blength,
                )
            continue
        # A bare word before "." : old clients may omit the placeholder; treat it as a path.
        paths = [a.encode("utf-8", "surrogateescape") for a in args[i - 1 :]]
        break
    return ServerArgs(opts, paths)


def build_server_args(opts: TransferOptions, paths: Sequence[str], *, protocol: int) -> list[str]:
    """Build the argument vector a client sends for ``opts`` (without the program name).

    rsync: options.c server_options().
    """
    args = ["--server"]
    if opts.sender:
        args.append("--sender")
    letters = []
    if opts.protect_args:
        letters.append("s")
    letters.append("v" * min(opts.verbose, 9))
    if opts.quiet:
        letters.append("q")
    if opts.backup:
        letters.append("b")
    if opts.dry_run:
        letters.append("n")
    if opts.preserve_links:
        letters.append("l")
    if opts.dirs or (opts.list_only and not opts.recursive):
        letters.append("d")
    if opts.sender:
        if opts.copy_links:
            letters.append("L")
        if opts.copy_dirlinks:
            letters.append("k")
    else:
        if opts.keep_dirlinks:
            letters.append("K")
        if opts.prune_empty_dirs:
            letters.append("m")
        if opts.omit_dir_times:
            letters.append("O")
        if opts.omit_link_times:
            letters.append("J")
        if opts.fuzzy:  # -yy means more only with basis dirs (options.c: basis_dir_cnt + 1)
            letters.append("yy" if opts.fuzzy > 1 and opts.basis_dirs else "y")
    if opts.whole_file:
        letters.append("W")
    letters.append("H" * min(opts.preserve_hard_links, 2))
    if opts.preserve_uid:
        letters.append("o")
    if opts.preserve_gid:
        letters.append("g")
    if opts.preserve_devices:
        letters.append("D")
    if opts.preserve_times:
        letters.append("t")
    if opts.preserve_perms:
        letters.append("p")
    elif opts.preserve_executability and not opts.sender:
        letters.append("E")
    if opts.recursive:
        letters.append("r")
    if opts.always_checksum:
        letters.append("c")
    if opts.cvs_exclude:
        letters.append("C")
    if opts.ignore_times:
        letters.append("I")
    if opts.relative:
        letters.append("R")
    letters.append("x" * min(opts.one_file_system, 2))
    if opts.sparse:
        letters.append("S")
    if opts.compress and opts.compress_choice in (None, "zlib"):
        letters.append("z")
    if protocol >= 30 and opts.capabilities is not None:
        letters.append("e" + opts.capabilities)
    cluster = "".join(letters)
    if cluster:
        args.append("-" + cluster)
    if opts.list_only:
        args.append("--list-only")
    if opts.preserve_devices != opts.preserve_specials:
        args.append("--specials" if opts.preserve_specials else "--no-specials")
    if opts.compress_level is not None and opts.compress:
        args.append(f"--compress-level={opts.compress_level}")
    if not opts.sender and opts.log_format is not None:
        # The receiving server must know that the client itemizes (its generator then
        # reports unchanged entries too); only "%i", "%i%I", "%o" or "X" are ever sent.
        args.append(f"--log-format={opts.log_format}")
    if opts.block_size:
        args.append(f"-B{opts.block_size}")
    if opts.timeout:
        args.append(f"--timeout={opts.timeout}")
    if opts.bwlimit:
        args.append(f"--bwlimit={opts.bwlimit}")
    if opts.backup_dir:
        args += ["--backup-dir", opts.backup_dir]
    if not opts.sender and opts.alt_dest:
        for path in opts.basis_dirs:  # only a receiving server needs them
            args += [f"--{opts.alt_dest}", path]
    if opts.suffix is not None and opts.suffix != ("" if opts.backup_dir else "~"):
        args.append(f"--suffix={opts.suffix}")  # only a value other than the default
    if opts.checksum_choice:
        args.append(f"--checksum-choice={opts.checksum_choice}")
    if opts.compress and opts.compress_choice == "zlib":
        args.append("--old-compress")  # an explicit zlib: the server must not negotiate
    elif opts.compress and opts.compress_choice is not None:
        args.append(f"--compress-choice={opts.compress_choice}")
    if not opts.sender:
        if opts.max_delete is not None:
            # rsync sends "no deletions at all" as -1 (a 0 would read as "no limit")
            args.append(f"--max-delete={opts.max_delete if opts.max_delete > 0 else -1}")
        if opts.min_size is not None:
            args.append(f"--min-size={opts.min_size}")
        if opts.max_size is not None:
            args.append(f"--max-size={opts.max_size}")
        if opts.delete_mode:
            args.append(f"--delete-{opts.delete_mode}")
        elif opts.delete_mode is not None and not opts.delete_excluded:
            args.append("--delete")
        if opts.delete_excluded:
            args.append("--delete-excluded")
        if opts.force:
            args.append("--force")
        if opts.size_only:
            args.append("--size-only")
        if opts.stats:
            args.append("--stats")
        if opts.partial_dir or opts.delay_updates:
            if opts.partial_dir:
                args += ["--partial-dir", opts.partial_dir]  # it implies --partial
            if opts.delay_updates:
                args.append("--delay-updates")
        elif opts.partial:
            args.append("--partial")
        if opts.ignore_existing:
            args.append("--ignore-existing")
        if opts.existing_only:
            args.append("--existing")
        if opts.temp_dir:
            args += ["--temp-dir", opts.temp_dir]
    if not opts.sender and opts.modify_window:
        args.append(f"--modify-window={opts.modify_window}")
    if opts.checksum_seed:
        args.append(f"--checksum-seed={opts.checksum_seed}")
    if opts.numeric_ids:
        args.append("--numeric-ids")
    if opts.ignore_errors:
        args.append("--ignore-errors")
    if opts.copy_unsafe_links:
        args.append("--copy-unsafe-links")
    if opts.safe_links:
        args.append("--safe-links")
    if opts.inplace:
        args.append("--inplace")
        if opts.sparse and opts.whole_file is False and not opts.sender:
            args.append("--no-W")  # rsync's workaround for old receivers of -S --inplace
    if opts.append:
        args.append("--append" if opts.append == 1 else "--append-verify")
    if opts.files_from is not None:
        args.append(
            "--files-from=-" if opts.files_from == "-" else f"--files-from={opts.files_from}"
        )
        if opts.from0:
            args.append("--from0")
    if not opts.implied_dirs and opts.relative:
        args.append("--no-implied-dirs")
    args.append(".")
    args.extend(paths)
    return args
