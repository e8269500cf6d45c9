"""Parse and build the ``--server`` argument vector (no I/O).

A client turns its options into the argument vector of docs/protocol.md §4.1
(the short-option cluster, ``-e.<capabilities>``, long options, ``.``, paths); a
server parses that vector back into :class:`~rsync_wire.proto.options.TransferOptions`.
Both directions live here so that they stay each other's inverse, and both are derived
from the one option table (:mod:`rsync_wire.proto.optable`): which names a server knows,
what each sets, and what a client writes, in which form and direction.

rsync: options.c server_options() (building) and parse_arguments() (parsing).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Final, NamedTuple

from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.proto.constants import PROTOCOL_VERSION
from rsync_wire.proto.optable import OPTIONS, Arg, Option, Send
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
        spelled: the long option names as the client wrote them (without ``--`` and
            value), in order: a refusal names the option the way it was written
            (``--zt``, not ``--compress-threads``), as rsync's popt entry does.
    """

    __slots__ = ("options", "paths", "spelled")

    def __init__(
        self, options: TransferOptions, paths: list[bytes], spelled: tuple[str, ...] = ()
    ) -> None:
        self.options = options
        self.paths = paths
        self.spelled = spelled


class _Kind(NamedTuple):
    """How a server sets one option: the field, the kind of setting, and its name."""

    field: str
    kind: str
    name: str  # the name refusals and messages use
    takes_value: bool = False


def _server_kinds() -> tuple[dict[str, _Kind], dict[str, _Kind], dict[str, _Kind]]:
    """The server's view of the option table: letters, long names, letters with a value.

    Every option a server parses comes from :data:`~rsync_wire.proto.optable.OPTIONS`:
    its long name, aliases and the name clients write map to ``(field, kind)``; rsync's
    ``--no-`` names map to ``(field, "negate")``; its letter (in a cluster) likewise.
    ``delete:MODE`` becomes ``(MODE, "delete")``.
    """
    short: dict[str, _Kind] = {}
    long: dict[str, _Kind] = {}
    short_value: dict[str, _Kind] = {}
    for option in OPTIONS:
        if not option.server:
            continue
        field, kind = option.sets, option.server
        if kind.startswith("delete"):
            field, kind = kind.partition(":")[2], "delete"
        takes = option.arg is not Arg.NONE
        for name in dict.fromkeys((option.long, option.wire_name, *option.aliases)):
            if name:
                long[name] = _Kind(field, kind, name, takes)
        for name in option.negations:
            off = "nodevices" if option.short == "D" else "negate"
            long[name] = _Kind(option.sets, off, name)
        if option.short:
            table = short_value if takes else short
            table[option.short] = _Kind(field, kind, option.name, takes)
    return short, long, short_value


_SHORT, _LONG, _SHORT_VALUE = _server_kinds()


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
    """``--max-alloc`` in bytes (``None``: rsync's 1 GiB default).

    Raises:
        ArgumentError: not a size, below 1 MiB, or 0 (rsync's messages: a server refuses
            ``--max-alloc=0`` as a client does).

    rsync: options.c (max_alloc_arg).
    """
    if text is None:
        return DEFAULT_MAX_ALLOC
    size = parse_size_arg(text, "B", "max-alloc", min_value=1 << 20, unlimited_0=True)
    if not size:
        msg = "max-alloc must be greater than zero"
        raise ArgumentError(msg)
    return size


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
    elif kind == "negate":
        setattr(opts, field, _off(field))
    elif kind == "count":
        setattr(opts, field, getattr(opts, field) + 1)
    elif kind == "devices":
        opts.preserve_devices = True
        opts.preserve_specials = True
    elif kind == "nodevices":
        opts.preserve_devices = False
        opts.preserve_specials = False
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
        # rsync's server announces this one and speaks at most it ("--rsync-path='rsync
        # --protocol=29'"); its range is checked once the versions are exchanged, as rsync
        # does (`rsync_wire.proto.negotiate.Negotiation`)
        opts.protocol = _popt_int(shown, value)
    elif kind == "str":
        setattr(opts, field, value)
    elif kind == "batch":
        # --only-write-batch: a server only learns that the data goes elsewhere; the
        # client writes the name as "X" (rsync: options.c server_options())
        setattr(opts, field, "X")
    elif kind == "rule":
        opts.server_rules.append((name, value))
    elif kind == "list":
        getattr(opts, field).extend(v for v in value.split(",") if v)
    else:  # pragma: no cover - table error
        msg = f"bad option table kind {kind}"
        raise AssertionError(msg)


_DEFAULTS: Final = TransferOptions()


