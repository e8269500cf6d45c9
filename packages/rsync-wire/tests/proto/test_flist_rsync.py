"""The file-list codec against the real rsync: decode what rsync sends, re-encode it identically.

rsync's batch mode records the sender's protocol stream: ``rsync --only-write-batch=FILE
src/ dst/`` writes (batch.c write_stream_flags, io.c start_write_batch)

* ``i32`` stream flags (bit 0 -r, 1 -o, 2 -g, 3 -l, 4 -D, 5 -H, 6 -c, ...),
* ``i32`` protocol version, ``varint`` compat flags (P >= 30), ``i32`` checksum seed,
* then every byte the sender writes after the filter list, *without* the multiplexing
  frames (io.c copies the payload of write_buf, not the framed output): the file list and
  its id lists/io_error word, incremental sub-lists with their NDX announcements, then the
  transfer records.

Differences from a live connection, all from rsync's sources and confirmed here: the batch
never holds MSG_* messages; the checksum is always the old-style choice (md4 below 30, md5
from 30; ``--checksum-choice`` is refused), and incremental recursion *is* used (compat
0x1FF locally), so both the incremental path (inline names, sub-lists, cross-list hard links)
and, with ``--no-inc-recursive``, the id-list path are covered. With fewer than 1000 entries
the sender writes every sub-list and NDX_FLIST_EOF before its first transfer record
(sender.c send_files: MIN_FILECNT_LOOKAHEAD), so the whole list section is contiguous.

A second test drives rsync over a capturing remote shell to see the multiplexed wire itself
with negotiated xxh128/xxh64 file checksums (16 and 8 bytes per file).
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import shutil
import socket
import stat
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
import xxhash
from Crypto.Hash import MD4

from rsync_wire.proto.codec import NdxDecoder, NdxEncoder, decode_varint
from rsync_wire.proto.flist import (
    EndOfList,
    FileEntry,
    FileListDecoder,
    FileListEncoder,
    IdLists,
)
from rsync_wire.proto.flist_sort import sort_file_list
from rsync_wire.proto.negotiate import Session
from rsync_wire.proto.options import TransferOptions

pytestmark = pytest.mark.interop

RSYNC = shutil.which("rsync")
IS_ROOT = os.geteuid() == 0


def _rsync() -> str:
    if RSYNC is None:
        if os.environ.get("CI"):
            pytest.fail("rsync is not installed (required in CI)")
        pytest.skip("rsync is not installed")
    return RSYNC


def _free_id(taken: set[int]) -> int:
    ident = 23456
    while ident in taken:
        ident += 1
    return ident


NAMED_UID = next((p.pw_uid for p in pwd.getpwall() if p.pw_uid not in (0, os.getuid())), None)
NAMED_GID = next((g.gr_gid for g in grp.getgrall() if g.gr_gid not in (0, os.getgid())), None)
ANON_UID = _free_id({p.pw_uid for p in pwd.getpwall()})
ANON_GID = _free_id({g.gr_gid for g in grp.getgrall()})


def _user(uid: int) -> bytes | None:
    try:
        return pwd.getpwuid(uid).pw_name.encode()
    except KeyError:
        return None


def _group(gid: int) -> bytes | None:
    try:
        return grp.getgrgid(gid).gr_name.encode()
    except KeyError:
        return None


# -- the tree -------------------------------------------------------------------------------------

T0 = 1_700_000_000


def _touch(path: Path, sec: int, nsec: int = 0) -> None:
    os.utime(path, ns=(sec * 10**9 + nsec, sec * 10**9 + nsec), follow_symlinks=False)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every entry kind that can be made here, with fixed times (and owners, devices as root)."""
    src = tmp_path_factory.mktemp("flist") / "src"
    sub = src / "sub"
    (sub / "inner").mkdir(parents=True)
    (sub / "emptydir").mkdir()
    files = {
        "a.txt": b"hello\n",
        "empty": b"",
        "big": bytes(range(256)) * 300,
        "old": b"before 1970\n",
        "future": b"after 2106\n",
        "sp ace": b"x",
        "sub/b.txt": b"world\n",
        "sub/inner/deep.txt": b"deep\n",
    }
    for rel, content in files.items():
        (src / rel).write_bytes(content)
    os.link(src / "a.txt", src / "hl")
    os.link(src / "a.txt", sub / "hl2")  # in a later sub-list with incremental recursion
    os.link(src / "empty", sub / "inner" / "hl3")
    raw = os.fsencode(src)
    for odd in (b"caf\xc3\xa9", b"bad\xff\xfe"):
        with open(raw + b"/" + odd, "wb") as f:
            f.write(odd)
    long_dir = src / ("L" * 250) / ("M" * 250)
    long_dir.mkdir(parents=True)
    (long_dir / ("N" * 250)).write_bytes(b"long name\n")
    os.symlink("a.txt", src / "link")
    os.symlink("nowhere/xyz", sub / "dangling")
    os.symlink("t" * 300, src / "longlink")
    os.mkfifo(src / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "sock"))
    sock.close()
    if IS_ROOT:
        os.mknod(src / "chr", 0o620 | stat.S_IFCHR, os.makedev(4, 200))
        os.mknod(src / "blk", 0o660 | stat.S_IFBLK, os.makedev(300, 70000))
        os.mknod(sub / "chr2", 0o600 | stat.S_IFCHR, os.makedev(4, 201))
        if NAMED_UID is not None and NAMED_GID is not None:
            os.chown(src / "big", NAMED_UID, NAMED_GID)
            os.chown(sub / "b.txt", NAMED_UID, ANON_GID, follow_symlinks=False)
        os.chown(src / "empty", ANON_UID, ANON_GID)
        os.chown(src / "link", ANON_UID, 0, follow_symlinks=False)
    # Times last, deepest first, so that creating entries does not touch them again.
    paths = sorted(
        (Path(os.fsdecode(d)) / os.fsdecode(n) for d, ds, fs in os.walk(raw) for n in ds + fs),
        key=lambda p: -len(p.parts),
    )
    for i, path in enumerate(paths):
        _touch(path, T0 + (i % 3) * 1000, (i * 7919) % 10**9 if i % 4 else 0)
    _touch(src / "old", -86_400 * 400, 250_000_000)
    _touch(src / "future", 2**32 + 12_345, 1)
    _touch(src / "a.txt", T0 + 5, 123_456_789)
    _touch(src, T0, 42)
    return src


