"""One ``pyrsync`` run: from the options and the arguments to the transfer's statistics.

:func:`run` classifies the arguments (daemon, remote shell, local), opens the
transport, and hands the connection to the wire layer's client
(:func:`rsync_wire.roles.client.setup_client_protocol`, then
:func:`~rsync_wire.roles.client.run_pull` for a remote source or
:func:`~rsync_wire.roles.client.run_push` for a remote destination) or, for a local
copy, to :func:`rsync_wire.roles.local.run_local_copy`. Errors are raised as
:class:`~rsync_wire.errors.RsyncError` with rsync's exit codes; turning them into
messages and a process status is :mod:`rsync_client.cli`'s job.

rsync: main.c start_client(), client_run().
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn

import anyio

from rsync_client.confine import confine_client
from rsync_client.options import (
    ClientOptions,
    Location,
    OptionError,
    check_role,
    itemizing,
    parse_location,
    server_log_format,
)
from rsync_client.output import child_argv_line
from rsync_client.runsetup import (
    RunResult,
    build_filters,
    read_arg_file,
    receive_config,
    secluded_split,
)
from rsync_client.transports.daemon import connect_daemon, daemon_preamble, read_early_input
from rsync_wire.copy_as import prepare_copy_as
from rsync_wire.errors import ConnectionLost, ExitCode, RsyncError, UnsupportedError
from rsync_wire.fs import Root
from rsync_wire.proto.args import build_server_args
from rsync_wire.proto.charset import to_wire_args
from rsync_wire.proto.constants import CF, DEFAULT_PORT, PROTOCOL_VERSION
from rsync_wire.proto.filters import (
    FilterList,
    cvs_exclude_rules,
)
from rsync_wire.proto.handshake import encode_secluded_args
from rsync_wire.proto.optable import Role
from rsync_wire.proto.outlevels import OutputLevels, nstr_lines
from rsync_wire.roles.client import (
    pull_capabilities,
    push_capabilities,
    run_pull,
    run_push,
    setup_client_protocol,
)
from rsync_wire.roles.receiving import ReceiveStats
from rsync_wire.roles.scan import sanitize_path
from rsync_wire.stream import WireStream

if TYPE_CHECKING:
    from anyio.abc import Process

    from rsync_client.output import Output
    from rsync_wire.proto.negotiate import Session
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.roles.batch import BatchWriter

__all__ = ["run"]


def _files_from(opts: ClientOptions, *, forward: bool = False) -> list[bytes] | None:
    """The names of a local ``--files-from`` list (``None`` without one).

    A list this side reads for its own sender loses its comment lines; one forwarded to a
    server sender goes as it is (rsync: io.c read_line(RL_DUMP_COMMENTS) in
    send_file_list(), forward_filesfrom_data()).
    """
    if opts.files_from is None:
        return None
    data = read_arg_file(opts.files_from, "files-from")
    sep = b"\0" if opts.from0 else b"\n"
    names = []
    for line in data.split(sep):
        name = line.rstrip(b"\r") if not opts.from0 else line
        # a local list may hold comments (rsync: io.c read_line(RL_DUMP_COMMENTS))
        if name and (forward or name[:1] not in (b"#", b";")):
            names.append(name)
    return names


async def run(opts: ClientOptions, args: list[str], output: Output) -> RunResult:
    """Run the transfer the arguments describe; returns the statistics and exit code.

    Raises:
        RsyncError: with rsync's exit code (syntax, connection, protocol, ...).
    """
    if opts.read_batch is not None:
        from rsync_client.batchrun import run_read_batch

        return await run_read_batch(opts, args, output)
    if not args:
        msg = "rsync: no source or destination given (see --help)"
        raise OptionError(msg)
    if opts.write_batch is not None or opts.only_write_batch is not None:
        from rsync_client.batchrun import with_batch

        return await with_batch(opts, args, output, _run)
    return await _run(opts, args, output, None)


async def _run(
    opts: ClientOptions, args: list[str], output: Output, batch: BatchWriter | None
) -> RunResult:
    """:func:`run` once the batch file (if any) is open."""
    if len(args) == 1:
        sources, dest = args, None
    else:
        sources, dest = args[:-1], args[-1]
    locs = [parse_location(s) for s in sources]
    if dest is not None and (target := parse_location(dest)).kind != "local":
        if all(loc.kind == "local" for loc in locs):
            if any(not s for s in sources):
                _bare("Empty source arg specified.")
            return await _run_push(opts, sources, target, output, batch)
        msg = "The source and destination cannot both be remote."
        raise OptionError(msg)
    kinds = {loc.kind for loc in locs}
    if len(kinds) > 1:
        msg = "rsync: all sources must be on the same host (and all remote or all local)"
        raise OptionError(msg)
    kind = kinds.pop()
    if dest is None and kind != "local":
        opts.list_only_implied = True
    if dest is None and kind == "local" and not opts.list_only:
        opts.list_only_implied = True
    if kind == "local":
        if any(not s for s in sources):
            _bare("Empty source arg specified.")
        if dest is not None and not dest:
            _bare('Empty destination arg specified (use "." or see --old-args).')
        output.am_sender = True  # rsync's client sends a local copy (its receiver is a child)
        output.source_dir = _source_dir(sources)
        return await _run_local(opts, sources, dest, output, batch)
    hosts = {(loc.host, loc.user, loc.port) for loc in locs}
    if len(hosts) > 1:
        msg = "rsync: all remote sources must be on the same host"
        raise OptionError(msg)
    check_role(opts, Role.CLIENT_RECEIVER)
    if kind == "daemon":
        return await _run_daemon(opts, locs, dest, output, batch)
    return await _run_shell(opts, locs, dest, output, batch)


def _paced(ws: WireStream, opts: ClientOptions) -> WireStream:
    """``--bwlimit``: the client paces what it writes (rsync: io.c sleep_for_bwlimit())."""
    if opts.bwlimit:
        ws.set_bwlimit(opts.bwlimit * 1024)
    return ws


def _source_dir(sources: list[str]) -> str:
    """The directory a sender's names are in, for ``%f`` (one source only; else none).

    rsync: flist.c send_file_list() (F_PATHNAME: the argument, or its directory).
    """
    if len(sources) != 1:
        return ""
    arg = sources[0]
    if arg.endswith(("/", "/.")) or arg == ".":
        return arg.rstrip(".").rstrip("/") or ("/" if arg.startswith("/") else "")
    return os.path.dirname(arg)


def _family_flag(opts: ClientOptions) -> str:
    return "-4" if opts.ipv4 else "-6" if opts.ipv6 else ""


def _bare(message: str) -> NoReturn:
    """Refuse the command line with a message rsync prints without its prefix (exit 1)."""
    err = OptionError(message)
    err.bare = True
    raise err


def _say_nstr(output: Output, opts: ClientOptions, session: Session) -> None:
    """``--debug=NSTR``: the agreed checksum and compressor (rsync: compat.c)."""
    if OutputLevels.build(debug=opts.debug).debug_gte("NSTR"):
        for line in nstr_lines(
            session,
            checksum_choice=opts.checksum_choice,
            compress_choice=opts.compress_choice,
        ):
            output.info(line)


def _say_rule_notes(output: Output, filters: FilterList) -> None:
    """``--debug=FILTER``: what rsync says while it adds the command line's rules.

    rsync: exclude.c add_rule() (during option parsing, before any connection).
    """
    notes, filters.debug_rules = filters.debug_rules, None
    for line in notes or ():
        output.info(line)


def _add_cvs(filters: FilterList, opts: ClientOptions) -> None:
    if opts.cvs_exclude:
        _, after = cvs_exclude_rules(protocol=filters.protocol, am_sender=False, am_server=False)
        for text in after:
            filters.add_filter(text)


async def _run_local(
    opts: ClientOptions,
    sources: list[str],
    dest: str | None,
    output: Output,
    batch: BatchWriter | None = None,
) -> RunResult:
    topts = opts.transfer_options(local=True)
    topts.cvs_exclude = opts.cvs_exclude
    topts.capabilities = pull_capabilities(topts, allow=opts.inc_recursive)
    filters = build_filters(opts)
    _say_rule_notes(output, filters)
    _add_cvs(filters, opts)
    config = receive_config(opts, filters, None, local=True)
    if batch is not None:
        # rsync forces whole files on a local copy, but not when writing a batch (main.c)
        config.whole_file = opts.whole_file is True
        config.batch_only = opts.only_write_batch is not None
        topts.compress = opts.compress or opts.compress_choice not in (None, "none")
    names = _files_from(opts)  # checked and read first, as rsync does
    if names is not None and (dest is None or len(sources) != 1):
        # rsync: options.c (files_from with argc != 2: usage)
        _bare("rsync: --files-from needs exactly one source directory and a destination")
    check_role(opts, Role.LOCAL)
    switch = _copy_as(opts, who="Receiver")  # rsync: both processes switch, receiver first
    if opts.sandbox:
        note = confine_client(opts, sources, dest, per_dir_merge=filters.has_per_dir_merge)
        _confined(opts, output, note)
    switch()
    sender_root = None
    if opts.confine_root is not None:
        # the sender's per-directory merge files stay inside DIR (rsync: syscall.c
        # ona_open() with operator_path_resolve): the sender works inside it. rsync reads
        # source arguments where they are; one outside DIR is refused here only when a
        # merge file would be read below it.
        from rsync_client.batchrun import confined_sources

        sender_root, sources = confined_sources(
            opts.confine_root, sources, outside_ok=not filters.has_per_dir_merge
        )
    output.log_only("building file list")  # rsync: flist.c send_file_list() (FLOG)
    from rsync_wire.roles.local import run_local_copy  # a pull does without it

    # rsync's client is the sender, its forked server the receiver (pipe.c local_child())
    _say_charset(output, opts, "sender")
    _say_charset(output, opts, "Receiver", server=True)

    # both forked roles of rsync's local copy speak --protocol (rsync: compat.c
    # setup_protocol() in each; main.c local_server)
    protocol = opts.protocol or PROTOCOL_VERSION
    # the sending client logs: below 30 it learns nothing of symlink times ("T"; rsync:
    # compat.c setup_protocol(), receiver_symlink_times)
    output.receiver_symlink_times = protocol >= 30

    stats = await run_local_copy(
        [os.fsencode(s) for s in sources],
        None if dest is None else os.fsencode(dest),
        topts,
        config,
        output,
        capabilities=topts.capabilities,
        protocol=protocol,
        batch=batch,
        sender_root=sender_root,
        files_from=names,
    )
    return RunResult(stats, int(stats.exit_code()), protocol)


def _say_cmd(output: Output, opts: ClientOptions, prefix: str, words: list[str]) -> None:
    """``--debug=CMD`` (``-vv``): a command or argument list the client sends.

    rsync: util1.c print_child_argv() (pipe.c piped_child(), rsync.c send_protected_args(),
    clientserver.c start_inband_exchange()).
    """
    if OutputLevels.build(verbose=opts.verbose, debug=opts.debug).debug_gte("CMD"):
        output.client_only(child_argv_line(prefix, words))


def _say_charset(output: Output, opts: ClientOptions, who: str, *, server: bool = False) -> None:
    """``--debug=ICONV`` (``-vv``): the charset a side converts names with.

    ``[sender] charset: utf8``, the locale's codeset for ``.`` or an empty half.

    rsync: rsync.c setup_iconv() (after connecting, or in each half of a local copy).
    """
    if opts.iconv is None:
        return
    if not OutputLevels.build(verbose=opts.verbose, debug=opts.debug).debug_gte("ICONV"):
        return
    from rsync_wire.proto.charset import charset_line

    output.info(charset_line(opts.iconv, server=server, who=who))


def _say_connect(output: Output, opts: ClientOptions, host: str, port: int | None) -> None:
    """``--debug=CONNECT`` (``-vv``) and ``CMD``: how the client reaches a daemon.

    rsync: socket.c open_socket_out_wrapped(), open_socket_out(), sock_exec().
    """
    levels = OutputLevels.build(verbose=opts.verbose, debug=opts.debug)
    prog = os.environ.get("RSYNC_CONNECT_PROG")
    if levels.debug_gte("CONNECT"):
        port = port if port is not None and port > 0 else DEFAULT_PORT
        using = "Using RSYNC_CONNECT_PROG instead of " if prog else ""
        output.info(f"{using}opening tcp connection to {host} port {port}")
    if prog:
        if levels.debug_gte("CMD"):
            from rsync_client.transports.connect_prog import expand_connect_prog

            output.info(f'Running socket program: "{expand_connect_prog(prog, host)}"')
        return
    proxy = os.environ.get("RSYNC_PROXY")
    if proxy and levels.debug_gte("CONNECT"):
        from rsync_client.transports.proxy import parse_proxy

        with contextlib.suppress(RsyncError):  # connect_daemon() says what is wrong with it
            spec = parse_proxy(proxy)
            output.info(f"connection via http proxy {spec.host} port {spec.port}")


def _copy_as(opts: ClientOptions, *, who: str) -> Callable[[], None]:
    """``--copy-as``: the switch to that user, to run once confined, before any file I/O.

    rsync: main.c become_copy_as_user() (client_run(), do_recv()).
    """
    if opts.copy_as is None:
        return lambda: None
    from rsync_client.output import client_version

    client_version()  # read while the package's metadata is readable
    return prepare_copy_as(opts.copy_as, who=who)


def _confined(opts: ClientOptions, output: Output, note: str) -> None:
    """Say what confinement is in force, at -vvv (rsync has no such line)."""
    # not at -vv: scripts and rsync's own tests compare what -vv prints
    if opts.verbose > 2:
        output.info(f"pyrsync: {note}\n")


def _requested(paths: list[str], *, module: bool) -> list[bytes]:
    out = []
    for p in paths:
        if module:
            _, _, rest = p.partition("/")
            p = rest
        out.append(os.fsencode(p))
    return out


async def _pull(
    ws: WireStream,
    opts: ClientOptions,
    topts: TransferOptions,
    filters: FilterList,
    requested: list[bytes] | None,
    dest: str | None,
    output: Output,
    *,
    protocol: int | None,
    our_protocol: int,
    batch: BatchWriter | None = None,
) -> tuple[ReceiveStats, int]:
    session = await setup_client_protocol(
        ws, topts, protocol=protocol, our_protocol=our_protocol, batch=batch is not None
    )
    output.checksum = session.checksum if session.protocol >= 30 else "md4-old"
    _say_nstr(output, opts, session)
    filters.protocol = session.protocol
    local_filters = build_filters(opts, protocol=session.protocol)
    _add_cvs(local_filters, opts)
    files_from = None if topts.files_from not in (None, "-") else _files_from(opts, forward=True)
    if opts.files_from is not None:
        # forwarded names are what was asked for (rsync: io.c forward_filesfrom_data(),
        # add_implied_include); a list the server reads makes its names trusted
        # (options.c: trust_sender_args with filesfrom_host)

        requested = (
            [sanitize_path(n, keep_dot_dirs=True) for n in files_from]
            if files_from is not None
            else None
        )
    config = receive_config(opts, local_filters, requested, local=False)
    config.batch_only = opts.only_write_batch is not None
    if files_from is not None and session.protocol == 30:
        msg = "--files-from with a local file needs protocol 31 or newer, or 29 and older"
        raise UnsupportedError(msg)
    switch = _copy_as(opts, who="Receiver")
    if opts.sandbox:
        _confined(opts, output, confine_client(opts, [], dest))
    switch()
    output.log_only("receiving file list")  # rsync: flist.c recv_file_list() (FLOG)
    stats = await run_pull(
        ws,
        session,
        topts,
        config,
        None if dest is None else os.fsencode(dest),
        output,
        files_from=files_from,
        send_filters=filters,
        batch=batch,
    )
    return stats, session.protocol


Transfer = Callable[[WireStream, "int | None", int], Awaitable[tuple[ReceiveStats, int]]]
"""The session after the transport: ``(ws, agreed protocol or None, our protocol)`` to
``(statistics, protocol)`` (a pull or a push)."""


def _pull_topts(opts: ClientOptions, source: Location) -> TransferOptions:
    topts = opts.transfer_options()
    remote_list = _remote_files_from(opts, source)
    if remote_list is not None:  # the server reads it (rsync: options.c server_options())
        topts.files_from = remote_list
        topts.from0 = opts.from0
    topts.capabilities = pull_capabilities(topts, allow=opts.inc_recursive)
    topts.cvs_exclude = opts.cvs_exclude
    return topts


async def _run_daemon(
    opts: ClientOptions,
    locs: list[Location],
    dest: str | None,
    output: Output,
    batch: BatchWriter | None = None,
) -> RunResult:
    topts = _pull_topts(opts, locs[0])
    filters = build_filters(opts)
    _say_rule_notes(output, filters)
    paths = [loc.path for loc in locs]

    async def pull(
        ws: WireStream, protocol: int | None, our_protocol: int
    ) -> tuple[ReceiveStats, int]:
        return await _pull(
            ws,
            opts,
            topts,
            filters,
            _requested(paths, module=True),
            dest,
            output,
            protocol=protocol,
            our_protocol=our_protocol,
            batch=batch,
        )

    return await _daemon_session(opts, locs, topts, pull, output)


async def _daemon_session(
    opts: ClientOptions,
    locs: list[Location],
    topts: TransferOptions,
    transfer: Transfer,
    output: Output,
) -> RunResult:
    """Reach the daemon (TCP, a proxy, a connect program, or ``-e``), then transfer.

    ``locs`` are the remote arguments: the sources of a pull, the destination of a push.
    """
    first = locs[0]
    paths = [loc.path for loc in locs]
    module = first.path.split("/", 1)[0]
    if first.path.startswith("/"):
        msg = "ERROR: The remote path must start with a module name"
        raise RsyncError(msg, exit_code=ExitCode.STARTCLIENT)
    our_protocol = opts.protocol or PROTOCOL_VERSION
    process = None
    early_input = b""
    if opts.early_input is not None:
        early_input = read_early_input(
            opts.early_input, who="sender" if output.sending else "Receiver"
        )
    if opts.rsh:
        from rsync_client.transports.rsh import remote_command, spawn

        argv = remote_command(
            opts.rsh,
            first.host,
            first.user,
            opts.rsync_path,
            [],
            daemon=True,
            family=_family_flag(opts),
        )
        _say_cmd(output, opts, "opening connection using:", argv)
        process = await spawn(argv)
        assert process.stdout is not None  # noqa: S101 - spawned with pipes
        assert process.stdin is not None  # noqa: S101
        ws = _paced(WireStream(process.stdout, process.stdin, timeout=opts.timeout or None), opts)
    else:
        family = socket.AF_INET if opts.ipv4 else socket.AF_INET6 if opts.ipv6 else 0
        _say_connect(output, opts, first.host, first.port or opts.port)
        stream = await connect_daemon(
            first.host,
            first.port or opts.port,
            contimeout=opts.contimeout,
            family=family,
            bind_address=opts.address,
            sockopts=opts.sockopts,
        )
        ws = _paced(WireStream(stream, stream, timeout=opts.timeout or None), opts)

    def server_paths() -> list[str]:
        out = []
        for p in paths:
            if p == module:
                out.append(module + "/")
            else:
                out.append(p)
        return out

    _say_charset(output, opts, "Receiver" if topts.sender else "sender")
    done = False
    try:
        reply = await daemon_preamble(
            ws,
            module,
            our_protocol=our_protocol,
            user=first.user,
            password_file=opts.password_file,
            build_args=lambda protocol: build_server_args(topts, server_paths(), protocol=protocol),
            secluded=topts.protect_args,
            iconv=topts.iconv,
            show=output.info,
            show_args=(
                (lambda prefix, words: _say_cmd(output, opts, prefix, words))
                if OutputLevels.build(verbose=opts.verbose, debug=opts.debug).debug_gte("CMD")
                else None
            ),
            show_motd=opts.motd,
            early_input=early_input,
        )
        if reply.listing_done or reply.protocol is None or not module:
            done = True
            return RunResult(None, 0, our_protocol)
        try:
            stats, protocol = await transfer(ws, reply.protocol, our_protocol)
        except ConnectionLost as exc:
            exc.bytes_received = ws.bytes_read  # type: ignore[attr-defined]
            raise
        done = True
        return RunResult(stats, int(stats.exit_code()), protocol)
    finally:
        await _close(ws, process, graceful=done)


async def _run_shell(
    opts: ClientOptions,
    locs: list[Location],
    dest: str | None,
    output: Output,
    batch: BatchWriter | None = None,
) -> RunResult:
    topts = _pull_topts(opts, locs[0])
    filters = build_filters(opts)
    _say_rule_notes(output, filters)
    paths = [loc.path or "." for loc in locs]

    async def pull(
        ws: WireStream, protocol: int | None, our_protocol: int
    ) -> tuple[ReceiveStats, int]:
        return await _pull(
            ws,
            opts,
            topts,
            filters,
            # --old-args: the remote shell splits the names again, so the names that come
            # back are trusted (rsync: options.c trust_sender_args)
            None if opts.old_args else _requested(paths, module=False),
            dest,
            output,
            protocol=protocol,
            our_protocol=our_protocol,
            batch=batch,
        )

    return await _shell_session(opts, locs, topts, pull, output)


async def _shell_session(
    opts: ClientOptions,
    locs: list[Location],
    topts: TransferOptions,
    transfer: Transfer,
    output: Output,
) -> RunResult:
    """Start ``rsync --server`` over the remote shell, then transfer.

    The exit code is the larger of ours and the remote program's.

    rsync: main.c client_run(), wait_process().
    """
    first = locs[0]
    paths = [loc.path or "." for loc in locs]
    our_protocol = opts.protocol or PROTOCOL_VERSION
    server_args = build_server_args(topts, paths, protocol=our_protocol)
    secluded = None
    if topts.protect_args:
        server_args, secluded = secluded_split(server_args)
    from rsync_client.transports.rsh import remote_command, spawn

    argv = remote_command(
        opts.rsh,
        first.host,
        first.user,
        opts.rsync_path,
        server_args,
        family=_family_flag(opts),
        old_args=opts.old_args or 0,
    )
    _say_cmd(output, opts, "opening connection using:", argv)
    if secluded is not None:
        _say_cmd(output, opts, "protected args:", secluded)  # rsync: send_protected_args()
    process = await spawn(argv)
    _say_charset(output, opts, "Receiver" if topts.sender else "sender")
    assert process.stdout is not None  # noqa: S101 - spawned with pipes
    assert process.stdin is not None  # noqa: S101
    ws = _paced(WireStream(process.stdout, process.stdin, timeout=opts.timeout or None), opts)
    if secluded is not None:
        # the rest of the arguments, before the version exchange; they never meet a shell
        # (rsync: main.c do_cmd() -> rsync.c send_protected_args())
        ws.write(encode_secluded_args(to_wire_args(secluded, topts.iconv)))
    code = 0
    done = False
    try:
        try:
            stats, protocol = await transfer(ws, None, our_protocol)
        except ConnectionLost as exc:
            exc.bytes_received = ws.bytes_read  # type: ignore[attr-defined]
            status = await _reap(process, wait=5.0)
            if status is not None and status > int(exc.exit_code):
                exc.exit_code = (
                    ExitCode(status) if status in ExitCode._value2member_map_ else exc.exit_code
                )
                exc.child_status = status  # type: ignore[attr-defined]
            raise
        code = int(stats.exit_code())
        done = True
    finally:
        await _close(ws, process, graceful=done)
    status = process.returncode
    if status is not None and status > code:
        code = status
    return RunResult(stats, code, protocol)


# -- push ---------------------------------------------------------------------------------------


def _source_path(source: str, *, relative: bool = False) -> bytes:
    """A source argument as the sender's root (``/``) sees it (see ``source_arg``)."""
    from rsync_wire.roles.local import source_arg

    return source_arg(os.fsencode(source), relative=relative)


