"""Our FilterList against the real rsync: the same rules must select the same files.

For each rule set, ``rsync -rn --out-format=%n <rules> src/ dst/`` lists what its
sender keeps; a walk of the same tree that asks our FilterList (pruning excluded
directories, loading per-directory merge files with enter_dir/leave_dir) must
keep the same set of paths. Skipped when rsync is not installed, except under CI.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from rsync_wire.errors import LocalProtocolError
from rsync_wire.proto.codec import NeedMoreData
from rsync_wire.proto.filters import (
    F_OPTION_RULES,
    FilterError,
    FilterList,
    cvs_exclude_rules,
    decode_filter_list,
    filter_rule_texts,
)

pytestmark = pytest.mark.interop

RSYNC = shutil.which("rsync")

# -- the tree ------------------------------------------------------------------------------

FILES: dict[str, bytes] = {
    "top/a.c": b"",
    "top/a.o": b"",
    "top/b.h": b"",
    "top/sub/x": b"",
    "top/sub/deep/y.c": b"",
    "top/sub/deep/x": b"",
    "sub/one/x": b"",
    "sub/two/x": b"",
    "sub/two/keep.c": b"",
    "sub/two/z.o": b"",
    "deep": b"",
    "a/b": b"",
    "a/x/b": b"",
    "a/x/y/b": b"",
    "a/c/d": b"",
    "a/x/y/keep.c": b"",
    ".hidden": b"",
    ".hdir/inner": b"",
    "name with space.txt": b"",
    "dir with space/[br]acket.c": b"",
    "[abc]": b"",
    "b": b"",
    "c.o": b"",
    "x.tmp": b"",
    "x.bak": b"",
    "core": b"",
    "foo~": b"",
    "CVS/Entries": b"",
    ".git/config": b"",
    "back\\slash": b"",
    "\u00e9/\u00f1.txt": b"",
    "\u65e5\u672c.c": b"",
    "d1/d2/d3/deep/z": b"",
    "d1/deep": b"",
    "empty/.keep": b"",
    "r9/q7": b"",
    # per-directory merge files
    ".rsync-filter": b"- *.o\n+ keep.c\n# a comment\n\n- /deep\n",
    "top/.rsync-filter": b"- /b.h\r\n- deep/\r\n",
    "sub/.rsync-filter": b"!\n- x\n",
    "a/.rsync-filter": b": .more\n- c/\n",
    "a/x/.more": b"- y\n",
    "a/.more": b"- b\n",
    ".excl": b"*.h\nb\n",
    "top/.excl": b"sub\n",
    "top/.cvsignore": b"a.c  b.h\n",
    "sub/two/.cvsignore": b"keep.c",
    ".inc": b"*.c\n",
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("oracle")
    src = base / "src"
    for rel, data in FILES.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    # Read only by -F and other merge rules naming a parent directory of the root.
    (base / ".rsync-filter").write_bytes(b"- core\n- /top\n- /src/deep\n+ *.bak\n")
    (base / "home").mkdir()
    (base / "home" / ".cvsignore").write_bytes(b"*.tmp\n")
    return base


@pytest.fixture
def rsync() -> str:
    if RSYNC is None:
        if os.environ.get("CI"):
            pytest.fail("rsync is not installed, and CI is set: interop must not be skipped")
        pytest.skip("rsync is not installed")
    return RSYNC


# -- running both sides --------------------------------------------------------------------

Spec = tuple[str, ...]

_ESC = re.compile(rb"\\#([0-7]{3})")


def _unescape(line: bytes) -> bytes:
    return _ESC.sub(lambda m: bytes([int(m.group(1), 8)]), line)


def rsync_list(rsync: str, base: Path, work: Path, specs: list[Spec]) -> tuple[int, set[bytes]]:
    args: list[bytes] = []
    for n, spec in enumerate(specs):
        kind = spec[0]
        if kind in ("--exclude-from", "--include-from"):
            f = work / f"list{n}.txt"
            f.write_bytes(spec[1].encode())
            args.append(f"{kind}={f}".encode())
        elif len(spec) == 1:
            args.append(kind.encode())
        else:
            args.append(kind.encode() + b"=" + spec[1].encode())
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C",
        "HOME": str(base / "home"),
    }
    proc = subprocess.run(
        [rsync.encode(), b"-rn", b"--out-format=%n", *args, bytes(base / "src") + b"/", b"dst/"],
        cwd=work,
        env=env,
        capture_output=True,
        check=False,
        timeout=60,
    )
    listed = set()
    for line in proc.stdout.splitlines():
        name = _unescape(line).rstrip(b"/")
        if name and name != b".":
            listed.add(name)
    return proc.returncode, listed


Reader = Callable[[bytes], "bytes | None"]


def _reader(work: Path, src: Path) -> tuple[Reader, Reader]:
    def read(path: bytes) -> bytes | None:
        p = Path(os.fsdecode(path))
        full = p if p.is_absolute() else (src / p)
        try:
            return full.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            return None

    def read_cwd(path: bytes) -> bytes | None:
        p = Path(os.fsdecode(path))
        full = p if p.is_absolute() else (work / p)
        try:
            return full.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None

    return read, read_cwd


def our_list(base: Path, work: Path, specs: list[Spec]) -> set[bytes]:
    src = base / "src"
    read, read_cwd = _reader(work, src)
    flist = FilterList(
        root=os.fsencode(src),
        read_file=read_cwd,
        home_cvsignore=(base / "home" / ".cvsignore").read_bytes(),
    )
    cvs = False
    for spec in specs:
        kind = spec[0]
        value = spec[1].encode() if len(spec) > 1 else b""
        if kind == "-f":
            flist.add_filter(value)
        elif kind == "--exclude":
            flist.add_exclude(value)
        elif kind == "--include":
            flist.add_include(value)
        elif kind == "--exclude-from":
            flist.add_exclude_from(value)
        elif kind == "--include-from":
            flist.add_include_from(value)
        elif kind == "-F":
            flist.add_filter(b": /.rsync-filter")
        elif kind == "-FF":
            flist.add_filter(b": /.rsync-filter")
            flist.add_filter(b"- .rsync-filter")
        elif kind == "-C":
            cvs = True
        else:
            raise AssertionError(kind)
    if cvs:  # a local copy: the client is the sender and adds these before "sending"
        before, _after = cvs_exclude_rules(protocol=32, am_sender=True, am_server=False)
        for text in before:
            flist.add_filter(text)

    kept: set[bytes] = set()

    def walk(rel: bytes) -> None:
        token = flist.enter_dir(rel or b".", read)
        try:
            for name in sorted(os.listdir(src / os.fsdecode(rel) if rel else src)):
                bname = os.fsencode(name)
                path = rel + bname
                is_dir = (src / os.fsdecode(path)).is_dir()
                if flist.excluded(path, is_dir=is_dir):
                    continue
                kept.add(path)
                if is_dir:
                    walk(path + b"/")
        finally:
            flist.leave_dir(token)

    walk(b"")
    return kept


# -- the rule sets -------------------------------------------------------------------------

CASES: list[tuple[str, list[Spec]]] = [
    ("none", []),
    ("star-o", [("-f", "- *.o")]),
    ("anchored-top", [("-f", "- /top")]),
    ("dir-only", [("-f", "- top/")]),
    ("name-deep", [("-f", "- deep")]),
    ("dir-only-deep", [("-f", "- deep/")]),
    ("starstar-deep", [("-f", "- **/deep")]),
    ("a-starstar-b", [("-f", "- a/**/b")]),
    ("only-c", [("-f", "+ */"), ("-f", "+ *.c"), ("-f", "- *")]),
    ("sub-star-x", [("-f", "- /sub/*/x")]),
    ("class-a-c", [("-f", "- [a-c]*")]),
    ("negated-class", [("-f", "- [!a-c]*")]),
    ("caret-class", [("-f", "- [^.a-z]*")]),
    ("posix-class", [("-f", "- *[[:digit:]]*")]),
    ("negate-dirs", [("-f", "-! */")]),
    ("wild3-anchored", [("-f", "+ /top/***"), ("-f", "- *")]),
    ("wild3-floating", [("-f", "- sub/***")]),
    ("first-match-exclude", [("-f", "- *.c"), ("-f", "+ top/a.c")]),
    ("first-match-include", [("-f", "+ top/a.c"), ("-f", "- *.c")]),
    ("two-elements", [("-f", "- sub/two")]),
    ("x-anywhere", [("-f", "- x")]),
    ("anchored-dir", [("-f", "- /a/x/")]),
    ("infix-star", [("-f", "- a/*/b")]),
    ("everything", [("-f", "- *")]),
    ("dotfiles", [("-f", "- .*")]),
    ("space-name", [("-f", "- name with space.txt")]),
    ("space-dir", [("-f", "- dir with space/")]),
    ("escaped-bracket", [("-f", "- \\[abc]")]),
    ("class-single", [("-f", "- [abc]")]),
    ("bracket-in-dir", [("-f", "- *\\[br]*")]),
    ("unicode-dir", [("-f", "- \u00e9")]),
    ("unicode-file", [("-f", "- *.c"), ("-f", "+ \u65e5*")]),
    ("starstar-c", [("-f", "- **.c")]),
    ("anchored-starstar", [("-f", "- /**/x")]),
    ("starstar-dir-only", [("-f", "- **/")]),
    ("deep-star", [("-f", "- top/sub/deep/*")]),
    ("multi-star", [("-f", "- **/d*/*e*/**")]),
    ("starstar-mid-star", [("-f", "- d1/**/de*p")]),
    ("question", [("-f", "- ?")]),
    ("question-path", [("-f", "- r?/q?")]),
    ("literal-backslash", [("-f", "- back\\slash")]),
    ("wild-backslash", [("-f", "- back\\\\sl*")]),
    ("trailing-space", [("-f", "- b ")]),
    ("underscore-sep", [("-f", "-_*.o")]),
    ("long-names", [("-f", "exclude *.o"), ("-f", "include,s x"), ("-f", "hide x")]),
    ("hide-show", [("-f", "S *.o"), ("-f", "H *.o")]),
    ("hide", [("-f", "H *.c")]),
    ("protect-no-effect", [("-f", "P *.o"), ("-f", "-r x")]),
    ("risk-then-exclude", [("-f", "R *.o"), ("-f", "- *.o")]),
    ("sender-side", [("-f", "-s *.o")]),
    ("clear", [("-f", "- *.o"), ("-f", "!"), ("-f", "- *.c")]),
    ("clear-long", [("-f", "- *.o"), ("-f", "clear"), ("-f", "- x")]),
    ("all-dirs", [("-f", "- */")]),
    ("include-c-exclude-1char-ext", [("-f", "+ *.c"), ("-f", "- *.?")]),
    ("hdir-wild3", [("-f", "- .hdir/***")]),
    ("negated-anchored", [("-f", "+ /top"), ("-f", "-! /top/**")]),
    ("negated-name", [("-f", "-! *.c"), ("-f", "+ *")]),
    ("old-exclude", [("--exclude", "*.o"), ("--exclude", "- x"), ("--include", "+ a")]),
    ("old-include", [("--include", "*/"), ("--include", "*.c"), ("--exclude", "*")]),
    ("old-clear", [("--exclude", "*.o"), ("--exclude", "!"), ("--exclude", "*.c")]),
    ("old-bang-pattern", [("--exclude", "!x")]),
    ("old-dash-literal", [("--exclude", "-x")]),
    (
        "exclude-from",
        [("--exclude-from", "# comment\n; also\n*.o\r\n+ keep.c\n\n- x\n*.c\n")],
    ),
    ("include-from", [("--include-from", "*/\n*.c\n"), ("--exclude", "*")]),
    ("merge-file", [("-f", ". rules.txt")]),
    ("merge-long", [("-f", "merge,- plain.txt")]),
    ("abs-modifier", [("-f", "-/ {src}/top/a.c")]),
    ("abs-unanchored", [("-f", "-/ src/deep")]),
    ("anchored-files", [("-f", "- /top/a.c"), ("-f", "- /deep")]),
    ("perishable", [("-f", "-p *.o")]),
    ("per-dir", [("-f", ": .rsync-filter")]),
    ("per-dir-long", [("-f", "dir-merge .rsync-filter")]),
    ("per-dir-F", [("-F",)]),
    ("per-dir-FF", [("-FF",)]),
    ("per-dir-e", [("-f", ":e .rsync-filter")]),
    ("per-dir-n", [("-f", ":n .rsync-filter")]),
    ("per-dir-no-prefix", [("-f", ":- .excl")]),
    ("per-dir-include-only", [("-f", ":+ .inc"), ("-f", "- *.c")]),
    ("per-dir-after-global", [("-f", "+ *.o"), ("-f", ": .rsync-filter")]),
    ("per-dir-before-global", [("-f", ": .rsync-filter"), ("-f", "- *.c")]),
    ("per-dir-two-kinds", [("-f", ": .rsync-filter"), ("-f", ":- .excl")]),
    ("per-dir-perishable", [("-f", ":p .rsync-filter")]),
    ("per-dir-sender", [("-f", ":s .rsync-filter")]),
    ("per-dir-receiver", [("-f", ":r .rsync-filter")]),
    ("per-dir-duplicate", [("-f", ": .rsync-filter"), ("-f", ":- sub/.rsync-filter")]),
    ("per-dir-parent-path", [("-f", ":- ../src/.excl")]),
    ("per-dir-abs-parent", [("-f", ": {base}/.rsync-filter")]),
    ("per-dir-abs-parent-n", [("-f", ":n {base}/.rsync-filter")]),
    ("cvs-option", [("-C",)]),
    ("cvs-option-with-rules", [("-f", "+ core"), ("-C",)]),
    ("cvs-perdir-only", [("-f", ":C")]),
    ("cvs-global-only", [("-f", "-C")]),
    ("cvs-both", [("-f", ":C"), ("-f", "-C"), ("-f", "- *.c")]),
]

AUX_FILES = {
    "rules.txt": "- *.o\n+ keep.c\n- *.c\n:- .excl\n",
    "bad-rules.txt": "- *.o\n: .excl\n",
    "plain.txt": "*.h\ncore\n",
}


@pytest.mark.parametrize(("specs"), [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_same_files_as_rsync(rsync: str, tree: Path, tmp_path: Path, specs: list[Spec]) -> None:
    for name, text in AUX_FILES.items():
        (tmp_path / name).write_text(text)
    src = str(tree / "src")
    specs = [
        tuple(part.replace("{src}", src).replace("{base}", str(tree)) for part in spec)
        for spec in specs
    ]
    rc, theirs = rsync_list(rsync, tree, tmp_path, specs)
    assert rc == 0
    ours = our_list(tree, tmp_path, specs)
    assert sorted(ours - theirs) == []
    assert sorted(theirs - ours) == []


# -- cases where rsync refuses the rules ---------------------------------------------------

REJECTED: list[tuple[str, list[Spec]]] = [
    ("bad-modifier", [("-f", "-w x")]),
    ("unknown-type", [("-f", "x foo")]),
    ("empty-exclude", [("-f", "-")]),
    ("clear-trailing", [("-f", "! x")]),
    ("missing-merge", [("-f", ". does-not-exist")]),
    ("sided-merge", [("-f", ":s .sided")]),
    ("word-split-prefix", [("-f", ":w .words")]),
    ("merged-per-dir-syntax", [("-f", ". bad-rules.txt")]),
    ("per-dir-bare-patterns", [("-f", ": .excl")]),
]


@pytest.mark.parametrize(("specs"), [c[1] for c in REJECTED], ids=[c[0] for c in REJECTED])
def test_rejected_like_rsync(rsync: str, tree: Path, tmp_path: Path, specs: list[Spec]) -> None:
    # The per-directory files these read live in a copy of the tree.
    for name, text in AUX_FILES.items():
        (tmp_path / name).write_text(text)
    base = tmp_path / "t"
    shutil.copytree(tree, base, symlinks=True)
    (base / "src" / ".sided").write_bytes(b"H foo\n")
    (base / "src" / ".words").write_bytes(b"- foo\n")
    rc, _ = rsync_list(rsync, base, tmp_path, specs)
    assert rc in (1, 11)
    with pytest.raises(FilterError) as info:
        our_list(base, tmp_path, specs)
    assert int(info.value.exit_code) == rc


# -- a daemon module's own rules -----------------------------------------------------------

DAEMON_CASES: list[tuple[str, dict[str, str], str, list[Spec]]] = [
    ("exclude-dir", {"exclude": "top/ *.o"}, "", []),
    ("exclude-anchored", {"exclude": "/sub/two /deep"}, "", []),
    ("exclude-slash-floating", {"exclude": "two/x"}, "", []),
    ("include-then-exclude", {"include": "*/ *.c", "exclude": "*"}, "", []),
    ("filter-param", {"filter": "- /top/sub - .* + x - a/"}, "", []),
    ("filter-hide-dropped", {"filter": "H *.c"}, "", []),
    ("filter-protect-applies", {"filter": "P *.c"}, "", []),
    ("filter-show-dropped", {"filter": "S top - top"}, "", []),
    ("exclude-from-file", {"exclude from": "*.o\n# comment\nsub/\n- deep\n"}, "", []),
    ("include-from-file", {"include from": "*.c\n*/\n", "exclude": "*"}, "", []),
    ("wild3", {"exclude": "/a/x/***"}, "", []),
    ("subdir-pull", {"exclude": "/top/sub/deep one/"}, "top/", []),
    ("subdir-pull-anchored", {"exclude": "/sub/two"}, "sub/", []),
    ("daemon-and-client", {"exclude": "*.o"}, "", [("-f", "+ *.o"), ("-f", "- *.c")]),
    ("client-per-dir", {"exclude": "x"}, "", [("-f", ": .rsync-filter")]),
]


@pytest.mark.parametrize(
    ("params", "subdir", "specs"),
    [c[1:] for c in DAEMON_CASES],
    ids=[c[0] for c in DAEMON_CASES],
)
def test_daemon_rules_like_rsync(
    rsync: str,
    tree: Path,
    tmp_path: Path,
    params: dict[str, str],
    subdir: str,
    specs: list[Spec],
) -> None:
    src = tree / "src"
    lines = [
        "use chroot = no",
        f"uid = {os.getuid()}",
        f"gid = {os.getgid()}",
        "[mod]",
        f"path = {src}",
    ]
    contents: dict[str, bytes] = {}
    for key, value in params.items():
        if key.endswith(" from"):
            f = tmp_path / key.replace(" ", "_")
            f.write_text(value)
            contents[key] = value.encode()
            lines.append(f"{key} = {f}")
        else:
            lines.append(f"{key} = {value}")
    conf = tmp_path / "d.conf"
    conf.write_text("\n".join(lines) + "\n")
    shim = tmp_path / "rsh.sh"
    shim.write_text(f'#!/bin/sh\nshift\nexec "$@" --config={conf}\n')
    shim.chmod(0o755)
    args = [
        rsync,
        "-rn",
        "--out-format=%n",
        *(f"{s[0]}={s[1]}" for s in specs),
        "-e",
        str(shim),
        f"localhost::mod/{subdir}",
        "dst/",
    ]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(tmp_path)}
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    theirs = {_unescape(n).rstrip(b"/") for n in proc.stdout.splitlines()} - {b"", b"."}

    root = src / subdir
    daemon = FilterList.from_daemon_config(
        filter=params.get("filter"),
        include_from=contents.get("include from"),
        include=params.get("include"),
        exclude_from=contents.get("exclude from"),
        exclude=params.get("exclude"),
        root=b"/" + subdir.rstrip("/").encode(),
    )
    user = FilterList(root=b"/" + subdir.rstrip("/").encode())
    for spec in specs:
        user.add_filter(spec[1].encode())
    read, _ = _reader(tmp_path, root)
    ours: set[bytes] = set()

    def walk(rel: bytes) -> None:
        token = user.enter_dir(rel or b".", read)
        for name in sorted(os.listdir(root / os.fsdecode(rel))):
            path = rel + os.fsencode(name)
            is_dir = (root / os.fsdecode(path)).is_dir()
            if daemon.excluded(path, is_dir=is_dir) or user.excluded(path, is_dir=is_dir):
                continue
            ours.add(path)
            if is_dir:
                walk(path + b"/")
        user.leave_dir(token)

    walk(b"")
    assert sorted(ours - theirs) == []
    assert sorted(theirs - ours) == []


# -- what a real rsync client puts on the wire ---------------------------------------------

_TEE = """#!{python}
import os, subprocess, sys, threading
server = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE)
log = open({log!r}, "wb")
def pump():
    while True:
        data = os.read(0, 65536)
        if not data:
            break
        log.write(data)
        log.flush()
        try:
            server.stdin.write(data)
            server.stdin.flush()
        except BrokenPipeError:
            break
