"""pyrsync's command line: rsync's option syntax, refusals, locations and the API's options."""

from __future__ import annotations

import importlib.metadata

import pytest

import rsync_client
from rsync_client.api import make_options
from rsync_client.cli import HelpRequested, main, parse_args, parse_size
from rsync_client.options import ClientOptions, Location, OptionError, parse_location
from rsync_client.transports.rsh import escape_arg, remote_command, split_rsh
from rsync_wire.proto.args import build_server_args, parse_server_args


def test_package_exports_and_version() -> None:
    assert importlib.metadata.version("rsync-client") == "0.1.0"
    assert {"sync", "async_sync", "Stats", "SyncError"} <= set(rsync_client.__all__)


def test_archive_expands_and_negations_apply_in_order() -> None:
    opts, rest = parse_args(["-av", "--no-o", "--no-g", "src/", "dst"])
    assert all((opts.recursive, opts.links, opts.perms, opts.times, opts.devices, opts.specials))
    assert not opts.owner
    assert not opts.group
    assert opts.verbose == 1
    assert rest == ["src/", "dst"]
    opts, _ = parse_args(["--no-o", "-a", "x"])
    assert opts.owner  # -a after --no-o turns it back on, as popt does


def test_bundles_with_values() -> None:
    opts, _rest = parse_args(["-avze", "ssh -p 2222", "-B4096", "host:src", "."])
    assert opts.compress
    assert opts.rsh == "ssh -p 2222"
    assert opts.block_size == 4096
    opts, _ = parse_args(["-essh", "x"])
    assert opts.rsh == "ssh"
    opts, _ = parse_args(["--rsh=ssh -l u", "--rsync-path", "/opt/rsync", "x"])
    assert opts.rsh == "ssh -l u"
    assert opts.rsync_path == "/opt/rsync"


def test_compression_spellings() -> None:
    assert parse_args(["-z", "x"])[0].compress_choice is None
    assert parse_args(["-zz", "x"])[0].compress_choice == "zlibx"
    assert parse_args(["--zc=zstd", "x"])[0].compress_choice == "zstd"
    assert not parse_args(["-z", "--no-z", "x"])[0].compress
    with pytest.raises(OptionError):
        parse_args(["--zc=brotli", "x"])


def test_deletes_filters_info() -> None:
    opts, _ = parse_args(
        [
            "--delete-after",
            "--exclude=*.o",
            "-f",
            "- x",
            "--include",
            "y",
            "-F",
            "-F",
            "--info=progress2",
            "x",
        ]
    )
    assert opts.delete_mode == "after"
    assert opts.filters == [
        ("exclude", "*.o"),
        ("filter", "- x"),
        ("include", "y"),
        ("F", ""),
        ("F", ""),
    ]
    assert opts.progress2
    assert parse_args(["--delete", "x"])[0].delete_mode == ""
    assert parse_args(["--delete-excluded", "x"])[0].delete_mode == ""
    with pytest.raises(OptionError):
        parse_args(["--delete-before", "--delete-after", "x"])
    with pytest.raises(OptionError):
        parse_args(["--info=bogus", "x"])


def test_sizes() -> None:
    assert parse_size("100", "--max-size") == 100
    assert parse_size("1k", "--max-size") == 1024
    assert parse_size("1.5M", "--max-size") == 1572864
    assert parse_size("1KB", "--max-size") == 1000
    assert parse_size("1G-1", "--max-size") == (1 << 30) - 1
    with pytest.raises(OptionError):
        parse_size("lots", "--max-size")


@pytest.mark.parametrize("option", ["-N", "--crtimes"])
def test_unsupported_options_are_refused(option: str) -> None:
    with pytest.raises(OptionError) as info:
        parse_args([option, "a", "b"])
    assert int(info.value.exit_code) == 1
    name = option.lstrip("-").split("=")[0]
    assert name in str(info.value) or len(name) == 1


def test_output_and_fuzzy_options() -> None:
    opts, rest = parse_args(["-SyyT", "tmp", "--delay-updates", "a", "b"])
    assert rest == ["a", "b"]
    assert (opts.sparse, opts.fuzzy, opts.temp_dir, opts.delay_updates) == (True, 2, "tmp", True)
    topts = opts.transfer_options(sender=False)
    assert (topts.sparse, topts.fuzzy, topts.temp_dir, topts.delay_updates) == (
        True,
        2,
        "tmp",
        True,
    )
    opts, _ = parse_args(["--temp-dir=/x", "--no-sparse", "--no-fuzzy", "a", "b"])
    assert (opts.temp_dir, opts.sparse, opts.fuzzy) == ("/x", False, 0)


@pytest.mark.parametrize(
    ("args", "other"),
    [(["--delay-updates"], "delay-updates"), (["--partial-dir=p"], "partial-dir")],
)
def test_inplace_conflicts_as_rsync(args: list[str], other: str) -> None:
    with pytest.raises(OptionError, match=f"^--inplace cannot be used with --{other}$"):
        parse_args(["--inplace", *args, "a", "b"])


def test_a_temp_dir_too_long_as_rsync() -> None:
    with pytest.raises(OptionError, match=r"^the --temp-dir path is WAY too long\.$"):
        parse_args(["-T", "x" * 4086, "a", "b"])
    assert parse_args(["-T", "x" * 4085, "a", "b"])[0].temp_dir == "x" * 4085