# -- reading a batch ------------------------------------------------------------------------------


@dataclass
class Parsed:
    session: Session
    options: TransferOptions
    lists: list[list[FileEntry]]
    announcements: list[int]
    ids: IdLists
    io_error: int
    start: int
    end: int
    data: bytes


def _options(stream_flags: int, *, numeric_ids: bool) -> TransferOptions:
    def bit(n: int) -> bool:
        return bool(stream_flags >> n & 1)

    return TransferOptions(
        recursive=bit(0),
        preserve_uid=bit(1),
        preserve_gid=bit(2),
        preserve_links=bit(3),
        preserve_devices=bit(4),
        preserve_specials=bit(4),  # our option sets use -D (both) or neither
        preserve_hard_links=int(bit(5)),
        always_checksum=bit(6),
        numeric_ids=numeric_ids,
    )


def _decode_list(dec: FileListDecoder, data: bytes, pos: int) -> tuple[list[FileEntry], int, int]:
    out: list[FileEntry] = []
    while True:
        item, pos = dec.decode(data, pos)
        if isinstance(item, EndOfList):
            return out, item.io_error, pos
        out.append(item)


def _parse_batch(path: Path, *, numeric_ids: bool) -> Parsed:
    data = path.read_bytes()
    stream_flags, protocol = struct.unpack_from("<ii", data)
    pos = 8
    compat = 0
    if protocol >= 30:
        compat, pos = decode_varint(data, pos)
    pos += 4  # checksum seed
    session = Session(
        protocol=protocol, compat_flags=compat, checksum="md5" if protocol >= 30 else "md4"
    )
    options = _options(stream_flags, numeric_ids=numeric_ids)
    dec = FileListDecoder(session, options)
    start = pos
    first, io_error, pos = _decode_list(dec, data, pos)
    ids, pos = dec.decode_id_lists(data, pos)
    word, pos = dec.decode_io_error(data, pos)
    io_error |= word
    lists = [first]
    announcements: list[int] = []
    if session.inc_recurse:
        # Directory numbering: per list, its directories in sorted order (docs/protocol.md §9.18).
        dirs = [e for e in sort_file_list(first, protocol=protocol) if e.is_dir]
        ndx = NdxDecoder(protocol=protocol)
        while True:
            value, pos = ndx.decode(data, pos)
            announcements.append(value)
            if value == -2:  # NDX_FLIST_EOF
                break
            assert value <= -101, f"transfer data before NDX_FLIST_EOF (ndx {value})"
            parent = dirs[-101 - value].name
            lst, err, pos = _decode_list(dec, data, pos)
            io_error |= err
            for e in lst:  # the receiver's "invalid path from sender" check
                assert os.path.dirname(e.name) == (b"" if parent == b"." else parent)
            lists.append(lst)
            dirs += [e for e in sort_file_list(lst, protocol=protocol) if e.is_dir]
    return Parsed(session, options, lists, announcements, ids, io_error, start, pos, data)


