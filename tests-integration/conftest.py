"""Fixtures of the integration tests: real rsync, its daemon, a real sshd, trees, the -e shim.

The helpers live in ``harness/`` next to this file (a plain folder, put on ``sys.path`` here,
because pytest runs with ``--import-mode=importlib`` and this folder is not a package).
See README.md for the list. Tests of our own programs add their fixtures here the same way:
a ``harness`` module that starts the program, and a thin fixture that stops it at teardown.
"""

from __future__ import annotations

import os
import pwd
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from harness import proc  # noqa: E402
from harness.daemon import RealDaemon, start_real_daemon  # noqa: E402
from harness.ourd import OurDaemon, start_our_daemon  # noqa: E402
from harness.shim import shim_log, write_rsh_shim  # noqa: E402
from harness.sshd import Sshd, start_sshd  # noqa: E402
from harness.tools import (  # noqa: E402
    RealRsync,
    discover_rsync,
    require_tool,
    unavailable,
)
from harness.trees import Tree, make_tree  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from harness.daemon import Modules, RealDaemonFactory
    from harness.shim import ShimFactory
    from harness.trees import TreeFactory


RSYNC_ENVIRONMENT = (
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
"""Variables that change how rsync behaves; tests start without them."""


@pytest.fixture(scope="session", autouse=True)
def _clean_rsync_environment() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for name in RSYNC_ENVIRONMENT:
            mp.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def real_rsync() -> RealRsync:
    """The real rsync binary and its version and protocol (skip, or fail in CI, if absent)."""
    return discover_rsync()


@pytest.fixture(scope="session")
def real_rdiff() -> Path:
    """The real ``rdiff`` of librsync (skip, or fail in CI, if absent)."""
    return require_tool("rdiff")


@pytest.fixture(scope="session")
def real_ssh() -> Path:
    """The OpenSSH client (skip, or fail in CI, if absent)."""
    return require_tool("ssh")


@pytest.fixture
def real_daemon(
    real_rsync: RealRsync, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealDaemonFactory]:
    """Factory: ``real_daemon({"name": path, ...}, global_options=...)`` starts a daemon.

    Every daemon started is stopped (with its per-connection children) after the test.
    """
    started: list[RealDaemon] = []

    def start(
        modules: Modules,
        /,
        *,
        global_options: Mapping[str, str] | None = None,
        daemon_args: Sequence[str] = (),
    ) -> RealDaemon:
        daemon = start_real_daemon(
            real_rsync,
            modules,
            workdir=tmp_path_factory.mktemp("rsyncd"),
            global_options=global_options,
            daemon_args=daemon_args,
        )
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


@pytest.fixture
def our_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealDaemonFactory]:
    """Factory like ``real_daemon``, starting pyrsyncd with the same rsyncd.conf."""
    started: list[OurDaemon] = []

    def start(modules: Modules, /, *, global_options: Mapping[str, str] | None = None) -> OurDaemon:
        daemon = start_our_daemon(
            modules, workdir=tmp_path_factory.mktemp("pyrsyncd"), global_options=global_options
        )
        started.append(daemon)
        return daemon

    yield start  # type: ignore[misc]
    for daemon in started:
        daemon.stop()


@pytest.fixture(scope="session")
def sshd(real_ssh: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A real OpenSSH sshd on a free loopback port accepting a throwaway key.

    Log in as the user running the tests (root in CI); ``sshd.rsh`` is rsync's ``-e``.
    """
    server_bin = require_tool("sshd")
    keygen = require_tool("ssh-keygen")
    user = pwd.getpwuid(os.geteuid())
    if os.path.basename(user.pw_shell) in ("nologin", "false"):
        unavailable(f"user {user.pw_name} has no login shell ({user.pw_shell}) for sshd")
    server = start_sshd(
        sshd=server_bin, ssh=real_ssh, ssh_keygen=keygen, workdir=tmp_path_factory.mktemp("sshd")
    )
    server.service.persistent = True
    yield server
    server.stop()


@pytest.fixture
def tree_factory(tmp_path: Path) -> TreeFactory:
    """Factory: ``tree_factory("src", huge_sparse=..., ...)`` builds ``make_tree`` in tmp_path."""

    def make(
        name: str = "src",
        /,
        *,
        seed: int = 0,
        huge_sparse: bool = False,
        devices: bool | None = None,
        owners: bool | None = None,
        specials: bool = True,
        odd_names: bool = True,
    ) -> Tree:
        return make_tree(
            tmp_path / name,
            seed=seed,
            huge_sparse=huge_sparse,
            devices=devices,
            owners=owners,
            specials=specials,
            odd_names=odd_names,
        )

    return make


@pytest.fixture
def rsh_shim_factory(tmp_path_factory: pytest.TempPathFactory) -> ShimFactory:
    """Factory: ``rsh_shim_factory(command=None)`` writes an ``-e`` shim; see harness.shim."""
    directory = tmp_path_factory.mktemp("shim")

    def make(
        command: Sequence[str | os.PathLike[str]] | None = None, /, *, name: str = "rsh-shim"
    ) -> Path:
        path = directory / name
        return write_rsh_shim(path, command=command, log=shim_log(path))

    return make


@pytest.fixture
def rsh_shim(rsh_shim_factory: ShimFactory) -> Path:
    """An ``-e`` shim running the remote command locally: ``rsync -e SHIM host:/path dest``."""
    return rsh_shim_factory()


@pytest.fixture(autouse=True)
def _no_leaked_services() -> Iterator[None]:
    """Fail a test that leaves a daemon running (fixtures stop theirs before this runs)."""
    before = set(proc.running_services())
    yield
    leaked = [s for s in proc.running_services() if s not in before and not s.persistent]
    for service in leaked:
        service.stop(grace=1.0)
    if leaked:
        pytest.fail(f"services left running by the test: {leaked}", pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop whatever is still running, so that no daemon outlives the session."""
    proc.stop_all()
