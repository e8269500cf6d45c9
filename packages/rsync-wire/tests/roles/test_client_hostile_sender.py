"""A malicious or broken sender cannot make the receiving side touch anything outside the
destination: every attack ends in a clear error, and complete files stay complete."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import anyio
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from typing import TYPE_CHECKING

from fake_sender import FakeSender, encode_list, run_against, session_for

from rsync_wire.errors import ConnectionLost, ProtocolError, RsyncError
from rsync_wire.proto.constants import Item
from rsync_wire.proto.flist import FileEntry
from rsync_wire.proto.options import TransferOptions

if TYPE_CHECKING:
    from rsync_wire.roles.receiving import ReceiveConfig

DIR = stat.S_IFDIR | 0o755
REG = stat.S_IFREG | 0o644
LNK = stat.S_IFLNK | 0o777
OPTS = {
    "sender": True,
    "recursive": True,
    "preserve_links": True,
    "preserve_perms": True,
    "preserve_times": True,
}


def opts(**extra: object) -> TransferOptions:
    return TransferOptions(**{**OPTS, **extra})  # type: ignore[arg-type]


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        data = path.read_bytes() if stat.S_ISREG(st.st_mode) else b""
        out[str(path.relative_to(root))] = (st.st_mode, st.st_mtime_ns, data)
    return out


@pytest.fixture
def scene(tmp_path: Path) -> tuple[Path, Path]:
    """A destination holding one complete file, next to an "outside" that must not change."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"do not touch\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "complete").write_bytes(b"complete before\n")
    return dest, outside


def entry(name: bytes, mode: int, **kw: object) -> FileEntry:
    return FileEntry(name=name, mode=mode, mtime=1_600_000_000, **kw)  # type: ignore[arg-type]


def pull(
    sender: FakeSender,
    dest: Path,
    o: TransferOptions | None = None,
    config: ReceiveConfig | None = None,
) -> object:
    return anyio.run(run_against, sender, os.fsencode(dest), o or opts(), config)


def assert_unharmed(
    tmp_path: Path, dest: Path, outside: Path, before: dict[str, tuple[int, int, bytes]]
) -> None:
    assert snapshot(outside) == before
    assert (dest / "complete").read_bytes() == b"complete before\n"
    assert not [p for p in tmp_path.iterdir() if p.name not in ("dest", "outside")]
    assert not [p for p in dest.rglob(".*") if p.is_file()], "temporary files left behind"


@pytest.mark.parametrize(
    "bad", [b"../escape", b"sub/../../escape", b"/etc/escape", b"sub//x", b"a/./b"]
)
def test_names_that_leave_the_destination(
    scene: tuple[Path, Path], tmp_path: Path, bad: bytes
) -> None:
    dest, outside = scene
    before = snapshot(outside)
    session = session_for()
    o = opts()
    flist = encode_list(session, o, [entry(b".", DIR), entry(b"sub", DIR), entry(bad, REG, size=3)])
    sender = FakeSender(session, o, flist, stop_after_flist=True)
    with pytest.raises(ProtocolError):
        pull(sender, dest)
    assert_unharmed(tmp_path, dest, outside, before)


def test_symlink_then_a_file_through_it(scene: tuple[Path, Path], tmp_path: Path) -> None:
    dest, outside = scene
    before = snapshot(outside)
    session = session_for()
    o = opts()
    flist = encode_list(
        session,
        o,
        [
            entry(b".", DIR),
            entry(b"link", LNK, size=len(bytes(outside)), link_target=os.fsencode(outside)),
            entry(b"link/secret", REG, size=5),
        ],
    )
    sender = FakeSender(session, o, flist, stop_after_flist=True)
    with pytest.raises(ProtocolError, match="invalid path from sender"):
        pull(sender, dest)
    assert_unharmed(tmp_path, dest, outside, before)


def test_a_symlink_already_in_the_destination_is_replaced_not_followed(
    scene: tuple[Path, Path], tmp_path: Path
) -> None:
    dest, outside = scene
    before = snapshot(outside)
    os.symlink(outside, dest / "d")
    session = session_for()
    o = opts()
    names = [b".", b"complete", b"d", b"d/secret"]
    flist = encode_list(
        session,
        o,
        [
            entry(b".", DIR),
            entry(b"complete", REG, size=16),
            entry(b"d", DIR),
            entry(b"d/secret", REG, size=7),
        ],
    )
    sender = FakeSender(
        session,
        o,
        flist,
        sorted_names=names,
        content={b"d/secret": b"inside\n", b"complete": b"complete before\n"},
    )
    pull(sender, dest)
    assert not (dest / "d").is_symlink()
    assert (dest / "d" / "secret").read_bytes() == b"inside\n"
    assert_unharmed(tmp_path, dest, outside, before)


