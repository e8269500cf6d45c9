"""The --server argument vector: what rsync 3.5.0 clients send (docs/protocol.md §4.1)."""

from __future__ import annotations

import pytest

from rsync_wire.proto.args import ArgumentError, build_server_args, parse_bwlimit, parse_server_args
from rsync_wire.proto.options import TransferOptions


def test_modern_pull_cluster() -> None:
    parsed = parse_server_args(
        ["--server", "--sender", "-vlHogDtprcze.iLsfxCIvu", "--numeric-ids", ".", "src/"]
    )
    o = parsed.options
    assert (o.server, o.sender, o.verbose, o.recursive, o.always_checksum, o.compress) == (
        True,
        True,
        1,
        True,
        True,
        True,
    )
    assert o.preserve_hard_links == 1
    assert o.preserve_devices
    assert o.preserve_specials
    assert o.capabilities == ".iLsfxCIvu"
    assert o.numeric_ids
    assert parsed.paths == [b"src/"]


def test_long_options_with_values_and_escapes() -> None:
    parsed = parse_server_args(
        [
            "--server",
            "-logDtpAXre.iLsfxCIvu",
            "-B2048",
            "--timeout=30",
            "--bwlimit=100",
            "--compress-choice=zstd",
            "--inplace",
            "--usermap=\\*:nobody",
            ".",
            "dst/",
        ]
    )
    o = parsed.options
    assert (o.block_size, o.timeout, o.bwlimit) == (2048, 30, "100")
    assert (o.compress_choice, o.inplace, o.preserve_acls) == ("zstd", True, True)
    assert (o.usermap, o.refused) == ("*:nobody", [])  # the escape undone


def test_protocol_29_client_without_capabilities() -> None:
    o = parse_server_args(["--server", "--sender", "-logDtprz", ".", "m/"]).options
    assert o.capabilities is None
    assert o.compress


@pytest.mark.parametrize(
    "argv", [["--server", "--no-such-thing", "."], ["--server", "-Q", "."], ["--timeout"]]
)
def test_unknown_or_incomplete_options_are_syntax_errors(argv: list[str]) -> None:
    with pytest.raises(ArgumentError) as info:
        parse_server_args(argv)
    assert info.value.exit_code == 1


def test_build_then_parse_is_the_identity_on_what_matters() -> None:
    opts = TransferOptions(
        sender=True,
        verbose=2,
        recursive=True,
        preserve_links=True,
        preserve_times=True,
        compress=True,
        capabilities=".iLsfxCIvu",
        numeric_ids=True,
        block_size=4096,
    )
    argv = build_server_args(opts, ["mod/dir/"], protocol=32)
    assert argv[:2] == ["--server", "--sender"]
    back = parse_server_args(argv).options
    for field in (
        "sender",
        "verbose",
        "recursive",
        "preserve_links",
        "preserve_times",
        "compress",
        "capabilities",
        "numeric_ids",
        "block_size",
    ):
        assert getattr(back, field) == getattr(opts, field), field


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, ["--server", "-lyogDtprSe.iLsfxCIvu", "--delay-updates", "--temp-dir", "tt"]),
        (
            {"partial_dir": "pp"},
            ["--server", "-lyogDtprSe.iLsfxCIvu", "--partial-dir", "pp", "--delay-updates",
             "--temp-dir", "tt"],
        ),
    ],
)  # fmt: skip
def test_push_sends_the_output_options_as_rsync(extra: dict[str, str], expected: list[str]) -> None:
    """What rsync 3.5 sends for ``-ayy -S -T tt --delay-updates [--partial-dir=pp]``."""
    opts = TransferOptions(
        sender=False,
        recursive=True,
        preserve_links=True,
        preserve_perms=True,
        preserve_times=True,
        preserve_uid=True,
        preserve_gid=True,
        preserve_devices=True,
        preserve_specials=True,
        fuzzy=2,
        sparse=True,
        temp_dir="tt",
        delay_updates=True,
        capabilities=".iLsfxCIvu",
        **extra,  # type: ignore[arg-type]
    )
    assert build_server_args(opts, ["/x/"], protocol=32) == [*expected, ".", "/x/"]
    back = parse_server_args(expected).options
    assert (back.fuzzy, back.sparse, back.temp_dir, back.delay_updates) == (1, True, "tt", True)


def test_push_inplace_sparse_sends_no_w_as_rsync() -> None:
    """``rsync -a --inplace -S --no-W SRC host:DEST`` adds ``--no-W`` after ``--inplace``."""
    opts = TransferOptions(
        sender=False, recursive=True, inplace=True, sparse=True, whole_file=False,
        capabilities=".iLsfxCIvu",
    )  # fmt: skip
    argv = build_server_args(opts, ["/x/"], protocol=32)
    assert argv[argv.index("--inplace") :] == ["--inplace", "--no-W", ".", "/x/"]


def test_bwlimit_units() -> None:
    assert parse_bwlimit("100") == 100 * 1024
    assert parse_bwlimit("8m") == 8 << 20
    assert parse_bwlimit("1.5M") == 1572864
