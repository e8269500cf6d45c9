"""The client's options and the source/destination arguments, as values (no I/O).

:class:`ClientOptions` holds everything ``pyrsync``'s command line (or the Python
API's keyword arguments) can say; :meth:`ClientOptions.transfer_options` turns it
into the :class:`~rsync_wire.proto.options.TransferOptions` the wire layer sends
and obeys. :func:`parse_location` tells ``rsync://host/mod/path``,
``host::mod/path``, ``host:path`` and local paths apart, as rsync does.

rsync: options.c (the option variables), main.c check_for_hostspec(),
start_client().
"""

from __future__ import annotations

import os

import msgspec

from rsync_wire.errors import ExitCode, RsyncError, UnsupportedError
from rsync_wire.proto.optable import OPTIONS, Role, client_roles_text
from rsync_wire.proto.options import TransferOptions

__all__ = [
    "ClientOptions",
    "Location",
    "OptionError",
    "check_role",
    "merge_file_names",
    "parse_location",
    "role_refusal",
]


class OptionError(RsyncError):
    """A command line (or API call) rsync would refuse with a syntax error.

    Attributes:
        bare: the message is printed as it is, without rsync's ``rsync: `` prefix (as
            rsync prints "Empty source arg specified.").
    """

    exit_code = ExitCode.SYNTAX
    bare = False


