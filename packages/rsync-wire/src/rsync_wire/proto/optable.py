"""The one table of rsync's options: what each is, how it travels, and who implements it.

Every option of rsync 3.5's command line (rsync: options.c long_options[]) has one
:class:`Option` record here, plus the few pyrsync adds (``--sandbox``). A record says:

* its names: rsync's long name, its short letter, further long names (``--cc``), and
  the ``--no-`` names rsync's table lists for it;
* the kind of its argument (none, an integer, a size, a string);
* what it sets: the :class:`~rsync_wire.proto.options.TransferOptions` field (or
  ``""`` for a client-only setting such as ``--rsh``), and how a server's parser sets
  that field from it;
* how a client forwards it to the server (a letter in the packed cluster, ``--long``,
  ``--long=ARG``, ``--long ARG``, a rule of its own, or not at all), whether only when
  the client sends (a push) or receives (a pull), and the lowest protocol it needs;
* which roles implement it: the client as sender (a push), the client as receiver (a
  pull), a local copy, a server that sends and a server that receives (an upload).

Everything else is derived from this table: the client's parser and its refusals
(``rsync_client.cli``), the server-argument builder and parser
(:mod:`rsync_wire.proto.args`), and the server's refusals
(:mod:`rsync_wire.roles.server_options`). An option is implemented by a role or refused
by it, never accepted and ignored; tests walk the table to prove it.

The records of forwarded options come first, in the order a client writes them (rsync:
options.c server_options()); that order is also the order in which a server names the
first refused option.

To implement an option in a role: add the role to its record (and, for the client, its
rule in ``rsync_client.cli._APPLY``); the walk tests (rsync-wire's test_optable.py,
rsync-client's test_optable_client.py) then check that it parses, travels and is no
longer refused there.

Pure data and lookups; no I/O.

rsync: options.c long_options[], server_options(), parse_arguments().
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final, NamedTuple

from rsync_wire.proto.charset import remote_iconv

if TYPE_CHECKING:
    from collections.abc import Callable

    from rsync_wire.proto.options import TransferOptions

__all__ = [
    "ALL_ROLES",
    "CLIENT_ROLES",
    "NO_ROLE",
    "OPTIONS",
    "SERVER_ROLES",
    "Arg",
    "Option",
    "Role",
    "Send",
    "When",
    "by_long",
    "by_short",
    "client_roles_text",
    "negations",
]


class Arg(enum.Enum):
    """The kind of an option's argument (rsync: popt's ``argInfo``)."""

    NONE = "none"
    INT = "int"  # POPT_ARG_INT: strtol, a C int
    SIZE = "size"  # a size with units (parse_size_arg())
    STR = "str"  # POPT_ARG_STRING


class Role(enum.Flag):
    """Who carries out an option."""

    CLIENT_SENDER = enum.auto()  # pyrsync pushing
    CLIENT_RECEIVER = enum.auto()  # pyrsync pulling
    LOCAL = enum.auto()  # pyrsync copying locally (both ends in one program)
    SERVER_SENDER = enum.auto()  # a server that sends (serving a pull)
    SERVER_RECEIVER = enum.auto()  # a server that receives (an upload)


NO_ROLE: Final = Role(0)
CLIENT_ROLES: Final = Role.CLIENT_SENDER | Role.CLIENT_RECEIVER | Role.LOCAL
SERVER_ROLES: Final = Role.SERVER_SENDER | Role.SERVER_RECEIVER
ALL_ROLES: Final = CLIENT_ROLES | SERVER_ROLES
_ROLE_TEXT: Final = {
    Role.CLIENT_SENDER: "a remote destination",
    Role.CLIENT_RECEIVER: "a remote source",
    Role.LOCAL: "a local copy",
}


def client_roles_text(role: Role) -> str:
    """How a client's refusal names the role: ``"... is not supported by pyrsync for X"``."""
    return _ROLE_TEXT[role]


class Send(enum.Enum):
    """How a client forwards an option to the server (rsync: options.c server_options())."""

    NEVER = "never"  # the client acts on it alone, or no server needs it
    SHORT = "short"  # a letter in the packed cluster (``-vlogDtpr``), repeated for counts
    SHORT_ARG = "short-arg"  # its own word, ``-B2048``
    LONG = "long"  # ``--long``
    EQUALS = "equals"  # ``--long=ARG``
    SPLIT = "split"  # ``--long`` ``ARG`` (two words: the shell may expand ``~``)
    CUSTOM = "custom"  # a rule of its own (``Option.emit``)
    VIA = "via"  # written by the record ``Option.via`` names (``--del`` by ``--delete``)


