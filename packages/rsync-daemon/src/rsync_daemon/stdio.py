"""``pyrsyncd --server ...``: serve one session over standard input and output.

This is what an rsync client runs on the far side of a remote shell
(``rsync -e ssh --rsync-path=pyrsyncd host:path``): the session runs as the user who
logged in, on the paths the client named, like rsync's own server: no file confinement
beyond that user's rights (the account could run anything anyway), but the process
confines itself to its own connection (rsync_daemon.conn_sandbox: no TCP bind or
connect, no signals outside itself, a seccomp filter) before it reads the first byte.

With ``--daemon`` among the server arguments the session speaks the daemon protocol
over the pipe (daemon over a remote shell, ``rsync -e ssh --rsync-path=pyrsyncd
rsync://host/module/``), with modules from the ``--config FILE`` among the arguments
(rsyncd.conf, or TOML when it ends in ``.toml``), else from
``$XDG_CONFIG_HOME/pyrsyncd.toml`` (default ``~/.config/pyrsyncd.toml``), and confines
itself to those modules as the listening daemon does (rsync_daemon.supervisor), then to
its own connection, before it reads the client's greeting.

rsync: main.c start_server(); clientserver.c daemon_main() with ``am_server``.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

import anyio

from rsync_daemon.conn_sandbox import confine_connection_process
from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.pipes import FdReceiveStream, FdSendStream
from rsync_wire.proto.args import MAX_DAEMON_ARGS, ArgumentError, ServerArgs, parse_server_args
from rsync_wire.proto.charset import IconvOpenError, charset_for
from rsync_wire.proto.handshake import MAX_ARG_LENGTH
from rsync_wire.roles.confine_root import check_confine_root, confine_paths, resolve_option_paths
from rsync_wire.roles.server import run_server
from rsync_wire.stream import WireStream

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rsync_daemon.config import DaemonConfig

__all__ = ["config_path", "main_server"]

log = logging.getLogger("rsync_daemon")


def main_server(argv: Sequence[str]) -> int:
    """Run one ``--server`` session on stdin/stdout; returns the exit code."""
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="pyrsyncd[%(process)d]: %(message)s"
    )
    args = list(argv)
    if "--daemon" in args:
        try:
            given = _config_option(args)
        except ValueError as exc:
            log.error("%s", exc)  # noqa: TRY400 - the message says it all
            return 1
        return _daemon_over_stdio(given, _protocol_option(args))
    if _secluded(args):
        refused = confine_connection_process(None, "stdio", announce_here=False)
        if refused is not None:
            return refused
        try:
            args = [*args, *_iconv_args(args, _read_secluded_args(0))]
        except ArgumentError as exc:
            sys.stderr.write(f"rsync: {exc}\n")
            return int(exc.exit_code)
    try:
        parsed = parse_server_args(args)
    except ArgumentError as exc:
        return _usage_error(exc)

    try:
        root_path = _remote_shell_root(parsed)
    except (RsyncError, OSError) as exc:
        text = str(exc) if isinstance(exc, RsyncError) else f"{exc.filename!r}: {exc.strerror}"
        sys.stderr.write(f"rsync: {text}\n")
        return int(exc.exit_code) if isinstance(exc, RsyncError) else 3
    if not _secluded(argv):
        refused = confine_connection_process(None, "stdio", announce_here=False)
        if refused is not None:
            return refused
    _say_charset(parsed)

    async def main() -> int:
        stdin = FdReceiveStream(os.dup(0))
        stdout = FdSendStream(os.dup(1))
        ws = WireStream(stdin, stdout)
        try:
            return await run_server(ws, parsed, root_path=root_path)
        except RsyncError as exc:
            return int(exc.exit_code)

    return anyio.run(main)


def _say_charset(parsed: ServerArgs) -> None:
    """``--debug=ICONV`` (the client's ``-vv``): the server's charset, on standard error.

    rsync: rsync.c setup_iconv() (``[Receiver] charset: latin1``; a remote-shell server's
    messages go to its standard error before multiplexing, msgs2stderr).
    """
    opts = parsed.options
    if opts.iconv is None:
        return
    from rsync_wire.proto.charset import charset_line
    from rsync_wire.proto.outlevels import OutputLevels

    if not OutputLevels.build(verbose=opts.verbose, debug=opts.debug).debug_gte("ICONV"):
        return
    who = "sender" if opts.sender else "Receiver"
    sys.stderr.write(charset_line(opts.iconv, server=True, who=who) + "\n")
    sys.stderr.flush()


_SECLUDED_LIMIT = 1 << 20  # bytes of a secluded argument list


def _secluded(args: Sequence[str]) -> bool:
    """Whether the command line says ``-s``: the real arguments come on standard input.

    The short options are one cluster whose letters end at the ``.`` that starts the
    capability letters (which have an ``s`` of their own).
    """
    for arg in args:
        if arg == ".":
            break
        if arg in ("--secluded-args", "--protect-args"):
            return True
        if arg.startswith("-") and not arg.startswith("--") and "s" in arg[1:].split(".")[0]:
            return True
    return False


def _iconv_args(options: list[str], secluded: list[str]) -> list[str]:
    """With ``--iconv`` among the options, the secluded arguments from UTF-8 to its charset.

    Bytes that do not convert pass as they are. rsync: io.c read_args() (``RL_CONVERT``).
    """
    value = next((a[len("--iconv=") :] for a in options if a.startswith("--iconv=")), None)
    if value is None:
        return secluded
    try:
        conv = charset_for(value, server=True)
    except IconvOpenError:
        return secluded  # the session fails on it, with rsync's message
    assert conv is not None  # noqa: S101 - a value was given
    return [
        conv.from_wire_lenient(a.encode("utf-8", "surrogateescape")).decode(
            "utf-8", "surrogateescape"
        )
        for a in secluded
    ]


def _read_secluded_args(fd: int) -> list[str]:
    """The arguments a ``-s`` client writes first: NUL after each, an empty one ends them.

    They follow the options of the command line (rsync keeps the options there and
    secludes the ``.`` and the paths). The first is a stand-in for the program name and
    is dropped. Read a byte at a time: what follows is the protocol, for the session's
    own reader.

    rsync: main.c main() (``protect_args`` on a server: read_args()); pipe.c
    send_protected_args().

    Raises:
        ArgumentError: the list is cut short, too long or has too many arguments.
    """
    args: list[str] = []
    current = bytearray()
    total = 0
    while True:
        byte = os.read(fd, 1)
        if not byte:
            msg = "connection unexpectedly closed while reading the secluded arguments"
            raise ArgumentError(msg, exit_code=ExitCode.PROTOCOL)
        total += 1
        if total > _SECLUDED_LIMIT or len(current) > MAX_ARG_LENGTH:
            msg = "secluded argument list too long"
            raise ArgumentError(msg, exit_code=ExitCode.PROTOCOL)
        if byte != b"\0":
            current += byte
            continue
        if not current:
            return args[1:]
        if len(args) >= MAX_DAEMON_ARGS:
            msg = "too many daemon arguments"
            raise ArgumentError(msg, exit_code=ExitCode.PROTOCOL)
        args.append(current.decode("utf-8", "surrogateescape"))
        current.clear()


def _usage_error(exc: ArgumentError) -> int:
    """Say why the arguments did not parse, on stderr as rsync's server does; the exit code.

    rsync: options.c parse_arguments() ("on remote machine: "), log.c log_exit().
    """
    from importlib.metadata import version

    code = int(exc.exit_code)
    names = {1: "syntax or usage error", 2: "protocol incompatibility"}
    text = str(exc)
    if not text.startswith(("rsync", "ERROR")):
        text = f"rsync: {text}"
    sys.stderr.write(
        f"{text}\nrsync error: {names.get(code, 'unexplained error')} (code {code}) "
        f"at pyrsyncd [server={version('rsync-daemon')}]\n"
    )
    sys.stderr.flush()
    return code


def _remote_shell_root(parsed: ServerArgs) -> str:
    """The directory the path arguments are resolved in, adjusting ``parsed.paths``.

    rsync's server takes the paths as the logged-in user gives them: relative to the
    login directory, or absolute. The sender resolves every path inside one root, so
    with an absolute path among them the root is ``/`` and the relative ones are made
    absolute (which changes the names ``-R`` sends for those only).

    With ``--confine-root`` the root is that directory and the paths are made relative
    to it (a wrapper's descriptor pins read now, before the process confines itself):
    see :mod:`rsync_wire.roles.confine_root`.

    rsync: main.c do_server_sender() (paths are used as given after ``chdir``).

    Raises:
        RsyncError: ``--confine-root`` is not an absolute path.
        OSError: a path lies outside the confinement root.
    """
    opts = parsed.options
    check_confine_root(opts, daemon=False)
    if opts.confine_root is not None:
        parsed.paths = confine_paths(opts.confine_root, parsed.paths)
        resolve_option_paths(opts)
        return opts.confine_root
    if not any(p.startswith(b"/") for p in parsed.paths):
        return "."
    cwd = os.fsencode(os.getcwd())
    parsed.paths = [p if p.startswith(b"/") else os.path.join(cwd, p) for p in parsed.paths]
    return "/"


def config_path() -> str:
    """The configuration of the daemon over a remote shell (``pyrsyncd.toml``)."""
    return os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "pyrsyncd.toml"
    )


def _config_option(args: Sequence[str]) -> str | None:
    """The ``--config FILE`` (or ``--config=FILE``) among the daemon's arguments, if any.

    ``rsync -e ssh --rsync-path='pyrsyncd --config=FILE' host::module`` runs
    ``pyrsyncd --config=FILE --server --daemon .``; rsync's own test suite does the same.
    The last one given wins, as with rsync's option parser.

    Raises:
        ValueError: ``--config`` without a file name.
    """
    found: str | None = None
    for i, arg in enumerate(args):
        if arg.startswith("--config="):
            found = arg.removeprefix("--config=")
        elif arg == "--config":
            if i + 1 >= len(args):
                msg = "--config: missing argument"
                raise ValueError(msg)
            found = args[i + 1]
    if found == "":
        msg = "--config: empty file name"
        raise ValueError(msg)
    return found


def _protocol_option(args: Sequence[str]) -> int | None:
    """The ``--protocol=N`` among the daemon's arguments (the last one wins), if any.

    ``RSYNC_CONNECT_PROG='rsync --config=FILE --daemon --protocol=29'`` (rsync's test suite
    with ``--protocol``) asks the daemon to announce and speak at most that protocol.
    """
    found: int | None = None
    for i, arg in enumerate(args):
        value = arg.removeprefix("--protocol=") if arg.startswith("--protocol=") else None
        if arg == "--protocol" and i + 1 < len(args):
            value = args[i + 1]
        if value is not None:
            try:
                found = int(value)
            except ValueError:
                found = -1  # refused below, with the range
    return found


def _check_module_paths(config: DaemonConfig, source: str) -> None:
    from rsync_daemon.config import settle_module_paths

    del source  # named by config.source
    for warning in settle_module_paths(config):
        log.warning("%s", warning)


def _log_as_configured(config: DaemonConfig) -> None:
    """Log to the configuration's ``log file``, else syslog (or nowhere), as rsync does.

    rsync's daemon over a remote shell logs as the listening one; its standard error
    reaches the user through the remote shell, so the log stays off it.

    rsync: clientserver.c start_daemon() -> log.c log_init().
    """
    from rsync_daemon.logsetup import setup_logging

    for problem in setup_logging(0, config, stderr=False):
        log.warning("%s", problem)


def _daemon_over_stdio(given: str | None, protocol: int | None = None) -> int:
    from rsync_daemon.config import DaemonConfig, check_protocol_option, load_config
    from rsync_daemon.connection import handle_connection
    from rsync_daemon.errors import ConfigError
    from rsync_daemon.supervisor import confine
    from rsync_sandbox import SandboxError

    path = given or config_path()
    config_logged = False
    try:
        if given is not None:
            config = load_config(given)
        else:
            config = load_config(path) if os.path.exists(path) else DaemonConfig()
        if config.source:
            _log_as_configured(config)
            config_logged = True
        _check_module_paths(config, path)
        if protocol is not None:
            config.protocol = check_protocol_option(protocol)
        confine(config, mode=config.sandbox)
    except (ConfigError, SandboxError) as exc:
        log.error("%s", exc)  # noqa: TRY400 - the message says it all
        if config_logged:
            sys.stderr.write(f"pyrsyncd: {exc}\n")  # the user must see why, as with rsync
        return int(ConfigError.exit_code)
    refused = confine_connection_process(config, "stdio", announce_here=True)
    if refused is not None:
        return refused

    async def main() -> int:
        stdin = FdReceiveStream(os.dup(0))
        stdout = FdSendStream(os.dup(1))
        peer = os.environ.get("SSH_CLIENT", "stdio").split(" ")[0] + ":0"
        return await handle_connection(stdin, stdout, config, peer=peer)

    return anyio.run(main)
