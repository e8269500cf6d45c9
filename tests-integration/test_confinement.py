"""pyrsyncd confines itself before it reads a byte: seen from outside, and from inside.

As root (CI): the connection process lives in its own mount and PID namespaces, its root
holds the modules (read-only) and the read-only runtime it needs, it runs as 65534 with no
capabilities and ``no_new_privs``, a module its serving user could write to stops the start,
and real rsync clients still download everything, names of owners included.

Without root: a daemon run as uid 65534 is confined by Landlock; it cannot read outside its
modules nor write into them. Here the Python installation lives under ``/root`` (mode 0700),
which ``nobody`` cannot read, so the unprivileged daemon gets the one capability
CAP_DAC_READ_SEARCH (read any file, as an ambient capability through ``setpriv``): that makes
the test stronger, since Landlock must then stop a process that the file permissions would not.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import re
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.compare import assert_trees_equal
from harness.confinement import (
    connection_process,
    open_daemon_connection,
    proc_status,
    root_entries,
    same_namespace,
)
from harness.daemon import DaemonModule, daemon_ready
from harness.ourd import LOOPBACK, pyrsyncd_argv
from harness.proc import Service, run, start_service
from harness.tools import find_tool, unavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from harness.daemon import RealDaemonFactory
    from harness.ourd import OurDaemon
    from harness.tools import RealRsync
    from harness.trees import TreeFactory

pytestmark = pytest.mark.interop

ROOT = os.geteuid() == 0
NOBODY = 65534
AS_NOBODY = {"uid": str(NOBODY), "gid": str(NOBODY)}
"""rsyncd.conf parameters: serve as 65534 (the harness's default config keeps root)."""


def _landlock_abi() -> int | None:
    from rsync_sandbox import SandboxUnavailable, abi_version

    try:
        return abi_version()
    except SandboxUnavailable:
        return None


LANDLOCK = _landlock_abi() is not None


@pytest.fixture
def root_only() -> None:
    if not ROOT:
        unavailable("needs root (namespaces, privilege drop); CI runs as root")


@pytest.fixture
def landlock() -> None:
    if not LANDLOCK:
        unavailable("the kernel has no Landlock (or it is disabled at boot)")


def _simple_tree(root: Path) -> Path:
    """A tree every user can read: files, a subdirectory, a symlink."""
    (root / "sub/deeper").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub/b.txt").write_text("beta\n" * 1000)
    (root / "sub/deeper/c.bin").write_bytes(os.urandom(200_000))
    (root / "link").symlink_to("a.txt")
    for dirpath, dirs, files in os.walk(root):
        os.chmod(dirpath, 0o755)  # noqa: S103 - readable by the serving user on purpose
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o644)
        del dirs[:0]
    return root


def _runtime_top_dirs() -> set[str]:
    """First components of the paths the daemon may bind besides its modules."""
    import rsync_daemon
    import rsync_wire

    paths = [sys.prefix, sys.base_prefix, rsync_daemon.__file__, rsync_wire.__file__, "/etc"]
    paths += [p for p in sys.path if p and os.path.isabs(p)]
    return {Path(p).parts[1] for p in paths if len(Path(p).parts) > 1}


# -- as root: the view from outside -------------------------------------------------------


