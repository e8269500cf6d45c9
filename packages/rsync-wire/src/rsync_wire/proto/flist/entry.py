"""The values of a file list: entries, the end marker, id lists, checksum lengths."""

from __future__ import annotations

from typing import Final

import msgspec

from rsync_wire.errors import (
    UnsupportedError,
)
from rsync_wire.proto.acls import RsyncAcl
from rsync_wire.proto.constants import (
    S_IFBLK,
    S_IFCHR,
    S_IFDIR,
    S_IFIFO,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
    S_IFSOCK,
)
from rsync_wire.proto.xattrs import XattrList

#: Length of the ``-c`` file checksum in the file list, by checksum name.
#: rsync: checksum.c csum_len_for_type(..., flist_csum=1).
FLIST_CSUM_LENGTHS: Final = {
    "none": 1,
    "md4": 16,
    "md5": 16,
    "sha1": 20,
    "sha256": 32,
    "sha512": 64,
    "xxh64": 8,
    "xxh3": 8,
    "xxh128": 16,
}


def flist_csum_len(checksum: str) -> int:
    """The number of ``-c`` checksum bytes per regular file for a file-checksum name.

    rsync: checksum.c csum_len_for_type() (``flist_csum_len``).

    Raises:
        UnsupportedError: an unknown checksum name.
    """
    try:
        return FLIST_CSUM_LENGTHS[checksum]
    except KeyError:
        msg = f"no file-list checksum length known for {checksum!r}"
        raise UnsupportedError(msg) from None


class FileEntry(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One file-list entry, as the sender describes it and the receiver reads it.

    Attributes:
        name: relative path with ``/`` separators and no trailing slash; ``.`` is the top of
            a ``src/`` transfer. A leading ``/`` only with ``--relative``.
        mode: ``st_mode`` including the type bits (0 marks a missing argument under
            ``--delete-missing-args``).
        size: length in bytes (directories: their ``st_size``; symlinks: the target length;
            devices and specials: 0).
        mtime: modification time in seconds (64-bit at P >= 30, 32-bit unsigned below).
        mtime_nsec: nanoseconds of the mtime (0..999999999; travels at P >= 31 only).
        uid: owner id (with ``-o``; 0 when not preserved).
        gid: group id (with ``-g``; 0 when not preserved).
        user_name: the owner's name, or ``None``. Sender side: the local name of ``uid``
            (drives the inline names and the id lists). Receiver side: the name the peer sent
            for ``uid`` so far, if any.
        group_name: the same for ``gid``.
        rdev_major: device major number (char and block devices with ``-D``).
        rdev_minor: device minor number.
        link_target: symlink target (with ``-l``), else ``None``.
        checksum: whole-file checksum of a regular file (with ``-c``), else ``None``.
        atime: access time (with ``--atimes``, non-directories), else ``None``.
        crtime: creation time (with ``--crtimes``), else ``None``.
        hl_dev: sender side: ``st_dev`` of a file that may be hard-linked (``-H``). Decoded
            at P < 30 from the wire (``dev + 1`` on the wire); ``None`` at P >= 30.
        hl_ino: sender side: ``st_ino`` to go with ``hl_dev``.
        nlink: sender side: ``st_nlink``; P >= 28 marks only non-directories with
            ``nlink > 1`` (and ``hl_dev`` set) as hard-linked. Decoded P 28/29 hard-linked
            entries get 2 (the real count is not sent).
        hlink_group: receiver side: the entry's hard-link group. P >= 30: the index of the
            group's first member (its list start plus its transmission position; for the
            first member its own index). P < 30: a group number, counted from 0 in order of
            first appearance of each (dev, inode) pair. ``None`` when not hard-linked. The
            encoder also accepts it in place of ``hl_dev``/``hl_ino`` (entries with the same
            group are linked), which lets a decoded list be sent on again.
        hlink_first: receiver side, P >= 30: this entry carried XMIT_HLINK_FIRST.
        top_dir: directory flag XMIT_TOP_DIR (named on the command line / top of a delete
            scope).
        no_content_dir: directory flag XMIT_NO_CONTENT_DIR (P >= 30: the directory's
            contents are not part of the transfer; with ``top_dir`` an implied directory).
        xattrs: with ``-X``, the entry's extended attributes (sender side: wire names;
            receiver side: as received), else ``None``.
        xattr_ndx: receiver side: the index of ``xattrs`` among the session's xattr lists
            (entries with equal lists share one); -1 without.
        acl: with ``-A``, the access ACL (sender side: condensed, as sent; receiver side: as
            received, the mask put back), else ``None``; symlinks have none.
        def_acl: with ``-A``, a directory's default ACL (empty when it has none).
    """

    name: bytes
    mode: int
    size: int = 0
    mtime: int = 0
    mtime_nsec: int = 0
    uid: int = 0
    gid: int = 0
    user_name: bytes | None = None
    group_name: bytes | None = None
    rdev_major: int = 0
    rdev_minor: int = 0
    link_target: bytes | None = None
    checksum: bytes | None = None
    atime: int | None = None
    crtime: int | None = None
    hl_dev: int | None = None
    hl_ino: int | None = None
    nlink: int = 1
    hlink_group: int | None = None
    hlink_first: bool = False
    top_dir: bool = False
    no_content_dir: bool = False
    xattrs: XattrList | None = None
    xattr_ndx: int = -1
    acl: RsyncAcl | None = None
    def_acl: RsyncAcl | None = None

    @property
    def is_dir(self) -> bool:
        """A directory."""
        return self.mode & S_IFMT == S_IFDIR

    @property
    def is_reg(self) -> bool:
        """A regular file."""
        return self.mode & S_IFMT == S_IFREG

    @property
    def is_symlink(self) -> bool:
        """A symbolic link."""
        return self.mode & S_IFMT == S_IFLNK

    @property
    def is_device(self) -> bool:
        """A character or block device (rsync: ``IS_DEVICE``)."""
        return self.mode & S_IFMT in (S_IFCHR, S_IFBLK)

    @property
    def is_special(self) -> bool:
        """A FIFO or socket (rsync: ``IS_SPECIAL``)."""
        return self.mode & S_IFMT in (S_IFIFO, S_IFSOCK)

    @property
    def is_missing(self) -> bool:
        """A missing argument sent with mode 0 (``--delete-missing-args``)."""
        return self.mode == 0


class EndOfList(msgspec.Struct, frozen=True, gc=False):
    """The end-of-list marker of one (sub-)list.

    Attributes:
        io_error: the sender's I/O-error bits carried by the marker (varint mode, or a safe
            file list), masked to the valid bits; 0 otherwise. Below protocol 30 the bits
            follow the id lists instead (:meth:`FileListDecoder.decode_io_error`).
    """

    io_error: int = 0


class IdLists(msgspec.Struct, frozen=True):
    """The uid and gid name lists sent after a non-incremental file list.

    Attributes:
        uid_names: id -> name, in the order received (id 0 only with CF_ID0_NAMES).
        gid_names: the same for groups.
    """

    uid_names: dict[int, bytes | None] = msgspec.field(default_factory=dict)
    gid_names: dict[int, bytes | None] = msgspec.field(default_factory=dict)