def _reencode(p: Parsed) -> bytes:
    enc = FileListEncoder(p.session, p.options)
    ndx = NdxEncoder(protocol=p.session.protocol)
    buf = bytearray()
    for k, lst in enumerate(p.lists):
        if k:
            ndx.encode_into(buf, p.announcements[k - 1])
        for e in lst:
            if not p.session.inc_recurse:  # names travel in the id lists: give them back
                e = msgspec.structs.replace(
                    e, user_name=p.ids.uid_names.get(e.uid), group_name=p.ids.gid_names.get(e.gid)
                )
            enc.encode_into(buf, e)
        enc.encode_end_into(buf, p.io_error if k == 0 else 0)
        if k == 0:
            enc.encode_id_lists_into(buf, uid0_name=_user(0), gid0_name=_group(0))
            enc.encode_io_error_into(buf, p.io_error)
    if p.session.inc_recurse:
        ndx.encode_into(buf, -2)
    return bytes(buf)


# -- checking against the tree --------------------------------------------------------------------


def _file_sum(path: Path, session: Session) -> bytes:
    data = path.read_bytes()
    if session.checksum == "md4":
        return MD4.new(data).digest()  # noqa: S303 - rsync's file checksum below 30
    if session.checksum == "md5":
        return hashlib.md5(data).digest()  # noqa: S324 - rsync's file checksum
    if session.checksum == "xxh128":
        return xxhash.xxh3_128(data).digest()[::-1]  # rsync sends it little-endian
    if session.checksum == "xxh64":
        return xxhash.xxh64(data).intdigest().to_bytes(8, "little")
    raise AssertionError(session.checksum)


def _expected_names(src: Path) -> set[bytes]:
    """Every name under ``src``: the sender lists symlinks, devices and specials even without
    -l/-D (without a target or rdev); the receiving side skips them ("skipping non-regular
    file")."""
    raw = os.fsencode(src)
    names = {b"."}
    for d, dirs, files in os.walk(raw):
        names.update(os.path.relpath(os.path.join(d, n), raw) for n in dirs + files)
    return names


