"""Running commands and services without ever hanging the test session.

Every child starts in a new session (its own process group), so that a timeout or a teardown
can signal the child *and* everything it forked (rsync forks a receiver, a daemon forks one
child per connection) by the group id of a process we started, and nothing else.

Not here: anything specific to rsync or ssh (see ``daemon`` and ``sshd``).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from pathlib import Path

    Arg = str | os.PathLike[str]

DEFAULT_TIMEOUT: Final = 60.0
"""Seconds a ``run`` may take unless the caller says otherwise (pytest-timeout is 120)."""


class CommandTimeoutError(AssertionError):
    """A command run by ``run`` outlived its timeout; it and its process group were killed."""


class ServiceError(AssertionError):
    """A service did not come up (exited early or never became ready)."""


def _ended(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def _decode(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class RunResult:
    """The outcome of ``run``; unpacks as ``returncode, stdout, stderr``."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def __iter__(self) -> Iterator[int | str]:
        yield self.returncode
        yield self.stdout
        yield self.stderr

    def describe(self) -> str:
        """Return the command, its exit code and its output, for assertion messages."""
        return (
            f"$ {format_argv(self.args)}\n"
            f"exit code {self.returncode}\n"
            f"--- stdout ---\n{_ended(self.stdout)}"
            f"--- stderr ---\n{_ended(self.stderr)}"
        )

    def check(self, *expected: int) -> RunResult:
        """Return self if the exit code is one of ``expected`` (default 0), else fail.

        Raises:
            AssertionError: with the command and its output.
        """
        if self.returncode not in (expected or (0,)):
            raise AssertionError(self.describe())
        return self


