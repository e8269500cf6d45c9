"""The client confines itself with Landlock once its connection is up, to what it was asked.

:func:`landlock_rules` is the one place that turns a parsed command line into rules:
the process may write only below the destination (and the other places an option
names for writing), and read only the destination, its local sources, the files and
trees the options name, the Python installation (for imports that happen later) and
the few files of ``/etc`` that user and group names need. A compromised or buggy
receiving side then cannot touch anything else. :data:`PATH_OPTIONS` says, for every
rsync option that names a local path, what the transfer does there; a unit test checks
it against the client's option table, so an option that starts to be accepted cannot
be forgotten here.

Three rules are wider than the ideal, because of when things become known:

- ``--copy-links``/``-L``, ``--copy-unsafe-links`` and ``--copy-dirlinks`` on *local*
  sources follow symbolic links wherever they point, as rsync does: reading is allowed
  everywhere (writing still only below the destination). For a pull the remote side
  follows them, and nothing is added.
- A *local copy* with a per-directory merge rule (``-F``, ``dir-merge``/``:``) reads
  merge files whose names are known only during the walk: ``-F``'s ``/.rsync-filter``
  is looked for in every parent of the source, and a merge file in the source tree may
  name one anywhere (``: ../rules``, ``. /etc/rsync/common``). rsync reads them all, so
  reading is allowed everywhere (writing still only below the destination). Both roles
  are the user's own process and nothing read goes to a peer; rule text from a file is
  never shown in a message (rsync_wire.proto.filters), so an unparsable one says only
  where it came from. A pull gets nothing of this: there the remote server writes the
  destination tree, whose merge files the receiver reads only inside that tree (a rule
  naming ``/etc/shadow`` finds it unreadable), and the sources are not local. A push
  reads only what the user's own tree and command line name, but is left as it was
  until a case needs it.
- A destination that does not exist yet is created (or written as a single file) only
  once the file list is known: its parent directory is granted instead.

Landlock rules are per thread and inherited: the event loop's thread is confined, and
threads started afterwards (file writes) inherit it. ``--no-sandbox`` turns this off;
on a kernel without Landlock the client goes on with a note at ``-vv``.
"""

from __future__ import annotations

import enum
import grp
import os
import pwd
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from rsync_client.options import merge_file_names
from rsync_sandbox import SandboxError, python_runtime_paths
from rsync_sandbox.landlock import restrict
from rsync_wire.roles.scan import cvsignore_sources

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from rsync_client.options import ClientOptions

__all__ = [
    "NON_PATH_OPTIONS",
    "PATH_OPTIONS",
    "LandlockRules",
    "PathUse",
    "confine_client",
    "landlock_rules",
]

_NSS_FILES: Final = ("/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/localtime")


class PathUse(enum.Enum):
    """What a transfer does with a path an option names (relative ones as rsync resolves them)."""

    READ_FILE = "read a file"  # relative to the current directory
    READ_DEST_TREE = "read a tree"  # relative to the destination directory
    LINK_DEST_TREE = "hard-link from a tree"  # relative to the destination directory
    WRITE_DEST_TREE = "write a tree"  # relative to the destination directory
    WRITE_FILE = "write a file"  # relative to the current directory, created if missing
    WRITE_FILES_BESIDE = "write files beside it"  # FILE and FILE.sh (batch files)
    BEFORE = "opened before confinement"  # the password file (a secret), the log: no rule
    PROGRAM = "a program started before confinement"  # -e, --rsync-path: no rule
    REMOTE = "a path on the remote side"  # no rule


PATH_OPTIONS: Final[dict[str, PathUse]] = {
    # rsync: options.c long_options, every option whose argument is a path.
    "files-from": PathUse.READ_FILE,
    "exclude-from": PathUse.READ_FILE,
    "include-from": PathUse.READ_FILE,
    "filter": PathUse.READ_FILE,  # its "merge FILE" / ". FILE" rules
    "read-batch": PathUse.READ_FILE,
    "early-input": PathUse.READ_FILE,
    "compare-dest": PathUse.READ_DEST_TREE,
    "copy-dest": PathUse.READ_DEST_TREE,
    "link-dest": PathUse.LINK_DEST_TREE,
    "backup-dir": PathUse.WRITE_DEST_TREE,
    "temp-dir": PathUse.WRITE_DEST_TREE,
    "partial-dir": PathUse.WRITE_DEST_TREE,  # a relative one lies in each destination dir
    "log-file": PathUse.BEFORE,  # opened (for appending) before confinement: no rule
    "write-batch": PathUse.WRITE_FILES_BESIDE,
    "only-write-batch": PathUse.WRITE_FILES_BESIDE,
    "password-file": PathUse.BEFORE,
    "rsh": PathUse.PROGRAM,
    "rsync-path": PathUse.REMOTE,
    "config": PathUse.REMOTE,  # only with --daemon, which pyrsync hands to pyrsyncd
}
"""Every rsync option whose argument names a path, and what the transfer does there."""