def _check_against_tree(src: Path, p: Parsed) -> None:
    session, options = p.session, p.options
    proto = session.protocol
    entries = [e for lst in p.lists for e in lst]
    assert sorted(e.name for e in entries) == sorted(_expected_names(src))
    assert p.io_error == 0
    inline = session.inc_recurse and not options.numeric_ids
    inode_of_group: dict[int, tuple[int, int]] = {}
    for e in entries:
        path = Path(os.fsdecode(os.path.join(os.fsencode(src), e.name)))
        st = os.lstat(path)
        devlike = stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
        special = stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode)
        sec, nsec = divmod(st.st_mtime_ns, 10**9)
        assert e.mode == st.st_mode, e.name
        assert e.size == (0 if devlike or special else st.st_size), e.name
        assert e.mtime == (sec if proto >= 30 else sec & 0xFFFFFFFF), e.name
        assert e.mtime_nsec == (nsec if proto >= 31 else 0), e.name
        assert e.uid == (st.st_uid if options.preserve_uid else 0)
        assert e.gid == (st.st_gid if options.preserve_gid else 0)
        if inline and options.preserve_uid:
            assert e.user_name == _user(st.st_uid)
        if inline and options.preserve_gid:
            assert e.group_name == _group(st.st_gid)
        if stat.S_ISLNK(st.st_mode) and options.preserve_links:
            assert e.link_target == os.readlink(os.fsencode(path))
        else:
            assert e.link_target is None
        if devlike and options.preserve_devices:
            assert (e.rdev_major, e.rdev_minor) == (os.major(st.st_rdev), os.minor(st.st_rdev))
        if options.always_checksum and stat.S_ISREG(st.st_mode):
            assert e.checksum == _file_sum(path, session), e.name
        else:
            assert e.checksum is None
        # Hard links: P >= 28 marks non-directories with more than one link, P 27 every file.
        linked = options.preserve_hard_links and (
            (proto >= 28 and not stat.S_ISDIR(st.st_mode) and st.st_nlink > 1)
            or (proto < 28 and stat.S_ISREG(st.st_mode))
        )
        if not linked:
            assert e.hlink_group is None, e.name
            continue
        assert e.hlink_group is not None
        inode = (st.st_dev, st.st_ino)
        assert inode_of_group.setdefault(e.hlink_group, inode) == inode, e.name
        if proto < 30:
            assert (e.hl_dev, e.hl_ino) == inode
    assert len(set(inode_of_group.values())) == len(inode_of_group)
    if not session.inc_recurse and not options.numeric_ids:
        uids = {e.uid for e in entries}
        want = {u: _user(u) for u in uids if u and _user(u) is not None}
        if session.id0_names:
            want[0] = _user(0)
        assert p.ids.uid_names == (want if options.preserve_uid else {})
        gids = {e.gid for e in entries}
        gwant = {g: _group(g) for g in gids if g and _group(g) is not None}
        if session.id0_names:
            gwant[0] = _group(0)
        assert p.ids.gid_names == (gwant if options.preserve_gid else {})


OPTION_SETS = [
    ["-a"],
    ["-aH"],
    ["-ac"],
    ["-a", "--numeric-ids"],
    ["-r"],
    ["-aH", "--no-inc-recursive"],
    ["-acH", "--no-inc-recursive", "--numeric-ids"],
]


