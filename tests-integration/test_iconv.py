"""``--iconv``: pyrsync against rsync 3.5 on either end converts names as rsync does.

Each case runs the same transfer twice, once with rsync on both ends and once with pyrsync
on one of them, and compares the destination trees byte name by byte name (symlink targets
included), and the exit codes and the lines about names that do not convert.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import pytest

from harness.client import mask_error_location, pyrsync_argv
from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

UTF8_LATIN1 = "UTF-8,ISO-8859-1"
LATIN1_UTF8 = "ISO-8859-1,UTF-8"


def _tree(root: Path, *, euro: bool = False) -> Path:
    """UTF-8 names: files, a directory, a symlink to a non-ASCII target."""
    base = os.fsencode(root)
    os.makedirs(os.path.join(base, "naïve".encode()))
    for name, data in (("café", b"a"), ("naïve/über", b"b"), ("plain", b"c")):
        with open(os.path.join(base, name.encode()), "wb") as f:
            f.write(data)
    os.symlink("café".encode(), os.path.join(base, "lien-é".encode()))
    for i in range(60):  # many names, so that the order of transmission is not the sorted one
        sub = os.path.join(base, b"d%d" % (i % 3))
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"é{i:02d}ü".encode()), "wb") as f:
            f.write(b"%d" % i * (i + 1))
    if euro:  # no ISO-8859-1 name for it
        with open(os.path.join(base, "euro-€".encode()), "wb") as f:
            f.write(b"x")
    return root


def _listing(root: Path | bytes) -> list[tuple[bytes, bytes | None]]:
    """Every name under ``root`` with its symlink target or its file's contents."""
    base = os.fsencode(root)
    out: list[tuple[bytes, bytes | None]] = []
    for top, dirs, files in os.walk(base):
        for name in dirs + files:
            full = os.path.join(top, name)
            rel = os.path.relpath(full, base)
            if os.path.islink(full):
                out.append((rel, os.readlink(full)))
            elif os.path.isfile(full):
                with open(full, "rb") as f:
                    out.append((rel, f.read()))
            else:
                out.append((rel, None))
    return sorted(out)


def _ours_server(tmp_path: Path) -> Path:
    """An ``-e`` program that starts pyrsync's server for whatever the client asked for."""
    shim = tmp_path / "our-rsh"
    shim.write_text(
        "#!/bin/sh\nshift\nshift\n"  # the host, then the remote program's name
        f'exec {sys.executable} -m rsync_daemon "$@"\n'
    )
    shim.chmod(0o755)
    return shim


def _real_server(tmp_path: Path) -> Path:
    shim = tmp_path / "real-rsh"
    shim.write_text('#!/bin/sh\nshift\nexec "$@"\n')
    shim.chmod(0o755)
    return shim


@pytest.mark.parametrize(
    ("iconv", "direction"),
    [(UTF8_LATIN1, "pull"), (UTF8_LATIN1, "push"), (LATIN1_UTF8, "pull"), (LATIN1_UTF8, "push")],
)
@pytest.mark.parametrize("ours", ["client", "server", "both"])
def test_remote_shell_trees_match_rsync(
    real_rsync: RealRsync, tmp_path: Path, iconv: str, direction: str, ours: str
) -> None:
    src = _tree(tmp_path / "src")
    real_rsh = _real_server(tmp_path)
    results = []
    for who in ("rsync", "pyrsync"):
        dest = tmp_path / f"dest-{who}"
        dest.mkdir()
        client = [str(real_rsync.path)]
        rsh = real_rsh
        if who == "pyrsync" and ours != "server":
            client = pyrsync_argv()
        if who == "pyrsync" and ours != "client":
            rsh = _ours_server(tmp_path)
        if direction == "pull":
            argv = [*client, "-a", f"--iconv={iconv}", "-e", str(rsh), f"h:{src}/", f"{dest}/"]
        else:
            argv = [*client, "-a", f"--iconv={iconv}", "-e", str(rsh), f"{src}/", f"h:{dest}/"]
        result = run(argv, timeout=60)
        assert result.returncode == 0, result.stderr
        results.append(_listing(dest))
    assert results[0] == results[1]
    assert results[0]  # something was copied


