"""Drop root privileges for good, and prove that they are gone.

How this works:

1. ``drop_privileges`` (as root) empties the capability bounding set, so that no
   later ``execve`` of a set-uid or file-capability binary could hand capabilities
   back; clears the supplementary groups; sets real, effective and saved gid, then
   uid, to the target (gid first: after the uid change the process could no longer
   change its gid); and sets ``no_new_privs``. Changing all three uids away from 0
   makes the kernel clear the permitted, effective and ambient capability sets.
2. ``verify_dropped`` checks the result from the inside, gokrazy/rsync style: the
   three uids and gids are the targets, there are no supplementary groups,
   ``setuid(0)``, ``setgid(0)`` and ``setgroups([0])`` all fail, ``capget`` reports
   empty effective and permitted sets (cross-checked against ``CapEff``/``CapPrm`` in
   ``/proc/self/status`` when ``/proc`` is still visible), and ``no_new_privs`` is set.

Synchronous and process-wide: call it in a single-threaded process (glibc applies
``setresuid`` to every thread, but the capability bounding set is per thread).
This module does not touch the file system except for reading ``/proc``.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from rsync_sandbox import _libc
from rsync_sandbox.errors import SandboxError, SandboxViolation

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "NOBODY",
    "Capabilities",
    "SwitchError",
    "capabilities",
    "drop_privileges",
    "keep_capabilities",
    "no_new_privs",
    "set_no_new_privs",
    "switch_user",
    "verify_dropped",
]

NOBODY: Final = 65534
"""The conventional uid and gid of ``nobody``/``nogroup``, the default target."""

_CAP_LAST_MAX: Final = 63  # capability sets are 64-bit
CAP_SETGID: Final = 6
CAP_SETUID: Final = 7
CAP_SETPCAP: Final = 8
SWITCH_CAPABILITIES: Final = (1 << CAP_SETGID) | (1 << CAP_SETUID) | (1 << CAP_SETPCAP)
"""What `switch_user` needs of root: change ids and groups, empty the bounding set."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """The calling thread's capability sets, as 64-bit masks.

    Attributes:
        effective: the capabilities in force now.
        permitted: the capabilities the thread could make effective.
        inheritable: the capabilities kept across ``execve`` (with file capabilities).
    """

    effective: int
    permitted: int
    inheritable: int


def capabilities() -> Capabilities:
    """Return the calling thread's capability sets (``capget``, no ``/proc`` needed)."""
    effective, permitted, inheritable = _libc.capget()
    return Capabilities(effective, permitted, inheritable)


def set_no_new_privs() -> None:
    """Set ``no_new_privs``: no ``execve`` can grant privileges any more (irreversible).

    Raises:
        SandboxError: the kernel refused (it cannot, since Linux 3.5).
    """
    try:
        _libc.prctl(_libc.PR_SET_NO_NEW_PRIVS, 1)
    except OSError as exc:
        msg = f"prctl(PR_SET_NO_NEW_PRIVS) failed: {exc}"
        raise SandboxError(msg) from exc


def no_new_privs() -> bool:
    """Return whether ``no_new_privs`` is set for this process."""
    return _libc.prctl(_libc.PR_GET_NO_NEW_PRIVS) == 1


def _drop_bounding_set(keep: int = 0) -> None:
    """Empty the capability bounding set but ``keep`` (needs CAP_SETPCAP, which root has)."""
    for cap in range(_CAP_LAST_MAX + 1):
        if keep & (1 << cap):
            continue
        try:
            present = _libc.prctl(_libc.PR_CAPBSET_READ, cap) == 1
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                return  # past the kernel's last capability
            raise
        if present:
            try:
                _libc.prctl(_libc.PR_CAPBSET_DROP, cap)
            except OSError as exc:
                msg = f"cannot drop capability {cap} from the bounding set: {exc}"
                raise SandboxError(msg) from exc


def drop_privileges(uid: int = NOBODY, gid: int = NOBODY) -> None:
    """Drop root for good: empty bounding set, no groups, ``uid``/``gid``, ``no_new_privs``.

    Args:
        uid: the user to become (real, effective and saved); not 0.
        gid: the group to become (real, effective and saved); not 0.

    Raises:
        SandboxError: the process is not root, a target id is 0, or a call failed.
    """
    if uid == 0 or gid == 0:
        msg = f"refusing to 'drop' privileges to uid {uid} gid {gid}: expected non-zero ids"
        raise SandboxError(msg)
    if os.geteuid() != 0:
        msg = f"dropping privileges needs root, running as uid {os.geteuid()}"
        raise SandboxError(msg)
    _drop_bounding_set()
    try:
        _libc.setgroups([])
        _libc.setresgid(gid, gid, gid)
        _libc.setresuid(uid, uid, uid)
    except OSError as exc:
        msg = f"cannot change to uid {uid} gid {gid}: {exc}"
        raise SandboxError(msg) from exc
    set_no_new_privs()


def keep_capabilities(keep: int = SWITCH_CAPABILITIES) -> None:
    """Keep only the capabilities in ``keep`` (a mask), for good; the uid stays.

    For a process that stays root only to become another user later (`switch_user`):
    the bounding set, the effective and permitted sets lose everything else (no
    ``CAP_DAC_OVERRIDE``, ``CAP_SYS_ADMIN``, ``CAP_CHOWN``, ...), the inheritable set
    everything.

    Raises:
        SandboxError: a call failed.
        SandboxViolation: a capability outside ``keep`` is still effective or permitted.
    """
    try:
        _drop_bounding_set(keep)
        effective, permitted, _ = _libc.capget()
        _libc.capset(effective & keep, permitted & keep, 0)
    except OSError as exc:
        msg = f"cannot limit the capabilities to {keep:#x}: {exc}"
        raise SandboxError(msg) from exc
    caps = capabilities()
    if (caps.effective | caps.permitted) & ~keep:
        msg = (
            f"capabilities beyond {keep:#x} remain: effective {caps.effective:#x}"
            f" permitted {caps.permitted:#x}"
        )
        raise SandboxViolation(msg)


