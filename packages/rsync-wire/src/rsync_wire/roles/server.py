"""The server side of a session after its preamble: negotiation, then the role.

Both ``--server`` mode (a client started us over a remote shell) and the daemon
(after module selection and the argument list) come here: we write the compat
flags, exchange checksum and compression names, send the seed, switch on
multiplexing, and run the role the arguments ask for.

rsync: main.c start_server(), do_server_sender(); compat.c setup_protocol().
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING

import anyio

from rsync_wire.errors import ExitCode, RemoteError, RsyncError, exit_line
from rsync_wire.fs import Root, split_path
from rsync_wire.proto.args import ArgumentError, parse_bwlimit
from rsync_wire.proto.charset import charset_for
from rsync_wire.proto.constants import (
    PROTOCOL_VERSION,
    Msg,
)
from rsync_wire.proto.filters import FilterListReader
from rsync_wire.proto.negotiate import Negotiation, Offer, Session
from rsync_wire.roles.flists import receiver_can_inc_recurse
from rsync_wire.roles.module import ModuleContext, server_iconv
from rsync_wire.roles.negotiation import negotiate
from rsync_wire.roles.scan import sanitize_path
from rsync_wire.roles.server_options import (
    module_refusals,
    refuse_message,
    refused_by_module,
    unimplemented,
)
from rsync_wire.roles.xferlog import ServerLog, set_server_log

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rsync_wire.proto.args import ServerArgs
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.stream import WireStream

__all__ = [
    "ModuleContext",
    "drain_filter_list",
    "end_refused",
    "refuse_session",
    "run_server",
    "sanitize_path",
    "unsupported_options",
]

log = logging.getLogger("rsync_wire.server")


def unsupported_options(parsed: ServerArgs, module: ModuleContext | None) -> list[str]:
    """Rsync's refusal lines for ``parsed`` (empty: nothing refused).

    An option this server does not implement is refused by name, and so is one the
    module's ``refuse options`` name; see :mod:`rsync_wire.roles.server_options`.

    rsync: options.c create_refuse_error().
    """
    o = parsed.options
    daemon = module is not None
    verb = "is configured to refuse" if daemon else "does not support"
    lines = [f"The server {verb} --{name}" for name in o.refused]
    option = unimplemented(o, receiving=not o.sender)
    if option is not None:
        lines.append(refuse_message(option, daemon=daemon, spelled=parsed.spelled))
    if module is not None:
        words = module_refusals(module.refuse_options, charset=module.charset)
        option = refused_by_module(o, words)
        if option is not None:
            lines.append(refuse_message(option, daemon=True, spelled=parsed.spelled))
    return lines[:1]


def _can_inc_recurse(parsed: ServerArgs) -> bool:
    """Whether this server's file lists go incrementally for these arguments.

    As the sender: recursive, with one source argument and without ``-R`` or
    ``--files-from`` (their implied-directory bookkeeping is not implemented here); rsync
    additionally refuses it with ``--qsort``. As the receiver: see
    :func:`~rsync_wire.roles.flists.receiver_can_inc_recurse`.

    rsync: compat.c set_allow_inc_recurse().
    """
    o = parsed.options
    if not o.inc_recursive:
        return False
    if not o.sender:
        return receiver_can_inc_recurse(o)
    return (
        o.recursive
        and not o.relative
        and o.files_from is None
        and not o.qsort
        and len(parsed.paths) == 1
    )


def _make_seed(requested: int) -> int:
    if requested:
        return requested
    seed = (int(time.time()) ^ (os.getpid() << 6)) & 0xFFFFFFFF
    return seed - (1 << 32) if seed >= 1 << 31 else seed


def _negotiation(parsed: ServerArgs, protocol: int | None) -> Negotiation:
    """The server's side of the negotiation, from its arguments.

    rsync: compat.c setup_protocol().
    """
    opts = parsed.options
    return Negotiation(
        server=True,
        protocol=protocol,
        # --protocol=N: announced as it is, then at most N is spoken (a daemon's protocol
        # was agreed in its greeting already)
        ours=opts.protocol or PROTOCOL_VERSION,
        offer=Offer(
            checksum_choice=opts.checksum_choice,
            compress=opts.compress,
            compress_choice=opts.compress_choice,
            compress_level=opts.compress_level,
            capabilities=opts.capabilities or "",
            inc_recurse=_can_inc_recurse(parsed),
            seed=_make_seed(opts.checksum_seed),
        ),
    )


def _start_mux(ws: WireStream, session: Session) -> None:
    ws.start_mux_out()
    if session.mux_from_client:
        ws.start_mux_in(server=True)


async def send_error(ws: WireStream, session: Session, text: str) -> None:
    """Send an error line to the client (MSG_ERROR, or MSG_ERROR_XFER below protocol 30)."""
    code = Msg.ERROR if session.extended_msgs else Msg.ERROR_XFER
    if not text.endswith("\n"):
        text += "\n"
    await ws.write_message(code, text.encode("utf-8", "backslashreplace"))


async def _fail(
    ws: WireStream,
    session: Session,
    text: str,
    code: ExitCode,
    *,
    early: bool = False,
    role: str | None = None,
) -> int:
    """Report a fatal error the way rsync's server does, then end the session.

    From protocol 31 MSG_ERROR_EXIT carries the code; once the server reads the client's
    input (``early`` false: after the filter list) it waits for the client's answer and
    the client's close. A refusal before that (``early``), and every error before
    protocol 31, flushes, pauses briefly and closes at once: the client, still sending,
    sees the connection end (rsync's daemon leaves those bytes unread, and the client
    reports the reset, exit 10, below 31).

    rsync: cleanup.c _exit_cleanup() (MSG_ERROR_EXIT and noop_io_until_death(), which
    returns at once before input buffering starts; msleep(100) for a server).
    """
    await send_error(ws, session, text)
    if role is not None:
        # the role's own exit line follows what made it exit (an option refusal has none)
        await send_error(ws, session, _exit_line(code, role))
    if session.error_exit_msg:
        await ws.write_message(Msg.ERROR_EXIT, int(code).to_bytes(4, "little", signed=True))
    await ws.flush()
    if session.error_exit_msg and not early:
        await ws.wait_eof(limit=10)
    else:
        await anyio.sleep(0.1)
    return int(code)


def _fatal_text(exc: RsyncError) -> str:
    """The line a fatal error is told in: ``rsync: `` first, unless the text has its own."""
    bare = getattr(exc, "bare", False) is True or str(exc).startswith(("rsync", "ERROR"))
    return str(exc) if bare else f"rsync: {exc}"


async def drain_filter_list(ws: WireStream) -> None:
    """Read the client's filter list and drop it: a sender refusing once it has read it.

    The client then finds its input read when the daemon closes (rsync: main.c
    start_server(), recv_filter_list() before do_server_sender()'s checks).
    """
    with anyio.move_on_after(10), contextlib.suppress(RsyncError, OSError):
        reader = FilterListReader(None)
        while not await ws.decode(reader.decode_some):
            pass


async def end_refused(
    ws: WireStream,
    session: Session,
    lines: Sequence[str],
    code: ExitCode,
    *,
    sender: bool | None,
    reading: bool = False,
) -> int:
    """End a daemon session its module refused, with what rsync's daemon lets reach the client.

    The refusal ``lines`` are flushed at once, as rsync's daemon flushes a refused
    option's or a failed pre-xfer exec's. Then comes rsync's exit: the exit line naming
    the daemon's role and, from protocol 31, MSG_ERROR_EXIT. A receiver flushes them, so
    a refused upload ends with the daemon's code. A sender does not: unless it is already
    ``reading`` the client's input (after the filter list, where it then reads until the
    client closes, which flushes its output), they are lost when it exits, and the client
    of a refused download sees the connection reset (exit 10) rather than the daemon's
    code. ``sender`` ``None`` (the arguments were not read): the lines and, from 31, the
    code, without an exit line.

    rsync: clientserver.c rsync_module() (io_flush(MSG_FLUSH) after the err_msg lines,
    msleep(400), exit_cleanup(RERR_UNSUPPORTED)); cleanup.c _exit_cleanup() (log_exit(),
    MSG_ERROR_EXIT, io_flush() only when !am_sender, noop_io_until_death(), which returns
    at once before input buffering starts).
    """
    for text in lines:
        await send_error(ws, session, text)
    await ws.flush()
    if sender and not (reading and session.error_exit_msg):
        await anyio.sleep(0.4)  # rsync: msleep(400) before exit_cleanup()
        return int(code)
    if sender is not None:
        await send_error(ws, session, _exit_line(code, "sender" if sender else "Receiver"))
    if session.error_exit_msg:
        await ws.write_message(Msg.ERROR_EXIT, int(code).to_bytes(4, "little", signed=True))
    await ws.flush()
    if reading and session.error_exit_msg:
        await ws.wait_eof(limit=10)
    else:
        await anyio.sleep(0.1)
    return int(code)


def _exit_line(code: ExitCode, role: str) -> str:
    """Rsync's ``rsync error: ... [ROLE=VERSION]`` line for a server that exits with ``code``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("rsync-wire")
    except (PackageNotFoundError, OSError):
        ours = "?"
    return exit_line(int(code), program="pyrsync", role=role, version=ours)


