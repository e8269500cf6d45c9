"""Planning, running and classifying the cells of the interop matrix.

How this works:

1. ``plan`` lists the cells: every client x every server x transport (``daemon`` over TCP,
   ``rsh`` through an ``-e`` shim, ``rsh-daemon``: a daemon over a remote shell, ``local``)
   x direction (pull, push; a local copy has none) x every protocol both ends claim x
   scenario. A cell whose scenario needs an option one end does not claim is ``unclaimed``
   and not run.
2. ``run_matrix`` builds the source trees, starts one daemon per implementation that has
   one (an rsyncd.conf with one read-only module per tree and a writable ``push`` module),
   and runs every cell in its own directory, each command in its own process group, killed
   at the timeout. Every daemon is stopped at the end, whatever happened.
3. ``classify`` compares each cell with the same scenario run rsync <-> rsync (the
   *reference*: same transport, direction, protocol): the trees the two produced
   (``harness.compare.diff_trees``), their itemized output, their exit codes.

Statuses: ``identical``; ``differs`` (tree or output not the same as the reference's);
``limit`` (a clean refusal, exit code 1, 2, 4 or 5, that the implementation also gives
with rsync in the other seat: its own limit, not this pair's); ``failed`` (any other
failure: a crash, a signal, a traceback, a protocol error, a write outside the
destination); ``hung`` (killed at the timeout); ``unclaimed`` (not run).

Not here: reports (see ``report``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from harness.client import mask_error_location, normalize_output
from harness.compare import diff_trees, scan
from harness.daemon import DaemonModule, daemon_ready, render_rsyncd_conf
from harness.proc import ServiceError, format_argv, kill_group, start_service
from harness.shim import write_rsh_shim
from interop.impls import fill
from interop.scenarios import (
    BY_NAME,
    QUICK_SCENARIOS,
    SCENARIOS,
    Scenario,
    add_junk,
    build_sources,
    copy_tree,
    remove_tree,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from harness.proc import Service
    from interop.impls import Implementation

TRANSPORTS: Final = ("daemon", "rsh", "rsh-daemon", "local")
DIRECTIONS: Final = ("pull", "push")
STATUSES: Final = ("identical", "differs", "limit", "failed", "hung", "unclaimed")
REFUSAL_CODES: Final = frozenset({1, 2, 4, 5})
"""Exit codes of a clean refusal: usage, protocol, unsupported action, start of session."""
REFERENCE: Final = "rsync"
ROOT: Final = os.geteuid() == 0
MAX_LINES: Final = 60
"""Tree differences and output lines kept per cell."""
MAX_OUTPUT: Final = 20_000
"""Characters of stdout and stderr kept per run."""
RSYNC_ENVIRONMENT: Final = (
    "RSYNC_RSH",
    "RSYNC_CONNECT_PROG",
    "RSYNC_PROXY",
    "RSYNC_PASSWORD",
    "RSYNC_PORT",
    "RSYNC_ICONV",
    "RSYNC_PROTECT_ARGS",
    "RSYNC_OLD_ARGS",
    "RSYNC_CHECKSUM_LIST",
    "RSYNC_COMPRESS_LIST",
    "RSYNC_MAX_ALLOC",
)
_TRACEBACK: Final = "Traceback (most recent call last)"


class MatrixError(Exception):
    """The matrix cannot run at all (no rsync to compare with, nothing selected)."""


@dataclass(frozen=True, order=True)
class Key:
    """What a cell shares with its reference: transport, direction, protocol, scenario."""

    transport: str
    direction: str
    """``pull``, ``push``, or ``local``."""
    protocol: int
    scenario: str


@dataclass(frozen=True, order=True)
class CellSpec:
    """One cell: a client, a server (the client itself for a local copy) and a key."""

    key: Key
    client: str
    server: str

    @property
    def id(self) -> str:
        """A stable, readable identifier (used by the baseline and the reports)."""
        k = self.key
        if k.transport == "local":
            return f"local/{self.client}/p{k.protocol}/{k.scenario}"
        return f"{k.transport}/{k.direction}/{self.client}>{self.server}/p{k.protocol}/{k.scenario}"

    @property
    def row(self) -> tuple[str, str, str, str]:
        """The row of the grid: transport, direction, client, server."""
        return (self.key.transport, self.key.direction, self.client, self.server)


@dataclass
class Run:
    """What running one cell gave."""

    argv: list[str] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)
    """What the remote shell or the daemon runs (for the details)."""
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    timed_out: bool = False
    outside: list[str] = field(default_factory=list)
    """Writes outside the destination (the source, the cell's own directory)."""
    error: str = ""
    """Why the cell could not be started (its daemon is down, a copy failed)."""
    dest: Path | None = None
    work: str = ""
    itemized: bool = False

    @property
    def ok(self) -> bool:
        """The command exited 0 and did nothing it should not have."""
        return self.returncode == 0 and not self.timed_out and not self.outside and not self.error

    @property
    def crashed(self) -> bool:
        """Killed by a signal, a traceback, or a write outside the destination."""
        code = self.returncode
        signalled = code is not None and (code < 0 or code >= 128)
        return signalled or bool(self.outside) or _TRACEBACK in self.stderr + self.stdout

    @property
    def refused(self) -> bool:
        """A clean refusal: an exit code of ``REFUSAL_CODES``, no crash, no timeout."""
        return (
            not self.timed_out
            and not self.error
            and not self.crashed
            and self.returncode in REFUSAL_CODES
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the JSON report."""
        return {
            "argv": self.argv,
            "command": format_argv(self.argv),
            "remote": format_argv(self.remote) if self.remote else "",
            "returncode": self.returncode,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "seconds": round(self.seconds, 3),
            "timed_out": self.timed_out,
            "outside": self.outside,
            "error": self.error,
        }


@dataclass
class Cell:
    """A cell with its run and, after ``classify``, its status."""

    spec: CellSpec
    run: Run | None = None
    status: str = "unclaimed"
    reason: str = ""
    owner: str = ""
    """For ``limit``: whose limit it is."""
    tree_diff: list[str] = field(default_factory=list)
    output_diff: list[str] = field(default_factory=list)
    exit_codes: tuple[int | None, int | None] = (None, None)
    """(this cell, the reference)."""

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the JSON report."""
        k = self.spec.key
        return {
            "id": self.spec.id,
            "transport": k.transport,
            "direction": k.direction,
            "protocol": k.protocol,
            "scenario": k.scenario,
            "client": self.spec.client,
            "server": self.spec.server,
            "status": self.status,
            "reason": self.reason,
            "owner": self.owner,
            "tree_diff": self.tree_diff,
            "output_diff": self.output_diff,
            "run": self.run.as_dict() if self.run else None,
        }


@dataclass
class Config:
    """What to run."""

    implementations: dict[str, Implementation]
    """By name; must include ``rsync`` (the reference)."""
    clients: tuple[str, ...] | None = None
    """Names allowed as clients (None: every implementation with a client)."""
    servers: tuple[str, ...] | None = None
    transports: tuple[str, ...] = TRANSPORTS
    directions: tuple[str, ...] = DIRECTIONS
    protocols: tuple[int, ...] | None = None
    """None: every protocol both ends claim (``--quick``: the highest only)."""
    scenarios: tuple[str, ...] | None = None
    quick: bool = False
    jobs: int = 2
    timeout: float = 120.0
    work: Path | None = None
    keep: bool = False
    huge: bool = False
    """Add a sparse file above 4 GiB to the sparse scenario."""
    budget: float | None = None
    """Seconds for the whole run: cells not started by then fail as "not run" (None: no limit)."""
    progress: Callable[[str], None] | None = None


@dataclass
class MatrixResult:
    """Everything a run produced, for the reports."""

    implementations: list[Implementation]
    cells: list[Cell]
    seconds: float
    quick: bool
    daemons: dict[str, str] = field(default_factory=dict)
    """Implementation name -> the daemon's output and log, at the end."""

    def counts(self) -> Counter[str]:
        """How many cells have each status."""
        return Counter(c.status for c in self.cells)


# ---------------------------------------------------------------------------------------------
# Planning


def _needs(scenario: Scenario, key: Key, client: Implementation) -> list[str]:
    needs = list(scenario.needs)
    if key.transport in ("rsh", "rsh-daemon"):
        needs.append("--rsh")
    if key.protocol < client.protocol:
        needs.append("--protocol")
    return needs


def _roles(transport: str) -> str:
    return {"daemon": "daemon", "rsh": "server", "rsh-daemon": "rsh_daemon"}[transport]


def plan(config: Config) -> list[Cell]:
    """List the cells of the matrix (unclaimed ones included, not run).

    Raises:
        MatrixError: rsync is missing, or a name given does not exist.
    """
    impls = config.implementations
    if REFERENCE not in impls:
        msg = "rsync not found (PATH or PYRSYNC_IT_RSYNC): it is the reference every cell needs"
        raise MatrixError(msg)
    for names in (config.clients, config.servers):
        for name in names or ():
            if name not in impls:
                msg = f"unknown implementation {name!r}; known: {', '.join(sorted(impls))}"
                raise MatrixError(msg)
    scenario_names = config.scenarios or (QUICK_SCENARIOS if config.quick else BY_NAME.keys())
    unknown = [s for s in scenario_names if s not in BY_NAME]
    if unknown:
        msg = f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}"
        raise MatrixError(msg)
    scenarios = [s for s in SCENARIOS if s.name in scenario_names]
    clients = [
        i
        for i in impls.values()
        if i.client and (config.clients is None or i.name in config.clients)
    ]
    servers = list(impls.values())
    if config.servers is not None:
        servers = [i for i in servers if i.name in config.servers]
    ref = impls[REFERENCE]
    cells: list[Cell] = []

    def protocols_of(*sides: Implementation) -> list[int]:
        common = set(sides[0].protocols)
        for side in sides[1:]:
            common &= set(side.protocols)
        if config.protocols is not None:
            common &= set(config.protocols)
        elif config.quick and common:
            common = {max(common)}
        return sorted(common)

    def add(client: Implementation, server: Implementation, transport: str, direction: str) -> None:
        for protocol in protocols_of(client, server):
            for scenario in scenarios:
                key = Key(transport, direction, protocol, scenario.name)
                cell = Cell(CellSpec(key, client.name, server.name))
                missing = [
                    n
                    for n in _needs(scenario, key, client)
                    if not client.claims(n) or (server is not client and not server.claims(n))
                ]
                if missing:
                    cell.reason = "not claimed: " + ", ".join(sorted(set(missing)))
                cells.append(cell)

    for transport in config.transports:
        if transport == "local":
            for client in clients:
                add(client, client, "local", "local")
            continue
        role = _roles(transport)
        for direction in config.directions:
            for client in clients:
                for server in servers:
                    if getattr(server, role) is None:
                        continue
                    add(client, server, transport, direction)
    # Every key needs its reference cell, even when rsync was not selected as a seat.
    have = {c.spec for c in cells}
    for cell in list(cells):
        k = cell.spec.key
        ref_spec = CellSpec(k, REFERENCE, REFERENCE)
        if ref_spec not in have and k.protocol in ref.protocols:
            have.add(ref_spec)
            cells.append(Cell(ref_spec))
    cells.sort(key=lambda c: c.spec)
    return cells


# ---------------------------------------------------------------------------------------------
# Running


class _Processes:
    """The command processes running now, so that an interruption kills every one of them."""

    def __init__(self, deadline: float | None = None) -> None:
        self._lock = threading.Lock()
        self._live: set[subprocess.Popen[bytes]] = set()
        self.stopping = False
        self.deadline = deadline
        """``time.monotonic()`` after which no command starts."""

    def run(
        self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str], cwd: Path
    ) -> tuple[int | None, str, str, bool]:
        """Run ``argv`` in its own process group; kill the group at ``timeout``.

        Returns:
            Exit code (negative: a signal), stdout, stderr, whether it timed out.
        """
        if self.stopping:
            return None, "", "not started: the matrix is stopping", False
        if self.deadline is not None and time.monotonic() > self.deadline:
            return None, "", "not started: the matrix ran out of time (its budget)", False
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
        with self._lock:
            self._live.add(proc)
        timed_out = False
        try:
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                kill_group(proc)
                try:
                    out, err = proc.communicate(timeout=5)
                except subprocess.TimeoutExpired:  # a grandchild elsewhere holds the pipes
                    out, err = b"", b""
            proc.wait()
            # The group may keep members (a server the shim started) after the leader exits.
            # Its id cannot be reused while a member lives, so this reaches only those.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        finally:
            with self._lock:
                self._live.discard(proc)
            if proc.returncode is None:
                kill_group(proc)
                with contextlib.suppress(OSError):
                    proc.kill()
                proc.wait()
        return proc.returncode, _text(out), _text(err), timed_out

    def kill_all(self) -> None:
        """Kill every running command's process group (on an interruption)."""
        self.stopping = True
        with self._lock:
            live = list(self._live)
        for proc in live:
            kill_group(proc)