threading.Thread(target=pump, daemon=True).start()
sys.exit(server.wait())
"""


def _client_filter_texts(stream: bytes, protocol: int) -> list[bytes]:
    """The filter list in a client's byte stream (after its version and checksum names)."""
    pos = 4
    if protocol < 30:
        return decode_filter_list(stream, pos)[0]
    n = stream[pos]
    pos += 1
    if n & 0x80:
        n = (n & 0x7F) << 8 | stream[pos]
        pos += 1
    pos += n
    payload = bytearray()
    while pos + 4 <= len(stream):
        header = int.from_bytes(stream[pos : pos + 4], "little")
        length = header & 0xFFFFFF
        if header >> 24 == 7:  # MPLEX_BASE + MSG_DATA
            payload += stream[pos + 4 : pos + 4 + length]
            with contextlib.suppress(NeedMoreData):
                return decode_filter_list(payload, 0)[0]
        pos += 4 + length
    msg = "no filter list in the client's stream"
    raise AssertionError(msg)


WIRE_CASES: list[tuple[str, list[str]]] = [
    ("plain", ["-f- *.o", "-f+ *.c", "-f- - x", "-f- + y", "-f- dir/", "--exclude=z"]),
    ("sides", ["-fP keep", "-fH hid", "-fS shown", "-fR risk", "-f-sr both"]),
    ("modifiers", ["-f-/ /abs", "-f-! neg", "-fexclude,/ x", "-f+ /y/**"]),
    ("perishable", ["-f-p per"]),
    ("xattr", ["-f-x user.*"]),
    ("per-dir", ["-f: .rf", "-f:e .x", "-fdir-merge,n- .y"]),
    ("F-option", ["-F", "-F"]),
    ("cvs-option", ["-C", "-f- x"]),
    ("cvs-rules", ["-f:C", "-f-C"]),
    ("delete-excluded", ["--delete-excluded", "-f- *.o", "-fP keep", "-f:- .x", "-f: .y"]),
    ("merge-file", ["-f. rules.txt"]),
    ("old-style", ["--include=*/", "--include=+ x", "--exclude=- - y", "--exclude=*"]),
]


