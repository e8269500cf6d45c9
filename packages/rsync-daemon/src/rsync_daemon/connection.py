"""One daemon connection: greeting, module selection, authentication, then the transfer.

rsync: clientserver.c start_daemon() and rsync_module().
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import secrets
import select
import time
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import anyio
import msgspec

from rsync_daemon import hooks
from rsync_daemon.acl import UNDETERMINED, host_allowed
from rsync_daemon.auth import auth_rule, auth_rule_error, lookup_secret
from rsync_daemon.config import DaemonConfig, ModuleConfig
from rsync_daemon.conn_sandbox import confine_module_writes
from rsync_daemon.locks import claim_connection, lock_error
from rsync_daemon.logsetup import adopt_host_pid, set_module, set_peer, use_module_log
from rsync_daemon.proxy import ProxyHeaderError, read_proxy_header
from rsync_sandbox import SandboxError, SwitchError, switch_user
from rsync_wire.errors import ConnectionLost, ExitCode, ProtocolError, RsyncError
from rsync_wire.proto.args import ArgumentError, ServerArgs, parse_server_args
from rsync_wire.proto.charset import IconvOpenError, charset_for
from rsync_wire.proto.constants import AUTH_DIGESTS, PROTOCOL_VERSION, Msg
from rsync_wire.proto.handshake import (
    MAX_ARG_LENGTH,
    Arguments,
    AuthResponse,
    DaemonServer,
    EarlyInput,
    HandshakeError,
    ListRequested,
    ModuleRequested,
    choose_auth_digest,
    verify_response,
)
from rsync_wire.proto.negotiate import Session
from rsync_wire.roles import idnames
from rsync_wire.roles.daemon_rules import DaemonRules, module_path
from rsync_wire.roles.server import (
    ModuleContext,
    drain_filter_list,
    end_refused,
    refuse_session,
    run_server,
)
from rsync_wire.stream import WireStream

if TYPE_CHECKING:
    import socket
    from collections.abc import Iterator

    from anyio.abc import ByteReceiveStream, ByteSendStream


__all__ = ["HANDSHAKE_TIMEOUT", "PROBE_EXIT", "Opening", "handle_connection", "open_quietly"]

PROBE_EXIT: Final = 255
"""The exit of a connection closed before its greeting (a health check): rsync's daemon
child _exit()s with start_daemon()'s -1 (rsync: socket.c start_accept_loop())."""

log = logging.getLogger("rsync_daemon")

HANDSHAKE_TIMEOUT = 60.0
AUTH_RANK: Final = ("sha512", "sha256", "sha1", "md5", "md4")  # strongest first


async def _flush(ws: WireStream, hs: DaemonServer) -> None:
    ws.write(hs.data_to_send())
    await ws.flush()


async def _error(ws: WireStream, hs: DaemonServer, message: str) -> None:
    """``@ERROR: message`` to the client; the handshake ends."""
    hs.refuse(message)
    await _flush(ws, hs)


class _Client(msgspec.Struct, kw_only=True):
    """Who asked for which module, after the greetings."""

    mod: ModuleConfig
    hs: DaemonServer
    peer: str
    addr: str
    host: str


class _Session(msgspec.Struct, kw_only=True):
    """What a connection learned on its way, for the post-xfer command and the log."""

    module: ModuleConfig | None = None
    env: dict[str, str] = msgspec.field(default_factory=dict)


class Opening(NamedTuple):
    """What :func:`open_quietly` did before the event loop started.

    Attributes:
        greeted: the handshake whose greeting was sent (``None``: nothing was sent).
        waited: the seconds spent waiting for the client's first byte.
    """

    greeted: DaemonServer | None
    waited: float


def _handshake(config: DaemonConfig) -> DaemonServer:
    return DaemonServer(
        ours=config.protocol or PROTOCOL_VERSION, motd=config.motd_text, digests=AUTH_DIGESTS
    )