@pytest.mark.parametrize("iconv", [UTF8_LATIN1, LATIN1_UTF8, "UTF-8"])
def test_local_copy_converts_as_rsync(real_rsync: RealRsync, tmp_path: Path, iconv: str) -> None:
    src = _tree(tmp_path / "src")
    want, got = tmp_path / "want", tmp_path / "got"
    real = run([real_rsync.path, "-a", f"--iconv={iconv}", f"{src}/", f"{want}/"])
    ours = run([*pyrsync_argv(), "-a", f"--iconv={iconv}", f"{src}/", f"{got}/"])
    assert (ours.returncode, _listing(got)) == (real.returncode, _listing(want))


@pytest.mark.parametrize("protocol", [29, 32])
def test_local_copy_shows_the_senders_names_as_rsync(
    real_rsync: RealRsync, tmp_path: Path, protocol: int
) -> None:
    """``-v`` of a local copy shows the sending half's names, a deletion the receiver's in UTF-8.

    rsync's client is the sender there and prints items from its own list (``café``, and
    ``lien-é -> café``); its forked receiver sends a deleted name converted from its charset
    (an existing UTF-8 ``vieux-é`` read as ISO-8859-1: ``deleting vieux-Ã©``). pyrsync
    printed the receiving half's ISO-8859-1 names (``caf\\#351``) and the deleted name raw.
    Below protocol 30 symlink targets are not converted (rsync: compat.c).
    """
    src = _tree(tmp_path / "src")
    shown = {}
    for who, argv in (("rsync", [str(real_rsync.path)]), ("pyrsync", pyrsync_argv())):
        dest = os.fsencode(tmp_path / f"dest-{who}")
        os.makedirs(dest)
        with open(os.path.join(dest, "vieux-é".encode()), "wb") as f:
            f.write(b"old")
        words = ["-rlv", "--delete", f"--iconv={UTF8_LATIN1}", f"--protocol={protocol}"]
        result = run([*argv, *words, f"{src}/", f"{os.fsdecode(dest)}/"], timeout=60)
        assert result.returncode == 0, result.stderr
        # the sender's items and the receiver's deletions interleave as the two run
        shown[who] = sorted(result.stdout.splitlines()[1:-3])
    assert shown["pyrsync"] == shown["rsync"]
    assert "deleting vieux-Ã©" in shown["rsync"]
    assert "café" in shown["rsync"]


@pytest.mark.parametrize(
    ("where", "ours"),
    [
        ("local", "client"),
        ("pull", "client"),
        ("push", "client"),
        ("pull", "server"),
        ("push", "server"),
    ],
)
def test_debug_iconv_names_each_sides_charset_as_rsync(
    real_rsync: RealRsync, tmp_path: Path, where: str, ours: str
) -> None:
    """``-vv`` (``--debug=ICONV``): ``[sender] charset: UTF-8``, ``[Receiver] charset: ...``.

    Each side that converts says its charset, the locale's codeset for ``.`` (rsync:
    rsync.c setup_iconv()); a remote-shell server says it on its standard error.
    """
    src = _tree(tmp_path / "src")
    said = {}
    for who in ("rsync", "pyrsync"):
        dest = tmp_path / f"dest-{who}"
        client = pyrsync_argv() if who == "pyrsync" and ours == "client" else [real_rsync.path]
        rsh = _ours_server(tmp_path) if who == "pyrsync" and ours == "server" else None
        rsh = rsh or _real_server(tmp_path)
        words = [*client, "-rvv", "--iconv=.,ISO-8859-1"]
        if where == "local":
            argv = [*words, f"{src}/", f"{dest}/"]
        elif where == "pull":
            argv = [*words, "-e", str(rsh), f"h:{src}/", f"{dest}/"]
        else:
            argv = [*words, "-e", str(rsh), f"{src}/", f"h:{dest}/"]
        result = run(argv, timeout=60, env={**os.environ, "LC_ALL": "C.UTF-8"})
        assert result.returncode == 0, result.stderr
        lines = (result.stdout + result.stderr).splitlines()
        # the two sides print at once, in either order
        said[who] = sorted(line for line in lines if " charset: " in line)
    sending = "UTF-8" if where != "pull" else "ISO-8859-1"
    receiving = "ISO-8859-1" if where != "pull" else "UTF-8"
    assert said["rsync"] == [f"[Receiver] charset: {receiving}", f"[sender] charset: {sending}"]
    assert said["pyrsync"] == said["rsync"]