class SwitchError(SandboxError):
    """`switch_user` could not make one of its calls; ``step`` names it (rsync's word).

    Attributes:
        step: ``"setgid"``, ``"setgroups"`` or ``"setuid"``.
        errno: the call's error number.
    """

    def __init__(self, step: Literal["setgid", "setgroups", "setuid"], exc: OSError) -> None:
        super().__init__(f"{step} failed: {exc.strerror or exc}")
        self.step = step
        self.errno = exc.errno or 0


def _step(name: Literal["setgid", "setgroups", "setuid"], call: Callable[[], None]) -> None:
    """Run one call of `switch_user`; its failure becomes a `SwitchError` named ``name``."""
    try:
        call()
    except OSError as exc:
        raise SwitchError(name, exc) from exc


def switch_user(uid: int | None, gid: int | None, groups: Sequence[int] = ()) -> None:
    """Become ``uid``/``gid`` with supplementary ``groups``, as rsync's daemon does per module.

    A daemon that serves modules as different users stays root until a connection has
    chosen its module; then that connection process calls this. Each id that is None,
    or already the process's, is left as it is (so a process that already serves as
    the module's user, or a daemon that is not root, changes nothing it need not).
    Becoming a user other than root is for good: the bounding set is emptied first,
    the kernel clears the capability sets when the three uids leave 0, and
    `verify_dropped`'s checks then run (with the module's groups allowed).

    rsync: clientserver.c rsync_module() (setgid(), setgroups(), setuid()).

    Args:
        uid: the user to become (real, effective and saved), or None.
        gid: the group to become (real, effective and saved), or None.
        groups: the supplementary groups (rsync's whole ``gid`` list); empty: ``[gid]``.

    Raises:
        SwitchError: a call failed (for example without root); ``step`` says which.
        SandboxViolation: the switch away from root did not hold.
    """
    # the process's own gid counts as one of its groups (no supplementary groups and
    # the single group [gid] are the same thing to the kernel's permission checks)
    change_gid = gid is not None and (
        os.getresgid() != (gid, gid, gid) or {*os.getgroups(), gid} != {*groups, gid}
    )
    change_uid = uid is not None and os.getresuid() != (uid, uid, uid)
    if uid not in (None, 0) and os.geteuid() == 0 and (change_uid or change_gid):
        _drop_bounding_set()
    if change_gid:
        assert gid is not None  # noqa: S101 - change_gid implies it
        _step("setgid", lambda: _libc.setresgid(gid, gid, gid))
        _step("setgroups", lambda: _libc.setgroups(list(groups) or [gid]))
    if change_uid:
        assert uid is not None  # noqa: S101 - change_uid implies it
        _step("setuid", lambda: _libc.setresuid(uid, uid, uid))
    set_no_new_privs()
    if change_uid and uid != 0:
        _must_fail("setuid(0)", lambda: os.setuid(0))
        caps = capabilities()
        if caps.effective or caps.permitted:
            msg = (
                f"expected no capabilities as uid {uid}, got effective {caps.effective:#x}"
                f" permitted {caps.permitted:#x}"
            )
            raise SandboxViolation(msg)


def _proc_status_caps() -> dict[str, int] | None:
    """Return ``CapEff``/``CapPrm``/... from ``/proc/self/status``, or None if unreadable."""
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    caps: dict[str, int] = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key.startswith("Cap"):
            caps[key] = int(value.strip(), 16)
    return caps


def _must_fail(what: str, call: Callable[[], object]) -> None:
    """Run ``call``; raise `SandboxViolation` if it succeeds."""
    try:
        call()
    except OSError:
        return
    msg = f"privileges not dropped: {what} unexpectedly succeeded"
    raise SandboxViolation(msg)


def verify_dropped(uid: int = NOBODY, gid: int = NOBODY) -> None:
    """Check that the process runs as ``uid``/``gid`` and can never become root again.

    Args:
        uid: the expected real, effective and saved uid.
        gid: the expected real, effective and saved gid.

    Raises:
        SandboxViolation: an id differs, supplementary groups remain, ``setuid(0)``,
            ``setgid(0)`` or ``setgroups`` succeeded, capabilities remain, or
            ``no_new_privs`` is not set.
    """
    uids, gids = os.getresuid(), os.getresgid()
    if uids != (uid, uid, uid) or gids != (gid, gid, gid):
        msg = f"expected uids/gids {uid}/{gid} (real, effective, saved), got {uids}/{gids}"
        raise SandboxViolation(msg)
    groups = os.getgroups()
    if groups not in ([], [gid]):
        msg = f"expected no supplementary groups, got {groups}"
        raise SandboxViolation(msg)
    _must_fail("setuid(0)", lambda: os.setuid(0))
    _must_fail("setgid(0)", lambda: os.setgid(0))
    _must_fail("setgroups([0])", lambda: os.setgroups([0]))
    caps = capabilities()
    if caps.effective or caps.permitted:
        msg = (
            f"expected no capabilities, got effective {caps.effective:#x}"
            f" permitted {caps.permitted:#x}"
        )
        raise SandboxViolation(msg)
    status = _proc_status_caps()
    if status is not None and (status.get("CapEff", 0) or status.get("CapPrm", 0)):
        msg = f"expected CapEff and CapPrm 0 in /proc/self/status, got {status}"
        raise SandboxViolation(msg)
    if not no_new_privs():
        msg = "expected no_new_privs to be set"
        raise SandboxViolation(msg)
