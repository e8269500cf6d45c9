"""What a run is set up from, and what it ends with.

The client's filter list, the receiving side's settings, files named on the command
line, the arguments ``-s`` sends apart, and the run's result.

:mod:`rsync_client.session` (a transfer) and :mod:`rsync_client.batchrun` (a batch
read or written) both build on these; neither imports the other's.
"""

from __future__ import annotations

import os
import sys

from rsync_client.options import (
    ClientOptions,
    OptionError,
    itemizing,
    merge_file_names,
)
from rsync_client.safeopen import (
    UNTRUSTED_SYMLINK_MESSAGE,
    UntrustedSymlinkError,
    read_no_attacker_symlinks,
)
from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.proto.charset import charset_for
from rsync_wire.proto.constants import PROTOCOL_VERSION
from rsync_wire.proto.filters import F_OPTION_RULES, FilterError, FilterList, ReadFile
from rsync_wire.proto.outlevels import OutputLevels
from rsync_wire.roles.receiving import ReceiveConfig, ReceiveStats
from rsync_wire.roles.scan import cvsignore_sources

__all__ = [
    "RunResult",
    "build_filters",
    "current_umask",
    "read_arg_file",
    "receive_config",
    "secluded_split",
]


class RunResult:
    """The end of a run: the statistics (``None`` for a module listing) and the exit code."""

    def __init__(self, stats: ReceiveStats | None, exit_code: int, protocol: int) -> None:
        self.stats = stats
        self.exit_code = exit_code
        self.protocol = protocol


def read_arg_file(path: str, kind: str) -> bytes:
    """Read a file named on the command line (``-``: standard input), as rsync opens it.

    Args:
        path: the path as given.
        kind: ``"exclude"``, ``"include"`` or ``"files-from"`` (for the messages).

    Raises:
        RsyncError: rsync's message; exit code 11 for a filter file, 1 for ``--files-from``.
            A symlink owned by another user on the way is refused (rsync 3.5).

    rsync: exclude.c parse_filter_file(), options.c (--files-from);
    syscall.c open_no_attacker_symlinks().
    """
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        # rsync: options.c (--files-from opened with operator_path_resolve)
        return read_no_attacker_symlinks(path, confined=kind == "files-from")
    except OSError as exc:
        refusal = UNTRUSTED_SYMLINK_MESSAGE + "\n" if isinstance(exc, UntrustedSymlinkError) else ""
        if kind == "files-from":
            msg = f"{refusal}rsync: failed to open files-from file {path}: {exc.strerror}"
            raise OptionError(msg) from None
        reason = f"{exc.strerror} ({exc.errno})"
        msg = f"{refusal}rsync: [client] failed to open {kind} file {path}: {reason}"
        raise RsyncError(msg, exit_code=ExitCode.FILEIO) from None


def _merge_reader(opts: ClientOptions, failures: dict[str, OSError] | None = None) -> ReadFile:
    """The filter list's reader of ``.`` merge files named on the command line.

    While the list is built its root is the current directory (see
    :func:`build_filters`): it hands over a name below it relative to it, any other
    absolute name as given. A relative name that is one of the command line's absolute
    names is opened (and its failure recorded) under that name, as the message says it.
    """
    cwd = os.getcwdb()
    absolute = {
        os.fsencode(name)
        for kind, value in opts.filters
        if kind == "filter"
        for name in merge_file_names(value)
        if name.startswith("/")
    }

    def read(path: bytes) -> bytes | None:
        if path == b"-":
            return sys.stdin.buffer.read()
        if not path.startswith(b"/") and os.path.join(cwd, path) in absolute:
            path = os.path.join(cwd, path)
        name = os.fsdecode(path)
        try:
            return read_no_attacker_symlinks(name)
        except UntrustedSymlinkError as exc:
            reason = f"{exc.strerror} ({exc.errno})"
            msg = (
                f"{UNTRUSTED_SYMLINK_MESSAGE}\n"
                f"rsync: [client] failed to open exclude file {name}: {reason}"
            )
            raise RsyncError(msg, exit_code=ExitCode.FILEIO) from None
        except OSError as exc:
            if failures is not None:
                failures[name] = exc  # for the message (see build_filters)
            return None  # the list says "failed to open" (fatal for a command-line merge)

    return read


def build_filters(opts: ClientOptions, *, protocol: int = PROTOCOL_VERSION) -> FilterList:
    """The client's filter list, in command-line order.

    rsync: options.c (the filter options), exclude.c parse_filter_str().
    """
    failures: dict[str, OSError] = {}
    home_cvsignore, cvsignore_env = cvsignore_sources(daemon=False)
    fl = FilterList(
        protocol=protocol,
        delete_excluded=opts.delete_excluded,
        # the root names where the reader starts: a "." merge file named by an absolute
        # name, on the command line or in a merge file, is then read where it is
        root=os.getcwdb(),
        read_file=_merge_reader(opts, failures),
        from0=opts.from0,
        home_cvsignore=home_cvsignore,
        cvsignore_env=cvsignore_env,
    )
    _add_options(fl, opts, failures)
    fl.root = b"/"  # the transfer sets its own
    return fl


