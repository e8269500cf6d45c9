"""``-A``: a sender's ACLs for the file list, and the receiving side's compare and set.

The sender reads each entry's access ACL (condensed against the mode it sends) and a
directory's default ACL, with the names of their users and groups. The receiving side
maps the ids it received to local ones (by name unless ``--numeric-ids``, as owners
are, but for every receiver), compares them with what the destination has (the
generator's itemize ``a`` column and its "unchanged" test) and sets them: on the new
file by its descriptor (receiver), on existing entries by name under their parent
(generator), or as ``--fake-super``'s records.

rsync: acls.c get_acl(), send_acl(), set_acl(), match_acl_ids(); generator.c itemize(),
unchanged_attrs(); rsync.c set_file_attrs().
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import msgspec

from rsync_wire.proto.acls import (
    EMPTY,
    NO_ENTRY,
    AclFormatError,
    IdAccess,
    RsyncAcl,
    default_perms,
    equal_enough,
    format_fake,
    format_xattr,
    sort_names,
    strip_perms,
    with_mode,
)
from rsync_wire.roles import idnames
from rsync_wire.roles.acl_fs import (
    acl_applies,
    dir_default_acl,
    read_acls,
    target,
    write_acl,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from rsync_wire.fs_write import DestTree
    from rsync_wire.proto.flist import FileEntry
    from rsync_wire.proto.options import TransferOptions

__all__ = ["ReceivingAcls", "SendingAcls", "default_perms_for_dir", "with_st_mode"]

_TYPES = ("ACL_TYPE_ACCESS", "ACL_TYPE_DEFAULT")


def _show(rel: bytes) -> str:
    return rel.decode("utf-8", "backslashreplace") if rel else "."


class SendingAcls:
    """A sender's ACL reader: the ACLs an entry carries, with the names of their ids."""

    def __init__(self, opts: TransferOptions) -> None:
        self.fake_super = opts.fake_super
        self.numeric = opts.numeric_ids
        self.devices = opts.preserve_devices
        self.specials = opts.preserve_specials
        self._users: dict[int, bytes | None] = {}
        self._groups: dict[int, bytes | None] = {}

    def _named(self, acl: RsyncAcl) -> RsyncAcl:
        if not acl.names or self.numeric:
            return acl
        out: list[bytes | None] = []
        for ida in acl.names:
            table = self._users if ida.is_user else self._groups
            if ida.id not in table:
                table[ida.id] = idnames.user_of(ida.id) if ida.is_user else idnames.group_of(ida.id)
            out.append(table[ida.id])
        return msgspec.structs.replace(acl, id_names=tuple(out))

    def of(
        self, dfd: int, name: bytes, real_mode: int, mode: int
    ) -> tuple[RsyncAcl, RsyncAcl | None]:
        """``(access, default)`` of ``name`` in ``dfd``, as sent for an entry of ``mode``.

        ``real_mode`` is what ``lstat`` says (the type to open); ``mode`` is the mode the
        entry carries (after ``--chmod``, or ``--fake-super``'s record).

        Raises:
            OSError: the ACLs could not be read (rsync then leaves the file out).
            AclFormatError: a corrupt attribute.

        rsync: acls.c get_acl(), send_acl().
        """
        is_dir = stat.S_ISDIR(mode)
        if not acl_applies(real_mode, devices=self.devices, specials=self.specials):
            return strip_perms(EMPTY, mode), EMPTY if is_dir else None
        with target(dfd, name, real_mode, follow=True) as t:
            access, default = read_acls(t, mode, fake_super=self.fake_super)
        access = self._named(strip_perms(access, mode))
        if is_dir:
            return access, self._named(default if default is not None else EMPTY)
        return access, None


