"""The receiving server: a client pushes, this side runs generator and receiver.

The same receiving side a pulling client runs (:class:`~rsync_wire.roles.receiving.ReceiverSide`)
serves an upload; what differs is small and lives here:

* the filter list comes from the client, and only when the receiver wants it
  (deletions or ``--prune-empty-dirs``), as rsync's ``recv_filter_list()`` reads it;
* the destination is the first argument, resolved inside the daemon module
  (:class:`~rsync_wire.roles.destination.ModuleDestination`) or, over a remote shell,
  from the working directory;
* a daemon module's rules refuse names they hide: never written, never deleted;
* what a client receiver would print goes to the client (:class:`PeerReporter`):
  messages as MSG_INFO/MSG_ERROR frames, deletions as MSG_DELETED (protocol 29 and
  later; the client's sender prints them), itemized lines reach the client through the
  iflags the generator sends anyway;
* no statistics are read at the end (a client sender sends none; rsync: main.c
  handle_stats()).

rsync: main.c do_server_recv(), get_local_name(), do_recv(); log.c log_delete().
"""

from __future__ import annotations

import logging
import os
import re
import stat
from typing import TYPE_CHECKING

import msgspec

from rsync_wire.proto.charset import charset_for
from rsync_wire.proto.constants import Msg
from rsync_wire.proto.filters import FilterList, cvs_exclude_rules, decode_filter_list
from rsync_wire.proto.outlevels import OutputLevels
from rsync_wire.roles.chmod import parse_chmod, tweak_mode
from rsync_wire.roles.confine_root import ConfinedDestination
from rsync_wire.roles.daemon_rules import DaemonRules
from rsync_wire.roles.decide import SIGNIFICANT_ITEM_FLAGS
from rsync_wire.roles.destination import Destination, LocalDestination, ModuleDestination
from rsync_wire.roles.files_from import forward_names
from rsync_wire.roles.module import server_iconv
from rsync_wire.roles.receive_state import NullReporter, ReceiveConfig, Shared
from rsync_wire.roles.receiving import ReceiverSide
from rsync_wire.roles.xferlog import XferItem, format_line, log_item, server_log

if TYPE_CHECKING:
    from collections.abc import Callable

    from rsync_wire.fs import Root
    from rsync_wire.proto.flist import FileEntry
    from rsync_wire.proto.negotiate import Session
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.roles.module import ModuleContext
    from rsync_wire.roles.receive_state import ReceiveStats
    from rsync_wire.stream import WireStream

__all__ = [
    "PeerReporter",
    "entry_adjuster",
    "receive_upload",
    "receiver_wants_filters",
    "sanitize_link_target",
]

log = logging.getLogger("rsync_wire.upload")

MUNGE_PREFIX = b"/rsyncd-munged/"
"""What a ``munge symlinks`` module puts before the target of every symlink it stores."""

_DELETED = 1 << 17  # ITEM_DELETED (local; rsync.h): the %i of a deletion


def receiver_wants_filters(opts: TransferOptions, protocol: int) -> bool:
    """Whether the client sends its filter list to a receiving server.

    rsync: exclude.c send_filter_list(), recv_filter_list() (receiver_wants_list).
    """
    return opts.prune_empty_dirs or (
        opts.delete_mode is not None and (not opts.delete_excluded or protocol >= 29)
    )