def test_unknown_options() -> None:
    with pytest.raises(OptionError, match="--frobnicate: unknown option"):
        parse_args(["--frobnicate"])
    with pytest.raises(OptionError, match="-Y: unknown option"):
        parse_args(["-Y"])
    with pytest.raises(OptionError, match="does not take an argument"):
        parse_args(["--stats=1"])
    with pytest.raises(OptionError, match="missing argument"):
        parse_args(["--exclude"])


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(HelpRequested):
        parse_args(["--help"])
    with pytest.raises(HelpRequested):
        parse_args(["-h"])
    assert parse_args(["-h", "x"])[0].human_readable != 1
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert "protocol version 32" in out
    assert main(["--bogus"]) == 1
    err = capsys.readouterr().err
    assert "rsync: --bogus: unknown option" in err
    assert "rsync error: syntax or usage error (code 1)" in err


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("rsync://h/mod/path", Location(kind="daemon", host="h", path="mod/path")),
        (
            "rsync://u@h:8730/mod/",
            Location(kind="daemon", host="h", user="u", port=8730, path="mod/"),
        ),
        ("rsync://[::1]:873/m", Location(kind="daemon", host="::1", port=873, path="m")),
        ("rsync://h", Location(kind="daemon", host="h", path="")),
        ("h::mod/x", Location(kind="daemon", host="h", path="mod/x")),
        ("u@h::", Location(kind="daemon", host="h", user="u", path="")),
        ("h:path/x", Location(kind="shell", host="h", path="path/x")),
        ("u@h:", Location(kind="shell", host="h", user="u", path="")),
        ("[fe80::1]:p", Location(kind="shell", host="fe80::1", path="p")),
        ("./a:b", Location(kind="local", path="./a:b")),
        ("dir/a:b", Location(kind="local", path="dir/a:b")),
        ("plain", Location(kind="local", path="plain")),
        # as rsync's parse_hostspec(): an empty host is still a host (ssh then fails)
        (":x", Location(kind="shell", host="", path="x")),
        ("::x", Location(kind="daemon", host="", path="x")),
    ],
)
def test_locations(arg: str, expected: Location) -> None:
    assert parse_location(arg) == expected


def test_transfer_options_travel_as_rsync_sends_them() -> None:
    opts, _ = parse_args(["-avzH", "--delete", "--numeric-ids", "--max-size=1k", "x"])
    topts = opts.transfer_options()
    topts.capabilities = ".LsfxCIvu"
    argv = build_server_args(topts, ["src/"], protocol=32)
    assert argv[:3] == ["--server", "--sender", "-vlHogDtprze.LsfxCIvu"]
    assert "--delete" not in argv  # a pulling client deletes by itself
    assert "--numeric-ids" in argv
    parsed = parse_server_args(argv)
    assert parsed.options.sender
    assert parsed.options.recursive
    assert parsed.paths == [b"src/"]
    opts, _ = parse_args(["-a", "--zc=zlib", "x"])
    argv = build_server_args(opts.transfer_options(), ["s"], protocol=32)
    assert "--old-compress" in argv
    assert any("z" in a for a in argv if a.startswith("-l"))
    opts, _ = parse_args(["-r", "x"])
    opts.list_only_implied = True
    assert build_server_args(opts.transfer_options(), ["s"], protocol=29)[2] == "-r"
    opts, _ = parse_args(["x"])
    opts.list_only_implied = True
    assert build_server_args(opts.transfer_options(), ["s"], protocol=29)[2] == "-d"


def test_remote_shell_command() -> None:
    assert split_rsh("ssh -p 22 -o 'A B'") == ["ssh", "-p", "22", "-o", "A B"]
    assert split_rsh('ssh "x""y"') == ["ssh", 'x"y']
    assert escape_arg("a b$c", filename=True) == "a\\ b\\$c"
    assert escape_arg("-x", filename=True) == "./-x"
    assert escape_arg("*.c", filename=True) == "*.c"
    assert escape_arg("*.c", filename=False) == "\\*.c"
    argv = remote_command(
        "ssh -p 2",
        "host",
        "me",
        "rsync",
        ["--server", "--sender", "-r", "--info=x y", ".", "dir with space/"],
    )
    assert argv == [
        "ssh",
        "-p",
        "2",
        "-l",
        "me",
        "host",
        "rsync",
        "--server",
        "--sender",
        "-r",
        "--info=x\\ y",
        ".",
        "dir\\ with\\ space/",
    ]
    assert remote_command(None, "h", None, "rsync", [], daemon=True)[-3:] == [
        "--server",
        "--daemon",
        ".",
    ]


def test_api_options() -> None:
    opts = make_options(
        archive=True, delete=True, exclude=["*.o", "*.a"], include="x", verbose=True
    )
    assert opts.recursive
    assert opts.owner
    assert opts.delete_mode == ""
    assert opts.filters == [("exclude", "*.o"), ("exclude", "*.a"), ("include", "x")]
    assert opts.verbose == 1
    with pytest.raises(OptionError):
        make_options(no_such=True)
    assert isinstance(opts, ClientOptions)


def test_ipv4_ipv6_reach_ssh_only() -> None:
    argv = remote_command("ssh -p 22", "h", "u", "rsync", [".", "p"], family="-4")
    assert argv[:6] == ["ssh", "-p", "22", "-l", "u", "-4"]
    assert argv[6] == "h"
    argv = remote_command("/usr/bin/ssh", "h", None, "rsync", [".", "p"], family="-6")
    assert argv[:3] == ["/usr/bin/ssh", "-6", "h"]
    argv = remote_command("rsh", "h", None, "rsync", [".", "p"], family="-6")
    assert "-6" not in argv  # rsync adds it for ssh only


@pytest.mark.parametrize("option", ["--no-detach"])
def test_negations_that_change_behaviour_are_refused_not_ignored(option: str) -> None:
    with pytest.raises(OptionError, match="unknown option"):
        parse_args([option, "src/", "dst/"])


def test_negating_a_refused_option_that_is_off_by_default_changes_nothing() -> None:
    assert parse_args(["--no-backup", "src/", "dst/"]) == parse_args(["src/", "dst/"])
