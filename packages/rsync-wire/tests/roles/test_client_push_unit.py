"""A pushing client's pieces: the server arguments, the ``-e`` letters, the sender's port."""

from __future__ import annotations

import stat
from typing import TYPE_CHECKING

import anyio
import pytest

from rsync_wire.errors import ExitCode, RemoteError, RemoteProtocolError
from rsync_wire.proto.args import build_server_args, parse_server_args
from rsync_wire.proto.constants import Msg
from rsync_wire.proto.filters import FilterList
from rsync_wire.proto.options import TransferOptions
from rsync_wire.roles.client import push_capabilities
from rsync_wire.roles.local import memory_stream_pair
from rsync_wire.roles.sender_ports import ClientSenderPort
from rsync_wire.stream import WireStream

if TYPE_CHECKING:
    from rsync_wire.proto.flist import FileEntry


def _push_opts(**kw: object) -> TransferOptions:
    return TransferOptions(sender=False, recursive=True, preserve_times=True, **kw)  # type: ignore[arg-type]


def test_push_args_ask_for_a_receiver() -> None:
    argv = build_server_args(_push_opts(), ["mod/dst"], protocol=32)
    assert argv[0] == "--server"
    assert "--sender" not in argv
    assert argv[-2:] == [".", "mod/dst"]
    parsed = parse_server_args(argv)
    assert not parsed.options.sender


@pytest.mark.parametrize(
    ("kw", "present", "absent"),
    [
        ({"log_format": "%i"}, ["--log-format=%i"], []),
        ({"stats": True}, ["--stats"], []),
        ({"delete_mode": "", "delete_excluded": True}, ["--delete-excluded"], ["--delete"]),
        ({"delete_mode": ""}, ["--delete"], ["--delete-excluded"]),
        ({"delete_mode": "delay"}, ["--delete-delay"], ["--delete"]),
        ({"max_delete": 0}, ["--max-delete=-1"], []),
        ({"max_delete": 5}, ["--max-delete=5"], []),
        ({"modify_window": 2}, ["--modify-window=2"], []),
    ],
)
def test_push_args_as_rsyncs_server_options(
    kw: dict[str, object], present: list[str], absent: list[str]
) -> None:
    """rsync: options.c server_options(), the am_sender branches."""
    argv = build_server_args(_push_opts(**kw), ["d"], protocol=32)
    for arg in present:
        assert arg in argv
    for arg in absent:
        assert arg not in argv


def test_pull_args_send_no_receiver_options() -> None:
    opts = TransferOptions(sender=True, stats=True, log_format="%i", modify_window=2)
    argv = build_server_args(opts, ["mod/"], protocol=32)
    assert "--sender" in argv
    assert not [a for a in argv if a.startswith(("--stats", "--log-format", "--modify"))]


def test_push_capabilities_offer_incremental_recursion_as_rsync() -> None:
    assert push_capabilities(_push_opts()) == ".iLsfxCIvu"
    assert push_capabilities(_push_opts(), allow=False) == ".LsfxCIvu"
    assert push_capabilities(_push_opts(relative=True)) == ".iLsfxCIvu"
    assert push_capabilities(_push_opts(files_from="-")) == ".iLsfxCIvu"
    assert push_capabilities(_push_opts(qsort=True)) == ".LsfxCIvu"
    assert push_capabilities(TransferOptions(sender=False)) == ".LsfxCIvu"


class _Recorder:
    def __init__(self) -> None:
        self.lines: list[tuple[str, object]] = []

    def sender_file_list_started(self, *, incremental: bool) -> None:
        self.lines.append(("start", incremental))

    def file_list_done(self, count: int) -> None:
        self.lines.append(("done", count))

    def item(self, entry: FileEntry, name: bytes, iflags: int, xname: bytes | None) -> None:
        self.lines.append(("item", (name, entry.mode, entry.link_target, iflags, xname)))

    def deleted(self, name: bytes, mode: int) -> None:
        self.lines.append(("deleted", (name, stat.S_IFMT(mode))))

    def message(self, code: int, text: bytes) -> None:
        self.lines.append(("message", (code, text)))

    def progress(
        self,
        name: bytes,
        done: int,
        total: int,
        *,
        final: bool,
        to_check: int = 0,
        count: int = 0,
        xferred: int = 0,
        transferred_size: int = 0,
        total_size: int = 0,
        flist_eof: bool = True,
    ) -> None:
        self.lines.append(("progress", (name, done)))

    def progress_phase_done(
        self,
        *,
        to_check: int,
        count: int,
        xferred: int,
        transferred_size: int,
        total_size: int,
        flist_eof: bool = True,
    ) -> None:
        self.lines.append(("phase", to_check))


def test_client_port_handles_what_a_receiver_sends() -> None:
    """rsync: io.c read_a_msg() as a client sender handles it."""
    out = _Recorder()
    port = ClientSenderPort(FilterList(protocol=32), out, itemize=1)
    port.on_message(Msg.DELETED, b"sub\0")
    port.on_message(Msg.DELETED, b"sub/file")
    port.on_message(Msg.INFO, b"created directory d\n")
    port.on_message(Msg.ERROR_XFER, b"rsync: [receiver] oops\n")
    port.on_message(Msg.IO_ERROR, (2).to_bytes(4, "little"))
    port.on_message(Msg.NOOP, b"")
    assert out.lines == [
        ("deleted", (b"sub", stat.S_IFDIR)),
        ("deleted", (b"sub/file", stat.S_IFREG)),
        ("message", (Msg.INFO, b"created directory d\n")),
        ("message", (Msg.ERROR_XFER, b"rsync: [receiver] oops\n")),
    ]
    assert port.transfer_errors == 1
    assert port.io_error == 2
    with pytest.raises(RemoteError) as info:
        port.on_message(Msg.ERROR_EXIT, (11).to_bytes(4, "little"))
    assert info.value.exit_code == ExitCode.FILEIO
    with pytest.raises(RemoteProtocolError) as bad:
        port.on_message(Msg.REDO, (1).to_bytes(4, "little"))
    assert bad.value.exit_code == ExitCode.STREAMIO
    assert str(bad.value) == "invalid multi-message 9:4 [sender]"
    with pytest.raises(RemoteProtocolError):
        port.on_message(Msg.IO_ERROR, b"\x01")


def test_client_port_counts_created_entries_once() -> None:
    out = _Recorder()
    port = ClientSenderPort(FilterList(protocol=32), out)
    new = 1 << 13
    port.item(b"d", stat.S_IFDIR | 0o755, None, new, None, first_send=True)
    port.item(b"f", stat.S_IFREG | 0o644, None, new | (1 << 15), None, first_send=True)
    port.item(b"f", stat.S_IFREG | 0o644, None, new | (1 << 15), None, first_send=False)
    port.item(b"l", stat.S_IFLNK | 0o777, b"t", new, None, first_send=True)
    assert port.created == [1, 1, 1, 0, 0]
    assert out.lines == []  # neither -v nor -i: nothing printed


def test_unmultiplexed_flush_keeps_the_callers_buffer() -> None:
    """A writer holds ``ws.out`` across flushes (the sender's token loop): nothing is lost."""

    async def main() -> bytes:
        a, b = memory_stream_pair()
        ws = WireStream(a, a)
        out = ws.out
        out += b"first "
        await ws.flush()
        out += b"second"
        await ws.flush()
        await a.send_eof()
        got = b""
        while True:
            try:
                got += await b.receive()
            except anyio.EndOfStream:
                break
        await a.aclose()
        await b.aclose()
        return got

    assert anyio.run(main) == b"first second"
