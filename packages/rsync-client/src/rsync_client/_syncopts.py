"""``SyncOptions``: the keyword arguments of ``sync()`` and ``async_sync()``.

GENERATED from the option table (rsync_wire.proto.optable) by
``python -m rsync_client._syncopts_gen``: do not edit. tests/test_syncopts.py fails when
this file and the table disagree.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeAlias, TypedDict

__all__ = ["StrArg", "StrArgs", "SyncOptions"]

StrArg: TypeAlias = str | os.PathLike[str]
"""A string option's value (a path may be given as a path object)."""

StrArgs: TypeAlias = StrArg | Sequence[StrArg]
"""A repeatable string option: one value, or several in command-line order."""


class SyncOptions(TypedDict, total=False):
    """rsync's long options with ``_`` for ``-``, as ``pyrsync`` takes them.

    ``True`` gives an option, ``False`` its ``--no-`` form (where rsync has one);
    counted options take a number (``verbose=2`` is ``-vv``); integer and size options
    take what the command line takes (``bwlimit="1.5M"``, ``max_size=1000``).
    """

    secluded_args: bool  # --secluded-args, -s
    verbose: bool | int  # --verbose, -v
    quiet: bool  # --quiet, -q
    backup: bool  # --backup, -b
    update: bool  # --update, -u
    dry_run: bool  # --dry-run, -n
    links: bool  # --links, -l
    dirs: bool  # --dirs, -d
    copy_links: bool  # --copy-links, -L
    copy_dirlinks: bool  # --copy-dirlinks, -k
    keep_dirlinks: bool  # --keep-dirlinks, -K
    prune_empty_dirs: bool  # --prune-empty-dirs, -m
    omit_dir_times: bool  # --omit-dir-times, -O
    omit_link_times: bool  # --omit-link-times, -J
    fuzzy: bool | int  # --fuzzy, -y
    whole_file: bool  # --whole-file, -W
    hard_links: bool | int  # --hard-links, -H
    owner: bool  # --owner, -o
    group: bool  # --group, -g
    times: bool  # --times, -t
    atimes: bool | int  # --atimes, -U
    perms: bool  # --perms, -p
    executability: bool  # --executability, -E
    acls: bool  # --acls, -A
    xattrs: bool | int  # --xattrs, -X
    recursive: bool  # --recursive, -r
    checksum: bool  # --checksum, -c
    cvs_exclude: bool  # --cvs-exclude, -C
    ignore_times: bool  # --ignore-times, -I
    relative: bool  # --relative, -R
    one_file_system: bool | int  # --one-file-system, -x
    sparse: bool  # --sparse, -S
    compress: bool  # --compress, -z
    list_only: bool  # --list-only
    devices: bool  # --devices
    specials: bool  # --specials
    compress_level: int  # --compress-level
    out_format: StrArg  # --out-format
    block_size: int | str  # --block-size, -B
    timeout: int  # --timeout
    bwlimit: int | str  # --bwlimit
    backup_dir: StrArg  # --backup-dir
    compare_dest: StrArgs  # --compare-dest (repeatable)
    copy_dest: StrArgs  # --copy-dest (repeatable)
    link_dest: StrArgs  # --link-dest (repeatable)
    suffix: StrArg  # --suffix
    checksum_choice: StrArg  # --checksum-choice
    compress_choice: StrArg  # --compress-choice
    old_compress: bool  # --old-compress
    new_compress: bool  # --new-compress
    max_delete: int  # --max-delete
    min_size: int | str  # --min-size
    max_size: int | str  # --max-size
    delete: bool  # --delete
    delete_before: bool  # --delete-before
    delete_during: bool  # --delete-during
    delete_delay: bool  # --delete-delay
    delete_after: bool  # --delete-after
    delete_excluded: bool  # --delete-excluded
    force: bool  # --force
    super: bool  # --super
    size_only: bool  # --size-only
    stats: bool  # --stats
    partial: bool  # --partial
    partial_dir: StrArg  # --partial-dir
    delay_updates: bool  # --delay-updates
    usermap: StrArg  # --usermap
    groupmap: StrArg  # --groupmap
    ignore_existing: bool  # --ignore-existing
    existing: bool  # --existing
    temp_dir: StrArg  # --temp-dir, -T
    modify_window: int  # --modify-window, -@
    checksum_seed: int  # --checksum-seed
    numeric_ids: bool  # --numeric-ids
    ignore_errors: bool  # --ignore-errors
    copy_unsafe_links: bool  # --copy-unsafe-links
    safe_links: bool  # --safe-links
    info: StrArgs  # --info (repeatable)
    inplace: bool  # --inplace
    append: bool  # --append
    append_verify: bool  # --append-verify
    files_from: StrArg  # --files-from
    from0: bool  # --from0, -0
    implied_dirs: bool  # --implied-dirs
    max_alloc: int | str  # --max-alloc
    debug: StrArgs  # --debug (repeatable)
    stderr: StrArg  # --stderr
    msgs2stderr: bool  # --msgs2stderr
    motd: bool  # --motd
    human_readable: bool | int  # --human-readable, -h
    archive: bool  # --archive, -a
    inc_recursive: bool  # --inc-recursive
    old_dirs: bool  # --old-dirs
    open_noatime: bool  # --open-noatime
    fake_super: bool  # --fake-super
    copy_devices: bool  # --copy-devices
    write_devices: bool  # --write-devices
    confine_root: StrArg  # --confine-root
    insecure_links: bool  # --insecure-links
    munge_links: bool  # --munge-links
    chmod: StrArgs  # --chmod (repeatable)
    preallocate: bool  # --preallocate
    delete_missing_args: bool  # --delete-missing-args
    ignore_missing_args: bool  # --ignore-missing-args
    remove_source_files: bool  # --remove-source-files
    filter: StrArgs  # --filter, -f (repeatable)
    exclude: StrArgs  # --exclude (repeatable)
    include: StrArgs  # --include (repeatable)
    exclude_from: StrArgs  # --exclude-from (repeatable)
    include_from: StrArgs  # --include-from (repeatable)
    skip_compress: StrArg  # --skip-compress
    compress_threads: int  # --compress-threads
    progress: bool  # --progress
    log_file: StrArg  # --log-file
    log_file_format: StrArg  # --log-file-format
    itemize_changes: bool | int  # --itemize-changes, -i
    read_batch: StrArg  # --read-batch
    write_batch: StrArg  # --write-batch
    only_write_batch: StrArg  # --only-write-batch
    old_args: bool  # --old-args
    trust_sender: bool  # --trust-sender
    chown: StrArg  # --chown
    contimeout: int  # --contimeout
    fsync: bool  # --fsync
    stop_after: StrArg  # --stop-after
    stop_at: StrArg  # --stop-at
    rsh: StrArg  # --rsh, -e
    rsync_path: StrArg  # --rsync-path
    iconv: StrArg  # --iconv
    ipv4: bool  # --ipv4, -4
    ipv6: bool  # --ipv6, -6
    eight_bit_output: bool  # --8-bit-output, -8
    mkpath: bool  # --mkpath
    qsort: bool  # --qsort
    copy_as: StrArg  # --copy-as
    address: StrArg  # --address
    port: int  # --port
    sockopts: StrArg  # --sockopts
    password_file: StrArg  # --password-file
    early_input: StrArg  # --early-input
    blocking_io: bool  # --blocking-io
    outbuf: StrArg  # --outbuf
    remote_option: StrArgs  # --remote-option, -M (repeatable)
    protocol: int  # --protocol
    sandbox: bool  # --sandbox
