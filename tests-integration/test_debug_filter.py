"""``--debug=FILTER`` (and ``-vv``, which implies it): which rule decided for a name, as rsync.

rsync's sender says ``[sender] hiding file NAME because of pattern PAT`` (``showing`` for an
include) for every name a rule decides for, and its generator, listing a destination
directory it deletes in, ``[generator] protecting ...``/``risking ...``. A rule read from
a file (here the per-directory ``.rules``) is never echoed: its pattern reads ``<rule from
a file read earlier>``, and the list it sits in follows (`` [per-dir .rules]``). The lines
of pyrsync, in a local copy, a pull from a daemon and a push to one (where the server's
lines reach the client as messages), are rsync 3.5's. The order of the lines depends on
when each side runs, so they are compared sorted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from harness.client import pyrsync_argv
from harness.daemon import DaemonModule
from harness.proc import run

if TYPE_CHECKING:
    from pathlib import Path

    from harness.daemon import RealDaemonFactory
    from harness.tools import RealRsync

pytestmark = pytest.mark.interop

# a rule ending in whitespace: a server's sender warns of it at -vv (a client only after
# --debug=FILTER, as -v sets the levels once every option is read)
_RULES = ["--exclude=*.o", "--exclude=/sub/deep/", "--filter=: .rules", "--exclude=ws "]


def _tree(root: Path) -> Path:
    for name in ("keep", "sub/deep", "other"):
        (root / name).mkdir(parents=True, exist_ok=True)
    for name in ("a.o", "a.c", "keep/k.o", "sub/b.o", "sub/b.c", "sub/deep/x", "other/y.tmp"):
        (root / name).write_text(name)
    # its last rule ends in a space: the sender says so, naming the file by its full path
    (root / ".rules").write_text("- *.tmp\n+ keep/\n- d*/\n- zz-probe \n")
    (root / "sub" / ".rules").write_text("- b.c\n")
    return root


def _junk(dst: Path) -> None:
    """What a --delete run finds in the destination: kept, protected, deleted."""
    (dst / "zz").mkdir(parents=True)
    for name in ("zz/q.o", "r.o", "gone.c"):
        (dst / name).write_text(name)


def _trace(out: str) -> list[str]:
    return sorted(
        line for line in out.splitlines() if " because of pattern " in line or "add_rule(" in line
    )


@pytest.mark.parametrize("verbosity", [["-vv"], ["--debug=FILTER"]])
@pytest.mark.parametrize("delete", [False, True])
def test_local_copy_trace_is_rsyncs(
    real_rsync: RealRsync, tmp_path: Path, verbosity: list[str], delete: bool
) -> None:
    src = _tree(tmp_path / "src")
    seen = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dst = tmp_path / who
        if delete:
            _junk(dst)
        extra = ["--delete"] if delete else []
        code, out, err = run([*argv, "-r", *verbosity, *extra, *_RULES, f"{src}/", f"{dst}/"])
        assert code in (0, 23), (who, err)
        seen[who] = _trace(out + err)
        assert "probe" not in out + err  # a merge file's text is never shown
    assert seen["ours"] == seen["theirs"]
    assert any("<rule from a file read earlier> [per-dir .rules]" in x for x in seen["ours"])
    assert not any("b.c because of pattern b.c" in x for x in seen["ours"])
    if delete:
        assert any(x.startswith("[generator] protecting file r.o") for x in seen["ours"])


def _module(path: Path, *, read_only: bool) -> DaemonModule:
    return DaemonModule(name="m", path=path, read_only=read_only, options={"max verbosity": "2"})


@pytest.mark.parametrize("verbosity", [["-vv"], ["--debug=FILTER"]])
def test_pull_from_daemon_trace_is_rsyncs(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    tmp_path: Path,
    verbosity: list[str],
) -> None:
    src = _tree(tmp_path / "src")
    seen = {}
    for who, argv, factory in (
        ("ours", pyrsync_argv(), our_daemon),
        ("theirs", real_rsync.argv(), real_daemon),
    ):
        daemon = factory({"m": _module(src, read_only=True)})
        dst = tmp_path / who
        code, out, err = run([*argv, "-r", *verbosity, *_RULES, daemon.url("m"), f"{dst}/"])
        assert code == 0, (who, err)
        seen[who] = _trace(out + err)
        assert "probe" not in out + err  # a merge file's text is never shown
    assert seen["ours"] == seen["theirs"]
    # --debug is not sent to the server: only -v sets the daemon sender's levels
    server = [x for x in seen["ours"] if x.startswith("[sender] ")]
    assert bool(server) == ("-vv" in verbosity)
    if "-vv" in verbosity:
        assert "[sender] add_rule(- ws ) -- CAUTION: trailing whitespace!" in seen["ours"]
        shown = f"[sender] add_rule(<rule from {src}/.rules line 4>) [per-dir .rules]"
        assert shown in seen["ours"]


@pytest.mark.parametrize("verbosity", [["-vv"], ["--debug=FILTER"]])
def test_push_to_daemon_trace_is_rsyncs(
    real_rsync: RealRsync,
    real_daemon: RealDaemonFactory,
    our_daemon: RealDaemonFactory,
    tmp_path: Path,
    verbosity: list[str],
) -> None:
    src = _tree(tmp_path / "src")
    seen = {}
    for who, argv, factory in (
        ("ours", pyrsync_argv(), our_daemon),
        ("theirs", real_rsync.argv(), real_daemon),
    ):
        dst = tmp_path / who
        _junk(dst)
        daemon = factory({"m": _module(dst, read_only=False)})
        code, out, err = run(
            [*argv, "-r", "--delete", *verbosity, *_RULES, f"{src}/", daemon.url("m")]
        )
        assert code in (0, 23), (who, err)
        seen[who] = _trace(out + err)
        assert "probe" not in out + err  # a merge file's text is never shown
    assert seen["ours"] == seen["theirs"]
    assert any(x.startswith("[sender] ") for x in seen["ours"])
    # the server's generator reports only at -vv (--debug is not sent)
    generator = [x for x in seen["ours"] if x.startswith("[generator] ")]
    assert bool(generator) == ("-vv" in verbosity)


def test_trailing_whitespace_caution_is_rsyncs(real_rsync: RealRsync, tmp_path: Path) -> None:
    """``--debug=FILTER1`` warns of the user's own rule ending in whitespace, never of a
    rule read from a file (whose text, and whether it ends in a space, stays unsaid)."""
    src = _tree(tmp_path / "src")
    (src / ".rules").write_text("- from-file-probe \n")
    (tmp_path / "exf").write_text("- listed-probe \n")
    seen = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        code, out, err = run(
            [
                *argv,
                "-r",
                "--debug=FILTER1",
                "--filter=- my-own-rule ",
                "--exclude=x ",
                "--filter=-/s y\t",
                "--include=k ",
                f"--exclude-from={tmp_path / 'exf'}",
                "--filter=: .rules",
                f"{src}/",
                f"{tmp_path / who}/",
            ]
        )
        assert code == 0, (who, err)
        seen[who] = [x for x in (out + err).splitlines() if "add_rule(" in x]
        assert "probe" not in out + err
    assert seen["ours"] == seen["theirs"]
    assert seen["ours"][0] == "[client] add_rule(- my-own-rule ) -- CAUTION: trailing whitespace!"


def test_generator_names_a_destination_merge_file_by_its_path(
    real_rsync: RealRsync, tmp_path: Path
) -> None:
    """The generator reads the destination's per-dir files; a rule of one is told by the
    file's full path, in the trace and in a syntax error alike."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("f")
    seen = {}
    for who, argv in (("ours", pyrsync_argv()), ("theirs", real_rsync.argv())):
        dst = tmp_path / who
        (dst / "sub").mkdir(parents=True)
        (dst / ".rules").write_text("- ws-probe \n")
        (dst / "sub" / "junk").write_text("junk")
        code, out, err = run(
            [*argv, "-r", "--delete", "--debug=FILTER1", "--filter=: .rules", f"{src}/", f"{dst}/"]
        )
        assert code == 0, (who, err)
        lines = [x for x in (out + err).splitlines() if "add_rule(" in x]
        seen[who] = [x.replace(str(dst), "DST") for x in lines]
        assert "probe" not in out + err
        (dst / "sub" / ".rules").write_text("Zbad\n")
        code, out, err = run([*argv, "-r", "--delete", "--filter=: .rules", f"{src}/", f"{dst}/"])
        assert code == 1
        assert f"Unknown filter rule: <rule from {dst}/sub/.rules line 1>" in err
    assert seen["ours"] == seen["theirs"]
    assert seen["ours"] == ["[generator] add_rule(<rule from DST/.rules line 1>) [per-dir .rules]"]