def open_quietly(conn: socket.socket, config: DaemonConfig) -> Opening:
    """Send the greeting and sleep until the client speaks, with no event loop yet.

    A connection process that waits here has touched little beyond what it shares with
    the listener it was forked from: an idle client costs about 1.3 MiB of private
    memory, where one waiting inside the event loop costs about 4.5 MiB (issue 14's
    target is 2 MiB). Nothing is read from the client here. With ``proxy protocol`` the
    client speaks first, so nothing is sent either.

    Returns:
        What was sent, and how long the client took (the handshake's deadline counts it).
    """
    start = time.monotonic()
    hs = None
    if not config.proxy_protocol:
        hs = _handshake(config)
        try:
            conn.sendall(hs.data_to_send())
        except OSError:
            return Opening(hs, 0.0)  # the event loop's first read tells what happened
    poller = select.poll()
    poller.register(conn, select.POLLIN)
    poller.poll(handshake_seconds(config.timeout) * 1000)
    return Opening(hs, time.monotonic() - start)


async def handle_connection(
    receive: ByteReceiveStream,
    send: ByteSendStream,
    config: DaemonConfig,
    *,
    peer: str,
    opening: Opening | None = None,
) -> int:
    """Serve one client from its first byte to the end; never raises.

    Args:
        receive: the client's bytes.
        send: the way to the client.
        config: the configuration.
        peer: the client's address, as log lines show it.
        opening: what :func:`open_quietly` did before (``None``: nothing).

    Returns:
        The exit code rsync's daemon process would have for this connection.
    """
    adopt_host_pid()
    set_peer(peer)  # every line of this connection carries it (rsync_daemon.logsetup)
    ws = WireStream(
        receive, send, timeout=min(config.timeout or HANDSHAKE_TIMEOUT, HANDSHAKE_TIMEOUT)
    )
    state = _Session()
    try:
        code = await _serve(ws, config, peer=peer, state=state, opening=opening)
    except RsyncError as exc:
        log.warning("[%s] %s (code %d)", peer, exc, exc.exit_code)
        code = int(exc.exit_code)
    except Exception:
        log.exception("[%s] internal error", peer)
        code = int(ExitCode.CRASHED)
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            try:
                await ws.aclose()
            except Exception:  # noqa: BLE001 - closing a broken connection is best effort
                log.debug("[%s] close failed", peer)
    if state.module is not None and state.module.post_xfer_exec:
        _post_xfer(state, code)
    return code


def _post_xfer(state: _Session, code: int) -> None:
    """Run the module's ``post-xfer exec`` once the client is gone.

    rsync: clientserver.c rsync_module() (RSYNC_EXIT_STATUS, RSYNC_RAW_STATUS).
    """
    assert state.module is not None  # noqa: S101 - checked by the caller
    env = {**state.env, "RSYNC_EXIT_STATUS": str(code), "RSYNC_RAW_STATUS": str(code << 8)}
    result = hooks.run_hook(state.module.name, "post_xfer_exec", env)
    if result.refused:
        _log_unsafe_hook(result.refused)
    elif result.status != 0:
        log.warning("post-xfer exec returned failure (%d)", result.status)


def _log_unsafe_hook(name: str) -> None:
    """rsync: loadparm.c expand_vars() (logged, then exit_cleanup(RERR_UNSUPPORTED))."""
    log.error("refusing to run shell hook: %%%s%% holds a shell metacharacter", name)


def _lookup_host(addr: str) -> str:
    """rsync: clientname.c client_name() through the helper (`rsync_daemon.hooks`)."""
    if not hooks.available():
        return UNDETERMINED
    return hooks.reverse_lookup(addr)


def handshake_seconds(timeout: int) -> float:
    """The absolute bound on one peer-driven handshake phase for a ``timeout`` setting.

    rsync: clientserver.c daemon_handshake_timeout() (60 s unless a positive ``timeout``
    is shorter).
    """
    return float(timeout) if 0 < timeout < HANDSHAKE_TIMEOUT else HANDSHAKE_TIMEOUT


class HandshakeTimeoutError(RsyncError):
    """A client took longer than the handshake deadline (rsync: exit 30)."""

    exit_code = ExitCode.TIMEOUT


@contextlib.contextmanager
def _handshake_phase(seconds: float) -> Iterator[None]:
    """Bound the reads of one handshake phase by an absolute deadline, not per read.

    A client trickling one byte at a time never trips an idle timeout; rsync 3.5 ends
    the connection when the phase's deadline passes, whatever arrives.

    rsync: io.c set_daemon_handshake_timeout(), handshake_poll_timeout_ms().
    """
    with anyio.CancelScope(deadline=anyio.current_time() + seconds) as scope:
        yield
    if scope.cancelled_caught:
        msg = "daemon handshake timeout -- exiting"
        raise HandshakeTimeoutError(msg)