def _text(data: bytes | None) -> str:
    text = (data or b"").decode("utf-8", "backslashreplace")
    if len(text) > MAX_OUTPUT:
        text = text[:MAX_OUTPUT] + f"\n[... {len(text) - MAX_OUTPUT} more characters cut]\n"
    return text


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in RSYNC_ENVIRONMENT}
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


@dataclass
class _Daemon:
    impl: Implementation
    config: Path
    push_root: Path
    service: Service | None = None
    port: int = 0
    error: str = ""

    def log(self) -> str:
        parts = []
        log_path = self.config.with_name("rsyncd.log")
        if log_path.exists():
            parts.append(log_path.read_text("utf-8", "backslashreplace"))
        if self.service is not None:
            parts.append(self.service.output())
        return "".join(parts)


def _daemon_argv(template: tuple[str, ...], config: Path, port: int) -> list[str]:
    return fill(template, config=str(config), port=port, address="127.0.0.1")


def _snapshot(root: Path) -> dict[str, tuple[int, ...]]:
    return {
        rel: (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino, st.st_uid, st.st_gid)
        for rel, st in scan(root).items()
    }


def _changes(
    before: Mapping[str, tuple[int, ...]], after: Mapping[str, tuple[int, ...]]
) -> list[str]:
    lines = [f"{rel}: removed" for rel in sorted(before.keys() - after.keys())]
    lines += [f"{rel}: created" for rel in sorted(after.keys() - before.keys())]
    lines += [
        f"{rel}: changed"
        for rel in sorted(before.keys() & after.keys())
        if before[rel] != after[rel] and rel != "."
    ]
    return lines