def test_unconvertible_name_is_skipped_as_rsync(real_rsync: RealRsync, tmp_path: Path) -> None:
    """A name with no ISO-8859-1 spelling: rsync's message, the rest copied, exit 23."""
    src = _tree(tmp_path / "src", euro=True)
    real_rsh = _real_server(tmp_path)
    outcomes = []
    for who, client in (("rsync", [str(real_rsync.path)]), ("pyrsync", pyrsync_argv())):
        dest = tmp_path / f"dest-{who}"
        dest.mkdir()
        argv = [*client, "-a", f"--iconv={UTF8_LATIN1}", "-e", str(real_rsh), f"{src}/"]
        result = run([*argv, f"h:{dest}/"], timeout=60)
        lines = [
            line
            for line in mask_error_location(result.stderr).splitlines()
            if "cannot convert" in line or line.startswith("rsync error")
        ]
        outcomes.append((result.returncode, _listing(dest), lines))
    assert outcomes[0][:2] == outcomes[1][:2]
    assert outcomes[1][0] == 23
    assert any("cannot convert filename: euro-" in line for line in outcomes[1][2])


@pytest.mark.parametrize("iconv", ["BOGUS", "UTF-8,BOGUS-TOO"])
def test_unknown_charset_fails_as_rsync(real_rsync: RealRsync, tmp_path: Path, iconv: str) -> None:
    src = _tree(tmp_path / "src")
    real = run([real_rsync.path, "-a", f"--iconv={iconv}", f"{src}/", f"{tmp_path}/d1/"])
    ours = run([*pyrsync_argv(), "-a", f"--iconv={iconv}", f"{src}/", f"{tmp_path}/d2/"])
    first = iconv.split(",")[0]
    if first == "BOGUS":  # the client's own half: before anything starts
        want = f'iconv_open("UTF-8", "{first}") failed'
        assert real.returncode == ours.returncode == 4
        assert want in real.stderr
        assert want in ours.stderr.splitlines()
    else:  # the server's half: the transfer fails, nothing is copied
        assert real.returncode != 0
        assert ours.returncode != 0
        assert 'iconv_open("UTF-8", "BOGUS-TOO") failed' in ours.stderr
    assert not (tmp_path / "d2").exists() or not any((tmp_path / "d2").iterdir())


def test_no_iconv_and_dash_turn_it_off(tmp_path: Path) -> None:
    src = _tree(tmp_path / "src")
    for i, words in enumerate((["--iconv=UTF-8,ISO-8859-1", "--no-iconv"], ["--iconv=-"])):
        dest = tmp_path / f"d{i}"
        result = run([*pyrsync_argv(), "-a", *words, f"{src}/", f"{dest}/"])
        assert result.returncode == 0, result.stderr
        assert _listing(dest) == _listing(src)


@pytest.mark.parametrize("direction", ["pull", "push"])
@pytest.mark.parametrize(
    ("ours", "chroot"), [("client", "no"), ("daemon", "no"), ("daemon", "yes")]
)
def test_daemon_charset_as_rsync(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    tmp_path: Path,
    direction: str,
    ours: str,
    chroot: str,
) -> None:
    """The module's ``charset`` wins over the client's ``--iconv`` half (here ``.``)."""
    src = _tree(tmp_path / "src")
    results = []
    for who in ("rsync", "pyrsync"):
        dest = tmp_path / f"dest-{who}"
        dest.mkdir()
        served = src if direction == "pull" else dest
        if chroot == "yes" and os.geteuid() != 0:
            pytest.skip("a chroot module needs root")
        options = {"charset": "ISO-8859-1", "use chroot": chroot}
        module = DaemonModule(name="m", path=served, read_only=direction == "pull", options=options)
        start = our_daemon if who == "pyrsync" and ours == "daemon" else real_daemon
        daemon = start({"m": module})
        client = pyrsync_argv() if who == "pyrsync" and ours == "client" else [real_rsync.path]
        url = daemon.url("m", "")
        words = [*client, "-a", "--iconv=UTF-8,."]
        if direction == "pull":
            result = run([*words, url, f"{dest}/"], timeout=60)
        else:
            result = run([*words, f"{src}/", url], timeout=60)
        assert result.returncode == 0, result.stderr
        results.append(_listing(dest))
    assert results[0] == results[1]
    assert results[0] != _listing(src)  # the names were converted