@pytest.mark.parametrize("protocol", [27, 28, 29, 30, 31, 32])
@pytest.mark.parametrize("opts", OPTION_SETS, ids=" ".join)
def test_batch_file_list(tree: Path, tmp_path: Path, protocol: int, opts: list[str]) -> None:
    batch = tmp_path / "batch"
    subprocess.run(
        [
            *(_rsync(), *opts, f"--protocol={protocol}", f"--only-write-batch={batch}"),
            *(f"{tree}/", f"{tmp_path}/dst/"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    p = _parse_batch(batch, numeric_ids="--numeric-ids" in opts)
    assert p.session.protocol == protocol
    inc = protocol >= 30 and "--no-inc-recursive" not in opts
    assert p.session.inc_recurse == inc
    subdirs = sum(len(ds) for _, ds, _ in os.walk(tree))
    assert len(p.lists) == (1 + subdirs if inc else 1)  # one sub-list per directory
    kinds = {e.mode & 0o170000 for lst in p.lists for e in lst}
    assert len(kinds) == (7 if IS_ROOT else 5)
    _check_against_tree(tree, p)
    assert _reencode(p).hex() == p.data[p.start : p.end].hex()


# -- the live wire, over a capturing remote shell ------------------------------------------------


# A remote shell that runs the server command locally and records both directions; it exits
# with the server (a tee pipeline would wait for the client's EOF and deadlock).
SHIM = """#!{python}
import os, subprocess, sys, threading
proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
def up():
    with open({c2s!r}, "wb") as log:
        try:
            while chunk := os.read(0, 65536):
                log.write(chunk)
                proc.stdin.write(chunk)
                proc.stdin.flush()
            proc.stdin.close()
        except OSError:
            pass
threading.Thread(target=up, daemon=True).start()
with open({s2c!r}, "wb") as log:
    while chunk := os.read(proc.stdout.fileno(), 65536):
        log.write(chunk)
        os.write(1, chunk)
sys.exit(proc.wait())
"""


def _demux(raw: bytes) -> bytes:
    """The MSG_DATA payload of a multiplexed stream (other messages dropped)."""
    out = bytearray()
    pos = 0
    while pos + 4 <= len(raw):
        (word,) = struct.unpack_from("<I", raw, pos)
        length, tag = word & 0xFFFFFF, (word >> 24) - 7
        if tag == 0:
            out += raw[pos + 4 : pos + 4 + length]
        pos += 4 + length
    return bytes(out)


@pytest.mark.parametrize(
    ("checksum", "protocol", "extra"),
    [
        ("xxh128", 32, []),
        ("xxh64", 31, ["--no-inc-recursive"]),
        ("md5", 30, []),
        ("md4", 29, []),
    ],
)
def test_pushed_file_list_on_the_wire(
    tree: Path, tmp_path: Path, checksum: str, protocol: int, extra: list[str]
) -> None:
    """A push: the client (sender) writes version, [checksum list], then the list in MSG_DATA."""
    c2s, s2c = tmp_path / "c2s", tmp_path / "s2c"
    shim = tmp_path / "shim.py"
    shim.write_text(SHIM.format(python=sys.executable, c2s=str(c2s), s2c=str(s2c)))
    shim.chmod(0o755)
    choice = [f"--checksum-choice={checksum}"] if protocol >= 30 else []
    subprocess.run(
        [
            *(_rsync(), "-acH", *extra, *choice, f"--protocol={protocol}", "-e", str(shim)),
            *(f"{tree}/", f"localhost:{tmp_path}/dst/"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    raw, back = c2s.read_bytes(), s2c.read_bytes()
    assert struct.unpack_from("<i", raw)[0] == protocol  # --protocol: what the client announces
    assert struct.unpack_from("<i", back)[0] == 32  # the server announces its own
    compat = decode_varint(back, 4)[0] if protocol >= 30 else 0
    # With --checksum-choice nothing is negotiated: the client's next bytes are the list, in
    # MSG_DATA frames from 30 on (raw below 30).
    stream = _demux(raw[4:]) if protocol >= 30 else raw[4:]
    session = Session(protocol=protocol, compat_flags=compat, checksum=checksum)
    assert session.inc_recurse == (not extra and protocol >= 30)
    options = _options(0b1111111, numeric_ids=False)
    dec = FileListDecoder(session, options)
    entries, _, pos = _decode_list(dec, stream, 0)
    assert sorted(e.name for e in entries if b"/" not in e.name) == sorted(
        n for n in _expected_names(tree) if b"/" not in n
    )
    for e in entries:
        if e.is_reg:
            path = Path(os.fsdecode(os.path.join(os.fsencode(tree), e.name)))
            assert e.checksum == _file_sum(path, session), e.name
    if not session.inc_recurse:
        _, pos = dec.decode_id_lists(stream, pos)
        _, pos = dec.decode_io_error(stream, pos)
    enc = FileListEncoder(session, options)
    buf = bytearray()
    for e in entries:
        if not session.inc_recurse:
            e = msgspec.structs.replace(
                e, user_name=dec.uid_names.get(e.uid), group_name=dec.gid_names.get(e.gid)
            )
        enc.encode_into(buf, e)
    enc.encode_end_into(buf)
    enc.encode_id_lists_into(buf, uid0_name=_user(0), gid0_name=_group(0))
    enc.encode_io_error_into(buf, 0)
    assert buf.hex() == stream[:pos].hex()
