r"""Where the daemon's log lines go: the ``log file``, or syslog, as rsync's daemon does.

- ``log file`` set: lines are appended to it with rsync's prefix
  (``YYYY/MM/DD HH:MM:SS [PID] message``). The file is opened through trusted
  symlinks only (`rsync_daemon.safeopen`), before confinement. If it cannot be
  opened the daemon still starts: it says why on standard error and logs to syslog,
  as rsync does ("failed to open log-file ...", "Ignoring "log file" setting.").
- No ``log file`` in a configuration file: syslog, with the ``syslog facility`` and
  ``syslog tag`` of the configuration (``daemon``, ``rsyncd``). Without a syslog socket
  (``/dev/log``, as in many containers) lines go to standard error instead, except for
  a client on standard input (inetd, RSYNC_CONNECT_PROG: standard error may be the
  client's), when they are dropped as rsync's syslog() drops them.
- Flags only (``--listen``/``--module``): standard error.

A module's own ``log file`` is opened at start-up too; the connection process switches
to it once the client picked that module (`use_module_log`). Control characters in a
line are written as ``\\#ooo`` and a line is cut at `MAX_LINE` characters, so a client
cannot forge log lines or flood the log.

Every line of a connection knows its peer (``HOST:PORT``) and, once the client named
it, its module: `connection_context` and `set_module` keep them in context variables,
which the connection's tasks inherit, and `ContextFilter` puts them on each record
(``record.peer``, ``record.rsync_module``). With ``daemon_log_format = "json"``
(``pyrsyncd --log-format json``) standard error or syslog get one JSON object a line
(`JsonFormatter`: time, level, logger, message, peer, module, pid, and the record's
structured fields), for Loki or Elasticsearch; a ``log file`` keeps rsync's lines.

rsync: log.c log_init(), logfile_open(), syslog_init(), filtered_fwrite().
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import logging
import logging.handlers
import os
import re
import sys
from typing import TYPE_CHECKING, Any, Final

from rsync_daemon.safeopen import open_trusted
from rsync_wire.proto.escape import escape_text

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rsync_daemon.config import DaemonConfig, ModuleConfig

__all__ = [
    "MAX_LINE",
    "ContextFilter",
    "JsonFormatter",
    "RsyncFormatter",
    "connection_context",
    "set_module",
    "set_peer",
    "setup_logging",
    "use_module_log",
]

MAX_LINE: Final = 16 * 1024
_DEL_C1 = re.compile(r"[\x7f-\x9f]")
_SYSLOG_SOCKET = "/dev/log"
_module_handlers: dict[str, logging.Handler] = {}
_daemon_log: list[str | None] = [None]
_peer: contextvars.ContextVar[str | None] = contextvars.ContextVar("rsync_peer", default=None)
_module: contextvars.ContextVar[str | None] = contextvars.ContextVar("rsync_module", default=None)


def set_peer(peer: str) -> None:
    """From here on (in this task and those it starts) log lines carry ``peer``."""
    _peer.set(peer)


def set_module(name: str) -> None:
    """From here on log lines carry the module the client picked."""
    _module.set(name)


@contextlib.contextmanager
def connection_context(peer: str) -> Iterator[None]:
    """Lines logged inside carry ``peer`` (and the module, once `set_module` names it)."""
    peer_token = _peer.set(peer)
    module_token = _module.set(None)
    try:
        yield
    finally:
        _module.reset(module_token)
        _peer.reset(peer_token)


class ContextFilter(logging.Filter):
    """Puts the connection's ``peer`` and ``rsync_module`` on every record (None outside one).

    A value given with ``extra=`` wins (the listener logs a finished child's peer so).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Add the context; never drops a record."""
        if getattr(record, "peer", None) is None:
            record.peer = _peer.get()
        if getattr(record, "rsync_module", None) is None:
            # not "module": LogRecord.module is the source file's name
            record.rsync_module = _module.get()
        return True


# What every LogRecord has; anything else on a record came with extra= (structured fields).
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "peer", "rsync_module", "taskName"}
)


