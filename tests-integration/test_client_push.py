"""pyrsync pushing (the client as sender) against the real rsync, compared with rsync's own push.

Each case runs the same command twice, once with rsync and once with pyrsync, into two
destinations side by side on the same receiver (rsync's daemon, a writable module; or
``rsync --server`` over the ``-e`` shim), first on the all-kinds tree and then on its updated
version. The two destinations must be equal, and so must the itemized output (``-i``) and
the exit codes.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import normalize_output, pyrsync_argv
from harness.compare import assert_trees_equal
from harness.daemon import DaemonModule, normalize_modules, render_rsyncd_conf
from harness.proc import RunResult, run
from harness.stats import parse_stats
from harness.tools import case_protocols
from harness.trees import update_tree

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.sshd import Sshd
    from harness.tools import RealRsync
    from harness.trees import TreeFactory

pytestmark = pytest.mark.interop

ROOT = os.geteuid() == 0

PROTOCOLS = (27, 29, 30, 32)

FLAG_SETS = {
    "a": ["-a"],
    "aH": ["-aH"],
    "az": ["-az"],
    "ac": ["-ac"],
    "delete": ["-a", "--delete", "--exclude=lorem.txt", "--exclude=/sizes/0000700.bin"],
}

# "created directory NAME" names the destination, which differs between the two runs.
_CREATED = re.compile(r"^created directory .*$", re.M)


def _normalize(text: str, name: str) -> str:
    return _CREATED.sub("created directory DEST", text).replace(name, "DEST")


def _push_both(
    real_rsync: RealRsync,
    flags: list[str],
    src: Path,
    dest_of: dict[str, str],
    *,
    rsh: list[str] = (),  # type: ignore[assignment]
) -> tuple[RunResult, RunResult]:
    """Run rsync's push and ours with the same flags; return (rsync's, ours)."""
    real = run(real_rsync.argv(*rsh, *flags, f"{src}/", dest_of["real"]), timeout=120)
    ours = run(pyrsync_argv(*rsh, *flags, f"{src}/", dest_of["ours"]), timeout=120)
    return real, ours


_DELETIONS = ("*deleting ", "deleting ")


def _assert_same_run(
    real: RunResult, ours: RunResult, *, unordered: tuple[str, ...] = _DELETIONS
) -> None:
    __tracebackhide__ = True
    assert ours.returncode == real.returncode, (real.stderr, ours.stderr)
    real_lines = _normalize(real.stdout, "d-real").splitlines()
    ours_lines = _normalize(ours.stdout, "d-ours").splitlines()
    # rsync's generator queues MSG_DELETED apart from its data, so where a deletion line
    # lands among the item lines varies from run to run of rsync itself: compare those
    # lines (the ``unordered`` ones) as a set and the others in order.
    assert _others(ours_lines, unordered) == _others(real_lines, unordered), ours.stderr
    assert sorted(_picked(ours_lines, unordered)) == sorted(_picked(real_lines, unordered))


def _picked(lines: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [line for line in lines if line.startswith(prefixes)]


def _others(lines: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [line for line in lines if not line.startswith(prefixes)]


def _assert_same_trees(a: Path, b: Path, flags: list[str], *, dir_times: bool = True) -> None:
    __tracebackhide__ = True
    assert_trees_equal(
        a,
        b,
        owners=ROOT,
        hardlinks="-aH" in flags,
        symlink_times=True,
        dir_times=dir_times,
    )


def _check_push(
    real_rsync: RealRsync,
    flags: list[str],
    tree_root: Path,
    where: Path,
    dest_of: dict[str, str],
    *,
    rsh: list[str] = (),  # type: ignore[assignment]
) -> None:
    real, ours = _push_both(real_rsync, flags, tree_root, dest_of, rsh=rsh)
    _assert_same_run(real, ours)
    assert real.returncode == 0, real.stderr
    _assert_same_trees(where / "d-real", where / "d-ours", flags)
    update_tree(tree_root)
    real, ours = _push_both(real_rsync, flags, tree_root, dest_of, rsh=rsh)
    _assert_same_run(real, ours)
    _assert_same_trees(where / "d-real", where / "d-ours", flags)


@pytest.mark.parametrize(("name", "protocol"), case_protocols(FLAG_SETS, PROTOCOLS))
def test_push_to_rsync_daemon(
    name: str,
    protocol: int,
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    tree_factory: TreeFactory,
    tmp_path: Path,
) -> None:
    tree = tree_factory()
    up = tmp_path / "up"
    up.mkdir()
    daemon = real_daemon([DaemonModule("up", up, read_only=False)])
    flags = [*FLAG_SETS[name], "-i", f"--protocol={protocol}"]
    dest_of = {k: daemon.url("up", f"d-{k}") for k in ("real", "ours")}
    _check_push(real_rsync, flags, tree.root, up, dest_of)


@pytest.mark.parametrize(("name", "protocol"), case_protocols(FLAG_SETS, PROTOCOLS))
def test_push_over_remote_shell(
    name: str,
    protocol: int,
    real_rsync: RealRsync,
    rsh_shim: Path,
    tree_factory: TreeFactory,
    tmp_path: Path,
) -> None:
    tree = tree_factory()
    up = tmp_path / "up"
    up.mkdir()
    flags = [*FLAG_SETS[name], "-i", f"--protocol={protocol}"]
    dest_of = {k: f"localhost:{up}/d-{k}" for k in ("real", "ours")}
    _check_push(real_rsync, flags, tree.root, up, dest_of, rsh=["-e", str(rsh_shim)])


def test_push_daemon_module_root_and_stats(
    real_daemon: RealDaemonFactory, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    """``host::module`` alone is the module's root; --stats counts what the sender sent.

    rsync's daemon (``use chroot = no``) stores an absolute symlink without its leading
    slash, whoever sends it: that entry is left out of the comparison with the source.
    """
    tree = tree_factory(odd_names=False)
    up = tmp_path / "up"
    up.mkdir()
    daemon = real_daemon([DaemonModule("up", up, read_only=False)])
    target = "127.0.0.1::up"
    env = {**os.environ, "RSYNC_PORT": str(daemon.port)}
    result = run(pyrsync_argv("-aH", f"--port={daemon.port}", f"{tree.root}/", target), env=env)
    assert result.returncode == 0, result.stderr
    assert_trees_equal(
        tree.root,
        up,
        owners=ROOT,
        hardlinks=True,
        symlink_times=True,
        exclude=("links/absolute",),
    )
    update_tree(tree)
    result = run(
        pyrsync_argv("-aH", "--delete", "--stats", f"--port={daemon.port}", f"{tree.root}/", target)
    )
    assert result.returncode == 0, result.stderr
    assert_trees_equal(
        tree.root,
        up,
        owners=ROOT,
        hardlinks=True,
        symlink_times=True,
        exclude=("links/absolute",),
    )
    stats = parse_stats(result.stdout)
    assert stats["Matched data"] > 1_000_000, result.stdout
    assert stats["Literal data"] < 200_000, result.stdout
    assert stats["Number of deleted files"] >= 3, result.stdout


def test_push_itemized_deletions_and_verbose_lines_equal_rsyncs(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    tree_factory: TreeFactory,
    tmp_path: Path,
) -> None:
    """``-v`` and ``-ii`` lines, ``deleting`` lines (MSG_DELETED from the receiver)."""
    tree = tree_factory()
    up = tmp_path / "up"
    up.mkdir()
    daemon = real_daemon([DaemonModule("up", up, read_only=False)])
    dest_of = {k: daemon.url("up", f"d-{k}") for k in ("real", "ours")}
    for flags in (["-av"], ["-aii"]):
        real, ours = _push_both(real_rsync, flags, tree.root, dest_of)
        _assert_same_run(_masked(real), _masked(ours))
    update_tree(tree)
    for flags in (["-av", "--delete"], ["-avii", "--delete"]):
        real, ours = _push_both(real_rsync, flags, tree.root, dest_of)
        _assert_same_run(_masked(real), _masked(ours))
    _assert_same_trees(up / "d-real", up / "d-ours", ["-a"])


def _masked(result: RunResult) -> RunResult:
    text = re.sub(r"^sent .* bytes/sec$", "sent N", result.stdout, flags=re.M)
    text = re.sub(r"speedup is [\d.,]+", "speedup is N", text)
    return RunResult(result.args, result.returncode, text, result.stderr)


_RELAY = """#!{python}
# An -e program: runs the remote command (as the rsh shim does) and relays its output; the
# first time it relays output after TRIGGER exists it removes VICTIM. The receiver creates
# its destination only once it has the whole first file list and before it asks for any
# file, so VICTIM is listed and then gone when its data is requested: no timing involved.
import os, subprocess, sys, threading
args = sys.argv[1:]
while args and args[0].startswith("-"):
    args = args[2:] if args[0] == "-l" else args[1:]
