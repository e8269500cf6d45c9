"""Landlock: restrict the process's file system access to a few trees (best effort).

How this works:

1. `abi_version` asks the kernel which Landlock ABI it speaks
   (``landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)``); a kernel
   without Landlock raises `SandboxUnavailable`.
2. `restrict` creates a ruleset that *handles* every file system right the ABI knows
   (ABI 1: execute, read, write and the make/remove rights; 2: ``REFER``; 3:
   ``TRUNCATE``; 5: ``IOCTL_DEV``) and, on ABI 6 and later, the scopes (abstract
   unix sockets and signals to processes outside the domain). A handled right is
   denied everywhere unless a rule grants it below a path: read-only paths get
   ``READ_FILE | READ_DIR``; read-write paths get every handled right. Rights a newer
   kernel knows and this module does not stay unhandled (allowed), and so do the
   network rights of ABI 4 (``BIND_TCP``/``CONNECT_TCP``): the daemon accepts on a
   socket bound earlier and the client must connect, so rules about ports would
   confine little. Rules are added through ``O_PATH`` descriptors, so symbolic links
   in the given paths are followed once, here; a rule on a regular file keeps only the
   rights that apply to files.
3. It picks a probe path outside every allowed tree that is readable *now* (``/``
   unless ``/`` itself is allowed), sets ``no_new_privs`` (required unless the caller
   has CAP_SYS_ADMIN) and calls ``landlock_restrict_self``. The restriction is
   irreversible and inherited by every child.
4. It verifies the effect: opening the probe path for reading must now fail with
   ``EACCES``, no read-only path may be writable (a real create probe), and every
   read-only path must still be readable. A failure raises `SandboxViolation`.

`isolate` is the other use: a domain of its own for one process (a daemon's connection
process), handling no file right (the enclosing domain keeps deciding those), only TCP
``bind``/``connect`` (denied on every port, ABI 4) and the two scopes (ABI 6). Domains
stack: a process in such a nested domain cannot signal its parent or its siblings, each
in a nested domain of its own, while the parent can still signal it.

``landlock_restrict_self`` confines the calling thread only (before ABI 8's thread
sync): call this in a single-threaded process, before any thread or event loop starts.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from dataclasses import dataclass
from enum import IntFlag
from typing import TYPE_CHECKING, Final

from rsync_sandbox import _libc
from rsync_sandbox.errors import SandboxError, SandboxUnavailable, SandboxViolation
from rsync_sandbox.privileges import set_no_new_privs
from rsync_sandbox.writeprobe import check_writable

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "READ_ONLY_ACCESS",
    "WRITE_ACCESS",
    "AccessFs",
    "AccessNet",
    "LandlockStatus",
    "Scope",
    "abi_version",
    "handled_access_fs",
    "handled_access_net",
    "handled_scopes",
    "isolate",
    "restrict",
    "restrict_reads",
    "restrict_writes",
    "verify",
    "verify_isolated",
]


class AccessFs(IntFlag):
    """File system rights (``LANDLOCK_ACCESS_FS_*``), with the ABI that introduced each."""

    EXECUTE = 1 << 0  # LANDLOCK_ACCESS_FS_EXECUTE (ABI 1)
    WRITE_FILE = 1 << 1  # LANDLOCK_ACCESS_FS_WRITE_FILE
    READ_FILE = 1 << 2  # LANDLOCK_ACCESS_FS_READ_FILE
    READ_DIR = 1 << 3  # LANDLOCK_ACCESS_FS_READ_DIR
    REMOVE_DIR = 1 << 4  # LANDLOCK_ACCESS_FS_REMOVE_DIR
    REMOVE_FILE = 1 << 5  # LANDLOCK_ACCESS_FS_REMOVE_FILE
    MAKE_CHAR = 1 << 6  # LANDLOCK_ACCESS_FS_MAKE_CHAR
    MAKE_DIR = 1 << 7  # LANDLOCK_ACCESS_FS_MAKE_DIR
    MAKE_REG = 1 << 8  # LANDLOCK_ACCESS_FS_MAKE_REG
    MAKE_SOCK = 1 << 9  # LANDLOCK_ACCESS_FS_MAKE_SOCK
    MAKE_FIFO = 1 << 10  # LANDLOCK_ACCESS_FS_MAKE_FIFO
    MAKE_BLOCK = 1 << 11  # LANDLOCK_ACCESS_FS_MAKE_BLOCK
    MAKE_SYM = 1 << 12  # LANDLOCK_ACCESS_FS_MAKE_SYM
    REFER = 1 << 13  # LANDLOCK_ACCESS_FS_REFER (ABI 2)
    TRUNCATE = 1 << 14  # LANDLOCK_ACCESS_FS_TRUNCATE (ABI 3)
    IOCTL_DEV = 1 << 15  # LANDLOCK_ACCESS_FS_IOCTL_DEV (ABI 5)


class AccessNet(IntFlag):
    """Network rights (``LANDLOCK_ACCESS_NET_*``, ABI 4)."""

    BIND_TCP = 1 << 0  # LANDLOCK_ACCESS_NET_BIND_TCP
    CONNECT_TCP = 1 << 1  # LANDLOCK_ACCESS_NET_CONNECT_TCP


_NO_NET: Final = AccessNet(0)


class Scope(IntFlag):
    """IPC scopes (``LANDLOCK_SCOPE_*``, ABI 6)."""

    ABSTRACT_UNIX_SOCKET = 1 << 0  # LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
    SIGNAL = 1 << 1  # LANDLOCK_SCOPE_SIGNAL


_ABI1_ACCESS: Final = AccessFs(
    AccessFs.EXECUTE
    | AccessFs.WRITE_FILE
    | AccessFs.READ_FILE
    | AccessFs.READ_DIR
    | AccessFs.REMOVE_DIR
    | AccessFs.REMOVE_FILE
    | AccessFs.MAKE_CHAR
    | AccessFs.MAKE_DIR
    | AccessFs.MAKE_REG
    | AccessFs.MAKE_SOCK
    | AccessFs.MAKE_FIFO
    | AccessFs.MAKE_BLOCK
    | AccessFs.MAKE_SYM
)

# Rights that make sense on a rule for a regular file (the kernel rejects the others).
_FILE_ACCESS: Final = AccessFs(
    AccessFs.EXECUTE
    | AccessFs.WRITE_FILE
    | AccessFs.READ_FILE
    | AccessFs.TRUNCATE
    | AccessFs.IOCTL_DEV
)

READ_ONLY_ACCESS: Final = AccessFs(AccessFs.READ_FILE | AccessFs.READ_DIR)
"""What a read-only path grants: reading files and listing directories."""

# Probe paths for the self-check, tried in order: the first that lies outside every
# allowed tree and can be opened before the restriction.
_OUTSIDE_CANDIDATES: Final = ("/", "/proc/self", "/etc", "/sys", "/dev")


@dataclass(frozen=True, slots=True)
class LandlockStatus:
    """The Landlock domain `restrict` put in force.

    Attributes:
        abi: the kernel's Landlock ABI version.
        handled_access_fs: the file system rights the ruleset handles (denied unless granted).
        scoped: the IPC scopes in force (empty before ABI 6 or when not asked).
        read_only: paths granted `READ_ONLY_ACCESS`.
        read_write: paths granted every handled right.
        skipped: optional paths that did not exist and got no rule.
        verified_outside: the path whose reading was checked to fail, or None when
            every candidate lay inside an allowed tree (the check could not run).
        handled_access_net: the network rights the ruleset handles (denied on every
            port: no rule ever grants one).
    """

    abi: int
    handled_access_fs: AccessFs
    scoped: Scope
    read_only: tuple[str, ...]
    read_write: tuple[str, ...]
    skipped: tuple[str, ...]
    verified_outside: str | None
    handled_access_net: AccessNet = _NO_NET


def abi_version() -> int:
    """Return the kernel's Landlock ABI version (1 or more).

    Raises:
        SandboxUnavailable: the kernel lacks Landlock, or it is disabled at boot, or
            the architecture is unknown.
    """
    try:
        return _libc.landlock_create_ruleset(None, 0, _libc.LANDLOCK_CREATE_RULESET_VERSION)
    except OSError as exc:
        if exc.errno == errno.ENOSYS:
            reason = "the kernel is built without Landlock (ENOSYS)"
        elif exc.errno == errno.EOPNOTSUPP:
            reason = "Landlock is disabled at boot (EOPNOTSUPP; see the lsm= parameter)"
        else:
            reason = f"landlock_create_ruleset failed: {exc}"
        msg = f"Landlock unavailable: {reason}"
        raise SandboxUnavailable(msg) from exc


def handled_access_fs(abi: int) -> AccessFs:
    """Return every file system right that Landlock ABI ``abi`` knows.

    Args:
        abi: a Landlock ABI version (1 or more).
    """
    access = _ABI1_ACCESS
    if abi >= 2:
        access |= AccessFs.REFER
    if abi >= 3:
        access |= AccessFs.TRUNCATE
    if abi >= 5:
        access |= AccessFs.IOCTL_DEV
    return access


def handled_scopes(abi: int) -> Scope:
    """Return every IPC scope that Landlock ABI ``abi`` knows (none before ABI 6).

    Args:
        abi: a Landlock ABI version (1 or more).
    """
    if abi >= 6:
        return Scope.ABSTRACT_UNIX_SOCKET | Scope.SIGNAL
    return Scope(0)


def handled_access_net(abi: int) -> AccessNet:
    """Return every network right that Landlock ABI ``abi`` knows (none before ABI 4).

    Args:
        abi: a Landlock ABI version (1 or more).
    """
    if abi >= 4:
        return AccessNet.BIND_TCP | AccessNet.CONNECT_TCP
    return AccessNet(0)


def _ruleset_attr_size(abi: int) -> int:
    """Size of ``struct landlock_ruleset_attr`` as ABI ``abi`` defines it."""
    if abi >= 6:  # adds .scoped
        return 24
    if abi >= 4:  # adds .handled_access_net
        return 16
    return 8


def _beneath(path: str, base: str) -> bool:
    """Whether ``path`` is ``base`` or below it (both real, absolute paths)."""
    return base == "/" or path == base or path.startswith(base.rstrip("/") + "/")


def _add_rule(ruleset_fd: int, path: str, access: AccessFs) -> bool:
    """Grant ``access`` below ``path``; False if ``path`` does not exist."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            access &= _FILE_ACCESS
        attr = _libc.LandlockPathBeneathAttr(int(access), fd)
        _libc.landlock_add_rule(ruleset_fd, attr)
    except OSError as exc:
        msg = f"cannot add a Landlock rule for {path!r}: {exc}"
        raise SandboxError(msg) from exc
    finally:
        os.close(fd)
    return True


