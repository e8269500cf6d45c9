"""A daemon module's exclude/include/filter rules hide names from every real rsync client.

The module's rules (anchored at the module root or not) must hide the same names whatever
the client's protocol (27, 29, 32), with and without incremental recursion, for a pull, a
listing, and ``-R``; and a path argument naming a hidden name must fail exactly as a missing
one does. Each scenario also runs against rsync's own daemon with the same rsyncd.conf, and
the names the client sees must be the same.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import TYPE_CHECKING

import pytest

from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.shim import ShimFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

RULES = {
    "exclude": "/secret/*** /private/ /private2 *.key",
    "filter": "- /sec3/*** + /keep/ - /keep/**",
}
HIDDEN = ("secret", "private", "private2", "sec3", "a.key", "keep/x", "pub/b.key")


@pytest.fixture
def module_tree(tmp_path: Path) -> Path:
    mod = tmp_path / "mod"
    for d in ("secret/in", "private", "private2", "sec3", "pub/private", "keep"):
        (mod / d).mkdir(parents=True)
    for f in (
        "secret/a",
        "secret/in/b",
        "private/c",
        "private2/c2",
        "sec3/d",
        "a.key",
        "keep/x",
        "pub/b.key",
        "pub/ok",
        "pub/private/deep",
        "top",
    ):
        (mod / f).write_text(f"SECRET {f}\n" if f.startswith(HIDDEN) or f.endswith(".key") else f)
    return mod


def _names(out: str) -> list[str]:
    """Names in a listing (``-r`` without a destination): the last field of each line."""
    return sorted(line.split(None, 4)[4] for line in out.splitlines() if line[:1] in "-dlcbps")


def _tree(dest: Path) -> list[str]:
    found = []
    for dirpath, dirs, files in os.walk(dest):
        found.extend(os.path.relpath(os.path.join(dirpath, n), dest) for n in dirs + files)
    return sorted(found)


def _assert_hidden(names: list[str]) -> None:
    __tracebackhide__ = True
    for name in names:
        parts = name.split("/")
        assert not name.endswith(".key"), name
        assert parts[0] not in ("secret", "private", "private2", "sec3"), name
        assert not name.startswith("keep/"), name
    assert "top" in names or any(n.endswith("top") for n in names)


def _start(request: pytest.FixtureRequest, kind: str, mod: Path) -> object:
    daemon: RealDaemonFactory = request.getfixturevalue(kind)
    return daemon([DaemonModule("m", mod, options=RULES)])


@pytest.mark.parametrize("protocol", [27, 29, 32])
@pytest.mark.parametrize("inc", [True, False], ids=["inc", "no-inc"])
@pytest.mark.parametrize("mode", ["pull", "list", "relative"])
def test_module_rules_hide_names(
    request: pytest.FixtureRequest,
    real_rsync: RealRsync,
    module_tree: Path,
    tmp_path: Path,
    protocol: int,
    inc: bool,
    mode: str,
) -> None:
    seen: dict[str, list[str]] = {}
    for kind in ("our_daemon", "real_daemon"):
        d = _start(request, kind, module_tree)
        args = ["-r", f"--protocol={protocol}"]
        if not inc:
            args.append("--no-inc-recursive")
        if mode == "relative":
            args.append("-R")
        url = d.url("m", "./" if mode == "relative" else "")  # type: ignore[attr-defined]
        if mode == "list":
            code, out, err = run(real_rsync.argv(*args, url), timeout=60)
            names = _names(out)
        else:
            dest = tmp_path / f"dest-{kind}"
            code, out, err = run(real_rsync.argv(*args, url, str(dest)), timeout=60)
            names = _tree(dest)
        assert code == 0, (kind, err)
        _assert_hidden(names)
        seen[kind] = names
    assert seen["our_daemon"] == seen["real_daemon"]
    assert "pub/private/deep" in seen["our_daemon"] or "pub/private/deep" in [
        n.removeprefix("./") for n in seen["our_daemon"]
    ]


@pytest.mark.parametrize(
    "path",
    [
        "secret",
        "secret/",
        "secret/a",
        "secret/in/b",
        "private/c",
        "private2",
        "a.key",
        "keep/x",
        "pub/../secret/a",
        "pub/../secret",
        "./secret/",
        "pub/../../secret/a",
    ],
)
@pytest.mark.parametrize("relative", [False, True], ids=["plain", "R"])
def test_hidden_argument_fails_like_a_missing_one(
    request: pytest.FixtureRequest,
    real_rsync: RealRsync,
    module_tree: Path,
    tmp_path: Path,
    path: str,
    relative: bool,
) -> None:
    results = {}
    for kind in ("our_daemon", "real_daemon"):
        d = _start(request, kind, module_tree)
        dest = tmp_path / f"dest-{kind}"
        args = ["-r", *(["-R"] if relative else [])]
        code, _out, err = run(
            real_rsync.argv(*args, d.url("m", path), str(dest)),  # type: ignore[attr-defined]
            timeout=60,
        )
        assert not any(b"SECRET" in p.read_bytes() for p in dest.rglob("*") if p.is_file()), (
            f"{kind} sent a hidden file"
        )
        lines = [ln for ln in err.splitlines() if ln.startswith("rsync: [sender]")]
        results[kind] = (code, lines)
    assert results["our_daemon"] == results["real_daemon"]
    assert results["our_daemon"][0] == 23


@pytest.mark.parametrize("pattern", ["*", "*/c", "sec*/", "[ps]*", "pub/*", "*/in/*"])
def test_wildcards_never_match_hidden_names(
    request: pytest.FixtureRequest,
    real_rsync: RealRsync,
    module_tree: Path,
    tmp_path: Path,
    pattern: str,
) -> None:
    seen = {}
    for kind in ("our_daemon", "real_daemon"):
        d = _start(request, kind, module_tree)
        dest = tmp_path / f"dest-{kind}"
        code, _out, err = run(
            real_rsync.argv("-rR", d.url("m", pattern), str(dest)),  # type: ignore[attr-defined]
            timeout=60,
        )
        names = _tree(dest) if dest.exists() else []
        assert not any(b"SECRET" in p.read_bytes() for p in dest.rglob("*") if p.is_file()), (
            f"{kind} sent a hidden file"
        )
        lines = sorted(ln for ln in err.splitlines() if ln.startswith("rsync: [sender]"))
        seen[kind] = (code, names, lines)
    assert seen["our_daemon"] == seen["real_daemon"]


@pytest.mark.parametrize("protocol", [27, 32])
@pytest.mark.parametrize("inc", [True, False], ids=["inc", "no-inc"])
def test_module_rules_over_a_remote_shell(
    real_rsync: RealRsync,
    rsh_shim_factory: ShimFactory,
    module_tree: Path,
    tmp_path: Path,
    protocol: int,
    inc: bool,
) -> None:
    """The daemon over a remote shell (``pyrsyncd --server --daemon``) hides the same names."""
    config_home = tmp_path / "config"
    config_home.mkdir()
    (config_home / "pyrsyncd.toml").write_text(
        f'[modules.m]\npath = "{module_tree}"\n'
        'exclude = ["/secret/***", "/private/", "/private2", "*.key"]\n'
        'filter = ["- /sec3/***", "+ /keep/", "- /keep/**"]\n'
    )
    wrapper = tmp_path / "pyrsyncd-wrapper"
    command = shlex.join([sys.executable, "-m", "rsync_daemon"])
    wrapper.write_text(
        f'#!/bin/sh\nXDG_CONFIG_HOME={shlex.quote(str(config_home))} exec {command} "$@"\n'
    )
    wrapper.chmod(0o755)
    shim = rsh_shim_factory()
    args = ["-r", f"--protocol={protocol}", "-e", str(shim), f"--rsync-path={wrapper}"]
    if not inc:
        args.append("--no-inc-recursive")
    dest = tmp_path / "dest"
    code, _, err = run(real_rsync.argv(*args, "rsync://localhost/m/", str(dest)), timeout=60)
    assert code == 0, err
    names = _tree(dest)
    _assert_hidden(names)
    assert "pub/private/deep" in names
    code, out, err = run(real_rsync.argv(*args, "rsync://localhost/m/"), timeout=60)
    assert code == 0, err
    assert _names(out) == sorted([".", *names])