def default_perms_for_dir(dfd: int, umask_perms: int) -> int:
    """The permission bits new entries of directory ``dfd`` get without ``-p``.

    Its default ACL's, or ``umask_perms`` (``0777 & ~umask``) when it has none.

    rsync: acls.c default_perms_for_dir().
    """
    acl = dir_default_acl(dfd)
    if acl is None:
        return umask_perms
    perms = default_perms(acl)
    return umask_perms if perms is None else perms


class ReceivingAcls:
    """The receiving side's ACL work for one session (generator and receiver share it)."""

    def __init__(
        self,
        opts: TransferOptions,
        *,
        uid: Callable[[int], int],
        gid: Callable[[int], int],
        fake_super: bool,
        dry_run: bool,
    ) -> None:
        self.fake_super = fake_super
        self.dry_run = dry_run
        self.devices = opts.preserve_devices
        self.specials = opts.preserve_specials
        self._uid = uid
        self._gid = gid
        self._mapped: dict[object, RsyncAcl] = {}
        # what the item being generated had before its ACLs were set: whether they
        # differed, and the mode the set left (rsync's stat_x, itemized after the set)
        self._memo: dict[tuple[int, bytes], tuple[bool, int | None]] = {}

    def forget(self) -> None:
        """The item is finished: the next :meth:`differ` reads the disk again."""
        self._memo.clear()

    def mode_after(self, tree: DestTree, rel: bytes) -> int | None:
        """The mode setting the ACLs of ``rel`` left (None: they were not set)."""
        memo = self._memo.get((id(tree), rel))
        return memo[1] if memo is not None else None

    def _map(self, acl: RsyncAcl) -> RsyncAcl:
        """``acl`` with its ids made local ones (rsync: acls.c match_racl_ids())."""
        if not acl.names:
            return acl
        got = self._mapped.get(acl.key)
        if got is None:
            names = [
                IdAccess(self._uid(ida.id) if ida.is_user else self._gid(ida.id), ida.access)
                for ida in acl.names
            ]
            got = msgspec.structs.replace(acl, names=sort_names(names), id_names=())
            self._mapped[acl.key] = got
        return got

    def applies(self, entry: FileEntry) -> bool:
        """Whether ``entry`` has ACLs to compare and set here."""
        return entry.acl is not None and acl_applies(
            entry.mode, devices=self.devices, specials=self.specials
        )

    def _local(
        self, dfd: int, name: bytes, st_mode: int, fd: int | None
    ) -> tuple[RsyncAcl, RsyncAcl | None] | None:
        try:
            with target(dfd, name, st_mode, fd) as t:
                return read_acls(t, st_mode, fake_super=self.fake_super)
        except (OSError, AclFormatError):
            return None

    def _wanted(
        self, entry: FileEntry, local: tuple[RsyncAcl, RsyncAcl | None] | None, new_mode: int
    ) -> tuple[RsyncAcl | None, RsyncAcl | None]:
        """The access and default ACL to set (``None``: that one is already right).

        rsync: acls.c set_acl_fdat() (``eq``).
        """
        assert entry.acl is not None  # noqa: S101 - applies() said so
        access = self._map(entry.acl)
        set_access: RsyncAcl | None = access
        if local is not None and equal_enough(local[0], access, new_mode):
            set_access = None
        set_default: RsyncAcl | None = None
        if stat.S_ISDIR(new_mode) and entry.def_acl is not None:
            default = self._map(entry.def_acl)
            if local is None or local[1] is None or local[1].key != default.key:
                set_default = default
        return set_access, set_default

    def differ(self, tree: DestTree, rel: bytes, entry: FileEntry, st_mode: int) -> bool:
        """Whether the ACLs of ``rel`` (of type ``st_mode``) differ from what was sent.

        rsync: generator.c itemize(), acls_differ() (set_acl() without a name).
        """
        if not self.applies(entry) or stat.S_ISLNK(st_mode):
            return False
        memo = self._memo.get((id(tree), rel))
        if memo is not None:
            return memo[0]
        dfd, name = _parent(tree, rel)
        local = self._local(dfd, name, st_mode, None)
        access, default = self._wanted(entry, local, entry.mode)
        return access is not None or default is not None

    def set_on(
        self,
        tree: DestTree,
        rel: bytes,
        entry: FileEntry,
        st: int,
        new_mode: int,
        *,
        fd: int | None = None,
        shown: bytes | None = None,
        remember: bool = True,
    ) -> tuple[bool, int, list[str]]:
        """Make the ACLs of ``rel`` (current mode ``st``) what was sent, for ``new_mode``.

        ``fd``: the file is open there (the receiver's new file); ``shown``: its name in
        messages (the temporary file's, as rsync's); ``remember=False``: the generator's
        itemize is not told (the receiver setting them again).

        Returns:
            Whether an ACL was changed, the mode the file has afterwards (an access ACL
            sets the permission bits), and rsync's messages for what failed.

        rsync: acls.c set_acl_fdat(), set_rsync_acl(), change_sacl_perms().
        """
        if not self.applies(entry) or stat.S_ISLNK(new_mode):
            return False, st, []
        dfd, name = _parent(tree, rel)
        local = self._local(dfd, name, st, fd)
        access, default = self._wanted(entry, local, new_mode)
        if access is None and default is None:
            return False, st, []
        remember = remember and fd is None
        if remember:
            self._memo[id(tree), rel] = (True, None)
        if self.dry_run:
            return True, st, []
        errors: list[str] = []
        cur = st
        name_shown = rel if shown is None else shown
        try:
            with target(dfd, name, st, fd) as t:
                if access is not None:
                    try:
                        if self.fake_super:
                            write_acl(t, format_fake(access), default=False, fake_super=True)
                        else:
                            full, cur = with_mode(access, st, new_mode)
                            write_acl(t, format_xattr(full), default=False, fake_super=False)
                    except OSError as exc:
                        errors.append(_failed(name_shown, 0, exc, fake=self.fake_super))
                        cur = st
                if default is not None and not errors:  # rsync stops at a failed access ACL
                    value = None
                    if default.user_obj != NO_ENTRY:
                        value = format_fake(default) if self.fake_super else format_xattr(default)
                    try:
                        write_acl(t, value, default=True, fake_super=self.fake_super)
                    except OSError as exc:
                        errors.append(
                            _failed(name_shown, 1, exc, fake=self.fake_super, delete=not value)
                        )
        except OSError as exc:
            errors.append(_failed(name_shown, 0, exc, fake=self.fake_super))
        if remember and cur != st:
            self._memo[id(tree), rel] = (True, cur)
        return True, cur, errors


