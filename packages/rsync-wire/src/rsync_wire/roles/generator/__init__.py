"""The generator: decides, for every file-list entry, what the receiving side needs.

Its parts, each a layer of :class:`GeneratorRole`: ``state`` (what all parts share, the
writes to the sender), ``attrs``, ``delete``, ``hardlinks``, ``basis`` (quick check, basis
dirs, block sums), ``entries`` (one entry of each kind), ``role`` (the run and its phases).

How this works: the generator walks the sorted file list once (phase 1). A
directory is created (or its attributes fixed), a symlink, device, FIFO or
socket is made locally, an up-to-date regular file only gets its attributes
fixed; all of those may be reported to the sender as an itemize record (index
and iflags, P >= 29) so that the receiver prints them when the sender echoes
them, in list order. A regular file that differs becomes a transfer request:
index, iflags, and the sum header with the block checksums of the existing
destination file (its "basis"), or an empty header for a whole-file transfer.
Deletions (``--delete-*``) happen before the walk, per directory during it, or
after the transfer. Then come the NDX_DONE markers of docs/protocol.md §10.9: end of phase 1,
the redo requests for files that failed their checksum, end of phase 2, and so
on, each waiting for the receiver where the choreography requires it. At the
very end directory permissions and times are fixed and the goodbye is sent.

The generator only writes to the connection; it learns what the receiver saw
from :data:`~rsync_wire.roles.receiving.ReceiverEvent` records.

rsync: generator.c generate_files(), recv_generator(), delete_in_dir(),
touch_up_dirs(); delete.c delete_item(); hlink.c finish_hard_link().
"""

from __future__ import annotations

from rsync_wire.roles.generator.role import GeneratorRole

__all__ = ["GeneratorRole"]