def _remote_files_from(opts: ClientOptions, target: Location) -> str | None:
    """The remote file of ``--files-from=HOST:FILE`` (or ``:FILE``), or ``None`` if local.

    Raises:
        OptionError: rsync's message when the host is not the destination's (exit 1).

    rsync: options.c (check_for_hostspec on --files-from), main.c start_client().
    """
    value = opts.files_from
    if value is None or value == "-":
        return None
    if value.startswith(":"):
        path = value[1:]
    else:
        loc = parse_location(value)
        if loc.kind == "local":
            return None
        if loc.host != target.host:
            _bare("--files-from hostname is not the same as the transfer hostname")
        path = loc.path
    if not path or path == "-":
        _bare("Invalid --files-from remote filename")
    return path


def _push_topts(opts: ClientOptions, remote_list: str | None) -> TransferOptions:
    """The options of a push: the server receives.

    A local ``--files-from`` is read here, by the sender: the receiver gets only ``-R``
    (implied); a remote one is named to the server, which sends us its names.

    rsync: options.c server_options() (the am_sender branches).
    """
    topts = opts.transfer_options(sender=False)
    topts.cvs_exclude = opts.cvs_exclude
    topts.files_from = remote_list
    topts.from0 = opts.from0 and remote_list is not None
    if opts.files_from is not None:
        topts.relative = True
    # The receiving generator itemizes unchanged entries only when it knows the client's
    # format has %i (rsync: options.c server_options(), --log-format).
    topts.log_format = server_log_format(opts)
    topts.capabilities = push_capabilities(topts, allow=opts.inc_recursive)
    return topts