class ClientOptions(msgspec.Struct, kw_only=True):
    """What the user asked for; names follow rsync's long options.

    ``filters`` keeps ``--filter``/``--exclude``/``--include``/``--exclude-from``/
    ``--include-from``/``-F``/``-C`` in command-line order, as ``(kind, value)``.
    """

    verbose: int = 0
    quiet: bool = False
    recursive: bool = False
    explicit_recursive: bool = False  # -r itself, not only -a (--files-from keeps only -r)
    dirs: bool = False
    old_dirs: bool = False  # --old-dirs, until the options are all read (then -r, a filter)
    fsync: bool = False  # --fsync: the receiver syncs each file it writes
    qsort: bool = False  # --qsort: no incremental recursion (rsync: compat.c)
    links: bool = False
    copy_links: bool = False
    copy_dirlinks: bool = False
    perms: bool = False
    executability: bool = False
    times: bool = False
    xattrs: int = 0  # -X (twice: rsync's own rsync.%FOO attributes too)
    acls: bool = False  # -A (implies -p)
    fake_super: bool = False  # --fake-super
    atimes: int = 0  # -U (twice: --open-noatime too)
    open_noatime: bool = False
    group: bool = False
    owner: bool = False
    devices: bool = False
    specials: bool = False
    hard_links: bool = False
    compress: bool = False
    compress_choice: str | None = None
    compress_level: int | None = None
    checksum: bool = False
    checksum_choice: str | None = None
    checksum_seed: int = 0
    ignore_times: bool = False
    size_only: bool = False
    update: bool = False
    backup: bool = False
    inplace: bool = False
    partial_dir: str | None = None
    temp_dir: str | None = None
    delay_updates: bool = False
    sparse: bool = False
    preallocate: bool = False
    fuzzy: int = 0
    backup_dir: str | None = None
    suffix: str | None = None
    alt_dest: str | None = None
    basis_dirs: list[str] = msgspec.field(default_factory=list)
    dry_run: bool = False
    whole_file: bool | None = None
    omit_dir_times: bool = False
    omit_link_times: bool = False
    partial: bool = False
    progress: bool = False  # --progress/-P: names, file-list counts, progress level 1
    progress2: bool = False
    info_progress: int | None = None  # --info=progressN as given (it beats --progress)
    delete: bool = False
    delete_before: bool = False
    delete_during: bool = False
    delete_after: bool = False
    delete_delay: bool = False
    delete_excluded: bool = False
    force: bool = False
    max_delete: int | None = None
    ignore_errors: bool = False
    filters: list[tuple[str, str]] = msgspec.field(default_factory=list)
    # the indexes of the filter options given after a --debug word that set FILTER (rsync
    # says add_rule()'s caution only for those: -v sets the levels after all options)
    filters_debugged: list[int] = msgspec.field(default_factory=list)
    rsh: str | None = None
    rsync_path: str = "rsync"
    copy_as: str | None = None  # --copy-as=USER[:GROUP] (rsync_wire.copy_as)
    iconv: str | None = None  # --iconv=LOCAL,REMOTE (rsync_wire.proto.charset)
    port: int | None = None
    password_file: str | None = None
    protocol: int | None = None
    numeric_ids: bool = False
    list_only: bool = False
    stats: bool = False
    itemize_changes: int = 0
    timeout: int = 0
    super: bool | None = None  # --super / --no-super
    usermap: str | None = None
    groupmap: str | None = None
    chown: str | None = None  # as given; it sets usermap/groupmap
    chown_maps: tuple[bool, bool] = (False, False)  # which maps --chown made
    chmod: list[str] = msgspec.field(default_factory=list)  # --chmod values, in order
    append: int = 0  # --append 1, --append-verify 2
    out_format: str | None = None  # --out-format (--log-format)
    log_file: str | None = None  # --log-file=FILE (the client's own log)
    log_file_format: str | None = None  # --log-file-format (None: "%i %n%L")
    early_input: str | None = None  # --early-input=FILE (to a daemon's early exec)
    protect_args: bool | None = None  # -s/--secluded-args (None: $RSYNC_PROTECT_ARGS decides)
    insecure_links: bool = False  # --insecure-links: named paths follow any symlink (local)
    old_args: int | None = None  # --old-args, counted (None: $RSYNC_OLD_ARGS decides)
    max_alloc: str | None = None  # --max-alloc (or RSYNC_MAX_ALLOC) as given
    alloc_limit: int = 1 << 30  # its value in bytes (rsync: DEFAULT_MAX_ALLOC)
    debug: list[str] = msgspec.field(default_factory=list)  # --debug values, in order
    info: list[str] = msgspec.field(default_factory=list)  # --info values, in order
    verbose_from_info: int = 0  # how much --info=nameN raised verbose (not a -v: not sent)
    safe_links: bool = False
    copy_unsafe_links: bool = False
    munge_links: bool = False
    remote_option: list[str] = msgspec.field(default_factory=list)  # -M, in order
    bwlimit: int = 0  # KiB per second, as rsync rounds it (0: no limit)
    contimeout: int = 0
    motd: bool = True
    sandbox: bool = True  # Landlock once connected; --no-sandbox turns it off
    max_size: int | None = None
    min_size: int | None = None
    human_readable: int = 1
    ignore_existing: bool = False
    existing: bool = False
    block_size: int = 0
    modify_window: int = 0
    eight_bit_output: bool = False
    ipv4: bool = False
    ipv6: bool = False
    cvs_exclude: bool = False
    files_from: str | None = None
    from0: bool = False
    write_batch: str | None = None  # --write-batch=FILE
    only_write_batch: str | None = None  # --only-write-batch=FILE
    read_batch: str | None = None  # --read-batch=FILE
    confine_root: str | None = None  # --confine-root=DIR (a local copy's sender stays in it)
    raw_argv: list[str] = msgspec.field(default_factory=list)  # for FILE.sh
    cooked_args: list[str] = msgspec.field(default_factory=list)
    one_file_system: int = 0  # -x (twice: mount-point directories are left out too)
    relative: bool = False  # -R (implied by --files-from)
    implied_dirs: bool = True  # --no-implied-dirs turns it off
    keep_dirlinks: bool = False  # -K
    mkpath: bool = False
    remove_source_files: bool = False
    prune_empty_dirs: bool = False  # -m
    delete_missing_args: bool = False
    stop_at: float | None = None  # --stop-at/--stop-after: when to give up (epoch seconds)
    ignore_missing_args: bool = False
    list_only_implied: bool = False
    address: str | None = None  # --address: the local address a daemon socket binds to
    sockopts: str | None = None  # --sockopts: rsync's socket option list
    outbuf: str | None = None  # --outbuf=N|L|B: standard output's buffering
    skip_compress: str | None = None  # --skip-compress=LIST
    compress_threads: int | None = None  # --compress-threads/--zt: zstd workers of our sender
    write_devices: bool = False  # --write-devices: write into existing devices (in place)
    copy_devices: bool = False  # --copy-devices: a device's contents sent as a file's
    trust_sender: bool = False  # --trust-sender: the receiver does not check the list's names
    msgs2stderr: bool | None = None  # --msgs2stderr / --no-msgs2stderr (None: not said)
    inc_recursive: bool = True  # --no-inc-recursive: a pushing client offers no ``i``

    @property
    def progress_level(self) -> int:
        """Rsync's ``--info=progress`` level: as given, else 1 with ``--progress``.

        rsync: options.c (``--progress`` adds ``PROGRESS`` at the default priority).
        """
        if self.info_progress is not None:
            return self.info_progress
        return 1 if self.progress else 0

    @property
    def list_only_effective(self) -> bool:
        """``--list-only`` given, or implied by a remote source without a destination."""
        return self.list_only or self.list_only_implied

    @property
    def delete_mode(self) -> str | None:
        """The wire layer's delete mode: ``None``, ``""`` (plain), before/during/delay/after."""
        if self.delete_before:
            return "before"
        if self.delete_after:
            return "after"
        if self.delete_delay:
            return "delay"
        if self.delete_during:
            return "during"
        if self.delete or self.delete_excluded:
            return ""
        return None

    def transfer_options(self, *, sender: bool = True, local: bool = False) -> TransferOptions:
        """The options both sides of a pull obey (``sender``: the peer sends).

        Args:
            sender: the remote side is the sender (false for a push).
            local: a local copy (whole files by default, as rsync does).
        """
        list_only = self.list_only_effective
        whole = self.whole_file
        if whole is None:
            whole = local
        compress = self.compress or self.compress_choice is not None  # local too, as rsync
        choice = self.compress_choice
        if choice == "none":
            compress, choice = False, None
        return TransferOptions(
            sender=sender,
            verbose=self.verbose - self.verbose_from_info,  # the -v count alone, as rsync
            quiet=self.quiet,
            dry_run=self.dry_run,
            # rsync: options.c (--files-from turns -a's recursion off and -d on)
            recursive=self.recursive and (self.files_from is None or self.explicit_recursive),
            dirs=self.dirs or (list_only and not self.recursive) or self.files_from is not None,
            list_only=self.list_only,
            preserve_links=self.links,
            copy_links=self.copy_links,
            copy_dirlinks=self.copy_dirlinks,
            preserve_hard_links=1 if self.hard_links else 0,
            preserve_perms=self.perms,
            preserve_executability=self.executability,
            preserve_uid=self.owner,
            preserve_gid=self.group,
            preserve_devices=self.devices,
            preserve_specials=self.specials,
            preserve_times=self.times,
            preserve_xattrs=self.xattrs,
            preserve_acls=self.acls,
            fake_super=self.fake_super,
            preserve_atimes=self.atimes,
            open_noatime=self.open_noatime,
            omit_dir_times=self.omit_dir_times,
            omit_link_times=self.omit_link_times,
            numeric_ids=self.numeric_ids,
            always_checksum=self.checksum,
            ignore_times=self.ignore_times,
            size_only=self.size_only,
            update_only=self.update,
            ignore_existing=self.ignore_existing,
            existing_only=self.existing,
            whole_file=True if self.whole_file else None,
            block_size=self.block_size,
            partial=self.partial,
            modify_window=self.modify_window,
            delete_mode=self.delete_mode,
            delete_excluded=self.delete_excluded,
            force=self.force,
            max_delete=self.max_delete,
            backup=self.backup,
            inplace=self.inplace or bool(self.append),  # rsync: --append implies it
            append=self.append,
            partial_dir=self.partial_dir,
            temp_dir=self.temp_dir,
            delay_updates=self.delay_updates,
            sparse=self.sparse,
            preallocate=self.preallocate,
            fuzzy=self.fuzzy,
            backup_dir=self.backup_dir,
            suffix=self.suffix,
            alt_dest=self.alt_dest,
            basis_dirs=list(self.basis_dirs),
            ignore_errors=self.ignore_errors,
            min_size=self.min_size,
            max_size=self.max_size,
            compress=compress,
            compress_choice=choice if compress else None,
            compress_level=self.compress_level if compress else None,
            checksum_choice=self.checksum_choice,
            checksum_seed=self.checksum_seed,
            timeout=self.timeout,
            bwlimit=str(self.bwlimit) if self.bwlimit else None,
            remote_options=list(self.remote_option),
            max_alloc=self.max_alloc,
            alloc_limit=self.alloc_limit,
            chmod=list(self.chmod),
            super_user=self.super,
            safe_links=self.safe_links,
            copy_unsafe_links=self.copy_unsafe_links,
            munge_links=self.munge_links,
            protect_args=bool(self.protect_args),
            usermap=self.usermap,
            groupmap=self.groupmap,
            stats=self.stats,
            info=list(self.info),  # never forwarded as such; the local sender reads them
            debug=list(self.debug),
            only_write_batch=self.only_write_batch,
            relative=self.relative or self.files_from is not None,
            one_file_system=self.one_file_system,
            implied_dirs=self.implied_dirs,
            keep_dirlinks=self.keep_dirlinks,
            mkpath=self.mkpath,
            remove_source_files=self.remove_source_files,
            prune_empty_dirs=self.prune_empty_dirs,
            delete_missing_args=self.delete_missing_args,
            ignore_missing_args=self.ignore_missing_args,
            files_from="-" if self.files_from is not None else None,
            from0=self.files_from is not None,
            cvs_exclude=self.cvs_exclude,
            skip_compress=self.skip_compress,
            compress_threads=self.compress_threads,
            copy_devices=self.copy_devices,
            write_devices=self.write_devices,
            trust_sender=self.trust_sender,
            msgs2stderr=self.msgs2stderr,
            fsync=self.fsync,
            qsort=self.qsort,
            iconv=self.iconv,
            # The receiving generator itemizes unchanged entries only when it knows the
            # client's format has %i (rsync: options.c server_options(), --log-format).
            log_format=server_log_format(self) if not sender else None,
        )