class PeerReporter(NullReporter):
    """What a receiving server shows: sent to the client, or written to the daemon's log.

    File-list and progress events show nothing on a server (rsync: progress.c, am_server):
    those stay :class:`NullReporter`'s.

    Args:
        protocol: the session's protocol (deletions are MSG_DELETED from 29 on).
        verbose: the client's ``-v`` level as the server received it.
        module: the daemon module (transfer logging), or ``None``.
    """

    def __init__(self, *, protocol: int, verbose: int, module: ModuleContext | None) -> None:
        self.protocol = protocol
        self.verbose = verbose
        self.module = module
        self.shared: Shared | None = None  # set once the receiving side exists

    def _send(self, code: Msg, payload: bytes, *, utf8: bool = False) -> None:
        if self.shared is not None:
            charset = self.shared.config.charset
            if charset is not None and not utf8:
                # --iconv: this side's text goes in UTF-8 (rsync: io.c send_msg(), convert)
                payload = charset.to_wire_lenient(payload)
            self.shared.out_ws.queue_message(code, payload)

    def message(self, code: int, text: bytes) -> None:
        """A line a client receiver would print: the client prints it instead."""
        self._send(Msg(code), text)

    def message_utf8(self, code: int, text: bytes) -> None:
        """A line already in UTF-8 (a name from the wire; rsync's FERROR_UTF8)."""
        self._send(Msg(code), text, utf8=True)

    def deleted(self, name: bytes, mode: int) -> None:
        """A deletion: MSG_DELETED for the client's sender to print (P >= 29).

        rsync: log.c log_delete().
        """
        log = server_log() if self.module is None else None
        if log is not None and not log.dry_run:
            # the log's format with %i or %o, else "deleting %n" (rsync: log_delete())
            lfmt = log.format if re.search(r"%[-'0-9]*[io]", log.format) else "deleting %n"
            gone = XferItem(name=name, path=name, mode=mode, size=0, mtime=0, iflags=_DELETED)
            log.line(format_line(lfmt, gone, op="del."))
        if self.protocol >= 29:
            self._send(Msg.DELETED, name + (b"\0" if stat.S_ISDIR(mode) else b""))
            return
        fmt = self.shared.opts.log_format if self.shared is not None else None
        if fmt:
            # the client's --log-format (it sends %i, %o or X for its own -i and -v)
            item = XferItem(name=name, path=name, mode=mode, size=0, mtime=0, iflags=_DELETED)
            line = format_line(fmt, item, op="del.")
            self._send(Msg.INFO, line.encode("utf-8", "surrogateescape") + b"\n")
        elif self.verbose:
            slash = b"/" if stat.S_ISDIR(mode) else b""
            self._send(Msg.INFO, b"deleting " + name + slash + b"\n")

    def item(self, entry: FileEntry, name: bytes, iflags: int, xname: bytes | None) -> None:
        """A settled item: a line in the daemon's transfer log, when the module keeps one.

        rsync: receiver.c recv_files(), log.c log_item(FLOG) (a server receiver's items
        reach the client through the generator's iflags, not as text).
        """
        m = self.module
        log = server_log() if m is None else None
        if log is not None:  # a remote-shell server's --log-file
            log.item(
                XferItem(
                    name=name,
                    path=name,
                    mode=entry.mode,
                    size=entry.size,
                    mtime=entry.mtime,
                    link_target=entry.link_target,
                    iflags=iflags,
                ),
                op="recv",
                significant=bool(iflags & SIGNIFICANT_ITEM_FLAGS) or xname is not None,
            )
            return
        if m is None or not m.transfer_logging or self.shared is None:
            return
        dest = self.shared.dest_in_module
        path = dest + b"/" + name if dest and name != b"." else (dest or name)
        log_item(
            m.log_format,
            XferItem(
                name=name,
                path=path,
                mode=entry.mode,
                size=entry.size,
                mtime=entry.mtime,
                uid=entry.uid if self.shared.opts.preserve_uid else None,
                gid=entry.gid if self.shared.opts.preserve_gid else None,
                link_target=entry.link_target,
                iflags=iflags,
            ),
            op="recv",
            module=m.name,
            module_path=m.shown_path or m.path,
            host=m.peer_host,
            addr=m.peer_addr,
            user=m.auth_user,
        )


def sanitize_link_target(target: bytes, depth: int) -> bytes:
    """A symlink target made to stay inside the module, as a daemon without chroot does.

    A leading ``/`` goes, ``.`` and empty components go, and ``..`` removes the component
    before it; a leading ``..`` stays only as deep as the link's own directory
    (``depth``), so the target never names anything above the module root.

    rsync: util1.c sanitize_path() (rootdir "", depth lastdir_depth), flist.c
    recv_file_entry().
    """
    out: list[bytes] = []
    ups = 0
    for comp in target.split(b"/"):
        if not comp or comp == b".":
            continue
        if comp == b"..":
            if len(out) > ups:
                out.pop()
            elif ups < depth:
                out.append(comp)
                ups += 1
            continue
        out.append(comp)
    text = b"/".join(out)
    if target.endswith(b"/") and text:
        text += b"/"
    return text or b"."


def entry_adjuster(module: ModuleContext) -> Callable[[FileEntry], FileEntry] | None:
    """What a receiving daemon changes in each entry it reads: modes, symlink targets.

    ``incoming chmod`` applies to everything but symlinks; with ``munge symlinks`` every
    symlink target gets ``/rsyncd-munged/`` in front, otherwise, without chroot, targets
    are sanitized.

    rsync: flist.c recv_file_entry() (daemon_chmod_modes, sanitize_paths).
    """
    rules = parse_chmod(module.incoming_chmod, umask=_umask()) if module.incoming_chmod else []
    munge = module.munge_symlinks
    sanitize = module.sanitize_paths and not munge
    if not rules and not sanitize and not munge:
        return None

    def adjust(entry: FileEntry) -> FileEntry:
        mode = entry.mode
        if stat.S_ISLNK(mode):
            target = entry.link_target
            if munge and target is not None:
                # stored as /rsyncd-munged/TARGET: never followed inside the module
                # (rsync: syscall.c do_symlink(), SYMLINK_PREFIX)
                return msgspec.structs.replace(entry, link_target=MUNGE_PREFIX + target)
            if sanitize and target:
                depth = entry.name.count(b"/")
                fixed = sanitize_link_target(target, depth)
                if fixed != target:
                    return msgspec.structs.replace(entry, link_target=fixed)
            return entry
        if rules:
            new = tweak_mode(mode, rules)
            if new != mode:
                return msgspec.structs.replace(entry, mode=new)
        return entry

    return adjust


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


