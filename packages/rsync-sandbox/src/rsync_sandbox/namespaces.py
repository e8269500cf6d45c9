"""Mount (and optionally PID) namespace: an empty root holding only the modules.

How this works (as root, or with CAP_SYS_ADMIN; the order follows gokrazy/rsync):

1. Every source path (modules, extra read-only paths) is opened with ``O_PATH`` first,
   so that later mounts cannot change what a path refers to; the binds use
   ``/proc/self/fd/N`` as their source.
2. With ``pid_namespace=True``: ``unshare(CLONE_NEWPID)`` and ``fork``. A new PID
   namespace only ever applies to *children* of the caller, so the caller becomes a
   waiter: it closes every descriptor but 0, 1 and 2, forwards SIGTERM, SIGINT,
   SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the child, and exits with the child's status
   (it never returns). The child is PID 1 of the new namespace and carries on. As PID 1
   it ignores signals it has no handler for (SIGTERM included): install handlers.
3. ``unshare(CLONE_NEWNS)``, then ``mount --make-rprivate /`` so that nothing mounted
   from here on propagates back to the host.
4. A small tmpfs (``nosuid,nodev,noexec``) is mounted on a fresh temporary directory;
   it becomes the new root. Each read-only module is bind-mounted (non-recursively: a
   mount below the module path shows as an empty directory, never as a writable
   tree) at ``/<name>/module`` and remounted ``ro,nosuid,nodev,noexec``; read-write
   modules the same without ``ro``. One level down, so that `attach_module` can later
   put another directory there (a module path removed and made anew, one missing at
   start-up) under Landlock rules that stay on ``/<name>`` (`LATE_MOUNT_POINT`). Each
   extra read-only path is bound at its own absolute path,
   ``ro,nosuid,nodev`` but *not* ``noexec`` (the interpreter maps extension modules
   executable). A bind remount cannot set ``ro`` in the same call as the bind, hence
   two calls; atime flags of the source mount are kept.
5. ``pivot_root(new, new/.old-root)``, ``chdir("/")``, remove the temporary directory
   (now unmounted) through the old root, ``umount2(MNT_DETACH)`` the old root and remove
   its mount point. Where ``pivot_root`` fails with ``EINVAL`` (for example when ``/``
   is an initramfs), ``chroot`` is used instead: weaker, since a root process could
   break out, which is why privileges are dropped next.
6. The new root itself is remounted ``ro,nosuid,nodev,noexec``.
7. Self-check: ``/`` lists exactly the modules (and the first components of the extra
   paths), the read-only modules and ``/`` are on read-only mounts; else
   `SandboxViolation`.

After step 5 nothing outside the new root is reachable by path, including the
interpreter's own files: everything the process needs later must already be imported
and opened, or listed as an extra read-only path. ``/proc``, ``/dev`` and ``/etc`` are
absent unless listed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import sys
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, NoReturn

from rsync_sandbox import _libc
from rsync_sandbox._process import ensure_single_threaded
from rsync_sandbox.errors import SandboxError, SandboxUnavailable, SandboxViolation

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

__all__ = [
    "LATE_MOUNT_POINT",
    "NamespaceResult",
    "attach_module",
    "bind_mount",
    "confine_filesystem",
    "enter_mount_namespace",
    "fork_into_pid_namespace",
    "make_mounts_private",
    "pivot_to",
    "validate_module_name",
]

_OLD_ROOT: Final = ".old-root"
LATE_MOUNT_POINT: Final = "module"
"""Where every module is bound: ``/<name>/module``. Landlock skips a mount point's own
rules (it is hidden by the mount), so the rules go on ``/<name>`` above it, and hold for
whatever `attach_module` binds there later."""
_FORWARDED_SIGNALS: Final = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
# statvfs f_flag bits to keep on a remount, with their mount(2) counterparts.
_KEPT_FLAGS: Final = (
    (os.ST_NOSUID, _libc.MS_NOSUID),
    (os.ST_NODEV, _libc.MS_NODEV),
    (os.ST_NOEXEC, _libc.MS_NOEXEC),
    (os.ST_NOATIME, _libc.MS_NOATIME),
    (os.ST_NODIRATIME, _libc.MS_NODIRATIME),
    (os.ST_RELATIME, _libc.MS_RELATIME),
)


@dataclass(frozen=True, slots=True)
class NamespaceResult:
    """What `confine_filesystem` built.

    Attributes:
        module_paths: module name to its path inside the new root
            (``/<name>/module``).
        rule_paths: module name to the directory above it (``/<name>``), where Landlock
            rules for the module must go (`LATE_MOUNT_POINT`).
        extra_paths: the extra read-only paths bound at their own (normalized) path.
        pivoted: True after ``pivot_root``, False after the ``chroot`` fallback.
        pid_namespace: the process is PID 1 of a new PID namespace.
        warnings: things a start-up log should mention.
    """

    module_paths: Mapping[str, str] = field(hash=False)
    extra_paths: tuple[str, ...]
    pivoted: bool
    pid_namespace: bool
    warnings: tuple[str, ...]
    rule_paths: Mapping[str, str] = field(hash=False, default_factory=dict)


def validate_module_name(name: str) -> None:
    """Check that ``name`` can be a directory name at the new root.

    Raises:
        SandboxError: ``name`` is empty, ``.``, ``..``, ``.old-root`` or contains ``/``
            or NUL.
    """
    if name in ("", ".", "..", _OLD_ROOT) or "/" in name or "\0" in name:
        msg = f"module name {name!r} cannot be a directory name: expected no '/', NUL, '.', '..'"
        raise SandboxError(msg)


def enter_mount_namespace() -> None:
    """Move this process into a new mount namespace whose mounts are all private.

    Raises:
        SandboxUnavailable: the kernel lacks mount namespaces, or the process lacks
            the privilege to create one.
        SandboxError: the process is multi-threaded or a mount call failed.
    """
    ensure_single_threaded()
    try:
        _libc.unshare(_libc.CLONE_NEWNS)
    except OSError as exc:
        msg = f"cannot create a mount namespace: {exc}"
        raise SandboxUnavailable(msg) from exc
    make_mounts_private()


def make_mounts_private() -> None:
    """Stop mount propagation both ways for every mount (``MS_REC | MS_PRIVATE`` on ``/``).

    Raises:
        SandboxError: the mount call failed.
    """
    try:
        _libc.mount(None, "/", None, _libc.MS_REC | _libc.MS_PRIVATE, None)
    except OSError as exc:
        msg = f"cannot make mounts private: {exc}"
        raise SandboxError(msg) from exc


def bind_mount(source: str, target: str, *, read_only: bool, noexec: bool = True) -> None:
    """Bind ``source`` on ``target`` (non-recursively), then remount it restricted.

    The remount always adds ``nosuid,nodev``, adds ``ro`` and ``noexec`` as asked, and
    keeps those and the atime flags where the source mount already had them.

    Args:
        source: what to bind (a path, or ``/proc/self/fd/N`` for an open descriptor).
        target: an existing directory (or file, for a file source).
        read_only: remount read-only.
        noexec: remount ``noexec``.

    Raises:
        SandboxError: a mount call failed.
    """
    try:
        _libc.mount(source, target, None, _libc.MS_BIND, None)
        _restrict(target, read_only=read_only, noexec=noexec)
    except OSError as exc:
        msg = f"cannot bind {source!r} on {target!r}: {exc}"
        raise SandboxError(msg) from exc


def _restrict(target: str, *, read_only: bool, noexec: bool) -> None:
    """Remount the bind mount at ``target`` with `bind_mount`'s flags (raises OSError)."""
    current = os.statvfs(target).f_flag
    flags = _libc.MS_BIND | _libc.MS_REMOUNT | _libc.MS_NOSUID | _libc.MS_NODEV
    if read_only:
        flags |= _libc.MS_RDONLY
    if noexec:
        flags |= _libc.MS_NOEXEC
    for st_flag, ms_flag in _KEPT_FLAGS:
        if current & st_flag:
            flags |= ms_flag
    _libc.mount(None, target, None, flags, None)


