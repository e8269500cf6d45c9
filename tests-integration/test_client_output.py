"""pyrsync's output beside the real rsync client's, for the same scenario on the same data.

Both clients pull from the same server into destinations of the same name (in different
parent directories), so every line can be compared; timings, rates and byte counts are
masked (``harness.client.normalize_output``). Both recurse incrementally.
rsync's generator and receiver are two processes printing at once, so deletion lines
(printed by the generator) may interleave differently with the others (printed when the
sender echoes a record): both sequences are compared, each in its own order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from harness.client import normalize_output, pyrsync_argv
from harness.proc import run
from harness.trees import update_tree

if TYPE_CHECKING:
    import os
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.shim import ShimFactory
    from harness.tools import RealRsync
    from harness.trees import Tree, TreeFactory

pytestmark = pytest.mark.interop


def split_deletions(text: str) -> tuple[list[str], list[str]]:
    lines = normalize_output(text).splitlines()
    deleting = [line for line in lines if line.startswith(("deleting ", "*deleting "))]
    others = [line for line in lines if not line.startswith(("deleting ", "*deleting "))]
    return deleting, others


class Pair:
    """Runs one scenario with both clients, each into ``<tmp>/<client>/dest``."""

    def __init__(self, real_rsync: RealRsync, tmp_path: Path) -> None:
        self.real_rsync = real_rsync
        self.tmp_path = tmp_path

    def dest(self, client: str) -> Path:
        path = self.tmp_path / client / "dest"
        path.parent.mkdir(exist_ok=True)
        return path

    def run(self, *args: str | os.PathLike[str], dest: bool = True) -> tuple[str, str]:
        outputs = []
        for client in ("rsync", "pyrsync"):
            self.dest(client)
            tail = [*args, "dest"] if dest else list(args)  # relative: the same text for both
            argv = self.real_rsync.argv(*tail) if client == "rsync" else pyrsync_argv(*tail)
            result = run(argv, cwd=self.dest(client).parent)
            outputs.append(result)
        ours, theirs = outputs[1], outputs[0]
        assert ours.returncode == theirs.returncode, (theirs.describe(), ours.describe())
        assert split_deletions(ours.stdout) == split_deletions(theirs.stdout), (
            theirs.describe(),
            ours.describe(),
        )
        assert normalize_output(ours.stderr) == normalize_output(theirs.stderr), (
            theirs.describe(),
            ours.describe(),
        )
        return theirs.stdout, ours.stdout


@pytest.fixture
def pair(real_rsync: RealRsync, tmp_path: Path) -> Pair:
    return Pair(real_rsync, tmp_path)


@pytest.fixture
def served(tree_factory: TreeFactory, real_daemon: RealDaemonFactory) -> tuple[Tree, str]:
    tree = tree_factory()
    daemon = real_daemon({"src": tree.root})
    return tree, daemon.url("src")


def test_verbose_initial_copy_and_summary(pair: Pair, served: tuple[Tree, str]) -> None:
    _, url = served
    theirs, _ = pair.run("-av", url)
    assert "sent <N>" in normalize_output(theirs)


def test_itemize_and_stats_of_an_update_with_delete(pair: Pair, served: tuple[Tree, str]) -> None:
    tree, url = served
    pair.run("-a", url)
    update_tree(tree)
    theirs, _ = pair.run("-ai", "--delete", "--stats", url)
    assert "*deleting" in theirs
    assert "Matched data:" in theirs


@pytest.mark.parametrize("when", ["--delete-delay", "--delete-during", "--delete-after"])
def test_deletions_at_each_time_equal_rsyncs(
    pair: Pair, served: tuple[Tree, str], when: str
) -> None:
    # both recurse incrementally except with --delete-after (rsync keeps one list then too);
    # --delete-delay finds deletions as it goes and makes them after the transfer, then sets
    # the directories' times (the trees are compared by the update's own itemize run after)
    tree, url = served
    pair.run("-a", url)
    update_tree(tree)
    for client in ("rsync", "pyrsync"):
        extra = pair.dest(client) / "nested" / "stale-dir" / "deeper"
        extra.mkdir(parents=True)
        (extra / "old.txt").write_text("stale\n")
        (pair.dest(client) / "stale.txt").write_text("stale\n")
    theirs, _ = pair.run("-ai", when, "--stats", url)
    assert "*deleting   nested/stale-dir/deeper/old.txt" in theirs
    # nothing left to do, directory times included
    theirs, _ = pair.run("-ai", url)
    assert theirs.strip() == ""


@pytest.mark.parametrize("dry", [[], ["-n"]])
def test_existing_creates_no_directory(
    pair: Pair, served: tuple[Tree, str], dry: list[str]
) -> None:
    # only the top files exist: --existing updates them and creates nothing below
    _, url = served
    for client in ("rsync", "pyrsync"):
        dest = pair.dest(client)
        dest.mkdir()
        (dest / "empty-file").write_text("old\n")
    pair.run("-ai", "--existing", *dry, url)
    for client in ("rsync", "pyrsync"):
        assert sorted(p.name for p in pair.dest(client).iterdir()) == ["empty-file"]


def test_dry_run_itemize(pair: Pair, served: tuple[Tree, str]) -> None:
    tree, url = served
    pair.run("-a", url)
    update_tree(tree)
    pair.run("-ain", "--delete", url)
    # -n changed nothing: the real transfer still has everything to do
    theirs, _ = pair.run("-ai", "--delete", url)
    assert ">f" in theirs


def test_noop_itemize_twice_shows_unchanged_items(pair: Pair, served: tuple[Tree, str]) -> None:
    _, url = served
    pair.run("-a", url)
    pair.run("-aii", url)


def test_list_only(pair: Pair, served: tuple[Tree, str]) -> None:
    _, url = served
    pair.run("-r", "--list-only", url, dest=False)
    pair.run(url, dest=False)
    pair.run("-l", url + "links/", dest=False)


def test_module_listing(
    real_rsync: RealRsync, real_daemon: RealDaemonFactory, pair: Pair, tmp_path: Path
) -> None:
    from harness.daemon import DaemonModule

    (tmp_path / "m").mkdir()
    daemon = real_daemon(
        [
            DaemonModule("pub", tmp_path / "m", comment="public module"),
            DaemonModule("hidden", tmp_path / "m", options={"list": "no"}),
            DaemonModule("other", tmp_path / "m"),
        ]
    )
    pair.run(f"rsync://{daemon.host}:{daemon.port}/", dest=False)
    pair.run(f"--port={daemon.port}", f"{daemon.host}::", dest=False)


def test_motd_and_no_motd(real_daemon: RealDaemonFactory, pair: Pair, tmp_path: Path) -> None:
    motd = tmp_path / "motd"
    motd.write_text("Welcome to the test daemon\nSecond line\n")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "f").write_text("x")
    daemon = real_daemon({"m": tmp_path / "m"}, global_options={"motd file": str(motd)})
    theirs, _ = pair.run("-av", daemon.url("m"))
    assert "Second line" in theirs
    theirs, _ = pair.run("-av", "--no-motd", daemon.url("m"))
    assert "Welcome" not in theirs


def test_progress_lines_when_not_a_terminal(served: tuple[Tree, str], tmp_path: Path) -> None:
    _, url = served
    result = run(pyrsync_argv("-a", "--progress", url, tmp_path / "dest"), check=True)
    assert "receiving incremental file list\n" in result.stdout
    assert "100%" in result.stdout
    assert "xfr#" in result.stdout


def test_verbose_over_ssh_like_shim(
    real_rsync: RealRsync, rsh_shim_factory: ShimFactory, tree_factory: TreeFactory, pair: Pair
) -> None:
    tree = tree_factory(odd_names=False)
    shim = rsh_shim_factory([real_rsync.path], name="as-rsync")
    pair.run("-av", "-e", str(shim), f"host:{tree.slash}")
    update_tree(tree)
    pair.run("-avi", "--delete-after", "-e", str(shim), f"host:{tree.slash}")


def test_local_copy_reports_the_sending_sides_bytes(real_rsync: RealRsync, tmp_path: Path) -> None:
    """A local copy's "sent"/"received" are the sender's counts, as rsync's (its client sends).

    The file data goes out of the sender: "sent" holds it, "received" only the requests.
    """
    src = tmp_path / "src"
    src.mkdir()
    (src / "data").write_bytes(bytes(range(256)) * 400)  # 100 KiB, incompressible enough
    figures = {}
    for who in ("real", "ours"):
        args = ["-a", "--stats", f"{src}/", f"{tmp_path / who}/"]
        r = run(real_rsync.argv(*args) if who == "real" else pyrsync_argv(*args))
        assert r.returncode == 0, r.stderr
        sent = int(
            next(x for x in r.stdout.splitlines() if x.startswith("Total bytes sent:"))
            .split(":")[1]
            .replace(",", "")
        )
        received = int(
            next(x for x in r.stdout.splitlines() if x.startswith("Total bytes received:"))
            .split(":")[1]
            .replace(",", "")
        )
        figures[who] = (sent, received)
    for sent, received in figures.values():
        assert sent > 100 * 1024 > received, figures