class JsonFormatter(logging.Formatter):
    r"""One JSON object a line: time, level, logger, message, peer, module, pid, extras.

    ``time`` is UTC in ISO 8601 with milliseconds; ``level`` is the level's name;
    ``exc`` holds a traceback when there is one. Fields given with ``extra=`` follow
    (values JSON cannot hold are written as their ``str``). Messages are cut at
    `MAX_LINE` characters and escaped as on a text line (rsync's ``\#ooo``).
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        text = record.getMessage()
        if len(text) > MAX_LINE:
            text = text[:MAX_LINE] + f"... [{len(text) - MAX_LINE} more characters]"
        when = datetime.datetime.fromtimestamp(record.created, tz=datetime.UTC)
        obj: dict[str, Any] = {
            "time": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _escaped(text.encode("utf-8", "surrogateescape")),
            "peer": getattr(record, "peer", None),
            "module": getattr(record, "rsync_module", None),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in obj:
                obj[key] = value
        if record.exc_info:
            obj["exc"] = _valid_text(self.formatException(record.exc_info))
        return json.dumps(obj, default=str)


def _valid_text(text: str) -> str:
    r"""``text`` without lone surrogates (bytes that were not UTF-8 become ``\#ooo``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return escape_text(text.encode("utf-8", "surrogateescape"), charset="utf-8")
    return text


class RsyncFormatter(logging.Formatter):
    r"""rsync's log line: a prefix, then the message with control characters escaped.

    ``raw`` (a log file): as rsync's logit(), control bytes and the bytes 0x80-0x9f become
    ``\#ooo`` and other bytes stay as they came (names that are not UTF-8 too: the file
    is written with ``surrogateescape``). Otherwise (syslog, standard error) bytes that are
    not UTF-8, DEL and the C1 characters are escaped as well, so that the line is valid
    text that a terminal shows as it is.
    """

    def __init__(
        self, prefix: str, datefmt: str | None = "%Y/%m/%d %H:%M:%S", *, raw: bool = False
    ) -> None:
        super().__init__(prefix + "%(message)s", datefmt)
        self.raw = raw

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        """The message, escaped and cut, in the prefix."""
        text = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if len(text) > MAX_LINE:
            text = text[:MAX_LINE] + f"... [{len(text) - MAX_LINE} more characters]"
        data = text.encode("utf-8", "surrogateescape")
        if self.raw:
            record.message = escape_text(data, charset=None, c1=True)
        else:
            record.message = _escaped(data)
        return self._style.format(record)


def _escaped(data: bytes) -> str:
    """Valid text for syslog and a terminal, without DEL and C1 controls either."""
    text = escape_text(data, charset="utf-8")
    return _DEL_C1.sub(lambda m: f"\\#{ord(m.group()):03o}", text)


class _FileHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that owns its file (closed with the handler)."""

    def close(self) -> None:
        """Flush and close the file."""
        try:
            self.flush()
            self.stream.close()
        except (OSError, ValueError):
            pass
        finally:
            super().close()


def _file_handler(path: str) -> logging.Handler:
    """A handler appending to ``path``, opened through trusted symlinks (raises OSError)."""
    old = os.umask(0o022)
    try:
        fd = open_trusted(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    finally:
        os.umask(old)
    stream = os.fdopen(fd, "a", encoding="utf-8", errors="surrogateescape", buffering=1)
    handler = _FileHandler(stream)
    handler.setFormatter(RsyncFormatter("%(asctime)s [%(process)d] ", raw=True))
    handler.addFilter(ContextFilter())
    return handler


def _syslog_handler(facility: str, tag: str, *, json_lines: bool = False) -> logging.Handler | None:
    if not os.path.exists(_SYSLOG_SOCKET):
        return None
    try:
        handler = logging.handlers.SysLogHandler(
            address=_SYSLOG_SOCKET,
            facility=logging.handlers.SysLogHandler.facility_names.get(facility, 3 << 3),
        )
    except OSError:
        return None
    if json_lines:
        handler.setFormatter(_TaggedJson(f"{tag}[%(process)d]: "))
    else:
        handler.setFormatter(RsyncFormatter(f"{tag}[%(process)d]: ", None))
    handler.addFilter(ContextFilter())
    return handler


class _TaggedJson(JsonFormatter):
    """syslog's ``TAG[PID]: `` prefix, then the JSON object."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        """The prefix and the record as JSON."""
        return self.prefix % {"process": record.process} + super().format(record)


def _stderr_handler(*, json_lines: bool = False) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RsyncFormatter("%(asctime)s pyrsyncd[%(process)d]: "))
    handler.addFilter(ContextFilter())
    return handler


