"""One daemon connection: greeting, module selection, authentication, then the transfer.

rsync: clientserver.c start_daemon() and rsync_module().
"""

from __future__ import annotations

import logging
import math
import os
import secrets
from typing import TYPE_CHECKING

import anyio

from rsync_daemon.acl import host_allowed
from rsync_daemon.auth import lookup_secret
from rsync_wire.errors import ConnectionLost, ExitCode, ProtocolError, RsyncError
from rsync_wire.proto.args import ArgumentError, parse_server_args
from rsync_wire.proto.constants import AUTH_DIGESTS, MIN_PROTOCOL, PROTOCOL_VERSION
from rsync_wire.proto.handshake import (
    choose_auth_digest,
    daemon_protocol,
    format_greeting,
    format_module_line,
    make_challenge,
    parse_greeting,
    verify_response,
)
from rsync_wire.roles.server import ModuleContext, refuse_session, run_server
from rsync_wire.stream import WireStream

if TYPE_CHECKING:
    from anyio.abc import ByteReceiveStream, ByteSendStream

    from rsync_daemon.config import DaemonConfig, ModuleConfig

__all__ = ["HANDSHAKE_TIMEOUT", "handle_connection"]

log = logging.getLogger("rsync_daemon")

HANDSHAKE_TIMEOUT = 60.0


async def _send_line(ws: WireStream, text: str) -> None:
    ws.write(text.encode("utf-8", "surrogateescape") + b"\n")
    await ws.flush()


async def handle_connection(
    receive: ByteReceiveStream,
    send: ByteSendStream,
    config: DaemonConfig,
    *,
    peer: str,
) -> int:
    """Serve one client from its first byte to the end; never raises.

    Returns:
        The exit code rsync's daemon process would have for this connection.
    """
    ws = WireStream(
        receive, send, timeout=min(config.timeout or HANDSHAKE_TIMEOUT, HANDSHAKE_TIMEOUT)
    )
    try:
        return await _serve(ws, config, peer=peer)
    except RsyncError as exc:
        log.warning("[%s] %s (code %d)", peer, exc, exc.exit_code)
        return int(exc.exit_code)
    except Exception:
        log.exception("[%s] internal error", peer)
        return int(ExitCode.CRASHED)
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            try:
                await ws.aclose()
            except Exception:  # noqa: BLE001 - closing a broken connection is best effort
                log.debug("[%s] close failed", peer)