class _Runner:
    """Runs cells: holds the work directory, the sources, the daemons and the processes."""

    def __init__(self, config: Config, work: Path) -> None:
        self.config = config
        self.work = work
        self.impls = config.implementations
        budget = config.budget
        self.procs = _Processes(None if budget is None else time.monotonic() + budget)
        self.sources: dict[str, Path] = {}
        self.pristine: dict[str, dict[str, tuple[int, ...]]] = {}
        self.daemons: dict[str, _Daemon] = {}
        self.counter = 0
        self.lock = threading.Lock()
        self.source_lock = threading.Lock()

    # -- setup ------------------------------------------------------------------------------

    def build_sources(self) -> None:
        self.sources = build_sources(self.work / "sources", huge=self.config.huge)
        (self.work / "pristine").mkdir()
        for name, path in self.sources.items():
            self.pristine[name] = _snapshot(path)
            copy_tree(path, self.work / "pristine" / name)

    def start_daemons(self, names: Iterable[str]) -> None:
        for name in sorted(set(names)):
            impl = self.impls[name]
            directory = self.work / "daemons" / name
            push_root = directory / "push"
            push_root.mkdir(parents=True)
            modules = [
                DaemonModule(tree, self.sources[tree])
                for tree in self.sources
                if tree != "full-old"
            ]
            modules.append(DaemonModule("push", push_root, read_only=False))
            config_path = directory / "rsyncd.conf"
            config_path.write_text(
                render_rsyncd_conf(
                    modules, log_file=directory / "rsyncd.log", lock_file=directory / "rsyncd.lock"
                )
            )
            daemon = _Daemon(impl, config_path, push_root)
            self.daemons[name] = daemon
            if impl.daemon is None:
                continue  # only its rsh_daemon uses the configuration
            make_argv = functools.partial(_daemon_argv, impl.daemon, config_path)
            try:
                daemon.service, daemon.port = start_service(
                    make_argv,
                    output=directory / "daemon.out",
                    ready=lambda _service, port: daemon_ready("127.0.0.1", port),
                    env={**_base_env(), **impl.env},
                )
            except (ServiceError, OSError) as exc:
                daemon.error = f"the daemon of {name} did not start: {exc}"

    def stop(self) -> dict[str, str]:
        self.procs.kill_all()
        logs = {}
        for name, daemon in self.daemons.items():
            if daemon.service is not None:
                with contextlib.suppress(Exception):
                    daemon.service.stop(grace=2.0)
            logs[name] = daemon.log()[-MAX_OUTPUT:]
        return logs

    # -- one cell ---------------------------------------------------------------------------

    def run_cell(self, spec: CellSpec) -> Run:
        with self.lock:
            self.counter += 1
            number = self.counter
        key = spec.key
        scenario = BY_NAME[key.scenario]
        client = self.impls[spec.client]
        server = self.impls[spec.server]
        slug = f"c{number:05d}"
        cell_dir = self.work / "cells" / slug
        cell_dir.mkdir(parents=True)
        (cell_dir / "canary").write_bytes(b"the matrix checks that nothing writes here\n")
        run = Run(work=str(self.work))
        source = self.sources[scenario.tree]
        daemon = (
            self.daemons.get(spec.server) if key.transport in ("daemon", "rsh-daemon") else None
        )
        if daemon is not None and key.direction == "push":
            dest = daemon.push_root / slug
        else:
            dest = cell_dir / "dest"
        run.dest = dest
        if daemon is not None and daemon.error and key.transport == "daemon":
            run.error = daemon.error
            return run
        try:
            if scenario.prefill:
                copy_tree(self.sources["full-old"], dest)
                if scenario.junk:
                    add_junk(dest)
        except (OSError, subprocess.CalledProcessError) as exc:
            run.error = f"preparing the destination failed: {exc}"
            return run

        assert client.client is not None
        flags = list(scenario.flags)
        if client.claims("--itemize-changes"):
            flags.append("-i")
            run.itemized = True
        top = client.protocol
        if key.transport != "local":
            top = min(top, server.protocol)
        if key.protocol < top:
            flags.append(f"--protocol={key.protocol}")
        env = {**_base_env(), **server.env, **client.env}
        src_arg, dest_arg = f"{source}/", f"{dest}/"
        if key.transport in ("rsh", "rsh-daemon"):
            if key.transport == "rsh":
                assert server.server is not None
                remote = list(server.server)
            else:
                assert server.rsh_daemon is not None
                assert daemon is not None
                remote = fill(server.rsh_daemon, config=str(daemon.config))
            shim = write_rsh_shim(cell_dir / "rsh-shim", command=remote)
            run.remote = [*remote, "--server", "..."]
            flags += ["-e", str(shim)]
            if key.transport == "rsh":
                if key.direction == "pull":
                    src_arg = f"localhost:{source}/"
                else:
                    dest_arg = f"localhost:{dest}/"
            elif key.direction == "pull":
                src_arg = f"rsync://localhost/{scenario.tree}/"
            else:
                dest_arg = f"rsync://localhost/push/{slug}/"
        elif key.transport == "daemon":
            assert daemon is not None
            base = f"rsync://127.0.0.1:{daemon.port}"
            run.remote = [f"(daemon {spec.server} on 127.0.0.1:{daemon.port})"]
            if key.direction == "pull":
                src_arg = f"{base}/{scenario.tree}/"
            else:
                dest_arg = f"{base}/push/{slug}/"
        run.argv = [*client.client, *flags, src_arg, dest_arg]

        started = time.monotonic()
        try:
            code, out, err, timed_out = self.procs.run(
                run.argv, timeout=self.config.timeout, env=env, cwd=cell_dir
            )
        except OSError as exc:
            run.error = f"cannot start the client: {exc}"
            return run
        finally:
            run.seconds = time.monotonic() - started
        run.returncode, run.stdout, run.stderr, run.timed_out = code, out, err, timed_out
        if code is None and not timed_out:
            run.error = err
        run.outside = self._outside(cell_dir, scenario.tree)
        return run

    def _outside(self, cell_dir: Path, tree: str) -> list[str]:
        expected = {"canary", "dest", "rsh-shim"}
        found = [
            f"{cell_dir.name}/{entry}: created beside the destination"
            for entry in sorted(os.listdir(cell_dir))
            if entry not in expected
        ]
        canary = cell_dir / "canary"
        if not canary.exists() or canary.read_bytes() != (
            b"the matrix checks that nothing writes here\n"
        ):
            found.append(f"{cell_dir.name}/canary: changed or removed")
        with self.source_lock:
            changes = _changes(self.pristine[tree], _snapshot(self.sources[tree]))
            if changes:
                found += [f"source {tree}/{line}" for line in changes[:MAX_LINES]]
                self._restore(tree)
        return found

    def _restore(self, tree: str) -> None:
        """Put a source back as it was (another cell damaged it)."""
        path = self.sources[tree]
        remove_tree(path)
        copy_tree(self.work / "pristine" / tree, path)
        self.pristine[tree] = _snapshot(path)