@pytest.mark.parametrize("ours", ["client", "daemon"])
def test_daemon_without_charset_refuses_iconv(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    tmp_path: Path,
    ours: str,
) -> None:
    src = _tree(tmp_path / "src")
    outcomes = []
    for who in ("rsync", "pyrsync"):
        start = our_daemon if who == "pyrsync" and ours == "daemon" else real_daemon
        daemon = start({"m": src})
        client = pyrsync_argv() if who == "pyrsync" and ours == "client" else [real_rsync.path]
        dest = tmp_path / f"dest-{who}"
        result = run([*client, "-a", "--iconv=UTF-8", daemon.url("m", ""), f"{dest}/"])
        first = mask_error_location(result.stderr).splitlines()[:1]
        outcomes.append((result.returncode, first))
    assert outcomes[0][1] == outcomes[1][1]
    assert outcomes[1][1] == ["rsync: The server is configured to refuse --iconv"]
    if ours == "client":
        # rsync's client ends with 10 against rsync's daemon but 4 against pyrsyncd, for
        # every refused option alike (not an --iconv matter)
        assert outcomes[0][0] == outcomes[1][0]


@pytest.mark.parametrize("ours", ["client", "server"])
@pytest.mark.parametrize("secluded", [True, False])
def test_secluded_args_are_converted_as_rsync(
    real_rsync: RealRsync, tmp_path: Path, ours: str, secluded: bool
) -> None:
    """With ``-s`` the remote path travels in UTF-8 too; without, as typed."""
    src = os.fsencode(tmp_path / "src")
    os.makedirs(src)
    with open(os.path.join(src, b"caf\xe9"), "wb") as f:  # ISO-8859-1 on the server
        f.write(b"latin")
    real_rsh = _real_server(tmp_path)
    outcomes = []
    for who in ("rsync", "pyrsync"):
        dest = tmp_path / f"dest-{who}"
        dest.mkdir()
        client = pyrsync_argv() if who == "pyrsync" and ours == "client" else [real_rsync.path]
        rsh = _ours_server(tmp_path) if who == "pyrsync" and ours == "server" else real_rsh
        words = [*client, "-a", f"--iconv={UTF8_LATIN1}", "-e", str(rsh)]
        if secluded:
            words.append("-s")
        result = run([*words, f"h:{tmp_path}/src/café", f"{dest}/"], timeout=60)
        outcomes.append((result.returncode, _listing(dest)))
    assert outcomes[0] == outcomes[1]
    if secluded:
        assert outcomes[0] == (0, [("café".encode(), b"latin")])


def test_deletions_are_shown_in_utf8_as_rsync(real_rsync: RealRsync, tmp_path: Path) -> None:
    """A server deleting an ISO-8859-1 name tells rsync's client its UTF-8 spelling."""
    src = _tree(tmp_path / "src")
    lines = []
    for who, rsh in (("rsync", _real_server(tmp_path)), ("pyrsync", _ours_server(tmp_path))):
        dest = os.fsencode(tmp_path / f"dest-{who}")
        os.makedirs(dest)
        with open(os.path.join(dest, b"vieux-\xe9"), "wb") as f:
            f.write(b"old")
        words = [real_rsync.path, "-av", "--delete", f"--iconv={UTF8_LATIN1}", "-e", str(rsh)]
        result = run([*words, f"{src}/", f"h:{os.fsdecode(dest)}/"], timeout=60)
        assert result.returncode == 0, result.stderr
        lines.append([line for line in result.stdout.splitlines() if line.startswith("deleting")])
    assert lines[0] == lines[1] == ["deleting vieux-é"]