class When(enum.Flag):
    """In which direction a client forwards an option."""

    SENDING = enum.auto()  # the client sends: a push (the server receives)
    RECEIVING = enum.auto()  # the client receives: a pull (the server sends)
    ALWAYS = SENDING | RECEIVING


class Option(NamedTuple):
    """One rsync option (see the module docstring).

    Attributes:
        long: rsync's long name without ``--`` (``""`` for ``-D``, ``-F``, ``-P``).
        short: its short letter, or ``""``.
        arg: the kind of its argument.
        sets: the TransferOptions field it sets (``""``: a client-only setting).
        server: how a server's parser sets ``sets`` (``flag``, ``count``, ``int``, ``str``,
            ``size``, ...; see :mod:`rsync_wire.proto.args`), ``""`` if a server does not
            know the option (an unknown option there), ``refuse`` if it knows and refuses.
        send: how a client forwards it.
        when: in which direction it is forwarded.
        protocol: the lowest protocol it works with.
        roles: the roles that implement it.
        aliases: further long names for the same option (``cc`` for ``checksum-choice``).
        negations: rsync's ``--no-`` names for it (``no-perms``, ``no-p``).
        default_on: the option is on by default, so that a negation changes behaviour.
        exact: a module's ``refuse options`` matches it only by its exact name.
        wire: the long name a client writes, when not ``long`` (``log-format``).
        repeat: how many times a counting letter is repeated at most in the cluster.
        forward_if: when the client writes it (default: when ``sets`` is set).
        emit: the words of a ``Send.CUSTOM`` option (the letters of a ``Send.SHORT`` one
            with a rule of its own).
        via: the record whose ``emit`` writes this option (``Send.VIA``).
        used: whether a server's parsed options show the client used it (default:
            ``sets`` differs from its default).
        unsupported_use: a use of it that no role implements, refused as the option
            itself.
        refuse_also: further names a module's ``refuse options`` matches it by (``D``
            for ``--devices`` and ``--specials``; rsync: same_refuse_action()).
    """

    long: str
    short: str = ""
    arg: Arg = Arg.NONE
    sets: str = ""
    server: str = ""
    send: Send = Send.NEVER
    when: When = When.ALWAYS
    protocol: int = 27
    roles: Role = NO_ROLE
    aliases: tuple[str, ...] = ()
    negations: tuple[str, ...] = ()
    default_on: bool = False
    exact: bool = False
    wire: str = ""
    repeat: int = 1
    forward_if: Callable[[TransferOptions], bool] | None = None
    emit: Callable[[TransferOptions], list[str]] | None = None
    via: str = ""
    used: Callable[[TransferOptions], bool] | None = None
    unsupported_use: Callable[[TransferOptions], bool] | None = None
    refuse_also: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The name a message gives: the long name, else the letter."""
        return self.long or self.short

    @property
    def wire_name(self) -> str:
        """The long name a client writes."""
        return self.wire or self.long

    @property
    def client(self) -> bool:
        """Whether some client role implements it (else the client refuses it outright)."""
        return bool(self.roles & CLIENT_ROLES)

    def forwarded(self, *, client_sends: bool) -> bool:
        """Whether a client in this direction forwards it at all."""
        if self.send is Send.NEVER:
            return False
        return bool(self.when & (When.SENDING if client_sends else When.RECEIVING))


def _no(*names: str) -> tuple[str, ...]:
    return tuple(f"no-{n}" for n in names)


def _delete_emit(o: TransferOptions) -> list[str]:
    words = []
    if o.delete_mode:
        words.append(f"--delete-{o.delete_mode}")
    elif o.delete_mode is not None and not o.delete_excluded:
        words.append("--delete")
    if o.delete_excluded:
        words.append("--delete-excluded")
    return words


def _specials_emit(o: TransferOptions) -> list[str]:
    # -D in the cluster stands for both; only a difference travels (rsync: server_options())
    if o.preserve_devices == o.preserve_specials:
        return []
    return ["--specials" if o.preserve_specials else "--no-specials"]


def _compress_choice_emit(o: TransferOptions) -> list[str]:
    if not o.compress or o.compress_choice is None:
        return []
    if o.compress_choice == "zlib":
        return ["--old-compress"]  # an explicit zlib: the server must not negotiate
    return [f"--compress-choice={o.compress_choice}"]


def _info_emit(o: TransferOptions) -> list[str]:
    """rsync: options.c server_options() (make_output_option() of the server's items)."""
    from rsync_wire.proto.outlevels import forwarded_info

    word = forwarded_info(o.info, client_sends=not o.sender)
    return [word] if word else []


def _max_delete_emit(o: TransferOptions) -> list[str]:
    if o.max_delete is None:
        return []
    # rsync sends "no deletions at all" as -1 (a 0 would read as "no limit")
    return [f"--max-delete={o.max_delete if o.max_delete > 0 else -1}"]


def _suffix_emit(o: TransferOptions) -> list[str]:
    # only a value other than the default (rsync: server_options())
    if o.suffix is None or o.suffix == ("" if o.backup_dir else "~"):
        return []
    return [f"--suffix={o.suffix}"]


def _partial_emit(o: TransferOptions) -> list[str]:
    # --delay-updates implies a partial dir (rsync: options.c server_options())
    if o.partial_dir or o.delay_updates:
        words = ["--partial-dir", o.partial_dir] if o.partial_dir else []  # implies --partial
        return words + (["--delay-updates"] if o.delay_updates else [])
    return ["--partial"] if o.partial else []


def _fuzzy_letters(o: TransferOptions) -> list[str]:
    # -yy means more than -y only with basis dirs (rsync: fuzzy_basis = basis_dir_cnt + 1)
    if not o.fuzzy:
        return []
    return ["yy" if o.fuzzy > 1 and o.basis_dirs else "y"]


def _inplace_emit(o: TransferOptions) -> list[str]:
    if not o.inplace or o.append:
        return []  # --append says it (rsync: options.c server_options())
    # rsync's workaround for old receivers of --sparse --inplace (options.c server_options())
    old_receiver_fix = o.sparse and o.whole_file is False and not o.sender
    return ["--inplace", "--no-W"] if old_receiver_fix else ["--inplace"]


def _alt_dest_emit(o: TransferOptions) -> list[str]:
    words = []
    if o.alt_dest:
        for path in o.basis_dirs:  # only a receiving server needs them
            words += [f"--{o.alt_dest}", path]
    return words


def _append_emit(o: TransferOptions) -> list[str]:
    if not o.append:
        return []
    return ["--append" if o.append == 1 else "--append-verify"]


def _only_write_batch_emit(o: TransferOptions) -> list[str]:
    # the receiver only needs to know: the data goes to the batch (rsync: server_options())
    return ["--only-write-batch=X"] if o.only_write_batch is not None else []


def _iconv_emit(o: TransferOptions) -> list[str]:
    return [] if o.iconv is None else [f"--iconv={remote_iconv(o.iconv)}"]


def _files_from_emit(o: TransferOptions) -> list[str]:
    if o.files_from is None:
        return []
    words = ["--files-from=-" if o.files_from == "-" else f"--files-from={o.files_from}"]
    if o.from0:
        words.append("--from0")
    return words


def _delete_used(mode: str) -> Callable[[TransferOptions], bool]:
    return lambda o: o.delete_mode == mode


def _alt_used(kind: str) -> Callable[[TransferOptions], bool]:
    return lambda o: o.alt_dest == kind


_CS = Role.CLIENT_SENDER
_CR = Role.CLIENT_RECEIVER
_LC = Role.LOCAL
_SS = Role.SERVER_SENDER
_SR = Role.SERVER_RECEIVER
_CLI = CLIENT_ROLES
_SRV = SERVER_ROLES
_ALL = ALL_ROLES
_SEND = When.SENDING
_RECV = When.RECEIVING
_O = Option
# fmt: off
OPTIONS: Final[tuple[Option, ...]] = (
    # -- the packed cluster, in the order a client writes it (rsync: server_options()) --
    _O("secluded-args", "s", sets="protect_args", server="flag", send=Send.SHORT, roles=_ALL,
       aliases=("protect-args",), exact=True,
       negations=(*_no("secluded-args", "protect-args"), "no-s")),
    _O("verbose", "v", sets="verbose", server="count", send=Send.SHORT, repeat=9, roles=_ALL,
       negations=_no("verbose", "v")),
    _O("quiet", "q", sets="quiet", server="flag", send=Send.SHORT, roles=_ALL),
    _O("backup", "b", sets="backup", server="flag", send=Send.SHORT, roles=_ALL,
       negations=_no("backup")),
    _O("update", "u", sets="update_only", server="flag", send=Send.SHORT, roles=_ALL),
    _O("dry-run", "n", sets="dry_run", server="flag", send=Send.SHORT, roles=_ALL,
       exact=True),
    _O("links", "l", sets="preserve_links", server="flag", send=Send.SHORT, roles=_ALL,
       negations=_no("links", "l")),
    _O("dirs", "d", sets="dirs", server="flag", send=Send.SHORT, roles=_ALL,
       negations=_no("dirs", "d"),
       forward_if=lambda o: o.dirs or (o.list_only and not o.recursive)),
    _O("copy-links", "L", sets="copy_links", server="flag", send=Send.SHORT, when=_RECV,
       roles=_ALL),
    _O("copy-dirlinks", "k", sets="copy_dirlinks", server="flag", send=Send.SHORT, when=_RECV,
       roles=_ALL),
    _O("keep-dirlinks", "K", sets="keep_dirlinks", server="flag", send=Send.SHORT, when=_SEND,
       roles=_ALL),
    _O("prune-empty-dirs", "m", sets="prune_empty_dirs", server="flag", send=Send.SHORT,
       when=_SEND, protocol=29, roles=_ALL, negations=_no("prune-empty-dirs", "m")),
    _O("omit-dir-times", "O", sets="omit_dir_times", server="flag", send=Send.SHORT, when=_SEND,
       roles=_ALL, negations=_no("omit-dir-times", "O")),
    _O("omit-link-times", "J", sets="omit_link_times", server="flag", send=Send.SHORT,
       when=_SEND, roles=_ALL, negations=_no("omit-link-times", "J")),
    _O("fuzzy", "y", sets="fuzzy", server="count", send=Send.SHORT, when=_SEND, repeat=2,
       protocol=29, roles=_ALL, negations=_no("fuzzy", "y"), emit=_fuzzy_letters),
    _O("whole-file", "W", sets="whole_file", server="flag", send=Send.SHORT, roles=_ALL,
       negations=_no("whole-file", "W"), used=lambda o: o.whole_file is True),
    _O("hard-links", "H", sets="preserve_hard_links", server="count", send=Send.SHORT,
       repeat=2, roles=_ALL, negations=_no("hard-links", "H")),
    _O("owner", "o", sets="preserve_uid", server="flag", send=Send.SHORT, roles=_ALL,
       negations=_no("owner", "o")),
    _O("group", "g", sets="preserve_gid", server="flag", send=Send.SHORT, roles=_ALL,
       negations=_no("group", "g")),
    _O("", "D", sets="preserve_devices", server="devices", send=Send.SHORT, roles=_ALL,
       negations=("no-D",)),
    _O("times", "t", sets="preserve_times", server="flag", send=Send.SHORT, roles=_ALL,
       negations=_no("times", "t")),
    _O("atimes", "U", sets="preserve_atimes", server="count", send=Send.SHORT, repeat=2,
       roles=_ALL, negations=_no("atimes", "U")),
    # Linux cannot set a creation time: refused as rsync built there refuses it
    # (PLATFORM_REFUSALS)
    _O("crtimes", "N", sets="preserve_crtimes", server="flag", send=Send.SHORT,
       negations=_no("crtimes", "N")),
    _O("perms", "p", sets="preserve_perms", server="flag", send=Send.SHORT, roles=_ALL,
       negations=_no("perms", "p")),
    _O("executability", "E", sets="preserve_executability", server="flag", send=Send.SHORT,
       when=_SEND, roles=_ALL,
       forward_if=lambda o: o.preserve_executability and not o.preserve_perms),
    _O("acls", "A", sets="preserve_acls", server="flag", send=Send.SHORT, protocol=30,
       roles=_ALL, negations=_no("acls", "A")),
    _O("xattrs", "X", sets="preserve_xattrs", server="count", send=Send.SHORT, repeat=2,
       protocol=30, roles=_ALL, negations=_no("xattrs", "X")),
    _O("recursive", "r", sets="recursive", server="flag", send=Send.SHORT, roles=_ALL,
       negations=_no("recursive", "r")),
    _O("checksum", "c", sets="always_checksum", server="flag", send=Send.SHORT, roles=_ALL,
       negations=_no("checksum", "c")),
    _O("cvs-exclude", "C", sets="cvs_exclude", server="flag", send=Send.SHORT, roles=_ALL),
    _O("ignore-times", "I", sets="ignore_times", server="flag", send=Send.SHORT, roles=_ALL),
    _O("relative", "R", sets="relative", server="flag", send=Send.SHORT, roles=_ALL,
       negations=_no("relative", "R")),
    _O("one-file-system", "x", sets="one_file_system", server="count", send=Send.SHORT,
       repeat=2, roles=_ALL, negations=_no("one-file-system", "x")),
    _O("sparse", "S", sets="sparse", server="flag", send=Send.SHORT, roles=_ALL,
       negations=_no("sparse", "S")),
    _O("compress", "z", sets="compress", server="flag", send=Send.SHORT, roles=_ALL,
       negations=_no("compress", "z"),
       forward_if=lambda o: o.compress and o.compress_choice in (None, "zlib")),
    # -- long options, in the order a client writes them --
    _O("list-only", sets="list_only", server="flag", send=Send.LONG,
       roles=_CR | _LC | _SRV),
    _O("devices", sets="preserve_devices", server="flag", send=Send.VIA, via="specials",
       roles=_ALL, negations=_no("devices"), refuse_also=("D",)),
    _O("specials", sets="preserve_specials", server="flag", send=Send.CUSTOM, roles=_ALL,
       negations=_no("specials"), emit=_specials_emit, refuse_also=("D",)),
    _O("compress-level", arg=Arg.INT, sets="compress_level", server="int", send=Send.EQUALS,
       roles=_ALL, aliases=("zl",), forward_if=lambda o: o.compress_level is not None
       and o.compress),
    _O("out-format", arg=Arg.STR, sets="log_format", server="str", send=Send.EQUALS,
       when=_SEND, roles=_ALL, aliases=("log-format",), exact=True, wire="log-format"),
    _O("block-size", "B", arg=Arg.SIZE, sets="block_size", server="blocksize",
       send=Send.SHORT_ARG, roles=_ALL),
    _O("timeout", arg=Arg.INT, sets="timeout", server="int", send=Send.EQUALS, roles=_ALL,
       negations=_no("timeout")),
    _O("bwlimit", arg=Arg.SIZE, sets="bwlimit", server="bwlimit", send=Send.EQUALS,
       roles=_ALL, negations=_no("bwlimit")),
    _O("backup-dir", arg=Arg.STR, sets="backup_dir", server="str", send=Send.SPLIT,
       roles=_ALL),
    _O("compare-dest", arg=Arg.STR, sets="basis_dirs", server="altdest", send=Send.CUSTOM,
       when=_SEND, roles=_ALL, emit=_alt_dest_emit, used=_alt_used("compare-dest")),
    _O("copy-dest", arg=Arg.STR, sets="basis_dirs", server="altdest", send=Send.VIA,
       via="compare-dest", when=_SEND, roles=_ALL, used=_alt_used("copy-dest")),
    _O("link-dest", arg=Arg.STR, sets="basis_dirs", server="altdest", send=Send.VIA,
       via="compare-dest", when=_SEND, roles=_ALL, used=_alt_used("link-dest")),
    _O("suffix", arg=Arg.STR, sets="suffix", server="str", send=Send.CUSTOM, roles=_ALL,
       emit=_suffix_emit),
    _O("checksum-choice", arg=Arg.STR, sets="checksum_choice", server="str",
       send=Send.EQUALS, roles=_ALL, aliases=("cc",)),
    _O("compress-choice", arg=Arg.STR, sets="compress_choice", server="str",
       send=Send.CUSTOM, roles=_ALL, aliases=("zc",), emit=_compress_choice_emit),
    _O("old-compress", sets="compress_choice", server="const:zlib", send=Send.VIA,
       via="compress-choice", roles=_ALL),
    _O("new-compress", sets="compress_choice", server="const:zlibx", send=Send.VIA,
       via="compress-choice", roles=_ALL),
    _O("max-delete", arg=Arg.INT, sets="max_delete", server="int", send=Send.CUSTOM,
       when=_SEND, roles=_ALL, emit=_max_delete_emit),
    _O("min-size", arg=Arg.SIZE, sets="min_size", server="size", send=Send.EQUALS,
       when=_SEND, roles=_ALL),
    _O("max-size", arg=Arg.SIZE, sets="max_size", server="size", send=Send.EQUALS,
       when=_SEND, roles=_ALL),
    _O("delete", sets="delete_mode", server="delete", send=Send.CUSTOM, when=_SEND,
       roles=_ALL, emit=_delete_emit, used=lambda o: o.delete_mode is not None),
    _O("delete-before", sets="delete_mode", server="delete:before", send=Send.VIA,
       via="delete", when=_SEND, roles=_ALL, used=_delete_used("before")),
    _O("delete-during", sets="delete_mode", server="delete:during", send=Send.VIA,
       via="delete", when=_SEND, roles=_ALL, aliases=("del",), used=_delete_used("during")),
    _O("delete-delay", sets="delete_mode", server="delete:delay", send=Send.VIA,
       via="delete", when=_SEND, roles=_ALL, used=_delete_used("delay")),
    _O("delete-after", sets="delete_mode", server="delete:after", send=Send.VIA,
       via="delete", when=_SEND, roles=_ALL, used=_delete_used("after")),
    _O("delete-excluded", sets="delete_excluded", server="flag", send=Send.VIA, via="delete",
       when=_SEND, roles=_ALL),
    _O("force", sets="force", server="flag", send=Send.LONG, when=_SEND, roles=_ALL,
       negations=_no("force")),
    _O("super", sets="super_user", server="flag", send=Send.LONG, when=_SEND, roles=_ALL,
       negations=_no("super"), forward_if=lambda o: bool(o.super_user)),
    _O("size-only", sets="size_only", server="flag", send=Send.LONG, when=_SEND, roles=_ALL),
    _O("stats", sets="stats", server="flag", send=Send.LONG, when=_SEND, roles=_ALL),
    _O("partial", sets="partial", server="flag", send=Send.CUSTOM, when=_SEND, roles=_ALL,
       negations=_no("partial"), emit=_partial_emit),
    _O("partial-dir", arg=Arg.STR, sets="partial_dir", server="str", send=Send.VIA,
       via="partial", when=_SEND, roles=_ALL),
    _O("delay-updates", sets="delay_updates", server="flag", send=Send.VIA, via="partial",
       when=_SEND, roles=_ALL, negations=_no("delay-updates")),
    _O("usermap", arg=Arg.STR, sets="usermap", server="str", send=Send.EQUALS, when=_SEND,
       roles=_ALL),
    _O("groupmap", arg=Arg.STR, sets="groupmap", server="str", send=Send.EQUALS, when=_SEND,
       roles=_ALL),
    _O("ignore-existing", sets="ignore_existing", server="flag", send=Send.LONG, when=_SEND,
       roles=_ALL),
    _O("existing", sets="existing_only", server="flag", send=Send.LONG, when=_SEND,
       roles=_ALL, aliases=("ignore-non-existing",)),
    _O("temp-dir", "T", arg=Arg.STR, sets="temp_dir", server="str", send=Send.SPLIT,
       when=_SEND, roles=_ALL),
    _O("modify-window", "@", arg=Arg.INT, sets="modify_window", server="int",
       send=Send.EQUALS, when=_SEND, roles=_ALL),
    _O("checksum-seed", arg=Arg.INT, sets="checksum_seed", server="int", send=Send.EQUALS,
       roles=_ALL, exact=True),
    _O("numeric-ids", sets="numeric_ids", server="flag", send=Send.LONG, roles=_ALL,
       negations=_no("numeric-ids")),
    _O("ignore-errors", sets="ignore_errors", server="flag", send=Send.LONG, roles=_ALL,
       negations=_no("ignore-errors")),
    _O("copy-unsafe-links", sets="copy_unsafe_links", server="flag", send=Send.LONG,
       roles=_ALL),
    _O("safe-links", sets="safe_links", server="flag", send=Send.LONG, roles=_ALL),
    # the --info items the user set that the server's side prints (never --debug)
    _O("info", arg=Arg.STR, sets="info", server="list", send=Send.CUSTOM, roles=_ALL,
       emit=_info_emit),
    _O("inplace", sets="inplace", server="flag", send=Send.CUSTOM, roles=_ALL,
       negations=_no("inplace"), emit=_inplace_emit),
    _O("append", sets="append", server="count", send=Send.CUSTOM, roles=_ALL,
       negations=_no("append"), emit=_append_emit, used=lambda o: o.append == 1),
    _O("append-verify", sets="append", server="const:2", send=Send.VIA, via="append",
       roles=_ALL, used=lambda o: o.append == 2),
    _O("files-from", arg=Arg.STR, sets="files_from", server="str", send=Send.CUSTOM,
       roles=_ALL, emit=_files_from_emit),
    _O("from0", "0", sets="from0", server="flag", send=Send.VIA, via="files-from",
       roles=_ALL, exact=True, negations=_no("from0")),
    _O("implied-dirs", sets="implied_dirs", server="flag", send=Send.CUSTOM, roles=_ALL,
       aliases=("i-d",), negations=_no("implied-dirs", "i-d"), default_on=True,
       emit=lambda o: ["--no-implied-dirs"] if not o.implied_dirs and o.relative else [],
       used=lambda o: not o.implied_dirs),
    # only a limit other than the default (rsync: server_options())
    _O("max-alloc", arg=Arg.SIZE, sets="max_alloc", server="alloc", send=Send.EQUALS,
       roles=_ALL, forward_if=lambda o: o.max_alloc is not None and o.alloc_limit != 1 << 30),
    # -- what a client does not forward (or forwards only through -M) --
    _O("help", roles=_CLI),
    _O("version", "V", roles=_CLI),
    _O("debug", arg=Arg.STR, sets="debug", server="list", roles=_ALL),
    _O("stderr", arg=Arg.STR, roles=_CLI),  # the client's --msgs2stderr said another way
    # said either way when the user said it (rsync: server_options())
    _O("msgs2stderr", sets="msgs2stderr", server="flag", send=Send.CUSTOM, roles=_ALL,
       negations=_no("msgs2stderr"), used=lambda o: o.msgs2stderr is not None,
       emit=lambda o: [] if o.msgs2stderr is None
       else ["--msgs2stderr" if o.msgs2stderr else "--no-msgs2stderr"]),
    _O("motd", roles=_CLI, negations=_no("motd"), default_on=True),
    _O("human-readable", "h", roles=_CLI, negations=_no("human-readable", "h")),
    _O("archive", "a", roles=_CLI),
    # the client drops the "i" of -e instead of forwarding it; a server told
    # --no-inc-recursive (rsync's clients never do, raw ones may) recurses in one list
    _O("inc-recursive", sets="inc_recursive", server="flag", roles=_ALL, protocol=30,
       aliases=("i-r",), negations=_no("inc-recursive", "i-r"), default_on=True,
       used=lambda o: not o.inc_recursive),
    _O("old-dirs", aliases=("old-d",), roles=_CLI),  # -r with "- /*/*" (rsync: options.c)
    # forwarded unless -UU says it (rsync: server_options(); -UU implies it)
    _O("open-noatime", sets="open_noatime", server="flag", send=Send.LONG, roles=_ALL,
       negations=_no("open-noatime"),
       forward_if=lambda o: o.open_noatime and o.preserve_atimes <= 1),
    _O("fake-super", sets="fake_super", server="flag", roles=_ALL),
    # the sender reads a device's contents as a file's; forwarded when the server sends
    _O("copy-devices", sets="copy_devices", server="flag", send=Send.LONG, when=_RECV,
       roles=_CLI | _SS),
    # the receiver writes into an existing device (it implies --inplace); forwarded to a
    # receiving server (rsync: server_options())
    _O("write-devices", sets="write_devices", server="flag", send=Send.LONG, when=_SEND,
       roles=_CLI | _SR, negations=_no("write-devices")),
    _O("drop-D", sets="drop_devices", server="flag", roles=_SRV, negations=_no("drop-D")),
    _O("confine-root", arg=Arg.STR, sets="confine_root", server="str", roles=_SRV | _LC),
    # local only: never forwarded, and a daemon never takes it (rsync: options.c)
    # a server started over a remote shell takes it as its own (never forwarded); a daemon
    # refuses it (rsync: options.c, the hard refusal beside "refuse options")
    _O(
        "insecure-links",
        sets="insecure_links",
        server="flag",
        roles=_ALL,
        negations=_no("insecure-links"),
    ),
    _O("munge-links", sets="munge_links", server="flag", roles=_ALL,
       negations=_no("munge-links")),
    _O("chmod", arg=Arg.STR, sets="chmod", server="list", roles=_ALL),
    # only a receiving server needs it (rsync: server_options(), am_sender)
    _O("preallocate", sets="preallocate", server="flag", send=Send.LONG, when=_SEND,
       roles=_ALL),
    _O("delete-missing-args", sets="delete_missing_args", server="flag", send=Send.LONG,
       roles=_ALL),
    _O("ignore-missing-args", sets="ignore_missing_args", server="flag", send=Send.LONG,
       when=_RECV, roles=_ALL,
       forward_if=lambda o: o.ignore_missing_args and not o.delete_missing_args),
    _O("remove-source-files", sets="remove_source_files", server="flag", send=Send.LONG,
       roles=_ALL, aliases=("remove-sent-files",)),
    _O("filter", "f", arg=Arg.STR, sets="server_rules", server="rule", roles=_ALL),
    _O("", "F", roles=_CLI),
    _O("exclude", arg=Arg.STR, sets="server_rules", server="rule", roles=_ALL),
    _O("include", arg=Arg.STR, sets="server_rules", server="rule", roles=_ALL),
    _O("exclude-from", arg=Arg.STR, sets="server_rules", server="rule", roles=_ALL),
    _O("include-from", arg=Arg.STR, sets="server_rules", server="rule", roles=_ALL),
    # the sender sends matching files at zlib level 0 (rsync_wire.proto.skipcompress);
    # rsync's client forwards it when the server sends
    _O("skip-compress", arg=Arg.STR, sets="skip_compress", server="str", send=Send.EQUALS,
       when=_RECV, roles=_ALL),
    _O("compress-threads", arg=Arg.INT, sets="compress_threads", server="int", roles=_ALL,
       aliases=("zt",)),
    _O("", "P", sets="partial", server="flag", roles=_ALL),
    _O("progress", roles=_CLI, negations=_no("progress")),
    # a server takes them with -M (a remote-shell server; a daemon refuses them)
    _O("log-file", arg=Arg.STR, sets="log_file", server="str", roles=_CLI | _SRV),
    _O("log-file-format", arg=Arg.STR, sets="log_file_format", server="str",
       roles=_CLI | _SRV),
    _O("itemize-changes", "i", server="refuse", roles=_CLI,
       negations=_no("itemize-changes", "i")),
    _O("read-batch", arg=Arg.STR, roles=_LC),
    _O("write-batch", arg=Arg.STR, roles=_CLI),
    _O("only-write-batch", arg=Arg.STR, sets="only_write_batch", server="batch",
       send=Send.CUSTOM, when=_SEND, emit=_only_write_batch_emit, roles=_CLI | _SR),
    _O("old-args", roles=_CLI, negations=_no("old-args")),
    _O("trust-sender", roles=_CLI),  # the client's receiver: no checks of the list's names
    _O("chown", arg=Arg.STR, roles=_CLI),  # the client makes it --usermap/--groupmap
    _O("contimeout", arg=Arg.INT, server="refuse_value", roles=_CLI,
       negations=_no("contimeout")),
    _O("fsync", sets="fsync", server="flag", send=Send.LONG, when=_SEND, roles=_ALL),
    _O("stop-after", arg=Arg.STR, aliases=("time-limit",), roles=_CLI),
    _O("stop-at", arg=Arg.STR, roles=_CLI),
    _O("rsh", "e", arg=Arg.STR, roles=_CLI),
    _O("rsync-path", arg=Arg.STR, roles=_CLI),
    # the client forwards only the server's half (rsync: options.c server_options())
    _O("iconv", arg=Arg.STR, sets="iconv", server="str", send=Send.CUSTOM, emit=_iconv_emit,
       roles=_ALL, exact=True, negations=_no("iconv")),
    _O("ipv4", "4", roles=_CLI),
    _O("ipv6", "6", roles=_CLI),
    _O("8-bit-output", "8", roles=_CLI, negations=_no("8-bit-output", "8")),
    _O("mkpath", sets="mkpath", server="flag", send=Send.LONG, when=_SEND, roles=_ALL,
       negations=_no("mkpath")),
    # rsync 3.5's client forwards it as --use-qsort, which its own server refuses: kept
    # to the client here (it only turns incremental recursion off; the order is the same)
    _O("qsort", sets="qsort", server="flag", roles=_ALL, wire="use-qsort"),
    # not forwarded: each side switches itself (a server takes it with -M)
    _O("copy-as", arg=Arg.STR, sets="copy_as", server="str", roles=_ALL),
    _O("address", arg=Arg.STR, roles=_CLI),  # the client's daemon socket binds to it
    _O("port", arg=Arg.INT, roles=_CLI),
    _O("sockopts", arg=Arg.STR, roles=_CLI),
    _O("password-file", arg=Arg.STR, roles=_CLI),
    _O("early-input", arg=Arg.STR, roles=_CLI),
    _O("blocking-io", roles=_CLI, negations=_no("blocking-io")),
    _O("outbuf", arg=Arg.STR, roles=_CLI),
    # written by the builder after every other option (rsync: server_options())
    _O("remote-option", "M", arg=Arg.STR, roles=_CLI),
    _O("protocol", arg=Arg.INT, server="protocol", roles=_ALL),  # a server speaks at most N
    _O("server", sets="server", server="flag", roles=_SRV, exact=True),
    _O("sender", sets="sender", server="flag", roles=_SRV, exact=True),
    # these switch rsync to its daemon's command line (a server runs pyrsyncd for them)
    _O("daemon", sets="daemon", server="flag", roles=_SRV, exact=True),
    _O("config", arg=Arg.STR),
    _O("dparam", arg=Arg.STR),
    _O("detach", negations=_no("detach"), default_on=True),
    # pyrsync's own: Landlock confinement of the client (on by default)
    _O("sandbox", roles=_CLI, negations=_no("sandbox"), default_on=True),
)
"""Every option (see the module docstring)."""
# fmt: on


def _index() -> tuple[dict[str, Option], dict[str, Option], dict[str, Option]]:
    longs: dict[str, Option] = {}
    shorts: dict[str, Option] = {}
    negs: dict[str, Option] = {}
    for option in OPTIONS:
        for name in (option.long, *option.aliases):
            if name:
                if name in longs:  # pragma: no cover - table error
                    msg = f"option table: --{name} twice"
                    raise AssertionError(msg)
                longs[name] = option
        if option.short:
            if option.short in shorts:  # pragma: no cover - table error
                msg = f"option table: -{option.short} twice"
                raise AssertionError(msg)
            shorts[option.short] = option
        for name in option.negations:
            negs[name] = option
    return longs, shorts, negs


_BY_LONG, _BY_SHORT, _NEGATIONS = _index()


def by_long(name: str) -> Option | None:
    """The option with this long name or alias (without ``--``), or ``None``."""
    return _BY_LONG.get(name)


def by_short(letter: str) -> Option | None:
    """The option with this short letter, or ``None``."""
    return _BY_SHORT.get(letter)


def negations() -> dict[str, Option]:
    """Rsync's ``--no-`` names (without ``--``) and the option each negates."""
    return dict(_NEGATIONS)
