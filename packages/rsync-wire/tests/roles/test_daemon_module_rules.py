"""A daemon module's own rules, chmod syntax, option refusals and transfer-log lines."""

from __future__ import annotations

import logging
import stat

import msgspec
import pytest

from rsync_wire.proto.options import TransferOptions
from rsync_wire.roles.chmod import ChmodError, parse_chmod, tweak_mode
from rsync_wire.roles.daemon_rules import DaemonRules, module_path
from rsync_wire.roles.server import ModuleContext, sanitize_path
from rsync_wire.roles.server_options import module_refusals, refused_by_module, unimplemented
from rsync_wire.roles.xferlog import XferItem, format_line, log_item, permstring

# -- module rules -----------------------------------------------------------------------------


def _rules(**kw: object) -> DaemonRules:
    ctx = msgspec.structs.replace(ModuleContext(name="m", path="/x"), **kw)
    rules = DaemonRules.for_module(ctx, protocol=31)
    assert rules is not None
    return rules


@pytest.mark.parametrize(
    ("path", "norm"),
    [(b"./a/b", b"a/b"), (b"a//b/.", b"a/b"), (b"/a/../b", b"b"), (b"../../a", b"a"), (b".", b"")],
)
def test_module_path(path: bytes, norm: bytes) -> None:
    assert module_path(path) == norm


@pytest.mark.parametrize(
    ("path", "is_dir", "hidden"),
    [
        (b"secret", True, True),
        (b"./secret/a", False, True),
        (b"secret/in/b", False, True),
        (b"pub/secret", True, False),  # anchored: only at the module root
        (b"private", True, True),
        (b"private", False, False),  # "/private/" is for directories
        (b"private/c", False, True),
        (b"x/a.key", False, True),
        (b"a.keys", False, False),
        (b".", True, False),
    ],
)
def test_hides(path: bytes, is_dir: bool, hidden: bool) -> None:
    rules = _rules(daemon_exclude="/secret/*** /private/ *.key")
    assert rules.hides(path, is_dir=is_dir) is hidden


def test_hidden_dir_and_include_from() -> None:
    rules = _rules(daemon_include_from=b"/pub/\n", daemon_exclude_from=b"/*\n")
    assert rules.hides(b"pub", is_dir=True) is False
    assert rules.hides(b"other", is_dir=False) is True
    assert rules.hidden_dir(b"other/x/y") == b"other"
    assert rules.hidden_dir(b"pub/x", include_last=False) is None
    assert DaemonRules.for_module(ModuleContext(name="m", path="/x"), protocol=31) is None


# -- chmod ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "mode", "result"),
    [
        ("Fo-r,Dg+s", stat.S_IFREG | 0o644, stat.S_IFREG | 0o640),
        ("Fo-r,Dg+s", stat.S_IFDIR | 0o755, stat.S_IFDIR | 0o2755),
        ("F600,D711", stat.S_IFREG | 0o777, stat.S_IFREG | 0o600),
        ("F600,D711", stat.S_IFDIR | 0o700, stat.S_IFDIR | 0o711),
        ("a+X", stat.S_IFREG | 0o644, stat.S_IFREG | 0o644),
        ("a+X", stat.S_IFREG | 0o744, stat.S_IFREG | 0o755),
        ("a+X", stat.S_IFDIR | 0o700, stat.S_IFDIR | 0o711),
        ("u=rwX,g=u,o=", stat.S_IFREG | 0o755, stat.S_IFREG | 0o770),
        ("+x", stat.S_IFREG | 0o600, stat.S_IFREG | 0o711),  # less the umask 022
        ("ug+s,+t", stat.S_IFDIR | 0o755, stat.S_IFDIR | 0o7755),
    ],
)
def test_chmod_as_rsync(rule: str, mode: int, result: int) -> None:
    assert oct(tweak_mode(mode, parse_chmod(rule, umask=0o022))) == oct(result)


@pytest.mark.parametrize("rule", ["", "a+r,", "DF+x", "u+q", "999", "g=ur", "x"])
def test_chmod_rejects_what_rsync_rejects(rule: str) -> None:
    with pytest.raises(ChmodError):
        parse_chmod(rule)


