"""Fuzzing every decoder that reads peer bytes (issue 9): only typed errors come out.

Inputs are arbitrary bytes, mutations of valid encodings, and value dictionaries (nan,
inf, -0, 1e400, 5,000-digit numbers, extreme counts) spliced into valid streams. The
property: a decoder returns a value, asks for more data (NeedMoreData, its contract),
or raises an RsyncError subclass (RemoteProtocolError, ArgumentError, FilterError,
AllocationLimitError...) -- never IndexError, ValueError, OverflowError, MemoryError,
struct.error or zlib.error.

Budget: a few dozen examples a target by default (all fuzz targets together stay well
under two minutes on two cores); set PYRSYNC_FUZZ_EXAMPLES for a longer run.
"""

from __future__ import annotations

import contextlib
import os
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rsync_wire.errors import RsyncError
from rsync_wire.proto import codec
from rsync_wire.proto.args import parse_server_args
from rsync_wire.proto.constants import CF
from rsync_wire.proto.filters import FilterList, decode_filter_list
from rsync_wire.proto.flist import EndOfList, FileEntry, FileListDecoder, FileListEncoder
from rsync_wire.proto.handshake import parse_greeting
from rsync_wire.proto.mux import Demultiplexer, encode_frames_into, encode_message
from rsync_wire.proto.negotiate import Session
from rsync_wire.proto.options import TransferOptions
from rsync_wire.proto.sums import decode_block_sums, decode_sum_head
from rsync_wire.proto.tokens import EndOfFile, TokenDecoder, TokenEncoder

_EXAMPLES = int(os.environ.get("PYRSYNC_FUZZ_EXAMPLES", "0") or 0) or 60
FUZZ = settings(
    max_examples=_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Expected = (codec.NeedMoreData, RsyncError)

# -- value dictionaries ------------------------------------------------------------------

TEXT_VALUES = [
    "nan",
    "-nan",
    "inf",
    "-inf",
    "infinity",
    "-0",
    "0",
    "-1",
    "1e400",
    "1e308G",
    "1.5",
    ".",
    "",
    " 7",
    "0x10",
    "1_000",
    "9" * 5000,
    "-" + "9" * 5000,
    "2147483647",
    "2147483648",
    "-2147483649",
    "18446744073709551616",
    "1P",
    "8192P",
    "1KiB+1",
    "5-1",
    "\u0661\u0662",  # Arabic-Indic digits: int() takes them, rsync does not
    "\x00",
]
INT_VALUES = [0, 1, -1, 2**31 - 1, -(2**31), 2**32 - 1, 2**63 - 1, -(2**63), 0x80000000]

_text_values = st.one_of(st.sampled_from(TEXT_VALUES), st.text(max_size=40))


def _i32(v: int) -> bytes:
    return struct.pack("<I", v & 0xFFFFFFFF)


def _i64(v: int) -> bytes:
    return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)