async def _serve(
    ws: WireStream,
    config: DaemonConfig,
    *,
    peer: str,
    state: _Session,
    opening: Opening | None = None,
) -> int:
    waited = opening.waited if opening is not None else 0.0
    with _handshake_phase(max(0.0, handshake_seconds(config.timeout) - waited)):
        chosen = await _greet(ws, config, peer=peer, hs=opening.greeted if opening else None)
    if isinstance(chosen, int):
        return chosen
    return await _module(
        ws,
        chosen.mod,
        hs=chosen.hs,
        peer=chosen.peer,
        addr=chosen.addr,
        host=chosen.host,
        state=state,
        config=config,
    )


async def _greet(
    ws: WireStream, config: DaemonConfig, *, peer: str, hs: DaemonServer | None = None
) -> int | _Client:
    """From the first byte to the module's name: an exit code, or what was learnt.

    ``hs``: the handshake whose greeting was sent already (see :func:`open_quietly`).

    rsync: clientserver.c start_daemon() (up to rsync_module()).
    """
    addr = peer_addr(peer)
    if config.proxy_protocol:
        trusted = config.proxy_protocol_hosts  # none listed: nobody (rsync 3.5)
        if not trusted or not host_allowed(addr, None, trusted, []):
            log.warning("proxy protocol rejected from untrusted peer %s (%s)", UNDETERMINED, addr)
            return int(ExitCode.STARTCLIENT)
        try:
            real = await read_proxy_header(ws)
        except (ProxyHeaderError, ConnectionLost) as exc:
            log.warning("[%s] bad PROXY header: %s", peer, exc)
            return int(ExitCode.PROTOCOL)
        if real is not None:
            addr = real
            peer = f"[{addr}]:0" if ":" in addr else f"{addr}:0"
            set_peer(peer)
    host = _lookup_host(addr) if config.reverse_lookup else UNDETERMINED
    if hs is None:
        hs = _handshake(config)
    ws.write(hs.data_to_send())  # (nothing left when it was sent before the event loop)
    try:
        await ws.flush()
        line = await ws.read_line()
    except ConnectionLost:
        if ws.bytes_read:
            log.info("connect from %s (%s)", host, addr)
            raise
        # connected and closed without a byte: a load balancer's or a monitor's probe,
        # logged at debug level only (rsync logs "connect from" first, at every level)
        log.debug("connect from %s (%s): closed before the greeting (a health check?)", host, addr)
        return PROBE_EXIT
    # rsync: clientserver.c start_daemon() logs this before the greeting; here once the
    # client has said something, so that a health check adds no line to the log
    log.info("connect from %s (%s)", host, addr)
    try:
        greeting = hs.receive_line(line)
        event = hs.receive_line(await ws.read_line())
        if isinstance(event, EarlyInput):
            hs.receive_early_input(await ws.read_exact(event.count))
            event = hs.receive_line(await ws.read_line())
    except HandshakeError as exc:
        await _flush(ws, hs)
        if hs.greeting is None:
            log.warning("[%s] bad greeting: %s", peer, exc)
        else:
            log.warning("[%s] %s", peer, exc)
        return int(exc.exit_code)
    if isinstance(event, ListRequested):
        log.info("module-list request from %s (%s)", host, addr)
        # rsync lists every "list = yes" module, whatever its hosts allow/deny: those
        # decide who may use a module, "list" whether it is named (clientserver.c
        # send_listing()).
        hs.list_modules([(m.name, m.comment) for m in config.modules.values() if m.listed])
        await _flush(ws, hs)
        return 0
    if not isinstance(event, ModuleRequested):  # pragma: no cover - the machine's order
        raise TypeError(event)
    name = event.name
    mod = config.modules.get(name)
    if mod is None:
        await _error(ws, hs, f"Unknown module '{name}'")
        log.warning("unknown module '%s' tried from %s (%s)", name, host, addr)
        return int(ExitCode.STARTCLIENT)
    del greeting
    return _Client(mod=mod, hs=hs, peer=peer, addr=addr, host=host)