def _our_client_list(
    opts: list[str], work: Path, protocol: int, *, push: bool, home: Path
) -> list[bytes]:
    _read, read_cwd = _reader(work, work)
    delete_excluded = "--delete-excluded" in opts
    flist = FilterList(
        protocol=protocol,
        delete_excluded=delete_excluded,
        read_file=read_cwd,
        home_cvsignore=(home / ".cvsignore").read_bytes(),
    )
    cvs = False
    for opt in opts:
        if opt.startswith("-f"):
            flist.add_filter(opt[2:].encode())
        elif opt.startswith("--exclude="):
            flist.add_exclude(opt.split("=", 1)[1].encode())
        elif opt.startswith("--include="):
            flist.add_include(opt.split("=", 1)[1].encode())
        elif opt == "-F":
            n = sum(1 for r in flist.rules if r.pattern in (b".rsync-filter", b"/.rsync-filter"))
            if n < len(F_OPTION_RULES):
                flist.add_filter(F_OPTION_RULES[n])
        elif opt == "-C":
            cvs = True
    if cvs:
        before, _after = cvs_exclude_rules(protocol=protocol, am_sender=push, am_server=False)
        for text in before:
            flist.add_filter(text)
    return filter_rule_texts(
        flist, protocol=protocol, client_is_sender=push, delete_excluded=delete_excluded
    )


