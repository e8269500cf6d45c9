"""A real ``rsync --daemon`` on loopback, for tests; and what any daemon fixture shares.

``DaemonModule`` and ``DaemonEndpoint`` are the shape every daemon fixture uses (the real
one here, ``our_daemon`` later), so that a test can be parametrized over daemons: modules go
in as ``{name: path}`` or ``DaemonModule`` records, and an endpoint comes out with ``host``,
``port``, ``url(module, path)`` and ``log_path``.

The generated rsyncd.conf says ``use chroot = no`` and ``munge symlinks = no`` (so a pushed
tree keeps its symlinks as they are) and, when the tests run as root (CI), ``uid``/``gid`` of
root, so files of any owner stay readable and owners can be set.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol, TypeAlias

from harness.proc import Service, start_service

if TYPE_CHECKING:
    from harness.tools import RealRsync

LOOPBACK: Final = "127.0.0.1"


@dataclass(frozen=True)
class DaemonModule:
    """One module of a daemon under test."""

    name: str
    path: Path
    read_only: bool = True
    comment: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    """Further rsyncd.conf parameters, for example ``{"exclude": "*.tmp", "list": "no"}``."""


Modules: TypeAlias = Mapping[str, Path | str | DaemonModule] | Iterable[DaemonModule]
"""How tests give modules to a daemon fixture: ``{name: path or DaemonModule}`` or records."""


def normalize_modules(modules: Modules) -> tuple[DaemonModule, ...]:
    """Turn ``{name: path or DaemonModule}`` or an iterable of modules into module records.

    A bare path makes a read-only module. Paths become absolute.

    Raises:
        ValueError: a name is empty, repeated, or contains ``/``, ``]`` or a line break.
    """
    if isinstance(modules, Mapping):
        items: list[DaemonModule] = []
        for name, spec in modules.items():
            if isinstance(spec, DaemonModule):
                items.append(spec if spec.name == name else _renamed(spec, name))
            else:
                items.append(DaemonModule(name=name, path=Path(spec)))
    else:
        items = list(modules)
    seen: set[str] = set()
    out = []
    for module in items:
        if not module.name or any(c in module.name for c in "/]\n\r") or module.name in seen:
            msg = f"bad or repeated module name {module.name!r}"
            raise ValueError(msg)
        seen.add(module.name)
        out.append(_renamed(module, module.name, path=Path(module.path).absolute()))
    return tuple(out)


def _renamed(module: DaemonModule, name: str, *, path: Path | None = None) -> DaemonModule:
    return DaemonModule(
        name=name,
        path=module.path if path is None else path,
        read_only=module.read_only,
        comment=module.comment,
        options=dict(module.options),
    )


class DaemonEndpoint(Protocol):
    """What tests use of a running daemon, whichever program it is."""

    host: str
    port: int
    log_path: Path
    modules: tuple[DaemonModule, ...]

    def url(self, module: str, path: str = "") -> str:
        """Return ``rsync://host:port/module/path``."""
        ...


def _conf_line(key: str, value: str) -> str:
    if "\n" in key or "\n" in value or "\r" in value:
        msg = f"line break in rsyncd.conf parameter {key!r} = {value!r}"
        raise ValueError(msg)
    return f"{key} = {value}"


def _own_ids() -> dict[str, str]:
    """Return ``uid``/``gid`` parameters keeping the daemon root when it runs as root."""
    if os.geteuid() != 0:
        return {}  # a normal user's daemon cannot switch users anyway
    try:
        user = pwd.getpwuid(0).pw_name
    except KeyError:
        user = "0"
    try:
        group = grp.getgrgid(os.getegid()).gr_name
    except KeyError:
        group = str(os.getegid())
    return {"uid": user, "gid": group}


def render_rsyncd_conf(
    modules: Iterable[DaemonModule],
    *,
    log_file: Path,
    lock_file: Path,
    global_options: Mapping[str, str] | None = None,
) -> str:
    """Return an rsyncd.conf for ``modules`` (see the module docstring for the defaults).

    ``global_options`` override or add parameters of the global section.
    """
    params: dict[str, str] = {
        "use chroot": "no",
        "munge symlinks": "no",
        "reverse lookup": "no",
        "log file": str(log_file),
        "lock file": str(lock_file),
        **_own_ids(),
        **(global_options or {}),
    }
    lines = ["# Written by tests-integration/harness/daemon.py", ""]
    lines += [_conf_line(k, v) for k, v in params.items()]
    for module in modules:
        lines += ["", f"[{module.name}]"]
        module_params = {"path": str(module.path), "read only": "yes" if module.read_only else "no"}
        if module.comment:
            module_params["comment"] = module.comment
        module_params.update(module.options)
        lines += ["    " + _conf_line(k, v) for k, v in module_params.items()]
    return "\n".join(lines) + "\n"


