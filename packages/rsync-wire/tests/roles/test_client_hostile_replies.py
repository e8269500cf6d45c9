"""Every kind of reply the receiving side reads, made hostile: a typed error, nothing harmed.

After a valid file list the sender built from our codecs answers the generator's first
request with bytes chosen to break one thing: a message code or payload, an index, the
iflags and what follows them, the sum header, the token stream, the checksum, the ends of
the phases and the statistics. The receiving side must end with an
:class:`~rsync_wire.errors.RsyncError` (or finish, where the bytes are legal) and leave
the destination as it was: the complete file intact, no temporary file. A Hypothesis test
then throws random bytes at the same point, with a fixed budget (``PYRSYNC_FUZZ_EXAMPLES``
raises it).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))

from fake_sender import FakeSender, encode_list, run_against, session_for

from rsync_wire.errors import RsyncError
from rsync_wire.proto.constants import Item, Msg
from rsync_wire.proto.flist import FileEntry
from rsync_wire.proto.options import TransferOptions

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from rsync_wire.stream import WireStream

DIR = stat.S_IFDIR | 0o755
REG = stat.S_IFREG | 0o644
OLD = b"complete before\n"
T = int(Item.TRANSFER)


def _i32(v: int) -> bytes:
    return v.to_bytes(4, "little", signed=True)


def _head(count: int, blen: int, s2: int, rem: int) -> bytes:
    return _i32(count) + _i32(blen) + _i32(s2) + _i32(rem)


def _ndx(sender: FakeSender, ndx: int) -> None:
    assert sender.ws is not None
    sender.ws.write_ndx(sender.ndx_out, ndx)


async def _raw(ws: WireStream, data: bytes) -> None:
    ws.write(data)
    await ws.flush()


def _echo(sender: FakeSender, ws: WireStream, ndx: int, iflags: int) -> None:
    _ndx(sender, ndx)
    ws.write_int16(iflags)


def case_msg(code: int, payload: bytes) -> Callable[..., Awaitable[None]]:
    async def reply(sender: FakeSender, ws: WireStream, ndx: int, iflags: int) -> None:
        await ws.flush()
        await ws.write_message(code, payload)  # type: ignore[arg-type]
        await ws.flush()
        await anyio.sleep(0.05)
        await ws._send.send(b"")  # nothing more: the client decides
        await ws.aclose()

    return reply


def case_bytes(
    make: Callable[[FakeSender, WireStream, int, int], bytes], *, echo: bool = True
) -> Callable[..., Awaitable[None]]:
    async def reply(sender: FakeSender, ws: WireStream, ndx: int, iflags: int) -> None:
        if echo:
            _echo(sender, ws, ndx, iflags)
        await _raw(ws, make(sender, ws, ndx, iflags))
        await ws.aclose()

    return reply


# Each case writes the reply to the first transfer request (index ``ndx``, ``iflags``).
CASES: dict[str, Callable[..., Awaitable[None]]] = {
    # messages
    "unknown message code": case_msg(57, b"x"),
    "MSG_ERROR_EXIT empty": case_msg(Msg.ERROR_EXIT, b""),
    "MSG_ERROR_EXIT odd status": case_msg(Msg.ERROR_EXIT, _i32(-7)),
    "MSG_ERROR_EXIT huge status": case_msg(Msg.ERROR_EXIT, _i32(2**31 - 1)),
    "MSG_IO_ERROR short": case_msg(Msg.IO_ERROR, b"\x01"),
    "MSG_IO_ERROR all bits": case_msg(Msg.IO_ERROR, _i32(-1)),
    "MSG_IO_TIMEOUT negative": case_msg(Msg.IO_TIMEOUT, _i32(-5)),
    "MSG_NO_SEND bad index": case_msg(Msg.NO_SEND, _i32(99999)),
    "MSG_REDO": case_msg(Msg.REDO, _i32(1)),
    "MSG_STATS": case_msg(Msg.STATS, b"\xff" * 40),
    "MSG_SUCCESS": case_msg(Msg.SUCCESS, _i32(-3)),
    "MSG_DELETED": case_msg(Msg.DELETED, b"../../etc/passwd\0"),
    "MSG_ERROR_UTF8 invalid": case_msg(Msg.ERROR_UTF8, b"\xff\xfe\n"),
    "MSG_LOG": case_msg(Msg.LOG, b"x" * 100),
    "MSG_CLIENT": case_msg(Msg.CLIENT, b"x"),
    "MSG_ERROR_SOCKET": case_msg(Msg.ERROR_SOCKET, b"x\n"),
    "MSG_INFO no newline and NUL": case_msg(Msg.INFO, b"a\0b\x1b[2J"),
    # indexes
    "index -5": case_bytes(lambda s, ws, n, i: b"\xff" + _i32(-5), echo=False),
    "index huge": case_bytes(lambda s, ws, n, i: b"\xfe" + _i32(2**31 - 1), echo=False),
    "index FLIST_EOF": case_bytes(lambda s, ws, n, i: b"\x00\x01", echo=False),
    "index DEL_STATS then garbage": case_bytes(
        lambda s, ws, n, i: b"\x00\x02" + b"\xff" * 9, echo=False
    ),
    "index FLIST_OFFSET range": case_bytes(
        lambda s, ws, n, i: b"\x00\xfe\x00\x00\x00\x80", echo=False
    ),
    # iflags and what follows them
    "basis type follows, bad": case_bytes(lambda s, ws, n, i: b"", echo=False),
    "xname follows, endless": case_bytes(lambda s, ws, n, i: b"\xff\xff" + b"a" * 64),
    # sum heads
    "sum head negative count": case_bytes(lambda s, ws, n, i: _head(-1, 700, 16, 0)),
    "sum head zero block length": case_bytes(lambda s, ws, n, i: _head(3, 0, 16, 0)),
    "sum head remainder beyond block": case_bytes(lambda s, ws, n, i: _head(1, 700, 16, 900)),
    "sum head checksum too long": case_bytes(lambda s, ws, n, i: _head(1, 700, 99, 0)),
    "sum head huge count": case_bytes(lambda s, ws, n, i: _head(2**31 - 1, 2**17, 16, 0)),
    "sum head negative remainder": case_bytes(lambda s, ws, n, i: _head(1, 700, 16, -4)),
    # tokens
    "token: block of an empty basis": case_bytes(lambda s, ws, n, i: _head(0, 0, 0, 0) + _i32(-1)),
    "token: block far beyond": case_bytes(lambda s, ws, n, i: _head(0, 0, 0, 0) + _i32(-(2**31))),
    "token: literal longer than sent": case_bytes(
        lambda s, ws, n, i: _head(0, 0, 0, 0) + _i32(5000) + b"x" * 10
    ),
    "token: literal of 1 GiB": case_bytes(lambda s, ws, n, i: _head(0, 0, 0, 0) + _i32(1 << 30)),
    "token: no end, EOF": case_bytes(lambda s, ws, n, i: _head(0, 0, 0, 0) + _i32(3) + b"abc"),
    "checksum short then EOF": case_bytes(
        lambda s, ws, n, i: _head(0, 0, 0, 0) + _i32(3) + b"abc" + _i32(0) + b"\x01\x02"
    ),
    # ends of phases
    "DONE four times": case_bytes(lambda s, ws, n, i: b"\x00" * 4, echo=False),
    "DONE then garbage statistics": case_bytes(
        lambda s, ws, n, i: b"\x00\x00\x00" + b"\xff" * 40, echo=False
    ),
    "DONE, statistics, then a file index": case_bytes(
        lambda s, ws, n, i: b"\x00\x00\x00" + b"\x01" * 5 + b"\x01", echo=False
    ),
    "transfer in phase 2": case_bytes(
        lambda s, ws, n, i: b"\x00" + b"\x02" + (T).to_bytes(2, "little") + _head(0, 0, 0, 0),
        echo=False,
    ),
    "transfer of the same file twice at once": case_bytes(
        lambda s, ws, n, i: (T).to_bytes(2, "little") + _head(0, 0, 0, 0) + _i32(0)
    ),
}


def _fix_basis_case() -> None:
    async def reply(sender: FakeSender, ws: WireStream, ndx: int, iflags: int) -> None:
        _ndx(sender, ndx)
        ws.write_int16(iflags | int(Item.BASIS_TYPE_FOLLOWS))
        ws.write_byte(0x07)
        await ws.flush()
        await ws.aclose()

    CASES["basis type follows, bad"] = reply


_fix_basis_case()


def _scene(tmp_path: Path) -> tuple[Path, Path]:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"do not touch\n")
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "complete").write_bytes(OLD)
    return dest, outside


def _assert_unharmed(dest: Path, outside: Path) -> None:
    assert (outside / "secret").read_bytes() == b"do not touch\n"
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    leftovers = [p.name for p in dest.iterdir() if p.name.startswith(".")]
    assert leftovers == [], "temporary files left behind"
    data = (dest / "complete").read_bytes()
    assert data == OLD or data == b"x" * 100  # unchanged, or a complete good transfer


def _pull(
    tmp_path: Path, reply: Callable[..., Awaitable[None]], protocol: int = 32
) -> BaseException | None:
    dest, outside = _scene(tmp_path)
    session = session_for(protocol)
    o = TransferOptions(sender=True, recursive=True, preserve_times=True)
    flist = encode_list(
        session,
        o,
        [
            FileEntry(name=b".", mode=DIR, mtime=1),
            FileEntry(name=b"complete", mode=REG, mtime=1, size=100),
        ],
    )

    async def on_request(sender: FakeSender, ndx: int, iflags: int) -> None:
        assert sender.ws is not None
        await reply(sender, sender.ws, ndx, iflags)

    sender = FakeSender(session, o, flist, sorted_names=[b".", b"complete"], on_request=on_request)

    async def main() -> None:
        with anyio.fail_after(20):
            await run_against(sender, os.fsencode(dest), o)

    error: BaseException | None = None
    try:
        anyio.run(main)
    except RsyncError as exc:
        error = exc
    _assert_unharmed(dest, outside)
    return error


@pytest.mark.parametrize("protocol", [29, 32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_reply(tmp_path: Path, name: str, protocol: int) -> None:
    _pull(tmp_path, CASES[name], protocol)


@settings(
    max_examples=int(os.environ.get("PYRSYNC_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.binary(max_size=200), echo=st.booleans(), protocol=st.sampled_from([29, 30, 32]))
def test_random_reply_bytes(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, echo: bool, protocol: int
) -> None:
    tmp_path = tmp_path_factory.mktemp("fuzz")

    async def reply(sender: FakeSender, ws: WireStream, ndx: int, iflags: int) -> None:
        if echo:
            _echo(sender, ws, ndx, iflags)
        await _raw(ws, data)
        await ws.aclose()

    _pull(tmp_path, reply, protocol)