@pytest.mark.privileged
def test_connection_process_sees_only_its_modules(
    root_only: None, our_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    src = _simple_tree(tmp_path / "src")
    (tmp_path / "outside.txt").write_text("SECRET outside the module\n")
    daemon: OurDaemon = our_daemon({"src": src}, global_options=AS_NOBODY)  # type: ignore[assignment]
    assert re.search(
        r"sandbox: confined: mount namespace \+ PID namespace \(pivot_root, 1 modules? at the "
        r"root\), uid 65534 gid 65534, no_new_privs" + (r", Landlock ABI \d+" if LANDLOCK else ""),
        daemon.log(),
    ), daemon.log()
    with open_daemon_connection(daemon.host, daemon.port) as client:
        pid = connection_process(daemon.service.pid, client)
        status = proc_status(pid)
        assert status.uids == (NOBODY,) * 4
        assert status.gids == (NOBODY,) * 4
        assert status.groups == ()
        assert (status.cap_eff, status.cap_prm, status.cap_bnd) == (0, 0, 0)
        assert status.no_new_privs
        assert len(status.nspid) == 2, "not in a PID namespace of its own"
        assert not same_namespace(pid, "mnt")
        assert not same_namespace(pid, "pid")
        entries = root_entries(pid)
        assert "src" in entries
        assert entries - {"src"} <= _runtime_top_dirs(), entries
        # /tmp may hold the checkout (and so the code, bound read-only); never the test's files
        assert set(os.listdir(f"/proc/{pid}/root/etc")) <= {"passwd", "group", "localtime"}
        assert not os.path.lexists(f"/proc/{pid}/root{tmp_path}/outside.txt")
        # each module on a mount point of its own, one level down (bound anew per connection
        # when its path names another directory: test_daemon_module_made_anew.py)
        assert os.listdir(f"/proc/{pid}/root/src") == ["module"]
        assert sorted(os.listdir(f"/proc/{pid}/root/src/module")) == sorted(os.listdir(src))
        # Even root, going through the daemon's mount namespace, cannot write into the module.
        with pytest.raises(OSError, match="Read-only") as info:
            open(f"/proc/{pid}/root/src/module/written-by-root", "w")  # noqa: SIM115
        assert info.value.errno == errno.EROFS
    assert not (src / "written-by-root").exists()


def _run_confined(code: str, *args: str, prefix: Sequence[str] = ()) -> str:
    """Run ``code`` in a fresh interpreter (optionally under ``prefix``); return stdout."""
    script = textwrap.dedent(code)
    result = run([*prefix, sys.executable, "-c", script, *args], timeout=60)
    assert result.returncode == 0, result.describe()
    return result.stdout


_CONFINE_AND_PROBE = """
    import errno, json, os, sys
    from rsync_daemon.config import DaemonConfig, ModuleConfig
    from rsync_daemon.supervisor import confine

    module, outside = sys.argv[1], sys.argv[2]
    config = DaemonConfig(modules={"mod": ModuleConfig(name="mod", path=module)})
    report = confine(config, mode="auto")
    served = config.modules["mod"].path
    result = {"served": served, "mechanisms": sorted(m.value for m in report.mechanisms)}

    def attempt(what, call):
        try:
            call()
        except OSError as exc:
            result[what] = errno.errorcode[exc.errno]
        else:
            result[what] = "ok"

    attempt("read inside", lambda: open(os.path.join(served, "a.txt")).read())
    attempt("read outside", lambda: open(outside).read())
    attempt("list root", lambda: os.listdir("/"))
    attempt("write inside", lambda: open(os.path.join(served, "new.txt"), "w"))
    attempt("setuid 0", lambda: os.setuid(0))
    result["uid"] = os.geteuid()
    print(json.dumps(result))
"""


@pytest.mark.privileged
def test_confined_root_process_cannot_escape(root_only: None, tmp_path: Path) -> None:
    """The daemon's own confinement call, then attempts from inside the sandbox."""
    import json

    src = _simple_tree(tmp_path / "src")
    outside = tmp_path / "outside.txt"
    outside.write_text("SECRET\n")
    outside.chmod(0o644)
    result = json.loads(_run_confined(_CONFINE_AND_PROBE, str(src), str(outside)))
    assert result["served"] == "/mod/module"
    expected = {"mount namespace", "pivot_root", "privilege drop", "no_new_privs"}
    assert expected | ({"Landlock"} if LANDLOCK else set()) <= set(result["mechanisms"])
    assert result["uid"] == NOBODY
    assert result["read inside"] == "ok"
    assert result["read outside"] in ("ENOENT", "EACCES")  # not in the new root at all
    if LANDLOCK:
        assert result["list root"] == "EACCES"  # Landlock on top of the namespace
    assert result["write inside"] in ("EROFS", "EACCES")
    assert result["setuid 0"] == "EPERM"
    assert not (src / "new.txt").exists()


@pytest.mark.privileged
@pytest.mark.parametrize("how", ["world-writable", "owned-by-nobody"])
def test_writable_read_only_module_refuses_to_start(
    root_only: None, tmp_path: Path, how: str
) -> None:
    from harness.daemon import render_rsyncd_conf

    src = _simple_tree(tmp_path / "src")
    good = _simple_tree(tmp_path / "good")
    if how == "world-writable":
        src.chmod(0o777)
    else:
        os.chown(src, NOBODY, NOBODY)
    config = tmp_path / "rsyncd.conf"
    config.write_text(
        render_rsyncd_conf(
            [DaemonModule("good", good), DaemonModule("pub", src)],
            log_file=tmp_path / "pyrsyncd.log",
            lock_file=tmp_path / "lock",
            global_options=AS_NOBODY,
        )
    )
    result = run(
        pyrsyncd_argv(
            "--daemon", "--no-detach", f"--config={config}", "--port=0", f"--address={LOOPBACK}"
        ),
        timeout=60,
    )
    assert result.returncode == 1, result.describe()
    assert "'pub'" in result.stderr, result.describe()
    assert str(src) in result.stderr
    assert "'good'" not in result.stderr
    assert "uid 65534" in result.stderr
    assert "'pub'" in (tmp_path / "pyrsyncd.log").read_text()


def _two_system_users() -> tuple[pwd.struct_passwd, pwd.struct_passwd]:
    users = [u for u in pwd.getpwall() if 0 < u.pw_uid < 1000]
    if len(users) < 2:
        unavailable("needs two system users in /etc/passwd")
    return users[0], users[1]


@pytest.mark.privileged
def test_download_as_nobody_sends_owner_names(
    root_only: None, real_rsync: RealRsync, our_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    """Names come from /etc/passwd and /etc/group inside the sandbox.

    ``--usermap=NAME:OTHER`` on the client acts only on names the sender sent: a file of
    user NAME lands as OTHER. A module with ``numeric ids = yes`` (no names sent) is the
    control: there the owner stays as it was.
    """
    first, second = _two_system_users()
    first_group = grp.getgrgid(first.pw_gid).gr_name
    second_group = grp.getgrgid(second.pw_gid).gr_name
    src = _simple_tree(tmp_path / "src")
    for dirpath, _dirs, files in os.walk(src):
        for name in files:
            os.chown(os.path.join(dirpath, name), first.pw_uid, first.pw_gid)
    daemon = our_daemon(
        [
            DaemonModule("src", src),
            DaemonModule("numeric", src, options={"numeric ids": "yes"}),
        ],
        global_options=AS_NOBODY,
    )
    plain = tmp_path / "plain"
    run(real_rsync.argv("-a", daemon.url("src"), str(plain)), timeout=60).check()
    assert_trees_equal(src, plain, owners=True, symlink_times=True)
    for module, expect_uid, expect_gid in (
        ("src", second.pw_uid, second.pw_gid),
        ("numeric", first.pw_uid, first.pw_gid),
    ):
        dest = tmp_path / f"mapped-{module}"
        run(
            real_rsync.argv(
                "-a",
                f"--usermap={first.pw_name}:{second.pw_name}",
                f"--groupmap={first_group}:{second_group}",
                daemon.url(module),
                str(dest),
            ),
            timeout=60,
        ).check()
        st = os.lstat(dest / "sub/b.txt")
        assert (st.st_uid, st.st_gid) == (expect_uid, expect_gid), module


@pytest.mark.parametrize("protocol", [27, 29, 32])
def test_downloads_pass_while_confined(
    real_rsync: RealRsync,
    our_daemon: RealDaemonFactory,
    tree_factory: TreeFactory,
    tmp_path: Path,
    protocol: int,
) -> None:
    """test_daemon_downloads.py's basic case, with the confinement line checked in the log.

    The harness's rsyncd.conf keeps root as root (``uid = root``) so that every file of the
    full tree stays readable; the namespace and Landlock still apply.
    """
    from harness.trees import HUGE_SPARSE

    tree = tree_factory()
    daemon = our_daemon({"src": tree.root})
    dest = tmp_path / "dest"
    code, _, err = run(
        real_rsync.argv(
            "-aH",
            f"--protocol={protocol}",
            f"--exclude={HUGE_SPARSE}",
            daemon.url("src"),
            str(dest),
        ),
        timeout=120,
    )
    assert code == 0, f"{err}\n{daemon.log()}"
    exclude = [HUGE_SPARSE]
    if protocol < 30:
        exclude += ["times/post-2106.txt", "times/pre-1970.txt"]
    assert_trees_equal(
        tree.root,
        dest,
        owners=ROOT,
        hardlinks=True,
        symlink_times=True,
        dir_times=True,
        time_precision_ns=1 if protocol >= 31 else 10**9,
        exclude=exclude,
    )
    log = daemon.log()
    if ROOT:
        assert "sandbox: confined: mount namespace + PID namespace (pivot_root" in log, log
    if LANDLOCK:
        assert re.search(r"sandbox: confined: .*no_new_privs, Landlock ABI \d+", log), log


# -- without root: Landlock -----------------------------------------------------------------


def _unprivileged_prefix() -> list[str]:
    """How to run a command as an unprivileged user (nothing when the tests are not root)."""
    if not ROOT:
        return []
    setpriv = find_tool("setpriv")
    if setpriv is None:
        unavailable("setpriv (util-linux) is needed to run the daemon as uid 65534")
    prefix = [str(setpriv), f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    probe = run([*prefix, sys.executable, "-c", "import rsync_daemon.supervisor"], timeout=60)
    if probe.returncode != 0:
        # The interpreter lives where nobody cannot read it (here: under /root, mode 0700).
        prefix += ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    return prefix


@pytest.fixture
def flag_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Service]]:
    """Factory: start ``pyrsyncd --listen 127.0.0.1:PORT ARGS...`` (prefixed); stopped after."""
    started: list[Service] = []

    def start(*args: str, prefix: Sequence[str] = ()) -> Service:
        out = tmp_path_factory.mktemp("flagd") / "pyrsyncd.out"
        service, port = start_service(
            lambda port: [*prefix, *pyrsyncd_argv("--listen", f"{LOOPBACK}:{port}", *args)],
            output=out,
            ready=lambda _s, port: daemon_ready(LOOPBACK, port),
        )
        service.port = port  # type: ignore[attr-defined]
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop(grace=2.0)


def test_unprivileged_daemon_is_confined_by_landlock(
    landlock: None, real_rsync: RealRsync, flag_daemon: Callable[..., Service], tmp_path: Path
) -> None:
    src = _simple_tree(tmp_path / "src")
    src.chmod(0o777)
    prefix = _unprivileged_prefix()
    daemon = flag_daemon("--module", f"src={src}", prefix=prefix)
    log = daemon.output()
    uid = NOBODY if ROOT else os.geteuid()
    assert re.search(rf"sandbox: confined: uid {uid} \(not dropped\), no_new_privs, Landlock", log)
    port = daemon.port  # type: ignore[attr-defined]
    dest = tmp_path / "dest"
    run(real_rsync.argv("-a", f"rsync://{LOOPBACK}:{port}/src/", str(dest)), timeout=60).check()
    assert_trees_equal(src, dest, symlink_times=True)
    with open_daemon_connection(LOOPBACK, port) as client:
        pid = connection_process(daemon.pid, client)
        status = proc_status(pid)
        assert status.uids == (uid,) * 4
        assert status.no_new_privs


def test_unprivileged_process_cannot_read_outside_its_modules(
    landlock: None, tmp_path: Path
) -> None:
    """The daemon's confinement call as uid 65534, then attempts from inside."""
    import json

    src = _simple_tree(tmp_path / "src")
    src.chmod(0o777)
    outside = tmp_path / "outside.txt"
    outside.write_text("SECRET\n")
    outside.chmod(0o644)
    result = json.loads(
        _run_confined(_CONFINE_AND_PROBE, str(src), str(outside), prefix=_unprivileged_prefix())
    )
    assert result["mechanisms"] == ["Landlock", "no_new_privs"]
    assert result["served"] == str(src)
    assert result["read inside"] == "ok"
    assert result["read outside"] == "EACCES"
    assert result["list root"] == "EACCES"
    assert result["write inside"] == "EACCES"
    assert result["setuid 0"] == "EPERM"
    assert not (src / "new.txt").exists()


def test_no_sandbox_flag_says_so(flag_daemon: Callable[..., Service], tmp_path: Path) -> None:
    src = _simple_tree(tmp_path / "src")
    daemon = flag_daemon("--module", f"src={src}", "--no-sandbox")
    assert "sandbox: off (--no-sandbox): NOT confined" in daemon.output()
    assert "sandbox: confined" not in daemon.output()


@pytest.mark.privileged
def test_secrets_and_motd_outside_the_modules_still_work(
    root_only: None, real_rsync: RealRsync, our_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    """The secrets file (root's, mode 0600) is read before the switch to 65534, the MOTD
    file is bound read-only: both live outside the modules."""
    src = _simple_tree(tmp_path / "src")
    secrets = tmp_path / "secrets"
    secrets.write_text("alice:s3cret\n")
    secrets.chmod(0o600)
    motd = tmp_path / "motd"
    motd.write_text("Welcome to the confined daemon\n")
    motd.chmod(0o644)
    daemon = our_daemon(
        [DaemonModule("sec", src, options={"auth users": "alice", "secrets file": str(secrets)})],
        global_options={**AS_NOBODY, "motd file": str(motd)},
    )
    env = {**os.environ, "RSYNC_PASSWORD": "s3cret"}
    good = run(
        real_rsync.argv(
            "-a", f"rsync://alice@{daemon.host}:{daemon.port}/sec/", str(tmp_path / "d")
        ),
        env=env,
        timeout=60,
    )
    assert good.returncode == 0, f"{good.describe()}\n{daemon.log()}"
    assert "Welcome to the confined daemon" in good.stdout
    assert_trees_equal(src, tmp_path / "d", symlink_times=True)
    bad = run(
        real_rsync.argv(
            "-a", f"rsync://alice@{daemon.host}:{daemon.port}/sec/", str(tmp_path / "e")
        ),
        env={**os.environ, "RSYNC_PASSWORD": "wrong"},
        timeout=60,
    )
    assert bad.returncode == 5, bad.describe()
    assert "auth failed on module sec" in bad.stderr