# -- option refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "opts", "refused"),
    [
        (["checksum"], {"always_checksum": True}, "checksum"),
        (["c*"], {"always_checksum": True}, "checksum"),
        (["c* !checksum"], {"always_checksum": True}, None),
        (["*"], {"dry_run": True}, None),  # exact-only: no wildcard reaches it
        (["dry-run"], {"dry_run": True}, "dry-run"),
        (["a"], {"preserve_times": True}, "times"),
        (["archive"], {"preserve_devices": True}, "devices"),
        (["delete"], {"delete_mode": "after"}, "delete"),
        (["delete-after"], {"delete_mode": "after"}, "delete-after"),
        (["del"], {"delete_mode": "during"}, "delete-during"),
        (["z"], {"compress": True}, "compress"),
        (["zc"], {"compress_choice": "zstd"}, "compress-choice"),
        (["log-format"], {"log_format": "%n"}, "out-format"),
        (["perms"], {"preserve_times": True}, None),
    ],
)
def test_refused_by_module(
    patterns: list[str], opts: dict[str, object], refused: str | None
) -> None:
    words = module_refusals(patterns, charset="utf-8")
    option = refused_by_module(TransferOptions(**opts), words)  # type: ignore[arg-type]
    assert (option.long if option else None) == refused


def test_a_module_without_charset_refuses_iconv() -> None:
    option = refused_by_module(TransferOptions(iconv="utf-8"), module_refusals([], charset=None))
    assert option is not None
    assert option.long == "iconv"
    assert refused_by_module(TransferOptions(), module_refusals([], charset=None)) is None


def test_unimplemented() -> None:
    assert unimplemented(TransferOptions()) is None
    assert unimplemented(TransferOptions(preserve_acls=True)) is None
    option = unimplemented(TransferOptions(preserve_crtimes=True))
    assert option is not None
    assert option.long == "crtimes"
    assert unimplemented(TransferOptions(delete_missing_args=True)) is None
    assert unimplemented(TransferOptions(files_from="list.txt")) is None
    assert unimplemented(TransferOptions(files_from="-")) is None


# -- transfer log -----------------------------------------------------------------------------

ITEM = XferItem(
    name=b"sub/f",
    path=b"base/sub/f",
    mode=stat.S_IFREG | 0o4754,
    size=1234567,
    mtime=0,
    uid=1000,
    gid=None,
    sent=1300,
    received=40,
    checksum=bytes(range(16)),
)


@pytest.mark.parametrize(
    ("fmt", "line"),
    [
        ("%o %h [%a] %m (%u) %f %l", "send host [1.2.3.4] mod (bob) base/sub/f 1234567"),
        ("%n|%-8l|%8l|%'l", "sub/f|1234567 | 1234567|1,234,567"),
        ("%B %U %G %b %c", "rwsr-xr-- 1000 DEFAULT 1300 40"),
        ("%i %C", "<f+++++++++ 000102030405060708090a0b0c0d0e0f"),
        ("%P %p %% %q", "/srv/mod 42 % %q"),
    ],
)
def test_format_line(fmt: str, line: str) -> None:
    item = ITEM
    if "%i" in fmt:
        item = msgspec.structs.replace(ITEM, iflags=(1 << 15) | (1 << 13))
    got = format_line(
        fmt,
        item,
        module="mod",
        module_path="/srv/mod",
        host="host",
        addr="1.2.3.4",
        user="bob",
        pid=42,
    )
    assert got == line


def test_permstring() -> None:
    assert permstring(0o1777) == "rwxrwxrwt"
    assert permstring(0o6644) == "rwSr-Sr--"


def test_log_item_uses_the_xferlog_logger(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="rsync_wire.xferlog"):
        log_item("", ITEM, module="mod", host="h", addr="a", user="u")
    assert [r.getMessage() for r in caplog.records] == ["send h [a] mod (u) base/sub/f 1234567"]
    assert caplog.records[0].name == "rsync_wire.xferlog"


@pytest.mark.parametrize(
    ("path", "plain", "relative"),
    [
        (b"pub/..", b".", b"."),
        (b"a/b/..", b"a/", b"a/"),
        (b"a/./b", b"a/b", b"a/./b"),
        (b"./a", b"a", b"./a"),
        (b"../../x", b"x", b"x"),
        (b"/etc/passwd", b"etc/passwd", b"etc/passwd"),
        (b"a//b/", b"a/b/", b"a/b/"),
        (b"pub/../secret/a", b"secret/a", b"secret/a"),
        (b"a/.", b"a/", b"a/."),
        (b"./", b".", b"./"),
        (b"a/..b", b"a/..b", b"a/..b"),
    ],
)
def test_sanitize_path_as_rsyncs_daemon(path: bytes, plain: bytes, relative: bytes) -> None:
    assert sanitize_path(path) == plain
    assert sanitize_path(path, keep_dot_dirs=True) == relative
