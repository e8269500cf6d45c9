"""Daemon configuration: listeners and modules, from flags, TOML or rsyncd.conf.

Every loader produces the same :class:`DaemonConfig`. Errors name the file, the
line and what was expected, in one line.

rsync: loadparm.c (rsyncd.conf parameters and their defaults).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import stat
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args

import msgspec

from rsync_daemon.errors import ConfigError
from rsync_daemon.safeopen import open_trusted, read_trusted, resolve_trusted_dir
from rsync_wire.errors import UnsupportedError
from rsync_wire.proto.charset import charset_for
from rsync_wire.proto.constants import MIN_PROTOCOL, PROTOCOL_VERSION
from rsync_wire.sockopts import SOCKET_OPTIONS

__all__ = [
    "DaemonConfig",
    "DaemonLogFormat",
    "ModuleConfig",
    "SandboxMode",
    "check_protocol_option",
    "insecure_links_modules",
    "load_config",
    "load_rsyncd_conf",
    "load_toml",
    "parse_listen",
    "parse_module_flag",
    "parse_socket_options",
    "resolve_group",
    "resolve_user",
    "settle_module_paths",
]

DEFAULT_TIMEOUT = 600
NOBODY_ID = 65534  # the uid and gid of nobody/nogroup: rsync's default when run as root
DEFAULT_LOCK_FILE = "/var/run/rsyncd.lock"  # rsync: rsync.h DEFAULT_LOCK_FILE
DEFAULT_LOG_FORMAT = "%o %h [%a] %m (%u) %f %l"  # rsync: daemon-parm.txt log_format
SandboxMode = Literal["auto", "namespace", "landlock", "off"]
SANDBOX_MODES: tuple[str, ...] = get_args(SandboxMode)
DaemonLogFormat = Literal["text", "json"]
DAEMON_LOG_FORMATS: tuple[str, ...] = get_args(DaemonLogFormat)


class ModuleConfig(msgspec.Struct, kw_only=True):
    """One module.

    Attributes mirror rsyncd.conf parameters of the same names (with ``_`` for spaces).
    """

    name: str
    path: str
    shown_path: str = ""
    """The ``path`` the operator configured, once confinement has moved ``path`` into the
    sandbox (``/<name>/module``): what the transfer log's ``%P`` shows, as rsync does."""
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
    charset: str = ""  # the charset of the module's names (--iconv; empty: refused)
    numeric_ids: bool = False
    fake_super: bool = False  # owners and modes in the user.rsync.%stat xattr
    max_connections: int = 0
    dont_compress: list[str] | None = None  # None: rsync's default list
    lock_file: str = DEFAULT_LOCK_FILE
    max_verbosity: int = 1
    write_only: bool = False
    ignore_nonreadable: bool = False
    ignore_errors: bool = False  # uploads only (the receiver)
    early_exec: str = ""
    pre_xfer_exec: str = ""
    post_xfer_exec: str = ""
    name_converter: str = ""
    """A program asked for user and group names and ids (rsync's ``name converter``)."""
    incoming_chmod: str = ""  # uploads only (the receiver)
    outgoing_chmod: str = ""
    munge_symlinks: bool = False
    insecure_links: bool = False
    """``insecure links = yes``: the administrator's opt-out for this module. Without chroot
    its symlinks are followed wherever they lead, as rsync did before 3.5 (see
    `ModuleConfig.follows_any_link`)."""
    use_chroot: bool = False
    """rsync's ``use chroot`` as it resolves it (pyrsyncd confines itself either way; without
    chroot, uploaded symlink targets are sanitized as rsync's daemon does)."""
    transfer_logging: bool = False
    log_format: str = DEFAULT_LOG_FORMAT
    log_file: str | None = None
    syslog_facility: str = "daemon"
    syslog_tag: str = "rsyncd"
    reverse_lookup: bool = True
    forward_lookup: bool = True
    strict_modes: bool = True
    auth_digest: str = ""
    temp_dir: str = ""  # uploads only (the receiver)
    exclude_from: str = ""
    include_from: str = ""
    exclude_from_rules: bytes = b""
    """The ``exclude from`` file's contents, read at start-up (through trusted symlinks)."""
    include_from_rules: bytes = b""
    """The ``include from`` file's contents, read at start-up (through trusted symlinks)."""
    uid: int | None = None
    """The module's own ``uid`` (rsync switches to it once the client chose the module);
    None: the daemon's (`DaemonConfig.uid`)."""
    gid: int | None = None
    """The module's own group (the first of rsync's ``gid`` list); None: the daemon's."""
    id_error: str = ""
    """rsync's answer to this module's clients when its ``uid``/``gid`` does not resolve
    (``invalid uid NAME``, ``invalid gid NAME``); the daemon serves the other modules."""
    groups: list[int] = msgspec.field(default_factory=list)
    """Every group of the module's ``gid`` list, the first included (rsync's
    ``setgroups``); ``gid = *`` is the ``uid`` user's groups, read at start-up."""
    unavailable: str = ""
    """Why the module cannot be served (its path is missing or refused); clients get
    rsync's ``@ERROR: chdir failed`` and the daemon keeps serving the others."""

    @property
    def follows_any_link(self) -> bool:
        """Whether this module's symlinks lead anywhere on the host (``insecure links = yes``).

        Only without chroot: in a chrooted module a link cannot leave the module whatever
        the parameter says, and pyrsyncd resolves it inside the module as a chroot would.

        rsync: syscall.c symlink_optout_allowed() (lp_insecure_links()).
        """
        return self.insecure_links and not self.use_chroot


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
        daemon_log_format: how the daemon's own process log is written to standard error
            or syslog: ``text`` (rsync's lines, the default) or ``json`` (one object a
            line; `rsync_daemon.logsetup`). A ``log file`` keeps rsync's lines either way.
            ``pyrsyncd --log-format``, TOML ``daemon_log_format``, rsyncd.conf
            ``daemon log format`` (pyrsyncd's own; rsync ignores it with a warning).
    """

    listen: list[tuple[str, int]] = msgspec.field(default_factory=list)
    modules: dict[str, ModuleConfig] = msgspec.field(default_factory=dict)
    motd_file: str | None = None
    motd_text: bytes = b""
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
    proxy_protocol: bool = False
    proxy_protocol_hosts: list[str] = msgspec.field(default_factory=list)
    listen_backlog: int = 128
    socket_options: list[tuple[int, int, int]] = msgspec.field(default_factory=list)
    reverse_lookup: bool = True
    syslog_facility: str = "daemon"
    syslog_tag: str = "rsyncd"
    daemon_log_format: DaemonLogFormat = "text"
    protocol: int | None = None
    """``--protocol=N`` on the daemon's command line: the version its greeting announces,
    the most it speaks (rsync: clientserver.c exchange_protocols()); None: the newest."""
    warnings: list[str] = msgspec.field(default_factory=list)


def check_protocol_option(protocol: int) -> int:
    """A daemon's ``--protocol`` value, if this daemon speaks it.

    Raises:
        ConfigError: outside 27..32 (rsync, which speaks down to 20, starts and fails each
            connection instead).
    """
    if not MIN_PROTOCOL <= protocol <= PROTOCOL_VERSION:
        msg = f"--protocol must be between {MIN_PROTOCOL} and {PROTOCOL_VERSION}"
        raise ConfigError(msg)
    return protocol


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
    "charset": str,
    "numeric_ids": bool,
    "max_connections": int,
    "dont_compress": list,
    "lock_file": str,
    "max_verbosity": int,
    "write_only": bool,
    "ignore_nonreadable": bool,
    "ignore_errors": bool,
    "early_exec": str,
    "pre_xfer_exec": str,
    "post_xfer_exec": str,
    "incoming_chmod": str,
    "outgoing_chmod": str,
    "munge_symlinks": bool,
    "insecure_links": bool,
    "transfer_logging": bool,
    "log_format": str,
    "log_file": str,
    "syslog_facility": str,
    "syslog_tag": str,
    "reverse_lookup": bool,
    "forward_lookup": bool,
    "strict_modes": bool,
    "auth_digest": str,
    "temp_dir": str,
    "exclude_from": str,
    "include_from": str,
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
        elif key in ("proxy_protocol", "reverse_lookup"):
            if not isinstance(value, bool):
                msg = f"{where}: {key!r} expects true or false"
                raise ConfigError(msg)
            setattr(cfg, key, value)
        elif key in ("syslog_facility", "syslog_tag"):
            if not isinstance(value, str):
                msg = f"{where}: {key!r} expects a string"
                raise ConfigError(msg)
            if key == "syslog_facility":
                _check_value("syslog facility", value, where)
            setattr(cfg, key, value.lower() if key == "syslog_facility" else value)
        elif key == "socket_options":
            if not isinstance(value, str):
                msg = f"{where}: 'socket_options' expects a string like \"SO_KEEPALIVE\""
                raise ConfigError(msg)
            try:
                cfg.socket_options = parse_socket_options(value)  # TOML: unknown is an error
            except ValueError as exc:
                msg = f"{where}: 'socket_options': {exc}"
                raise ConfigError(msg) from None
        elif key == "proxy_protocol_hosts":
            items = value.split() if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
                msg = f"{where}: {key!r} expects a list of addresses"
                raise ConfigError(msg)
            cfg.proxy_protocol_hosts = items
        elif key in ("max_connections", "timeout", "listen_backlog"):
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
        elif key == "daemon_log_format":
            if value not in DAEMON_LOG_FORMATS:
                msg = f"{where}: 'daemon_log_format' expects one of {', '.join(DAEMON_LOG_FORMATS)}"
                raise ConfigError(msg)
            cfg.daemon_log_format = value
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
                "anonssh_host_key, anonssh_authorized_keys, proxy_protocol, "
                "proxy_protocol_hosts, listen_backlog, socket_options, reverse_lookup, "
                "syslog_facility, syslog_tag, daemon_log_format, modules)"
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
    for key in ("path", "lock_file", "log_file", "secrets_file", "exclude_from", "include_from"):
        if kwargs.get(key):
            kwargs[key] = os.path.abspath(os.path.join(p.parent, kwargs[key]))
    for key, value in kwargs.items():
        if key in ("syslog_facility", "incoming_chmod", "outgoing_chmod"):
            _check_value(key.replace("_", " "), value, where)
    if kwargs.get("exclude_from"):
        kwargs["exclude_from_rules"] = _from_file(p, kwargs["exclude_from"], where, "exclude from")
    if kwargs.get("include_from"):
        kwargs["include_from_rules"] = _from_file(p, kwargs["include_from"], where, "include from")
    for text in kwargs.get("filter", []):
        _check_module_filter(text, where)
    return ModuleConfig(name=name, **kwargs)


# -- rsyncd.conf ---------------------------------------------------------------------------
#
# rsync's grammar (rsync: params.c, loadparm.c): one item a line; "#" or ";" first on a
# line starts a comment; a trailing backslash continues the line; "[name]" opens a
# module ("[global]" returns to the global section); "name = value" sets a parameter
# (names are compared without case and whitespace); "&include PATH" and "&merge PATH"
# read another file, or the *.conf / *.inc files of a directory in name order. Global
# parameters set module defaults for the modules that *follow* them. An &include'd file
# starts from the current defaults and cannot change them for the rest of the parent;
# an &merge'd file is read as if it stood in place of the directive.
#
# Every parameter of rsync 3.5's manual is in _PARAMS: stored and used, or refused at
# start-up with FILE:LINE and the reason (see _REFUSED and _check_value). Nothing is
# accepted and then ignored.

_BOOL_TRUE = {"yes", "true", "1"}
_BOOL_FALSE = {"no", "false", "0"}
_UNSET = {"unset", "-1"}

# name -> (scope, kind). scope "g": global section only; "m": module (or default).
# Kinds: str, path, int, bool, bool3 (yes/no/unset), list (words), facility.
_PARAMS: dict[str, tuple[str, str]] = {
    "address": ("g", "str"),
    "bind address": ("g", "str"),
    "daemon chroot": ("g", "str"),
    "daemon log format": ("g", "str"),  # pyrsyncd's own: text or json
    "daemon gid": ("g", "str"),
    "daemon uid": ("g", "str"),
    "motd file": ("g", "str"),
    "pid file": ("g", "str"),
    "proxy protocol hosts": ("g", "list"),
    "socket options": ("g", "str"),
    "listen backlog": ("g", "int"),
    "port": ("g", "int"),
    "rsync port": ("g", "int"),
    "proxy protocol": ("g", "bool"),
    "auth digest": ("m", "str"),
    "auth users": ("m", "list"),
    "charset": ("m", "str"),
    "comment": ("m", "str"),
    "dont compress": ("m", "list"),
    "early exec": ("m", "str"),
    "exclude": ("m", "str"),
    "exclude from": ("m", "str"),
    "filter": ("m", "str"),
    "gid": ("m", "str"),
    "hosts allow": ("m", "list"),
    "hosts deny": ("m", "list"),
    "include": ("m", "str"),
    "include from": ("m", "str"),
    "incoming chmod": ("m", "str"),
    "lock file": ("m", "str"),
    "log file": ("m", "str"),
    "log format": ("m", "str"),
    "name": ("m", "str"),
    "name converter": ("m", "str"),
    "outgoing chmod": ("m", "str"),
    "post-xfer exec": ("m", "str"),
    "pre-xfer exec": ("m", "str"),
    "refuse options": ("m", "list"),
    "secrets file": ("m", "str"),
    "syslog tag": ("m", "str"),
    "uid": ("m", "str"),
    "path": ("m", "path"),
    "temp dir": ("m", "path"),
    "max connections": ("m", "int"),
    "max verbosity": ("m", "int"),
    "timeout": ("m", "int"),
    "syslog facility": ("m", "facility"),
    "fake super": ("m", "bool"),
    "forward lookup": ("m", "bool"),
    "ignore errors": ("m", "bool"),
    "ignore nonreadable": ("m", "bool"),
    "insecure links": ("m", "bool"),
    "list": ("m", "bool"),
    "read only": ("m", "bool"),
    "reverse lookup": ("m", "bool"),
    "strict modes": ("m", "bool"),
    "transfer logging": ("m", "bool"),
    "write only": ("m", "bool"),
    "munge symlinks": ("m", "bool3"),
    "numeric ids": ("m", "bool3"),
    "open noatime": ("m", "bool3"),
    "use chroot": ("m", "bool3"),
}
_CANON = {"".join(k.split()): k for k in _PARAMS}

# Refused whenever set to a value that would change what rsync does (why, for the message).
_REFUSED: dict[str, str] = {
    "name": "a module's name is its [section] title",
    "open noatime": "pyrsyncd does not open files with O_NOATIME",
}
# The value that matches what pyrsyncd does anyway (accepted, since it changes nothing).
_HARMLESS: dict[str, set[str]] = {
    "open noatime": _BOOL_FALSE | _UNSET,
}

_FACILITIES = [
    "auth",
    "authpriv",
    "cron",
    "daemon",
    "ftp",
    "kern",
    "lpr",
    "mail",
    "news",
    "security",
    "syslog",
    "user",
    "uucp",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
]
_AUTH_DIGESTS = ("sha512", "sha256", "sha1", "md5", "md4")

_Value = tuple[str, str]  # (value, "FILE:LINE")


class _Parser:
    """rsync's loadparm state: the current defaults and the modules, in order."""

    def __init__(self) -> None:
        self.vars: dict[str, _Value] = {}
        self.sections: dict[str, dict[str, _Value]] = {}
        self.section_where: dict[str, str] = {}
        self.current: str | None = None
        self.depth = 0

    def parse_file(self, path: str, where: str) -> None:
        if self.depth > 16:
            msg = f"{where}: &include/&merge nested too deeply at {path}"
            raise ConfigError(msg)
        try:
            data = read_trusted(path, limit=16 << 20)
        except OSError as exc:
            msg = f"{where}: unable to open config file {path!r}: {exc.strerror}"
            raise ConfigError(msg) from None
        text = data.decode("utf-8", "surrogateescape")
        self.depth += 1
        try:
            for number, line in _logical_lines(text):
                self._line(path, number, line)
        finally:
            self.depth -= 1

    def _line(self, path: str, number: int, line: str) -> None:
        where = f"{path}:{number}"
        if not line or line[0] in "#;":
            return
        if line[0] == "[":
            end = line.find("]")
            if end < 0:
                msg = f"{where}: expected [module] on this line"
                raise ConfigError(msg)
            self._section(" ".join(line[1:end].split()), where)
            return
        if line[0] == "&":
            name, _, value = line.partition(" ")
            if "\t" in name:
                name, _, rest = name.partition("\t")
                value = rest + " " + value
            name = name.split("=")[0]
            value = value.strip()
            value = value.removeprefix("=").strip()
            self._directive(name.lower(), value, path, where)
            return
        key, eq, value = line.partition("=")
        if not eq:
            msg = f"{where}: expected 'parameter = value'"
            raise ConfigError(msg)
        self._parameter(key, value.strip(), where)

    def _section(self, name: str, where: str) -> None:
        if not name:
            msg = f"{where}: empty section name"
            raise ConfigError(msg)
        if "".join(name.split()).lower() == "global":
            self.current = None
            return
        _check_module_name(name, where=where)
        for existing in self.sections:
            if "".join(existing.split()).lower() == "".join(name.split()).lower():
                self.current = existing
                return
        self.sections[name] = {k: v for k, v in self.vars.items() if _PARAMS[k][0] == "m"}
        self.section_where[name] = where
        self.current = name

    def _parameter(self, raw_key: str, value: str, where: str) -> None:
        key = _CANON.get("".join(raw_key.split()).lower())
        if key is None:
            shown = " ".join(raw_key.split())
            msg = f"{where}: unknown parameter {shown!r}"
            raise ConfigError(msg)
        if self.current is None:
            self.vars[key] = (value, where)
            return
        if _PARAMS[key][0] == "g":
            msg = (
                f"{where}: {key!r} is a global parameter: set it before the first module or "
                "in a [global] section"
            )
            raise ConfigError(msg)
        self.sections[self.current][key] = (value, where)

    def _directive(self, name: str, value: str, path: str, where: str) -> None:
        if name not in ("&include", "&merge"):
            msg = f"{where}: unknown directive {name!r} (expected &include or &merge)"
            raise ConfigError(msg)
        if not value:
            msg = f"{where}: {name} expects a file or a directory"
            raise ConfigError(msg)
        target = os.path.join(os.path.dirname(path), value)
        manage_globals = name == "&include"
        try:
            fd = open_trusted(target, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            msg = f"{where}: unable to stat config file {target!r}: {exc.strerror}"
            raise ConfigError(msg) from None
        try:
            is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
            names = sorted(os.listdir(fd)) if is_dir else []
        finally:
            os.close(fd)
        if not is_dir:
            files = [target]
        else:
            suffix = ".conf" if manage_globals else ".inc"
            files = [os.path.join(target, n) for n in names if n.endswith(suffix)]
        if not manage_globals:
            for file in files:
                self.parse_file(file, where)
            return
        saved = dict(self.vars)
        for file in files:
            self.vars = dict(saved)
            self.current = None
            self.parse_file(file, where)
        self.vars = saved
        self.current = None


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with continuations joined, stripped, each with the number it started on."""
    out: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.replace("\r", "").strip()
        if not pending:
            start = number
            if line[:1] in ("#", ";"):
                continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        out.append((start, (pending + line).strip()))
        pending = ""
    if pending:
        out.append((start, pending.strip()))
    return out


def load_rsyncd_conf(path: str | os.PathLike[str]) -> DaemonConfig:
    """Load an rsyncd.conf (rsync's syntax with ``[module]`` sections and directives).

    Every parameter of rsync 3.5's manual is either used or refused here; see the
    comment above `_PARAMS`. The file and every file it includes are opened without
    following symlinks that someone other than root or this user owns
    (`rsync_daemon.safeopen`).

    Raises:
        ConfigError: a syntax error, an unknown or refused parameter or a bad value,
            with file and line.
    """
    p = Path(path)
    parser = _Parser()
    parser.parse_file(str(p), str(p))
    cfg = DaemonConfig(source=str(p))
    g = parser.vars
    for key, (value, where) in g.items():
        _check_value(key, value, where)
    address = g.get("address", g.get("bind address", ("", "")))[0]
    port_value = g.get("port", g.get("rsync port"))
    port = _int(*port_value, "port") if port_value else 873
    if port == 0:
        port = 873
    cfg.listen = [(address or "0.0.0.0", port)]  # noqa: S104 - rsync's default
    inside = g["daemon chroot"][0] if g.get("daemon chroot", ("", ""))[0] else ""
    if inside and not os.path.isabs(inside):
        msg = f"{g['daemon chroot'][1]}: 'daemon chroot' must be an absolute path"
        raise ConfigError(msg)
    if "motd file" in g:
        cfg.motd_file = _abs(p, g["motd file"][0], inside) or None
    if "pid file" in g:
        cfg.pid_file = _abs(p, g["pid file"][0]) or None
    if "log file" in g:
        cfg.log_file = _abs(p, g["log file"][0]) or None
    if "socket options" in g:
        found: list[str] = []
        cfg.socket_options = parse_socket_options(g["socket options"][0], found)
        where = g["socket options"][1]
        cfg.warnings.extend(f"{where}: {problem}" for problem in found)  # logged, as rsync
    if "listen backlog" in g:
        cfg.listen_backlog = max(1, _int(*g["listen backlog"], "listen backlog"))
    if "proxy protocol" in g:
        cfg.proxy_protocol = _bool(*g["proxy protocol"], "proxy protocol")
    if "proxy protocol hosts" in g:
        cfg.proxy_protocol_hosts = _words(g["proxy protocol hosts"][0])
    if cfg.proxy_protocol and not cfg.proxy_protocol_hosts:
        cfg.warnings.append(  # rsync: clientserver.c daemon_main()
            '"proxy protocol = true" but "proxy protocol hosts" is unset: all connections '
            'will be rejected as untrusted proxy peers.  Set "proxy protocol hosts" to your '
            "trusted proxy's address."
        )
    if "reverse lookup" in g:
        cfg.reverse_lookup = _bool(*g["reverse lookup"], "reverse lookup")
    if "syslog facility" in g:
        cfg.syslog_facility = g["syslog facility"][0].lower()
    if "syslog tag" in g:
        cfg.syslog_tag = g["syslog tag"][0]
    if "daemon log format" in g:
        cfg.daemon_log_format = "json" if g["daemon log format"][0].lower() == "json" else "text"
    if "uid" in g:
        # an unknown user or group is the error of each connection to the modules that
        # use it, as in rsync (below); the daemon starts
        with contextlib.suppress(ConfigError):
            cfg.uid = resolve_user(g["uid"][0], where=g["uid"][1])
    if "timeout" in g:
        cfg.timeout = _int(*g["timeout"], "timeout")
    for params in parser.sections.values():
        for key, (value, where) in params.items():
            _check_value(key, value, where)
    if "gid" in g:
        with contextlib.suppress(ConfigError):
            cfg.gid = _gid_list(cfg.uid, *g["gid"])[1]
    _daemon_ids(cfg, g)
    for name, params in parser.sections.items():
        mod = _rsyncd_module(p, name, params, parser.section_where[name], inside=inside)
        try:
            if "uid" in params:
                try:
                    mod.uid = resolve_user(params["uid"][0], where=params["uid"][1])
                except ConfigError as exc:
                    answer = f"invalid uid {params['uid'][0]}"
                    raise _BadIdError(answer, str(exc)) from None
            if "gid" in params:
                mod.gid, mod.groups = _module_gids(mod.uid, cfg.uid, *params["gid"])
        except _BadIdError as exc:
            # rsync: clientserver.c rsync_module() ("Invalid gid %s" in the log, the
            # client gets "@ERROR: invalid gid %s"), after the module's access checks
            mod.id_error = exc.answer
            cfg.warnings.append(f"module [{name}]: {exc.reason} (clients get: {exc.answer})")
        cfg.modules[name] = mod
        digest = cfg.modules[name].auth_digest
        if digest and digest not in _AUTH_DIGESTS:
            where = params["auth digest"][1]
            cfg.warnings.append(  # rsync accepts it and refuses every login: fail closed
                f"{where}: 'auth digest = {digest}' is not a supported digest: every login "
                f"to module [{name}] will fail"
            )
    return cfg


def _check_value(key: str, value: str, where: str) -> None:
    """Refuse a parameter pyrsyncd cannot honour, or a value rsync would not accept."""
    if key in _REFUSED and value.lower() not in _HARMLESS.get(key, set()):
        msg = f"{where}: {key!r} is not supported: {_REFUSED[key]}"
        raise ConfigError(msg)
    kind = _PARAMS[key][1]
    if kind in ("bool", "bool3"):
        v = value.lower()
        if v not in _BOOL_TRUE | _BOOL_FALSE and not (kind == "bool3" and v in _UNSET):
            msg = f"{where}: {key!r} expects yes or no, got {value!r}"
            raise ConfigError(msg)
    elif kind == "int":
        _int(value, where, key)
    elif kind == "facility" and value.lower() not in _FACILITIES:
        msg = f"{where}: 'syslog facility' {value!r} is not one of {', '.join(_FACILITIES)}"
        raise ConfigError(msg)
    if key == "daemon log format" and value.lower() not in DAEMON_LOG_FORMATS:
        msg = f"{where}: 'daemon log format' expects one of {', '.join(DAEMON_LOG_FORMATS)}"
        raise ConfigError(msg)
    if key == "socket options":
        try:
            parse_socket_options(value, [])
        except ValueError as exc:
            msg = f"{where}: 'socket options': {exc}"
            raise ConfigError(msg) from None
    if key in ("path", "exclude from", "include from"):
        per_connection = _PER_CONNECTION_VAR.search(value)
        if per_connection is not None:
            msg = (
                f"{where}: {key!r} uses %{per_connection.group(1)}%, which depends on the "
                "client: pyrsyncd opens module paths and files at start-up, before any client "
                "is known"
            )
            raise ConfigError(msg)
    if key in ("incoming chmod", "outgoing chmod") and value and not _chmod_ok(value):
        msg = f"{where}: Invalid {key!r} directive: {value}"
        raise ConfigError(msg)


_CHMOD_RE = re.compile(r"[DF]?([ugoa]*[-+=]([rwxXst]*|[ugo])|[0-7]{1,4})")


def parse_socket_options(
    text: str, warnings: list[str] | None = None
) -> list[tuple[int, int, int]]:
    """``socket options`` as ``(level, option, value)`` for ``setsockopt``.

    rsync: socket.c set_socket_options() (``NAME`` or ``NAME=N``, separated by spaces or
    commas; the IPTOS ones take no value). Like rsync, an unknown name is reported (in
    ``warnings``, which the daemon logs at start-up) and skipped.

    Raises:
        ValueError: a value that is not a number (rsync would use 0), or an unknown
            name when no ``warnings`` list is given.
    """
    out: list[tuple[int, int, int]] = []
    for token in text.replace(",", " ").split():
        name, eq, raw = token.partition("=")
        if name not in SOCKET_OPTIONS:
            if warnings is None:
                msg = f"unknown socket option {name}"
                raise ValueError(msg)
            warnings.append(f"Unknown socket option {name}")
            continue
        level, option, fixed = SOCKET_OPTIONS[name]
        if fixed is not None:
            if eq and warnings is not None:
                warnings.append(f"syntax error -- {name} does not take a value")
            out.append((level, option, fixed))
            continue
        try:
            value = int(raw) if eq else 1
        except ValueError:
            msg = f"{name} expects a number, got {raw!r}"
            raise ValueError(msg) from None
        out.append((level, option, value))
    return out


def _chmod_ok(text: str) -> bool:
    """Whether ``text`` is a chmod string rsync's parse_chmod() accepts."""
    return all(_CHMOD_RE.fullmatch(part) for part in text.split(","))


_PER_CONNECTION_VAR = re.compile(
    r"%(RSYNC_(?:HOST_ADDR|HOST_NAME|USER_NAME|PID|REQUEST|ARG\d+|EXIT_STATUS|RAW_STATUS"
    r"|MODULE_PATH))%"
)
"""The %VARIABLES% rsync sets per connection, which a start-up value cannot hold."""


def expand_vars(value: str, module: str) -> str:
    """``%VAR%`` replaced by the environment variable, as rsync expands a string parameter.

    ``%RSYNC_MODULE_NAME%`` is the module's name (rsync sets it before it reads the
    module's path); a name that starts with an upper-case letter and is not set stays
    as written.

    rsync: loadparm.c expand_vars() (without shell escaping: not for a hook).
    """
    if "%" not in value:
        return value
    env = {**os.environ, "RSYNC_MODULE_NAME": module}
    out: list[str] = []
    i = 0
    while i < len(value):
        c = value[i]
        if c == "%" and i + 1 < len(value) and "A" <= value[i + 1] <= "Z":
            end = value.find("%", i + 1)
            if end > 0 and value[i + 1 : end] in env:
                out.append(env[value[i + 1 : end]])
                i = end + 1
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _rsyncd_module(
    p: Path, name: str, params: dict[str, _Value], where: str, *, inside: str = ""
) -> ModuleConfig:
    """One module's section; ``inside``: the ``daemon chroot`` its paths are inside of."""
    params = {
        key: (expand_vars(value[0], name), value[1])
        if key in ("path", "exclude from", "include from")
        else value
        for key, value in params.items()
    }

    def get(key: str, default: str = "") -> str:
        return params[key][0] if key in params else default

    def flag(key: str, *, default: bool) -> bool:
        return _bool(*params[key], key) if key in params else default

    if not get("path"):
        msg = f"{where}: module [{name}] has no 'path'"
        raise ConfigError(msg)
    raw_path = get("path")
    chroot3 = get("use chroot", "unset").lower()
    use_chroot = chroot3 in _BOOL_TRUE or (
        chroot3 in _UNSET and ("/./" in raw_path or os.geteuid() == 0)
    )
    inner = "/./" in raw_path
    munge3 = get("munge symlinks", "unset").lower()
    munge = (munge3 in _BOOL_TRUE) if munge3 not in _UNSET else (not use_chroot or inner)
    numeric3 = get("numeric ids", "unset").lower()
    # rsync: clientserver.c rsync_module() (a name converter keeps names under chroot)
    numeric = (
        numeric3 not in _BOOL_FALSE and not get("name converter")
        if use_chroot
        else numeric3 in _BOOL_TRUE
    )
    exclude = get("exclude").split()
    include = get("include").split()
    exclude_rules = (
        _from_file(p, *params["exclude from"], "exclude from", inside)
        if get("exclude from")
        else b""
    )
    include_rules = (
        _from_file(p, *params["include from"], "include from", inside)
        if get("include from")
        else b""
    )
    log_file = _abs(p, get("log file")) if "log file" in params else None
    if "filter" in params:
        _check_module_filter(*params["filter"])
    return ModuleConfig(
        name=name,
        path=_abs(p, raw_path, inside),
        comment=get("comment"),
        listed=flag("list", default=True),
        read_only=flag("read only", default=True),
        write_only=flag("write only", default=False),
        timeout=_int(*params["timeout"], "timeout") if "timeout" in params else DEFAULT_TIMEOUT,
        auth_users=conf_words(get("auth users")),
        secrets_file=_abs(p, get("secrets file"), inside) or None,
        hosts_allow=_words(get("hosts allow")),
        hosts_deny=_words(get("hosts deny")),
        exclude=exclude,
        include=include,
        filter=[get("filter")] if get("filter").strip() else [],
        exclude_from=_abs(p, get("exclude from"), inside),
        include_from=_abs(p, get("include from"), inside),
        exclude_from_rules=exclude_rules,
        include_from_rules=include_rules,
        refuse_options=_words(get("refuse options")),
        charset=_primed_charset(get("charset")),
        numeric_ids=numeric,
        fake_super=get("fake super", "no").lower() in _BOOL_TRUE,
        max_connections=_int(*params["max connections"], "max connections")
        if "max connections" in params
        else 0,
        lock_file=_abs(p, get("lock file"), inside) or _abs(p, DEFAULT_LOCK_FILE, inside),
        max_verbosity=_int(*params["max verbosity"], "max verbosity")
        if "max verbosity" in params
        else 1,
        dont_compress=get("dont compress").split() if "dont compress" in params else None,
        ignore_nonreadable=flag("ignore nonreadable", default=False),
        ignore_errors=flag("ignore errors", default=False),
        early_exec=get("early exec"),
        pre_xfer_exec=get("pre-xfer exec"),
        post_xfer_exec=get("post-xfer exec"),
        name_converter=get("name converter"),
        incoming_chmod=get("incoming chmod"),
        outgoing_chmod=get("outgoing chmod"),
        munge_symlinks=munge,
        insecure_links=flag("insecure links", default=False),
        use_chroot=use_chroot and not inner,
        transfer_logging=flag("transfer logging", default=False),
        log_format=get("log format", DEFAULT_LOG_FORMAT),
        log_file=log_file,
        syslog_facility=get("syslog facility", "daemon").lower(),
        syslog_tag=get("syslog tag", "rsyncd"),
        reverse_lookup=flag("reverse lookup", default=True),
        forward_lookup=flag("forward lookup", default=True),
        strict_modes=flag("strict modes", default=True),
        auth_digest=get("auth digest").lower(),
        temp_dir=get("temp dir"),
    )


def _check_module_filter(value: str, where: str) -> None:
    """A module's ``filter`` parses, and holds no rule pyrsyncd would not apply.

    rsync's daemon reads a ``merge`` file named in a module's filter when a client
    connects, and a ``dir-merge`` file in every directory it lists. pyrsyncd's module chain
    is built once, without files (the daemon is confined before a client connects) and
    without per-directory state, so it refuses such a module at start-up rather than
    serve what the rule was written to hide.

    rsync: clientserver.c rsync_module() (parse_filter_str() of the module's filter).
    """
    from rsync_wire.proto.filters import FilterError, RuleFlag, parse_rules

    try:
        rules = parse_rules(value.encode("utf-8", "surrogateescape"), word_split=True)
    except FilterError as exc:
        msg = f"{where}: 'filter': {exc}"
        raise ConfigError(msg) from None
    for rule in rules:
        if rule.flags & RuleFlag.MERGE_FILE:
            kind = "dir-merge" if rule.flags & RuleFlag.PERDIR_MERGE else "merge"
            msg = (
                f"{where}: 'filter': a {kind} rule ({rule.to_text().decode(errors='replace')}) "
                "is not supported in a module's filter by pyrsyncd (it would not be applied)"
            )
            raise ConfigError(msg)


def _from_file(p: Path, value: str, where: str, key: str, inside: str = "") -> bytes:
    """The contents of an ``exclude from``/``include from`` file, read now.

    Read at start-up, through trusted symlinks only, since the file is out of reach once
    the daemon is confined; the session parses it as rsync does (one rule a line, ``#``
    and ``;`` comments, ``+ ``/``- `` prefixes). rsync: clientserver.c rsync_module()
    (XFLG_FATAL_ERRORS: a file that cannot be read refuses the module).
    """
    path = _abs(p, value, inside)
    try:
        return read_trusted(path, limit=16 << 20)
    except OSError as exc:
        msg = f"{where}: {key} {path!r}: {exc.strerror}"
        raise ConfigError(msg) from None


def _primed_charset(name: str) -> str:
    """A module's ``charset``, its codec looked up now, before any sandbox or chroot.

    Python imports a codec on first use; a chrooted connection could not. An unknown
    charset is left for the connection to refuse, as rsync's daemon does.
    """
    if name:
        with contextlib.suppress(UnsupportedError):
            charset_for(name, server=True)
    return name


def _abs(p: Path, value: str, inside: str = "") -> str:
    """A path of the configuration: relative to its directory, or inside ``daemon chroot``.

    rsync chroots each connection process to ``daemon chroot`` before it reads the
    module's path, motd, secrets, lock and ``exclude from`` files, so these name paths
    inside it (``..`` stops at its top, as at a root). pyrsyncd opens them on the host,
    below that directory (symbolic links in them are followed on the host, through
    trusted links only: `rsync_daemon.safeopen`).
    """
    if not value:
        return ""
    if inside:
        inner = os.path.normpath("/" + value)
        return os.path.normpath(inside + inner) if inner != "/" else os.path.normpath(inside)
    return os.path.normpath(os.path.join(p.parent, value))


def _words(value: str) -> list[str]:
    return value.replace(",", " ").split()


def conf_words(value: str) -> list[str]:
    """A list parameter split as rsync splits it.

    On spaces and commas, or, when the value starts with a comma, on commas only (so
    ``@Group Name:deny`` is one entry).

    rsync: util1.c conf_strtok().
    """
    text = value.lstrip()
    if text.startswith(","):
        return [tok.strip() for tok in text[1:].split(",") if tok.strip()]
    return _words(text)


def _daemon_ids(cfg: DaemonConfig, g: dict[str, _Value]) -> None:
    """``daemon uid``/``daemon gid``: the user the whole daemon becomes after binding.

    In rsync the connections then switch to the module's ``uid``/``gid``, which only works
    while the daemon is root. pyrsyncd switches once for everything: root as the daemon
    user changes nothing; another user becomes the daemon's ``uid``/``gid`` and must agree
    with them.
    """
    for key, kind in (("daemon uid", "uid"), ("daemon gid", "gid")):
        if key not in g:
            continue
        value, where = g[key]
        if not value:
            continue
        resolve = resolve_user if kind == "uid" else resolve_group
        number = resolve(value, where=where)
        if number == 0:
            continue
        current = cfg.uid if kind == "uid" else cfg.gid
        if current is not None and current != number:
            msg = (
                f"{where}: {key} {value!r} differs from {kind} {current}: a daemon that is not "
                f"root cannot switch to the module's {kind} (pyrsyncd switches once)"
            )
            raise ConfigError(msg)
        setattr(cfg, kind, number)


class _BadIdError(ConfigError):
    """A module's ``uid`` or ``gid`` that does not resolve: rsync's answer and why."""

    def __init__(self, answer: str, reason: str) -> None:
        super().__init__(reason)
        self.answer = answer
        self.reason = reason


def _module_gids(
    uid: int | None, daemon_uid: int | None, value: str, where: str
) -> tuple[int | None, list[int]]:
    """A module's ``gid`` list: its first group and every group (the first included).

    rsync: clientserver.c rsync_module() (add_a_group(), want_all_groups()).
    """
    if uid is None:
        uid = daemon_uid
    if uid is None:
        uid = NOBODY_ID if os.geteuid() == 0 else os.geteuid()
    groups, gid, _ = _gid_list(uid, value, where)
    return gid, groups


def _gid_list(uid: int | None, value: str, where: str) -> tuple[list[int], int | None, bool]:
    """Parse a ``gid`` list; returns (groups, first group or None, ``*`` used).

    ``*`` (first only) stands for every group of the ``uid`` user (rsync: uidlist.c
    getallgroups(), the user's own group first); the other words are group names or
    numbers. Read at start-up, before confinement hides ``/etc/group``.

    Raises:
        ConfigError: an unknown group, ``*`` not first, or ``*`` for an unknown user.
    """
    words = conf_words(value)
    groups: list[int] = []
    star = bool(words) and words[0] == "*"
    if star:
        if uid is None:
            return [], None, True  # the daemon's default: resolved per module
        try:
            pw = pwd.getpwuid(uid)
        except KeyError:
            msg = f"{where}: 'gid = *' needs a user name for uid {uid}: getpwuid failed"
            answer = "getpwuid failed"
            raise _BadIdError(answer, msg) from None
        found = os.getgrouplist(pw.pw_name, pw.pw_gid)
        groups = [pw.pw_gid, *(g for g in found if g != pw.pw_gid)]
        words = words[1:]
    for word in words:
        if word == "*":
            msg = f"{where}: 'gid': '*' must be the first item in the list"
            raise ConfigError(msg)
        try:
            groups.append(resolve_group(word, where=where))
        except ConfigError as exc:
            answer = f"invalid gid {word}"
            raise _BadIdError(answer, str(exc)) from None
    return groups, (groups[0] if groups else None), star


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


def _module_param(key: str) -> str | None:
    """The `ModuleConfig` field of a TOML module key (``list`` is ``listed``)."""
    field = key.replace(" ", "_").replace("-", "_")
    if field == "list":
        field = "listed"
    return field if field in _MODULE_KEYS else None


def settle_module_paths(
    config: DaemonConfig, *, required: set[str] | frozenset[str] = frozenset()
) -> list[str]:
    """Resolve every module's path through trusted symlinks only; mark the others unusable.

    A module whose path is missing, not a directory, or reached through a symlink that
    neither root nor this user owns is kept but marked `ModuleConfig.unavailable`: its
    clients get rsync's ``@ERROR: chdir failed`` and the daemon serves the other modules.
    A usable path is replaced by its real path, so that confinement binds exactly the
    directory checked here.

    rsync: clientserver.c rsync_module() (change_dir() of the module path, and
    path_failure()); syscall.c open_no_attacker_symlinks().

    Args:
        config: the configuration (changed in place).
        required: modules whose path must be usable (``--module`` flags): raise instead.

    Returns:
        One warning line per unusable module.

    Raises:
        ConfigError: a module in ``required`` is unusable.
    """
    warnings: list[str] = []
    for mod in config.modules.values():
        try:
            mod.path = resolve_trusted_dir(mod.path)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if mod.name in required:
                where = f"{config.source}: " if config.source else ""
                msg = f"{where}module {mod.name!r}: path {mod.path!r} is not a directory ({reason})"
                raise ConfigError(msg) from None
            mod.unavailable = f"chdir {mod.path} failed: {reason}"
            warnings.append(f"module {mod.name!r}: {mod.unavailable} (clients get: chdir failed)")
    return warnings


def insecure_links_modules(config: DaemonConfig) -> list[ModuleConfig]:
    """The served modules whose links lead anywhere (``insecure links = yes``, no chroot)."""
    return [m for m in config.modules.values() if m.follows_any_link and not m.unavailable]