async def _run_push(
    opts: ClientOptions,
    sources: list[str],
    target: Location,
    output: Output,
    batch: BatchWriter | None = None,
) -> RunResult:
    """Send local ``sources`` to a remote destination (a daemon module or a remote shell).

    rsync: main.c client_run() (am_sender).
    """
    check_role(opts, Role.CLIENT_SENDER)  # e.g. --list-only
    from rsync_client.logformat import log_format_has

    if not opts.checksum and any(
        fmt is not None and log_format_has(fmt, "C")
        for fmt in (opts.out_format, opts.log_file_format)
    ):
        # a client sender would show the checksum it sent after each file's data
        msg = "pyrsync does not support %C without -c when it sends (a push)"
        raise RsyncError(msg, exit_code=ExitCode.SYNTAX)
    remote_list = _remote_files_from(opts, target)
    topts = _push_topts(opts, remote_list)
    output.sending = True
    output.source_dir = _source_dir(sources)
    filters = build_filters(opts)
    _say_rule_notes(output, filters)
    names = _files_from(opts) if remote_list is None else []
    if names is not None:
        if len(sources) != 1:
            _bare("rsync: --files-from needs exactly one source directory")
        root_path = _source_path(sources[0])
        # rsync: flist.c send_file_list() (sanitize_path(SP_KEEP_DOT_DIRS) on each line)

        paths = [sanitize_path(name, keep_dot_dirs=True) for name in names]
    else:
        root_path = b"/"
        paths = [_source_path(s, relative=opts.relative) for s in sources]
    try:
        root = Root(root_path)
    except OSError as exc:
        shown = os.fsdecode(root_path)
        msg = f'rsync: [sender] change_dir "{shown}" failed: {exc.strerror} ({exc.errno})'
        raise RsyncError(msg, exit_code=ExitCode.FILESELECT) from None

    async def push(
        ws: WireStream, protocol: int | None, our_protocol: int
    ) -> tuple[ReceiveStats, int]:
        session = await setup_client_protocol(
            ws,
            topts,
            protocol=protocol,
            our_protocol=our_protocol,
            names_from_peer=remote_list is not None,
            batch=batch is not None,
        )
        _say_nstr(output, opts, session)
        # rsync: compat.c setup_protocol() (a sender's receiver_symlink_times)
        output.receiver_symlink_times = bool(session.compat_flags & CF.SYMLINK_TIMES)
        switch = _copy_as(opts, who="sender")
        if opts.sandbox:
            # the delta engine stays a lazy import: numpy's system libraries stay readable
            # (rsync_client.confine.loader_paths)
            _confined(opts, output, confine_client(opts, sources, None))
        switch()
        output.log_only("building file list")  # rsync: flist.c send_file_list() (FLOG)
        stats = await run_push(
            ws,
            session,
            topts,
            filters,
            root,
            paths,
            output,
            itemize=itemizing(opts),
            # --progress shows the names too (rsync: options.c, the "name" info word)
            verbose=opts.verbose or int(opts.progress or opts.out_format is not None),
            names_from_peer=remote_list is not None,
            batch=batch,
            log_items=output.log is not None,
        )
        return stats, session.protocol

    try:
        if target.kind == "daemon":
            return await _daemon_session(opts, [target], topts, push, output)
        return await _shell_session(opts, [target], topts, push, output)
    finally:
        root.close()


async def _reap(process: Process, *, wait: float) -> int | None:
    with anyio.move_on_after(wait):
        return await process.wait()
    return None


async def _close(ws: WireStream, process: Process | None, *, graceful: bool) -> None:
    """Close the connection and reap the remote shell.

    After a normal end the remote side exits on its own (wait up to 10 s); after an error or
    an interruption it is asked to stop at once, as rsync kills its child.
    """
    with anyio.CancelScope(shield=True):
        with contextlib.suppress(
            OSError, RsyncError, anyio.BrokenResourceError, anyio.ClosedResourceError
        ):
            await ws.aclose()
        if process is None:
            return
        if not graceful and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        status = await _reap(process, wait=10.0 if graceful else 2.0)
        if status is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        # Close its pipes now: left to the garbage collector, which may run after the event
        # loop has closed (an exception's traceback keeps the process alive), they print
        # "Exception ignored ... Event loop is closed" after rsync's last line.
        with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            await process.aclose()
