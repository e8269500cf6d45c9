"""Secrets files and the daemon's side of challenge-response authentication.

rsync: authenticate.c auth_server(), check_secret().
"""

from __future__ import annotations

import grp
import os
import pwd

__all__ = ["lookup_secret", "preload_secrets"]

# Secrets files read at start-up, before confinement hides them (path -> lines, or None
# when the file was unusable). rsync reads them as root in the connection process before
# it drops privileges; pyrsyncd confines itself before the first connection.
_preloaded: dict[str, list[bytes] | None] = {}


def _read_secrets(secrets_file: str) -> list[bytes] | None:
    try:
        st = os.stat(secrets_file)
        if st.st_mode & 0o004:
            return None
        with open(secrets_file, "rb") as fh:
            return fh.read().splitlines()
    except OSError:
        return None


def preload_secrets(secrets_file: str) -> None:
    """Read ``secrets_file`` now and answer later lookups from memory.

    The daemon calls this for every module's secrets file before it confines itself,
    since afterwards the file is out of reach (or unreadable by the serving user).
    """
    _preloaded[secrets_file] = _read_secrets(secrets_file)


def _groups_of(user: str) -> set[str]:
    names: set[str] = set()
    try:
        pw = pwd.getpwnam(user)
        names.add(grp.getgrgid(pw.pw_gid).gr_name)
    except KeyError:
        pass
    names.update(g.gr_name for g in grp.getgrall() if user in g.gr_mem)
    return names


def lookup_secret(secrets_file: str, user: str, auth_users: list[str]) -> bytes | None:
    """The password for ``user`` when it is allowed by ``auth_users``, else ``None``.

    ``auth_users`` entries are user names, ``@group`` names or wildcards, optionally followed
    by ``:ro``/``:rw``/``:deny`` (``deny`` refuses). The secrets file holds ``user:password``
    and ``@group:password`` lines. rsync refuses a secrets file that others can read when
    strict modes are on; so do we.
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
    lines = _preloaded[secrets_file] if secrets_file in _preloaded else _read_secrets(secrets_file)
    if lines is None:
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