def attach_module(source: str, name: str, *, pid: int, read_only: bool) -> str:
    """Bind ``source`` on the mount point ``/<name>/module`` in ``pid``'s namespace.

    A daemon resolves its module paths for each connection, as rsync does: a module whose
    path did not exist when the daemon confined itself has an empty mount point there
    (`confine_filesystem`'s ``pending``), and a module directory removed and made anew
    since is still the old one there. Every process of the namespace may already read
    (or write) below ``/<name>`` (`LATE_MOUNT_POINT` says why one level down); this puts
    ``source`` there, non-recursively and restricted as `bind_mount` does. A mount point
    that already holds ``source`` is left as it is; one that holds another directory has
    that mount detached first (lazily: a connection still inside it keeps it until it
    ends). Concurrent callers for the same module must be serialized by the caller.

    Call it as root in a throwaway single-threaded process: it moves the caller into
    that mount namespace for good. ``source`` must be a real path (no symbolic link in
    it; the caller checks whose links it followed), and it is opened before anything
    else, so that nothing swapped in afterwards is bound.

    Args:
        source: the module's path on the host.
        name: the module's name (its mount point at the namespace's root).
        pid: a process in the namespace, as this process sees it.
        read_only: bind read-only.

    Returns:
        The module's path in the namespace (``/<name>/module``).

    Raises:
        SandboxError: anything failed (nothing is attached then).
    """
    validate_module_name(name)
    ensure_single_threaded()
    target = f"/{name}/{LATE_MOUNT_POINT}"
    try:
        fd = os.open(source, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            if os.readlink(f"/proc/self/fd/{fd}") != os.path.normpath(source):
                msg = f"{source!r} changed while it was opened"
                raise SandboxError(msg)
            found = os.fstat(fd)
            wanted = (found.st_dev, found.st_ino)
            tree = _libc.open_tree(
                fd, "", _libc.OPEN_TREE_CLONE | _libc.OPEN_TREE_CLOEXEC | _libc.AT_EMPTY_PATH
            )
        finally:
            os.close(fd)
        ns = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _libc.setns(ns, _libc.CLONE_NEWNS)
        finally:
            os.close(ns)
        point = os.stat(target, follow_symlinks=False)
        if point.st_dev != os.stat(f"/{name}").st_dev:
            if (point.st_dev, point.st_ino) == wanted:
                os.close(tree)
                return target  # attached by an earlier connection, or at start-up
            _libc.umount2(target, _libc.MNT_DETACH)  # the module path names another dir now
            point = os.stat(target, follow_symlinks=False)
        if (
            point.st_dev != os.stat(f"/{name}").st_dev
            or not stat.S_ISDIR(point.st_mode)
            or (os.listdir(target))
        ):
            os.close(tree)
            msg = f"{target!r} is not an empty mount point"
            raise SandboxError(msg)
        _libc.move_mount(tree, "", _libc.AT_FDCWD, target, _libc.MOVE_MOUNT_F_EMPTY_PATH)
        os.close(tree)
        _restrict(target, read_only=read_only, noexec=True)
    except OSError as exc:
        msg = f"cannot attach {source!r} at {target!r}: {exc}"
        raise SandboxError(msg) from exc
    if read_only and not os.statvfs(target).f_flag & os.ST_RDONLY:
        msg = f"module {name!r} at {target!r} is not on a read-only mount"
        raise SandboxViolation(msg)
    return target


def fork_into_pid_namespace() -> None:
    """Continue as PID 1 of a new PID namespace; the caller waits and exits.

    Returns only in the child. The parent closes its descriptors except 0 to 2,
    forwards the usual termination and user signals, waits, and exits with the child's
    status (or is killed by the same signal). Call it in a single-threaded process.

    Raises:
        SandboxUnavailable: the kernel lacks PID namespaces or the process lacks the
            privilege.
    """
    ensure_single_threaded()
    try:
        _libc.unshare(_libc.CLONE_NEWPID)
    except OSError as exc:
        msg = f"cannot create a PID namespace: {exc}"
        raise SandboxUnavailable(msg) from exc
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    # Held back across the fork: PID 1 drops a signal it has no handler for when it is
    # sent, so one forwarded before the child has handlers would be lost, and the waiter
    # would wait for ever; a blocked signal is queued instead, and delivered once both
    # sides have their handlers.
    forwarded = set(_FORWARDED_SIGNALS)
    signal.pthread_sigmask(signal.SIG_BLOCK, forwarded)
    child = os.fork()
    if child == 0:
        for signum in _FORWARDED_SIGNALS:
            signal.signal(signum, _end_as_pid1)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, forwarded)
        return
    _wait_and_exit(child)