proc = subprocess.Popen(["/bin/sh", "-c", " ".join(args[1:])], stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE)
def pump():
    while data := os.read(0, 65536):
        proc.stdin.write(data)
        proc.stdin.flush()
    proc.stdin.close()
threading.Thread(target=pump, daemon=True).start()
trigger, victim = os.environ["RELAY_TRIGGER"], os.environ["RELAY_VICTIM"]
done = False
while data := os.read(proc.stdout.fileno(), 65536):
    if not done and os.path.exists(trigger):
        os.unlink(victim)
        done = True
    os.write(1, data)
sys.exit(proc.wait())
"""


@pytest.mark.parametrize("protocol", [29, 32])
def test_push_file_vanishing_mid_run_exits_24_as_rsync(
    protocol: int, real_rsync: RealRsync, tmp_path: Path
) -> None:
    """A file listed and then removed before its data is sent: rsync's warning and exit 24."""
    relay = tmp_path / "relay"
    relay.write_text(_RELAY.format(python=sys.executable))
    relay.chmod(0o755)
    src = tmp_path / "src"
    src.mkdir()
    (src / "keep.txt").write_text("kept\n")
    up = tmp_path / "up"
    up.mkdir()
    results = {}
    for who in ("real", "ours"):
        victim = src / "gone.txt"
        victim.write_text("going\n")
        env = {**os.environ, "RELAY_TRIGGER": str(up / who), "RELAY_VICTIM": str(victim)}
        flags = ["-r", f"--protocol={protocol}", "-e", str(relay), f"{src}/", f"h:{up}/{who}"]
        argv = real_rsync.argv(*flags) if who == "real" else pyrsync_argv(*flags)
        results[who] = run(argv, env=env, timeout=120)
    real, ours = results["real"], results["ours"]
    assert real.returncode == 24, real.stderr
    assert ours.returncode == real.returncode, ours.stderr
    line = f'file has vanished: "{src}/gone.txt"'
    assert line in real.stderr
    assert line in ours.stderr
    assert "some files vanished before they could be transferred (code 24)" in ours.stderr
    assert (up / "ours" / "keep.txt").read_text() == "kept\n"
    assert not (up / "ours" / "gone.txt").exists()