async def _serve(ws: WireStream, config: DaemonConfig, *, peer: str) -> int:
    ws.write(format_greeting(PROTOCOL_VERSION, AUTH_DIGESTS))
    if config.motd_file:
        try:
            motd = await anyio.Path(config.motd_file).read_bytes()
        except OSError as exc:
            log.warning("cannot read motd file %s: %s", config.motd_file, exc.strerror)
        else:
            if motd:
                ws.write(motd[: 64 * 1024].rstrip(b"\n") + b"\n\n")
    await ws.flush()
    try:
        line = await ws.read_line()
        greeting = parse_greeting(line)
    except ProtocolError as exc:
        await _send_line(ws, f"@ERROR: {exc}")
        log.warning("[%s] bad greeting: %s", peer, exc)
        return int(ExitCode.PROTOCOL)
    protocol = daemon_protocol(PROTOCOL_VERSION, greeting)
    if protocol < MIN_PROTOCOL:
        await _send_line(
            ws,
            f"@ERROR: protocol version mismatch: we speak {MIN_PROTOCOL} to "
            f"{PROTOCOL_VERSION}, client speaks {greeting.version}",
        )
        log.warning("[%s] protocol %d is too old", peer, greeting.version)
        return int(ExitCode.PROTOCOL)
    request = (await ws.read_line()).decode("utf-8", "surrogateescape")
    if request.startswith("#early_input="):
        try:
            count = int(request.split("=", 1)[1])
        except ValueError:
            count = -1
        if not 0 < count <= 5120:
            await _send_line(ws, "@ERROR: invalid early_input length")
            return int(ExitCode.PROTOCOL)
        await ws.read_exact(count)
        request = (await ws.read_line()).decode("utf-8", "surrogateescape")
    if request in ("", "#list"):
        for listed in config.modules.values():
            if listed.listed and host_allowed(
                peer_addr(peer), None, listed.hosts_allow, listed.hosts_deny
            ):
                ws.write(format_module_line(listed.name, listed.comment))
        ws.write(b"@RSYNCD: EXIT\n")
        await ws.flush()
        log.info("[%s] module list", peer)
        return 0
    if request.startswith("#"):
        await _send_line(ws, f"@ERROR: Unknown command '{request}'")
        return int(ExitCode.STARTCLIENT)
    name = request.split("/", 1)[0]
    mod = config.modules.get(name)
    if mod is None:
        await _send_line(ws, f"@ERROR: Unknown module '{name}'")
        log.warning("[%s] unknown module '%s'", peer, name)
        return int(ExitCode.STARTCLIENT)
    addr = peer_addr(peer)
    if not host_allowed(addr, None, mod.hosts_allow, mod.hosts_deny):
        await _send_line(ws, f"@ERROR: access denied to {name} from {addr} ({addr})")
        log.warning("[%s] access denied to module %s", peer, name)
        return int(ExitCode.STARTCLIENT)
    user = "-"
    if mod.auth_users:
        ok, user = await _authenticate(ws, mod, greeting_digests=greeting, protocol=protocol)
        if not ok:
            await _send_line(ws, f"@ERROR: auth failed on module {name}")
            log.warning("[%s] auth failed on module %s as %s", peer, name, user)
            return int(ExitCode.STARTCLIENT)
    await _send_line(ws, "@RSYNCD: OK")
    argv = await _read_args(ws, protocol=protocol)
    ws.timeout = mod.timeout or math.inf
    ctx = ModuleContext(
        name=mod.name,
        path=mod.path,
        read_only=mod.read_only,
        timeout=mod.timeout,
        daemon_filter=" ".join(mod.filter),
        daemon_include=" ".join(mod.include),
        daemon_exclude=" ".join(mod.exclude),
        numeric_ids=mod.numeric_ids,
        refuse_options=mod.refuse_options,
        log_prefix=f"[{peer} {mod.name}]",
    )
    try:
        parsed = parse_server_args(argv)
    except ArgumentError as exc:
        log.warning("[%s] %s: refused arguments: %s", peer, name, exc)
        return await refuse_session(ws, protocol=protocol, message=f"{exc}", code=ExitCode.SYNTAX)
    log.info(
        "[%s] module %s user %s: %s %s",
        peer,
        name,
        user,
        "send" if parsed.options.sender else "receive",
        b" ".join(parsed.paths).decode("utf-8", "replace"),
    )
    try:
        return await run_server(ws, parsed, module=ctx, protocol=protocol)
    except ConnectionLost as exc:
        log.warning("[%s] %s: %s", peer, name, exc)
        return int(exc.exit_code)


def peer_addr(peer: str) -> str:
    """The address part of ``host:port`` / ``[v6]:port``."""
    if peer.startswith("["):
        return peer[1:].split("]", 1)[0]
    return peer.rsplit(":", 1)[0]


async def _authenticate(
    ws: WireStream, mod: ModuleConfig, *, greeting_digests: object, protocol: int
) -> tuple[bool, str]:
    from rsync_wire.proto.handshake import Greeting

    assert isinstance(greeting_digests, Greeting)  # noqa: S101 - internal contract
    digest = choose_auth_digest(AUTH_DIGESTS, greeting_digests, protocol=protocol)
    if digest is None:
        await _send_line(
            ws,
            "@ERROR: your client does not support one of our daemon-auth checksums: "
            + " ".join(AUTH_DIGESTS),
        )
        return False, "-"
    challenge = make_challenge(digest, secrets.token_bytes(32) + os.urandom(8))
    await _send_line(ws, f"@RSYNCD: AUTHREQD {challenge}")
    reply = (await ws.read_line()).decode("utf-8", "surrogateescape")
    user, _, response = reply.partition(" ")
    if not user or not response:
        return False, user or "-"
    password = (
        lookup_secret(mod.secrets_file or "", user, mod.auth_users) if mod.secrets_file else None
    )
    if password is None:
        return False, user
    return verify_response(digest, password, challenge, response), user


async def _read_args(ws: WireStream, *, protocol: int) -> list[bytes]:
    args: list[bytes] = []
    while True:
        if protocol >= 30:
            arg = await ws.read_until_nul(limit=8192)
        else:
            arg = await ws.read_line(limit=8192)
        if not arg:
            return args
        if len(args) >= 1024:
            msg = "too many arguments"
            raise ProtocolError(msg)
        args.append(arg)