def test_a_symlink_created_earlier_is_never_followed_by_a_later_write(
    scene: tuple[Path, Path], tmp_path: Path
) -> None:
    """The sender lists a directory and a symlink of the same name: one is dropped, and the
    file below is written inside the destination, never through the link."""
    dest, outside = scene
    before = snapshot(outside)
    session = session_for()
    o = opts()
    flist = encode_list(
        session,
        o,
        [
            entry(b".", DIR),
            entry(b"d", LNK, size=len(bytes(outside)), link_target=os.fsencode(outside)),
            entry(b"d", DIR),
            entry(b"d/secret", REG, size=7),
        ],
    )
    names = [b".", b"d", b"d", b"d/secret"]
    sender = FakeSender(session, o, flist, sorted_names=names, content={b"d/secret": b"inside\n"})
    pull(sender, dest)
    assert (dest / "d").is_dir()
    assert not (dest / "d").is_symlink()
    assert_unharmed(tmp_path, dest, outside, before)


def test_absurd_name_length(scene: tuple[Path, Path], tmp_path: Path) -> None:
    dest, outside = scene
    before = snapshot(outside)
    session = session_for()
    # varint flags LONG_NAME (0x40), then l2 = 5000 as a varint
    flist = bytes([0x40, 0x80 | (5000 >> 8), 5000 & 0xFF]) + b"x" * 5000
    sender = FakeSender(session, opts(), flist, stop_after_flist=True)
    with pytest.raises(ProtocolError):
        pull(sender, dest)
    assert_unharmed(tmp_path, dest, outside, before)


def test_unknown_flag_bits(scene: tuple[Path, Path], tmp_path: Path) -> None:
    dest, outside = scene
    before = snapshot(outside)
    session = session_for()
    sender = FakeSender(session, opts(), bytes([0xC0, 0x00, 0x80]), stop_after_flist=True)
    with pytest.raises(RsyncError):
        pull(sender, dest)
    assert_unharmed(tmp_path, dest, outside, before)


async def _reply_with(sender: FakeSender, ndx: int, iflags: int, raw: bytes) -> None:
    ws = sender.ws
    assert ws is not None
    ws.write_ndx(sender.ndx_out, ndx)
    ws.write_int16(iflags)
    ws.write(raw)
    await ws.flush()


@pytest.mark.parametrize(
    ("what", "raw"),
    [
        ("negative block count", (-1).to_bytes(4, "little", signed=True) + bytes(12)),
        (
            "huge block length",
            (1).to_bytes(4, "little") + (1 << 30).to_bytes(4, "little") + bytes(8),
        ),
        ("literal of 2 GB", bytes(16) + (0x7FFFFFF0).to_bytes(4, "little")),
        ("block beyond the basis", bytes(16) + (-1).to_bytes(4, "little", signed=True)),
    ],
)
def test_absurd_token_streams(
    scene: tuple[Path, Path], tmp_path: Path, what: str, raw: bytes
) -> None:
    dest, outside = scene
    before = snapshot(outside)
    session = session_for()
    o = opts()
    flist = encode_list(session, o, [entry(b".", DIR), entry(b"complete", REG, size=100)])

    async def reply(sender: FakeSender, ndx: int, iflags: int) -> None:
        await _reply_with(sender, ndx, iflags, raw)

    sender = FakeSender(session, o, flist, sorted_names=[b".", b"complete"], on_request=reply)
    with pytest.raises(ProtocolError):
        pull(sender, dest)
    assert_unharmed(tmp_path, dest, outside, before)


def test_index_out_of_range_and_transfer_of_a_directory(
    scene: tuple[Path, Path], tmp_path: Path
) -> None:
    dest, outside = scene
    before = snapshot(outside)
    session = session_for()
    o = opts()
    flist = encode_list(session, o, [entry(b".", DIR), entry(b"complete", REG, size=100)])
    for target in (7, 0):

        async def reply(sender: FakeSender, ndx: int, iflags: int, target: int = target) -> None:
            await _reply_with(sender, target, int(Item.TRANSFER), bytes(16))

        sender = FakeSender(session, o, flist, sorted_names=[b".", b"complete"], on_request=reply)
        with pytest.raises(ProtocolError):
            pull(sender, dest)
    assert_unharmed(tmp_path, dest, outside, before)


