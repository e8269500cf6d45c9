"""A write that fails (here EFBIG from RLIMIT_FSIZE, a real kernel error) ends the transfer
with rsync's typed error, exit 11, the temporary file removed and the old file kept."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_sender import FakeSender, encode_list, run_against, session_for

from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.proto.flist import FileEntry
from rsync_wire.proto.options import TransferOptions

if TYPE_CHECKING:
    from collections.abc import Iterator

LIMIT = 256 << 10


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Files may not grow past ``limit`` bytes: writes beyond fail with EFBIG."""
    old_sig = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_sig)


@pytest.mark.parametrize("size", [1 << 20, 32 << 20], ids=["small", "threaded"])
def test_a_failed_write_is_fatal_and_typed(tmp_path: Path, size: int) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "big").write_bytes(b"old\n")
    session = session_for()
    o = TransferOptions(sender=True, recursive=True)
    flist = encode_list(
        session,
        o,
        [
            FileEntry(name=b".", mode=stat.S_IFDIR | 0o755, mtime=1),
            FileEntry(name=b"big", mode=stat.S_IFREG | 0o644, mtime=1, size=size),
        ],
    )
    sender = FakeSender(
        session, o, flist, sorted_names=[b".", b"big"], content={b"big": b"n" * size}
    )
    with file_size_limit(LIMIT), pytest.raises(RsyncError) as info:
        anyio.run(run_against, sender, os.fsencode(dest), o)
    assert info.value.exit_code == ExitCode.FILEIO
    assert str(info.value) == (
        f'rsync: [receiver] write failed on "{dest}/big": File too large (27)'
    )
    assert sorted(p.name for p in dest.iterdir()) == ["big"]
    assert (dest / "big").read_bytes() == b"old\n"


def test_a_failed_rename_is_a_file_error_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    """The final name became a non-empty directory after the generator looked: the rename
    fails (EISDIR); as in rsync it is an error of that file (exit 23), and the temporary
    file goes."""
    dest = tmp_path / "dest"
    dest.mkdir()
    session = session_for()
    o = TransferOptions(sender=True, recursive=True)
    flist = encode_list(
        session,
        o,
        [
            FileEntry(name=b".", mode=stat.S_IFDIR | 0o755, mtime=1),
            FileEntry(name=b"f", mode=stat.S_IFREG | 0o644, mtime=1, size=3),
        ],
    )

    async def on_request(sender: FakeSender, ndx: int, iflags: int) -> None:
        (dest / "f").mkdir()  # someone else, meanwhile
        (dest / "f" / "x").write_bytes(b"theirs")
        sender.send_file(ndx, iflags, b"new")

    sender = FakeSender(session, o, flist, sorted_names=[b".", b"f"], on_request=on_request)
    stats = anyio.run(run_against, sender, os.fsencode(dest), o)
    assert stats.transfer_errors == 1
    assert stats.exit_code() == ExitCode.PARTIAL
    assert (dest / "f" / "x").read_bytes() == b"theirs"
    assert sorted(p.name for p in dest.iterdir()) == ["f"]