NON_PATH_OPTIONS: Final = frozenset(
    {
        # options with an argument that is not a local path
        "address",
        "block-size",
        "bwlimit",
        "cc",
        "checksum-choice",
        "checksum-seed",
        "chmod",
        "chown",
        "compress-choice",
        "compress-level",
        "compress-threads",
        "confine-root",  # a bound on where paths may resolve, not a path used
        "contimeout",
        "copy-as",
        "debug",
        "dparam",
        "exclude",
        "groupmap",
        "iconv",
        "include",
        "info",
        "log-file-format",
        "log-format",
        "max-alloc",
        "max-delete",
        "max-size",
        "min-size",
        "modify-window",
        "out-format",
        "outbuf",
        "port",
        "protocol",
        "remote-option",
        "skip-compress",
        "sockopts",
        "stderr",
        "stop-after",
        "stop-at",
        "suffix",
        "time-limit",
        "timeout",
        "usermap",
        "zc",
        "zl",
        "zt",
    }
)
"""Options with an argument that names no local path (checked against the option table)."""

_FOLLOWING_OPTIONS: Final = ("copy_links", "copy_unsafe_links", "copy_dirlinks")


@dataclass(frozen=True, slots=True)
class LandlockRules:
    """What the confined client may touch.

    Attributes:
        read_only: trees and files to read (each must exist).
        read_write: trees and files to read, write, create and remove below (each must exist).
        optional_read_only: trees and files to read if they exist (the Python runtime,
            ``/etc`` files for names, files the options name that may be gone).
    """

    read_only: tuple[str, ...]
    read_write: tuple[str, ...]
    optional_read_only: tuple[str, ...]


def _is_local(path: str) -> bool:
    from rsync_client.options import parse_location

    return parse_location(path).kind == "local"


def _existing_ancestor(path: str) -> str:
    """``path`` if it exists, else its nearest existing parent (rsync creates the rest)."""
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _dest_dir(dest: str) -> str:
    """The directory the destination's relative option paths start from (rsync's chdir)."""
    path = os.path.abspath(dest)
    if os.path.isdir(path) or dest.endswith("/") or not os.path.lexists(path):
        return path
    return os.path.dirname(path)


def _write_target(dest: str) -> str:
    """The tree the transfer writes in: the destination directory, else its parent.

    A missing destination becomes a directory, or a single file under its own name,
    only once the file list is known; an existing file is replaced by a rename in its
    directory.
    """
    path = os.path.abspath(dest)
    if os.path.isdir(path):
        return path
    return os.path.dirname(path.rstrip("/")) or "/"


def _option_values(opts: ClientOptions) -> list[tuple[str, str]]:
    """(option, path) for every path-naming option given, in :data:`PATH_OPTIONS` terms.

    Options the client refuses today have no field and give nothing; once one is
    accepted under its own name (``link_dest``, a string or a list of them), it is
    found here without a change.
    """
    out: list[tuple[str, str]] = []
    for kind, value in opts.filters:
        if kind in ("exclude-from", "include-from"):
            out.append((kind, value))
        elif kind == "filter":
            out.extend(("filter", name) for name in merge_file_names(value))
    if opts.alt_dest is not None:
        out.extend((opts.alt_dest, path) for path in opts.basis_dirs)
    for option in PATH_OPTIONS:
        if option in ("exclude-from", "include-from", "filter"):
            continue
        given: object = getattr(opts, option.replace("-", "_"), None)
        if isinstance(given, str):
            out.append((option, given))
        elif isinstance(given, list | tuple):
            out.extend((option, v) for v in given if isinstance(v, str))
    return out


