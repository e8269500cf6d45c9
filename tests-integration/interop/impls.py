"""The implementations under test: what each can be (client, server, daemon) and claims.

An implementation is described by a TOML file (``--impl NAME=FILE``)::

    name = "openrsync"  # optional: NAME on the command line wins
    version = "a257c0f"  # optional, shown in the reports
    client = ["/opt/openrsync/openrsync"]  # runs as the client: flags and paths follow
    server = ["/opt/openrsync/openrsync"]  # what a remote shell runs: "--server ..." follows
    daemon = [
        "/opt/x/rsync",
        "--daemon",
        "--no-detach",
        "--config={config}",
        "--port={port}",
        "--address={address}",
    ]
    rsh_daemon = ["/opt/x/rsync", "--config={config}"]  # daemon over a remote shell
    protocol = 27  # the highest protocol it speaks
    min_protocol = 27  # the lowest (default 27)
    options = [
        "--archive",
        "--hard-links",
        "--delete",
        "--compress",
        "--sparse",
        "--exclude",
        "--filter",
        "--protocol",
        "--rsh",
    ]  # omitted: everything
    [env]  # extra environment for its processes
    LC_ALL = "C"

Each of ``client``, ``server``, ``daemon`` and ``rsh_daemon`` is optional: an implementation
without a daemon gets no daemon column, one without a client no row. ``{config}`` is an
rsyncd.conf written by the matrix, ``{port}`` and ``{address}`` where to listen. When
``daemon`` is given and ``rsh_daemon`` is not, daemon over a remote shell runs
``server + ["--config={config}"]`` (rsync's own way: ``rsync --config=F --server --daemon .``).

Built in: ``rsync`` (the first on PATH, or ``PYRSYNC_IT_RSYNC``), ``pyrsync`` (our client) and
``pyrsyncd`` (our server and daemon), both run with this interpreter.

Not here: running anything but ``--version`` (see ``matrix``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

PROTOCOLS: Final = tuple(range(27, 33))
"""The protocols the matrix knows (rsync 2.6.0's 27 to rsync 3.x's 32)."""

KNOWN_OPTIONS: Final = frozenset(
    {
        "--archive",
        "--hard-links",
        "--delete",
        "--compress",
        "--sparse",
        "--exclude",
        "--filter",
        "--protocol",
        "--rsh",
        "--rsync-path",
        "--itemize-changes",
    }
)
"""The options the scenarios use; an ``options`` claim names a subset of these."""

_KEYS: Final = frozenset(
    {
        "name",
        "version",
        "client",
        "server",
        "daemon",
        "rsh_daemon",
        "protocol",
        "min_protocol",
        "options",
        "env",
    }
)
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,39}$")


class ImplementationError(ValueError):
    """An implementation description is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class Implementation:
    """One rsync implementation and the roles it can take."""

    name: str
    client: tuple[str, ...] | None = None
    server: tuple[str, ...] | None = None
    daemon: tuple[str, ...] | None = None
    rsh_daemon: tuple[str, ...] | None = None
    protocol: int = 32
    min_protocol: int = 27
    options: frozenset[str] | None = None
    """The options it claims; None claims every option in ``KNOWN_OPTIONS``."""
    env: dict[str, str] = field(default_factory=dict)
    version: str = ""
    source: str = "built in"

    @property
    def protocols(self) -> tuple[int, ...]:
        """The protocols it claims, oldest first."""
        return tuple(p for p in PROTOCOLS if self.min_protocol <= p <= self.protocol)

    def claims(self, option: str) -> bool:
        """Return whether the implementation claims ``option`` (a long name)."""
        return self.options is None or option in self.options

    def describe(self) -> dict[str, Any]:
        """Return the description as plain data (for the JSON report)."""
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "client": list(self.client) if self.client else None,
            "server": list(self.server) if self.server else None,
            "daemon": list(self.daemon) if self.daemon else None,
            "rsh_daemon": list(self.rsh_daemon) if self.rsh_daemon else None,
            "protocol": self.protocol,
            "min_protocol": self.min_protocol,
            "options": sorted(self.options) if self.options is not None else None,
        }


