"""Property tests of the file-list codec: round trips at every protocol, split feeding, fuzzing."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, TypeVar

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rsync_wire.errors import LocalProtocolError, RemoteProtocolError
from rsync_wire.proto.codec import NeedMoreData
from rsync_wire.proto.constants import (
    CF,
    S_IFBLK,
    S_IFCHR,
    S_IFDIR,
    S_IFIFO,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
    S_IFSOCK,
)
from rsync_wire.proto.flist import (
    EndOfList,
    FileEntry,
    FileListDecoder,
    FileListEncoder,
    IdLists,
    flist_csum_len,
)
from rsync_wire.proto.negotiate import Session
from rsync_wire.proto.options import TransferOptions

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")

TYPES = [S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK]


# -- strategies ---------------------------------------------------------------------------------


@st.composite
def sessions(draw: st.DrawFn) -> Session:
    protocol = draw(st.integers(27, 32))
    compat = 0
    if protocol >= 30:
        for flag in (CF.INC_RECURSE, CF.SAFE_FLIST, CF.VARINT_FLIST_FLAGS, CF.ID0_NAMES):
            if draw(st.booleans()):
                compat |= int(flag)
    checksum = "md4" if protocol < 30 else draw(st.sampled_from(["md5", "xxh64", "xxh128"]))
    return Session(protocol=protocol, compat_flags=compat, checksum=checksum)


@st.composite
def option_sets(draw: st.DrawFn, session: Session) -> TransferOptions:
    b = st.booleans()
    return TransferOptions(
        recursive=True,
        preserve_uid=draw(b),
        preserve_gid=draw(b),
        preserve_links=draw(b),
        preserve_devices=draw(b),
        preserve_specials=draw(b),
        preserve_hard_links=int(draw(b)),
        always_checksum=draw(b),
        numeric_ids=draw(b),
        preserve_atimes=int(draw(b) and session.protocol >= 28),
        preserve_crtimes=draw(b) and session.varint_flist_flags,
        delete_missing_args=draw(b),
        relative=draw(b),
    )


_component = st.one_of(
    st.text(alphabet="ab-_~.xyz", min_size=1, max_size=8).map(str.encode),
    st.binary(min_size=1, max_size=6),
    st.text(alphabet="ab", min_size=200, max_size=250).map(str.encode),
).filter(lambda c: b"/" not in c and 0 not in c and c not in (b".", b".."))
_names = st.lists(_component, min_size=1, max_size=4).map(b"/".join)


def _user(uid: int) -> bytes | None:
    return None if uid % 3 == 1 else b"u%d" % uid


def _group(gid: int) -> bytes | None:
    return None if gid % 4 == 1 else b"g%d" % gid


@st.composite
def entry_lists(
    draw: st.DrawFn, session: Session, options: TransferOptions
) -> list[list[FileEntry]]:
    p = session.protocol
    csum_len = flist_csum_len(session.checksum)
    ids = draw(st.lists(st.sampled_from([0, 1, 2, 5, 1000, 65534, 2**32 - 1]), min_size=1))
    times = st.one_of(
        st.sampled_from([0, 1, 1_600_000_000]),
        st.integers(-(2**40), 2**40) if p >= 30 else st.integers(0, 2**32 - 1),
    )
    base: list[FileEntry] = []
    for i in range(draw(st.integers(0, 14))):
        ftype = draw(st.sampled_from([*TYPES, 0] if options.delete_missing_args else TYPES))
        name = b"." if ftype == S_IFDIR and draw(st.booleans()) else draw(_names)
        if options.relative and draw(st.integers(0, 5)) == 0:
            name = b"/" + name
        if name.endswith(b"/.") or name == b".":
            ftype = S_IFDIR
        mode = ftype | draw(st.integers(0, 0o7777)) if ftype else 0
        uid = draw(st.sampled_from(ids))
        gid = draw(st.sampled_from(ids))
        major = draw(st.integers(0, 4095) if p < 28 else st.integers(0, 2**32 - 1))
        minor = draw(st.integers(0, 2**19 - 1) if p < 28 else st.integers(0, 2**32 - 1))
        entry = FileEntry(
            name=name,
            mode=mode,
            size=draw(st.integers(0, 2**31 - 1) | st.integers(0, 2**62)),
            mtime=draw(times),
            mtime_nsec=draw(st.sampled_from([0, 1, 999_999_999]) | st.integers(0, 999_999_999)),
            uid=uid,
            gid=gid,
            user_name=_user(uid),
            group_name=_group(gid),
            rdev_major=major if ftype in (S_IFCHR, S_IFBLK) else 0,
            rdev_minor=minor if ftype in (S_IFCHR, S_IFBLK) else 0,
            link_target=draw(st.binary(min_size=1, max_size=300).filter(lambda t: 0 not in t))
            if ftype == S_IFLNK
            else None,
            checksum=draw(st.binary(min_size=csum_len, max_size=csum_len))
            if ftype == S_IFREG
            else None,
            atime=draw(times) if ftype != S_IFDIR else None,
            crtime=draw(times),
            hl_dev=draw(st.integers(1, 3)),
            hl_ino=i + 1,
            top_dir=ftype == S_IFDIR and draw(st.booleans()),
            no_content_dir=ftype == S_IFDIR and draw(st.booleans()),
        )
        base.append(entry)
    # Hard links: later copies of earlier non-directories under other names.
    entries = list(base)
    for _ in range(draw(st.integers(0, 4))):
        sources = [i for i, e in enumerate(entries) if e.mode & S_IFMT not in (S_IFDIR, 0)]
        if not sources:
            break
        src = draw(st.sampled_from(sources))
        where = draw(st.integers(src + 1, len(entries)))
        link = msgspec.structs.replace(entries[src], name=draw(_names) + b"~link", nlink=2)
        entries[src] = msgspec.structs.replace(entries[src], nlink=2)
        entries.insert(where, link)
    # Incremental recursion: several lists (the compression state spans all of them).
    if not session.inc_recurse:
        return [entries]
    cuts = sorted(draw(st.lists(st.integers(0, len(entries)), max_size=3)))
    lists, prev = [], 0
    for c in [*cuts, len(entries)]:
        lists.append(entries[prev:c])
        prev = c
    return lists


# -- expected decoding ----------------------------------------------------------------------------


def _expected(
    session: Session, options: TransferOptions, lists: list[list[FileEntry]]
) -> list[list[FileEntry]]:
    """What a receiver learns from each entry, computed independently of the codec."""
    p = session.protocol
    inline = session.inc_recurse and not options.numeric_ids
    hl_first: dict[tuple[int | None, int | None], int] = {}
    hl_groups: dict[tuple[int | None, int | None], int] = {}
    out = []
    start = 1 if session.inc_recurse else 0
    for lst in lists:
        got = []
        for pos, e in enumerate(lst):
            ftype = e.mode & S_IFMT
            is_dir = ftype == S_IFDIR
            devlike = ftype in (S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK)
            dev = options.preserve_devices and ftype in (S_IFCHR, S_IFBLK)
            kw: dict[str, object] = {}
            if options.preserve_hard_links:
                key = (e.hl_dev, e.hl_ino)
                if p >= 28 and not is_dir and ftype and e.nlink > 1:
                    if p >= 30:
                        kw["hlink_group"] = hl_first.setdefault(key, start + pos)
                        kw["hlink_first"] = kw["hlink_group"] == start + pos
                    else:
                        kw["hlink_group"] = hl_groups.setdefault(key, len(hl_groups))
                        kw.update(hl_dev=e.hl_dev, hl_ino=e.hl_ino, nlink=2)
                elif p < 28 and ftype == S_IFREG:
                    kw["hlink_group"] = hl_groups.setdefault(key, len(hl_groups))
                    kw.update(hl_dev=e.hl_dev, hl_ino=e.hl_ino)
            got.append(
                FileEntry(
                    name=e.name,
                    mode=e.mode,
                    size=0 if devlike else e.size,
                    mtime=e.mtime if p >= 30 else e.mtime & 0xFFFFFFFF,
                    mtime_nsec=e.mtime_nsec if p >= 31 else 0,
                    uid=e.uid if options.preserve_uid else 0,
                    gid=e.gid if options.preserve_gid else 0,
                    user_name=e.user_name if inline and options.preserve_uid else None,
                    group_name=e.group_name if inline and options.preserve_gid else None,
                    rdev_major=e.rdev_major if dev else 0,
                    rdev_minor=e.rdev_minor if dev else 0,
                    link_target=e.link_target
                    if options.preserve_links and ftype == S_IFLNK
                    else None,
                    checksum=e.checksum if options.always_checksum and ftype == S_IFREG else None,
                    atime=(e.atime or 0) if options.preserve_atimes and not is_dir else None,
                    crtime=e.crtime if options.preserve_crtimes else None,
                    top_dir=is_dir and e.top_dir,
                    no_content_dir=is_dir and p >= 30 and e.no_content_dir,
                    **kw,  # type: ignore[arg-type]
                )
            )
        out.append(got)
        start += len(lst) + 1
    return out


def _expected_ids(
    session: Session, options: TransferOptions, lists: list[list[FileEntry]]
) -> IdLists:
    if session.inc_recurse or options.numeric_ids:
        return IdLists()
    entries = [e for lst in lists for e in lst]
    uids: dict[int, bytes | None] = {}
    gids: dict[int, bytes | None] = {}
    if options.preserve_uid:
        uids = {e.uid: e.user_name for e in entries if e.uid and e.user_name is not None}
        if session.id0_names:
            uids[0] = next((e.user_name for e in entries if e.uid == 0), None)
    if options.preserve_gid:
        gids = {e.gid: e.group_name for e in entries if e.gid and e.group_name is not None}
        if session.id0_names:
            gids[0] = next((e.group_name for e in entries if e.gid == 0), None)
    return IdLists(uids, gids)


# -- stream helpers -------------------------------------------------------------------------------


def _encode(
    session: Session, options: TransferOptions, lists: list[list[FileEntry]], io_error: int
) -> tuple[bytes, int]:
    """Encode all lists; returns the bytes and the io_error a receiver sees."""
    enc = FileListEncoder(session, options)
    buf = bytearray()
    seen = 0
    for k, lst in enumerate(lists):
        for e in lst:
            enc.encode_into(buf, e)
        carried = enc.encode_end_into(buf, io_error if k == 0 else 0)
        if k == 0:
            seen = io_error if carried else 0
            enc.encode_id_lists_into(buf)
            if session.protocol < 30:
                enc.encode_io_error_into(buf, io_error)
                seen = io_error
    return bytes(buf), seen


class _Feeder:
    """Delivers ``data`` in chunks; ``call`` retries a decode step until it has enough bytes."""

    def __init__(self, data: bytes, cuts: list[int]) -> None:
        self.data = data
        self.bounds = [*sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
        self.buf = bytearray()
        self.pos = 0

    def call(self, step: Callable[[bytearray, int], tuple[T, int]]) -> T:
        while True:
            try:
                value, self.pos = step(self.buf, self.pos)
            except NeedMoreData:
                if len(self.buf) == len(self.data):
                    raise
                self.buf += self.data[len(self.buf) : self.bounds[0]]
                self.bounds.pop(0)
                continue
            return value


def _decode(
    session: Session,
    options: TransferOptions,
    data: bytes,
    nlists: int,
    cuts: list[int],
    *,
    batch: bool = False,
) -> tuple[list[list[FileEntry]], IdLists, int, int]:
    dec = FileListDecoder(session, options)
    feed = _Feeder(data, cuts)
    lists: list[list[FileEntry]] = []
    ids = IdLists()
    seen = 0
    for k in range(nlists):
        lst: list[FileEntry] = []
        while True:
            if batch:
                items = feed.call(dec.decode_batch)
                assert items
                assert all(isinstance(i, FileEntry) for i in items[:-1])
                item = items[-1]
                lst.extend(i for i in items if isinstance(i, FileEntry))
            else:
                item = feed.call(dec.decode)
            if isinstance(item, EndOfList):
                break
            if not batch:
                lst.append(item)
        lists.append(lst)
        if k == 0:
            seen = item.io_error
            ids = feed.call(dec.decode_id_lists)
            io_word = feed.call(dec.decode_io_error)
            if session.protocol < 30:
                seen = io_word
    return lists, ids, seen, feed.pos


# -- properties -----------------------------------------------------------------------------------


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[Session, TransferOptions, list[list[FileEntry]], int]:
    session = draw(sessions())
    options = draw(option_sets(session))
    lists = draw(entry_lists(session, options))
    return session, options, lists, draw(st.sampled_from([0, 0, 1, 2, 3, 5]))


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_round_trip(scenario: tuple[Session, TransferOptions, list[list[FileEntry]], int]) -> None:
    session, options, lists, io_error = scenario
    data, seen = _encode(session, options, lists, io_error)
    got, ids, got_io_error, end = _decode(session, options, data, len(lists), [])
    assert end == len(data)
    assert got == _expected(session, options, lists)
    assert ids == _expected_ids(session, options, lists)
    assert got_io_error == seen & 7
    # What was decoded encodes to the same bytes (a relay keeps the stream identical).
    names = dict(ids.uid_names)
    gnames = dict(ids.gid_names)
    again = [
        [
            msgspec.structs.replace(
                e,
                user_name=e.user_name or names.get(e.uid),
                group_name=e.group_name or gnames.get(e.gid),
            )
            for e in lst
        ]
        for lst in got
    ]
    enc = FileListEncoder(session, options)
    buf = bytearray()
    for k, lst in enumerate(again):
        for e in lst:
            enc.encode_into(buf, e)
        enc.encode_end_into(buf, io_error if k == 0 else 0)
        if k == 0:
            enc.encode_id_lists_into(
                buf, uid0_name=ids.uid_names.get(0), gid0_name=ids.gid_names.get(0)
            )
            enc.encode_io_error_into(buf, io_error)
    assert bytes(buf) == data


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.lists(st.integers(0, 4000), max_size=40))
def test_split_feeding(
    scenario: tuple[Session, TransferOptions, list[list[FileEntry]], int], cuts: list[int]
) -> None:
    session, options, lists, io_error = scenario
    data, _ = _encode(session, options, lists, io_error)
    whole = _decode(session, options, data, len(lists), [])
    assert _decode(session, options, data, len(lists), cuts) == whole
    if len(data) < 3000:
        byte_by_byte = _decode(session, options, data, len(lists), list(range(len(data))))
        assert byte_by_byte == whole


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.lists(st.integers(0, 4000), max_size=40))
def test_batches_decode_as_single_entries(
    scenario: tuple[Session, TransferOptions, list[list[FileEntry]], int], cuts: list[int]
) -> None:
    session, options, lists, io_error = scenario
    data, _ = _encode(session, options, lists, io_error)
    whole = _decode(session, options, data, len(lists), [])
    assert _decode(session, options, data, len(lists), [], batch=True) == whole
    assert _decode(session, options, data, len(lists), cuts, batch=True) == whole


def _outcome(
    session: Session, options: TransferOptions, data: bytes, *, batch: bool
) -> tuple[list[FileEntry | EndOfList], str]:
    """What a decoder reads from ``data`` (one list), and the error it stops with."""
    dec = FileListDecoder(session, options)
    got: list[FileEntry | EndOfList] = []
    pos = 0
    try:
        while not got or not isinstance(got[-1], EndOfList):
            if batch:
                items, pos = dec.decode_batch(data, pos)
                got.extend(items)
            else:
                item, pos = dec.decode(data, pos)
                got.append(item)
    except (NeedMoreData, RemoteProtocolError) as exc:
        return got, f"{type(exc).__name__}: {exc}"
    return got, ""


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.data())
def test_batches_fail_as_single_entries(
    scenario: tuple[Session, TransferOptions, list[list[FileEntry]], int], data: st.DataObject
) -> None:
    session, options, lists, io_error = scenario
    encoded, _ = _encode(session, options, lists, io_error)
    mutated = bytearray(encoded)
    for _ in range(data.draw(st.integers(0, 4))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    single, single_error = _outcome(session, options, bytes(mutated), batch=False)
    batched, batch_error = _outcome(session, options, bytes(mutated), batch=True)
    assert batch_error == single_error
    if not batch_error:
        assert batched == single
    elif "RemoteProtocolError" not in batch_error:
        assert batched == single  # out of data: every whole entry was returned


def _drain(dec: FileListDecoder, data: bytes) -> None:
    pos = 0
    for _ in range(10_000):
        item, pos = dec.decode(data, pos)
        if isinstance(item, EndOfList):
            _, pos = dec.decode_id_lists(data, pos)
            _, pos = dec.decode_io_error(data, pos)


@settings(max_examples=500)
@given(sessions().flatmap(lambda s: st.tuples(st.just(s), option_sets(s))), st.binary(max_size=300))
def test_random_bytes_only_raise_protocol_errors(
    setup: tuple[Session, TransferOptions], data: bytes
) -> None:
    session, options = setup
    dec = FileListDecoder(session, options)
    with contextlib.suppress(NeedMoreData, RemoteProtocolError):
        _drain(dec, data)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.data())
def test_mutated_streams_only_raise_protocol_errors(
    scenario: tuple[Session, TransferOptions, list[list[FileEntry]], int], data: st.DataObject
) -> None:
    session, options, lists, io_error = scenario
    encoded, _ = _encode(session, options, lists, io_error)
    if not encoded:
        return
    mutated = bytearray(encoded)
    for _ in range(data.draw(st.integers(1, 4))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    dec = FileListDecoder(session, options)
    with contextlib.suppress(NeedMoreData, RemoteProtocolError):
        _drain(dec, bytes(mutated))


def test_error_state_is_sticky() -> None:
    session = Session(protocol=31, compat_flags=int(CF.VARINT_FLIST_FLAGS))
    dec = FileListDecoder(session, TransferOptions())
    bad = bytes.fromhex("80 80 02 2e 2e")  # a "..": refused
    with pytest.raises(RemoteProtocolError, match=r"'\.\.'"):
        dec.decode(bad, 0)
    for call in (dec.decode, dec.decode_id_lists, dec.decode_io_error):
        with pytest.raises(LocalProtocolError):
            call(b"\x00\x00", 0)


def test_need_more_data_commits_nothing() -> None:
    session = Session(protocol=32, compat_flags=int(CF.VARINT_FLIST_FLAGS | CF.INC_RECURSE))
    options = TransferOptions(preserve_uid=True, preserve_links=True)
    entries = [
        FileEntry(name=b"a", mode=0o100644, size=5, mtime=7, uid=3, user_name=b"three"),
        FileEntry(name=b"ab", mode=0o120777, size=1, mtime=7, uid=3, link_target=b"a"),
    ]
    enc = FileListEncoder(session, options)
    buf = bytearray()
    for e in entries:
        enc.encode_into(buf, e)
    data = bytes(buf)
    dec = FileListDecoder(session, options)
    first, pos = dec.decode(data, 0)
    for cut in range(pos, len(data)):
        with pytest.raises(NeedMoreData):
            dec.decode(data[:cut], pos)
    second, end = dec.decode(data, pos)
    assert (first, second, end) == (
        entries[0],
        msgspec.structs.replace(entries[1], user_name=b"three"),
        len(data),
    )