def _module_allowed(mod: ModuleConfig, addr: str, host: str) -> bool:
    return host_allowed(
        addr,
        host,
        mod.hosts_allow,
        mod.hosts_deny,
        resolve=hooks.forward_lookup if hooks.available() else None,
        forward=mod.forward_lookup,
    )


async def _module(
    ws: WireStream,
    mod: ModuleConfig,
    *,
    hs: DaemonServer,
    peer: str,
    addr: str,
    host: str,
    state: _Session,
    config: DaemonConfig | None = None,
) -> int:
    """rsync: clientserver.c rsync_module(), step by step."""
    protocol, early_input = hs.protocol, hs.early_input
    name = mod.name
    set_module(name)
    use_module_log(mod)
    env = {"RSYNC_MODULE_NAME": name}
    if mod.charset:
        # rsync: clientserver.c rsync_module() (setup_iconv() first: a charset iconv does
        # not know ends the connection before any reply, whether or not --iconv is used)
        failed = ""
        try:
            charset_for(mod.charset, server=True)
        except IconvOpenError as exc:
            failed = str(exc)
        if failed:
            log.error("%s", failed)
            return int(ExitCode.UNSUPPORTED)
    if host == UNDETERMINED and mod.reverse_lookup:
        host = _lookup_host(addr)
    env["RSYNC_HOST_NAME"] = host
    env["RSYNC_HOST_ADDR"] = addr
    if not _module_allowed(mod, addr, host):
        log.warning("rsync denied on module %s from %s (%s)", name, host, addr)
        if mod.listed:
            await _error(ws, hs, f"access denied to {name} from {host} ({addr})")
        else:
            await _error(ws, hs, f"Unknown module '{name}'")
        return int(ExitCode.STARTCLIENT)
    log.info("rsync allowed access on module %s from %s (%s)", name, host, addr)
    refusal = claim_connection(mod)
    if refusal is not None:
        if refusal.startswith("failed"):
            log.warning("failed to open lock file %s: %s", mod.lock_file, lock_error(mod))
        else:
            log.warning("max connections (%d) reached", mod.max_connections)
        await _error(ws, hs, f"{refusal}")
        return int(ExitCode.STARTCLIENT)
    user = ""
    if mod.auth_users:
        with _handshake_phase(handshake_seconds(mod.timeout)):
            ok, user = await _authenticate(ws, mod, hs=hs, host=host, addr=addr)
        if not ok:
            await _error(ws, hs, f"auth failed on module {name}")
            return int(ExitCode.STARTCLIENT)
        # rsync: authenticate.c auth_server() (a rule's ":ro"/":rw" for this user)
        access = auth_rule(user, mod.auth_users)[1]
        if access in ("ro", "rw"):
            mod = msgspec.structs.replace(mod, read_only=access == "ro")
    env["RSYNC_USER_NAME"] = user
    if mod.id_error:
        log.error("%s", mod.id_error[0].upper() + mod.id_error[1:])
        await _error(ws, hs, f"{mod.id_error}")
        return int(ExitCode.STARTCLIENT)
    if mod.unavailable or hooks.mounted(name):
        # the module path as it is now, as rsync changes into it for each connection
        path, why = hooks.attach_module(name)  # blocking, as the other hooks (no thread)
        if path is None and why == hooks.HELPER_GONE and not mod.unavailable:
            log.warning("module %s: %s: serving the directory of the start-up", name, why)
            path = mod.path
        if path is None:
            if mod.unavailable and not why.startswith("chdir "):
                why = f"{mod.unavailable} ({why})"
            log.warning("%s", why)
            await _error(ws, hs, "chdir failed")
            return int(ExitCode.STARTCLIENT)
        if mod.unavailable:
            log.info("module %s: its path exists now, served from here on", name)
        mod = msgspec.structs.replace(mod, path=path, unavailable="")
    elif (moved := _module_path_moved(mod)) is not None:
        log.warning("%s", moved)
        await _error(ws, hs, "chdir failed")
        return int(ExitCode.STARTCLIENT)
    env["RSYNC_PID"] = str(os.getpid())
    if mod.post_xfer_exec:
        state.module = mod
        state.env = dict(env)
    if mod.early_exec:
        result = hooks.run_hook(name, "early_exec", {**env, "RSYNC_REQUEST": "(NONE)"}, early_input)
        if result.refused:
            _log_unsafe_hook(result.refused)
            return int(ExitCode.UNSUPPORTED)
        if result.status != 0:
            log.warning("early exec failed: returned failure (%d)", result.status)
            await _error(ws, hs, "early exec failed")
            return int(ExitCode.STARTCLIENT)
    if mod.name_converter:
        # rsync: clientserver.c rsync_module() (start_pre_exec() of the name converter)
        converter = hooks.start_name_converter(name, env)
        if converter is None:
            log.error("name-converter exec preparation failed")
            await _error(ws, hs, "name-converter exec preparation failed")
            return int(ExitCode.STARTCLIENT)
        idnames.set_name_converter(converter)
    switched = _become_module_user(mod)
    if switched is not None:
        await _error(ws, hs, f"{switched}")
        return int(ExitCode.STARTCLIENT)
    if mod.munge_symlinks and _has_munge_dir(mod.path):
        log.warning("Symlink munging is unsafe when a /rsyncd-munged directory exists.")
        await _error(ws, hs, "daemon security issue -- contact admin")
        return int(ExitCode.UNSUPPORTED)
    hs.accept()
    await _flush(ws, hs)
    ws.text_log = _log_sent
    try:
        with _handshake_phase(handshake_seconds(mod.timeout)):
            first = await _read_args(ws, hs)
            argv = first.argv
            parsed = _parsed_or_none(argv, protocol)
            if parsed is not None and parsed.options.protect_args:
                # rsync: clientserver.c rsync_module() (a second read_args(), NUL
                # separated, arg0 "rsync", parsed on top of the first's options); the
                # same deadline covers both reads.
                hs.expect_secluded_args(first)
                argv = (await _read_args(ws, hs)).argv
                if mod.charset:  # rsync: io.c read_args() (RL_CONVERT: the module's charset)
                    argv = _from_wire_args(argv, mod.charset)
                parsed = None
    except ProtocolError as exc:
        log.warning("[%s] %s: %s", peer, name, exc)
        return await _refuse(ws, protocol, [str(exc)], ExitCode.PROTOCOL, sender=None)
    ws.timeout = mod.timeout or math.inf
    try:
        if parsed is None:  # the second list, or a first one that does not parse
            parsed = parse_server_args(argv, protocol=protocol)
    except ArgumentError as exc:
        log.warning("[%s] %s: refused arguments: %s", peer, name, exc)
        # rsync: clientserver.c rsync_module() (option_error(), exit_cleanup(RERR_UNSUPPORTED))
        return await refuse_session(
            ws,
            protocol=protocol,
            message=f"{exc}",
            code=ExitCode.UNSUPPORTED,
            # what reaches the client depends on the role popt had parsed (rsync: am_sender)
            sender=b"--sender" in argv,
        )
    sender = parsed.options.sender
    request = " ".join(p.decode("utf-8", "surrogateescape") for p in parsed.paths)[:1024]
    if mod.pre_xfer_exec:
        pre_env = {**env, "RSYNC_REQUEST": request or "(NONE)", "RSYNC_ARG0": "rsyncd"}
        for i, arg in enumerate(_hook_args(argv, name), 1):
            pre_env[f"RSYNC_ARG{i}"] = arg
        result = hooks.run_hook(name, "pre_xfer_exec", pre_env)
        if result.refused:
            _log_unsafe_hook(result.refused)
            return int(ExitCode.UNSUPPORTED)
        if result.status != 0:
            output = result.output.decode("utf-8", "replace")
            message = f"pre-xfer exec returned failure ({result.status}){':' if output else ''}"
            return await _refuse(
                ws, protocol, [message, *output.splitlines()], ExitCode.UNSUPPORTED, sender=sender
            )
    log.info(
        "rsync %s %s from %s%s (%s)",
        "on" if sender else "to",
        request,
        f"{user}@" if user else "",
        host,
        addr,
    )
    if sender and mod.write_only:
        # rsync's sender only buffers this line: below protocol 31 it is lost with the
        # exit (the client reports 0 bytes received); pyrsyncd flushes it, so that the
        # client learns why (the same closed connection, the same exit 12)
        return await _refuse(
            ws,
            protocol,
            ["ERROR: module is write only"],
            ExitCode.SYNTAX,
            sender=True,
            read_filters=True,
        )
    ctx = _module_context(mod, peer, host=host, addr=addr, user=user)
    if not sender and _dirs_hidden_by_module(parsed, ctx, protocol=protocol):
        log.warning(
            "[%s] %s: --backup-dir or --temp-dir is hidden by the module's rules", peer, name
        )
        return await refuse_session(
            ws,
            protocol=protocol,
            message="Your options have been rejected by the server.",
            code=ExitCode.UNSUPPORTED,
            sender=False,
        )
    # from here on nothing outside this module can change, and nothing at all for a pull
    # (but --remove-source-files, which a writable module allows)
    writes = not mod.read_only and (not sender or parsed.options.remove_source_files)
    refused = confine_module_writes(config, peer, mod.path if writes else None, module=mod)
    if refused is not None:
        return await _refuse(
            ws, protocol, ["ERROR: cannot confine the transfer"], ExitCode(refused), sender=sender
        )
    try:
        return await run_server(ws, parsed, module=ctx, protocol=protocol)
    except ConnectionLost as exc:
        log.warning("[%s] %s: %s", peer, name, exc)
        return int(exc.exit_code)


