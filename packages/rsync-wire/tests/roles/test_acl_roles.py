"""The receiving side's ACL ids and the on-disk reads and writes (a real file system)."""

from __future__ import annotations

import os
import pwd
from typing import TYPE_CHECKING

import pytest

from rsync_wire.proto.acls import (
    EMPTY,
    NAME_IS_USER,
    NO_ENTRY,
    IdAccess,
    RsyncAcl,
    format_xattr,
    parse_xattr,
)
from rsync_wire.proto.flist import FileEntry
from rsync_wire.proto.options import TransferOptions
from rsync_wire.roles.acl_fs import read_acls, target, write_acl
from rsync_wire.roles.acls import ReceivingAcls
from rsync_wire.roles.receive_state import IdMapper

if TYPE_CHECKING:
    from pathlib import Path


def _receiving(names: dict[int, bytes | None], *, numeric: bool = False) -> ReceivingAcls:
    ids = IdMapper(names, {}, numeric=numeric, am_root=False)
    return ReceivingAcls(
        TransferOptions(preserve_acls=True),
        uid=ids.uid,
        gid=lambda g: ids.gid(g)[0],
        fake_super=False,
        dry_run=False,
    )


def test_ids_map_by_name_as_rsync() -> None:
    """A known name gives the local id; an unknown one keeps the number (uidlist.c)."""
    nobody = pwd.getpwnam("nobody").pw_uid
    sent = RsyncAcl(
        NO_ENTRY,
        NO_ENTRY,
        7,
        NO_ENTRY,
        (IdAccess(4001, 7 | NAME_IS_USER), IdAccess(4002, 5 | NAME_IS_USER)),
    )
    acls = _receiving({4001: b"nobody", 4002: b"no-such-user-here"})
    mapped = acls._map(sent)
    assert sorted(x.id for x in mapped.names) == sorted([nobody, 4002])
    numeric = _receiving({4001: b"nobody"}, numeric=True)._map(sent)
    assert [x.id for x in numeric.names] == [4001, 4002]


def test_read_write_round_trip(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir(mode=0o750)
    full = RsyncAcl(7, 5, 7, 0, (IdAccess(4001, 7 | NAME_IS_USER),))
    default = RsyncAcl(7, 5, 5, 0, (IdAccess(4002, 5),))
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with target(dfd, b"d", 0o40750) as t:
            try:
                write_acl(t, format_xattr(full), default=False, fake_super=False)
            except OSError as exc:
                pytest.skip(f"no ACLs here: {exc}")
            write_acl(t, format_xattr(default), default=True, fake_super=False)
            assert read_acls(t, 0o40770, fake_super=False) == (full, default)
            write_acl(t, None, default=True, fake_super=False)
            write_acl(t, None, default=True, fake_super=False)  # absent: no error
            assert read_acls(t, 0o40770, fake_super=False)[1] == EMPTY
            # a fake-super reader sees no records: empty ACLs
            assert read_acls(t, 0o40770, fake_super=True) == (EMPTY, EMPTY)
        assert parse_xattr(os.getxattr(d, "system.posix_acl_access")) == full
        # a symlink in the destination is never followed
        os.symlink("d", tmp_path / "link")
        with pytest.raises(OSError, match="symbolic links"), target(dfd, b"link", 0o40750) as t:
            write_acl(t, format_xattr(full), default=False, fake_super=False)
        # nor when the name cannot be opened and the call goes by /proc (a FIFO-less
        # type such as a device here): lsetxattr on a symlink takes no ACL
        with (
            pytest.raises(OSError, match=r"not (supported|permitted)"),
            target(dfd, b"link", 0o20600) as t,
        ):
            write_acl(t, format_xattr(full), default=False, fake_super=False)
    finally:
        os.close(dfd)


def test_differ_and_set(tmp_path: Path) -> None:
    from rsync_wire.fs_write import DestTree

    (tmp_path / "f").write_bytes(b"x")
    os.chmod(tmp_path / "f", 0o640)
    acls = _receiving({})
    sent = RsyncAcl(NO_ENTRY, NO_ENTRY, NO_ENTRY, NO_ENTRY, (IdAccess(4001, 6 | NAME_IS_USER),))
    sent = RsyncAcl(NO_ENTRY, NO_ENTRY, 4, NO_ENTRY, sent.names)
    entry = FileEntry(name=b"f", mode=0o100640, size=1, acl=sent)
    tree = DestTree(str(tmp_path).encode())
    try:
        assert acls.differ(tree, b"f", entry, 0o100640)
        changed, mode, errors = acls.set_on(tree, b"f", entry, 0o100640, 0o100640)
        if errors and "not supported" in errors[0]:
            pytest.skip(errors[0])
        assert (changed, mode, errors) == (True, 0o100640, [])
        acls.forget()
        assert not acls.differ(tree, b"f", entry, 0o100640)
    finally:
        tree.close()


def test_xattrat_calls_without_proc(tmp_path: Path) -> None:
    """Where /proc is out of sight, the *xattrat calls reach a name under its parent."""
    from rsync_wire.roles.acl_fs import _Target

    (tmp_path / "d").mkdir()
    os.symlink("d", tmp_path / "link")
    full = RsyncAcl(7, 5, 7, 0, (IdAccess(4001, 7 | NAME_IS_USER),))
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        t = _Target(None, None, at=(dfd, b"d"))
        try:
            write_acl(t, format_xattr(full), default=False, fake_super=False)
        except OSError as exc:
            pytest.skip(f"no *xattrat calls or no ACLs here: {exc}")
        assert read_acls(t, 0o40770, fake_super=False)[0] == full
        write_acl(t, None, default=True, fake_super=False)
        link = _Target(None, None, at=(dfd, b"link"))
        with pytest.raises(OSError, match=r"not (supported|permitted)"):
            write_acl(link, format_xattr(full), default=False, fake_super=False)
    finally:
        os.close(dfd)
