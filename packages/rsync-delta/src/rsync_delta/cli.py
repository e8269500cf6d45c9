"""``rsync-delta``: signature, delta and patch files from the command line, like rdiff.

::

    rsync-delta signature [--block-size N] [--strong-length N] [--checksum NAME] BASIS SIG
    rsync-delta delta SIG NEW DELTA
    rsync-delta patch BASIS DELTA OUT

``-`` means standard input (SIG, NEW, DELTA) or standard output (SIG, DELTA, OUT). The
file formats are described in `rsync_delta.fileformat` and the README. A file output is
written to a temporary file in the target directory and renamed into place only when
complete (for ``patch``: only after the new file's length and whole-file sum matched);
on any error it is removed. Errors are one line, ``rsync-delta: error: ...``, with exit
code 1; usage errors exit with 2.

Heavy modules are imported inside the commands, so that ``patch`` never imports numpy.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import IO, TYPE_CHECKING, Final

from rsync_delta.errors import DeltaError, PatchError
from rsync_delta.hashes import HASHES

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["main"]

_PROG: Final = "rsync-delta"
_CHUNK: Final = 4 << 20
_DEFAULT_CHECKSUM: Final = "xxh128"
_MAX_BLOCK: Final = 1 << 29


class _CliError(Exception):
    """A one-line error for the user."""


def _block_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        msg = f"not an integer: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not 0 < value <= _MAX_BLOCK:
        msg = f"must be between 1 and {_MAX_BLOCK}, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _strong_length(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        msg = f"not an integer: {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not 0 <= value <= 64:
        msg = f"must be between 0 and the digest size, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="rsync's signature, delta and patch as files (like rdiff).",
    )
    parser.add_argument("--version", action=_VersionAction, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sig = sub.add_parser("signature", help="write the block sums of BASIS to SIG")
    sig.add_argument("--block-size", type=_block_size, help="block length (default: rsync's rule)")
    sig.add_argument(
        "--strong-length",
        type=_strong_length,
        help="strong-sum bytes per block (default: the full digest)",
    )
    sig.add_argument(
        "--checksum",
        choices=sorted(HASHES),
        default=_DEFAULT_CHECKSUM,
        help=f"strong hash (default: {_DEFAULT_CHECKSUM})",
    )
    sig.add_argument("basis", metavar="BASIS")
    sig.add_argument("sig", metavar="SIG")
    dlt = sub.add_parser("delta", help="write the delta from SIG's basis to NEW")
    dlt.add_argument("sig", metavar="SIG")
    dlt.add_argument("new", metavar="NEW")
    dlt.add_argument("delta", metavar="DELTA")
    pat = sub.add_parser("patch", help="rebuild NEW from BASIS and DELTA into OUT")
    pat.add_argument("basis", metavar="BASIS")
    pat.add_argument("delta", metavar="DELTA")
    pat.add_argument("out", metavar="OUT")
    return parser


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for (importlib.metadata is slow to load)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help=str(kwargs.get("help")))

    def __call__(self, parser: argparse.ArgumentParser, *_args: object, **_kwargs: object) -> None:
        from importlib.metadata import PackageNotFoundError, version  # slow: only here

        try:
            text = version("rsync-delta")
        except PackageNotFoundError:
            text = "unknown"
        print(f"{parser.prog} {text}")
        parser.exit()


@contextlib.contextmanager
def _input(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    with open(path, "rb", buffering=1 << 20) as f:
        yield f


@contextlib.contextmanager
def _output(path: str) -> Iterator[IO[bytes]]:
    """Yield a file for `path`: a temp file renamed into place on success, else removed."""
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = _create_temp(directory, os.path.basename(path))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with open(fd, "wb", buffering=1 << 20) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _create_temp(directory: str, name: str) -> tuple[int, str]:
    """Create a new file ``.NAME.XXXXXXXX.tmp`` in `directory` (mode 0600, never reused).

    The same job as `tempfile.mkstemp`, without importing tempfile (and random, shutil)
    into every run of the command.
    """
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            continue
        return fd, tmp
    msg = f"cannot create a temporary file in {directory}"
    raise FileExistsError(msg)


def _cmd_signature(args: argparse.Namespace) -> None:
    from rsync_delta.fileformat import write_signature
    from rsync_delta.hashes import ChecksumRule
    from rsync_delta.signature import signature

    rule = ChecksumRule.plain(args.checksum)
    strong = rule.digest_size if args.strong_length is None else args.strong_length
    with _input(args.basis) as basis:
        try:
            sig = signature(basis, rule=rule, block_length=args.block_size, strong_length=strong)
        except ValueError as exc:
            raise _CliError(str(exc)) from None
        with _output(args.sig) as out:
            write_signature(out, sig, checksum=rule.name)


def _cmd_delta(args: argparse.Namespace) -> None:
    from rsync_delta._io import iter_chunks
    from rsync_delta.delta import DeltaGenerator
    from rsync_delta.fileformat import DeltaWriter, read_signature

    if args.sig == "-" and args.new == "-":
        msg = "SIG and NEW cannot both be standard input"
        raise _CliError(msg)
    with _input(args.sig) as f:
        sig, rule = read_signature(f)
    gen = DeltaGenerator(sig, rule)
    hasher = rule.file_hasher()
    length = 0
    with _input(args.new) as new, _output(args.delta) as out:
        writer = DeltaWriter(
            out,
            checksum=rule.name,
            block_length=sig.block_length,
            basis_length=sig.file_length,
        )
        for chunk in iter_chunks(new, _CHUNK):
            hasher.update(chunk)
            length += len(chunk)
            writer.write(gen.feed(chunk))
        writer.write(gen.finish())
        writer.finish(length, hasher.digest())


def _cmd_patch(args: argparse.Namespace) -> None:
    from rsync_delta.fileformat import DeltaReader

    if args.basis == "-":
        msg = "BASIS must be a seekable file, not standard input"
        raise _CliError(msg)
    with _input(args.delta) as df, open(args.basis, "rb") as basis:
        reader = DeltaReader(df)
        size = os.fstat(basis.fileno()).st_size
        if size != reader.basis_length:
            msg = (
                f"the delta was made for a basis of {reader.basis_length} bytes, "
                f"but {args.basis} has {size} bytes"
            )
            raise PatchError(msg)
        hasher = reader.rule.file_hasher()
        with _output(args.out) as out:
            written = reader.patch(basis, out, hasher=hasher)
            if written != reader.new_length:
                msg = f"patched file has {written} bytes, the delta says {reader.new_length}"
                raise PatchError(msg)
            if hasher.digest() != reader.digest:
                msg = (
                    f"whole-file {reader.checksum} sum mismatch: the delta does not belong "
                    "to this basis, or a file is corrupt"
                )
                raise PatchError(msg)


_COMMANDS: Final = {"signature": _cmd_signature, "delta": _cmd_delta, "patch": _cmd_patch}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0, 1 on errors, 2 on usage errors)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "signature" and args.strong_length is not None:
        size = HASHES[args.checksum].digest_size
        if args.strong_length > size:
            parser.error(
                f"--strong-length {args.strong_length} exceeds the {size}-byte "
                f"{args.checksum} digest"
            )
    try:
        _COMMANDS[args.command](args)
    except (_CliError, DeltaError) as exc:
        return _error(str(exc))
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        return _error(f"{exc.strerror or exc}{where}")
    except KeyboardInterrupt:
        return _error("interrupted", code=130)
    return 0


def _error(message: str, *, code: int = 1) -> int:
    line = " ".join(message.split())
    with contextlib.suppress(OSError):
        print(f"{_PROG}: error: {line}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
