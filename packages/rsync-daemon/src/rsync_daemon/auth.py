"""Secrets files and the daemon's side of challenge-response authentication.

rsync: authenticate.c auth_server(), check_secret().
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from typing import TYPE_CHECKING

from rsync_daemon.safeopen import open_trusted

if TYPE_CHECKING:
    from rsync_daemon.config import ModuleConfig

__all__ = [
    "auth_rule",
    "auth_rule_error",
    "lookup_secret",
    "may_write",
    "preload_secrets",
    "read_secrets",
    "rule_access",
]

# Secrets files read at start-up, before confinement hides them (path -> (lines, mode),
# or None when the file was unusable). rsync reads them as root in the connection
# process before it drops privileges; pyrsyncd confines itself before the first
# connection.
_preloaded: dict[str, tuple[list[bytes], int, bool] | None] = {}


def read_secrets(secrets_file: str) -> tuple[list[bytes], int, bool] | None:
    """The lines, permission bits and whether root reads another's file, of a secrets file.

    Opened through trusted symlinks only.

    rsync: authenticate.c get_secret() (open_no_attacker_symlinks()).
    """
    try:
        fd = open_trusted(secrets_file, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        with os.fdopen(os.dup(fd), "rb") as fh:
            foreign = os.geteuid() == 0 and st.st_uid != 0
            return fh.read(1 << 20).splitlines(), st.st_mode, foreign
    except OSError:
        return None
    finally:
        os.close(fd)


def preload_secrets(secrets_file: str) -> None:
    """Read ``secrets_file`` now and answer later lookups from memory.

    The daemon calls this for every module's secrets file before it confines itself,
    since afterwards the file is out of reach (or unreadable by the serving user).
    """
    _preloaded[secrets_file] = read_secrets(secrets_file)


def _groups_of(user: str) -> set[str]:
    names: set[str] = set()
    try:
        pw = pwd.getpwnam(user)
        names.add(grp.getgrgid(pw.pw_gid).gr_name)
    except KeyError:
        pass
    names.update(g.gr_name for g in grp.getgrall() if user in g.gr_mem)
    return names


def rule_access(option: str) -> str:
    """The access a rule's ``:OPTION`` grants: ``"deny"``, ``"ro"``, ``"rw"`` or ``""``.

    rsync reads only the first letters, without case: ``d...`` denies, ``ro...`` and
    ``rw...`` set the module read-only or writable for that user, anything else is
    ignored. rsync: authenticate.c auth_server().
    """
    low = option.lower()
    if low.startswith("d"):
        return "deny"
    if low.startswith(("ro", "rw")):
        return low[:2]
    return ""


def may_write(mod: ModuleConfig) -> bool:
    """Whether a connection may write to the module.

    That is ``read only = no``, or an ``auth users`` rule that makes the module writable
    for its user (``:rw``).
    """
    if not mod.read_only:
        return True
    return any(rule_access(entry.partition(":")[2]) == "rw" for entry in mod.auth_users)


def auth_rule(user: str, auth_users: list[str]) -> tuple[str | None, str]:
    """The first ``auth users`` rule that matches ``user``: (refusal or None, access).

    The access is `rule_access` of the matching rule (``"ro"``/``"rw"`` change the
    module's ``read only`` for this connection, as in rsync).

    rsync: authenticate.c auth_server() ("no matching rule", "denied by rule").
    """
    import fnmatch

    groups: set[str] | None = None
    for entry in auth_users:
        name, _, option = entry.partition(":")
        if name.startswith("@"):
            if groups is None:
                groups = _groups_of(user)
            hit = any(fnmatch.fnmatchcase(g, name[1:]) for g in groups)
        else:
            hit = fnmatch.fnmatchcase(user, name)
        if hit:
            access = rule_access(option)
            return ("denied by rule", access) if access == "deny" else (None, access)
    return "no matching rule", ""


def auth_rule_error(user: str, auth_users: list[str]) -> str | None:
    """Why ``auth users`` refuses ``user`` (rsync's log words), or None when a rule admits it.

    rsync: authenticate.c auth_server() ("no matching rule", "denied by rule").
    """
    return auth_rule(user, auth_users)[0]


def lookup_secret(
    secrets_file: str,
    user: str,
    auth_users: list[str],
    *,
    strict: bool = True,
    current: tuple[list[bytes], int, bool] | bool | None = False,
) -> bytes | None:
    """The password for ``user`` when it is allowed by ``auth_users``, else ``None``.

    ``auth_users`` entries are user names, ``@group`` names or wildcards, optionally followed
    by ``:ro``/``:rw``/``:deny`` (``deny`` refuses). The secrets file holds ``user:password``
    and ``@group:password`` lines. With ``strict modes`` on (``strict``, the default) rsync
    refuses a secrets file that others can read or write, or that a daemon running as root
    does not own as root; so do we. ``current`` is the file as it is now (the daemon's
    helper reads it for each login, as rsync does; None when unusable now), or False to
    use the copy read at start-up.
    """
    import fnmatch

    allowed = False
    groups: set[str] | None = None
    for entry in auth_users:
        name, _, access = entry.partition(":")
        if name.startswith("@"):
            if groups is None:
                groups = _groups_of(user)
            hit = any(fnmatch.fnmatchcase(g, name[1:]) for g in groups)
        else:
            hit = fnmatch.fnmatchcase(user, name)
        if hit:
            allowed = access.lower() != "deny"
            break
    if not allowed:
        return None
    found: tuple[list[bytes], int, bool] | None
    if not isinstance(current, bool):
        found = current
    elif secrets_file in _preloaded:
        found = _preloaded[secrets_file]
    else:
        found = read_secrets(secrets_file)
    if found is None:
        return None
    lines, mode, foreign = found
    if strict and (mode & 0o006 or foreign):
        # rsync: "secrets file must not be other-accessible" / "must be owned by root
        # when running as root" (see strict modes)
        return None
    if groups is None:
        groups = _groups_of(user)
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        key, sep, password = line.partition(b":")
        if not sep:
            continue
        k = key.decode("utf-8", "replace")
        if k == user or (k.startswith("@") and k[1:] in groups):
            return password
    return None