def itemizing(opts: ClientOptions) -> int:
    """Rsync's ``stdout_format_has_i``: ``-i`` (twice: 2), or a ``--out-format`` with ``%i``."""
    from rsync_client.logformat import log_format_has

    if opts.out_format is not None:
        return (opts.itemize_changes | 1) if log_format_has(opts.out_format, "i") else 0
    return opts.itemize_changes


def server_log_format(opts: ClientOptions) -> str | None:
    """What a sending client tells the receiving server of its output format.

    rsync: options.c server_options() ("--log-format=%i%I", "%i", "%o" or "X").
    """
    from rsync_client.logformat import log_format_has

    fmt = opts.out_format
    if fmt is None:
        if not opts.itemize_changes:
            return None
        return "%i%I" if opts.itemize_changes > 1 else "%i"
    has_i = itemizing(opts)
    if has_i > 1:
        return "%i%I"
    if has_i:
        return "%i"
    if log_format_has(fmt, "o"):
        return "%o"
    return None if opts.verbose else "X"


_DEFAULTS = ClientOptions()


def role_refusal(opts: ClientOptions, role: Role) -> str | None:
    """Why pyrsync cannot do what ``opts`` ask in ``role`` (``None``: it can).

    Every option pyrsync's command line accepts is implemented by some client role; the
    option table (:mod:`rsync_wire.proto.optable`) says which. One used in a role that
    does not implement it is refused by name: "--list-only is not supported by pyrsync
    for a remote destination".

    Args:
        opts: the parsed command line.
        role: ``Role.CLIENT_SENDER`` (a push), ``Role.CLIENT_RECEIVER`` (a pull) or
            ``Role.LOCAL`` (a local copy).
    """
    for option in OPTIONS:
        if not option.client or role in option.roles:
            continue
        field = option.long.replace("-", "_")
        if getattr(opts, field, None) != getattr(_DEFAULTS, field, None):
            return f"--{option.long} is not supported by pyrsync for {client_roles_text(role)}"
    return None