def _module_path_moved(mod: ModuleConfig) -> str | None:
    """Why a module confined by Landlock alone cannot be served now (None: it can).

    Landlock's rules hold for the directory the path named at start-up; a path removed
    (or made anew) since cannot be served without root (`hooks.set_pinned_modules`).
    """
    pinned = hooks.pinned(mod.name)
    if pinned is None:
        return None
    try:
        st = os.stat(mod.path)
    except OSError as exc:
        return f"chdir {mod.path} failed: {exc.strerror or exc}"
    if (st.st_dev, st.st_ino) == pinned:
        return None
    return (
        f"module {mod.name}: {mod.path} is another directory than at start-up, and a daemon"
        " confined by Landlock alone (not started as root) serves only the directories it"
        " started with: restart it"
    )


def _dirs_hidden_by_module(parsed: ServerArgs, ctx: ModuleContext, *, protocol: int) -> bool:
    """Whether an upload's ``--backup-dir`` or ``--temp-dir`` lies in what the module hides.

    Checked as rsync does once the options are parsed, with ``..`` collapsed (never above
    the module root): the directory as a module path, and a relative one also below the
    destination; every directory on the way counts.

    rsync: options.c parse_arguments() (daemon_filter_list check of backup_dir and
    tmpdir, "Your options have been rejected by the server.").
    """
    opts = parsed.options
    wanted = [d for d in (opts.backup_dir, opts.temp_dir) if d]
    rules = DaemonRules.for_module(ctx, protocol=protocol) if wanted else None
    if rules is None:
        return False
    dest = parsed.paths[-1].split(b"/", 1)[1] if parsed.paths and b"/" in parsed.paths[-1] else b""
    for text in wanted:
        raw = os.fsencode(text)
        candidates = [raw] if raw.startswith(b"/") else [raw, dest + b"/" + raw]
        if any(rules.hidden_dir(module_path(c)) is not None for c in candidates):
            return True
    return False