def test_a_message_longer_than_rsync_allows(scene: tuple[Path, Path], tmp_path: Path) -> None:
    dest, outside = scene
    before = snapshot(outside)
    session = session_for()
    o = opts()
    flist = encode_list(session, o, [entry(b".", DIR), entry(b"complete", REG, size=100)])

    async def reply(sender: FakeSender, ndx: int, iflags: int) -> None:
        ws = sender.ws
        assert ws is not None
        await ws.flush()
        # a MSG_INFO header announcing 100 000 bytes, written by hand
        await ws._send.send(((7 + 2) << 24 | 100_000).to_bytes(4, "little") + b"x" * 100)

    sender = FakeSender(session, o, flist, sorted_names=[b".", b"complete"], on_request=reply)
    with pytest.raises(RsyncError):
        pull(sender, dest)
    assert_unharmed(tmp_path, dest, outside, before)


def test_checksum_failing_twice_keeps_the_old_file(
    scene: tuple[Path, Path], tmp_path: Path
) -> None:
    dest, outside = scene
    before = snapshot(outside)
    session = session_for()
    o = opts()
    flist = encode_list(
        session, o, [entry(b".", DIR), entry(b"complete", REG, size=8), entry(b"new", REG, size=3)]
    )
    sender = FakeSender(
        session,
        o,
        flist,
        sorted_names=[b".", b"complete", b"new"],
        content={b"complete": b"changed!", b"new": b"new"},
        bad_checksum={b"complete", b"new"},
    )
    stats = pull(sender, dest)
    assert stats.transfer_errors == 2  # type: ignore[attr-defined]
    assert int(stats.exit_code()) == 23  # type: ignore[attr-defined]
    assert not (dest / "new").exists()
    assert_unharmed(tmp_path, dest, outside, before)


@pytest.mark.parametrize("partial", [False, True])
def test_connection_dropped_in_the_middle_of_a_file(
    scene: tuple[Path, Path], tmp_path: Path, partial: bool
) -> None:
    dest, outside = scene
    before = snapshot(outside)
    session = session_for()
    o = opts(partial=partial)
    files = [entry(b".", DIR), entry(b"complete", REG, size=1 << 20)]
    if not partial:  # with two files the generator may see the drop first: a race
        files.append(entry(b"fresh", REG, size=1 << 20))
    flist = encode_list(session, o, files)

    async def reply(sender: FakeSender, ndx: int, iflags: int) -> None:
        ws = sender.ws
        assert ws is not None
        ws.write_ndx(sender.ndx_out, ndx)
        ws.write_int16(iflags)
        ws.write(bytes(16))
        ws.write((32768).to_bytes(4, "little") + b"p" * 32768)
        await ws.flush()
        msg = "dropped"
        raise ConnectionError(msg)

    sender = FakeSender(
        session, o, flist, sorted_names=[b".", b"complete", b"fresh"], on_request=reply
    )
    with pytest.raises(ConnectionLost):
        pull(sender, dest, o)
    assert snapshot(outside) == before
    leftovers = [p.name for p in dest.iterdir() if p.name.startswith(".")]
    assert leftovers == []
    if partial:
        # rsync's --partial: what arrived is kept under the final name
        assert (dest / "complete").read_bytes() == b"p" * 32768
    else:
        assert (dest / "complete").read_bytes() == b"complete before\n"
        assert not (dest / "fresh").exists()


def test_cancellation_leaves_no_temporary_file(scene: tuple[Path, Path], tmp_path: Path) -> None:
    dest, _outside = scene
    session = session_for()
    o = opts()
    flist = encode_list(session, o, [entry(b".", DIR), entry(b"big", REG, size=1 << 24)])

    async def reply(sender: FakeSender, ndx: int, iflags: int) -> None:
        ws = sender.ws
        assert ws is not None
        ws.write_ndx(sender.ndx_out, ndx)
        ws.write_int16(iflags)
        ws.write(bytes(16))
        ws.write((32768).to_bytes(4, "little") + b"p" * 32768)
        await ws.flush()
        await anyio.sleep(30)

    sender = FakeSender(session, o, flist, sorted_names=[b".", b"big"], on_request=reply)

    async def main() -> None:
        with anyio.move_on_after(1):
            await run_against(sender, os.fsencode(dest), o)

    anyio.run(main)
    assert sorted(p.name for p in dest.iterdir()) == ["complete"]
