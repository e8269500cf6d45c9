"""A scriptable sender built from our own codecs, for tests of the receiving side.

It speaks just enough of the protocol to reach the part a test wants to abuse: it reads
the client's filter list, writes whatever file-list bytes the test gives it, then answers
the generator's requests with content (or garbage) the test chooses, and follows the
NDX_DONE choreography of docs/protocol.md §10.9 at the end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from rsync_delta import ChecksumRule
from rsync_wire.proto import codec
from rsync_wire.proto.constants import Item, Ndx
from rsync_wire.proto.filters import decode_filter_list
from rsync_wire.proto.flist import FileEntry, FileListEncoder
from rsync_wire.proto.sums import SumHead, decode_block_sums, decode_sum_head
from rsync_wire.proto.tokens import TokenEncoder
from rsync_wire.roles.client import run_pull
from rsync_wire.roles.local import local_session, memory_stream_pair
from rsync_wire.roles.receiving import ReceiveConfig, ReceiveStats
from rsync_wire.stream import WireStream

if TYPE_CHECKING:
    from rsync_wire.proto.negotiate import Session
    from rsync_wire.proto.options import TransferOptions

Reply = Callable[["FakeSender", int, int], Awaitable[None]]


def encode_list(session: Session, opts: TransferOptions, entries: list[FileEntry]) -> bytes:
    """A complete file list (entries, end marker, id lists, io_error) as the sender sends it."""
    enc = FileListEncoder(session, opts)
    buf = bytearray()
    for entry in entries:
        enc.encode_into(buf, entry)
    enc.encode_end_into(buf, 0)
    enc.encode_id_lists_into(buf)
    enc.encode_io_error_into(buf, 0)
    return bytes(buf)


@dataclass
class FakeSender:
    """The peer: ``flist`` bytes, then ``content[name]`` for each requested file."""

    session: Session
    opts: TransferOptions
    flist: bytes
    sorted_names: list[bytes] = field(default_factory=list)
    content: dict[bytes, bytes] = field(default_factory=dict)
    bad_checksum: set[bytes] = field(default_factory=set)
    on_request: Reply | None = None
    stop_after_flist: bool = False
    ws: WireStream | None = None

    async def serve(self, ws: WireStream) -> None:
        self.ws = ws
        await ws.decode(decode_filter_list)
        ws.write(self.flist)
        await ws.flush()
        if self.stop_after_flist:
            await ws.wait_eof(limit=5)
            return
        await self._loop()

    async def _loop(self) -> None:
        ws = self.ws
        assert ws is not None
        session = self.session
        ndx_in = codec.NdxDecoder(protocol=session.protocol)
        self.ndx_out = codec.NdxEncoder(protocol=session.protocol)
        rule = ChecksumRule.for_session(
            protocol=session.protocol,
            negotiated=session.checksum if session.checksum_negotiated else None,
            seed=session.seed,
            seed_fix=session.seed_fix,
        )
        self.rule = rule
        phase = 0
        while True:
            await ws.flush()
            ndx = await ws.read_ndx(ndx_in)
            if ndx == Ndx.DONE:
                phase += 1
                if phase > 2:
                    break
                ws.write_ndx(self.ndx_out, Ndx.DONE)
                continue
            iflags = await ws.read_int16()
            if not iflags & Item.TRANSFER:
                ws.write_ndx(self.ndx_out, ndx)
                ws.write_int16(iflags)
                continue
            head = await ws.decode(
                decode_sum_head, protocol=session.protocol, digest_size=rule.digest_size
            )

            def sums(
                buf: bytes | bytearray | memoryview, pos: int, head: SumHead = head
            ) -> tuple[None, int]:
                _, _, end = decode_block_sums(buf, pos, head)
                return None, end

            await ws.decode(sums)
            if self.on_request is not None:
                await self.on_request(self, ndx, iflags)
                continue
            self.send_file(ndx, iflags, self.content.get(self.sorted_names[ndx], b""))
        ws.write_ndx(self.ndx_out, Ndx.DONE)
        for value in (1, 1, 1, 1, 0):  # statistics: read, written, size, build, xfer times
            if session.protocol >= 30:
                ws.write_varlong(value, 3)
            else:
                ws.write_longint(value)
        await ws.flush()
        while True:
            ndx = await ws.read_ndx(ndx_in)
            if ndx == Ndx.DEL_STATS:
                for _ in range(5):
                    await ws.read_varint()
                continue
            if ndx == Ndx.DONE:
                if session.protocol < 31:
                    break  # the client's goodbye: no echo before protocol 31
                if not getattr(self, "_final", False):
                    self._final = True
                    ws.write_ndx(self.ndx_out, Ndx.DONE)
                    await ws.flush()
                    continue
                break

    def send_file(
        self, ndx: int, iflags: int, data: bytes, *, checksum: bytes | None = None
    ) -> None:
        """Echo the request and send ``data`` as literal tokens with its checksum."""
        ws = self.ws
        assert ws is not None
        ws.write_ndx(self.ndx_out, ndx)
        ws.write_int16(iflags)
        ws.write(bytes(16))  # an empty sum header: whole file
        enc = TokenEncoder(None, protocol=self.session.protocol)
        enc.begin_file()
        enc.literal_into(ws.out, data)
        enc.end_into(ws.out)
        h = self.rule.file_hasher()
        h.update(data)
        digest = bytes(h.digest())
        if checksum is not None:
            digest = checksum
        elif self.sorted_names[ndx] in self.bad_checksum:
            digest = bytes(len(digest))
        ws.write(digest)


async def run_against(
    sender: FakeSender, dest: bytes, opts: TransferOptions, config: ReceiveConfig | None = None
) -> ReceiveStats:
    """Pull from ``sender`` into ``dest`` with our receiving side, both over memory streams."""
    session = sender.session
    client_end, server_end = memory_stream_pair()
    cws = WireStream(client_end, client_end)
    sws = WireStream(server_end, server_end)
    sws.start_mux_out()
    cws.start_mux_in()
    if session.mux_from_client:
        sws.start_mux_in()
        cws.start_mux_out()
    sws.on_message = lambda code, payload: None
    result: list[ReceiveStats] = []

    async def serve() -> None:
        try:
            await sender.serve(sws)
        except Exception:  # noqa: BLE001, S110 - the client's failure is what the test checks
            pass
        finally:
            # only our sending half: like a TCP peer that vanished, the client sees EOF
            await server_end.send_eof()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            result.append(await run_pull(cws, session, opts, config or ReceiveConfig(), dest))
    except BaseExceptionGroup as group:
        raise _first_leaf(group) from None
    finally:
        await client_end.aclose()
        await server_end.aclose()
    return result[0]


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_leaf(exc)
        if not isinstance(exc, anyio.get_cancelled_exc_class()):
            return exc
    return group.exceptions[0]


def session_for(protocol: int = 32) -> Session:
    return local_session(".LfxCvu", protocol=protocol, seed=12345)