def _become_module_user(mod: ModuleConfig) -> str | None:
    """Switch to the module's ``uid``/``gid``; None, or the ``@ERROR`` text (logged).

    A daemon started as root whose modules are served as different users keeps root
    until here (rsync_daemon.supervisor.serving_ids); elsewhere the process already is
    the module's user and nothing changes. The connection process is confined to its
    connection (Landlock, seccomp) since before its first byte was read.

    rsync: clientserver.c rsync_module() ("setgid %ld failed", "@ERROR: setgid failed",
    and the same for setgroups and setuid).
    """
    if mod.uid is None and mod.gid is None:
        return None
    try:
        switch_user(mod.uid, mod.gid, mod.groups)
    except SwitchError as exc:
        number = {"setuid": mod.uid, "setgid": mod.gid}.get(exc.step)
        what = exc.step if number is None else f"{exc.step} {number}"
        log.error("%s failed: %s", what, os.strerror(exc.errno) if exc.errno else exc)  # noqa: TRY400
        return f"{exc.step} failed"
    except SandboxError as exc:
        log.error("switch to uid %s gid %s refused: %s", mod.uid, mod.gid, exc)  # noqa: TRY400
        return "setuid failed"
    return None


def _hook_args(argv: list[bytes], module: str) -> list[str]:
    """The arguments as rsync's pre-xfer exec sees them: paths without ``module/``.

    rsync: io.c read_args() and util1.c glob_expand_module() (without glob expansion).
    """
    out: list[str] = []
    paths = False
    for raw in argv:
        arg = raw.decode("utf-8", "surrogateescape")
        if paths:
            arg = arg.removeprefix(module).lstrip("/") or "."
        elif arg == ".":
            paths = True
        out.append(arg)
    return out