def test_push_refused_by_read_only_module_exits_as_rsync(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x\n")
    ro = tmp_path / "ro"
    ro.mkdir()
    daemon = real_daemon({"ro": ro})
    real = run(real_rsync.argv("-a", f"{src}/", daemon.url("ro", "d")))
    ours = run(pyrsync_argv("-a", f"{src}/", daemon.url("ro", "d")))
    assert real.returncode != 0
    assert ours.returncode == real.returncode, (real.stderr, ours.stderr)
    assert "ERROR: module is read only" in ours.stderr
    assert list(ro.iterdir()) == []


def test_push_to_missing_source_is_rsyncs_error(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    up = tmp_path / "up"
    up.mkdir()
    daemon = real_daemon([DaemonModule("up", up, read_only=False)])
    missing = tmp_path / "missing"
    real = run(real_rsync.argv("-a", missing, daemon.url("up", "r")))
    ours = run(pyrsync_argv("-a", missing, daemon.url("up", "o")))
    assert ours.returncode == real.returncode == 23, (real.stderr, ours.stderr)
    assert f'change_dir "{tmp_path}" failed' not in ours.stderr
    assert f'link_stat "{missing}" failed: No such file or directory (2)' in ours.stderr


def test_push_files_from_local_file(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for name in ("one", "two", "d/three", "skip"):
        (src / name).write_text(name + "\n")
    listing = tmp_path / "list"
    listing.write_text("one\nd/three\n")
    up = tmp_path / "up"
    up.mkdir()
    daemon = real_daemon([DaemonModule("up", up, read_only=False)])
    real = run(
        real_rsync.argv("-ai", f"--files-from={listing}", f"{src}/", daemon.url("up", "d-real"))
    )
    ours = run(
        pyrsync_argv("-ai", f"--files-from={listing}", f"{src}/", daemon.url("up", "d-ours"))
    )
    _assert_same_run(real, ours)
    # "." is not in the list (not named in the file): its time is each run's own
    _assert_same_trees(up / "d-real", up / "d-ours", ["-a"], dir_times=False)
    assert sorted(p.name for p in (up / "d-ours").iterdir()) == ["d", "one"]


def test_push_cvs_exclude(real_rsync: RealRsync, rsh_shim: Path, tmp_path: Path) -> None:
    """-C: the sender adds ``:C`` and ``-C`` itself (and sends them with --delete)."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    for name in ("keep.c", "core", "x.o", "sub/keep.h", "sub/y.o", "sub/.cvsignore"):
        (src / name).write_text(name)
    (src / "sub" / ".cvsignore").write_text("keep.h\n")
    up = tmp_path / "up"
    up.mkdir()
    for extra in ([], ["--delete"]):
        dest_of = {k: f"localhost:{up}/d-{k}" for k in ("real", "ours")}
        real, ours = _push_both(
            real_rsync, ["-aiC", *extra], src, dest_of, rsh=["-e", str(rsh_shim)]
        )
        _assert_same_run(real, ours)
    _assert_same_trees(up / "d-real", up / "d-ours", ["-a"])
    assert not (up / "d-ours" / "sub" / "keep.h").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="Linux only")
def test_push_unknown_module_and_bad_remote_path(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x\n")
    up = tmp_path / "up"
    up.mkdir()
    daemon = real_daemon([DaemonModule("up", up, read_only=False)])
    for url in (daemon.url("nope", "x"), f"rsync://127.0.0.1:{daemon.port}//abs"):
        real = run(real_rsync.argv("-a", f"{src}/", url))
        ours = run(pyrsync_argv("-a", f"{src}/", url))
        assert ours.returncode == real.returncode, (url, real.stderr, ours.stderr)


@pytest.mark.parametrize("protocol", [29, 32])
def test_push_through_rsync_connect_prog(
    protocol: int, real_rsync: RealRsync, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    """RSYNC_CONNECT_PROG: the client starts rsync's daemon on a socket pair and pushes."""
    tree = tree_factory(odd_names=False)
    up = tmp_path / "up"
    up.mkdir()
    conf = tmp_path / "rsyncd.conf"
    conf.write_text(
        render_rsyncd_conf(
            normalize_modules([DaemonModule("up", up, read_only=False)]),
            log_file=tmp_path / "rsyncd.log",
            lock_file=tmp_path / "rsyncd.lock",
        )
    )
    env = {**os.environ, "RSYNC_CONNECT_PROG": f"{real_rsync.path} --config={conf} --daemon"}
    flags = ["-aHi", f"--protocol={protocol}", f"{tree.root}/"]
    real = run(real_rsync.argv(*flags, "rsync://localhost/up/d-real"), env=env, timeout=120)
    ours = run(pyrsync_argv(*flags, "rsync://localhost/up/d-ours"), env=env, timeout=120)
    _assert_same_run(real, ours)
    assert real.returncode == 0, real.stderr
    _assert_same_trees(up / "d-real", up / "d-ours", ["-aH"])


@pytest.mark.parametrize("protocol", [29, 30, 32])
def test_push_files_from_the_remote_host(
    protocol: int, real_rsync: RealRsync, rsh_shim: Path, tmp_path: Path
) -> None:
    """``--files-from=:FILE``: the receiving server reads the list and sends the names."""
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    for name in ("one", "two", "d/three", "skip"):
        (src / name).write_text(name + "\n")
    listing = tmp_path / "remote-list"
    listing.write_text("one\nd/three\n")
    up = tmp_path / "up"
    up.mkdir()
    dest_of = {k: f"localhost:{up}/d-{k}" for k in ("real", "ours")}
    real, ours = _push_both(
        real_rsync,
        ["-ai", f"--protocol={protocol}", f"--files-from=:{listing}"],
        src,
        dest_of,
        rsh=["-e", str(rsh_shim)],
    )
    _assert_same_run(real, ours)
    assert real.returncode == 0, real.stderr
    _assert_same_trees(up / "d-real", up / "d-ours", ["-a"], dir_times=False)
    assert sorted(p.name for p in (up / "d-ours").iterdir()) == ["d", "one"]
    other = run(pyrsync_argv("-a", f"--files-from=elsewhere:{listing}", f"{src}/", dest_of["ours"]))
    assert other.returncode == 1
    assert "--files-from hostname is not the same as the transfer hostname" in other.stderr


@pytest.mark.parametrize(("name", "protocol"), case_protocols(["aH", "az", "delete"], PROTOCOLS))
def test_push_to_pyrsyncd_equals_rsync_to_rsyncd(
    name: str,
    protocol: int,
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    tree_factory: TreeFactory,
    tmp_path: Path,
) -> None:
    """Ours to ours: pyrsync pushing to pyrsyncd gives what rsync pushing to rsyncd gives."""
    tree = tree_factory()
    theirs_dir = tmp_path / "theirs"
    ours_dir = tmp_path / "ours"
    theirs_dir.mkdir()
    ours_dir.mkdir()
    theirs = real_daemon([DaemonModule("up", theirs_dir, read_only=False)])
    ours = our_daemon([DaemonModule("up", ours_dir, read_only=False)])
    flags = [*FLAG_SETS[name], "-i", f"--protocol={protocol}"]
    for step in ("initial", "updated"):
        if step == "updated":
            update_tree(tree)
        real = run(real_rsync.argv(*flags, f"{tree.root}/", theirs.url("up", "d")), timeout=120)
        mine = run(pyrsync_argv(*flags, f"{tree.root}/", ours.url("up", "d")), timeout=120)
        # pyrsyncd's generator reports the hard links it finishes at the end ("hf ... =>")
        # in another order than rsync's (not the sender's doing): compared as a set.
        _assert_same_run(real, mine, unordered=(*_DELETIONS, "hf"))
        assert real.returncode == 0, real.stderr
        _assert_same_trees(theirs_dir / "d", ours_dir / "d", flags)


@pytest.mark.parametrize("protocol", [29, 32])
def test_push_dry_run_and_stats_equal_rsyncs(
    protocol: int,
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    tree_factory: TreeFactory,
    tmp_path: Path,
) -> None:
    """``-n --stats``: the sender's counts (what it would send), nothing written."""
    tree = tree_factory(odd_names=False)
    up = tmp_path / "up"
    up.mkdir()
    daemon = real_daemon([DaemonModule("up", up, read_only=False)])
    dest_of = {k: daemon.url("up", f"d-{k}") for k in ("real", "ours")}
    flags = ["-ain", "--stats", f"--protocol={protocol}"]
    real, ours = _push_both(real_rsync, flags, tree.root, dest_of)
    real_text, ours_text = normalize_output(real.stdout), normalize_output(ours.stdout)
    assert ours.returncode == real.returncode == 0, ours.stderr
    assert _normalize(ours_text, "d-ours") == _normalize(real_text, "d-real")
    assert list(up.iterdir()) == []


@pytest.mark.parametrize("protocol", [29, 30, 32])
@pytest.mark.parametrize("transport", ["daemon", "rsh"])
def test_push_several_sources(
    transport: str,
    protocol: int,
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    rsh_shim: Path,
    tree_factory: TreeFactory,
    tmp_path: Path,
) -> None:
    """Several source arguments (with and without a slash), incrementally from 30 on."""
    tree = tree_factory()
    up = tmp_path / "up"
    up.mkdir()
    if transport == "daemon":
        daemon = real_daemon([DaemonModule("up", up, read_only=False)])
        dest_of = {k: daemon.url("up", f"d-{k}") for k in ("real", "ours")}
        rsh: list[str] = []
    else:
        dest_of = {k: f"localhost:{up}/d-{k}" for k in ("real", "ours")}
        rsh = ["-e", str(rsh_shim)]
    root = tree.root
    sources = [root / "hard", root / "nested", f"{root / 'sizes'}/", root / "links"]
    flags = ["-aHi", "--delete", f"--protocol={protocol}"]
    for step in ("initial", "updated"):
        if step == "updated":
            update_tree(tree)
        real = run(real_rsync.argv(*rsh, *flags, *sources, dest_of["real"]), timeout=120)
        ours = run(pyrsync_argv(*rsh, *flags, *sources, dest_of["ours"]), timeout=120)
        _assert_same_run(real, ours)
        assert real.returncode == 0, real.stderr
        _assert_same_trees(up / "d-real", up / "d-ours", ["-aH"])


def test_push_over_real_sshd(
    real_rsync: RealRsync, sshd: Sshd, tree_factory: TreeFactory, tmp_path: Path
) -> None:
    """``pyrsync -e ssh src/ user@host:dest``: rsync --server started by a real sshd."""
    tree = tree_factory()
    up = tmp_path / "up"
    up.mkdir()
    ssh = ["-e", sshd.rsh, f"--rsync-path={real_rsync.path}"]
    dest_of = {k: sshd.remote(up / f"d-{k}") for k in ("real", "ours")}
    for flags in (["-aHi"], ["-aHzi", "--delete"]):
        if "--delete" in flags:
            update_tree(tree)
        real, ours = _push_both(real_rsync, flags, tree.root, dest_of, rsh=ssh)
        _assert_same_run(real, ours)
        assert real.returncode == 0, real.stderr
        _assert_same_trees(up / "d-real", up / "d-ours", ["-aH"])


@pytest.mark.parametrize("backup", [["-b", "--suffix=.bak"], ["-b", "--backup-dir=old"]])
def test_push_with_backups(
    backup: list[str],
    real_rsync: RealRsync,
    rsh_shim: Path,
    tree_factory: TreeFactory,
    tmp_path: Path,
) -> None:
    """``-b`` travels to the receiving server, which keeps the replaced files as rsync's."""
    tree = tree_factory(odd_names=False)
    up = tmp_path / "up"
    up.mkdir()
    dest_of = {k: f"localhost:{up}/d-{k}" for k in ("real", "ours")}
    rsh = ["-e", str(rsh_shim)]
    for step in ("initial", "updated"):
        if step == "updated":
            update_tree(tree)
        flags = ["-ai", "--delete", *backup]
        real, ours = _push_both(real_rsync, flags, tree.root, dest_of, rsh=rsh)
        _assert_same_run(real, ours)
        assert real.returncode == 0, real.stderr
        # -b without --backup-dir implies --omit-dir-times (rsync: options.c), and a backup
        # directory's own directories are made when the run needs them: each run's time
        _assert_same_trees(up / "d-real", up / "d-ours", ["-a"], dir_times=False)
