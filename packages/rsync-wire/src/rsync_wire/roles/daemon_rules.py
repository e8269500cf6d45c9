"""A daemon module's own filter rules: the one check every name the daemon serves passes.

The rules come from the module's ``filter``, ``include from``, ``include``, ``exclude
from`` and ``exclude`` parameters and see paths relative to the module root, whatever
the client's arguments, protocol, recursion mode or ``--relative`` (a rule with a slash
is anchored at the module root). A hidden name behaves as a name that does not exist:
it is never listed, never sent, a merge file it names is never read, and an argument
naming it or a directory above it fails with ``ENOENT``, exactly as a missing one.

This module only decides; it does no I/O.

rsync: exclude.c name_is_excluded() (daemon_filter_list), flist.c
path_is_daemon_excluded(), change_pathname(); clientserver.c rsync_module().
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rsync_wire.proto.filters import FilterList

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from rsync_wire.proto.filters import ReadFile
    from rsync_wire.roles.module import ModuleContext

__all__ = ["DaemonRules", "add_server_rules", "module_path"]


def module_path(path: bytes) -> bytes:
    """``path`` as the module's rules see it: relative, without ``.``, ``..`` or ``//``.

    ``..`` components never climb above the module root (the sender refuses them before
    any name is opened; this only keeps the check from being fooled).
    """
    parts: list[bytes] = []
    for comp in path.split(b"/"):
        if not comp or comp == b".":
            continue
        if comp == b"..":
            if parts:
                parts.pop()
            continue
        parts.append(comp)
    return b"/".join(parts)


class DaemonRules:
    """The module's rule chain (rsync's daemon_filter_list).

    Args:
        rules: the chain, built by :meth:`for_module`.
    """

    __slots__ = ("rules",)

    def __init__(self, rules: FilterList) -> None:
        self.rules = rules

    @classmethod
    def for_module(cls, module: ModuleContext | None, *, protocol: int) -> DaemonRules | None:
        """The module's chain, or ``None`` when the module has no rules (or no module).

        Raises:
            FilterError: a rule in the module's parameters does not parse.
        """
        if module is None:
            return None
        m = module
        if not (
            m.daemon_filter
            or m.daemon_include
            or m.daemon_exclude
            or m.daemon_include_from
            or m.daemon_exclude_from
        ):
            return None
        rules = FilterList.from_daemon_config(
            filter=m.daemon_filter or None,
            include_from=m.daemon_include_from or None,
            include=m.daemon_include or None,
            exclude_from=m.daemon_exclude_from or None,
            exclude=m.daemon_exclude or None,
            protocol=protocol,
        )
        if not rules:
            return None
        return cls(rules)

    def hides(self, path: bytes, *, is_dir: bool) -> bool:
        """Whether the name at ``path`` (relative to the module root) is hidden.

        The module root itself is never hidden.

        rsync: exclude.c name_is_excluded() (its daemon_filter_list check).
        """
        rel = module_path(path)
        if not rel:
            return False
        return self.rules.excluded(rel, is_dir=is_dir)

    def hidden_dir(self, path: bytes, *, include_last: bool = True) -> bytes | None:
        """The first directory on the way to ``path`` that is hidden, or ``None``.

        Every leading component is checked as a directory; with ``include_last`` the last
        one is too (``path`` names a directory about to be entered).

        rsync: flist.c path_is_daemon_excluded().
        """
        parts = module_path(path).split(b"/")
        if parts == [b""]:
            return None
        stop = len(parts) if include_last else len(parts) - 1
        for k in range(1, stop + 1):
            prefix = b"/".join(parts[:k])
            if self.rules.excluded(prefix, is_dir=True):
                return prefix
        return None


def add_server_rules(
    flist: FilterList,
    rules: Iterable[tuple[str, str]],
    *,
    read_file: ReadFile,
    daemon: DaemonRules | None,
) -> None:
    """Add the ``--filter``/``--exclude``/``--include`` (``-from``) options a server got (``-M``).

    They come before the client's list, as rsync parses them with its options. A ``.``
    merge file they name is read with ``read_file`` (relative to the module root; an
    absolute name is taken inside the module); one the module's rules hide reads as an
    empty file, neither an error nor an answer to "does it exist".

    Raises:
        FilterError: a rule that does not parse, or a merge file that does not exist.

    rsync: options.c parse_arguments() (OPT_FILTER, OPT_EXCLUDE, OPT_INCLUDE);
    exclude.c parse_filter_file() ("hidden by daemon filter").
    """

    def read(path: bytes) -> bytes | None:
        if daemon is not None and (
            daemon.hidden_dir(path, include_last=False) is not None
            or daemon.hides(path, is_dir=False)
        ):
            return b""
        return read_file(path)

    def exclude_from(value: bytes) -> None:
        # rsync: options.c OPT_EXCLUDE_FROM (a file of bare patterns, read inside the module)
        flist.add_filter(b"merge,- " + value)

    def include_from(value: bytes) -> None:
        flist.add_filter(b"merge,+ " + value)

    add: dict[str, Callable[[bytes], object]] = {
        "filter": flist.add_filter,
        "exclude": flist.add_exclude,
        "include": flist.add_include,
        "exclude-from": exclude_from,
        "include-from": include_from,
    }
    outer = flist.reader
    flist.reader = read
    try:
        for name, value in rules:
            add[name](value.encode("utf-8", "surrogateescape"))
    finally:
        flist.reader = outer