def _has_munge_dir(path: str) -> bool:
    """Rsync refuses to munge symlinks when ``/rsyncd-munged`` is a directory in the module."""
    return os.path.isdir(os.path.join(path, "rsyncd-munged"))


def _module_context(
    mod: ModuleConfig, peer: str, *, host: str, addr: str, user: str
) -> ModuleContext:
    """The module as the session sees it (rsync_wire.roles.server.ModuleContext)."""
    fields: dict[str, Any] = {
        "name": mod.name,
        "path": mod.path,
        "shown_path": mod.shown_path or mod.path,
        "read_only": mod.read_only,
        "timeout": mod.timeout,
        "daemon_filter": " ".join(mod.filter),
        "daemon_include": " ".join(mod.include),
        "daemon_exclude": " ".join(mod.exclude),
        "numeric_ids": mod.numeric_ids,
        "fake_super": mod.fake_super,
        "refuse_options": mod.refuse_options,
        "charset": mod.charset,
        "log_prefix": f"[{peer} {mod.name}]",
        "outgoing_chmod": mod.outgoing_chmod,
        "munge_symlinks": mod.munge_symlinks,
        "ignore_nonreadable": mod.ignore_nonreadable,
        "dont_compress": mod.dont_compress,
        "max_verbosity": mod.max_verbosity,
        "transfer_logging": mod.transfer_logging,
        "log_format": mod.log_format,
        "daemon_include_from": mod.include_from_rules,
        "daemon_exclude_from": mod.exclude_from_rules,
        "peer_host": host,
        "peer_addr": addr,
        "auth_user": user,
        "incoming_chmod": mod.incoming_chmod,
        "sanitize_paths": not mod.use_chroot,
        "ignore_errors": mod.ignore_errors,
        "temp_dir": mod.temp_dir,
        "insecure_links": mod.follows_any_link,
    }
    known = set(ModuleContext.__struct_fields__)
    return ModuleContext(**{k: v for k, v in fields.items() if k in known})


async def _refuse(
    ws: WireStream,
    protocol: int,
    lines: list[str],
    code: ExitCode,
    *,
    sender: bool | None,
    read_filters: bool = False,
) -> int:
    """Refuse after ``@RSYNCD: OK``: the protocol's set-up, then the error lines, as rsync.

    ``sender`` (``None`` when the arguments were not read) decides what reaches the
    client (``rsync_wire.roles.server.end_refused``). With ``read_filters`` the client's
    filter list is read first, as rsync's sender does before it refuses a download from
    a write-only module: below protocol 31 the client then sees the connection close
    rather than reset, as with rsync, and from 31 the daemon's code and exit line.

    rsync: clientserver.c rsync_module() (setup_protocol(), io_start_multiplex_out(),
    the err_msg lines, exit_cleanup()); main.c start_server() (recv_filter_list() before
    do_server_sender()'s write-only check).
    """
    if protocol >= 30:
        ws.write_varint(0)
    ws.write_int32(0)
    await ws.flush()
    session = Session(protocol=protocol)
    ws.start_mux_out()
    if read_filters:
        if session.mux_from_client:
            ws.start_mux_in(server=True)
        await drain_filter_list(ws)
    return await end_refused(ws, session, lines, code, sender=sender, reading=read_filters)


def _log_sent(code: int, payload: bytes) -> None:
    """Log a line the daemon tells its client, as rsync's daemon logs what it writes.

    rsync: log.c rwrite() (``am_daemon``: logit(), LOG_INFO for FINFO, else LOG_WARNING).
    """
    level = logging.INFO if code == Msg.INFO else logging.WARNING
    for line in payload.decode("utf-8", "backslashreplace").splitlines():
        if line:
            log.log(level, "%s", line)


