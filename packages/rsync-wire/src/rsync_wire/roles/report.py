"""What a role reports at its end: statistics and the I/O-error bits that set the exit code."""

from __future__ import annotations

import msgspec

from rsync_wire.errors import ExitCode

__all__ = ["RoleReport", "exit_code_for"]


class RoleReport(msgspec.Struct, kw_only=True):
    """Counters of one role, as rsync keeps them in ``struct stats``.

    rsync: rsync.h struct stats.
    """

    total_read: int = 0
    total_written: int = 0
    total_size: int = 0
    total_transferred_size: int = 0
    literal_data: int = 0
    matched_data: int = 0
    num_files: int = 0
    num_transferred_files: int = 0
    flist_buildtime_ms: int = 0
    flist_xfertime_ms: int = 0
    io_error: int = 0
    transfer_errors: int = 0
    exit_code: int = 0


def exit_code_for(io_error: int, *, transfer_errors: int = 0) -> ExitCode:
    """Rsync's exit code at a normal end: 23 beats 24 beats 25.

    rsync: cleanup.c exit_cleanup() (io_error handling in log_exit / main).
    """
    if io_error & 1 or transfer_errors:
        return ExitCode.PARTIAL
    if io_error & 2:
        return ExitCode.VANISHED
    if io_error & 4:
        return ExitCode.DEL_LIMIT
    return ExitCode.OK
