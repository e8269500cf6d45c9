"""The Python API: what ``pyrsync`` does, as a function call.

``sync(source, dest, **options)`` (blocking) and ``await async_sync(...)`` take the
same options as the command line, spelled as keyword arguments (``archive=True``,
``delete=True``, ``exclude=["*.tmp"]``, ``compress=True``, ``rsh="ssh -p 2222"``,
``bwlimit="1M"``): one keyword per option of rsync's table that ``pyrsync``
implements, typed by :class:`~rsync_client.SyncOptions` (generated from the table, so
mypy checks every call). The keywords become a command line that ``pyrsync``'s own
parser reads, so each means exactly what the option means there. The call runs the
transfer and returns its :class:`~rsync_client.stats.Stats`. A transfer that ends with
a non-zero rsync exit code, or fails in any other way, raises :class:`SyncError`, which
carries the code, rsync's error lines, the statistics and what the transfer printed.

rsync: main.c main() (one run of the client).
"""

from __future__ import annotations

import difflib
import io
import os
from typing import TYPE_CHECKING, Final, Unpack

import anyio

from rsync_client._syncopts import SyncOptions
from rsync_client._syncopts_gen import client_options, counted, key_for, repeated
from rsync_client.errors import describe_failure
from rsync_client.options import ClientOptions, OptionError
from rsync_client.output import Output, rsync_error_line
from rsync_client.stats import Stats, from_receive_stats
from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.proto.optable import OPTIONS, Arg, Option

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from rsync_wire.roles.receive_state import ReceiveStats

__all__ = [
    "Stats",
    "SyncError",
    "SyncOptionError",
    "SyncOptions",
    "async_sync",
    "make_options",
    "sync",
]

_BY_KEY: Final[dict[str, Option]] = {key_for(o): o for o in client_options()}
_ALIASES: Final[dict[str, Option]] = {
    name.replace("-", "_"): o for o in client_options() for name in o.aliases
}
_OTHERS: Final[dict[str, Option]] = {
    name.replace("-", "_"): o for o in OPTIONS if not o.client for name in (o.long, *o.aliases)
}


class SyncError(RsyncError):
    """A transfer that failed, or ended with a non-zero exit code.

    Attributes:
        code: rsync's exit code, as the process would exit with it (``exit_code`` is
            the same as an :class:`~rsync_wire.errors.ExitCode` where rsync names the
            code; a remote shell's own code, such as 255, is only in ``code``).
        message: rsync's error lines (``rsync: ...`` and ``rsync error: ... (code N)``),
            also ``str(exc)``.
        stats: the statistics, when the transfer got that far (else ``None``).
        output: what the transfer printed, ending with rsync's error lines; empty with
            ``print_output=True``, where it went to the terminal.
    """

    def __init__(
        self, message: str, *, exit_code: int, stats: Stats | None = None, output: str = ""
    ) -> None:
        code = ExitCode(exit_code) if exit_code in ExitCode._value2member_map_ else None
        super().__init__(message, exit_code=code)
        self.code = exit_code
        self.message = message
        self.stats = stats
        self.output = output


class SyncOptionError(OptionError, TypeError):
    """A keyword ``sync()`` does not take, or a value of the wrong type.

    A ``TypeError``, as Python raises for an unexpected keyword argument, and an
    :class:`~rsync_client.options.OptionError` (rsync's exit code 1, a syntax error).
    """


def _unknown(key: str) -> SyncOptionError:
    """The error for an unknown keyword, naming what rsync calls it or what was meant."""
    if key in _ALIASES:
        right = key_for(_ALIASES[key])
        msg = f"unknown option {key!r}: rsync's alias --{key.replace('_', '-')} is {right}="
    elif key in _OTHERS:
        name = key.replace("_", "-")
        msg = f"--{name}: unknown option (an rsync option pyrsync does not implement)"
    else:
        close = difflib.get_close_matches(key, [*_BY_KEY, *_ALIASES], n=1)
        msg = f"unknown option {key!r}"
        if close:
            meant = _BY_KEY.get(close[0]) or _ALIASES[close[0]]
            msg += f" (did you mean {key_for(meant)}=?)"
    return SyncOptionError(msg)


def _words(key: str, value: object) -> list[str]:
    """The command-line words of one keyword argument (``exclude=["a"]``: ``--exclude=a``).

    Raises:
        SyncOptionError: an unknown keyword, or a value of the wrong type.
    """
    option = _BY_KEY.get(key)
    if option is None:
        raise _unknown(key)
    name = option.long
    if option.arg is Arg.NONE:
        negation = f"no-{name}" if f"no-{name}" in option.negations else None
        if isinstance(value, bool):
            if value:
                return [f"--{name}"]
            return [f"--{negation}"] if negation else []
        if isinstance(value, int) and counted(option) and value >= 0:
            if value:
                return [f"--{name}"] * value
            return [f"--{negation}"] if negation else []
        kind = "True, False or a count" if counted(option) else "True or False"
        msg = f"{key}= takes {kind}, not {value!r}"
        raise SyncOptionError(msg)
    if option.arg is Arg.INT and isinstance(value, int) and not isinstance(value, bool):
        return [f"--{name}={value}"]
    if option.arg is Arg.SIZE and (
        isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    ):
        return [f"--{name}={value}"]
    if option.arg is Arg.STR:
        if isinstance(value, (str, os.PathLike)):
            return [f"--{name}={os.fspath(value)}"]
        if repeated(option) and isinstance(value, (list, tuple)):
            words = []
            for item in value:
                if not isinstance(item, (str, os.PathLike)):
                    msg = f"{key}= takes strings, not {item!r}"
                    raise SyncOptionError(msg)
                words.append(f"--{name}={os.fspath(item)}")
            return words
    kinds = {Arg.INT: "an int", Arg.SIZE: "an int or a size string", Arg.STR: "a string"}
    kind = kinds[option.arg] + (" or a list of them" if repeated(option) else "")
    msg = f"{key}= takes {kind}, not {value!r}"
    raise SyncOptionError(msg)


