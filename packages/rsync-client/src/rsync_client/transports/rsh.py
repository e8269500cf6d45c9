"""``host:path`` over a remote shell (``-e``, default ``ssh``), and daemon over a remote shell.

The client starts ``<rsh> [-l user] host <rsync-path> --server --sender ... . paths``
(or ``<rsync-path> --server --daemon .`` for ``-e ssh rsync://host/module``) and
speaks the protocol over the process's standard input and output; its standard
error passes through to ours. Paths and option values are escaped for the remote
shell as rsync >= 3.2.4 does.

rsync: main.c do_cmd(), options.c safe_arg().
"""

from __future__ import annotations

import os
import subprocess
from typing import TYPE_CHECKING, Final

import anyio

from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.idn import idn_to_ascii

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anyio.abc import Process

__all__ = ["escape_arg", "remote_command", "spawn", "split_rsh"]

_SHELL_CHARS: Final = "!#$&;|<>(){}\"'` \t\n\r\\"
_WILD_CHARS: Final = "*?[]"


def split_rsh(command: str) -> list[str]:
    """Split a ``-e`` command into words as rsync does (spaces; '...' and "..." quote).

    rsync: main.c do_cmd().

    Raises:
        RsyncError: a missing closing quote (exit code 1).
    """
    words: list[str] = []
    i = 0
    n = len(command)
    while i < n:
        if command[i] == " ":
            i += 1
            continue
        word: list[str] = []
        quote = ""
        while i < n and (command[i] != " " or quote):
            ch = command[i]
            if ch in "'\"":
                if not quote:
                    quote = ch
                    i += 1
                    continue
                if ch == quote:
                    if i + 1 < n and command[i + 1] == quote:
                        word.append(ch)
                        i += 2
                        continue
                    quote = ""
                    i += 1
                    continue
            word.append(ch)
            i += 1
        if quote:
            msg = f"Missing trailing-{quote} in remote-shell command."
            raise RsyncError(msg, exit_code=ExitCode.SYNTAX)
        words.append("".join(word))
    return words


def escape_arg(arg: str, *, filename: bool) -> str:
    """Backslash-escape ``arg`` for the remote shell (paths also get ``./`` before a ``-``).

    rsync: options.c safe_arg().
    """
    escapes = _SHELL_CHARS if filename else _WILD_CHARS + _SHELL_CHARS
    out: list[str] = []
    if filename and arg.startswith("-"):
        out.append("./")
    if filename and arg.startswith("~") and "/" not in arg:
        out.append("\\")
    for k, ch in enumerate(arg):
        if ch == "\\":
            nxt = arg[k + 1] if k + 1 < len(arg) else ""
            if not filename or not (nxt and nxt in _WILD_CHARS):
                out.append("\\")
        elif ch in escapes:
            out.append("\\")
        out.append(ch)
    return "".join(out)


def remote_command(
    rsh: str | None,
    host: str,
    user: str | None,
    rsync_path: str,
    server_args: Sequence[str],
    *,
    daemon: bool = False,
    family: str = "",
    old_args: int = 0,
) -> list[str]:
    """The argv of the remote-shell process.

    ``server_args`` is what :func:`~rsync_wire.proto.args.build_server_args` returns
    (``--server ... . paths``); its options and paths are escaped here. ``family`` is
    ``-4`` or ``-6`` (the client's option), passed on when the remote shell is ssh.
    ``old_args`` (``--old-args``, counted): once, the paths go unescaped (the remote shell
    splits them again); twice, nothing is escaped.

    rsync: main.c do_cmd().
    """
    command = rsh or os.environ.get("RSYNC_RSH") or "ssh"
    argv = split_rsh(command)
    if not argv:
        msg = "empty remote-shell command"
        raise RsyncError(msg, exit_code=ExitCode.SYNTAX)
    dash_l = any(argv[i] == "-l" and not argv[i + 1].startswith("-") for i in range(len(argv) - 1))
    if user and not (daemon and dash_l):
        argv += ["-l", user]
    if family in ("-4", "-6") and os.path.basename(argv[0]) == "ssh":
        argv.append(family)  # -4/-6 reach ssh, the one remote shell known to take them
    # a daemon's host is ours to resolve: the helper gets its A-labels; a host:path
    # transfer's belongs to the user's ssh (its ssh_config Host patterns), as typed
    argv.append((idn_to_ascii(host) or host) if daemon else host)
    argv.append(rsync_path)
    if daemon:
        argv += ["--server", "--daemon", "."]
        return argv
    in_paths = False
    for arg in server_args:
        if old_args >= 2:  # rsync: safe_arg() escapes nothing (old_style_args > 1)
            argv.append(arg)
            continue
        if in_paths:
            if old_args:  # rsync: safe_arg() leaves a file name as typed, bar a leading dash
                argv.append("./" + arg if arg.startswith("-") else arg)
            else:
                argv.append(escape_arg(arg, filename=True))
            continue
        if arg == ".":
            in_paths = True
            argv.append(arg)
            continue
        if arg.startswith("--") and "=" in arg:
            name, _, value = arg.partition("=")
            argv.append(name + "=" + escape_arg(value, filename=False))
        else:
            argv.append(arg)
    return argv


async def spawn(argv: Sequence[str]) -> Process:
    """Start the remote shell with pipes for its standard input and output.

    Raises:
        RsyncError: the program cannot be started (exit code 14, as rsync's failed fork).
    """
    try:
        return await anyio.open_process(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None
        )
    except OSError as exc:
        msg = f"rsync: Failed to exec {argv[0]}: {exc.strerror} ({exc.errno})"
        raise RsyncError(msg, exit_code=ExitCode.IPC) from None