def _readable(path: str) -> bool:
    """Whether ``path`` can be opened for reading (as a directory if it is one)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def _pick_outside(allowed: Sequence[str]) -> str | None:
    """Return a path outside every allowed tree that is readable now, or None."""
    for candidate in _OUTSIDE_CANDIDATES:
        real = os.path.realpath(candidate)
        if any(_beneath(real, base) for base in allowed):
            continue
        if _readable(candidate):
            return candidate
    return None


def restrict(
    *,
    read_only: Iterable[str],
    read_write: Iterable[str] = (),
    optional_read_only: Iterable[str] = (),
    scope: bool = True,
) -> LandlockStatus:
    """Confine this process to the given trees with Landlock, then verify it worked.

    Irreversible; children inherit it. Call it in a single-threaded process, after
    importing and opening everything the process needs outside these trees.

    Args:
        read_only: trees to grant reading below; each must exist.
        read_write: trees to grant every handled right below; each must exist.
        optional_read_only: trees to grant reading below if they exist (for example
            the Python installation); missing ones are skipped.
        scope: on ABI 6 and later, also forbid connecting to abstract unix sockets and
            signalling processes outside the Landlock domain.

    Returns:
        What is in force.

    Raises:
        SandboxUnavailable: the kernel lacks Landlock (nothing was changed).
        SandboxError: a required path is missing or a call failed.
        SandboxViolation: the self-check failed after the restriction.
    """
    abi = abi_version()
    ro = tuple(read_only)
    rw = tuple(read_write)
    optional = tuple(optional_read_only)
    handled = handled_access_fs(abi)
    scoped = handled_scopes(abi) if scope else Scope(0)
    attr = _libc.LandlockRulesetAttr(int(handled), 0, int(scoped))
    try:
        ruleset_fd = _libc.landlock_create_ruleset(attr, _ruleset_attr_size(abi), 0)
    except OSError as exc:
        msg = f"landlock_create_ruleset failed: {exc}"
        raise SandboxError(msg) from exc
    try:
        skipped: list[str] = []
        granted: list[str] = []
        for paths, access, required in (
            (ro, READ_ONLY_ACCESS, True),
            (rw, handled, True),
            (optional, READ_ONLY_ACCESS, False),
        ):
            for path in paths:
                if _add_rule(ruleset_fd, path, access & handled):
                    granted.append(os.path.realpath(path))
                elif required:
                    msg = f"cannot confine to {path!r}: it does not exist"
                    raise SandboxError(msg)
                else:
                    skipped.append(path)
        outside = _pick_outside(granted)
        set_no_new_privs()
        try:
            _libc.landlock_restrict_self(ruleset_fd)
        except OSError as exc:
            msg = f"landlock_restrict_self failed: {exc}"
            raise SandboxError(msg) from exc
    finally:
        os.close(ruleset_fd)
    verify(outside=outside, read_only=ro)
    return LandlockStatus(
        abi=abi,
        handled_access_fs=handled,
        scoped=scoped,
        read_only=ro + tuple(p for p in optional if p not in skipped),
        read_write=rw,
        skipped=tuple(skipped),
        verified_outside=outside,
    )


def verify(*, outside: str | None, read_only: Iterable[str]) -> None:
    """Check that Landlock (or another layer) confines this process as intended.

    Args:
        outside: a path that was readable before confinement and lies outside every
            allowed tree: reading it must now fail with ``EACCES``. None skips this.
        read_only: paths that must stay readable but not be writable.

    Raises:
        SandboxViolation: ``outside`` is readable or fails otherwise than with
            ``EACCES``, or a read-only path is writable.
        SandboxError: a read-only path can no longer be read.
    """
    if outside is not None:
        try:
            fd = os.open(outside, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as exc:
            if exc.errno != errno.EACCES:
                msg = f"reading {outside!r} outside the sandbox: expected EACCES, got {exc}"
                raise SandboxViolation(msg) from exc
        else:
            os.close(fd)
            msg = f"Landlock ineffective: {outside!r} outside the sandbox is still readable"
            raise SandboxViolation(msg)
    for path in read_only:
        if check_writable(path).writable:
            msg = f"read-only path {path!r} is writable after confinement"
            raise SandboxViolation(msg)
        if not _readable(path):
            msg = f"read-only path {path!r} is no longer readable after confinement"
            raise SandboxError(msg)


def isolate(*, deny_net: AccessNet, scopes: Scope) -> LandlockStatus:
    """Put this process in a Landlock domain of its own that takes no file right away.

    File access stays as the enclosing domains (if any) decide (the domain grants
    ``REFER``, which every domain otherwise denies, on the whole tree); what the new domain adds
    is that TCP ``bind``/``connect`` are denied on every port (the rights in
    ``deny_net`` the kernel knows: ABI 4) and, for the ``scopes`` it knows (ABI 6),
    that signals and abstract UNIX sockets stop at the domain's edge: the process can
    signal itself and its own children, not its parent, its siblings (each in a domain
    of its own), nor anything else outside. Irreversible; children inherit it. Call it
    single-threaded. Sets ``no_new_privs``.

    Then it verifies the effect with `verify_isolated`.

    Args:
        deny_net: the network rights to deny.
        scopes: the IPC scopes to put in force.

    Returns:
        What is in force (``handled_access_fs`` empty).

    Raises:
        SandboxUnavailable: the kernel lacks Landlock, or knows none of the asked rights
            and scopes (before ABI 4); nothing was changed.
        SandboxError: a call failed.
        SandboxViolation: the self-check failed after the restriction.
    """
    abi = abi_version()
    net = deny_net & handled_access_net(abi)
    scoped = scopes & handled_scopes(abi)
    if not net and not scoped:
        msg = (
            f"Landlock ABI {abi} has no network rules (ABI 4) nor scopes (ABI 6):"
            " no domain of its own"
        )
        raise SandboxUnavailable(msg)
    # REFER (linking or renaming into another directory) is the one right every layer
    # denies unless a rule grants it, handled or not: this layer grants it on the whole
    # tree, so that it takes no file right away (a writable module keeps its renames).
    refer = AccessFs.REFER if abi >= 2 else AccessFs(0)
    attr = _libc.LandlockRulesetAttr(int(refer), int(net), int(scoped))
    try:
        ruleset_fd = _libc.landlock_create_ruleset(attr, _ruleset_attr_size(abi), 0)
    except OSError as exc:
        msg = f"landlock_create_ruleset failed: {exc}"
        raise SandboxError(msg) from exc
    try:
        if refer and not _add_rule(ruleset_fd, "/", refer):
            msg = "cannot grant REFER on / to a connection's Landlock domain"
            raise SandboxError(msg)
        set_no_new_privs()
        _libc.landlock_restrict_self(ruleset_fd)
    except OSError as exc:
        msg = f"landlock_restrict_self failed: {exc}"
        raise SandboxError(msg) from exc
    finally:
        os.close(ruleset_fd)
    verify_isolated(net=net, scoped=scoped)
    return LandlockStatus(
        abi=abi,
        handled_access_fs=AccessFs(0),
        scoped=scoped,
        read_only=(),
        read_write=(),
        skipped=(),
        verified_outside=None,
        handled_access_net=net,
    )


WRITE_ACCESS: Final = AccessFs(
    AccessFs.WRITE_FILE
    | AccessFs.REMOVE_DIR
    | AccessFs.REMOVE_FILE
    | AccessFs.MAKE_CHAR
    | AccessFs.MAKE_DIR
    | AccessFs.MAKE_REG
    | AccessFs.MAKE_SOCK
    | AccessFs.MAKE_FIFO
    | AccessFs.MAKE_BLOCK
    | AccessFs.MAKE_SYM
    | AccessFs.REFER
    | AccessFs.TRUNCATE
)
"""Every right that changes the file system (what `restrict_writes` handles)."""


def restrict_writes(writable: str | None) -> AccessFs:
    """Add a Landlock layer that leaves writes possible only below ``writable`` (or nowhere).

    Reading is not handled by this layer (the enclosing ones decide). A connection process
    calls it once it knows its module: an upload can then change only that module, even
    when the daemon serves other writable modules. Irreversible; call it single-threaded.

    Args:
        writable: the one tree that stays writable, or ``None`` for none.

    Returns:
        The rights this layer handles (empty when the kernel has no Landlock).

    Raises:
        SandboxError: a call failed, or ``writable`` does not exist.
    """
    return _restrict_layer(WRITE_ACCESS, () if writable is None else (writable,), ())


def restrict_reads(readable: Iterable[str], optional: Iterable[str] = ()) -> AccessFs:
    """Add a Landlock layer that leaves reading possible only below the given trees.

    Writes are not handled by this layer (the enclosing ones decide). A connection process
    of a daemon that also serves a module with ``insecure links = yes`` (whose links may
    lead anywhere, so the daemon as a whole may read anywhere) calls it for any other
    module, once it is known: that connection reads its module again, and nothing else
    but ``optional`` (the Python installation, ``/etc/passwd``, ...). Irreversible; call it
    single-threaded.

    Args:
        readable: trees to keep readable; each must exist.
        optional: trees to keep readable if they exist.

    Returns:
        The rights this layer handles (empty when the kernel has no Landlock).

    Raises:
        SandboxError: a call failed, or a ``readable`` tree does not exist.
    """
    return _restrict_layer(READ_ONLY_ACCESS, tuple(readable), tuple(optional))


def _restrict_layer(
    access: AccessFs, required: tuple[str, ...], optional: tuple[str, ...]
) -> AccessFs:
    """One more Landlock layer handling ``access``: granted below the given trees only."""
    try:
        abi = abi_version()
    except SandboxUnavailable:
        return AccessFs(0)
    handled = access & handled_access_fs(abi)
    attr = _libc.LandlockRulesetAttr(int(handled), 0, 0)
    try:
        ruleset_fd = _libc.landlock_create_ruleset(attr, _ruleset_attr_size(abi), 0)
    except OSError as exc:
        msg = f"landlock_create_ruleset failed: {exc}"
        raise SandboxError(msg) from exc
    try:
        for path in required:
            if not _add_rule(ruleset_fd, path, handled):
                msg = f"cannot confine to {path!r}: it does not exist"
                raise SandboxError(msg)
        for path in optional:
            _add_rule(ruleset_fd, path, handled)
        set_no_new_privs()
        _libc.landlock_restrict_self(ruleset_fd)
    except OSError as exc:
        msg = f"landlock_restrict_self failed: {exc}"
        raise SandboxError(msg) from exc
    finally:
        os.close(ruleset_fd)
    return handled


def verify_isolated(*, net: AccessNet, scoped: Scope) -> None:
    """Check what `isolate` promises, with probes that change nothing.

    With ``Scope.SIGNAL``: signal 0 to the parent must fail with ``EPERM`` (skipped when
    the parent lies outside the PID namespace). With ``AccessNet.BIND_TCP``: binding a
    new IPv4 socket to ``127.0.0.1`` port 0 must fail with ``EACCES``; with
    ``CONNECT_TCP``: connecting one to ``127.0.0.1`` port 1 too. The TCP probes need a
    new socket: they are skipped when the process cannot create one (already denied by
    another layer, or no IPv4).

    Raises:
        SandboxViolation: a probe was not denied as expected.
    """
    if Scope.SIGNAL in scoped:
        parent = os.getppid()
        if parent > 0:
            try:
                os.kill(parent, 0)
            except PermissionError:
                pass
            except ProcessLookupError:
                pass  # gone: nothing to check
            else:
                msg = f"Landlock scope ineffective: the parent (pid {parent}) can be signalled"
                raise SandboxViolation(msg)
    for right, what, port in (
        (AccessNet.BIND_TCP, "bind", 0),
        (AccessNet.CONNECT_TCP, "connect", 1),
    ):
        if right not in net:
            continue
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            continue
        with sock:
            sock.setblocking(False)  # noqa: FBT003 - the socket API
            try:
                if right == AccessNet.BIND_TCP:
                    sock.bind(("127.0.0.1", port))
                else:
                    sock.connect(("127.0.0.1", port))
            except PermissionError:
                continue
            except OSError as exc:
                msg = f"Landlock: TCP {what} on 127.0.0.1 was not denied ({exc})"
                raise SandboxViolation(msg) from exc
            msg = f"Landlock: TCP {what} on 127.0.0.1 was allowed"
            raise SandboxViolation(msg)
