"""The transfer options both sides must agree on, as one record (no I/O).

:class:`TransferOptions` is what :mod:`rsync_wire.proto.args` parses out of a
``--server`` argument vector and what a client turns into one. Field names follow
rsync's option variables (``preserve_links`` for ``-l`` and so on); which option sets
which field is said once, in :mod:`rsync_wire.proto.optable`.
"""

from __future__ import annotations

from typing import Final

import msgspec

__all__ = ["DEFAULT_MAX_ALLOC", "TransferOptions"]

DEFAULT_MAX_ALLOC: Final = 1 << 30  # DEFAULT_MAX_ALLOC: the --max-alloc of rsync 3.5


class TransferOptions(msgspec.Struct, kw_only=True):
    """Options that change what travels on the wire or how a role behaves.

    rsync: options.c (the global option variables).
    """

    server: bool = False
    sender: bool = False  # the *server* is the sender (a pull)
    daemon: bool = False
    verbose: int = 0
    quiet: bool = False
    dry_run: bool = False
    # file selection
    recursive: bool = False
    dirs: bool = False  # -d
    relative: bool = False  # -R
    implied_dirs: bool = True
    inc_recursive: bool = True  # --no-inc-recursive (a server: one list)
    one_file_system: int = 0  # -x (twice: also skip mount-point directories)
    cvs_exclude: bool = False  # -C
    list_only: bool = False
    files_from: str | None = None
    from0: bool = False
    ignore_missing_args: bool = False
    delete_missing_args: bool = False
    min_size: int | None = None
    max_size: int | None = None
    # what is preserved
    preserve_links: bool = False  # -l
    copy_links: bool = False  # -L
    copy_dirlinks: bool = False  # -k
    keep_dirlinks: bool = False  # -K
    copy_unsafe_links: bool = False
    safe_links: bool = False
    munge_links: bool = False  # each side its own: never forwarded
    preserve_hard_links: int = 0  # -H (twice: -HH)
    preserve_perms: bool = False  # -p
    preserve_executability: bool = False  # -E
    preserve_uid: bool = False  # -o
    preserve_gid: bool = False  # -g
    preserve_devices: bool = False  # -D / --devices
    preserve_specials: bool = False  # -D / --specials
    preserve_times: bool = False  # -t
    omit_dir_times: bool = False  # -O
    omit_link_times: bool = False  # -J
    preserve_atimes: int = 0  # -U
    preserve_crtimes: bool = False  # -N
    preserve_acls: bool = False  # -A
    preserve_xattrs: int = 0  # -X
    numeric_ids: bool = False
    usermap: str | None = None  # --usermap (--chown's user part)
    groupmap: str | None = None  # --groupmap (--chown's group part)
    # quick check and transfer
    always_checksum: bool = False  # -c
    ignore_times: bool = False  # -I
    size_only: bool = False
    update_only: bool = False  # -u
    ignore_existing: bool = False
    existing_only: bool = False
    whole_file: bool | None = None  # -W / --no-W; None = default
    block_size: int = 0  # -B
    sparse: bool = False  # -S
    inplace: bool = False
    append: int = 0  # 1 = --append, 2 = --append-verify
    partial: bool = False
    partial_dir: str | None = None
    temp_dir: str | None = None
    delay_updates: bool = False
    fuzzy: int = 0  # -y
    backup: bool = False  # -b
    backup_dir: str | None = None
    alt_dest: str | None = None  # "compare-dest", "copy-dest" or "link-dest" (one kind)
    basis_dirs: list[str] = msgspec.field(default_factory=list)  # its directories, at most 20
    suffix: str | None = None
    prune_empty_dirs: bool = False  # -m
    remove_source_files: bool = False
    modify_window: int = 0
    # deletion
    delete_mode: str | None = None  # "before", "during", "delay", "after" or "" (plain --delete)
    delete_excluded: bool = False
    force: bool = False
    max_delete: int | None = None
    ignore_errors: bool = False
    # checksums and compression
    compress: bool = False  # -z
    compress_choice: str | None = None
    compress_level: int | None = None
    checksum_choice: str | None = None
    checksum_seed: int = 0
    # session
    capabilities: str | None = None  # the value of -e (".iLsfxCIvu"); None: the client sent none
    protect_args: bool = False  # -s
    timeout: int = 0
    bwlimit: str | None = None
    iconv: str | None = None
    copy_as: str | None = None  # --copy-as (a remote-shell server's, given with -M)
    stats: bool = False
    info: list[str] = msgspec.field(default_factory=list)
    debug: list[str] = msgspec.field(default_factory=list)
    log_format: str | None = None
    log_file: str | None = None  # --log-file (a remote-shell server's, given with -M)
    log_file_format: str | None = None  # --log-file-format (None: "%i %n%L")
    msgs2stderr: bool | None = None
    qsort: bool = False
    open_noatime: bool = False
    max_alloc: str | None = None
    alloc_limit: int = DEFAULT_MAX_ALLOC  # --max-alloc in bytes (parsed; no limit: 2**63-1)
    skip_compress: str | None = None
    write_devices: bool = False  # --write-devices: a receiver writes into a device
    copy_devices: bool = False  # --copy-devices: a sender sends a device's contents
    trust_sender: bool = False  # --trust-sender: a client receiver takes any listed name
    compress_threads: int | None = None  # --compress-threads/--zt (zstd workers)
    # what only a receiver acts on, parsed so that a receiving server can refuse them
    fake_super: bool = False  # --fake-super: owners and modes kept in an xattr
    super_user: bool | None = None  # --super (True) / --no-super (False): as root or not
    fsync: bool = False
    preallocate: bool = False
    mkpath: bool = False
    drop_devices: bool = False  # --drop-D: a receiver creates no devices or specials
    confine_root: str | None = None  # --confine-root: a server's paths stay inside it
    protocol: int | None = None  # --protocol: a remote-shell server speaks at most this one
    insecure_links: bool = False  # --insecure-links: a server's named paths follow any link
    only_write_batch: str | None = None  # --only-write-batch: a push's data goes to the batch
    # --filter/-f, --exclude, --include a server got in its arguments (-M), in order
    server_rules: list[tuple[str, str]] = msgspec.field(default_factory=list)
    # --chmod rules in order (each value may hold several, comma-separated)
    chmod: list[str] = msgspec.field(default_factory=list)
    # -M/--remote-option words a client appends to the server's arguments, as given
    remote_options: list[str] = msgspec.field(default_factory=list)
    # what the refused options were (filled by the parser of a server; empty means none)
    refused: list[str] = msgspec.field(default_factory=list)

    @property
    def preserve_any_ids(self) -> bool:
        """Whether uid or gid names travel (and so the id lists)."""
        return self.preserve_uid or self.preserve_gid
