"""What the receiving side's two tasks share: settings, statistics, events, reporting.

The generator and the receiver (:mod:`rsync_wire.roles.generator`,
:mod:`rsync_wire.roles.receiver`) run as two tasks over one connection; the
orchestrator (:mod:`rsync_wire.roles.receiving`) reads the file list and starts
them. Everything the three share lives here, below all of them, so that none imports
another's module: the settings (:class:`ReceiveConfig`), the statistics
(:class:`ReceiveStats`), the state (:class:`Shared`), the events the receiver sends
the generator (:data:`ReceiverEvent`), the reporting port (:class:`Reporter`) and the
owner mapping (:class:`IdMapper`).

rsync: main.c do_recv() (the state its two processes share by fork).
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Protocol

import msgspec

from rsync_delta import ChecksumRule
from rsync_wire.errors import ExitCode, RemoteProtocolError
from rsync_wire.proto import codec
from rsync_wire.proto.charset import Charset
from rsync_wire.proto.constants import Msg
from rsync_wire.proto.filters import FilterList
from rsync_wire.proto.outlevels import OutputLevels
from rsync_wire.roles import idnames
from rsync_wire.roles.acls import ReceivingAcls, default_perms_for_dir
from rsync_wire.roles.flists import FileLists
from rsync_wire.roles.idmap import IdRule, map_id, parse_name_map
from rsync_wire.roles.xattrs import ReceivingXattrs

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from rsync_wire.fs_write import DestTree
    from rsync_wire.proto.flist import FileEntry
    from rsync_wire.proto.negotiate import Session
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.roles.altdest import BasisDirs
    from rsync_wire.roles.backup import Backups
    from rsync_wire.roles.batch_wants import BatchWants
    from rsync_wire.roles.daemon_rules import DaemonRules
    from rsync_wire.roles.output import Output
    from rsync_wire.roles.partialdir import AbsolutePartialDir
    from rsync_wire.stream import WireStream

__all__ = [
    "Finished",
    "IdMapper",
    "Milestone",
    "NullReporter",
    "ReceiveConfig",
    "ReceiveStats",
    "ReceiverEvent",
    "ReceiverGone",
    "Redo",
    "Reporter",
    "Shared",
    "full_name",
]


class ReceiveStats(msgspec.Struct, kw_only=True):
    """What the receiving side counted, as rsync's ``struct stats`` (client view).

    ``total_read``/``total_written``/``total_size``/``flist_*time`` come from the
    sender's statistics when it is a server (swapped as rsync's client does).
    The ``num_*``, ``created_*`` and ``deleted_*`` counts are per type: regular
    files are the total minus the other four.

    rsync: rsync.h struct stats.
    """

    num_files: int = 0
    num_dirs: int = 0
    num_symlinks: int = 0
    num_devices: int = 0
    num_specials: int = 0
    created_files: int = 0
    created_dirs: int = 0
    created_symlinks: int = 0
    created_devices: int = 0
    created_specials: int = 0
    deleted_files: int = 0
    deleted_dirs: int = 0
    deleted_symlinks: int = 0
    deleted_devices: int = 0
    deleted_specials: int = 0
    xferred_files: int = 0
    total_size: int = 0
    total_transferred_size: int = 0
    literal_data: int = 0
    matched_data: int = 0
    flist_size: int = 0
    flist_buildtime_ms: int = 0
    flist_xfertime_ms: int = 0
    total_read: int = 0
    total_written: int = 0
    io_error: int = 0
    transfer_errors: int = 0
    skipped_deletes: int = 0
    elapsed: float = 0.0
    got_stats: bool = False

    def exit_code(self) -> ExitCode:
        """Rsync's exit code for a session that ended normally with these counts.

        rsync: main.c / cleanup.c (io_error and got_xfer_error).
        """
        if self.io_error & 1 or self.transfer_errors:
            return ExitCode.PARTIAL
        if self.io_error & 2:
            return ExitCode.VANISHED
        if self.io_error & 4:
            return ExitCode.DEL_LIMIT
        return ExitCode.OK


class ReceiveConfig(msgspec.Struct, kw_only=True):
    """Client-side settings of the receiving side that do not travel on the wire.

    Attributes:
        filters: the client's own filter rules: they protect destination files from
            deletion, and (unless a per-directory merge rule is present) every received
            name must pass them.
        requested: the source paths the client asked for (module prefix removed); names
            outside them are refused. ``None`` skips this check.
        local_name: the destination's own name when a single file is written under
            another name (rsync's "mode 2").
        dest_missing: the destination directory does not exist (``-n`` did not create it):
            everything is new.
        dest_created: the destination directory was just created (the top ``.`` is new).
        itemize: the number of ``-i`` options.
        verbose: the ``-v`` level.
        quiet: ``-q``: not even "skipping non-regular file" (rsync's ``--info=nonreg``,
            on by default).
        list_only: print the list instead of transferring.
        whole_file: send no block sums (``-W``; the default for local copies).
        max_delete: ``--max-delete`` (``None``: no limit).
        progress: report progress for each file.
        names: names are shown without ``-v`` (``--progress`` does that: rsync's
            ``--info=name``), so "created directory" is too.
        sender_progress: progress is shown as rsync's sender shows it (a local copy, where
            rsync's client is the sender): a file's first line after its first chunk.
        umask: the process umask (new files' default permissions).
        protect_backups: with ``--backup`` and no backup directory, names ending in the
            suffix are never deleted (the ``P *~`` rule rsync's client adds; a server
            gets it with the client's rules instead).
        batch_only: ``--only-write-batch``: act as ``-n`` here, but have the sender send
            the data (it goes to the batch file).
        flist_memory_limit: the most memory the file list may take (estimated from its
            entries and bytes); a sender that sends more ends the session, exit 22
            (rsync bounds its allocations with ``--max-alloc``).
    """

    filters: FilterList | None = None
    requested: list[bytes] | None = None
    local_name: bytes | None = None
    dest_missing: bool = False
    dest_created: bool = False
    itemize: int = 0
    verbose: int = 0
    quiet: bool = False
    list_only: bool = False
    whole_file: bool = False
    max_delete: int | None = None
    progress: bool = False
    names: bool = False
    sender_progress: bool = False
    umask: int = 0o022
    protect_backups: bool = True
    flist_memory_limit: int = 8 << 30
    batch_only: bool = False  # --only-write-batch: the data goes to the batch file only
    out: OutputLevels | None = None  # --info/--debug levels (None: what -v alone gives)
    # how rsync names this side's processes ("server ", "server daemon ", or "" for a
    # client receiving from a remote sender: rsync's who_am_i() and am_server/am_daemon)
    role_prefix: str = "server "
    # --iconv: this side's charset (rsync_wire.proto.charset); None: names as they come
    charset: Charset | None = None
    # the line of a transferred file comes after its data (%C in the client's format;
    # rsync: options.c log_before_transfer is 0)
    log_after_data: bool = False

    @property
    def levels(self) -> OutputLevels:
        """The output levels (rsync_wire.proto.outlevels): ``out``, else from ``verbose``."""
        if self.out is None:
            self.out = OutputLevels.build(verbose=self.verbose)
        return self.out


# -- events from the receiver to the generator --------------------------------------------------


class ReceiverGone(RemoteProtocolError):  # noqa: N818 - a state, not a mistake
    """The receiver task ended early; its own error is the one to report."""


class Redo(msgspec.Struct, frozen=True, tag=True):
    """A file failed its whole-file checksum in phase 1: request it again."""

    ndx: int


class Milestone(msgspec.Struct, frozen=True, tag=True):
    """The receiver reached a point of the end choreography (docs/protocol.md §10.9).

    ``what``: ``"phase1"`` (the sender's end-of-phase-1 echo), ``"phase2"``,
    ``"loop"`` (the end-of-loop NDX_DONE and the statistics) or ``"final"`` (the
    echo of the deletion-phase NDX_DONE, protocol 31 and later).
    """

    what: str


class Finished(msgspec.Struct, frozen=True, tag=True):
    """A transferred file reached its final name (or failed for good)."""

    ndx: int
    ok: bool


ReceiverEvent = Redo | Milestone | Finished


# -- reporting ----------------------------------------------------------------------------------


class Reporter(Protocol):
    """Where the receiving side sends what a user may want to see.

    Every method must return quickly and never raise.
    """

    def file_list_started(self, *, incremental: bool = False) -> None:
        """The file list is about to be read (``incremental``: with incremental recursion)."""

    def file_list_progress(self, count: int) -> None:
        """``count`` entries of the file list were read (called at each hundred).

        rsync: flist.c maybe_emit_filelist_progress().
        """

    def file_list_done(self, count: int) -> None:
        """The file list was read (``count`` entries)."""

    def item(self, entry: FileEntry, name: bytes, iflags: int, xname: bytes | None) -> None:
        """An itemized change: a transferred file (before its data) or a local change."""

    def list_entry(self, entry: FileEntry, name: bytes) -> None:
        """An entry of a ``--list-only`` listing."""

    def deleted(self, name: bytes, mode: int) -> None:
        """``name`` (relative to the destination) was deleted (or would be, with ``-n``)."""

    def message(self, code: int, text: bytes) -> None:
        """A message: MSG_INFO/ERROR/WARNING/ERROR_XFER text, from the peer or from us."""

    def progress(
        self,
        name: bytes,
        done: int,
        total: int,
        *,
        final: bool,
        to_check: int = 0,
        count: int = 0,
        xferred: int = 0,
        transferred_size: int = 0,
        total_size: int = 0,
        flist_eof: bool = True,
    ) -> None:
        """``done`` of ``total`` bytes of ``name`` were written (``final``: all of them).

        ``to_check`` files of ``count`` remain after this one (rsync's ``to-chk``, or
        ``ir-chk`` while ``flist_eof`` is false: more file lists are to come). The
        transfer's totals so far, as rsync's ``stats`` holds them: ``xferred`` files
        started, their sizes ``transferred_size``, and the size of all the files listed,
        ``total_size`` (``--info=progress2`` shows the whole transfer with them).

        rsync: progress.c show_progress(), end_progress().
        """

    def progress_phase_done(
        self,
        *,
        to_check: int,
        count: int,
        xferred: int,
        transferred_size: int,
        total_size: int,
        flist_eof: bool = True,
    ) -> None:
        """A transfer phase ended (an NDX_DONE); the totals as for :meth:`progress`.

        rsync: receiver.c recv_files() (end_progress(0) with ``--info=progress2``).
        """


class NullReporter:
    """A :class:`Reporter` that drops everything."""

    def file_list_started(self, *, incremental: bool = False) -> None:  # noqa: D102
        pass

    def file_list_progress(self, count: int) -> None:  # noqa: D102
        pass

    def file_list_done(self, count: int) -> None:  # noqa: D102
        pass

    def item(  # noqa: D102
        self, entry: FileEntry, name: bytes, iflags: int, xname: bytes | None
    ) -> None:
        pass

    def list_entry(self, entry: FileEntry, name: bytes) -> None:  # noqa: D102
        pass

    def deleted(self, name: bytes, mode: int) -> None:  # noqa: D102
        pass

    def message(self, code: int, text: bytes) -> None:  # noqa: D102
        pass

    def progress(  # noqa: D102
        self,
        name: bytes,
        done: int,
        total: int,
        *,
        final: bool,
        to_check: int = 0,
        count: int = 0,
        xferred: int = 0,
        transferred_size: int = 0,
        total_size: int = 0,
        flist_eof: bool = True,
    ) -> None:
        pass

    def progress_phase_done(  # noqa: D102
        self,
        *,
        to_check: int,
        count: int,
        xferred: int,
        transferred_size: int,
        total_size: int,
        flist_eof: bool = True,
    ) -> None:
        pass


# -- owners -------------------------------------------------------------------------------------


class IdMapper:
    """Maps the sender's uids and gids to local ones, by name unless ``--numeric-ids``.

    As rsync: id 0 is never mapped by name; a name unknown here keeps the number; a
    non-root receiver sets only groups it is a member of (others are skipped). The rules
    of ``--usermap``/``--groupmap`` (``maps``) come first, with ``--numeric-ids`` too.

    rsync: uidlist.c recv_add_id(), match_uid(), match_gid().
    """

    def __init__(
        self,
        uid_names: dict[int, bytes | None],
        gid_names: dict[int, bytes | None],
        *,
        numeric: bool,
        am_root: bool,
        maps: tuple[list[IdRule], list[IdRule]] = ([], []),
    ) -> None:
        self._maps = maps
        self._uid_names = uid_names
        self._gid_names = gid_names
        self._numeric = numeric
        self._am_root = am_root
        self._uids: dict[int, int] = {}
        self._gids: dict[int, tuple[int, bool]] = {}
        self._groups = set(os.getgroups()) | {os.getegid()}

    def uid(self, uid: int) -> int:
        """The local uid for the sender's ``uid``."""
        got = self._uids.get(uid)
        if got is None:
            got = uid
            name = None if self._numeric or not uid else self._uid_names.get(uid)
            mapped = self._mapped(0, uid, self._uid_names)
            if mapped is not None:
                got = mapped
            elif name:
                found = idnames.uid_of(name)
                got = uid if found is None else found
            self._uids[uid] = got
        return got

    def gid(self, gid: int) -> tuple[int, bool]:
        """The local gid for the sender's ``gid``, and whether setting it must be skipped."""
        got = self._gids.get(gid)
        if got is None:
            local = gid
            name = None if self._numeric or not gid else self._gid_names.get(gid)
            mapped = self._mapped(1, gid, self._gid_names)
            if mapped is not None:
                local = mapped
            elif name:
                found = idnames.gid_of(name)
                local = gid if found is None else found
            got = (local, not self._am_root and local not in self._groups)
            self._gids[gid] = got
        return got

    def _mapped(self, which: int, ident: int, names: dict[int, bytes | None]) -> int | None:
        """What the user or group map (``which``) says for ``ident`` (None: no rule).

        Id 0 without a name from the sender is taken to be ``root`` (rsync:
        uidlist.c parse_name_map()); with ``--numeric-ids`` ids have no names.
        """
        rules = self._maps[which]
        if not rules:
            return None
        name = None if self._numeric else names.get(ident)
        if ident == 0 and name is None and not self._numeric:
            name = b"root"
        return map_id(rules, ident, name)


def _id_maps(opts: TransferOptions, reporter: Reporter) -> tuple[list[IdRule], list[IdRule]]:
    """The rules of ``--usermap`` and ``--groupmap`` (rsync: flist.c recv_file_list()).

    Raises:
        RsyncError: a map rsync rejects (exit code 1).
    """

    def warn(text: str) -> None:
        reporter.message(Msg.ERROR, f"{text}\n".encode("utf-8", "surrogateescape"))

    users = parse_name_map(opts.usermap, users=True, warn=warn) if opts.usermap else []
    groups = parse_name_map(opts.groupmap, users=False, warn=warn) if opts.groupmap else []
    return users, groups


# -- the shared state ----------------------------------------------------------------------------


class Shared:
    """What generator and receiver both read: the sorted list and the session's settings.

    Attributes:
        entries: the file lists in sorted order (index = the protocol's file index; with
            incremental recursion, the lists one after the other, see
            :mod:`rsync_wire.roles.flists`).
        lists: which list each index belongs to, and the directory table.
        rels: each entry's path relative to the destination (``b""`` for the top ``.``).
        cleared: duplicates removed by the receiver (never requested).
        children: names present in the list, per directory (for deletions).
        content_dirs: indexes of directories whose contents are part of the transfer.
    """

    def __init__(
        self,
        ws: WireStream,
        session: Session,
        opts: TransferOptions,
        config: ReceiveConfig,
        tree: DestTree | None,
        reporter: Reporter,
        stats: ReceiveStats,
    ) -> None:
        self.ws = ws
        self.out_ws = ws  # the generator's writer; see ReceiverSide.run()
        self.batch: BatchWants | None = None  # reading a batch (rsync_wire.roles.batch)
        self.session = session
        self.opts = opts
        self.config = config
        self.tree = tree
        self.reporter = reporter
        self.stats = stats
        # --super/--no-super override what the effective uid says (rsync: options.c am_root)
        self.am_root = os.geteuid() == 0 if opts.super_user is None else opts.super_user
        # --fake-super: rsync's am_root = -1, true where owners are compared, but no chown
        self.fake_super = opts.fake_super
        if self.fake_super:
            self.am_root = True
        # -X: what generator and receiver know of the sender's xattr lists
        self.xattrs = (
            ReceivingXattrs(
                session, opts, am_root=self.am_root, do_xfers=not opts.dry_run or config.batch_only
            )
            if opts.preserve_xattrs
            else None
        )
        # -A: compare and set ACLs, ids mapped as the owners' are (rsync: acls.c)
        self.acls = (
            ReceivingAcls(
                opts,
                uid=lambda i: self.ids.uid(i),
                gid=lambda i: self.ids.gid(i)[0],
                fake_super=self.fake_super,
                dry_run=opts.dry_run,
            )
            if opts.preserve_acls
            else None
        )
        self.id_maps = _id_maps(opts, reporter)
        self.rule = ChecksumRule.for_session(
            protocol=session.protocol,
            negotiated=session.checksum if session.checksum_negotiated else None,
            seed=session.seed,
            seed_fix=session.seed_fix,
        )
        self.entries: list[FileEntry] = []
        self.rels: list[bytes] = []
        self.cleared: list[bool] = []
        self.lists = FileLists(inc=False)
        # reads the list of a directory (incremental recursion); set by ReceiverSide
        self.read_sub_list: Callable[[int], Awaitable[None]] | None = None
        # the one decoder of the indexes the sender writes: they are delta-coded, so the
        # file-list reader and the receiver must share its state (rsync: io.c read_ndx())
        self.ndx_in = codec.NdxDecoder(protocol=session.protocol)
        if config.charset is not None:  # --iconv: the wire's indexes are unsorted
            self.ndx_in.remap = lambda n: self.lists.from_wire(n)
        self.children: dict[bytes, set[bytes]] = {}
        self.content_dirs: set[int] = set()
        self.ids = IdMapper(
            {}, {}, numeric=opts.numeric_ids, am_root=self.am_root, maps=self.id_maps
        )
        self.dflt_perms = 0o777 & ~config.umask
        self._dflt_at: tuple[bytes, int] | None = None
        self.io_error = 0
        # the directories whose permissions the generator loosened to write into them
        self.tweaked_dirs: dict[int, int] = {}
        self.missing_dirs: set[int] = set()
        # a receiving daemon's module rules, and the destination's path in the module
        # (what the rules see is ``dest_in_module/rel``)
        self.backups: Backups | None = None  # --backup (rsync_wire.roles.backup)
        self.basis: BasisDirs | None = None  # --link-dest & co (rsync_wire.roles.altdest)
        # --temp-dir (rsync_wire.roles.output); None: temporary files beside their files
        self.output: Output | None = None
        self.daemon_rules: DaemonRules | None = None
        # an absolute --partial-dir (rsync_wire.roles.partialdir); None: relative or none
        self.partial_abs: AbsolutePartialDir | None = None
        self.dest_in_module = b""
        # a daemon module's way of showing a name in messages (``"NAME" (in MODULE)``)
        self.module_shown: Callable[[bytes], bytes] | None = None
        # --confine-root: what relative destination paths are relative to (the root, not
        # the working directory)
        self.path_base: bytes | None = None

    def dflt_perms_for(self, name: bytes) -> int:
        """The permissions new entries of ``name``'s directory get without ``-p``.

        That directory's default ACL says them, or the umask (rsync: generator.c and
        receiver.c, ``dflt_perms = default_perms_for_dir(dn)`` when the directory changes).
        """
        cut = name.rfind(b"/")
        reldir = name[:cut] if cut > 0 else b""
        if self._dflt_at is not None and self._dflt_at[0] == reldir:
            return self._dflt_at[1]
        if self.tree is None:
            return self.dflt_perms
        try:
            perms = default_perms_for_dir(self.tree.dir_fd(reldir), self.dflt_perms)
        except OSError:
            return self.dflt_perms
        self._dflt_at = (reldir, perms)
        return perms

    @property
    def partial_dir(self) -> bytes | None:
        """``--partial-dir`` (relative: in each file's own directory), or ``None``.

        ``--delay-updates`` without ``--partial-dir`` uses ``.~tmp~`` (rsync: options.c).
        """
        text = self.opts.partial_dir
        if not text:
            return b".~tmp~" if self.opts.delay_updates else None
        if self.partial_abs is not None:
            return os.fsencode(text)  # one directory: see partial_tree()
        return os.fsencode(text).strip(b"/") or None

    def partial_rel(self, rel: bytes) -> bytes | None:
        """Where ``rel``'s partial file lives, or ``None`` (no partial dir, or hidden).

        ``DIR/--partial-dir/NAME`` in :meth:`partial_tree`, or only ``NAME`` with an
        absolute ``--partial-dir``. A daemon module's rules may hide the partial dir or
        the partial file: then the file has none.

        rsync: util1.c partial_dir_fname().
        """
        pdir = self.partial_dir
        if pdir is None:
            return None
        cut = rel.rfind(b"/")
        name = rel[cut + 1 :]
        if self.partial_abs is not None:
            partial = name
            in_module = self.partial_abs.in_module(name)
        else:
            partial = rel[: cut + 1] + pdir + b"/" + name
            in_module = self.dest_in_module + b"/" + partial if self.dest_in_module else partial
        rules = self.daemon_rules
        if rules is not None:
            cut = in_module.rfind(b"/")
            if (cut > 0 and rules.hides(in_module[:cut], is_dir=True)) or rules.hides(
                in_module, is_dir=False
            ):
                return None
        return partial

    def partial_tree(self, *, create: bool = False) -> DestTree | None:
        """The tree that holds the names :meth:`partial_rel` gives (``None``: unusable).

        The destination, or an absolute ``--partial-dir``'s own directory (made first with
        ``create``).
        """
        if self.partial_abs is not None:
            return self.partial_abs.tree(create=create)
        return self.tree

    def reach_partial_tree(self, *, create: bool = False) -> DestTree:
        """:meth:`partial_tree`, or ``OSError`` (ENOENT) when it is unusable."""
        tree = self.partial_tree(create=create)
        if tree is None:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), self.opts.partial_dir)
        return tree

    def logged(self, entry: FileEntry, rel: bytes) -> bytes:
        """The name an item is logged under: its list name when one file takes another name.

        rsync: log.c log_item() (``%n`` is the file-list name, never the local name).
        """
        return entry.name if self.config.local_name is not None else rel or b"."

    def shown(self, rel: bytes) -> bytes:
        """A destination name as rsync shows it in errors, quotes included.

        From the working directory on, or ``"NAME" (in MODULE)`` in a daemon.

        rsync: util1.c full_fname().
        """
        if self.module_shown is not None:
            path = self.dest_in_module + b"/" + rel if self.dest_in_module else rel
            return self.module_shown(path or b".")
        return b'"' + full_name(self.tree, rel, self.path_base) + b'"'

    def daemon_hides(self, rel: bytes, *, is_dir: bool) -> bool:
        """Whether the module's rules hide the destination name ``rel`` (never ``.``)."""
        rules = self.daemon_rules
        if rules is None or not rel or rel == b".":
            return False
        path = self.dest_in_module + b"/" + rel if self.dest_in_module else rel
        return rules.hides(path, is_dir=is_dir)


def full_name(tree: DestTree | None, rel: bytes, cwd: bytes | None = None) -> bytes:
    """A destination name as rsync shows it in errors: from the working directory on.

    ``cwd``: what a relative destination is relative to, when not the working directory.

    rsync: util1.c full_fname().
    """
    base = tree.path.rstrip(b"/") if tree is not None else b"."
    if not base:
        base = b"/"
    if cwd is not None and not base.startswith(b"/"):
        base = cwd.rstrip(b"/") + (b"" if base == b"." else b"/" + base)
    base = _full(base).rstrip(b"/")
    return base + b"/" + rel if rel else base or b"/"


def _full(path: bytes) -> bytes:
    """``path`` as rsync shows it in a change_dir error: joined to the working directory."""
    if path.startswith(b"/"):
        return path
    try:
        cwd = os.getcwdb()
    except OSError:
        return path
    return cwd.rstrip(b"/") + b"/" + (b"" if path == b"." else path)
