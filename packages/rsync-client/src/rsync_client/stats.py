"""``Stats``: what a transfer did, as the Python API returns it.

The numbers are those ``--stats`` prints, named for a reader rather than after rsync's
``struct stats``; :func:`from_receive_stats` converts the protocol engine's internal
record (``rsync_wire``'s ``ReceiveStats``, which may change between versions) into it.

rsync: rsync.h struct stats, main.c output_summary().
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from rsync_wire.roles.receive_state import ReceiveStats

__all__ = ["Stats", "from_receive_stats"]


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    """The statistics of one transfer (what ``pyrsync --stats`` prints).

    Counts of entries are per kind: ``files`` counts every entry of the file list
    (directories, links, devices and specials included, as rsync's "Number of files");
    :attr:`regular_files` is what remains once the other kinds are taken off.

    Attributes:
        files: entries in the file list ("Number of files").
        dirs: directories among them.
        symlinks: symbolic links among them.
        devices: device files among them.
        specials: sockets and FIFOs among them.
        created_files: entries created in the destination (protocol 29 and later).
        created_dirs: directories created.
        deleted_files: entries deleted from the destination (``--delete``).
        deleted_dirs: directories deleted.
        transferred_files: regular files whose data was sent ("Number of regular files
            transferred").
        total_size: the size of all files in the list, in bytes ("Total file size").
        transferred_size: the size of the files transferred ("Total transferred file size").
        literal_data: bytes sent as data, the part the delta algorithm did not find.
        matched_data: bytes rebuilt from the destination's own blocks.
        file_list_size: bytes of the file list on the wire.
        file_list_generation_time: seconds the sender took to build its file list
            (``None`` when the sender did not say).
        file_list_transfer_time: seconds the file list took to send (``None`` likewise).
        bytes_sent: bytes this side wrote ("Total bytes sent", the ``sent`` of ``-v``).
        bytes_received: bytes this side read ("Total bytes received").
        elapsed: wall-clock seconds of the whole run.
    """

    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    devices: int = 0
    specials: int = 0
    created_files: int = 0
    created_dirs: int = 0
    deleted_files: int = 0
    deleted_dirs: int = 0
    transferred_files: int = 0
    total_size: int = 0
    transferred_size: int = 0
    literal_data: int = 0
    matched_data: int = 0
    file_list_size: int = 0
    file_list_generation_time: float | None = None
    file_list_transfer_time: float | None = None
    bytes_sent: int = 0
    bytes_received: int = 0
    elapsed: float = 0.0

    @property
    def regular_files(self) -> int:
        """Regular files in the file list."""
        return self.files - self.dirs - self.symlinks - self.devices - self.specials

    @property
    def speedup(self) -> float:
        """Rsync's "speedup": total file size over the bytes that went both ways."""
        wire = self.bytes_sent + self.bytes_received
        return self.total_size / wire if wire else 0.0


def from_receive_stats(stats: ReceiveStats) -> Stats:
    """The public :class:`Stats` of the protocol engine's statistics."""
    timed = bool(stats.flist_buildtime_ms)  # rsync prints the times only when it has them
    return Stats(
        files=stats.num_files,
        dirs=stats.num_dirs,
        symlinks=stats.num_symlinks,
        devices=stats.num_devices,
        specials=stats.num_specials,
        created_files=stats.created_files,
        created_dirs=stats.created_dirs,
        deleted_files=stats.deleted_files,
        deleted_dirs=stats.deleted_dirs,
        transferred_files=stats.xferred_files,
        total_size=stats.total_size,
        transferred_size=stats.total_transferred_size,
        literal_data=stats.literal_data,
        matched_data=stats.matched_data,
        file_list_size=stats.flist_size,
        file_list_generation_time=stats.flist_buildtime_ms / 1000 if timed else None,
        file_list_transfer_time=stats.flist_xfertime_ms / 1000 if timed else None,
        bytes_sent=stats.total_written,
        bytes_received=stats.total_read,
        elapsed=stats.elapsed,
    )
