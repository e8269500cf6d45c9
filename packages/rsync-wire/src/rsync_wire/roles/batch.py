"""Batch files: ``--write-batch``, ``--only-write-batch`` and ``--read-batch``, in rsync's format.

A batch file is the sender's side of one transfer, recorded so that the same update can
be applied again to other copies of the destination. Its layout (rsync 3.x):

* a 32-bit bitmap of the options that shape the data stream (:data:`STREAM_FLAGS`);
* the protocol version (int32), the compat flags (varint, protocol 30 and newer) and the
  checksum seed (int32), written once the session is negotiated;
* every protocol byte the sender wrote from its file list on (demultiplexed: messages
  are not recorded), the receiving side's view of a pull or a local copy, the sending
  side's view of a push;
* for a push, the sender's statistics (rsync's client sender writes them itself, just
  before the last end-of-session marker).

Reading one runs the receiving side (file list, generator, receiver) with the file as
its input; what the generator writes goes nowhere, except the indexes it asks for: a
file the batch carries but the generator does not want (it is up to date) is read and
skipped, and a file the generator wants that the batch lacks is reported. Beside the
batch, ``FILE.sh`` holds the command line that applies it.

rsync: batch.c, io.c start_write_batch(), main.c do_cmd() (read_batch), receiver.c
gen_wants_ndx(), we_want_redo().
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import TYPE_CHECKING, Final

import anyio
from anyio.abc import ByteReceiveStream, ByteSendStream

from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.fs import UNTRUSTED_SYMLINK, UntrustedSymlinkError, open_trusted
from rsync_wire.proto import codec
from rsync_wire.proto.constants import CF, PROTOCOL_VERSION, Msg
from rsync_wire.proto.negotiate import Session
from rsync_wire.roles.batch_wants import BatchWants

if TYPE_CHECKING:
    from rsync_wire.proto.filters import FilterList
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.roles.receiving import ReceiveConfig, ReceiveStats, Reporter
    from rsync_wire.stream import WireStream

__all__ = [
    "MAX_BATCH_NAME_LEN",
    "STREAM_FLAGS",
    "BatchError",
    "BatchReader",
    "BatchWants",
    "BatchWriter",
    "apply_stream_flags",
    "configure_filters",
    "shell_script",
    "stream_flags",
]

MAX_BATCH_NAME_LEN: Final = 256
"""The longest batch-file name rsync accepts (rsync: options.c MAX_BATCH_NAME_LEN)."""

STREAM_FLAGS: Final[tuple[tuple[str, str, int], ...]] = (
    ("recursive", "--recurse (-r)", 27),
    ("preserve_uid", "--owner (-o)", 27),
    ("preserve_gid", "--group (-g)", 27),
    ("preserve_links", "--links (-l)", 27),
    ("preserve_devices", "--devices (-D)", 27),
    ("preserve_hard_links", "--hard-links (-H)", 27),
    ("always_checksum", "--checksum (-c)", 27),
    ("dirs", "--dirs (-d)", 29),
    ("compress", "--compress (-z)", 29),
    ("iconv", "--iconv", 30),
    ("preserve_acls", "--acls (-A)", 30),
    ("preserve_xattrs", "--xattrs (-X)", 30),
    ("inplace", "--inplace", 30),
    ("append", "--append", 30),
    ("append_verify", "--append-verify", 30),
)
"""The options that shape the data stream, bit by bit: (field, name, lowest protocol).