def check_role(opts: ClientOptions, role: Role) -> None:
    """Refuse ``opts`` if pyrsync does not implement one of them in ``role``.

    Raises:
        UnsupportedError: naming the option (see :func:`role_refusal`).
    """
    msg = role_refusal(opts, role)
    if msg is not None:
        raise UnsupportedError(msg)


class Location(msgspec.Struct, frozen=True, kw_only=True):
    """Where one command-line argument points.

    Attributes:
        kind: ``"local"``, ``"daemon"`` (rsync:// or ``host::``) or ``"shell"`` (``host:path``).
        host: the host (without brackets for an IPv6 address); empty for local paths.
        user: the user before ``@``, or ``None``.
        port: the port of an ``rsync://host:port/`` URL, or ``None``.
        path: the path (for a daemon: ``module/path``, possibly empty).
    """

    kind: str
    host: str = ""
    user: str | None = None
    port: int | None = None
    path: str = ""


def _split_user(host: str) -> tuple[str | None, str]:
    if "@" in host:
        user, _, rest = host.rpartition("@")
        return user, rest
    return None, host


def _strip_brackets(host: str) -> str:
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


def parse_location(arg: str) -> Location:
    """Classify one source or destination argument.

    ``rsync://[user@]host[:port]/module/path`` and ``[user@]host::module/path`` name a
    daemon, ``[user@]host:path`` a remote shell (unless a ``/`` comes before the ``:``,
    which makes it a local path, as in rsync), anything else a local path.

    rsync: main.c check_for_hostspec(), parse_hostspec().
    """
    if arg.lower().startswith("rsync://"):
        url = _parse_url(arg[8:])
        if url is not None:
            return url
        # Not a URL after all (a port that is not a number): rsync reads it as a
        # remote-shell "host:path", host "rsync" (rsync: options.c check_for_hostspec()).
    if arg.startswith("["):
        end = arg.find("]")
        if end > 0 and arg[end + 1 : end + 2] == ":":
            host = arg[1:end]
            rest = arg[end + 2 :]
            if rest.startswith(":"):
                return Location(kind="daemon", host=host, path=rest[1:])
            return Location(kind="shell", host=host, path=rest)
    cut = arg.find(":")
    if cut < 0:
        return Location(kind="local", path=arg)
    if "/" in arg[:cut]:
        return Location(kind="local", path=arg)
    user, host = _split_user(arg[:cut])
    host = _strip_brackets(host)
    rest = arg[cut + 1 :]
    if rest.startswith(":"):
        return Location(kind="daemon", host=host, user=user, path=rest[1:])
    return Location(kind="shell", host=host, user=user, path=rest)