def landlock_rules(
    opts: ClientOptions,
    sources: Sequence[str],
    dest: str | None,
    *,
    per_dir_merge: bool = False,
) -> LandlockRules:
    """Derive the Landlock rules from the parsed command line, and nothing more.

    Args:
        opts: the parsed options.
        sources: the local sources of a local copy (empty for a pull: they are remote).
        dest: the local destination (``None``: list only, nothing may be written).
        per_dir_merge: the filter rules (the command line's and the ``.`` merge files
            it names) include a per-directory merge rule; with local sources and a
            local destination (a local copy) reading is then allowed everywhere.

    Returns:
        The rules, with absolute paths; a read rule that lies in a writable tree is left
        out (the writable tree covers it, and Landlock's self-check would call it
        writable).
    """
    read: list[str] = []
    write: list[str] = []
    optional: list[str] = []
    local_sources = [os.path.abspath(s) for s in sources]
    if local_sources and any(getattr(opts, f, False) for f in _FOLLOWING_OPTIONS):
        read.append("/")  # links in a local source are followed wherever they point
    if local_sources and dest is not None and per_dir_merge:
        read.append("/")  # a local copy's per-directory merge files may lie anywhere
    read.extend(local_sources)
    if dest is not None:
        write.append(_write_target(dest))
    if opts.remove_source_files:  # the sender removes what it sent
        write.extend(s if os.path.isdir(s) else os.path.dirname(s) for s in local_sources)
    dest_dir = _dest_dir(dest) if dest is not None else os.getcwd()
    for option, value in _option_values(opts):
        use = PATH_OPTIONS[option]
        if value == "-" and use is PathUse.READ_FILE:
            continue  # standard input
        if use is PathUse.READ_FILE:
            if _is_local(value):
                optional.append(os.path.abspath(value))
        elif use in (PathUse.READ_DEST_TREE, PathUse.LINK_DEST_TREE, PathUse.WRITE_DEST_TREE):
            path = os.path.join(dest_dir, value)
            if use is PathUse.READ_DEST_TREE:
                optional.append(path)  # a missing one is only warned about
            else:
                # Writing, or hard-linking out of a tree (link(2) across directories
                # needs Landlock's REFER right there, which only read-write grants).
                write.append(_existing_ancestor(path))
        elif use is PathUse.WRITE_FILE:
            path = os.path.abspath(value)
            write.append(path if os.path.exists(path) else _existing_ancestor(path))
        elif use is PathUse.WRITE_FILES_BESIDE:
            write.append(_existing_ancestor(os.path.dirname(os.path.abspath(value))))
    write = _dedupe(write)
    runtime = [p for p in (*python_runtime_paths(), *loader_paths()) if p not in ("/", os.getcwd())]
    # Landlock grants what a rule's path resolves to: a read rule below a writable tree
    # that reaches outside it through a symlink (``--compare-dest=osl``, osl -> /elsewhere,
    # which rsync follows when the operator owns the link) is kept
    real_write = [os.path.realpath(w) for w in write]
    return LandlockRules(
        read_only=tuple(p for p in _dedupe(read) if not _covered(os.path.realpath(p), real_write)),
        read_write=tuple(write),
        optional_read_only=tuple(
            p
            for p in _dedupe([*optional, *runtime, *_NSS_FILES])
            if not _covered(os.path.realpath(p), real_write)
        ),
    )


def loader_paths() -> tuple[str, ...]:
    """Where the dynamic loader finds system libraries, which lazy imports need.

    These are the directories of the shared objects this process has mapped (libc's,
    libm's) and the loader's cache: numpy, imported after confinement, loads libstdc++
    and libgcc_s from there. They are public, read-only files.
    """
    dirs: dict[str, None] = {}
    try:
        with open("/proc/self/maps", "rb") as fh:
            for line in fh:
                path = line.rsplit(maxsplit=1)[-1].decode("utf-8", "surrogateescape")
                if path.startswith("/") and ".so" in path.rsplit("/", 1)[-1]:
                    dirs.setdefault(os.path.dirname(path), None)
    except OSError:
        pass
    return (*dirs, "/etc/ld.so.cache")


def _covered(path: str, trees: Iterable[str]) -> bool:
    return any(tree == "/" or os.path.commonpath([path, tree]) == tree for tree in trees)


def _dedupe(paths: Iterable[str]) -> list[str]:
    out: list[str] = []
    for path in paths:
        normal = os.path.normpath(path)
        if normal not in out:
            out.append(normal)
    return out


def _preloaded() -> str | None:
    """The dynamic loader variable that injects code into this process, if one is set."""
    for name in ("LD_PRELOAD", "LD_AUDIT"):
        if os.environ.get(name, "").strip():
            return name
    return None


def confine_client(
    opts: ClientOptions,
    sources: Sequence[str],
    dest: str | None,
    *,
    per_dir_merge: bool = False,
) -> str:
    """Restrict this process to what the command line asks for; returns a note for ``-vv``.

    Args:
        opts: the parsed options.
        sources: the local sources of a local copy (empty for a pull).
        dest: the local destination (``None``: list only).
        per_dir_merge: the filter rules include a per-directory merge rule (see
            :func:`landlock_rules`).

    Returns:
        A one-line description, or why nothing was confined.
    """
    preloaded = _preloaded()
    if preloaded:
        # Code the user loads into the process on purpose (a fault injector, fakeroot,
        # libeatmydata, a profiler) runs with the user's rights and writes where it
        # means to: confining it would make it fail silently (EACCES in the hook).
        return f"not confined: {preloaded} is set"
    # Load what later code needs while everything is still readable: the NSS modules
    # behind user and group names, the time zone. The delta engine stays a lazy import
    # (numpy costs ~17 MiB and ~0.1 s, and a no-op run never signs a basis): the system
    # libraries it loads from outside the Python installation stay readable (loader_paths).
    pwd.getpwuid(os.getuid())
    grp.getgrgid(os.getgid())
    time.localtime()
    cvsignore_sources(daemon=False)  # what a -C rule reads from $HOME, kept for later

    rules = landlock_rules(opts, sources, dest, per_dir_merge=per_dir_merge)
    try:
        status = restrict(
            read_only=rules.read_only,
            read_write=rules.read_write,
            optional_read_only=rules.optional_read_only,
            scope=False,  # the remote shell started before us must stay signalable
        )
    except SandboxError as exc:
        return f"not confined: {exc}"
    where = ", ".join(rules.read_write) or "nowhere"
    return f"confined with Landlock ABI {status.abi}: writes only below {where}"
