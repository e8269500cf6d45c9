"""A sender that streams file-list entries without end: the receiving side stops, bounded.

The entries are cheap on the wire (names compressed against the previous one) and dear
in memory; the receiving side estimates what the list costs and ends the session with a
typed error (exit 22, rsync's RERR_MALLOC) before it passes its limit. tracemalloc
measures the peak of what Python allocated meanwhile.
"""

from __future__ import annotations

import os
import stat
import sys
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_sender import FakeSender, run_against, session_for

from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.proto.filters import decode_filter_list
from rsync_wire.proto.flist import FileEntry, FileListEncoder
from rsync_wire.proto.options import TransferOptions
from rsync_wire.roles.receiving import ReceiveConfig

if TYPE_CHECKING:
    from rsync_wire.stream import WireStream

LIMIT = 8 << 20


class EndlessSender(FakeSender):
    """Entries ``d/f00000000``, ``d/f00000001``, ... until the client hangs up."""

    async def serve(self, ws: WireStream) -> None:
        self.ws = ws
        await ws.decode(decode_filter_list)
        enc = FileListEncoder(self.session, self.opts)
        enc.encode_into(ws.out, FileEntry(name=b".", mode=stat.S_IFDIR | 0o755, mtime=1))
        enc.encode_into(ws.out, FileEntry(name=b"d", mode=stat.S_IFDIR | 0o755, mtime=1))
        n = 0
        while True:
            for _ in range(4096):
                enc.encode_into(
                    ws.out,
                    FileEntry(name=b"d/f%08d" % n, mode=stat.S_IFREG | 0o644, mtime=1, size=1),
                )
                n += 1
            await ws.flush()


def test_endless_file_list_ends_in_a_typed_error_with_bounded_memory(tmp_path: Path) -> None:
    session = session_for()
    o = TransferOptions(sender=True, recursive=True)
    sender = EndlessSender(session, o, b"")
    config = ReceiveConfig(flist_memory_limit=LIMIT)
    tracemalloc.start()
    try:
        with pytest.raises(RsyncError, match="file list is too large") as info:
            anyio.run(run_against, sender, os.fsencode(tmp_path), o, config)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.exit_code == ExitCode.MALLOC
    assert peak < 2 * LIMIT, f"peak {peak >> 20} MiB for a {LIMIT >> 20} MiB limit"
    assert list(tmp_path.iterdir()) == []
