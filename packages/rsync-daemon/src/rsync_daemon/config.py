"""Daemon configuration: listeners and modules, from flags, TOML or rsyncd.conf.

Every loader produces the same :class:`DaemonConfig`. Errors name the file, the
line and what was expected, in one line.

rsync: loadparm.c (rsyncd.conf parameters and their defaults).
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args

import msgspec

from rsync_daemon.errors import ConfigError

__all__ = [
    "DaemonConfig",
    "ModuleConfig",
    "SandboxMode",
    "load_config",
    "load_rsyncd_conf",
    "load_toml",
    "parse_listen",
    "parse_module_flag",
    "resolve_group",
    "resolve_user",
]

DEFAULT_TIMEOUT = 600
SandboxMode = Literal["auto", "namespace", "landlock", "off"]
SANDBOX_MODES: tuple[str, ...] = get_args(SandboxMode)


class ModuleConfig(msgspec.Struct, kw_only=True):
    """One module.

    Attributes mirror rsyncd.conf parameters of the same names (with ``_`` for spaces).
    """

    name: str
    path: str
    comment: str = ""
    listed: bool = True  # rsyncd.conf / TOML key: list
    read_only: bool = True
    timeout: int = DEFAULT_TIMEOUT
    auth_users: list[str] = msgspec.field(default_factory=list)
    secrets_file: str | None = None
    hosts_allow: list[str] = msgspec.field(default_factory=list)
    hosts_deny: list[str] = msgspec.field(default_factory=list)
    exclude: list[str] = msgspec.field(default_factory=list)
    include: list[str] = msgspec.field(default_factory=list)
    filter: list[str] = msgspec.field(default_factory=list)
    refuse_options: list[str] = msgspec.field(default_factory=list)
    numeric_ids: bool = False
    max_connections: int = 0
    dont_compress: list[str] = msgspec.field(default_factory=list)


class DaemonConfig(msgspec.Struct, kw_only=True):
    """The whole daemon: where it listens, what it serves.

    Attributes:
        listen: ``(host, port)`` pairs to bind.
        modules: modules by name, in configuration order.
        motd_file: a file whose text greets every client.
        max_connections: connections served at once (0: no limit).
        source: the configuration file, for messages.
        uid: the user to serve as when started as root (None: 65534, ``nobody``; 0: stay
            root). rsyncd.conf ``uid``, TOML ``uid`` (a name or a number).
        gid: the group to serve as when started as root (None: 65534). rsyncd.conf and
            TOML ``gid``.
        sandbox: confinement mode: ``auto`` (default), ``namespace``, ``landlock`` or
            ``off`` (see rsync_daemon.supervisor). TOML ``sandbox``.
        anonssh_listen: ``(host, port)`` pairs for the anonymous SSH listener.
        anonssh_host_key: the SSH host key file (generated when missing).
        anonssh_authorized_keys: an authorized_keys file; when set, only its keys may
            connect to the SSH listener (else any client may, without a key).
    """

    listen: list[tuple[str, int]] = msgspec.field(default_factory=list)
    modules: dict[str, ModuleConfig] = msgspec.field(default_factory=dict)
    motd_file: str | None = None
    max_connections: int = 0
    log_file: str | None = None
    pid_file: str | None = None
    timeout: int = 0
    source: str | None = None
    uid: int | None = None
    gid: int | None = None
    sandbox: SandboxMode = "auto"
    anonssh_listen: list[tuple[str, int]] = msgspec.field(default_factory=list)
    anonssh_host_key: str | None = None
    anonssh_authorized_keys: str | None = None


def parse_listen(text: str, *, default_port: int = 873) -> tuple[str, int]:
    """Parse ``HOST:PORT``, ``[V6]:PORT``, ``HOST`` or ``:PORT``.

    Raises:
        ConfigError: the port is not a number in 0..65535.
    """
    m = re.fullmatch(r"\[([^\]]+)\](?::(\d*))?|([^:]*)(?::(\d*))?", text.strip())
    if m is None:
        msg = f"--listen {text!r}: expected HOST:PORT"
        raise ConfigError(msg)
    host = m.group(1) or m.group(3) or ""
    port_text = m.group(2) if m.group(1) else m.group(4)
    port = default_port if not port_text else int(port_text)
    if not 0 <= port <= 65535:
        msg = f"--listen {text!r}: port {port} is out of range"
        raise ConfigError(msg)
    return host or "0.0.0.0", port  # noqa: S104 - rsync listens on all addresses by default


def parse_module_flag(text: str) -> ModuleConfig:
    """Parse ``--module NAME=PATH``.

    Raises:
        ConfigError: the value is not NAME=PATH or the name is unusable.
    """
    name, eq, path = text.partition("=")
    if not eq or not path:
        msg = f"--module {text!r}: expected NAME=PATH"
        raise ConfigError(msg)
    _check_module_name(name, where=f"--module {text!r}")
    return ModuleConfig(name=name, path=os.path.abspath(path))


def resolve_user(value: str | int, *, where: str) -> int:
    """Turn a ``uid`` parameter (a user name or a number) into a uid.

    Looked up when the configuration is read, that is before confinement hides
    ``/etc/passwd``.

    Raises:
        ConfigError: no such user, or a negative number.
    """
    return _resolve_id(value, where=where, kind="uid", lookup=lambda n: pwd.getpwnam(n).pw_uid)


def resolve_group(value: str | int, *, where: str) -> int:
    """Turn a ``gid`` parameter (a group name or a number) into a gid.

    Raises:
        ConfigError: no such group, or a negative number.
    """
    return _resolve_id(value, where=where, kind="gid", lookup=lambda n: grp.getgrnam(n).gr_gid)


def _resolve_id(value: str | int, *, where: str, kind: str, lookup: Any) -> int:
    if isinstance(value, bool):
        msg = f"{where}: {kind!r} expects a name or a number, got {value!r}"
        raise ConfigError(msg)
    if isinstance(value, int) or value.strip().isdigit():
        number = int(value)
        if not 0 <= number < 2**32 - 1:
            msg = f"{where}: {kind} {number} is out of range"
            raise ConfigError(msg)
        return number
    try:
        found: int = lookup(value.strip())
    except KeyError:
        what = "user" if kind == "uid" else "group"
        msg = f"{where}: {kind} {value!r}: no such {what}"
        raise ConfigError(msg) from None
    return found


def _check_module_name(name: str, *, where: str) -> None:
    if not name or "/" in name or name.startswith("#") or any(c.isspace() for c in name):
        msg = f"{where}: module name {name!r} must be non-empty, without '/', spaces or a leading #"
        raise ConfigError(msg)


# -- TOML ----------------------------------------------------------------------------------

_MODULE_KEYS = {
    "path": str,
    "comment": str,
    "listed": bool,
    "read_only": bool,
    "timeout": int,
    "auth_users": list,
    "secrets_file": str,
    "hosts_allow": list,
    "hosts_deny": list,
    "exclude": list,
    "include": list,
    "filter": list,
    "refuse_options": list,
    "numeric_ids": bool,
    "max_connections": int,
    "dont_compress": list,
}


def _toml_line(text: str, key: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*(\[\[?[^\]]*\b{re.escape(key)}\b|{re.escape(key)}\s*=)", line):
            return number
    return 0


def load_toml(path: str | os.PathLike[str]) -> DaemonConfig:
    """Load a TOML configuration.

    Shape::

        listen = ["127.0.0.1:8730"]  # or a single string
        motd_file = "/etc/motd"
        [modules.pub]
        path = "/srv/pub"
        comment = "public files"
        list = true
        timeout = 300

    Raises:
        ConfigError: a syntax error or a wrong key/type, with file and line.
    """
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        msg = f"{p}: cannot read: {exc.strerror}"
        raise ConfigError(msg) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{p}: {exc}"
        raise ConfigError(msg) from None
    cfg = DaemonConfig(source=str(p))
    for key, value in data.items():
        line = _toml_line(text, key)
        where = f"{p}:{line}" if line else str(p)
        if key == "listen":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                msg = f"{where}: 'listen' expects a string or a list of \"HOST:PORT\" strings"
                raise ConfigError(msg)
            cfg.listen = [parse_listen(v) for v in items]
        elif key in ("motd_file", "log_file", "pid_file"):
            if not isinstance(value, str):
                msg = f"{where}: {key!r} expects a string"
                raise ConfigError(msg)
            setattr(cfg, key, value)
        elif key in ("max_connections", "timeout"):
            if not isinstance(value, int) or isinstance(value, bool):
                msg = f"{where}: {key!r} expects an integer"
                raise ConfigError(msg)
            setattr(cfg, key, value)
        elif key in ("uid", "gid"):
            if not isinstance(value, str | int):
                msg = f"{where}: {key!r} expects a name or a number"
                raise ConfigError(msg)
            resolve = resolve_user if key == "uid" else resolve_group
            setattr(cfg, key, resolve(value, where=where))
        elif key == "sandbox":
            if value not in SANDBOX_MODES:
                msg = f"{where}: 'sandbox' expects one of {', '.join(SANDBOX_MODES)}"
                raise ConfigError(msg)
            cfg.sandbox = value
        elif key == "anonssh_listen":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                msg = f"{where}: 'anonssh_listen' expects a string or a list of \"HOST:PORT\""
                raise ConfigError(msg)
            cfg.anonssh_listen = [parse_listen(v, default_port=22) for v in items]
        elif key in ("anonssh_host_key", "anonssh_authorized_keys"):
            if not isinstance(value, str):
                msg = f"{where}: {key!r} expects a string"
                raise ConfigError(msg)
            setattr(cfg, key, os.path.abspath(os.path.join(p.parent, value)))
        elif key == "modules":
            if not isinstance(value, dict):
                msg = f"{where}: 'modules' expects tables like [modules.NAME]"
                raise ConfigError(msg)
            for name, table in value.items():
                cfg.modules[name] = _toml_module(p, text, name, table)
        else:
            msg = (
                f"{where}: unknown key {key!r} (expected listen, motd_file, log_file, "
                "pid_file, max_connections, timeout, uid, gid, sandbox, anonssh_listen, "
                "anonssh_host_key, anonssh_authorized_keys, modules)"
            )
            raise ConfigError(msg)
    return cfg


def _toml_module(p: Path, text: str, name: str, table: Any) -> ModuleConfig:
    line = _toml_line(text, name)
    where = f"{p}:{line}" if line else str(p)
    _check_module_name(name, where=where)
    if not isinstance(table, dict):
        msg = f"{where}: module {name!r} expects a table"
        raise ConfigError(msg)
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        field = _module_param(key)
        kind = _MODULE_KEYS.get(field) if field else None
        if field is None or kind is None:
            msg = f"{where}: module {name!r}: unknown key {key!r}"
            raise ConfigError(msg)
        if kind is list and isinstance(value, str):
            value = value.split()
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            msg = f"{where}: module {name!r}: {key!r} expects {kind.__name__}"
            raise ConfigError(msg)
        kwargs[field] = value
    if "path" not in kwargs:
        msg = f"{where}: module {name!r} has no 'path'"
        raise ConfigError(msg)
    kwargs["path"] = os.path.abspath(os.path.join(p.parent, kwargs["path"]))
    return ModuleConfig(name=name, **kwargs)


# -- rsyncd.conf ---------------------------------------------------------------------------

_BOOL_TRUE = {"yes", "true", "1", "on"}
_BOOL_FALSE = {"no", "false", "0", "off"}
_IGNORED_PARAMS = {
    "use chroot",
    "daemon chroot",
    "transfer logging",
    "log format",
    "syslog facility",
    "lock file",
    "strict modes",
    "ignore errors",
    "ignore nonreadable",
    "incoming chmod",
    "outgoing chmod",
    "munge symlinks",
    "charset",
    "reverse lookup",
    "forward lookup",
    "fake super",
    "write only",
    "open noatime",
    "pre-xfer exec",
    "post-xfer exec",
    "socket options",
    "daemon uid",
    "daemon gid",
    "name converter",
    "temp dir",
    "early exec",
    "listen backlog",
    "proxy protocol",
    "exclude from",
    "include from",
}


def load_rsyncd_conf(path: str | os.PathLike[str]) -> DaemonConfig:
    """Load an rsyncd.conf (rsync's INI-like syntax with ``[module]`` sections).

    Global parameters understood: ``port``, ``address``, ``motd file``, ``max connections``,
    ``log file``, ``pid file``; module parameters: those of :class:`ModuleConfig`. Parameters
    that rsync knows but that do not change what we serve are accepted and ignored.

    Raises:
        ConfigError: a syntax error or an unknown parameter, with file and line.
    """
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except OSError as exc:
        msg = f"{p}: cannot read: {exc.strerror}"
        raise ConfigError(msg) from None
    cfg = DaemonConfig(source=str(p))
    address = ""
    port = 873
    current: dict[str, Any] | None = None
    current_name = ""
    sections: list[tuple[str, dict[str, Any], int]] = []
    globals_: dict[str, Any] = {}
    joined: list[tuple[int, str]] = []
    pending = ""
    start_line = 0
    for number, raw in enumerate(lines, 1):
        text = raw.strip()
        if not pending:
            start_line = number
        if text.endswith("\\"):
            pending += text[:-1]
            continue
        joined.append((start_line, pending + text))
        pending = ""
    for number, text in joined:
        if not text or text[0] in "#;":
            continue
        where = f"{p}:{number}"
        if text.startswith("["):
            if not text.endswith("]"):
                msg = f"{where}: expected [module] on this line"
                raise ConfigError(msg)
            current_name = text[1:-1].strip()
            _check_module_name(current_name, where=where)
            current = {}
            sections.append((current_name, current, number))
            continue
        key, eq, value = text.partition("=")
        if not eq:
            msg = f"{where}: expected 'parameter = value'"
            raise ConfigError(msg)
        key = " ".join(key.lower().split())
        value = value.strip()
        (current if current is not None else globals_)[key] = (value, where)
    for key, (value, where) in globals_.items():
        if key == "port":
            port = _int(value, where, key)
        elif key == "address":
            address = value
        elif key == "motd file":
            cfg.motd_file = value
        elif key == "max connections":
            cfg.max_connections = _int(value, where, key)
        elif key == "log file":
            cfg.log_file = value
        elif key == "pid file":
            cfg.pid_file = value
        elif key == "timeout":
            cfg.timeout = _int(value, where, key)
        elif key == "uid":
            cfg.uid = resolve_user(value, where=where)
        elif key == "gid":
            cfg.gid = resolve_group(value, where=where)
        elif key in _IGNORED_PARAMS or _module_param(key) is not None:
            continue  # module defaults in the global section: applied below
        else:
            msg = f"{where}: unknown parameter {key!r}"
            raise ConfigError(msg)
    cfg.listen = [(address or "0.0.0.0", port)]  # noqa: S104 - rsync's default
    defaults = {k: v for k, v in globals_.items() if _module_param(k) is not None}
    for name, params, number in sections:
        merged = {**defaults, **params}
        kwargs: dict[str, Any] = {}
        for key, (value, where) in params.items():
            if key in ("uid", "gid"):
                _module_id(cfg, name, key, value, where)
        for key, (value, where) in merged.items():
            field = _module_param(key)
            if key in ("uid", "gid"):
                continue
            if field is None:
                if key in _IGNORED_PARAMS:
                    continue
                msg = f"{where}: unknown parameter {key!r} in module [{name}]"
                raise ConfigError(msg)
            kind = _MODULE_KEYS[field]
            if kind is bool:
                kwargs[field] = _bool(value, where, key)
            elif kind is int:
                kwargs[field] = _int(value, where, key)
            elif kind is list:
                kwargs[field] = value.replace(",", " ").split()
            else:
                kwargs[field] = value
        if "path" not in kwargs:
            msg = f"{p}:{number}: module [{name}] has no 'path'"
            raise ConfigError(msg)
        kwargs["path"] = os.path.abspath(os.path.join(p.parent, kwargs["path"]))
        cfg.modules[name] = ModuleConfig(name=name, **kwargs)
    return cfg


def _module_id(cfg: DaemonConfig, name: str, key: str, value: str, where: str) -> None:
    """A module's own ``uid``/``gid``: one value for the whole daemon.

    rsync switches user per connection after the client picked a module; pyrsyncd
    confines (and switches user) once, before reading any byte, so every module must be
    served as the same user. A module may repeat the global value or set it for all.
    """
    number = resolve_user(value, where=where) if key == "uid" else resolve_group(value, where=where)
    current = cfg.uid if key == "uid" else cfg.gid
    if current is not None and current != number:
        msg = (
            f"{where}: module [{name}]: {key} {value!r} differs from the daemon's {key} "
            f"{current}: pyrsyncd serves every module as one user (set {key} globally)"
        )
        raise ConfigError(msg)
    setattr(cfg, key, number)


def _module_param(key: str) -> str | None:
    field = key.replace(" ", "_").replace("-", "_")
    if field == "list":
        field = "listed"
    return field if field in _MODULE_KEYS else None


def _int(value: str, where: str, key: str) -> int:
    try:
        return int(value)
    except ValueError:
        msg = f"{where}: {key!r} expects a number, got {value!r}"
        raise ConfigError(msg) from None


def _bool(value: str, where: str, key: str) -> bool:
    v = value.lower()
    if v in _BOOL_TRUE:
        return True
    if v in _BOOL_FALSE:
        return False
    msg = f"{where}: {key!r} expects yes or no, got {value!r}"
    raise ConfigError(msg)


def load_config(path: str | os.PathLike[str]) -> DaemonConfig:
    """Load TOML when the name ends in ``.toml``, else rsyncd.conf syntax."""
    if str(path).endswith(".toml"):
        return load_toml(path)
    return load_rsyncd_conf(path)