@pytest.mark.parametrize("push", [False, True], ids=["pull", "push"])
@pytest.mark.parametrize("protocol", [28, 29, 30, 31, 32])
@pytest.mark.parametrize("opts", [c[1] for c in WIRE_CASES], ids=[c[0] for c in WIRE_CASES])
def test_wire_list_like_rsync(
    rsync: str, tree: Path, tmp_path: Path, opts: list[str], protocol: int, push: bool
) -> None:
    for name, text in AUX_FILES.items():
        (tmp_path / name).write_text(text)
    log = tmp_path / "c2s.bin"
    shim = tmp_path / "tee.py"
    shim.write_text(_TEE.format(python=sys.executable, log=str(log)))
    shim.chmod(0o755)
    (tmp_path / "dst").mkdir()
    src = f"{tree / 'src'}/"
    where = ["src/", f"localhost:{tmp_path / 'dst'}/"] if push else [f"localhost:{src}", "dst/"]
    if push:
        (tmp_path / "src").symlink_to(tree / "src")
    args = [rsync, f"--protocol={protocol}", "-rn", "-e", str(shim)]
    args += ["--delete"] if push else []
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C",
        "HOME": str(tree / "home"),
    }
    proc = subprocess.run(
        [*args, *opts, *where], cwd=tmp_path, env=env, capture_output=True, check=False, timeout=60
    )
    if proc.returncode != 0:
        assert b"too modern" in proc.stderr, proc.stderr
        assert proc.returncode == 2
        with pytest.raises(LocalProtocolError) as info:
            _our_client_list(opts, tmp_path, protocol, push=push, home=tree / "home")
        assert int(info.value.exit_code) == 2
        return
    theirs = _client_filter_texts(log.read_bytes(), protocol)
    assert _our_client_list(opts, tmp_path, protocol, push=push, home=tree / "home") == theirs