@pytest.mark.parametrize("ours", ["client", "server"])
@pytest.mark.parametrize("secluded", [True, False])
def test_files_from_names_are_converted_as_rsync(
    real_rsync: RealRsync, tmp_path: Path, ours: str, secluded: bool
) -> None:
    """A local ``--files-from`` list read by a remote sender: in UTF-8 with ``-s``."""
    src = os.fsencode(tmp_path / "src")
    os.makedirs(src)
    for name in (b"caf\xe9", b"plain"):  # ISO-8859-1 on the server
        with open(os.path.join(src, name), "wb") as f:
            f.write(name)
    names = tmp_path / "names"
    names.write_bytes("café\nplain\n".encode())
    real_rsh = _real_server(tmp_path)
    outcomes = []
    for who in ("rsync", "pyrsync"):
        dest = tmp_path / f"dest-{who}"
        dest.mkdir()
        client = pyrsync_argv() if who == "pyrsync" and ours == "client" else [real_rsync.path]
        rsh = _ours_server(tmp_path) if who == "pyrsync" and ours == "server" else real_rsh
        words = [*client, "-a", f"--iconv={UTF8_LATIN1}", f"--files-from={names}"]
        if secluded:
            words.append("-s")
        result = run([*words, "-e", str(rsh), f"h:{tmp_path}/src/", f"{dest}/"], timeout=60)
        outcomes.append((result.returncode, _listing(dest)))
    assert outcomes[0] == outcomes[1]
    assert (b"plain", b"plain") in outcomes[0][1]
    assert ((b"caf\xc3\xa9", b"caf\xe9") in outcomes[0][1]) is secluded


@pytest.mark.parametrize("ours", ["client", "daemon"])
def test_daemon_secluded_path_is_converted_as_rsync(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    tmp_path: Path,
    ours: str,
) -> None:
    """``-s``: a daemon reads the secluded path in its module's charset."""
    src = os.fsencode(tmp_path / "src")
    os.makedirs(src)
    with open(os.path.join(src, b"caf\xe9"), "wb") as f:
        f.write(b"latin")
    outcomes = []
    for who in ("rsync", "pyrsync"):
        module = DaemonModule(name="m", path=tmp_path / "src", options={"charset": "ISO-8859-1"})
        start = our_daemon if who == "pyrsync" and ours == "daemon" else real_daemon
        daemon = start({"m": module})
        client = pyrsync_argv() if who == "pyrsync" and ours == "client" else [real_rsync.path]
        dest = tmp_path / f"dest-{who}"
        dest.mkdir()
        result = run([*client, "-a", "-s", "--iconv=UTF-8", daemon.url("m", "café"), f"{dest}/"])
        outcomes.append((result.returncode, _listing(dest)))
    assert outcomes[0] == outcomes[1] == (0, [("café".encode(), b"latin")])


def test_daemon_with_an_unknown_charset_ends_as_rsyncs(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    tmp_path: Path,
) -> None:
    """rsync's daemon sets the module's charset up first: a bad one ends every session."""
    outcomes = []
    for start in (real_daemon, our_daemon):
        module = DaemonModule(name="m", path=tmp_path, options={"charset": "BOGUS"})
        daemon = start({"m": module})
        for extra in ([], ["--iconv=UTF-8"]):
            dest = tmp_path / f"dest-{len(outcomes)}"
            result = run([real_rsync.path, "-a", *extra, daemon.url("m", ""), f"{dest}/"])
            first = mask_error_location(result.stderr).splitlines()[:1]
            outcomes.append((result.returncode, first))
    assert outcomes[:2] == outcomes[2:]
    assert outcomes[0] == (5, ["rsync: didn't get server startup line"])


@pytest.mark.parametrize("reading", [UTF8_LATIN1, "ISO-8859-1"])
def test_batches_with_iconv_as_rsync(real_rsync: RealRsync, tmp_path: Path, reading: str) -> None:
    """A batch holds the wire's UTF-8 names: written and read by either, the same trees."""
    src = _tree(tmp_path / "src")
    trees = []
    for writer, reader in (("rsync", "rsync"), ("pyrsync", "rsync"), ("rsync", "pyrsync")):
        tag = f"{writer}-{reader}"
        prog = {"rsync": [str(real_rsync.path)], "pyrsync": pyrsync_argv()}
        batch = tmp_path / f"batch-{tag}"
        wrote = run([*prog[writer], "-a", f"--iconv={UTF8_LATIN1}", f"--write-batch={batch}",
                     f"{src}/", f"{tmp_path}/w-{tag}/"])  # fmt: skip
        assert wrote.returncode == 0, wrote.stderr
        dest = tmp_path / f"r-{tag}"
        dest.mkdir()
        read = run([*prog[reader], "-a", f"--iconv={reading}", f"--read-batch={batch}", f"{dest}/"])
        assert read.returncode == 0, read.stderr
        trees.append(_listing(dest))
    assert trees[0] == trees[1] == trees[2]


