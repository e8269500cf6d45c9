"""A daemon module as a transfer sees it: the settings the roles apply.

The daemon (rsync_daemon) reads rsyncd.conf and fills one :class:`ModuleContext` per
session; the sender, the receiving server and the module's rule chain read it. It
lives apart from the server so that all of them can, without importing one another.

rsync: loadparm.c (the per-module parameters), clientserver.c rsync_module().
"""

from __future__ import annotations

import msgspec

__all__ = ["ModuleContext", "server_iconv"]


class ModuleContext(msgspec.Struct, kw_only=True):
    """What a daemon module imposes on a session.

    Attributes:
        name: the module's name (the first component of every path argument).
        path: the directory it serves.
        shown_path: the path as the operator configured it, for the transfer log's
            ``%P`` (``path`` may be where a sandbox put it); empty: ``path``.
        read_only: refuse uploads.
        timeout: I/O timeout in seconds (0: none), told to P >= 31 clients.
        daemon_filter: the module's ``filter`` parameter (rules, whitespace-separated).
        daemon_include: the module's ``include`` patterns.
        daemon_exclude: the module's ``exclude`` patterns.
        daemon_include_from: the contents of the module's ``include from`` file.
        daemon_exclude_from: the contents of the module's ``exclude from`` file.
        numeric_ids: never send user or group names.
        fake_super: ``fake super = yes``: owners and modes live in the ``%stat`` xattr.
        refuse_options: option names the administrator refused.
        log_prefix: prefix of this session's log lines.
        outgoing_chmod: the module's ``outgoing chmod`` (rsync's chmod syntax), applied to
            the modes the daemon sends.
        munge_symlinks: prefix the targets of symlinks sent with ``/rsyncd-munged/``.
        ignore_nonreadable: leave out files the daemon cannot read, silently.
        dont_compress: the module's ``dont compress`` words (case-insensitive wildcards
            and ``*.SUFFIX``), files sent at zlib level 0; None: rsync's default list
            (`rsync_wire.proto.skipcompress`).
        max_verbosity: the highest verbosity a client may ask for.
        transfer_logging: log one line per file on ``rsync_wire.xferlog``.
        log_format: the format of those lines (rsync's ``%`` escapes).
        peer_host: the client's host name (``%h``); empty logs ``UNDETERMINED``, as rsync
            does without ``reverse lookup``.
        peer_addr: the client's address (``%a``).
        auth_user: the user the client authenticated as (``%u``), empty if none.
        incoming_chmod: the module's ``incoming chmod``, applied to the modes of uploads.
        sanitize_paths: the module is served without chroot (rsync's ``sanitize_paths``):
            uploaded symlink targets lose a leading ``/`` and excess ``..``.
        ignore_errors: the module's ``ignore errors``: uploads delete despite I/O errors.
        temp_dir: the module's ``temp dir``: the ``--temp-dir`` of uploads that give none.
        insecure_links: the module's ``insecure links = yes`` (served without chroot): its
            symlinks are followed wherever they lead (`rsync_wire.fs.Root`).
        charset: the module's ``charset``: the charset of its names, used whatever
            ``--iconv`` the client gave (empty: the module refuses ``--iconv``; rsync:
            clientserver.c rsync_module()).
    """

    name: str
    path: str
    shown_path: str = ""
    read_only: bool = True
    timeout: int = 0
    daemon_filter: str = ""
    daemon_include: str = ""
    daemon_exclude: str = ""
    daemon_include_from: bytes = b""
    daemon_exclude_from: bytes = b""
    numeric_ids: bool = False
    fake_super: bool = False
    refuse_options: list[str] = msgspec.field(default_factory=list)
    log_prefix: str = ""
    outgoing_chmod: str = ""
    munge_symlinks: bool = False
    ignore_nonreadable: bool = False
    dont_compress: list[str] | None = None
    max_verbosity: int = 1
    transfer_logging: bool = False
    log_format: str = ""
    peer_host: str = ""
    peer_addr: str = ""
    auth_user: str = ""
    incoming_chmod: str = ""
    sanitize_paths: bool = False
    ignore_errors: bool = False
    temp_dir: str = ""
    insecure_links: bool = False
    charset: str = ""


def server_iconv(iconv: str | None, module: ModuleContext | None) -> str | None:
    """The ``--iconv`` value a server converts with: a module's ``charset`` beats the client's.

    rsync: clientserver.c rsync_module() (``iconv_opt = lp_charset(i)``, then kept only if
    the client sent ``--iconv``).
    """
    if iconv is None or module is None:
        return iconv
    return module.charset or None