async def refuse_session(
    ws: WireStream, *, protocol: int, message: str, code: ExitCode, sender: bool
) -> int:
    """Refuse a daemon session whose arguments did not parse: flags and seed, then the error.

    ``sender``: whether the client asked the daemon to send (``--sender``), which decides
    what reaches the client (:func:`end_refused`).

    rsync: clientserver.c rsync_module() (the option-refusal path).
    """
    if protocol >= 30:
        ws.write_varint(0)
    ws.write_int32(_make_seed(0))
    await ws.flush()
    session = Session(protocol=protocol)
    _start_mux(ws, session)
    return await end_refused(ws, session, [f"rsync: {message}"], code, sender=sender)


def _on_message(code: int, payload: bytes) -> None:
    """What a server does with a message from the client."""
    if code == Msg.ERROR_EXIT:
        status = int.from_bytes(payload[:4], "little", signed=True) if payload else 0
        exit_code = ExitCode(status) if status in ExitCode._value2member_map_ else ExitCode.PARTIAL
        msg = "peer ended the session"
        raise RemoteError(msg, exit_code=exit_code)
    if code in (Msg.ERROR, Msg.ERROR_XFER, Msg.WARNING, Msg.INFO):
        log.info("client says: %s", payload.decode("utf-8", "replace").rstrip())
    # MSG_NOOP, empty keep-alives, MSG_IO_ERROR and others need no action from a sender.


