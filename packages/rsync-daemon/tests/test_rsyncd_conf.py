"""rsyncd.conf as rsync 3.5 reads it: grammar, sections, directives, every parameter."""

from __future__ import annotations

import os
import pwd
import socket
from typing import TYPE_CHECKING

import pytest

from rsync_daemon.config import (
    _PARAMS,
    DEFAULT_LOCK_FILE,
    conf_words,
    load_rsyncd_conf,
    load_toml,
    settle_module_paths,
)
from rsync_daemon.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path


def _load(tmp_path: Path, text: str, name: str = "rsyncd.conf") -> object:
    (tmp_path / "m").mkdir(exist_ok=True)
    path = tmp_path / name
    path.write_text(text)
    return load_rsyncd_conf(path)


def _conf(tmp_path: Path, text: str) -> Path:
    (tmp_path / "m").mkdir(exist_ok=True)
    path = tmp_path / "rsyncd.conf"
    path.write_text(text)
    return path


def test_global_parameters_are_defaults_for_the_modules_that_follow(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(
        _conf(
            tmp_path,
            "comment = first\n"
            "[a]\npath = m\n"
            "[global]\ncomment = second\nmax verbosity = 4\n"
            "[b]\npath = m\n"
            "[ A ]\nlist = no\n",  # reopens [a] (names compare without case and spaces)
        )
    )
    a, b = cfg.modules["a"], cfg.modules["b"]
    assert (a.comment, a.max_verbosity, a.listed) == ("first", 1, False)
    assert (b.comment, b.max_verbosity, b.listed) == ("second", 4, True)


def test_parameter_names_ignore_case_and_spaces(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(_conf(tmp_path, "[m]\npath = m\nMaxConnections = 3\nREAD ONLY=no\n"))
    assert cfg.modules["m"].max_connections == 3
    assert cfg.modules["m"].read_only is False


def test_include_keeps_the_parents_defaults(tmp_path: Path) -> None:
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "b.conf").write_text("comment = from b\n[b]\npath = ../m\n")
    (conf_d / "a.conf").write_text("[a]\npath = ../m\n")
    (conf_d / "ignored.inc").write_text("[never]\npath = ../m\n")
    cfg = load_rsyncd_conf(_conf(tmp_path, "comment = top\n&include conf.d\n[c]\npath = m\n"))
    assert list(cfg.modules) == ["a", "b", "c"]  # sorted by file name
    assert cfg.modules["a"].comment == "top"
    assert cfg.modules["b"].comment == "from b"
    assert cfg.modules["c"].comment == "top"  # b.conf's default did not leak out


def test_merge_reads_in_place(tmp_path: Path) -> None:
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "defaults.inc").write_text("max verbosity = 3\n")
    (inc / "more.inc").write_text("list = no\n")
    (inc / "x.conf").write_text("[never]\npath = ../m\n")
    (tmp_path / "one.inc").write_text("comment = merged\n")
    cfg = load_rsyncd_conf(
        _conf(tmp_path, "&merge inc\n[m]\npath = m\n&merge one.inc\n[n]\npath = m\n")
    )
    assert (cfg.modules["m"].max_verbosity, cfg.modules["m"].listed) == (3, False)
    assert cfg.modules["m"].comment == "merged"  # merged into the open module [m]
    assert "never" not in cfg.modules
    assert cfg.modules["n"].comment == ""