async def receive_upload(
    ws: WireStream,
    session: Session,
    opts: TransferOptions,
    dest: bytes,
    *,
    module: ModuleContext | None,
    root: Root | None,
) -> ReceiveStats:
    """Receive what a client pushes into ``dest``; returns the statistics.

    Args:
        ws: the connection, multiplexed as the protocol requires.
        session: what was negotiated.
        opts: the client's options as the server parsed them.
        dest: the destination argument: inside the module (already stripped of its name)
            or, without a module, relative to the working directory.
        module: the daemon module, or ``None`` over a remote shell.
        root: the module's root, or the ``--confine-root`` of a remote-shell server
            (``None`` without either).

    Raises:
        RsyncError: with rsync's exit code (a refused destination, a protocol error...).
    """
    protocol = session.protocol
    filters = FilterList(protocol=protocol)
    if receiver_wants_filters(opts, protocol):
        texts = await ws.decode(decode_filter_list, max_alloc=opts.alloc_limit)
        if OutputLevels.build(verbose=opts.verbose, debug=opts.debug).debug_gte("FILTER"):
            # rsync's add_rule() caution for a rule ending in whitespace, said by the
            # receiving server before it forks ("Receiver": rsync's who_am_i() then)
            filters.who, filters.debug_rules = "Receiver", []
        filters.add_received(texts, protocol=protocol)
        notes, filters.debug_rules = filters.debug_rules, None
        for line in notes or ():
            await ws.write_message(Msg.INFO, (line + "\n").encode("utf-8", "backslashreplace"))
    await forward_names(ws, opts, protocol, root=root if module is not None else None)
    if opts.cvs_exclude:
        before, after = cvs_exclude_rules(protocol=protocol, am_sender=False, am_server=True)
        for text in (*before, *after):
            filters.add_filter(text)
    rules = DaemonRules.for_module(module, protocol=protocol)
    destination: Destination
    if module is not None and root is not None:
        destination = ModuleDestination(root, module.name)
    elif root is not None:  # --confine-root (rsync_wire.roles.confine_root)
        destination = ConfinedDestination(root)
    else:
        destination = LocalDestination()
    # the client tells a receiving server about its own -i through --log-format (%i, or
    # %i%I for -ii): as rsync's server, it then says "created directory" and sends every
    # item's iflags (rsync: options.c server_options(), log.c stdout_format_has_i)
    fmt = opts.log_format or ""
    itemize = 0 if "%i" not in fmt else 2 if "%i%I" in fmt else 1
    config = ReceiveConfig(
        filters=filters,
        itemize=itemize,
        verbose=opts.verbose,
        whole_file=opts.whole_file is True,
        max_delete=opts.max_delete,
        umask=_umask(),
        protect_backups=False,  # the client sends its "P *~" rule when it deletes
        flist_memory_limit=opts.alloc_limit,
        # --only-write-batch: the client records the transfer; nothing changes here
        batch_only=opts.only_write_batch is not None,
        out=OutputLevels.build(verbose=opts.verbose, info=opts.info, debug=opts.debug),
        role_prefix="server daemon " if module is not None else "server ",
        charset=charset_for(server_iconv(opts.iconv, module), server=True),
    )
    reporter = PeerReporter(protocol=protocol, verbose=opts.verbose, module=module)
    if module is not None and module.ignore_errors:
        opts.ignore_errors = True
    if module is not None and module.temp_dir and opts.temp_dir is None:
        opts.temp_dir = module.temp_dir  # rsync: clientserver.c rsync_module()
    side = ReceiverSide(
        ws,
        session,
        opts,
        config,
        dest,
        reporter,
        server_sender=False,
        destination=destination,
        daemon_rules=rules,
        adjust=entry_adjuster(module) if module is not None else None,
    )
    reporter.shared = side.shared

    def on_message(code: int, payload: bytes) -> None:
        if code in (Msg.INFO, Msg.ERROR, Msg.WARNING, Msg.ERROR_XFER, Msg.LOG):
            log.info("client says: %s", payload.decode("utf-8", "replace").rstrip())
            return
        side.on_message(code, payload)

    ws.on_message = on_message
    if module is not None:
        # rsync: flist.c recv_file_list() (FLOG, the daemon's log only)
        log.info("receiving file list")  # the peer and module are on the record
    try:
        stats = await side.run()
        # what a server receiver sent and read (rsync: log_exit() of a server): the
        # generator writes through its own stream, whose count starts at the file list
        out = side.shared.out_ws
        stats.total_written = ws.bytes_written + (out.bytes_written if out is not ws else 0)
        stats.total_read = ws.bytes_read
        return stats
    finally:
        side.close()