def _add_options(fl: FilterList, opts: ClientOptions, failures: dict[str, OSError]) -> None:
    f_count = 0
    # rsync's add_rule() lines (--debug=FILTER given before the rule): the caller prints them
    notes: list[str] = []
    debugged = set(opts.filters_debugged)
    for i, (kind, value) in enumerate(opts.filters):
        fl.debug_rules = notes if i in debugged else None
        raw = os.fsencode(value)
        if kind == "filter":
            try:
                fl.add_filter(raw)
            except FilterError as exc:
                raise _open_failure(exc, failures) from None
        elif kind == "exclude":
            fl.add_exclude(raw)
        elif kind == "include":
            fl.add_include(raw)
        elif kind == "exclude-from":
            fl.add_exclude_from(read_arg_file(value, "exclude"), name=value)
        elif kind == "include-from":
            fl.add_include_from(read_arg_file(value, "include"), name=value)
        elif kind == "F":
            if f_count < len(F_OPTION_RULES):
                fl.add_filter(F_OPTION_RULES[f_count])
            f_count += 1
    fl.debug_rules = notes
    # a relative partial dir (--delay-updates: .~tmp~) is never transferred itself, and
    # survives --delete only while its directory does (rsync: compat.c setup_protocol())
    pdir = opts.partial_dir or (".~tmp~" if opts.delay_updates and not opts.inplace else None)
    if pdir and not pdir.startswith("/"):
        fl.add_filter(b"-p " + os.fsencode(pdir).rstrip(b"/") + b"/")


def _open_failure(exc: FilterError, failures: dict[str, OSError]) -> RsyncError:
    """A merge file named on the command line that did not open, in rsync's words.

    rsync: exclude.c parse_filter_file() (rsyserr(FERROR, "failed to open %s file %s")).
    """
    text = str(exc)
    prefix, _, name = text.partition(" file ")
    cause = failures.get(name)
    if not prefix.startswith("failed to open") or cause is None:
        return exc
    msg = f"rsync: [client] {text}: {cause.strerror} ({cause.errno})"
    return RsyncError(msg, exit_code=ExitCode.FILEIO)


def current_umask() -> int:
    """This process's umask (read by setting it and back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def receive_config(
    opts: ClientOptions, filters: FilterList, requested: list[bytes] | None, *, local: bool
) -> ReceiveConfig:
    """The receiving side's settings for this command line (``local``: a local copy)."""
    whole = opts.whole_file if opts.whole_file is not None else local
    return ReceiveConfig(
        filters=filters,
        requested=requested,
        itemize=itemizing(opts),
        verbose=opts.verbose,
        quiet=opts.quiet,
        list_only=opts.list_only_effective,
        whole_file=whole,
        max_delete=opts.max_delete,
        progress=opts.progress_level > 0,
        names=opts.progress,
        sender_progress=local,  # rsync's client sends a local copy
        role_prefix="server " if local else "",  # rsync's local copy forks a server
        charset=None if local else charset_for(opts.iconv, server=False),
        log_after_data=_has_sum_escape(opts.out_format) or _has_sum_escape(opts.log_file_format),
        umask=current_umask(),
        out=OutputLevels.build(
            verbose=opts.verbose - opts.verbose_from_info,
            info=opts.info,
            debug=opts.debug,
            stats=opts.stats,
        ),
    )


def _has_sum_escape(fmt: str | None) -> bool:
    """Whether a format shows ``%C`` (its line then waits for the file's data)."""
    from rsync_client.logformat import log_format_has

    return fmt is not None and log_format_has(fmt, "C")


def secluded_split(args: list[str]) -> tuple[list[str], list[str]]:
    """``-s``: what the command line (or a daemon's first list) keeps, and the rest.

    The command line keeps ``--server``, ``--sender``, the option letters and ``--iconv``;
    the rest (other long options, ``.``, the paths) is sent apart.

    rsync: options.c server_options() (the NULL after the letters: "unprotected args
    stop here").
    """
    cut = 1
    if cut < len(args) and args[cut] == "--sender":
        cut += 1
    if cut < len(args) and args[cut].startswith("-") and not args[cut].startswith("--"):
        cut += 1
    if cut < len(args) and args[cut].startswith("--iconv="):
        cut += 1
    return args[:cut], args[cut:]