rsync: batch.c flag_ptr[], flag_name[].
"""


class BatchError(RsyncError):
    """A batch file cannot be opened, read or written."""

    exit_code = ExitCode.FILEIO


def _value(opts: TransferOptions, field: str) -> bool:
    if field == "append":
        return opts.append == 1
    if field == "append_verify":
        return opts.append == 2
    if field == "iconv":
        return opts.iconv is not None
    if field == "dirs":
        return opts.dirs or opts.recursive  # -r implies rsync's xfer_dirs
    return bool(getattr(opts, field))


def stream_flags(opts: TransferOptions) -> int:
    """The batch file's first word: which stream-shaping options are on.

    rsync: batch.c write_stream_flags().
    """
    flags = 0
    for bit, (field, _name, _protocol) in enumerate(STREAM_FLAGS):
        if _value(opts, field):
            flags |= 1 << bit
    return flags


def apply_stream_flags(flags: int, opts: TransferOptions, *, protocol: int) -> list[str]:
    """Set ``opts`` as the batch file says; returns rsync's lines for what changed.

    Raises:
        RsyncError: the batch needs ``--iconv`` (or must not have it): exit code 1.

    rsync: batch.c check_batch_flags().
    """
    lines = []
    last = 7 if protocol < 29 else 9 if protocol < 30 else len(STREAM_FLAGS)
    for bit, (field, name, _protocol) in enumerate(STREAM_FLAGS[:last]):
        want = bool(flags & (1 << bit))
        if _value(opts, field) == want:
            continue
        if field == "iconv":
            word = "Please" if want else "Do not"
            msg = f"{word} specify the --iconv option to use this batch file."
            raise RsyncError(msg, exit_code=ExitCode.SYNTAX)
        lines.append(
            f"{'Setting' if want else 'Clearing'} the {name} option to match the batchfile."
        )
        if field == "append":
            opts.append = 1 if want else (0 if opts.append == 1 else opts.append)
        elif field == "append_verify":
            opts.append = 2 if want else (0 if opts.append == 2 else opts.append)
        elif field == "preserve_hard_links":
            opts.preserve_hard_links = int(want)
        elif field == "preserve_xattrs":
            opts.preserve_xattrs = int(want)
        elif field == "preserve_devices":
            opts.preserve_devices = want
            opts.preserve_specials = want  # -D (rsync's flag stands for both)
        else:
            setattr(opts, field, want)
    if protocol < 29 and opts.recursive:
        opts.dirs = True
    return lines


# -- writing ----------------------------------------------------------------------------------


def _open_write(path: str, mode: int, *, code: ExitCode = ExitCode.FILEIO) -> int:
    try:
        return open_trusted(
            os.fsencode(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode
        )
    except OSError as exc:
        err = _open_error(path, exc)
        err.exit_code = code
        raise err from None


def _open_error(path: str, exc: OSError) -> BatchError:
    refusal = UNTRUSTED_SYMLINK + "\n" if isinstance(exc, UntrustedSymlinkError) else ""
    shown = path if path.startswith("/") else os.path.join(_cwd(), path)
    msg = (
        f'{refusal}rsync: [Receiver] Batch file "{shown}" open error: {exc.strerror} ({exc.errno})'
    )
    return BatchError(msg)


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError:
        return "."


class BatchWriter:
    """``--write-batch=FILE``: the file and its ``FILE.sh``, written as the transfer runs.

    Args:
        name: the batch file's name (``FILE.sh`` is beside it).
        opts: the transfer's options (their stream flags open the file).

    rsync: batch.c open_batch_files(), write_stream_flags(); io.c start_write_batch().
    """

    def __init__(self, name: str, opts: TransferOptions) -> None:
        self.name = name
        self._sh_fd = _open_write(name + ".sh", 0o700, code=ExitCode.FILESELECT)
        try:
            self._fd = _open_write(name, 0o600)
        except BaseException:
            os.close(self._sh_fd)
            raise
        self._buf = bytearray()
        codec.encode_int32_into(self._buf, stream_flags(opts))
        self._pushing = False

    def write(self, data: bytes) -> None:
        """Append protocol bytes (the tee's sink)."""
        self._buf += data
        if len(self._buf) >= 1 << 20:
            self._drain()

    def _drain(self) -> None:
        view = memoryview(self._buf)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
        except OSError as exc:
            msg = f"rsync: Batch file {self.name} write error: {exc.strerror} ({exc.errno})"
            raise BatchError(msg) from None
        finally:
            view.release()
        self._buf.clear()

    def start(self, session: Session) -> None:
        """Write the negotiated session (rsync: io.c start_write_batch())."""
        codec.encode_int32_into(self._buf, session.protocol)
        if session.protocol >= 30:
            codec.encode_varint_into(self._buf, session.compat_flags)
        codec.encode_int32_into(self._buf, session.seed)

    def record_input(self, ws: WireStream) -> None:
        """Record what the receiving side reads from now on (a pull, a local copy)."""
        ws.tee_input(self.write)

    def record_output(self, ws: WireStream) -> None:
        """Record what the sending side writes from now on (a push)."""
        self._pushing = True
        ws.tee_output(self.write)

    def stop(self, ws: WireStream) -> None:
        """Stop recording (what was consumed or written so far is kept)."""
        ws.tee_input(None)
        ws.tee_output(None)

    def push_stats(self, values: list[int], *, protocol: int) -> None:
        """A push: the sender's statistics, before the last end marker (protocol 31+).

        rsync: main.c handle_stats() (``write_batch`` on a client sender), then
        read_final_goodbye() writes the marker.
        """
        tail = b""
        if protocol >= 31 and self._buf.endswith(b"\x00"):
            tail = b"\x00"
            del self._buf[-1:]
        for value in values:
            if protocol >= 30:
                codec.encode_varlong_into(self._buf, value, 3)
            else:
                codec.encode_longint_into(self._buf, value)
        self._buf += tail

    def write_script(self, text: bytes) -> None:
        """Write ``FILE.sh``."""
        try:
            view = memoryview(text)
            while view:
                view = view[os.write(self._sh_fd, view) :]
        except OSError as exc:
            msg = f"rsync: Batch file {self.name}.sh write error: {exc.strerror} ({exc.errno})"
            raise BatchError(msg) from None

    def close(self) -> None:
        """Write what is buffered and close both files."""
        try:
            self._drain()
        finally:
            for fd in (self._fd, self._sh_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._fd = self._sh_fd = -1


def _quote(arg: str) -> str:
    """One argument for the replay script (rsync: batch.c write_arg())."""
    prefix = ""
    if arg.startswith("-") and "=" in arg:
        head, _, rest = arg.partition("=")
        if all(c == "-" or c == "_" or (c.isascii() and c.isalnum()) for c in head):
            prefix, arg = head + "=", rest
    return prefix + "'" + arg.replace("'", "'\\''") + "'"


def shell_script(
    raw_argv: list[str],
    args: list[str],
    rules: list[bytes],
    *,
    protocol: int,
    dest: str,
    from0: bool = False,
) -> bytes:
    """The replay script: the command line with ``--read-batch`` for ``--write-batch``.

    Args:
        raw_argv: the command line as typed, the program first.
        args: the arguments left after the options (sources and destination).
        rules: the client's filter rules as text (given back on the script's input).
        protocol: the session's protocol (``--filter=._-`` from 29, else
            ``--exclude-from=-``).
        dest: the destination's path (without a host), the script's default target.
        from0: ``--from0``: the rules end in NUL bytes.

    Raises:
        RsyncError: a rule holds a newline (it could forge the here-document's end).

    rsync: batch.c write_batch_shell_file(), write_filter_rules().
    """
    out = [_quote(raw_argv[0])]
    if rules:
        out.append(
            "--filter=" + _quote("._-") if protocol >= 29 else "--exclude-from=" + _quote("-")
        )
    raw: list[str | None] = list(raw_argv)
    j = len(args) - 1
    for i in range(len(raw) - 1, 0, -1):
        if j < 0:
            break
        if raw[i] == args[j]:
            raw[i] = None
            j -= 1
    i = 1
    while i < len(raw):
        p = raw[i]
        i += 1
        if p is None:
            continue
        if p.startswith(("--files-from", "--filter", "--include", "--exclude")):
            if "=" not in p:
                i += 1
            continue
        if p == "-f":
            i += 1
            continue
        for opt in ("--write-batch", "--only-write-batch"):
            if p.startswith(opt):
                rest = p[len(opt) :]
                out.append(
                    "--read-batch" + ("=" + _quote(rest[1:]) if rest.startswith("=") else "")
                )
                break
        else:
            out.append(_quote(p))
    text = " ".join(out) + " ${1:-" + _quote(dest) + "}"
    body = b""
    if rules:
        lines = []
        for rule in rules:
            if b"\n" in rule:
                msg = "cannot write a filter rule containing a newline to the batch replay script"
                raise RsyncError(msg, exit_code=ExitCode.SYNTAX)
            lines.append(rule + (b"\0" if from0 else b"\n"))
        body = b" <<'#E#'\n" + b"".join(lines) + (b";\n" if from0 else b"") + b"#E#"
    return os.fsencode(text) + body + b"\n"


# -- reading ----------------------------------------------------------------------------------


class _FileReceive(ByteReceiveStream):
    """A batch file as the receiving side's input."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    async def receive(self, max_bytes: int = 65536) -> bytes:
        data = await anyio.to_thread.run_sync(os.read, self._fd, max_bytes)
        if not data:
            raise anyio.EndOfStream
        return data

    async def aclose(self) -> None:
        pass


class _Discard(ByteSendStream):
    """Where the generator's requests go when a batch is read: nowhere."""

    async def send(self, item: bytes) -> None:
        pass

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class BatchReader:
    """``--read-batch=FILE``: its header read, the receiving side run on its contents.

    Args:
        name: the file's name, ``-`` for standard input.

    Raises:
        BatchError: rsync's messages (open error, not a regular file).

    rsync: batch.c open_batch_files(), read_stream_flags(); compat.c setup_protocol().
    """

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "-":
            self._fd = os.dup(0)
        else:
            try:
                # O_NONBLOCK: a FIFO planted at the path is refused below, not waited on
                self._fd = open_trusted(
                    os.fsencode(name), os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
                )
            except OSError as exc:
                raise _open_error(name, exc) from None
            st = os.fstat(self._fd)
            os.set_blocking(self._fd, True)
            if not stat.S_ISREG(st.st_mode):
                os.close(self._fd)
                shown = name if name.startswith("/") else os.path.join(_cwd(), name)
                msg = f'rsync: [Receiver] Batch file "{shown}" is not a regular file'
                raise BatchError(msg)
        self._head = bytearray()

    def _read(self, n: int) -> bytes:
        while len(self._head) < n:
            chunk = os.read(self._fd, 4096)
            if not chunk:
                msg = f"rsync: the batch file {self.name} ended in its header"
                raise RsyncError(msg, exit_code=ExitCode.PROTOCOL)
            self._head += chunk
        data = bytes(self._head[:n])
        del self._head[:n]
        return data

    def stream_flags(self) -> int:
        """The first word (rsync: batch.c read_stream_flags())."""
        return codec.decode_int32(self._read(4), 0)[0]

    def session(self, opts: TransferOptions, *, ours: int = PROTOCOL_VERSION) -> Session:
        """The protocol, compat flags and seed, as the session; ``opts`` told about compression.

        Raises:
            RsyncError: the batch's protocol is newer than ours (or than ``--protocol``).

        rsync: compat.c setup_protocol() (``read_batch``).
        """
        protocol = codec.decode_int32(self._read(4), 0)[0]
        if protocol > ours:
            msg = f"The protocol version in the batch file is too new ({protocol} > {ours})."
            raise RsyncError(msg, exit_code=ExitCode.PROTOCOL)
        if protocol < 27:
            msg = "protocol version mismatch -- is your shell clean?"
            raise RsyncError(msg, exit_code=ExitCode.PROTOCOL)
        flags = 0
        if protocol >= 30:
            raw = self._read(1)
            while True:
                try:
                    flags, _ = codec.decode_varint(raw, 0)
                    break
                except codec.NeedMoreData:
                    raw += self._read(1)
        seed = codec.decode_int32(self._read(4), 0)[0]
        return Session(
            protocol=protocol,
            compat_flags=flags,
            checksum="md5" if protocol >= 30 else "md4",
            compression="zlib" if opts.compress else None,
            seed=seed,
            compress_level=opts.compress_level,
            checksum_negotiated=False,
        )

    async def run(
        self,
        session: Session,
        opts: TransferOptions,
        config: ReceiveConfig,
        dest: bytes,
        reporter: Reporter,
    ) -> ReceiveStats:
        """Apply the batch to ``dest`` (the receiving side on the file's stream)."""
        from rsync_wire.roles.receive_state import Finished
        from rsync_wire.roles.receiving import ReceiverSide
        from rsync_wire.stream import WireStream

        ws = WireStream(_FileReceive(self._fd), _Discard())
        if self._head:
            ws._buf += self._head
            self._head.clear()
        side = ReceiverSide(ws, session, opts, config, dest, reporter)
        sh = side.shared

        def report(ndx: int, *, redo: bool) -> None:
            rel = sh.rels[ndx] if 0 <= ndx < len(sh.rels) else b"?"
            shown = os.fsdecode(rel or b".")
            extra = " resend of" if redo else ""
            sh.reporter.message(
                Msg.ERROR_XFER, f'(No batched update for{extra} "{shown}")\n'.encode()
            )
            sh.stats.transfer_errors += 1
            events = side._events
            if sh.lists.inc and not opts.dry_run and events is not None:
                with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                    events.send_nowait(Finished(ndx, ok=False))

        sh.batch = BatchWants(inc=bool(session.compat_flags & CF.INC_RECURSE), report=report)
        ws.on_message = side.on_message
        try:
            return await side.run()
        finally:
            side.close()

    def close(self) -> None:
        """Close the file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def configure_filters(filters: FilterList | None) -> list[bytes]:
    """The client's rules as the replay script gives them back (rsync: get_rule_prefix())."""
    if filters is None:
        return []
    return [rule.to_text() for rule in filters.rules]