def _fast_tmp() -> str | None:
    """``/dev/shm`` when it is a writable tmpfs with room, else None (the default temp dir).

    Thousands of small trees are written and removed: on ext4 each removal waits for the
    disk's discard, which made the work directory's clean-up take minutes.
    """
    shm = "/dev/shm"
    try:
        st = os.statvfs(shm)
    except OSError:
        return None
    room = st.f_bavail * st.f_frsize
    return shm if os.access(shm, os.W_OK) and room > 4 * 1024**3 else None


def _run_group(runner: _Runner, cells: list[Cell], *, keep: bool) -> None:
    """Run the cells of one key (the reference first), classify them, drop their trees.

    Everything a cell is compared with (the reference, and the cells with rsync in the
    other seat) shares its key, so a group is complete in itself.
    """
    ordered = sorted(cells, key=lambda c: (c.spec.client, c.spec.server) != (REFERENCE, REFERENCE))
    for cell in ordered:
        if cell.reason:
            continue  # unclaimed
        try:
            cell.run = runner.run_cell(cell.spec)
        except Exception as exc:  # noqa: BLE001 -- a broken cell is a red cell
            cell.run = Run(error=f"the matrix failed to run this cell: {exc!r}")
    try:
        classify(cells)
    except Exception as exc:  # noqa: BLE001 -- a cell that cannot be judged is a red cell
        for cell in cells:
            if cell.run is not None:
                cell.status, cell.reason = "failed", f"the matrix failed to judge it: {exc!r}"
    if not keep:
        for cell in cells:
            if cell.run is not None and cell.run.dest is not None:
                remove_tree(cell.run.dest)
                if cell.run.dest.name == "dest":
                    remove_tree(cell.run.dest.parent)


