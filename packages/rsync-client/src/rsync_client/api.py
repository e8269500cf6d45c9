"""The Python API: what ``pyrsync`` does, as a function call.

``sync(source, dest, **options)`` (blocking) and ``await async_sync(...)`` take the
same options as the command line, spelled as keyword arguments (``archive=True``,
``delete=True``, ``exclude=["*.tmp"]``, ``compress=True``, ``rsh="ssh -p 2222"``),
run the transfer and return its :class:`~rsync_wire.roles.receiving.ReceiveStats`.
A transfer that ends with a non-zero rsync exit code, or fails in any other way, raises
:class:`SyncError`, which carries the code, the statistics and rsync's error lines.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import anyio

from rsync_client.errors import describe_failure
from rsync_client.options import ClientOptions, OptionError
from rsync_client.output import Output, rsync_error_line
from rsync_wire.errors import RsyncError
from rsync_wire.roles.receiving import ReceiveStats

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["Stats", "SyncError", "async_sync", "sync"]

Stats = ReceiveStats
"""The statistics of a transfer (what ``--stats`` prints)."""

_FILTER_KINDS = {
    "exclude": "exclude",
    "include": "include",
    "filter": "filter",
    "exclude_from": "exclude-from",
    "include_from": "include-from",
}


class SyncError(RsyncError):
    """A transfer that ended with a non-zero exit code.

    Attributes:
        exit_code: rsync's exit code.
        stats: the statistics, when the transfer got that far.
        output: what the transfer printed, ending with rsync's error lines (``rsync: ...``
            and ``rsync error: ... (code N)``); empty with ``print_output``, where they
            went to the terminal. ``str(exc)`` holds the error lines in any case.
    """

    def __init__(
        self, message: str, *, exit_code: int, stats: ReceiveStats | None, output: str = ""
    ) -> None:
        from rsync_wire.errors import ExitCode

        code = ExitCode(exit_code) if exit_code in ExitCode._value2member_map_ else None
        super().__init__(message, exit_code=code)
        self.code = exit_code
        self.stats = stats
        self.output = output


def make_options(**options: Any) -> ClientOptions:
    """Build :class:`ClientOptions` from keyword arguments (``archive=True`` expands).

    Raises:
        OptionError: an unknown option name.
    """
    # In-process use must not confine the caller's whole process: Landlock cannot be
    # undone. The command line confines itself; an API caller asks with sandbox=True.
    opts = ClientOptions(sandbox=False)
    fields = set(ClientOptions.__struct_fields__)
    for name, value in options.items():
        if name == "archive":
            if value:
                opts.recursive = opts.links = opts.perms = opts.times = True
                opts.group = opts.owner = opts.devices = opts.specials = True
            continue
        if name in _FILTER_KINDS:
            values = [value] if isinstance(value, str) else list(value)
            opts.filters.extend((_FILTER_KINDS[name], str(v)) for v in values)
            continue
        if name == "itemize_changes" and isinstance(value, bool):
            value = int(value)
        if name == "verbose" and isinstance(value, bool):
            value = int(value)
        if name not in fields or name in ("filters", "list_only_implied"):
            msg = f"unknown option {name!r}"
            raise OptionError(msg)
        setattr(opts, name, value)
    return opts


async def async_sync(
    source: str | Iterable[str],
    dest: str | None = None,
    *,
    print_output: bool = False,
    **options: Any,
) -> ReceiveStats:
    """Copy ``source`` (one path/URL or several) to ``dest``, as ``pyrsync`` would.

    Args:
        source: ``rsync://host/module/path``, ``host::module/path``, ``host:path`` or a
            local path; or a list of them (all from the same place).
        dest: a local directory or file; ``None`` lists the source (``--list-only``).
        print_output: print what ``pyrsync`` would print (``-v`` lines, stats) to stdout.
        **options: rsync's long options with ``_`` for ``-`` (``archive=True``,
            ``delete=True``, ``compress=True``, ``exclude=["*.o"]``, ``rsh="ssh -p 22"``...).

    Returns:
        The transfer statistics.

    Raises:
        SyncError: the transfer failed or ended with a non-zero exit code.
        OptionError: an unknown option.
    """
    from rsync_client.session import run

    opts = make_options(**options)
    sources = [source] if isinstance(source, str) else list(source)
    args = sources + ([dest] if dest is not None else [])
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
    return result.stats if result.stats is not None else ReceiveStats()


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
    return SyncError(message, exit_code=exit_code, stats=stats, output=buffer.getvalue())


def sync(
    source: str | Iterable[str],
    dest: str | None = None,
    *,
    print_output: bool = False,
    **options: Any,
) -> ReceiveStats:
    """Blocking form of :func:`async_sync` (runs its own event loop).

    Example::

        from rsync_client import sync

        stats = sync("rsync://mirror.example.org/pub/", "mirror/", archive=True, delete=True)
        print(stats.xferred_files, stats.literal_data)
    """
    return anyio.run(lambda: async_sync(source, dest, print_output=print_output, **options))