def peer_addr(peer: str) -> str:
    """The address part of ``host:port`` / ``[v6]:port``."""
    if peer.startswith("["):
        return peer[1:].split("]", 1)[0]
    return peer.rsplit(":", 1)[0]


async def _authenticate(
    ws: WireStream,
    mod: ModuleConfig,
    *,
    hs: DaemonServer,
    host: str,
    addr: str,
) -> tuple[bool, str]:
    """rsync: authenticate.c auth_server() (with the ``auth digest`` floor)."""
    if hs.greeting is None:  # pragma: no cover - a module is named after the greeting
        raise RuntimeError(hs)
    digest = choose_auth_digest(AUTH_DIGESTS, hs.greeting, protocol=hs.protocol)
    if digest is None:
        await _error(
            ws,
            hs,
            "your client does not support one of our daemon-auth checksums: "
            + " ".join(AUTH_DIGESTS),
        )
        return False, ""
    if mod.auth_digest:
        shown = "md4" if digest == "md4-legacy" else digest
        rank = AUTH_RANK.index(shown) if shown in AUTH_RANK else len(AUTH_RANK)
        if mod.auth_digest not in AUTH_RANK:
            log.warning(
                "auth failed on module %s from %s (%s): the configured 'auth digest = %s' "
                "is not a supported digest on this build",
                mod.name,
                host,
                addr,
                mod.auth_digest,
            )
            return False, ""
        if rank > AUTH_RANK.index(mod.auth_digest):
            log.warning(
                "auth failed on module %s from %s (%s): negotiated auth digest %s is weaker "
                "than the required 'auth digest = %s'",
                mod.name,
                host,
                addr,
                shown,
                mod.auth_digest,
            )
            return False, ""
    challenge = hs.challenge(digest, secrets.token_bytes(32) + os.urandom(8))
    await _flush(ws, hs)
    reply = hs.receive_line(await ws.read_line())
    if not isinstance(reply, AuthResponse):  # pragma: no cover - the machine's order
        raise TypeError(reply)
    user, response = reply.user, reply.response
    if not user or not response:
        return False, user
    refused = auth_rule_error(user, mod.auth_users)
    password = (
        lookup_secret(
            mod.secrets_file or "",
            user,
            mod.auth_users,
            strict=mod.strict_modes,
            # rsync reads the file for each login: as it is now, through the helper
            current=hooks.read_secrets(mod.name) if hooks.available() else False,
        )
        if mod.secrets_file and refused is None
        else None
    )
    ok = password is not None and verify_response(digest, password, challenge, response)
    if not ok:
        # rsync: authenticate.c auth_server() (the reason reaches only the log)
        reason = refused or ("secret not found" if password is None else "password mismatch")
        log.warning(
            "auth failed on module %s from %s (%s) for %s: %s", mod.name, host, addr, user, reason
        )
    return ok, user


def _from_wire_args(argv: list[bytes], charset: str) -> list[bytes]:
    """Secluded arguments from UTF-8 to the module's charset (bytes that do not, as they are).

    A charset Python does not know leaves them as they came (the session then fails on it
    when the client asked for ``--iconv``).
    """
    try:
        conv = charset_for(charset, server=True)
    except IconvOpenError:
        return argv
    assert conv is not None  # noqa: S101 - a charset was given
    return [conv.from_wire_lenient(a) for a in argv]


def _parsed_or_none(argv: list[bytes], protocol: int) -> ServerArgs | None:
    """The first argument list parsed, or None when it does not parse.

    Parsed once: its ``protect_args`` (``-s``, ``--secluded-args``) says whether a second
    list follows, and without one it is the session's arguments. A list that does not
    parse is parsed again where its error is reported.
    """
    try:
        return parse_server_args(argv, protocol=protocol)
    except ArgumentError:
        return None


async def _read_args(ws: WireStream, hs: DaemonServer) -> Arguments:
    """The client's argument list, each checked as it is read.

    rsync: io.c read_args() ("too many daemon arguments").
    """
    while True:
        if hs.arg_end == b"\0":
            arg = await ws.read_until_nul(limit=MAX_ARG_LENGTH)
        else:
            arg = await ws.read_line(limit=MAX_ARG_LENGTH)
        done = hs.receive_arg(arg)
        if done is not None:
            return done