def run_matrix(config: Config) -> MatrixResult:
    """Plan, run and classify the matrix; every process it started is stopped on return.

    Raises:
        MatrixError: see ``plan``.
    """
    started = time.monotonic()
    cells = plan(config)
    say = config.progress or (lambda _text: None)
    to_run = [c for c in cells if not c.reason]
    daemon_names = {
        c.spec.server for c in to_run if c.spec.key.transport in ("daemon", "rsh-daemon")
    }
    groups: dict[Key, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(cell.spec.key, []).append(cell)
    owned_work = config.work is None
    try:
        if owned_work:
            work = Path(tempfile.mkdtemp(prefix="interop-", dir=_fast_tmp()))
        else:
            work = Path(config.work or ".")
            work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"cannot make the work directory: {exc}"
        raise MatrixError(msg) from None
    runner = _Runner(config, work)
    logs: dict[str, str] = {}
    try:
        say(f"building the source trees in {work}")
        try:
            runner.build_sources()
        except (OSError, subprocess.CalledProcessError) as exc:
            msg = f"cannot build the source trees in {work}: {exc}"
            raise MatrixError(msg) from None
        runner.start_daemons(daemon_names)
        for daemon in runner.daemons.values():
            if daemon.error:
                say(daemon.error)
        unclaimed = len(cells) - len(to_run)
        say(f"running {len(to_run)} cells ({unclaimed} unclaimed), {config.jobs} at a time")
        done = 0
        with ThreadPoolExecutor(max_workers=max(1, config.jobs)) as pool:
            futures = [
                pool.submit(_run_group, runner, group, keep=config.keep)
                for group in groups.values()
            ]
            try:
                for future in as_completed(futures):
                    future.result()
                    done += 1
                    if done % max(1, len(groups) // 20) == 0 or done == len(groups):
                        elapsed = time.monotonic() - started
                        say(f"{done}/{len(groups)} groups of cells run ({elapsed:.0f} s)")
            except BaseException:
                runner.procs.kill_all()
                for future in futures:
                    future.cancel()
                raise
    finally:
        logs = runner.stop()
        if owned_work and not config.keep:
            remove_tree(work)
    return MatrixResult(
        implementations=list(config.implementations.values()),
        cells=cells,
        seconds=time.monotonic() - started,
        quick=config.quick,
        daemons=logs,
    )


# ---------------------------------------------------------------------------------------------
# Classifying

_DIFF_KIND: Final = re.compile(
    r": (missing|unexpected|type|size|content|symlink target|device|mode|mtime|owner|hard links)\b"
)


_CELL_NAME: Final = re.compile(r"\bc\d{5}\b")
_PORT: Final = re.compile(r"\b127\.0\.0\.1:\d+")


def mask(run: Run, text: str) -> str:
    """Mask what differs from cell to cell: the destination, the work directory, the port."""
    if run.dest is not None:
        text = text.replace(str(run.dest), "<DEST>")
    if run.work:
        text = text.replace(run.work, "<WORK>")
    text = _CELL_NAME.sub("<CELL>", text)
    return _PORT.sub("<HOST:PORT>", text)


def _message_lines(run: Run) -> list[str]:
    text = mask_error_location(mask(run, run.stderr + "\n" + run.stdout))
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def same_failure(a: Run, b: Run) -> bool:
    """Whether two runs failed the same way: same exit code, and the first message line of
    one appears in the other's output (masked; the order of stderr lines may differ)."""
    if a.returncode != b.returncode:
        return False
    lines_a, lines_b = _message_lines(a), _message_lines(b)
    if not lines_a or not lines_b:
        return lines_a == lines_b
    return lines_a[0] in lines_b or lines_b[0] in lines_a


def _output_lines(run: Run) -> Counter[str]:
    text = mask(run, normalize_output(run.stdout))
    return Counter(line for line in text.splitlines() if line.strip())


def _output_diff(ref: Run, run: Run) -> list[str]:
    if not (ref.itemized and run.itemized):
        return []
    a, b = _output_lines(ref), _output_lines(run)
    lines = [f"- {line}" for line in sorted((a - b).elements())]
    lines += [f"+ {line}" for line in sorted((b - a).elements())]
    return lines


def summarize_tree_diff(lines: Sequence[str]) -> str:
    """Say which kinds of difference ``diff_trees`` found: ``mtime x3, mode x1``."""
    kinds: Counter[str] = Counter()
    for line in lines:
        match = _DIFF_KIND.search(line)
        kinds[match.group(1) if match else "other"] += 1
    return ", ".join(f"{kind} x{n}" for kind, n in kinds.most_common())


def _compare(cell: Cell, ref: Run, run: Run, scenario: Scenario) -> None:
    assert ref.dest is not None
    assert run.dest is not None
    try:
        tree = diff_trees(
            ref.dest,
            run.dest,
            perms=True,
            times=True,
            symlink_times=True,
            dir_times=True,
            owners=ROOT,
            hardlinks=scenario.hardlinks,
        )
    except OSError as exc:
        tree = [f"cannot compare the trees: {exc}"]
    output = _output_diff(ref, run)
    cell.tree_diff = tree[:MAX_LINES] + (
        [f"... {len(tree) - MAX_LINES} more"] if len(tree) > MAX_LINES else []
    )
    cell.output_diff = output[:MAX_LINES] + (
        [f"... {len(output) - MAX_LINES} more"] if len(output) > MAX_LINES else []
    )
    if not tree and not output:
        cell.status = "identical"
        cell.reason = "same tree" + (" and output" if run.itemized and ref.itemized else "")
        return
    cell.status = "differs"
    parts = []
    if tree:
        parts.append(summarize_tree_diff(tree))
    if output:
        parts.append(f"{len(output)} output line(s)")
    cell.reason = "; ".join(parts)


def _failure(run: Run) -> str:
    if run.error:
        return run.error
    if run.timed_out:
        return "killed at the timeout"
    if run.outside:
        return f"wrote outside its destination ({len(run.outside)} entries)"
    code = run.returncode
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    if _TRACEBACK in run.stderr + run.stdout:
        return f"a traceback, exit code {code}"
    last = [ln for ln in (run.stderr or run.stdout).splitlines() if ln.strip()]
    return f"exit code {code}" + (f": {last[0][:160]}" if last else "")


def classify(cells: Sequence[Cell]) -> None:
    """Set the status of every cell that ran (see the module docstring)."""
    by_spec = {c.spec: c for c in cells}
    for cell in cells:
        run = cell.run
        if run is None:
            cell.status = "unclaimed"
            continue
        spec = cell.spec
        cell.exit_codes = (run.returncode, None)
        ref_cell = by_spec.get(CellSpec(spec.key, REFERENCE, REFERENCE))
        ref = ref_cell.run if ref_cell else None
        if ref is not None:
            cell.exit_codes = (run.returncode, ref.returncode)
        if run.timed_out:
            cell.status, cell.reason = "hung", _failure(run)
            continue
        if run.error or run.crashed:
            cell.status, cell.reason = "failed", _failure(run)
            continue
        if spec.client == REFERENCE and spec.server == REFERENCE:
            cell.status = "identical" if run.ok else "failed"
            cell.reason = "the reference" if run.ok else "the reference failed: " + _failure(run)
            continue
        if ref is None:
            cell.status, cell.reason = "failed", "no reference cell to compare with"
            continue
        scenario = BY_NAME[spec.key.scenario]
        if run.ok and ref.ok:
            _compare(cell, ref, run, scenario)
        elif run.ok:
            cell.status = "differs"
            cell.reason = f"rsync <-> rsync failed ({_failure(ref)}); this pair succeeded"
        elif not ref.ok:
            same = same_failure(run, ref)
            cell.status = "identical" if same else "differs"
            cell.reason = f"fails as rsync <-> rsync does ({_failure(run)})"
            if not same:
                cell.reason = f"{_failure(run)}; rsync <-> rsync: {_failure(ref)}"
        else:
            owners = _limit_owners(cell, by_spec)
            if owners:
                cell.status, cell.owner = "limit", ", ".join(owners)
                cell.reason = f"{cell.owner}'s own limit: {_failure(run)}"
            else:
                cell.status, cell.reason = "failed", _failure(run)


def _limit_owners(cell: Cell, by_spec: Mapping[CellSpec, Cell]) -> list[str]:
    """Return the seats whose implementation fails the same way with rsync in the other seat."""
    run = cell.run
    assert run is not None
    if not run.refused:
        return []
    spec = cell.spec
    if spec.key.transport == "local":
        return [spec.client]
    owners = []
    for seat, other in (
        (spec.client, CellSpec(spec.key, spec.client, REFERENCE)),
        (spec.server, CellSpec(spec.key, REFERENCE, spec.server)),
    ):
        if seat == REFERENCE:
            continue
        if other == spec:
            owners.append(seat)
            continue
        other_cell = by_spec.get(other)
        other_run = other_cell.run if other_cell else None
        if other_run is not None and other_run.refused and same_failure(other_run, run):
            owners.append(seat)
    return owners
