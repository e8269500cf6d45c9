"""The one table of what this server does with each option a client can send it.

Every option that changes what a server does appears here once, with rsync's long and
short names, how to tell from the parsed options that the client used it, and whether this
server implements it. From the table come both refusals:

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

from typing import TYPE_CHECKING, Final, NamedTuple

from rsync_wire.proto.wildmatch import wildmatch

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from rsync_wire.proto.options import TransferOptions

__all__ = ["SERVER_OPTIONS", "ServerOption", "refused_by_module", "unimplemented"]


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

    def works(self, *, receiving: bool) -> bool:
        """Whether this server does what the option asks, in the role it plays."""
        if receiving and self.receives is not None:
            return self.receives
        return self.implemented


def _delete(mode: str) -> Callable[[TransferOptions], bool]:
    return lambda o: o.delete_mode == mode


_O = ServerOption
SERVER_OPTIONS: Final[tuple[ServerOption, ...]] = (
    # The short options first, in the order rsync's client writes them (options.c
    # server_options()), so that the first refused one named is the one rsync names.
    _O("dry-run", "n", lambda o: o.dry_run, exact=True),
    _O("links", "l", lambda o: o.preserve_links),
    _O("dirs", "d", lambda o: o.dirs),
    _O("copy-links", "L", lambda o: o.copy_links),
    _O("copy-dirlinks", "k", lambda o: o.copy_dirlinks),
    _O("whole-file", "W", lambda o: o.whole_file is True),
    _O("hard-links", "H", lambda o: bool(o.preserve_hard_links)),
    _O("owner", "o", lambda o: o.preserve_uid),
    _O("group", "g", lambda o: o.preserve_gid),
    _O("devices", "", lambda o: o.preserve_devices, also=("D",)),
    _O("specials", "", lambda o: o.preserve_specials, also=("D",)),
    _O("times", "t", lambda o: o.preserve_times),
    _O("atimes", "U", lambda o: bool(o.preserve_atimes), implemented=False),
    _O("crtimes", "N", lambda o: o.preserve_crtimes, implemented=False),
    _O("perms", "p", lambda o: o.preserve_perms),
    _O("acls", "A", lambda o: o.preserve_acls, implemented=False),
    _O("xattrs", "X", lambda o: bool(o.preserve_xattrs), implemented=False),
    _O("recursive", "r", lambda o: o.recursive),
    _O("checksum", "c", lambda o: o.always_checksum),
    _O("cvs-exclude", "C", lambda o: o.cvs_exclude),
    _O("relative", "R", lambda o: o.relative),
    _O("one-file-system", "x", lambda o: bool(o.one_file_system)),
    _O("compress", "z", lambda o: o.compress),
    # long options
    _O("no-implied-dirs", "", lambda o: not o.implied_dirs),
    _O("copy-unsafe-links", "", lambda o: o.copy_unsafe_links),
    _O("safe-links", "", lambda o: o.safe_links),
    _O("numeric-ids", "", lambda o: o.numeric_ids),
    _O("list-only", "", lambda o: o.list_only),
    # --files-from=- (names from the client) is implemented, a server-side file is not
    _O("files-from", "", lambda o: o.files_from == "-"),
    _O(
        "files-from",
        "",
        lambda o: o.files_from is not None and o.files_from != "-",
        implemented=False,
    ),
    _O("ignore-missing-args", "", lambda o: o.ignore_missing_args),
    _O("delete-missing-args", "", lambda o: o.delete_missing_args, implemented=False),
    _O("use-qsort", "", lambda o: o.qsort),
    _O("open-noatime", "", lambda o: o.open_noatime),
    _O("checksum-choice", "", lambda o: o.checksum_choice is not None, also=("cc",)),
    _O("checksum-seed", "", lambda o: bool(o.checksum_seed), exact=True),
    _O("compress-choice", "", lambda o: o.compress_choice is not None, also=("zc",)),
    _O("compress-level", "", lambda o: o.compress_level is not None),
    # zstd's worker threads: this sender compresses in one thread, and the stream is the
    # same zstd format whatever the count (rsync: token.c, ZSTD_c_nbWorkers)
    _O("compress-threads", "", lambda o: o.compress_threads is not None, also=("zt",)),
    _O("skip-compress", "", lambda o: o.skip_compress is not None),
    _O("inplace", "", lambda o: o.inplace),
    _O("append", "", lambda o: o.append == 1),
    _O("append-verify", "", lambda o: o.append == 2),
    _O("block-size", "B", lambda o: bool(o.block_size)),
    _O("bwlimit", "", lambda o: o.bwlimit is not None),
    _O("timeout", "", lambda o: bool(o.timeout)),
    _O("remove-source-files", "", lambda o: o.remove_source_files, also=("remove-sent-files",)),
    _O("out-format", "", lambda o: o.log_format is not None, exact=True, also=("log-format",)),
    _O("iconv", "", lambda o: o.iconv is not None, implemented=False, exact=True),
    # deletion (a pull sends none of these to the server)
    _O("delete", "", lambda o: o.delete_mode is not None),
    _O("delete-before", "", _delete("before")),
    _O("delete-during", "", _delete("during"), also=("del",)),
    _O("delete-delay", "", _delete("delay")),
    _O("delete-after", "", _delete("after")),
    _O("delete-excluded", "", lambda o: o.delete_excluded),
    # what only a receiver acts on (a sending server has nothing to do for them, as rsync's)
    _O("backup", "b", lambda o: o.backup),
    _O("backup-dir", "", lambda o: o.backup_dir is not None),
    _O("suffix", "", lambda o: o.suffix is not None),
    _O("update", "u", lambda o: o.update_only),
    _O("existing", "", lambda o: o.existing_only, also=("ignore-non-existing",)),
    _O("ignore-existing", "", lambda o: o.ignore_existing),
    _O("ignore-times", "I", lambda o: o.ignore_times),
    _O("size-only", "", lambda o: o.size_only),
    _O("modify-window", "@", lambda o: bool(o.modify_window)),
    _O("max-delete", "", lambda o: o.max_delete is not None),
    _O("max-size", "", lambda o: o.max_size is not None),
    _O("min-size", "", lambda o: o.min_size is not None),
    _O("force", "", lambda o: o.force),
    _O("ignore-errors", "", lambda o: o.ignore_errors),
    _O("partial", "", lambda o: o.partial),
    _O("partial-dir", "", lambda o: o.partial_dir is not None),
    _O("delay-updates", "", lambda o: o.delay_updates),
    _O("temp-dir", "T", lambda o: o.temp_dir is not None),
    _O("sparse", "S", lambda o: o.sparse),
    _O("fuzzy", "y", lambda o: bool(o.fuzzy)),
    _O("prune-empty-dirs", "m", lambda o: o.prune_empty_dirs, receives=False),
    _O("keep-dirlinks", "K", lambda o: o.keep_dirlinks, receives=False),
    _O("omit-dir-times", "O", lambda o: o.omit_dir_times),
    _O("omit-link-times", "J", lambda o: o.omit_link_times),
    _O("executability", "E", lambda o: o.preserve_executability),
    _O("compare-dest", "", lambda o: o.alt_dest == "compare-dest"),
    _O("copy-dest", "", lambda o: o.alt_dest == "copy-dest"),
    _O("link-dest", "", lambda o: o.alt_dest == "link-dest"),
)
"""Every option the server acts on (see the module docstring)."""


def refuse_message(option: ServerOption, *, daemon: bool) -> str:
    """Rsync's words for a refused option (without the ``rsync: `` prefix).

    rsync: options.c create_refuse_error().
    """
    text = "The server is configured to refuse" if daemon else "The server does not support"
    text += f" --{option.long}"
    if option.short:
        text += f" (-{option.short})"
    return text


def unimplemented(opts: TransferOptions, *, receiving: bool = False) -> ServerOption | None:
    """The first option the client used that this server does not implement in its role."""
    for option in SERVER_OPTIONS:
        if not option.works(receiving=receiving) and option.used(opts):
            return option
    return None


def _matches(pattern: str, option: ServerOption) -> bool:
    names = (option.long, *option.also)
    if option.short:
        names += (option.short,)
    return any(wildmatch(pattern.encode(), name.encode()) for name in names)


def refused_by_module(opts: TransferOptions, patterns: Iterable[str]) -> ServerOption | None:
    """The first option the client used that the module's ``refuse options`` refuse.

    Patterns apply in order, a later one overriding an earlier one: a plain pattern
    refuses, ``!pattern`` accepts again. Wildcards (``*?[``) never touch exact-only
    options. ``a`` or ``archive`` stands for ``[ardlptgoD]``, and ``delete`` refuses every
    deletion mode.

    rsync: options.c set_refuse_options(), parse_one_refuse_match().
    """
    words = [w for p in patterns for w in p.split()]
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
    delete_refused = any(refused.get(k) for k, o in enumerate(SERVER_OPTIONS) if o.long == "delete")
    for k, option in enumerate(SERVER_OPTIONS):
        if not option.used(opts):
            continue
        if refused.get(k):
            return option
    if delete_refused and opts.delete_mode is not None:
        return next(o for o in SERVER_OPTIONS if o.long == "delete")
    return None
