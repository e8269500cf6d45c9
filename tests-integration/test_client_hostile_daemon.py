"""pyrsync against a hostile rsync daemon built from our codecs, over real TCP.

The daemon (:class:`HostileDaemon`, a thread running an anyio listener on 127.0.0.1) does
the daemon greeting, reads the module and arguments, negotiates as a server sender, reads
the client's filter list and then sends whatever the test's ``script`` writes. The whole
client runs as a process: ``pyrsync rsync://127.0.0.1:PORT/mod/... dest/``.

rsync: testsuite malicious-dot-dir-delete-scope (the server sends "." as a content dir).
"""

from __future__ import annotations

import stat
import threading
from typing import TYPE_CHECKING

import anyio

from harness.client import pyrsync_argv
from harness.proc import run
from rsync_wire.proto.codec import NdxEncoder
from rsync_wire.proto.constants import CF, Ndx
from rsync_wire.proto.filters import decode_filter_list
from rsync_wire.proto.flist import FileEntry, FileListEncoder
from rsync_wire.proto.handshake import format_greeting
from rsync_wire.proto.negotiate import Session
from rsync_wire.proto.options import TransferOptions
from rsync_wire.stream import WireStream

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from anyio.abc import SocketStream

DIR = stat.S_IFDIR | 0o755
REG = stat.S_IFREG | 0o644
FLAGS = int(CF.VARINT_FLIST_FLAGS | CF.SAFE_FLIST | CF.CHKSUM_SEED_FIX)
SESSION = Session(protocol=32, compat_flags=FLAGS, checksum="md5", checksum_negotiated=True, seed=7)


def entry(name: bytes, mode: int, **kw: object) -> FileEntry:
    return FileEntry(name=name, mode=mode, mtime=1_600_000_000, **kw)  # type: ignore[arg-type]


class HostileDaemon:
    """One connection at a time; ``script(ws, args)`` runs after the filter list."""

    def __init__(self, script: Callable[[WireStream, list[bytes]], Awaitable[None]]) -> None:
        self.script = script
        self.port = 0
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._scope: anyio.CancelScope | None = None
        self._token: object = None
        self._thread = threading.Thread(target=anyio.run, args=(self._main,), daemon=True)

    def __enter__(self) -> HostileDaemon:
        self._thread.start()
        if not self._ready.wait(10):
            msg = "hostile daemon did not start"
            raise RuntimeError(msg)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._scope is not None:
            anyio.from_thread.run_sync(self._scope.cancel, token=self._token)  # type: ignore[arg-type]
        self._thread.join(15)

    async def _main(self) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610
        with anyio.CancelScope() as scope:
            self._scope = scope
            self._token = anyio.lowlevel.current_token()
            self._ready.set()
            async with listener:
                await listener.serve(self._handle)

    async def _handle(self, stream: SocketStream) -> None:
        try:
            with anyio.fail_after(15):
                await self._serve(stream)
        except BaseException as exc:  # noqa: BLE001 - kept for the test to look at
            if not isinstance(exc, anyio.get_cancelled_exc_class()):
                self.error = exc
        finally:
            await stream.aclose()

    async def _serve(self, stream: SocketStream) -> None:
        ws = WireStream(stream, stream)
        ws.write(format_greeting(32))
        await ws.flush()
        await ws.read_line()  # the client's greeting
        await ws.read_line()  # the module
        ws.write(b"@RSYNCD: OK\n")
        await ws.flush()
        args: list[bytes] = []
        while True:
            arg = await ws.read_until_nul()
            if not arg:
                break
            args.append(arg)
        ws.write_varint(FLAGS)
        ws.write_vstring(b"md5")
        await ws.flush()
        await ws.read_vstring()
        ws.write_int32(SESSION.seed)
        await ws.flush()
        ws.start_mux_out()
        ws.start_mux_in()
        ws.on_message = lambda _code, _payload: None
        await ws.decode(decode_filter_list)
        await self.script(ws, args)
        await ws.flush()
        await ws.wait_eof(limit=3)


def flist_bytes(opts: TransferOptions, entries: list[FileEntry]) -> bytes:
    enc = FileListEncoder(SESSION, opts)
    buf = bytearray()
    for e in entries:
        enc.encode_into(buf, e)
    enc.encode_end_into(buf, 0)
    enc.encode_id_lists_into(buf)
    return bytes(buf)


def test_forged_dot_content_dir_does_not_widen_delete(tmp_path: Path) -> None:
    """malicious-dot-dir-delete-scope against pyrsync as the client."""
    dest = tmp_path / "dest"
    (dest / "private").mkdir(parents=True)
    sentinel = dest / "private" / "must-survive"
    sentinel.write_text("receiver-owned file outside the requested leaf\n")
    opts = TransferOptions(sender=True, recursive=True, delete_mode="")

    async def script(ws: WireStream, args: list[bytes]) -> None:
        # XMIT_TOP_DIR without XMIT_NO_CONTENT_DIR: "." claims to be a content directory
        ws.write(
            flist_bytes(opts, [entry(b".", DIR, top_dir=True), entry(b"requested", REG, size=0)])
        )
        ndx = NdxEncoder(protocol=32)
        for _ in range(3):
            ws.write_ndx(ndx, Ndx.DONE)
        await ws.flush()

    with HostileDaemon(script) as daemon:
        result = run(
            pyrsync_argv(
                "-r",
                "--delete",
                "--no-inc-recursive",
                f"rsync://127.0.0.1:{daemon.port}/mod/requested",
                f"{dest}/",
            ),
            timeout=60,
        )
    assert sentinel.exists(), result.describe()
    assert daemon.error is None or "EndOfStream" in repr(daemon.error), repr(daemon.error)


def test_dot_sent_as_a_file_is_refused(tmp_path: Path) -> None:
    """malicious-dot-file-delete-scope: "." as a regular file must not replace the destination."""
    dest = tmp_path / "dest"
    (dest / "private").mkdir(parents=True)
    sentinel = dest / "private" / "must-survive"
    sentinel.write_text("receiver-owned\n")
    opts = TransferOptions(sender=True, recursive=True)

    async def script(ws: WireStream, args: list[bytes]) -> None:
        ws.write(flist_bytes(opts, [entry(b".", REG, size=3)]))
        await ws.flush()

    with HostileDaemon(script) as daemon:
        result = run(
            pyrsync_argv(
                "-r", "--force", f"rsync://127.0.0.1:{daemon.port}/mod/requested", f"{dest}/"
            ),
            timeout=60,
        )
    assert result.returncode == 2, result.describe()
    assert "rejecting non-directory transfer-root entry" in result.stderr
    assert "Traceback" not in result.stderr
    assert sentinel.read_text() == "receiver-owned\n"