async def run_server(
    ws: WireStream,
    parsed: ServerArgs,
    *,
    module: ModuleContext | None = None,
    protocol: int | None = None,
    root_path: str | None = None,
) -> int:
    """Run the server side of one session; returns rsync's exit code.

    Args:
        ws: the connection.
        parsed: the parsed ``--server`` arguments.
        module: the daemon module (``None`` in remote-shell mode).
        protocol: the protocol agreed in the daemon greeting; ``None`` means a remote-shell
            session whose version exchange happens here.
        root_path: in remote-shell mode, the directory paths are relative to (default ``.``).
    """
    opts = parsed.options
    if module is not None:
        opts.confine_root = None  # a daemon's module is the boundary (rsync: options.c)
    session = await negotiate(ws, _negotiation(parsed, protocol))
    protocol = session.protocol
    ws.on_message = _on_message
    # rsync counts only the bytes that pass its buffers, which start here: the daemon
    # greeting, the arguments, the version and the negotiation are not in the statistics
    # (rsync: io.c read_buf()/write_buf() before io_start_buffering_in(), multiplex_out()).
    ws.bytes_read = ws.buffered
    ws.bytes_written = 0
    _start_mux(ws, session)
    if module is not None and module.timeout and session.error_exit_msg:
        await ws.write_message(Msg.IO_TIMEOUT, module.timeout.to_bytes(4, "little"))
    if opts.bwlimit:
        try:
            ws.set_bwlimit(parse_bwlimit(opts.bwlimit))
        except ArgumentError as exc:
            return await _fail(ws, session, f"rsync: {exc}", ExitCode.SYNTAX, early=True)
    for used, name in ((opts.preserve_acls, "--acls"), (opts.preserve_xattrs, "--xattrs")):
        if used and protocol < 30:  # rsync: compat.c setup_protocol()
            text = f"{name} requires protocol 30 or higher (negotiated {protocol})."
            return await _fail(ws, session, text, ExitCode.PROTOCOL, early=True)
    refused = unsupported_options(parsed, module)
    if opts.insecure_links:
        if module is not None:
            # a client cannot relax a daemon's confinement: only the module's own
            # "insecure links" can (rsync: options.c parse_one_refuse_match())
            refused = refused or ["The server is configured to refuse --insecure-links"]
        else:  # a remote-shell server's own opt-out (rsync: --rsync-path="rsync --insecure-links")
            from rsync_wire.fs import set_insecure_links

            set_insecure_links(on=True)
    if not refused and module is not None and (opts.log_file or opts.log_file_format):
        # a daemon keeps its own log: a client never names the file (rsync: the daemon
        # ignores a client's --log-file); refused rather than ignored
        verb = "is configured to refuse"
        refused = [f"The server {verb} --log-file{'' if opts.log_file else '-format'}"]
    if refused:
        text = f"rsync: {refused[0]}"
        if module is None:
            return await _fail(ws, session, text, ExitCode.UNSUPPORTED, early=True)
        return await end_refused(ws, session, [text], ExitCode.UNSUPPORTED, sender=opts.sender)
    if not opts.sender and module is not None:
        from rsync_wire.roles.daemon_rules import DaemonRules
        from rsync_wire.roles.output import rejected_by_module

        if rejected_by_module(opts, DaemonRules.for_module(module, protocol=protocol)):
            # rsync: options.c parse_arguments() (a hidden --temp-dir or --backup-dir)
            text = "rsync: Your options have been rejected by the server."
            return await end_refused(ws, session, [text], ExitCode.UNSUPPORTED, sender=False)
    if opts.sender and opts.remove_source_files and module is not None and module.read_only:
        # rsync: main.c do_server_sender(), after start_server()'s recv_filter_list()
        await drain_filter_list(ws)
        text = "ERROR: --remove-source-files cannot be used with a read-only module"
        return await end_refused(ws, session, [text], ExitCode.SYNTAX, sender=True, reading=True)
    if opts.copy_as is not None:
        from rsync_wire.copy_as import CopyAsError, become_copy_as_user

        if module is not None:  # a daemon has dropped its privileges already
            text = "rsync: pyrsyncd does not support --copy-as in a daemon module"
            return await _fail(ws, session, text, ExitCode.UNSUPPORTED, early=True)
        try:  # rsync: main.c do_server_sender(), do_server_recv()
            become_copy_as_user(opts.copy_as, who="sender" if opts.sender else "receiver")
        except CopyAsError as exc:
            text = str(exc) if exc.bare else f"rsync: {exc}"
            return await _fail(ws, session, text, ExitCode.SYNTAX, early=True)
    xlog = _open_server_log(opts) if module is None and opts.log_file else None
    try:
        code = await _serve(ws, session, parsed, module=module, root_path=root_path, xlog=xlog)
    finally:
        if xlog is not None:
            set_server_log(None)
            xlog.close()
    return code