@pytest.mark.parametrize(
    "words",
    [["-H"], ["--delete"], ["--protocol=29"], ["--no-inc-recursive"], ["-R"]],
)
@pytest.mark.parametrize("direction", ["pull", "push"])
def test_with_other_options_as_rsync(
    real_rsync: RealRsync, tmp_path: Path, words: list[str], direction: str
) -> None:
    """Hard links, deletions, an older protocol, one list, -R: trees as rsync's."""
    src = _tree(tmp_path / "src")
    os.link(
        os.path.join(os.fsencode(src), "café".encode()),
        os.path.join(os.fsencode(src), "lié".encode()),
    )
    real_rsh = _real_server(tmp_path)
    results = []
    for who, client in (("rsync", [str(real_rsync.path)]), ("pyrsync", pyrsync_argv())):
        dest = os.fsencode(tmp_path / f"dest-{who}")
        os.makedirs(dest)
        with open(os.path.join(dest, b"vieux-\xe9"), "wb") as f:
            f.write(b"old")
        argv = [*client, "-a", *words, f"--iconv={UTF8_LATIN1}", "-e", str(real_rsh)]
        source = f"{src}/./" if "-R" in words else f"{src}/"
        target = f"{os.fsdecode(dest)}/"
        if direction == "pull":
            argv += [f"h:{source}", target]
        else:
            argv += [source, f"h:{target}"]
        result = run(argv, timeout=60)
        assert result.returncode == 0, result.stderr
        listing = _listing(dest)
        if "-H" in words:  # how many top-level files share their inode with another
            inodes = [
                os.lstat(os.path.join(dest, n)).st_ino
                for n in os.listdir(dest)
                if os.path.isfile(os.path.join(dest, n))
            ]
            shared = sum(inodes.count(i) > 1 for i in inodes)
            listing.append((b"hard-linked", b"%d" % shared))
        results.append(listing)
    assert results[0] == results[1]
    if "-H" in words:
        assert (b"hard-linked", b"2") in results[0]


def test_rsync_iconv_environment_as_rsync(real_rsync: RealRsync, tmp_path: Path) -> None:
    """``RSYNC_ICONV`` is the default; ``--no-iconv`` turns it off."""
    src = _tree(tmp_path / "src")
    env = {**os.environ, "RSYNC_ICONV": UTF8_LATIN1}
    trees = []
    for words in ([], ["--no-iconv"]):
        pair = []
        for who, prog in (("rsync", [str(real_rsync.path)]), ("pyrsync", pyrsync_argv())):
            dest = tmp_path / f"d-{who}-{len(trees)}"
            result = run([*prog, "-a", *words, f"{src}/", f"{dest}/"], env=env)
            assert result.returncode == 0, result.stderr
            pair.append(_listing(dest))
        assert pair[0] == pair[1]
        trees.append(pair[0])
    assert trees[0] != trees[1] == _listing(src)


@pytest.mark.parametrize("trust", [False, True])
def test_pulled_name_that_does_not_convert_as_rsync(
    real_rsync: RealRsync, tmp_path: Path, trust: bool
) -> None:
    """A pulling client rejects the list (exit 4), or with --trust-sender skips the name (23)."""
    src = _tree(tmp_path / "src", euro=True)
    real_rsh = _real_server(tmp_path)
    outcomes = []
    for who, client in (("rsync", [str(real_rsync.path)]), ("pyrsync", pyrsync_argv())):
        dest = tmp_path / f"dest-{who}"
        dest.mkdir()
        words = [*client, "-a", f"--iconv={LATIN1_UTF8}", "-e", str(real_rsh)]
        if trust:
            words.append("--trust-sender")
        result = run([*words, f"h:{src}/", f"{dest}/"], timeout=60)
        lines = [
            line
            for line in mask_error_location(result.stderr).splitlines()
            if "convert" in line or "rejecting" in line
        ]
        outcomes.append((result.returncode, lines, _listing(dest) if trust else None))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == (23 if trust else 4)
