"""The file-list codec: :class:`FileEntry` records to and from rsync's wire format (no I/O).

:class:`FileListEncoder` writes entries exactly as rsync's sender does for protocols 27 to 32,
:class:`FileListDecoder` reads them back with the receiver's checks. Both append to or read
from caller buffers; neither touches the filesystem, the clock or a socket. Sorting, duplicate
removal and index mapping live in :mod:`rsync_wire.proto.flist_sort`.

Not here: ACLs, xattrs (docs/protocol.md §15; both classes refuse ``-A``/``-X``), ``--iconv`` name
conversion, uid/gid mapping to local accounts, the sub-list announcements (NDX values, see
:class:`~rsync_wire.proto.codec.NdxEncoder`), and the check that an incremental sub-list's
names lie in the announced directory (the receiving role knows the directory).
"""

# How this works
# --------------
# rsync compresses every entry against the *previous entry of the session*: the sender keeps
# "last" copies of the name, mode, mtime, uid, gid, rdev (major), hard-link device and atime
# in static variables of send_file_entry(), the receiver keeps its own copies in
# recv_file_entry(), and a flag bit XMIT_SAME_x tells the peer "unchanged, not sent". The
# state starts at zero/empty, is never reset (not even between incremental sub-lists), and
# is updated by *every* entry, including an abbreviated hard-link follower (whose fields the
# receiver copies from the group's first member).
#
# Both classes here keep exactly that state, in plain attributes (``_name``, ``_mode``,
# ``_mtime``...). The encoder updates it while it computes the flag word, as rsync does. The
# decoder works on local copies while it parses one entry and commits them only after the
# whole entry was available, so that ``NeedMoreData`` can be retried with a longer buffer.
#
# Names are prefix-compressed: l1 bytes shared with the previous name (at most 255), then the
# l2-byte suffix. Indexes: each list has a start value (0 without incremental recursion; 1
# for the first list and previous start + previous count + 1 for later ones with it), and
# hard-link followers (P >= 30) refer to the *transmission position* of their group's first
# member plus that start. Both classes follow list boundaries themselves: a list begins at
# the first entry after construction or after an end marker.

from __future__ import annotations

from rsync_wire.proto.flist.decode import FileListDecoder
from rsync_wire.proto.flist.encode import FileListEncoder
from rsync_wire.proto.flist.entry import (
    FLIST_CSUM_LENGTHS,
    EndOfList,
    FileEntry,
    IdLists,
    flist_csum_len,
)

__all__ = [
    "FLIST_CSUM_LENGTHS",
    "EndOfList",
    "FileEntry",
    "FileListDecoder",
    "FileListEncoder",
    "IdLists",
    "flist_csum_len",
]