def with_st_mode(st: os.stat_result, mode: int) -> os.stat_result:
    """``st`` with another ``st_mode``."""
    extra = {k: getattr(st, k) for k in _STAT_EXTRA}
    return os.stat_result((mode, *tuple(st)[1:10]), extra)


_STAT_EXTRA = (
    "st_atime",
    "st_mtime",
    "st_ctime",
    "st_atime_ns",
    "st_mtime_ns",
    "st_ctime_ns",
    "st_blksize",
    "st_blocks",
    "st_rdev",
)


def _failed(rel: bytes, kind: int, exc: OSError, *, fake: bool, delete: bool = False) -> str:
    """Rsync's message for a failed set (rsync: acls.c set_rsync_acl())."""
    why = f"{exc.strerror} ({exc.errno})"
    if delete:
        return f"set_acl: sys_acl_delete_def_file({_show(rel)}): {why}"
    if fake:
        key = "user.rsync.%dacl" if kind else "user.rsync.%aacl"
        return f'set_xattr_acl: lsetxattr({_show(rel)},"{key}") failed: {why}'
    return f"set_acl: xacl_set({_show(rel)}, {_TYPES[kind]}): {why}"


def _parent(tree: DestTree, rel: bytes) -> tuple[int, bytes]:
    if not rel or rel == b".":
        return tree.fd, b"."
    return tree.parent(rel)