def _open_server_log(opts: TransferOptions) -> ServerLog | None:
    """A remote-shell server's ``--log-file``; ``None`` (and a warning) when it cannot open.

    rsync: log.c logfile_open() (0644 less 022 and the umask; a failure is not fatal).
    """
    from rsync_wire.fs import open_trusted

    assert opts.log_file is not None  # noqa: S101 - the caller checked
    old = os.umask(0o022)
    os.umask(old | 0o022)
    try:
        fd = open_trusted(os.fsencode(opts.log_file), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        log.warning("failed to open log-file %s: %s", opts.log_file, exc.strerror)
        return None
    finally:
        os.umask(old)
    fmt = opts.log_file_format if opts.log_file_format is not None else "%i %n%L"
    server = ServerLog(fd, fmt, dry_run=opts.dry_run)
    set_server_log(server)
    return server


async def _serve(
    ws: WireStream,
    session: Session,
    parsed: ServerArgs,
    *,
    module: ModuleContext | None,
    root_path: str | None,
    xlog: ServerLog | None,
) -> int:
    """The role the arguments ask for (after the negotiation and the refusals)."""
    opts = parsed.options
    # the total size of the files listed, and (a receiver's) bytes sent and received
    total = [0, -1, -1]
    log.debug("server %s, protocol %d", "sender" if opts.sender else "receiver", session.protocol)
    if xlog is not None:
        # rsync: flist.c send_file_list() / recv_file_list() (FLOG)
        xlog.line("building file list" if opts.sender else "receiving file list")
    try:
        return await _serve_role(
            ws, session, parsed, module=module, root_path=root_path, total=total
        )
    finally:
        # rsync: log.c log_exit() (a server always writes its totals)
        written = total[1] if total[1] >= 0 else ws.bytes_written + ws.pending_output
        read = total[2] if total[2] >= 0 else ws.bytes_read
        totals = f"sent {written} bytes  received {read} bytes  total size {total[0]}"
        if xlog is not None:
            xlog.line(totals)
        stats = {"bytes_sent": written, "bytes_received": read, "total_size": total[0]}
        # a daemon's log has them after every transfer, a remote-shell server's only at -vv
        log.log(logging.INFO if module is not None else logging.DEBUG, "%s", totals, extra=stats)


async def _serve_role(
    ws: WireStream,
    session: Session,
    parsed: ServerArgs,
    *,
    module: ModuleContext | None,
    root_path: str | None,
    total: list[int],
) -> int:
    opts = parsed.options
    protocol = session.protocol
    # rsync: who_am_i() (a receiving server is "Receiver" until it forks its generator)
    who = "sender" if opts.sender else "Receiver"
    ws.who = f"{who}/inc" if session.inc_recurse else who
    if not opts.sender:
        if module is not None and module.read_only:
            # rsync: main.c do_server_recv(), before it reads anything
            return await _fail(
                ws,
                session,
                "ERROR: module is read only",
                ExitCode.SYNTAX,
                early=True,
                role="Receiver",
            )
        return await _serve_upload(
            ws, session, parsed, module=module, root_path=root_path, total=total
        )
    paths = parsed.paths
    if module is not None:
        paths = [
            sanitize_path(_strip_module(p, module.name), keep_dot_dirs=opts.relative) for p in paths
        ]
        if module.numeric_ids:
            opts.numeric_ids = True
        if module.fake_super:  # rsync: clientserver.c rsync_module() (am_root = -1)
            opts.fake_super = True
        _limit_verbosity(opts, module.max_verbosity)
        base = module.path
    else:
        base = root_path or "."
    try:
        root = Root(base, insecure_links=module is not None and module.insecure_links)
    except OSError as exc:
        return await _fail(
            ws,
            session,
            f"rsync: chdir {base} failed: {exc.strerror}",
            ExitCode.FILESELECT,
            role="sender",
        )
    from rsync_wire.roles.sender import SenderRole

    try:
        if module is not None:
            # rsync: io.c read_args() -> util1.c glob_expand_module()
            from rsync_wire.roles.daemon_glob import glob_expand
            from rsync_wire.roles.daemon_rules import DaemonRules

            rules = DaemonRules.for_module(module, protocol=protocol)
            paths = [p for arg in paths for p in glob_expand(root, arg, rules)]
            log.info("building file list")  # rsync: flist.c (FLOG)
        role = SenderRole(
            ws,
            session,
            opts,
            root,
            paths,
            module=module,
            charset=charset_for(server_iconv(opts.iconv, module), server=True),
        )
        report = await role.run()
        total[0] = report.total_size
    except RsyncError as exc:
        if isinstance(exc, RemoteError):
            return int(exc.exit_code)
        try:
            return await _fail(ws, session, _fatal_text(exc), exc.exit_code, role="sender")
        except RsyncError:
            return int(exc.exit_code)
    finally:
        root.close()
    return report.exit_code


async def _serve_upload(
    ws: WireStream,
    session: Session,
    parsed: ServerArgs,
    *,
    module: ModuleContext | None,
    root_path: str | None,
    total: list[int],
) -> int:
    """Receive what the client pushes (see :mod:`rsync_wire.roles.upload`).

    rsync: main.c do_server_recv().
    """
    from rsync_wire.roles.upload import receive_upload

    opts = parsed.options
    paths = parsed.paths
    dest = paths[0] if paths else b"."
    root: Root | None = None
    if module is not None:
        dest = sanitize_path(_strip_module(dest, module.name))
        if module.numeric_ids:
            opts.numeric_ids = True
        if module.fake_super:  # rsync: clientserver.c rsync_module() (am_root = -1)
            opts.fake_super = True
        _limit_verbosity(opts, module.max_verbosity)
        try:
            root = Root(module.path, insecure_links=module.insecure_links)
        except OSError as exc:
            return await _fail(
                ws,
                session,
                f"rsync: chdir {module.path} failed: {exc.strerror}",
                ExitCode.FILESELECT,
                role="Receiver",
            )
    elif opts.confine_root is not None:
        root = Root(opts.confine_root)  # dest is relative to it (rsync_daemon.stdio)
    elif root_path and not dest.startswith(b"/"):
        dest = os.fsencode(root_path).rstrip(b"/") + b"/" + dest
    try:
        stats = await receive_upload(ws, session, opts, dest, module=module, root=root)
        total[:] = [stats.total_size, stats.total_written, stats.total_read]
    except RsyncError as exc:
        if isinstance(exc, RemoteError):
            return int(exc.exit_code)
        try:
            return await _fail(ws, session, _fatal_text(exc), exc.exit_code, role="receiver")
        except RsyncError:
            return int(exc.exit_code)
    finally:
        if root is not None:
            root.close()
    return int(stats.exit_code())


def _limit_verbosity(opts: TransferOptions, limit: int) -> None:
    """Clamp the client's ``-v`` and ``--info``/``--debug`` levels to the module's limit.

    rsync: clientserver.c rsync_module() -> options.c limit_output_verbosity().
    """
    limit = max(0, limit)
    opts.verbose = min(opts.verbose, limit)

    def clamp(words: list[str], most: int) -> list[str]:
        kept = []
        for word in words:
            name = word.rstrip("0123456789")
            digits = word[len(name) :]
            level = int(digits) if digits else 1
            if min(level, most) > 0:
                kept.append(f"{name}{min(level, most)}")
        return kept

    opts.info = clamp(opts.info, limit)
    opts.debug = clamp(opts.debug, max(0, limit - 1))


def _strip_module(path: bytes, name: str) -> bytes:
    """Remove the leading ``module/`` (or the bare module name) from a path argument."""
    prefix = name.encode()
    if path == prefix:
        return b"."
    if path.startswith(prefix + b"/"):
        rest = path[len(prefix) + 1 :]
        return rest if rest else b"./"
    if not split_path(path):
        return b"./"
    return path