def command_line(options: Mapping[str, object]) -> list[str]:
    """The ``pyrsync`` options that keyword arguments stand for, in their order.

    Raises:
        SyncOptionError: an unknown keyword, or a value of the wrong type.
    """
    words: list[str] = []
    for key, value in options.items():
        words += _words(key, value)
    return words


def make_options(**options: object) -> ClientOptions:
    """Build :class:`ClientOptions` from keyword arguments, as ``pyrsync`` parses them.

    The keywords are those of :class:`~rsync_client.SyncOptions`, checked here at run
    time (``sync()`` has them typed).

    Unlike the command line, the result does not confine the process (``sandbox``
    stays off unless ``sandbox=True``): Landlock cannot be undone, and an API caller's
    process is not ``pyrsync``'s. For the same reason note that ``copy_as`` switches the
    calling process itself to that user, for good (as it switches ``pyrsync``).

    Raises:
        SyncOptionError: an unknown keyword or a value of the wrong type.
        OptionError: a value rsync would refuse (``bwlimit="fast"``).
    """
    from rsync_client.cli import HelpRequested, parse_args

    words = command_line(options)
    try:
        opts, rest = parse_args([*words, "--"])
    except HelpRequested as exc:  # pragma: no cover - no keyword asks for help
        raise OptionError(exc.text) from None
    assert not rest  # noqa: S101 - only options were given
    if "sandbox" not in options:
        opts.sandbox = False
    return opts


async def async_sync(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    dest: str | os.PathLike[str] | None = None,
    *,
    print_output: bool = False,
    **options: Unpack[SyncOptions],
) -> Stats:
    """Copy ``source`` (one path/URL or several) to ``dest``, as ``pyrsync`` would.

    Args:
        source: ``rsync://host/module/path``, ``host::module/path``, ``host:path`` or a
            local path; or a list of them (all from the same place).
        dest: a local directory or file, or a remote one (a push); ``None`` lists the
            source (``--list-only``).
        print_output: print what ``pyrsync`` would print (``-v`` lines, stats) to stdout.
        **options: rsync's long options with ``_`` for ``-`` (see
            :class:`~rsync_client.SyncOptions`).

    Returns:
        The transfer statistics.

    Raises:
        SyncError: the transfer failed or ended with a non-zero exit code.
        SyncOptionError: an unknown keyword or a value of the wrong type (a TypeError).
        OptionError: an option value rsync refuses.
    """
    from rsync_client.session import run

    opts = make_options(**options)
    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    args = [os.fspath(s) for s in sources] + ([os.fspath(dest)] if dest is not None else [])
    buffer = io.StringIO()
    output = Output(opts) if print_output else Output(opts, stdout=buffer, stderr=buffer)
    try:
        result = await run(opts, args, output)
    except Exception as exc:
        # (a cancellation or KeyboardInterrupt is the caller's and propagates)
        failure = describe_failure(exc)
        raise _sync_error(failure.lines, failure.exit_code, None, output, buffer) from exc
    if result.stats is not None and (print_output or opts.stats or opts.verbose):
        output.summary(result.stats, protocol=result.protocol)
    output.flush()
    if result.exit_code:
        raise _sync_error([], result.exit_code, result.stats, output, buffer)
    return from_receive_stats(result.stats) if result.stats is not None else Stats()


def _sync_error(
    lines: list[str],
    exit_code: int,
    stats: ReceiveStats | None,
    output: Output,
    buffer: io.StringIO,
) -> SyncError:
    """The exception for a failed transfer, with rsync's lines, as ``pyrsync`` prints them."""
    lines = [*lines, rsync_error_line(exit_code)]
    for line in lines:
        output.error(line)
    output.flush()
    message = "\n".join(lines)
    public = from_receive_stats(stats) if stats is not None else None
    return SyncError(message, exit_code=exit_code, stats=public, output=buffer.getvalue())


def sync(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    dest: str | os.PathLike[str] | None = None,
    *,
    print_output: bool = False,
    **options: Unpack[SyncOptions],
) -> Stats:
    """Blocking form of :func:`async_sync` (runs its own event loop).

    Example::

        from rsync_client import sync

        stats = sync("rsync://mirror.example.org/pub/", "mirror/", archive=True, delete=True)
        print(stats.transferred_files, stats.literal_data)
    """
    return anyio.run(lambda: async_sync(source, dest, print_output=print_output, **options))