# Byte pieces that encode extreme values in the wire's integer forms.
_pieces = st.sampled_from(
    [_i32(v) for v in INT_VALUES]
    + [_i64(v) for v in INT_VALUES]
    + [b"\xff" * 9, b"\x80" * 9, b"\xfc" + b"\xff" * 8, b"\xff\xff\xff\xff" + _i64(-1)]
    + [b"\x00", b"\xff", b"\x07\x00\x00\x00", b"\x00\x00\x00\x00"]
)


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` with byte flips, cuts, and dictionary pieces spliced in."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.integers(0, 3))
        at = draw(st.integers(0, len(data)))
        if op == 0 and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == 1:
            data[at:at] = draw(_pieces)
        elif op == 2:
            del data[at : at + draw(st.integers(1, 16))]
        else:
            data[at:at] = draw(st.binary(max_size=16))
    return bytes(data)


def _drain(decode: object, data: bytes, limit: int = 10_000) -> None:
    """Call ``decode(buf, pos)`` until it needs more data, errors or stops advancing."""
    assert callable(decode)
    pos = 0
    for _ in range(limit):
        try:
            _, new = decode(data, pos)
        except Expected:
            return
        if new <= pos:
            return
        pos = new


# -- integers, indexes --------------------------------------------------------------------


@FUZZ
@given(data=st.one_of(st.binary(max_size=64), st.lists(_pieces, max_size=6).map(b"".join)))
def test_integer_codecs(data: bytes) -> None:
    for fn in (
        codec.decode_int16,
        codec.decode_uint8,
        codec.decode_int32,
        codec.decode_longint,
        codec.decode_varint,
        codec.decode_vstring,
    ):
        _drain(fn, data)
    for min_bytes in range(1, 9):
        _drain(lambda b, p, m=min_bytes: codec.decode_varlong(b, p, m), data)


@FUZZ
@given(
    data=st.one_of(st.binary(max_size=64), st.lists(_pieces, max_size=6).map(b"".join)),
    protocol=st.sampled_from([27, 29, 30, 31, 32]),
)
def test_ndx(data: bytes, protocol: int) -> None:
    _drain(codec.NdxDecoder(protocol=protocol).decode, data)


# -- multiplexing ---------------------------------------------------------------------------


def _valid_mux() -> bytes:
    out = bytearray()
    encode_frames_into(out, b"x" * 300, frame_size=100)
    out += encode_message(2, b"hello\n")  # type: ignore[arg-type]
    encode_frames_into(out, b"y" * 10, frame_size=100)
    return bytes(out)


@FUZZ
@given(data=st.one_of(st.binary(max_size=200), mutated(_valid_mux())), split=st.integers(1, 64))
def test_demultiplexer(data: bytes, split: int) -> None:
    demux = Demultiplexer()
    out = bytearray()
    try:
        for k in range(0, len(data), split):
            demux.receive_data(data[k : k + split])
            for _ in range(100):
                before = len(out)
                messages = demux.extract_into(out)
                if not messages and len(out) == before:
                    break
    except RsyncError:
        return


# -- tokens ---------------------------------------------------------------------------------

_COMPRESSIONS = ["none", "zlib", "zlibx", "zstd"]


def _valid_tokens(compression: str) -> bytes:
    enc = TokenEncoder(None if compression == "none" else compression, protocol=31)
    buf = bytearray()
    enc.begin_file()
    enc.literal_into(buf, b"abc" * 50)
    enc.block_into(buf, 0, b"q" * 700)
    enc.literal_into(buf, bytes(range(256)))
    enc.block_into(buf, 2, b"r" * 700)
    enc.end_into(buf)
    return bytes(buf)


_VALID_TOKENS = {name: _valid_tokens(name) for name in _COMPRESSIONS}


@FUZZ
@given(
    data=st.data(),
    compression=st.sampled_from(_COMPRESSIONS),
    blocks=st.sampled_from([0, 1, 3, 2**31 - 1]),
)
def test_tokens(data: st.DataObject, compression: str, blocks: int) -> None:
    raw = data.draw(st.one_of(st.binary(max_size=200), mutated(_VALID_TOKENS[compression])))
    dec = TokenDecoder(None if compression == "none" else compression, protocol=31)
    dec.begin_file(block_count=blocks)
    pos = 0
    for _ in range(10_000):
        try:
            event, new = dec.decode(raw, pos)
        except Expected:
            return
        if isinstance(event, EndOfFile):
            return
        if compression == "zlib" and hasattr(event, "index"):
            with contextlib.suppress(*Expected):
                dec.see_block(b"q" * 700)
        if new <= pos and not hasattr(event, "data"):
            return
        pos = new


# -- file lists -----------------------------------------------------------------------------

_SESSIONS = [
    Session(protocol=27, compat_flags=0),
    Session(protocol=29, compat_flags=0),
    Session(protocol=31, compat_flags=int(CF.VARINT_FLIST_FLAGS)),
    Session(protocol=32, compat_flags=int(CF.VARINT_FLIST_FLAGS | CF.INC_RECURSE)),
]
_OPTIONS = [
    TransferOptions(),
    TransferOptions(
        preserve_uid=True,
        preserve_gid=True,
        preserve_links=True,
        preserve_devices=True,
        preserve_specials=True,
        preserve_hard_links=1,
        preserve_times=True,
    ),
    TransferOptions(always_checksum=True, relative=True, preserve_atimes=1),
    TransferOptions(alloc_limit=1 << 20),
]


def _valid_flist(session: Session, options: TransferOptions) -> bytes:
    enc = FileListEncoder(session, options)
    buf = bytearray()
    entries = [
        FileEntry(name=b".", mode=0o40755, size=0, mtime=5),
        FileEntry(name=b"a", mode=0o100644, size=5, mtime=7, uid=3, user_name=b"three", gid=4),
        FileEntry(name=b"ab", mode=0o120777, size=1, mtime=7, uid=3, link_target=b"a"),
        FileEntry(name=b"sub/c", mode=0o100600, size=2**40, mtime=-1),
    ]
    for e in entries:
        with contextlib.suppress(RsyncError):
            enc.encode_into(buf, e)
    enc.encode_end_into(buf, 0)
    with contextlib.suppress(RsyncError):
        enc.encode_id_lists_into(buf)
        enc.encode_io_error_into(buf, 0)
    return bytes(buf)


_VALID_FLISTS = {
    (i, j): _valid_flist(s, o)
    for i, s in enumerate(_SESSIONS)
    for j, o in enumerate(_OPTIONS)
    if (s.protocol >= 30 or not o.preserve_atimes)
}


@FUZZ
@given(data=st.data(), key=st.sampled_from(sorted(_VALID_FLISTS)))
def test_file_list(data: st.DataObject, key: tuple[int, int]) -> None:
    session, options = _SESSIONS[key[0]], _OPTIONS[key[1]]
    raw = data.draw(st.one_of(st.binary(max_size=300), mutated(_VALID_FLISTS[key])))
    try:
        dec = FileListDecoder(session, options)
    except RsyncError:
        return
    pos = 0
    for _ in range(10_000):
        try:
            item, pos = dec.decode(raw, pos)
            if isinstance(item, EndOfList):
                _, pos = dec.decode_id_lists(raw, pos)
                dec.decode_io_error(raw, pos)
                return
        except Expected:
            return


# -- daemon greeting and arguments ---------------------------------------------------------


@FUZZ
@given(
    version=st.one_of(st.sampled_from(TEXT_VALUES), st.text(max_size=12)),
    sub=st.one_of(st.none(), st.sampled_from(TEXT_VALUES)),
    rest=st.one_of(st.none(), st.text(max_size=30)),
    raw=st.binary(max_size=80),
)
def test_greeting(version: str, sub: str | None, rest: str | None, raw: bytes) -> None:
    line = "@RSYNCD: " + version + ("" if sub is None else "." + sub)
    line += "" if rest is None else " " + rest
    for candidate in (line.encode("utf-8", "surrogateescape"), raw, b"@RSYNCD: " + raw):
        with contextlib.suppress(RsyncError):
            parse_greeting(candidate)


_VALUED = [
    "--max-size",
    "--min-size",
    "--bwlimit",
    "--max-alloc",
    "--block-size",
    "-B",
    "--timeout",
    "--checksum-seed",
    "--protocol",
    "--modify-window",
    "-@",
    "--max-delete",
    "--compress-level",
    "--info",
    "--checksum-choice",
    "--files-from",
]


@FUZZ
@given(
    pairs=st.lists(st.tuples(st.sampled_from(_VALUED), _text_values), max_size=5),
    extra=st.lists(st.text(max_size=20), max_size=4),
    joined=st.booleans(),
)
def test_server_args(pairs: list[tuple[str, str]], extra: list[str], joined: bool) -> None:
    argv = ["--server", "--sender", "-vlogDtpre.iLsfxCIvu"]
    for name, value in pairs:
        if joined and name.startswith("--"):
            argv.append(f"{name}={value}")
        elif joined:
            argv.append(name + value)
        else:
            argv += [name, value]
    argv += extra
    argv += [".", "m/"]
    with contextlib.suppress(RsyncError):
        parse_server_args(argv)
    with contextlib.suppress(RsyncError):
        parse_server_args([a.encode("utf-8", "surrogateescape") for a in extra])


# -- filter lists -----------------------------------------------------------------------------


def _wire_rules(texts: list[bytes]) -> bytes:
    return b"".join(struct.pack("<i", len(t)) + t for t in texts) + b"\0\0\0\0"


_RULE_TEXTS = st.one_of(
    st.binary(max_size=30),
    st.sampled_from(
        [b"- *.o", b"+ /a/", b":n- .f", b". /etc/x", b"!", b"-! x", b"P ", b"- ", b"x", b"-C"]
    ),
)


@FUZZ
@given(
    texts=st.lists(_RULE_TEXTS, max_size=40),
    mutate=st.data(),
    protocol=st.sampled_from([27, 28, 29, 31]),
)
def test_filter_list(texts: list[bytes], mutate: st.DataObject, protocol: int) -> None:
    raw = mutate.draw(mutated(_wire_rules(texts)))
    try:
        got, _ = decode_filter_list(raw, 0)
    except Expected:
        got = texts
    fl = FilterList(protocol=protocol)
    try:
        fl.add_received(got, protocol=protocol)
    except RsyncError:
        return
    for name in (b"a", b"x/y.o", b"/etc/x", b".f"):
        fl.excluded(name, is_dir=False)
        fl.excluded(name, is_dir=True)


# -- sum heads and tables ------------------------------------------------------------------


@FUZZ
@given(
    raw=st.one_of(st.binary(max_size=80), st.lists(_pieces, min_size=1, max_size=6).map(b"".join)),
    protocol=st.sampled_from([27, 29, 30, 31, 32]),
    digest=st.sampled_from([8, 16, 20]),
    max_alloc=st.sampled_from([None, 1 << 20, 1 << 30]),
)
def test_sum_head_and_table(raw: bytes, protocol: int, digest: int, max_alloc: int | None) -> None:
    try:
        head, pos = decode_sum_head(
            raw, 0, protocol=protocol, digest_size=digest, max_alloc=max_alloc
        )
    except Expected:
        return
    cut, _ = head.within(len(raw))
    with contextlib.suppress(*Expected):
        decode_block_sums(raw, pos, cut)