def format_argv(argv: Sequence[str]) -> str:
    """Return ``argv`` as a shell-like line, quoting only where needed (for messages)."""
    return " ".join(shlex.quote(a) for a in argv)


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the process group of ``proc`` (started with ``start_new_session``).

    Call it only before ``proc`` is reaped: while the leader exists (even as a zombie) its
    pid cannot be reused, so the signal cannot reach a stranger's process group.
    """
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def wait_exited(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``proc`` to exit, without reaping it.

    Returns:
        Whether it exited (it stays a zombie, so ``kill_group`` still only hits its group).
    """
    if proc.returncode is not None:
        return True
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        if info is not None:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def run(
    cmd: Sequence[Arg],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    cwd: Arg | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    check: bool = False,
) -> RunResult:
    """Run ``cmd`` to completion and capture its output, killing it at ``timeout``.

    Args:
        cmd: the program and its arguments (no shell).
        timeout: seconds before the whole process group is killed.
        cwd: working directory.
        env: the complete environment (default: this process's).
        stdin: bytes fed to standard input (default: /dev/null).
        check: fail unless the exit code is 0.

    Returns:
        The exit code and the output decoded as UTF-8 (undecodable bytes backslash-escaped).

    Raises:
        CommandTimeoutError: the command ran longer than ``timeout``; it was killed.
        AssertionError: ``check`` was set and the command failed.
    """
    argv = tuple(os.fspath(a) for a in cmd)
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=None if env is None else dict(env),
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a grandchild in another group holds the pipes
            out, err = b"", b""
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
            proc.wait()
        partial = RunResult(argv, proc.returncode, _decode(out), _decode(err))
        msg = f"timed out after {timeout:g} s and killed:\n{partial.describe()}"
        raise CommandTimeoutError(msg) from None
    except BaseException:  # pytest-timeout, Ctrl-C: leave nothing running behind
        kill_group(proc)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=5)
        proc.wait()
        raise
    result = RunResult(argv, proc.returncode, _decode(out), _decode(err))
    if check:
        result.check()
    return result


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that was free a moment ago (bind to port 0, close).

    Another process may take it before the caller binds it: ``start_service`` retries.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def port_accepts(host: str, port: int, *, timeout: float = 0.5) -> bool:
    """Return whether a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


_services: set[Service] = set()


class Service:
    """A long-running child (a daemon) in its own process group, output to a log file.

    Stop it with ``stop`` (SIGTERM to the group, then SIGKILL). Every running service is
    registered so that the session can reap the ones a test forgot (``stop_all``).
    """

    def __init__(
        self,
        argv: Sequence[Arg],
        *,
        output: Path,
        cwd: Arg | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = tuple(os.fspath(a) for a in argv)
        self.output_path = output
        self.persistent = False
        """Set by session-scoped fixtures: the per-test leak check leaves it alone."""
        self._out: IO[bytes] = output.open("ab")
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=None if env is None else dict(env),
                start_new_session=True,
            )
        except BaseException:
            self._out.close()
            raise
        _services.add(self)

    @property
    def pid(self) -> int:
        """The process id (also the process group id)."""
        return self.proc.pid

    def alive(self) -> bool:
        """Return whether the main process is still running (without reaping it)."""
        return not wait_exited(self.proc, 0)

    def output(self) -> str:
        """Return what the service wrote to stdout and stderr so far."""
        if not self._out.closed:
            self._out.flush()
        return _decode(self.output_path.read_bytes())

    def stop(self, *, grace: float = 5.0) -> int:
        """Stop the service and everything in its process group; return its exit status."""
        kill_group(self.proc, signal.SIGTERM)
        wait_exited(self.proc, grace)
        # Children (one per connection) may outlive the leader; it is not reaped yet.
        kill_group(self.proc, signal.SIGKILL)
        status = self.proc.wait()
        self._out.close()
        _services.discard(self)
        return status

    def wait_until(
        self, ready: Callable[[], bool], *, timeout: float = 15.0, what: str = "ready"
    ) -> None:
        """Poll ``ready`` until it returns true; fail if the service exits or time runs out.

        Raises:
            ServiceError: with the service's output.
        """
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            if ready():
                return
            if not self.alive():
                msg = f"{format_argv(self.argv)} exited before it was {what}:\n{self.output()}"
                raise ServiceError(msg)
            if time.monotonic() > deadline:
                msg = f"{format_argv(self.argv)} not {what} after {timeout:g} s:\n{self.output()}"
                raise ServiceError(msg)
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def __repr__(self) -> str:
        return f"<Service pid={self.pid} {format_argv(self.argv)!r}>"


def running_services() -> list[Service]:
    """Return the services started and not yet stopped."""
    return sorted(_services, key=lambda s: s.pid)


def stop_all() -> list[Service]:
    """Stop every service still running; return the ones that were."""
    leftover = running_services()
    for service in leftover:
        service.stop(grace=2.0)
    return leftover


def start_service(
    make_argv: Callable[[int], Sequence[Arg]],
    *,
    output: Path,
    ready: Callable[[Service, int], bool],
    host: str = "127.0.0.1",
    attempts: int = 3,
    timeout: float = 15.0,
    env: Mapping[str, str] | None = None,
) -> tuple[Service, int]:
    """Start a service on a free port, retrying with another port if it dies early.

    Args:
        make_argv: builds the command line for a given port.
        output: the log file for stdout and stderr.
        ready: readiness probe, given the service and its port.
        host: the address the port is chosen on.
        attempts: how many ports to try (another process may grab a free port first).
        timeout: seconds to wait for readiness on each attempt.
        env: the environment (default: this process's).

    Returns:
        The running service and its port.

    Raises:
        ServiceError: the service never became ready.
    """
    error: ServiceError | None = None
    for _ in range(attempts):
        port = free_port(host)
        service = Service(make_argv(port), output=output, env=env)
        try:
            service.wait_until(functools.partial(ready, service, port), timeout=timeout)
        except ServiceError as exc:
            exited_early = not service.alive()
            service.stop(grace=1.0)
            if not exited_early:
                raise
            error = exc  # maybe another process took the port first: try another one
            continue
        except BaseException:
            service.stop(grace=1.0)
            raise
        return service, port
    assert error is not None
    raise error