def _end_as_pid1(signum: int, _frame: object) -> None:
    """Until the caller installs its own: end as an ordinary process would on ``signum``.

    (PID 1 has no default action.) SIGINT is Python's KeyboardInterrupt, as before the fork.
    """
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(128 + signum)


def _wait_and_exit(child: int) -> NoReturn:
    """In the waiter: forward signals to ``child``, then exit as it exited."""
    os.closerange(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    for signum in _FORWARDED_SIGNALS:
        signal.signal(signum, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, set(_FORWARDED_SIGNALS))
    try:
        _, status = os.waitpid(child, 0)
    except ChildProcessError:
        os._exit(1)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        os._exit(128 - code)
    os._exit(code)


def pivot_to(new_root: str, *, cleanup: str | None = None) -> bool:
    """Make ``new_root`` (a mount point) the root, detach the old root, ``chdir("/")``.

    Args:
        new_root: the mount point to switch to.
        cleanup: a directory of the old root to remove once it is no longer a mount
            point (the temporary mount point of ``new_root``), or None.

    Returns:
        True after ``pivot_root``; False after falling back to ``chroot`` (where
        ``pivot_root`` is impossible, for example on an initramfs root).

    Raises:
        SandboxError: neither worked.
    """
    put_old = os.path.join(new_root, _OLD_ROOT)
    try:
        os.mkdir(put_old, 0o700)
        try:
            _libc.pivot_root(new_root, put_old)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            os.rmdir(put_old)
            _libc.chroot(new_root)
            os.chdir("/")
            return False
        os.chdir("/")
        old = "/" + _OLD_ROOT
        if cleanup is not None:
            with contextlib.suppress(OSError):
                os.rmdir(old + cleanup)
        _libc.umount2(old, _libc.MNT_DETACH)
        os.rmdir(old)
    except OSError as exc:
        msg = f"cannot switch the root to {new_root!r}: {exc}"
        raise SandboxError(msg) from exc
    return True


@contextlib.contextmanager
def _opened(paths: Sequence[str], *, required: bool) -> Iterator[dict[str, int]]:
    """Open each path with ``O_PATH``; yield path to descriptor (missing optional ones left out)."""
    fds: dict[str, int] = {}
    try:
        for path in paths:
            try:
                fds[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                if required:
                    msg = f"cannot confine to {path!r}: it does not exist"
                    raise SandboxError(msg) from None
            except OSError as exc:
                msg = f"cannot open {path!r}: {exc}"
                raise SandboxError(msg) from exc
        yield fds
    finally:
        for fd in fds.values():
            os.close(fd)


def _make_target(fd: int, target: str) -> None:
    """Create the mount point ``target`` like the source behind ``fd`` (directory or file)."""
    if stat.S_ISDIR(os.fstat(fd).st_mode):
        os.makedirs(target, 0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))


def _minimal_extras(extra_read_only: Sequence[str]) -> list[str]:
    """The existing extras, normalized, without those inside another one, sorted.

    The paths are kept as given (a symbolic link such as ``/etc/localtime`` appears at
    its own path in the new root, as the file it points to); only the bind source
    follows links.
    """
    given = sorted({os.path.normpath(p) for p in extra_read_only if os.path.exists(p)})
    kept: list[str] = []
    for path in given:
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def _build_root(
    root: str,
    modules: Mapping[str, str],
    read_write: Mapping[str, str],
    module_fds: Mapping[str, int],
    extra_fds: Mapping[str, int],
    pending: Sequence[str] = (),
) -> dict[str, str]:
    """Mount the tmpfs on ``root`` and bind everything into it (step 4)."""
    try:
        _libc.mount(
            "tmpfs",
            root,
            "tmpfs",
            _libc.MS_NOSUID | _libc.MS_NODEV | _libc.MS_NOEXEC,
            "mode=0755,size=1m",
        )
    except OSError as exc:
        msg = f"cannot mount a tmpfs for the new root on {root!r}: {exc}"
        raise SandboxError(msg) from exc
    module_paths: dict[str, str] = {}
    for name, path in modules.items():
        fd = module_fds[path]
        target = os.path.join(root, name, LATE_MOUNT_POINT)
        _make_target(fd, target)
        bind_mount(f"/proc/self/fd/{fd}", target, read_only=name not in read_write)
        module_paths[name] = f"/{name}/{LATE_MOUNT_POINT}"
    for name in pending:  # an empty mount point below /<name>, for `attach_module`
        os.makedirs(os.path.join(root, name, LATE_MOUNT_POINT), 0o755)
        module_paths[name] = f"/{name}/{LATE_MOUNT_POINT}"
    for path, fd in extra_fds.items():
        target = root + path
        _make_target(fd, target)
        bind_mount(f"/proc/self/fd/{fd}", target, read_only=True, noexec=False)
    return module_paths


def _verify_root(
    module_paths: Mapping[str, str], *, read_write: Mapping[str, str], extras: Sequence[str]
) -> None:
    """Check the new root: only the expected entries, read-only where it must be."""
    expected = set(module_paths) | {e.split("/")[1] for e in extras}
    seen = set(os.listdir("/"))
    if seen != expected:
        msg = f"the new root shows {sorted(seen)}, expected only {sorted(expected)}"
        raise SandboxViolation(msg)
    for name, path in module_paths.items():
        if name not in read_write and not os.statvfs(path).f_flag & os.ST_RDONLY:
            msg = f"module {name!r} at {path!r} is not on a read-only mount"
            raise SandboxViolation(msg)
    if not os.statvfs("/").f_flag & os.ST_RDONLY:
        msg = "the new root is not mounted read-only"
        raise SandboxViolation(msg)


def confine_filesystem(
    *,
    read_only: Mapping[str, str],
    read_write: Mapping[str, str] | None = None,
    extra_read_only: Sequence[str] = (),
    pid_namespace: bool = False,
    pending: Sequence[str] = (),
) -> NamespaceResult:
    """Replace the file system view with a read-only root holding only the modules.

    Runs steps 1 to 7 of the module docstring. Privileges are not dropped here.

    Args:
        read_only: module name to host path, bound read-only at ``/<name>/module``.
        read_write: module name to host path, bound read-write at ``/<name>/module``.
        extra_read_only: host paths bound read-only at their own path, for
            example the Python installation; missing ones are skipped.
        pid_namespace: also enter a new PID namespace (this forks; see the module
            docstring).
        pending: names of modules whose path does not exist yet: each gets an empty
            mount point at ``/<name>/module`` (on the read-only root) for
            `attach_module`.

    Returns:
        Where each module ended up (pending ones included), and how.

    Raises:
        SandboxUnavailable: namespaces cannot be created here (nothing was changed).
        SandboxError: a name or path is unusable, or a later step failed (the process
            is then half-confined and must exit).
        SandboxViolation: the self-check of step 7 failed.
    """
    rw = dict(read_write or {})
    modules = {**read_only, **rw}
    if set(pending) & set(modules) or len(set(pending)) != len(pending):
        msg = f"pending modules {sorted(pending)} repeat a name"
        raise SandboxError(msg)
    if len(modules) != len(read_only) + len(rw):
        msg = f"module names {sorted(set(read_only) & set(rw))} are both read-only and read-write"
        raise SandboxError(msg)
    for name in (*modules, *pending):
        validate_module_name(name)
    extras = _minimal_extras(extra_read_only)
    clashes = sorted({e.split("/")[1] for e in extras if e != "/"} & {*modules, *pending})
    if "/" in extras or clashes:
        msg = f"extra read-only paths {extras} clash with module names {clashes} at the new root"
        raise SandboxError(msg)
    for path in modules.values():
        if not os.path.exists(path):
            msg = f"cannot confine to {path!r}: it does not exist"
            raise SandboxError(msg)
    ensure_single_threaded()
    if pid_namespace:
        fork_into_pid_namespace()
    enter_mount_namespace()
    # Open the sources only now: a bind source must be a mount of this namespace.
    with (
        _opened(list(modules.values()), required=True) as module_fds,
        _opened(extras, required=False) as extra_fds,
    ):
        import tempfile

        tmp = tempfile.mkdtemp(prefix="rsync-sandbox-root-")
        try:
            module_paths = _build_root(tmp, modules, rw, module_fds, extra_fds, pending)
        except BaseException:
            with contextlib.suppress(OSError):
                _libc.umount2(tmp, _libc.MNT_DETACH)
            with contextlib.suppress(OSError):
                os.rmdir(tmp)
            raise
    pivoted = pivot_to(tmp, cleanup=tmp)
    warnings: list[str] = []
    if not pivoted:
        warnings.append("pivot_root impossible here (EINVAL): fell back to chroot")
    try:
        _libc.mount(
            None,
            "/",
            None,
            _libc.MS_BIND
            | _libc.MS_REMOUNT
            | _libc.MS_RDONLY
            | _libc.MS_NOSUID
            | _libc.MS_NODEV
            | _libc.MS_NOEXEC,
            None,
        )
    except OSError as exc:
        msg = f"cannot remount the new root read-only: {exc}"
        raise SandboxError(msg) from exc
    _verify_root(module_paths, read_write=rw, extras=tuple(extra_fds))
    return NamespaceResult(
        module_paths=MappingProxyType(module_paths),
        rule_paths=MappingProxyType({name: "/" + name for name in module_paths}),
        extra_paths=tuple(extra_fds),
        pivoted=pivoted,
        pid_namespace=pid_namespace,
        warnings=tuple(warnings),
    )
