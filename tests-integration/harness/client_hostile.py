"""A hostile ``rsync --server --sender`` for client tests, run through the ``-e`` shim.

``python client_hostile.py ATTACK --server --sender ... . PATH`` speaks the remote-shell
protocol well enough to reach the client's receiving side (version exchange, compat flags,
name negotiation, seed, multiplexing, the filter list) and then sends a file list built with
our own codecs that no honest sender would send. ATTACK is one of :data:`ATTACKS`.

Our packages are imported inside ``main()`` only, so importing this module (the harness
does) needs nothing but the standard library.
"""

from __future__ import annotations

import os
import sys
from typing import Final

ATTACKS: Final = ("dotdot", "absolute", "symlink-then-file", "huge-name")
INC_ATTACKS: Final = (
    "inc-outside-dir",
    "inc-no-such-dir",
    "inc-twice",
    "inc-top-again",
    "inc-after-freed",
)
"""With incremental recursion: a directory's list naming files elsewhere, a list for a
directory never listed, a second list for one directory, a list for the top ``.``, a list
after the sender's NDX_DONE freed the only one."""
OUTSIDE_TARGET: Final = "/tmp/pyrsync-hostile-outside"


def main(argv: list[str]) -> int:  # pragma: no cover - runs as the remote program
    import stat

    import anyio
    from anyio.streams.file import FileReadStream, FileWriteStream

    from rsync_wire.proto import codec
    from rsync_wire.proto.args import parse_server_args
    from rsync_wire.proto.constants import CF, Ndx
    from rsync_wire.proto.filters import decode_filter_list
    from rsync_wire.proto.flist import FileEntry, FileListEncoder
    from rsync_wire.proto.negotiate import Session
    from rsync_wire.stream import WireStream

    attack = argv[0]
    mtime = 1_600_000_000

    def entry(name: bytes, mode: int, **kw: object) -> FileEntry:
        return FileEntry(name=name, mode=mode, mtime=mtime, **kw)  # type: ignore[arg-type]

    async def serve() -> None:
        stdin = FileReadStream(os.fdopen(os.dup(0), "rb", buffering=0))
        stdout = FileWriteStream(os.fdopen(os.dup(1), "wb", buffering=0))
        ws = WireStream(stdin, stdout)
        ws.write_int32(32)
        await ws.flush()
        await ws.read_int32()
        flags = CF.VARINT_FLIST_FLAGS | CF.SAFE_FLIST | CF.CHKSUM_SEED_FIX
        if attack.startswith("inc-"):
            flags |= CF.INC_RECURSE
        ws.write_varint(int(flags))
        ws.write_vstring(b"md5")
        await ws.flush()
        await ws.read_vstring()
        ws.write_int32(4242)
        await ws.flush()
        ws.start_mux_out()
        ws.start_mux_in()
        ws.on_message = lambda _code, _payload: None
        await ws.decode(decode_filter_list)
        session = Session(
            protocol=32,
            compat_flags=int(flags),
            checksum="md5",
            checksum_negotiated=True,
            seed=4242,
        )
        opts = parse_server_args(argv[1:]).options  # what the client asked for (-a: -ogD...)
        enc = FileListEncoder(session, opts)
        top = entry(b".", stat.S_IFDIR | 0o755)
        reg = stat.S_IFREG | 0o644
        if attack == "dotdot":
            entries = [top, entry(b"../escaped", reg, size=4)]
        elif attack == "absolute":
            entries = [top, entry(b"/tmp/escaped", reg, size=4)]
        elif attack == "symlink-then-file":
            target = os.environ.get("PYRSYNC_HOSTILE_OUTSIDE", OUTSIDE_TARGET).encode()
            entries = [
                top,
                entry(b"link", stat.S_IFLNK | 0o777, size=len(target), link_target=target),
                entry(b"link/escaped", reg, size=4),
            ]
        elif attack == "partial-link":
            # a pull of mod/ without -r: no implied rule, so rsync checks no name
            entries = [
                entry(b"escape", stat.S_IFDIR | 0o755, top_dir=True, no_content_dir=True),
                entry(b"escape/victim", reg, size=4),
            ]
        elif attack.startswith("inc-"):
            entries = [top, entry(b"d", stat.S_IFDIR | 0o755)]
        else:
            entries = []
        for e in entries:
            enc.encode_into(ws.out, e)
        if attack.startswith("inc-"):
            enc.encode_end_into(ws.out, 0)
            ndx_out = codec.NdxEncoder(protocol=32)
            # directory 0 is the top ".", 1 is "d"
            lists = {
                "inc-outside-dir": [(1, [entry(b"elsewhere/escaped", reg, size=4)])],
                "inc-no-such-dir": [(7, [entry(b"x", reg, size=4)])],
                "inc-twice": [(1, [entry(b"d/a", reg, size=4)]), (1, [entry(b"d/b", reg)])],
                "inc-top-again": [(0, [entry(b"x", reg, size=4)])],
                "inc-after-freed": [(1, [entry(b"d/x", reg, size=4)])],
            }[attack]
            if attack == "inc-after-freed":
                ws.write_ndx(ndx_out, Ndx.DONE)  # frees the first (only) list
            for number, sub in lists:
                ws.write_ndx(ndx_out, Ndx.FLIST_OFFSET - number)
                for e in sub:
                    enc.encode_into(ws.out, e)
                enc.encode_end_into(ws.out, 0)
            ws.write_ndx(ndx_out, Ndx.FLIST_EOF)
        elif attack == "huge-name":
            ws.write(bytes([0x40, 0x80 | (5000 >> 8), 5000 & 0xFF]) + b"x" * 5000)
        else:
            enc.encode_end_into(ws.out, 0)
            enc.encode_id_lists_into(ws.out)
        await ws.flush()
        if attack == "partial-link":
            await anyio.sleep(2)  # the client asks for escape/victim; hang up instead
            return
        await ws.wait_eof(limit=5)

    anyio.run(serve)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