def _parse_url(rest: str) -> Location | None:
    """``[user@]host[:port][/module/path]`` after ``rsync://``; None if it is not one.

    The port is the digits after ``:`` (none or 0: the default); anything but ``/``
    after them makes the argument no URL, as rsync's parser decides.

    rsync: options.c parse_hostspec().
    """
    hostpart, slash, path = rest.partition("/")
    user, hostport = _split_user(hostpart)
    port_text: str | None = None
    if hostport.startswith("["):
        end = hostport.find("]")
        if end <= 1:
            return None
        host = hostport[1:end]
        tail = hostport[end + 1 :]
        if tail and not tail.startswith(":"):
            return None
        if tail:
            port_text = tail[1:]
    else:
        host, colon, text = hostport.partition(":")
        if colon:
            port_text = text
    port: int | None = None
    if port_text is not None:
        digits = len(port_text) - len(port_text.lstrip("0123456789"))
        if digits < len(port_text):
            return None
        port = int(port_text) if digits else 0
        port = port or None
    return Location(kind="daemon", host=host, user=user, port=port, path=path if slash else "")


def merge_file_names(filter_text: str) -> list[str]:
    """The files a ``--filter`` rule merges at once (``merge FILE``, ``. FILE``), if any.

    Per-directory merges (``dir-merge``, ``:``) name no file to read now; a rule that does
    not parse names none (the filter list reports the error).
    """
    from rsync_wire.proto.filters import FilterError, RuleFlag, parse_rules

    try:
        rules = parse_rules(os.fsencode(filter_text))
    except FilterError:
        return []
    return [
        os.fsdecode(rule.pattern)
        for rule in rules
        if rule.flags & RuleFlag.MERGE_FILE and not rule.flags & RuleFlag.PERDIR_MERGE
    ]
