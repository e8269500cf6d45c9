"""``-X`` on the receiving side: compare, request, receive and set extended attributes.

The generator and the receiver share one :class:`ReceivingXattrs`: the generator compares
each item with the sender's list, asks for the long values it lacks after the item's
iflags, and sets what it can on items that are not transferred; the receiver reads the
values the sender sends after its echo and sets the whole list on what it writes.

rsync: xattrs.c xattr_diff(), send_xattr_request(), recv_xattr_request(), set_xattr();
generator.c itemize(); receiver.c recv_files().
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rsync_wire.errors import RemoteProtocolError
from rsync_wire.proto.constants import Item
from rsync_wire.proto.xattrs import (
    XattrList,
    encode_request,
    make_list,
    receiver_local_wanted,
    receiver_view,
    resolve,
    xattr_diff,
)
from rsync_wire.roles.xattr_fs import apply_xattrs, apply_xattrs_to, read_xattrs

if TYPE_CHECKING:
    from rsync_wire.fs_write import DestTree
    from rsync_wire.proto.flist import FileEntry
    from rsync_wire.proto.negotiate import Session
    from rsync_wire.proto.options import TransferOptions
    from rsync_wire.stream import WireStream

_REPORT_XATTR = int(Item.REPORT_XATTR)
_TRANSFER = int(Item.TRANSFER)
_HLINK_ITEM = int(Item.XNAME_FOLLOWS | Item.LOCAL_CHANGE)


class ReceivingXattrs:
    """The receiving side's xattr state for one session."""

    def __init__(
        self, session: Session, opts: TransferOptions, *, am_root: bool, do_xfers: bool
    ) -> None:
        self.optim = session.xattr_optim
        self.am_root = am_root
        self.fake_super = opts.fake_super
        self.xx = opts.preserve_xattrs > 1
        self.do_xfers = do_xfers  # not -n (--only-write-batch transfers: rsync's do_xfers)
        self._views: dict[int, XattrList] = {}
        self._done: set[int] = set()  # lists whose long values were asked for (XSTATE_DONE)
        self._fetched: dict[tuple[int, int], bytes] = {}
        self._last: tuple[tuple[int, bytes], tuple[bool, list[int]]] | None = None

    def _local_wanted(self, name: bytes) -> bool:
        return receiver_local_wanted(name, am_root=self.am_root, fake_super=self.fake_super)

    def view(self, entry: FileEntry) -> XattrList:
        """The sender's list for ``entry`` as this side keeps it."""
        ndx = entry.xattr_ndx
        items = self._views.get(ndx)
        if items is None:
            items = receiver_view(
                entry.xattrs or (), am_root=self.am_root, fake_super=self.fake_super, xx=self.xx
            )
            self._views[ndx] = items
        return items

    def _local(self, tree: DestTree, rel: bytes, mode: int) -> XattrList:
        dfd, name = _parent(tree, rel)
        return make_list(read_xattrs(dfd, name, mode, self._local_wanted))

    def diff(
        self,
        tree: DestTree | None,
        rel: bytes,
        entry: FileEntry,
        mode: int | None,
        *,
        remember: bool = True,
    ) -> bool:
        """Whether ``rel`` (of type ``mode``; ``None``: new) needs attribute changes.

        Remembers which long values differ, for :meth:`request` (not for a basis tree's
        file: ``remember=False``).

        rsync: xattrs.c xattr_diff() (find_all).
        """
        key = (id(tree), rel)
        if self._last is not None and self._last[0] == key:
            return self._last[1][0]
        local: XattrList | None = None
        if mode is not None and tree is not None:
            try:
                local = self._local(tree, rel, mode)
            except OSError:
                local = ()
        result = xattr_diff(self.view(entry), local)
        if entry.xattr_ndx in self._done:
            result = (result[0], [])
        if remember:
            self._last = (key, result)
        return result[0]

    def forget(self) -> None:
        """The item is finished: the next :meth:`diff` reads the disk again."""
        self._last = None

    def request(self, entry: FileEntry, iflags: int) -> bytes | None:
        """What the generator writes after an item's iflags, if anything.

        rsync: generator.c itemize(), xattrs.c send_xattr_request(NULL, file, fd).
        """
        if not (self.do_xfers and iflags & (_REPORT_XATTR | _TRANSFER)) or entry.xattrs is None:
            return None
        todo = self._last[1][1] if self._last is not None else []
        self._done.add(entry.xattr_ndx)
        if not iflags & _REPORT_XATTR or (self.optim and iflags & _HLINK_ITEM == _HLINK_ITEM):
            return None
        return encode_request(sorted(todo))

    def wants_reply(self, iflags: int) -> bool:
        """Whether the sender's echo of ``iflags`` carries xattr values."""
        return bool(
            self.do_xfers
            and iflags & _REPORT_XATTR
            and not (self.optim and iflags & _HLINK_ITEM == _HLINK_ITEM)
        )

    async def read_reply(self, ws: WireStream, entry: FileEntry) -> None:
        """Read the values the sender sent after its echo.

        rsync: xattrs.c recv_xattr_request() (receiver side).
        """
        items = {x.num: x for x in entry.xattrs or ()}
        num = 0
        while rel := await ws.read_varint():
            num += rel
            item = items.get(num)
            if item is None or not item.abbreviated:
                msg = f"[receiver] could not find xattr #{num}"
                raise RemoteProtocolError(msg)
            length = await ws.read_varint()
            if not 0 <= length <= 128 * 1024 * 1024:
                msg = "xattr datum_len exceeds per-value limit [receiver]"
                raise RemoteProtocolError(msg)
            self._fetched[entry.xattr_ndx, num] = await ws.read_exact(length)

    def _want(
        self, entry: FileEntry, basis: tuple[DestTree, bytes, int] | None, *, cache: bool
    ) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
        """The values to set, and the long ones missing.

        ``cache``: the receiver keeps long values the basis had for later files with the
        same list (rsync: the generator's stay abbreviated).
        """
        ndx = entry.xattr_ndx
        local: dict[bytes, bytes] | None = None

        def from_basis(name: bytes) -> bytes | None:
            nonlocal local
            if basis is None:
                return None
            if local is None:
                tree, rel, mode = basis
                try:
                    dfd, base = _parent(tree, rel)
                    local = dict(read_xattrs(dfd, base, mode, self._local_wanted))
                except OSError:
                    local = {}
            return local.get(name)

        want, missing = resolve(
            self.view(entry), lambda num: self._fetched.get((ndx, num)), from_basis
        )
        if cache:
            values = dict(want)
            for item in self.view(entry):
                if item.abbreviated and item.name in values:
                    self._fetched.setdefault((ndx, item.num), values[item.name])
        return want, missing

    def set_on(
        self, tree: DestTree, rel: bytes, entry: FileEntry, mode: int, *, generator: bool
    ) -> list[str]:
        """Set ``entry``'s list on the existing ``rel`` (its own values are the basis).

        The generator leaves long values it lacks for the receiver (they come on request).

        rsync: xattrs.c set_xattr() from rsync.c set_file_attrs().
        """
        if entry.xattrs is None:
            return []
        want, missing = self._want(entry, (tree, rel, mode), cache=not generator)
        errors = [] if generator else [_missing(n, rel) for n in missing]
        skip = {x.name for x in self.view(entry)}
        try:
            dfd, name = _parent(tree, rel)
            errors += apply_xattrs(
                dfd,
                name,
                mode,
                want,
                lambda n: n not in skip and self._local_wanted(n),
                fix_perms=not self.am_root,
            )
        except OSError as exc:
            where = rel.decode("utf-8", "backslashreplace")
            errors.append(f'set_xattr: "{where}" failed: {exc.strerror} ({exc.errno})')
        return errors

    def set_on_fd(
        self, fd: int, rel: bytes, entry: FileEntry, basis: tuple[DestTree, bytes, int] | None
    ) -> list[str]:
        """Set ``entry``'s list on the new file open at ``fd``.

        Long values it was not sent come from ``basis`` (tree, name, mode) when they match.
        """
        if entry.xattrs is None:
            return []
        want, missing = self._want(entry, basis, cache=True)
        errors = [_missing(n, rel) for n in missing]
        skip = {x.name for x in self.view(entry)}
        errors += apply_xattrs_to(
            fd, want, lambda n: n not in skip and self._local_wanted(n), fix_perms=False
        )
        return errors

    def copy_from(
        self, tree: DestTree, rel: bytes, mode: int, dest: int | tuple[DestTree, bytes]
    ) -> list[str]:
        """Copy the attributes of a basis (``tree``/``rel``) onto ``dest``.

        ``dest`` is an open file, or the same name in another tree.

        rsync: xattrs.c copy_xattrs() (generator.c gen_entry_copy_xattrs()).
        """
        try:
            dfd, name = _parent(tree, rel)
            pairs = read_xattrs(dfd, name, mode, self._local_wanted)
            if isinstance(dest, int):
                return apply_xattrs_to(dest, pairs, lambda _n: False, fix_perms=False)
            dfd, name = _parent(dest[0], dest[1])
            return apply_xattrs(dfd, name, mode, pairs, lambda _n: False, fix_perms=False)
        except OSError as exc:
            return [f"copy_xattrs: {exc.strerror} ({exc.errno})"]


def _missing(name: bytes, rel: bytes) -> str:
    shown = name.decode("utf-8", "backslashreplace")
    where = rel.decode("utf-8", "backslashreplace")
    return f"Missing abbreviated xattr value, {shown}, for {where}"


def _parent(tree: DestTree, rel: bytes) -> tuple[int, bytes]:
    if not rel or rel == b".":
        return tree.fd, b"."
    return tree.parent(rel)