def setup_logging(verbose: int, config: DaemonConfig, *, stderr: bool = True) -> list[str]:
    """Send the log where the configuration says; returns problems to report.

    With ``stderr`` false (a client on standard input, which may share our standard
    error: inetd, RSYNC_CONNECT_PROG) a daemon without a ``log file`` logs to syslog
    only, and without a syslog socket not at all, as rsync's syslog() does.

    With ``daemon_log_format = "json"`` the lines for syslog or standard error are JSON
    objects; a ``log file`` keeps rsync's lines, and JSON goes to standard error beside
    it (unless ``stderr`` is false).

    Also opens every module's own ``log file`` (they are out of reach after
    confinement).
    """
    problems: list[str] = []
    handler: logging.Handler | None = None
    json_lines = config.daemon_log_format == "json"
    if config.log_file:
        try:
            handler = _file_handler(config.log_file)
            _daemon_log[0] = config.log_file
        except OSError as exc:
            problems.append(
                f"failed to open log-file {config.log_file}: {exc.strerror}; "
                'Ignoring "log file" setting.'
            )
            config.log_file = None
    handlers: list[logging.Handler] = []
    if handler is not None:  # the log file, in rsync's format
        handlers.append(handler)
        if json_lines and stderr:  # and JSON for a collector on standard error
            handlers.append(_stderr_handler(json_lines=True))
    else:
        if config.source or not stderr:
            handler = _syslog_handler(
                config.syslog_facility, config.syslog_tag, json_lines=json_lines
            )
        if handler is None:
            handler = _stderr_handler(json_lines=json_lines) if stderr else logging.NullHandler()
        handlers.append(handler)
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    # asyncssh (the SSH listener) logs every channel event at INFO.
    logging.getLogger("asyncssh").setLevel(logging.DEBUG if verbose > 2 else logging.WARNING)
    for mod in config.modules.values():
        path = mod.log_file
        if not path or path == config.log_file or path in _module_handlers:
            continue
        try:
            _module_handlers[path] = _file_handler(path)
        except OSError as exc:
            problems.append(
                f"module {mod.name!r}: failed to open log-file {path}: {exc.strerror}; "
                "its lines go to the daemon's log"
            )
    return problems


def use_module_log(mod: ModuleConfig) -> None:
    """In a connection process: log to the module's own ``log file`` from now on."""
    handler = _module_handlers.get(mod.log_file or "")
    if handler is None or mod.log_file == _daemon_log[0]:
        return
    root = logging.getLogger()
    previous = root.handlers[:]
    kept = [h for h in previous if isinstance(h.formatter, JsonFormatter)]  # process log
    root.handlers[:] = [handler, *kept]
    for old in previous:
        if old not in kept:
            with contextlib.suppress(Exception):
                old.close()


_adopted_by: list[int] = [0]


def adopt_host_pid() -> None:
    """Log the pid the host sees, as rsync's lines show it (once per process).

    In the daemon's PID namespace a process's own pid is a small number; the pid in a
    log line is what an operator greps for and kills.
    """
    me = os.getpid()
    if _adopted_by[0] == me:
        return
    _adopted_by[0] = me
    from rsync_daemon import hooks

    pid = hooks.host_pid()
    if pid is None or pid == me:
        return
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if os.getpid() == me:  # not in a child forked since, until it adopts its own
            record.process = pid
        return record

    logging.setLogRecordFactory(factory)