def test_path_expands_variables_as_rsync_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rsync expands %VAR% in path: the module's name, and the daemon's environment."""
    monkeypatch.setenv("PYRSYNC_TEST_BASE", str(tmp_path / "base"))
    cfg = load_rsyncd_conf(
        _conf(
            tmp_path,
            "[served]\npath = %PYRSYNC_TEST_BASE%/%RSYNC_MODULE_NAME%/%UNSET_X%/%lower%\n",
        )
    )
    assert cfg.modules["served"].path == str(tmp_path / "base/served/%UNSET_X%/%lower%")


def test_continuation_and_comments(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(
        _conf(tmp_path, "# c\n; c\n[m]\n  path = m\n  comment = a \\\n   b # kept\n")
    )
    assert cfg.modules["m"].comment == "a b # kept"


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("[m]\npath = m\nfrobnicate = 1\n", r"rsyncd\.conf:3: unknown parameter 'frobnicate'"),
        ("[m]\npath = m\nport = 1\n", r"rsyncd\.conf:3: 'port' is a global parameter"),
        ("[m]\npath = m\nlist = maybe\n", r"rsyncd\.conf:3: 'list' expects yes or no"),
        ("[m]\npath = m\ntimeout = soon\n", r"rsyncd\.conf:3: 'timeout' expects a number"),
        ("&frob x\n[m]\npath = m\n", r"rsyncd\.conf:1: unknown directive '&frob'"),
        ("&include nothere.conf\n", r"rsyncd\.conf:1: unable to stat config file"),
        ("[m]\npath = m\nsyslog facility = nope\n", r"rsyncd\.conf:3: 'syslog facility'"),
        ("[m]\npath = m\noutgoing chmod = Q+z\n", r"rsyncd\.conf:3: Invalid 'outgoing chmod'"),
        ("[m]\npath = m/%RSYNC_USER_NAME%\n", r"rsyncd\.conf:2: 'path' uses %RSYNC_USER_NAME%"),
        ("[m]\npath = m\nexclude from = %RSYNC_HOST_ADDR%\n", r"conf:3: 'exclude from' uses"),
        ("[m]\npath = m\ngid = 0 *\n", r"rsyncd\.conf:3: 'gid': '\*' must be the first"),
        ("[]\n", r"rsyncd\.conf:1: empty section name"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, expect: str) -> None:
    with pytest.raises(ConfigError, match=expect):
        load_rsyncd_conf(_conf(tmp_path, text))


@pytest.mark.parametrize(
    ("param", "value", "reason"),
    [
        ("open noatime", "yes", "O_NOATIME"),
    ],
)
def test_refused_parameters_say_why(tmp_path: Path, param: str, value: str, reason: str) -> None:
    with pytest.raises(
        ConfigError, match=rf"rsyncd\.conf:1: '{param}' is not supported: .*{reason}"
    ):
        load_rsyncd_conf(_conf(tmp_path, f"{param} = {value}\n[m]\npath = m\n"))


@pytest.mark.parametrize(
    ("param", "value"),
    [("open noatime", "unset")],
)
def test_values_that_change_nothing_are_accepted(tmp_path: Path, param: str, value: str) -> None:
    cfg = load_rsyncd_conf(_conf(tmp_path, f"[m]\npath = m\n{param} = {value}\n"))
    assert "m" in cfg.modules


@pytest.mark.parametrize(
    ("lines", "insecure", "follows"),
    [
        ("insecure links = yes\nuse chroot = no\n", True, True),
        ("insecure links = yes\nuse chroot = yes\n", True, False),  # the chroot confines
        ("insecure links = no\nuse chroot = no\n", False, False),
        ("use chroot = no\n", False, False),
    ],
)
def test_insecure_links_is_a_module_setting(
    tmp_path: Path, lines: str, insecure: bool, follows: bool
) -> None:
    cfg = load_rsyncd_conf(_conf(tmp_path, f"[m]\npath = m\n{lines}"))
    assert cfg.modules["m"].insecure_links is insecure
    assert cfg.modules["m"].follows_any_link is follows


def test_insecure_links_takes_a_boolean(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="insecure links"):
        load_rsyncd_conf(_conf(tmp_path, "[m]\npath = m\ninsecure links = maybe\n"))


@pytest.mark.parametrize(("value", "expect"), [("yes", True), ("no", False), ("", False)])
def test_fake_super_is_a_module_setting(tmp_path: Path, value: str, expect: bool) -> None:
    line = f"fake super = {value}\n" if value else ""
    cfg = load_rsyncd_conf(_conf(tmp_path, f"[m]\npath = m\n{line}"))
    assert cfg.modules["m"].fake_super is expect


def test_charset_is_a_module_setting_with_a_global_default(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(
        _conf(tmp_path, "charset = UTF-8\n[m]\npath = m\n[n]\npath = n\ncharset = ISO-8859-1\n")
    )
    assert (cfg.modules["m"].charset, cfg.modules["n"].charset) == ("UTF-8", "ISO-8859-1")


def test_every_parameter_of_the_manual_is_known() -> None:
    manual = {
        "address", "auth digest", "auth users", "charset", "comment", "daemon chroot",
        "daemon gid", "daemon uid", "dont compress", "early exec", "exclude", "exclude from",
        "fake super", "filter", "forward lookup", "gid", "hosts allow", "hosts deny",
        "ignore errors", "ignore nonreadable", "include", "include from", "incoming chmod",
        "insecure links", "list", "listen backlog", "lock file", "log file", "log format",
        "max connections", "max verbosity", "motd file", "munge symlinks", "name converter",
        "numeric ids", "open noatime", "outgoing chmod", "path", "pid file", "port",
        "post-xfer exec", "pre-xfer exec", "proxy protocol", "proxy protocol hosts",
        "read only", "refuse options", "reverse lookup", "secrets file", "socket options",
        "strict modes", "syslog facility", "syslog tag", "temp dir", "timeout",
        "transfer logging", "uid", "use chroot", "write only",
    }  # fmt: skip
    assert manual <= set(_PARAMS)


def test_every_module_directive_is_stored(tmp_path: Path) -> None:
    (tmp_path / "ex").write_text("# comment\n*.bak\n+ keep.bak\n")
    (tmp_path / "in").write_text("wanted/\n")
    cfg = load_rsyncd_conf(
        _conf(
            tmp_path,
            "max verbosity = 4\n"
            "[m]\n"
            "path = m\n"
            "write only = yes\n"
            "ignore nonreadable = yes\n"
            "ignore errors = yes\n"
            "pre-xfer exec = /bin/true pre\n"
            "post-xfer exec = /bin/true post\n"
            "early exec = /bin/true early\n"
            "max connections = 7\n"
            "lock file = locks/m.lock\n"
            "dont compress = *.gz *.zip\n"
            "incoming chmod = Dg+s,ug+w\n"
            "outgoing chmod = o-rwx\n"
            "munge symlinks = yes\n"
            "numeric ids = yes\n"
            "transfer logging = yes\n"
            "log format = %o %f %l\n"
            "log file = m.log\n"
            "syslog facility = local3\n"
            "syslog tag = mine\n"
            "reverse lookup = no\n"
            "forward lookup = no\n"
            "strict modes = no\n"
            "auth digest = SHA256\n"
            "exclude from = ex\n"
            "include from = in\n"
            "exclude = *.o\n"
            "include = *.c\n"
            "filter = - /secret/*** + x\n"
            "refuse options = checksum compress\n"
            "timeout = 30\n"
            "use chroot = no\n",
        )
    )
    m = cfg.modules["m"]
    assert (m.max_verbosity, m.write_only, m.ignore_nonreadable, m.ignore_errors) == (
        4,
        True,
        True,
        True,
    )
    assert (m.pre_xfer_exec, m.post_xfer_exec, m.early_exec) == (
        "/bin/true pre",
        "/bin/true post",
        "/bin/true early",
    )
    assert (m.max_connections, m.lock_file) == (7, str(tmp_path / "locks/m.lock"))
    assert m.dont_compress == ["*.gz", "*.zip"]
    assert (m.incoming_chmod, m.outgoing_chmod) == ("Dg+s,ug+w", "o-rwx")
    assert (m.munge_symlinks, m.numeric_ids) == (True, True)
    assert (m.transfer_logging, m.log_format, m.log_file) == (
        True,
        "%o %f %l",
        str(tmp_path / "m.log"),
    )
    assert (m.syslog_facility, m.syslog_tag) == ("local3", "mine")
    assert (m.reverse_lookup, m.forward_lookup, m.strict_modes) == (False, False, False)
    assert (m.auth_digest, m.temp_dir, m.timeout) == ("sha256", "", 30)
    assert (m.exclude, m.exclude_from_rules) == (["*.o"], b"# comment\n*.bak\n+ keep.bak\n")
    assert (m.include, m.include_from_rules) == (["*.c"], b"wanted/\n")
    assert m.filter == ["- /secret/*** + x"]
    assert m.refuse_options == ["checksum", "compress"]


def test_defaults_follow_rsync(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(_conf(tmp_path, "use chroot = no\n[m]\npath = m\n"))
    m = cfg.modules["m"]
    assert (m.max_verbosity, m.max_connections, m.lock_file) == (1, 0, DEFAULT_LOCK_FILE)
    assert m.log_format == "%o %h [%a] %m (%u) %f %l"
    assert (m.munge_symlinks, m.numeric_ids) == (True, False)  # not chrooted: munge, names
    assert (m.reverse_lookup, m.forward_lookup, m.strict_modes) == (True, True, True)
    cfg = load_rsyncd_conf(_conf(tmp_path, "use chroot = yes\n[m]\npath = m\n"))
    assert (cfg.modules["m"].munge_symlinks, cfg.modules["m"].numeric_ids) == (False, True)


def test_global_section_parameters(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(
        _conf(
            tmp_path,
            "port = 8873\naddress = 127.0.0.1\nmotd file = motd\npid file = p.pid\n"
            "log file = d.log\nlisten backlog = 50\nproxy protocol = yes\n"
            "proxy protocol hosts = 127.0.0.0/8, ::1\nreverse lookup = no\n"
            "syslog facility = LOCAL1\nsyslog tag = t\n[m]\npath = m\n",
        )
    )
    assert cfg.listen == [("127.0.0.1", 8873)]
    assert (cfg.motd_file, cfg.pid_file, cfg.log_file) == (
        str(tmp_path / "motd"),
        str(tmp_path / "p.pid"),
        str(tmp_path / "d.log"),
    )
    assert (cfg.listen_backlog, cfg.proxy_protocol) == (50, True)
    assert cfg.proxy_protocol_hosts == ["127.0.0.0/8", "::1"]
    assert (cfg.reverse_lookup, cfg.syslog_facility, cfg.syslog_tag) == (False, "local1", "t")


def test_unknown_auth_digest_and_proxy_without_hosts_are_warned(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(
        _conf(tmp_path, "proxy protocol = yes\n[m]\npath = m\nauth digest = crc32\n")
    )
    assert cfg.modules["m"].auth_digest == "crc32"  # every login fails, as rsync
    assert '"proxy protocol hosts" is unset' in cfg.warnings[0]
    assert cfg.warnings[1].endswith(
        "rsyncd.conf:4: 'auth digest = crc32' is not a supported "
        "digest: every login to module [m] will fail"
    )


def test_daemon_uid_and_gid(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(_conf(tmp_path, "daemon uid = 65534\ndaemon gid = 65534\n"))
    assert (cfg.uid, cfg.gid) == (65534, 65534)
    cfg = load_rsyncd_conf(_conf(tmp_path, "daemon uid = 0\nuid = 65534\n"))
    assert cfg.uid == 65534  # a root daemon can still become the modules' user
    with pytest.raises(ConfigError, match=r"rsyncd\.conf:2: daemon uid '1' differs from uid"):
        load_rsyncd_conf(_conf(tmp_path, "uid = 65534\ndaemon uid = 1\n"))


def test_socket_options(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(
        _conf(tmp_path, "socket options = SO_KEEPALIVE, SO_SNDBUF=65536 IPTOS_LOWDELAY\n")
    )
    assert cfg.socket_options == [
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
        (socket.SOL_SOCKET, socket.SO_SNDBUF, 65536),
        (socket.IPPROTO_IP, socket.IP_TOS, 0x10),
    ]
    cfg = load_rsyncd_conf(_conf(tmp_path, "socket options = NOSUCHOPT IPTOS_LOWDELAY=1\n"))
    assert cfg.socket_options == [(socket.IPPROTO_IP, socket.IP_TOS, 0x10)]
    assert cfg.warnings == [  # reported and skipped, as rsync does
        f"{tmp_path}/rsyncd.conf:1: Unknown socket option NOSUCHOPT",
        f"{tmp_path}/rsyncd.conf:1: syntax error -- IPTOS_LOWDELAY does not take a value",
    ]
    with pytest.raises(ConfigError, match=r"rsyncd\.conf:1: 'socket options': SO_SNDBUF"):
        load_rsyncd_conf(_conf(tmp_path, "socket options = SO_SNDBUF=big\n"))


def test_gid_star_is_every_group_of_the_uid_user(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(_conf(tmp_path, "uid = 0\ngid = *\n[m]\npath = m\n"))
    root = pwd.getpwuid(0)
    assert (cfg.uid, cfg.gid) == (0, root.pw_gid)
    m = cfg.modules["m"]
    assert m.gid == root.pw_gid
    assert m.groups[0] == root.pw_gid
    assert set(m.groups) == set(os.getgrouplist(root.pw_name, root.pw_gid))


def test_an_unknown_group_is_the_module_s_error(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(_conf(tmp_path, "[m]\npath = m\ngid = 0 nosuchgroup-x\n"))
    assert cfg.modules["m"].id_error == "invalid gid nosuchgroup-x"
    (warning,) = cfg.warnings
    assert warning.startswith("module [m]: ")
    assert warning.endswith(
        "rsyncd.conf:3: gid 'nosuchgroup-x': no such group (clients get: invalid gid nosuchgroup-x)"
    )


def test_module_gid_list_is_the_module_s(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(
        _conf(tmp_path, "gid = 65534\n[m]\npath = m\n[n]\npath = m\ngid = 1, 2 0\n")
    )
    assert cfg.gid == 65534
    assert (cfg.modules["m"].gid, cfg.modules["m"].groups) == (65534, [65534])
    assert (cfg.modules["n"].gid, cfg.modules["n"].groups) == (1, [1, 2, 0])


def test_exclude_from_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"rsyncd\.conf:3: exclude from .*nothere"):
        load_rsyncd_conf(_conf(tmp_path, "[m]\npath = m\nexclude from = nothere\n"))


def test_toml_takes_the_same_module_fields(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "ex").write_text("*.bak\n")
    path = tmp_path / "d.toml"
    path.write_text(
        "proxy_protocol = true\nproxy_protocol_hosts = ['127.0.0.1']\nlisten_backlog = 9\n"
        "[modules.m]\npath = 'm'\nmax_verbosity = 4\nwrite_only = true\n"
        "pre_xfer_exec = 'true'\nmax_connections = 2\nlock_file = 'l'\nexclude_from = 'ex'\n"
        "outgoing_chmod = 'o-rwx'\ntransfer_logging = true\nmunge_symlinks = true\n"
    )
    cfg = load_toml(path)
    m = cfg.modules["m"]
    assert (cfg.proxy_protocol, cfg.proxy_protocol_hosts, cfg.listen_backlog) == (
        True,
        ["127.0.0.1"],
        9,
    )
    assert (m.max_verbosity, m.write_only, m.pre_xfer_exec, m.max_connections) == (
        4,
        True,
        "true",
        2,
    )
    assert (m.lock_file, m.exclude_from_rules, m.outgoing_chmod) == (
        str(tmp_path / "l"),
        b"*.bak\n",
        "o-rwx",
    )
    assert (m.transfer_logging, m.munge_symlinks) == (True, True)


def test_missing_module_path_marks_the_module_not_the_daemon(tmp_path: Path) -> None:
    cfg = load_rsyncd_conf(_conf(tmp_path, "[m]\npath = m\n[gone]\npath = not/yet\n"))
    warnings = settle_module_paths(cfg)
    assert cfg.modules["m"].unavailable == ""
    assert cfg.modules["gone"].unavailable.startswith(f"chdir {tmp_path / 'not/yet'} failed")
    assert len(warnings) == 1
    with pytest.raises(ConfigError, match="not a directory"):
        settle_module_paths(cfg, required={"gone"})


@pytest.mark.skipif(os.geteuid() != 0, reason="planting another user's symlink needs root")
def test_planted_symlinks_are_refused(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody").pw_uid
    (tmp_path / "target").mkdir()
    (tmp_path / "plant").symlink_to(tmp_path / "target")
    os.lchown(tmp_path / "plant", nobody, nobody)
    (tmp_path / "mine").symlink_to(tmp_path / "target")
    cfg = load_rsyncd_conf(_conf(tmp_path, "[p]\npath = plant\n[ok]\npath = mine\n"))
    settle_module_paths(cfg)
    assert "Too many levels of symbolic links" in cfg.modules["p"].unavailable
    assert cfg.modules["ok"].path == str(tmp_path / "target")
    (tmp_path / "inc.conf").write_text("[x]\npath = m\n")
    (tmp_path / "inc-plant").symlink_to(tmp_path / "inc.conf")
    os.lchown(tmp_path / "inc-plant", nobody, nobody)
    with pytest.raises(ConfigError, match=r"rsyncd\.conf:1: unable to stat config file"):
        load_rsyncd_conf(_conf(tmp_path, "&include inc-plant\n"))


@pytest.mark.parametrize(
    ("value", "entries"),
    [
        ("alice, bob:ro  @staff", ["alice", "bob:ro", "@staff"]),
        (" ,@Group Name:deny, alice:rw ,", ["@Group Name:deny", "alice:rw"]),
    ],
)
def test_auth_users_split_as_rsync_splits_them(
    tmp_path: Path, value: str, entries: list[str]
) -> None:
    """A leading comma makes the list comma-separated only (rsync: util1.c conf_strtok())."""
    cfg = load_rsyncd_conf(_conf(tmp_path, f"[m]\npath = m\nauth users = {value}\n"))
    assert cfg.modules["m"].auth_users == entries


def test_auth_rules_give_rsyncs_reasons() -> None:
    """The log says why a user was refused (rsync: authenticate.c auth_server())."""
    from rsync_daemon.auth import auth_rule_error

    rules = conf_words(",@[! []*:deny, alice:rw, bob")
    assert auth_rule_error("root", rules) == "denied by rule"  # root's group "root"
    assert auth_rule_error("nobody-here", ["alice", "bob:ro"]) == "no matching rule"
    assert auth_rule_error("bob", ["alice", "bob:ro"]) is None


def test_daemon_chroot_places_module_files_inside_it(tmp_path: Path) -> None:
    jail = tmp_path / "jail"
    (jail / "etc").mkdir(parents=True)
    (jail / "etc" / "ex").write_text("*.o\n")
    text = (
        f"daemon chroot = {jail}\nmotd file = motd\nlog file = /host.log\n"
        "[m]\npath = /../../m\nsecrets file = /etc/s\nexclude from = etc/ex\nlock file = l\n"
    )
    cfg = load_rsyncd_conf(_conf(tmp_path, text))
    m = cfg.modules["m"]
    assert m.path == str(jail / "m")
    assert (m.secrets_file, m.exclude_from) == (str(jail / "etc/s"), str(jail / "etc/ex"))
    assert m.exclude_from_rules == b"*.o\n"
    assert m.lock_file == str(jail / "l")
    assert cfg.motd_file == str(jail / "motd")
    assert cfg.log_file == "/host.log"  # opened before rsync chroots


def test_daemon_chroot_must_be_absolute(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"rsyncd\.conf:1: 'daemon chroot' must be an abs"):
        load_rsyncd_conf(_conf(tmp_path, "daemon chroot = jail\n[m]\npath = m\n"))


@pytest.mark.parametrize(
    ("rule", "kind"),
    [("dir-merge .rules", "dir-merge"), (": .rules", "dir-merge"), ("merge /etc/x", "merge")],
)
def test_module_filter_merge_rules_are_refused_at_start_up(
    tmp_path: Path, rule: str, kind: str
) -> None:
    """A merge rule in a module's filter would not be applied: the daemon refuses to start.

    rsync reads such files per connection (and per directory); pyrsyncd's module chain is
    built without files, so serving the module would show what the rule hides.
    """
    with pytest.raises(ConfigError, match=rf"rsyncd\.conf:3: 'filter': a {kind} rule"):
        _load(tmp_path, f"[m]\npath = m\nfilter = - /secret/*** {rule}\n")
    toml = tmp_path / "pyrsyncd.toml"
    toml.write_text(f'[modules.m]\npath = "m"\nfilter = ["{rule}"]\n')
    with pytest.raises(ConfigError, match=rf"'filter': a {kind} rule"):
        load_toml(toml)


def test_module_filter_that_does_not_parse_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"rsyncd\.conf:2: 'filter':"):
        _load(tmp_path, "[m]\nfilter = x nonsense\npath = m\n")
    cfg = _load(tmp_path, "[m]\npath = m\nfilter = - /secret/*** + *.txt\n")
    assert cfg.modules["m"].filter == ["- /secret/*** + *.txt"]  # type: ignore[attr-defined]
