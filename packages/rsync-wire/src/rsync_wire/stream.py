"""WireStream: the only bridge between an anyio byte stream and the sans-IO codecs.

Reads refill an internal buffer with one large ``receive()`` and then decode
synchronously for as long as bytes remain; a role awaits only when the buffer runs
dry, never once per integer. Writes are synchronous appends to an output buffer,
framed (when multiplexing) and sent by :meth:`WireStream.flush`. Non-data messages
that arrive while reading are handed to an ``on_message`` callback in wire order.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

import anyio
import anyio.lowlevel

from rsync_wire.errors import ConnectionLost, ExitCode, RemoteProtocolError, RsyncError, StreamError
from rsync_wire.proto import codec
from rsync_wire.proto.constants import Msg
from rsync_wire.proto.mux import DATA_FRAME_SIZE, Demultiplexer, encode_frames_into, encode_message
from rsync_wire.stream_malloc import keep_large_buffers

if TYPE_CHECKING:
    from anyio.abc import ByteReceiveStream, ByteSendStream

__all__ = ["MessageHandler", "TimeoutExpired", "WireStream"]

T = TypeVar("T")
MessageHandler = Callable[[int, bytes], None]

_RECEIVE_SIZE = 256 * 1024
_FLUSH_THRESHOLD = 256 * 1024
# Consumed bytes are cut from the front of the protocol buffer once this many pile up:
# what is left to move is at most a partial value, and the buffer stays near one receive
# (at 1 MiB it held 1.3 MiB through a 100,000-file pull).
_COMPACT_AT = 128 * 1024


class TimeoutExpired(RsyncError):  # noqa: N818 - rsync's own wording
    """No data arrived within the I/O timeout."""

    exit_code = ExitCode.TIMEOUT


_TEXT_CODES: Final = frozenset({Msg.INFO, Msg.ERROR, Msg.ERROR_XFER, Msg.WARNING})


class WireStream:
    """Buffered, optionally multiplexed reading and writing of protocol values.

    Args:
        receive: where bytes come from.
        send: where bytes go.
        on_message: called with ``(code, payload)`` for each non-data message read while
            multiplexed input is on; it may raise to end the session.
        timeout: seconds without any incoming byte before :class:`TimeoutExpired`
            (``None`` or 0: wait forever).
    """

    def __init__(
        self,
        receive: ByteReceiveStream,
        send: ByteSendStream,
        *,
        on_message: MessageHandler | None = None,
        timeout: float | None = None,
    ) -> None:
        keep_large_buffers()  # no page faults for every buffer (rsync_wire.stream_malloc)
        self._receive = receive
        # what has come already, without waiting: SocketByteStream.receive_ready()
        self._receive_ready: Callable[[int], bytes | None] | None = getattr(
            receive, "receive_ready", None
        )
        self._send = send
        self.on_message = on_message
        self.who = ""
        """The role reading, as rsync's who_am_i() names it, with ``/inc`` under incremental
        recursion (``sender``, ``Receiver/inc``): the tail of a bad frame's error line."""
        self.text_log: Callable[[int, bytes], None] | None = None
        """Called with each text message sent (MSG_INFO, ERROR, ERROR_XFER, WARNING), before
        it leaves: a daemon logs what it tells its client (rsync: log.c rwrite())."""
        self.timeout = timeout or math.inf
        self._buf = bytearray()
        self._pos = 0
        self._out = bytearray()
        self._framed = bytearray()  # whole frames (data and queued messages) ahead of _out
        self._demux: Demultiplexer | None = None
        self._mux_out = False
        self.bytes_read = 0
        self.bytes_written = 0
        self._eof = False
        self.idle_hook: Callable[[], Awaitable[None]] | None = None
        self._bw_rate = 0
        self._bw_start = 0.0
        self._bw_sent = 0
        self._tee_in: Callable[[bytes], None] | None = None
        self._tee_pos = 0
        self._tee_out: Callable[[bytes], None] | None = None
        self._tee_skip = 0
        self._divert: Callable[[bytes], None] | None = None
        self._stash = bytearray()

    # -- batch files (rsync: io.c write_batch_monitor_in/out) ---------------------------------

    def tee_input(self, sink: Callable[[bytes], None] | None) -> None:
        """Hand every protocol byte consumed from now on to ``sink`` (``None``: stop).

        Stopping hands over what was consumed since the last refill first.
        """
        self._tee_flush_in()
        self._tee_in = sink
        self._tee_pos = self._pos

    def tee_output(self, sink: Callable[[bytes], None] | None) -> None:
        """Hand every protocol byte written from now on to ``sink`` (``None``: stop)."""
        if self._tee_out is not None and self._out[self._tee_skip :]:
            self._tee_out(bytes(self._out[self._tee_skip :]))
        self._tee_out = sink
        self._tee_skip = len(self._out)

    def divert_output(self, sink: Callable[[bytes], None] | None) -> None:
        """Send what is written from now on to ``sink`` instead of the peer (``None``: stop).

        What was written before stays queued for the peer (and is handed to the output tee
        now, so that the tee sees the bytes in the order they were written).
        rsync: sender.c send_files() (``f_xfer``: ``--only-write-batch`` data goes to the
        batch file only).
        """
        if sink is not None:
            if self._tee_out is not None and len(self._out) > self._tee_skip:
                self._tee_out(bytes(self._out[self._tee_skip :]))
            self._stash = self._out
            self._out = bytearray()
            self._tee_skip = 0
            self._divert = sink
            return
        if self._divert is not None:
            if self._out:
                self._divert(bytes(self._out))
            self._divert = None
            self._out = self._stash
            self._stash = bytearray()
            self._tee_skip = len(self._out)

    def _tee_flush_in(self) -> None:
        if self._tee_in is not None and self._pos > self._tee_pos:
            self._tee_in(bytes(self._buf[self._tee_pos : self._pos]))
        self._tee_pos = self._pos

    def _tee_flush_out(self) -> None:
        if self._divert is not None:
            if self._out:
                self._divert(bytes(self._out))
                self._out.clear()
            return
        if self._tee_out is not None and len(self._out) > self._tee_skip:
            self._tee_out(bytes(self._out[self._tee_skip :]))
        self._tee_skip = 0

    # -- mode switches -------------------------------------------------------------------------

    def start_mux_in(self, *, server: bool = False) -> None:
        """From now on, incoming bytes are multiplexed frames.

        Bytes already buffered but not yet consumed are re-read as frames. ``server``: this
        side is the server (which no peer may send MSG_IO_TIMEOUT).
        """
        if self._demux is not None:
            return
        self._demux = Demultiplexer(server=server)
        rest = bytes(self._buf[self._pos :])
        self._buf.clear()
        self._pos = 0
        if rest:
            self._demux.receive_data(rest)

    def start_mux_out(self) -> None:
        """From now on, outgoing bytes are framed as MSG_DATA (flush first what came before)."""
        if self._out:
            msg = "flush() before starting multiplexed output"
            raise RuntimeError(msg)
        self._mux_out = True

    @property
    def mux_out(self) -> bool:
        """Whether output is multiplexed."""
        return self._mux_out

    # -- reading -------------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Protocol bytes already read and not yet consumed."""
        return len(self._buf) - self._pos

    async def _fill(self) -> None:
        """Read more bytes from the connection into the protocol buffer."""
        if self._tee_in is not None:
            self._tee_flush_in()
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        elif self._pos > _COMPACT_AT:
            del self._buf[: self._pos]
            self._pos = 0
        self._tee_pos = self._pos
        while True:
            demux = self._demux
            if demux is not None and demux.pending:
                before = len(self._buf)
                try:
                    messages = demux.extract_into(self._buf)
                except StreamError as exc:
                    if not self.who:
                        raise
                    # rsync's line names the reading role (rsync: io.c read_a_msg())
                    msg = f"{exc} [{self.who}]"
                    raise StreamError(msg) from None
                for code, payload in messages:
                    self._dispatch(code, payload)
                if len(self._buf) > before:
                    return
                if messages:
                    continue
            if self.idle_hook is not None:
                await self.idle_hook()  # e.g. the sender's next file list (rsync: io.c)
            if self._out:
                await self.flush()  # never wait for the peer while holding its data back
            data = await self._receive_raw()
            if demux is None:
                self._buf += data
                return
            demux.receive_data(data)

    async def _receive_raw(self) -> bytes:
        if self._eof:
            msg = "connection unexpectedly closed"
            raise ConnectionLost(msg)
        ready = self._receive_ready
        try:
            data = ready(_RECEIVE_SIZE) if ready is not None else None
            if data is not None:
                # no cancel scope for a read that does not wait (it was ~7 % of a
                # receiver's time); one pass of the event loop, as a stream's read has
                await anyio.lowlevel.checkpoint()
            elif self.timeout == math.inf:
                data = await self._receive.receive(_RECEIVE_SIZE)
            else:
                with anyio.fail_after(self.timeout):
                    data = await self._receive.receive(_RECEIVE_SIZE)
        except TimeoutError:
            msg = f"timeout after {self.timeout:g} seconds without data"
            raise TimeoutExpired(msg) from None
        except (
            anyio.EndOfStream,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
            ConnectionError,
        ) as exc:
            self._eof = True
            msg_0 = "connection unexpectedly closed"
            raise ConnectionLost(msg_0) from exc
        self.bytes_read += len(data)
        return data

    def _dispatch(self, code: int, payload: bytes) -> None:
        if self.on_message is None:
            msg = f"unexpected message {code} ({payload[:80]!r})"
            raise RemoteProtocolError(msg)
        self.on_message(code, payload)

    async def decode(self, fn: Callable[..., tuple[T, int]], *args: Any, **kwargs: Any) -> T:
        """Decode one value with a sans-IO ``fn(buf, pos, *args, **kwargs) -> (value, pos)``.

        When ``fn`` raises :class:`~rsync_wire.proto.codec.NeedMoreData` with a ``resume``
        state, the next call gets it back as ``resume=`` (the start position stays the
        same value, even when the buffer is compacted in between).
        """
        try:
            value, self._pos = fn(self._buf, self._pos, *args, **kwargs)
        except codec.NeedMoreData as exc:
            resume = exc.resume
        else:
            return value  # the usual case: the value was buffered
        while True:
            await self._fill()
            try:
                if resume is None:
                    value, pos = fn(self._buf, self._pos, *args, **kwargs)
                else:
                    value, pos = fn(self._buf, self._pos, *args, resume=resume, **kwargs)
            except codec.NeedMoreData as exc:
                resume = exc.resume
                continue
            self._pos = pos
            return value

    async def read_exact(self, n: int) -> bytes:
        """Read exactly ``n`` protocol bytes."""
        while len(self._buf) - self._pos < n:
            await self._fill()
        start = self._pos
        self._pos = start + n
        return bytes(self._buf[start : start + n])

    async def skip(self, n: int) -> None:
        """Read and discard ``n`` protocol bytes without holding more than one buffer of them."""
        while n > 0:
            if self._pos >= len(self._buf):
                await self._fill()
            take = min(n, len(self._buf) - self._pos)
            self._pos += take
            n -= take

    async def read_byte(self) -> int:
        """Read one byte."""
        if self._pos >= len(self._buf):
            await self._fill()
        b = self._buf[self._pos]
        self._pos += 1
        return b

    async def read_int32(self) -> int:
        """Read a signed 32-bit little-endian integer."""
        return await self.decode(codec.decode_int32)

    async def read_int16(self) -> int:
        """Read an unsigned 16-bit little-endian integer."""
        return await self.decode(codec.decode_int16)

    async def read_varint(self) -> int:
        """Read a varint."""
        return await self.decode(codec.decode_varint)

    async def read_varlong(self, min_bytes: int) -> int:
        """Read a varlong of minimum width ``min_bytes``."""
        return await self.decode(codec.decode_varlong, min_bytes)

    async def read_longint(self) -> int:
        """Read an rsync longint."""
        return await self.decode(codec.decode_longint)

    async def read_vstring(self) -> bytes:
        """Read a vstring."""
        return await self.decode(codec.decode_vstring)

    async def read_ndx(self, decoder: codec.NdxDecoder) -> int:
        """Read a file-list index with the direction's decoder."""
        ndx = await self.decode(decoder.decode)
        remap = decoder.remap
        return remap(ndx) if remap is not None and ndx >= 0 else ndx

    async def read_line(self, *, limit: int = 5120) -> bytes:
        r"""Read one ``\\n``-terminated line (unmultiplexed), without the newline and ``\\r``.

        Raises:
            RemoteProtocolError: the line is longer than ``limit`` or contains a NUL.
        """
        while True:
            # Search only the first limit + 1 bytes: the length is checked as it is read,
            # whether the line came in one receive() or in many.
            nl = self._buf.find(b"\n", self._pos, self._pos + limit + 1)
            if nl >= 0:
                break
            if len(self._buf) - self._pos > limit:
                msg = f"line longer than {limit} bytes"
                raise RemoteProtocolError(msg)
            await self._fill()
        line = bytes(self._buf[self._pos : nl])
        self._pos = nl + 1
        if b"\0" in line:
            msg = "invalid line (contains NUL)"
            raise RemoteProtocolError(msg)
        return line.rstrip(b"\r")

    async def read_until_nul(self, *, limit: int = 5120) -> bytes:
        """Read bytes up to a NUL (consumed, not returned).

        Raises:
            RemoteProtocolError: more than ``limit`` bytes come before the NUL (checked
                however the bytes arrived: in one read or in many).
        """
        while True:
            nul = self._buf.find(b"\0", self._pos, self._pos + limit + 1)
            if nul >= 0:
                item = bytes(self._buf[self._pos : nul])
                self._pos = nul + 1
                return item
            if len(self._buf) - self._pos > limit:
                msg = f"argument longer than {limit} bytes"
                raise RemoteProtocolError(msg)
            await self._fill()

    async def wait_eof(self, *, limit: float = 60.0) -> None:
        """Read and discard input until the peer closes, for at most ``limit`` seconds."""
        with anyio.move_on_after(limit):
            try:
                while True:
                    await self._fill()
                    self._pos = len(self._buf)
            except (ConnectionLost, RsyncError):
                return

    # -- writing -------------------------------------------------------------------------------

    @property
    def out(self) -> bytearray:
        """The output buffer, for encoders that append in place (``encode_*_into``)."""
        return self._out

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append raw protocol bytes to the output buffer."""
        self._out += data

    def write_int32(self, value: int) -> None:
        """Append a 32-bit integer."""
        codec.encode_int32_into(self._out, value)

    def write_int16(self, value: int) -> None:
        """Append a 16-bit integer."""
        codec.encode_int16_into(self._out, value)

    def write_byte(self, value: int) -> None:
        """Append one byte."""
        self._out.append(value)

    def write_varint(self, value: int) -> None:
        """Append a varint."""
        codec.encode_varint_into(self._out, value)

    def write_varlong(self, value: int, min_bytes: int) -> None:
        """Append a varlong."""
        codec.encode_varlong_into(self._out, value, min_bytes)

    def write_longint(self, value: int) -> None:
        """Append a longint."""
        codec.encode_longint_into(self._out, value)

    def write_vstring(self, value: bytes) -> None:
        """Append a vstring."""
        codec.encode_vstring_into(self._out, value)

    def write_ndx(self, encoder: codec.NdxEncoder, ndx: int) -> None:
        """Append a file-list index with the direction's encoder."""
        remap = encoder.remap
        if remap is not None and ndx >= 0:
            ndx = remap(ndx)
        encoder.encode_into(self._out, ndx)

    @property
    def pending_output(self) -> int:
        """Bytes written but not yet flushed."""
        return len(self._out) + len(self._framed)

    def queue_message(self, code: Msg, payload: bytes = b"") -> None:
        """Queue one out-of-band message after everything written so far (multiplexed only).

        Unlike :meth:`write_message` this does not wait: the message leaves with the next
        :meth:`flush`, in order with the data around it. Long text is cut as there.
        """
        if not self._mux_out:
            msg = "messages need multiplexed output"
            raise RuntimeError(msg)
        if self.text_log is not None and code in _TEXT_CODES:
            self.text_log(code, payload)
        if self._out:
            self._tee_flush_out()
            encode_frames_into(self._framed, self._out, frame_size=DATA_FRAME_SIZE)
            self._out.clear()
        if code in (Msg.INFO, Msg.ERROR, Msg.WARNING, Msg.ERROR_XFER) and len(payload) > 4096:
            for start in range(0, len(payload), 4096):
                self._framed += encode_message(code, payload[start : start + 4096])
            return
        self._framed += encode_message(code, payload)

    async def flush(self) -> None:
        """Send everything written so far (as MSG_DATA frames when multiplexing)."""
        if not self._out and not self._framed:
            return
        self._tee_flush_out()
        if not self._out and not self._framed:
            return  # all of it diverted (divert_output)
        if self._mux_out:
            framed = self._framed
            self._framed = bytearray()
            encode_frames_into(framed, self._out, frame_size=DATA_FRAME_SIZE)
            self._out.clear()
            await self._send_raw(framed)
        else:
            # Copy and clear rather than swap buffers: callers keep ``out`` (the buffer
            # object) across flushes, and a swapped-out buffer would swallow later writes.
            data = bytes(self._out)
            self._out.clear()
            await self._send_raw(data)

    async def maybe_flush(self) -> None:
        """Flush when the output buffer has grown large.

        Unlike most async functions this is a checkpoint only when it flushes: the sender
        calls it once per file, and yielding to the event loop 100,000 times costs seconds.
        """
        if len(self._out) >= _FLUSH_THRESHOLD:
            await self.flush()

    async def write_message(self, code: Msg, payload: bytes = b"") -> None:
        """Flush pending data, then send one out-of-band message (multiplexed output only).

        Long text is cut into several messages below the size peers accept.
        """
        if self.text_log is not None and code in _TEXT_CODES:
            self.text_log(code, payload)
        await self.flush()
        if not self._mux_out:
            msg = "messages need multiplexed output"
            raise RuntimeError(msg)
        if code in (Msg.INFO, Msg.ERROR, Msg.WARNING, Msg.ERROR_XFER) and len(payload) > 4096:
            for start in range(0, len(payload), 4096):
                await self._send_raw(encode_message(code, payload[start : start + 4096]))
            return
        await self._send_raw(encode_message(code, payload))

    def set_bwlimit(self, bytes_per_second: int) -> None:
        """Limit the average output rate (0: no limit), as rsync's ``--bwlimit`` does."""
        self._bw_rate = bytes_per_second
        self._bw_start = anyio.current_time() if bytes_per_second else 0.0
        self._bw_sent = 0

    async def _throttle(self, n: int) -> None:
        """Sleep as long as the bytes sent so far are ahead of the allowed rate."""
        self._bw_sent += n
        ahead = self._bw_sent / self._bw_rate - (anyio.current_time() - self._bw_start)
        if ahead > 0.001:
            await anyio.sleep(ahead)

    async def _send_raw(self, data: bytes | bytearray) -> None:
        # anyio's streams take any bytes-like object; the annotation says bytes.
        try:
            await self._send.send(data)  # type: ignore[arg-type]
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, ConnectionError) as exc:
            msg = "connection unexpectedly closed (write)"
            raise ConnectionLost(msg) from exc
        self.bytes_written += len(data)
        if self._bw_rate:
            await self._throttle(len(data))

    async def aclose(self) -> None:
        """Close the send side (and the receive side, if it is a different object)."""
        try:
            await self._send.aclose()
        finally:
            if self._receive is not self._send:  # type: ignore[comparison-overlap]
                await self._receive.aclose()