def _argv(value: object, key: str, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        msg = f"{where}: {key} must be a non-empty list of strings, got {value!r}"
        raise ImplementationError(msg)
    return tuple(value)


def _int(value: object, key: str, where: str, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not 20 <= value <= 40:
        msg = f"{where}: {key} must be a protocol number (27 to 32), got {value!r}"
        raise ImplementationError(msg)
    return value


def parse_implementation(data: dict[str, Any], *, name: str | None, where: str) -> Implementation:
    """Build an ``Implementation`` from parsed TOML.

    Raises:
        ImplementationError: an unknown key, a value of the wrong type, no role at all.
    """
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        msg = f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}"
        raise ImplementationError(msg)
    impl_name = name or data.get("name")
    if not isinstance(impl_name, str) or not _NAME.match(impl_name):
        msg = f"{where}: the name must be 1-40 letters, digits or ._+- (got {impl_name!r})"
        raise ImplementationError(msg)
    client = _argv(data.get("client"), "client", where)
    server = _argv(data.get("server"), "server", where)
    daemon = _argv(data.get("daemon"), "daemon", where)
    rsh_daemon = _argv(data.get("rsh_daemon"), "rsh_daemon", where)
    if rsh_daemon is None and daemon is not None and server is not None:
        rsh_daemon = (*server, "--config={config}")
    if not (client or server or daemon):
        msg = f"{where}: give at least one of client, server, daemon"
        raise ImplementationError(msg)
    protocol = _int(data.get("protocol"), "protocol", where, 32)
    min_protocol = _int(data.get("min_protocol"), "min_protocol", where, 27)
    if min_protocol > protocol:
        msg = f"{where}: min_protocol {min_protocol} is above protocol {protocol}"
        raise ImplementationError(msg)
    options_value = data.get("options")
    options: frozenset[str] | None = None
    if options_value is not None:
        if not isinstance(options_value, list) or not all(
            isinstance(o, str) for o in options_value
        ):
            msg = f"{where}: options must be a list of long option names"
            raise ImplementationError(msg)
        options = frozenset(options_value)
    env_value = data.get("env", {})
    if not isinstance(env_value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env_value.items()
    ):
        msg = f"{where}: env must be a table of strings"
        raise ImplementationError(msg)
    version = data.get("version", "")
    return Implementation(
        name=impl_name,
        client=client,
        server=server,
        daemon=daemon,
        rsh_daemon=rsh_daemon,
        protocol=protocol,
        min_protocol=min_protocol,
        options=options,
        env=dict(env_value),
        version=str(version),
        source=where,
    )


def load_implementation(spec: str) -> Implementation:
    """Load ``NAME=FILE`` (or just ``FILE``, the name then coming from the file).

    Raises:
        ImplementationError: the file is missing or not valid TOML, or see
            ``parse_implementation``.
    """
    name, sep, path_text = spec.partition("=")
    if not sep:
        name, path_text = "", spec
    path = Path(path_text)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"--impl {spec}: cannot read {path}: {exc.strerror or exc}"
        raise ImplementationError(msg) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"--impl {spec}: {path} is not valid TOML: {exc}"
        raise ImplementationError(msg) from None
    return parse_implementation(data, name=name or None, where=str(path))


def _version_of(argv: tuple[str, ...]) -> tuple[str, int | None]:
    try:
        result = subprocess.run([*argv, "--version"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "", None
    text = result.stdout.decode("utf-8", "replace")
    version = re.search(r"\bversion\s+v?(\d[\w.]*)", text)
    proto = re.search(r"protocol version (\d+)", text)
    return (version.group(1) if version else "", int(proto.group(1)) if proto else None)


def builtin_rsync() -> Implementation | None:
    """rsync from ``PYRSYNC_IT_RSYNC`` or PATH, or None when there is none."""
    found = os.environ.get("PYRSYNC_IT_RSYNC") or shutil.which("rsync")
    if not found:
        return None
    path = str(Path(found).absolute())
    version, protocol = _version_of((path,))
    return Implementation(
        name="rsync",
        client=(path,),
        server=(path,),
        daemon=(
            path,
            "--daemon",
            "--no-detach",
            "--config={config}",
            "--port={port}",
            "--address={address}",
        ),
        rsh_daemon=(path, "--config={config}"),
        protocol=min(protocol or 32, 32),
        version=version,
        source=path,
    )


def _our_version() -> str:
    try:
        from importlib.metadata import version

        return version("rsync-client")
    except Exception:  # noqa: BLE001 -- only decoration for the report
        return ""


def builtin_ours() -> list[Implementation]:
    """pyrsync (client) and pyrsyncd (server and daemon), run with this interpreter."""
    python = sys.executable
    client = (python, "-c", "import sys; from rsync_client.cli import main; sys.exit(main())")
    daemon_prefix = (python, "-m", "rsync_daemon")
    version = _our_version()
    return [
        Implementation(name="pyrsync", client=client, version=version, source=python),
        Implementation(
            name="pyrsyncd",
            server=daemon_prefix,
            daemon=(
                *daemon_prefix,
                "--daemon",
                "--no-detach",
                "--config={config}",
                "--port={port}",
                "--address={address}",
            ),
            rsh_daemon=(*daemon_prefix, "--config={config}"),
            version=version,
            source=python,
        ),
    ]


def builtins() -> dict[str, Implementation]:
    """The built-in implementations that are present, by name."""
    found: dict[str, Implementation] = {}
    rsync = builtin_rsync()
    if rsync is not None:
        found[rsync.name] = rsync
    for impl in builtin_ours():
        found[impl.name] = impl
    return found


def fill(template: tuple[str, ...], **values: str | int) -> list[str]:
    """Substitute ``{config}``, ``{port}``, ``{address}`` in each word of ``template``."""
    out = []
    for word in template:
        for key, value in values.items():
            word = word.replace("{" + key + "}", str(value))
        out.append(word)
    return out
