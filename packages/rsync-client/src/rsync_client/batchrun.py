"""``--write-batch``, ``--only-write-batch`` and ``--read-batch`` on the client's side.

Writing: the batch file is opened before the transfer (as rsync opens it while it
parses its options), the transfer records into it (:mod:`rsync_wire.roles.batch`), and
``FILE.sh`` gets the command line that applies the batch. Reading: the file's header
sets the session and the stream-shaping options, then the receiving side runs on it
into the destination, a local directory.

rsync: main.c main() (open_batch_files), start_client() (read_batch), batch.c.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import msgspec

from rsync_client.options import OptionError, parse_location
from rsync_wire.errors import ExitCode, RsyncError
from rsync_wire.proto.constants import PROTOCOL_VERSION
from rsync_wire.proto.optable import Role
from rsync_wire.roles.batch import (
    MAX_BATCH_NAME_LEN,
    BatchReader,
    BatchWriter,
    apply_stream_flags,
    configure_filters,
    shell_script,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from rsync_client.options import ClientOptions
    from rsync_client.output import Output
    from rsync_client.runsetup import RunResult

__all__ = ["confined_sources", "run_read_batch", "with_batch"]


def _bare(message: str) -> OptionError:
    err = OptionError(message)
    err.bare = True
    return err


def _check(opts: ClientOptions, name: str) -> None:
    """Rsync's refusals of batch options (rsync: options.c parse_arguments())."""
    if opts.read_batch is not None and (
        opts.write_batch is not None or opts.only_write_batch is not None
    ):
        msg = "rsync: --write-batch and --read-batch can not be used together"
        raise OptionError(msg)
    if opts.read_batch is not None and opts.files_from is not None:
        msg = "rsync: --read-batch cannot be used with --files-from"
        raise OptionError(msg)
    if len(os.fsencode(name)) > MAX_BATCH_NAME_LEN:
        msg = f"the batch-file name must be {MAX_BATCH_NAME_LEN} characters or less."
        raise _bare(msg)


async def with_batch(
    opts: ClientOptions,
    args: list[str],
    output: Output,
    transfer: Callable[
        [ClientOptions, list[str], Output, BatchWriter | None], Awaitable[RunResult]
    ],
) -> RunResult:
    """Run ``transfer`` recording into the batch file; then write ``FILE.sh``.

    ``--only-write-batch`` with ``-n`` writes nothing, as rsync ignores it then; so does
    ``--write-batch`` with ``-n``.
    """
    only = opts.only_write_batch is not None
    name = opts.only_write_batch if only else opts.write_batch
    assert name is not None  # noqa: S101 - called for one of them
    _check(opts, name)
    if opts.dry_run:
        return await transfer(opts, args, output, None)
    from rsync_client.runsetup import build_filters

    topts = opts.transfer_options()
    writer = BatchWriter(name, topts)
    protocol = opts.protocol or PROTOCOL_VERSION
    try:
        result = await transfer(opts, args, output, writer)
        protocol = result.protocol
        return result
    finally:
        try:
            dest = args[-1] if len(args) > 1 else "."
            loc = parse_location(dest)
            if loc.kind != "local":
                dest = loc.path
            filters = build_filters(opts, protocol=protocol)
            writer.write_script(
                shell_script(
                    opts.raw_argv or ["rsync"],
                    opts.cooked_args or args,
                    configure_filters(filters),
                    protocol=protocol,
                    dest=dest,
                    from0=opts.from0,
                )
            )
        finally:
            writer.close()


async def run_read_batch(opts: ClientOptions, args: list[str], output: Output) -> RunResult:
    """Apply the batch file to the destination (the last argument).

    rsync: main.c start_client() (read_batch), do_cmd(), client_run().
    """
    from rsync_client.options import check_role
    from rsync_client.runsetup import RunResult, build_filters, current_umask, receive_config
    from rsync_wire.proto.charset import charset_for

    name = opts.read_batch
    assert name is not None  # noqa: S101
    _check(opts, name)
    if not args:
        msg = "rsync: no destination given for --read-batch (see --help)"
        raise _bare(msg)
    dest = args[-1]
    check_role(opts, Role.LOCAL)
    reader = BatchReader(name)  # opened first, as rsync's main() opens it
    try:
        topts = opts.transfer_options(local=True)
        flags = reader.stream_flags()
        if parse_location(dest).kind != "local":
            msg = "remote destination is not allowed with --read-batch"
            raise _bare(msg)
        session = reader.session(topts, ours=opts.protocol or PROTOCOL_VERSION)
        for line in apply_stream_flags(flags, topts, protocol=session.protocol):
            if opts.verbose:
                output.info(line + "\n")
        # -z in the batch's flags: its data is compressed (zlib: what a batch negotiates)
        session = msgspec.structs.replace(session, compression="zlib" if topts.compress else None)
        filters = build_filters(opts, protocol=session.protocol)
        config = receive_config(opts, filters, None, local=True)
        config.whole_file = True  # the generator sends no sums (rsync: generator.c)
        config.umask = current_umask()
        # --iconv: the batch holds the wire's UTF-8 names and unsorted indexes; rsync's
        # reader converts with the client's half (rsync: rsync.c setup_iconv(), !am_server)
        config.charset = charset_for(opts.iconv, server=False)
        if opts.sandbox:
            # the batch file is open already: only the destination needs a rule
            from rsync_client.confine import confine_client

            note = confine_client(opts, [], dest)
            if opts.verbose > 1:
                output.info(f"pyrsync: {note}\n")
        stats = await reader.run(session, topts, config, os.fsencode(dest), output)
    finally:
        reader.close()
    return RunResult(stats, int(stats.exit_code()), session.protocol)


def confined_sources(
    root: str, sources: list[str], *, outside_ok: bool = False
) -> tuple[str | None, list[str]]:
    """``--confine-root`` in a local copy: the root checked, the sources made relative to it.

    With ``outside_ok`` (no per-directory merge file will be read), a source outside the
    root is sent from where it is, as rsync does: the root is then None and the sources
    are unchanged.

    Raises:
        OptionError: the root is not absolute (rsync's message, exit code 1).
        RsyncError: a source lies outside the root (exit code 3).
    """
    from rsync_wire.roles.confine_root import OutsideRootError, confine_paths

    if not root.startswith("/"):
        msg = "rsync: --confine-root must be an absolute path"
        raise OptionError(msg)
    root = os.path.normpath(root)
    try:
        rel = confine_paths(root, [os.fsencode(s) for s in sources])
    except OutsideRootError as exc:
        if outside_ok:
            return None, sources
        shown = os.fsdecode(exc.filename) if exc.filename else "?"
        msg = f'rsync: [sender] "{shown}" is outside the --confine-root directory: {exc.strerror}'
        raise RsyncError(msg, exit_code=ExitCode.FILESELECT) from None
    return root, [os.fsdecode(p) for p in rel]