def list_modules(host: str, port: int, *, timeout: float = 5.0) -> list[str]:
    """Ask a daemon for its module list, as ``rsync rsync://host:port/`` does.

    Returns:
        The listing lines (``name<TAB>comment``); the exchange ends with ``@RSYNCD: EXIT``.

    Raises:
        OSError: the connection failed.
        ConnectionError: the daemon did not answer like an rsync daemon.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        stream = sock.makefile("rwb")
        try:
            greeting = stream.readline()
            if not greeting.startswith(b"@RSYNCD: "):
                msg = f"not an rsync daemon greeting: {greeting!r}"
                raise ConnectionError(msg)
            stream.write(b"@RSYNCD: 30.0\n\n")  # protocol 30 answers every 3.x; empty = list
            stream.flush()
            listing: list[str] = []
            while True:
                line = stream.readline()
                if not line:
                    msg = f"connection closed before @RSYNCD: EXIT; got {listing!r}"
                    raise ConnectionError(msg)
                text = line.decode("utf-8", "backslashreplace").rstrip("\n")
                if text == "@RSYNCD: EXIT":
                    return listing
                if text.startswith("@ERROR"):
                    raise ConnectionError(text)
                listing.append(text)
        finally:
            stream.close()


def daemon_ready(host: str, port: int) -> bool:
    """Return whether an rsync daemon answers a module-list request on ``host:port``."""
    try:
        list_modules(host, port, timeout=2.0)
    except (OSError, ConnectionError):
        return False
    return True


@dataclass
class RealDaemon:
    """A running daemon under test (rsync's, or ours: see ``start_daemon``)."""

    host: str
    port: int
    config_path: Path
    log_path: Path
    modules: tuple[DaemonModule, ...]
    service: Service
    grace: float = 0.1
    """Seconds between SIGTERM and SIGKILL when stopping."""

    def url(self, module: str, path: str = "") -> str:
        """Return ``rsync://host:port/module/path``; without ``path``, the module's contents."""
        return f"rsync://{self.host}:{self.port}/{module}/{path}"

    def log(self) -> str:
        """Return the daemon's log file and its stdout/stderr so far."""
        text = (
            self.log_path.read_text("utf-8", "backslashreplace") if self.log_path.exists() else ""
        )
        return text + self.service.output()

    def stop(self) -> None:
        """Stop the daemon and its per-connection children (SIGTERM, then SIGKILL)."""
        self.service.stop(grace=self.grace)


def start_daemon(
    program: Sequence[str],
    modules: Modules,
    *,
    workdir: Path,
    global_options: Mapping[str, str] | None = None,
    host: str = LOOPBACK,
    grace: float = 0.1,
    daemon_args: Sequence[str] = (),
) -> RealDaemon:
    """Start ``PROGRAM --daemon --no-detach --config=... --port=... --address=...``.

    The program reads the rsyncd.conf written here for ``modules``; returns once it answers
    a module-list request.

    Args:
        program: the daemon's command (``[rsync]`` or pyrsyncd's).
        modules: ``{name: path}`` (read-only) or ``DaemonModule`` records.
        workdir: an empty directory for the config, log and lock files.
        global_options: further global rsyncd.conf parameters.
        host: the address to listen on.
        grace: seconds between SIGTERM and SIGKILL at ``stop``.
        daemon_args: further daemon command-line options (``--bwlimit=…``).

    Raises:
        ServiceError: the daemon did not come up (its output is in the message).
    """
    records = normalize_modules(modules)
    config = workdir / "rsyncd.conf"
    log_path = workdir / "rsyncd.log"
    config.write_text(
        render_rsyncd_conf(
            records,
            log_file=log_path,
            lock_file=workdir / "rsyncd.lock",
            global_options=global_options,
        )
    )
    service, port = start_service(
        lambda port: [
            *program,
            "--daemon",
            "--no-detach",
            f"--config={config}",
            f"--port={port}",
            f"--address={host}",
            *daemon_args,
        ],
        output=workdir / "rsyncd.out",
        ready=lambda _service, port: daemon_ready(host, port),
        host=host,
    )
    return RealDaemon(
        host=host,
        port=port,
        config_path=config,
        log_path=log_path,
        modules=records,
        service=service,
        grace=grace,
    )


def start_real_daemon(
    rsync: RealRsync,
    modules: Modules,
    *,
    workdir: Path,
    global_options: Mapping[str, str] | None = None,
    host: str = LOOPBACK,
    daemon_args: Sequence[str] = (),
) -> RealDaemon:
    """Start ``rsync --daemon`` serving ``modules`` (see ``start_daemon``).

    rsync takes about half a second to act on SIGTERM and has nothing to flush (it writes
    its log line by line), so the grace period is short.
    """
    return start_daemon(
        rsync.argv(),
        modules,
        workdir=workdir,
        global_options=global_options,
        host=host,
        daemon_args=daemon_args,
    )


class RealDaemonFactory(Protocol):
    """The ``real_daemon`` fixture: starts a daemon, stopped when the test ends."""

    def __call__(
        self,
        modules: Modules,
        /,
        *,
        global_options: Mapping[str, str] | None = None,
        daemon_args: Sequence[str] = (),
    ) -> RealDaemon:
        """Start ``rsync --daemon`` serving ``modules``; see ``start_real_daemon``."""
        ...