def _off(field: str) -> object:
    """What rsync's ``--no-`` form sets: off for a switch, the default for a value.

    A switch whose default is "not said" (``whole_file``, ``msgs2stderr``) or on
    (``implied_dirs``) turns off.
    """
    default = getattr(_DEFAULTS, field)
    return False if default is None or isinstance(default, bool) else default


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
    spelled: list[str] = []
    i = 0
    n = len(args)
    while i < n:
        arg = args[i]
        i += 1
        if arg == ".":
            paths = [a.encode("utf-8", "surrogateescape") for a in args[i:]]
            break
        if arg == "--":
            # the end of the options (popt's); the first word after it stands for the
            # lone "." (rrsync writes "--", ".", PATHS...)
            paths = [a.encode("utf-8", "surrogateescape") for a in args[i + 1 :]]
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            spec = _LONG.get(name)
            if spec is None:
                msg = f"on remote machine: {arg}: unknown option"  # popt's words (rsync)
                raise ArgumentError(msg)
            field, kind = spec.field, spec.kind
            val: str | None = None
            if spec.takes_value:
                if eq:
                    val = value
                elif i < n:
                    val = args[i]
                    i += 1
                else:
                    msg = f"on remote machine: {arg}: missing argument"
                    raise ArgumentError(msg)
                val = _unescape(val)
            elif eq:
                msg = f"on remote machine: {arg}: option does not take an argument"
                raise ArgumentError(msg)
            shown = f"--{name}={value}" if eq else f"--{name}"
            spelled.append(name)
            _set(opts, field, kind, val, name, shown=shown, max_blength=max_blength)
            continue
        if arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                letter = arg[j]
                j += 1
                if letter == "e":  # -e.iLsfxCIvu: the client's capabilities (protocol 30+)
                    opts.capabilities = arg[j:]
                    break
                if letter in _SHORT_VALUE:
                    value = arg[j:]
                    if not value:
                        if i >= n:
                            msg = f"on remote machine: {arg}: missing argument"
                            raise ArgumentError(msg)
                        value = args[i]
                        i += 1
                    spec = _SHORT_VALUE[letter]
                    _set(
                        opts,
                        spec.field,
                        spec.kind,
                        _unescape(value),
                        spec.name,
                        shown=f"-{letter}",
                        max_blength=max_blength,
                    )
                    break
                spec = _SHORT.get(letter)
                if spec is None:
                    msg = f"on remote machine: {arg}: unknown option"
                    raise ArgumentError(msg)
                _set(
                    opts,
                    spec.field,
                    spec.kind,
                    None,
                    spec.name,
                    shown=f"-{letter}",
                    max_blength=max_blength,
                )
            continue
        # A bare word before "." : old clients may omit the placeholder; treat it as a path.
        paths = [a.encode("utf-8", "surrogateescape") for a in args[i - 1 :]]
        break
    if opts.append:
        opts.inplace = True  # rsync: options.c (append_mode implies inplace)
    if opts.preserve_acls:
        opts.preserve_perms = True  # rsync: options.c, case 'A' (-A implies -p)
    if opts.files_from is not None:
        # --files-from implies --dirs; rsync's client does not send -d for it, its server
        # infers it (rsync: options.c parse_arguments(), "if (files_from) ... xfer_dirs")
        opts.dirs = True
    return ServerArgs(opts, paths, tuple(dict.fromkeys(spelled)))


def _forward_value(option: Option, opts: TransferOptions) -> object:
    """The value a client forwards for ``option``, or ``None`` when it writes nothing.

    By default an option travels when its field differs from the default and is set
    (a ``--no-W`` stays home: old servers do not know it); ``Option.forward_if`` decides
    otherwise.
    """
    value = getattr(opts, option.sets)
    if option.forward_if is not None:
        return value if option.forward_if(opts) else None
    if value == getattr(_DEFAULTS, option.sets) or value is False:
        return None
    return value


def build_server_args(opts: TransferOptions, paths: Sequence[str], *, protocol: int) -> list[str]:
    """Build the argument vector a client sends for ``opts`` (without the program name).

    What is written, in which form, in which direction and in which order comes from
    :data:`~rsync_wire.proto.optable.OPTIONS`: the packed cluster of letters first, then
    ``-e`` with the capabilities (protocol 30 and later), then the long options.
    ``opts.sender`` says that the *server* sends (a pull).

    rsync: options.c server_options().
    """
    args = ["--server"]
    if opts.sender:
        args.append("--sender")
    client_sends = not opts.sender
    letters = []
    words: list[str] = []
    for option in OPTIONS:
        if not option.forwarded(client_sends=client_sends) or option.send is Send.VIA:
            continue
        if option.send is Send.CUSTOM:
            assert option.emit is not None  # noqa: S101 - the table gives every one a rule
            words += option.emit(opts)
            continue
        if option.send is Send.SHORT and option.emit is not None:
            letters += option.emit(opts)  # letters with a rule of their own (-yy)
            continue
        value = _forward_value(option, opts)
        if value is None:
            continue
        if option.send is Send.SHORT:
            count = value if type(value) is int else 1  # a counting letter repeats
            letters.append(option.short * min(count, option.repeat))
        elif option.send is Send.SHORT_ARG:
            words.append(f"-{option.short}{value}")
        elif option.send is Send.LONG:
            words.append(f"--{option.wire_name}")
        elif option.send is Send.EQUALS:
            words.append(f"--{option.wire_name}={value}")
        else:  # Send.SPLIT
            words += [f"--{option.wire_name}", str(value)]
    if protocol >= 30 and opts.capabilities is not None:
        letters.append("e" + opts.capabilities)
    cluster = "".join(letters)
    if cluster:
        args.append("-" + cluster)
    # --iconv goes right after the letters, before the cut of -s: a server needs it to
    # read the secluded arguments (rsync: options.c server_options())
    iconv = [w for w in words if w.startswith("--iconv=")]
    if iconv:
        args += iconv
        words = [w for w in words if not w.startswith("--iconv=")]
    args += words
    args += opts.remote_options  # -M: last, as given (rsync: server_options())
    args.append(".")
    args.extend(paths)
    return args
